#include "agg-events.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "util.h"
#include "banned.h"

struct ev {
	uint32_t key, idx; /* idx: its cells; the order in the source until grouped */
	int64_t ts, cr;
};

struct fs_agg_events {
	const struct fs_aggview *v;
	struct ev *ev;
	size_t n, alloc;
	int64_t *cell; /* n * ncols: int, double bits, or offset into text */
	unsigned char *null;
	size_t cell_alloc, null_alloc;
	struct strbuf text; /* strings, each NUL-terminated */
	size_t *start;
};

struct fs_agg_events *fs_agg_events_new(const struct fs_aggview *v)
{
	struct fs_agg_events *e = xcalloc(1, sizeof(*e));

	e->v = v;
	sb_init(&e->text);
	return e;
}

void fs_agg_events_free(struct fs_agg_events *e)
{
	if (!e)
		return;
	free(e->ev);
	free(e->cell);
	free(e->null);
	free(e->start);
	sb_release(&e->text);
	free(e);
}

static bool is_float(enum fs_type t)
{
	return t == FS_T_FLOAT32 || t == FS_T_FLOAT64;
}

void fs_agg_events_add(struct fs_agg_events *e, uint32_t key, int64_t ts, int64_t cr,
		       const struct fs_scan_value *vals)
{
	size_t nc = e->v->ncols, c, base = e->n * nc;

	ALLOC_GROW(e->ev, e->n + 1, e->alloc);
	e->ev[e->n] = (struct ev){ key, (uint32_t)e->n, ts, cr };
	if (nc) {
		ALLOC_GROW(e->cell, base + nc, e->cell_alloc);
		ALLOC_GROW(e->null, base + nc, e->null_alloc);
	}
	for (c = 0; c < nc; c++) {
		struct fs_agg_value v;
		enum fs_type t = e->v->col_types[c];

		fs_agg_value_from_scan(&v, t, &vals[c]);
		e->null[base + c] = v.null;
		e->cell[base + c] = 0;
		if (v.null)
			continue;
		if (t == FS_T_STRING) {
			e->cell[base + c] = (int64_t)e->text.len;
			sb_add(&e->text, v.s, v.len);
			sb_addc(&e->text, '\0');
		} else if (is_float(t)) {
			memcpy(&e->cell[base + c], &v.d, 8);
		} else {
			e->cell[base + c] = v.i;
		}
	}
	e->n++;
}

size_t fs_agg_events_count(const struct fs_agg_events *e)
{
	return e->n;
}

void fs_agg_events_append(struct fs_agg_events *e, struct fs_agg_events *src,
			  const uint32_t *ids)
{
	size_t nc = e->v->ncols, i, c, base = e->n * nc, text = e->text.len;

	ALLOC_GROW(e->ev, e->n + src->n + 1, e->alloc);
	for (i = 0; i < src->n; i++) {
		struct ev x = src->ev[i];
		x.key = ids[x.key];
		x.idx = (uint32_t)(e->n + x.idx);
		e->ev[e->n + i] = x;
	}
	if (nc && src->n) {
		ALLOC_GROW(e->cell, base + src->n * nc + 1, e->cell_alloc);
		ALLOC_GROW(e->null, base + src->n * nc + 1, e->null_alloc);
		memcpy(e->cell + base, src->cell, src->n * nc * sizeof(*e->cell));
		memcpy(e->null + base, src->null, src->n * nc);
		for (c = 0; c < nc; c++) {
			if (e->v->col_types[c] != FS_T_STRING)
				continue;
			for (i = 0; i < src->n; i++)
				if (!e->null[base + i * nc + c])
					e->cell[base + i * nc + c] += (int64_t)text;
		}
	}
	sb_add(&e->text, src->text.buf, src->text.len);
	e->n += src->n;
	src->n = 0;
	sb_reset(&src->text);
}

static int cmp_time(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->cr != y->cr)
		return x->cr < y->cr ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The keys [k0, k1) of a grouping: sorted by time, and their cells put in order. */
struct group_part {
	struct fs_agg_events *e;
	const int64_t *cell; /* the cells in source order */
	const unsigned char *null;
	int64_t *to_cell;
	unsigned char *to_null;
	size_t k0, k1;
	bool by_time;
};

