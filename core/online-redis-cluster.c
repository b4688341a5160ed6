/*
 * online-redis-cluster.c: the online store on a Redis Cluster
 * (online_store: {type: redis, cluster: [seed URLs]}), through the router
 * of redis-cluster.c.
 *
 * Keys: a view's records are spread over 1024 buckets by their entity key
 * (FNV-1a), each bucket a hash tag, so that a record and its bucket's
 * record count sit in one slot and are written together, atomically, by
 * the newest-wins script:
 *
 *   fs:<project>:<view>:{<bucket>}:r:<entity key bytes>   record
 *   fs:<project>:<view>:{<bucket>}:n                      records in the bucket
 *   fs:<project>:<view>:schema                            the view's schema
 *   fs:{<project>}:@<name>                                the store's own records
 *
 * The store's own records (stream positions, intents) share a slot, so
 * that fs_online_meta_change changes several at once.
 *
 * The bucket depends on the entity key alone: the records of one entity in
 * every view share a slot. A write is one script call per bucket, a read
 * one GET per key, all pipelined to each node they touch, one round trip
 * per node. Writes are atomic per bucket, not per batch; a view's write
 * as a whole never was (see online-redis.c).
 *
 * Updates (aggregation views' tiles) read the records, ask fn, and write
 * each bucket's by a compare-and-set script (rcs_update). No transaction
 * spans the nodes: there are no batches (fs_online_begin); fs stream
 * records each batch as an intent with its positions (one slot, one
 * script: rcs_meta_change) and applies it with marked updates
 * (fs_online_mark), which a replay applies again without counting twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "keymap.h"
#include "online.h"
#include "online-redis.h"
#include "redis-cluster.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

#define BUCKETS 1024
#define DEADLINE_MS 5000
#define CALL_MARK_MS "600000"        /* a call's marker: 10 minutes */
#define INTENT_MARK_MS "604800000"   /* an intent's: 7 days */
#define SETTLED_MARK_MS "60000"      /* an intent's once it is settled: a minute */


/*
 * The compare-and-set of an update's records in one bucket: KEYS n
 * records, the counter, then the call's own marker; ARGV the n values
 * read ('' when absent), then the n new ones ('' to delete), then how
 * long the marker lasts (ms). Nothing is written, and -1 returned, when
 * a record is no longer what was read. The marker (a name no other call
 * uses, or the step of an intent: fs_online_mark) says the call ran:
 * sent again after a broken connection, or the step done again, it
 * returns 1 and writes nothing. Else 0.
 */
static const char cas_script[] =
	"local n = #KEYS - 2\n"
	"if redis.call('EXISTS', KEYS[n + 2]) == 1 then return 1 end\n"
	"for i = 1, n do\n"
	"  local cur = redis.call('GET', KEYS[i])\n"
	"  if ARGV[i] == '' then\n"
	"    if cur then return -1 end\n"
	"  elseif cur ~= ARGV[i] then\n"
	"    return -1\n"
	"  end\n"
	"end\n"
	"local delta = 0\n"
	"for i = 1, n do\n"
	"  local new = ARGV[n + i]\n"
	"  local existed = ARGV[i] ~= ''\n"
	"  if new == '' then\n"
	"    if existed then redis.call('DEL', KEYS[i]); delta = delta - 1 end\n"
	"  else\n"
	"    redis.call('SET', KEYS[i], new)\n"
	"    if not existed then delta = delta + 1 end\n"
	"  end\n"
	"end\n"
	"if delta ~= 0 then redis.call('INCRBY', KEYS[n + 1], delta) end\n"
	"redis.call('SET', KEYS[n + 2], '1', 'PX', ARGV[2 * n + 1])\n"
	"return 0\n";

/*
 * rcs_meta_change: KEYS the named records (one slot); ARGV for each what
 * it must hold ('-' absent, '*' any, '=' and the value), then what it
 * gets ('-' deleted, '=' and the value). 1 when changed, 0 (nothing
 * changed) when one held something else.
 */
static const char change_script[] =
	"for i = 1, #KEYS do\n"
	"  local cur = redis.call('GET', KEYS[i])\n"
	"  local e = ARGV[2 * i - 1]\n"
	"  local t = string.sub(e, 1, 1)\n"
	"  if t == '-' then\n"
	"    if cur then return 0 end\n"
	"  elseif t == '*' then\n"
	"    if not cur then return 0 end\n"
	"  elseif cur ~= string.sub(e, 2) then\n"
	"    return 0\n"
	"  end\n"
	"end\n"
	"for i = 1, #KEYS do\n"
	"  local v = ARGV[2 * i]\n"
	"  if v == '-' then redis.call('DEL', KEYS[i])\n"
	"  else redis.call('SET', KEYS[i], string.sub(v, 2)) end\n"
	"end\n"
	"return 1\n";

struct rcs {
	struct fs_rc *rc;
	char sha[64], cas_sha[64], change_sha[64];
	/* fs_online_mark: the intent's id and key, its update calls so far, the markers left */
	char *mark, *mark_live;
	unsigned long mark_calls, mark_chunks;
	char **marks;
	size_t nmarks, marks_alloc;
};

/*
 * A batch of commands for fs_rc_exec, their arguments kept in one place:
 * each command's words are appended with word() and closed with end().
 */
struct cmds {
	struct fs_rc_cmd *cmd;
	size_t n, alloc;
	struct strbuf bytes;        /* every word's bytes */
	size_t *woff, *wlen, nw, walloc; /* the words, as offsets into bytes */
	size_t *first, *count;      /* each command's words */
	size_t *keyw;               /* each command's routing key word */
	size_t falloc;
	/* built by seal(): pointers into bytes */
	int *argc;
	const char ***argv, **av;
	const size_t **argl;
};

