/*
 * Unit tests of fs_online_update on each online store backend: SQLite
 * always (a temporary file), Redis when FS_TEST_REDIS_URL names a server
 * the test may write to (records go under a project of its own).
 *
 * Each record holds a decimal counter; the update function adds one to it,
 * deletes, or abandons, as the test asks.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "online.h"
#include "util.h"
#include "tap.h"

enum mode { COUNT, DELETE, DELETE_OTHERS };

struct ctx {
	enum mode mode;
	int64_t ts;
	int abandon_at;               /* abandon (-42) at this call, counting from 1; 0: never */
	const struct fs_online_rec *keys; /* the keys asked for, to check i */
	size_t calls, others, found, bad_i;
	/* write another record under this one on the next calls (redis retries) */
	struct fs_online *other;
	const char *view, *schema;
	int interfere;
	char buf[32];
};

static int counter_of(const char *val, size_t len)
{
	char buf[32];

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, val, len);
	buf[len] = '\0';
	return atoi(buf);
}

static int update_fn(void *vctx, const void *key, size_t keylen, size_t i,
		     const struct fs_online_hit *old, struct fs_online_rec *out)
{
	struct ctx *c = vctx;
	int n;

	c->calls++;
	if (i == SIZE_MAX)
		c->others++;
	else if (!c->keys || c->keys[i].keylen != keylen ||
		 (keylen && memcmp(c->keys[i].key, key, keylen)))
		c->bad_i++;
	if (old->found)
		c->found++;
	if (c->abandon_at && (int)c->calls == c->abandon_at)
		return -42;
	if (c->interfere > 0) {
		struct fs_online_rec rec = { key, keylen, c->ts + 1000, c->ts + 1000, "100", 3 };
		size_t written;
		c->interfere--;
		if (fs_online_write(c->other, c->view, c->schema, &rec, 1, &written))
			return -43;
	}
	if (c->mode == DELETE || (c->mode == DELETE_OTHERS && i == SIZE_MAX))
		return 1;
	n = old->found ? counter_of(old->val, old->vallen) + 1 : 1;
	snprintf(c->buf, sizeof(c->buf), "%d", n);
	out->ts = c->ts;
	out->created = c->ts + 1;
	out->val = c->buf;
	out->vallen = strlen(c->buf);
	return 0;
}

/* The counter stored for key (-1: no record), and its timestamp in *ts. */
static int stored(struct fs_online *o, const char *view, const char *schema, const char *key,
		  int64_t *ts)
{
	struct fs_online_rec k = { key, strlen(key), 0, 0, NULL, 0 };
	struct fs_online_hit hit;
	int n = -1;

	if (fs_online_read(o, view, schema, &k, 1, &hit))
		return -2;
	if (hit.found) {
		n = counter_of(hit.val, hit.vallen);
		if (ts)
			*ts = hit.ts;
	}
	fs_online_hits_release(&hit, 1);
	return n;
}

static int64_t count(struct fs_online *o, const char *view, const char *schema)
{
	int64_t n = -1;

	if (fs_online_count(o, view, schema, &n))
		return -2;
	return n;
}

static int update(struct fs_online *o, const char *view, const char *schema,
		  const struct fs_online_rec *keys, size_t n, bool all, struct ctx *c)
{
	c->keys = keys;
	c->calls = c->others = c->found = c->bad_i = 0;
	return fs_online_update(o, view, schema, keys, n, all, update_fn, c);
}

#define REC(s) { s, sizeof(s) - 1, 0, 0, NULL, 0 }

