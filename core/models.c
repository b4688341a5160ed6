#include "models.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apply.h"
#include "artifact.h"
#include "error.h"
#include "jsonout.h"
#include "strbuf.h"
#include "timeutil.h"
#include "util.h"
#include "banned.h"

const char *const fs_stages[] = { "none", "staging", "production", "archived", NULL };

static int db_fail(sqlite3 *db, const char *what)
{
	fs_error_set("registry: %s: %s", what, sqlite3_errmsg(db));
	return FS_ERR;
}

static json_t *loads(const char *text)
{
	json_t *j = text ? json_loads(text, 0, NULL) : NULL;
	return j ? j : json_object();
}

static char *dumps(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

#define VERSION_COLUMNS                                                                          \
	"model, version, stage, artifact_uri, artifact_sha256, artifact_size, artifact_path,"   \
	" metrics, params, tags, description, created_at, author, lineage, artifact_kind"
/* what a version is read with: its columns, then its aliases as a JSON array */
#define VERSION_SELECT                                                                           \
	VERSION_COLUMNS ", (SELECT json_group_array(alias) FROM (SELECT alias FROM model_aliases a" \
			" WHERE a.model = model_versions.model AND a.version = model_versions.version" \
			" ORDER BY alias))"

static json_t *version_row(sqlite3_stmt *st)
{
	char when[FS_TIME_BUFSZ];
	const char *desc = (const char *)sqlite3_column_text(st, 10);
	const char *path = (const char *)sqlite3_column_text(st, 6);

	fs_time_format(when, sqlite3_column_int64(st, 11));
	return json_pack("{s:s, s:i, s:s, s:{s:s, s:s, s:I, s:o, s:s}, s:o, s:o, s:o, s:o, s:s, s:s, s:o, s:o}",
			 "model", (const char *)sqlite3_column_text(st, 0), "version",
			 sqlite3_column_int(st, 1), "stage", (const char *)sqlite3_column_text(st, 2),
			 "artifact", "uri", (const char *)sqlite3_column_text(st, 3), "sha256",
			 (const char *)sqlite3_column_text(st, 4), "size",
			 (json_int_t)sqlite3_column_int64(st, 5), "path",
			 path ? json_string(path) : json_null(), "kind",
			 (const char *)sqlite3_column_text(st, 14), "metrics",
			 loads((const char *)sqlite3_column_text(st, 7)), "params",
			 loads((const char *)sqlite3_column_text(st, 8)), "tags",
			 loads((const char *)sqlite3_column_text(st, 9)), "description",
			 desc ? json_string(desc) : json_null(), "created_at", when, "author",
			 (const char *)sqlite3_column_text(st, 12), "lineage",
			 loads((const char *)sqlite3_column_text(st, 13)), "aliases",
			 loads((const char *)sqlite3_column_text(st, 15)));
}

static int query_versions(sqlite3 *db, const char *where, const char *model, const char *arg,
			  int num, json_t **out)
{
	char *sql = xstrfmt("SELECT " VERSION_SELECT " FROM model_versions %s", where);
	sqlite3_stmt *st;
	json_t *arr = json_array();
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	free(sql);
	if (rc != SQLITE_OK) {
		json_decref(arr);
		return db_fail(db, "cannot read model versions");
	}
	if (model)
		sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
	if (arg)
		sqlite3_bind_text(st, 2, arg, -1, SQLITE_STATIC);
	else if (num)
		sqlite3_bind_int(st, 2, num);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, version_row(st));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return db_fail(db, "cannot read model versions");
	}
	*out = arr;
	return 0;
}

int fs_model_get(struct fs_registry *reg, const char *model, int version, json_t **out)
{
	json_t *arr;
	int rc = query_versions(fs_registry_db(reg), "WHERE model = ?1 AND version = ?2", model,
				NULL, version, &arr);

	if (rc)
		return rc;
	if (!json_array_size(arr)) {
		json_decref(arr);
		fs_error_set("model '%s' has no version %d", model, version);
		return FS_ENOTFOUND;
	}
	*out = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return 0;
}

int fs_model_in_stage(struct fs_registry *reg, const char *model, const char *stage, json_t **out)
{
	json_t *arr;
	int rc = query_versions(fs_registry_db(reg),
				"WHERE model = ?1 AND stage = ?2 ORDER BY version DESC", model, stage,
				0, &arr);

	if (rc)
		return rc;
	if (!json_array_size(arr)) {
		json_decref(arr);
		fs_error_set("model '%s' has no version in stage '%s'", model, stage);
		return FS_ENOTFOUND;
	}
	*out = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return 0;
}

