#include "registry.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "timeutil.h"
#include "util.h"
#include "banned.h"

struct fs_registry {
	sqlite3 *db;
	char *path;
};

/* Schema migrations: migrations[i] takes user_version i to i + 1. */
static const char *const migrations[] = {
	/* 0 -> 1: objects, their versions, applies */
	"CREATE TABLE applies ("
	"  version INTEGER PRIMARY KEY,"
	"  git_commit TEXT NOT NULL,"
	"  applied_at INTEGER NOT NULL,"
	"  author TEXT NOT NULL,"
	"  summary TEXT NOT NULL);"
	"CREATE TABLE objects ("
	"  kind TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  applied_in INTEGER NOT NULL REFERENCES applies(version),"
	"  spec TEXT NOT NULL,"
	"  PRIMARY KEY (kind, name));"
	"CREATE TABLE object_versions ("
	"  kind TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  applied_in INTEGER NOT NULL REFERENCES applies(version),"
	"  op TEXT NOT NULL CHECK (op IN ('+', '~', '-')),"
	"  spec TEXT,"
	"  PRIMARY KEY (kind, name, version, op));"
	"CREATE INDEX object_versions_by_apply ON object_versions(applied_in);"
	"CREATE INDEX object_versions_by_name ON object_versions(name);",
	/* 1 -> 2: the model registry */
	"CREATE TABLE model_versions ("
	"  model TEXT NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  stage TEXT NOT NULL DEFAULT 'none',"
	"  artifact_uri TEXT NOT NULL,"
	"  artifact_sha256 TEXT NOT NULL,"
	"  artifact_size INTEGER NOT NULL,"
	"  artifact_path TEXT,"
	"  metrics TEXT NOT NULL,"
	"  params TEXT NOT NULL,"
	"  tags TEXT NOT NULL,"
	"  description TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  author TEXT NOT NULL,"
	"  lineage TEXT NOT NULL,"
	"  PRIMARY KEY (model, version));"
	"CREATE TABLE model_transitions ("
	"  id INTEGER PRIMARY KEY,"
	"  model TEXT NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  from_stage TEXT,"
	"  to_stage TEXT NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  author TEXT NOT NULL,"
	"  reason TEXT,"
	"  forced INTEGER NOT NULL DEFAULT 0,"
	"  FOREIGN KEY (model, version) REFERENCES model_versions(model, version));"
	"CREATE INDEX model_transitions_by_model ON model_transitions(model, id);",
	/* 2 -> 3: materialization intervals */
	"CREATE TABLE materializations ("
	"  id INTEGER PRIMARY KEY,"
	"  view TEXT NOT NULL,"
	"  start_us INTEGER,"
	"  end_us INTEGER NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  rows_read INTEGER NOT NULL,"
	"  keys_written INTEGER NOT NULL);"
	"CREATE INDEX materializations_by_view ON materializations(view, end_us);",
	/* 3 -> 4: directory artifacts, model aliases and their audit trail */
	"ALTER TABLE model_versions ADD COLUMN artifact_kind TEXT NOT NULL DEFAULT 'file';"
	"CREATE TABLE model_aliases ("
	"  model TEXT NOT NULL,"
	"  alias TEXT NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  PRIMARY KEY (model, alias),"
	"  FOREIGN KEY (model, version) REFERENCES model_versions(model, version));"
	"CREATE TABLE model_alias_changes ("
	"  id INTEGER PRIMARY KEY,"
	"  model TEXT NOT NULL,"
	"  alias TEXT NOT NULL,"
	"  version INTEGER,"
	"  previous INTEGER,"
	"  at INTEGER NOT NULL,"
	"  author TEXT NOT NULL,"
	"  after_transition INTEGER NOT NULL);"
	"CREATE INDEX model_alias_changes_by_model ON model_alias_changes(model, id);",
};

static int db_fail(struct fs_registry *r, const char *what)
{
	fs_error_set("registry '%s': %s: %s", r->path, what, sqlite3_errmsg(r->db));
	return FS_ERR;
}

static int exec(struct fs_registry *r, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(r->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fs_error_set("registry '%s': %s", r->path, err ? err : sqlite3_errmsg(r->db));
		sqlite3_free(err);
		return FS_ERR;
	}
	return 0;
}

