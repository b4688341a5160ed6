/*
 * online-redis.c: the online store in Redis, through hiredis, for serving
 * from many machines. Keys: fs:<project>:<view>:r:<entity key bytes>,
 * holding 8 bytes event time and 8 bytes created time (big-endian) and the
 * encoded values; fs:<project>:<view>:schema and :n (record count).
 *
 * Writes go in pipelined batches through a Lua script that keeps the newer
 * record, so concurrent writers (materialize, push) never let an older row
 * win. A batch is atomic in Redis; a view's whole write is not (a killed
 * run leaves a mix of old and new records, each of them valid; the next
 * run completes the work because its interval was not recorded).
 * Updates (fs_online_update) read and write each chunk of records as an
 * optimistic transaction (WATCH, MGET, MULTI/EXEC), done again when a
 * concurrent writer changed one of its records.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "error.h"
#include "keymap.h"
#include "online.h"
#include "online-redis.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

#define BATCH 1000

const char fs_redis_write_script[] =
	"local written = 0\n"
	"local counter = KEYS[#KEYS]\n"
	"for i = 1, #KEYS - 1 do\n"
	"  local new = ARGV[i]\n"
	"  local cur = redis.call('GET', KEYS[i])\n"
	"  local put = false\n"
	"  if not cur then\n"
	"    put = true\n"
	"    redis.call('INCR', counter)\n"
	"  else\n"
	"    local nt, nc = struct.unpack('>i8i8', new)\n"
	"    local ct, cc = struct.unpack('>i8i8', cur)\n"
	"    put = nt > ct or (nt == ct and nc >= cc)\n"
	"  end\n"
	"  if put then\n"
	"    redis.call('SET', KEYS[i], new)\n"
	"    written = written + 1\n"
	"  end\n"
	"end\n"
	"return written\n";

void fs_redis_put_be64(unsigned char *p, int64_t v)
{
	uint64_t u = (uint64_t)v;
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(u & 0xff);
		u >>= 8;
	}
}

int64_t fs_redis_get_be64(const unsigned char *p)
{
	uint64_t u = 0;
	int i;

	for (i = 0; i < 8; i++)
		u = (u << 8) | p[i];
	return (int64_t)u;
}

void fs_redis_hit(const redisReply *e, struct fs_online_hit *hit)
{
	if (e->type != REDIS_REPLY_STRING || e->len < 16)
		return;
	hit->found = true;
	hit->ts = fs_redis_get_be64((const unsigned char *)e->str);
	hit->created = fs_redis_get_be64((const unsigned char *)e->str + 8);
	hit->vallen = e->len - 16;
	hit->val = xmalloc(hit->vallen + 1);
	memcpy(hit->val, e->str + 16, hit->vallen);
}

char *fs_redis_meta_key(const struct fs_online *o, const char *name)
{
	return xstrfmt("fs:%s:@%s", o->project, name);
}


struct rd {
	redisContext *c;
	char sha[64];
	/* to connect again when the connection breaks (a restart, CLIENT KILL, a timeout) */
	char *host, *user, *pass;
	int port, db;
	struct timeval last_try; /* the last failed reconnection */
	/* an open batch (fs_online_begin): its commands, sent in MULTI/EXEC at commit */
	struct strbuf queued;
	size_t nqueued;
};

static int fail(struct fs_online *o, const char *what, const redisReply *r)
{
	struct rd *s = o->state;
	fs_error_set("online store '%s': %s: %s", o->where, what,
		     r && r->type == REDIS_REPLY_ERROR ? r->str
		     : s->c && s->c->err	       ? s->c->errstr
						       : "no reply");
	return FS_ERR;
}

/* redis://[[user]:password@]host[:port][/db] */
int fs_redis_parse_url(const char *url, char **host, int *port, char **user, char **pass, int *db)
{
	const char *p, *at, *slash, *colon;
	char *hostport;

	if (!starts_with(url, "redis://")) {
		char *shown = fs_url_redact(url);
		fs_error_set("redis url '%s' must start with redis:// (TLS is not supported)", shown);
		free(shown);
		return FS_EINVALID;
	}
	p = url + 8;
	*user = *pass = NULL;
	*port = 6379;
	*db = 0;
	slash = strchr(p, '/');
	at = strchr(p, '@');
	if (at && (!slash || at < slash)) {
		char *cred = xstrndup(p, (size_t)(at - p)), *c = strchr(cred, ':');
		if (c) {
			*c = '\0';
			*pass = xstrdup(c + 1);
			if (*cred)
				*user = xstrdup(cred);
		} else {
			*pass = xstrdup(cred);
		}
		free(cred);
		p = at + 1;
	}
	hostport = slash ? xstrndup(p, (size_t)(slash - p)) : xstrdup(p);
	colon = strrchr(hostport, ':');
	if (colon) {
		*port = atoi(colon + 1);
		*host = xstrndup(hostport, (size_t)(colon - hostport));
	} else {
		*host = xstrdup(hostport);
	}
	free(hostport);
	if (slash && slash[1])
		*db = atoi(slash + 1);
	if (!**host || *port <= 0 || *port > 65535) {
		char *shown = fs_url_redact(url);
		fs_error_set("bad redis url '%s'", shown);
		free(shown);
		free(*host);
		free(*user);
		free(*pass);
		return FS_EINVALID;
	}
	return 0;
}

