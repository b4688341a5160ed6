#include "agg-online.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agg-events.h"
#include "error.h"
#include "keymap.h"
#include "util.h"
#include "banned.h"

/* floor(a / b) * b for b > 0 */
static int64_t floor_to(int64_t a, int64_t b)
{
	return (a / b - (a % b < 0)) * b;
}

/* The keys of one update, interned. */
struct keyset {
	const struct fs_aggview *av;
	struct fs_keymap *ids;
};

static int cmp_rec(const void *a, const void *b)
{
	const struct fs_online_rec *x = a, *y = b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = n ? memcmp(x->key, y->key, n) : 0;

	return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

/*
 * The records to update: the meta record first, then every key of ks in
 * key order (a B-tree appended to, not searched at random); (*ids)[i] is
 * the key id of recs[i] (unused for the meta record).
 */
static struct fs_online_rec *keyset_recs(const struct keyset *ks, size_t *n, uint32_t **ids)
{
	size_t nk = fs_keymap_size(ks->ids), i;
	struct fs_online_rec *recs = xcalloc(nk + 2, sizeof(*recs));

	recs[0].key = "";
	recs[0].keylen = 0;
	for (i = 0; i < nk; i++) {
		recs[i + 1].key = fs_keymap_key(ks->ids, (uint32_t)i, &recs[i + 1].keylen);
		recs[i + 1].ts = (int64_t)i; /* the id, through the sort */
	}
	qsort(recs + 1, nk, sizeof(*recs), cmp_rec);
	*ids = xcalloc(nk + 2, sizeof(**ids));
	for (i = 0; i < nk; i++) {
		(*ids)[i + 1] = (uint32_t)recs[i + 1].ts;
		recs[i + 1].ts = 0;
	}
	*n = nk + 1;
	return recs;
}

/* The encoded batch tiles of one key, in an arena. */
struct blob {
	size_t off, len;
	int64_t newest;
};

/* What an update callback works with. */
struct upd {
	struct fs_agg_key *old; /* scratch: a stored record, decoded */
	struct strbuf enc;
	struct fs_agg_meta meta;
	int64_t batch_end;
	size_t written;
	const uint32_t *ids; /* key id of each record asked for (keyset_recs) */
	/* materialize: the batch's tiles, encoded, by key id */
	const struct blob *blobs;
	const struct strbuf *arena;
	struct fs_agg_key *scratch;
};

static void meta_of(const struct fs_online_hit *old, struct fs_agg_meta *m)
{
	if (!old->found || !fs_agg_meta_decode(m, old->val, old->vallen)) {
		m->batch_end_us = m->newest_us = INT64_MIN;
		m->applied = m->late = 0;
	}
}

/* out = the encoded tiles of k (deleted when it has none) */
static int put_key(struct upd *u, struct fs_agg_key *k, struct fs_online_rec *out)
{
	if (fs_agg_key_empty(k))
		return 1;
	fs_agg_key_prune(k, fs_agg_key_newest(k));
	fs_agg_key_encode(k, &u->enc);
	out->ts = fs_agg_key_newest(k);
	out->created = 0;
	out->val = u->enc.buf;
	out->vallen = u->enc.len;
	u->written++;
	return 0;
}

/* Decode a stored record into u->old; a malformed one counts as empty. */
static void load_old(struct upd *u, const struct fs_online_hit *old)
{
	if (!old->found || !fs_agg_key_decode(u->old, old->val, old->vallen))
		fs_agg_key_clear(u->old);
}

static int rebuild_fn(void *ctx, const void *key, size_t keylen, size_t i,
		      const struct fs_online_hit *old, struct fs_online_rec *out)
{
	struct upd *u = ctx;
	const struct blob *b;

	if (!keylen) {
		meta_of(old, &u->meta);
		u->meta.batch_end_us = u->batch_end;
		fs_agg_meta_encode(&u->meta, &u->enc);
		out->ts = u->batch_end;
		out->val = u->enc.buf;
		out->vallen = u->enc.len;
		return 0;
	}
	/* the stream's tiles at or after the batch end stay, the rest is the batch's */
	load_old(u, old);
	fs_agg_key_cut_before(u->old, u->batch_end);
	if (i == SIZE_MAX)
		return put_key(u, u->old, out);
	b = &u->blobs[u->ids[i]];
	if (!fs_agg_key_empty(u->old)) {
		struct fs_agg_key *k = u->scratch;
		if (!fs_agg_key_decode(k, u->arena->buf + b->off, b->len)) {
			fs_error_set("aggregation tiles: cannot decode what was just encoded");
			return FS_ERR;
		}
		fs_agg_key_merge(k, u->old);
		return put_key(u, k, out);
	}
	/* nothing of the stream's: the batch's tiles as they were encoded */
	out->ts = b->newest;
	out->created = 0;
	out->val = u->arena->buf + b->off;
	out->vallen = b->len;
	u->written++;
	return 0;
}

/* One reader of the source: all of it, or half of a csv file. */
struct half {
	const struct fs_aggview *av;
	struct fs_viewscan *scan;
	struct fs_keymap *ids;
	struct fs_agg_events *events;
	int64_t start, end;
	size_t rows;
	int rc;
};

static void *scan_half(void *arg)
{
	struct half *h = arg;
	const struct strbuf *key;
	const struct fs_scan_value *vals;
	int64_t ts, cr;
	int rc;

	h->ids = fs_keymap_new();
	h->events = fs_agg_events_new(h->av);
	while ((rc = fs_viewscan_next(h->scan, &key, &ts, &cr, &vals)) == 1) {
		if (!key || ts < h->start || ts >= h->end)
			continue;
		h->rows++;
		fs_agg_events_add(h->events, fs_keymap_intern(h->ids, key->buf, key->len), ts, cr,
				  vals);
	}
	h->rc = rc < 0 ? rc : 0;
	return NULL;
}

static void half_release(struct half *h)
{
	fs_viewscan_close(h->scan);
	fs_keymap_free(h->ids);
	fs_agg_events_free(h->events);
	memset(h, 0, sizeof(*h));
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
 * The events of the batch interval into *events, their keys in *ids: a
 * csv file read in two halves on two threads (the second half's keys then
 * renamed into the first's), anything else, or after any error (so that
 * the message names the right line), on one.
 */
static int scan_events(const struct fs_aggview *av, const struct fs_defs *defs,
		       const struct fs_object *view, const char *root, struct fs_agg_mat *out,
		       struct fs_keymap **ids, struct fs_agg_events **events)
{
	struct half a = { 0 }, b = { 0 };
	pthread_t tid;
	int rc;

	a.av = b.av = av;
	a.start = b.start = out->start_us;
	a.end = b.end = out->batch_end_us;
	if ((rc = fs_viewscan_open(&a.scan, defs, view, root)))
		return rc;
	rc = use_threads() ? fs_viewscan_split(a.scan, defs, &b.scan) : 1;
	if (rc == 0 && !pthread_create(&tid, NULL, scan_half, &b)) {
		scan_half(&a);
		pthread_join(tid, NULL);
		if (!a.rc && !b.rc) {
			size_t n = fs_keymap_size(b.ids), i;
			uint32_t *map = xmalloc((n + 1) * sizeof(*map));
			for (i = 0; i < n; i++) {
				size_t len;
				const void *k = fs_keymap_key(b.ids, (uint32_t)i, &len);
				map[i] = fs_keymap_intern(a.ids, k, len);
			}
			fs_agg_events_append(a.events, b.events, map);
			free(map);
			out->rows = a.rows + b.rows;
			goto found;
		}
	}
	if (rc != 1) {
		/* start over on one thread: a split failed, or a half found an error */
		half_release(&a);
		half_release(&b);
		a.av = av;
		a.start = out->start_us;
		a.end = out->batch_end_us;
		if ((rc = fs_viewscan_open(&a.scan, defs, view, root)))
			return rc;
	}
	scan_half(&a);
	if (a.rc) {
		rc = a.rc;
		half_release(&a);
		return rc;
	}
	out->rows = a.rows;
found:
	*ids = a.ids;
	*events = a.events;
	a.ids = NULL;
	a.events = NULL;
	half_release(&a);
	half_release(&b);
	return 0;
}

/* The batch's tiles of keys [lo, hi), encoded into an arena. */
struct build {
	const struct fs_aggview *av;
	const struct fs_agg_events *events;
	const size_t *start;
	struct blob *blobs;
	size_t lo, hi;
	int64_t horizon;
	struct strbuf arena;
};

static void *build_keys(void *arg)
{
	struct build *b = arg;
	struct fs_agg_key *k = fs_agg_key_new(b->av);
	struct fs_agg_value *in = xcalloc(b->av->ncols + 1, sizeof(*in));
	struct strbuf enc = STRBUF_INIT;
	int64_t ts, cr;
	size_t i, j;

	fs_agg_key_set_horizon(k, b->horizon);
	for (i = b->lo; i < b->hi; i++) {
		fs_agg_key_clear(k);
		for (j = b->start[i]; j < b->start[i + 1]; j++) {
			fs_agg_events_get(b->events, j, &ts, &cr, in);
			fs_agg_key_add(k, ts, cr, in);
		}
		fs_agg_key_encode(k, &enc);
		b->blobs[i].off = b->arena.len;
		b->blobs[i].len = enc.len;
		b->blobs[i].newest = fs_agg_key_newest(k);
		sb_add(&b->arena, enc.buf, enc.len);
	}
	sb_release(&enc);
	free(in);
	fs_agg_key_free(k);
	return NULL;
}

int fs_agg_materialize(struct fs_online *store, const struct fs_defs *defs,
		       const struct fs_object *view, const char *root, int64_t end_us,
		       struct fs_agg_mat *out)
{
	struct fs_aggview av;
	struct keyset ks = { 0 };
	struct fs_agg_events *events = NULL;
	struct fs_online_rec *recs = NULL;
	struct fs_agg_key *k = NULL;
	struct strbuf arena = STRBUF_INIT;
	struct blob *blobs = NULL;
	struct upd u = { 0 };
	uint32_t *ids = NULL;
	const size_t *start;
	char *schema = NULL;
	size_t n, i;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = fs_aggview_load(&av, view->spec)))
		return rc;
	out->batch_end_us = floor_to(end_us, av.max_hop_us);
	out->start_us = out->batch_end_us - av.max_window_us;
	ks.av = &av;
	if ((rc = scan_events(&av, defs, view, root, out, &ks.ids, &events)))
		goto done;

	/* key by key, while its tiles are in the cache: built, encoded, dropped */
	out->keys = fs_keymap_size(ks.ids);
	/* in time order: tiles are appended, and sums add up as get-historical's do */
	start = fs_agg_events_group(events, out->keys, true, use_threads());
	blobs = xcalloc(out->keys + 1, sizeof(*blobs));
	{
		/* two threads, each half of the keys into an arena of its own */
		struct build b[2] = { { &av, events, start, blobs, 0, out->keys / 2, out->batch_end_us,
					STRBUF_INIT },
				      { &av, events, start, blobs, out->keys / 2, out->keys,
					out->batch_end_us, STRBUF_INIT } };
		pthread_t tid;
		bool two = use_threads() && out->keys > 1 &&
			   !pthread_create(&tid, NULL, build_keys, &b[1]);

		build_keys(&b[0]);
		if (two)
			pthread_join(tid, NULL);
		else
			build_keys(&b[1]);
		for (i = b[1].lo; i < b[1].hi; i++)
			blobs[i].off += b[0].arena.len;
		sb_add(&b[0].arena, b[1].arena.buf, b[1].arena.len);
		sb_release(&b[1].arena);
		arena = b[0].arena;
	}
	k = fs_agg_key_new(&av);
	fs_agg_events_free(events);
	events = NULL;

	recs = keyset_recs(&ks, &n, &ids);
	u.ids = ids;
	u.old = fs_agg_key_new(&av);
	u.scratch = k;
	u.blobs = blobs;
	u.arena = &arena;
	u.batch_end = out->batch_end_us;
	schema = fs_view_schema(defs, view);
	rc = fs_online_update(store, view->name, schema, recs, n, FS_UPDATE_ALL | FS_UPDATE_GUARD,
			      rebuild_fn, &u);
	out->written = u.written;
done:
	fs_agg_events_free(events);
	fs_agg_key_free(u.old);
	fs_agg_key_free(k);
	sb_release(&u.enc);
	sb_release(&arena);
	fs_keymap_free(ks.ids);
	fs_aggview_release(&av);
	free(blobs);
	free(recs);
	free(ids);
	free(schema);
	return rc;
}

