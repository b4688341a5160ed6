#include "agg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "timeutil.h"
#include "util.h"
#include "banned.h"

const char *const fs_agg_fn_names[] = {
	"count", "sum", "avg", "min", "max", "first", "last", "var", "stddev",
	"approx_count_distinct", NULL,
};

int fs_agg_fn_parse(enum fs_agg_fn *out, const char *name)
{
	size_t i;

	for (i = 0; fs_agg_fn_names[i]; i++) {
		if (!strcmp(fs_agg_fn_names[i], name)) {
			*out = (enum fs_agg_fn)i;
			return 0;
		}
	}
	return FS_ENOTFOUND;
}

bool fs_agg_fn_numeric(enum fs_agg_fn fn)
{
	return fn == FS_AGG_SUM || fn == FS_AGG_AVG || fn == FS_AGG_VAR || fn == FS_AGG_STDDEV;
}

bool fs_type_is_numeric(enum fs_type t)
{
	return t == FS_T_INT32 || t == FS_T_INT64 || t == FS_T_FLOAT32 || t == FS_T_FLOAT64;
}

static bool is_float(enum fs_type t)
{
	return t == FS_T_FLOAT32 || t == FS_T_FLOAT64;
}

enum fs_type fs_agg_result_type(enum fs_agg_fn fn, enum fs_type t, bool has_column)
{
	switch (fn) {
	case FS_AGG_COUNT:
	case FS_AGG_APPROX_COUNT_DISTINCT:
		return FS_T_INT64;
	case FS_AGG_SUM:
		return t == FS_T_INT32 || t == FS_T_INT64 ? FS_T_INT64 : FS_T_FLOAT64;
	case FS_AGG_AVG:
	case FS_AGG_VAR:
	case FS_AGG_STDDEV:
		return FS_T_FLOAT64;
	default:
		return has_column ? t : FS_T_INT64;
	}
}

int64_t fs_agg_default_hop(int64_t window_s)
{
	static const int64_t hops[] = { 86400, 3600, 300, 60 };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(hops); i++)
		if (window_s % hops[i] == 0 && window_s / hops[i] >= 24)
			return hops[i];
	return 1;
}

bool fs_view_is_agg(const json_t *view_spec)
{
	return json_object_get(view_spec, "aggregations") != NULL;
}

int fs_aggview_load(struct fs_aggview *v, const json_t *spec)
{
	json_t *aggs = json_object_get(spec, "aggregations"), *a;
	size_t i, j;

	memset(v, 0, sizeof(*v));
	if (!json_is_array(aggs) || !json_array_size(aggs)) {
		fs_error_set("feature view has no aggregations");
		return FS_EINVALID;
	}
	v->n = json_array_size(aggs);
	v->aggs = xcalloc(v->n, sizeof(*v->aggs));
	v->cols = xcalloc(v->n + 1, sizeof(*v->cols));
	v->col_types = xcalloc(v->n + 1, sizeof(*v->col_types));
	json_array_foreach(aggs, i, a) {
		struct fs_agg *g = &v->aggs[i];
		const char *col = json_string_value(json_object_get(a, "column"));
		const char *type = json_string_value(json_object_get(a, "type"));

		g->name = json_string_value(json_object_get(a, "name"));
		if (fs_agg_fn_parse(&g->fn, json_string_value(json_object_get(a, "function"))) ||
		    fs_type_parse(&g->type, type ? type : "float64")) {
			fs_error_set("feature view: aggregation '%s' is malformed", g->name);
			fs_aggview_release(v);
			return FS_EINVALID;
		}
		g->window_us = json_integer_value(json_object_get(a, "window")) * FS_USEC;
		g->hop_us = json_integer_value(json_object_get(a, "hop")) * FS_USEC;
		if (g->window_us <= 0 || g->hop_us <= 0 || g->window_us % g->hop_us) {
			fs_error_set("feature view: aggregation '%s' has a bad window", g->name);
			fs_aggview_release(v);
			return FS_EINVALID;
		}
		g->col = -1;
		if (col) {
			for (j = 0; j < v->ncols; j++)
				if (!strcmp(v->cols[j], col))
					break;
			if (j == v->ncols) {
				v->cols[j] = col;
				v->col_types[j] = g->type;
				v->ncols++;
			}
			g->col = (int)j;
			g->type = v->col_types[j]; /* one type per column */
		}
		g->result = fs_agg_result_type(g->fn, g->type, col != NULL);
		if (g->window_us > v->max_window_us)
			v->max_window_us = g->window_us;
		if (g->hop_us > v->max_hop_us)
			v->max_hop_us = g->hop_us;
	}
	return 0;
}

void fs_aggview_release(struct fs_aggview *v)
{
	free(v->aggs);
	free(v->cols);
	free(v->col_types);
	memset(v, 0, sizeof(*v));
}

/* ---- values and partial aggregates ---- */

struct val {
	int64_t i;   /* int, bool, timestamp */
	double d;    /* float */
	char *s;     /* string (owned) */
	uint32_t len;
};