/* Connect, authenticate, select the database and load the write script. */
static int rd_session(struct fs_online *o)
{
	struct rd *s = o->state;
	struct timeval tv = { 5, 0 };
	redisReply *r;
	int rc;

	if (s->c)
		redisFree(s->c);
	s->c = redisConnectWithTimeout(s->host, s->port, tv);
	if (!s->c || s->c->err) {
		fs_error_set("online store '%s': cannot connect: %s", o->where,
			     s->c ? s->c->errstr : "out of memory");
		return FS_ERR;
	}
	redisSetTimeout(s->c, (struct timeval){ 30, 0 });
	if (s->pass) {
		r = s->user ? redisCommand(s->c, "AUTH %s %s", s->user, s->pass)
			    : redisCommand(s->c, "AUTH %s", s->pass);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			rc = fail(o, "authentication failed", r);
			freeReplyObject(r);
			return rc;
		}
		freeReplyObject(r);
	}
	r = redisCommand(s->c, "SELECT %d", s->db);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		rc = fail(o, "cannot select database", r);
		freeReplyObject(r);
		return rc;
	}
	freeReplyObject(r);
	r = redisCommand(s->c, "SCRIPT LOAD %s", fs_redis_write_script);
	if (!r || r->type != REDIS_REPLY_STRING) {
		rc = fail(o, "cannot load the write script", r);
		freeReplyObject(r);
		return rc;
	}
	snprintf(s->sha, sizeof(s->sha), "%s", r->str);
	freeReplyObject(r);
	return 0;
}

int fs_redis_connect(const char *url, struct redisContext **out)
{
	char *host = NULL, *user = NULL, *pass = NULL, *where = fs_url_redact(url);
	struct timeval tv = { 5, 0 };
	redisContext *c = NULL;
	redisReply *r = NULL;
	int port, db, rc = FS_ERR;

	*out = NULL;
	if ((rc = fs_redis_parse_url(url, &host, &port, &user, &pass, &db)))
		goto done;
	rc = FS_ERR;
	c = redisConnectWithTimeout(host, port, tv);
	if (!c || c->err) {
		fs_error_set("redis '%s': cannot connect: %s", where, c ? c->errstr : "out of memory");
		goto done;
	}
	redisSetTimeout(c, (struct timeval){ 30, 0 });
	if (pass) {
		r = user ? redisCommand(c, "AUTH %s %s", user, pass) : redisCommand(c, "AUTH %s", pass);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			fs_error_set("redis '%s': authentication failed: %s", where,
				     r ? r->str : c->errstr);
			goto done;
		}
		freeReplyObject(r);
	}
	r = redisCommand(c, "SELECT %d", db);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		fs_error_set("redis '%s': cannot select database %d: %s", where, db,
			     r ? r->str : c->errstr);
		goto done;
	}
	*out = c;
	c = NULL;
	rc = 0;
done:
	freeReplyObject(r);
	if (c)
		redisFree(c);
	free(host);
	free(user);
	free(pass);
	free(where);
	return rc;
}

static int rd_open(struct fs_online *o, const struct fs_config *cfg)
{
	struct rd *s = xcalloc(1, sizeof(*s));
	const char *url = cfg->online_url ? cfg->online_url : "redis://127.0.0.1:6379/0";
	int rc;

	sb_init(&s->queued);

	o->state = s;
	o->where = fs_url_redact(url); /* every message names the store: never its password */
	if ((rc = fs_redis_parse_url(url, &s->host, &s->port, &s->user, &s->pass, &s->db)))
		return rc;
	return rd_session(o);
}

/*
 * A connection that broke (the server restarted, killed it or timed it
 * out) is made again before the next command: a long-lived process (the
 * server) recovers by itself once Redis is back. Failed attempts are at
 * least half a second apart, so that a store that is down fails requests
 * at once instead of making each wait for a connection.
 */
static int rd_ensure(struct fs_online *o)
{
	struct rd *s = o->state;
	struct timeval now;
	int rc;

	if (s->c && !s->c->err)
		return 0;
	if (o->in_batch) {
		/* a new connection has lost the batch's WATCHes: the batch must fail */
		fs_error_set("online store '%s': the connection broke during a batch", o->where);
		return FS_ERR;
	}
	gettimeofday(&now, NULL);
	if (s->last_try.tv_sec && (now.tv_sec - s->last_try.tv_sec) * 1000000 +
					  (now.tv_usec - s->last_try.tv_usec) < 500000) {
		fs_error_set("online store '%s': the connection is down (retrying)", o->where);
		return FS_ERR;
	}
	if ((rc = rd_session(o)))
		s->last_try = now;
	else
		s->last_try.tv_sec = 0;
	return rc;
}

/* Did the last command fail on the connection itself (not on the command)? */
static bool rd_broken(const struct rd *s)
{
	return !s->c || s->c->err == REDIS_ERR_IO || s->c->err == REDIS_ERR_EOF;
}

static char *key_of(struct fs_online *o, const char *view, const char *suffix)
{
	return xstrfmt("fs:%s:%s:%s", o->project, view, suffix);
}

/* Stored schema equals schema? */
static int schema_is(struct fs_online *o, const char *view, const char *schema, bool *same,
		     bool *exists)
{
	struct rd *s = o->state;
	char *k = key_of(o, view, "schema");
	redisReply *r = redisCommand(s->c, "GET %s", k);

	free(k);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		int rc = fail(o, "cannot read schema", r);
		freeReplyObject(r);
		return rc;
	}
	*exists = r->type == REDIS_REPLY_STRING;
	*same = *exists && !strcmp(r->str, schema);
	freeReplyObject(r);
	return 0;
}

/*
 * SCAN the keys matching pattern, handing each page of them (a reply
 * array, elements not checked) to page; stops at the first error.
 */
static int scan_keys(struct fs_online *o, const char *pattern,
		     int (*page)(struct fs_online *o, const redisReply *keys, void *ctx), void *ctx)
{
	struct rd *s = o->state;
	char cursor[32] = "0";
	int rc = 0;

	do {
		redisReply *r = redisCommand(s->c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);

		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			rc = fail(o, "cannot scan", r);
			freeReplyObject(r);
			break;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		rc = page(o, r->element[1], ctx);
		freeReplyObject(r);
	} while (!rc && strcmp(cursor, "0"));
	return rc;
}