/* The events of one apply, by key, checked and held until the update. */
struct pending {
	int64_t ts, cr;
	uint32_t key;
	size_t vals; /* index of its first value in the value array */
};

struct applyctx {
	struct upd u;
	struct pending *ev;
	size_t nev;
	struct fs_agg_value *vals; /* nev * ncols, strings in text */
	size_t *first, *next;      /* per key its events, in order, linked */
	struct fs_agg_applied *out;
};

static int apply_fn(void *ctx, const void *key, size_t keylen, size_t i,
		    const struct fs_online_hit *old, struct fs_online_rec *out)
{
	struct applyctx *a = ctx;
	struct upd *u = &a->u;
	size_t j;

	if (!keylen) {
		/* first: the batch end decides which events are late */
		meta_of(old, &u->meta);
		u->batch_end = u->meta.batch_end_us;
		a->out->applied = a->out->late = 0;
		for (j = 0; j < a->nev; j++) {
			if (a->ev[j].ts < u->batch_end) {
				a->out->late++;
			} else {
				a->out->applied++;
				if (a->ev[j].ts > u->meta.newest_us)
					u->meta.newest_us = a->ev[j].ts;
			}
		}
		u->meta.applied += (int64_t)a->out->applied;
		u->meta.late += (int64_t)a->out->late;
		fs_agg_meta_encode(&u->meta, &u->enc);
		out->ts = u->meta.newest_us;
		out->val = u->enc.buf;
		out->vallen = u->enc.len;
		u->written = 0;
		return 0;
	}
	load_old(u, old);
	for (j = a->first[u->ids[i]]; j != SIZE_MAX; j = a->next[j]) {
		const struct pending *p = &a->ev[j];
		if (p->ts >= u->batch_end)
			fs_agg_key_add(u->old, p->ts, p->cr, &a->vals[p->vals]);
	}
	if (fs_agg_key_empty(u->old))
		return 1;
	return put_key(u, u->old, out);
}