static int migrate(struct fs_registry *r)
{
	sqlite3_stmt *st;
	int version, target = (int)ARRAY_SIZE(migrations);

	if (exec(r, "BEGIN IMMEDIATE"))
		return FS_ERR;
	if (sqlite3_prepare_v2(r->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_step(st);
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > target) {
		exec(r, "ROLLBACK");
		fs_error_set("registry '%s' has schema version %d, newer than this fs knows (%d): upgrade fs",
			     r->path, version, target);
		return FS_ERR;
	}
	for (; version < target; version++) {
		char *pragma;
		if (exec(r, migrations[version]))
			goto fail_msg;
		pragma = xstrfmt("PRAGMA user_version = %d", version + 1);
		if (exec(r, pragma)) {
			free(pragma);
			goto fail_msg;
		}
		free(pragma);
	}
	return exec(r, "COMMIT");
fail:
	db_fail(r, "cannot read schema version");
fail_msg:
	sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
	return FS_ERR;
}

int fs_registry_open(struct fs_registry **out, const char *path)
{
	struct fs_registry *r = xcalloc(1, sizeof(*r));
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');

	*out = NULL;
	r->path = xstrdup(path);
	if (slash && slash != dir) {
		*slash = '\0';
		if (fs_mkdir_p(dir, 0777) < 0) {
			fs_error_set("cannot create '%s': %s", dir, strerror(errno));
			free(dir);
			fs_registry_free(r);
			return FS_ERR;
		}
	}
	free(dir);
	if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		db_fail(r, "cannot open");
		fs_registry_free(r);
		return FS_ERR;
	}
	sqlite3_busy_timeout(r->db, 30000);
	if (exec(r, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
		    "PRAGMA foreign_keys = ON") ||
	    migrate(r)) {
		fs_registry_free(r);
		return FS_ERR;
	}
	*out = r;
	return 0;
}

void fs_registry_free(struct fs_registry *r)
{
	if (!r)
		return;
	sqlite3_close(r->db);
	free(r->path);
	free(r);
}

const char *fs_registry_path(const struct fs_registry *r)
{
	return r->path;
}

sqlite3 *fs_registry_db(struct fs_registry *r)
{
	return r->db;
}

static int load(struct fs_registry *r, struct fs_defs *out, bool as_text)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	if (sqlite3_prepare_v2(r->db, "SELECT kind, name, version, applied_in, spec FROM objects",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(r, "cannot read objects");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		enum fs_kind kind;
		json_error_t jerr;
		json_t *spec;
		const char *k = (const char *)sqlite3_column_text(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);

		if (fs_kind_parse(&kind, k))
			continue; /* a kind from a newer fs: leave it alone */
		if (as_text) {
			fs_defs_add(out, kind, name, NULL);
			out->objs[out->n - 1].spec_text =
				xstrdup((const char *)sqlite3_column_text(st, 4));
			goto set_versions;
		}
		spec = json_loads((const char *)sqlite3_column_text(st, 4), 0, &jerr);
		if (!spec) {
			sqlite3_finalize(st);
			fs_defs_release(out);
			fs_error_set("registry '%s': corrupt spec of %s '%s': %s", r->path, k, name,
				     jerr.text);
			return FS_ERR;
		}
		fs_defs_add(out, kind, name, spec);
	set_versions:
		out->objs[out->n - 1].version = sqlite3_column_int(st, 2);
		out->objs[out->n - 1].applied_in = sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		fs_defs_release(out);
		return db_fail(r, "cannot read objects");
	}
	fs_defs_sort(out);
	return 0;
}

int fs_registry_load(struct fs_registry *r, struct fs_defs *out)
{
	return load(r, out, false);
}

int fs_registry_load_texts(struct fs_registry *r, struct fs_defs *out)
{
	return load(r, out, true);
}

int fs_registry_version(struct fs_registry *r, int64_t *out)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(r->db, "SELECT COALESCE(MAX(version), 0) FROM applies", -1, &st,
			       NULL) != SQLITE_OK)
		return db_fail(r, "cannot read applies");
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return db_fail(r, "cannot read applies");
	}
	*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

