#include "materialize.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agg-online.h"
#include "error.h"
#include "keymap.h"
#include "lock.h"
#include "online.h"
#include "timeutil.h"
#include "unapplied.h"
#include "util.h"
#include "viewscan.h"
#include "banned.h"

int fs_materialize_last_end(struct fs_registry *reg, const char *view, int64_t *out)
{
	sqlite3 *db = fs_registry_db(reg);
	sqlite3_stmt *st;
	int rc = FS_ENOTFOUND;

	if (sqlite3_prepare_v2(db, "SELECT MAX(end_us) FROM materializations WHERE view = ?", -1,
			       &st, NULL) != SQLITE_OK) {
		fs_error_set("registry: %s", sqlite3_errmsg(db));
		return FS_ERR;
	}
	sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*out = sqlite3_column_int64(st, 0);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

static int record(struct fs_registry *reg, const char *view, int64_t start, int64_t end,
		  size_t rows, size_t keys)
{
	sqlite3 *db = fs_registry_db(reg);
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
			       "INSERT INTO materializations(view, start_us, end_us, at, rows_read,"
			       " keys_written) VALUES (?, ?, ?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK) {
		fs_error_set("registry: %s", sqlite3_errmsg(db));
		return FS_ERR;
	}
	sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
	if (start == INT64_MIN)
		sqlite3_bind_null(st, 2);
	else
		sqlite3_bind_int64(st, 2, start);
	sqlite3_bind_int64(st, 3, end);
	sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
	sqlite3_bind_int64(st, 5, (int64_t)rows);
	sqlite3_bind_int64(st, 6, (int64_t)keys);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		fs_error_set("registry: cannot record materialization: %s", sqlite3_errmsg(db));
		return FS_ERR;
	}
	return 0;
}

/* The latest row per key, values kept encoded in one arena. */
struct best {
	int64_t ts, created;
	size_t off;
	size_t len;
};

struct latest {
	struct fs_keymap *keys;
	struct best *best; /* by key id: one cache line per lookup */
	size_t alloc;
	char *arena;
	size_t arena_len, arena_alloc;
};

static void latest_free(struct latest *l)
{
	fs_keymap_free(l->keys);
	free(l->best);
	free(l->arena);
	memset(l, 0, sizeof(*l));
}

static void keep(struct latest *l, uint32_t id, bool is_new, int64_t ts, int64_t cr,
		 const char *val, size_t len)
{
	struct best *b;

	if (is_new)
		ALLOC_GROW(l->best, (size_t)id + 1, l->alloc);
	b = &l->best[id];
	if (is_new || len > b->len) {
		ALLOC_GROW(l->arena, l->arena_len + len + 1, l->arena_alloc);
		b->off = l->arena_len;
		l->arena_len += len;
	}
	memcpy(l->arena + b->off, val, len);
	b->len = len;
	b->ts = ts;
	b->created = cr;
}

/* One reader of a view's source (the whole of it, or half of a split csv file). */
struct part {
	struct fs_viewscan *scan;
	struct latest l;
	const struct fs_mat_opts *o;
	const char *view;
	const enum fs_type *types;
	size_t nfeat;
	int64_t start;
	size_t rows;                /* in the window */
	_Atomic size_t scanned;     /* all, for progress */
	const struct part *other;   /* read on another thread; NULL: none */
	bool report;                /* this thread calls o->progress */
	int rc;
};

/* A row in the window, copied out of the scan: processed one row later. */
struct ahead {
	bool have;
	int64_t ts, cr;
	char *key, *text; /* the key's bytes; the text of the values, back to back */
	size_t keylen, keycap, textcap;
	struct fs_scan_value *vals;
};

static void ahead_copy(struct ahead *r, const struct strbuf *key, int64_t ts, int64_t cr,
		       const struct fs_scan_value *vals, size_t nfeat)
{
	size_t i, len = 0;
	char *t;

	r->have = true;
	r->ts = ts;
	r->cr = cr;
	if (key->len > r->keycap) {
		r->keycap = key->len * 2;
		r->key = xrealloc(r->key, r->keycap);
	}
	memcpy(r->key, key->buf, key->len);
	r->keylen = key->len;
	for (i = 0; i < nfeat; i++)
		len += vals[i].text ? vals[i].len : 0;
	if (!r->text || len > r->textcap) {
		/* never NULL: an empty text value still needs a place */
		r->textcap = len * 2 + 16;
		r->text = xrealloc(r->text, r->textcap);
	}
	t = r->text;
	for (i = 0; i < nfeat; i++) {
		r->vals[i] = vals[i];
		if (vals[i].text) {
			memcpy(t, vals[i].text, vals[i].len);
			r->vals[i].text = t;
			t += vals[i].len;
		}
	}
}

