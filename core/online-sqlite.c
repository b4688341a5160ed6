/*
 * online-sqlite.c: the embedded online store, one SQLite file (WAL). A
 * view's batch is one transaction: after a crash the view holds either all
 * of it or none of it.
 *
 * Records of plain views live in a WITHOUT ROWID table (key and values in
 * the B-tree leaf: one search a read). The tiles of aggregation views
 * (a schema with aggregations, fs_view_schema's "|a:") are larger, a
 * kilobyte or more: they live in a rowid table, whose leaves hold them
 * without overflow pages.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "keymap.h"
#include "online.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

struct sq {
	sqlite3 *db;
	sqlite3_stmt *get_view, *get_row, *get_tile, *begin, *commit;
};

/* Does a view of this schema keep its records in the tiles table? */
static bool has_tiles(const char *schema)
{
	return strstr(schema, "|a:") != NULL;
}

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

#define BUSY_TIMEOUT_MS 30000

/*
 * Setting up a file (sql) while another connection does (fs stream's writer
 * and its maintainer, two commands): switching to WAL and creating the
 * tables can answer SQLITE_BUSY without waiting; try again a while (5 s).
 * *err as sqlite3_exec's, of the last try.
 */
static int exec_setup(sqlite3 *db, const char *sql, char **err)
{
	int rc, tries;

	for (tries = 0;; tries++) {
		sqlite3_free(*err);
		*err = NULL;
		rc = sqlite3_exec(db, sql, NULL, NULL, err);
		if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries >= 249)
			return rc;
		usleep(20000);
	}
}

