/*
 * stream.c: fs stream (see stream.h for the design).
 *
 * A source thread loops: read messages into the batch (each converted to
 * the cells of the source's columns and checked as the views will read
 * it; a bad one is counted, reported and dead-lettered, never stops the
 * loop), then write the batch (flush). Kafka partitions come and go with
 * the group's rebalances: on an assignment each partition is sought to its
 * stored position; before a revocation the batch in hand is written.
 */
#include "stream.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "agg.h"
#include "error.h"
#include "serving.h"
#include "source.h"
#include "strbuf.h"
#include "timeutil.h"
#include "unapplied.h"
#include "util.h"
#include "value.h"
#include "viewscan.h"
#include "banned.h"

#define MAX_MESSAGE (1024 * 1024) /* a larger message is bad data */
/* a topic or stream absent that long is an error (FS_TEST_STREAM_TIMEOUT_MS for the tests) */
#define MISSING_TIMEOUT_MS missing_timeout_ms()
#define MAX_BACKOFF_MS 5000
#define WARN_PER_SEC 10
/* the column of the entry id's time, for redis_stream sources without timestamp_field */
#define ENTRY_TIME "@entry_time"

static int64_t missing_timeout_ms(void)
{
	const char *t = getenv("FS_TEST_STREAM_TIMEOUT_MS");
	return t && atoll(t) > 0 ? atoll(t) : 10000;
}

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	struct timespec t = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };
	nanosleep(&t, NULL);
}

/* A check a message's cells pass before its event joins a batch. */
enum check_kind { CK_KEY_INT, CK_KEY_STR, CK_TS, CK_CREATED, CK_VALUE };
struct check {
	size_t col;
	enum check_kind kind;
	enum fs_type type;
};

#define POS_MAX 64 /* a stored position: a Kafka offset or a Redis entry id, and its NUL */

/* A partition (Kafka) or the stream (Redis, partition 0) in a batch. */
struct bpart {
	int32_t part;
	char start[64]; /* the stored position the batch starts from ("" none) */
	char end[64];   /* the position after the batch */
	int64_t good, bad;
	int64_t applied0, bad0, late0; /* the stored counters, read with start */
	int64_t newest0; /* the stored newest event time (INT64_MIN: none) */
};

/* Events read, to be written in one atomic write with their positions. */
struct batch {
	struct fs_source *rows;
	int64_t nrows;
	struct bpart *bp;
	size_t nbp, bp_alloc;
	int64_t deadline;
	int64_t late; /* of the events written */
};

/* What the thread knows of a Kafka partition. */
struct kpart {
	bool assigned, eof;
	int64_t next;   /* offset of the next message to take, -1 any */
	char stored[POS_MAX]; /* its stored position, "" none */
	char from[POS_MAX];  /* where the next batch starts: stored, or the end of the one being written */
	int64_t applied, bad, late; /* stored counters */
};

struct src {
	struct fs_repo *repo;
	const struct fs_defs *defs;
	const struct fs_object *obj;
	const struct fs_stream_opts *opts;
	const char *name, *type;
	json_t *data; /* the spec naming the columns (a copy) */
	const char **cols;
	size_t ncols;
	struct check *checks;
	size_t nchecks;
	size_t ts_col;
	struct fs_online *store; /* the writer's while it holds a batch */
	/* a store without batches: the intent of the batch being written */
	char intent_id[40];
	bool intent_sent; /* its change was sent: it may be stored */

	/*
	 * The batches: cur is being read while out (when not NULL) is being
	 * written by the writer thread, so that reading and writing overlap.
	 */
	struct batch bat[2];
	struct batch *cur, *out;
	pthread_t writer;
	bool writer_started, writer_quit, writer_busy;
	pthread_mutex_t lock; /* guards the writer_* fields, out_rc and out_err */
	pthread_cond_t cond;
	int out_rc; /* out written: 0, STALE or an error (its message in out_err) */
	char out_err[1024];
	pthread_mutex_t warn_lock; /* warn() is called from both threads */

	struct strbuf scratch;
	struct fs_cell *cells;
	size_t *offs;

	struct fs_stream_stats st;
	int64_t consumed; /* events written or being written, for max_events */
	bool done;
	int rc;
	char err[1024]; /* the message of rc, from this thread */

	/* warnings: at most WARN_PER_SEC a second */
	int64_t warn_sec;
	int warn_n;
	int64_t warn_hidden;

	/* kafka */
	rd_kafka_t *rk, *dlq;
	char *topic;
	struct kpart *kp;
	size_t nkp;
	bool got_assignment, broker_down;

	/* redis */
	redisContext *rc_stream;
	char *stream, *url;
	char last_id[64]; /* of the last entry taken */
	char stored_id[POS_MAX];
	char from_id[POS_MAX]; /* where the next batch starts (as kpart.from) */
	int64_t r_applied, r_bad, r_late;
	int64_t lag_at; /* when the lag was last counted (ms) */
};

static void warn(struct src *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct src *s, const char *fmt, ...)
{
	int64_t sec = now_ms() / 1000;
	char msg[2048];
	va_list ap;

	pthread_mutex_lock(&s->warn_lock);
	if (sec != s->warn_sec) {
		if (s->warn_hidden && s->opts->warn) {
			snprintf(msg, sizeof(msg), "%s: %lld more warnings not shown", s->name,
				 (long long)s->warn_hidden);
			s->opts->warn(s->opts->ctx, msg);
		}
		s->warn_sec = sec;
		s->warn_n = 0;
		s->warn_hidden = 0;
	}
	if (s->warn_n >= WARN_PER_SEC) {
		s->warn_hidden++;
		pthread_mutex_unlock(&s->warn_lock);
		return;
	}
	s->warn_n++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->opts->warn)
		s->opts->warn(s->opts->ctx, msg);
	pthread_mutex_unlock(&s->warn_lock);
}

/* ---- columns and checks ---- */

static size_t col_index(struct src *s, const char *col)
{
	size_t i;

	for (i = 0; i < s->ncols; i++)
		if (!strcmp(s->cols[i], col))
			return i;
	s->cols = xrealloc(s->cols, (s->ncols + 1) * sizeof(*s->cols));
	s->cols[s->ncols] = col;
	return s->ncols++;
}

static void add_check(struct src *s, const char *name, enum check_kind kind, enum fs_type type)
{
	size_t col = col_index(s, fs_source_column_for(s->data, name)), i;

	for (i = 0; i < s->nchecks; i++)
		if (s->checks[i].col == col && s->checks[i].kind == kind &&
		    s->checks[i].type == type)
			return;
	s->checks = xrealloc(s->checks, (s->nchecks + 1) * sizeof(*s->checks));
	s->checks[s->nchecks++] = (struct check){ .col = col, .kind = kind, .type = type };
}

/* The columns the views of s read, and the checks of each. */
static int plan_source(struct src *s)
{
	const char *ts = json_string_value(json_object_get(s->data, "timestamp_field"));
	const char *cr = json_string_value(json_object_get(s->data, "created_timestamp_field"));
	size_t i, j, nviews = 0;
	int rc = 0;

	add_check(s, ts, CK_TS, FS_T_TIMESTAMP);
	s->ts_col = s->checks[0].col;
	if (cr)
		add_check(s, cr, CK_CREATED, FS_T_TIMESTAMP);
	for (i = 0; i < s->defs->n && !rc; i++) {
		const struct fs_object *v = &s->defs->objs[i];
		struct fs_view_keys k;

		if (v->kind != FS_KIND_FEATURE_VIEW ||
		    strcmp(json_string_value(json_object_get(v->spec, "source")), s->name))
			continue;
		nviews++;
		if ((rc = fs_view_keys_load(&k, s->defs, v)))
			break;
		for (j = 0; j < k.n; j++)
			add_check(s, k.names[j], k.is_int[j] ? CK_KEY_INT : CK_KEY_STR, FS_T_STRING);
		fs_view_keys_release(&k);
		if (fs_view_is_agg(v->spec)) {
			struct fs_aggview av;
			if ((rc = fs_aggview_load(&av, v->spec)))
				break;
			for (j = 0; j < av.ncols; j++)
				add_check(s, av.cols[j], CK_VALUE, av.col_types[j]);
			fs_aggview_release(&av);
		} else {
			size_t nf;
			enum fs_type *types = fs_view_types(v->spec, &nf);
			json_t *f;
			json_array_foreach(json_object_get(v->spec, "features"), j, f)
				add_check(s, json_string_value(json_object_get(f, "name")), CK_VALUE,
					  types[j]);
			free(types);
		}
	}
	if (!rc && !nviews) {
		fs_error_set("no feature view reads source '%s'", s->name);
		rc = FS_ENOTFOUND;
	}
	s->cells = xcalloc(s->ncols + 1, sizeof(*s->cells));
	s->offs = xcalloc(s->ncols + 1, sizeof(*s->offs));
	return rc;
}

/* Are the cells of the message just converted an event every view can take? */
static bool check_cells(struct src *s, char *why, size_t len)
{
	size_t i;

	for (i = 0; i < s->nchecks; i++) {
		const struct check *c = &s->checks[i];
		const struct fs_cell *cell = &s->cells[c->col];
		const char *col = s->cols[c->col];
		int64_t v;

		switch (c->kind) {
		case CK_KEY_INT:
		case CK_KEY_STR:
			if (cell->null || !cell->len) {
				snprintf(why, len, "no join key '%s'", col);
				return false;
			}
			if (c->kind == CK_KEY_INT && !fs_parse_int64(cell->s, cell->len, &v)) {
				snprintf(why, len, "join key '%s': '%.100s' is not an int64", col,
					 cell->s);
				return false;
			}
			break;
		case CK_TS:
			if (cell->null || !cell->len) {
				snprintf(why, len, "no timestamp '%s'", col);
				return false;
			}
			if (!fs_time_parse(cell->s, cell->len, &v)) {
				snprintf(why, len, "'%s': bad timestamp '%.100s'", col, cell->s);
				return false;
			}
			if (v > (int64_t)time(NULL) * FS_USEC + FS_MAX_AHEAD_US) {
				snprintf(why, len,
					 "'%s': event time %.100s is more than a day ahead of the clock",
					 col, cell->s);
				return false;
			}
			break;
		case CK_CREATED:
			if (!cell->null && cell->len && !fs_time_parse(cell->s, cell->len, &v)) {
				snprintf(why, len, "'%s': bad timestamp '%.100s'", col, cell->s);
				return false;
			}
			break;
		case CK_VALUE:
			if (!cell->null && (cell->len || c->type == FS_T_STRING) &&
			    !fs_value_parse(c->type, cell->s, cell->len, &v)) {
				snprintf(why, len, "'%s': '%.100s' is not %s %s", col, cell->s,
					 c->type == FS_T_INT32 || c->type == FS_T_INT64 ? "an" : "a",
					 fs_type_name(c->type));
				return false;
			}
			break;
		}
	}
	return true;
}

