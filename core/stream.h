/*
 * stream.h: fs stream, events from Kafka topics and Redis Streams into the
 * online store, exactly once.
 *
 * Each source is read by a thread of its own with its own connection to
 * the online store. Events are gathered into batches (at most batch_ms
 * milliseconds or batch_events events) and each batch is applied to every
 * online view of its source (fs_rows_apply: plain views newest-wins,
 * aggregation views into tiles) in one atomic write of the store
 * (fs_online_begin) that also stores, per partition, the position after
 * the batch and the counters of the events it held (a store without
 * batches, a Redis Cluster: an intent stored with the positions, then
 * applied; see stream.c). That stored position
 * is the only one trusted: reading starts there (Kafka: a seek on every
 * assignment; Redis: XREAD after it), and a batch is written only when the
 * store still holds the position it started from, so that a batch read
 * twice (a rebalance, a restart after kill -9) is counted once.
 *
 * The records, "stream/<source>/<partition>" (fs_online_meta_put), hold
 * "<position> <applied> <bad> <late>": the Kafka offset of the next
 * message, or the Redis id of the last entry applied.
 */
#ifndef FS_STREAM_H
#define FS_STREAM_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "online.h"
#include "repo.h"

struct fs_stream_stats {
	char source[136], type[16];
	int64_t events;  /* messages read and written (good and bad) */
	int64_t applied; /* good events, written to the views */
	int64_t bad, late, batches;
	int64_t lag;     /* events waiting, -1 unknown */
};

struct fs_stream_opts {
	bool once;          /* stop when no more events are waiting */
	int64_t max_events; /* stop after that many (0: no limit) */
	int batch_ms;       /* default 50 */
	int64_t batch_events; /* default 10000 */
	volatile sig_atomic_t *stop; /* set by a signal: finish the batch in hand */
	/* a warning (a bad message, an outage), rate-limited per source */
	void (*warn)(void *ctx, const char *msg);
	void *ctx;
};

/*
 * Stream the sources named (all kafka and redis_stream sources a view
 * reads when n is 0) until stopped. *stats (n of them, *nstats) hold the
 * counters of each source; the caller frees the array. live, when not
 * NULL, is called about once a second from the calling thread with the
 * counters so far.
 */
int fs_stream_run(struct fs_repo *repo, const char *const *names, size_t n,
		  const struct fs_stream_opts *opts,
		  void (*live)(void *ctx, const struct fs_stream_stats *st, size_t n, double secs),
		  struct fs_stream_stats **stats, size_t *nstats);

/*
 * The stream sources of defs with their stored positions and counters,
 * and their lag when the broker answers within a second or two:
 * [{"source", "type", "topic"|"stream", "partitions": [{"partition",
 * "position", "lag"}], "applied", "bad", "late", "lag"}].
 */
int fs_stream_status(struct fs_online *store, struct fs_repo *repo, const struct fs_defs *defs,
		     bool with_lag, json_t **out);

#endif