int fs_models_list(struct fs_registry *reg, const char *model, json_t **out)
{
	return query_versions(fs_registry_db(reg),
			      model ? "WHERE model = ?1 ORDER BY version" : "ORDER BY model, version",
			      model, NULL, 0, out);
}

static bool is_stage(const char *s)
{
	const char *const *st;

	for (st = fs_stages; *st; st++)
		if (!strcmp(*st, s))
			return true;
	return false;
}

/*
 * One alias change for the audit trail (version 0: deleted), placed after
 * the last stage transition so that the two trails interleave as they happened.
 */
static int record_alias_change(sqlite3 *db, const char *model, const char *alias, int version,
			       int previous, int64_t at, const char *author)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
			       "INSERT INTO model_alias_changes(model, alias, version, previous, at, author,"
			       " after_transition) VALUES (?, ?, ?, ?, ?, ?,"
			       " (SELECT COALESCE(MAX(id), 0) FROM model_transitions))",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "cannot record alias change");
	sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, alias, -1, SQLITE_STATIC);
	if (version)
		sqlite3_bind_int(st, 3, version);
	if (previous)
		sqlite3_bind_int(st, 4, previous);
	sqlite3_bind_int64(st, 5, at);
	sqlite3_bind_text(st, 6, author, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, "cannot record alias change");
}

bool fs_is_alias_name(const char *s)
{
	const char *p;

	if (!(*s >= 'a' && *s <= 'z') || strlen(s) > FS_NAME_MAX || is_stage(s))
		return false;
	for (p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return false;
	return true;
}

int fs_model_alias_get(struct fs_registry *reg, const char *model, const char *alias, int *out)
{
	sqlite3 *db = fs_registry_db(reg);
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT version FROM model_aliases WHERE model = ? AND alias = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "cannot read aliases");
	sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, alias, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return db_fail(db, "cannot read aliases");
	fs_error_set("model '%s' has no alias '%s'", model, alias);
	return FS_ENOTFOUND;
}

int fs_model_resolve(struct fs_registry *reg, const char *model, const char *ref, int *out)
{
	json_t *v;
	char *end;
	long n;
	int rc;

	if (ref[0] == '@') {
		char name[FS_NAME_MAX + 2];
		size_t i;

		/* stages and aliases are lowercase; a stage may be written in any case */
		for (i = 0; ref[i + 1] && i < sizeof(name) - 1; i++)
			name[i] = (char)(ref[i + 1] >= 'A' && ref[i + 1] <= 'Z' ? ref[i + 1] - 'A' + 'a'
									       : ref[i + 1]);
		name[i] = '\0';
		if (is_stage(name)) {
			if ((rc = fs_model_in_stage(reg, model, name, &v)))
				return rc;
			*out = (int)json_integer_value(json_object_get(v, "version"));
			json_decref(v);
			return 0;
		}
		if (ref[i + 1] || !fs_is_alias_name(name)) {
			fs_error_set("bad version reference '%s' (expected a stage such as @production, or an alias such as @champion)",
				     ref);
			return FS_EINVALID;
		}
		return fs_model_alias_get(reg, model, name, out);
	}
	errno = 0;
	n = strtol(ref[0] == 'v' ? ref + 1 : ref, &end, 10);
	if (errno || *end || end == ref || n < 1 || n > INT32_MAX) {
		fs_error_set("bad version '%s' (expected a number like 3, @production or @<alias>)",
			     ref);
		return FS_EINVALID;
	}
	*out = (int)n;
	return 0;
}

/* ---- aliases ---- */

