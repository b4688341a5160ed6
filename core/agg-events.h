/*
 * agg-events.h: the events of an aggregation view held compactly in
 * memory (a key id, the times, and one 8-byte cell per aggregated column),
 * then grouped by key, so that each key's tiles are built while they are
 * in the cache: what get-historical and materialize do with a source of
 * millions of events.
 */
#ifndef FS_AGG_EVENTS_H
#define FS_AGG_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "agg.h"

struct fs_agg_events;

struct fs_agg_events *fs_agg_events_new(const struct fs_aggview *v);
void fs_agg_events_free(struct fs_agg_events *e);
/* Keep one event of key id (vals: the view's columns, as viewscan gives them). */
void fs_agg_events_add(struct fs_agg_events *e, uint32_t key, int64_t ts, int64_t cr,
		       const struct fs_scan_value *vals);
size_t fs_agg_events_count(const struct fs_agg_events *e);
/*
 * Move the events of src (not grouped yet) after those of e, their keys
 * renamed: key k of src becomes ids[k]. src is left empty.
 */
void fs_agg_events_append(struct fs_agg_events *e, struct fs_agg_events *src,
			  const uint32_t *ids);
/*
 * Group the events by key (ids below nkeys): afterwards the events of key
 * k are [start[k], start[k + 1]) (start: nkeys + 1 entries, owned by e),
 * in source order, or with by_time in (ts, created, source) order. With
 * threads, many events are sorted in two halves of the keys, on two
 * threads (the same result).
 */
const size_t *fs_agg_events_group(struct fs_agg_events *e, size_t nkeys, bool by_time,
				  bool threads);
/* Event i (in the grouped order once grouped): its time and values (ncols of them). */
void fs_agg_events_get(const struct fs_agg_events *e, size_t i, int64_t *ts, int64_t *cr,
		       struct fs_agg_value *vals);

#endif
