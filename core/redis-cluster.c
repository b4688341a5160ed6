#include "redis-cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "online.h"
#include "util.h"
#include "banned.h"

struct rc_node {
	char *host;
	int port;
	char name[300]; /* host:port, as MOVED names it */
	redisContext *c;
};

struct fs_rc {
	struct rc_node *nodes;
	size_t nnodes, alloc;
	int slots[FS_RC_SLOTS]; /* the node serving each slot; -1: none known */
	char *user, *pass;
	char *where;
	struct fs_rc_stats stats;
};

unsigned fs_rc_slot(const char *key, size_t len)
{
	const unsigned char *p = (const unsigned char *)key;
	unsigned crc = 0;
	size_t i, s, e;

	/* a {tag}: the first '{' and the first '}' after it, with something between */
	for (s = 0; s < len && p[s] != '{'; s++)
		;
	if (s < len) {
		for (e = s + 1; e < len && p[e] != '}'; e++)
			;
		if (e < len && e > s + 1) {
			p += s + 1;
			len = e - s - 1;
		}
	}
	/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial 0 */
	for (i = 0; i < len; i++) {
		int b;
		crc ^= (unsigned)p[i] << 8;
		for (b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
		crc &= 0xffff;
	}
	return crc & (FS_RC_SLOTS - 1);
}

/* The node host:port, added when it is new. */
static int node_index(struct fs_rc *rc, const char *host, int port)
{
	char name[300];
	size_t i;

	snprintf(name, sizeof(name), "%s:%d", host, port);
	for (i = 0; i < rc->nnodes; i++)
		if (!strcmp(rc->nodes[i].name, name))
			return (int)i;
	ALLOC_GROW(rc->nodes, rc->nnodes + 1, rc->alloc);
	memset(&rc->nodes[rc->nnodes], 0, sizeof(rc->nodes[0]));
	rc->nodes[rc->nnodes].host = xstrdup(host);
	rc->nodes[rc->nnodes].port = port;
	memcpy(rc->nodes[rc->nnodes].name, name, sizeof(name));
	return (int)rc->nnodes++;
}

/* "host:port" (the last ':' splits, for IPv6) into a node; -1 when it is no address */
static int node_of_addr(struct fs_rc *rc, const char *addr, size_t len)
{
	char buf[300], *colon;
	long port;

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, addr, len);
	buf[len] = '\0';
	if (!(colon = strrchr(buf, ':')))
		return -1;
	*colon = '\0';
	port = strtol(colon + 1, NULL, 10);
	if (!buf[0] || port <= 0 || port > 65535)
		return -1;
	return node_index(rc, buf, (int)port);
}

static void node_close(struct rc_node *nd)
{
	if (nd->c)
		redisFree(nd->c);
	nd->c = NULL;
}

/* A connection to node i that works, made (and authenticated) when there is none. */
static int node_connect(struct fs_rc *rc, int i, char *err, size_t errlen)
{
	struct rc_node *nd = &rc->nodes[i];
	redisReply *r;

	if (nd->c && !nd->c->err)
		return 0;
	if (nd->c)
		rc->stats.reconnects++;
	node_close(nd);
	nd->c = redisConnectWithTimeout(nd->host, nd->port, (struct timeval){ 2, 0 });
	if (!nd->c || nd->c->err) {
		snprintf(err, errlen, "cannot connect to %.100s: %.100s", nd->name,
			 nd->c ? nd->c->errstr : "out of memory");
		node_close(nd);
		return FS_ERR;
	}
	redisSetTimeout(nd->c, (struct timeval){ 5, 0 });
	if (rc->pass) {
		r = rc->user ? redisCommand(nd->c, "AUTH %s %s", rc->user, rc->pass)
			     : redisCommand(nd->c, "AUTH %s", rc->pass);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "%.100s: authentication failed: %.100s", nd->name,
				 r ? r->str : nd->c->errstr);
			freeReplyObject(r);
			node_close(nd);
			return FS_ERR;
		}
		freeReplyObject(r);
	}
	return 0;
}