/* UNLINK a page of keys, pipelined. */
static int unlink_page(struct fs_online *o, const redisReply *keys, void *ctx)
{
	struct rd *s = o->state;
	size_t i;
	int rc = 0;

	(void)ctx;
	for (i = 0; i < keys->elements; i++)
		redisAppendCommand(s->c, "UNLINK %b", keys->element[i]->str, keys->element[i]->len);
	for (i = 0; i < keys->elements; i++) {
		redisReply *d = NULL;
		if (redisGetReply(s->c, (void **)&d) != REDIS_OK)
			rc = fail(o, "cannot delete", NULL);
		freeReplyObject(d);
	}
	return rc;
}

static int rd_drop(struct fs_online *o, const char *view)
{
	char *pattern = key_of(o, view, "*");
	int rc;

	if (rd_ensure(o)) {
		free(pattern);
		return FS_ERR;
	}
	rc = scan_keys(o, pattern, unlink_page, NULL);
	free(pattern);
	return rc;
}

/* Make schema the view's, dropping first the records stored under another. */
static int schema_ensure(struct fs_online *o, const char *view, const char *schema)
{
	struct rd *s = o->state;
	bool same, exists;
	redisReply *r;
	char *k;
	int rc;

	if ((rc = schema_is(o, view, schema, &same, &exists)) || same)
		return rc;
	if (exists && (rc = rd_drop(o, view)))
		return rc;
	k = key_of(o, view, "schema");
	r = redisCommand(s->c, "SET %s %s", k, schema);
	free(k);
	if (!r || r->type == REDIS_REPLY_ERROR)
		rc = fail(o, "cannot write schema", r);
	freeReplyObject(r);
	return rc;
}

/*
 * Add a command to the open batch (sent at commit), in the protocol's
 * form (RESP: "*<argc>", then "$<len>" and the bytes of each argument),
 * written straight into the batch: a batch is megabytes, and hiredis's
 * formatting would allocate and copy each command once more.
 */
static void queue_argv(struct rd *s, int argc, const char **argv, const size_t *argl)
{
	char head[32];
	int i;

	sb_add(&s->queued, head, (size_t)snprintf(head, sizeof(head), "*%d\r\n", argc));
	for (i = 0; i < argc; i++) {
		sb_add(&s->queued, head, (size_t)snprintf(head, sizeof(head), "$%zu\r\n", argl[i]));
		sb_add(&s->queued, argv[i], argl[i]);
		sb_add(&s->queued, "\r\n", 2);
	}
	s->nqueued++;
}

static void queue_set(struct rd *s, const char *key, size_t keylen, const void *val, size_t vallen)
{
	const char *argv[3] = { "SET", key, val };
	size_t argl[3] = { 3, keylen, vallen };
	queue_argv(s, 3, argv, argl);
}

static void queue_incrby(struct rd *s, const char *key, long long delta)
{
	char num[32];
	const char *argv[3] = { "INCRBY", key, num };
	size_t argl[3] = { 6, strlen(key), 0 };

	argl[2] = (size_t)snprintf(num, sizeof(num), "%lld", delta);
	queue_argv(s, 3, argv, argl);
}

/*
 * rd_write in a batch: the write script's calls, queued for the batch's
 * MULTI/EXEC. The script keeps the newer record by itself, atomically, so
 * the records need no WATCH (a WATCH costs Redis a scan of the keys the
 * connection already watches: a batch of many would be quadratic). The
 * count written is the records offered (*written), not the ones kept.
 */
static void write_batched(struct fs_online *o, const char *view, const struct fs_online_rec *recs,
			  size_t n, size_t *written)
{
	struct rd *s = o->state;
	char *prefix = key_of(o, view, "r:"), *counter = key_of(o, view, "n");
	size_t plen = strlen(prefix), i, j;
	const char **argv = xcalloc(2 * BATCH + 8, sizeof(*argv));
	size_t *argl = xcalloc(2 * BATCH + 8, sizeof(*argl));
	struct strbuf buf = STRBUF_INIT;
	char nkeys[32], *skey = key_of(o, view, "schema");

	/* a schema changed meanwhile (an apply) fails the batch */
	freeReplyObject(redisCommand(s->c, "WATCH %s", skey));
	free(skey);
	for (i = 0; i < n; i += BATCH) {
		size_t m = n - i < BATCH ? n - i : BATCH, a, off = 0;

		sb_reset(&buf);
		for (j = 0; j < m; j++) {
			const struct fs_online_rec *r = &recs[i + j];
			unsigned char head[16];
			sb_add(&buf, prefix, plen);
			sb_add(&buf, r->key, r->keylen);
			fs_redis_put_be64(head, r->ts);
			fs_redis_put_be64(head + 8, r->created);
			sb_add(&buf, head, sizeof(head));
			sb_add(&buf, r->val, r->vallen);
		}
		/* EVALSHA sha m+1 key... counter value... */
		snprintf(nkeys, sizeof(nkeys), "%zu", m + 1);
		argv[0] = "EVALSHA", argl[0] = 7;
		argv[1] = s->sha, argl[1] = strlen(s->sha);
		argv[2] = nkeys, argl[2] = strlen(nkeys);
		for (j = 0; j < m; j++) {
			const struct fs_online_rec *r = &recs[i + j];
			argv[3 + j] = buf.buf + off, argl[3 + j] = plen + r->keylen;
			argv[4 + m + j] = buf.buf + off + plen + r->keylen;
			argl[4 + m + j] = 16 + r->vallen;
			off += plen + r->keylen + 16 + r->vallen;
		}
		argv[3 + m] = counter, argl[3 + m] = strlen(counter);
		a = 4 + 2 * m;
		queue_argv(s, (int)a, argv, argl);
		*written += m;
	}
	free(argv);
	free(argl);
	sb_release(&buf);
	free(prefix);
	free(counter);
}