static void cmds_word(struct cmds *c, const void *p, size_t len)
{
	ALLOC_GROW(c->woff, c->nw + 1, c->walloc);
	c->wlen = xrealloc(c->wlen, c->walloc * sizeof(*c->wlen));
	c->woff[c->nw] = c->bytes.len;
	c->wlen[c->nw] = len;
	sb_add(&c->bytes, p, len);
	c->nw++;
}

/* A word of up to three pieces (b and c may be empty). */
static void cmds_word3(struct cmds *c, const void *a, size_t al, const void *b, size_t bl,
		       const void *d, size_t dl)
{
	size_t at = c->bytes.len;

	sb_add(&c->bytes, a, al);
	if (bl)
		sb_add(&c->bytes, b, bl);
	if (dl)
		sb_add(&c->bytes, d, dl);
	ALLOC_GROW(c->woff, c->nw + 1, c->walloc);
	c->wlen = xrealloc(c->wlen, c->walloc * sizeof(*c->wlen));
	c->woff[c->nw] = at;
	c->wlen[c->nw++] = c->bytes.len - at;
}

static void cmds_start(struct cmds *c)
{
	ALLOC_GROW(c->first, c->n + 1, c->falloc);
	c->count = xrealloc(c->count, c->falloc * sizeof(*c->count));
	c->keyw = xrealloc(c->keyw, c->falloc * sizeof(*c->keyw));
	c->first[c->n] = c->nw;
	c->keyw[c->n] = c->nw + 1; /* the word after the command's name, unless set */
	c->n++;
}

static void cmds_end(struct cmds *c)
{
	c->count[c->n - 1] = c->nw - c->first[c->n - 1];
}

/* The commands as fs_rc_exec takes them (after the last word is added). */
static void cmds_seal(struct cmds *c, bool idempotent)
{
	size_t i, w;

	c->cmd = xcalloc(c->n + 1, sizeof(*c->cmd));
	c->argc = xcalloc(c->n + 1, sizeof(int));
	c->argv = xcalloc(c->n + 1, sizeof(*c->argv));
	c->argl = xcalloc(c->n + 1, sizeof(*c->argl));
	c->av = xcalloc(c->nw + 1, sizeof(*c->av));
	for (w = 0; w < c->nw; w++)
		c->av[w] = c->bytes.buf + c->woff[w];
	for (i = 0; i < c->n; i++) {
		c->argc[i] = (int)c->count[i];
		c->argv[i] = &c->av[c->first[i]];
		c->argl[i] = &c->wlen[c->first[i]];
		c->cmd[i].key = c->av[c->keyw[i]];
		c->cmd[i].keylen = c->wlen[c->keyw[i]];
		c->cmd[i].n = 1;
		c->cmd[i].argc = &c->argc[i];
		c->cmd[i].argv = &c->argv[i];
		c->cmd[i].argl = &c->argl[i];
		c->cmd[i].idempotent = idempotent;
	}
}

static void cmds_release(struct cmds *c)
{
	size_t i;

	for (i = 0; c->cmd && i < c->n; i++)
		freeReplyObject(c->cmd[i].reply);
	free(c->cmd);
	sb_release(&c->bytes);
	free(c->woff);
	free(c->wlen);
	free(c->first);
	free(c->count);
	free(c->keyw);
	free(c->argc);
	free(c->argv);
	free(c->av);
	free(c->argl);
	memset(c, 0, sizeof(*c));
}

static int load_scripts(struct fs_online *o);

/*
 * Send c's commands. A script missing on a node (NOSCRIPT: a new or
 * restarted master) is loaded on every master and the commands sent
 * again, once: the scripts change nothing when they did not run, and a
 * newest-wins write or a compare-and-set that did run changes nothing more.
 */
static int exec(struct fs_online *o, struct cmds *c, bool idempotent)
{
	struct rcs *s = o->state;
	size_t i;
	int rc, tries;

	cmds_seal(c, idempotent);
	for (tries = 0;; tries++) {
		bool noscript = false;
		rc = fs_rc_exec(s->rc, c->cmd, c->n, DEADLINE_MS);
		for (i = 0; i < c->n; i++)
			noscript |= c->cmd[i].reply && c->cmd[i].reply->type == REDIS_REPLY_ERROR &&
				    !strncmp(c->cmd[i].reply->str, "NOSCRIPT", 8);
		if (!noscript || tries)
			return rc;
		for (i = 0; i < c->n; i++) {
			freeReplyObject(c->cmd[i].reply);
			c->cmd[i].reply = NULL;
		}
		if ((rc = load_scripts(o)))
			return rc;
	}
}

/* One command of n words in one go. */
static void cmds_add(struct cmds *c, size_t n, const char *const *w, const size_t *l)
{
	size_t i;

	cmds_start(c);
	for (i = 0; i < n; i++)
		cmds_word(c, w[i], l ? l[i] : strlen(w[i]));
	cmds_end(c);
}

static int fail(struct fs_online *o, const char *what, const redisReply *r)
{
	fs_error_set("online store '%s': %s: %s", o->where, what,
		     r && r->type == REDIS_REPLY_ERROR ? r->str : fs_error_last());
	return FS_ERR;
}

/* Check every reply of c: an error reply, or none (why is in its err), fails with what. */
static int check_replies(struct fs_online *o, struct cmds *c, const char *what)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		if (!c->cmd[i].reply) {
			fs_error_set("online store '%s': %s: %s", o->where, what, c->cmd[i].err);
			return FS_ERR;
		}
		if (c->cmd[i].reply->type == REDIS_REPLY_ERROR)
			return fail(o, what, c->cmd[i].reply);
	}
	return 0;
}