/* The map of CLUSTER SLOTS reply r, asked of node `from`, into rc->slots. */
static int load_map(struct fs_rc *rc, const redisReply *r, int from)
{
	int slots[FS_RC_SLOTS];
	size_t i;

	for (i = 0; i < FS_RC_SLOTS; i++)
		slots[i] = -1;
	for (i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i], *m;
		long long a, b, s;
		int node;
		if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
		    e->element[0]->type != REDIS_REPLY_INTEGER ||
		    e->element[1]->type != REDIS_REPLY_INTEGER ||
		    e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2)
			return FS_ERR;
		a = e->element[0]->integer;
		b = e->element[1]->integer;
		m = e->element[2];
		if (m->element[0]->type != REDIS_REPLY_STRING ||
		    m->element[1]->type != REDIS_REPLY_INTEGER || a < 0 || b >= FS_RC_SLOTS || a > b)
			return FS_ERR;
		/* an empty or unknown endpoint is the address the map was asked at */
		node = m->element[0]->len && strcmp(m->element[0]->str, "?")
			       ? node_index(rc, m->element[0]->str, (int)m->element[1]->integer)
			       : node_index(rc, rc->nodes[from].host, (int)m->element[1]->integer);
		for (s = a; s <= b; s++)
			slots[s] = node;
	}
	memcpy(rc->slots, slots, sizeof(slots));
	return 0;
}

int fs_rc_refresh(struct fs_rc *rc)
{
	char err[256] = "no node is known";
	size_t i, n = rc->nnodes;

	/* every node known, the ones that served slots first (they are the likeliest to answer) */
	for (i = 0; i < n; i++) {
		redisReply *r;
		int ok;
		if (node_connect(rc, (int)i, err, sizeof(err)))
			continue;
		r = redisCommand(rc->nodes[i].c, "CLUSTER SLOTS");
		if (!r) {
			snprintf(err, sizeof(err), "%.100s: %.100s", rc->nodes[i].name, rc->nodes[i].c->errstr);
			node_close(&rc->nodes[i]);
			continue;
		}
		if (r->type != REDIS_REPLY_ARRAY) {
			snprintf(err, sizeof(err), "%.100s: CLUSTER SLOTS: %.100s", rc->nodes[i].name,
				 r->type == REDIS_REPLY_ERROR ? r->str : "not a cluster map");
			freeReplyObject(r);
			continue;
		}
		ok = load_map(rc, r, (int)i) == 0;
		freeReplyObject(r);
		if (ok) {
			rc->stats.refreshes++;
			return 0;
		}
		snprintf(err, sizeof(err), "%.100s: CLUSTER SLOTS: a reply fs cannot read",
			 rc->nodes[i].name);
	}
	fs_error_set("online store '%s': cannot read the cluster's slot map: %s", rc->where, err);
	return FS_ERR;
}

int fs_rc_open(struct fs_rc **out, const char *const *seeds, size_t nseeds, const char *where)
{
	struct fs_rc *rc = xcalloc(1, sizeof(*rc));
	size_t i;
	int rc_;

	*out = NULL;
	rc->where = xstrdup(where);
	for (i = 0; i < FS_RC_SLOTS; i++)
		rc->slots[i] = -1;
	if (!nseeds) {
		fs_error_set("online store '%s': a cluster needs at least one seed node", where);
		fs_rc_free(rc);
		return FS_EINVALID;
	}
	for (i = 0; i < nseeds; i++) {
		char *host = NULL, *user = NULL, *pass = NULL;
		int port, db;
		if ((rc_ = fs_redis_parse_url(seeds[i], &host, &port, &user, &pass, &db))) {
			fs_rc_free(rc);
			return rc_;
		}
		if (db) {
			char *shown = fs_url_redact(seeds[i]);
			fs_error_set("online store '%s': seed '%s' names database %d; a cluster has only database 0",
				     where, shown, db);
			free(shown);
			free(host);
			free(user);
			free(pass);
			fs_rc_free(rc);
			return FS_EINVALID;
		}
		node_index(rc, host, port);
		if (pass && !rc->pass) {
			rc->user = user;
			rc->pass = pass;
			user = pass = NULL;
		}
		free(host);
		free(user);
		free(pass);
	}
	if ((rc_ = fs_rc_refresh(rc))) {
		fs_rc_free(rc);
		return rc_;
	}
	*out = rc;
	return 0;
}