/* Point the cells at scratch, once it has stopped moving. */
static void cells_fix(struct src *s)
{
	size_t i;

	for (i = 0; i < s->ncols; i++)
		if (!s->cells[i].null)
			s->cells[i].s = s->scratch.buf + s->offs[i];
}

static void cell_text(struct src *s, size_t i, const char *text, size_t len)
{
	s->offs[i] = s->scratch.len;
	sb_add(&s->scratch, text, len);
	sb_addc(&s->scratch, '\0');
	s->cells[i] = (struct fs_cell){ .len = len };
}

/* A JSON number in the timestamp column: Unix seconds, or milliseconds from 1e11 on. */
static void cell_time_number(struct src *s, size_t i, double v)
{
	char buf[FS_TIME_BUFSZ];
	double us = fabs(v) >= 1e11 ? v * 1000.0 : v * 1e6;

	if (!isfinite(us) || fabs(us) > 9.2e18) {
		cell_text(s, i, "out of range", 12);
		return;
	}
	fs_time_format_us(buf, (int64_t)llround(us));
	cell_text(s, i, buf, strlen(buf));
}

/* The cells of a Kafka message; false with why when it is not an object of scalars. */
static bool cells_from_json(struct src *s, const char *payload, size_t len, char *why,
			    size_t wlen)
{
	json_error_t err;
	json_t *obj;
	size_t i;
	bool ok = true;

	sb_reset(&s->scratch);
	if (len > MAX_MESSAGE) {
		snprintf(why, wlen, "a message of %zu bytes (more than 1 MiB)", len);
		return false;
	}
	obj = json_loadb(payload, len, 0, &err);
	if (!obj) {
		snprintf(why, wlen, "not JSON: %s (at byte %d)", err.text, err.position);
		return false;
	}
	if (!json_is_object(obj)) {
		snprintf(why, wlen, "not a JSON object");
		json_decref(obj);
		return false;
	}
	for (i = 0; i < s->ncols && ok; i++) {
		json_t *v = json_object_get(obj, s->cols[i]);
		char num[64];

		switch (v ? json_typeof(v) : JSON_NULL) {
		case JSON_NULL:
			s->cells[i] = (struct fs_cell){ .s = "", .null = true };
			break;
		case JSON_STRING:
			cell_text(s, i, json_string_value(v), json_string_length(v));
			break;
		case JSON_INTEGER:
			if (i == s->ts_col) {
				cell_time_number(s, i, (double)json_integer_value(v));
				break;
			}
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			cell_text(s, i, num, strlen(num));
			break;
		case JSON_REAL:
			if (i == s->ts_col) {
				cell_time_number(s, i, json_real_value(v));
				break;
			}
			snprintf(num, sizeof(num), "%.17g", json_real_value(v));
			cell_text(s, i, num, strlen(num));
			break;
		case JSON_TRUE:
			cell_text(s, i, "true", 4);
			break;
		case JSON_FALSE:
			cell_text(s, i, "false", 5);
			break;
		default:
			snprintf(why, wlen, "'%s' is %s, not a value", s->cols[i],
				 json_is_object(v) ? "an object" : "an array");
			ok = false;
		}
	}
	json_decref(obj);
	cells_fix(s);
	return ok;
}

/* ---- the batch ---- */

static void batch_reset(struct src *s, struct batch *b)
{
	fs_source_close(b->rows);
	b->rows = fs_source_table_new(s->name, s->type, s->cols, s->ncols);
	b->nrows = 0;
	b->nbp = 0;
	b->deadline = 0;
	b->late = 0;
}

static struct bpart *batch_part(struct src *s, int32_t part, const char *from)
{
	struct batch *b = s->cur;
	size_t i;

	for (i = 0; i < b->nbp; i++)
		if (b->bp[i].part == part)
			return &b->bp[i];
	ALLOC_GROW(b->bp, b->nbp + 1, b->bp_alloc);
	memset(&b->bp[b->nbp], 0, sizeof(b->bp[b->nbp]));
	b->bp[b->nbp].part = part;
	snprintf(b->bp[b->nbp].start, sizeof(b->bp[b->nbp].start), "%s", from);
	if (!b->deadline)
		b->deadline = now_ms() + (s->opts->batch_ms > 0 ? s->opts->batch_ms : 50);
	return &b->bp[b->nbp++];
}

static int64_t batch_size(const struct batch *b)
{
	int64_t n = 0;
	size_t i;

	for (i = 0; i < b->nbp; i++)
		n += b->bp[i].good + b->bp[i].bad;
	return n;
}

/* At most batch_events (10,000 by default). */
static int64_t batch_max(const struct src *s)
{
	return s->opts->batch_events > 0 ? s->opts->batch_events : 10000;
}

/* The events taken so far: written, being written and in the batch being read. */
static int64_t taken(const struct src *s)
{
	return s->consumed + batch_size(s->cur);
}

/*
 * While the writer is busy with the batch before, the batch being read
 * grows up to CATCH_UP times batch_max: a store that rewrites a page for
 * each record changed (SQLite; random keys touch most pages of a view)
 * pays per batch, not per event, so that a backlog is caught up with
 * fewer, larger writes (1M events, 100k keys: 20 writes, not 100, and
 * 1.6 times the events a second). Caught up, the writer is idle and
 * batches close after batch_ms or batch_events as before. Redis does not
 * grow them: its cost is per event, and a batch is one EXEC that every
 * other client of the server waits for.
 */
#define CATCH_UP 10
static int64_t batch_cap(const struct src *s, bool busy)
{
	int64_t max = batch_max(s);

	return busy && strcmp(s->store->ops->type, "redis") ? max * CATCH_UP : max;
}

static bool batch_full(const struct src *s, bool busy)
{
	return batch_size(s->cur) >= batch_cap(s, busy) ||
	       (s->opts->max_events > 0 && taken(s) >= s->opts->max_events);
}

/* May one more message join the batch (max_events)? */
static bool batch_room(const struct src *s)
{
	return !s->opts->max_events || taken(s) < s->opts->max_events;
}

static char *pos_name(const struct src *s, int32_t part)
{
	return xstrfmt("stream/%s/%d", s->name, (int)part);
}

/*
 * "<position> <applied> <bad> <late> [<newest>]": newest, the time of the
 * newest event applied (microseconds; INT64_MIN when none or the record
 * is older than the field), may be NULL.
 */
static bool pos_parse(const char *val, char *pos, size_t poslen, int64_t *applied, int64_t *bad,
		      int64_t *late, int64_t *newest)
{
	long long a, b, l, n;
	char p[64];
	int got = sscanf(val, "%63s %lld %lld %lld %lld", p, &a, &b, &l, &n);

	if (got < 4)
		return false;
	snprintf(pos, poslen, "%s", p);
	*applied = a;
	*bad = b;
	*late = l;
	if (newest)
		*newest = got == 5 ? n : INT64_MIN;
	return true;
}

/* The record of a position with these counters (newest INT64_MIN: none). */
static char *pos_format(const char *pos, int64_t applied, int64_t bad, int64_t late,
			int64_t newest)
{
	return newest == INT64_MIN
		       ? xstrfmt("%s %lld %lld %lld", pos, (long long)applied, (long long)bad,
				 (long long)late)
		       : xstrfmt("%s %lld %lld %lld %lld", pos, (long long)applied, (long long)bad,
				 (long long)late, (long long)newest);
}

/*
 * Record name of the store, as stored (val, *found) and parsed (pos, the
 * counters: "" and zeros when none).
 */
static int pos_get(struct src *s, const char *name, struct strbuf *val, bool *found, char *pos,
		   size_t poslen, int64_t *applied, int64_t *bad, int64_t *late, int64_t *newest)
{
	int rc = fs_online_meta_get(s->store, name, val, found);

	*pos = '\0';
	*applied = *bad = *late = 0;
	if (newest)
		*newest = INT64_MIN;
	if (!rc && *found && !pos_parse(val->buf, pos, poslen, applied, bad, late, newest)) {
		fs_error_set("online store: record '%s' is corrupt: '%s'", name, val->buf);
		rc = FS_ERR;
	}
	return rc;
}

/*
 * The stored position and counters of a partition ("" and zeros when
 * none). From the reading thread only while the writer is idle.
 */
static int pos_read(struct src *s, int32_t part, char *pos, size_t poslen, int64_t *applied,
		    int64_t *bad, int64_t *late, int64_t *newest)
{
	struct strbuf val = STRBUF_INIT;
	char *name = pos_name(s, part);
	bool found;
	int rc = pos_get(s, name, &val, &found, pos, poslen, applied, bad, late, newest);

	free(name);
	sb_release(&val);
	return rc;
}

/* The late events and the newest event time (INT64_MIN: none) of fs_rows_apply's res. */
static void applied_totals(const json_t *res, int64_t *late, int64_t *newest)
{
	const json_t *r;
	size_t i;

	*late = 0;
	*newest = INT64_MIN;
	json_array_foreach(res, i, r) {
		const json_t *n = json_object_get(r, "newest_event");
		int64_t us;
		*late += json_integer_value(json_object_get(r, "late"));
		if (json_is_string(n) && fs_time_parse(json_string_value(n), json_string_length(n), &us) &&
		    us > *newest)
			*newest = us;
	}
}

#define STALE 1 /* a write: another reader wrote a partition of the batch */

/*
 * Write batch b: its events to the views and each partition's position
 * after it, in one batch of the store, only if every partition's stored
 * position is still the one the batch started from. 0, STALE (nothing
 * written), or an error (nothing written).
 */