static void test_backend(const char *name, struct fs_online *o, struct fs_online *other)
{
	static const char view[] = "agg", s1[] = "s1", s2[] = "s2";
	const struct fs_online_rec abe[] = { REC("a"), REC("b"), REC("") };
	const struct fs_online_rec ac[] = { REC("a"), REC("c") };
	const struct fs_online_rec b[] = { REC("b") };
	const struct fs_online_rec cd[] = { REC("c"), REC("d") };
	const struct fs_online_rec e[] = { REC("") };
	const struct fs_online_rec xyz[] = { REC("x"), REC("y"), REC("z") };
	const struct fs_online_rec q[] = { REC("q") };
	const struct fs_online_rec r[] = { REC("r") };
	struct fs_online_rec *many;
	struct ctx c = { .ts = 100 };
	int64_t ts = 0;
	char (*names)[16];
	size_t i;
	int rc;

	fs_online_drop(o, view);
	fs_online_drop(o, "ag"); /* a view whose name is a prefix of another */

	rc = update(o, view, s1, abe, 3, false, &c);
	ok(rc == 0 && c.calls == 3 && c.found == 0 && c.bad_i == 0,
	   "%s: update creates records (rc %d, %zu calls)", name, rc, c.calls);
	ok(stored(o, view, s1, "a", &ts) == 1 && ts == 100 && stored(o, view, s1, "b", NULL) == 1 &&
		   stored(o, view, s1, "", NULL) == 1,
	   "%s: created records hold what fn returned", name);
	ok(count(o, view, s1) == 3, "%s: count is 3 after creating 3", name);

	c.ts = 200;
	rc = update(o, view, s1, ac, 2, false, &c);
	ok(rc == 0 && c.calls == 2 && c.found == 1 && c.bad_i == 0,
	   "%s: update sees the stored record (rc %d, %zu found)", name, rc, c.found);
	ok(stored(o, view, s1, "a", &ts) == 2 && ts == 200 && stored(o, view, s1, "c", NULL) == 1 &&
		   stored(o, view, s1, "b", NULL) == 1,
	   "%s: update changes existing records and leaves others", name);
	ok(count(o, view, s1) == 4, "%s: count is 4", name);

	{
		const struct fs_online_rec other_rec = { "z", 1, 1, 1, "5", 1 };
		size_t written;
		fs_online_write(o, "ag", s1, &other_rec, 1, &written);
	}
	rc = update(o, view, s1, b, 1, true, &c);
	ok(rc == 0 && c.calls == 4 && c.others == 3 && c.found == 4 && c.bad_i == 0,
	   "%s: update with all visits the records not asked for (%zu calls, %zu others)", name,
	   c.calls, c.others);
	ok(stored(o, view, s1, "a", NULL) == 3 && stored(o, view, s1, "b", NULL) == 2 &&
		   stored(o, view, s1, "c", NULL) == 2 && stored(o, view, s1, "", NULL) == 2,
	   "%s: update with all changes the records not asked for, the empty key too", name);
	ok(count(o, view, s1) == 4 && count(o, "ag", s1) == 1 && stored(o, "ag", s1, "z", NULL) == 5,
	   "%s: count is 4, another view's records not visited", name);

	c.mode = DELETE;
	rc = update(o, view, s1, cd, 2, false, &c);
	ok(rc == 0 && c.calls == 2 && c.found == 1, "%s: update deletes (rc %d)", name, rc);
	ok(stored(o, view, s1, "c", NULL) == -1 && stored(o, view, s1, "d", NULL) == -1,
	   "%s: deleted record gone, absent one left absent", name);
	ok(count(o, view, s1) == 3, "%s: count is 3 after a delete", name);

	c.mode = DELETE_OTHERS;
	rc = update(o, view, s1, e, 1, true, &c);
	ok(rc == 0 && c.calls == 3 && c.others == 2 && c.bad_i == 0,
	   "%s: update with all and the empty key asked for (rc %d, %zu calls)", name, rc,
	   c.calls);
	ok(stored(o, view, s1, "", NULL) == 3 && stored(o, view, s1, "a", NULL) == -1 &&
		   stored(o, view, s1, "b", NULL) == -1,
	   "%s: records not asked for deleted, the empty key's updated", name);
	ok(count(o, view, s1) == 1, "%s: count is 1", name);

	c.mode = COUNT;
	c.abandon_at = 2;
	rc = update(o, view, s1, xyz, 3, false, &c);
	ok(rc == -42 && c.calls == 2, "%s: fn's negative code abandons the update (rc %d)", name,
	   rc);
	ok(stored(o, view, s1, "x", NULL) == -1 && stored(o, view, s1, "y", NULL) == -1 &&
		   count(o, view, s1) == 1,
	   "%s: an abandoned update writes nothing", name);
	c.abandon_at = 0;

	rc = update(o, view, s2, q, 1, false, &c);
	ok(rc == 0 && c.found == 0, "%s: update under another schema (rc %d)", name, rc);
	ok(count(o, view, s2) == 1 && count(o, view, s1) == 0 &&
		   stored(o, view, s2, "", NULL) == -1 && stored(o, view, s2, "q", NULL) == 1,
	   "%s: a schema change drops the old records", name);

	/* more records than a redis chunk */
	many = xcalloc(1200, sizeof(*many));
	names = xcalloc(1200, sizeof(*names));
	for (i = 0; i < 1200; i++) {
		snprintf(names[i], sizeof(names[i]), "k%zu", i);
		many[i].key = names[i];
		many[i].keylen = strlen(names[i]);
	}
	rc = update(o, view, s2, many, 1200, false, &c);
	ok(rc == 0 && c.calls == 1200 && count(o, view, s2) == 1201,
	   "%s: update of 1200 records (rc %d, count %" PRId64 ")", name, rc, count(o, view, s2));
	rc = update(o, view, s2, many, 1, true, &c);
	ok(rc == 0 && c.calls == 1201 && c.others == 1200 && c.found == 1201 &&
		   stored(o, view, s2, "k1199", NULL) == 2 && stored(o, view, s2, "q", NULL) == 2,
	   "%s: update with all of 1201 records (%zu calls)", name, c.calls);
	c.abandon_at = 700;
	rc = update(o, view, s2, many, 1200, false, &c);
	c.abandon_at = 0;
	ok(rc == -42, "%s: a large update abandoned (rc %d)", name, rc);
	if (other) /* redis: the first chunk of 500 was committed */
		ok(stored(o, view, s2, "k499", NULL) == 3 && stored(o, view, s2, "k500", NULL) == 2,
		   "%s: an abandoned update keeps the chunks committed before", name);
	else
		ok(stored(o, view, s2, "k0", NULL) == 2 && stored(o, view, s2, "k499", NULL) == 2,
		   "%s: an abandoned update writes nothing", name);
	free(many);
	free(names);

	if (other) {
		/* a concurrent write between the read and the write of a record */
		c.other = other;
		c.view = view;
		c.schema = s2;
		c.interfere = 1;
		rc = update(o, view, s2, r, 1, false, &c);
		ok(rc == 0 && c.calls == 2 && c.found == 1,
		   "%s: a concurrent write makes the update try again (rc %d, %zu calls)", name, rc,
		   c.calls);
		ok(stored(o, view, s2, "r", NULL) == 101 && count(o, view, s2) == 1202,
		   "%s: the retry built on the concurrent write, counted once", name);
		c.interfere = 1000;
		rc = update(o, view, s2, r, 1, false, &c);
		ok(rc == FS_ERR && strstr(fs_error_last(), "gave up"),
		   "%s: an update that always loses gives up: %s", name, fs_error_last());
		c.interfere = 0;
	}

	fs_online_drop(o, view);
	fs_online_drop(o, "ag");
}

