/*
 * historical.h: point-in-time correct training sets (`fs get-historical`).
 *
 * For each entity row and each requested feature view, the source row with
 * the same join keys whose timestamp ts satisfies
 *     row_ts - ttl <= ts <= row_ts      (no lower bound when ttl is 0)
 * with the greatest ts, then the greatest created timestamp (null created
 * sorts first), then the latest in the source's own order. No such row:
 * null. Output rows are the input rows in input order, duplicates kept.
 *
 * The join is a sort-merge as-of join: the entity rows are read into
 * memory and their keys interned; the source is streamed once, keeping
 * only rows whose key occurs among the entity rows and only the requested
 * columns; both sides are grouped by key (counting sort) and ordered by
 * time, then merged with two cursors per key.
 */
#ifndef FS_HISTORICAL_H
#define FS_HISTORICAL_H

#include <stdbool.h>
#include <stdio.h>

#include "repo.h"

struct fs_hist_opts {
	const char *entities;  /* path of the entity rows CSV, "-" for stdin */
	const char *ts_column; /* default "event_timestamp" */
	const char *const *refs; /* view:feature, view, or feature service */
	size_t nrefs;
	bool full_names; /* view__feature column names */
	bool json;       /* one JSON object per line instead of CSV */
};

/* Write the training set to out. On error nothing useful was written. */
int fs_historical(struct fs_repo *repo, const struct fs_hist_opts *opts, FILE *out);

/*
 * Resolve feature references against the registered definitions into
 * (view, feature) pairs in output order: JSON array of {"view", "feature",
 * "type", "column"}. Shared with the online store.
 */
int fs_resolve_refs(const struct fs_defs *defs, const char *const *refs, size_t nrefs,
		    bool full_names, json_t **out);

#endif
