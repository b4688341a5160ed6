/*
 * agg.h: windowed aggregations ("trades of this token in the last 30
 * minutes"), the one kernel behind get-historical, materialize, push and
 * online reads, so that training sets and serving compute the same values.
 *
 * Each aggregation of a view cuts event time into tiles of its hop,
 * aligned to the Unix epoch: tile i holds the events with
 * i * hop <= ts < (i + 1) * hop as one partial aggregate. The value at
 * time t merges, in tile order, the tiles i with
 * floor(t / hop) - window / hop <= i <= floor(t / hop): the window
 * floor(t, hop) - window <= ts < t when every event of the last tile is
 * before t, which holds offline (events are added up to t) and online for
 * reads at or after the newest event.
 *
 * struct fs_agg_key holds the tiles of one entity key. The same structure
 * is filled event by event offline (get-historical), from the source
 * (materialize) and from pushed or streamed events, and is stored online
 * in its encoded form (one record per key).
 */
#ifndef FS_AGG_H
#define FS_AGG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"
#include "value.h"
#include "viewscan.h"

enum fs_agg_fn {
	FS_AGG_COUNT,
	FS_AGG_SUM,
	FS_AGG_AVG,
	FS_AGG_MIN,
	FS_AGG_MAX,
	FS_AGG_FIRST,
	FS_AGG_LAST,
	FS_AGG_VAR,
	FS_AGG_STDDEV,
	FS_AGG_APPROX_COUNT_DISTINCT,
};

extern const char *const fs_agg_fn_names[]; /* NULL-terminated, in enum order */

/* HyperLogLog registers of approx_count_distinct (2^14) */
#define FS_HLL_BITS 14
#define FS_HLL_REGS (1u << FS_HLL_BITS)

/* 0 and *out for a function name, else FS_ENOTFOUND. */
int fs_agg_fn_parse(enum fs_agg_fn *out, const char *name);
/* Does fn need a numeric column (sum, avg, var, stddev)? */
bool fs_agg_fn_numeric(enum fs_agg_fn fn);
/* The result type of fn over a column of type t (has_column false: count of events). */
enum fs_type fs_agg_result_type(enum fs_agg_fn fn, enum fs_type t, bool has_column);
/* Is t a numeric type (int32, int64, float32, float64)? */
bool fs_type_is_numeric(enum fs_type t);
/*
 * The default hop of a window (seconds): the largest of 1d, 1h, 5m, 1m
 * that divides it at least 24 times, else 1s.
 */
int64_t fs_agg_default_hop(int64_t window_s);

struct fs_agg {
	const char *name;   /* the feature */
	enum fs_agg_fn fn;
	int col;            /* index into fs_aggview.cols; -1: count of events */
	enum fs_type type;  /* the column's type */
	enum fs_type result;
	int64_t window_us, hop_us;
};

/* The aggregations of a view, read from its canonical spec. */
struct fs_aggview {
	struct fs_agg *aggs;
	size_t n;
	const char **cols; /* distinct columns read, in first-use order */
	enum fs_type *col_types;
	size_t ncols;
	int64_t max_window_us, max_hop_us;
};

/* Does the view spec declare aggregations? */
bool fs_view_is_agg(const json_t *view_spec);
/* Load from a canonical view spec (pointers into it); FS_EINVALID when it has none. */
int fs_aggview_load(struct fs_aggview *out, const json_t *view_spec);
void fs_aggview_release(struct fs_aggview *v);

/* One aggregation's value at a time t. */
struct fs_agg_result {
	bool present;     /* the window holds an event of the key */
	int64_t event_ts; /* the newest event in the window (when present) */
	bool null;
	int64_t iv;       /* int, bool and timestamp results */
	double d;         /* float results */
	const char *s;    /* string results: points into the tiles read */
	size_t len;
};

/*
 * One column value of an event: i for int, bool and timestamp columns, d
 * for floats, s/len for strings; null when absent or empty.
 */
struct fs_agg_value {
	bool null;
	int64_t i;
	double d;
	const char *s;
	size_t len;
};

/* A value checked by viewscan (of type t) as an fs_agg_value (floats parsed). */
void fs_agg_value_from_scan(struct fs_agg_value *out, enum fs_type t,
			    const struct fs_scan_value *sv);

struct fs_agg_key;

struct fs_agg_key *fs_agg_key_new(const struct fs_aggview *v);
void fs_agg_key_free(struct fs_agg_key *k);
/* Forget every tile (keep the allocation). */
void fs_agg_key_clear(struct fs_agg_key *k);
/*
 * Add one event: ts and created (INT64_MIN when none) in microseconds,
 * vals the values of the view's columns (fs_aggview.cols).
 */
