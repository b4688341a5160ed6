/*
 * source-sqlite.c: sqlite sources: a database file with a table or a
 * query. Columns and rows as SQLite gives them, as text; SQL NULL is null.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "source.h"
#include "util.h"
#include "banned.h"

struct sqlite_state {
	sqlite3 *db;
	sqlite3_stmt *st;
	struct fs_cell *cells;
	size_t row;
};

static int sq_open(struct fs_source *src, const json_t *spec, const char *root)
{
	const char *path = json_string_value(json_object_get(spec, "path"));
	const char *table = json_string_value(json_object_get(spec, "table"));
	const char *query = json_string_value(json_object_get(spec, "query"));
	struct sqlite_state *st = xcalloc(1, sizeof(*st));
	char *full = fs_path_resolve(root, path);
	char *sql;
	int i, rc;

	src->state = st;
	src->what = table ? xstrfmt("%s table '%s'", path, table) : xstrfmt("%s query", path);
	rc = sqlite3_open_v2(full, &st->db, SQLITE_OPEN_READONLY, NULL);
	free(full);
	if (rc != SQLITE_OK) {
		fs_error_set("source '%s': cannot open '%s': %s", src->name, path,
			     sqlite3_errmsg(st->db));
		return FS_ERR;
	}
	sqlite3_busy_timeout(st->db, 10000);
	sql = table ? sqlite3_mprintf("SELECT * FROM \"%w\"", table) : sqlite3_mprintf("%s", query);
	rc = sqlite3_prepare_v2(st->db, sql, -1, &st->st, NULL);
	sqlite3_free(sql);
	if (rc != SQLITE_OK) {
		fs_error_set("source '%s': %s: %s", src->name, src->what, sqlite3_errmsg(st->db));
		return FS_ERR;
	}
	src->ncolumns = (size_t)sqlite3_column_count(st->st);
	src->columns = xcalloc(src->ncolumns + 1, sizeof(char *));
	for (i = 0; i < (int)src->ncolumns; i++)
		src->columns[i] = xstrdup(sqlite3_column_name(st->st, i));
	st->cells = xcalloc(src->ncolumns + 1, sizeof(*st->cells));
	return 0;
}

static int sq_next(struct fs_source *src, const struct fs_cell **cells)
{
	struct sqlite_state *st = src->state;
	int rc = sqlite3_step(st->st), i;

	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW) {
		fs_error_set("source '%s': %s: %s", src->name, src->what, sqlite3_errmsg(st->db));
		return FS_ERR;
	}
	st->row++;
	for (i = 0; i < (int)src->ncolumns; i++) {
		st->cells[i].null = sqlite3_column_type(st->st, i) == SQLITE_NULL;
		st->cells[i].s = st->cells[i].null ? "" : (const char *)sqlite3_column_text(st->st, i);
		st->cells[i].len = (size_t)sqlite3_column_bytes(st->st, i);
	}
	*cells = st->cells;
	return 1;
}

static void sq_where(struct fs_source *src, char *buf, size_t len)
{
	struct sqlite_state *st = src->state;
	snprintf(buf, len, "%s row %zu", src->what, st->row);
}

static void sq_close(struct fs_source *src)
{
	struct sqlite_state *st = src->state;

	sqlite3_finalize(st->st);
	sqlite3_close(st->db);
	free(st->cells);
	free(st);
}

static const char *const sq_keys[] = { "path", "table", "query", NULL };

static void sq_check_spec(const json_t *spec, fs_source_complain *complain, void *ctx)
{
	const char *path = json_string_value(json_object_get(spec, "path"));

	if (!path)
		complain(ctx, NULL, "missing 'path' (a sqlite source needs a database file)");
	else if (strstr(path, "://"))
		complain(ctx, "path", "a sqlite source needs a local file, not a URL");
	if (!json_object_get(spec, "table") == !json_object_get(spec, "query"))
		complain(ctx, NULL, "a sqlite source needs exactly one of 'table' and 'query'");
}

/*
 * The columns of a sqlite source's table or query (prepared, never run, as
 * the reader prepares it). On error *at names the key the error is about.
 */
static int sq_columns(const json_t *spec, const struct fs_data_access *data,
		      struct fs_source_columns *out, char **err, const char **at)
{
	const char *path = json_string_value(json_object_get(spec, "path"));
	const char *table = json_string_value(json_object_get(spec, "table"));
	const char *query = json_string_value(json_object_get(spec, "query"));
	char *full;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *sql = NULL;
	int rc = -1, i;

	if (!path || strstr(path, "://") || !table == !query)
		return 1; /* reported with the spec */
	full = fs_path_resolve(data->root, path);
	*at = "path";
	if (access(full, R_OK) < 0) {
		*err = xstrfmt("database '%s' %s", path,
			       errno == ENOENT ? "does not exist" : strerror(errno));
		goto done;
	}
	if (sqlite3_open_v2(full, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		*err = xstrfmt("cannot open database '%s': %s", path, sqlite3_errmsg(db));
		goto done;
	}
	if (table)
		sql = sqlite3_mprintf("SELECT * FROM \"%w\"", table);
	else
		sql = sqlite3_mprintf("%s", query);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		const char *msg = sqlite3_errmsg(db);
		if (sqlite3_errcode(db) == SQLITE_NOTADB || sqlite3_errcode(db) == SQLITE_CORRUPT) {
			*err = xstrfmt("cannot read database '%s': %s", path, msg);
		} else if (table && starts_with(msg, "no such table")) {
			*at = "table";
			*err = xstrfmt("database '%s' has no table '%s'", path, table);
		} else {
			*at = table ? "table" : "query";
			*err = table ? xstrfmt("cannot read table '%s' of database '%s': %s", table,
					       path, msg)
				     : xstrfmt("query fails on database '%s': %s", path, msg);
		}
		goto done;
	}
	if (!st || !sqlite3_stmt_readonly(st) || !sqlite3_column_count(st)) {
		*at = "query";
		*err = xstrfmt("query on database '%s' must be a SELECT statement", path);
		goto done;
	}
	out->n = 0;
	out->names = xcalloc((size_t)sqlite3_column_count(st) + 1, sizeof(char *));
	for (i = 0; i < sqlite3_column_count(st); i++)
		out->names[out->n++] = xstrdup(sqlite3_column_name(st, i));
	out->where = table ? xstrfmt("%s table '%s'", path, table) : xstrfmt("%s query", path);
	rc = 0;
done:
	sqlite3_finalize(st);
	sqlite3_free(sql);
	sqlite3_close(db);
	free(full);
	return rc;
}

const struct fs_source_ops fs_source_sqlite_ops = {
	.type = "sqlite",
	.keys = sq_keys,
	.check_spec = sq_check_spec,
	.columns = sq_columns,
	.local_file = fs_source_path_if_local,
	.open = sq_open,
	.next = sq_next,
	.where = sq_where,
	.close = sq_close,
};
