#include "serving.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agg-online.h"
#include "error.h"
#include "keymap.h"
#include "offline-append.h"
#include "timeutil.h"
#include "util.h"
#include "value.h"
#include "viewscan.h"
#include "banned.h"

#define EPOCH "\"1970-01-01T00:00:00Z\""

/*
 * Append n bytes without terminating the buffer: the response is written
 * in many small pieces, and terminated once at the end.
 */
static inline void put(struct strbuf *sb, const char *s, size_t n)
{
	if (sb->alloc - sb->len <= n)
		sb_grow(sb, n);
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
}

#define PUTL(sb, lit) put(sb, lit, sizeof(lit) - 1)

static char *put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

/*
 * us as a quoted JSON string, RFC 3339 with 0 or 6 fractional digits, into
 * buf (FS_TIME_BUFSZ + 2 bytes); returns its length. Years 1 to 9999 are
 * written here without snprintf (days to civil date, H. Hinnant's
 * algorithm); others go through fs_time_format_us.
 */
static size_t quote_time(char *buf, int64_t us)
{
	int64_t secs = us / FS_USEC, frac = us % FS_USEC, days, sod, z, era, doe, yoe, y, doy, mp;
	unsigned mon, day, i;
	char *p = buf;

	if (frac < 0) {
		frac += FS_USEC;
		secs--;
	}
	if (secs < INT64_C(-62135596800) || secs > INT64_C(253402300799)) {
		size_t l;
		buf[0] = '"';
		fs_time_format_us(buf + 1, us);
		l = strlen(buf);
		buf[l] = '"';
		return l + 1;
	}
	days = secs / 86400;
	sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	mon = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	y += mon <= 2;
	*p++ = '"';
	p = put2(p, (unsigned)(y / 100));
	p = put2(p, (unsigned)(y % 100));
	*p++ = '-';
	p = put2(p, mon);
	*p++ = '-';
	p = put2(p, day);
	*p++ = 'T';
	p = put2(p, (unsigned)(sod / 3600));
	*p++ = ':';
	p = put2(p, (unsigned)(sod / 60 % 60));
	*p++ = ':';
	p = put2(p, (unsigned)(sod % 60));
	if (frac) {
		*p++ = '.';
		for (i = 0; i < 6; i++) {
			p[5 - i] = (char)('0' + frac % 10);
			frac /= 10;
		}
		p += 6; /* 0 or 6 digits: Python 3.10's fromisoformat reads no others */
	}
	*p++ = 'Z';
	*p++ = '"';
	return (size_t)(p - buf);
}

/*
 * A timestamp feature as Feast writes one: Unix seconds, a JSON integer
 * (with the microseconds as a fraction when there are some).
 */
static void put_unix_seconds(struct strbuf *out, int64_t us)
{
	uint64_t mag = us < 0 ? -(uint64_t)us : (uint64_t)us;
	const char *sign = us < 0 ? "-" : "";

	if (mag % FS_USEC)
		sb_addf(out, "%s%llu.%06llu", sign, (unsigned long long)(mag / FS_USEC),
			(unsigned long long)(mag % FS_USEC));
	else
		sb_addf(out, "%s%llu", sign, (unsigned long long)(mag / FS_USEC));
}

struct pview {
	const struct fs_object *view;
	struct fs_view_keys keys;
	enum fs_type *types;
	size_t nfeat;
	char *schema;
	int64_t ttl_us;
	bool agg; /* an aggregation view: values computed from tiles at read time */
	struct fs_aggview av;
};

struct pcol {
	size_t view, feat;
	char *name;
};

struct fs_serve_plan {
	struct pview *views;
	size_t nviews;
	struct pcol *cols;
	size_t ncols;
	struct strbuf names; /* ,"column" for each column: feature_names after the join keys */
};

void fs_serve_plan_free(struct fs_serve_plan *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->nviews; i++) {
		fs_view_keys_release(&p->views[i].keys);
		if (p->views[i].agg)
			fs_aggview_release(&p->views[i].av);
		free(p->views[i].types);
		free(p->views[i].schema);
	}
	for (i = 0; i < p->ncols; i++)
		free(p->cols[i].name);
	free(p->views);
	free(p->cols);
	sb_release(&p->names);
	free(p);
}