static int meta(struct fs_online *o, const char *name, char *out, size_t len)
{
	struct strbuf v = STRBUF_INIT;
	bool found;
	int rc = fs_online_meta_get(o, name, &v, &found);

	snprintf(out, len, "%s", rc ? "(error)" : found ? v.buf : "(none)");
	sb_release(&v);
	return rc;
}

/*
 * Batches (fs_online_begin): writes, updates and meta records in one
 * atomic write; rollback leaves nothing; with other, a concurrent change
 * of a record the batch read makes commit answer FS_ECONFLICT, nothing
 * written.
 */
static void test_batch(const char *name, struct fs_online *o, struct fs_online *other)
{
	static const char view[] = "bv", agg[] = "bag", s1[] = "s1";
	const struct fs_online_rec k[] = { REC("k") };
	struct fs_online_rec rec = { "a", 1, 100, 100, "7", 1 };
	struct ctx c = { .ts = 100 };
	size_t written = 0;
	char m[64];
	int rc;

	fs_online_drop(o, view);
	fs_online_drop(o, agg);
	/* rolled back: nothing */
	rc = fs_online_begin(o) || fs_online_write(o, view, s1, &rec, 1, &written) ||
	     update(o, agg, s1, k, 1, false, &c) || fs_online_meta_put(o, "stream/t/0", "5 1 0 0");
	fs_online_rollback(o);
	meta(o, "stream/t/0", m, sizeof(m));
	ok(rc == 0 && stored(o, view, s1, "a", NULL) == -1 && stored(o, agg, s1, "k", NULL) == -1 &&
		   !strcmp(m, "(none)"),
	   "%s: a batch rolled back writes nothing (meta %s)", name, m);
	/* committed: all of it */
	rc = fs_online_begin(o) || fs_online_write(o, view, s1, &rec, 1, &written) ||
	     update(o, agg, s1, k, 1, false, &c) || fs_online_meta_put(o, "stream/t/0", "5 1 0 0") ||
	     fs_online_commit(o);
	meta(o, "stream/t/0", m, sizeof(m));
	ok(rc == 0 && stored(o, view, s1, "a", NULL) == 7 && stored(o, agg, s1, "k", NULL) == 1 &&
		   !strcmp(m, "5 1 0 0"),
	   "%s: a batch committed writes all of it (meta %s)", name, m);
	/* in a batch, an update fn abandons: the batch can still roll back as a whole */
	c.abandon_at = 1;
	rc = fs_online_begin(o);
	if (!rc)
		rc = update(o, agg, s1, k, 1, false, &c);
	fs_online_rollback(o);
	c.abandon_at = 0;
	ok(rc == -42 && stored(o, agg, s1, "k", NULL) == 1,
	   "%s: an abandoned update in a batch changes nothing (rc %d)", name, rc);
	if (other) {
		/* another writer changes a record the batch read: the batch is not written */
		rc = fs_online_begin(o);
		if (!rc)
			rc = meta(o, "stream/t/0", m, sizeof(m));
		if (!rc)
			rc = update(o, agg, s1, k, 1, false, &c);
		if (!rc)
			rc = fs_online_meta_put(o, "stream/t/0", "9 2 0 0");
		fs_online_meta_put(other, "stream/t/0", "6 1 0 0");
		if (!rc)
			rc = fs_online_commit(o);
		else
			fs_online_rollback(o);
		meta(o, "stream/t/0", m, sizeof(m));
		ok(rc == FS_ECONFLICT && !strcmp(m, "6 1 0 0") && stored(o, agg, s1, "k", NULL) == 1,
		   "%s: a concurrent change of a record read makes commit a conflict, nothing written"
		   " (rc %d, meta %s)", name, rc, m);
	}
	fs_online_drop(o, view);
	fs_online_drop(o, agg);
}

