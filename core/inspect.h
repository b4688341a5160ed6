/*
 * inspect.h: what the read-only commands print with --json, built once for
 * both the CLI (fs ls, describe, log, models, status) and serve-lite's
 * /api/v1/, so that the two can never answer differently. Each returns 0
 * or a negative code (FS_ENOTFOUND for a name the registry lacks, the
 * message naming it, with a did-you-mean when one is close) and gives the
 * caller a new reference in *out.
 */
#ifndef FS_INSPECT_H
#define FS_INSPECT_H

#include <jansson.h>
#include <stdint.h>

#include "defs.h"
#include "online.h"
#include "registry.h"
#include "repo.h"

/* fs ls [KIND] --json: {"objects": [{"kind", "name", "version", "registry_version"}]};
 * kind FS_KIND__COUNT for every kind. */
json_t *fs_inspect_objects(const struct fs_defs *defs, enum fs_kind kind);

/* fs describe KIND NAME --json: {"kind", "name", "version", "registry_version", "spec"}. */
json_t *fs_inspect_object(const struct fs_object *o);

/* fs log [NAME] [-n MAX] --json: {"applies": [...]}, newest first; max < 0: all. */
int fs_inspect_log(struct fs_registry *reg, const char *name, long long max, json_t **out);

/* fs models [NAME] --json: {"versions": [...]}; NAME not registered: FS_ENOTFOUND. */
int fs_inspect_models(struct fs_registry *reg, const char *name, json_t **out);

/* fs models log NAME --json: {"model", "transitions", "alias_changes"}. */
int fs_inspect_models_log(struct fs_registry *reg, const char *name, json_t **out);

/*
 * fs status --json: {"views": [{"name", "last_end", "staleness_seconds",
 * "keys", ...}], "streams": [...]} for the online views of defs at now
 * (Unix seconds), the streams' lag asked of their brokers.
 */
int fs_inspect_status(struct fs_repo *repo, struct fs_registry *reg, const struct fs_defs *defs,
		      struct fs_online *store, int64_t now, json_t **out);

#endif
