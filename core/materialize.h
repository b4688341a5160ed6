/*
 * materialize.h: loading the latest feature values from offline sources
 * into the online store.
 *
 * For each online view (or the views named): read the source rows with
 * start <= ts <= end, keep per entity key the row with the greatest
 * (ts, created) (the later row in the source on a tie), write them to the
 * online store newest-wins, and only after that write committed record the
 * interval in the registry. Incremental runs start at the view's last
 * recorded end, the first time at end - ttl (all history when ttl is 0).
 *
 * Runs on the same view serialize on a per-view lock (the holder's pid and
 * start time are in the lock file): a second run waits, calling waiting
 * first, or with no_wait fails with FS_ELOCKED naming the pid.
 */
#ifndef FS_MATERIALIZE_H
#define FS_MATERIALIZE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lock.h"
#include "repo.h"

struct fs_mat_opts {
	int64_t start_us; /* ignored when incremental */
	int64_t end_us;
	bool incremental;
	const char *const *views; /* NULL: every online view */
	size_t nviews;
	bool no_wait;
	/* called every 2^20 rows scanned, when set */
	void (*progress)(void *ctx, const char *view, size_t rows);
	void *progress_ctx;
	/* called before waiting for the run holding view, when set */
	void (*waiting)(void *ctx, const char *view, const struct fs_lock_holder *holder);
	void *waiting_ctx;
};

/*
 * Materialize; *out gets [{"view", "start", "end", "rows_read",
 * "keys_written", "seconds"}] for the views done (also on error, for the
 * views completed before it).
 */
int fs_materialize(struct fs_repo *repo, const struct fs_mat_opts *opts, json_t **out);

/* The last recorded end of view (microseconds); FS_ENOTFOUND if never materialized. */
int fs_materialize_last_end(struct fs_registry *reg, const char *view, int64_t *out);

#endif