int fs_model_alias_set(struct fs_registry *reg, const char *model, const char *alias, int version,
		       const char *author, json_t **out)
{
	sqlite3 *db = fs_registry_db(reg);
	sqlite3_stmt *st = NULL;
	json_t *v = NULL;
	int previous = 0, rc;
	int64_t now;

	*out = NULL;
	if (!fs_is_alias_name(alias)) {
		fs_error_set("bad alias name '%s' (expected [a-z][a-z0-9_-]*, not a stage name)",
			     alias);
		return FS_EINVALID;
	}
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, "cannot start transaction");
	now = (int64_t)time(NULL);
	if ((rc = fs_model_get(reg, model, version, &v)))
		goto rollback;
	rc = fs_model_alias_get(reg, model, alias, &previous);
	if (rc && rc != FS_ENOTFOUND)
		goto rollback;
	if (!rc && previous == version) {
		/* already there: nothing changes, nothing to record */
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		*out = json_pack("{s:s, s:s, s:i, s:i, s:b}", "model", model, "alias", alias, "version",
				 version, "previous", previous, "changed", 0);
		rc = 0;
		goto done;
	}
	if (rc == FS_ENOTFOUND)
		previous = 0;
	if (sqlite3_prepare_v2(db,
			       "INSERT OR REPLACE INTO model_aliases(model, alias, version) VALUES (?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(db, "cannot set alias");
		goto rollback;
	}
	sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, alias, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, version);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE) {
		rc = db_fail(db, "cannot set alias");
		goto rollback;
	}
	if ((rc = record_alias_change(db, model, alias, version, previous, now, author)))
		goto rollback;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_fail(db, "cannot commit");
		goto rollback;
	}
	*out = json_pack("{s:s, s:s, s:i, s:o, s:b}", "model", model, "alias", alias, "version",
			 version, "previous", previous ? json_integer(previous) : json_null(),
			 "changed", 1);
	rc = 0;
	goto done;
rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
done:
	json_decref(v);
	return rc;
}

int fs_model_alias_delete(struct fs_registry *reg, const char *model, const char *alias,
			  const char *author, int *out)
{
	sqlite3 *db = fs_registry_db(reg);
	sqlite3_stmt *st;
	int previous, rc;
	int64_t now;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, "cannot start transaction");
	now = (int64_t)time(NULL);
	if ((rc = fs_model_alias_get(reg, model, alias, &previous)))
		goto rollback;
	if (sqlite3_prepare_v2(db, "DELETE FROM model_aliases WHERE model = ? AND alias = ?", -1,
			       &st, NULL) != SQLITE_OK) {
		rc = db_fail(db, "cannot delete alias");
		goto rollback;
	}
	sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, alias, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		rc = db_fail(db, "cannot delete alias");
		goto rollback;
	}
	if ((rc = record_alias_change(db, model, alias, 0, previous, now, author)))
		goto rollback;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_fail(db, "cannot commit");
		goto rollback;
	}
	*out = previous;
	return 0;
rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int fs_model_aliases(struct fs_registry *reg, const char *model, json_t **out)
{
	sqlite3 *db = fs_registry_db(reg);
	sqlite3_stmt *st;
	json_t *obj = json_object();
	int rc;

	if (sqlite3_prepare_v2(db,
			       "SELECT alias, version FROM model_aliases WHERE model = ? ORDER BY alias",
			       -1, &st, NULL) != SQLITE_OK) {
		json_decref(obj);
		return db_fail(db, "cannot read aliases");
	}
	sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_object_set_new(obj, (const char *)sqlite3_column_text(st, 0),
				    json_integer(sqlite3_column_int(st, 1)));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(obj);
		return db_fail(db, "cannot read aliases");
	}
	*out = obj;
	return 0;
}

int fs_models_alias_log(struct fs_registry *reg, const char *model, json_t **out)
{
	sqlite3 *db = fs_registry_db(reg);
	sqlite3_stmt *st;
	json_t *arr = json_array();
	int rc;

	if (sqlite3_prepare_v2(db,
			       "SELECT alias, version, previous, at, author, after_transition"
			       " FROM model_alias_changes WHERE model = ? ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK) {
		json_decref(arr);
		return db_fail(db, "cannot read alias changes");
	}
	sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char when[FS_TIME_BUFSZ];
		bool set = sqlite3_column_type(st, 1) != SQLITE_NULL,
		     had = sqlite3_column_type(st, 2) != SQLITE_NULL;

		fs_time_format(when, sqlite3_column_int64(st, 3));
		json_array_append_new(
			arr, json_pack("{s:s, s:o, s:o, s:s, s:I, s:s, s:I}", "alias",
				       (const char *)sqlite3_column_text(st, 0), "version",
				       set ? json_integer(sqlite3_column_int(st, 1)) : json_null(),
				       "previous",
				       had ? json_integer(sqlite3_column_int(st, 2)) : json_null(),
				       "at", when, "at_unix", (json_int_t)sqlite3_column_int64(st, 3),
				       "author", (const char *)sqlite3_column_text(st, 4),
				       "after_transition", (json_int_t)sqlite3_column_int64(st, 5)));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return db_fail(db, "cannot read alias changes");
	}
	*out = arr;
	return 0;
}