static int sq_open(struct fs_online *o, const struct fs_config *cfg)
{
	struct sq *s = xcalloc(1, sizeof(*s));
	char *dir = xstrdup(cfg->online_path), *slash = strrchr(dir, '/');
	char *err = NULL;
	int rc;

	o->state = s;
	o->where = xstrdup(cfg->online_path);
	if (slash && slash != dir) {
		*slash = '\0';
		fs_mkdir_p(dir, 0777);
	}
	free(dir);
	/* a connection is used by one thread at a time (serve-lite's pool, fs stream's writer) */
	if (sqlite3_open_v2(cfg->online_path, &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK)
		return fail(o, "cannot open");
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	if ((rc = exec_setup(s->db, "PRAGMA journal_mode = WAL;", &err)) == SQLITE_OK)
		rc = exec_setup(s->db, "PRAGMA synchronous = NORMAL;"
			 "PRAGMA cache_size = -65536; PRAGMA mmap_size = 1073741824;"
			 "PRAGMA journal_size_limit = 67108864;" /* the WAL, when it starts over */
			 /* a batch's savepoints journal each page they change: in memory, not a file */
			 "PRAGMA temp_store = MEMORY;"
			 "CREATE TABLE IF NOT EXISTS views (id INTEGER PRIMARY KEY,"
			 "  name TEXT NOT NULL UNIQUE, schema TEXT NOT NULL);"
			 "CREATE TABLE IF NOT EXISTS rows (view INTEGER NOT NULL, key BLOB NOT NULL,"
			 "  ts INTEGER NOT NULL, created INTEGER NOT NULL, vals BLOB NOT NULL,"
			 "  PRIMARY KEY (view, key)) WITHOUT ROWID;"
			 "CREATE TABLE IF NOT EXISTS tiles (view INTEGER NOT NULL, key BLOB NOT NULL,"
			 "  ts INTEGER NOT NULL, created INTEGER NOT NULL, vals BLOB NOT NULL,"
			 "  UNIQUE (view, key));"
			 "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);",
			 &err);
	if (rc != SQLITE_OK) {
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
	    sqlite3_prepare_v2(s->db,
			       "SELECT r.ts, r.created, r.vals FROM views v JOIN tiles r ON r.view = v.id"
			       " WHERE v.name = ?1 AND v.schema = ?2 AND r.key = ?3",
			       -1, &s->get_tile, NULL) != SQLITE_OK ||
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

/*
 * A write's own transaction, or a savepoint in the batch's (fs_online_begin):
 * undone alone on failure, committed with the batch.
 */
static int tx_open(struct fs_online *o)
{
	return exec(o, o->in_batch ? "SAVEPOINT w" : "BEGIN IMMEDIATE");
}

static int tx_close(struct fs_online *o)
{
	return exec(o, o->in_batch ? "RELEASE w" : "COMMIT");
}

static void tx_abort(struct fs_online *o)
{
	struct sq *s = o->state;
	sqlite3_exec(s->db, o->in_batch ? "ROLLBACK TO w; RELEASE w" : "ROLLBACK", NULL, NULL,
		     NULL);
}

static int drop_in_tx(struct fs_online *o, const char *view)
{
	struct sq *s = o->state;
	sqlite3_stmt *st;
	int rc;

	static const char *const tables[] = {
		"DELETE FROM rows WHERE view = (SELECT id FROM views WHERE name = ?1);",
		"DELETE FROM tiles WHERE view = (SELECT id FROM views WHERE name = ?1);",
	};
	size_t t;

	for (t = 0; t < ARRAY_SIZE(tables); t++) {
		if (sqlite3_prepare_v2(s->db, tables[t], -1, &st, NULL) != SQLITE_OK)
			return fail(o, "cannot drop");
		sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return fail(o, "cannot drop");
	}
	if (sqlite3_prepare_v2(s->db, "DELETE FROM views WHERE name = ?1", -1, &st, NULL) != SQLITE_OK)
		return fail(o, "cannot drop");
	sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(o, "cannot drop");
}

static int cmp_rec(const struct fs_online_rec *x, const struct fs_online_rec *y)
{
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, n);

	return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

/* A record to sort: its key's first 8 bytes, big-endian (memcmp order), zero-padded. */
struct sortrec {
	uint64_t pfx;
	const struct fs_online_rec *rec;
};

static int cmp_sortrec(const void *a, const void *b)
{
	const struct sortrec *x = a, *y = b;

	if (x->pfx != y->pfx)
		return x->pfx < y->pfx ? -1 : 1;
	return cmp_rec(x->rec, y->rec);
}

/*
 * recs in key (memcmp) order: an LSD radix sort on the 8-byte prefixes,
 * then a comparison sort of each run of equal prefixes (a key of up to 8
 * bytes is decided by its prefix, but for zero padding). A comparison sort
 * of pointers would chase every key through the cache. *dups: some key is
 * there twice.
 */
static const struct fs_online_rec **sort_recs(const struct fs_online_rec *recs, size_t n,
					      bool *dups)
{
	const struct fs_online_rec **order = xmalloc((n + 1) * sizeof(*order));
	struct sortrec *a = xmalloc((n + 1) * sizeof(*a)), *b = xmalloc((n + 1) * sizeof(*b)), *t;
	size_t *count = xcalloc(65536, sizeof(*count));
	size_t i, j, pass;

	for (i = 0; i < n; i++) {
		const unsigned char *k = recs[i].key;
		uint64_t p = 0;
		for (j = 0; j < 8; j++)
			p = p << 8 | (j < recs[i].keylen ? k[j] : 0);
		a[i].pfx = p;
		a[i].rec = &recs[i];
	}
	*dups = false;
	for (pass = 0; n && pass < 4; pass++) {
		unsigned shift = (unsigned)pass * 16;
		size_t sum = 0;

		memset(count, 0, 65536 * sizeof(*count));
		for (i = 0; i < n; i++)
			count[(a[i].pfx >> shift) & 0xffff]++;
		if (count[(a[0].pfx >> shift) & 0xffff] == n)
			continue; /* all the same digit: nothing moves */
		for (i = 0; i < 65536; i++) {
			size_t c = count[i];
			count[i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			b[count[(a[i].pfx >> shift) & 0xffff]++] = a[i];
		t = a;
		a = b;
		b = t;
	}
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && a[j].pfx == a[i].pfx; j++)
			;
		if (j - i > 1) {
			size_t k;
			qsort(a + i, j - i, sizeof(*a), cmp_sortrec);
			for (k = i + 1; k < j; k++)
				if (!cmp_rec(a[k - 1].rec, a[k].rec))
					*dups = true;
		}
	}
	for (i = 0; i < n; i++)
		order[i] = a[i].rec;
	free(a);
	free(b);
	free(count);
	return order;
}

/* Does view id hold no rows yet? (then its batch is inserted, with nothing to upsert) */
static int view_empty(struct fs_online *o, int64_t id, bool *empty)
{
	struct sq *s = o->state;
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM rows WHERE view = ? LIMIT 1", -1, &st, NULL) !=
	    SQLITE_OK)
		return fail(o, "cannot prepare write");
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(o, "cannot write");
	*empty = rc == SQLITE_DONE;
	return 0;
}

/* Rows per INSERT statement: the statement's own cost (start, journal, halt) shared. */
#define WRITE_ROWS 64

/*
 * INSERT of nrows rows (view ?1; then key, ts, created, vals per row),
 * plain into an empty view, else an upsert that never replaces a newer row.
 */
static int prepare_write(struct fs_online *o, bool empty, size_t nrows, sqlite3_stmt **out)
{
	struct sq *s = o->state;
	struct strbuf sql = STRBUF_INIT;
	size_t i;
	int rc;

	sb_adds(&sql, "INSERT INTO rows(view, key, ts, created, vals) VALUES ");
	for (i = 0; i < nrows; i++)
		sb_addf(&sql, "%s(?1, ?, ?, ?, ?)", i ? ", " : "");
	if (!empty)
		sb_adds(&sql, " ON CONFLICT (view, key) DO UPDATE SET ts = excluded.ts,"
			      " created = excluded.created, vals = excluded.vals"
			      " WHERE (excluded.ts, excluded.created) >= (rows.ts, rows.created)");
	rc = sqlite3_prepare_v2(s->db, sql.buf, -1, out, NULL);
	sb_release(&sql);
	return rc == SQLITE_OK ? 0 : fail(o, "cannot prepare write");
}

static int sq_write(struct fs_online *o, const char *view, const char *schema,
		    const struct fs_online_rec *recs, size_t n, size_t *written)
{
	struct sq *s = o->state;
	sqlite3_stmt *up = NULL, *ins = NULL, *many = NULL;
	const struct fs_online_rec **order;
	bool other, empty, dups;
	int64_t id, bytes = 0;
	size_t i, j;
	char *pragma;
	int rc;

	/* in key order, the B-tree is appended to instead of searched at random */
	order = sort_recs(recs, n, &dups);
	/*
	 * A page cache that holds the whole batch: dirty pages spilled to the
	 * WAL mid-transaction would be written twice. Durability is unchanged:
	 * the batch is one transaction, committed (synchronous=NORMAL, WAL) as before.
	 */
	for (i = 0; i < n; i++)
		bytes += (int64_t)(recs[i].keylen + recs[i].vallen) + 32;
	pragma = xstrfmt("PRAGMA cache_size = -%lld", (long long)(bytes * 3 / 2 / 1024 > 65536
									 ? bytes * 3 / 2 / 1024
									 : 65536));
	sqlite3_exec(s->db, pragma, NULL, NULL, NULL);
	free(pragma);
	if (tx_open(o)) {
		free(order);
		sqlite3_exec(s->db, "PRAGMA cache_size = -65536", NULL, NULL, NULL);
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
	if (view_empty(o, id, &empty))
		goto fail;
	/* distinct keys into an empty view: no row can conflict, nothing to upsert */
	empty = empty && !dups;
	if (prepare_write(o, empty, 1, &up) || (n >= WRITE_ROWS && prepare_write(o, empty, WRITE_ROWS, &many)))
		goto fail;
	sqlite3_bind_int64(up, 1, id);
	if (many)
		sqlite3_bind_int64(many, 1, id);
	for (i = 0; i < n; i += j) {
		sqlite3_stmt *st = n - i >= WRITE_ROWS ? many : up;
		size_t rows = st == many ? WRITE_ROWS : 1;

		for (j = 0; j < rows; j++) {
			const struct fs_online_rec *r = order[i + j];
			int p = 2 + 4 * (int)j;

			if (i + j + 2 * WRITE_ROWS < n) {
				/* key order is random order in memory */
				__builtin_prefetch(order[i + j + 2 * WRITE_ROWS]->key);
				__builtin_prefetch(order[i + j + 2 * WRITE_ROWS]->val);
			}
			sqlite3_bind_blob(st, p, r->key, (int)r->keylen, SQLITE_STATIC);
			sqlite3_bind_int64(st, p + 1, r->ts);
			sqlite3_bind_int64(st, p + 2, r->created);
			sqlite3_bind_blob(st, p + 3, r->val, (int)r->vallen, SQLITE_STATIC);
		}
		if (sqlite3_step(st) != SQLITE_DONE) {
			fail(o, "cannot write");
			goto fail;
		}
		sqlite3_reset(st);
		*written += (size_t)sqlite3_changes(s->db);
	}
	sqlite3_finalize(up);
	sqlite3_finalize(many);
	sqlite3_finalize(ins);
	free(order);
	rc = tx_close(o);
	sqlite3_exec(s->db, "PRAGMA cache_size = -65536", NULL, NULL, NULL);
	return rc;
fail:
	free(order);
	sqlite3_finalize(up);
	sqlite3_finalize(many);
	sqlite3_finalize(ins);
	tx_abort(o);
	sqlite3_exec(s->db, "PRAGMA cache_size = -65536", NULL, NULL, NULL);
	*written = 0;
	return FS_ERR;
}

static int sq_read(struct fs_online *o, const char *view, const char *schema,
		   const struct fs_online_rec *keys, size_t n, struct fs_online_hit *hits)
{
	struct sq *s = o->state;
	sqlite3_stmt *get = has_tiles(schema) ? s->get_tile : s->get_row;
	/* one statement is consistent by itself, and so is a batch's transaction */
	bool tx = n > 1 && !o->in_batch;
	size_t i;

	/* one read transaction: a consistent view of the batch */
	if (tx && step(o, s->begin))
		return FS_ERR;
	sqlite3_bind_text(get, 1, view, -1, SQLITE_STATIC);
	sqlite3_bind_text(get, 2, schema, -1, SQLITE_STATIC);
	for (i = 0; i < n; i++) {
		int rc;
		sqlite3_reset(get);
		sqlite3_bind_blob(get, 3, keys[i].keylen ? keys[i].key : "", (int)keys[i].keylen,
				  SQLITE_STATIC);
		rc = sqlite3_step(get);
		if (rc == SQLITE_ROW) {
			const void *v = sqlite3_column_blob(get, 2);
			hits[i].found = true;
			hits[i].ts = sqlite3_column_int64(get, 0);
			hits[i].created = sqlite3_column_int64(get, 1);
			hits[i].vallen = (size_t)sqlite3_column_bytes(get, 2);
			hits[i].val = xmalloc(hits[i].vallen + 1);
			if (hits[i].vallen)
				memcpy(hits[i].val, v, hits[i].vallen);
		} else if (rc != SQLITE_DONE) {
			sqlite3_reset(get);
			if (tx)
				exec(o, "ROLLBACK");
			return fail(o, "cannot read");
		}
	}
	sqlite3_reset(get);
	sqlite3_clear_bindings(get);
	return tx ? step(o, s->commit) : 0;
}

static int sq_drop(struct fs_online *o, const char *view)
{
	if (tx_open(o))
		return FS_ERR;
	if (drop_in_tx(o, view)) {
		tx_abort(o);
		return FS_ERR;
	}
	return tx_close(o);
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
	if (sqlite3_prepare_v2(s->db,
			       has_tiles(schema) ? "SELECT count(*) FROM tiles WHERE view = ?"
						 : "SELECT count(*) FROM rows WHERE view = ?",
			       -1, &st, NULL) != SQLITE_OK)
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
	sqlite3_finalize(s->get_tile);
	sqlite3_finalize(s->begin);
	sqlite3_finalize(s->commit);
	sqlite3_close(s->db);
	free(s);
}

/* The view's id under schema, creating (or recreating, under another schema) it. */
static int view_id_create(struct fs_online *o, const char *view, const char *schema, int64_t *id)
{
	struct sq *s = o->state;
	sqlite3_stmt *ins;
	bool other;

	*id = view_id(s, view, schema, &other);
	if (*id)
		return 0;
	if (other && drop_in_tx(o, view))
		return FS_ERR;
	if (sqlite3_prepare_v2(s->db, "INSERT INTO views(name, schema) VALUES (?, ?)", -1, &ins,
			       NULL) != SQLITE_OK)
		return fail(o, "cannot register view");
	sqlite3_bind_text(ins, 1, view, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 2, schema, -1, SQLITE_STATIC);
	if (sqlite3_step(ins) != SQLITE_DONE) {
		sqlite3_finalize(ins);
		return fail(o, "cannot register view");
	}
	sqlite3_finalize(ins);
	*id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

/* Prepare sql with %s replaced by the table of schema's records. */
static int prepare_in(struct sq *s, sqlite3_stmt **st, const char *sql, const char *schema)
{
	char *text = xstrfmt(sql, has_tiles(schema) ? "tiles" : "rows");
	int rc = sqlite3_prepare_v2(s->db, text, -1, st, NULL);

	free(text);
	return rc != SQLITE_OK;
}

/* An update's statements: put upserts by key, set (tiles) rewrites the record at ?6, a rowid. */
struct upd_st {
	sqlite3_stmt *put, *set, *del;
};

/*
 * Ask fn about one record and write or delete what it says; rowid is the
 * old record's (0: not known).
 */
static int update_one(struct fs_online *o, const struct upd_st *u, const void *key,
		      size_t keylen, size_t i, const struct fs_online_hit *old, int64_t rowid,
		      fs_online_update_fn fn, void *ctx)
{
	struct sq *s = o->state;
	struct fs_online_rec rec = { 0 };
	sqlite3_stmt *st;
	int rc = fn(ctx, key, keylen, i, old, &rec);

	if (rc < 0)
		return rc;
	if (rc == 1 && !old->found)
		return 0;
	st = rc == 1 ? u->del : old->found && rowid && u->set ? u->set : u->put;
	sqlite3_reset(st);
	sqlite3_bind_blob(st, 2, key, (int)keylen, SQLITE_STATIC);
	if (st == u->set)
		sqlite3_bind_int64(st, 6, rowid);
	if (st != u->del) {
		sqlite3_bind_int64(st, 3, rec.ts);
		sqlite3_bind_int64(st, 4, rec.created);
		sqlite3_bind_blob(st, 5, rec.vallen ? rec.val : "", (int)rec.vallen, SQLITE_STATIC);
	}
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		fs_error_set("online store '%s': cannot write: %s", o->where, sqlite3_errmsg(s->db));
		return FS_ERR;
	}
	return 0;
}

static int sq_update(struct fs_online *o, const char *view, const char *schema,
		     const struct fs_online_rec *keys, size_t n, unsigned flags, fs_online_update_fn fn,
		     void *ctx)
{
	struct sq *s = o->state;
	sqlite3_stmt *get = NULL, *scan = NULL;
	struct upd_st u = { NULL, NULL, NULL };
	const struct fs_online_rec **order = NULL;
	struct fs_keymap *asked = NULL;
	struct fs_online_hit hit;
	struct strbuf vb = STRBUF_INIT;
	bool tiles = has_tiles(schema), dups;
	int64_t id;
	size_t i, j;
	int rc = FS_ERR;

	if (tx_open(o))
		return FS_ERR;
	if (view_id_create(o, view, schema, &id))
		goto done;
	/* tiles: a record found is rewritten at its rowid (no second search of the key index) */
	if (prepare_in(s, &get, tiles ? "SELECT ts, created, vals, rowid FROM %s"
					" WHERE view = ?1 AND key = ?2"
				      : "SELECT ts, created, vals FROM %s WHERE view = ?1 AND key = ?2",
		       schema) ||
	    (tiles && prepare_in(s, &u.set, "UPDATE %s SET ts = ?3, created = ?4, vals = ?5"
					    " WHERE rowid = ?6", schema)) ||
	    prepare_in(s, &u.put,
		       /* an upsert changes the row in place (REPLACE deletes and inserts) */
		       "INSERT INTO %s(view, key, ts, created, vals) VALUES (?1, ?2, ?3, ?4, ?5)"
		       " ON CONFLICT (view, key) DO UPDATE SET ts = excluded.ts,"
		       " created = excluded.created, vals = excluded.vals",
		       schema) ||
	    prepare_in(s, &u.del, "DELETE FROM %s WHERE view = ?1 AND key = ?2", schema)) {
		fail(o, "cannot prepare update");
		goto done;
	}
	sqlite3_bind_int64(get, 1, id);
	sqlite3_bind_int64(u.put, 1, id);
	sqlite3_bind_int64(u.del, 1, id);
	if (flags & FS_UPDATE_ALL) {
		/* the records not asked for: read them all first, then change them */
		struct strbuf kb = STRBUF_INIT, vb = STRBUF_INIT;
		struct { size_t koff, klen, voff, vlen; int64_t ts, cr; } *other = NULL;
		size_t nother = 0, alloc = 0;

		asked = fs_keymap_new();
		for (i = 0; i < n; i++)
			fs_keymap_intern(asked, keys[i].key, keys[i].keylen);
		if (prepare_in(s, &scan, "SELECT key, ts, created, vals FROM %s WHERE view = ?1",
			       schema)) {
			fail(o, "cannot prepare update");
			goto done;
		}
		sqlite3_bind_int64(scan, 1, id);
		while ((rc = sqlite3_step(scan)) == SQLITE_ROW) {
			const void *k = sqlite3_column_blob(scan, 0);
			size_t kl = (size_t)sqlite3_column_bytes(scan, 0);
			if (!k)
				k = ""; /* an empty blob */
			if (fs_keymap_find(asked, k, kl) != FS_KEY_NONE)
				continue;
			ALLOC_GROW(other, nother + 1, alloc);
			other[nother].koff = kb.len;
			other[nother].klen = kl;
			sb_add(&kb, k, kl);
			other[nother].voff = vb.len;
			other[nother].vlen = (size_t)sqlite3_column_bytes(scan, 3);
			sb_add(&vb, sqlite3_column_blob(scan, 3), other[nother].vlen);
			other[nother].ts = sqlite3_column_int64(scan, 1);
			other[nother].cr = sqlite3_column_int64(scan, 2);
			nother++;
		}
		rc = rc == SQLITE_DONE ? 0 : fail(o, "cannot read");
		for (i = 0; !rc && i < nother; i++) {
			hit.found = true;
			hit.ts = other[i].ts;
			hit.created = other[i].cr;
			hit.val = vb.buf + other[i].voff;
			hit.vallen = other[i].vlen;
			rc = update_one(o, &u, kb.buf + other[i].koff, other[i].klen, SIZE_MAX,
					&hit, 0, fn, ctx);
		}
		free(other);
		sb_release(&kb);
		sb_release(&vb);
		if (rc)
			goto done;
	}
	/* in key order: neighbours share pages of the index and of the cache */
	order = sort_recs(keys, n, &dups);
	for (j = 0; j < n; j++) {
		int64_t rowid = 0;
		i = (size_t)(order[j] - keys);
		memset(&hit, 0, sizeof(hit));
		sb_reset(&vb);
		sqlite3_reset(get);
		sqlite3_bind_blob(get, 2, keys[i].key, (int)keys[i].keylen, SQLITE_STATIC);
		rc = sqlite3_step(get);
		if (rc == SQLITE_ROW) {
			hit.found = true;
			hit.ts = sqlite3_column_int64(get, 0);
			hit.created = sqlite3_column_int64(get, 1);
			hit.vallen = (size_t)sqlite3_column_bytes(get, 2);
			sb_add(&vb, sqlite3_column_blob(get, 2), hit.vallen);
			hit.val = vb.buf;
			if (tiles)
				rowid = sqlite3_column_int64(get, 3);
		} else if (rc != SQLITE_DONE) {
			fail(o, "cannot read");
			rc = FS_ERR;
			goto done;
		}
		sqlite3_reset(get);
		rc = update_one(o, &u, keys[i].key, keys[i].keylen, i, &hit, rowid, fn, ctx);
		if (rc)
			goto done;
	}
	rc = 0;
done:
	free(order);
	sb_release(&vb);
	sqlite3_finalize(get);
	sqlite3_finalize(u.put);
	sqlite3_finalize(u.set);
	sqlite3_finalize(u.del);
	sqlite3_finalize(scan);
	fs_keymap_free(asked);
	if (rc) {
		tx_abort(o);
		return rc;
	}
	return tx_close(o);
}

/*
 * The WAL: fs_online_maintain (another connection: fs stream's maintainer)
 * copies it into the database without waiting for writers or readers
 * (PASSIVE). Once it is large, it is to start again from its beginning: a
 * few more PASSIVE passes while the writer goes on (each syncs the WAL
 * written since the last), then, with little left, a RESTART tried without
 * waiting (it holds the writer only to copy and sync that little; the next
 * write starts the WAL over and cuts the file back to journal_size_limit).
 * A writer that never pauses leaves no moment for that: past twice the
 * size, the writer restarts the WAL itself after its commit (wal_hook).
 * (TRUNCATE, waiting for the writer, held it for the whole file's
 * truncation and sync: 100-200 ms stalls of fs stream's writes every second
 * under load, and it starved behind a writer that never paused while the
 * WAL grew without end.)
 */
#define WAL_RESTART_FRAMES 16384 /* 64 MiB of 4 KiB pages */
#define WAL_RESTART_LEFT 512     /* frames left to copy while holding the writer */

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	(void)arg;
	if (frames >= 2 * WAL_RESTART_FRAMES)
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
	return SQLITE_OK;
}

/*
 * A checkpoint in a writer's commit waits for the WAL and the database to
 * be synced (hundreds of milliseconds on some disks): a long-running writer
 * (fs stream) leaves them to another connection's fs_online_maintain.
 */
static void sq_defer_maintenance(struct fs_online *o)
{
	struct sq *s = o->state;

	exec(o, "PRAGMA wal_autocheckpoint = 0");
	sqlite3_wal_hook(s->db, wal_hook, NULL);
}

static int sq_maintain(struct fs_online *o)
{
	struct sq *s = o->state;
	int log = 0, done = 0, pass, rc = SQLITE_OK;

	for (pass = 0; pass < 3; pass++) {
		rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
		if (rc == SQLITE_BUSY)
			return 0; /* the writer's own checkpoint runs */
		if (rc != SQLITE_OK)
			return fail(o, "cannot checkpoint");
		if (log < WAL_RESTART_FRAMES)
			return 0;
	}
	if (log - done <= WAL_RESTART_LEFT) {
		sqlite3_busy_timeout(s->db, 0);
		rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_RESTART, &log, &done);
		sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	}
	return rc == SQLITE_OK || rc == SQLITE_BUSY ? 0 : fail(o, "cannot checkpoint");
}

static int sq_begin(struct fs_online *o)
{
	return exec(o, "BEGIN IMMEDIATE");
}

static int sq_commit(struct fs_online *o)
{
	struct sq *s = o->state;

	if (exec(o, "COMMIT")) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return FS_ERR;
	}
	return 0;
}