int fs_serve_plan_build(struct fs_serve_plan **out, const struct fs_defs *defs, const json_t *refs)
{
	struct fs_serve_plan *p = xcalloc(1, sizeof(*p));
	json_t *ref;
	size_t i, j;
	int rc;

	*out = NULL;
	p->views = xcalloc(json_array_size(refs) + 1, sizeof(*p->views));
	p->cols = xcalloc(json_array_size(refs) + 1, sizeof(*p->cols));
	json_array_foreach(refs, i, ref) {
		const char *vname = json_string_value(json_object_get(ref, "view"));
		const char *fname = json_string_value(json_object_get(ref, "feature"));
		struct pcol *c = &p->cols[p->ncols++];
		struct pview *v;
		json_t *f;

		for (j = 0; j < p->nviews; j++)
			if (!strcmp(p->views[j].view->name, vname))
				break;
		if (j == p->nviews) {
			v = &p->views[p->nviews++];
			v->view = fs_defs_find(defs, FS_KIND_FEATURE_VIEW, vname);
			rc = v->view ? 0 : FS_ENOTFOUND;
			if (!rc && !json_is_true(json_object_get(v->view->spec, "online"))) {
				/* apply dropped its records: a NOT_FOUND would be a lie */
				fs_error_set("feature view '%s' is not online (online: false): materialize it after setting online: true",
					     vname);
				rc = FS_EINVALID;
			}
			if (rc || (rc = fs_view_keys_load(&v->keys, defs, v->view))) {
				p->nviews--;
				fs_serve_plan_free(p);
				return rc;
			}
			v->types = fs_view_types(v->view->spec, &v->nfeat);
			v->schema = fs_view_schema(defs, v->view);
			v->ttl_us = json_integer_value(json_object_get(v->view->spec, "ttl")) * FS_USEC;
			if (fs_view_is_agg(v->view->spec)) {
				if ((rc = fs_aggview_load(&v->av, v->view->spec))) {
					fs_serve_plan_free(p);
					return rc;
				}
				v->agg = true;
			}
		}
		c->view = j;
		c->name = xstrdup(json_string_value(json_object_get(ref, "column")));
		sb_addc(&p->names, ',');
		fs_json_quote(&p->names, c->name, strlen(c->name));
		json_array_foreach(json_object_get(p->views[j].view->spec, "features"), c->feat, f)
			if (!strcmp(json_string_value(json_object_get(f, "name")), fname))
				break;
	}
	*out = p;
	return 0;
}

/* Entity value as text for key encoding; false when it is of no usable type. */
static bool entity_text(const json_t *v, char *buf, size_t len, const char **s, size_t *n)
{
	if (json_is_integer(v)) {
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		*s = buf;
		*n = strlen(buf);
		return true;
	}
	if (json_is_string(v)) {
		*s = json_string_value(v);
		*n = json_string_length(v);
		return true;
	}
	if (json_is_null(v)) {
		*s = "";
		*n = 0;
		return true;
	}
	return false;
}

/* One view's side of a request: keys, the records read, their values decoded. */
struct rview {
	struct fs_online_rec *recs;
	struct strbuf kb;      /* all keys, back to back */
	size_t *koff;
	bool *nokey;
	struct fs_online_hit *hits;
	struct fs_scan_value *vals; /* nrows * nfeat */
	bool *ok;                   /* a record decoded */
	char (*ts)[FS_TIME_BUFSZ + 2]; /* the event time as a JSON string */
	size_t *tslen;
	/* aggregation views: per value, its window's status and newest event */
	bool *present;
	int64_t *ets;
	struct strbuf text; /* the text of float and string results */
};

static void rview_release(struct rview *r, size_t nrows)
{
	free(r->recs);
	sb_release(&r->kb);
	free(r->koff);
	free(r->nokey);
	if (r->hits)
		fs_online_hits_release(r->hits, nrows);
	free(r->hits);
	free(r->vals);
	free(r->ok);
	free(r->ts);
	free(r->tslen);
	free(r->present);
	free(r->ets);
	sb_release(&r->text);
}

/*
 * The values of an aggregation view's rows at time now: each record's
 * tiles merged over each window. Text results are copied, as the tiles
 * are those of one row at a time.
 */