static int write_batch(struct src *s, struct batch *b)
{
	int tries, rc = 0;
	size_t i;

	for (tries = 0; tries < 50; tries++) {
		json_t *res = json_array();
		int64_t newest = INT64_MIN;

		b->late = 0;
		if (tries)
			sleep_ms(tries);
		if ((rc = fs_online_begin(s->store))) {
			json_decref(res);
			return rc;
		}
		for (i = 0; !rc && i < b->nbp; i++) {
			struct bpart *p = &b->bp[i];
			char pos[64];
			if ((rc = pos_read(s, p->part, pos, sizeof(pos), &p->applied0, &p->bad0,
					   &p->late0, &p->newest0)))
				break;
			if (strcmp(pos, p->start)) {
				rc = STALE;
				break;
			}
		}
		if (!rc && b->nrows) {
			fs_source_table_rewind(b->rows);
			rc = fs_rows_apply(s->store, s->defs, s->name, s->data, b->rows, res);
			applied_totals(res, &b->late, &newest);
		}
		for (i = 0; !rc && i < b->nbp; i++) {
			struct bpart *p = &b->bp[i];
			char *name = pos_name(s, p->part), *val;
			int64_t n = i || newest < p->newest0 ? p->newest0 : newest;
			/*
			 * the counters read with the position; the batch's late
			 * events and newest event time go to its first partition
			 */
			val = pos_format(p->end, p->applied0 + p->good, p->bad0 + p->bad,
					 p->late0 + (i ? 0 : b->late), n);
			rc = fs_online_meta_put(s->store, name, val);
			free(val);
			free(name);
		}
		json_decref(res);
		if (rc) {
			fs_online_rollback(s->store);
			return rc;
		}
		fs_test_crash_point("stream-before-commit");
		rc = fs_online_commit(s->store);
		if (!rc)
			fs_test_crash_point("stream-after-commit");
		if (rc != FS_ECONFLICT)
			return rc;
	}
	return rc;
}

/* ---- intents: a store without batches (a Redis Cluster) ---- */

/*
 * No transaction spans a cluster's nodes, so a batch is written in three
 * steps:
 *
 * 1. its intent, "stream-intent/<source>/<id>" holding its events, is
 *    stored with the partitions' positions after the batch, in one change
 *    made only if the positions are still those the batch started from
 *    (fs_online_meta_change). This is the commit point: from here on the
 *    batch is the store's, whatever becomes of this process.
 * 2. the events are applied to the views, with marked updates
 *    (fs_online_mark);
 * 3. the intent is settled: deleted, its late events and newest event
 *    time added to its first partition's record.
 *
 * An intent still stored (the writer died between 1 and 3) is applied
 * again by the next fs stream of the source, when it starts: the marked
 * steps done already change nothing, so every event still counts once,
 * however many apply it at once.
 *
 * An intent's text: "fs-intent 1 <first partition>", then the columns,
 * then one line a row; cells separated by tabs, \N for null, and
 * backslash, tab, newline, carriage return and NUL escaped (\\ \t \n \r \0).
 */
static char *intent_name(const struct src *s, const char *id)
{
	return id ? xstrfmt("stream-intent/%s/%s", s->name, id)
		  : xstrfmt("stream-intent/%s/", s->name);
}

static void intent_cell(struct strbuf *out, const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		switch (p[i]) {
		case '\\': sb_add(out, "\\\\", 2); break;
		case '\t': sb_add(out, "\\t", 2); break;
		case '\n': sb_add(out, "\\n", 2); break;
		case '\r': sb_add(out, "\\r", 2); break;
		case '\0': sb_add(out, "\\0", 2); break;
		default: sb_addc(out, p[i]);
		}
	}
}

static void intent_encode(struct strbuf *out, struct src *s, struct batch *b)
{
	const struct fs_cell *cells;
	size_t c;

	sb_reset(out);
	sb_addf(out, "fs-intent 1 %d\n", (int)b->bp[0].part);
	for (c = 0; c < s->ncols; c++) {
		if (c)
			sb_addc(out, '\t');
		intent_cell(out, s->cols[c], strlen(s->cols[c]));
	}
	sb_addc(out, '\n');
	fs_source_table_rewind(b->rows);
	while (fs_source_next(b->rows, &cells) == 1) {
		for (c = 0; c < s->ncols; c++) {
			if (c)
				sb_addc(out, '\t');
			if (cells[c].null)
				sb_add(out, "\\N", 2);
			else
				intent_cell(out, cells[c].s, cells[c].len);
		}
		sb_addc(out, '\n');
	}
}

/* One line of an intent's text, unescaped: each cell's offset in text (SIZE_MAX: null) and length. */
struct iline {
	struct strbuf text;
	size_t *off, *len, n, alloc;
};

static bool intent_line(const char **pp, struct iline *l)
{
	const char *p = *pp;

	sb_reset(&l->text);
	for (l->n = 0;; p++) {
		ALLOC_GROW(l->off, l->n + 1, l->alloc);
		l->len = xrealloc(l->len, l->alloc * sizeof(*l->len));
		if (p[0] == '\\' && p[1] == 'N' && (p[2] == '\t' || p[2] == '\n')) {
			l->off[l->n] = SIZE_MAX;
			l->len[l->n++] = 0;
			p += 2;
		} else {
			l->off[l->n] = l->text.len;
			for (; *p && *p != '\t' && *p != '\n'; p++) {
				char c = *p;
				if (c == '\\') {
					switch (*++p) {
					case 't': c = '\t'; break;
					case 'n': c = '\n'; break;
					case 'r': c = '\r'; break;
					case '0': c = '\0'; break;
					case '\\': c = '\\'; break;
					default: return false;
					}
				}
				sb_addc(&l->text, c);
			}
			l->len[l->n] = l->text.len - l->off[l->n];
			l->n++;
			sb_addc(&l->text, '\0');
		}
		if (*p != '\t')
			break;
	}
	if (*p != '\n')
		return false; /* cut short */
	*pp = p + 1;
	return true;
}

/* The events of an intent's text as a table, and its first partition; NULL when malformed. */
static struct fs_source *intent_decode(const struct src *s, const char *val, int32_t *first)
{
	struct iline l = { STRBUF_INIT, NULL, NULL, 0, 0 };
	struct fs_source *rows = NULL;
	struct fs_cell *cells = NULL;
	const char **cols = NULL, *p;
	size_t ncols, c;
	int part, used = 0;

	if (sscanf(val, "fs-intent 1 %d%n", &part, &used) != 1 || val[used] != '\n')
		return NULL;
	*first = part;
	p = val + used + 1;
	if (!intent_line(&p, &l))
		goto done;
	ncols = l.n;
	cols = xcalloc(ncols + 1, sizeof(*cols));
	for (c = 0; c < ncols; c++)
		cols[c] = l.off[c] == SIZE_MAX ? "" : l.text.buf + l.off[c];
	rows = fs_source_table_new(s->name, s->type, cols, ncols);
	cells = xcalloc(ncols + 1, sizeof(*cells));
	while (*p) {
		if (!intent_line(&p, &l) || l.n != ncols) {
			fs_source_close(rows);
			rows = NULL;
			break;
		}
		for (c = 0; c < ncols; c++) {
			cells[c].null = l.off[c] == SIZE_MAX;
			cells[c].s = cells[c].null ? "" : l.text.buf + l.off[c];
			cells[c].len = l.len[c];
		}
		fs_source_table_add(rows, cells, 0);
	}
done:
	sb_release(&l.text);
	free(l.off);
	free(l.len);
	free(cols);
	free(cells);
	return rows;
}

/*
 * Steps 2 and 3: apply intent id's events (rows) and settle it, adding
 * its late events and newest event time to partition first's record.
 * *late: the late events.
 */
static int intent_apply(struct src *s, const char *id, struct fs_source *rows, int32_t first,
			int64_t *late)
{
	char *iname = intent_name(s, id), *pname = pos_name(s, first);
	struct strbuf ival = STRBUF_INIT, pval = STRBUF_INIT;
	json_t *res = json_array();
	int64_t newest;
	int rc, tries;

	fs_online_mark(s->store, id, iname);
	fs_source_table_rewind(rows);
	rc = fs_rows_apply(s->store, s->defs, s->name, s->data, rows, res);
	fs_online_mark(s->store, NULL, NULL);
	if (rc == FS_ECONFLICT) {
		bool found;
		/* settled by another meanwhile (a replay): done */
		if (!(rc = fs_online_meta_get(s->store, iname, &ival, &found)) && found)
			rc = FS_ECONFLICT;
	}
	applied_totals(res, late, &newest);
	json_decref(res);
	if (!rc)
		fs_test_crash_point("stream-before-settle");
	for (tries = 0; !rc && tries < 50; tries++) {
		char pos[64];
		int64_t a, b, l, n;
		bool found;
		struct fs_meta_change ch[2] = { { iname, FS_META_ANY, NULL }, { pname, NULL, NULL } };
		char *v = NULL;

		if (tries)
			sleep_ms(tries);
		if ((rc = fs_online_meta_get(s->store, iname, &ival, &found)) || !found)
			break; /* settled by another */
		if ((rc = pos_get(s, pname, &pval, &found, pos, sizeof(pos), &a, &b, &l, &n)))
			break;
		if (found) {
			v = pos_format(pos, a, b, l + *late, newest > n ? newest : n);
			ch[1].expect = pval.buf;
			ch[1].val = v;
		}
		/* (a partition's record deleted meanwhile: the intent alone) */
		rc = fs_online_meta_change(s->store, ch, found ? 2 : 1);
		free(v);
		if (rc != FS_ECONFLICT)
			break;
	}
	if (!rc && fs_online_forget_marks(s->store))
		warn(s, "%s: %s (they expire)", s->name, fs_error_last());
	sb_release(&ival);
	sb_release(&pval);
	free(iname);
	free(pname);
	return rc;
}

/*
 * write_batch for a store without batches: step 1, then 2 and 3. Sent
 * again after an error (write_retrying), it finds out whether step 1 was
 * done (its intent is stored, or the positions are past the batch), and
 * goes on from there.
 */
