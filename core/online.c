#include "online.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"
#include "banned.h"

static const struct fs_online_ops *const backends[] = {
	&fs_online_sqlite_ops,
	&fs_online_redis_ops,
};

int fs_online_open(struct fs_online **out, const struct fs_config *cfg)
{
	struct fs_online *o;
	size_t i;
	int rc;

	*out = NULL;
	for (i = 0; i < ARRAY_SIZE(backends); i++)
		if (!strcmp(backends[i]->type, cfg->online_type))
			break;
	if (i == ARRAY_SIZE(backends)) {
		fs_error_set("unknown online store type '%s'", cfg->online_type);
		return FS_ERR;
	}
	o = xcalloc(1, sizeof(*o));
	o->ops = backends[i];
	if (o->ops == &fs_online_redis_ops && cfg->online_cluster_n)
		o->ops = &fs_online_redis_cluster_ops;
	o->project = xstrdup(cfg->project ? cfg->project : "fs");
	if ((rc = o->ops->open(o, cfg))) {
		fs_online_close(o);
		return rc;
	}
	*out = o;
	return 0;
}

void fs_online_close(struct fs_online *o)
{
	if (!o)
		return;
	fs_online_rollback(o);
	if (o->state)
		o->ops->close(o);
	free(o->project);
	free(o->where);
	free(o->mark);
	free(o);
}

int fs_online_write(struct fs_online *o, const char *view, const char *schema,
		    const struct fs_online_rec *recs, size_t n, size_t *written)
{
	*written = 0;
	return o->ops->write(o, view, schema, recs, n, written);
}

int fs_online_read(struct fs_online *o, const char *view, const char *schema,
		   const struct fs_online_rec *keys, size_t n, struct fs_online_hit *hits)
{
	memset(hits, 0, n * sizeof(*hits));
	return o->ops->read(o, view, schema, keys, n, hits);
}

void fs_online_hits_release(struct fs_online_hit *hits, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(hits[i].val);
}

int fs_online_drop(struct fs_online *o, const char *view)
{
	return o->ops->drop(o, view);
}

int fs_online_update(struct fs_online *o, const char *view, const char *schema,
		     const struct fs_online_rec *keys, size_t n, unsigned flags, fs_online_update_fn fn,
		     void *ctx)
{
	return o->ops->update(o, view, schema, keys, n, flags, fn, ctx);
}

int fs_online_count(struct fs_online *o, const char *view, const char *schema, int64_t *n)
{
	return o->ops->count(o, view, schema, n);
}

int fs_online_ping(struct fs_online *o)
{
	return o->ops->ping(o);
}

char *fs_view_schema(const struct fs_defs *defs, const struct fs_object *view)
{
	struct strbuf sb = STRBUF_INIT;
	json_t *ents = json_object_get(view->spec, "entities"), *f;
	size_t i;

	sb_adds(&sb, "1");
	for (i = 0; i < json_array_size(ents); i++) {
		const struct fs_object *e = fs_defs_find(
			defs, FS_KIND_ENTITY, json_string_value(json_array_get(ents, i)));
		sb_addf(&sb, "|k:%s:%s", e ? json_string_value(json_object_get(e->spec, "join_key")) : "?",
			e ? json_string_value(json_object_get(e->spec, "type")) : "?");
	}
	json_array_foreach(json_object_get(view->spec, "features"), i, f)
		sb_addf(&sb, "|f:%s:%s", json_string_value(json_object_get(f, "name")),
			json_string_value(json_object_get(f, "type")));
	/* the tiles of an aggregation view are decoded by its aggregations */
	json_array_foreach(json_object_get(view->spec, "aggregations"), i, f) {
		const char *col = json_string_value(json_object_get(f, "column"));
		const char *type = json_string_value(json_object_get(f, "type"));
		sb_addf(&sb, "|a:%s:%s:%s:%s:%lld:%lld", json_string_value(json_object_get(f, "name")),
			json_string_value(json_object_get(f, "function")), col ? col : "",
			type ? type : "", (long long)json_integer_value(json_object_get(f, "window")),
			(long long)json_integer_value(json_object_get(f, "hop")));
	}
	return sb_detach(&sb);
}