/* One tile of one aggregation. */
struct tile {
	int64_t idx;    /* start = idx * hop */
	int64_t events; /* every event of the key in the tile */
	int64_t newest; /* the newest event's ts */
	int64_t n;      /* non-null values */
	int64_t isum;
	double dsum;
	double mean, m2; /* var, stddev: Welford, merged with Chan's formula */
	struct val v;    /* min, max, first, last */
	int64_t vts, vcr; /* first, last: the event's (ts, created) */
	uint8_t *hll;    /* FS_HLL_REGS registers, or NULL */
};

struct tiles {
	struct tile *t;
	size_t n, alloc;
};

struct fs_agg_key {
	const struct fs_aggview *v;
	struct tiles *per; /* per aggregation, tiles in idx order */
	int64_t newest;
	int64_t horizon; /* fs_agg_key_set_horizon */
	/*
	 * Per aggregation, the tile of the newest event without the events at
	 * exactly its time: what a read at that very time merges in its place
	 * (the window ends before t). Valid while before_ok.
	 */
	struct tile *before;
	bool before_ok;
};

static void val_free(struct val *x)
{
	free(x->s);
	x->s = NULL;
	x->len = 0;
}

static void val_copy(struct val *dst, const struct val *src)
{
	dst->i = src->i;
	dst->d = src->d;
	if (src->s || dst->s) {
		free(dst->s);
		dst->s = src->s ? xstrndup(src->s, src->len) : NULL;
	}
	dst->len = src->len;
}

/* <0, 0, >0 as a is less than, equal to or greater than b (values of type t). */
static int val_cmp(enum fs_type t, const struct val *a, const struct val *b)
{
	if (t == FS_T_STRING) {
		size_t n = a->len < b->len ? a->len : b->len;
		int c = n ? memcmp(a->s, b->s, n) : 0;
		return c ? c : (a->len > b->len) - (a->len < b->len);
	}
	if (is_float(t))
		return (a->d > b->d) - (a->d < b->d);
	return (a->i > b->i) - (a->i < b->i);
}

static void tile_free(struct tile *t)
{
	val_free(&t->v);
	free(t->hll);
	t->hll = NULL;
}

static void tile_reset(struct tile *t, int64_t idx)
{
	tile_free(t);
	memset(t, 0, sizeof(*t));
	t->idx = idx;
	t->newest = INT64_MIN;
}

uint64_t fs_agg_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

static void hll_add(struct tile *t, enum fs_type type, const struct val *x)
{
	unsigned char b[8];
	uint64_t h, w, u;
	unsigned rank;
	size_t i;

	if (!t->hll)
		t->hll = xcalloc(FS_HLL_REGS, 1);
	if (type == FS_T_STRING) {
		h = fs_agg_hash(x->s, x->len);
	} else {
		if (is_float(type)) {
			double d = x->d == 0 ? 0.0 : x->d;
			memcpy(&u, &d, 8);
		} else {
			u = (uint64_t)x->i;
		}
		for (i = 0; i < 8; i++)
			b[i] = (unsigned char)(u >> (8 * i));
		h = fs_agg_hash(b, 8);
	}
	w = h & ((UINT64_C(1) << 50) - 1);
	rank = w ? (unsigned)(__builtin_clzll(w) - 14 + 1) : 51;
	if (t->hll[h >> 50] < rank)
		t->hll[h >> 50] = (uint8_t)rank;
}

static int64_t hll_estimate(const uint8_t *regs)
{
	const double m = FS_HLL_REGS;
	unsigned __int128 s = 0;
	size_t j, zeros = 0;
	double e, alpha = 0.7213 / (1 + 1.079 / m);

	if (!regs)
		return 0;
	for (j = 0; j < FS_HLL_REGS; j++) {
		s += (unsigned __int128)1 << (51 - regs[j]);
		zeros += !regs[j];
	}
	if (zeros == FS_HLL_REGS)
		return 0;
	e = alpha * m * m / ldexp((double)s, -51);
	if (e <= 2.5 * m && zeros)
		e = m * log(m / (double)zeros);
	return (int64_t)floor(e + 0.5);
}

void fs_agg_value_from_scan(struct fs_agg_value *out, enum fs_type t,
			    const struct fs_scan_value *sv)
{
	memset(out, 0, sizeof(*out));
	out->null = sv->null;
	if (sv->null)
		return;
	if (t == FS_T_STRING) {
		out->s = sv->text;
		out->len = sv->len;
	} else if (is_float(t)) {
		char buf[64];
		size_t l = sv->len < sizeof(buf) - 1 ? sv->len : sizeof(buf) - 1;
		memcpy(buf, sv->text, l);
		buf[l] = '\0';
		out->d = strtod(buf, NULL);
	} else {
		out->i = sv->iv;
	}
}