static void read_aggs(const struct pview *v, struct rview *r, size_t nrows, int64_t now)
{
	struct fs_agg_key *k = fs_agg_key_new(&v->av);
	struct fs_agg_result *res = xcalloc(v->av.n + 1, sizeof(*res));
	size_t i, f, *off = xcalloc(nrows * v->nfeat + 1, sizeof(*off));

	r->present = xcalloc(nrows * v->nfeat + 1, sizeof(bool));
	r->ets = xcalloc(nrows * v->nfeat + 1, sizeof(int64_t));
	sb_init(&r->text);
	for (i = 0; i < nrows; i++) {
		const struct fs_online_hit *h = &r->hits[i];
		if (r->nokey[i] || !h->found || !fs_agg_key_decode(k, h->val, h->vallen))
			fs_agg_key_clear(k);
		fs_agg_key_read(k, now, res);
		for (f = 0; f < v->nfeat && f < v->av.n; f++) {
			size_t slot = i * v->nfeat + f;
			struct fs_scan_value *sv = &r->vals[slot];
			char buf[64];

			fs_agg_result_value(&v->av.aggs[f], &res[f], buf, sizeof(buf), sv);
			r->present[slot] = res[f].present;
			r->ets[slot] = res[f].event_ts;
			off[slot] = SIZE_MAX;
			if (!sv->null && sv->text) {
				off[slot] = r->text.len;
				sb_add(&r->text, sv->text, sv->len);
			}
		}
		r->ok[i] = true;
	}
	for (i = 0; i < nrows * v->nfeat; i++)
		if (off[i] != SIZE_MAX && !r->vals[i].null && r->vals[i].text)
			r->vals[i].text = r->text.buf + off[i];
	free(off);
	free(res);
	fs_agg_key_free(k);
}

static int read_view(const struct pview *v, struct rview *r, struct fs_online *store,
		     const json_t *entities, size_t nrows, int64_t now)
{
	struct strbuf one = STRBUF_INIT;
	json_t *cols[64];
	size_t i, k;
	int rc = 0;

	if (v->keys.n > 64)
		return FS_EINVALID;
	for (k = 0; k < v->keys.n; k++) {
		cols[k] = json_object_get(entities, v->keys.names[k]);
		if (!cols[k]) {
			fs_error_set("entities: missing join key '%s' (of entity '%s', needed by feature_view '%s')",
				     v->keys.names[k], v->keys.entity[k], v->view->name);
			return FS_EINVALID;
		}
	}
	r->recs = xcalloc(nrows + 1, sizeof(*r->recs));
	r->koff = xcalloc(nrows + 1, sizeof(*r->koff));
	r->nokey = xcalloc(nrows + 1, sizeof(bool));
	r->hits = xcalloc(nrows + 1, sizeof(*r->hits));
	r->vals = xcalloc(nrows * v->nfeat + 1, sizeof(*r->vals));
	r->ok = xcalloc(nrows + 1, sizeof(bool));
	r->ts = xcalloc(nrows + 1, sizeof(*r->ts));
	r->tslen = xcalloc(nrows + 1, sizeof(*r->tslen));
	sb_init(&r->kb);
	for (i = 0; i < nrows; i++) {
		const char *vals[64];
		size_t lens[64];
		char bufs[64][32];

		for (k = 0; k < v->keys.n; k++) {
			const json_t *e = json_array_get(cols[k], i);
			if (!entity_text(e, bufs[k], sizeof(bufs[k]), &vals[k], &lens[k])) {
				fs_error_set("entities.%s[%zu]: expected %s, not a JSON %s", v->keys.names[k],
					     i, v->keys.is_int[k] ? "an integer" : "a string",
					     json_is_real(e) ? "number with a fraction"
					     : json_is_boolean(e) ? "boolean"
								  : "object or array");
				rc = FS_EINVALID;
				goto done;
			}
		}
		rc = fs_key_encode(&v->keys, &one, vals, lens);
		if (rc < 0) {
			char msg[1024];
			snprintf(msg, sizeof(msg), "%s", fs_error_last());
			fs_error_set("entities row %zu: %s", i, msg);
			goto done;
		}
		r->nokey[i] = rc == 0;
		r->koff[i] = r->kb.len;
		r->recs[i].keylen = one.len;
		sb_add(&r->kb, one.buf, one.len);
	}
	for (i = 0; i < nrows; i++)
		r->recs[i].key = r->kb.buf + r->koff[i];
	if ((rc = fs_online_read(store, v->view->name, v->schema, r->recs, nrows, r->hits)))
		goto done;
	if (v->agg) {
		read_aggs(v, r, nrows, now);
		goto done;
	}
	for (i = 0; i < nrows; i++) {
		const struct fs_online_hit *h = &r->hits[i];
		r->ok[i] = h->found && !r->nokey[i] &&
			   fs_online_decode_all(h->val, h->vallen, v->nfeat, r->vals + i * v->nfeat);
		if (r->ok[i])
			r->tslen[i] = quote_time(r->ts[i], h->ts);
	}
	rc = 0;
done:
	sb_release(&one);
	return rc;
}

