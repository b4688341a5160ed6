#include "viewscan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "error.h"
#include "timeutil.h"
#include "util.h"
#include "banned.h"

int fs_view_keys_load(struct fs_view_keys *k, const struct fs_defs *defs,
		      const struct fs_object *view)
{
	json_t *ents = json_object_get(view->spec, "entities");
	size_t i;

	memset(k, 0, sizeof(*k));
	k->n = json_array_size(ents);
	k->names = xcalloc(k->n + 1, sizeof(char *));
	k->entity = xcalloc(k->n + 1, sizeof(char *));
	k->is_int = xcalloc(k->n + 1, sizeof(bool));
	for (i = 0; i < k->n; i++) {
		const char *en = json_string_value(json_array_get(ents, i));
		const struct fs_object *e = fs_defs_find(defs, FS_KIND_ENTITY, en);
		if (!e) {
			fs_error_set("feature_view '%s': entity '%s' is not registered", view->name, en);
			fs_view_keys_release(k);
			return FS_ENOTFOUND;
		}
		k->entity[i] = e->name;
		k->names[i] = json_string_value(json_object_get(e->spec, "join_key"));
		k->is_int[i] = !strcmp(json_string_value(json_object_get(e->spec, "type")), "int64");
	}
	return 0;
}

void fs_view_keys_release(struct fs_view_keys *k)
{
	free(k->names);
	free(k->entity);
	free(k->is_int);
	memset(k, 0, sizeof(*k));
}

int fs_key_encode(const struct fs_view_keys *k, struct strbuf *kb, const char *const *vals,
		  const size_t *lens)
{
	size_t i;

	sb_reset(kb);
	for (i = 0; i < k->n; i++) {
		if (!lens[i])
			return 0;
		if (k->is_int[i]) {
			int64_t v;
			if (!fs_parse_int64(vals[i], lens[i], &v)) {
				fs_error_set("column '%s': '%.*s' is not an int64 (join key of entity '%s')",
					     k->names[i], (int)lens[i], vals[i], k->entity[i]);
				return FS_EINVALID;
			}
			sb_add(kb, &v, sizeof(v));
		} else {
			uint32_t l = (uint32_t)lens[i];
			sb_add(kb, &l, sizeof(l));
			sb_add(kb, vals[i], lens[i]);
		}
	}
	return 1;
}

enum fs_type *fs_view_types(const json_t *view_spec, size_t *n)
{
	json_t *feats = json_object_get(view_spec, "features"), *f;
	enum fs_type *t = xcalloc(json_array_size(feats) + 1, sizeof(*t));
	size_t i;

	json_array_foreach(feats, i, f)
		fs_type_parse(&t[i], json_string_value(json_object_get(f, "type")));
	*n = json_array_size(feats);
	return t;
}

struct fs_viewscan {
	const struct fs_object *view;
	const json_t *data;
	struct fs_source *src;
	bool own_src;
	struct fs_view_keys keys;
	int *key_col, ts_col, cr_col, *feat_col;
	const char **feat_names;
	enum fs_type *types;
	size_t nfeat;
	bool agg; /* the columns are those an aggregation view aggregates */
	bool keys_optional; /* a row with an empty join key is handed over (key NULL) */
	const char *ts_field, *cr_field;
	struct strbuf kb;
	struct fs_scan_value *vals;
	const char **kvals;
	size_t *klens;
};

static int column(struct fs_viewscan *s, const json_t *data, const char *name, const char *role)
{
	const char *col = fs_source_column_for(data, name);
	int i = fs_source_column(s->src, col);

	if (i < 0)
		fs_error_set("source '%s' (%s) has no column '%s' (%s of feature_view '%s')",
			     s->src->name, s->src->what, col, role, s->view->name);
	return i;
}