/* Send c; every command must have a reply that is no error. */
static int run(struct fs_online *o, struct cmds *c, const char *what)
{
	exec(o, c, true);
	return check_replies(o, c, what);
}

static unsigned bucket_of(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h % BUCKETS;
}

/* "fs:<project>:<view>:{<bucket>}:" */
static size_t bucket_prefix(struct fs_online *o, const char *view, unsigned b, char *buf, size_t size)
{
	int n = snprintf(buf, size, "fs:%s:%s:{%u}:", o->project, view, b);
	return n < 0 ? 0 : (size_t)n;
}

static char *schema_key(struct fs_online *o, const char *view)
{
	return xstrfmt("fs:%s:%s:schema", o->project, view);
}

/* Load the scripts on every master. */
static int load_scripts(struct fs_online *o)
{
	struct rcs *s = o->state;
	const char *const scripts[3] = { fs_redis_write_script, cas_script, change_script };
	char *const shas[3] = { s->sha, s->cas_sha, s->change_sha };
	redisContext *c;
	const char *name;
	size_t i, k, loaded = 0;
	int rc, failed = 0;

	/*
	 * on every master that answers: one that does not (failing over) is
	 * replaced by a replica that answers NOSCRIPT, and exec() loads them
	 * again
	 */
	for (i = 0; (rc = fs_rc_master(s->rc, i, &c, &name)) != FS_ENOTFOUND; i++) {
		for (k = 0; !rc && k < ARRAY_SIZE(scripts); k++) {
			redisReply *r = redisCommand(c, "SCRIPT LOAD %s", scripts[k]);
			if (!r || r->type != REDIS_REPLY_STRING) {
				fs_error_set("online store '%s': %s: cannot load a script: %s", o->where,
					     name, r ? r->str : c->errstr);
				rc = FS_ERR;
			} else {
				snprintf(shas[k], sizeof(s->sha), "%s", r->str);
			}
			freeReplyObject(r);
		}
		if (rc)
			failed = rc;
		else
			loaded++;
	}
	if (!loaded && !failed)
		fs_error_set("online store '%s': no master to load the scripts on", o->where);
	return loaded ? 0 : failed ? failed : FS_ERR;
}

static int rcs_open(struct fs_online *o, const struct fs_config *cfg)
{
	struct rcs *s = xcalloc(1, sizeof(*s));
	struct strbuf where = STRBUF_INIT;
	int rc;

	o->state = s;
	/* every message names the store by its first seed: never a password */
	{
		char *shown = fs_url_redact(cfg->online_cluster[0]);
		sb_addf(&where, "cluster %s", shown);
		if (cfg->online_cluster_n > 1)
			sb_addf(&where, " (+%zu seeds)", cfg->online_cluster_n - 1);
		free(shown);
	}
	o->where = sb_detach(&where);
	if ((rc = fs_rc_open(&s->rc, (const char *const *)cfg->online_cluster, cfg->online_cluster_n,
			     o->where)))
		return rc;
	return load_scripts(o);
}

/* The view's schema as stored: *exists, and *same when it is schema. */
static int schema_is(struct fs_online *o, const char *view, const char *schema, bool *same,
		     bool *exists)
{
	struct cmds c = { 0 };
	char *k = schema_key(o, view);
	const char *w[2] = { "GET", k };
	redisReply *r;
	int rc = 0;

	cmds_add(&c, 2, w, NULL);
	if (!(rc = run(o, &c, "cannot read schema"))) {
		r = c.cmd[0].reply;
		*exists = r->type == REDIS_REPLY_STRING;
		*same = *exists && !strcmp(r->str, schema);
	}
	cmds_release(&c);
	free(k);
	return rc;
}


/*
 * Every key of the masters matching pattern, a page at a time, to fn. A
 * key can be seen twice (or missed) when slots move during the scan.
 */
static int scan_all(struct fs_online *o, const char *pattern,
		    int (*fn)(struct fs_online *o, const redisReply *keys, void *ctx), void *ctx)
{
	struct rcs *s = o->state;
	redisContext *c;
	const char *name;
	size_t i;
	int rc;

	for (i = 0; (rc = fs_rc_master(s->rc, i, &c, &name)) == 0; i++) {
		char cursor[32] = "0";
		do {
			redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
			if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
			    r->element[0]->type != REDIS_REPLY_STRING ||
			    r->element[1]->type != REDIS_REPLY_ARRAY) {
				fs_error_set("online store '%s': %s: cannot scan: %s", o->where, name,
					     r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
				freeReplyObject(r);
				return FS_ERR;
			}
			snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
			rc = fn(o, r->element[1], ctx);
			freeReplyObject(r);
		} while (!rc && strcmp(cursor, "0"));
		if (rc)
			return rc;
	}
	return rc == FS_ENOTFOUND ? 0 : rc;
}

static int unlink_page(struct fs_online *o, const redisReply *keys, void *ctx)
{
	struct cmds c = { 0 };
	size_t i;
	int rc;

	(void)ctx;
	if (!keys->elements)
		return 0;
	for (i = 0; i < keys->elements; i++) {
		const char *w[2] = { "UNLINK", keys->element[i]->str };
		size_t l[2] = { 6, keys->element[i]->len };
		cmds_add(&c, 2, w, l);
	}
	rc = run(o, &c, "cannot delete");
	cmds_release(&c);
	return rc;
}

static int rcs_drop(struct fs_online *o, const char *view)
{
	char *pattern = xstrfmt("fs:%s:%s:*", o->project, view);
	int rc = scan_all(o, pattern, unlink_page, NULL);

	free(pattern);
	return rc;
}