/* An aggregation feature's statuses and event timestamps (then closes its result). */
static void agg_statuses(struct strbuf *out, const struct pview *v, const struct rview *r,
			 size_t feat, size_t nrows)
{
	char buf[FS_TIME_BUFSZ + 2];
	size_t j;

	for (j = 0; j < nrows; j++) {
		if (j)
			put(out, ",", 1);
		if (r->present[j * v->nfeat + feat])
			PUTL(out, "\"PRESENT\"");
		else
			PUTL(out, "\"NOT_FOUND\"");
	}
	PUTL(out, "],\"event_timestamps\":[");
	for (j = 0; j < nrows; j++) {
		if (j)
			put(out, ",", 1);
		if (r->present[j * v->nfeat + feat])
			put(out, buf, quote_time(buf, r->ets[j * v->nfeat + feat]));
		else
			PUTL(out, EPOCH);
	}
	PUTL(out, "]}");
}

/* Is name a join key of a view of p? */
static bool plan_has_key(const struct fs_serve_plan *p, const char *name)
{
	size_t i, k;

	for (i = 0; i < p->nviews; i++)
		for (k = 0; k < p->views[i].keys.n; k++)
			if (!strcmp(p->views[i].keys.names[k], name))
				return true;
	return false;
}

/* Is column name an int64 join key of a view of p? */
static bool int_key(const struct fs_serve_plan *p, const char *name)
{
	size_t i, k;

	for (i = 0; i < p->nviews; i++)
		for (k = 0; k < p->views[i].keys.n; k++)
			if (!strcmp(p->views[i].keys.names[k], name))
				return p->views[i].keys.is_int[k];
	return false;
}

json_t *fs_serve_plan_entities(const struct fs_serve_plan *p, const struct fs_defs *defs,
				json_t *entities)
{
	json_t *out, *col;
	const char *key;
	bool same = true;

	if (!json_is_object(entities))
		return json_incref(entities);
	json_object_foreach(entities, key, col)
		if (!plan_has_key(p, key))
			same = false;
	if (same)
		return json_incref(entities);
	out = json_object();
	json_object_foreach(entities, key, col) {
		const struct fs_object *e;
		const char *jk;
		if (plan_has_key(p, key)) {
			json_object_set(out, key, col);
			continue;
		}
		/* an entity's name for its join key (Feast maps it, with a warning) */
		e = fs_defs_find(defs, FS_KIND_ENTITY, key);
		jk = e ? json_string_value(json_object_get(e->spec, "join_key")) : NULL;
		if (jk && plan_has_key(p, jk) && !json_object_get(entities, jk))
			json_object_set(out, jk, col);
		/* else not a join key of the views asked for: dropped, as Feast does */
	}
	if (!json_object_size(out)) {
		/* no join key at all: the response names the missing one */
		json_decref(out);
		return json_incref(entities);
	}
	return out;
}

