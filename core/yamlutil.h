/*
 * yamlutil.h: schema-checking helpers over libyaml's document model.
 *
 * Every helper reports problems into a diagnostics list with the 1-based
 * line and column of the offending node, so a whole file can be checked in
 * one pass and every problem shown at once. Helpers never abort: a bad
 * value is reported and treated as absent.
 */
#ifndef FS_YAMLUTIL_H
#define FS_YAMLUTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <yaml.h>

#include "diag.h"

struct fs_yctx {
	yaml_document_t *doc;
	const char *file;
	struct fs_diags *diags;
	const char *what; /* "feature_view 'x'", prefixed to messages; may be NULL */
};

/*
 * Parse every document of buf; for each non-empty one call fn with its
 * root node. Returns 0, or FS_EINVALID after reporting a syntax error (the
 * documents before it have been passed to fn). fn takes ownership of doc and
 * must yaml_document_delete() it (now or later).
 */
typedef void (*fs_y_doc_fn)(void *data, yaml_document_t *doc, yaml_node_t *root);
int fs_y_load_all(const char *buf, size_t len, const char *file, struct fs_diags *diags,
		  fs_y_doc_fn fn, void *data);

int fs_y_line(const yaml_node_t *n);
int fs_y_col(const yaml_node_t *n);
void fs_y_err(struct fs_yctx *y, const yaml_node_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

const char *fs_y_str(const yaml_node_t *n); /* scalar text, else NULL */
bool fs_y_is_null(const yaml_node_t *n);   /* plain "", "~", "null" */
const char *fs_y_type_name(const yaml_node_t *n);

/* Value of key in map (NULL if absent); *key_out gets the key node. */
yaml_node_t *fs_y_get(struct fs_yctx *y, yaml_node_t *map, const char *key);
/*
 * Report keys of map that are not in allowed (NULL-terminated), with a
 * did-you-mean, duplicate keys, and non-scalar keys.
 */
void fs_y_check_keys(struct fs_yctx *y, yaml_node_t *map, const char *const *allowed);

/*
 * Typed getters. Each returns the value node when present and valid, NULL
 * when absent (reporting "missing 'key'" if required) or invalid (reported).
 * Null values count as absent.
 */
yaml_node_t *fs_y_want_str(struct fs_yctx *y, yaml_node_t *map, const char *key, bool required,
			   const char **out);
yaml_node_t *fs_y_want_bool(struct fs_yctx *y, yaml_node_t *map, const char *key, bool *out);
yaml_node_t *fs_y_want_seq(struct fs_yctx *y, yaml_node_t *map, const char *key, bool required);
yaml_node_t *fs_y_want_map(struct fs_yctx *y, yaml_node_t *map, const char *key, bool required);
/* A list of scalars as a JSON array of strings. */
yaml_node_t *fs_y_want_str_list(struct fs_yctx *y, yaml_node_t *map, const char *key,
				bool required, json_t **out);
/* A map of scalar to scalar as a JSON object of strings. */
yaml_node_t *fs_y_want_str_map(struct fs_yctx *y, yaml_node_t *map, const char *key,
			       json_t **out);

/* Iterate sequence items / mapping pairs. */
#define fs_y_seq_len(n) ((size_t)((n)->data.sequence.items.top - (n)->data.sequence.items.start))
yaml_node_t *fs_y_seq_item(struct fs_yctx *y, yaml_node_t *seq, size_t i);
#define fs_y_map_len(n) ((size_t)((n)->data.mapping.pairs.top - (n)->data.mapping.pairs.start))
yaml_node_t *fs_y_map_key(struct fs_yctx *y, yaml_node_t *map, size_t i);
yaml_node_t *fs_y_map_value(struct fs_yctx *y, yaml_node_t *map, size_t i);

#endif