static int rd_write(struct fs_online *o, const char *view, const char *schema,
		    const struct fs_online_rec *recs, size_t n, size_t *written)
{
	struct rd *s = o->state;
	char *prefix = key_of(o, view, "r:"), *counter = key_of(o, view, "n");
	size_t plen = strlen(prefix), i, pending = 0;
	const char **argv = xcalloc(2 * BATCH + 8, sizeof(char *));
	size_t *argl = xcalloc(2 * BATCH + 8, sizeof(size_t));
	char **bufs = xcalloc(2 * BATCH + 8, sizeof(char *));
	char nkeys[32];
	int rc;
	if (rd_ensure(o))
		return FS_ERR;

	if ((rc = schema_ensure(o, view, schema)))
		goto done;
	if (o->in_batch) {
		write_batched(o, view, recs, n, written);
		goto done;
	}
	for (i = 0; i < n; i += BATCH) {
		size_t m = n - i < BATCH ? n - i : BATCH, j, a = 0;

		snprintf(nkeys, sizeof(nkeys), "%zu", m + 1);
		argv[a] = "EVALSHA";
		argl[a++] = 7;
		argv[a] = s->sha;
		argl[a++] = strlen(s->sha);
		argv[a] = nkeys;
		argl[a++] = strlen(nkeys);
		for (j = 0; j < m; j++) {
			const struct fs_online_rec *r = &recs[i + j];
			char *k = xmalloc(plen + r->keylen);
			memcpy(k, prefix, plen);
			memcpy(k + plen, r->key, r->keylen);
			bufs[j] = k;
			argv[a] = k;
			argl[a++] = plen + r->keylen;
		}
		argv[a] = counter;
		argl[a++] = strlen(counter);
		for (j = 0; j < m; j++) {
			const struct fs_online_rec *r = &recs[i + j];
			unsigned char *v = xmalloc(16 + r->vallen);
			fs_redis_put_be64(v, r->ts);
			fs_redis_put_be64(v + 8, r->created);
			memcpy(v + 16, r->val, r->vallen);
			bufs[m + j] = (char *)v;
			argv[a] = (char *)v;
			argl[a++] = 16 + r->vallen;
		}
		redisAppendCommandArgv(s->c, (int)a, argv, argl);
		for (j = 0; j < 2 * m; j++)
			free(bufs[j]);
		pending++;
		/* keep a bounded number of batches in flight */
		while (pending && (pending >= 16 || i + BATCH >= n)) {
			redisReply *r = NULL;
			if (redisGetReply(s->c, (void **)&r) != REDIS_OK || !r ||
			    r->type != REDIS_REPLY_INTEGER) {
				rc = fail(o, "cannot write", r);
				freeReplyObject(r);
				goto done;
			}
			*written += (size_t)r->integer;
			freeReplyObject(r);
			pending--;
		}
	}
done:
	free(prefix);
	free(counter);
	free(argv);
	free(argl);
	free(bufs);
	return rc;
}

/*
 * One MGET of the schema key and every record key: one round trip, and the
 * schema check and the records come from the same instant.
 */
static int rd_read(struct fs_online *o, const char *view, const char *schema,
		   const struct fs_online_rec *keys, size_t n, struct fs_online_hit *hits)
{
	struct rd *s = o->state;
	char *skey = key_of(o, view, "schema"), *prefix = key_of(o, view, "r:");
	char stack[1024], *kbuf = stack;
	size_t plen = strlen(prefix), total = 0, off = 0, i;
	const char **argv = xmalloc((n + 2) * sizeof(*argv));
	size_t *argl = xmalloc((n + 2) * sizeof(*argl));
	redisReply *r = NULL, *sr;
	int rc = 0;

	for (i = 0; i < n; i++)
		total += plen + keys[i].keylen;
	if (total > sizeof(stack))
		kbuf = xmalloc(total);
	argv[0] = "MGET";
	argl[0] = 4;
	argv[1] = skey;
	argl[1] = strlen(skey);
	for (i = 0; i < n; i++) {
		memcpy(kbuf + off, prefix, plen);
		memcpy(kbuf + off + plen, keys[i].key, keys[i].keylen);
		argv[i + 2] = kbuf + off;
		argl[i + 2] = plen + keys[i].keylen;
		off += argl[i + 2];
	}
	/* a read can be sent again: once, on a connection made again */
	r = rd_ensure(o) ? NULL : redisCommandArgv(s->c, (int)(n + 2), argv, argl);
	if (!r && rd_broken(s) && rd_ensure(o) == 0)
		r = redisCommandArgv(s->c, (int)(n + 2), argv, argl);
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != n + 1) {
		rc = fail(o, "cannot read", r);
		goto done;
	}
	/* no schema, or another one: the view's records are not ours to decode */
	sr = r->element[0];
	if (sr->type != REDIS_REPLY_STRING || strlen(schema) != sr->len ||
	    memcmp(sr->str, schema, sr->len))
		goto done;
	for (i = 0; i < n; i++) {
		const redisReply *e = r->element[i + 1];
		fs_redis_hit(e, &hits[i]);
	}
done:
	freeReplyObject(r);
	if (kbuf != stack)
		free(kbuf);
	free(skey);
	free(prefix);
	free(argv);
	free(argl);
	return rc;
}

/*
 * rd_update goes through the records in chunks: WATCH a chunk's keys and
 * the schema key, MGET them, ask fn, then MULTI, SET/DEL, INCRBY, EXEC. A
 * chunk that a concurrent writer touched in between is not written (EXEC
 * answers nil) and is done again from the WATCH, fn being asked again.
 * With FS_UPDATE_GUARD the WATCH is of the schema and guard keys only
 * (while the guard exists), and a chunk that writes records but not the
 * guard writes the guard again as it read it.
 */
#define UPDATE_CHUNK 500
#define UPDATE_TRIES 50
#define UPDATE_RETRY 1 /* try_chunk: a watched key changed */