static int intent_write(struct src *s, struct batch *b)
{
	struct strbuf text = STRBUF_INIT, *raw = NULL;
	struct fs_meta_change *ch = NULL;
	char **vals = NULL, *iname; /* vals: the partitions' record names */
	bool *found = NULL;
	int rc = 0, tries;
	size_t i;

	if (!s->intent_id[0]) {
		unsigned char rnd[16];
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
			fs_error_set("source '%s': no random bytes for a batch's id", s->name);
			return FS_ERR;
		}
		for (i = 0; i < sizeof(rnd); i++)
			snprintf(s->intent_id + 2 * i, 3, "%02x", rnd[i]);
		s->intent_sent = false;
	}
	iname = intent_name(s, s->intent_id);
	raw = xcalloc(b->nbp + 1, sizeof(*raw));
	found = xcalloc(b->nbp + 1, sizeof(*found));
	vals = xcalloc(b->nbp + 1, sizeof(*vals));
	ch = xcalloc(b->nbp + 2, sizeof(*ch));
	for (i = 0; i < b->nbp; i++)
		vals[i] = pos_name(s, b->bp[i].part);
	for (tries = 0; tries < 50; tries++) {
		bool stored = false;
		size_t at_start = 0, at_end = 0;
		if (tries)
			sleep_ms(tries);
		if (s->intent_sent &&
		    (rc = fs_online_meta_get(s->store, iname, &text, &stored)))
			goto done;
		if (stored)
			break; /* step 1 was done */
		for (i = 0; i < b->nbp; i++) {
			struct bpart *p = &b->bp[i];
			char pos[64];
			if ((rc = pos_get(s, vals[i], &raw[i], &found[i], pos, sizeof(pos), &p->applied0,
					  &p->bad0, &p->late0, &p->newest0)))
				goto done;
			at_start += !strcmp(pos, p->start);
			at_end += !strcmp(pos, p->end);
		}
		if (at_start != b->nbp) {
			/*
			 * Past the batch: when the change whose answer was lost
			 * (intent_sent) made it, and another settled it, every
			 * partition is at its end; else another reader was here
			 */
			rc = s->intent_sent && at_end == b->nbp ? 0 : STALE;
			goto done;
		}
		for (i = 0; i < b->nbp; i++) {
			ch[i].name = vals[i];
			ch[i].expect = found[i] ? raw[i].buf : NULL;
			ch[i].val = NULL;
		}
		/* each partition's record after the batch, and the intent */
		{
			char **nv = xcalloc(b->nbp + 1, sizeof(*nv));
			for (i = 0; i < b->nbp; i++) {
				struct bpart *p = &b->bp[i];
				nv[i] = pos_format(p->end, p->applied0 + p->good, p->bad0 + p->bad,
						   p->late0, p->newest0);
				ch[i].val = nv[i];
			}
			intent_encode(&text, s, b);
			ch[b->nbp].name = iname;
			ch[b->nbp].expect = NULL;
			ch[b->nbp].val = text.buf;
			fs_test_crash_point("stream-before-commit");
			s->intent_sent = true;
			rc = fs_online_meta_change(s->store, ch, b->nbp + 1);
			/* a conflict: surely not made (an error: maybe) */
			if (rc == FS_ECONFLICT)
				s->intent_sent = false;
			for (i = 0; i < b->nbp; i++)
				free(nv[i]);
			free(nv);
		}
		if (rc != FS_ECONFLICT)
			break;
	}
	if (rc)
		goto done;
	fs_test_crash_point("stream-after-intent");
	rc = intent_apply(s, s->intent_id, b->rows, b->bp[0].part, &b->late);
	if (!rc)
		fs_test_crash_point("stream-after-commit");
done:
	if (rc != FS_ERR && rc != FS_ECONFLICT)
		s->intent_id[0] = '\0'; /* this batch is done with */
	for (i = 0; i < b->nbp; i++) {
		sb_release(&raw[i]);
		free(vals[i]);
	}
	free(raw);
	free(found);
	free(vals);
	free(ch);
	free(iname);
	sb_release(&text);
	return rc;
}

struct intent_list {
	char **names, **vals;
	size_t n, alloc;
};

static void intent_found(void *ctx, const char *name, const char *val)
{
	struct intent_list *l = ctx;

	ALLOC_GROW(l->names, l->n + 1, l->alloc);
	l->vals = xrealloc(l->vals, l->alloc * sizeof(*l->vals));
	l->names[l->n] = xstrdup(name);
	l->vals[l->n++] = xstrdup(val);
}

/* Apply and settle every intent of the source still stored (its writer died). */
static int intents_replay(struct src *s)
{
	struct intent_list l = { 0 };
	char *prefix = intent_name(s, NULL);
	size_t i;
	int rc = fs_online_meta_list(s->store, prefix, intent_found, &l);

	for (i = 0; !rc && i < l.n; i++) {
		int32_t first;
		int64_t late;
		struct fs_source *rows = intent_decode(s, l.vals[i], &first);
		if (!rows) {
			fs_error_set("online store: record '%s' is corrupt (not an intent of fs stream)",
				     l.names[i]);
			rc = FS_ERR;
			break;
		}
		warn(s, "%s: applying a batch whose writer stopped half-way (%s)", s->name, l.names[i]);
		rc = intent_apply(s, l.names[i] + strlen(prefix), rows, first, &late);
		fs_source_close(rows);
	}
	for (i = 0; i < l.n; i++) {
		free(l.names[i]);
		free(l.vals[i]);
	}
	free(l.names);
	free(l.vals);
	free(prefix);
	return rc;
}

/* Write b until it is written, stale, or stopped, backing off while the store fails. */
static int write_retrying(struct src *s, struct batch *b)
{
	int64_t wait = 100;
	bool reported = false;

	for (;;) {
		int rc = fs_online_has_batches(s->store) ? write_batch(s, b) : intent_write(s, b);
		if (!rc || rc == STALE) {
			if (reported)
				warn(s, "%s: the online store answers again", s->name);
			return rc;
		}
		if (rc == FS_EINVALID || rc == FS_ENOTFOUND) {
			s->intent_id[0] = '\0';
			return rc; /* not an outage: the definitions or the data are wrong */
		}
		if (!reported)
			warn(s, "%s: cannot write a batch: %s (retrying)", s->name, fs_error_last());
		reported = true;
		if (s->opts->stop && *s->opts->stop) {
			fs_error_set("source '%s': stopped with a batch not written (%s); it will be"
				     " read again%s", s->name, fs_error_last(),
				     s->intent_sent ? ", or applied from its intent if that was stored,"
						      " when fs stream starts"
						    : "");
			s->intent_id[0] = '\0';
			return FS_ERR;
		}
		sleep_ms(wait);
		wait = wait * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : wait * 2;
	}
}

/* The writer thread: writes each batch handed to it (out) until told to quit. */
static void *writer_thread(void *arg)
{
	struct src *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		int rc;
		while (!s->writer_busy && !s->writer_quit)
			pthread_cond_wait(&s->cond, &s->lock);
		if (!s->writer_busy)
			break;
		pthread_mutex_unlock(&s->lock);
		rc = write_retrying(s, s->out);
		pthread_mutex_lock(&s->lock);
		s->out_rc = rc;
		snprintf(s->out_err, sizeof(s->out_err), "%s", rc ? fs_error_last() : "");
		s->writer_busy = false;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static bool writer_busy(struct src *s)
{
	bool busy;

	pthread_mutex_lock(&s->lock);
	busy = s->writer_busy;
	pthread_mutex_unlock(&s->lock);
	return busy;
}

/* ---- kafka ---- */

static struct kpart *kpart(struct src *s, int32_t part)
{
	if (part < 0 || part > 100000)
		return NULL;
	if ((size_t)part >= s->nkp) {
		size_t n = (size_t)part + 1, i;
		s->kp = xrealloc(s->kp, n * sizeof(*s->kp));
		for (i = s->nkp; i < n; i++)
			memset(&s->kp[i], 0, sizeof(s->kp[i]));
		s->nkp = n;
	}
	return &s->kp[part];
}

/*
 * k's stored position just read: the next batch starts there, and so does
 * reading (the Kafka offset to take next, -1 when none is stored). The
 * offset to seek or assign it to.
 */
static int64_t kpart_from_stored(struct kpart *k)
{
	snprintf(k->from, sizeof(k->from), "%s", k->stored);
	k->next = *k->stored ? strtoll(k->stored, NULL, 10) : -1;
	k->eof = false;
	return *k->stored ? k->next : RD_KAFKA_OFFSET_BEGINNING;
}

/* Read partition part again from its stored position. */
static int kafka_seek_stored(struct src *s, int32_t part)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	struct kpart *k = kpart(s, part);
	rd_kafka_error_t *e;
	int rc = 0;

	if ((rc = pos_read(s, part, k->stored, sizeof(k->stored), &k->applied, &k->bad, &k->late,
			   NULL))) {
		rd_kafka_topic_partition_list_destroy(l);
		return rc;
	}
	rd_kafka_topic_partition_list_add(l, s->topic, part)->offset = kpart_from_stored(k);
	e = rd_kafka_seek_partitions(s->rk, l, 10000);
	if (e) {
		fs_error_set("kafka: cannot seek %s[%d]: %s", s->topic, (int)part,
			     rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		rc = FS_ERR;
	}
	rd_kafka_topic_partition_list_destroy(l);
	return rc;
}

/*
 * Forget the batch being read and b (the one the writer found stale, or
 * NULL); their partitions still ours are read again from their stored
 * positions.
 */
static int kafka_discard(struct src *s, struct batch *b)
{
	struct batch *bs[2] = { s->cur, b };
	size_t i, j;
	int rc = 0;

	for (j = 0; j < 2; j++) {
		for (i = 0; bs[j] && i < bs[j]->nbp && !rc; i++) {
			struct kpart *k = kpart(s, bs[j]->bp[i].part);
			if (k && k->assigned)
				rc = kafka_seek_stored(s, bs[j]->bp[i].part);
		}
		if (bs[j])
			batch_reset(s, bs[j]);
	}
	return rc;
}

static int collect(struct src *s);
static void batch_written(struct src *s, struct batch *b);

/* The store's positions for an assignment: each partition starts at its stored one. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct src *s = opaque;
	bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
	int i;

	/* the writer's batch first: its outcome may move positions, and the store is its */
	if (collect(s))
		s->done = true;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		for (i = 0; i < parts->cnt; i++) {
			struct kpart *k = kpart(s, parts->elems[i].partition);
			int tries;
			if (!k)
				continue;
			/* the store must answer: a partition started elsewhere would count twice */
			for (tries = 0;; tries++) {
				if (!pos_read(s, parts->elems[i].partition, k->stored,
					      sizeof(k->stored), &k->applied, &k->bad, &k->late, NULL))
					break;
				if (!tries)
					warn(s, "%s: %s (retrying)", s->name, fs_error_last());
				if (s->opts->stop && *s->opts->stop) {
					s->rc = FS_ERR;
					s->done = true;
					break;
				}
				sleep_ms(tries < 10 ? 100 * (tries + 1) : MAX_BACKOFF_MS);
			}
			k->assigned = true;
			parts->elems[i].offset = kpart_from_stored(k);
		}
		if (coop) {
			rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
			if (e)
				rd_kafka_error_destroy(e);
		} else {
			rd_kafka_assign(rk, parts);
		}
		s->got_assignment = true;
		return;
	}
	/* revoked (or lost): the batch in hand is written first (here: the writer is idle), or dropped */
	if (s->cur->nbp) {
		int rc = s->done ? FS_ERR : write_batch(s, s->cur);
		if (!rc) {
			s->consumed += batch_size(s->cur);
			batch_written(s, s->cur);
		} else if (kafka_discard(s, NULL) && !s->rc) {
			s->rc = FS_ERR;
			s->done = true;
		}
	}
	for (i = 0; i < parts->cnt; i++) {
		struct kpart *k = kpart(s, parts->elems[i].partition);
		if (k)
			k->assigned = false;
	}
	if (coop) {
		rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
		if (e)
			rd_kafka_error_destroy(e);
	} else {
		rd_kafka_assign(rk, NULL);
	}
}

