#include "inspect.h"

#include <stdlib.h>
#include <string.h>

#include "agg-online.h"
#include "banned.h"
#include "error.h"
#include "materialize.h"
#include "models.h"
#include "serving.h"
#include "stream.h"
#include "timeutil.h"
#include "util.h"

json_t *fs_inspect_object(const struct fs_object *o)
{
	return json_pack("{s:s, s:s, s:i, s:I, s:O}", "kind", fs_kind_name(o->kind), "name",
			 o->name, "version", o->version, "registry_version",
			 (json_int_t)o->applied_in, "spec", o->spec);
}

json_t *fs_inspect_objects(const struct fs_defs *defs, enum fs_kind kind)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < defs->n; i++) {
		const struct fs_object *o = &defs->objs[i];
		if (kind != FS_KIND__COUNT && o->kind != kind)
			continue;
		json_array_append_new(arr, json_pack("{s:s, s:s, s:i, s:I}", "kind",
						     fs_kind_name(o->kind), "name", o->name,
						     "version", o->version, "registry_version",
						     (json_int_t)o->applied_in));
	}
	return json_pack("{s:o}", "objects", arr);
}

int fs_inspect_log(struct fs_registry *reg, const char *name, long long max, json_t **out)
{
	json_t *log;
	int rc;

	*out = NULL;
	if ((rc = fs_registry_log(reg, name, &log)))
		return rc;
	/* newest first: keep the first max */
	while (max >= 0 && json_array_size(log) > (size_t)max)
		json_array_remove(log, json_array_size(log) - 1);
	*out = json_pack("{s:o}", "applies", log);
	return 0;
}

int fs_inspect_models(struct fs_registry *reg, const char *name, json_t **out)
{
	json_t *list;
	int rc;

	*out = NULL;
	if ((name && (rc = fs_model_known(reg, name))) || (rc = fs_models_list(reg, name, &list)))
		return rc;
	*out = json_pack("{s:o}", "versions", list);
	return 0;
}

int fs_inspect_models_log(struct fs_registry *reg, const char *name, json_t **out)
{
	json_t *log, *aliases, *e;
	size_t i;
	int rc;

	*out = NULL;
	if ((rc = fs_model_known(reg, name)) || (rc = fs_models_log(reg, name, &log)))
		return rc;
	if ((rc = fs_models_alias_log(reg, name, &aliases))) {
		json_decref(log);
		return rc;
	}
	/* the ids order the two trails for fs models log's text: not part of the answer */
	json_array_foreach(log, i, e) json_object_del(e, "id");
	json_array_foreach(aliases, i, e) json_object_del(e, "after_transition");
	*out = json_pack("{s:s, s:o, s:o}", "model", name, "transitions", log, "alias_changes",
			 aliases);
	return 0;
}

/* The newest event fs stream applied from the source of view o (INT64_MIN: none). */
static int64_t stream_newest(json_t *streams, const struct fs_object *o)
{
	const char *src = json_string_value(json_object_get(o->spec, "source"));
	json_t *e;
	size_t i;

	json_array_foreach(streams, i, e)
	{
		json_t *n = json_object_get(e, "newest_event");
		int64_t us;
		if (!strcmp(json_string_value(json_object_get(e, "source")), src) &&
		    json_is_string(n) &&
		    fs_time_parse(json_string_value(n), json_string_length(n), &us))
			return us;
	}
	return INT64_MIN;
}

/* One online view's line of fs status; NULL on error. */
static json_t *view_status(struct fs_registry *reg, const struct fs_defs *defs,
			   struct fs_online *store, json_t *streams, const struct fs_object *o,
			   int64_t now)
{
	int64_t end, keys = 0;
	char *schema;
	bool have_end;
	json_t *v;
	int rc;

	rc = fs_materialize_last_end(reg, o->name, &end);
	if (rc && rc != FS_ENOTFOUND)
		return NULL;
	have_end = rc == 0;
	schema = fs_view_schema(defs, o);
	rc = fs_online_count(store, o->name, schema, &keys);
	free(schema);
	if (rc)
		return NULL;
	if (fs_view_is_agg(o->spec)) {
		/* the batch and the events pushed or streamed after it */
		struct fs_agg_meta m;
		if (fs_agg_meta_read(store, defs, o, &m))
			return NULL;
		if (keys > 0 && (m.batch_end_us != INT64_MIN || m.newest_us != INT64_MIN))
			keys--; /* the view's own record */
		if (m.newest_us != INT64_MIN && (!have_end || m.newest_us > end)) {
			end = m.newest_us; /* fresh to its newest event */
			have_end = true;
		}
	} else {
		/* a view fed by push or fs stream: fresh to its newest event */
		int64_t newest = stream_newest(streams, o);
		int64_t pushed;
		if (fs_view_newest(store, o->name, &pushed))
			return NULL;
		if (pushed > newest)
			newest = pushed;
		if (newest != INT64_MIN && (!have_end || newest > end)) {
			end = newest;
			have_end = true;
		}
	}
	if (have_end) {
		char when[FS_TIME_BUFSZ];
		fs_time_format_us(when, end);
		v = json_pack("{s:s, s:s, s:I, s:I}", "name", o->name, "last_end", when,
			      "staleness_seconds", (json_int_t)(now - end / FS_USEC), "keys",
			      (json_int_t)keys);
	} else {
		v = json_pack("{s:s, s:n, s:n, s:I}", "name", o->name, "last_end",
			      "staleness_seconds", "keys", (json_int_t)keys);
	}
	if (fs_view_is_agg(o->spec)) {
		struct fs_agg_meta m;
		char be[FS_TIME_BUFSZ], ne[FS_TIME_BUFSZ];
		fs_agg_meta_read(store, defs, o, &m);
		if (m.batch_end_us != INT64_MIN)
			fs_time_format_us(be, m.batch_end_us);
		if (m.newest_us != INT64_MIN)
			fs_time_format_us(ne, m.newest_us);
		json_object_set_new(v, "batch_end",
				    m.batch_end_us != INT64_MIN ? json_string(be) : json_null());
		json_object_set_new(v, "newest_event",
				    m.newest_us != INT64_MIN ? json_string(ne) : json_null());
		json_object_set_new(v, "events_applied", json_integer(m.applied));
		json_object_set_new(v, "late", json_integer(m.late));
	}
	return v;
}

int fs_inspect_status(struct fs_repo *repo, struct fs_registry *reg, const struct fs_defs *defs,
		      struct fs_online *store, int64_t now, json_t **out)
{
	json_t *views = json_array(), *streams = NULL, *v;
	size_t i;

	*out = NULL;
	if (fs_stream_status(store, repo, defs, true, &streams))
		goto fail;
	for (i = 0; i < defs->n; i++) {
		const struct fs_object *o = &defs->objs[i];
		if (o->kind != FS_KIND_FEATURE_VIEW ||
		    !json_is_true(json_object_get(o->spec, "online")))
			continue;
		if (!(v = view_status(reg, defs, store, streams, o, now)))
			goto fail;
		json_array_append_new(views, v);
	}
	*out = json_pack("{s:o, s:o}", "views", views, "streams", streams);
	return 0;
fail:
	json_decref(views);
	json_decref(streams);
	return FS_ERR;
}
