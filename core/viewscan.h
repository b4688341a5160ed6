/*
 * viewscan.h: the rows of a feature view's source, typed: for each row its
 * entity key (encoded as bytes, see fs_key_encode), event and created
 * timestamps (microseconds), and the requested features checked against
 * their declared types. A bad row is an error naming its place.
 *
 * Shared by materialization and push, so that every path converts source
 * data the same way.
 */
#ifndef FS_VIEWSCAN_H
#define FS_VIEWSCAN_H

#include <stdbool.h>
#include <stdint.h>

#include "defs.h"
#include "source.h"
#include "strbuf.h"
#include "value.h"

/* The entity side of a view: join keys and their types, in view order. */
struct fs_view_keys {
	size_t n;
	const char **names;   /* join key columns */
	const char **entity;  /* entity names, for messages */
	bool *is_int;         /* int64 entity, else string */
};

int fs_view_keys_load(struct fs_view_keys *out, const struct fs_defs *defs,
		      const struct fs_object *view);
void fs_view_keys_release(struct fs_view_keys *k);

/*
 * Encode key values (one per join key, as text) into kb: int64 parts as 8
 * bytes, string parts length-prefixed. 1 encoded, 0 a part is empty (no
 * key), FS_EINVALID a part is not an int64 (message names the column).
 */
int fs_key_encode(const struct fs_view_keys *k, struct strbuf *kb, const char *const *vals,
		  const size_t *lens);

struct fs_scan_value {
	bool null;
	int64_t iv;       /* int, bool, timestamp */
	const char *text; /* float, string */
	size_t len;
};

struct fs_viewscan;

/*
 * Open the source of view for reading its features (all of them, in
 * definition order). root resolves relative paths.
 */
int fs_viewscan_open(struct fs_viewscan **out, const struct fs_defs *defs,
		     const struct fs_object *view, const char *root);
/*
 * The same, for materializing [start_us, end_us]: a postgres source hands
 * over only the latest row per key in that window (computed by PostgreSQL),
 * any other source all its rows (the caller filters either way).
 */
int fs_viewscan_open_window(struct fs_viewscan **out, const struct fs_defs *defs,
			    const struct fs_object *view, const char *root, int64_t start_us,
			    int64_t end_us);
/*
 * Next row: 1 with key, ts, created (INT64_MIN when null) and values (one
 * per feature) set; 0 at the end; or an error. A row with an empty join
 * key part is an error naming it, unless fs_viewscan_keys_optional: then
 * key is NULL. Pointers stay valid until the next call.
 */
int fs_viewscan_next(struct fs_viewscan *s, const struct strbuf **key, int64_t *ts,
		     int64_t *created, const struct fs_scan_value **values);
/*
 * The same over rows given by the caller (a push): src yields the columns
 * named as in the view's source (timestamp_field, field_mapping of data);
 * src stays the caller's. The created timestamp column may be absent.
 */
int fs_viewscan_open_rows(struct fs_viewscan **out, const struct fs_defs *defs,
			  const struct fs_object *view, const json_t *data, struct fs_source *src);
/*
 * Split a scan just opened (no row read) of a csv source in two halves to
 * read on two threads: s reads the first, *second the rest (see
 * fs_source_split: on any error, rescan the whole file for the right
 * message). 0 when split, 1 when the source cannot be, or an error.
 */
int fs_viewscan_split(struct fs_viewscan *s, const struct fs_defs *defs,
		      struct fs_viewscan **second);
/* Rows with an empty join key part are handed over (get-historical: they match no entity row). */
void fs_viewscan_keys_optional(struct fs_viewscan *s);
size_t fs_viewscan_nfeatures(const struct fs_viewscan *s);
enum fs_type fs_viewscan_type(const struct fs_viewscan *s, size_t i);
void fs_viewscan_close(struct fs_viewscan *s);

/* Feature types of a view spec, in order; caller frees. */
enum fs_type *fs_view_types(const json_t *view_spec, size_t *n);

#endif