/* The maintainer of test_wal_bounded: fs_online_maintain every 20 ms until stop. */
struct maint_arg {
	struct fs_online *m;
	volatile int stop;
	int rc;
	char err[512];
};

static void *maint_loop(void *arg)
{
	struct maint_arg *a = arg;

	while (!__atomic_load_n(&a->stop, __ATOMIC_RELAXED) && !a->rc) {
		if ((a->rc = fs_online_maintain(a->m)))
			snprintf(a->err, sizeof(a->err), "%s", fs_error_last());
		usleep(20000);
	}
	return NULL;
}

/*
 * A writer that never checkpoints and writes without a pause (fs stream's)
 * while another connection runs fs_online_maintain (its maintainer): past
 * twice 64 MiB the WAL starts over and its file is cut back, however long the
 * writer goes on. (PASSIVE checkpoints alone never catch up with such a
 * writer, and the WAL grows without end.)
 */
static void test_wal_bounded(const struct fs_config *cfg, const char *wal)
{
	struct fs_online *w = NULL;
	struct maint_arg ma = { 0 };
	struct fs_online_rec *recs = xcalloc(800, sizeof(*recs));
	char (*keys)[16] = xcalloc(800, sizeof(*keys)), *val = xmalloc(4000);
	const char *schema = "[{\"name\":\"f\",\"type\":\"string\"}]";
	pthread_t t;
	off_t most = 0;
	struct stat st;
	size_t i, written;
	int round, rc = 0;

	if (fs_online_open(&w, cfg) || fs_online_open(&ma.m, cfg)) {
		ok(0, "sqlite: open: %s", fs_error_last());
		goto done;
	}
	fs_online_defer_maintenance(w);
	for (i = 0; i < 800; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		recs[i] = (struct fs_online_rec){ .key = keys[i], .keylen = strlen(keys[i]), .ts = 1,
						  .val = val, .vallen = 4000 };
	}
	if (pthread_create(&t, NULL, maint_loop, &ma))
		abort();
	/* 80 commits of 800 records of 4 kB: about 270 MB of WAL without a restart */
	for (round = 0; round < 80 && !rc; round++) {
		memset(val, 'a' + round % 26, 4000);
		for (i = 0; i < 800; i++)
			recs[i].ts = round + 1;
		rc = fs_online_write(w, "walv", schema, recs, 800, &written);
		if (!rc && !stat(wal, &st) && st.st_size > most)
			most = st.st_size;
	}
	__atomic_store_n(&ma.stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	ok(!rc && !ma.rc && most > 0 && most <= 180 << 20,
	   "sqlite: the WAL of a writer that never checkpoints stays bounded with a maintainer"
	   " (largest %lld bytes, rc %d/%d %s%s)", (long long)most, rc, ma.rc,
	   rc ? fs_error_last() : "", ma.err);
	fs_online_drop(w, "walv");
done:
	fs_online_close(w);
	fs_online_close(ma.m);
	free(recs);
	free(keys);
	free(val);
}

static void test_sqlite(void)
{
	char dir[] = "/tmp/fs-test-online-XXXXXX", type[] = "sqlite", project[] = "t";
	struct fs_config cfg = { .project = project, .online_type = type };
	struct fs_online *o = NULL;
	char *path, *wal, *shm;

	if (!mkdtemp(dir)) {
		ok(0, "sqlite: cannot make a temporary directory");
		return;
	}
	path = xstrfmt("%s/online.db", dir);
	wal = xstrfmt("%s-wal", path);
	shm = xstrfmt("%s-shm", path);
	cfg.online_path = path;
	if (fs_online_open(&o, &cfg)) {
		ok(0, "sqlite: open: %s", fs_error_last());
	} else {
		test_backend("sqlite", o, NULL);
		test_batch("sqlite", o, NULL);
		fs_online_close(o);
		test_wal_bounded(&cfg, wal);
	}
	unlink(path);
	unlink(wal);
	unlink(shm);
	rmdir(dir);
	free(path);
	free(wal);
	free(shm);
}

static void test_redis(void)
{
	const char *url = getenv("FS_TEST_REDIS_URL");
	char type[] = "redis", project[32];
	struct fs_config cfg = { .project = project, .online_type = type };
	struct fs_online *o = NULL, *other = NULL;

	if (!url || !*url) {
		printf("ok %d # skip redis: FS_TEST_REDIS_URL is not set\n", ++tap_n);
		return;
	}
	snprintf(project, sizeof(project), "t-update-%ld", (long)getpid());
	cfg.online_url = (char *)url;
	if (fs_online_open(&o, &cfg) || fs_online_open(&other, &cfg)) {
		ok(0, "redis: open: %s", fs_error_last());
	} else {
		test_backend("redis", o, other);
		test_batch("redis", o, other);
	}
	fs_online_close(o);
	fs_online_close(other);
}

int main(void)
{
	test_sqlite();
	test_redis();
	return done_testing();
}
