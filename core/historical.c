#include "historical.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agg-events.h"
#include "agg.h"
#include "csv.h"
#include "duration.h"
#include "error.h"
#include "keymap.h"
#include "pg.h"
#include "repo.h"
#include "source.h"
#include "strbuf.h"
#include "timeutil.h"
#include "unapplied.h"
#include "util.h"
#include "value.h"
#include "viewscan.h"
#include "banned.h"

#define NONE UINT32_MAX

/* The positions of a key's entity rows in the as-of join (asof_join): [start, end). */
struct krange {
	uint32_t start, end;
};

/* Report the phase that ended now (opts->timing), and start the next one. */
static void lap(const struct fs_hist_opts *o, struct timespec *t0, const char *phase)
{
	struct timespec t1;

	if (!o->timing)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	o->timing(o->timing_ctx, phase,
		  (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9);
	*t0 = t1;
}

/* ---- feature references ---- */

static const char *feature_name(const json_t *f)
{
	return json_string_value(json_object_get(f, "name"));
}

static void suggest_error(const char *prefix, const char *word, const char **cands, size_t n)
{
	const char *hint = fs_suggest(word, cands, n);
	if (hint)
		fs_error_set("%s (did you mean '%s'?)", prefix, hint);
	else
		fs_error_set("%s", prefix);
}

/* name is no registered view (nor service): why, in the error */
static int unknown_view(const struct fs_defs *defs, const char *root, const char *name,
			bool services_too)
{
	return fs_unknown_name(defs, root,
			       FS_KIND_BIT(FS_KIND_FEATURE_VIEW) |
				       (services_too ? FS_KIND_BIT(FS_KIND_FEATURE_SERVICE) : 0),
			       name, NULL);
}

static int add_feature(json_t *out, const struct fs_object *view, const char *feature,
		       const char *root)
{
	json_t *feats = json_object_get(view->spec, "features"), *f;
	const char **cands;
	size_t i;

	json_array_foreach(feats, i, f) {
		if (!strcmp(feature_name(f), feature)) {
			json_t *it;
			size_t k;
			json_array_foreach(out, k, it) {
				if (!strcmp(json_string_value(json_object_get(it, "view")), view->name) &&
				    !strcmp(json_string_value(json_object_get(it, "feature")), feature))
					return 0; /* asked twice: one column */
			}
			json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "view", view->name,
							     "feature", feature, "type",
							     json_string_value(json_object_get(f, "type"))));
			return 0;
		}
	}
	if (fs_unapplied_feature(root, view->name, feature))
		return FS_ENOTFOUND;
	cands = xcalloc(json_array_size(feats) + 1, sizeof(*cands));
	json_array_foreach(feats, i, f)
		cands[i] = feature_name(f);
	{
		char *msg = xstrfmt("feature_view '%s' has no feature '%s'", view->name, feature);
		suggest_error(msg, feature, cands, json_array_size(feats));
		free(msg);
	}
	free(cands);
	return FS_ENOTFOUND;
}

static int add_view(json_t *out, const struct fs_object *view, json_t *only, const char *root)
{
	json_t *list = only ? only : json_object_get(view->spec, "features"), *f;
	size_t i;
	int rc;

	json_array_foreach(list, i, f) {
		const char *name = only ? json_string_value(f) : feature_name(f);
		if ((rc = add_feature(out, view, name, root)))
			return rc;
	}
	return 0;
}

int fs_resolve_refs(const struct fs_defs *defs, const char *root, const char *const *refs,
		    size_t nrefs, bool full_names, json_t **out)
{
	json_t *res = json_array(), *it;
	size_t i, j;
	int rc = 0;

	*out = NULL;
	for (i = 0; i < nrefs && !rc; i++) {
		const char *ref = refs[i], *colon = strchr(ref, ':');
		const struct fs_object *view, *svc;

		if (colon) {
			char *vname = xstrndup(ref, (size_t)(colon - ref));
			view = fs_defs_find(defs, FS_KIND_FEATURE_VIEW, vname);
			rc = view ? add_feature(res, view, colon + 1, root)
				  : unknown_view(defs, root, vname, false);
			free(vname);
			continue;
		}
		view = fs_defs_find(defs, FS_KIND_FEATURE_VIEW, ref);
		svc = fs_defs_find(defs, FS_KIND_FEATURE_SERVICE, ref);
		if (view && svc) {
			fs_error_set("'%s' names both a feature view and a feature service: write '%s:<feature>' for the view's features",
				     ref, ref);
			rc = FS_EINVALID;
		} else if (view) {
			rc = add_view(res, view, NULL, root);
		} else if (svc) {
			json_t *items = json_object_get(svc->spec, "features"), *item;
			json_array_foreach(items, j, item) {
				const char *vname = json_string_value(json_object_get(item, "view"));
				const struct fs_object *v = fs_defs_find(defs, FS_KIND_FEATURE_VIEW, vname);
				if (!v) {
					fs_error_set("feature_service '%s' uses feature view '%s', which is not registered",
						     ref, vname);
					rc = FS_ENOTFOUND;
					break;
				}
				if ((rc = add_view(res, v, json_object_get(item, "features"), root)))
					break;
			}
		} else {
			rc = unknown_view(defs, root, ref, true);
		}
	}
	if (rc) {
		json_decref(res);
		return rc;
	}
	/* output column names, and collisions */
	json_array_foreach(res, i, it) {
		const char *v = json_string_value(json_object_get(it, "view"));
		const char *f = json_string_value(json_object_get(it, "feature"));
		char *col = full_names ? xstrfmt("%s__%s", v, f) : xstrdup(f);
		json_object_set_new(it, "column", json_string(col));
		free(col);
	}
	json_array_foreach(res, i, it) {
		for (j = 0; j < i; j++) {
			json_t *a = json_array_get(res, j);
			if (strcmp(json_string_value(json_object_get(a, "column")),
				   json_string_value(json_object_get(it, "column"))))
				continue;
			fs_error_set("feature '%s' of feature_view '%s' and feature '%s' of feature_view '%s' have the same name: use --full-feature-names",
				     json_string_value(json_object_get(a, "feature")),
				     json_string_value(json_object_get(a, "view")),
				     json_string_value(json_object_get(it, "feature")),
				     json_string_value(json_object_get(it, "view")));
			json_decref(res);
			return FS_EINVALID;
		}
	}
	*out = res;
	return 0;
}

/* ---- the entity rows ---- */

struct erows {
	const char *name; /* file name for messages */
	char **cols;
	size_t ncols;
	size_t n, alloc;
	size_t *off; /* off[r * ncols + c]: start of the field in arena */
	size_t off_alloc;
	char *arena;
	size_t arena_len, arena_alloc;
	int64_t *ts;
	size_t *line;
	size_t ts_alloc, line_alloc;
};

static void erows_free(struct erows *e)
{
	size_t i;

	for (i = 0; i < e->ncols; i++)
		free(e->cols[i]);
	free(e->cols);
	free(e->off);
	free(e->arena);
	free(e->ts);
	free(e->line);
}

static const char *efield(const struct erows *e, size_t r, size_t c)
{
	return e->arena + e->off[r * e->ncols + c];
}

static int ecol(const struct erows *e, const char *name)
{
	size_t i;

	for (i = 0; i < e->ncols; i++)
		if (!strcmp(e->cols[i], name))
			return (int)i;
	return -1;
}

static int read_entities(struct erows *e, const char *path, const char *ts_column)
{
	const struct fs_csv_field *f;
	struct fs_csv *csv;
	size_t n, i;
	int fd, rc, tscol;

	e->name = strcmp(path, "-") ? path : "<stdin>";
	fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0) {
		fs_error_set("cannot open entity rows '%s': %s", path, strerror(errno));
		return FS_ERR;
	}
	csv = fs_csv_from_fd(fd, e->name);
	rc = fs_csv_next(csv, &f, &n);
	if (rc <= 0) {
		if (!rc)
			fs_error_set("%s: empty file (entity rows need a header row)", e->name);
		rc = FS_EINVALID;
		goto done;
	}
	e->ncols = n;
	e->cols = xcalloc(n, sizeof(char *));
	for (i = 0; i < n; i++)
		e->cols[i] = xstrndup(f[i].s, f[i].len);
	tscol = ecol(e, ts_column);
	if (tscol < 0) {
		fs_error_set("%s: no column '%s' (the entity rows' timestamp; see --timestamp-column)",
			     e->name, ts_column);
		rc = FS_EINVALID;
		goto done;
	}
	while ((rc = fs_csv_next(csv, &f, &n)) == 1) {
		size_t line = fs_csv_line(csv);
		if (n != e->ncols) {
			rc = fs_csv_count_error(e->name, line, e->cols, e->ncols, n);
			goto done;
		}
		ALLOC_GROW(e->ts, e->n + 1, e->ts_alloc);
		ALLOC_GROW(e->line, e->n + 1, e->line_alloc);
		if (!fs_time_parse_or_date(f[tscol].s, f[tscol].len, &e->ts[e->n])) {
			fs_error_set("%s:%zu: column '%s': bad timestamp '%s' (expected " FS_TIME_FORMATS
				     ", or YYYY-MM-DD)",
				     e->name, line, ts_column, f[tscol].s);
			rc = FS_EINVALID;
			goto done;
		}
		e->line[e->n] = line;
		ALLOC_GROW(e->off, (e->n + 1) * e->ncols, e->off_alloc);
		for (i = 0; i < n; i++) {
			ALLOC_GROW(e->arena, e->arena_len + f[i].len + 1, e->arena_alloc);
			e->off[e->n * e->ncols + i] = e->arena_len;
			memcpy(e->arena + e->arena_len, f[i].s, f[i].len + 1);
			e->arena_len += f[i].len + 1;
		}
		e->n++;
	}
done:
	fs_csv_free(csv);
	if (fd > 0)
		close(fd);
	return rc < 0 ? rc : 0;
}

/* ---- one feature view's side of the join ---- */

struct hfeat {
	const char *name;
	enum fs_type type;
	int col; /* in the source */
};

struct hview {
	const struct fs_object *view;
	const json_t *source;
	int64_t ttl_us;
	struct fs_view_keys vkeys; /* join keys, their entities and types */
	int *key_ecol;           /* column in the entity rows */
	int *key_scol;           /* column in the source */
	struct hfeat *feats;
	size_t nfeats;
	struct fs_keymap *keys;
	uint32_t *ekey; /* per entity row */
	/*
	 * A single int64 join key over a dense range: dense[v - dense_lo] is
	 * v's id (NONE: no entity row has it), then (asof_join) the range of
	 * its positions.
	 */
	struct krange *dense;
	int64_t dense_lo;
	uint64_t dense_n;
	/* the values: n slots of nfeats */
	size_t n, alloc_vals, alloc_nulls;
	int64_t *vals; /* n * nfeats: value, or text offset */
	unsigned char *nulls;
	char *text;
	size_t text_len, text_alloc;
	uint32_t *best; /* per entity row: kept source row, or NONE */
	size_t matched; /* entity rows that found a value */
	/*
	 * What the scan saw of the source, for saying why nothing matched:
	 * its rows and their time range, the rows with a key of the entity
	 * rows, and whether one was at or before an entity row of its key
	 * (any_before). Only when src_seen (the
	 * joins pushed down into PostgreSQL do not see the rows).
	 */
	bool src_seen;
	size_t src_rows, key_hits;
	const struct fs_hist_opts *opts; /* for progress */
	int64_t src_min, src_max;
	bool any_before;
};

static void hview_free(struct hview *h)
{
	fs_view_keys_release(&h->vkeys);
	free(h->key_ecol);
	free(h->key_scol);
	free(h->feats);
	fs_keymap_free(h->keys);
	free(h->ekey);
	free(h->dense);
	free(h->vals);
	free(h->nulls);
	free(h->text);
	free(h->best);
}

static int setup_view(struct hview *h, const struct fs_defs *defs, const struct fs_object *view,
		      const struct erows *e)
{
	const char *src = json_string_value(json_object_get(view->spec, "source"));
	const struct fs_object *so = fs_defs_find(defs, FS_KIND_SOURCE, src);
	size_t i;
	int rc;

	h->view = view;
	h->ttl_us = json_integer_value(json_object_get(view->spec, "ttl")) * FS_USEC;
	if (!so) {
		fs_error_set("feature_view '%s': source '%s' is not registered", view->name, src);
		return FS_ENOTFOUND;
	}
	h->source = so->spec;
	if ((rc = fs_view_keys_load(&h->vkeys, defs, view)))
		return rc;
	h->key_ecol = xcalloc(h->vkeys.n + 1, sizeof(int));
	h->key_scol = xcalloc(h->vkeys.n + 1, sizeof(int));
	for (i = 0; i < h->vkeys.n; i++) {
		h->key_ecol[i] = ecol(e, h->vkeys.names[i]);
		if (h->key_ecol[i] < 0) {
			fs_error_set("%s: no column '%s' (join key of entity '%s', needed by feature_view '%s')",
				     e->name, h->vkeys.names[i], h->vkeys.entity[i], view->name);
			return FS_EINVALID;
		}
	}
	h->keys = fs_keymap_new();
	return 0;
}

/*
 * A single int64 join key whose values span a range not much wider than
 * their count: the ids in an array indexed by value, so that a source
 * row's key is found without hashing (or missing the cache).
 */