int fs_online_response_plan(struct fs_online *store, const struct fs_serve_plan *p,
			    const json_t *entities, int64_t now_us, struct strbuf *out)
{
	struct rview *rv = xcalloc(p->nviews + 1, sizeof(*rv));
	size_t nrows = 0, i, j;
	const char *key;
	json_t *col;
	bool first = true;
	int rc = 0;

	if (!json_is_object(entities) || !json_object_size(entities)) {
		fs_error_set("entities: expected an object of join key columns, like {\"driver_id\": [1001]}");
		rc = FS_EINVALID;
		goto done;
	}
	json_object_foreach((json_t *)entities, key, col) {
		if (!json_is_array(col)) {
			fs_error_set("entities.%s: expected a list of values", key);
			rc = FS_EINVALID;
			goto done;
		}
		if (first)
			nrows = json_array_size(col);
		else if (json_array_size(col) != nrows) {
			fs_error_set("entities: columns have different lengths (%s has %zu, expected %zu)",
				     key, json_array_size(col), nrows);
			rc = FS_EINVALID;
			goto done;
		}
		first = false;
	}
	for (i = 0; i < p->nviews; i++)
		if ((rc = read_view(&p->views[i], &rv[i], store, entities, nrows, now_us)))
			goto done;
	sb_grow(out, (p->ncols + 1) * (nrows + 1) * 48); /* values, statuses, times */

	sb_adds(out, "{\"metadata\":{\"feature_names\":[");
	first = true;
	json_object_foreach((json_t *)entities, key, col) {
		if (!first)
			sb_addc(out, ',');
		fs_json_quote(out, key, strlen(key));
		first = false;
	}
	if (p->names.len)
		put(out, p->names.buf, p->names.len);
	PUTL(out, "]},\"results\":[");
	first = true;
	json_object_foreach((json_t *)entities, key, col) {
		bool is_int = int_key(p, key);
		json_t *v;
		int64_t iv;
		if (!first)
			sb_addc(out, ',');
		first = false;
		sb_adds(out, "{\"values\":[");
		json_array_foreach(col, j, v) {
			if (j)
				sb_addc(out, ',');
			if (json_is_integer(v))
				sb_addf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			else if (is_int && json_is_string(v) &&
				 fs_parse_int64(json_string_value(v), json_string_length(v), &iv))
				/* the key read: "+1001" and "01001" are 1001 */
				sb_addf(out, "%lld", (long long)iv);
			else if (json_is_string(v))
				fs_json_quote(out, json_string_value(v), json_string_length(v));
			else if (json_is_real(v)) {
				char buf[40];
				fs_format_double(buf, sizeof(buf), json_real_value(v));
				sb_adds(out, buf);
			} else if (json_is_boolean(v))
				sb_adds(out, json_is_true(v) ? "true" : "false");
			else
				sb_adds(out, "null");
		}
		sb_adds(out, "],\"statuses\":[");
		for (j = 0; j < nrows; j++)
			sb_adds(out, j ? ",\"PRESENT\"" : "\"PRESENT\"");
		sb_adds(out, "],\"event_timestamps\":[");
		for (j = 0; j < nrows; j++)
			sb_adds(out, j ? "," EPOCH : EPOCH);
		sb_adds(out, "]}");
	}
	for (i = 0; i < p->ncols; i++) {
		const struct pcol *c = &p->cols[i];
		const struct pview *v = &p->views[c->view];
		const struct rview *r = &rv[c->view];
		const struct fs_scan_value *val;

		PUTL(out, ",{\"values\":[");
		for (j = 0; j < nrows; j++) {
			if (j)
				put(out, ",", 1);
			val = &r->vals[j * v->nfeat + c->feat];
			if (!r->ok[j] || val->null)
				PUTL(out, "null");
			else if (v->types[c->feat] == FS_T_TIMESTAMP)
				put_unix_seconds(out, val->iv);
			else
				fs_value_json(out, v->types[c->feat], val->iv, val->text, val->len);
		}
		PUTL(out, "],\"statuses\":[");
		if (v->agg) {
			agg_statuses(out, v, r, c->feat, nrows);
			continue;
		}
		for (j = 0; j < nrows; j++) {
			val = &r->vals[j * v->nfeat + c->feat];
			if (j)
				put(out, ",", 1);
			if (!r->ok[j])
				PUTL(out, "\"NOT_FOUND\"");
			else if (val->null)
				PUTL(out, "\"NULL_VALUE\"");
			else if (v->ttl_us > 0 && r->hits[j].ts < now_us - v->ttl_us)
				PUTL(out, "\"OUTSIDE_MAX_AGE\"");
			else
				PUTL(out, "\"PRESENT\"");
		}
		PUTL(out, "],\"event_timestamps\":[");
		for (j = 0; j < nrows; j++) {
			if (j)
				put(out, ",", 1);
			if (r->ok[j])
				put(out, r->ts[j], r->tslen[j]);
			else
				PUTL(out, EPOCH);
		}
		PUTL(out, "]}");
	}
	PUTL(out, "]}");
	out->buf[out->len] = '\0';
done:
	for (i = 0; i < p->nviews; i++)
		rview_release(&rv[i], nrows);
	free(rv);
	return rc;
}

