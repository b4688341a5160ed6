/*
 * registry.h: the registry, a SQLite database (WAL, busy timeout) holding
 * every registered object with its current version, the full spec of every
 * version, and one row per apply (registry version, git commit, time,
 * author, summary).
 *
 * The schema is versioned with PRAGMA user_version and migrated forward on
 * open. Every write is one transaction: a failed or killed run leaves the
 * registry as it was.
 */
#ifndef FS_REGISTRY_H
#define FS_REGISTRY_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

#include "defs.h"
#include "plan.h"

struct fs_registry;

/* Open (creating the file, its directory and schema when missing). */
int fs_registry_open(struct fs_registry **out, const char *path);
void fs_registry_free(struct fs_registry *reg);
const char *fs_registry_path(const struct fs_registry *reg);
/* The connection, for modules that keep their own tables in the registry. */
sqlite3 *fs_registry_db(struct fs_registry *reg);

/* The registered objects, with version and applied_in set, sorted. */
int fs_registry_load(struct fs_registry *reg, struct fs_defs *out);
/*
 * The same with each spec kept as its canonical text (spec_text), parsed
 * only on use (fs_object_spec): what comparing against new definitions
 * needs, without parsing what did not change.
 */
int fs_registry_load_texts(struct fs_registry *reg, struct fs_defs *out);
/* Latest registry version (0 before the first apply). */
int fs_registry_version(struct fs_registry *reg, int64_t *out);

struct fs_apply_record {
	const char *commit; /* git commit id */
	const char *author;
	const char *summary;
	int64_t time;
};

/*
 * Record plan as a new registry version in one transaction: objects added,
 * changed (version bumped) and deleted, each version's spec, the apply row,
 * and the materialization state of reset_views dropped. out gets the new
 * registry version.
 */
int fs_registry_apply(struct fs_registry *reg, const struct fs_plan *plan,
		      const struct fs_apply_record *rec, char *const *reset_views, size_t nreset,
		      int64_t *out);

/*
 * Apply history, newest first, as a JSON array of {"registry_version",
 * "commit", "time", "author", "summary", "changes": [{"op", "kind", "name",
 * "version"}]}; with name, only applies that changed an object so named.
 */
int fs_registry_log(struct fs_registry *reg, const char *name, json_t **out);

/*
 * Every recorded version of the object kind/name, oldest first, as a JSON
 * array of {"version", "op" ("+", "~" or "-"), "registry_version",
 * "commit", "time", "author", "spec" (null for a deletion)}; an empty
 * array when it never was registered.
 */
int fs_registry_object_versions(struct fs_registry *reg, enum fs_kind kind, const char *name,
				json_t **out);

#endif