int fs_models_aliases_at(struct fs_registry *reg, const char *model, int64_t t, json_t **out)
{
	json_t *log, *e, *res = json_object();
	size_t i;
	int rc;

	if ((rc = fs_models_alias_log(reg, model, &log))) {
		json_decref(res);
		return rc;
	}
	json_array_foreach(log, i, e) {
		const char *alias = json_string_value(json_object_get(e, "alias"));
		json_t *v = json_object_get(e, "version");
		if (json_integer_value(json_object_get(e, "at_unix")) > t)
			break;
		if (json_is_null(v))
			json_object_del(res, alias);
		else
			json_object_set(res, alias, v);
	}
	json_decref(log);
	*out = res;
	return 0;
}

/* ---- register ---- */

static int lineage(struct fs_repo *repo, const struct fs_object *model, const struct fs_defs *defs,
		   json_t **out)
{
	const char *svc_name = json_string_value(json_object_get(model->spec, "feature_service"));
	const struct fs_object *svc = fs_defs_find(defs, FS_KIND_FEATURE_SERVICE, svc_name);
	json_t *views = json_array(), *items, *item;
	json_t *log = NULL;
	int64_t regver;
	size_t i, j;
	int rc;

	if (!svc) {
		json_decref(views);
		fs_error_set("model '%s': feature service '%s' is not registered", model->name,
			     svc_name);
		return FS_ENOTFOUND;
	}
	items = json_object_get(svc->spec, "features");
	json_array_foreach(items, i, item) {
		const char *vname = json_string_value(json_object_get(item, "view"));
		const struct fs_object *v = fs_defs_find(defs, FS_KIND_FEATURE_VIEW, vname);
		json_t *only = json_object_get(item, "features"), *feats = json_array(), *f;

		if (!v) {
			json_decref(feats);
			json_decref(views);
			fs_error_set("feature service '%s': feature view '%s' is not registered",
				     svc_name, vname);
			return FS_ENOTFOUND;
		}
		json_array_foreach(json_object_get(v->spec, "features"), j, f) {
			const char *fname = json_string_value(json_object_get(f, "name"));
			size_t k;
			bool wanted = !only;
			for (k = 0; only && k < json_array_size(only); k++)
				wanted |= !strcmp(json_string_value(json_array_get(only, k)), fname);
			if (wanted)
				json_array_append_new(feats, json_pack("{s:s, s:O}", "name", fname, "type",
								       json_object_get(f, "type")));
		}
		json_array_append_new(views, json_pack("{s:s, s:i, s:o}", "name", vname, "version",
						       v->version, "features", feats));
	}
	if ((rc = fs_registry_version(repo->registry, &regver)) ||
	    (rc = fs_registry_log(repo->registry, NULL, &log))) {
		json_decref(views);
		return rc;
	}
	*out = json_pack("{s:s, s:I, s:O, s:o}", "feature_service", svc_name, "registry_version",
			 (json_int_t)regver, "git_commit",
			 json_array_size(log) ? json_object_get(json_array_get(log, 0), "commit")
					      : json_null(),
			 "feature_views", views);
	json_decref(log);
	return 0;
}

static int record_transition(sqlite3 *db, const char *model, int version, const char *from,
			     const char *to, int64_t at, const char *author, const char *reason,
			     bool forced)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
			       "INSERT INTO model_transitions(model, version, from_stage, to_stage, at,"
			       " author, reason, forced) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "cannot record transition");
	sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, version);
	if (from)
		sqlite3_bind_text(st, 3, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, at);
	sqlite3_bind_text(st, 6, author, -1, SQLITE_STATIC);
	if (reason)
		sqlite3_bind_text(st, 7, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 8, forced);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, "cannot record transition");
}