/*
 * The id under which a row of key at (ts, cr) replaces what l holds: newest
 * (ts, created) wins, an exact tie goes to this later row. FS_KEY_NONE for
 * an older row. The best ts of the key sits in its hash slot: most older
 * rows stop there.
 */
static uint32_t claim(struct latest *l, const void *key, size_t len, int64_t ts, int64_t cr,
		      bool *is_new)
{
	int64_t *best_ts;
	uint32_t id = fs_keymap_find_aux(l->keys, key, len, &best_ts);

	*is_new = id == FS_KEY_NONE;
	if (!*is_new && (ts < *best_ts || (ts == *best_ts && cr < l->best[id].created)))
		return FS_KEY_NONE;
	if (*is_new)
		id = fs_keymap_intern_aux(l->keys, key, len, &best_ts);
	*best_ts = ts;
	return id;
}

static void fold(struct part *p, const struct ahead *r, struct strbuf *enc)
{
	bool is_new;
	uint32_t id = claim(&p->l, r->key, r->keylen, r->ts, r->cr, &is_new);

	if (id == FS_KEY_NONE)
		return; /* an older row */
	fs_online_encode(enc, p->types, r->vals, p->nfeat);
	keep(&p->l, id, is_new, r->ts, r->cr, enc->buf, enc->len);
}

/*
 * The keymap of a large source does not fit in the cache: each row's slot
 * is prefetched while the next row is parsed, and looked up after.
 */
static int scan_part(struct part *p)
{
	const struct fs_mat_opts *o = p->o;
	struct ahead a[2] = { { 0 } };
	struct strbuf enc = STRBUF_INIT;
	const struct strbuf *key;
	const struct fs_scan_value *vals;
	int64_t ts, cr;
	size_t scanned = 0, cur = 0;
	int rc;

	p->l.keys = fs_keymap_new();
	a[0].vals = xcalloc(p->nfeat + 1, sizeof(*a[0].vals));
	a[1].vals = xcalloc(p->nfeat + 1, sizeof(*a[1].vals));
	while ((rc = fs_viewscan_next(p->scan, &key, &ts, &cr, &vals)) == 1) {
		if (!(++scanned & ((1u << 20) - 1))) {
			atomic_store_explicit(&p->scanned, scanned, memory_order_relaxed);
			if (p->report && o->progress)
				o->progress(o->progress_ctx, p->view,
					    scanned + (p->other ? atomic_load_explicit(
								       &p->other->scanned,
								       memory_order_relaxed)
							        : 0));
		}
		if (!key || ts < p->start || ts > o->end_us)
			continue;
		p->rows++;
		ahead_copy(&a[cur], key, ts, cr, vals, p->nfeat);
		fs_keymap_prefetch(p->l.keys, key->buf, key->len);
		cur ^= 1;
		if (a[cur].have)
			fold(p, &a[cur], &enc);
		a[cur].have = false;
	}
	if (rc == 0 && a[cur ^ 1].have)
		fold(p, &a[cur ^ 1], &enc);
	for (cur = 0; cur < 2; cur++) {
		free(a[cur].key);
		free(a[cur].text);
		free(a[cur].vals);
	}
	sb_release(&enc);
	p->rc = rc < 0 ? rc : 0;
	return p->rc;
}

static void *scan_thread(void *arg)
{
	scan_part(arg);
	return NULL;
}

/* Fold b (read from later in the source) into a: newest wins, exact ties the later row. */
static void merge(struct latest *a, const struct latest *b)
{
	size_t i;

	for (i = 0; i < fs_keymap_size(b->keys); i++) {
		const struct best *y = &b->best[i];
		size_t len;
		const void *key = fs_keymap_key(b->keys, (uint32_t)i, &len);
		bool is_new;
		uint32_t id = claim(a, key, len, y->ts, y->created, &is_new);

		if (id != FS_KEY_NONE)
			keep(a, id, is_new, y->ts, y->created, b->arena + y->off, y->len);
	}
}

/* Two threads when there are two CPUs (FS_MATERIALIZE_THREADS=1: one, for tests). */
static bool use_threads(void)
{
	const char *env = getenv("FS_MATERIALIZE_THREADS");

	if (env && *env)
		return atoi(env) > 1;
	return sysconf(_SC_NPROCESSORS_ONLN) > 1;
}

/*
 * The latest row per key of view in [start, end] into p->l: a csv file on
 * two threads, each half into its own map, then merged; anything else (or
 * any error on the way, so that the message names the right line) in one.
 */
