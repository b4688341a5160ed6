/*
 * online-sqlite.c: the embedded online store, one SQLite file (WAL). A
 * view's batch is one transaction: after a crash the view holds either all
 * of it or none of it.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "online.h"
#include "util.h"
#include "banned.h"

struct sq {
	sqlite3 *db;
	sqlite3_stmt *get_view, *get_row, *begin, *commit;
};

/* Run a prepared statement without results (BEGIN, COMMIT). */
static int step(struct fs_online *o, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		struct sq *s = o->state;
		fs_error_set("online store '%s': %s", o->where, sqlite3_errmsg(s->db));
		return FS_ERR;
	}
	return 0;
}

static int fail(struct fs_online *o, const char *what)
{
	struct sq *s = o->state;
	fs_error_set("online store '%s': %s: %s", o->where, what, sqlite3_errmsg(s->db));
	return FS_ERR;
}

static int sq_open(struct fs_online *o, const struct fs_config *cfg)
{
	struct sq *s = xcalloc(1, sizeof(*s));
	char *dir = xstrdup(cfg->online_path), *slash = strrchr(dir, '/');
	char *err = NULL;

	o->state = s;
	o->where = xstrdup(cfg->online_path);
	if (slash && slash != dir) {
		*slash = '\0';
		fs_mkdir_p(dir, 0777);
	}
	free(dir);
	if (sqlite3_open_v2(cfg->online_path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    NULL) != SQLITE_OK)
		return fail(o, "cannot open");
	sqlite3_busy_timeout(s->db, 30000);
	if (sqlite3_exec(s->db,
			 "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
			 "PRAGMA cache_size = -65536;"
			 "CREATE TABLE IF NOT EXISTS views (id INTEGER PRIMARY KEY,"
			 "  name TEXT NOT NULL UNIQUE, schema TEXT NOT NULL);"
			 "CREATE TABLE IF NOT EXISTS rows (view INTEGER NOT NULL, key BLOB NOT NULL,"
			 "  ts INTEGER NOT NULL, created INTEGER NOT NULL, vals BLOB NOT NULL,"
			 "  PRIMARY KEY (view, key)) WITHOUT ROWID;",
			 NULL, NULL, &err) != SQLITE_OK) {
		fs_error_set("online store '%s': %s", o->where, err ? err : "cannot create schema");
		sqlite3_free(err);
		return FS_ERR;
	}
	if (sqlite3_prepare_v2(s->db, "SELECT id, schema FROM views WHERE name = ?", -1,
			       &s->get_view, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
			       "SELECT r.ts, r.created, r.vals FROM views v JOIN rows r ON r.view = v.id"
			       " WHERE v.name = ?1 AND v.schema = ?2 AND r.key = ?3",
			       -1, &s->get_row, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "BEGIN", -1, &s->begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "COMMIT", -1, &s->commit, NULL) != SQLITE_OK)
		return fail(o, "cannot prepare");
	return 0;
}

/* The view's id when its stored schema is schema; 0 when absent or different. */
static int64_t view_id(struct sq *s, const char *view, const char *schema, bool *other_schema)
{
	int64_t id = 0;

	*other_schema = false;
	sqlite3_reset(s->get_view);
	sqlite3_bind_text(s->get_view, 1, view, -1, SQLITE_STATIC);
	if (sqlite3_step(s->get_view) == SQLITE_ROW) {
		if (!strcmp((const char *)sqlite3_column_text(s->get_view, 1), schema))
			id = sqlite3_column_int64(s->get_view, 0);
		else
			*other_schema = true;
	}
	sqlite3_reset(s->get_view);
	return id;
}

static int exec(struct fs_online *o, const char *sql)
{
	struct sq *s = o->state;
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(o, sql);
}

static int drop_in_tx(struct fs_online *o, const char *view)
{
	struct sq *s = o->state;
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db,
			       "DELETE FROM rows WHERE view = (SELECT id FROM views WHERE name = ?1);",
			       -1, &st, NULL) != SQLITE_OK)
		return fail(o, "cannot drop");
	sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(o, "cannot drop");
	if (sqlite3_prepare_v2(s->db, "DELETE FROM views WHERE name = ?1", -1, &st, NULL) != SQLITE_OK)
		return fail(o, "cannot drop");
	sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(o, "cannot drop");
}

static int cmp_rec(const void *a, const void *b)
{
	const struct fs_online_rec *x = *(const struct fs_online_rec *const *)a;
	const struct fs_online_rec *y = *(const struct fs_online_rec *const *)b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, n);

	return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