static int conf_set(rd_kafka_conf_t *conf, const char *src, const char *key, const char *val)
{
	char err[512];

	if (rd_kafka_conf_set(conf, key, val, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		fs_error_set("source '%s': kafka option '%s': %s", src, key, err);
		return FS_EINVALID;
	}
	return 0;
}

/*
 * librdkafka's own log (from its threads): errors become warnings; the
 * rest (configuration notes such as a consumer option given to the
 * dead-letter producer, retries it reports itself) is not shown.
 */
static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	const struct src *s = rd_kafka_opaque(rk);
	char msg[1024];

	if (level > 3 || !s || !s->opts->warn)
		return;
	snprintf(msg, sizeof(msg), "%s: kafka: %s: %s", s->name, fac, buf);
	s->opts->warn(s->opts->ctx, msg);
}

static rd_kafka_conf_t *kafka_conf(struct src *s, bool consumer)
{
	const char *brokers = json_string_value(json_object_get(s->obj->spec, "brokers"));
	const char *group = json_string_value(json_object_get(s->obj->spec, "group"));
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const char *key;
	json_t *v;
	char *g = NULL, num[64];
	int rc = 0;

	if (!brokers)
		brokers = getenv("FS_KAFKA_BROKERS");
	if (!brokers || !*brokers) {
		fs_error_set("source '%s': no brokers (set 'brokers' or FS_KAFKA_BROKERS)", s->name);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rc = conf_set(conf, s->name, "bootstrap.servers", brokers);
	if (consumer) {
		g = group ? xstrdup(group) : xstrfmt("fs-%s-%s", s->repo->config->project, s->name);
		if (!rc)
			rc = conf_set(conf, s->name, "group.id", g);
		if (!rc)
			rc = conf_set(conf, s->name, "enable.auto.commit", "false");
		if (!rc)
			rc = conf_set(conf, s->name, "enable.auto.offset.store", "false");
		if (!rc)
			rc = conf_set(conf, s->name, "auto.offset.reset", "earliest");
		if (!rc)
			rc = conf_set(conf, s->name, "enable.partition.eof", "true");
		/*
		 * A fetch waits for new messages no longer than a batch does: a
		 * broker that does not answer a waiting fetch as soon as messages
		 * come (librdkafka's mock) still delivers them within a batch time.
		 */
		snprintf(num, sizeof(num), "%d", s->opts->batch_ms > 0 ? s->opts->batch_ms : 50);
		if (!rc)
			rc = conf_set(conf, s->name, "fetch.wait.max.ms", num);
		free(g);
	}
	/* the source's options last, as they are */
	json_object_foreach(json_object_get(s->obj->spec, "options"), key, v) {
		const char *val = json_string_value(v);
		if (rc)
			break;
		if (!val) {
			if (json_is_integer(v))
				snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			else if (json_is_real(v))
				snprintf(num, sizeof(num), "%g", json_real_value(v));
			else
				snprintf(num, sizeof(num), "%s", json_is_true(v) ? "true" : "false");
			val = num;
		}
		rc = conf_set(conf, s->name, key, val);
	}
	if (rc) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_opaque(conf, s);
	rd_kafka_conf_set_log_cb(conf, kafka_log);
	if (consumer)
		rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	return conf;
}

/* Wait for the topic to exist; an error after MISSING_TIMEOUT_MS of a clear "no such topic". */
static int kafka_wait_topic(struct src *s)
{
	int64_t start = now_ms();
	bool reported = false;

	for (;;) {
		const struct rd_kafka_metadata *md = NULL;
		/* all topics: asking for one by name may create it (auto.create.topics.enable) */
		rd_kafka_resp_err_t err = rd_kafka_metadata(s->rk, 1, NULL, &md, 2000);
		bool exists = false;
		int i;

		for (i = 0; !err && i < md->topic_cnt; i++)
			if (!strcmp(md->topics[i].topic, s->topic))
				exists = !md->topics[i].err && md->topics[i].partition_cnt > 0;
		if (md)
			rd_kafka_metadata_destroy(md);
		if (exists)
			return 0;
		if (s->opts->stop && *s->opts->stop)
			return 1;
		if (!err && now_ms() - start > MISSING_TIMEOUT_MS) {
			fs_error_set("source '%s': kafka topic '%s' does not exist", s->name, s->topic);
			return FS_ENOTFOUND;
		}
		if (err && !reported) {
			warn(s, "%s: kafka brokers do not answer: %s (retrying)", s->name,
			     rd_kafka_err2str(err));
			reported = true;
		}
		if (err && now_ms() - start > MISSING_TIMEOUT_MS && s->opts->once) {
			fs_error_set("source '%s': kafka brokers do not answer: %s", s->name,
				     rd_kafka_err2str(err));
			return FS_ERR;
		}
		sleep_ms(200);
	}
}

static void kafka_dead_letter(struct src *s, const rd_kafka_message_t *m, const char *why)
{
	const char *dlq = json_string_value(json_object_get(s->obj->spec, "dead_letter"));
	char where[128];
	rd_kafka_resp_err_t err;

	if (!dlq)
		return;
	if (!s->dlq) {
		char errstr[512];
		rd_kafka_conf_t *conf = kafka_conf(s, false);
		/* a bad message may be a big one: copy it whole (unless options say otherwise) */
		if (conf && !json_object_get(json_object_get(s->obj->spec, "options"),
					     "message.max.bytes"))
			rd_kafka_conf_set(conf, "message.max.bytes", "16777216", errstr, sizeof(errstr));
		if (!conf || !(s->dlq = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)))) {
			warn(s, "%s: cannot make the dead-letter producer: %s", s->name,
			     conf ? errstr : fs_error_last());
			return;
		}
	}
	snprintf(where, sizeof(where), "%s[%d]@%lld", s->topic, (int)m->partition,
		 (long long)m->offset);
	err = rd_kafka_producev(s->dlq, RD_KAFKA_V_TOPIC(dlq),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_VALUE(m->payload, m->len),
				RD_KAFKA_V_KEY(m->key, m->key_len),
				RD_KAFKA_V_HEADER("fs-error", why, -1),
				RD_KAFKA_V_HEADER("fs-origin", where, -1), RD_KAFKA_V_END);
	if (err)
		warn(s, "%s: cannot copy %s to dead-letter topic '%s': %s", s->name, where, dlq,
		     rd_kafka_err2str(err));
}

static void kafka_message(struct src *s, rd_kafka_message_t *m)
{
	struct kpart *k = kpart(s, m->partition);
	struct bpart *b;
	char why[512], pos[32];

	if (!k || !k->assigned || (k->next >= 0 && m->offset < k->next))
		return; /* not ours any more, or before a seek's position */
	k->eof = false;
	b = batch_part(s, m->partition, k->from);
	if (cells_from_json(s, m->payload, m->len, why, sizeof(why)) &&
	    check_cells(s, why, sizeof(why))) {
		fs_source_table_add(s->cur->rows, s->cells, (size_t)m->offset + 1);
		s->cur->nrows++;
		b->good++;
	} else {
		warn(s, "%s: %s[%d]@%lld: %s", s->name, s->topic, (int)m->partition,
		     (long long)m->offset, why);
		kafka_dead_letter(s, m, why);
		b->bad++;
	}
	k->next = m->offset + 1;
	snprintf(pos, sizeof(pos), "%lld", (long long)k->next);
	snprintf(b->end, sizeof(b->end), "%s", pos);
}

/* Are we caught up: an assignment had, each partition of it at its end? */
static bool kafka_caught_up(struct src *s)
{
	size_t i;

	if (!s->got_assignment)
		return false;
	for (i = 0; i < s->nkp; i++)
		if (s->kp[i].assigned && !s->kp[i].eof)
			return false;
	return true;
}

static int64_t kafka_lag(struct src *s)
{
	int64_t lag = 0;
	size_t i;

	for (i = 0; i < s->nkp; i++) {
		int64_t lo, hi;
		if (!s->kp[i].assigned)
			continue;
		if (rd_kafka_get_watermark_offsets(s->rk, s->topic, (int32_t)i, &lo, &hi))
			return -1;
		if (hi >= 0 && s->kp[i].next >= 0 && hi > s->kp[i].next)
			lag += hi - s->kp[i].next;
		else if (hi > 0 && s->kp[i].next < 0)
			lag += hi - (lo > 0 ? lo : 0);
	}
	return lag;
}

static void kafka_committed(struct src *s, const struct batch *b)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)b->nbp);
	size_t i;

	/* for lag tools only: fs never reads the group's offsets */
	for (i = 0; i < b->nbp; i++)
		if (*b->bp[i].end)
			rd_kafka_topic_partition_list_add(l, s->topic, b->bp[i].part)->offset =
				strtoll(b->bp[i].end, NULL, 10);
	if (l->cnt)
		rd_kafka_commit(s->rk, l, 1);
	rd_kafka_topic_partition_list_destroy(l);
}