static int schema_ensure(struct fs_online *o, const char *view, const char *schema)
{
	struct cmds c = { 0 };
	bool same, exists;
	char *k;
	int rc;

	if ((rc = schema_is(o, view, schema, &same, &exists)) || same)
		return rc;
	if (exists && (rc = rcs_drop(o, view)))
		return rc;
	k = schema_key(o, view);
	{
		const char *w[3] = { "SET", k, schema };
		cmds_add(&c, 3, w, NULL);
	}
	rc = run(o, &c, "cannot write schema");
	cmds_release(&c);
	free(k);
	return rc;
}

static int cmp_size(const void *a, const void *b)
{
	const size_t *x = a, *y = b;
	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return (x[1] > y[1]) - (x[1] < y[1]);
}

/*
 * One script call per bucket: EVALSHA sha nkeys record... counter value...
 * A script missing on a node (NOSCRIPT: a new or restarted master) is
 * loaded on every master and the calls sent again, once.
 */
static int rcs_write(struct fs_online *o, const char *view, const char *schema,
		     const struct fs_online_rec *recs, size_t n, size_t *written)
{
	struct rcs *s = o->state;
	struct cmds c = { 0 };
	size_t (*order)[2] = NULL, i, j;
	char prefix[256];
	int rc;

	if ((rc = schema_ensure(o, view, schema)))
		return rc;
	if (!n)
		return 0;
	/* the records by bucket */
	order = xmalloc(n * sizeof(*order));
	for (i = 0; i < n; i++) {
		order[i][0] = bucket_of(recs[i].key, recs[i].keylen);
		order[i][1] = i;
	}
	qsort(order, n, sizeof(*order), cmp_size);
	for (i = 0; i < n; i = j) {
		unsigned b = (unsigned)order[i][0];
		size_t plen = bucket_prefix(o, view, b, prefix, sizeof(prefix)), k;
		char nkeys[32];
		for (j = i; j < n && order[j][0] == b; j++)
			;
		cmds_start(&c);
		cmds_word(&c, "EVALSHA", 7);
		cmds_word(&c, s->sha, strlen(s->sha));
		cmds_word(&c, nkeys, (size_t)snprintf(nkeys, sizeof(nkeys), "%zu", j - i + 1));
		c.keyw[c.n - 1] = c.nw; /* the first record key routes it */
		for (k = i; k < j; k++) {
			const struct fs_online_rec *r = &recs[order[k][1]];
			cmds_word3(&c, prefix, plen, "r:", 2, r->key, r->keylen);
		}
		cmds_word3(&c, prefix, plen, "n", 1, NULL, 0);
		for (k = i; k < j; k++) {
			const struct fs_online_rec *r = &recs[order[k][1]];
			unsigned char head[16];
			fs_redis_put_be64(head, r->ts);
			fs_redis_put_be64(head + 8, r->created);
			cmds_word3(&c, head, sizeof(head), r->val, r->vallen, NULL, 0);
		}
		cmds_end(&c);
	}
	/* newest-wins is idempotent: a call sent again changes nothing more */
	exec(o, &c, true);
	if (!(rc = check_replies(o, &c, "cannot write")))
		for (i = 0; i < c.n; i++) {
			if (c.cmd[i].reply->type != REDIS_REPLY_INTEGER) {
				rc = fail(o, "cannot write", c.cmd[i].reply);
				break;
			}
			*written += (size_t)c.cmd[i].reply->integer;
		}
	cmds_release(&c);
	free(order);
	return rc;
}

static int rcs_read(struct fs_online *o, const char *view, const char *schema,
		    const struct fs_online_rec *keys, size_t n, struct fs_online_hit *hits)
{
	struct cmds c = { 0 };
	char prefix[256], *skey = schema_key(o, view);
	const redisReply *sr;
	size_t i;
	int rc = 0;

	{
		const char *w[2] = { "GET", skey };
		cmds_add(&c, 2, w, NULL);
	}
	for (i = 0; i < n; i++) {
		size_t plen = bucket_prefix(o, view, bucket_of(keys[i].key, keys[i].keylen), prefix,
					    sizeof(prefix));
		cmds_start(&c);
		cmds_word(&c, "GET", 3);
		cmds_word3(&c, prefix, plen, "r:", 2, keys[i].key, keys[i].keylen);
		cmds_end(&c);
	}
	if ((rc = run(o, &c, "cannot read")))
		goto done;
	/* no schema, or another one: the view's records are not ours to decode */
	sr = c.cmd[0].reply;
	if (sr->type != REDIS_REPLY_STRING || strlen(schema) != sr->len || memcmp(sr->str, schema, sr->len))
		goto done;
	for (i = 0; i < n; i++) {
		const redisReply *e = c.cmd[i + 1].reply;
		fs_redis_hit(e, &hits[i]);
	}
done:
	cmds_release(&c);
	free(skey);
	return rc;
}

/*
 * rcs_update: the records in chunks; each chunk read (GET, pipelined),
 * fn asked in order, and what fn decided written per bucket by the
 * compare-and-set script. A bucket whose records changed since they were
 * read (a concurrent writer) is read and decided again, fn being asked
 * again for its records only, up to UPDATE_TRIES times. With
 * FS_UPDATE_GUARD the guard record (keys[0]) goes first, alone, so that
 * what fn learns from it holds for every record after it; with
 * FS_UPDATE_ALL the records not asked for (found by SCAN on every master)
 * go before the ones asked for. Not atomic as a whole: the chunks and
 * buckets done stay done when fn abandons or an error stops the update.
 */
#define UPDATE_CHUNK 500
#define UPDATE_TRIES 50

struct crec {
	const void *key;
	size_t keylen, i;
	unsigned bucket;
	bool done, op;        /* committed (or nothing to do); has a write or delete */
	struct strbuf old, new; /* as stored: read ('' absent), to be ('' delete) */
	bool existed;
};

