/*
 * agg-online.h: the tiles of aggregation views in the online store.
 *
 * Each entity key of an aggregation view is one record holding its tiles
 * (fs_agg_key_encode); the view's batch end and stream counters live in a
 * record of their own (fs_agg_meta) under the empty key, written in the
 * same update as the tiles. Three writers, one update each:
 *
 *  - fs_agg_materialize rebuilds, from the view's source, every tile that
 *    reads at or after END need and records floor(END) as the batch end;
 *    tiles built by push or stream at or after it are kept;
 *  - fs_agg_apply adds events (push, and fs stream) to their tiles: the
 *    one entry point for events that arrive after the batch; events before
 *    the batch end are the batch's and only counted as late;
 *  - reads decode a key's record and merge its tiles at the time asked
 *    (serving.c).
 *
 * Tiles are pruned in event time on every write: a key keeps only the
 * tiles that a read at or after its newest event can need.
 */
#ifndef FS_AGG_ONLINE_H
#define FS_AGG_ONLINE_H

#include <stdint.h>

#include "agg.h"
#include "defs.h"
#include "online.h"
#include "viewscan.h"

struct fs_agg_mat {
	int64_t start_us, batch_end_us; /* the events read: [start, batch end) */
	size_t rows;                    /* events in that interval */
	size_t keys;                    /* keys with batch tiles */
	size_t written;                 /* records written or deleted */
};

/*
 * Rebuild view's tiles for reads at or after end_us from its source (root
 * resolves relative paths). The store holds all of it or none of it
 * (SQLite) once this returns.
 */
int fs_agg_materialize(struct fs_online *store, const struct fs_defs *defs,
		       const struct fs_object *view, const char *root, int64_t end_us,
		       struct fs_agg_mat *out);

struct fs_agg_applied {
	size_t rows;    /* events seen */
	size_t applied; /* added to tiles */
	size_t late;    /* before the batch end: not applied */
	size_t keys;    /* keys written */
};

/*
 * Add the events scan yields (fs_viewscan_open_rows over pushed or
 * streamed rows) to view's tiles. Every event is checked before anything
 * is written: a bad one names its row and column and changes nothing.
 */
int fs_agg_apply(struct fs_online *store, const struct fs_defs *defs,
		 const struct fs_object *view, struct fs_viewscan *scan,
		 struct fs_agg_applied *out);

/* The view's fs_agg_meta (as for a view never written when there is none). */
int fs_agg_meta_read(struct fs_online *store, const struct fs_defs *defs,
		     const struct fs_object *view, struct fs_agg_meta *out);

#endif