static void dense_keys(struct hview *h)
{
	size_t n = fs_keymap_size(h->keys), i, len;
	int64_t lo = INT64_MAX, hi = INT64_MIN, v;

	if (h->vkeys.n != 1 || !h->vkeys.is_int[0] || !n)
		return;
	for (i = 0; i < n; i++) {
		memcpy(&v, fs_keymap_key(h->keys, (uint32_t)i, &len), sizeof(v));
		if (v < lo)
			lo = v;
		if (v > hi)
			hi = v;
	}
	if ((uint64_t)hi - (uint64_t)lo >= 4 * (uint64_t)n + 4096)
		return;
	h->dense_lo = lo;
	h->dense_n = (uint64_t)hi - (uint64_t)lo + 1;
	h->dense = xmalloc(h->dense_n * sizeof(*h->dense));
	for (i = 0; i < h->dense_n; i++)
		h->dense[i].start = h->dense[i].end = NONE;
	for (i = 0; i < n; i++) {
		memcpy(&v, fs_keymap_key(h->keys, (uint32_t)i, &len), sizeof(v));
		h->dense[(uint64_t)v - (uint64_t)lo].start = (uint32_t)i;
	}
}

static int key_entities(struct hview *h, const struct erows *e)
{
	struct strbuf kb = STRBUF_INIT;
	const char *vals[64];
	size_t lens[64];
	size_t r, i;
	int rc = 0;

	if (h->vkeys.n > 64) {
		fs_error_set("feature_view '%s': too many entities", h->view->name);
		return FS_EINVALID;
	}
	h->ekey = xmalloc((e->n + 1) * sizeof(*h->ekey));
	for (r = 0; r < e->n; r++) {
		for (i = 0; i < h->vkeys.n; i++) {
			vals[i] = efield(e, r, (size_t)h->key_ecol[i]);
			lens[i] = strlen(vals[i]);
		}
		rc = fs_key_encode(&h->vkeys, &kb, vals, lens);
		if (rc < 0) {
			char msg[4096];
			snprintf(msg, sizeof(msg), "%s", fs_error_last());
			fs_error_set("%s:%zu: %s", e->name, e->line[r], msg);
			break;
		}
		h->ekey[r] = rc ? fs_keymap_intern(h->keys, kb.buf, kb.len) : NONE;
		rc = 0;
	}
	sb_release(&kb);
	if (rc)
		return rc;
	h->src_min = INT64_MAX;
	h->src_max = INT64_MIN;
	dense_keys(h);
	return 0;
}

/*
 * Report every 2^20 rows both halves of a scan have read (scanned), once:
 * from the half that reports only.
 */
static void report_rows(const struct hview *h, atomic_size_t *scanned, bool report,
			size_t *reported)
{
	const struct fs_hist_opts *o = h->opts;
	size_t now = atomic_load_explicit(scanned, memory_order_relaxed) >> 20;

	for (; o->progress && report && *reported < now; ++*reported)
		o->progress(o->progress_ctx, h->view->name, (*reported + 1) << 20);
}

static int source_col(struct fs_source *src, const json_t *spec, const char *name,
		      const char *role, const char *view)
{
	const char *col = fs_source_column_for(spec, name);
	int i = fs_source_column(src, col);

	if (i < 0)
		fs_error_set("source '%s' (%s) has no column '%s' (%s of feature_view '%s')", src->name,
			     src->what, col, role, view);
	return i;
}

static void text_add(struct hview *h, size_t slot, const char *s, size_t len)
{
	ALLOC_GROW(h->text, h->text_len + len + 1, h->text_alloc);
	h->vals[slot] = (int64_t)h->text_len;
	memcpy(h->text + h->text_len, s, len);
	h->text[h->text_len + len] = '\0';
	h->text_len += len + 1;
}

/* Store a checked feature value (iv: its parsed value) in slot. */
static void keep_value(struct hview *h, size_t slot, enum fs_type type, const struct fs_cell *c,
		       bool null, int64_t iv)
{
	h->nulls[slot] = null;
	if (null)
		h->vals[slot] = 0;
	else if (fs_type_is_text(type))
		text_add(h, slot, c->s, c->len);
	else
		h->vals[slot] = iv;
}

/* ---- the join pushed down into PostgreSQL ---- */

/* The source's rows are in PostgreSQL: the join runs there (pg_join). */
static bool in_postgres(const struct fs_defs *defs, const json_t *source)
{
	const json_t *data = fs_source_data_spec(defs, source);
	const struct fs_source_ops *ops = data ? fs_source_spec_ops(data) : NULL;

	return ops && ops->in_postgres;
}

/* floor(a / b) for b > 0 */
static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

/*
 * The entity rows that have a key, as COPY data: idx, ts (us), bucket
 * floor(ts / width) (0 without a width), then the join keys; copies 2
 * gives each row a second time with the bucket before (a ttl window
 * [ts - ttl, ts] overlaps two buckets of width ttl: see bucket_join_sql).
 */
static void entity_copy_data(struct hview *h, const struct erows *e, struct strbuf *sb,
			     int64_t width, unsigned copies)
{
	size_t r, i;
	unsigned copy;

	for (r = 0; r < e->n; r++) {
		int64_t b = width > 0 ? floor_div(e->ts[r], width) : 0;
		if (h->ekey[r] == NONE)
			continue;
		for (copy = 0; copy < copies; copy++) {
			sb_addf(sb, "%zu\t%lld\t%lld", r, (long long)e->ts[r], (long long)(b - (int64_t)copy));
			for (i = 0; i < h->vkeys.n; i++) {
				const char *v = efield(e, r, (size_t)h->key_ecol[i]);
				int64_t iv = 0;
				sb_addc(sb, '\t');
				if (h->vkeys.is_int[i] && fs_parse_int64(v, strlen(v), &iv))
					sb_addf(sb, "%lld", (long long)iv);
				else
					fs_pg_copy_text(sb, v, strlen(v));
			}
			sb_addc(sb, '\n');
		}
	}
}

/* Keep one result row: the values of the view's features, checked. */
static int keep_pg_row(struct hview *h, const struct fs_cell *cells, const char *what)
{
	size_t base = h->n * h->nfeats, i;
	int64_t iv;

	ALLOC_GROW(h->vals, base + h->nfeats + 1, h->alloc_vals);
	ALLOC_GROW(h->nulls, base + h->nfeats + 1, h->alloc_nulls);
	for (i = 0; i < h->nfeats; i++) {
		const struct fs_cell *c = &cells[i];
		bool null = c->null || (!c->len && h->feats[i].type != FS_T_STRING);
		if (!null && !fs_value_parse(h->feats[i].type, c->s, c->len, &iv)) {
			const char *tn = fs_type_name(h->feats[i].type);
			fs_error_set("%s: '%s' is not %s %s (feature '%s' of feature_view '%s')", what,
				     c->s, tn[0] == 'i' ? "an" : "a", tn, h->feats[i].name,
				     h->view->name);
			return FS_EINVALID;
		}
		keep_value(h, base + i, h->feats[i].type, c, null, iv);
	}
	h->n++;
	return 0;
}

/* A column of the source, by the name the view knows it under. */
static unsigned int pg_col(const json_t *data, const struct fs_pg_col *cols, size_t ncols,
			   const char *name, const char *role, const char *what, const char **col)
{
	unsigned int oid;

	*col = fs_source_column_for(data, name);
	oid = fs_pg_col_type(cols, ncols, *col);
	if (!oid)
		fs_error_set("%s has no column '%s' (%s)", what, *col, role);
	return oid;
}

/* ", <text of s.f0>, <text of s.f1>..." */
static void feature_texts(struct strbuf *sb, const struct hview *h, const unsigned int *foid)
{
	size_t i;

	for (i = 0; i < h->nfeats; i++) {
		char name[32];
		snprintf(name, sizeof(name), "s.f%zu", i);
		sb_adds(sb, ", ");
		fs_pg_text_expr(sb, name, foid[i]);
	}
}

/* " AND s.k0 = e.k0 AND ..." */
static void keys_equal(struct strbuf *sb, const struct hview *h)
{
	size_t i;

	for (i = 0; i < h->vkeys.n; i++)
		sb_addf(sb, " AND s.k%zu = e.k%zu", i, i);
}

/* "k0, k1" */
static void key_list(struct strbuf *sb, const struct hview *h)
{
	size_t i;

	for (i = 0; i < h->vkeys.n; i++)
		sb_addf(sb, "%sk%zu", i ? ", " : "", i);
}

/*
 * With a ttl the window of an entity row at t, [t - ttl, t], lies in two
 * buckets of width ttl: floor(t / ttl) and the one before. Entity rows are
 * loaded once per bucket, so an equi-join on (keys, bucket) pairs
 * each with only the source rows near it; DISTINCT ON keeps the greatest
 * (ts, created, row order) per entity row.
 */
static void bucket_join_sql(struct strbuf *sb, const struct hview *h, const char *src,
			    const unsigned int *foid)
{
	long long ttl = (long long)h->ttl_us;

	sb_adds(sb, "COPY (SELECT DISTINCT ON (e.idx) e.idx");
	feature_texts(sb, h, foid);
	sb_adds(sb, " FROM fs_entities e JOIN (SELECT *, ");
	sb_addf(sb, "fs__ts / %lld - CASE WHEN fs__ts %% %lld < 0 THEN 1 ELSE 0 END AS b FROM (%s) src) s",
		ttl, ttl, src);
	sb_addf(sb, " ON s.b = e.b AND s.fs__ts <= e.ts AND s.fs__ts >= e.ts - %lld", ttl);
	keys_equal(sb, h);
	sb_adds(sb, " ORDER BY e.idx, s.fs__ts DESC, s.fs__cr DESC NULLS LAST, s.fs__seq DESC) TO STDOUT");
}

/*
 * Without a ttl, as one sort: the source rows of wanted keys and the entity
 * rows in one stream ordered per key by (ts, source before entity,
 * created, row order); a running count of source rows gives each entity
 * row the ordinal of the last source row at or before it, which a join on
 * (keys, ordinal) fetches. Linear in the rows, however many rows a key has
 * on either side.
 */
static void window_join_sql(struct strbuf *sb, const struct hview *h, const char *src,
			    const unsigned int *foid)
{
	size_t i;

	sb_adds(sb, "COPY (WITH u AS (SELECT ");
	key_list(sb, h);
	sb_adds(sb, ", fs__ts, 0 AS fs__side, fs__cr, fs__seq, NULL::bigint AS fs__idx");
	for (i = 0; i < h->nfeats; i++)
		sb_addf(sb, ", f%zu", i);
	sb_addf(sb, " FROM (%s) src WHERE (", src);
	key_list(sb, h);
	sb_adds(sb, ") IN (SELECT ");
	key_list(sb, h);
	sb_adds(sb, " FROM fs_entities) UNION ALL SELECT ");
	key_list(sb, h);
	sb_adds(sb, ", ts, 1, NULL, NULL, idx");
	for (i = 0; i < h->nfeats; i++)
		sb_adds(sb, ", NULL");
	sb_adds(sb, " FROM fs_entities), w AS MATERIALIZED (SELECT *, count(*) FILTER (WHERE fs__side = 0) OVER (PARTITION BY ");
	key_list(sb, h);
	sb_adds(sb, " ORDER BY fs__ts, fs__side, fs__cr NULLS FIRST, fs__seq ROWS UNBOUNDED PRECEDING) AS fs__n FROM u) SELECT e.fs__idx");
	feature_texts(sb, h, foid);
	sb_adds(sb, " FROM w e JOIN w s ON e.fs__side = 1 AND s.fs__side = 0 AND e.fs__n > 0 AND s.fs__n = e.fs__n");
	keys_equal(sb, h);
	sb_adds(sb, " ORDER BY e.fs__idx) TO STDOUT");
}

/*
 * Connect to the PostgreSQL holding the source's rows (data: the source
 * spec with the rows) and describe its columns; errors are prefixed with
 * what (the source).
 */
static int pg_source_open(const struct fs_repo *repo, const json_t *data, const char *what,
			  struct fs_pg **pg, struct fs_pg_col **cols, size_t *ncols)
{
	const char *dsn = fs_pg_dsn(data, repo->config ? repo->config->offline_dsn : NULL);
	char msg[1024];
	int rc;

	if (!dsn) {
		snprintf(msg, sizeof(msg), "%s", fs_error_last());
		fs_error_set("%s: %s", what, msg);
		return FS_ERR;
	}
	if ((rc = fs_pg_connect(pg, dsn, what)))
		return rc;
	if ((rc = fs_pg_describe(*pg, data, cols, ncols))) {
		snprintf(msg, sizeof(msg), "%s", fs_error_last());
		fs_error_set("%s: %s", what, msg);
	}
	return rc;
}