struct cupd {
	struct fs_online *o;
	const char *view, *schema;
	fs_online_update_fn fn;
	void *ctx;
	char *skey;
};

static int cmp_crec_bucket(const void *a, const void *b)
{
	const struct crec *const *x = a, *const *y = b;

	if ((*x)->bucket != (*y)->bucket)
		return (*x)->bucket < (*y)->bucket ? -1 : 1;
	return (*x < *y) ? -1 : (*x > *y);
}

/* Read the pending records of rs and ask fn for each, in order. */
static int decide(struct cupd *u, struct crec *rs, size_t m)
{
	struct rcs *s = u->o->state;
	struct cmds c = { 0 };
	char prefix[256];
	const redisReply *sr;
	size_t j, k;
	int rc;

	{
		const char *w[2] = { "GET", u->skey };
		cmds_add(&c, 2, w, NULL);
	}
	for (j = 0; j < m; j++) {
		size_t plen;
		if (rs[j].done)
			continue;
		plen = bucket_prefix(u->o, u->view, rs[j].bucket, prefix, sizeof(prefix));
		cmds_start(&c);
		cmds_word(&c, "GET", 3);
		cmds_word3(&c, prefix, plen, "r:", 2, rs[j].key, rs[j].keylen);
		cmds_end(&c);
	}
	if (s->mark_live) {
		/* a step of an intent: only while the intent is there (see fs_online_mark) */
		const char *w[2] = { "EXISTS", s->mark_live };
		cmds_add(&c, 2, w, NULL);
	}
	if ((rc = run(u->o, &c, "cannot read")))
		goto done;
	if (s->mark_live && c.cmd[c.n - 1].reply->type == REDIS_REPLY_INTEGER &&
	    !c.cmd[c.n - 1].reply->integer) {
		fs_error_set("online store '%s': the intent being applied was settled by another writer",
			     u->o->where);
		rc = FS_ECONFLICT;
		goto done;
	}
	sr = c.cmd[0].reply;
	if (sr->type != REDIS_REPLY_STRING || sr->len != strlen(u->schema) ||
	    memcmp(sr->str, u->schema, sr->len)) {
		fs_error_set("online store '%s': view '%s' changed schema during the update",
			     u->o->where, u->view);
		rc = FS_ERR;
		goto done;
	}
	for (j = 0, k = 1; j < m; j++) {
		const redisReply *e;
		struct fs_online_hit old = { 0 };
		struct fs_online_rec out = { 0 };
		unsigned char head[16];
		struct crec *r = &rs[j];
		if (r->done)
			continue;
		e = c.cmd[k++].reply;
		sb_reset(&r->old);
		sb_reset(&r->new);
		r->op = false;
		r->existed = e->type == REDIS_REPLY_STRING;
		/* not asked for, and deleted since the scan: no longer the view's */
		if (!r->existed && r->i == SIZE_MAX) {
			r->done = true;
			continue;
		}
		if (r->existed) {
			sb_add(&r->old, e->str, e->len);
			if (e->len >= 16) {
				old.found = true;
				old.ts = fs_redis_get_be64((const unsigned char *)e->str);
				old.created = fs_redis_get_be64((const unsigned char *)e->str + 8);
				old.val = r->old.buf + 16;
				old.vallen = e->len - 16;
			}
		}
		rc = u->fn(u->ctx, r->key, r->keylen, r->i, &old, &out);
		if (rc < 0)
			goto done;
		if (rc == 1) {
			rc = 0;
			if (r->existed)
				r->op = true; /* delete: new stays '' */
			else
				r->done = true;
			continue;
		}
		rc = 0;
		fs_redis_put_be64(head, out.ts);
		fs_redis_put_be64(head + 8, out.created);
		sb_add(&r->new, head, sizeof(head));
		if (out.vallen)
			sb_add(&r->new, out.val, out.vallen);
		r->op = true;
	}
done:
	cmds_release(&c);
	return rc;
}

/*
 * The marker of a chunk's writes ("done:" and a name): the step of the
 * intent being applied (fs_online_mark), or a name no other call, here or
 * elsewhere, uses.
 */
static int chunk_marker(struct fs_online *o, struct strbuf *out, const char **ttl)
{
	struct rcs *s = o->state;
	unsigned char rnd[12];
	size_t j;

	sb_reset(out);
	if (s->mark) {
		sb_addf(out, "done:%s:%lu.%lu", s->mark, s->mark_calls, s->mark_chunks++);
		*ttl = INTENT_MARK_MS;
		return 0;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		fs_error_set("online store '%s': no random bytes for an update's marker", o->where);
		return FS_ERR;
	}
	sb_adds(out, "done:");
	for (j = 0; j < sizeof(rnd); j++)
		sb_addf(out, "%02x", rnd[j]);
	*ttl = CALL_MARK_MS;
	return 0;
}

/* Keep the name of a marker an intent's step left, for fs_online_forget_marks. */
static void keep_mark(struct rcs *s, const char *prefix, size_t plen, const char *nonce)
{
	ALLOC_GROW(s->marks, s->nmarks + 1, s->marks_alloc);
	s->marks[s->nmarks++] = xstrfmt("%.*s%s", (int)plen, prefix, nonce);
}

/*
 * Write what was decided, a script call per bucket, each leaving marker
 * nonce (kept ttl ms); buckets that conflicted stay pending.
 */