/* The value of column a->col in vals, as a struct val (borrowing strings). */
static bool event_val(const struct fs_agg *a, const struct fs_agg_value *vals, struct val *x)
{
	const struct fs_agg_value *v = &vals[a->col];

	if (v->null)
		return false;
	x->i = v->i;
	x->d = v->d;
	x->s = (char *)v->s;
	x->len = (uint32_t)v->len;
	return true;
}

static double val_num(enum fs_type t, const struct val *x)
{
	return is_float(t) ? x->d : (double)x->i;
}

/* Does (ts, cr, x) come before (t->vts, t->vcr, t->v)? */
static int event_cmp(const struct fs_agg *a, int64_t ts, int64_t cr, const struct val *x,
		     int64_t ots, int64_t ocr, const struct val *o)
{
	if (ts != ots)
		return ts < ots ? -1 : 1;
	if (cr != ocr)
		return cr < ocr ? -1 : 1;
	return val_cmp(a->type, x, o);
}

/* x (a borrowed value) into tile t. */
static void tile_add_value(const struct fs_agg *a, struct tile *t, int64_t ts, int64_t cr,
			   const struct val *x)
{
	double d, delta;
	bool take;

	t->n++;
	switch (a->fn) {
	case FS_AGG_SUM:
		if (a->result == FS_T_INT64)
			t->isum = (int64_t)((uint64_t)t->isum + (uint64_t)x->i);
		else
			t->dsum += val_num(a->type, x);
		break;
	case FS_AGG_AVG:
		t->dsum += val_num(a->type, x);
		break;
	case FS_AGG_VAR:
	case FS_AGG_STDDEV:
		d = val_num(a->type, x);
		delta = d - t->mean;
		t->mean += delta / (double)t->n;
		t->m2 += delta * (d - t->mean);
		break;
	case FS_AGG_MIN:
	case FS_AGG_MAX:
		take = t->n == 1 || (a->fn == FS_AGG_MIN ? val_cmp(a->type, x, &t->v) < 0
							 : val_cmp(a->type, x, &t->v) > 0);
		if (take)
			val_copy(&t->v, x);
		break;
	case FS_AGG_FIRST:
	case FS_AGG_LAST:
		take = t->n == 1;
		if (!take) {
			int c = event_cmp(a, ts, cr, x, t->vts, t->vcr, &t->v);
			take = a->fn == FS_AGG_FIRST ? c < 0 : c > 0;
		}
		if (take) {
			val_copy(&t->v, x);
			t->vts = ts;
			t->vcr = cr;
		}
		break;
	case FS_AGG_APPROX_COUNT_DISTINCT:
		hll_add(t, a->type, x);
		break;
	case FS_AGG_COUNT:
		break;
	}
}

/* Merge partial b into a (a's events come first in tile order). */
static void tile_merge(const struct fs_agg *ag, struct tile *a, const struct tile *b)
{
	size_t j;

	if (!b->events)
		return;
	a->events += b->events;
	if (b->newest > a->newest)
		a->newest = b->newest;
	if (!b->n)
		return;
	switch (ag->fn) {
	case FS_AGG_SUM:
		a->isum = (int64_t)((uint64_t)a->isum + (uint64_t)b->isum);
		a->dsum += b->dsum;
		break;
	case FS_AGG_AVG:
		a->dsum += b->dsum;
		break;
	case FS_AGG_VAR:
	case FS_AGG_STDDEV:
		if (!a->n) {
			a->mean = b->mean;
			a->m2 = b->m2;
		} else {
			double n = (double)(a->n + b->n), delta = b->mean - a->mean;
			a->mean += delta * (double)b->n / n;
			a->m2 += b->m2 + delta * delta * (double)a->n * (double)b->n / n;
		}
		break;
	case FS_AGG_MIN:
	case FS_AGG_MAX:
		if (!a->n || (ag->fn == FS_AGG_MIN ? val_cmp(ag->type, &b->v, &a->v) < 0
						  : val_cmp(ag->type, &b->v, &a->v) > 0))
			val_copy(&a->v, &b->v);
		break;
	case FS_AGG_FIRST:
	case FS_AGG_LAST:
		if (!a->n) {
			val_copy(&a->v, &b->v);
			a->vts = b->vts;
			a->vcr = b->vcr;
		} else {
			int c = event_cmp(ag, b->vts, b->vcr, &b->v, a->vts, a->vcr, &a->v);
			if (ag->fn == FS_AGG_FIRST ? c < 0 : c > 0) {
				val_copy(&a->v, &b->v);
				a->vts = b->vts;
				a->vcr = b->vcr;
			}
		}
		break;
	case FS_AGG_APPROX_COUNT_DISTINCT:
		if (b->hll) {
			if (!a->hll)
				a->hll = xcalloc(FS_HLL_REGS, 1);
			for (j = 0; j < FS_HLL_REGS; j++)
				if (b->hll[j] > a->hll[j])
					a->hll[j] = b->hll[j];
		}
		break;
	case FS_AGG_COUNT:
		break;
	}
	a->n += b->n;
}