void fs_agg_key_add(struct fs_agg_key *k, int64_t ts, int64_t cr,
		    const struct fs_agg_value *vals);
/*
 * Ignore, from now on, events that no read at or after t can need (those
 * before floor(t, hop) - window of each aggregation): what materialize
 * sets to the batch end, so that a source of many days holds tiles of one
 * window only. INT64_MIN (the default): keep all.
 */
void fs_agg_key_set_horizon(struct fs_agg_key *k, int64_t t);
/* The newest event time added (INT64_MIN when none). */
int64_t fs_agg_key_newest(const struct fs_agg_key *k);
bool fs_agg_key_empty(const struct fs_agg_key *k);
/*
 * Drop the tiles that no read at or after time t can need (those before
 * floor(t, hop) - window).
 */
void fs_agg_key_prune(struct fs_agg_key *k, int64_t t);
/* Drop the tiles that start before end_us (end_us a multiple of every hop). */
void fs_agg_key_cut_before(struct fs_agg_key *k, int64_t end_us);
/* Merge the tiles of b into k, tile by tile (b's events added to k's). */
void fs_agg_key_merge(struct fs_agg_key *k, const struct fs_agg_key *b);
/*
 * The value of every aggregation at time t (out[v->n]): tiles from
 * floor(t, hop) - window up to and including floor(t, hop).
 */
void fs_agg_key_read(const struct fs_agg_key *k, int64_t t, struct fs_agg_result *out);
/*
 * The same, with the tile floor(t, hop) of each aggregation taken from
 * cur instead of k (the events of that tile before t, aggregated
 * elsewhere: PostgreSQL).
 */
void fs_agg_key_read_split(const struct fs_agg_key *k, const struct fs_agg_key *cur, int64_t t,
			   struct fs_agg_result *out);

/* A partial aggregate of one tile computed elsewhere (PostgreSQL). */
struct fs_agg_partial {
	int64_t events; /* events of the key in the tile */
	int64_t newest; /* the newest one's time */
	int64_t n;      /* non-null values (count with a column, and all others) */
	int64_t isum;   /* sum over an int column */
	double dsum;    /* sum over a float column, avg */
	double mean, m2; /* var, stddev: mean and sum of squared deviations */
	struct fs_agg_value v; /* min, max, first, last */
	int64_t vts, vcr;      /* first, last: the (ts, created) of v's event */
};
/* Merge p into tile idx of aggregation a of k. */
void fs_agg_key_put(struct fs_agg_key *k, size_t a, int64_t idx, const struct fs_agg_partial *p);
/* approx_count_distinct: count value x in the registers of tile idx of aggregation a. */
void fs_agg_key_put_distinct(struct fs_agg_key *k, size_t a, int64_t idx,
			     const struct fs_agg_value *x);

/* Serialize (the online record) and back; decode false when malformed. */
void fs_agg_key_encode(const struct fs_agg_key *k, struct strbuf *out);
bool fs_agg_key_decode(struct fs_agg_key *k, const void *buf, size_t len);
/* The number of tiles held (for tests and bounds). */
size_t fs_agg_key_ntiles(const struct fs_agg_key *k);

/*
 * A result as fs_scan_value for output: ints in iv, floats as their
 * shortest text in buf (at least 32 bytes), strings pointing into the
 * tiles. null for an empty value.
 */
void fs_agg_result_value(const struct fs_agg *a, const struct fs_agg_result *r, char *buf,
			 size_t buflen, struct fs_scan_value *out);

/*
 * The per-view record stored beside the tiles (under the empty key, which
 * no entity key encodes to), changed in the same write as the tiles.
 */
struct fs_agg_meta {
	int64_t batch_end_us; /* tiles before it are the batch's (INT64_MIN: none) */
	int64_t newest_us;    /* newest event applied by push or stream (INT64_MIN: none) */
	int64_t applied;      /* events applied by push or stream */
	int64_t late;         /* events before the batch end, not applied */
};
void fs_agg_meta_encode(const struct fs_agg_meta *m, struct strbuf *out);
/* false (and *m as for a view never written) when malformed */
bool fs_agg_meta_decode(struct fs_agg_meta *m, const void *buf, size_t len);

/* The hash approx_count_distinct feeds a value through (tests mirror it). */
uint64_t fs_agg_hash(const void *data, size_t len);

#endif