/* "SELECT <join keys> AS k0..., <time> AS fs__ts, <created> AS fs__cr" of the source. */
static int pg_source_select(struct strbuf *sql, const struct hview *h, struct fs_pg *pg,
			    const json_t *data, const struct fs_pg_col *cols, size_t ncols,
			    const char *what)
{
	const char *ts_field = json_string_value(json_object_get(data, "timestamp_field"));
	const char *cr_field = json_string_value(json_object_get(data, "created_timestamp_field"));
	const char *col;
	size_t i;
	int rc;

	sb_adds(sql, "SELECT ");
	for (i = 0; i < h->vkeys.n; i++) {
		if (!pg_col(data, cols, ncols, h->vkeys.names[i], "a join key", what, &col))
			return FS_EINVALID;
		fs_pg_ident(sql, pg, col);
		sb_addf(sql, "::%s AS k%zu, ", h->vkeys.is_int[i] ? "bigint" : "text", i);
	}
	if ((rc = fs_pg_time_column(sql, pg, "", cols, ncols, fs_source_column_for(data, ts_field),
				    "timestamp_field", what)))
		return rc;
	sb_adds(sql, " AS fs__ts, ");
	if ((rc = fs_pg_time_column(sql, pg, "", cols, ncols,
				    cr_field ? fs_source_column_for(data, cr_field) : NULL,
				    "created_timestamp_field", what)))
		return rc;
	sb_adds(sql, " AS fs__cr");
	return 0;
}

/* "CREATE TEMP TABLE fs_entities (idx, ts, b, k0...)" */
static void pg_entities_table(struct strbuf *sql, const struct hview *h)
{
	size_t i;

	sb_adds(sql, "CREATE TEMP TABLE fs_entities (idx bigint, ts bigint, b bigint");
	for (i = 0; i < h->vkeys.n; i++)
		sb_addf(sql, ", k%zu %s", i, h->vkeys.is_int[i] ? "bigint" : "text");
	sb_adds(sql, ")");
}

/*
 * The as-of join of one view as SQL: the entity rows go into a temporary
 * table through COPY, PostgreSQL finds per entity row the source row with
 * the same keys and the greatest (ts, created, row order) at or before its
 * time, within the ttl, and only those rows come back (COPY TO), one per
 * entity row that has a match.
 */
static int pg_join(struct hview *h, const struct fs_repo *repo, const struct fs_defs *defs,
		   const struct erows *e)
{
	const json_t *data = fs_source_data_spec(defs, h->source);
	const char *sname = json_string_value(json_object_get(h->source, "name"));
	struct strbuf sql = STRBUF_INIT, in = STRBUF_INIT, ref = STRBUF_INIT;
	struct fs_pg *pg = NULL;
	struct fs_pg_col *cols = NULL;
	const struct fs_cell *cells;
	char *pwhat = fs_pg_what(data), *what = xstrfmt("source '%s' (%s)", sname, pwhat);
	unsigned int *foid = xcalloc(h->nfeats + 1, sizeof(*foid));
	size_t ncols = 0, n, i, r;
	const char *col;
	int rc = FS_ERR;

	h->best = xmalloc((e->n + 1) * sizeof(*h->best));
	for (r = 0; r < e->n; r++)
		h->best[r] = NONE;
	if ((rc = pg_source_open(repo, data, what, &pg, &cols, &ncols)))
		goto done;

	/* the entity rows, in a temporary table */
	pg_entities_table(&sql, h);
	/*
	 * Sorts in memory where they fit; and hash joins: the planner cannot
	 * see that (keys, bucket) is nearly unique and would sort the source
	 * for a merge join.
	 */
	if ((rc = fs_pg_exec(pg, "SET work_mem = '256MB'; SET enable_mergejoin = off")) ||
	    (rc = fs_pg_exec(pg, sql.buf)))
		goto done;
	entity_copy_data(h, e, &in, h->ttl_us, h->ttl_us > 0 ? 2 : 1);
	if ((rc = fs_pg_copy_in(pg, "COPY fs_entities FROM STDIN", in.buf, in.len)) ||
	    (rc = fs_pg_exec(pg, "ANALYZE fs_entities")))
		goto done;

	/* the source side: keys, times, row order and the features, raw */
	sb_reset(&sql);
	if ((rc = pg_source_select(&sql, h, pg, data, cols, ncols, what)))
		goto done;
	rc = FS_EINVALID;
	sb_addf(&sql, ", %s AS fs__seq",
		json_object_get(data, "table") ? "ctid" : "row_number() OVER ()");
	for (i = 0; i < h->nfeats; i++) {
		if (!(foid[i] = pg_col(data, cols, ncols, h->feats[i].name, "a feature", what, &col)))
			goto done;
		sb_adds(&sql, ", ");
		fs_pg_ident(&sql, pg, col);
		sb_addf(&sql, " AS f%zu", i);
	}
	sb_adds(&sql, " FROM ");
	fs_pg_from(&sql, pg, data);

	sb_reset(&ref);
	if (h->ttl_us > 0)
		bucket_join_sql(&ref, h, sql.buf, foid);
	else
		window_join_sql(&ref, h, sql.buf, foid);
	if ((rc = fs_pg_copy_out(pg, ref.buf)))
		goto done;
	while ((rc = fs_pg_copy_row(pg, &cells, &n)) == 1) {
		int64_t idx;
		if (n != h->nfeats + 1 || !fs_parse_int64(cells[0].s, cells[0].len, &idx) ||
		    idx < 0 || (size_t)idx >= e->n) {
			fs_error_set("%s: unexpected result row from PostgreSQL", what);
			rc = FS_ERR;
			break;
		}
		if (h->n >= NONE - 1) {
			fs_error_set("feature_view '%s': too many matching source rows", h->view->name);
			rc = FS_ERR;
			break;
		}
		if (h->best[idx] == NONE)
			h->matched++;
		h->best[idx] = (uint32_t)h->n;
		if ((rc = keep_pg_row(h, cells + 1, what)))
			break;
	}
	if (rc > 0)
		rc = 0;
done:
	fs_pg_cols_free(cols, ncols);
	fs_pg_close(pg);
	sb_release(&sql);
	sb_release(&in);
	sb_release(&ref);
	free(foid);
	free(pwhat);
	free(what);
	return rc;
}

/* ---- grouping and the merge ---- */

struct gent {
	int64_t ts;
	uint32_t idx;
};

static int cmp_gent(const void *a, const void *b)
{
	const struct gent *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Sort unless already in order (sources are often written in time order). */
static void sort_run(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	size_t i;
	char *p = base;

	for (i = 1; i < n; i++)
		if (cmp(p + (i - 1) * size, p + i * size) > 0)
			break;
	if (i < n)
		qsort(base, n, size, cmp);
}

/* Prefix sums of per-key counts: start[k]..start[k+1] is key k's group. */
static size_t *group_starts(const uint32_t *key, size_t n, size_t nkeys)
{
	size_t *start = xcalloc(nkeys + 2, sizeof(*start)), i;

	for (i = 0; i < n; i++)
		if (key[i] != NONE)
			start[key[i] + 1]++;
	for (i = 0; i < nkeys; i++)
		start[i + 1] += start[i];
	return start;
}

/* ---- the as-of join: one pass over the source into the entity rows' buckets ---- */

/*
 * The entity rows that have a key, in (key, time, row) order: positions
 * start[k]..start[k+1] are key k's. A source row of key k at ts goes to
 * the bucket of the first position at or after ts, which keeps only its
 * greatest (ts, created, source order) row. The value of the row at a
 * position is then the greatest of its bucket and of those before it in
 * its key, when that is within the ttl. The source is never held, nor
 * sorted: one row per entity row is.
 */
struct buckets {
	size_t *start; /* per key */
	int64_t *ts;   /* per position: the entity row's time */
	uint32_t *row; /* per position: the entity row */
};

/* The greatest source row a bucket has seen. */
struct bbest {
	int64_t ts, cr;
	uint64_t seq; /* its place in the source, from 1; 0: none yet */
};

/* Greater in the join's order: time, then created, then the later row. */
static bool bbest_after(const struct bbest *x, const struct bbest *y)
{
	if (x->ts != y->ts)
		return x->ts > y->ts;
	if (x->cr != y->cr)
		return x->cr > y->cr;
	return x->seq > y->seq;
}

static void buckets_build(struct buckets *b, const struct hview *h, const struct erows *e)
{
	size_t nkeys = fs_keymap_size(h->keys), k, r, p, *fill;
	struct gent *E = xmalloc((e->n + 1) * sizeof(*E));

	b->start = group_starts(h->ekey, e->n, nkeys);
	fill = xmalloc((nkeys + 1) * sizeof(*fill));
	memcpy(fill, b->start, (nkeys + 1) * sizeof(*fill));
	for (r = 0; r < e->n; r++) {
		if (h->ekey[r] == NONE)
			continue;
		E[fill[h->ekey[r]]].ts = e->ts[r];
		E[fill[h->ekey[r]]++].idx = (uint32_t)r;
	}
	free(fill);
	for (k = 0; k < nkeys; k++)
		sort_run(E + b->start[k], b->start[k + 1] - b->start[k], sizeof(*E), cmp_gent);
	p = b->start[nkeys];
	b->ts = xmalloc((p + 1) * sizeof(*b->ts));
	b->row = xmalloc((p + 1) * sizeof(*b->row));
	for (r = 0; r < p; r++) {
		b->ts[r] = E[r].ts;
		b->row[r] = E[r].idx;
	}
	free(E);
}

static void buckets_release(struct buckets *b)
{
	free(b->start);
	free(b->ts);
	free(b->row);
}

/* A row read and checked, before its bucket is looked at. */
struct pending {
	int64_t ts, cr;
	uint64_t seq;
	uint64_t d; /* its dense key's index (see row_key), or UINT64_MAX */
	struct krange k;
};

/*
 * Rows are read in batches, and their buckets are looked at in stages
 * over the batch, so that the loads that miss the cache (a dense key's
 * entry, then the key's entity times and buckets) overlap.
 */
#define SCAN_BATCH 32

/* One pass over the source, or over half of it on a thread of its own. */
struct scan {
	struct hview *h; /* read only, but for the fields below */
	const struct buckets *b;
	struct fs_source *src;
	int tscol, crcol;
	const char *ts_field, *cr_field;
	uint64_t seq; /* the place of the row last read */
	/* per position: the bucket's greatest row, and its values (nfeats a position) */
	struct bbest *best;
	int64_t *vals; /* value, or offset in text */
	unsigned char *nulls;
	char *text;
	size_t text_len, text_alloc, text_limit;
	/* what the scan saw (see struct hview) */
	size_t rows, key_hits;
	int64_t src_min, src_max;
	bool any_before;
	/* a batch of rows read, checked, and waiting for their buckets */
	struct pending *pend;
	int64_t *iv; /* their values: parsed, or text's offset in ptext */
	size_t *tlen; /* and the text's length */
	bool *null;
	struct strbuf ptext;
	atomic_size_t *scanned; /* both halves' rows, for progress */
	bool report;            /* this one calls opts->progress */
	size_t reported;        /* the 2^20 rows it reported */
};

static void scan_init(struct scan *s, struct hview *h, const struct buckets *b, size_t npos,
		      atomic_size_t *scanned)
{
	memset(s, 0, sizeof(*s));
	s->h = h;
	s->b = b;
	s->best = xcalloc(npos + 1, sizeof(*s->best));
	s->vals = xcalloc(npos * h->nfeats + 1, sizeof(*s->vals));
	s->nulls = xcalloc(npos * h->nfeats + 1, 1);
	s->text_limit = 1 << 20;
	s->src_min = INT64_MAX;
	s->src_max = INT64_MIN;
	s->pend = xcalloc(SCAN_BATCH, sizeof(*s->pend));
	s->iv = xcalloc(SCAN_BATCH * h->nfeats + 1, sizeof(*s->iv));
	s->null = xcalloc(SCAN_BATCH * h->nfeats + 1, sizeof(*s->null));
	s->tlen = xcalloc(SCAN_BATCH * h->nfeats + 1, sizeof(*s->tlen));
	sb_init(&s->ptext);
	s->scanned = scanned;
}

static void scan_release(struct scan *s)
{
	fs_source_close(s->src);
	s->src = NULL;
	free(s->best);
	free(s->vals);
	free(s->nulls);
	free(s->text);
	free(s->pend);
	free(s->iv);
	free(s->null);
	free(s->tlen);
	sb_release(&s->ptext);
}

/*
 * Keep only the text the buckets still hold: a bucket's value replaced by
 * a greater row's leaves its old text behind.
 */
static void scan_compact_text(struct scan *s, size_t npos)
{
	const struct hview *h = s->h;
	char *old = s->text;
	size_t p, f;

	s->text = NULL;
	s->text_len = s->text_alloc = 0;
	for (p = 0; p < npos; p++) {
		if (!s->best[p].seq)
			continue;
		for (f = 0; f < h->nfeats; f++) {
			size_t slot = p * h->nfeats + f, len;
			const char *t;
			if (s->nulls[slot] || !fs_type_is_text(h->feats[f].type))
				continue;
			t = old + s->vals[slot];
			len = strlen(t);
			ALLOC_GROW(s->text, s->text_len + len + 1, s->text_alloc);
			memcpy(s->text + s->text_len, t, len + 1);
			s->vals[slot] = (int64_t)s->text_len;
			s->text_len += len + 1;
		}
	}
	free(old);
	s->text_limit = 2 * s->text_len + (1 << 20);
}

static void scan_put_text(struct scan *s, size_t slot, const char *t, size_t len)
{
	if (s->text_len + len + 1 > s->text_limit)
		scan_compact_text(s, s->b->start[fs_keymap_size(s->h->keys)]);
	ALLOC_GROW(s->text, s->text_len + len + 1, s->text_alloc);
	memcpy(s->text + s->text_len, t, len);
	s->text[s->text_len + len] = '\0';
	s->vals[slot] = (int64_t)s->text_len;
	s->text_len += len + 1;
}

/*
 * The positions of a row's key into *k (empty when the key is empty or no
 * entity row's), or for a dense int64 key its index in h->dense into *d
 * (the entry prefetched; UINT64_MAX when out of range).
 */
static int row_key(const struct hview *h, const struct buckets *b, struct strbuf *kb,
		   const struct fs_cell *cells, struct krange *k, uint64_t *d)
{
	const char *vals[64];
	size_t lens[64], i;
	uint32_t id;
	int rc;

	k->start = k->end = 0;
	*d = UINT64_MAX;
	if (h->dense) {
		const struct fs_cell *c = &cells[h->key_scol[0]];
		int64_t v;
		if (c->null || !c->len)
			return 0;
		if (fs_parse_int64(c->s, c->len, &v)) {
			*d = (uint64_t)v - (uint64_t)h->dense_lo;
			if (*d < h->dense_n)
				__builtin_prefetch(&h->dense[*d]);
			return 0;
		}
		/* not an int64: fs_key_encode says so */
	}
	for (i = 0; i < h->vkeys.n; i++) {
		const struct fs_cell *c = &cells[h->key_scol[i]];
		vals[i] = c->s;
		lens[i] = c->null ? 0 : c->len;
	}
	rc = fs_key_encode(&h->vkeys, kb, vals, lens);
	if (rc < 0)
		return rc;
	id = rc ? fs_keymap_find(h->keys, kb->buf, kb->len) : NONE;
	if (id != NONE) {
		k->start = (uint32_t)b->start[id];
		k->end = (uint32_t)b->start[id + 1];
	}
	return 0;
}

/* "where: message" for the row last read */
static int scan_error(struct scan *s)
{
	char where[512], msg[4096];

	snprintf(msg, sizeof(msg), "%s", fs_error_last());
	fs_source_where(s->src, where, sizeof(where));
	fs_error_set("%s: %s", where, msg);
	return FS_EINVALID;
}

static void scan_report(struct scan *s)
{
	report_rows(s->h, s->scanned, s->report, &s->reported);
}

/* Read and check one row into s->pend[j]: 0, or an error naming it. */
static int scan_read_row(struct scan *s, const struct fs_cell *cells, size_t j, struct strbuf *kb)
{
	const struct hview *h = s->h;
	const struct fs_cell *tc = &cells[s->tscol];
	struct pending *p = &s->pend[j];
	size_t nf = h->nfeats, i;

	p->seq = ++s->seq;
	p->cr = INT64_MIN;
	if (tc->null || !fs_time_parse(tc->s, tc->len, &p->ts)) {
		fs_error_set("column '%s': %s timestamp '%s' (expected " FS_TIME_FORMATS ")",
			     s->ts_field, tc->null ? "empty" : "bad", tc->s);
		return scan_error(s);
	}
	if (s->crcol >= 0 && !cells[s->crcol].null &&
	    !fs_time_parse(cells[s->crcol].s, cells[s->crcol].len, &p->cr)) {
		fs_error_set("column '%s': bad timestamp '%s' (expected " FS_TIME_FORMATS ")",
			     s->cr_field, cells[s->crcol].s);
		return scan_error(s);
	}
	if (row_key(h, s->b, kb, cells, &p->k, &p->d) < 0)
		return scan_error(s);
	if (!(++s->rows & 0xffff)) {
		atomic_fetch_add_explicit(s->scanned, 1 << 16, memory_order_relaxed);
		scan_report(s);
	}
	if (p->ts < s->src_min)
		s->src_min = p->ts;
	if (p->ts > s->src_max)
		s->src_max = p->ts;
	/* validate every value; keep text aside, a bucket may want it */
	for (i = 0; i < nf; i++) {
		const struct fs_cell *c = &cells[h->feats[i].col];
		enum fs_type t = h->feats[i].type;
		size_t v = j * nf + i;

		s->null[v] = c->null || (!c->len && t != FS_T_STRING);
		if (s->null[v])
			continue;
		if (!fs_value_parse(t, c->s, c->len, &s->iv[v])) {
			const char *tn = fs_type_name(t);
			fs_error_set("column '%s': '%s' is not %s %s (feature '%s' of feature_view '%s')",
				     s->src->columns[h->feats[i].col], c->s, tn[0] == 'i' ? "an" : "a",
				     tn, h->feats[i].name, h->view->name);
			return scan_error(s);
		}
		if (fs_type_is_text(t)) {
			s->iv[v] = (int64_t)s->ptext.len;
			s->tlen[v] = c->len;
			sb_add(&s->ptext, c->s, c->len);
			sb_addc(&s->ptext, '\0');
		}
	}
	return 0;
}

/* Start loading what placing row p will read: its key's entity times and first bucket. */
static void scan_prefetch(struct scan *s, struct pending *p)
{
	const struct hview *h = s->h;

	if (p->d < h->dense_n)
		p->k = h->dense[p->d];
	if (p->k.start < p->k.end) {
		__builtin_prefetch(&s->b->ts[p->k.start]);
		__builtin_prefetch(&s->best[p->k.start]);
		s->key_hits++;
	}
}

/* Put row p (the batch's j-th) into its bucket. */
static void scan_place_row(struct scan *s, const struct pending *p, size_t j)
{
	const struct hview *h = s->h;
	const struct buckets *b = s->b;
	size_t nf = h->nfeats, i, lo = p->k.start, hi = p->k.end;
	uint64_t ttl = (uint64_t)h->ttl_us;
	struct bbest *x;

	if (lo == hi)
		return;
	/* the first position at or after ts, unless its row's window starts later */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b->ts[mid] < p->ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == p->k.end)
		return;
	s->any_before = true;
	if (ttl && (uint64_t)b->ts[lo] - (uint64_t)p->ts > ttl)
		return;
	x = &s->best[lo];
	/* a row after it in the source wins a tie */
	if (x->seq && (p->ts < x->ts || (p->ts == x->ts && p->cr < x->cr)))
		return;
	x->ts = p->ts;
	x->cr = p->cr;
	x->seq = p->seq;
	for (i = 0; i < nf; i++) {
		size_t slot = lo * nf + i, v = j * nf + i;

		s->nulls[slot] = s->null[v];
		s->vals[slot] = 0;
		if (s->null[v])
			continue;
		if (fs_type_is_text(h->feats[i].type)) {
			scan_put_text(s, slot, s->ptext.buf + s->iv[v], s->tlen[v]);
		} else {
			s->vals[slot] = s->iv[v];
		}
	}
}