/* dst (freed first) becomes an empty tile idx with src's events merged in. */
static void tile_copy(const struct fs_agg *ag, struct tile *dst, int64_t idx, const struct tile *src)
{
	tile_reset(dst, idx);
	if (src)
		tile_merge(ag, dst, src);
}

/* ---- the tiles of a key ---- */

struct fs_agg_key *fs_agg_key_new(const struct fs_aggview *v)
{
	struct fs_agg_key *k = xcalloc(1, sizeof(*k));

	k->v = v;
	k->per = xcalloc(v->n + 1, sizeof(*k->per));
	k->before = xcalloc(v->n + 1, sizeof(*k->before));
	k->newest = INT64_MIN;
	k->horizon = INT64_MIN;
	return k;
}

void fs_agg_key_clear(struct fs_agg_key *k)
{
	size_t a, i;

	for (a = 0; a < k->v->n; a++) {
		for (i = 0; i < k->per[a].n; i++)
			tile_free(&k->per[a].t[i]);
		k->per[a].n = 0;
		tile_free(&k->before[a]);
	}
	k->newest = INT64_MIN;
	k->before_ok = false;
}

void fs_agg_key_free(struct fs_agg_key *k)
{
	size_t a;

	if (!k)
		return;
	fs_agg_key_clear(k);
	for (a = 0; a < k->v->n; a++)
		free(k->per[a].t);
	free(k->per);
	free(k->before);
	free(k);
}

void fs_agg_key_set_horizon(struct fs_agg_key *k, int64_t t)
{
	k->horizon = t;
}

int64_t fs_agg_key_newest(const struct fs_agg_key *k)
{
	return k->newest;
}

bool fs_agg_key_empty(const struct fs_agg_key *k)
{
	return !fs_agg_key_ntiles(k);
}

size_t fs_agg_key_ntiles(const struct fs_agg_key *k)
{
	size_t a, n = 0;

	for (a = 0; a < k->v->n; a++)
		n += k->per[a].n;
	return n;
}

/* floor(a / b) for b > 0 */
static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