int fs_model_register(struct fs_repo *repo, const struct fs_register_opts *o, json_t **out)
{
	sqlite3 *db = fs_registry_db(repo->registry);
	struct fs_defs defs = { 0 };
	struct fs_artifact art = { 0 };
	const struct fs_object *model;
	json_t *lin = NULL;
	sqlite3_stmt *st = NULL;
	char *metrics = NULL, *params = NULL, *tags = NULL, *lins = NULL;
	int64_t now;
	int version = 0, rc;

	*out = NULL;
	if ((rc = fs_registry_load(repo->registry, &defs)))
		return rc;
	model = fs_defs_find(&defs, FS_KIND_MODEL, o->model);
	if (!model) {
		const char **names = xcalloc(defs.n + 1, sizeof(*names)), *hint;
		size_t i, n = 0;
		for (i = 0; i < defs.n; i++)
			if (defs.objs[i].kind == FS_KIND_MODEL)
				names[n++] = defs.objs[i].name;
		hint = fs_suggest(o->model, names, n);
		if (hint)
			fs_error_set("model '%s' is not registered (did you mean '%s'?)", o->model,
				     hint);
		else
			fs_error_set("model '%s' is not registered: add a 'kind: model' definition named '%s' and run 'fs apply'",
				     o->model, o->model);
		free(names);
		rc = FS_ENOTFOUND;
		goto done;
	}
	if ((rc = lineage(repo, model, &defs, &lin)))
		goto done;
	/* the artifact is stored first: a version only ever points at stored content */
	if ((rc = fs_artifact_store(&art, repo->config->artifact_store, o->artifact)))
		goto done;
	metrics = dumps(o->metrics);
	params = dumps(o->params);
	tags = dumps(o->tags);
	lins = dumps(lin);
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_fail(db, "cannot start transaction");
		goto done;
	}
	/*
	 * The clock is read once the write lock is held, not before the
	 * (possibly long) download: versions are numbered in this same
	 * order, so a later version never has an earlier creation time.
	 */
	now = (int64_t)time(NULL);
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO model_versions(" VERSION_COLUMNS ")"
			       " SELECT ?1, COALESCE(MAX(version), 0) + 1, 'none', ?2, ?3, ?4, ?5, ?6, ?7,"
			       " ?8, ?9, ?10, ?11, ?12, ?13 FROM model_versions WHERE model = ?1"
			       " RETURNING version",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(db, "cannot register version");
		goto rollback;
	}
	sqlite3_bind_text(st, 1, o->model, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, art.uri, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, art.sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, art.size);
	sqlite3_bind_text(st, 5, art.path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, metrics, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, params, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, tags, -1, SQLITE_STATIC);
	if (o->description)
		sqlite3_bind_text(st, 9, o->description, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, now);
	sqlite3_bind_text(st, 11, o->author, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, lins, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 13, art.kind, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = db_fail(db, "cannot register version");
		goto rollback;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = record_transition(db, o->model, version, NULL, "none", now, o->author,
				    "registered", false)))
		goto rollback;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_fail(db, "cannot commit");
		goto rollback;
	}
	rc = fs_model_get(repo->registry, o->model, version, out);
	goto done;
rollback:
	sqlite3_finalize(st);
	st = NULL;
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
done:
	sqlite3_finalize(st);
	fs_artifact_release(&art);
	json_decref(lin);
	free(metrics);
	free(params);
	free(tags);
	free(lins);
	fs_defs_release(&defs);
	return rc;
}

/* ---- promote ---- */

static bool gate_holds(double value, const char *expr, double *threshold)
{
	static const char *const ops[] = { ">=", "<=", "==", ">", "<" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ops); i++) {
		if (!starts_with(expr, ops[i]))
			continue;
		*threshold = strtod(expr + strlen(ops[i]), NULL);
		switch (i) {
		case 0:
			return value >= *threshold;
		case 1:
			return value <= *threshold;
		case 2:
			return value == *threshold;
		case 3:
			return value > *threshold;
		default:
			return value < *threshold;
		}
	}
	return false;
}