/* What rd_update's chunks share. */
struct upd {
	struct fs_online *o;
	const char *view, *schema;
	char *skey, *counter, *prefix;
	size_t plen;
	char *guard; /* FS_UPDATE_GUARD: the guard record's key, else NULL */
	size_t guardlen;
	fs_online_update_fn fn;
	void *ctx;
};

/* A record to update: its entity key and index in keys (SIZE_MAX: not asked for). */
struct upd_key {
	const void *key;
	size_t keylen;
	size_t i;
};

/* fn's answer for record j of a chunk: delete it, or write vals[voff, voff + vlen). */
struct upd_op {
	size_t j;
	bool del;
	size_t voff, vlen;
};

/*
 * WATCH argv[1..nwatch] and MGET argv[1..nkeys] in one round trip: *r
 * the MGET's reply (nkeys elements) on 0.
 */
static int watch_read(struct upd *u, const char **argv, size_t *argl, size_t nwatch,
		      size_t nkeys, redisReply **r)
{
	struct rd *s = u->o->state;
	redisReply *w = NULL;
	int rc = 0;

	argv[0] = "WATCH";
	argl[0] = 5;
	redisAppendCommandArgv(s->c, (int)(nwatch + 1), argv, argl);
	argv[0] = "MGET";
	argl[0] = 4;
	redisAppendCommandArgv(s->c, (int)(nkeys + 1), argv, argl);
	*r = NULL;
	if (redisGetReply(s->c, (void **)&w) != REDIS_OK ||
	    redisGetReply(s->c, (void **)r) != REDIS_OK)
		rc = fail(u->o, "cannot read", NULL);
	else if (!w || w->type != REDIS_REPLY_STATUS)
		rc = fail(u->o, "cannot watch", w);
	else if (!*r || (*r)->type != REDIS_REPLY_ARRAY || (*r)->elements != nkeys)
		rc = fail(u->o, "cannot read", *r);
	freeReplyObject(w);
	if (rc) {
		freeReplyObject(*r);
		*r = NULL;
	}
	return rc;
}

/*
 * One try at the m records of ks. argv and argl hold a command name, the
 * schema key, the guard key when guarded, and the m record keys. Returns
 * 0, UPDATE_RETRY, or a negative code (fn's own when it abandoned).
 * Nothing stays watched on return, but in a batch.
 */
static int try_chunk(struct upd *u, const struct upd_key *ks, size_t m, const char **argv,
		     size_t *argl, struct upd_op *ops, struct strbuf *vals)
{
	struct rd *s = u->o->state;
	size_t h = u->guard ? 2 : 1; /* the keys before the records */
	redisReply *r = NULL, *x = NULL;
	const redisReply *sr, *gr = NULL;
	size_t j, k, nops = 0, nsent, nw = 1, nd = 1;
	const char **wv = NULL, **dv = NULL;
	size_t *wl = NULL, *dl = NULL;
	long long delta = 0;
	bool touch = false, has_guard = false;
	int rc;

	rc = watch_read(u, argv, argl, u->guard ? h : h + m, h + m, &r);
	if (!rc && u->guard && r->element[1]->type != REDIS_REPLY_STRING) {
		/* no guard yet: nothing guards the records, watch them all */
		freeReplyObject(r);
		rc = watch_read(u, argv, argl, h + m, h + m, &r);
	}
	if (rc)
		goto done;
	sr = r->element[0];
	if (sr->type != REDIS_REPLY_STRING || sr->len != strlen(u->schema) ||
	    memcmp(sr->str, u->schema, sr->len)) {
		fs_error_set("online store '%s': view '%s' changed schema during the update",
			     u->o->where, u->view);
		rc = FS_ERR;
		goto done;
	}
	if (u->guard)
		gr = r->element[1];

	sb_reset(vals);
	for (j = 0; j < m; j++) {
		const redisReply *e = r->element[j + h];
		bool exists = e->type == REDIS_REPLY_STRING;
		struct fs_online_hit old = { 0 };
		struct fs_online_rec out = { 0 };
		unsigned char head[16];

		if (u->guard && ks[j].i == 0)
			has_guard = true;
		/* not asked for, and deleted since the scan: no longer the view's */
		if (!exists && ks[j].i == SIZE_MAX)
			continue;
		if (exists && e->len >= 16) {
			old.found = true;
			old.ts = fs_redis_get_be64((const unsigned char *)e->str);
			old.created = fs_redis_get_be64((const unsigned char *)e->str + 8);
			old.val = e->str + 16;
			old.vallen = e->len - 16;
		}
		rc = u->fn(u->ctx, ks[j].key, ks[j].keylen, ks[j].i, &old, &out);
		if (rc < 0)
			goto done;
		if (rc == 1) {
			rc = 0;
			if (exists) {
				ops[nops++] = (struct upd_op){ .j = j, .del = true };
				delta--;
			}
			continue;
		}
		rc = 0;
		fs_redis_put_be64(head, out.ts);
		fs_redis_put_be64(head + 8, out.created);
		ops[nops++] = (struct upd_op){ .j = j, .voff = vals->len, .vlen = 16 + out.vallen };
		sb_add(vals, head, sizeof(head));
		if (out.vallen)
			sb_add(vals, out.val, out.vallen);
		if (!exists)
			delta++;
	}
	if (!nops)
		goto done;
	/*
	 * Records changed, and the guard not written: it is, as read, so
	 * that writers watching it see the change. In a batch the guard's
	 * own write goes in the same EXEC.
	 */
	touch = gr && gr->type == REDIS_REPLY_STRING && !has_guard && !u->o->in_batch;
	/* one MSET of the records written, one DEL of those deleted */
	wv = xmalloc((2 * nops + 1) * sizeof(*wv));
	wl = xmalloc((2 * nops + 1) * sizeof(*wl));
	dv = xmalloc((nops + 1) * sizeof(*dv));
	dl = xmalloc((nops + 1) * sizeof(*dl));
	wv[0] = "MSET", wl[0] = 4;
	dv[0] = "DEL", dl[0] = 3;
	for (k = 0; k < nops; k++) {
		const char *key = argv[ops[k].j + h + 1];
		size_t keylen = argl[ops[k].j + h + 1];
		if (ops[k].del) {
			dv[nd] = key, dl[nd++] = keylen;
		} else {
			wv[nw] = key, wl[nw++] = keylen;
			wv[nw] = vals->buf + ops[k].voff, wl[nw++] = ops[k].vlen;
		}
	}
	if (u->o->in_batch) {
		/* the batch's: sent at commit, the WATCH kept until then */
		if (nw > 1)
			queue_argv(s, (int)nw, wv, wl);
		if (nd > 1)
			queue_argv(s, (int)nd, dv, dl);
		if (delta)
			queue_incrby(s, u->counter, delta);
		goto done;
	}

	redisAppendCommand(s->c, "MULTI");
	if (nw > 1)
		redisAppendCommandArgv(s->c, (int)nw, wv, wl);
	if (nd > 1)
		redisAppendCommandArgv(s->c, (int)nd, dv, dl);
	if (delta)
		redisAppendCommand(s->c, "INCRBY %s %lld", u->counter, delta);
	if (touch)
		redisAppendCommand(s->c, "SET %b %b", u->guard, u->guardlen, gr->str, gr->len);
	redisAppendCommand(s->c, "EXEC");
	freeReplyObject(r); /* gr is sent */
	r = NULL;
	/* MULTI's OK and a QUEUED for each command; read them all to stay in step */
	nsent = 1 + (nw > 1) + (nd > 1) + (delta != 0) + touch;
	for (k = 0; k < nsent; k++) {
		redisReply *q = NULL;
		if (redisGetReply(s->c, (void **)&q) != REDIS_OK) {
			rc = fail(u->o, "cannot write", NULL);
			goto out;
		}
		if (!rc && (!q || q->type != REDIS_REPLY_STATUS))
			rc = fail(u->o, "cannot write", q);
		freeReplyObject(q);
	}
	if (redisGetReply(s->c, (void **)&x) != REDIS_OK) {
		rc = fail(u->o, "cannot write", NULL);
		goto out;
	}
	if (rc)
		goto out;
	if (x && x->type == REDIS_REPLY_NIL) {
		rc = UPDATE_RETRY;
		goto out;
	}
	if (!x || x->type != REDIS_REPLY_ARRAY) {
		rc = fail(u->o, "cannot write", x);
		goto out;
	}
	for (k = 0; k < x->elements; k++)
		if (x->element[k]->type == REDIS_REPLY_ERROR) {
			rc = fail(u->o, "cannot write", x->element[k]);
			goto out;
		}
	goto out; /* EXEC unwatched, whatever it answered */
done:
	/* in a batch, the WATCHes stay: commit or rollback ends them */
	if (!u->o->in_batch && s->c && !s->c->err)
		freeReplyObject(redisCommand(s->c, "UNWATCH"));
out:
	freeReplyObject(r);
	freeReplyObject(x);
	free(wv);
	free(wl);
	free(dv);
	free(dl);
	return rc;
}