static int commit_buckets(struct cupd *u, struct crec *rs, size_t m, const char *nonce,
			  const char *ttl)
{
	struct rcs *s = u->o->state;
	struct crec **by = xmalloc((m + 1) * sizeof(*by));
	struct cmds c = { 0 };
	size_t n = 0, i, j, k, call;
	size_t *first = xmalloc((m + 1) * sizeof(*first)), *last = xmalloc((m + 1) * sizeof(*last));
	char prefix[256];
	int rc = 0;

	for (j = 0; j < m; j++)
		if (!rs[j].done && rs[j].op)
			by[n++] = &rs[j];
	qsort(by, n, sizeof(*by), cmp_crec_bucket);
	for (i = 0, call = 0; i < n; i = j, call++) {
		unsigned b = by[i]->bucket;
		size_t plen = bucket_prefix(u->o, u->view, b, prefix, sizeof(prefix));
		char nkeys[32];
		for (j = i; j < n && by[j]->bucket == b; j++)
			;
		first[call] = i;
		last[call] = j;
		cmds_start(&c);
		cmds_word(&c, "EVALSHA", 7);
		cmds_word(&c, s->cas_sha, strlen(s->cas_sha));
		cmds_word(&c, nkeys, (size_t)snprintf(nkeys, sizeof(nkeys), "%zu", j - i + 2));
		c.keyw[c.n - 1] = c.nw;
		for (k = i; k < j; k++)
			cmds_word3(&c, prefix, plen, "r:", 2, by[k]->key, by[k]->keylen);
		cmds_word3(&c, prefix, plen, "n", 1, NULL, 0);
		cmds_word3(&c, prefix, plen, nonce, strlen(nonce), NULL, 0);
		for (k = i; k < j; k++)
			cmds_word3(&c, by[k]->old.buf ? by[k]->old.buf : "", by[k]->old.len, NULL, 0, NULL, 0);
		for (k = i; k < j; k++)
			cmds_word3(&c, by[k]->new.buf ? by[k]->new.buf : "", by[k]->new.len, NULL, 0, NULL, 0);
		cmds_word(&c, ttl, strlen(ttl));
		cmds_end(&c);
	}
	if (n) {
		/* a call that ran is seen so when sent again (1): safe to send again */
		exec(u->o, &c, true);
		rc = check_replies(u->o, &c, "cannot write");
		for (i = 0; !rc && i < call; i++) {
			const redisReply *r = c.cmd[i].reply;
			if (r->type != REDIS_REPLY_INTEGER) {
				rc = fail(u->o, "cannot write", r);
				break;
			}
			if (r->integer < 0)
				continue;
			for (k = first[i]; k < last[i]; k++)
				by[k]->done = true;
			if (s->mark) {
				size_t plen = bucket_prefix(u->o, u->view, by[first[i]]->bucket, prefix,
							    sizeof(prefix));
				keep_mark(s, prefix, plen, nonce);
			}
		}
	}
	cmds_release(&c);
	free(by);
	free(first);
	free(last);
	return rc;
}

static int update_chunk(struct cupd *u, struct crec *rs, size_t m)
{
	struct strbuf nonce = STRBUF_INIT;
	const char *ttl;
	size_t j, tries;
	bool left = true;
	int rc;

	/* one marker for the chunk: a try writes only the buckets no try wrote */
	if ((rc = chunk_marker(u->o, &nonce, &ttl)))
		return rc;
	for (j = 0; j < m; j++)
		rs[j].bucket = bucket_of(rs[j].key, rs[j].keylen);
	for (tries = 0; tries < UPDATE_TRIES; tries++) {
		if (tries)
			usleep(1000 * (useconds_t)tries); /* let the other writer get ahead */
		if ((rc = decide(u, rs, m)) || (rc = commit_buckets(u, rs, m, nonce.buf, ttl)))
			break;
		for (j = 0, left = false; j < m && !left; j++)
			left = !rs[j].done;
		if (!left)
			break;
	}
	for (j = 0; j < m; j++) {
		sb_release(&rs[j].old);
		sb_release(&rs[j].new);
	}
	sb_release(&nonce);
	if (!rc && left) {
		fs_error_set("online store '%s': view '%s': update gave up after %d tries:"
			     " concurrent writes kept changing its records",
			     u->o->where, u->view, UPDATE_TRIES);
		rc = FS_ERR;
	}
	return rc;
}

/* n records (key, keylen, i) in chunks, in order */
static int update_list(struct cupd *u, struct crec *all, size_t n)
{
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < n; i += UPDATE_CHUNK)
		rc = update_chunk(u, all + i, n - i < UPDATE_CHUNK ? n - i : UPDATE_CHUNK);
	return rc;
}

struct seen_ctx {
	size_t plen; /* of "fs:<project>:<view>:{" */
	const char *head;
	struct fs_keymap *seen;
};

/* the entity keys of fs:<project>:<view>:{<bucket>}:r:<key> */
static int seen_page(struct fs_online *o, const redisReply *keys, void *ctx)
{
	struct seen_ctx *sc = ctx;
	size_t i;

	(void)o;
	for (i = 0; i < keys->elements; i++) {
		const redisReply *e = keys->element[i];
		const char *p, *end;
		if (e->type != REDIS_REPLY_STRING || e->len <= sc->plen || memcmp(e->str, sc->head, sc->plen))
			continue;
		end = e->str + e->len;
		for (p = e->str + sc->plen; p < end && *p >= '0' && *p <= '9'; p++)
			;
		if (end - p < 4 || memcmp(p, "}:r:", 4))
			continue;
		p += 4;
		fs_keymap_intern(sc->seen, p, (size_t)(end - p));
	}
	return 0;
}