static int scan_view(struct part *p, const struct fs_defs *defs, const struct fs_object *view,
		     const char *root)
{
	struct part p2;
	pthread_t tid;
	int rc;

	if ((rc = fs_viewscan_open_window(&p->scan, defs, view, root, p->start, p->o->end_us)))
		return rc;
	rc = use_threads() ? fs_viewscan_split(p->scan, defs, &p2.scan) : 1;
	if (rc < 0)
		p->rc = rc; /* p->scan may be cut short already: start over */
	if (rc == 0) {
		p2.l = (struct latest){ 0 };
		p2.o = p->o;
		p2.view = p->view;
		p2.types = p->types;
		p2.nfeat = p->nfeat;
		p2.start = p->start;
		p2.rows = 0;
		atomic_init(&p2.scanned, 0);
		p2.other = NULL;
		p2.report = false;
		p2.rc = 0;
		p->other = &p2;
		p->report = true;
		if (!pthread_create(&tid, NULL, scan_thread, &p2)) {
			scan_part(p);
			pthread_join(tid, NULL);
			if (!p->rc && !p2.rc) {
				merge(&p->l, &p2.l);
				p->rows += p2.rows;
			}
		} else {
			p->rc = FS_ERR;
		}
		p->other = NULL;
		fs_viewscan_close(p2.scan);
		latest_free(&p2.l);
		if (!p->rc && !p2.rc)
			return 0;
	}
	if (rc != 1) {
		/* start over on one thread */
		latest_free(&p->l);
		p->rows = 0;
		fs_viewscan_close(p->scan);
		p->scan = NULL;
		if ((rc = fs_viewscan_open_window(&p->scan, defs, view, root, p->start, p->o->end_us)))
			return rc;
	}
	p->report = true;
	return scan_part(p);
}

/* The duration from t0 to now, in seconds. */
static double since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * An aggregation view: its tiles rebuilt for reads at or after the end,
 * whatever the start (see agg-online.h); the batch's interval recorded
 * after the write committed.
 */
static int materialize_agg(struct fs_repo *repo, struct fs_online *store,
			   const struct fs_defs *defs, const struct fs_object *view,
			   const struct fs_mat_opts *o, json_t *results)
{
	struct fs_agg_mat m;
	struct timespec t0;
	char sbuf[FS_TIME_BUFSZ], ebuf[FS_TIME_BUFSZ];
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((rc = fs_agg_materialize(store, defs, view, repo->root, o->end_us, &m)) ||
	    (rc = record(repo->registry, view->name, m.start_us, m.batch_end_us, m.rows, m.written)))
		return rc;
	fs_time_format_us(sbuf, m.start_us);
	fs_time_format_us(ebuf, m.batch_end_us);
	json_array_append_new(results,
			      json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:f}", "view", view->name,
					"start", sbuf, "end", ebuf, "rows_read", (json_int_t)m.rows,
					"keys", (json_int_t)m.keys, "keys_written",
					(json_int_t)m.written, "seconds", since(&t0)));
	return 0;
}

static int materialize_view(struct fs_repo *repo, struct fs_online *store,
			    const struct fs_defs *defs, const struct fs_object *view,
			    const struct fs_mat_opts *o, json_t *results)
{
	struct part p = { 0 };
	struct fs_online_rec *recs = NULL;
	enum fs_type *types = NULL;
	char *schema = NULL;
	int64_t start = o->start_us, last;
	size_t nfeat, written = 0, i;
	struct timespec t0, t1;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (o->incremental) {
		rc = fs_materialize_last_end(repo->registry, view->name, &last);
		if (rc == 0) {
			start = last;
		} else if (rc == FS_ENOTFOUND) {
			int64_t ttl = json_integer_value(json_object_get(view->spec, "ttl"));
			start = ttl ? o->end_us - ttl * FS_USEC : INT64_MIN;
		} else {
			return rc;
		}
	}
	types = fs_view_types(view->spec, &nfeat);
	p.o = o;
	p.view = view->name;
	p.types = types;
	p.nfeat = nfeat;
	p.start = start;
	atomic_init(&p.scanned, 0);
	if ((rc = scan_view(&p, defs, view, repo->root)))
		goto done;
	recs = xcalloc(fs_keymap_size(p.l.keys) + 1, sizeof(*recs));
	for (i = 0; i < fs_keymap_size(p.l.keys); i++) {
		recs[i].key = fs_keymap_key(p.l.keys, (uint32_t)i, &recs[i].keylen);
		recs[i].ts = p.l.best[i].ts;
		recs[i].created = p.l.best[i].created;
		recs[i].val = p.l.arena + p.l.best[i].off;
		recs[i].vallen = p.l.best[i].len;
	}
	schema = fs_view_schema(defs, view);
	if ((rc = fs_online_write(store, view->name, schema, recs, fs_keymap_size(p.l.keys),
				  &written)))
		goto done;
	/* the data is committed: now, and only now, the interval */
	if ((rc = record(repo->registry, view->name, start, o->end_us, p.rows, written)))
		goto done;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	{
		char sbuf[FS_TIME_BUFSZ], ebuf[FS_TIME_BUFSZ];
		if (start != INT64_MIN)
			fs_time_format_us(sbuf, start);
		fs_time_format_us(ebuf, o->end_us);
		json_array_append_new(results,
				      json_pack("{s:s, s:o, s:s, s:I, s:I, s:I, s:f}", "view",
						view->name, "start",
						start == INT64_MIN ? json_null() : json_string(sbuf),
						"end", ebuf, "rows_read", (json_int_t)p.rows, "keys",
						(json_int_t)fs_keymap_size(p.l.keys), "keys_written",
						(json_int_t)written, "seconds",
						(double)(t1.tv_sec - t0.tv_sec) +
							(double)(t1.tv_nsec - t0.tv_nsec) / 1e9));
	}
done:
	fs_viewscan_close(p.scan);
	latest_free(&p.l);
	free(recs);
	free(types);
	free(schema);
	return rc;
}

