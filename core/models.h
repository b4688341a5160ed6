/*
 * models.h: the model registry (MLflow Model Registry semantics): numbered
 * versions of applied `kind: model` definitions, each with its artifact
 * (content-addressed), metrics, params, tags and lineage to the exact
 * feature views, registry version and git commit it was trained on; stages
 * none, staging, production, archived; an audit trail of every transition.
 *
 * Versions and transitions live in the registry's SQLite database; every
 * change is one transaction. Versions are JSON objects:
 *   {"model", "version", "stage", "aliases": [names], "artifact": {"uri",
 *    "sha256", "size", "path", "kind"}, "metrics", "params", "tags",
 *    "description", "created_at", "author", "lineage": {"feature_service",
 *    "registry_version", "git_commit", "feature_views": [{"name", "version",
 *    "features": [{"name", "type"}]}]}}
 * artifact.kind is "file" or "directory" (sha256 and path then those of its
 * manifest, size the sum of its files; see artifact.h).
 *
 * Aliases (MLflow 2.9+) name one version each, next to the stages: set,
 * moved and deleted in transactions, every change in an audit trail of its
 * own (who, when, from which version to which).
 */
#ifndef FS_MODELS_H
#define FS_MODELS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "repo.h"

extern const char *const fs_stages[]; /* none staging production archived, NULL */

struct fs_register_opts {
	const char *model;
	const char *artifact; /* path or http(s) URL */
	json_t *metrics;      /* name -> number */
	json_t *params;       /* name -> string */
	json_t *tags;         /* name -> string */
	const char *description;
	const char *author;
};

/* Create the next version; *out gets it (JSON above). */
int fs_model_register(struct fs_repo *repo, const struct fs_register_opts *opts, json_t **out);

/*
 * "3", "v3", "@production" (the version now in that stage, any case) or
 * "@champion" (the version that alias names) -> 3.
 */
int fs_model_resolve(struct fs_registry *reg, const char *model, const char *ref, int *out);

/* Alias names: [a-z][a-z0-9_-]*, not a stage name. */
bool fs_is_alias_name(const char *s);
/* The version alias names, or FS_ENOTFOUND. */
int fs_model_alias_get(struct fs_registry *reg, const char *model, const char *alias, int *out);
/*
 * Point alias at version (an existing one), recording the change; *out =
 * {"model", "alias", "version", "previous" (or null), "changed"}: setting it
 * to the version it already names changes and records nothing.
 */
int fs_model_alias_set(struct fs_registry *reg, const char *model, const char *alias, int version,
		       const char *author, json_t **out);
/* Delete alias (FS_ENOTFOUND if none), recording it; *out = the version it named. */
int fs_model_alias_delete(struct fs_registry *reg, const char *model, const char *alias,
			  const char *author, int *out);
/* The aliases of model now: {"alias": version}. */
int fs_model_aliases(struct fs_registry *reg, const char *model, json_t **out);
/*
 * The alias changes of model, oldest first: [{"alias", "version" (null:
 * deleted), "previous" (null: new), "at", "at_unix", "author",
 * "after_transition" (the id of the last stage transition before it, to
 * interleave with fs_models_log)}].
 */
int fs_models_alias_log(struct fs_registry *reg, const char *model, json_t **out);
/* The aliases of model at time t (seconds): {"alias": version}. */
int fs_models_aliases_at(struct fs_registry *reg, const char *model, int64_t t, json_t **out);
/* One version, or FS_ENOTFOUND. */
int fs_model_get(struct fs_registry *reg, const char *model, int version, json_t **out);
/* The version now in stage, or FS_ENOTFOUND. */
int fs_model_in_stage(struct fs_registry *reg, const char *model, const char *stage, json_t **out);

struct fs_promote_opts {
	const char *model;
	int version;
	const char *stage;
	const char *reason;
	const char *author;
	bool force;
	bool keep_existing;
};

/*
 * Move a version to a stage. Checks the model's promotion gates (from
 * stages, metric thresholds) and, into production, the skew guard (every
 * feature trained on still registered with its type, in an online view),
 * against the definitions as they are inside the write transaction. Into
 * staging or production, a model whose definition is not applied is
 * FS_ENOTFOUND unless forced (then an unmet condition). Into production it
 * waits for a running `fs apply` (see fs_apply_run's production guard).
 * Unmet and not forced: FS_EGATE, *out = {"unmet": [...]} and nothing
 * changes. Otherwise *out = {"model", "version", "from", "to", "forced",
 * "unmet" (what --force overrode), "archived": [versions moved out]}.
 */
int fs_model_promote(struct fs_repo *repo, const struct fs_promote_opts *opts, json_t **out);

/*
 * 0 when model is defined in the registry or has versions; otherwise
 * FS_ENOTFOUND, the message suggesting a close name.
 */
int fs_model_known(struct fs_registry *reg, const char *model);

/* Versions of model (or of every model when NULL), oldest first. */
int fs_models_list(struct fs_registry *reg, const char *model, json_t **out);
/*
 * The stage transitions of model, oldest first: [{"id", "version", "from",
 * "to", "at", "at_unix", "author", "reason", "forced"}].
 */
int fs_models_log(struct fs_registry *reg, const char *model, json_t **out);
/* Which version held each stage at time t (seconds): {"staging": 2, "production": 1, ...}. */
int fs_models_at(struct fs_registry *reg, const char *model, int64_t t, json_t **out);

/*
 * Model versions whose lineage uses feature view `view`, as [{"model",
 * "version", "stage", "features": [...]}], archived versions left out.
 */
int fs_models_using_view(struct fs_registry *reg, const char *view, json_t **out);

#endif