int fs_online_response(struct fs_online *store, const struct fs_defs *defs, const json_t *refs,
		       const json_t *entities, int64_t now_us, struct strbuf *out)
{
	struct fs_serve_plan *plan;
	int rc;

	if ((rc = fs_serve_plan_build(&plan, defs, refs)))
		return rc;
	rc = fs_online_response_plan(store, plan, entities, now_us, out);
	fs_serve_plan_free(plan);
	return rc;
}

/* One view's records of a push: the newest row per key. */
struct push_view {
	const struct fs_object *view;
	struct fs_keymap *keys;
	struct fs_online_rec *recs;
	struct strbuf *vals;
	size_t n, nrows;
};

static void push_view_release(struct push_view *p)
{
	size_t k;

	for (k = 0; k < p->n; k++)
		sb_release(&p->vals[k]);
	free(p->vals);
	free(p->recs);
	fs_keymap_free(p->keys);
}

/*
 * A pushed event more than FS_MAX_AHEAD_US ahead of the clock is refused
 * as a bad row: newest-wins would hold that key's value until then.
 */
static int not_ahead(struct fs_source *rows, int64_t ts)
{
	char where[512], when[FS_TIME_BUFSZ];

	if (ts <= (int64_t)time(NULL) * FS_USEC + FS_MAX_AHEAD_US)
		return 0;
	fs_source_where(rows, where, sizeof(where));
	fs_time_format_us(when, ts);
	fs_error_set("%s: event time %s is more than a day ahead of the clock (a clock or unit error?)",
		     where, when);
	return FS_EINVALID;
}

/* Check every row for view v and keep the newest per key in p. */
static int push_collect(struct push_view *p, const struct fs_defs *defs, const struct fs_object *v,
			const json_t *data, struct fs_source *rows)
{
	struct fs_viewscan *scan = NULL;
	const struct strbuf *key;
	const struct fs_scan_value *sv;
	enum fs_type *types;
	size_t alloc = 0, vals_alloc = 0, nfeat, k;
	int64_t ts, cr;
	int rc;

	p->view = v;
	p->keys = fs_keymap_new();
	fs_source_table_rewind(rows);
	if ((rc = fs_viewscan_open_rows(&scan, defs, v, data, rows)))
		return rc;
	if (fs_view_is_agg(v->spec)) {
		/* checked here, applied to the tiles with the other views' writes */
		/* (a row without a join key is an error of fs_viewscan_next) */
		while ((rc = fs_viewscan_next(scan, &key, &ts, &cr, &sv)) == 1 &&
		       !(rc = not_ahead(rows, ts)))
			p->nrows++;
		fs_viewscan_close(scan);
		return rc;
	}
	types = fs_view_types(v->spec, &nfeat);
	/* newest wins inside the push too */
	while ((rc = fs_viewscan_next(scan, &key, &ts, &cr, &sv)) == 1) {
		uint32_t id;
		if ((rc = not_ahead(rows, ts)))
			break;
		p->nrows++;
		id = fs_keymap_find(p->keys, key->buf, key->len);
		if (id == FS_KEY_NONE) {
			id = fs_keymap_intern(p->keys, key->buf, key->len);
			ALLOC_GROW(p->recs, p->n + 1, alloc);
			/* the same geometric growth as recs: not a reallocation per key */
			ALLOC_GROW(p->vals, p->n + 1, vals_alloc);
			memset(&p->recs[p->n], 0, sizeof(p->recs[p->n]));
			sb_init(&p->vals[p->n]);
			p->n++;
		} else if (ts < p->recs[id].ts || (ts == p->recs[id].ts && cr < p->recs[id].created)) {
			continue;
		}
		fs_online_encode(&p->vals[id], types, sv, nfeat);
		p->recs[id].ts = ts;
		p->recs[id].created = cr;
	}
	for (k = 0; k < p->n; k++) {
		p->recs[k].key = fs_keymap_key(p->keys, (uint32_t)k, &p->recs[k].keylen);
		p->recs[k].val = p->vals[k].buf;
		p->recs[k].vallen = p->vals[k].len;
	}
	free(types);
	fs_viewscan_close(scan);
	return rc;
}