static int sq_write(struct fs_online *o, const char *view, const char *schema,
		    const struct fs_online_rec *recs, size_t n, size_t *written)
{
	struct sq *s = o->state;
	sqlite3_stmt *up = NULL, *ins = NULL;
	const struct fs_online_rec **order = xmalloc((n + 1) * sizeof(*order));
	bool other;
	int64_t id;
	size_t i;

	/* in key order, the B-tree is appended to instead of searched at random */
	for (i = 0; i < n; i++)
		order[i] = &recs[i];
	qsort(order, n, sizeof(*order), cmp_rec);
	if (exec(o, "BEGIN IMMEDIATE")) {
		free(order);
		return FS_ERR;
	}
	id = view_id(s, view, schema, &other);
	if (!id) {
		if (other && drop_in_tx(o, view))
			goto fail;
		if (sqlite3_prepare_v2(s->db, "INSERT INTO views(name, schema) VALUES (?, ?)", -1,
				       &ins, NULL) != SQLITE_OK) {
			fail(o, "cannot register view");
			goto fail;
		}
		sqlite3_bind_text(ins, 1, view, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, schema, -1, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			fail(o, "cannot register view");
			goto fail;
		}
		id = sqlite3_last_insert_rowid(s->db);
	}
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO rows(view, key, ts, created, vals) VALUES (?, ?, ?, ?, ?)"
			       " ON CONFLICT (view, key) DO UPDATE SET ts = excluded.ts,"
			       " created = excluded.created, vals = excluded.vals"
			       " WHERE (excluded.ts, excluded.created) >= (rows.ts, rows.created)",
			       -1, &up, NULL) != SQLITE_OK) {
		fail(o, "cannot prepare write");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		sqlite3_reset(up);
		sqlite3_bind_int64(up, 1, id);
		sqlite3_bind_blob(up, 2, order[i]->key, (int)order[i]->keylen, SQLITE_STATIC);
		sqlite3_bind_int64(up, 3, order[i]->ts);
		sqlite3_bind_int64(up, 4, order[i]->created);
		sqlite3_bind_blob(up, 5, order[i]->val, (int)order[i]->vallen, SQLITE_STATIC);
		if (sqlite3_step(up) != SQLITE_DONE) {
			fail(o, "cannot write");
			goto fail;
		}
		*written += (size_t)sqlite3_changes(s->db);
	}
	sqlite3_finalize(up);
	sqlite3_finalize(ins);
	free(order);
	return exec(o, "COMMIT");
fail:
	free(order);
	sqlite3_finalize(up);
	sqlite3_finalize(ins);
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	*written = 0;
	return FS_ERR;
}

static int sq_read(struct fs_online *o, const char *view, const char *schema,
		   const struct fs_online_rec *keys, size_t n, struct fs_online_hit *hits)
{
	struct sq *s = o->state;
	bool tx = n > 1; /* one statement is consistent by itself */
	size_t i;

	/* one read transaction: a consistent view of the batch */
	if (tx && step(o, s->begin))
		return FS_ERR;
	sqlite3_bind_text(s->get_row, 1, view, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->get_row, 2, schema, -1, SQLITE_STATIC);
	for (i = 0; i < n; i++) {
		int rc;
		sqlite3_reset(s->get_row);
		sqlite3_bind_blob(s->get_row, 3, keys[i].key, (int)keys[i].keylen, SQLITE_STATIC);
		rc = sqlite3_step(s->get_row);
		if (rc == SQLITE_ROW) {
			const void *v = sqlite3_column_blob(s->get_row, 2);
			hits[i].found = true;
			hits[i].ts = sqlite3_column_int64(s->get_row, 0);
			hits[i].created = sqlite3_column_int64(s->get_row, 1);
			hits[i].vallen = (size_t)sqlite3_column_bytes(s->get_row, 2);
			hits[i].val = xmalloc(hits[i].vallen + 1);
			memcpy(hits[i].val, v, hits[i].vallen);
		} else if (rc != SQLITE_DONE) {
			sqlite3_reset(s->get_row);
			if (tx)
				exec(o, "ROLLBACK");
			return fail(o, "cannot read");
		}
	}
	sqlite3_reset(s->get_row);
	sqlite3_clear_bindings(s->get_row);
	return tx ? step(o, s->commit) : 0;
}

static int sq_drop(struct fs_online *o, const char *view)
{
	if (exec(o, "BEGIN IMMEDIATE"))
		return FS_ERR;
	if (drop_in_tx(o, view)) {
		exec(o, "ROLLBACK");
		return FS_ERR;
	}
	return exec(o, "COMMIT");
}

static int sq_count(struct fs_online *o, const char *view, const char *schema, int64_t *n)
{
	struct sq *s = o->state;
	sqlite3_stmt *st;
	bool other;
	int64_t id = view_id(s, view, schema, &other);

	*n = 0;
	if (!id)
		return 0;
	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM rows WHERE view = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return fail(o, "cannot count");
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int sq_ping(struct fs_online *o)
{
	return exec(o, "SELECT 1 FROM views LIMIT 1");
}

static void sq_close(struct fs_online *o)
{
	struct sq *s = o->state;

	sqlite3_finalize(s->get_view);
	sqlite3_finalize(s->get_row);
	sqlite3_finalize(s->begin);
	sqlite3_finalize(s->commit);
	sqlite3_close(s->db);
	free(s);
}

const struct fs_online_ops fs_online_sqlite_ops = {
	"sqlite", sq_open, sq_write, sq_read, sq_drop, sq_count, sq_ping, sq_close,
};