/* The position of the first tile of ts at or after idx. */
static size_t tile_pos(const struct tiles *ts, int64_t idx)
{
	size_t lo = 0, hi = ts->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ts->t[mid].idx < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The tile idx of ts, or NULL. */
static struct tile *tile_find(const struct tiles *ts, int64_t idx)
{
	size_t lo = tile_pos(ts, idx);

	return lo < ts->n && ts->t[lo].idx == idx ? &ts->t[lo] : NULL;
}

/* The tile idx of ts, found or inserted in order. */
static struct tile *tile_at(struct tiles *ts, int64_t idx)
{
	size_t lo;

	/* events mostly come in time order: try the last tile first */
	if (ts->n && ts->t[ts->n - 1].idx == idx)
		return &ts->t[ts->n - 1];
	if (ts->n && ts->t[ts->n - 1].idx < idx) {
		lo = ts->n;
	} else {
		lo = tile_pos(ts, idx);
		if (lo < ts->n && ts->t[lo].idx == idx)
			return &ts->t[lo];
	}
	ALLOC_GROW(ts->t, ts->n + 1, ts->alloc);
	memmove(ts->t + lo + 1, ts->t + lo, (ts->n - lo) * sizeof(*ts->t));
	ts->n++;
	memset(&ts->t[lo], 0, sizeof(ts->t[lo]));
	tile_reset(&ts->t[lo], idx);
	return &ts->t[lo];
}

/* x into tile t of aggregation ag (t->newest and the counts too). */
static void tile_add_event(const struct fs_agg *ag, struct tile *t, int64_t ts, int64_t cr,
			   const struct fs_agg_value *vals)
{
	struct val x;

	t->events++;
	if (ts > t->newest)
		t->newest = ts;
	if (ag->col >= 0 && event_val(ag, vals, &x))
		tile_add_value(ag, t, ts, cr, &x);
	else if (ag->col < 0)
		t->n++;
}

void fs_agg_key_add(struct fs_agg_key *k, int64_t ts, int64_t cr,
		    const struct fs_agg_value *vals)
{
	bool newer = ts > k->newest, first = k->newest == INT64_MIN;
	size_t a;

	for (a = 0; a < k->v->n; a++) {
		const struct fs_agg *ag = &k->v->aggs[a];
		int64_t idx = floor_div(ts, ag->hop_us);
		bool skip = k->horizon != INT64_MIN &&
			    idx < floor_div(k->horizon, ag->hop_us) - ag->window_us / ag->hop_us;

		/* the newest tile as it is before events at the newest time */
		if (newer)
			tile_copy(ag, &k->before[a], idx, tile_find(&k->per[a], idx));
		else if ((k->before_ok || first) && ts < k->newest && !skip &&
			 k->before[a].idx == idx)
			tile_add_event(ag, &k->before[a], ts, cr, vals);
		if (!skip)
			tile_add_event(ag, tile_at(&k->per[a], idx), ts, cr, vals);
	}
	if (newer) {
		k->newest = ts;
		k->before_ok = true;
	}
}

/* Keep the tiles i with keep(i): lo <= idx < hi. */
static void keep_range(struct tiles *ts, int64_t lo, int64_t hi)
{
	size_t i, j = 0;

	for (i = 0; i < ts->n; i++) {
		if (ts->t[i].idx >= lo && ts->t[i].idx < hi)
			ts->t[j++] = ts->t[i];
		else
			tile_free(&ts->t[i]);
	}
	ts->n = j;
}

static int64_t newest_tile(const struct fs_agg_key *k)
{
	int64_t newest = INT64_MIN;
	size_t a, i;

	for (a = 0; a < k->v->n; a++)
		for (i = 0; i < k->per[a].n; i++)
			if (k->per[a].t[i].newest > newest)
				newest = k->per[a].t[i].newest;
	return newest;
}

void fs_agg_key_prune(struct fs_agg_key *k, int64_t t)
{
	size_t a;

	for (a = 0; a < k->v->n; a++) {
		const struct fs_agg *ag = &k->v->aggs[a];
		keep_range(&k->per[a], floor_div(t, ag->hop_us) - ag->window_us / ag->hop_us,
			   INT64_MAX);
	}
}

void fs_agg_key_cut_before(struct fs_agg_key *k, int64_t end_us)
{
	int64_t was = k->newest;
	size_t a;

	for (a = 0; a < k->v->n; a++)
		keep_range(&k->per[a], floor_div(end_us, k->v->aggs[a].hop_us), INT64_MAX);
	k->newest = newest_tile(k);
	if (k->newest != was)
		k->before_ok = false;
}

void fs_agg_key_merge(struct fs_agg_key *k, const struct fs_agg_key *b)
{
	size_t a, i;

	/* the tile before the newest time: of the two, with the other's events in it */
	for (a = 0; a < k->v->n && b->newest != INT64_MIN; a++) {
		const struct fs_agg *ag = &k->v->aggs[a];
		const struct tile *kt, *bt;
		if (b->newest > k->newest) {
			int64_t idx = floor_div(b->newest, ag->hop_us);
			kt = tile_find(&k->per[a], idx);
			tile_copy(ag, &k->before[a], idx, &b->before[a]);
			if (kt)
				tile_merge(ag, &k->before[a], kt);
		} else if (b->newest < k->newest) {
			bt = tile_find(&b->per[a], k->before[a].idx);
			if (bt)
				tile_merge(ag, &k->before[a], bt);
		} else {
			tile_merge(ag, &k->before[a], &b->before[a]);
		}
	}
	if (b->newest > k->newest)
		k->before_ok = b->before_ok;
	else if (b->newest == k->newest)
		k->before_ok = k->before_ok && b->before_ok;
	for (a = 0; a < k->v->n; a++) {
		const struct fs_agg *ag = &k->v->aggs[a];
		for (i = 0; i < b->per[a].n; i++) {
			const struct tile *bt = &b->per[a].t[i];
			tile_merge(ag, tile_at(&k->per[a], bt->idx), bt);
		}
	}
	if (b->newest > k->newest)
		k->newest = b->newest;
}

static void finish(const struct fs_agg *ag, const struct tile *acc, struct fs_agg_result *r)
{
	memset(r, 0, sizeof(*r));
	r->present = acc->events > 0;
	r->event_ts = acc->newest;
	r->null = false;
	switch (ag->fn) {
	case FS_AGG_COUNT:
		r->iv = acc->n;
		break;
	case FS_AGG_SUM:
		if (ag->result == FS_T_INT64)
			r->iv = acc->isum;
		else
			r->d = acc->dsum;
		break;
	case FS_AGG_AVG:
		r->null = !acc->n;
		r->d = acc->n ? acc->dsum / (double)acc->n : 0;
		break;
	case FS_AGG_VAR:
	case FS_AGG_STDDEV:
		r->null = acc->n < 2;
		if (!r->null) {
			double var = acc->m2 / (double)(acc->n - 1);
			if (var < 0)
				var = 0;
			r->d = ag->fn == FS_AGG_VAR ? var : sqrt(var);
		}
		break;
	case FS_AGG_MIN:
	case FS_AGG_MAX:
	case FS_AGG_FIRST:
	case FS_AGG_LAST:
		r->null = !acc->n;
		r->iv = acc->v.i;
		r->d = acc->v.d;
		r->s = acc->v.s;
		r->len = acc->v.len;
		break;
	case FS_AGG_APPROX_COUNT_DISTINCT:
		r->iv = hll_estimate(acc->hll);
		break;
	}
}

/* Merge the tiles of ts with lo <= idx <= hi into acc, in order. */
static void merge_range(const struct fs_agg *ag, struct tile *acc, const struct tiles *ts,
			int64_t lo, int64_t hi)
{
	size_t i = ts->n;

	/* the first tile in the range, searched from the end (reads are recent) */
	while (i > 0 && ts->t[i - 1].idx >= lo)
		i--;
	for (; i < ts->n && ts->t[i].idx <= hi; i++)
		tile_merge(ag, acc, &ts->t[i]);
}

/* The value of a string result, pointing into the tiles of ts (acc's copy is freed). */
static const char *string_in(const struct tiles *ts, const char *s, size_t len)
{
	size_t j;

	for (j = 0; j < ts->n; j++)
		if (ts->t[j].v.s && ts->t[j].v.len == len && !memcmp(ts->t[j].v.s, s, len))
			return ts->t[j].v.s;
	return NULL;
}

static void read_tiles(const struct fs_agg_key *k, const struct fs_agg_key *cur_from, int64_t t,
		       struct fs_agg_result *out)
{
	size_t a;

	for (a = 0; a < k->v->n; a++) {
		const struct fs_agg *ag = &k->v->aggs[a];
		int64_t cur = floor_div(t, ag->hop_us), lo = cur - ag->window_us / ag->hop_us;
		struct tile acc;

		memset(&acc, 0, sizeof(acc));
		tile_reset(&acc, lo);
		if (cur_from) {
			merge_range(ag, &acc, &k->per[a], lo, cur - 1);
			merge_range(ag, &acc, &cur_from->per[a], cur, cur);
		} else if (t == k->newest && k->before_ok && k->before[a].idx == cur) {
			/* the window ends before t: not the events at exactly t */
			merge_range(ag, &acc, &k->per[a], lo, cur - 1);
			tile_merge(ag, &acc, &k->before[a]);
		} else {
			merge_range(ag, &acc, &k->per[a], lo, cur);
		}
		finish(ag, &acc, &out[a]);
		if (out[a].s) {
			const char *s = string_in(&k->per[a], out[a].s, out[a].len);
			if (!s && cur_from)
				s = string_in(&cur_from->per[a], out[a].s, out[a].len);
			if (!s && k->before[a].v.s && k->before[a].v.len == out[a].len &&
			    !memcmp(k->before[a].v.s, out[a].s, out[a].len))
				s = k->before[a].v.s;
			out[a].s = s;
		}
		tile_free(&acc);
	}
}

void fs_agg_key_read(const struct fs_agg_key *k, int64_t t, struct fs_agg_result *out)
{
	read_tiles(k, NULL, t, out);
}

void fs_agg_key_read_split(const struct fs_agg_key *k, const struct fs_agg_key *cur, int64_t t,
			   struct fs_agg_result *out)
{
	read_tiles(k, cur, t, out);
}

void fs_agg_key_put(struct fs_agg_key *k, size_t a, int64_t idx, const struct fs_agg_partial *p)
{
	const struct fs_agg *ag = &k->v->aggs[a];
	struct tile t;

	memset(&t, 0, sizeof(t));
	tile_reset(&t, idx);
	t.events = p->events;
	t.newest = p->newest;
	t.n = p->n;
	t.isum = p->isum;
	t.dsum = p->dsum;
	t.mean = p->mean;
	t.m2 = p->m2;
	t.v.i = p->v.i;
	t.v.d = p->v.d;
	t.v.s = p->v.s ? xstrndup(p->v.s, p->v.len) : NULL;
	t.v.len = (uint32_t)p->v.len;
	t.vts = p->vts;
	t.vcr = p->vcr;
	tile_merge(ag, tile_at(&k->per[a], idx), &t);
	tile_free(&t);
	if (p->events && p->newest > k->newest)
		k->newest = p->newest;
}

void fs_agg_key_put_distinct(struct fs_agg_key *k, size_t a, int64_t idx,
			     const struct fs_agg_value *x)
{
	struct val v = { x->i, x->d, (char *)x->s, (uint32_t)x->len };

	hll_add(tile_at(&k->per[a], idx), k->v->aggs[a].type, &v);
}

void fs_agg_result_value(const struct fs_agg *a, const struct fs_agg_result *r, char *buf,
			 size_t buflen, struct fs_scan_value *out)
{
	memset(out, 0, sizeof(*out));
	out->null = r->null;
	if (r->null)
		return;
	if (a->result == FS_T_STRING) {
		out->text = r->s ? r->s : "";
		out->len = r->len;
	} else if (is_float(a->result)) {
		fs_format_double(buf, buflen, r->d);
		out->text = buf;
		out->len = strlen(buf);
	} else {
		out->iv = r->iv;
	}
}

/* ---- encoding: one online record per key ---- */

/*
 * Per aggregation its number of tiles, then per tile: the index (as the
 * difference from the previous one), events, the newest event (from the
 * tile's start), non-null values, and what the function keeps. Integers
 * are zigzag varints (most are small differences), doubles 8 bytes.
 */
#define AGG_FORMAT 3

/* 8 bytes, stored in place (the size known: no call to memcpy) */
static inline void put64(struct strbuf *sb, int64_t v)
{
	if (sb->alloc - sb->len < 9)
		sb_grow(sb, 8);
	memcpy(sb->buf + sb->len, &v, 8);
	sb->len += 8;
	sb->buf[sb->len] = '\0';
}

static inline void putd(struct strbuf *sb, double d)
{
	int64_t v;

	memcpy(&v, &d, 8);
	put64(sb, v);
}

static inline void putu(struct strbuf *sb, uint64_t v)
{
	if (sb->alloc - sb->len < 11)
		sb_grow(sb, 10);
	while (v >= 0x80) {
		sb->buf[sb->len++] = (char)(v | 0x80);
		v >>= 7;
	}
	sb->buf[sb->len++] = (char)v;
	sb->buf[sb->len] = '\0';
}

/* a signed value, zigzag-encoded */
static inline void puts64(struct strbuf *sb, int64_t v)
{
	putu(sb, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/* a - b, wrapping (either may be INT64_MIN) */
static inline int64_t wdiff(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a - (uint64_t)b);
}

static inline int64_t wadd(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

static void put_val(struct strbuf *sb, enum fs_type t, const struct val *x)
{
	if (t == FS_T_STRING) {
		putu(sb, x->len);
		sb_add(sb, x->s ? x->s : "", x->len);
	} else if (is_float(t)) {
		putd(sb, x->d);
	} else {
		puts64(sb, x->i);
	}
}

/* One tile, its index as the difference from *prev (then set to it). */
static void put_tile(struct strbuf *out, const struct fs_agg *ag, const struct tile *t,
		     int64_t *prev)
{
	int64_t start = (int64_t)((uint64_t)t->idx * (uint64_t)ag->hop_us);
	size_t j;

	puts64(out, wdiff(t->idx, *prev));
	*prev = t->idx;
	putu(out, (uint64_t)t->events);
	puts64(out, wdiff(t->newest, start));
	putu(out, (uint64_t)t->n);
	switch (ag->fn) {
	case FS_AGG_SUM:
		if (ag->result == FS_T_INT64)
			puts64(out, t->isum);
		else
			putd(out, t->dsum);
		break;
	case FS_AGG_AVG:
		putd(out, t->dsum);
		break;
	case FS_AGG_VAR:
	case FS_AGG_STDDEV:
		putd(out, t->mean);
		putd(out, t->m2);
		break;
	case FS_AGG_FIRST:
	case FS_AGG_LAST:
		puts64(out, wdiff(t->vts, start));
		puts64(out, wdiff(t->vcr, t->vts));
		/* fall through */
	case FS_AGG_MIN:
	case FS_AGG_MAX:
		if (t->n)
			put_val(out, ag->type, &t->v);
		break;
	case FS_AGG_APPROX_COUNT_DISTINCT: {
		/* sparse (index, rank) pairs while they are shorter */
		uint32_t nz = 0;
		for (j = 0; t->hll && j < FS_HLL_REGS; j++)
			nz += t->hll[j] != 0;
		if (nz * 3 < FS_HLL_REGS) {
			putu(out, nz);
			for (j = 0; t->hll && j < FS_HLL_REGS; j++) {
				if (t->hll[j]) {
					uint16_t idx = (uint16_t)j;
					sb_add(out, &idx, 2);
					sb_addc(out, (char)t->hll[j]);
				}
			}
		} else {
			putu(out, FS_HLL_REGS + 1); /* dense */
			sb_add(out, t->hll, FS_HLL_REGS);
		}
		break;
	}
	case FS_AGG_COUNT:
		break;
	}
}

void fs_agg_key_encode(const struct fs_agg_key *k, struct strbuf *out)
{
	size_t a, i;

	sb_reset(out);
	sb_addc(out, AGG_FORMAT);
	put64(out, k->newest);
	sb_addc(out, k->before_ok);
	for (a = 0; a < k->v->n; a++) {
		const struct fs_agg *ag = &k->v->aggs[a];
		int64_t prev = 0;

		putu(out, k->per[a].n);
		for (i = 0; i < k->per[a].n; i++)
			put_tile(out, ag, &k->per[a].t[i], &prev);
		if (k->before_ok) {
			prev = 0;
			put_tile(out, ag, &k->before[a], &prev);
		}
	}
}

struct rd {
	const unsigned char *p, *end;
	bool bad;
};

static inline void get(struct rd *r, void *dst, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		memset(dst, 0, n);
		return;
	}
	memcpy(dst, r->p, n);
	r->p += n;
}

static inline uint64_t getu(struct rd *r)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (!r->bad) {
		unsigned char c;
		if (r->p == r->end || shift > 63) {
			r->bad = true;
			break;
		}
		c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
		shift += 7;
	}
	return 0;
}

static inline int64_t gets64(struct rd *r)
{
	uint64_t u = getu(r);

	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static void get_val(struct rd *r, enum fs_type t, struct val *x)
{
	if (t == FS_T_STRING) {
		uint64_t l = getu(r);
		if (r->bad || (uint64_t)(r->end - r->p) < l) {
			r->bad = true;
			return;
		}
		free(x->s);
		x->s = xstrndup((const char *)r->p, (size_t)l);
		x->len = (uint32_t)l;
		r->p += l;
	} else if (is_float(t)) {
		get(r, &x->d, 8);
	} else {
		x->i = gets64(r);
	}
}

/* One tile (put_tile), its index from *prev; r->bad when malformed. */
static void get_tile(struct rd *r, const struct fs_agg *ag, struct tile *t, int64_t *prev)
{
	int64_t start;
	size_t j;

	memset(t, 0, sizeof(*t));
	t->idx = wadd(*prev, gets64(r));
	*prev = t->idx;
	start = (int64_t)((uint64_t)t->idx * (uint64_t)ag->hop_us);
	t->events = (int64_t)getu(r);
	t->newest = wadd(start, gets64(r));
	t->n = (int64_t)getu(r);
	switch (ag->fn) {
	case FS_AGG_SUM:
		if (ag->result == FS_T_INT64)
			t->isum = gets64(r);
		else
			get(r, &t->dsum, 8);
		break;
	case FS_AGG_AVG:
		get(r, &t->dsum, 8);
		break;
	case FS_AGG_VAR:
	case FS_AGG_STDDEV:
		get(r, &t->mean, 8);
		get(r, &t->m2, 8);
		break;
	case FS_AGG_FIRST:
	case FS_AGG_LAST:
		t->vts = wadd(start, gets64(r));
		t->vcr = wadd(t->vts, gets64(r));
		/* fall through */
	case FS_AGG_MIN:
	case FS_AGG_MAX:
		if (t->n)
			get_val(r, ag->type, &t->v);
		break;
	case FS_AGG_APPROX_COUNT_DISTINCT: {
		uint64_t nz = getu(r);
		if (r->bad)
			break;
		t->hll = xcalloc(FS_HLL_REGS, 1);
		if (nz == FS_HLL_REGS + 1) {
			get(r, t->hll, FS_HLL_REGS);
			for (j = 0; j < FS_HLL_REGS; j++)
				if (t->hll[j] > 51)
					r->bad = true;
			break;
		}
		if (nz > FS_HLL_REGS) {
			r->bad = true;
			break;
		}
		for (j = 0; j < nz && !r->bad; j++) {
			uint16_t idx;
			uint8_t rank;
			get(r, &idx, 2);
			get(r, &rank, 1);
			if (idx >= FS_HLL_REGS || rank > 51)
				r->bad = true;
			else
				t->hll[idx] = rank;
		}
		break;
	}
	case FS_AGG_COUNT:
		break;
	}
}

bool fs_agg_key_decode(struct fs_agg_key *k, const void *buf, size_t len)
{
	struct rd r = { buf, (const unsigned char *)buf + len, false };
	unsigned char format = 0, before_ok = 0;
	size_t a, i;

	fs_agg_key_clear(k);
	get(&r, &format, 1);
	if (format != AGG_FORMAT)
		return false;
	get(&r, &k->newest, 8);
	get(&r, &before_ok, 1);
	for (a = 0; a < k->v->n && !r.bad; a++) {
		const struct fs_agg *ag = &k->v->aggs[a];
		struct tiles *ts = &k->per[a];
		uint64_t n = getu(&r);
		int64_t prev = 0;

		/* every tile takes at least 4 bytes */
		if (r.bad || n > (uint64_t)(r.end - r.p) / 4) {
			r.bad = true;
			break;
		}
		ALLOC_GROW(ts->t, n + 1, ts->alloc);
		for (i = 0; i < n && !r.bad; i++) {
			struct tile *t = &ts->t[ts->n++];
			get_tile(&r, ag, t, &prev);
			if (i && t->idx <= ts->t[i - 1].idx)
				r.bad = true;
		}
		if (before_ok && !r.bad) {
			prev = 0;
			get_tile(&r, ag, &k->before[a], &prev);
		}
	}
	k->before_ok = before_ok == 1;
	if (r.bad || r.p != r.end || before_ok > 1) {
		fs_agg_key_clear(k);
		return false;
	}
	return true;
}

void fs_agg_meta_encode(const struct fs_agg_meta *m, struct strbuf *out)
{
	sb_reset(out);
	sb_addc(out, AGG_FORMAT);
	put64(out, m->batch_end_us);
	put64(out, m->newest_us);
	put64(out, m->applied);
	put64(out, m->late);
}

bool fs_agg_meta_decode(struct fs_agg_meta *m, const void *buf, size_t len)
{
	struct rd r = { buf, (const unsigned char *)buf + len, false };
	unsigned char format = 0;

	get(&r, &format, 1);
	get(&r, &m->batch_end_us, 8);
	get(&r, &m->newest_us, 8);
	get(&r, &m->applied, 8);
	get(&r, &m->late, 8);
	if (r.bad || format != AGG_FORMAT || r.p != r.end) {
		m->batch_end_us = m->newest_us = INT64_MIN;
		m->applied = m->late = 0;
		return false;
	}
	return true;
}