static void *group_part(void *arg)
{
	struct group_part *p = arg;
	struct fs_agg_events *e = p->e;
	size_t nc = e->v->ncols, i, j;

	for (i = p->k0; p->by_time && i < p->k1; i++) {
		struct ev *g = e->ev + e->start[i];
		size_t n = e->start[i + 1] - e->start[i];
		/* sources are often in time order already */
		for (j = 1; j < n && cmp_time(&g[j - 1], &g[j]) <= 0; j++)
			;
		if (j < n)
			qsort(g, n, sizeof(*g), cmp_time);
	}
	/* the cells in the same order: read back one after the other */
	for (i = e->start[p->k0]; nc && i < e->start[p->k1]; i++) {
		size_t from = (size_t)e->ev[i].idx * nc;
		memcpy(p->to_cell + i * nc, p->cell + from, nc * sizeof(*p->cell));
		memcpy(p->to_null + i * nc, p->null + from, nc);
		e->ev[i].idx = (uint32_t)i;
	}
	return NULL;
}

const size_t *fs_agg_events_group(struct fs_agg_events *e, size_t nkeys, bool by_time,
				  bool threads)
{
	struct ev *sorted = xmalloc((e->n + 1) * sizeof(*sorted));
	size_t *fill = xmalloc((nkeys + 1) * sizeof(*fill)), nc = e->v->ncols, i;
	int64_t *cell;
	unsigned char *null;

	free(e->start);
	e->start = xcalloc(nkeys + 2, sizeof(*e->start));
	for (i = 0; i < e->n; i++)
		e->start[e->ev[i].key + 1]++;
	for (i = 0; i < nkeys; i++)
		e->start[i + 1] += e->start[i];
	memcpy(fill, e->start, (nkeys + 1) * sizeof(*fill));
	for (i = 0; i < e->n; i++)
		sorted[fill[e->ev[i].key]++] = e->ev[i];
	free(fill);
	free(e->ev);
	e->ev = sorted;
	e->alloc = e->n + 1;
	cell = xmalloc((e->n * nc + 1) * sizeof(*cell));
	null = xmalloc(e->n * nc + 1);
	/*
	 * Two halves of the keys, of about as many events each, the second on
	 * a thread of its own (groups are independent); a small set on one.
	 */
	{
		struct group_part part[2];
		pthread_t tid;
		size_t mid = 0;
		bool threaded;

		while (mid < nkeys && e->start[mid] < e->n / 2)
			mid++;
		for (i = 0; i < 2; i++)
			part[i] = (struct group_part){ .e = e, .cell = e->cell, .null = e->null,
						       .to_cell = cell, .to_null = null,
						       .by_time = by_time };
		part[0].k1 = part[1].k0 = mid;
		part[1].k1 = nkeys;
		threaded = threads && e->n >= (1 << 12) &&
			   !pthread_create(&tid, NULL, group_part, &part[1]);
		if (!threaded)
			part[0].k1 = nkeys;
		group_part(&part[0]);
		if (threaded)
			pthread_join(tid, NULL);
	}
	if (!nc) {
		free(cell);
		free(null);
	} else {
		free(e->cell);
		free(e->null);
		e->cell = cell;
		e->null = null;
		e->cell_alloc = e->null_alloc = e->n * nc + 1;
	}
	return e->start;
}

void fs_agg_events_get(const struct fs_agg_events *e, size_t i, int64_t *ts, int64_t *cr,
		       struct fs_agg_value *vals)
{
	const struct ev *x = &e->ev[i];
	size_t nc = e->v->ncols, base = (size_t)x->idx * nc, c;

	*ts = x->ts;
	*cr = x->cr;
	for (c = 0; c < nc; c++) {
		enum fs_type t = e->v->col_types[c];
		struct fs_agg_value *v = &vals[c];

		memset(v, 0, sizeof(*v));
		v->null = e->null[base + c];
		if (v->null)
			continue;
		if (t == FS_T_STRING) {
			v->s = e->text.buf + e->cell[base + c];
			v->len = strlen(v->s);
		} else if (is_float(t)) {
			memcpy(&v->d, &e->cell[base + c], 8);
		} else {
			v->i = e->cell[base + c];
		}
	}
}