int fs_push(struct fs_online *store, const struct fs_defs *defs, const char *source,
	    struct fs_source *rows, json_t **out)
{
	const struct fs_object *src;
	const json_t *data;
	int rc;

	*out = json_array();
	if ((rc = fs_push_source_find(defs, NULL, source, &src)))
		return rc;
	/* the push source's own column names where it has them, else its batch source's */
	data = json_object_get(src->spec, "timestamp_field") ? src->spec
							     : fs_source_data_spec(defs, src->spec);
	if (!data) {
		fs_error_set("push source '%s': its batch_source is not registered", source);
		return FS_ENOTFOUND;
	}
	return fs_rows_apply(store, defs, source, data, rows, *out);
}

int fs_view_newest(struct fs_online *store, const char *view, int64_t *us)
{
	struct strbuf val = STRBUF_INIT;
	char *name = xstrfmt("newest/%s", view);
	bool found = false;
	int rc = fs_online_meta_get(store, name, &val, &found);

	*us = INT64_MIN;
	if (!rc && found)
		*us = strtoll(val.buf, NULL, 10);
	sb_release(&val);
	free(name);
	return rc;
}

/* Raise the record of view's newest pushed event to us (after the rows are written). */
static int note_newest(struct fs_online *store, const char *view, int64_t us)
{
	int64_t old;
	int rc = fs_view_newest(store, view, &old);

	if (!rc && us > old) {
		char *name = xstrfmt("newest/%s", view), val[32];
		snprintf(val, sizeof(val), "%lld", (long long)us);
		rc = fs_online_meta_put(store, name, val);
		free(name);
	}
	return rc;
}

/* rows to the views reading source, or to the one view named only (source NULL) */
static int rows_apply(struct fs_online *store, const struct fs_defs *defs, const char *source,
		      const char *only, const json_t *data, struct fs_source *rows, json_t *res)
{
	struct push_view *pv;
	size_t i, nviews = 0, offline = 0;
	int rc = 0;

	pv = xcalloc(defs->n + 1, sizeof(*pv));
	for (i = 0; i < defs->n && !rc; i++) {
		const struct fs_object *v = &defs->objs[i];

		if (v->kind != FS_KIND_FEATURE_VIEW)
			continue;
		if (only ? strcmp(v->name, only)
			 : strcmp(json_string_value(json_object_get(v->spec, "source")), source))
			continue;
		if (!json_is_true(json_object_get(v->spec, "online"))) {
			/* online: false: nothing of it is kept online */
			if (only) {
				fs_error_set("feature view '%s' is not online (online: false)", only);
				rc = FS_EINVALID;
			}
			offline++;
			continue;
		}
		rc = push_collect(&pv[nviews++], defs, v, data, rows);
	}
	if (!rc && !nviews && !offline) {
		if (only)
			fs_error_set("no feature view '%s' is registered", only);
		else
			fs_error_set("no feature view reads source '%s'", source);
		rc = FS_ENOTFOUND;
	}
	/* every row checked for every view: a bad row has written nothing */
	for (i = 0; !rc && i < nviews; i++) {
		char *schema;
		size_t written = 0;

		if (fs_view_is_agg(pv[i].view->spec)) {
			struct fs_viewscan *scan = NULL;
			struct fs_agg_applied ap;
			fs_source_table_rewind(rows);
			rc = fs_viewscan_open_rows(&scan, defs, pv[i].view, data, rows);
			if (!rc)
				rc = fs_agg_apply(store, defs, pv[i].view, scan, &ap);
			fs_viewscan_close(scan);
			if (!rc)
				json_array_append_new(res, json_pack("{s:s, s:I, s:I, s:I, s:I}", "view",
								     pv[i].view->name, "rows",
								     (json_int_t)ap.rows, "keys_written",
								     (json_int_t)ap.keys, "applied",
								     (json_int_t)ap.applied, "late",
								     (json_int_t)ap.late));
			continue;
		}
		schema = fs_view_schema(defs, pv[i].view);

		rc = fs_online_write(store, pv[i].view->name, schema, pv[i].recs, pv[i].n, &written);
		free(schema);
		if (!rc && pv[i].n) {
			/* the newest event: the view's freshness when it is not materialized */
			int64_t newest = INT64_MIN;
			char when[FS_TIME_BUFSZ];
			size_t k;
			json_t *r;
			for (k = 0; k < pv[i].n; k++)
				if (pv[i].recs[k].ts > newest)
					newest = pv[i].recs[k].ts;
			/* a batch or an intent (fs stream) keeps it with its positions */
			if (!store->in_batch && !store->mark)
				rc = note_newest(store, pv[i].view->name, newest);
			fs_time_format_us(when, newest);
			r = json_pack("{s:s, s:I, s:I, s:s}", "view", pv[i].view->name, "rows",
				      (json_int_t)pv[i].nrows, "keys_written", (json_int_t)written,
				      "newest_event", when);
			if (!rc)
				json_array_append_new(res, r);
			else
				json_decref(r);
		} else if (!rc) {
			json_array_append_new(res, json_pack("{s:s, s:I, s:I}", "view", pv[i].view->name,
							     "rows", (json_int_t)pv[i].nrows,
							     "keys_written", (json_int_t)written));
		}
	}
	for (i = 0; i < nviews; i++)
		push_view_release(&pv[i]);
	free(pv);
	return rc;
}