/* Update the m records of ks (m > 0), trying again while concurrent writes get in the way. */
static int update_chunk(struct upd *u, const struct upd_key *ks, size_t m)
{
	size_t h = u->guard ? 2 : 1;
	const char **argv = xmalloc((m + h + 1) * sizeof(*argv));
	size_t *argl = xmalloc((m + h + 1) * sizeof(*argl));
	struct upd_op *ops = xmalloc(m * sizeof(*ops));
	struct strbuf keys = STRBUF_INIT, vals = STRBUF_INIT;
	size_t j, off = 0;
	int tries, rc = UPDATE_RETRY;

	for (j = 0; j < m; j++) {
		sb_add(&keys, u->prefix, u->plen);
		if (ks[j].keylen)
			sb_add(&keys, ks[j].key, ks[j].keylen);
	}
	argv[1] = u->skey;
	argl[1] = strlen(u->skey);
	if (u->guard) {
		argv[2] = u->guard;
		argl[2] = u->guardlen;
	}
	for (j = 0; j < m; j++) {
		argv[j + h + 1] = keys.buf + off;
		argl[j + h + 1] = u->plen + ks[j].keylen;
		off += argl[j + h + 1];
	}
	for (tries = 0; rc == UPDATE_RETRY && tries < UPDATE_TRIES; tries++) {
		if (tries)
			usleep(1000 * (useconds_t)tries); /* let the other writer get ahead */
		rc = try_chunk(u, ks, m, argv, argl, ops, &vals);
	}
	if (rc == UPDATE_RETRY) {
		fs_error_set("online store '%s': view '%s': update gave up after %d tries:"
			     " concurrent writes kept changing its records",
			     u->o->where, u->view, UPDATE_TRIES);
		rc = FS_ERR;
	}
	free(argv);
	free(argl);
	free(ops);
	sb_release(&keys);
	sb_release(&vals);
	return rc;
}

static int update_all(struct upd *u, const struct upd_key *ks, size_t n)
{
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < n; i += UPDATE_CHUNK)
		rc = update_chunk(u, ks + i, n - i < UPDATE_CHUNK ? n - i : UPDATE_CHUNK);
	return rc;
}

/*
 * Add to seen the entity keys of the view's records. Project and view
 * names hold no glob characters ([A-Za-z0-9_-] and [a-z0-9_]), and ":r:"
 * right after the view's name keeps another view's records out.
 */
struct seen_ctx {
	const struct upd *u;
	struct fs_keymap *seen;
};