struct waiting {
	const struct fs_mat_opts *o;
	const char *view;
};

static void waiting(void *ctx, const struct fs_lock_holder *holder)
{
	struct waiting *w = ctx;

	if (w->o->waiting)
		w->o->waiting(w->o->waiting_ctx, w->view, holder);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int fs_materialize(struct fs_repo *repo, const struct fs_mat_opts *o, json_t **out)
{
	struct fs_defs defs = { 0 };
	struct fs_online *store = NULL;
	struct fs_lock **locks = NULL;
	const char **names = NULL;
	size_t n = 0, i;
	json_t *results = json_array();
	int rc;

	*out = results;
	if (o->end_us > ((int64_t)time(NULL) + 1) * FS_USEC) {
		char when[FS_TIME_BUFSZ];
		fs_time_format_us(when, o->end_us);
		fs_error_set("the end of the window, %s, is in the future: later incremental runs would skip what arrives until then (use 'now')",
			     when);
		return FS_EINVALID;
	}
	if ((rc = fs_registry_load(repo->registry, &defs)))
		return rc;
	names = xcalloc(defs.n + o->nviews + 1, sizeof(*names));
	if (o->views && o->nviews) {
		for (i = 0; i < o->nviews; i++) {
			const struct fs_object *v = fs_defs_find(&defs, FS_KIND_FEATURE_VIEW, o->views[i]);
			if (!v) {
				rc = fs_unknown_name(&defs, repo->root, FS_KIND_BIT(FS_KIND_FEATURE_VIEW),
						     o->views[i], NULL);
				goto done;
			}
			if (!json_is_true(json_object_get(v->spec, "online"))) {
				fs_error_set("feature view '%s' is not online (online: false)", v->name);
				rc = FS_EINVALID;
				goto done;
			}
			names[n++] = v->name;
		}
	} else {
		for (i = 0; i < defs.n; i++)
			if (defs.objs[i].kind == FS_KIND_FEATURE_VIEW &&
			    json_is_true(json_object_get(defs.objs[i].spec, "online")))
				names[n++] = defs.objs[i].name;
	}
	/* locks in name order: two runs on overlapping views cannot deadlock */
	qsort(names, n, sizeof(*names), cmp_str);
	locks = xcalloc(n + 1, sizeof(*locks));
	for (i = 0; i < n; i++) {
		char *path;
		if (i && !strcmp(names[i], names[i - 1]))
			continue;
		path = xstrfmt("%s.materialize-%s.lock", fs_registry_path(repo->registry), names[i]);
		if (o->no_wait) {
			rc = fs_lock_acquire(&locks[i], path, false);
		} else {
			struct waiting w = { o, names[i] };
			rc = fs_lock_acquire_notify(&locks[i], path, waiting, &w);
		}
		free(path);
		if (rc == FS_ELOCKED) {
			char msg[1024];
			snprintf(msg, sizeof(msg), "%s", fs_error_last());
			fs_error_set("feature view '%s' is being materialized by another run: %s",
				     names[i], msg);
		}
		if (rc)
			goto done;
	}
	if ((rc = fs_online_open(&store, repo->config)))
		goto done;
	for (i = 0; i < n; i++) {
		const struct fs_object *v;
		if (i && !strcmp(names[i], names[i - 1]))
			continue;
		v = fs_defs_find(&defs, FS_KIND_FEATURE_VIEW, names[i]);
		rc = fs_view_is_agg(v->spec) ? materialize_agg(repo, store, &defs, v, o, results)
					     : materialize_view(repo, store, &defs, v, o, results);
		if (rc)
			goto done;
	}
done:
	fs_online_close(store);
	for (i = 0; locks && i < n; i++)
		fs_lock_release(locks[i]);
	free(locks);
	free(names);
	fs_defs_release(&defs);
	return rc;
}
