#include "serving.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "keymap.h"
#include "timeutil.h"
#include "util.h"
#include "value.h"
#include "viewscan.h"
#include "banned.h"

#define EPOCH "\"1970-01-01T00:00:00Z\""

struct rview {
	const struct fs_object *view;
	struct fs_view_keys keys;
	enum fs_type *types;
	size_t nfeat;
	char *schema;
	struct fs_online_rec *recs; /* one per entity row */
	struct strbuf *kbs;
	bool *nokey;
	struct fs_online_hit *hits;
};

static void rview_release(struct rview *r, size_t nrows)
{
	size_t i;

	fs_view_keys_release(&r->keys);
	free(r->types);
	free(r->schema);
	free(r->recs);
	for (i = 0; r->kbs && i < nrows; i++)
		sb_release(&r->kbs[i]);
	free(r->kbs);
	free(r->nokey);
	if (r->hits)
		fs_online_hits_release(r->hits, nrows);
	free(r->hits);
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

static int load_view(struct rview *r, const struct fs_defs *defs, const json_t *entities,
		     size_t nrows)
{
	size_t i, k;
	int rc;

	if ((rc = fs_view_keys_load(&r->keys, defs, r->view)))
		return rc;
	r->types = fs_view_types(r->view->spec, &r->nfeat);
	r->schema = fs_view_schema(defs, r->view);
	r->recs = xcalloc(nrows + 1, sizeof(*r->recs));
	r->kbs = xcalloc(nrows + 1, sizeof(*r->kbs));
	r->nokey = xcalloc(nrows + 1, sizeof(bool));
	r->hits = xcalloc(nrows + 1, sizeof(*r->hits));
	for (k = 0; k < r->keys.n; k++)
		if (!json_object_get(entities, r->keys.names[k])) {
			fs_error_set("entities: missing join key '%s' (of entity '%s', needed by feature_view '%s')",
				     r->keys.names[k], r->keys.entity[k], r->view->name);
			return FS_EINVALID;
		}
	for (i = 0; i < nrows; i++) {
		const char *vals[64];
		size_t lens[64];
		char bufs[64][32];

		if (r->keys.n > 64)
			return FS_EINVALID;
		for (k = 0; k < r->keys.n; k++) {
			const json_t *v = json_array_get(json_object_get(entities, r->keys.names[k]), i);
			if (!entity_text(v, bufs[k], sizeof(bufs[k]), &vals[k], &lens[k])) {
				fs_error_set("entities.%s[%zu]: expected %s, not a JSON %s", r->keys.names[k],
					     i, r->keys.is_int[k] ? "an integer" : "a string",
					     json_is_real(v) ? "number with a fraction"
					     : json_is_boolean(v) ? "boolean"
								  : "object or array");
				return FS_EINVALID;
			}
		}
		sb_init(&r->kbs[i]);
		rc = fs_key_encode(&r->keys, &r->kbs[i], vals, lens);
		if (rc < 0) {
			char msg[1024];
			snprintf(msg, sizeof(msg), "%s", fs_error_last());
			fs_error_set("entities row %zu: %s", i, msg);
			return FS_EINVALID;
		}
		r->nokey[i] = rc == 0;
		r->recs[i].key = r->kbs[i].buf;
		r->recs[i].keylen = r->kbs[i].len;
	}
	return 0;
}

int fs_online_response(struct fs_online *store, const struct fs_defs *defs, const json_t *refs,
		       const json_t *entities, int64_t now_us, struct strbuf *out)
{
	struct rview *views = xcalloc(json_array_size(refs) + 1, sizeof(*views));
	size_t nviews = 0, nrows = 0, i, j;
	const char *key;
	json_t *col, *ref;
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
	/* one online read per view */
	json_array_foreach(refs, i, ref) {
		const char *vname = json_string_value(json_object_get(ref, "view"));
		for (j = 0; j < nviews; j++)
			if (!strcmp(views[j].view->name, vname))
				break;
		if (j < nviews)
			continue;
		views[nviews].view = fs_defs_find(defs, FS_KIND_FEATURE_VIEW, vname);
		if ((rc = load_view(&views[nviews++], defs, entities, nrows)))
			goto done;
		if ((rc = fs_online_read(store, vname, views[nviews - 1].schema, views[nviews - 1].recs,
					 nrows, views[nviews - 1].hits)))
			goto done;
	}

	sb_adds(out, "{\"metadata\":{\"feature_names\":[");
	first = true;
	json_object_foreach((json_t *)entities, key, col) {
		if (!first)
			sb_addc(out, ',');
		fs_json_quote(out, key, strlen(key));
		first = false;
	}
	json_array_foreach(refs, i, ref) {
		const char *c = json_string_value(json_object_get(ref, "column"));
		sb_addc(out, ',');
		fs_json_quote(out, c, strlen(c));
	}
	sb_adds(out, "]},\"results\":[");
	first = true;
	json_object_foreach((json_t *)entities, key, col) {
		json_t *v;
		if (!first)
			sb_addc(out, ',');
		first = false;
		sb_adds(out, "{\"values\":[");
		json_array_foreach(col, j, v) {
			char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			sb_adds(out, j ? "," : "");
			sb_adds(out, text ? text : "null");
			free(text);
		}
		sb_adds(out, "],\"statuses\":[");
		for (j = 0; j < nrows; j++)
			sb_adds(out, j ? ",\"PRESENT\"" : "\"PRESENT\"");
		sb_adds(out, "],\"event_timestamps\":[");
		for (j = 0; j < nrows; j++)
			sb_adds(out, j ? "," EPOCH : EPOCH);
		sb_adds(out, "]}");
	}
	json_array_foreach(refs, i, ref) {
		const char *vname = json_string_value(json_object_get(ref, "view"));
		const char *fname = json_string_value(json_object_get(ref, "feature"));
		struct rview *r = NULL;
		json_t *feats, *f;
		size_t fi = 0, k;
		int64_t ttl_us;
		char ts[FS_TIME_BUFSZ];
		const char **status = xcalloc(nrows + 1, sizeof(char *));

		for (k = 0; k < nviews; k++)
			if (!strcmp(views[k].view->name, vname))
				r = &views[k];
		feats = json_object_get(r->view->spec, "features");
		json_array_foreach(feats, k, f)
			if (!strcmp(json_string_value(json_object_get(f, "name")), fname))
				fi = k;
		ttl_us = json_integer_value(json_object_get(r->view->spec, "ttl")) * FS_USEC;
		if (!first || i)
			sb_addc(out, ',');
		sb_adds(out, "{\"values\":[");
		for (j = 0; j < nrows; j++) {
			const struct fs_online_hit *h = &r->hits[j];
			bool null = true;
			int64_t iv = 0;
			const char *text = NULL;
			size_t tlen = 0;

			if (j)
				sb_addc(out, ',');
			if (!h->found || r->nokey[j] ||
			    !fs_online_decode(h->val, h->vallen, fi, &null, &iv, &text, &tlen)) {
				status[j] = "NOT_FOUND";
				sb_adds(out, "null");
				continue;
			}
			if (null) {
				status[j] = "NULL_VALUE";
				sb_adds(out, "null");
				continue;
			}
			status[j] = ttl_us > 0 && h->ts < now_us - ttl_us ? "OUTSIDE_MAX_AGE" : "PRESENT";
			fs_value_json(out, r->types[fi], iv, text, tlen);
		}
		sb_adds(out, "],\"statuses\":[");
		for (j = 0; j < nrows; j++)
			sb_addf(out, "%s\"%s\"", j ? "," : "", status[j]);
		sb_adds(out, "],\"event_timestamps\":[");
		for (j = 0; j < nrows; j++) {
			if (j)
				sb_addc(out, ',');
			if (!strcmp(status[j], "NOT_FOUND")) {
				sb_adds(out, EPOCH);
				continue;
			}
			fs_time_format_us(ts, r->hits[j].ts);
			sb_addf(out, "\"%s\"", ts);
		}
		sb_adds(out, "]}");
		free(status);
	}
	sb_adds(out, "]}");
done:
	for (i = 0; i < nviews; i++)
		rview_release(&views[i], nrows);
	free(views);
	return rc;
}

int fs_push(struct fs_online *store, const struct fs_defs *defs, const char *source,
	    struct fs_source *rows, json_t **out)
{
	const struct fs_object *src = fs_defs_find(defs, FS_KIND_SOURCE, source);
	const json_t *data;
	json_t *res = json_array();
	size_t i, nviews = 0;
	int rc = 0;

	*out = res;
	if (!src) {
		fs_error_set("no source '%s' is registered", source);
		return FS_ENOTFOUND;
	}
	if (strcmp(json_string_value(json_object_get(src->spec, "type")), "push")) {
		fs_error_set("source '%s' is a %s source, not a push source", source,
			     json_string_value(json_object_get(src->spec, "type")));
		return FS_EINVALID;
	}
	/* the push source's own column names where it has them, else its batch source's */
	data = json_object_get(src->spec, "timestamp_field") ? src->spec
							     : fs_source_data_spec(defs, src->spec);
	if (!data) {
		fs_error_set("push source '%s': its batch_source is not registered", source);
		return FS_ENOTFOUND;
	}
	for (i = 0; i < defs->n && !rc; i++) {
		const struct fs_object *v = &defs->objs[i];
		struct fs_viewscan *scan = NULL;
		struct fs_keymap *keys;
		struct fs_online_rec *recs = NULL;
		struct strbuf *vals = NULL, enc = STRBUF_INIT;
		size_t alloc = 0, n = 0, written = 0, nrows = 0, k;
		const struct strbuf *key;
		const struct fs_scan_value *sv;
		enum fs_type *types;
		size_t nfeat;
		int64_t ts, cr;
		char *schema;

		if (v->kind != FS_KIND_FEATURE_VIEW ||
		    strcmp(json_string_value(json_object_get(v->spec, "source")), source))
			continue;
		nviews++;
		fs_source_table_rewind(rows);
		if ((rc = fs_viewscan_open_rows(&scan, defs, v, data, rows)))
			break;
		types = fs_view_types(v->spec, &nfeat);
		keys = fs_keymap_new();
		/* newest wins inside the push too */
		while ((rc = fs_viewscan_next(scan, &key, &ts, &cr, &sv)) == 1) {
			uint32_t id;
			nrows++;
			if (!key)
				continue;
			id = fs_keymap_find(keys, key->buf, key->len);
			if (id == FS_KEY_NONE) {
				id = fs_keymap_intern(keys, key->buf, key->len);
				ALLOC_GROW(recs, n + 1, alloc);
				vals = xrealloc(vals, alloc * sizeof(*vals));
				memset(&recs[n], 0, sizeof(recs[n]));
				sb_init(&vals[n]);
				n++;
			} else if (ts < recs[id].ts || (ts == recs[id].ts && cr < recs[id].created)) {
				continue;
			}
			fs_online_encode(&vals[id], types, sv, nfeat);
			recs[id].ts = ts;
			recs[id].created = cr;
		}
		if (rc == 0) {
			for (k = 0; k < n; k++) {
				recs[k].key = fs_keymap_key(keys, (uint32_t)k, &recs[k].keylen);
				recs[k].val = vals[k].buf;
				recs[k].vallen = vals[k].len;
			}
			schema = fs_view_schema(defs, v);
			rc = fs_online_write(store, v->name, schema, recs, n, &written);
			free(schema);
			if (!rc)
				json_array_append_new(res, json_pack("{s:s, s:I, s:I}", "view", v->name,
								     "rows", (json_int_t)nrows,
								     "keys_written", (json_int_t)written));
		}
		for (k = 0; k < n; k++)
			sb_release(&vals[k]);
		free(vals);
		free(recs);
		free(types);
		sb_release(&enc);
		fs_keymap_free(keys);
		fs_viewscan_close(scan);
	}
	if (!rc && !nviews) {
		fs_error_set("no feature view reads push source '%s'", source);
		rc = FS_ENOTFOUND;
	}
	return rc;
}
