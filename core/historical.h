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
 * The join is an as-of join in one pass over the source: the entity rows
 * are read into memory, their keys interned, and grouped by key in time
 * order; each source row (streamed, only the requested columns checked
 * and kept) goes to the bucket of the first entity row of its key at or
 * after its time, which keeps its greatest row; an entity row's value is
 * the greatest of its bucket and the earlier ones of its key, within the
 * ttl. CSV sources are read in two halves on two threads.
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
	/*
	 * Optional: called with the rows of view's source scanned so far,
	 * every 2^20 rows (not for joins pushed down into PostgreSQL).
	 */
	void (*progress)(void *ctx, const char *view, size_t rows);
	void *progress_ctx;
	/* Optional: called at the end of each phase of the run with its wall time. */
	void (*timing)(void *ctx, const char *phase, double secs);
	void *timing_ctx;
};

/*
 * What a run found, for the command to report (the core prints nothing).
 * A plain struct rather than an opaque type: it is a result record the
 * caller only reads, then releases with fs_hist_stats_release.
 */
struct fs_hist_view_stats {
	char *view;
	size_t matched; /* entity rows that found a value (aggregations: an event in reach) */
	/*
	 * When matched is 0 and there are rows: why no row matched, as a
	 * clause ("none of the entity rows' driver_id values occur in source
	 * 'x'"), or NULL when the cause is not known.
	 */
	char *why;
};

struct fs_hist_stats {
	size_t rows; /* rows written: the entity rows */
	size_t nviews;
	struct fs_hist_view_stats *views; /* in the order the views were first asked for */
};

void fs_hist_stats_release(struct fs_hist_stats *stats);

/*
 * Write the training set to out. On error nothing useful was written.
 * stats, when not NULL, receives what the run found (on success only;
 * release it either way).
 */
int fs_historical(struct fs_repo *repo, const struct fs_hist_opts *opts, FILE *out,
		  struct fs_hist_stats *stats);

/*
 * Resolve feature references against the registered definitions into
 * (view, feature) pairs in output order: JSON array of {"view", "feature",
 * "type", "column"}. Shared with the online store. A name not registered
 * is named in the error with what the working tree of root says of it
 * (defined but not applied; root NULL: nothing), or the registered name
 * it is a typo of.
 */
int fs_resolve_refs(const struct fs_defs *defs, const char *root, const char *const *refs,
		    size_t nrefs, bool full_names, json_t **out);

#endif