/*
 * Put the batch's n rows into their buckets, a row placed SCAN_AHEAD rows
 * after its loads were started: enough to overlap them, few enough that
 * they are not dropped.
 */
#define SCAN_AHEAD 8
static void scan_place(struct scan *s, size_t n)
{
	size_t j;

	for (j = 0; j < n + SCAN_AHEAD; j++) {
		if (j < n)
			scan_prefetch(s, &s->pend[j]);
		if (j >= SCAN_AHEAD && j - SCAN_AHEAD < n)
			scan_place_row(s, &s->pend[j - SCAN_AHEAD], j - SCAN_AHEAD);
	}
}

/* Read the source's rows into the buckets: 0, or an error naming the row. */
static int scan_rows(struct scan *s)
{
	struct strbuf kb = STRBUF_INIT;
	const struct fs_cell *cells;
	size_t n;
	int rc;

	do {
		sb_reset(&s->ptext);
		for (n = 0; n < SCAN_BATCH && (rc = fs_source_next(s->src, &cells)) == 1; n++)
			if (scan_read_row(s, cells, n, &kb) < 0) {
				rc = FS_EINVALID;
				goto done;
			}
		scan_place(s, n);
	} while (rc == 1);
done:
	atomic_fetch_add_explicit(s->scanned, s->rows & 0xffff, memory_order_relaxed);
	sb_release(&kb);
	return rc < 0 ? rc : 0;
}

static void *scan_thread(void *arg)
{
	struct scan *s = arg;
	intptr_t rc = scan_rows(s);

	return (void *)rc;
}

/* The second half's buckets into the first's: its rows come later in the source. */
static void scan_merge(struct scan *a, struct scan *b, size_t npos)
{
	const struct hview *h = a->h;
	size_t p, f;

	for (p = 0; p < npos; p++) {
		if (!b->best[p].seq || (a->best[p].seq && bbest_after(&a->best[p], &b->best[p])))
			continue;
		a->best[p] = b->best[p];
		for (f = 0; f < h->nfeats; f++) {
			size_t slot = p * h->nfeats + f;
			a->nulls[slot] = b->nulls[slot];
			if (!b->nulls[slot] && fs_type_is_text(h->feats[f].type)) {
				const char *t = b->text + b->vals[slot];
				scan_put_text(a, slot, t, strlen(t));
			} else {
				a->vals[slot] = b->vals[slot];
			}
		}
	}
	a->rows += b->rows;
	a->key_hits += b->key_hits;
	a->any_before |= b->any_before;
	if (b->src_min < a->src_min)
		a->src_min = b->src_min;
	if (b->src_max > a->src_max)
		a->src_max = b->src_max;
}

static bool use_threads(void)
{
	const char *env = getenv("FS_HISTORICAL_THREADS");

	if (env && *env)
		return atoi(env) > 1;
	return sysconf(_SC_NPROCESSORS_ONLN) > 1;
}

/* Open the source for a scan and find its columns. */
static int scan_open(struct scan *s, const struct fs_repo *repo, const struct fs_defs *defs)
{
	struct hview *h = s->h;
	const json_t *data = fs_source_data_spec(defs, h->source);
	size_t i;
	int rc;

	if ((rc = fs_source_open(&s->src, defs, h->source, repo->root)))
		return rc;
	s->ts_field = json_string_value(json_object_get(data, "timestamp_field"));
	s->cr_field = json_string_value(json_object_get(data, "created_timestamp_field"));
	s->crcol = -1;
	if ((s->tscol = source_col(s->src, data, s->ts_field, "timestamp_field", h->view->name)) < 0)
		return FS_EINVALID;
	if (s->cr_field && (s->crcol = source_col(s->src, data, s->cr_field,
						   "created_timestamp_field", h->view->name)) < 0)
		return FS_EINVALID;
	for (i = 0; i < h->vkeys.n; i++)
		if ((h->key_scol[i] = source_col(s->src, data, h->vkeys.names[i], "join key",
						 h->view->name)) < 0)
			return FS_EINVALID;
	for (i = 0; i < h->nfeats; i++)
		if ((h->feats[i].col = source_col(s->src, data, h->feats[i].name, "feature",
						  h->view->name)) < 0)
			return FS_EINVALID;
	return 0;
}

/*
 * Scan the source into the buckets: a csv file in two halves on two
 * threads, then the second's buckets merged into the first's; anything
 * else, or after any error (so that the message names the first bad row),
 * in one pass.
 */
static int scan_source(struct scan *a, const struct fs_repo *repo, const struct fs_defs *defs,
		       size_t npos)
{
	struct scan b;
	pthread_t tid;
	void *brc;
	int rc;

	if ((rc = scan_open(a, repo, defs)))
		return rc;
	if (!use_threads() || (rc = fs_source_split(a->src, &b.src)) > 0) {
		rc = scan_rows(a);
		scan_report(a);
		return rc;
	}
	if (rc == 0) {
		struct fs_source *src2 = b.src;
		scan_init(&b, a->h, a->b, npos, a->scanned);
		b.src = src2;
		b.tscol = a->tscol;
		b.crcol = a->crcol;
		b.ts_field = a->ts_field;
		b.cr_field = a->cr_field;
		b.seq = (uint64_t)1 << 40; /* after every row of the first half */
		a->report = true;
		if (!pthread_create(&tid, NULL, scan_thread, &b)) {
			rc = scan_rows(a);
			pthread_join(tid, &brc);
			if (!rc && !brc) {
				scan_report(a);
				scan_merge(a, &b, npos);
				scan_release(&b);
				return 0;
			}
		}
		scan_release(&b);
	}
	/* start over, on one thread */
	scan_release(a);
	scan_init(a, a->h, a->b, npos, a->scanned);
	a->report = true;
	atomic_store(a->scanned, 0);
	if ((rc = scan_open(a, repo, defs)))
		return rc;
	rc = scan_rows(a);
	scan_report(a);
	return rc;
}

/*
 * The as-of join of one view over a source fs reads (not PostgreSQL):
 * per entity row, h->best, the slot of its value in h->vals.
 */