void fs_rc_free(struct fs_rc *rc)
{
	size_t i;

	if (!rc)
		return;
	for (i = 0; i < rc->nnodes; i++) {
		node_close(&rc->nodes[i]);
		free(rc->nodes[i].host);
	}
	free(rc->nodes);
	free(rc->user);
	free(rc->pass);
	free(rc->where);
	free(rc);
}

const struct fs_rc_stats *fs_rc_stats(const struct fs_rc *rc)
{
	return &rc->stats;
}

const char *fs_rc_node_of(const struct fs_rc *rc, unsigned slot)
{
	int n = slot < FS_RC_SLOTS ? rc->slots[slot] : -1;
	return n < 0 ? NULL : rc->nodes[n].name;
}

/* A redirection in error reply r: 'M' (MOVED) or 'A' (ASK) with the node it names; 0: none. */
static int redirection(struct fs_rc *rc, const redisReply *r, int *node)
{
	const char *p;
	int kind;

	if (!r || r->type != REDIS_REPLY_ERROR)
		return 0;
	if (!strncmp(r->str, "MOVED ", 6))
		kind = 'M';
	else if (!strncmp(r->str, "ASK ", 4))
		kind = 'A';
	else
		return 0;
	/* MOVED <slot> <host>:<port> */
	p = strchr(r->str, ' ');
	p = p ? strchr(p + 1, ' ') : NULL;
	if (!p || (*node = node_of_addr(rc, p + 1, strlen(p + 1))) < 0)
		return 0;
	return kind;
}

/* Is error reply r one to wait out (a failover, a slot in migration)? */
static bool transient(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_ERROR &&
	       (!strncmp(r->str, "TRYAGAIN", 8) || !strncmp(r->str, "CLUSTERDOWN", 11) ||
		!strncmp(r->str, "LOADING", 7) || !strncmp(r->str, "MASTERDOWN", 10));
}

static void append(redisContext *c, const struct fs_rc_cmd *cmd)
{
	size_t k;

	if (cmd->ask_node >= 0)
		redisAppendCommand(c, "ASKING");
	if (cmd->n > 1)
		redisAppendCommand(c, "MULTI");
	for (k = 0; k < cmd->n; k++)
		redisAppendCommandArgv(c, cmd->argc[k], cmd->argv[k], cmd->argl[k]);
	if (cmd->n > 1)
		redisAppendCommand(c, "EXEC");
}

enum outcome { DONE, RETRY, RETRY_WAIT, BROKEN };

/*
 * Read the replies of cmd from c. DONE: cmd->reply is set (or cmd failed
 * for good, err set); RETRY: redirected, send again; RETRY_WAIT: send
 * again after a pause; BROKEN: the connection failed before the replies.
 */
static enum outcome read_cmd(struct fs_rc *rc, redisContext *c, struct fs_rc_cmd *cmd)
{
	redisReply *r = NULL, *redirect = NULL;
	bool wait = false;
	size_t k, nread = cmd->n > 1 ? cmd->n + 2 : 1;
	int kind, node;