static int kafka_open(struct src *s)
{
	rd_kafka_conf_t *conf;
	rd_kafka_topic_partition_list_t *sub;
	char errstr[512];
	rd_kafka_resp_err_t err;
	int rc;

	s->topic = xstrdup(json_string_value(json_object_get(s->obj->spec, "topic")));
	if (!(conf = kafka_conf(s, true)))
		return FS_EINVALID;
	if (!(s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
		fs_error_set("source '%s': kafka: %s", s->name, errstr);
		return FS_ERR;
	}
	rd_kafka_poll_set_consumer(s->rk);
	if ((rc = kafka_wait_topic(s)))
		return rc;
	sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, s->topic, RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(s->rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	if (err) {
		fs_error_set("source '%s': cannot subscribe to '%s': %s", s->name, s->topic,
			     rd_kafka_err2str(err));
		return FS_ERR;
	}
	return 0;
}

/* One poll: a message into the batch, an event, or nothing within wait_ms. */
static void kafka_poll(struct src *s, int wait_ms)
{
	rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, wait_ms);

	if (!m)
		return;
	if (!m->err) {
		if (s->broker_down) {
			warn(s, "%s: kafka brokers answer again", s->name);
			s->broker_down = false;
		}
		kafka_message(s, m);
	} else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		struct kpart *k = kpart(s, m->partition);
		if (k && k->assigned && (k->next < 0 || m->offset >= k->next))
			k->eof = true;
	} else if (m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
		   m->err == RD_KAFKA_RESP_ERR__TRANSPORT) {
		if (!s->broker_down)
			warn(s, "%s: kafka: %s (retrying)", s->name, rd_kafka_message_errstr(m));
		s->broker_down = true;
	} else {
		warn(s, "%s: kafka: %s", s->name, rd_kafka_message_errstr(m));
	}
	rd_kafka_message_destroy(m);
}

/* ---- redis streams ---- */

static int redis_connect(struct src *s)
{
	if (s->rc_stream && !s->rc_stream->err)
		return 0;
	if (s->rc_stream)
		redisFree(s->rc_stream);
	s->rc_stream = NULL;
	return fs_redis_connect(s->url, &s->rc_stream);
}

static void redis_dead_letter(struct src *s, const redisReply *fields, const char *id,
			      const char *why)
{
	const char *dlq = json_string_value(json_object_get(s->obj->spec, "dead_letter"));
	size_t n = fields ? fields->elements : 0, i, a = 0;
	const char **argv;
	size_t *argl;
	redisReply *r;

	if (!dlq)
		return;
	argv = xcalloc(n + 8, sizeof(*argv));
	argl = xcalloc(n + 8, sizeof(*argl));
	argv[a] = "XADD", argl[a++] = 4;
	argv[a] = dlq, argl[a++] = strlen(dlq);
	argv[a] = "*", argl[a++] = 1;
	for (i = 0; i + 1 < n; i += 2) {
		argv[a] = fields->element[i]->str, argl[a++] = fields->element[i]->len;
		argv[a] = fields->element[i + 1]->str, argl[a++] = fields->element[i + 1]->len;
	}
	argv[a] = "fs-error", argl[a++] = 8;
	argv[a] = why, argl[a++] = strlen(why);
	argv[a] = "fs-origin", argl[a++] = 9;
	argv[a] = id, argl[a++] = strlen(id);
	r = redisCommandArgv(s->rc_stream, (int)a, argv, argl);
	if (!r || r->type == REDIS_REPLY_ERROR)
		warn(s, "%s: cannot copy %s to dead-letter stream '%s': %s", s->name, id, dlq,
		     r ? r->str : s->rc_stream->errstr);
	freeReplyObject(r);
	free(argv);
	free(argl);
}

/* The cells of a stream entry (field/value pairs). */
static void cells_from_entry(struct src *s, const redisReply *fields, const char *id)
{
	size_t i, j;

	sb_reset(&s->scratch);
	for (i = 0; i < s->ncols; i++) {
		s->cells[i] = (struct fs_cell){ .s = "", .null = true };
		if (!strcmp(s->cols[i], ENTRY_TIME)) {
			char buf[FS_TIME_BUFSZ];
			fs_time_format_us(buf, strtoll(id, NULL, 10) * 1000);
			cell_text(s, i, buf, strlen(buf));
			continue;
		}
		for (j = 0; fields && j + 1 < fields->elements; j += 2) {
			const redisReply *f = fields->element[j], *v = fields->element[j + 1];
			if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
			    f->len == strlen(s->cols[i]) && !memcmp(f->str, s->cols[i], f->len)) {
				cell_text(s, i, v->str, v->len);
				break;
			}
		}
	}
	cells_fix(s);
}

static int redis_wait_stream(struct src *s)
{
	int64_t start = now_ms();
	bool reported = false;

	for (;;) {
		redisReply *r = NULL;
		if (!redis_connect(s))
			r = redisCommand(s->rc_stream, "EXISTS %s", s->stream);
		if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
			freeReplyObject(r);
			return 0;
		}
		if (r && r->type == REDIS_REPLY_INTEGER) {
			if (now_ms() - start > MISSING_TIMEOUT_MS) {
				freeReplyObject(r);
				fs_error_set("source '%s': redis stream '%s' does not exist", s->name,
					     s->stream);
				return FS_ENOTFOUND;
			}
		} else {
			const char *why = r ? r->str : s->rc_stream ? s->rc_stream->errstr
							     : fs_error_last();
			if (s->opts->once && now_ms() - start > MISSING_TIMEOUT_MS) {
				/* as for a Kafka broker: --once (cron) does not wait for ever */
				fs_error_set("source '%s': redis does not answer: %s", s->name, why);
				freeReplyObject(r);
				return FS_ERR;
			}
			if (!reported)
				warn(s, "%s: %s (retrying)", s->name, why);
			reported = true;
		}
		freeReplyObject(r);
		if (s->opts->stop && *s->opts->stop)
			return 1;
		sleep_ms(200);
	}
}

/* Read the stream again from its stored position (from the start when none). */
static int redis_from_stored(struct src *s)
{
	int rc = pos_read(s, 0, s->stored_id, sizeof(s->stored_id), &s->r_applied, &s->r_bad,
			  &s->r_late, NULL);

	if (rc)
		return rc;
	snprintf(s->last_id, sizeof(s->last_id), "%s", *s->stored_id ? s->stored_id : "0-0");
	snprintf(s->from_id, sizeof(s->from_id), "%s", s->stored_id);
	return 0;
}

static int redis_open(struct src *s)
{
	const char *url = json_string_value(json_object_get(s->obj->spec, "url"));
	int rc;

	s->stream = xstrdup(json_string_value(json_object_get(s->obj->spec, "stream")));
	if (!url && !strcmp(s->repo->config->online_type, "redis") && !s->repo->config->online_cluster_n)
		url = s->repo->config->online_url ? s->repo->config->online_url
						  : "redis://127.0.0.1:6379/0";
	if (!url) {
		fs_error_set("source '%s': no 'url' (required when the online store is not one redis)",
			     s->name);
		return FS_EINVALID;
	}
	s->url = xstrdup(url);
	if ((rc = redis_wait_stream(s)))
		return rc;
	return redis_from_stored(s);
}

/* Read entries after last_id into the batch; *more when XREAD filled its count. */
static int redis_poll(struct src *s, int wait_ms, bool busy, bool *more)
{
	int64_t room = batch_cap(s, busy) - batch_size(s->cur);
	redisReply *r;
	size_t i;

	*more = false;
	if (s->opts->max_events > 0 && s->opts->max_events - taken(s) < room)
		room = s->opts->max_events - taken(s);
	if (room <= 0)
		return 0;
	if (redis_connect(s))
		return FS_ERR;
	r = wait_ms > 0 ? redisCommand(s->rc_stream, "XREAD COUNT %lld BLOCK %d STREAMS %s %s",
				       (long long)room, wait_ms, s->stream, s->last_id)
			: redisCommand(s->rc_stream, "XREAD COUNT %lld STREAMS %s %s",
				       (long long)room, s->stream, s->last_id);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		fs_error_set("redis stream '%s': %s", s->stream, r ? r->str : s->rc_stream->errstr);
		freeReplyObject(r);
		return FS_ERR;
	}
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->elements == 2) {
		const redisReply *entries = r->element[0]->element[1];
		for (i = 0; i < entries->elements; i++) {
			const redisReply *e = entries->element[i];
			const redisReply *fields = e->elements == 2 ? e->element[1] : NULL;
			const char *id = e->element[0]->str;
			struct bpart *b = batch_part(s, 0, s->from_id);
			char why[512];

			if (fields && fields->type != REDIS_REPLY_ARRAY)
				fields = NULL;
			cells_from_entry(s, fields, id);
			if (check_cells(s, why, sizeof(why))) {
				fs_source_table_add(s->cur->rows, s->cells, 0);
				s->cur->nrows++;
				b->good++;
			} else {
				warn(s, "%s: %s@%s: %s", s->name, s->stream, id, why);
				redis_dead_letter(s, fields, id, why);
				b->bad++;
			}
			snprintf(s->last_id, sizeof(s->last_id), "%s", id);
			snprintf(b->end, sizeof(b->end), "%s", id);
		}
		*more = (int64_t)entries->elements == room;
	}
	freeReplyObject(r);
	return 0;
}