static void check_gates(const json_t *model_spec, const json_t *version, const char *stage,
			json_t *unmet)
{
	json_t *gate = json_object_get(json_object_get(model_spec, "promotion"), stage);
	json_t *from = json_object_get(gate, "from"), *metrics = json_object_get(gate, "metrics");
	const char *cur = json_string_value(json_object_get(version, "stage")), *name;
	json_t *expr, *have = json_object_get(version, "metrics");
	size_t i;
	bool ok = !json_array_size(from);

	for (i = 0; i < json_array_size(from); i++)
		ok |= !strcmp(json_string_value(json_array_get(from, i)), cur);
	if (!ok) {
		char *list = json_dumps(from, JSON_COMPACT);
		json_array_append_new(unmet, json_sprintf("stage: version is in '%s', promotion to '%s' requires one of %s",
							 cur, stage, list));
		free(list);
	}
	json_object_foreach(metrics, name, expr) {
		json_t *v = json_object_get(have, name);
		char value[FS_REAL_BUFSZ];
		double threshold;
		if (!json_is_number(v))
			json_array_append_new(unmet, json_sprintf("metric '%s': missing (requires %s)",
								 name, json_string_value(expr)));
		else if (!gate_holds(json_number_value(v), json_string_value(expr), &threshold))
			json_array_append_new(unmet, json_sprintf("metric '%s': %s does not satisfy %s",
								 name,
								 fs_real_format(value, json_number_value(v)),
								 json_string_value(expr)));
	}
}

/* The features a version was trained on must still be served as registered. */
static void check_skew(const struct fs_defs *defs, const json_t *version, json_t *unmet)
{
	json_t *views = json_object_get(json_object_get(version, "lineage"), "feature_views"), *v;
	size_t i, j, k;

	json_array_foreach(views, i, v) {
		const char *vname = json_string_value(json_object_get(v, "name"));
		const struct fs_object *cur = fs_defs_find(defs, FS_KIND_FEATURE_VIEW, vname);
		json_t *feats = json_object_get(v, "features"), *f;

		if (!cur) {
			json_array_append_new(unmet, json_sprintf("skew: feature_view '%s' is no longer registered",
								 vname));
			continue;
		}
		if (!json_is_true(json_object_get(cur->spec, "online")))
			json_array_append_new(unmet, json_sprintf("skew: feature_view '%s' is not online",
								 vname));
		json_array_foreach(feats, j, f) {
			const char *fname = json_string_value(json_object_get(f, "name"));
			const char *type = json_string_value(json_object_get(f, "type"));
			json_t *now = json_object_get(cur->spec, "features"), *g;
			const char *now_type = NULL;
			json_array_foreach(now, k, g)
				if (!strcmp(json_string_value(json_object_get(g, "name")), fname))
					now_type = json_string_value(json_object_get(g, "type"));
			if (!now_type)
				json_array_append_new(unmet, json_sprintf("skew: feature '%s:%s' is no longer registered",
									 vname, fname));
			else if (strcmp(now_type, type))
				json_array_append_new(unmet, json_sprintf("skew: feature '%s:%s' was %s when trained, is %s now",
									 vname, fname, type, now_type));
		}
	}
}

static bool is_guarded(const char *stage)
{
	return !strcmp(stage, "production") || !strcmp(stage, "staging");
}