static int asof_join(struct hview *h, const struct fs_repo *repo, const struct fs_defs *defs,
		     const struct erows *e, const struct fs_hist_opts *o, struct timespec *t0)
{
	struct buckets b = { 0 };
	struct scan s;
	atomic_size_t scanned;
	size_t nkeys = fs_keymap_size(h->keys), npos, k, p, r;
	uint64_t ttl = (uint64_t)h->ttl_us;
	int rc;

	buckets_build(&b, h, e);
	npos = b.start[nkeys];
	if (h->dense) {
		for (k = 0; k < h->dense_n; k++) {
			uint32_t id = h->dense[k].start;
			if (id == NONE) {
				h->dense[k].start = h->dense[k].end = 0;
				continue;
			}
			h->dense[k].start = (uint32_t)b.start[id];
			h->dense[k].end = (uint32_t)b.start[id + 1];
		}
	}
	lap(o, t0, "group entity rows");
	atomic_init(&scanned, 0);
	scan_init(&s, h, &b, npos, &scanned);
	s.report = true;
	h->src_seen = true;
	rc = scan_source(&s, repo, defs, npos);
	lap(o, t0, "scan source");
	if (rc)
		goto done;
	if (s.seq >= ((uint64_t)1 << 40)) {
		fs_error_set("feature_view '%s': too many source rows", h->view->name);
		rc = FS_ERR;
		goto done;
	}
	h->src_rows = s.rows;
	h->key_hits = s.key_hits;
	h->src_min = s.src_min;
	h->src_max = s.src_max;
	h->any_before = s.any_before;

	/* per row: the greatest of its bucket and the earlier ones of its key */
	h->best = xmalloc((e->n + 1) * sizeof(*h->best));
	for (r = 0; r < e->n; r++)
		h->best[r] = NONE;
	for (k = 0; k < nkeys; k++) {
		size_t run = SIZE_MAX;
		for (p = b.start[k]; p < b.start[k + 1]; p++) {
			if (s.best[p].seq && (run == SIZE_MAX || bbest_after(&s.best[p], &s.best[run])))
				run = p;
			if (run == SIZE_MAX || (ttl && (uint64_t)b.ts[p] - (uint64_t)s.best[run].ts > ttl))
				continue;
			h->best[b.row[p]] = (uint32_t)run;
			h->matched++;
		}
	}
	/* the values stay where the scan put them */
	h->n = npos;
	h->vals = s.vals;
	h->nulls = s.nulls;
	h->text = s.text;
	s.vals = NULL;
	s.nulls = NULL;
	s.text = NULL;
	lap(o, t0, "join");
done:
	scan_release(&s);
	buckets_release(&b);
	return rc;
}

/* ---- aggregation views: the windows, one pass over (key, time) ---- */

/*
 * Events are read in batches, and the filter's loads (a dense key's id,
 * the key's first position, its entity times) are started a few rows
 * ahead of their use, so that their cache misses overlap (see scan_place).
 */
#define AGG_BATCH 32
#define AGG_AHEAD 8

/* An event read, its values kept aside, before the filter looks at it. */
struct apend {
	int64_t ts, cr;
	uint64_t d;    /* its dense key's index, or UINT64_MAX */
	uint32_t id;   /* its key's id, NONE: no entity row's */
	size_t lo, hi; /* its key's positions */
};

/* The events of an aggregation view's source, or of half of it on a thread of its own. */
struct aggscan {
	struct hview *h; /* read only */
	const struct buckets *b; /* the entity rows by key */
	const struct fs_aggview *av;
	int64_t reach;
	struct fs_viewscan *scan;
	struct fs_agg_events *events;
	/* what the scan saw (see struct hview) */
	size_t rows, key_hits;
	int64_t src_min, src_max;
	bool any_before;
	atomic_size_t *scanned;
	bool report;
	size_t reported;
	/* a batch read: AGG_BATCH events of ncols values, their text in ptext */
	struct apend *pend;
	struct fs_scan_value *pval;
	size_t *ptoff; /* a value's text in ptext, or SIZE_MAX */
	struct strbuf ptext;
};

/* Does an aggregated column of type t hand its value over as text (see fs_agg_value_from_scan)? */
static bool agg_text_col(enum fs_type t)
{
	return t == FS_T_STRING || t == FS_T_FLOAT32 || t == FS_T_FLOAT64;
}

/* Read one event into a->pend[j]: 1, 0 at the end, or an error naming its row. */
static int agg_read(struct aggscan *a, size_t j)
{
	const struct hview *h = a->h;
	const struct strbuf *key;
	const struct fs_scan_value *vals;
	struct apend *p = &a->pend[j];
	size_t nc = a->av->ncols, c;
	int rc;

	if ((rc = fs_viewscan_next(a->scan, &key, &p->ts, &p->cr, &vals)) != 1)
		return rc;
	if (!(++a->rows & 0xffff)) {
		atomic_fetch_add_explicit(a->scanned, 1 << 16, memory_order_relaxed);
		report_rows(h, a->scanned, a->report, &a->reported);
	}
	if (p->ts < a->src_min)
		a->src_min = p->ts;
	if (p->ts > a->src_max)
		a->src_max = p->ts;
	p->d = UINT64_MAX;
	p->id = NONE;
	p->lo = p->hi = 0;
	if (key && h->dense && key->len == sizeof(int64_t)) {
		int64_t v;
		memcpy(&v, key->buf, sizeof(v));
		p->d = (uint64_t)v - (uint64_t)h->dense_lo;
		if (p->d < h->dense_n)
			__builtin_prefetch(&h->dense[p->d]);
	} else if (key) {
		p->id = fs_keymap_find(h->keys, key->buf, key->len);
	}
	/* the values, their text copied: the row's cells go with the next read */
	for (c = 0; c < nc; c++) {
		struct fs_scan_value *v = &a->pval[j * nc + c];
		*v = vals[c];
		a->ptoff[j * nc + c] = SIZE_MAX;
		if (v->null || !agg_text_col(a->av->col_types[c]))
			continue;
		a->ptoff[j * nc + c] = a->ptext.len;
		sb_add(&a->ptext, v->text, v->len);
		sb_addc(&a->ptext, '\0');
	}
	return 1;
}

/* The key's id from its dense entry; start loading its positions. */
static void agg_stage_id(struct aggscan *a, struct apend *p)
{
	const struct hview *h = a->h;

	if (p->d < h->dense_n)
		p->id = h->dense[p->d].start;
	if (p->id != NONE)
		__builtin_prefetch(&a->b->start[p->id]);
}

/* The key's positions; start loading their times. */
static void agg_stage_range(struct aggscan *a, struct apend *p)
{
	if (p->id == NONE)
		return;
	p->lo = a->b->start[p->id];
	p->hi = a->b->start[p->id + 1];
	if (p->lo < p->hi)
		__builtin_prefetch(&a->b->ts[p->lo]);
}

/*
 * Keep event j when it falls in a window of an entity row of its key: when
 * the first such row after it (struct buckets: the key's rows in time
 * order) is at most the reach (the largest window and hop) later, which
 * most events of a long source are not.
 */
static void agg_place(struct aggscan *a, const struct apend *p, size_t j)
{
	const int64_t *ts = a->b->ts;
	size_t nc = a->av->ncols, lo = p->lo, hi = p->hi, c;

	if (p->id == NONE)
		return;
	a->key_hits++;
	/* the first entity row after the event */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ts[mid] <= p->ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* one at or after it: the event is not later than every row of its key */
	a->any_before |= lo < p->hi || (p->hi > p->lo && ts[p->hi - 1] == p->ts);
	if (lo == p->hi || (uint64_t)ts[lo] - (uint64_t)p->ts > (uint64_t)a->reach)
		return;
	for (c = 0; c < nc; c++)
		if (a->ptoff[j * nc + c] != SIZE_MAX)
			a->pval[j * nc + c].text = a->ptext.buf + a->ptoff[j * nc + c];
	fs_agg_events_add(a->events, p->id, p->ts, p->cr, &a->pval[j * nc]);
}

static int agg_scan_rows(struct aggscan *a)
{
	size_t n, j, nc = a->av->ncols;
	int rc;

	a->src_min = INT64_MAX;
	a->src_max = INT64_MIN;
	a->pend = xcalloc(AGG_BATCH, sizeof(*a->pend));
	a->pval = xcalloc(AGG_BATCH * nc + 1, sizeof(*a->pval));
	a->ptoff = xcalloc(AGG_BATCH * nc + 1, sizeof(*a->ptoff));
	sb_init(&a->ptext);
	do {
		sb_reset(&a->ptext);
		for (n = 0; n < AGG_BATCH && (rc = agg_read(a, n)) == 1; n++)
			;
		if (rc < 0)
			break;
		/* three stages, AGG_AHEAD rows apart */
		for (j = 0; j < n + 2 * AGG_AHEAD; j++) {
			if (j < n)
				agg_stage_id(a, &a->pend[j]);
			if (j >= AGG_AHEAD && j - AGG_AHEAD < n)
				agg_stage_range(a, &a->pend[j - AGG_AHEAD]);
			if (j >= 2 * AGG_AHEAD && j - 2 * AGG_AHEAD < n)
				agg_place(a, &a->pend[j - 2 * AGG_AHEAD], j - 2 * AGG_AHEAD);
		}
	} while (rc == 1);
	atomic_fetch_add_explicit(a->scanned, a->rows & 0xffff, memory_order_relaxed);
	free(a->pend);
	free(a->pval);
	free(a->ptoff);
	sb_release(&a->ptext);
	a->pend = NULL;
	a->pval = NULL;
	a->ptoff = NULL;
	return rc < 0 ? rc : 0;
}

static void *agg_scan_thread(void *arg)
{
	intptr_t rc = agg_scan_rows(arg);

	return (void *)rc;
}

static void agg_scan_reset(struct aggscan *a)
{
	fs_viewscan_close(a->scan);
	fs_agg_events_free(a->events);
	a->scan = NULL;
	a->events = NULL;
	a->rows = a->key_hits = 0;
	a->any_before = false;
}

/*
 * Scan the source into a->events (and a->scan, the caller's to close): a
 * csv file in two halves on two threads, the second's events then put
 * after the first's; anything else, or after any error (so that the
 * message names the right line), in one pass.
 */
static int agg_scan_source(struct aggscan *a, const struct fs_repo *repo,
			   const struct fs_defs *defs)
{
	struct aggscan b;
	pthread_t tid;
	void *brc;
	int rc;

	a->report = true;
	if ((rc = fs_viewscan_open(&a->scan, defs, a->h->view, repo->root)))
		return rc;
	fs_viewscan_keys_optional(a->scan);
	a->events = fs_agg_events_new(a->av);
	if (!use_threads() || (rc = fs_viewscan_split(a->scan, defs, &b.scan)) > 0) {
		rc = agg_scan_rows(a);
		report_rows(a->h, a->scanned, a->report, &a->reported);
		return rc;
	}
	if (rc == 0) {
		struct fs_viewscan *scan2 = b.scan;
		memset(&b, 0, sizeof(b));
		b.h = a->h;
		b.b = a->b;
		b.av = a->av;
		b.reach = a->reach;
		b.scan = scan2;
		b.events = fs_agg_events_new(a->av);
		b.scanned = a->scanned;
		if (!pthread_create(&tid, NULL, agg_scan_thread, &b)) {
			rc = agg_scan_rows(a);
			pthread_join(tid, &brc);
			if (!rc && !brc) {
				size_t n = fs_keymap_size(a->h->keys), i;
				uint32_t *ids = xmalloc((n + 1) * sizeof(*ids));
				for (i = 0; i < n; i++)
					ids[i] = (uint32_t)i;
				report_rows(a->h, a->scanned, a->report, &a->reported);
				fs_agg_events_append(a->events, b.events, ids);
				free(ids);
				a->rows += b.rows;
				a->key_hits += b.key_hits;
				a->any_before |= b.any_before;
				if (b.src_min < a->src_min)
					a->src_min = b.src_min;
				if (b.src_max > a->src_max)
					a->src_max = b.src_max;
				agg_scan_reset(&b);
				return 0;
			}
		}
		agg_scan_reset(&b);
	}
	/* start over, on one thread */
	agg_scan_reset(a);
	atomic_store(a->scanned, 0);
	a->reported = 0;
	if ((rc = fs_viewscan_open(&a->scan, defs, a->h->view, repo->root)))
		return rc;
	fs_viewscan_keys_optional(a->scan);
	a->events = fs_agg_events_new(a->av);
	rc = agg_scan_rows(a);
	report_rows(a->h, a->scanned, a->report, &a->reported);
	return rc;
}

/*
 * Text results a walk on a thread of its own keeps apart from h->text
 * (offsets in text), with the slots they go to, until they are moved there.
 */
struct walktext {
	char *text;
	size_t len, alloc;
	size_t *slots;
	size_t nslots, slots_alloc;
};

/* Put one result into the output slot of entity row r, feature f (wt: see struct walktext). */
static void keep_result(struct hview *h, struct walktext *wt, size_t r, size_t f,
			const struct fs_agg *a, const struct fs_agg_result *res)
{
	size_t slot = r * h->nfeats + f;
	struct fs_scan_value sv;
	char buf[64];

	fs_agg_result_value(a, res, buf, sizeof(buf), &sv);
	h->nulls[slot] = sv.null;
	h->vals[slot] = 0;
	if (sv.null)
		return;
	if (!fs_type_is_text(a->result)) {
		h->vals[slot] = sv.iv;
	} else if (!wt) {
		text_add(h, slot, sv.text, sv.len);
	} else {
		ALLOC_GROW(wt->text, wt->len + sv.len + 1, wt->alloc);
		memcpy(wt->text + wt->len, sv.text, sv.len);
		wt->text[wt->len + sv.len] = '\0';
		h->vals[slot] = (int64_t)wt->len;
		wt->len += sv.len + 1;
		ALLOC_GROW(wt->slots, wt->nslots + 1, wt->slots_alloc);
		wt->slots[wt->nslots++] = slot;
	}
}

