#include "materialize.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "keymap.h"
#include "lock.h"
#include "online.h"
#include "timeutil.h"
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
}

static void keep(struct latest *l, uint32_t id, bool is_new, int64_t ts, int64_t cr,
		 const struct strbuf *val)
{
	struct best *b;

	if (is_new)
		ALLOC_GROW(l->best, (size_t)id + 1, l->alloc);
	b = &l->best[id];
	if (is_new || val->len > b->len) {
		ALLOC_GROW(l->arena, l->arena_len + val->len + 1, l->arena_alloc);
		b->off = l->arena_len;
		l->arena_len += val->len;
	}
	memcpy(l->arena + b->off, val->buf, val->len);
	b->len = val->len;
	b->ts = ts;
	b->created = cr;
}

static int materialize_view(struct fs_repo *repo, struct fs_online *store,
			    const struct fs_defs *defs, const struct fs_object *view,
			    const struct fs_mat_opts *o, json_t *results)
{
	struct fs_viewscan *scan = NULL;
	struct latest l = { 0 };
	struct strbuf enc = STRBUF_INIT;
	struct fs_online_rec *recs = NULL;
	const struct strbuf *key;
	const struct fs_scan_value *vals;
	enum fs_type *types = NULL;
	char *schema = NULL;
	int64_t start = o->start_us, ts, cr, last;
	size_t rows = 0, scanned = 0, nfeat, written = 0, i;
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
	if ((rc = fs_viewscan_open_window(&scan, defs, view, repo->root, start, o->end_us)))
		return rc;
	types = fs_view_types(view->spec, &nfeat);
	l.keys = fs_keymap_new();
	while ((rc = fs_viewscan_next(scan, &key, &ts, &cr, &vals)) == 1) {
		uint32_t id;
		bool is_new;
		int64_t *best_ts;

		if (o->progress && !(++scanned & ((1u << 20) - 1)))
			o->progress(o->progress_ctx, view->name, scanned);
		if (!key || ts < start || ts > o->end_us)
			continue;
		rows++;
		/* the best ts of the key sits in its hash slot: most older rows stop there */
		id = fs_keymap_find_aux(l.keys, key->buf, key->len, &best_ts);
		if (id != FS_KEY_NONE &&
		    (ts < *best_ts || (ts == *best_ts && cr < l.best[id].created)))
			continue; /* an older row */
		is_new = id == FS_KEY_NONE;
		if (is_new)
			id = fs_keymap_intern_aux(l.keys, key->buf, key->len, &best_ts);
		*best_ts = ts;
		fs_online_encode(&enc, types, vals, nfeat);
		keep(&l, id, is_new, ts, cr, &enc);
	}
	if (rc < 0)
		goto done;
	recs = xcalloc(fs_keymap_size(l.keys) + 1, sizeof(*recs));
	for (i = 0; i < fs_keymap_size(l.keys); i++) {
		recs[i].key = fs_keymap_key(l.keys, (uint32_t)i, &recs[i].keylen);
		recs[i].ts = l.best[i].ts;
		recs[i].created = l.best[i].created;
		recs[i].val = l.arena + l.best[i].off;
		recs[i].vallen = l.best[i].len;
	}
	schema = fs_view_schema(defs, view);
	if ((rc = fs_online_write(store, view->name, schema, recs, fs_keymap_size(l.keys), &written)))
		goto done;
	/* the data is committed: now, and only now, the interval */
	if ((rc = record(repo->registry, view->name, start, o->end_us, rows, written)))
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
						"end", ebuf, "rows_read", (json_int_t)rows, "keys",
						(json_int_t)fs_keymap_size(l.keys), "keys_written",
						(json_int_t)written, "seconds",
						(double)(t1.tv_sec - t0.tv_sec) +
							(double)(t1.tv_nsec - t0.tv_nsec) / 1e9));
	}
done:
	fs_viewscan_close(scan);
	latest_free(&l);
	sb_release(&enc);
	free(recs);
	free(types);
	free(schema);
	return rc;
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
		fs_error_set("the end of the window is in the future: later incremental runs would skip what arrives until then");
		return FS_EINVALID;
	}
	if ((rc = fs_registry_load(repo->registry, &defs)))
		return rc;
	names = xcalloc(defs.n + o->nviews + 1, sizeof(*names));
	if (o->views && o->nviews) {
		for (i = 0; i < o->nviews; i++) {
			const struct fs_object *v = fs_defs_find(&defs, FS_KIND_FEATURE_VIEW, o->views[i]);
			if (!v) {
				fs_error_set("no feature view '%s' is registered", o->views[i]);
				rc = FS_ENOTFOUND;
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
		rc = fs_lock_acquire(&locks[i], path, !o->no_wait);
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
		if (i && !strcmp(names[i], names[i - 1]))
			continue;
		rc = materialize_view(repo, store, &defs,
				      fs_defs_find(&defs, FS_KIND_FEATURE_VIEW, names[i]), o, results);
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