static int64_t redis_lag_after(redisContext *c, const char *stream, const char *after)
{
	redisReply *r;
	int64_t n = -1;

	if (!*after || !strcmp(after, "0-0"))
		r = redisCommand(c, "XLEN %s", stream);
	else
		r = redisCommand(c, "XRANGE %s (%s + COUNT 1000000", stream, after);
	if (r && r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	else if (r && r->type == REDIS_REPLY_ARRAY)
		n = (int64_t)r->elements;
	freeReplyObject(r);
	return n;
}

/* ---- the loop ---- */

/* Set a partition's stored position, or where its next batch starts, to pos. */
static void set_pos(struct src *s, int32_t part, bool stored, const char *pos)
{
	char *to;

	if (!strcmp(s->type, "kafka"))
		to = stored ? kpart(s, part)->stored : kpart(s, part)->from;
	else
		to = stored ? s->stored_id : s->from_id;
	snprintf(to, POS_MAX, "%s", pos);
}

/* b is written: its positions are the stored ones now. */
static void batch_written(struct src *s, struct batch *b)
{
	size_t i;

	for (i = 0; i < b->nbp; i++) {
		struct bpart *p = &b->bp[i];
		set_pos(s, p->part, true, p->end);
		s->st.applied += p->good;
		s->st.bad += p->bad;
	}
	if (!strcmp(s->type, "kafka"))
		kafka_committed(s, b);
	s->st.late += b->late;
	s->st.events += batch_size(b);
	s->st.batches++;
	batch_reset(s, b);
}

/*
 * Wait for the writer to finish the batch handed to it and take the
 * outcome: written, or stale (that batch and the one being read are
 * dropped and read again from the stored positions). 0, or an error
 * (s->rc is set: the source stops).
 */
static int collect(struct src *s)
{
	struct batch *b = s->out;
	int rc;

	pthread_mutex_lock(&s->lock);
	while (s->writer_busy)
		pthread_cond_wait(&s->cond, &s->lock);
	rc = s->out_rc;
	pthread_mutex_unlock(&s->lock);
	if (!b)
		return 0;
	s->out = NULL;
	if (!rc) {
		batch_written(s, b);
		return 0;
	}
	s->consumed -= batch_size(b);
	if (rc == STALE) {
		warn(s, "%s: another reader wrote these partitions meanwhile: reading them again"
			" from the stored positions", s->name);
		if (!strcmp(s->type, "kafka")) {
			rc = kafka_discard(s, b);
		} else {
			batch_reset(s, b);
			batch_reset(s, s->cur);
			rc = redis_from_stored(s);
		}
		/* not reading again from the stored positions would lose events */
		if (!rc)
			return 0;
	} else {
		fs_error_set("%s", s->out_err);
		batch_reset(s, b);
	}
	if (!s->rc)
		s->rc = rc;
	return rc;
}

/*
 * Hand the batch being read to the writer, once it has finished the one
 * before, and go on reading into the other. false: the source stops.
 */
static bool flush(struct src *s)
{
	struct batch *b = s->cur;
	size_t i;

	if (collect(s))
		return false;
	if (!b->nbp)
		return true; /* (dropped as stale) */
	/* the dead letters are out before the positions past them are stored */
	if (s->dlq)
		rd_kafka_flush(s->dlq, 10000);
	for (i = 0; i < b->nbp; i++)
		set_pos(s, b->bp[i].part, false, b->bp[i].end);
	s->consumed += batch_size(b);
	s->out = b;
	s->cur = b == &s->bat[0] ? &s->bat[1] : &s->bat[0];
	pthread_mutex_lock(&s->lock);
	s->writer_busy = true;
	s->out_rc = 0;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return true;
}

static bool stopping(const struct src *s)
{
	return (s->opts->stop && *s->opts->stop) ||
	       (s->opts->max_events > 0 && s->consumed >= s->opts->max_events);
}

/* How long to wait for a message: until the batch is due, briefly while the writer works. */
static int poll_wait(struct src *s, bool busy, int64_t idle)
{
	int64_t wait = s->cur->nbp ? s->cur->deadline - now_ms() : idle;

	if (busy && wait > 2)
		wait = 2; /* to hand the batch over as soon as the writer is free */
	return (int)(wait < 0 ? 0 : wait > 100 ? 100 : wait);
}

/*
 * Is the batch being read to be handed over now? When full, or due (its
 * time is up, or nothing more is waiting) and the writer is free; while
 * the writer works the batch grows (batch_cap).
 */
static bool batch_due(struct src *s, bool busy, bool nothing_waiting)
{
	return s->cur->nbp && (batch_full(s, busy) || (!busy && (now_ms() >= s->cur->deadline ||
								   nothing_waiting)));
}

static void run_kafka(struct src *s)
{
	while (!s->done) {
		bool busy = s->out && writer_busy(s), caught;

		if (stopping(s))
			break;
		if (batch_room(s))
			kafka_poll(s, poll_wait(s, busy, 100));
		caught = kafka_caught_up(s);
		if (batch_due(s, busy, caught) && !flush(s))
			return;
		/* the watermarks take the client's locks: ten times a second is enough */
		if (now_ms() - s->lag_at >= 100) {
			s->st.lag = kafka_lag(s);
			s->lag_at = now_ms();
		}
		if (s->opts->once && caught && !s->cur->nbp) {
			if (collect(s))
				return;
			if (kafka_caught_up(s) && !s->cur->nbp)
				break; /* (a stale batch is read again) */
		}
	}
	if (!s->done)
		flush(s);
	collect(s);
}

static void run_redis(struct src *s)
{
	int64_t wait_err = 100;
	bool down = false;

	while (!s->done && !stopping(s)) {
		bool busy = s->out && writer_busy(s), more = false;

		if (redis_poll(s, poll_wait(s, busy, s->opts->once ? 0 : 100), busy, &more)) {
			if (!down)
				warn(s, "%s: %s (retrying)", s->name, fs_error_last());
			down = true;
			if (s->cur->nbp && !flush(s))
				return;
			sleep_ms(wait_err);
			wait_err = wait_err * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : wait_err * 2;
			continue;
		}
		if (down)
			warn(s, "%s: redis stream '%s' answers again", s->name, s->stream);
		down = false;
		wait_err = 100;
		if (batch_due(s, busy, !more) && !flush(s))
			return;
		if (!more) {
			s->st.lag = 0;
		} else if (now_ms() - s->lag_at >= 1000 && s->rc_stream && !s->rc_stream->err) {
			/* counted at most once a second: XRANGE of all that waits */
			s->st.lag = redis_lag_after(s->rc_stream, s->stream, s->last_id);
			s->lag_at = now_ms();
		}
		if (s->opts->once && !more && !s->cur->nbp) {
			if (collect(s))
				return;
			if (!s->cur->nbp)
				break;
		}
	}
	if (!s->done)
		flush(s);
	collect(s);
}

static void writer_stop(struct src *s)
{
	if (!s->writer_started)
		return;
	collect(s);
	pthread_mutex_lock(&s->lock);
	s->writer_quit = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->writer, NULL);
	s->writer_started = false;
}

static void *source_thread(void *arg)
{
	struct src *s = arg;
	int rc;

	batch_reset(s, &s->bat[0]);
	batch_reset(s, &s->bat[1]);
	s->cur = &s->bat[0];
	if ((rc = fs_online_open(&s->store, s->repo->config))) {
		s->rc = rc;
	} else if (!fs_online_has_batches(s->store) && (rc = intents_replay(s))) {
		s->rc = rc;
	} else {
		fs_online_defer_maintenance(s->store); /* maintainer() does it */
		if (pthread_create(&s->writer, NULL, writer_thread, s))
			abort(); /* no thread: nothing sensible left to do */
		s->writer_started = true;
		rc = !strcmp(s->type, "kafka") ? kafka_open(s) : redis_open(s);
		if (rc < 0)
			s->rc = rc;
		else if (rc == 0 && !strcmp(s->type, "kafka"))
			run_kafka(s);
		else if (rc == 0)
			run_redis(s);
		writer_stop(s);
	}
	if (s->rk) {
		/* leave the group now, so that the others take the partitions at once */
		rd_kafka_consumer_close(s->rk);
	}
	if (s->warn_hidden && s->opts->warn) {
		char msg[256];
		snprintf(msg, sizeof(msg), "%s: %lld more warnings not shown", s->name,
			 (long long)s->warn_hidden);
		s->opts->warn(s->opts->ctx, msg);
	}
	if (s->rc) {
		snprintf(s->err, sizeof(s->err), "%s", fs_error_last());
		*s->opts->stop = 1; /* one source failing stops them all */
	}
	return NULL;
}

/* The online store's housekeeping, off the writers' threads, until *done. */
struct maint {
	struct fs_repo *repo;
	volatile int done;
	pthread_t thread;
};

static void *maintainer(void *arg)
{
	struct maint *m = arg;
	struct fs_online *store = NULL;

	while (!__atomic_load_n(&m->done, __ATOMIC_RELAXED)) {
		/* after the writers have opened the store (and set a new one up) */
		sleep_ms(200);
		if (__atomic_load_n(&m->done, __ATOMIC_RELAXED))
			break;
		if (!store && fs_online_open(&store, m->repo->config))
			store = NULL;
		if (store && fs_online_maintain(store)) {
			fs_online_close(store); /* open again next time */
			store = NULL;
		}
	}
	if (store)
		fs_online_maintain(store);
	fs_online_close(store);
	return NULL;
}

static void src_release(struct src *s)
{
	if (s->rk)
		rd_kafka_destroy(s->rk);
	if (s->dlq) {
		rd_kafka_flush(s->dlq, 5000);
		rd_kafka_destroy(s->dlq);
	}
	if (s->rc_stream)
		redisFree(s->rc_stream);
	fs_online_close(s->store);
	fs_source_close(s->bat[0].rows);
	fs_source_close(s->bat[1].rows);
	free(s->bat[0].bp);
	free(s->bat[1].bp);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->warn_lock);
	pthread_cond_destroy(&s->cond);
	json_decref(s->data);
	free(s->cols);
	free(s->checks);
	free(s->cells);
	free(s->offs);
	free(s->kp);
	free(s->topic);
	free(s->stream);
	free(s->url);
	sb_release(&s->scratch);
}

static bool is_stream_source(const struct fs_object *o)
{
	const char *t = json_string_value(json_object_get(o->spec, "type"));

	return o->kind == FS_KIND_SOURCE && t && (!strcmp(t, "kafka") || !strcmp(t, "redis_stream"));
}

static bool has_view(const struct fs_defs *defs, const char *source)
{
	size_t i;

	for (i = 0; i < defs->n; i++)
		if (defs->objs[i].kind == FS_KIND_FEATURE_VIEW &&
		    !strcmp(json_string_value(json_object_get(defs->objs[i].spec, "source")), source))
			return true;
	return false;
}

/* The spec naming the columns of a stream source's messages. */
static json_t *data_spec(const struct fs_object *o)
{
	json_t *d = json_deep_copy(o->spec);

	if (!json_object_get(d, "timestamp_field"))
		json_object_set_new(d, "timestamp_field", json_string(ENTRY_TIME));
	return d;
}

int fs_stream_run(struct fs_repo *repo, const char *const *names, size_t n,
		  const struct fs_stream_opts *opts,
		  void (*live)(void *ctx, const struct fs_stream_stats *st, size_t n, double secs),
		  struct fs_stream_stats **stats, size_t *nstats)
{
	static volatile sig_atomic_t own_stop;
	struct fs_stream_opts o = *opts;
	struct fs_defs defs = { 0 };
	struct src *srcs = NULL;
	pthread_t *threads = NULL;
	size_t nsrc = 0, i;
	int64_t start = now_ms();
	int rc;