static int rcs_update(struct fs_online *o, const char *view, const char *schema,
		      const struct fs_online_rec *keys, size_t n, unsigned flags,
		      fs_online_update_fn fn, void *ctx)
{
	struct cupd u = { .o = o, .view = view, .schema = schema, .fn = fn, .ctx = ctx };
	struct rcs *s = o->state;
	struct fs_keymap *seen = NULL;
	struct crec *rs = NULL;
	size_t i, nasked, from = 0;
	int rc;

	if ((rc = schema_ensure(o, view, schema)))
		return rc;
	if (s->mark) {
		/* the next step of the intent: its chunks numbered from 0 */
		s->mark_calls++;
		s->mark_chunks = 0;
	}
	u.skey = schema_key(o, view);
	if (flags & FS_UPDATE_ALL) {
		char *head = xstrfmt("fs:%s:%s:{", o->project, view);
		char *pattern = xstrfmt("%s*}:r:*", head);
		struct seen_ctx sc = { strlen(head), head, fs_keymap_new() };
		seen = sc.seen;
		for (i = 0; i < n; i++)
			fs_keymap_intern(seen, keys[i].keylen ? keys[i].key : "", keys[i].keylen);
		nasked = fs_keymap_size(seen);
		rc = scan_all(o, pattern, seen_page, &sc);
		free(pattern);
		free(head);
		if (rc)
			goto done;
		/* the records not asked for first, from id nasked on */
		rs = xcalloc(fs_keymap_size(seen) - nasked + 1, sizeof(*rs));
		for (i = nasked; i < fs_keymap_size(seen); i++) {
			struct crec *r = &rs[i - nasked];
			r->key = fs_keymap_key(seen, (uint32_t)i, &r->keylen);
			r->i = SIZE_MAX;
		}
		if ((rc = update_list(&u, rs, fs_keymap_size(seen) - nasked)))
			goto done;
		free(rs);
		rs = NULL;
	}
	rs = xcalloc(n + 1, sizeof(*rs));
	for (i = 0; i < n; i++) {
		rs[i].key = keys[i].keylen ? keys[i].key : "";
		rs[i].keylen = keys[i].keylen;
		rs[i].i = i;
	}
	/* the guard alone first: what fn learns from it holds for the records after it */
	if ((flags & FS_UPDATE_GUARD) && n) {
		if ((rc = update_list(&u, rs, 1)))
			goto done;
		from = 1;
	}
	rc = update_list(&u, rs + from, n - from);
done:
	free(rs);
	fs_keymap_free(seen);
	free(u.skey);
	return rc;
}

static int rcs_count(struct fs_online *o, const char *view, const char *schema, int64_t *n)
{
	struct cmds c = { 0 };
	char prefix[256];
	bool same, exists;
	unsigned b;
	size_t i;
	int rc;

	*n = 0;
	if ((rc = schema_is(o, view, schema, &same, &exists)) || !same)
		return rc;
	for (b = 0; b < BUCKETS; b++) {
		size_t plen = bucket_prefix(o, view, b, prefix, sizeof(prefix));
		cmds_start(&c);
		cmds_word(&c, "GET", 3);
		prefix[plen] = 'n';
		cmds_word(&c, prefix, plen + 1);
		cmds_end(&c);
	}
	if (!(rc = run(o, &c, "cannot count"))) {
		for (i = 0; i < c.n; i++)
			if (c.cmd[i].reply->type == REDIS_REPLY_STRING)
				*n += atoll(c.cmd[i].reply->str);
	}
	cmds_release(&c);
	return rc;
}

static int rcs_ping(struct fs_online *o)
{
	struct rcs *s = o->state;
	unsigned uncovered, down;

	if (fs_rc_check(s->rc, &uncovered, &down))
		return FS_ERR;
	if (uncovered || down) {
		fs_error_set("online store '%s': degraded: %u slot%s without a master, %u master%s not answering",
			     o->where, uncovered, uncovered == 1 ? "" : "s", down, down == 1 ? "" : "s");
		return FS_ERR;
	}
	return 0;
}

/* The key of a named record: every one of the project's in one slot. */
static char *meta_key(const struct fs_online *o, const char *name)
{
	return xstrfmt("fs:{%s}:@%s", o->project, name);
}

static int rcs_meta_change(struct fs_online *o, const struct fs_meta_change *ch, size_t n)
{
	struct rcs *s = o->state;
	struct cmds c = { 0 };
	char nkeys[32];
	size_t i;
	int rc;

	if (!n)
		return 0;
	cmds_start(&c);
	cmds_word(&c, "EVALSHA", 7);
	cmds_word(&c, s->change_sha, strlen(s->change_sha));
	cmds_word(&c, nkeys, (size_t)snprintf(nkeys, sizeof(nkeys), "%zu", n));
	c.keyw[0] = c.nw;
	for (i = 0; i < n; i++) {
		char *k = meta_key(o, ch[i].name);
		cmds_word(&c, k, strlen(k));
		free(k);
	}
	for (i = 0; i < n; i++) {
		const char *e = ch[i].expect;
		if (!e)
			cmds_word(&c, "-", 1);
		else if (e == FS_META_ANY)
			cmds_word(&c, "*", 1);
		else
			cmds_word3(&c, "=", 1, e, strlen(e), NULL, 0);
		if (ch[i].val)
			cmds_word3(&c, "=", 1, ch[i].val, strlen(ch[i].val), NULL, 0);
		else
			cmds_word(&c, "-", 1);
	}
	cmds_end(&c);
	/*
	 * not sent again after a broken connection: done twice it would say
	 * conflict for its own change (the caller finds out by reading)
	 */
	exec(o, &c, false);
	if (!(rc = check_replies(o, &c, "cannot write")) &&
	    c.cmd[0].reply->type != REDIS_REPLY_INTEGER)
		rc = fail(o, "cannot write", c.cmd[0].reply);
	if (!rc && !c.cmd[0].reply->integer)
		rc = FS_ECONFLICT;
	cmds_release(&c);
	return rc;
}