static int setup(struct fs_viewscan *s, const json_t *data, bool created_optional)
{
	json_t *f;
	size_t i;

	s->data = data;
	s->ts_field = json_string_value(json_object_get(data, "timestamp_field"));
	s->cr_field = json_string_value(json_object_get(data, "created_timestamp_field"));
	if ((s->ts_col = column(s, data, s->ts_field, "timestamp_field")) < 0)
		return FS_EINVALID;
	if (s->cr_field) {
		/* pushed rows may leave the created timestamp out: it is a tie-break only */
		if (created_optional &&
		    fs_source_column(s->src, fs_source_column_for(data, s->cr_field)) < 0)
			s->cr_col = -1;
		else if ((s->cr_col = column(s, data, s->cr_field, "created_timestamp_field")) < 0)
			return FS_EINVALID;
	}
	s->key_col = xcalloc(s->keys.n + 1, sizeof(int));
	s->kvals = xcalloc(s->keys.n + 1, sizeof(char *));
	s->klens = xcalloc(s->keys.n + 1, sizeof(size_t));
	for (i = 0; i < s->keys.n; i++)
		if ((s->key_col[i] = column(s, data, s->keys.names[i], "join key")) < 0)
			return FS_EINVALID;
	if (fs_view_is_agg(s->view->spec)) {
		/* an aggregation view reads the columns it aggregates */
		struct fs_aggview av;
		int rc = fs_aggview_load(&av, s->view->spec);
		if (rc)
			return rc;
		s->agg = true;
		s->nfeat = av.ncols;
		s->types = xcalloc(av.ncols + 1, sizeof(*s->types));
		s->feat_names = xcalloc(av.ncols + 1, sizeof(char *));
		memcpy(s->types, av.col_types, av.ncols * sizeof(*s->types));
		memcpy(s->feat_names, av.cols, av.ncols * sizeof(char *));
		fs_aggview_release(&av);
	} else {
		s->types = fs_view_types(s->view->spec, &s->nfeat);
		s->feat_names = xcalloc(s->nfeat + 1, sizeof(char *));
		json_array_foreach(json_object_get(s->view->spec, "features"), i, f)
			s->feat_names[i] = json_string_value(json_object_get(f, "name"));
	}
	s->feat_col = xcalloc(s->nfeat + 1, sizeof(int));
	s->vals = xcalloc(s->nfeat + 1, sizeof(*s->vals));
	for (i = 0; i < s->nfeat; i++)
		if ((s->feat_col[i] = column(s, data, s->feat_names[i],
					     s->agg ? "aggregated column" : "feature")) < 0)
			return FS_EINVALID;
	return 0;
}

static struct fs_viewscan *scan_new(const struct fs_object *view)
{
	struct fs_viewscan *s = xcalloc(1, sizeof(*s));

	s->view = view;
	s->cr_col = -1;
	sb_init(&s->kb);
	return s;
}

int fs_viewscan_open(struct fs_viewscan **out, const struct fs_defs *defs,
		     const struct fs_object *view, const char *root)
{
	const char *sname = json_string_value(json_object_get(view->spec, "source"));
	const struct fs_object *so = fs_defs_find(defs, FS_KIND_SOURCE, sname);
	struct fs_viewscan *s = scan_new(view);
	int rc;

	*out = NULL;
	s->own_src = true;
	if (!so) {
		fs_error_set("feature_view '%s': source '%s' is not registered", view->name, sname);
		rc = FS_ENOTFOUND;
		goto fail;
	}
	if ((rc = fs_view_keys_load(&s->keys, defs, view)) ||
	    (rc = fs_source_open(&s->src, defs, so->spec, root)) ||
	    (rc = setup(s, fs_source_data_spec(defs, so->spec), false)))
		goto fail;
	*out = s;
	return 0;
fail:
	fs_viewscan_close(s);
	return rc;
}

int fs_viewscan_open_window(struct fs_viewscan **out, const struct fs_defs *defs,
			    const struct fs_object *view, const char *root, int64_t start_us,
			    int64_t end_us)
{
	const char *sname = json_string_value(json_object_get(view->spec, "source"));
	const struct fs_object *so = fs_defs_find(defs, FS_KIND_SOURCE, sname);
	const json_t *data = so ? fs_source_data_spec(defs, so->spec) : NULL;
	const struct fs_source_ops *ops = data ? fs_source_spec_ops(data) : NULL;
	struct fs_source_latest q = { 0 };
	const char **cols = NULL;
	struct fs_viewscan *s;
	size_t i;
	int rc;

	if (!ops || !ops->open_latest)
		return fs_viewscan_open(out, defs, view, root);
	*out = NULL;
	s = scan_new(view);
	s->own_src = true;
	if ((rc = fs_view_keys_load(&s->keys, defs, view)))
		goto fail;
	cols = xcalloc(s->keys.n + 1, sizeof(*cols));
	for (i = 0; i < s->keys.n; i++)
		cols[i] = fs_source_column_for(data, s->keys.names[i]);
	q.keys = cols;
	q.is_int = s->keys.is_int;
	q.nkeys = s->keys.n;
	q.start_us = start_us;
	q.end_us = end_us;
	if ((rc = fs_source_open_latest(&s->src, data,
					json_string_value(json_object_get(data, "name")), root, &q)) ||
	    (rc = setup(s, data, false)))
		goto fail;
	free(cols);
	*out = s;
	return 0;
fail:
	free(cols);
	fs_viewscan_close(s);
	return rc;
}