/* Move a walk's text results into h->text. */
static void walktext_move(struct hview *h, struct walktext *wt)
{
	size_t base = h->text_len, i;

	ALLOC_GROW(h->text, h->text_len + wt->len + 1, h->text_alloc);
	if (wt->len)
		memcpy(h->text + h->text_len, wt->text, wt->len);
	h->text_len += wt->len;
	for (i = 0; i < wt->nslots; i++)
		h->vals[wt->slots[i]] += (int64_t)base;
	free(wt->text);
	free(wt->slots);
	memset(wt, 0, sizeof(*wt));
}

/* Does a window of one of the view's requested aggregations hold an event? */
static bool any_present(const struct hview *h, const size_t *fmap, const struct fs_agg_result *res)
{
	size_t i;

	for (i = 0; i < h->nfeats; i++)
		if (res[fmap[i]].present)
			return true;
	return false;
}

/* The walk over the keys [k0, k1) of an aggregation view (see agg_join). */
struct aggwalk {
	struct hview *h;
	const struct fs_aggview *av;
	const struct fs_agg_events *events;
	const size_t *fmap, *evs;
	const struct buckets *b; /* the entity rows by key */
	size_t k0, k1;
	size_t matched;
	struct walktext *wt; /* NULL: text results straight into h->text */
};

static void *agg_walk(void *arg)
{
	struct aggwalk *w = arg;
	struct hview *h = w->h;
	const struct fs_aggview *av = w->av;
	struct fs_agg_key *k = fs_agg_key_new(av);
	struct fs_agg_result *res = xcalloc(av->n + 1, sizeof(*res));
	struct fs_agg_value *in = xcalloc(av->ncols + 1, sizeof(*in));
	size_t i, j, c;
	int64_t ts, cr;

	/* one walk per key: the events before each row in its tiles, then a read */
	for (i = w->k0; i < w->k1; i++) {
		size_t x, n = 0;

		j = w->evs[i];
		if (w->b->start[i] == w->b->start[i + 1] || j == w->evs[i + 1])
			continue;
		fs_agg_key_clear(k);
		for (x = w->b->start[i]; x < w->b->start[i + 1]; x++) {
			int64_t t = w->b->ts[x];
			for (; j < w->evs[i + 1]; j++) {
				fs_agg_events_get(w->events, j, &ts, &cr, in);
				if (ts >= t)
					break;
				fs_agg_key_add(k, ts, cr, in);
				n++;
			}
			if (!n)
				continue; /* no event before this row: the empty window */
			if (!((x - w->b->start[i]) & 15))
				fs_agg_key_prune(k, t);
			fs_agg_key_read(k, t, res);
			w->matched += any_present(h, w->fmap, res);
			for (c = 0; c < h->nfeats; c++)
				keep_result(h, w->wt, w->b->row[x], c, &av->aggs[w->fmap[c]],
					    &res[w->fmap[c]]);
		}
	}
	fs_agg_key_free(k);
	free(res);
	free(in);
	return NULL;
}

/*
 * The aggregation features of every entity row: the events of the keys
 * asked for, sorted by (key, ts, created, order), walked with the entity
 * rows of the same key in time order; each row reads the tiles the events
 * before it filled (fs_agg_key, as the online store holds them).
 */
static int agg_join(struct hview *h, const struct fs_repo *repo, const struct fs_defs *defs,
		    const struct erows *e, const struct fs_hist_opts *o, struct timespec *t0)
{
	struct fs_aggview av;
	struct fs_viewscan *scan = NULL;
	struct fs_agg_events *events = NULL;
	struct fs_agg_key *k = NULL;
	struct fs_agg_result *res = NULL, *empty = NULL;
	struct fs_agg_value *in = NULL;
	struct buckets b = { 0 };
	size_t *fmap = NULL, nkeys, i, j, r;
	const size_t *evs;
	struct aggscan as = { 0 };
	atomic_size_t scanned;
	int64_t reach;
	int rc;

	if ((rc = fs_aggview_load(&av, h->view->spec)))
		return rc;
	reach = av.max_window_us + av.max_hop_us;
	fmap = xcalloc(h->nfeats + 1, sizeof(*fmap));
	for (i = 0; i < h->nfeats; i++)
		for (j = 0; j < av.n; j++)
			if (!strcmp(av.aggs[j].name, h->feats[i].name))
				fmap[i] = j;
	/* the entity rows by key, each key's in time order */
	buckets_build(&b, h, e);
	lap(o, t0, "group entity rows");
	/* the events that fall in some row's window, kept compact */
	atomic_init(&scanned, 0);
	as.h = h;
	as.b = &b;
	as.av = &av;
	as.reach = reach;
	as.scanned = &scanned;
	h->src_seen = true;
	rc = agg_scan_source(&as, repo, defs);
	lap(o, t0, "scan source");
	events = as.events;
	scan = as.scan;
	if (rc < 0)
		goto done;
	if (fs_agg_events_count(events) >= NONE - 1) {
		fs_error_set("feature_view '%s': too many matching events", h->view->name);
		rc = FS_ERR;
		goto done;
	}
	h->src_rows = as.rows;
	h->key_hits = as.key_hits;
	h->src_min = as.src_min;
	h->src_max = as.src_max;
	h->any_before = as.any_before;
	rc = 0;
	nkeys = fs_keymap_size(h->keys);
	evs = fs_agg_events_group(events, nkeys, true, use_threads());
	lap(o, t0, "group events");

	/* every row first gets the values of an empty window */
	h->n = e->n;
	h->vals = xcalloc(e->n * h->nfeats + 1, sizeof(*h->vals));
	h->nulls = xcalloc(e->n * h->nfeats + 1, 1);
	h->best = xmalloc((e->n + 1) * sizeof(*h->best));
	k = fs_agg_key_new(&av);
	res = xcalloc(av.n + 1, sizeof(*res));
	empty = xcalloc(av.n + 1, sizeof(*empty));
	in = xcalloc(av.ncols + 1, sizeof(*in));
	fs_agg_key_read(k, 0, empty);
	for (r = 0; r < e->n; r++) {
		h->best[r] = (uint32_t)r;
		for (i = 0; i < h->nfeats; i++)
			keep_result(h, NULL, r, i, &av.aggs[fmap[i]], &empty[fmap[i]]);
	}

	/*
	 * The keys walked in two halves of about as many events, the second
	 * on a thread of its own: keys are independent, and each entity row
	 * belongs to one key.
	 */
	{
		struct aggwalk w[2];
		struct walktext wt = { 0 };
		size_t mid = 0;
		pthread_t tid;
		bool threaded;

		while (mid < nkeys && evs[mid] < evs[nkeys] / 2)
			mid++;
		for (i = 0; i < 2; i++) {
			w[i] = (struct aggwalk){ .h = h, .av = &av, .events = events, .fmap = fmap,
						 .evs = evs, .b = &b };
		}
		w[0].k0 = 0;
		w[0].k1 = mid;
		w[1].k0 = mid;
		w[1].k1 = nkeys;
		w[1].wt = &wt;
		threaded = use_threads() && mid > 0 && mid < nkeys &&
			   !pthread_create(&tid, NULL, agg_walk, &w[1]);
		if (!threaded) {
			w[0].k1 = nkeys;
			w[1].k0 = w[1].k1 = nkeys;
		}
		agg_walk(&w[0]);
		if (threaded)
			pthread_join(tid, NULL);
		walktext_move(h, &wt);
		h->matched += w[0].matched + w[1].matched;
	}
done:
	fs_viewscan_close(scan);
	fs_agg_events_free(events);
	fs_agg_key_free(k);
	fs_aggview_release(&av);
	free(res);
	free(empty);
	free(in);
	buckets_release(&b);
	free(fmap);
	return rc;
}

/* ---- aggregation views on a postgres source: the partials in PostgreSQL ---- */

/* "((x) / h - CASE WHEN (x) % h < 0 THEN 1 ELSE 0 END)": floor(x / h) */
static void sql_floor_div(struct strbuf *sb, const char *x, int64_t h)
{
	sb_addf(sb, "((%s) / %lld - CASE WHEN (%s) %% %lld < 0 THEN 1 ELSE 0 END)", x,
		(long long)h, x, (long long)h);
}

/*
 * The partial aggregate columns of aggregation a over the rows of s that
 * pass cond (SQL, or NULL): events, newest, n, then what its function
 * needs (see parse_partial).
 */
static void partial_sql(struct strbuf *sb, const struct fs_aggview *av, size_t a,
			const unsigned int *coid, const char *cond)
{
	const struct fs_agg *ag = &av->aggs[a];
	char col[32], filt[512], nn[600];
	const char *coll = ag->col >= 0 && ag->type == FS_T_STRING ? " COLLATE \"C\"" : "";
	struct strbuf e = STRBUF_INIT;

	snprintf(col, sizeof(col), "s.c%d", ag->col);
	snprintf(filt, sizeof(filt), "%s%s%s", cond ? " FILTER (WHERE " : "", cond ? cond : "",
		 cond ? ")" : "");
	snprintf(nn, sizeof(nn), " FILTER (WHERE %s IS NOT NULL%s%s)", col, cond ? " AND " : "",
		 cond ? cond : "");
	sb_addf(sb, ", count(*)%s, max(s.fs__ts)%s", filt, filt);
	if (ag->col < 0) {
		sb_addf(sb, ", count(*)%s", filt);
		return;
	}
	sb_addf(sb, ", count(%s)%s", col, filt);
	switch (ag->fn) {
	case FS_AGG_SUM:
		if (ag->result == FS_T_INT64)
			sb_addf(sb, ", (sum(%s::bigint)%s)::text", col, filt);
		else
			sb_addf(sb, ", sum(%s::float8)%s", col, filt);
		break;
	case FS_AGG_AVG:
		sb_addf(sb, ", sum(%s::float8)%s", col, filt);
		break;
	case FS_AGG_VAR:
	case FS_AGG_STDDEV:
		sb_addf(sb, ", avg(%s::float8)%s, var_pop(%s::float8)%s * count(%s)%s", col, filt,
			col, filt, col, filt);
		break;
	case FS_AGG_MIN:
	case FS_AGG_MAX:
		sb_addf(&e, "%s(%s%s)%s", ag->fn == FS_AGG_MIN ? "min" : "max", col, coll, filt);
		sb_adds(sb, ", ");
		fs_pg_text_expr(sb, e.buf, coid[ag->col]);
		break;
	case FS_AGG_FIRST:
	case FS_AGG_LAST: {
		const char *dir = ag->fn == FS_AGG_FIRST ? "" : " DESC";
		const char *nulls = ag->fn == FS_AGG_FIRST ? "FIRST" : "LAST";
		char order[256];
		snprintf(order, sizeof(order), "ORDER BY s.fs__ts%s, s.fs__cr%s NULLS %s, %s%s%s", dir,
			 dir, nulls, col, coll, dir);
		sb_addf(&e, "(array_agg(%s %s)%s)[1]", col, order, nn);
		sb_adds(sb, ", ");
		fs_pg_text_expr(sb, e.buf, coid[ag->col]);
		sb_addf(sb, ", (array_agg(s.fs__ts %s)%s)[1], (array_agg(s.fs__cr %s)%s)[1]", order,
			nn, order, nn);
		break;
	}
	default:
		break;
	}
	sb_release(&e);
}

/* The number of columns partial_sql gives for aggregation a. */
static size_t partial_ncols(const struct fs_agg *ag)
{
	if (ag->col < 0)
		return 3;
	switch (ag->fn) {
	case FS_AGG_SUM:
	case FS_AGG_AVG:
	case FS_AGG_MIN:
	case FS_AGG_MAX:
		return 4;
	case FS_AGG_VAR:
	case FS_AGG_STDDEV:
		return 5;
	case FS_AGG_FIRST:
	case FS_AGG_LAST:
		return 6;
	default:
		return 3;
	}
}

static bool cell_int(const struct fs_cell *c, int64_t *v)
{
	*v = 0;
	return c->null || fs_parse_int64(c->s, c->len, v);
}

static bool cell_double(const struct fs_cell *c, double *d)
{
	char buf[64], *end;

	*d = 0;
	if (c->null)
		return true;
	if (c->len >= sizeof(buf))
		return false;
	memcpy(buf, c->s, c->len);
	buf[c->len] = '\0';
	*d = strtod(buf, &end);
	return end != buf;
}

/* A value of the column's type from its text (strings point into the cell). */
static bool cell_value(const struct fs_cell *c, enum fs_type t, struct fs_agg_value *v)
{
	memset(v, 0, sizeof(*v));
	if (c->null)
		return true;
	if (t == FS_T_STRING) {
		v->s = c->s;
		v->len = c->len;
		return true;
	}
	if (t == FS_T_FLOAT32 || t == FS_T_FLOAT64)
		return cell_double(c, &v->d);
	return fs_value_parse(t, c->s, c->len, &v->i);
}