static void rcs_mark(struct fs_online *o, const char *id, const char *live)
{
	struct rcs *s = o->state;

	free(s->mark);
	free(s->mark_live);
	s->mark = id ? xstrdup(id) : NULL;
	s->mark_live = id && live ? meta_key(o, live) : NULL;
	s->mark_calls = s->mark_chunks = 0;
}

/*
 * The markers the intents applied here left expire a minute from now,
 * not in 7 days: another process applying the same intent checked that it
 * was not settled before each step, and finds them still.
 */
static int rcs_forget_marks(struct fs_online *o)
{
	struct rcs *s = o->state;
	struct cmds c = { 0 };
	size_t i;
	int rc = 0;

	for (i = 0; i < s->nmarks; i++) {
		const char *w[3] = { "PEXPIRE", s->marks[i], SETTLED_MARK_MS };
		cmds_add(&c, 3, w, NULL);
	}
	if (s->nmarks)
		rc = run(o, &c, "cannot expire markers");
	cmds_release(&c);
	for (i = 0; i < s->nmarks; i++)
		free(s->marks[i]);
	s->nmarks = 0;
	return rc;
}

static int rcs_meta_get(struct fs_online *o, const char *name, struct strbuf *val, bool *found)
{
	struct cmds c = { 0 };
	char *k = meta_key(o, name);
	const char *w[2] = { "GET", k };
	int rc = 0;

	cmds_add(&c, 2, w, NULL);
	if ((rc = run(o, &c, "cannot read"))) {
		/* said */
	} else if (c.cmd[0].reply->type == REDIS_REPLY_STRING) {
		*found = true;
		sb_add(val, c.cmd[0].reply->str, c.cmd[0].reply->len);
	}
	cmds_release(&c);
	free(k);
	return rc;
}

static int rcs_meta_put(struct fs_online *o, const char *name, const char *val)
{
	struct cmds c = { 0 };
	char *k = meta_key(o, name);
	const char *w[3] = { "SET", k, val };
	int rc;

	cmds_add(&c, 3, w, NULL);
	rc = run(o, &c, "cannot write");
	cmds_release(&c);
	free(k);
	return rc;
}

/* The keys matching pattern on the master of slot, into keys; FS_ERR when it fails. */
static int scan_slot(struct fs_online *o, unsigned slot, const char *pattern, struct fs_keymap *keys)
{
	struct rcs *s = o->state;
	char cursor[32] = "0";
	redisContext *c;
	const char *name;
	size_t i;
	int rc;

	if ((rc = fs_rc_master_of(s->rc, slot, &c, &name)))
		return rc;
	do {
		redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
			fs_error_set("online store '%s': %s: cannot scan: %s", o->where, name,
				     r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
			freeReplyObject(r);
			return FS_ERR;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (i = 0; i < r->element[1]->elements; i++) {
			const redisReply *e = r->element[1]->element[i];
			if (e->type == REDIS_REPLY_STRING)
				fs_keymap_intern(keys, e->str, e->len);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0"));
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * The named records sit in one slot: SCAN on its master, then a GET
 * each. The scan starts again, after the map is read again, while that
 * master fails over (up to DEADLINE_MS); fn sees each record once.
 */
static int rcs_meta_list(struct fs_online *o, const char *prefix,
			 void (*fn)(void *ctx, const char *name, const char *val), void *ctx)
{
	struct rcs *s = o->state;
	char *head = meta_key(o, ""), *pattern = xstrfmt("%s%s*", head, prefix);
	unsigned slot = fs_rc_slot(head, strlen(head));
	int64_t deadline = mono_ms() + DEADLINE_MS;
	struct fs_keymap *keys = NULL;
	struct cmds c = { 0 };
	size_t i, n, hlen = strlen(head);
	int rc;

	for (;;) {
		fs_keymap_free(keys);
		keys = fs_keymap_new();
		if (!(rc = scan_slot(o, slot, pattern, keys)) || mono_ms() > deadline)
			break;
		usleep(100 * 1000);
		fs_rc_refresh(s->rc); /* (a failure is seen by the next scan) */
	}
	n = rc ? 0 : fs_keymap_size(keys);
	for (i = 0; i < n; i++) {
		size_t len;
		const char *k = fs_keymap_key(keys, (uint32_t)i, &len);
		const char *w[2] = { "GET", k };
		size_t l[2] = { 3, len };
		cmds_add(&c, 2, w, l);
	}
	if (n && !(rc = run(o, &c, "cannot read"))) {
		for (i = 0; i < n; i++) {
			size_t len;
			const char *k = fs_keymap_key(keys, (uint32_t)i, &len);
			const redisReply *g = c.cmd[i].reply;
			if (g->type == REDIS_REPLY_STRING && len > hlen) {
				char *name = xstrndup(k + hlen, len - hlen);
				fn(ctx, name, g->str);
				free(name);
			}
		}
	}
	cmds_release(&c);
	fs_keymap_free(keys);
	free(head);
	free(pattern);
	return rc;
}

static void rcs_close(struct fs_online *o)
{
	struct rcs *s = o->state;

	size_t i;

	fs_rc_free(s->rc);
	for (i = 0; i < s->nmarks; i++)
		free(s->marks[i]);
	free(s->marks);
	free(s->mark);
	free(s->mark_live);
	free(s);
}

const struct fs_online_ops fs_online_redis_cluster_ops = {
	.type = "redis",
	.open = rcs_open,
	.write = rcs_write,
	.read = rcs_read,
	.drop = rcs_drop,
	.update = rcs_update,
	.count = rcs_count,
	.ping = rcs_ping,
	.meta_change = rcs_meta_change,
	.mark = rcs_mark,
	.forget_marks = rcs_forget_marks,
	.meta_get = rcs_meta_get,
	.meta_put = rcs_meta_put,
	.meta_list = rcs_meta_list,
	.close = rcs_close,
};