int fs_rows_apply(struct fs_online *store, const struct fs_defs *defs, const char *source,
		  const json_t *data, struct fs_source *rows, json_t *res)
{
	return rows_apply(store, defs, source, NULL, data, rows, res);
}

int fs_view_write(struct fs_online *store, const struct fs_defs *defs, const char *view,
		  struct fs_source *rows, json_t **out)
{
	/* columns named as the view names them: no field_mapping */
	json_t *data = json_pack("{s:s, s:s}", "timestamp_field", "event_timestamp",
				 "created_timestamp_field", "created");
	int rc;

	*out = json_array();
	rc = rows_apply(store, defs, NULL, view, data, rows, *out);
	json_decref(data);
	return rc;
}

int fs_push_stores(const char *to)
{
	if (!strcmp(to, "online"))
		return FS_PUSH_ONLINE;
	if (!strcmp(to, "offline"))
		return FS_PUSH_OFFLINE;
	if (!strcmp(to, "online_and_offline"))
		return FS_PUSH_ONLINE | FS_PUSH_OFFLINE;
	return 0;
}

int fs_push_to(struct fs_online *store, const struct fs_defs *defs, const char *root,
	       const struct fs_config *cfg, const char *source, int stores,
	       struct fs_source *rows, json_t **out)
{
	bool online = stores & FS_PUSH_ONLINE, offline = stores & FS_PUSH_OFFLINE;
	struct fs_offline_append *app = NULL;
	json_t *views = NULL;
	int rc;

	*out = NULL;
	/* both stores or neither: the offline rows staged first, kept last */
	if (offline &&
	    (rc = fs_offline_append_prepare(root, cfg, defs, source, rows, &app)))
		return rc;
	if (online && (rc = fs_push(store, defs, source, rows, &views))) {
		fs_offline_append_abort(app);
		json_decref(views);
		return rc;
	}
	*out = json_object();
	if (views)
		json_object_set_new(*out, "views", views);
	if (app) {
		json_object_set_new(*out, "offline",
				    json_pack("{s:s, s:s, s:I}", "source", fs_offline_append_source(app),
					      "where", fs_offline_append_what(app), "rows",
					      (json_int_t)fs_offline_append_rows(app)));
		if ((rc = fs_offline_append_commit(app))) {
			if (online) {
				char *msg = xstrdup(fs_error_last());
				fs_error_set("%s (the rows were written to the online store, not to the offline store)",
					     msg);
				free(msg);
			}
			json_decref(*out);
			*out = NULL;
			return rc;
		}
	}
	return 0;
}