/* Cells of one aggregation's partial (partial_sql) into p. */
static bool parse_partial(const struct fs_agg *ag, const struct fs_cell *c, struct fs_agg_partial *p)
{
	bool ok;

	memset(p, 0, sizeof(*p));
	ok = cell_int(&c[0], &p->events) && cell_int(&c[1], &p->newest) && cell_int(&c[2], &p->n);
	if (!ok || ag->col < 0)
		return ok;
	switch (ag->fn) {
	case FS_AGG_SUM:
		return ag->result == FS_T_INT64 ? cell_int(&c[3], &p->isum) : cell_double(&c[3], &p->dsum);
	case FS_AGG_AVG:
		return cell_double(&c[3], &p->dsum);
	case FS_AGG_VAR:
	case FS_AGG_STDDEV:
		return cell_double(&c[3], &p->mean) && cell_double(&c[4], &p->m2);
	case FS_AGG_MIN:
	case FS_AGG_MAX:
		return cell_value(&c[3], ag->type, &p->v);
	case FS_AGG_FIRST:
	case FS_AGG_LAST:
		if (!cell_value(&c[3], ag->type, &p->v) || !cell_int(&c[4], &p->vts))
			return false;
		p->vcr = INT64_MIN;
		return c[5].null || fs_parse_int64(c[5].s, c[5].len, &p->vcr);
	default:
		return true;
	}
}

/* The key id of a result row whose first cells are the join keys (as text); NONE if unknown. */
static uint32_t pg_key_id(const struct hview *h, struct strbuf *kb, const struct fs_cell *cells)
{
	const char *kv[64];
	size_t kl[64], i;

	for (i = 0; i < h->vkeys.n && i < 64; i++) {
		kv[i] = cells[i].s;
		kl[i] = cells[i].null ? 0 : cells[i].len;
	}
	if (fs_key_encode(&h->vkeys, kb, kv, kl) != 1)
		return NONE;
	return fs_keymap_find(h->keys, kb->buf, kb->len);
}

/*
 * Aggregation features of a view whose source is in PostgreSQL. The
 * events never leave it: PostgreSQL aggregates them into partials, per
 * (key, tile of the smallest hop) for the complete tiles and per entity
 * row for the events of its current tile before it, and fs merges those
 * partials with the same kernel as everywhere (fs_agg_key_read_split).
 * approx_count_distinct gets each tile's distinct values (its registers
 * are fs's own hash).
 */
static int agg_pg_join(struct hview *h, const struct fs_repo *repo, const struct fs_defs *defs,
		       const struct erows *e)
{
	const json_t *data = fs_source_data_spec(defs, h->source);
	const char *sname = json_string_value(json_object_get(h->source, "name"));
	struct strbuf sql = STRBUF_INIT, in = STRBUF_INIT, q = STRBUF_INIT, kb = STRBUF_INIT;
	char *pwhat = fs_pg_what(data), *what = xstrfmt("source '%s' (%s)", sname, pwhat);
	struct fs_aggview av;
	struct fs_pg *pg = NULL;
	struct fs_pg_col *cols = NULL;
	struct fs_agg_key **keys = NULL, **cur = NULL, *none = NULL;
	struct fs_agg_result *res = NULL;
	unsigned int *coid = NULL;
	size_t ncols = 0, nkeys, *fmap = NULL, i, a, r, n, pass;
	const struct fs_cell *cells;
	int64_t minhop, maxhop;
	const char *col;
	int rc;

	if ((rc = fs_aggview_load(&av, h->view->spec))) {
		free(pwhat);
		free(what);
		return rc;
	}
	minhop = av.max_hop_us;
	for (a = 0; a < av.n; a++)
		if (av.aggs[a].hop_us < minhop)
			minhop = av.aggs[a].hop_us;
	maxhop = av.max_hop_us;
	nkeys = fs_keymap_size(h->keys);
	keys = xcalloc(nkeys + 1, sizeof(*keys));
	for (i = 0; i < nkeys; i++)
		keys[i] = fs_agg_key_new(&av);
	cur = xcalloc(e->n + 1, sizeof(*cur));
	coid = xcalloc(av.ncols + 1, sizeof(*coid));
	fmap = xcalloc(h->nfeats + 1, sizeof(*fmap));
	for (i = 0; i < h->nfeats; i++)
		for (a = 0; a < av.n; a++)
			if (!strcmp(av.aggs[a].name, h->feats[i].name))
				fmap[i] = a;
	if ((rc = pg_source_open(repo, data, what, &pg, &cols, &ncols)))
		goto done;

	/* the source: keys, times, the aggregated columns, raw */
	if ((rc = pg_source_select(&sql, h, pg, data, cols, ncols, what)))
		goto done;
	rc = FS_EINVALID;
	for (i = 0; i < av.ncols; i++) {
		if (!(coid[i] = pg_col(data, cols, ncols, av.cols[i], "an aggregated column", what, &col)))
			goto done;
		sb_adds(&sql, ", ");
		fs_pg_ident(&sql, pg, col);
		sb_addf(&sql, " AS c%zu", i);
	}
	sb_adds(&sql, " FROM ");
	fs_pg_from(&sql, pg, data);

	/* the entity rows (with their tile of the largest hop), and each key's reach */
	sb_reset(&q);
	pg_entities_table(&q, h);
	if ((rc = fs_pg_exec(pg, "SET work_mem = '256MB'")) || (rc = fs_pg_exec(pg, q.buf)))
		goto done;
	/* b: the tile of the largest hop, which holds every aggregation's current tile */
	entity_copy_data(h, e, &in, maxhop, 1);
	if ((rc = fs_pg_copy_in(pg, "COPY fs_entities FROM STDIN", in.buf, in.len)) ||
	    (rc = fs_pg_exec(pg, "ANALYZE fs_entities")))
		goto done;
	sb_reset(&q);
	sb_adds(&q, "CREATE TEMP TABLE fs_keys AS SELECT ");
	key_list(&q, h);
	sb_addf(&q, ", min(ts) - %lld AS lo, max(ts) AS hi FROM fs_entities GROUP BY ",
		(long long)(av.max_window_us + maxhop));
	key_list(&q, h);
	if ((rc = fs_pg_exec(pg, q.buf)) || (rc = fs_pg_exec(pg, "ANALYZE fs_keys")))
		goto done;

	/*
	 * pass 0: complete tiles, per (key, tile of the smallest hop);
	 * pass 1: per entity row, the events of its current tile before it
	 */
	for (pass = 0; pass < 2; pass++) {
		size_t want = pass ? 1 : h->vkeys.n + 1;
		sb_reset(&q);
		sb_adds(&q, "COPY (SELECT ");
		if (pass == 0) {
			for (i = 0; i < h->vkeys.n; i++)
				sb_addf(&q, "s.k%zu::text, ", i);
			sql_floor_div(&q, "s.fs__ts", minhop);
		} else {
			sb_adds(&q, "e.idx");
		}
		for (a = 0; a < av.n; a++) {
			char cond[256], fl[200];
			struct strbuf f = STRBUF_INIT;
			sql_floor_div(&f, "e.ts", av.aggs[a].hop_us);
			snprintf(fl, sizeof(fl), "%s", f.buf);
			sb_release(&f);
			snprintf(cond, sizeof(cond), "s.fs__ts >= %s * %lld", fl,
				 (long long)av.aggs[a].hop_us);
			partial_sql(&q, &av, a, coid, pass ? cond : NULL);
			want += partial_ncols(&av.aggs[a]);
		}
		sb_addf(&q, " FROM (%s) s JOIN ", sql.buf);
		if (pass == 0) {
			sb_adds(&q, "fs_keys e ON s.fs__ts >= e.lo AND s.fs__ts < e.hi");
			keys_equal(&q, h);
			sb_adds(&q, " GROUP BY ");
			for (i = 0; i < h->vkeys.n; i++)
				sb_addf(&q, "s.k%zu, ", i);
			sql_floor_div(&q, "s.fs__ts", minhop);
			sb_adds(&q, " ORDER BY 1");
		} else {
			sb_adds(&q, "fs_entities e ON ");
			sql_floor_div(&q, "s.fs__ts", maxhop);
			sb_adds(&q, " = e.b AND s.fs__ts < e.ts");
			keys_equal(&q, h);
			sb_adds(&q, " GROUP BY e.idx");
		}
		sb_adds(&q, ") TO STDOUT");
		if ((rc = fs_pg_copy_out(pg, q.buf)))
			goto done;
		while ((rc = fs_pg_copy_row(pg, &cells, &n)) == 1) {
			struct fs_agg_key *k;
			int64_t idx, tile;
			size_t off;

			if (n != want) {
				rc = FS_ERR;
				break;
			}
			if (pass == 0) {
				uint32_t id = pg_key_id(h, &kb, cells);
				if (id == NONE ||
				    !fs_parse_int64(cells[h->vkeys.n].s, cells[h->vkeys.n].len, &tile)) {
					rc = FS_ERR;
					break;
				}
				k = keys[id];
				off = h->vkeys.n + 1;
			} else {
				if (!fs_parse_int64(cells[0].s, cells[0].len, &idx) || idx < 0 ||
				    (size_t)idx >= e->n) {
					rc = FS_ERR;
					break;
				}
				if (!cur[idx])
					cur[idx] = fs_agg_key_new(&av);
				k = cur[idx];
				tile = floor_div(e->ts[idx], minhop);
				off = 1;
			}
			for (a = 0; a < av.n; a++) {
				const struct fs_agg *ag = &av.aggs[a];
				struct fs_agg_partial p;
				int64_t t = floor_div(tile * minhop, ag->hop_us);
				if (!parse_partial(ag, cells + off, &p)) {
					rc = FS_ERR;
					break;
				}
				if (p.events)
					fs_agg_key_put(k, a, t, &p);
				off += partial_ncols(ag);
			}
			if (rc == FS_ERR)
				break;
		}
		if (rc == FS_ERR) {
			fs_error_set("%s: unexpected result row from PostgreSQL", what);
			goto done;
		}
		if (rc < 0)
			goto done;
	}

	/* approx_count_distinct: the distinct values, per tile and per row */
	for (a = 0; a < av.n; a++) {
		const struct fs_agg *ag = &av.aggs[a];
		if (ag->fn != FS_AGG_APPROX_COUNT_DISTINCT)
			continue;
		for (pass = 0; pass < 2; pass++) {
			char c[32];
			snprintf(c, sizeof(c), "s.c%d", ag->col);
			sb_reset(&q);
			sb_adds(&q, "COPY (SELECT DISTINCT ");
			if (pass == 0) {
				for (i = 0; i < h->vkeys.n; i++)
					sb_addf(&q, "s.k%zu::text, ", i);
				sql_floor_div(&q, "s.fs__ts", ag->hop_us);
			} else {
				sb_adds(&q, "e.idx");
			}
			sb_adds(&q, ", ");
			fs_pg_text_expr(&q, c, coid[ag->col]);
			sb_addf(&q, " FROM (%s) s JOIN ", sql.buf);
			if (pass == 0) {
				sb_adds(&q, "fs_keys e ON s.fs__ts >= e.lo AND s.fs__ts < e.hi");
			} else {
				sb_adds(&q, "fs_entities e ON ");
				sql_floor_div(&q, "s.fs__ts", maxhop);
				sb_addf(&q, " = e.b AND s.fs__ts < e.ts AND s.fs__ts >= ");
				sql_floor_div(&q, "e.ts", ag->hop_us);
				sb_addf(&q, " * %lld", (long long)ag->hop_us);
			}
			keys_equal(&q, h);
			sb_addf(&q, " WHERE %s IS NOT NULL) TO STDOUT", c);
			if ((rc = fs_pg_copy_out(pg, q.buf)))
				goto done;
			while ((rc = fs_pg_copy_row(pg, &cells, &n)) == 1) {
				struct fs_agg_value v;
				struct fs_agg_key *k;
				int64_t idx, tile;
				size_t vi = pass ? 1 : h->vkeys.n + 1;

				if (n != vi + 1 || !cell_value(&cells[vi], ag->type, &v)) {
					rc = FS_ERR;
					break;
				}
				if (pass == 0) {
					uint32_t id = pg_key_id(h, &kb, cells);
					if (id == NONE ||
					    !fs_parse_int64(cells[h->vkeys.n].s, cells[h->vkeys.n].len,
							    &tile)) {
						rc = FS_ERR;
						break;
					}
					k = keys[id];
				} else {
					if (!fs_parse_int64(cells[0].s, cells[0].len, &idx) || idx < 0 ||
					    (size_t)idx >= e->n) {
						rc = FS_ERR;
						break;
					}
					if (!cur[idx])
						cur[idx] = fs_agg_key_new(&av);
					k = cur[idx];
					tile = floor_div(e->ts[idx], ag->hop_us);
				}
				fs_agg_key_put_distinct(k, a, tile, &v);
			}
			if (rc == FS_ERR) {
				fs_error_set("%s: unexpected result row from PostgreSQL", what);
				goto done;
			}
			if (rc < 0)
				goto done;
		}
	}
	rc = 0;

	/* every row: its key's tiles before its own, and its own tile's events before it */
	h->n = e->n;
	h->vals = xcalloc(e->n * h->nfeats + 1, sizeof(*h->vals));
	h->nulls = xcalloc(e->n * h->nfeats + 1, 1);
	h->best = xmalloc((e->n + 1) * sizeof(*h->best));
	res = xcalloc(av.n + 1, sizeof(*res));
	none = fs_agg_key_new(&av);
	for (r = 0; r < e->n; r++) {
		h->best[r] = (uint32_t)r;
		if (h->ekey[r] == NONE)
			fs_agg_key_read(none, e->ts[r], res);
		else
			fs_agg_key_read_split(keys[h->ekey[r]], cur[r] ? cur[r] : none, e->ts[r], res);
		h->matched += any_present(h, fmap, res);
		for (i = 0; i < h->nfeats; i++)
			keep_result(h, NULL, r, i, &av.aggs[fmap[i]], &res[fmap[i]]);
	}
done:
	for (i = 0; keys && i < nkeys; i++)
		fs_agg_key_free(keys[i]);
	for (r = 0; cur && r < e->n; r++)
		fs_agg_key_free(cur[r]);
	fs_agg_key_free(none);
	free(keys);
	free(cur);
	free(res);
	free(coid);
	free(fmap);
	fs_pg_cols_free(cols, ncols);
	fs_pg_close(pg);
	fs_aggview_release(&av);
	sb_release(&sql);
	sb_release(&in);
	sb_release(&q);
	sb_release(&kb);
	free(pwhat);
	free(what);
	return rc;
}

