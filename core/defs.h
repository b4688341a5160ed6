/*
 * defs.h: feature and model definitions (entity, source, feature_view,
 * feature_service, model), parsed from YAML with libyaml and checked
 * against the schema of DESIGN.md.
 *
 * Each object is kept as its canonical spec: a JSON object with defaults
 * filled in (join_key, ttl in seconds, online, ...). The canonical spec is
 * what the registry stores and what plan compares, so two spellings of the
 * same definition ("24h" and "1d") are the same object.
 *
 * Loading is two steps: fs_defs_parse() once per file (syntax, keys, types,
 * names), then fs_defs_validate() once (duplicates, references between
 * objects, and the columns of the data each source points at). Both report
 * every problem into a diagnostics list with file:line:col.
 */
#ifndef FS_DEFS_H
#define FS_DEFS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "strbuf.h"

enum fs_kind {
	FS_KIND_ENTITY,
	FS_KIND_SOURCE,
	FS_KIND_FEATURE_VIEW,
	FS_KIND_FEATURE_SERVICE,
	FS_KIND_MODEL,
	FS_KIND__COUNT
};

extern const char *const fs_kind_names[FS_KIND__COUNT + 1]; /* NULL-terminated */
const char *fs_kind_name(enum fs_kind kind);
/* 0 and *out, or FS_ENOTFOUND. Accepts the plural too ("entities"). */
int fs_kind_parse(enum fs_kind *out, const char *s);

extern const char *const fs_feature_types[]; /* NULL-terminated */

struct fs_object {
	enum fs_kind kind;
	char *name;
	json_t *spec; /* canonical spec (owned); NULL until parsed when loaded as text */
	char *spec_text; /* canonical text, when loaded from the registry as text */
	char *file;   /* where it was defined; NULL when loaded from the registry */
	int line, col;
	int version;           /* registry version of this object; 0 if not registered */
	long long applied_in;  /* registry (apply) version that last changed it */
	void *doc;  /* yaml_document_t, while loaded from YAML */
	void *node; /* its root yaml_node_t */
};

struct fs_defs {
	struct fs_object *objs; /* sorted by kind, then name, after validate */
	size_t n, alloc;
	void **docs; /* yaml documents to free */
	size_t ndocs, docs_alloc;
};

/*
 * How validation reads data files named by sources: read(ctx, path, out)
 * fills out with the file at a repo-relative path and returns 0, or returns
 * FS_ENOTFOUND. When read is NULL (or says not found) files are read from
 * root on disk.
 */
struct fs_data_access {
	const char *root;
	int (*read)(void *ctx, const char *path, struct strbuf *out);
	void *ctx;
	/* postgres sources: the offline store's DSN; NULL: none, never connect */
	const char *pg_dsn;
	bool pg_connect; /* false: postgres sources are not checked */
};

/*
 * Could data be a definitions file: does one of its YAML documents have a
 * kind? False only for YAML whose documents all lack one (a CI workflow, a
 * conda environment): true for a file with no document, or that is not
 * valid YAML (parsing it reports why).
 */
bool fs_defs_has_kind(const char *data, size_t len);
/* Parse one definitions file into defs. Problems go to diags. */
void fs_defs_parse(struct fs_defs *defs, const char *file, const char *data, size_t len,
		   struct fs_diags *diags);
/* Check names, references and data columns; sorts defs. */
void fs_defs_validate(struct fs_defs *defs, const struct fs_data_access *data,
		      struct fs_diags *diags);
/* Add an object with a canonical spec (registry load); takes spec. */
void fs_defs_add(struct fs_defs *defs, enum fs_kind kind, const char *name, json_t *spec);
/* Sort by kind then name (needed before fs_defs_find). */
void fs_defs_sort(struct fs_defs *defs);
struct fs_object *fs_defs_find(const struct fs_defs *defs, enum fs_kind kind, const char *name);
void fs_defs_release(struct fs_defs *defs);

/* The spec, parsed from spec_text on first use (NULL if that text is corrupt). */
json_t *fs_object_spec(struct fs_object *obj);
/* Canonical text of a spec (sorted keys, compact); caller frees. */
char *fs_spec_dump(const json_t *spec);

/* The column of a source that feeds feature (field_mapping reversed). */
const char *fs_source_column_for(const json_t *source_spec, const char *feature);

#endif