int fs_model_promote(struct fs_repo *repo, const struct fs_promote_opts *o, json_t **out)
{
	sqlite3 *db = fs_registry_db(repo->registry);
	struct fs_defs defs = { 0 };
	struct fs_lock *lock = NULL;
	const struct fs_object *model;
	json_t *version = NULL, *unmet = json_array(), *archived = json_array();
	sqlite3_stmt *st = NULL;
	const char *from;
	int64_t now;
	int rc;

	*out = NULL;
	if (!is_stage(o->stage)) {
		fs_error_set("unknown stage '%s' (expected none, staging, production or archived)",
			     o->stage);
		rc = FS_EINVALID;
		goto done;
	}
	/*
	 * apply's production guard judges which versions are in production: a
	 * promotion landing between its check and its write would lose the
	 * features it was trained on.
	 */
	if (!strcmp(o->stage, "production") && (rc = fs_apply_lock(repo, &lock)))
		goto done;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_fail(db, "cannot start transaction");
		goto done;
	}
	now = (int64_t)time(NULL);
	/* the definitions are read inside the transaction: gates and skew judge the latest apply */
	if ((rc = fs_registry_load(repo->registry, &defs)))
		goto rollback;
	model = fs_defs_find(&defs, FS_KIND_MODEL, o->model);
	if ((rc = fs_model_get(repo->registry, o->model, o->version, &version)))
		goto rollback;
	from = json_string_value(json_object_get(version, "stage"));
	if (!strcmp(from, o->stage)) {
		fs_error_set("version %d of model '%s' is already in %s", o->version, o->model,
			     o->stage);
		rc = FS_EEXISTS;
		goto rollback;
	}
	if (!model && is_guarded(o->stage)) {
		/* no definition, no gates to check: that is not a pass */
		if (!o->force) {
			fs_error_set("model '%s': its definition is not applied, so its promotion gates cannot be checked; apply it with 'fs apply', or use --force",
				     o->model);
			rc = FS_ENOTFOUND;
			goto rollback;
		}
		json_array_append_new(unmet, json_sprintf("definition: model '%s' is not applied, its gates were not checked",
							 o->model));
	}
	if (model)
		check_gates(model->spec, version, o->stage, unmet);
	if (!strcmp(o->stage, "production"))
		check_skew(&defs, version, unmet);
	if (json_array_size(unmet) && !o->force) {
		*out = json_pack("{s:O}", "unmet", unmet);
		rc = FS_EGATE;
		goto rollback;
	}
	if (is_guarded(o->stage) && !o->keep_existing) {
		sqlite3_stmt *q;
		char *why;
		size_t i;
		json_t *a;
		if (sqlite3_prepare_v2(db,
				       "UPDATE model_versions SET stage = 'archived' WHERE model = ?"
				       " AND stage = ? AND version != ? RETURNING version",
				       -1, &q, NULL) != SQLITE_OK) {
			rc = db_fail(db, "cannot archive");
			goto rollback;
		}
		sqlite3_bind_text(q, 1, o->model, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, o->stage, -1, SQLITE_STATIC);
		sqlite3_bind_int(q, 3, o->version);
		while (sqlite3_step(q) == SQLITE_ROW)
			json_array_append_new(archived, json_integer(sqlite3_column_int(q, 0)));
		sqlite3_finalize(q);
		why = xstrfmt("replaced in %s by version %d", o->stage, o->version);
		json_array_foreach(archived, i, a) {
			if ((rc = record_transition(db, o->model, (int)json_integer_value(a), o->stage,
						    "archived", now, o->author, why, false))) {
				free(why);
				goto rollback;
			}
		}
		free(why);
	}
	if (sqlite3_prepare_v2(db, "UPDATE model_versions SET stage = ? WHERE model = ? AND version = ?",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(db, "cannot promote");
		goto rollback;
	}
	sqlite3_bind_text(st, 1, o->stage, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, o->model, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, o->version);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(db, "cannot promote");
		goto rollback;
	}
	if ((rc = record_transition(db, o->model, o->version, from, o->stage, now, o->author,
				    o->reason, o->force && json_array_size(unmet))))
		goto rollback;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_fail(db, "cannot commit");
		goto rollback;
	}
	*out = json_pack("{s:s, s:i, s:s, s:s, s:b, s:O, s:O}", "model", o->model, "version",
			 o->version, "from", from, "to", o->stage, "forced",
			 o->force && json_array_size(unmet), "unmet", unmet, "archived", archived);
	rc = 0;
	goto done;
rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
done:
	sqlite3_finalize(st);
	json_decref(version);
	json_decref(unmet);
	json_decref(archived);
	fs_defs_release(&defs);
	fs_lock_release(lock);
	return rc;
}

/* ---- history ---- */