	*stats = NULL;
	*nstats = 0;
	if (!o.stop)
		o.stop = &own_stop;
	opts = &o;
	if ((rc = fs_registry_load(repo->registry, &defs)))
		return rc;
	srcs = xcalloc(defs.n + n + 1, sizeof(*srcs));
	if (n) {
		for (i = 0; i < n && !rc; i++) {
			const struct fs_object *o = fs_defs_find(&defs, FS_KIND_SOURCE, names[i]);
			size_t j;
			if (!o) {
				rc = fs_unknown_name(&defs, repo->root, FS_KIND_BIT(FS_KIND_SOURCE),
						     names[i], is_stream_source);
			} else if (!is_stream_source(o)) {
				fs_error_set("source '%s' is a %s source, not a kafka or redis_stream"
					     " source", names[i],
					     json_string_value(json_object_get(o->spec, "type")));
				rc = FS_EINVALID;
			} else {
				for (j = 0; j < nsrc && srcs[j].obj != o; j++)
					;
				if (j == nsrc)
					srcs[nsrc++].obj = o;
			}
		}
	} else {
		for (i = 0; i < defs.n; i++)
			if (is_stream_source(&defs.objs[i]) && has_view(&defs, defs.objs[i].name))
				srcs[nsrc++].obj = &defs.objs[i];
		if (!nsrc) {
			fs_error_set("no kafka or redis_stream source is read by a feature view");
			rc = FS_ENOTFOUND;
		}
	}
	for (i = 0; i < nsrc && !rc; i++) {
		struct src *s = &srcs[i];
		s->repo = repo;
		s->defs = &defs;
		s->opts = opts;
		s->name = s->obj->name;
		s->type = json_string_value(json_object_get(s->obj->spec, "type"));
		s->data = data_spec(s->obj);
		snprintf(s->st.source, sizeof(s->st.source), "%s", s->name);
		snprintf(s->st.type, sizeof(s->st.type), "%s", s->type);
		s->st.lag = -1;
		sb_init(&s->scratch);
		pthread_mutex_init(&s->lock, NULL);
		pthread_mutex_init(&s->warn_lock, NULL);
		pthread_cond_init(&s->cond, NULL);
		rc = plan_source(s);
	}
	if (!rc) {
		struct maint m = { .repo = repo };
		if (pthread_create(&m.thread, NULL, maintainer, &m))
			abort();
		threads = xcalloc(nsrc + 1, sizeof(*threads));
		for (i = 0; i < nsrc; i++)
			if (pthread_create(&threads[i], NULL, source_thread, &srcs[i]))
				abort(); /* no thread: nothing sensible left to do */
		if (live) {
			struct fs_stream_stats *cur = xcalloc(nsrc + 1, sizeof(*cur));
			for (;;) {
				bool alive = false;
				size_t j;
				for (j = 0; j < nsrc; j++) {
					if (pthread_tryjoin_np(threads[j], NULL) == EBUSY)
						alive = true;
					else
						threads[j] = 0;
				}
				if (!alive)
					break;
				/* counters read while they move: a status line, not a total */
				for (j = 0; j < nsrc; j++)
					cur[j] = srcs[j].st;
				live(opts->ctx, cur, nsrc, (double)(now_ms() - start) / 1000.0);
				sleep_ms(1000);
			}
			free(cur);
		}
		for (i = 0; i < nsrc; i++)
			if (threads[i])
				pthread_join(threads[i], NULL);
		__atomic_store_n(&m.done, 1, __ATOMIC_RELAXED);
		pthread_join(m.thread, NULL);
		for (i = 0; i < nsrc && !rc; i++)
			if (srcs[i].rc) {
				rc = srcs[i].rc;
				/* the thread's message, into this thread's error buffer */
				fs_error_set("%s", srcs[i].err);
			}
	}
	*stats = xcalloc(nsrc + 1, sizeof(**stats));
	for (i = 0; i < nsrc; i++)
		(*stats)[i] = srcs[i].st;
	*nstats = nsrc;
	for (i = 0; i < nsrc; i++)
		src_release(&srcs[i]);
	free(srcs);
	free(threads);
	fs_defs_release(&defs);
	return rc;
}

/* ---- fs status ---- */

struct status_ctx {
	json_t *parts;
	int64_t applied, bad, late;
	int64_t newest; /* the newest event applied (INT64_MIN: none known) */
};

static void status_record(void *ctx, const char *name, const char *val)
{
	struct status_ctx *c = ctx;
	const char *slash = strrchr(name, '/');
	int64_t applied, bad, late, newest;
	char pos[64];

	if (!slash || !pos_parse(val, pos, sizeof(pos), &applied, &bad, &late, &newest))
		return;
	if (newest > c->newest)
		c->newest = newest;
	c->applied += applied;
	c->bad += bad;
	c->late += late;
	/* a Kafka offset as a number, a Redis entry id as it is */
	json_array_append_new(c->parts, json_pack("{s:i, s:o, s:n}", "partition", atoi(slash + 1),
						  "position",
						  pos[strspn(pos, "0123456789")]
							  ? json_string(pos)
							  : json_integer(strtoll(pos, NULL, 10)),
						  "lag"));
}

static int cmp_part(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "partition"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "partition"));
	return x < y ? -1 : x > y;
}

static void sort_parts(json_t *parts)
{
	size_t n = json_array_size(parts), i;
	json_t **v = xcalloc(n + 1, sizeof(*v));

	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(parts, i));
	qsort(v, n, sizeof(*v), cmp_part);
	json_array_clear(parts);
	for (i = 0; i < n; i++)
		json_array_append_new(parts, v[i]);
	free(v);
}

/* Kafka lag: each partition's high watermark less its stored position. */
static void status_kafka_lag(struct src *s, json_t *parts, json_t *out)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *t;
	rd_kafka_conf_t *conf = kafka_conf(s, false);
	char errstr[256];
	int64_t total = 0;
	bool known = true;
	int i;

	if (!conf)
		return;
	rd_kafka_conf_set_log_cb(conf, NULL);
	if (!(s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr))))
		return;
	t = rd_kafka_topic_new(s->rk, s->topic, NULL);
	if (!rd_kafka_metadata(s->rk, 0, t, &md, 1500) && md->topic_cnt == 1 &&
	    !md->topics[0].err) {
		for (i = 0; i < md->topics[0].partition_cnt; i++) {
			int32_t p = md->topics[0].partitions[i].id;
			int64_t lo, hi, pos = -1;
			size_t j;
			json_t *e, *found = NULL;
			json_array_foreach(parts, j, e)
				if (json_integer_value(json_object_get(e, "partition")) == p)
					found = e;
			if (!found) {
				found = json_pack("{s:i, s:n, s:n}", "partition", p, "position", "lag");
				json_array_append_new(parts, found);
			} else {
				pos = json_integer_value(json_object_get(found, "position"));
			}
			if (rd_kafka_query_watermark_offsets(s->rk, s->topic, p, &lo, &hi, 1500)) {
				known = false;
				continue;
			}
			if (pos < 0)
				pos = lo;
			json_object_set_new(found, "lag", json_integer(hi > pos ? hi - pos : 0));
			total += hi > pos ? hi - pos : 0;
		}
		json_object_set_new(out, "lag", known ? json_integer(total) : json_null());
	}
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(t);
}

static void status_redis_lag(struct src *s, json_t *parts, json_t *out)
{
	const char *url = json_string_value(json_object_get(s->obj->spec, "url"));
	json_t *p0 = json_array_get(parts, 0);
	const char *pos = p0 ? json_string_value(json_object_get(p0, "position")) : "";
	int64_t lag;

	if (!url && !strcmp(s->repo->config->online_type, "redis") && !s->repo->config->online_cluster_n)
		url = s->repo->config->online_url ? s->repo->config->online_url
						  : "redis://127.0.0.1:6379/0";
	if (!url || fs_redis_connect(url, &s->rc_stream))
		return;
	lag = redis_lag_after(s->rc_stream, s->stream, pos);
	if (lag < 0)
		return;
	if (p0)
		json_object_set_new(p0, "lag", json_integer(lag));
	json_object_set_new(out, "lag", json_integer(lag));
}

int fs_stream_status(struct fs_online *store, struct fs_repo *repo, const struct fs_defs *defs,
		     bool with_lag, json_t **out)
{
	size_t i;
	int rc = 0;

	*out = json_array();
	for (i = 0; i < defs->n && !rc; i++) {
		const struct fs_object *o = &defs->objs[i];
		struct fs_stream_opts opts = { 0 };
		struct status_ctx c = { NULL, 0, 0, 0, INT64_MIN };
		struct src s = { 0 };
		char *prefix;
		json_t *e;

		if (!is_stream_source(o))
			continue;
		c.parts = json_array();
		prefix = xstrfmt("stream/%s/", o->name);
		rc = fs_online_meta_list(store, prefix, status_record, &c);
		free(prefix);
		if (rc) {
			json_decref(c.parts);
			break;
		}
		sort_parts(c.parts);
		s.repo = repo;
		s.obj = o;
		s.name = o->name;
		s.opts = &opts;
		e = json_pack("{s:s, s:s}", "source", o->name, "type",
			      json_string_value(json_object_get(o->spec, "type")));
		if (!strcmp(json_string_value(json_object_get(o->spec, "type")), "kafka")) {
			s.topic = xstrdup(json_string_value(json_object_get(o->spec, "topic")));
			json_object_set_new(e, "topic", json_string(s.topic));
		} else {
			s.stream = xstrdup(json_string_value(json_object_get(o->spec, "stream")));
			json_object_set_new(e, "stream", json_string(s.stream));
		}
		json_object_set_new(e, "lag", json_null());
		if (with_lag && !strcmp(json_string_value(json_object_get(o->spec, "type")), "kafka"))
			status_kafka_lag(&s, c.parts, e);
		else if (with_lag)
			status_redis_lag(&s, c.parts, e);
		json_object_set_new(e, "partitions", c.parts);
		json_object_set_new(e, "applied", json_integer(c.applied));
		json_object_set_new(e, "bad", json_integer(c.bad));
		json_object_set_new(e, "late", json_integer(c.late));
		if (c.newest != INT64_MIN) {
			char when[FS_TIME_BUFSZ];
			fs_time_format_us(when, c.newest);
			json_object_set_new(e, "newest_event", json_string(when));
		} else {
			json_object_set_new(e, "newest_event", json_null());
		}
		json_array_append_new(*out, e);
		src_release(&s);
	}
	return rc;
}