	if (cmd->ask_node >= 0) {
		if (redisGetReply(c, (void **)&r) != REDIS_OK)
			return BROKEN;
		freeReplyObject(r);
	}
	for (k = 0; k < nread; k++) {
		if (redisGetReply(c, (void **)&r) != REDIS_OK) {
			freeReplyObject(redirect);
			return BROKEN;
		}
		if (!redirect && redirection(rc, r, &node)) {
			redirect = r; /* the command's, or a queued one's */
			continue;
		}
		if (k + 1 == nread && !redirect) {
			cmd->reply = r; /* the command's, or EXEC's */
			break;
		}
		/* MULTI's OK, a queued command's QUEUED (or why not), or EXEC's abort after a redirection */
		wait |= transient(r);
		freeReplyObject(r);
	}
	cmd->ask_node = -1;
	if (redirect) {
		kind = redirection(rc, redirect, &node);
		if (kind == 'M') {
			rc->slots[fs_rc_slot(cmd->key, cmd->keylen)] = node;
			rc->stats.moved++;
		} else {
			cmd->ask_node = node;
			rc->stats.ask++;
		}
		snprintf(cmd->err, sizeof(cmd->err), "%s", redirect->str);
		freeReplyObject(redirect);
		return RETRY;
	}
	if (wait || transient(cmd->reply)) {
		snprintf(cmd->err, sizeof(cmd->err), "%s", cmd->reply ? cmd->reply->str : "transient error");
		freeReplyObject(cmd->reply);
		cmd->reply = NULL;
		return RETRY_WAIT;
	}
	return DONE;
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int fs_rc_exec(struct fs_rc *rc, struct fs_rc_cmd *cmds, size_t n, int deadline_ms)
{
	bool *done = xcalloc(n ? n : 1, sizeof(bool));
	struct timespec t0;
	size_t i, left = n, j;
	long backoff = 10;
	int status = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		cmds[i].reply = NULL;
		cmds[i].err[0] = '\0';
		cmds[i].ask_node = -1;
	}
	while (left) {
		bool refresh = false, wait = false;
		size_t retried = 0;

		/* route: each command to its node (an ASK's node once) */
		for (i = 0; i < n; i++) {
			if (done[i])
				continue;
			cmds[i].node = cmds[i].ask_node >= 0
					       ? cmds[i].ask_node
					       : rc->slots[fs_rc_slot(cmds[i].key, cmds[i].keylen)];
			if (cmds[i].node < 0) {
				snprintf(cmds[i].err, sizeof(cmds[i].err), "no node serves slot %u",
					 fs_rc_slot(cmds[i].key, cmds[i].keylen));
				refresh = wait = true;
			}
		}
		/* send: every node's commands, written out before any reply is read */
		for (j = 0; j < rc->nnodes; j++) {
			char err[160];
			bool any = false;
			for (i = 0; i < n && !any; i++)
				any = !done[i] && cmds[i].node == (int)j;
			if (!any)
				continue;
			if (node_connect(rc, (int)j, err, sizeof(err))) {
				for (i = 0; i < n; i++)
					if (!done[i] && cmds[i].node == (int)j) {
						snprintf(cmds[i].err, sizeof(cmds[i].err), "%s", err);
						cmds[i].node = -1;
					}
				refresh = wait = true;
				continue;
			}
			for (i = 0; i < n; i++)
				if (!done[i] && cmds[i].node == (int)j)
					append(rc->nodes[j].c, &cmds[i]);
			{
				int wdone = 0;
				while (!wdone && redisBufferWrite(rc->nodes[j].c, &wdone) == REDIS_OK)
					;
			}
		}
		/* read, node by node, in the order sent */
		for (j = 0; j < rc->nnodes; j++) {
			bool broken = false;
			for (i = 0; i < n; i++) {
				enum outcome o;
				if (done[i] || cmds[i].node != (int)j)
					continue;
				o = broken ? BROKEN : read_cmd(rc, rc->nodes[j].c, &cmds[i]);
				if (o == BROKEN) {
					cmds[i].ask_node = -1;
					if (!broken)
						snprintf(cmds[i].err, sizeof(cmds[i].err), "connection to %.80s broke: %.60s",
							 rc->nodes[j].name,
							 rc->nodes[j].c->errstr[0] ? rc->nodes[j].c->errstr : "closed");
					else
						snprintf(cmds[i].err, sizeof(cmds[i].err), "connection to %.100s broke",
							 rc->nodes[j].name);
					broken = true;
					refresh = wait = true;
					/* sent, maybe done: only an idempotent command goes again */
					if (!cmds[i].idempotent) {
						done[i] = true;
						left--;
						status = FS_ERR;
					}
				} else if (o == DONE) {
					done[i] = true;
					left--;
				} else {
					refresh |= o == RETRY && cmds[i].ask_node < 0; /* MOVED: the map changed */
					wait |= o == RETRY_WAIT;
				}
				if (!done[i])
					retried++;
			}
			if (broken)
				node_close(&rc->nodes[j]);
		}
		/* the commands that never reached a node are retried too */
		for (i = 0; i < n; i++)
			if (!done[i] && cmds[i].node < 0)
				retried++;
		if (!left)
			break;
		rc->stats.retries += retried;
		if (elapsed_ms(&t0) > deadline_ms) {
			for (i = 0; i < n; i++)
				if (!done[i]) {
					done[i] = true;
					if (!cmds[i].err[0])
						snprintf(cmds[i].err, sizeof(cmds[i].err), "no answer in %d ms",
							 deadline_ms);
				}
			status = FS_ERR;
			break;
		}
		if (wait) {
			struct timespec ts = { 0, backoff * 1000000L };
			nanosleep(&ts, NULL);
			backoff = backoff * 2 > 200 ? 200 : backoff * 2;
		}
		if (refresh)
			fs_rc_refresh(rc); /* a failure keeps the map: the retries say what is wrong */
	}
	free(done);
	if (status) {
		for (i = 0; i < n; i++)
			if (!cmds[i].reply) {
				fs_error_set("online store '%s': %s", rc->where, cmds[i].err);
				break;
			}
	}
	return status;
}