int fs_registry_apply(struct fs_registry *r, const struct fs_plan *plan,
		      const struct fs_apply_record *rec, char *const *reset_views, size_t nreset,
		      int64_t *out)
{
	sqlite3_stmt *ins_apply = NULL, *next_ver = NULL, *upsert = NULL, *del = NULL,
		     *ins_ver = NULL;
	int64_t version;
	size_t i;

	if (exec(r, "BEGIN IMMEDIATE"))
		return FS_ERR;
	if (fs_registry_version(r, &version))
		goto fail;
	version++;
	if (sqlite3_prepare_v2(r->db,
			       "INSERT INTO applies(version, git_commit, applied_at, author, summary)"
			       " VALUES (?, ?, ?, ?, ?)",
			       -1, &ins_apply, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db,
			       "SELECT COALESCE(MAX(version), 0) FROM object_versions"
			       " WHERE kind = ? AND name = ?",
			       -1, &next_ver, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db,
			       "INSERT OR REPLACE INTO objects(kind, name, version, applied_in, spec)"
			       " VALUES (?, ?, ?, ?, ?)",
			       -1, &upsert, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db, "DELETE FROM objects WHERE kind = ? AND name = ?", -1, &del,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db,
			       "INSERT INTO object_versions(kind, name, version, applied_in, op, spec)"
			       " VALUES (?, ?, ?, ?, ?, ?)",
			       -1, &ins_ver, NULL) != SQLITE_OK) {
		db_fail(r, "cannot prepare apply");
		goto fail;
	}
	sqlite3_bind_int64(ins_apply, 1, version);
	sqlite3_bind_text(ins_apply, 2, rec->commit, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins_apply, 3, rec->time);
	sqlite3_bind_text(ins_apply, 4, rec->author, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins_apply, 5, rec->summary, -1, SQLITE_STATIC);
	if (sqlite3_step(ins_apply) != SQLITE_DONE) {
		db_fail(r, "cannot record apply");
		goto fail;
	}
	for (i = 0; i < plan->n; i++) {
		const struct fs_change *c = &plan->items[i];
		const char *kind = fs_kind_name(c->kind);
		char op[2] = { c->op, 0 };
		char *spec = c->spec ? fs_spec_dump(c->spec) : NULL;
		int objver;

		if (c->op == '-') {
			objver = c->old_version;
			sqlite3_reset(del);
			sqlite3_bind_text(del, 1, kind, -1, SQLITE_STATIC);
			sqlite3_bind_text(del, 2, c->name, -1, SQLITE_STATIC);
			if (sqlite3_step(del) != SQLITE_DONE)
				goto fail_obj;
		} else {
			sqlite3_reset(next_ver);
			sqlite3_bind_text(next_ver, 1, kind, -1, SQLITE_STATIC);
			sqlite3_bind_text(next_ver, 2, c->name, -1, SQLITE_STATIC);
			if (sqlite3_step(next_ver) != SQLITE_ROW)
				goto fail_obj;
			objver = sqlite3_column_int(next_ver, 0) + 1;
			sqlite3_reset(upsert);
			sqlite3_bind_text(upsert, 1, kind, -1, SQLITE_STATIC);
			sqlite3_bind_text(upsert, 2, c->name, -1, SQLITE_STATIC);
			sqlite3_bind_int(upsert, 3, objver);
			sqlite3_bind_int64(upsert, 4, version);
			sqlite3_bind_text(upsert, 5, spec, -1, SQLITE_STATIC);
			if (sqlite3_step(upsert) != SQLITE_DONE)
				goto fail_obj;
		}
		sqlite3_reset(ins_ver);
		sqlite3_bind_text(ins_ver, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins_ver, 2, c->name, -1, SQLITE_STATIC);
		sqlite3_bind_int(ins_ver, 3, objver);
		sqlite3_bind_int64(ins_ver, 4, version);
		sqlite3_bind_text(ins_ver, 5, op, -1, SQLITE_STATIC);
		if (spec)
			sqlite3_bind_text(ins_ver, 6, spec, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(ins_ver, 6);
		if (sqlite3_step(ins_ver) != SQLITE_DONE)
			goto fail_obj;
		free(spec);
		continue;
	fail_obj:
		free(spec);
		db_fail(r, "cannot record object");
		goto fail;
	}
	for (i = 0; i < nreset; i++) {
		sqlite3_stmt *d;
		int rc;
		if (sqlite3_prepare_v2(r->db, "DELETE FROM materializations WHERE view = ?", -1, &d,
				       NULL) != SQLITE_OK) {
			db_fail(r, "cannot reset materialization state");
			goto fail;
		}
		sqlite3_bind_text(d, 1, reset_views[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(d);
		sqlite3_finalize(d);
		if (rc != SQLITE_DONE) {
			db_fail(r, "cannot reset materialization state");
			goto fail;
		}
	}
	sqlite3_finalize(ins_apply);
	sqlite3_finalize(next_ver);
	sqlite3_finalize(upsert);
	sqlite3_finalize(del);
	sqlite3_finalize(ins_ver);
	fs_test_crash_point("apply-before-registry-commit");
	if (exec(r, "COMMIT"))
		goto fail_rollback;
	fs_test_crash_point("apply-after-registry-commit");
	*out = version;
	return 0;
fail:
	sqlite3_finalize(ins_apply);
	sqlite3_finalize(next_ver);
	sqlite3_finalize(upsert);
	sqlite3_finalize(del);
	sqlite3_finalize(ins_ver);
fail_rollback:
	sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
	return FS_ERR;
}

static json_t *apply_row(sqlite3_stmt *st)
{
	char when[FS_TIME_BUFSZ];

	fs_time_format(when, sqlite3_column_int64(st, 2));
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:[]}", "registry_version",
			 (json_int_t)sqlite3_column_int64(st, 0), "commit",
			 (const char *)sqlite3_column_text(st, 1), "time", when, "author",
			 (const char *)sqlite3_column_text(st, 3), "summary",
			 (const char *)sqlite3_column_text(st, 4), "changes");
}

int fs_registry_log(struct fs_registry *r, const char *name, json_t **out)
{
	sqlite3_stmt *st = NULL, *ch = NULL;
	json_t *arr = json_array();
	int rc;

	*out = NULL;
	if (sqlite3_prepare_v2(r->db,
			       name ? "SELECT version, git_commit, applied_at, author, summary FROM applies"
				      " WHERE version IN (SELECT applied_in FROM object_versions WHERE name = ?)"
				      " ORDER BY version DESC"
				    : "SELECT version, git_commit, applied_at, author, summary FROM applies"
				      " ORDER BY version DESC",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db,
			       "SELECT op, kind, name, version FROM object_versions WHERE applied_in = ?"
			       " AND (?2 IS NULL OR name = ?2) ORDER BY rowid",
			       -1, &ch, NULL) != SQLITE_OK) {
		db_fail(r, "cannot read history");
		goto fail;
	}
	if (name)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *row = apply_row(st), *changes = json_object_get(row, "changes");

		sqlite3_reset(ch);
		sqlite3_bind_int64(ch, 1, sqlite3_column_int64(st, 0));
		if (name)
			sqlite3_bind_text(ch, 2, name, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(ch, 2);
		while (sqlite3_step(ch) == SQLITE_ROW)
			json_array_append_new(
				changes, json_pack("{s:s, s:s, s:s, s:i}", "op",
						   (const char *)sqlite3_column_text(ch, 0), "kind",
						   (const char *)sqlite3_column_text(ch, 1), "name",
						   (const char *)sqlite3_column_text(ch, 2), "version",
						   sqlite3_column_int(ch, 3)));
		json_array_append_new(arr, row);
	}
	if (rc != SQLITE_DONE) {
		db_fail(r, "cannot read history");
		goto fail;
	}
	sqlite3_finalize(st);
	sqlite3_finalize(ch);
	*out = arr;
	return 0;
fail:
	sqlite3_finalize(st);
	sqlite3_finalize(ch);
	json_decref(arr);
	return FS_ERR;
}


int fs_registry_object_versions(struct fs_registry *r, enum fs_kind kind, const char *name,
				json_t **out)
{
	sqlite3_stmt *st = NULL;
	json_t *arr = json_array();
	int rc;

	*out = NULL;
	if (sqlite3_prepare_v2(r->db,
			       "SELECT v.version, v.op, v.applied_in, a.git_commit, a.applied_at,"
			       " a.author, v.spec FROM object_versions v JOIN applies a"
			       " ON a.version = v.applied_in WHERE v.kind = ? AND v.name = ?"
			       " ORDER BY v.applied_in, v.rowid",
			       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, fs_kind_name(kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 6);
		char when[FS_TIME_BUFSZ];
		json_t *spec = json_null();

		if (text && !(spec = json_loads(text, 0, NULL))) {
			fs_error_set("registry '%s': corrupt spec of %s '%s' version %d", r->path,
				     fs_kind_name(kind), name, sqlite3_column_int(st, 0));
			sqlite3_finalize(st);
			json_decref(arr);
			return FS_ERR;
		}
		fs_time_format(when, sqlite3_column_int64(st, 4));
		json_array_append_new(
			arr, json_pack("{s:i, s:s, s:I, s:s, s:s, s:s, s:o}", "version",
				       sqlite3_column_int(st, 0), "op",
				       (const char *)sqlite3_column_text(st, 1), "registry_version",
				       (json_int_t)sqlite3_column_int64(st, 2), "commit",
				       (const char *)sqlite3_column_text(st, 3), "time", when, "author",
				       (const char *)sqlite3_column_text(st, 5), "spec", spec));
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	*out = arr;
	return 0;
fail:
	sqlite3_finalize(st);
	json_decref(arr);
	return db_fail(r, "cannot read object versions");
}