static int seen_page(struct fs_online *o, const redisReply *keys, void *ctx)
{
	struct seen_ctx *c = ctx;
	size_t i;

	(void)o;
	for (i = 0; i < keys->elements; i++) {
		const redisReply *e = keys->element[i];
		if (e->type == REDIS_REPLY_STRING && e->len >= c->u->plen &&
		    !memcmp(e->str, c->u->prefix, c->u->plen))
			fs_keymap_intern(c->seen, e->str + c->u->plen, e->len - c->u->plen);
	}
	return 0;
}

static int scan_records(struct upd *u, struct fs_keymap *seen)
{
	struct seen_ctx c = { u, seen };
	char *pattern = xstrfmt("%s*", u->prefix);
	int rc = scan_keys(u->o, pattern, seen_page, &c);

	free(pattern);
	return rc;
}

/*
 * Not atomic as a whole: each chunk is committed on its own, so when fn
 * abandons (or an error stops the update) the chunks done before stay
 * written; the chunk fn abandoned is not. With all, the records not asked
 * for are found with SCAN first and updated before the ones asked for;
 * one a concurrent writer deletes in between is skipped, and one it
 * creates is not visited.
 */
static int rd_update(struct fs_online *o, const char *view, const char *schema,
		     const struct fs_online_rec *keys, size_t n, unsigned flags,
		     fs_online_update_fn fn, void *ctx)
{
	struct upd u = { .o = o, .view = view, .schema = schema, .fn = fn, .ctx = ctx };
	struct fs_keymap *seen = NULL;
	struct upd_key *ks = NULL;
	size_t i, nasked;
	int rc;
	if (rd_ensure(o))
		return FS_ERR;

	u.skey = key_of(o, view, "schema");
	u.counter = key_of(o, view, "n");
	u.prefix = key_of(o, view, "r:");
	u.plen = strlen(u.prefix);
	if ((flags & FS_UPDATE_GUARD) && n) {
		u.guardlen = u.plen + keys[0].keylen;
		u.guard = xmalloc(u.guardlen + 1);
		memcpy(u.guard, u.prefix, u.plen);
		if (keys[0].keylen)
			memcpy(u.guard + u.plen, keys[0].key, keys[0].keylen);
	}
	if ((rc = schema_ensure(o, view, schema)))
		goto done;
	if (flags & FS_UPDATE_ALL) {
		seen = fs_keymap_new();
		for (i = 0; i < n; i++)
			fs_keymap_intern(seen, keys[i].keylen ? keys[i].key : "", keys[i].keylen);
		nasked = fs_keymap_size(seen);
		if ((rc = scan_records(&u, seen)))
			goto done;
		/* ids from nasked on: the records not asked for */
		ks = xcalloc(fs_keymap_size(seen) - nasked + 1, sizeof(*ks));
		for (i = nasked; i < fs_keymap_size(seen); i++) {
			ks[i - nasked].key = fs_keymap_key(seen, (uint32_t)i, &ks[i - nasked].keylen);
			ks[i - nasked].i = SIZE_MAX;
		}
		if ((rc = update_all(&u, ks, fs_keymap_size(seen) - nasked)))
			goto done;
		free(ks);
	}
	ks = xcalloc(n + 1, sizeof(*ks));
	for (i = 0; i < n; i++) {
		ks[i].key = keys[i].key;
		ks[i].keylen = keys[i].keylen;
		ks[i].i = i;
	}
	rc = update_all(&u, ks, n);
done:
	free(ks);
	fs_keymap_free(seen);
	free(u.skey);
	free(u.counter);
	free(u.prefix);
	free(u.guard);
	return rc;
}

static int rd_count(struct fs_online *o, const char *view, const char *schema, int64_t *n)
{
	struct rd *s = o->state;
	bool same, exists;
	char *k;
	redisReply *r;
	int rc;
	if (rd_ensure(o))
		return FS_ERR;

	*n = 0;
	if ((rc = schema_is(o, view, schema, &same, &exists)) || !same)
		return rc;
	k = key_of(o, view, "n");
	r = redisCommand(s->c, "GET %s", k);
	free(k);
	if (r && r->type == REDIS_REPLY_STRING)
		*n = atoll(r->str);
	freeReplyObject(r);
	return 0;
}

static int rd_ping(struct fs_online *o)
{
	struct rd *s = o->state;
	redisReply *r = rd_ensure(o) ? NULL : redisCommand(s->c, "PING");
	int rc;

	if (!r && rd_broken(s) && rd_ensure(o) == 0)
		r = redisCommand(s->c, "PING");
	rc = r && r->type == REDIS_REPLY_STATUS ? 0 : fail(o, "ping", r);
	freeReplyObject(r);
	return rc;
}

#define RESP_MULTI "*1\r\n$5\r\nMULTI\r\n"
#define RESP_EXEC "*1\r\n$4\r\nEXEC\r\n"

static int rd_begin(struct fs_online *o)
{
	struct rd *s = o->state;

	if (rd_ensure(o))
		return FS_ERR;
	sb_reset(&s->queued);
	sb_adds(&s->queued, RESP_MULTI);
	s->nqueued = 0;
	return 0;
}

/*
 * Send buf on the connection as it is. A batch's MULTI/EXEC is megabytes:
 * hiredis would copy it into a buffer of its own first. Only when hiredis
 * has nothing of its own waiting to be sent, which is so after every
 * reply read in blocking mode.
 */