int fs_rc_check(struct fs_rc *rc, unsigned *uncovered, unsigned *down)
{
	bool *seen;
	size_t i;
	int rc_ = fs_rc_refresh(rc);

	*uncovered = 0;
	*down = 0;
	if (rc_) {
		*uncovered = FS_RC_SLOTS;
		return rc_;
	}
	seen = xcalloc(rc->nnodes, sizeof(bool));
	for (i = 0; i < FS_RC_SLOTS; i++) {
		int nd = rc->slots[i];
		char err[160];
		redisReply *r;
		if (nd < 0) {
			(*uncovered)++;
			continue;
		}
		if (seen[nd])
			continue;
		seen[nd] = true;
		if (node_connect(rc, nd, err, sizeof(err))) {
			(*down)++;
			continue;
		}
		r = redisCommand(rc->nodes[nd].c, "PING");
		if (!r || r->type == REDIS_REPLY_ERROR) {
			(*down)++;
			if (!r)
				node_close(&rc->nodes[nd]);
		}
		freeReplyObject(r);
	}
	free(seen);
	return 0;
}

/* A connection to node nd of the map in *c, its host:port in *name. */
static int master_connect(struct fs_rc *rc, int nd, redisContext **c, const char **name)
{
	char err[256];

	*name = rc->nodes[nd].name;
	if (node_connect(rc, nd, err, sizeof(err))) {
		fs_error_set("online store '%s': %s", rc->where, err);
		return FS_ERR;
	}
	*c = rc->nodes[nd].c;
	return 0;
}

int fs_rc_master_of(struct fs_rc *rc, unsigned slot, redisContext **c, const char **name)
{
	*c = NULL;
	*name = NULL;
	if (slot >= FS_RC_SLOTS || rc->slots[slot] < 0) {
		fs_error_set("online store '%s': no master serves slot %u", rc->where, slot);
		return FS_ERR;
	}
	return master_connect(rc, rc->slots[slot], c, name);
}

int fs_rc_master(struct fs_rc *rc, size_t i, redisContext **c, const char **name)
{
	bool *seen = xcalloc(rc->nnodes + 1, sizeof(bool));
	size_t s, k = 0;
	int nd = -1;

	*c = NULL;
	*name = NULL;
	/* the masters in the order their first slot comes, each once */
	for (s = 0; s < FS_RC_SLOTS; s++) {
		nd = rc->slots[s];
		if (nd < 0 || seen[nd])
			continue;
		seen[nd] = true;
		if (k++ == i)
			break;
	}
	free(seen);
	if (s == FS_RC_SLOTS)
		return FS_ENOTFOUND;
	return master_connect(rc, nd, c, name);
}