int fs_viewscan_open_rows(struct fs_viewscan **out, const struct fs_defs *defs,
			  const struct fs_object *view, const json_t *data, struct fs_source *src)
{
	struct fs_viewscan *s = scan_new(view);
	int rc;

	*out = NULL;
	s->src = src;
	if ((rc = fs_view_keys_load(&s->keys, defs, view)) || (rc = setup(s, data, true))) {
		fs_viewscan_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

int fs_viewscan_split(struct fs_viewscan *s, const struct fs_defs *defs,
		      struct fs_viewscan **second)
{
	struct fs_viewscan *s2;
	struct fs_source *src2;
	int rc;

	*second = NULL;
	if (!s->own_src || (rc = fs_source_split(s->src, &src2)))
		return 1;
	s2 = scan_new(s->view);
	s2->own_src = true;
	s2->keys_optional = s->keys_optional;
	s2->src = src2;
	if ((rc = fs_view_keys_load(&s2->keys, defs, s->view)) || (rc = setup(s2, s->data, false))) {
		fs_viewscan_close(s2);
		return rc;
	}
	*second = s2;
	return 0;
}

static int row_error(struct fs_viewscan *s, const char *fmt, const char *a, const char *b)
{
	char where[512], msg[2200];

	fs_source_where(s->src, where, sizeof(where));
	snprintf(msg, sizeof(msg), fmt, a, b);
	fs_error_set("%s: %s", where, msg);
	return FS_EINVALID;
}

int fs_viewscan_next(struct fs_viewscan *s, const struct strbuf **key, int64_t *ts,
		     int64_t *created, const struct fs_scan_value **values)
{
	const struct fs_cell *cells;
	size_t i;
	int rc = fs_source_next(s->src, &cells);

	if (rc <= 0)
		return rc;
	for (i = 0; i < s->keys.n; i++) {
		const struct fs_cell *c = &cells[s->key_col[i]];
		s->kvals[i] = c->s;
		s->klens[i] = c->null ? 0 : c->len;
	}
	rc = fs_key_encode(&s->keys, &s->kb, s->kvals, s->klens);
	if (rc < 0) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", fs_error_last());
		return row_error(s, "%s%s", msg, "");
	}
	if (!rc && !s->keys_optional) {
		/* such a row has no place in the online store: dropping it would hide bad data */
		for (i = 0; i + 1 < s->keys.n && s->klens[i]; i++)
			;
		return row_error(s, "join key column '%s' is empty (feature_view '%s' needs a"
				    " value in every row)",
				 s->src->columns[s->key_col[i]], s->view->name);
	}
	*key = rc ? &s->kb : NULL;
	if (cells[s->ts_col].null || !fs_time_parse(cells[s->ts_col].s, cells[s->ts_col].len, ts))
		return row_error(s, "column '%s': bad timestamp '%s' (expected " FS_TIME_FORMATS ")",
				 s->ts_field, cells[s->ts_col].s);
	*created = INT64_MIN;
	if (s->cr_col >= 0 && !cells[s->cr_col].null && !fs_time_parse(cells[s->cr_col].s, cells[s->cr_col].len, created))
		return row_error(s, "column '%s': bad timestamp '%s' (expected " FS_TIME_FORMATS ")",
				 s->cr_field, cells[s->cr_col].s);
	for (i = 0; i < s->nfeat; i++) {
		const struct fs_cell *c = &cells[s->feat_col[i]];
		struct fs_scan_value *v = &s->vals[i];

		v->null = c->null || (!c->len && s->types[i] != FS_T_STRING);
		v->text = c->s;
		v->len = c->len;
		if (!v->null && !fs_value_parse(s->types[i], c->s, c->len, &v->iv)) {
			char msg[1024];
			snprintf(msg, sizeof(msg), "column '%s': '%s' is not %s %s",
				 s->src->columns[s->feat_col[i]], c->s,
				 s->types[i] == FS_T_INT32 || s->types[i] == FS_T_INT64 ? "an" : "a",
				 fs_type_name(s->types[i]));
			return row_error(s, s->agg ? "%s (aggregated by feature_view '%s')"
					       : "%s (feature '%s')",
					 msg, s->agg ? s->view->name : s->feat_names[i]);
		}
	}
	*values = s->vals;
	return 1;
}

void fs_viewscan_keys_optional(struct fs_viewscan *s)
{
	s->keys_optional = true;
}

size_t fs_viewscan_nfeatures(const struct fs_viewscan *s)
{
	return s->nfeat;
}

enum fs_type fs_viewscan_type(const struct fs_viewscan *s, size_t i)
{
	return s->types[i];
}

void fs_viewscan_close(struct fs_viewscan *s)
{
	if (!s)
		return;
	if (s->own_src)
		fs_source_close(s->src);
	fs_view_keys_release(&s->keys);
	free(s->key_col);
	free(s->feat_col);
	free(s->feat_names);
	free(s->types);
	free(s->vals);
	free(s->kvals);
	free(s->klens);
	sb_release(&s->kb);
	free(s);
}