static void sq_rollback(struct fs_online *o)
{
	struct sq *s = o->state;
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int sq_meta_get(struct fs_online *o, const char *name, struct strbuf *val, bool *found)
{
	struct sq *s = o->state;
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE name = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return fail(o, "cannot read");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*found = true;
		sb_adds(val, (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(o, "cannot read");
}

static int sq_meta_put(struct fs_online *o, const char *name, const char *val)
{
	struct sq *s = o->state;
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO meta(name, value) VALUES (?, ?)", -1,
			       &st, NULL) != SQLITE_OK)
		return fail(o, "cannot write");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, val, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(o, "cannot write");
}

static int sq_meta_list(struct fs_online *o, const char *prefix,
			void (*fn)(void *ctx, const char *name, const char *val), void *ctx)
{
	struct sq *s = o->state;
	sqlite3_stmt *st;
	size_t plen = strlen(prefix);
	int rc;

	if (sqlite3_prepare_v2(s->db, "SELECT name, value FROM meta WHERE name >= ? ORDER BY name",
			       -1, &st, NULL) != SQLITE_OK)
		return fail(o, "cannot read");
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (strncmp(name, prefix, plen))
			break;
		fn(ctx, name, (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(o, "cannot read");
}

const struct fs_online_ops fs_online_sqlite_ops = {
	.type = "sqlite",
	.open = sq_open,
	.write = sq_write,
	.read = sq_read,
	.drop = sq_drop,
	.update = sq_update,
	.count = sq_count,
	.ping = sq_ping,
	.defer_maintenance = sq_defer_maintenance,
	.maintain = sq_maintain,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.meta_get = sq_meta_get,
	.meta_put = sq_meta_put,
	.meta_list = sq_meta_list,
	.close = sq_close,
};