/* ---- output ---- */

struct outcol {
	struct hview *h;
	size_t feat;
	const char *name;
};

static void flush(struct strbuf *sb, FILE *out, bool force)
{
	if (sb->len >= (1 << 20) || (force && sb->len)) {
		fwrite(sb->buf, 1, sb->len, out);
		sb_reset(sb);
	}
}

/*
 * An entity row (its fields, NUL-separated, len bytes) as CSV when none of
 * its fields needs quotes: the bytes copied, each NUL a comma. False (and
 * nothing written) when one does.
 */
static bool write_plain_row(struct strbuf *sb, const char *row, size_t len)
{
	char *to;
	size_t i;

	sb_grow(sb, len + 1);
	to = sb->buf + sb->len;
	for (i = 0; i < len; i++) {
		char ch = row[i];
		if (ch == ',' || ch == '"' || ch == '\n' || ch == '\r')
			return false;
		to[i] = ch ? ch : ',';
	}
	sb->len += len;
	sb->buf[sb->len] = '\0';
	return true;
}

static void write_csv(const struct erows *e, const struct outcol *cols, size_t ncols, FILE *out)
{
	struct strbuf sb = STRBUF_INIT;
	size_t r, c;

	for (c = 0; c < e->ncols; c++) {
		if (c)
			sb_addc(&sb, ',');
		fs_csv_quote(&sb, e->cols[c], strlen(e->cols[c]));
	}
	for (c = 0; c < ncols; c++) {
		sb_addc(&sb, ',');
		fs_csv_quote(&sb, cols[c].name, strlen(cols[c].name));
	}
	sb_addc(&sb, '\n');
	for (r = 0; r < e->n; r++) {
		/* the row's fields are back to back in the arena, each ended by a NUL */
		const char *row = efield(e, r, 0);
		size_t len = (r + 1 < e->n ? e->off[(r + 1) * e->ncols] : e->arena_len) -
			     e->off[r * e->ncols] - 1;

		if (!write_plain_row(&sb, row, len)) {
			for (c = 0; c < e->ncols; c++) {
				const char *v = efield(e, r, c);
				if (c)
					sb_addc(&sb, ',');
				fs_csv_quote(&sb, v, strlen(v));
			}
		}
		for (c = 0; c < ncols; c++) {
			const struct hview *h = cols[c].h;
			uint32_t b = h->best[r];
			size_t slot;

			sb_addc(&sb, ',');
			if (b == NONE)
				continue;
			slot = (size_t)b * h->nfeats + cols[c].feat;
			if (h->nulls[slot])
				continue;
			if (fs_type_is_text(h->feats[cols[c].feat].type)) {
				const char *t = h->text + h->vals[slot];
				fs_value_csv(&sb, h->feats[cols[c].feat].type, 0, t, strlen(t));
			} else {
				fs_value_csv(&sb, h->feats[cols[c].feat].type, h->vals[slot], NULL, 0);
			}
		}
		sb_addc(&sb, '\n');
		flush(&sb, out, false);
	}
	flush(&sb, out, true);
	sb_release(&sb);
}

static void write_json(const struct erows *e, struct hview *views, size_t nviews,
		       const struct outcol *cols, size_t ncols, FILE *out)
{
	struct strbuf sb = STRBUF_INIT;
	size_t r, c, v, k;

	for (r = 0; r < e->n; r++) {
		sb_addc(&sb, '{');
		for (c = 0; c < e->ncols; c++) {
			const char *s = efield(e, r, c);
			int64_t iv;
			bool num = false;

			/* join keys of int64 entities as numbers, other columns as text */
			for (v = 0; v < nviews && !num; v++)
				for (k = 0; k < views[v].vkeys.n && !num; k++)
					num = views[v].key_ecol[k] == (int)c && views[v].vkeys.is_int[k] &&
					      fs_parse_int64(s, strlen(s), &iv);
			if (c)
				sb_addc(&sb, ',');
			fs_json_quote(&sb, e->cols[c], strlen(e->cols[c]));
			sb_addc(&sb, ':');
			if (num)
				fs_value_json(&sb, FS_T_INT64, iv, NULL, 0);
			else if (*s)
				fs_json_quote(&sb, s, strlen(s));
			else
				sb_adds(&sb, "null");
		}
		for (c = 0; c < ncols; c++) {
			const struct hview *h = cols[c].h;
			uint32_t b = h->best[r];
			size_t slot = (size_t)b * h->nfeats + cols[c].feat;
			enum fs_type t = h->feats[cols[c].feat].type;

			sb_addc(&sb, ',');
			fs_json_quote(&sb, cols[c].name, strlen(cols[c].name));
			sb_addc(&sb, ':');
			if (b == NONE || h->nulls[slot]) {
				sb_adds(&sb, "null");
			} else if (fs_type_is_text(t)) {
				const char *text = h->text + h->vals[slot];
				fs_value_json(&sb, t, 0, text, strlen(text));
			} else {
				fs_value_json(&sb, t, h->vals[slot], NULL, 0);
			}
		}
		sb_adds(&sb, "}\n");
		flush(&sb, out, false);
	}
	flush(&sb, out, true);
	sb_release(&sb);
}

/* ---- what a run found ---- */

/* A data time for messages: the date alone at midnight, as entity rows often give it. */
static void format_time(char *buf, int64_t us)
{
	fs_time_format_us(buf, us);
	if (us % (86400 * FS_USEC) == 0)
		buf[10] = '\0';
}

/*
 * Why a view matched no entity row, from what the scan noted (a pass over
 * the entity rows, only for such a view); NULL when it cannot tell.
 */
static char *why_none(const struct hview *h, const struct erows *e)
{
	const char *sname = json_string_value(json_object_get(h->source, "name"));
	/* aggregations reach back by their windows, not the ttl */
	int64_t ttl = fs_view_is_agg(h->view->spec) ? 0 : h->ttl_us;
	int64_t emin = INT64_MAX, emax = INT64_MIN;
	char lo[FS_TIME_BUFSZ], hi[FS_TIME_BUFSZ], at[FS_TIME_BUFSZ], dur[64];
	char times[2 * FS_TIME_BUFSZ + 64];
	struct strbuf keys = STRBUF_INIT;
	bool earlier = false;
	size_t r, i;

	if (!h->src_seen || !e->n)
		return NULL;
	if (!h->src_rows)
		return xstrfmt("source '%s' has no rows", sname);
	for (r = 0; r < e->n; r++) {
		if (e->ts[r] < emin)
			emin = e->ts[r];
		if (e->ts[r] > emax)
			emax = e->ts[r];
	}
	format_time(lo, emin);
	format_time(hi, emax);
	if (emin == emax)
		snprintf(times, sizeof(times), "the entity rows' time (%s) is", lo);
	else
		snprintf(times, sizeof(times), "the entity rows' times (%s .. %s) are", lo, hi);
	fs_duration_format(dur, sizeof(dur), ttl / FS_USEC);
	if (emax < h->src_min) {
		format_time(at, h->src_min);
		return xstrfmt("%s before the first event of source '%s' (%s)", times, sname, at);
	}
	if (ttl > 0 && emin > h->src_max && emin - h->src_max > ttl) {
		format_time(at, h->src_max);
		return xstrfmt("%s more than the view's ttl %s after the last event of source '%s' (%s)",
			       times, dur, sname, at);
	}
	if (!h->key_hits) {
		char *msg;
		for (i = 0; i < h->vkeys.n; i++)
			sb_addf(&keys, "%s%s", i ? ", " : "", h->vkeys.names[i]);
		msg = xstrfmt(h->vkeys.n > 1 ? "none of the entity rows' (%s) values occur in source '%s'"
					     : "none of the entity rows' %s values occur in source '%s'",
			      keys.buf, sname);
		sb_release(&keys);
		return msg;
	}
	earlier = h->any_before;
	if (!earlier)
		return xstrfmt("every entity row is before the first event of its key in source '%s'",
			       sname);
	if (ttl > 0)
		return xstrfmt("every match is older than the view's ttl %s", dur);
	return NULL;
}

static void fill_stats(struct fs_hist_stats *st, const struct hview *views, size_t nviews,
		       const struct erows *e)
{
	size_t i;

	st->rows = e->n;
	st->nviews = nviews;
	st->views = xcalloc(nviews + 1, sizeof(*st->views));
	for (i = 0; i < nviews; i++) {
		st->views[i].view = xstrdup(views[i].view->name);
		st->views[i].matched = views[i].matched;
		if (!views[i].matched)
			st->views[i].why = why_none(&views[i], e);
	}
}

void fs_hist_stats_release(struct fs_hist_stats *st)
{
	size_t i;

	if (!st)
		return;
	for (i = 0; i < st->nviews; i++) {
		free(st->views[i].view);
		free(st->views[i].why);
	}
	free(st->views);
	memset(st, 0, sizeof(*st));
}

int fs_historical(struct fs_repo *repo, const struct fs_hist_opts *o, FILE *out,
		  struct fs_hist_stats *stats)
{
	struct timespec t0;
	struct fs_defs defs = { 0 };
	struct erows e = { 0 };
	struct hview *views = NULL;
	struct outcol *cols = NULL;
	json_t *refs = NULL, *it;
	size_t nviews = 0, i, j;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((rc = fs_registry_load(repo->registry, &defs)))
		return rc;
	if ((rc = fs_resolve_refs(&defs, repo->root, o->refs, o->nrefs, o->full_names, &refs)))
		goto done;
	lap(o, &t0, "registry");
	if ((rc = read_entities(&e, o->entities, o->ts_column ? o->ts_column : "event_timestamp")))
		goto done;
	lap(o, &t0, "read entity rows");
	views = xcalloc(json_array_size(refs) + 1, sizeof(*views));
	cols = xcalloc(json_array_size(refs) + 1, sizeof(*cols));
	json_array_foreach(refs, i, it) {
		const char *vname = json_string_value(json_object_get(it, "view"));
		const char *col = json_string_value(json_object_get(it, "column"));
		struct hview *h = NULL;

		if (ecol(&e, col) >= 0) {
			fs_error_set("%s: column '%s' is also the name of a requested feature: rename it or use --full-feature-names",
				     e.name, col);
			rc = FS_EINVALID;
			goto done;
		}
		for (j = 0; j < nviews; j++)
			if (!strcmp(views[j].view->name, vname))
				h = &views[j];
		if (!h) {
			h = &views[nviews++];
			rc = setup_view(h, &defs, fs_defs_find(&defs, FS_KIND_FEATURE_VIEW, vname), &e);
			if (rc)
				goto done;
			h->opts = o;
			h->feats = xcalloc(json_array_size(refs), sizeof(*h->feats));
		}
		h->feats[h->nfeats].name = json_string_value(json_object_get(it, "feature"));
		fs_type_parse(&h->feats[h->nfeats].type, json_string_value(json_object_get(it, "type")));
		cols[i].h = h;
		cols[i].feat = h->nfeats++;
		cols[i].name = col;
	}
	for (i = 0; i < nviews; i++) {
		if ((rc = key_entities(&views[i], &e)))
			goto done;
		lap(o, &t0, "key entity rows");
		if (fs_view_is_agg(views[i].view->spec)) {
			rc = in_postgres(&defs, views[i].source)
				     ? agg_pg_join(&views[i], repo, &defs, &e)
				     : agg_join(&views[i], repo, &defs, &e, o, &t0);
			if (rc)
				goto done;
			lap(o, &t0, "aggregations");
			continue;
		}
		if (in_postgres(&defs, views[i].source)) {
			if ((rc = pg_join(&views[i], repo, &defs, &e)))
				goto done;
			lap(o, &t0, "join in postgres");
			continue;
		}
		if ((rc = asof_join(&views[i], repo, &defs, &e, o, &t0)))
			goto done;
	}
	if (o->json)
		write_json(&e, views, nviews, cols, json_array_size(refs), out);
	else
		write_csv(&e, cols, json_array_size(refs), out);
	if (fflush(out) || ferror(out)) {
		fs_error_set("cannot write the training set: %s", strerror(errno));
		rc = FS_ERR;
	}
	lap(o, &t0, "write");
	if (!rc && stats)
		fill_stats(stats, views, nviews, &e);
done:
	for (i = 0; i < nviews; i++)
		hview_free(&views[i]);
	free(views);
	free(cols);
	erows_free(&e);
	json_decref(refs);
	fs_defs_release(&defs);
	return rc;
}