int fs_model_known(struct fs_registry *reg, const char *model)
{
	sqlite3 *db = fs_registry_db(reg);
	struct fs_defs defs = { 0 };
	sqlite3_stmt *st = NULL;
	json_t *names = json_array(), *name;
	const char **cands = NULL;
	const char *hint;
	size_t i;
	int rc;

	if ((rc = fs_registry_load(reg, &defs)))
		goto done;
	for (i = 0; i < defs.n; i++)
		if (defs.objs[i].kind == FS_KIND_MODEL)
			json_array_append_new(names, json_string(defs.objs[i].name));
	if (sqlite3_prepare_v2(db, "SELECT DISTINCT model FROM model_versions", -1, &st, NULL) !=
	    SQLITE_OK) {
		rc = db_fail(db, "cannot read model versions");
		goto done;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(names, json_string((const char *)sqlite3_column_text(st, 0)));
	if (rc != SQLITE_DONE) {
		rc = db_fail(db, "cannot read model versions");
		goto done;
	}
	rc = 0;
	cands = xcalloc(json_array_size(names) + 1, sizeof(*cands));
	json_array_foreach(names, i, name) {
		cands[i] = json_string_value(name);
		if (!strcmp(cands[i], model))
			goto done;
	}
	hint = fs_suggest(model, cands, json_array_size(names));
	if (hint)
		fs_error_set("unknown model '%s' (did you mean '%s'?)", model, hint);
	else
		fs_error_set("unknown model '%s': no model of that name is defined or has versions",
			     model);
	rc = FS_ENOTFOUND;
done:
	sqlite3_finalize(st);
	free(cands);
	json_decref(names);
	fs_defs_release(&defs);
	return rc;
}

int fs_models_log(struct fs_registry *reg, const char *model, json_t **out)
{
	sqlite3 *db = fs_registry_db(reg);
	sqlite3_stmt *st;
	json_t *arr = json_array();
	int rc;

	if (sqlite3_prepare_v2(db,
			       "SELECT version, from_stage, to_stage, at, author, reason, forced, id"
			       " FROM model_transitions WHERE model = ? ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK) {
		json_decref(arr);
		return db_fail(db, "cannot read transitions");
	}
	sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char when[FS_TIME_BUFSZ];
		const char *from = (const char *)sqlite3_column_text(st, 1);
		const char *reason = (const char *)sqlite3_column_text(st, 5);

		fs_time_format(when, sqlite3_column_int64(st, 3));
		json_array_append_new(arr, json_pack("{s:I, s:i, s:o, s:s, s:s, s:I, s:s, s:o, s:b}",
						     "id", (json_int_t)sqlite3_column_int64(st, 7),
						     "version", sqlite3_column_int(st, 0), "from",
						     from ? json_string(from) : json_null(), "to",
						     (const char *)sqlite3_column_text(st, 2), "at",
						     when, "at_unix",
						     (json_int_t)sqlite3_column_int64(st, 3), "author",
						     (const char *)sqlite3_column_text(st, 4), "reason",
						     reason ? json_string(reason) : json_null(),
						     "forced", sqlite3_column_int(st, 6)));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return db_fail(db, "cannot read transitions");
	}
	*out = arr;
	return 0;
}

int fs_models_at(struct fs_registry *reg, const char *model, int64_t t, json_t **out)
{
	json_t *log, *e, *holders = json_object(), *stage_of = json_object();
	const char *const *s;
	size_t i;
	int rc;

	if ((rc = fs_models_log(reg, model, &log))) {
		json_decref(holders);
		json_decref(stage_of);
		return rc;
	}
	/* replay the trail up to t: the stage of every version then */
	json_array_foreach(log, i, e) {
		char key[16];
		if (json_integer_value(json_object_get(e, "at_unix")) > t)
			break;
		snprintf(key, sizeof(key), "%lld",
			 (long long)json_integer_value(json_object_get(e, "version")));
		json_object_set(stage_of, key, json_object_get(e, "to"));
	}
	for (s = fs_stages; *s; s++) {
		const char *key;
		json_t *v, *list = json_array();
		json_object_foreach(stage_of, key, v)
			if (!strcmp(json_string_value(v), *s))
				json_array_append_new(list, json_integer(atoll(key)));
		json_object_set_new(holders, *s, list);
	}
	json_decref(stage_of);
	json_decref(log);
	*out = holders;
	return 0;
}

int fs_models_using_view(struct fs_registry *reg, const char *view, json_t **out)
{
	json_t *all, *v, *res = json_array();
	size_t i, j;
	int rc;

	if ((rc = fs_models_list(reg, NULL, &all))) {
		json_decref(res);
		return rc;
	}
	json_array_foreach(all, i, v) {
		json_t *views = json_object_get(json_object_get(v, "lineage"), "feature_views"), *lv;
		if (!strcmp(json_string_value(json_object_get(v, "stage")), "archived"))
			continue;
		json_array_foreach(views, j, lv) {
			json_t *names, *f;
			size_t k;
			if (strcmp(json_string_value(json_object_get(lv, "name")), view))
				continue;
			names = json_array();
			json_array_foreach(json_object_get(lv, "features"), k, f)
				json_array_append(names, json_object_get(f, "name"));
			json_array_append_new(res, json_pack("{s:O, s:O, s:O, s:o}", "model",
							     json_object_get(v, "model"), "version",
							     json_object_get(v, "version"), "stage",
							     json_object_get(v, "stage"), "features", names));
		}
	}
	json_decref(all);
	*out = res;
	return 0;
}