static int send_all(struct rd *s, const char *buf, size_t len)
{
	if (sdslen(s->c->obuf))
		return redisAppendFormattedCommand(s->c, buf, len) == REDIS_OK ? 0 : -1;
	while (len) {
		ssize_t n = send(s->c->fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->c->err = REDIS_ERR_IO;
			snprintf(s->c->errstr, sizeof(s->c->errstr), "%s",
				 n < 0 ? strerror(errno) : "connection closed");
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void rd_rollback(struct fs_online *o)
{
	struct rd *s = o->state;

	if (s->c && !s->c->err)
		freeReplyObject(redisCommand(s->c, "UNWATCH"));
	sb_reset(&s->queued);
	s->nqueued = 0;
}

static int rd_commit(struct fs_online *o)
{
	struct rd *s = o->state;
	redisReply *x = NULL;
	size_t k;
	int rc = 0;

	if (!s->c || s->c->err) {
		rc = fail(o, "cannot write", NULL);
		goto done;
	}
	if (!s->nqueued) {
		freeReplyObject(redisCommand(s->c, "UNWATCH"));
		goto done;
	}
	sb_adds(&s->queued, RESP_EXEC);
	if (send_all(s, s->queued.buf, s->queued.len)) {
		rc = fail(o, "cannot write", NULL);
		goto done;
	}
	for (k = 0; k < 1 + s->nqueued; k++) {
		redisReply *q = NULL;
		if (redisGetReply(s->c, (void **)&q) != REDIS_OK) {
			rc = fail(o, "cannot write", NULL);
			goto done;
		}
		if (!rc && (!q || q->type != REDIS_REPLY_STATUS))
			rc = fail(o, "cannot write", q);
		freeReplyObject(q);
	}
	if (redisGetReply(s->c, (void **)&x) != REDIS_OK) {
		rc = fail(o, "cannot write", NULL);
		goto done;
	}
	if (rc)
		goto done;
	if (x && x->type == REDIS_REPLY_NIL) {
		fs_error_set("online store '%s': a concurrent writer changed the batch's records",
			     o->where);
		rc = FS_ECONFLICT;
	} else if (!x || x->type != REDIS_REPLY_ARRAY) {
		rc = fail(o, "cannot write", x);
	} else {
		for (k = 0; k < x->elements; k++)
			if (x->element[k]->type == REDIS_REPLY_ERROR) {
				rc = fail(o, "cannot write", x->element[k]);
				break;
			}
	}
done:
	freeReplyObject(x);
	sb_reset(&s->queued);
	s->nqueued = 0;
	return rc;
}

static int rd_meta_get(struct fs_online *o, const char *name, struct strbuf *val, bool *found)
{
	struct rd *s = o->state;
	char *k = fs_redis_meta_key(o, name);
	redisReply *w = NULL, *r = NULL;
	int rc = 0;

	if (rd_ensure(o)) {
		free(k);
		return FS_ERR;
	}
	/* in a batch, WATCH and GET in one round trip */
	if (o->in_batch)
		redisAppendCommand(s->c, "WATCH %s", k);
	redisAppendCommand(s->c, "GET %s", k);
	if ((o->in_batch && redisGetReply(s->c, (void **)&w) != REDIS_OK) ||
	    redisGetReply(s->c, (void **)&r) != REDIS_OK) {
		freeReplyObject(w);
		w = NULL;
	}
	if ((o->in_batch && (!w || w->type != REDIS_REPLY_STATUS)) || !r ||
	    (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
		rc = fail(o, "cannot read", r && r->type == REDIS_REPLY_ERROR ? r : w);
	} else if (r->type == REDIS_REPLY_STRING) {
		*found = true;
		sb_add(val, r->str, r->len);
	}
	freeReplyObject(w);
	freeReplyObject(r);
	free(k);
	return rc;
}

static int rd_meta_put(struct fs_online *o, const char *name, const char *val)
{
	struct rd *s = o->state;
	char *k = fs_redis_meta_key(o, name);
	redisReply *r;
	int rc = 0;

	if (o->in_batch) {
		queue_set(s, k, strlen(k), val, strlen(val));
	} else if (rd_ensure(o)) {
		rc = FS_ERR;
	} else {
		r = redisCommand(s->c, "SET %s %s", k, val);
		if (!r || r->type == REDIS_REPLY_ERROR)
			rc = fail(o, "cannot write", r);
		freeReplyObject(r);
	}
	free(k);
	return rc;
}

struct meta_ctx {
	size_t hlen; /* of the names' key prefix */
	void (*fn)(void *ctx, const char *name, const char *val);
	void *ctx;
};

static int meta_page(struct fs_online *o, const redisReply *keys, void *ctx)
{
	struct rd *s = o->state;
	struct meta_ctx *c = ctx;
	size_t i;

	for (i = 0; i < keys->elements; i++) {
		const redisReply *e = keys->element[i];
		redisReply *g = redisCommand(s->c, "GET %b", e->str, e->len);
		if (g && g->type == REDIS_REPLY_STRING && e->len > c->hlen) {
			char *name = xstrndup(e->str + c->hlen, e->len - c->hlen);
			c->fn(c->ctx, name, g->str);
			free(name);
		}
		freeReplyObject(g);
	}
	return 0;
}

static int rd_meta_list(struct fs_online *o, const char *prefix,
			void (*fn)(void *ctx, const char *name, const char *val), void *ctx)
{
	/* names hold no glob characters ([A-Za-z0-9_/.:-]) */
	char *head = fs_redis_meta_key(o, ""), *pattern = xstrfmt("%s%s*", head, prefix);
	struct meta_ctx c = { strlen(head), fn, ctx };
	int rc = rd_ensure(o) ? FS_ERR : scan_keys(o, pattern, meta_page, &c);

	free(head);
	free(pattern);
	return rc;
}

static void rd_close(struct fs_online *o)
{
	struct rd *s = o->state;

	sb_release(&s->queued);
	if (s->c)
		redisFree(s->c);
	free(s->host);
	free(s->user);
	free(s->pass);
	free(s);
}

const struct fs_online_ops fs_online_redis_ops = {
	.type = "redis",
	.open = rd_open,
	.write = rd_write,
	.read = rd_read,
	.drop = rd_drop,
	.update = rd_update,
	.count = rd_count,
	.ping = rd_ping,
	.begin = rd_begin,
	.commit = rd_commit,
	.rollback = rd_rollback,
	.meta_get = rd_meta_get,
	.meta_put = rd_meta_put,
	.meta_list = rd_meta_list,
	.close = rd_close,
};
