/*
 * source-sqlite.c: sqlite sources: a database file with a table or a
 * query. Columns and rows as SQLite gives them, as text; SQL NULL is null.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	char *full = path[0] == '/' ? xstrdup(path) : fs_path_join(root, path);
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

const struct fs_source_ops fs_source_sqlite_ops = {
	"sqlite", sq_open, sq_next, sq_where, sq_close,
};