int fs_agg_apply(struct fs_online *store, const struct fs_defs *defs,
		 const struct fs_object *view, struct fs_viewscan *scan,
		 struct fs_agg_applied *out)
{
	struct fs_aggview av;
	struct keyset ks = { 0 };
	struct applyctx a = { { 0 } };
	struct fs_online_rec *recs = NULL;
	struct strbuf text = STRBUF_INIT;
	const struct strbuf *key;
	const struct fs_scan_value *vals;
	uint32_t *ids = NULL;
	size_t ev_alloc = 0, val_alloc = 0, n, i, c;
	char *schema = NULL;
	int64_t ts, cr;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = fs_aggview_load(&av, view->spec)))
		return rc;
	ks.av = &av;
	ks.ids = fs_keymap_new();
	/* every event checked and copied before anything is written */
	while ((rc = fs_viewscan_next(scan, &key, &ts, &cr, &vals)) == 1) {
		out->rows++;
		if (!key)
			continue;
		ALLOC_GROW(a.ev, a.nev + 1, ev_alloc);
		a.ev[a.nev].ts = ts;
		a.ev[a.nev].cr = cr;
		a.ev[a.nev].key = fs_keymap_intern(ks.ids, key->buf, key->len);
		a.ev[a.nev].vals = a.nev * av.ncols;
		ALLOC_GROW(a.vals, (a.nev + 1) * av.ncols + 1, val_alloc);
		for (c = 0; c < av.ncols; c++) {
			struct fs_agg_value *v = &a.vals[a.nev * av.ncols + c];
			fs_agg_value_from_scan(v, av.col_types[c], &vals[c]);
			if (!v->null && av.col_types[c] == FS_T_STRING) {
				/* an offset for now: text moves as it grows */
				v->i = (int64_t)text.len;
				sb_add(&text, v->s, v->len);
				v->s = NULL;
			}
		}
		a.nev++;
	}
	if (rc < 0)
		goto done;
	for (i = 0; i < a.nev * av.ncols; i++)
		if (!a.vals[i].null && av.col_types[i % av.ncols] == FS_T_STRING)
			a.vals[i].s = text.buf + a.vals[i].i;
	{
		size_t nk = fs_keymap_size(ks.ids), *last = xmalloc((nk + 1) * sizeof(*last));
		a.first = xmalloc((nk + 1) * sizeof(*a.first));
		a.next = xmalloc((a.nev + 1) * sizeof(*a.next));
		for (i = 0; i < nk; i++)
			a.first[i] = last[i] = SIZE_MAX;
		for (i = 0; i < a.nev; i++) {
			uint32_t k = a.ev[i].key;
			a.next[i] = SIZE_MAX;
			if (last[k] == SIZE_MAX)
				a.first[k] = i;
			else
				a.next[last[k]] = i;
			last[k] = i;
		}
		free(last);
	}
	recs = keyset_recs(&ks, &n, &ids);
	a.u.ids = ids;
	a.u.old = fs_agg_key_new(&av);
	a.out = out;
	schema = fs_view_schema(defs, view);
	rc = fs_online_update(store, view->name, schema, recs, n, FS_UPDATE_GUARD, apply_fn, &a);
	out->keys = a.u.written;
	if (rc) {
		out->applied = out->late = 0;
		out->keys = 0;
	}
done:
	fs_agg_key_free(a.u.old);
	sb_release(&a.u.enc);
	fs_keymap_free(ks.ids);
	fs_aggview_release(&av);
	free(recs);
	free(schema);
	free(a.ev);
	free(a.vals);
	free(a.first);
	free(a.next);
	free(ids);
	sb_release(&text);
	return rc;
}

int fs_agg_meta_read(struct fs_online *store, const struct fs_defs *defs,
		     const struct fs_object *view, struct fs_agg_meta *out)
{
	struct fs_online_rec rec = { "", 0, 0, 0, NULL, 0 };
	struct fs_online_hit hit;
	char *schema = fs_view_schema(defs, view);
	int rc = fs_online_read(store, view->name, schema, &rec, 1, &hit);

	free(schema);
	meta_of(&hit, out);
	if (rc)
		hit.found = false;
	fs_online_hits_release(&hit, 1);
	return rc;
}