enum { TAG_NULL = 0, TAG_INT = 1, TAG_TEXT = 2 };

void fs_online_encode(struct strbuf *out, const enum fs_type *types,
		      const struct fs_scan_value *v, size_t n)
{
	size_t i;

	sb_reset(out);
	for (i = 0; i < n; i++) {
		if (v[i].null) {
			sb_addc(out, TAG_NULL);
		} else if (fs_type_is_text(types[i])) {
			uint32_t l = (uint32_t)v[i].len;
			sb_addc(out, TAG_TEXT);
			sb_add(out, &l, sizeof(l));
			sb_add(out, v[i].text, v[i].len);
		} else {
			sb_addc(out, TAG_INT);
			sb_add(out, &v[i].iv, sizeof(v[i].iv));
		}
	}
}

bool fs_online_decode_all(const char *val, size_t len, size_t n, struct fs_scan_value *out)
{
	const char *p = val, *end = val + len;
	size_t i;

	for (i = 0; i < n; i++) {
		uint32_t l;

		if (p >= end)
			return false;
		switch (*p++) {
		case TAG_NULL:
			out[i].null = true;
			break;
		case TAG_INT:
			if (end - p < 8)
				return false;
			out[i].null = false;
			memcpy(&out[i].iv, p, 8);
			p += 8;
			break;
		case TAG_TEXT:
			if (end - p < 4)
				return false;
			memcpy(&l, p, 4);
			p += 4;
			if ((size_t)(end - p) < l)
				return false;
			out[i].null = false;
			out[i].text = p;
			out[i].len = l;
			p += l;
			break;
		default:
			return false;
		}
	}
	return true;
}

int fs_online_begin(struct fs_online *o)
{
	int rc;

	if (o->in_batch) {
		fs_error_set("online store '%s': a batch is already open", o->where);
		return FS_ERR;
	}
	if (!o->ops->begin) {
		fs_error_set("online store '%s': no atomic batch on this store", o->where);
		return FS_ERR;
	}
	if (!(rc = o->ops->begin(o)))
		o->in_batch = true;
	return rc;
}

int fs_online_commit(struct fs_online *o)
{
	int rc = o->ops->commit(o);

	o->in_batch = false;
	return rc;
}

void fs_online_rollback(struct fs_online *o)
{
	if (o->in_batch)
		o->ops->rollback(o);
	o->in_batch = false;
}

const char FS_META_ANY[] = "(any)";

bool fs_online_has_batches(const struct fs_online *o)
{
	return o->ops->begin != NULL;
}

int fs_online_meta_change(struct fs_online *o, const struct fs_meta_change *c, size_t n)
{
	if (!o->ops->meta_change) {
		fs_error_set("online store '%s': no change of several records at once", o->where);
		return FS_ERR;
	}
	return o->ops->meta_change(o, c, n);
}

void fs_online_mark(struct fs_online *o, const char *id, const char *live)
{
	free(o->mark);
	o->mark = id ? xstrdup(id) : NULL;
	if (o->ops->mark)
		o->ops->mark(o, id, live);
}

int fs_online_forget_marks(struct fs_online *o)
{
	return o->ops->forget_marks ? o->ops->forget_marks(o) : 0;
}

int fs_online_meta_get(struct fs_online *o, const char *name, struct strbuf *val, bool *found)
{
	sb_reset(val);
	*found = false;
	return o->ops->meta_get(o, name, val, found);
}

int fs_online_meta_put(struct fs_online *o, const char *name, const char *val)
{
	return o->ops->meta_put(o, name, val);
}

int fs_online_meta_list(struct fs_online *o, const char *prefix,
			void (*fn)(void *ctx, const char *name, const char *val), void *ctx)
{
	return o->ops->meta_list(o, prefix, fn, ctx);
}

void fs_online_defer_maintenance(struct fs_online *o)
{
	if (o->ops->defer_maintenance)
		o->ops->defer_maintenance(o);
}

int fs_online_maintain(struct fs_online *o)
{
	return o->ops->maintain ? o->ops->maintain(o) : 0;
}
