/*
 * redis-cluster.h: a Redis Cluster client over hiredis 0.14, which has
 * none: keys hashed to slots (CRC16, {hash tags}), the slot map read with
 * CLUSTER SLOTS, MOVED (the map read again) and ASK (ASKING, once)
 * redirections followed, a connection per master, and a batch of commands
 * sent pipelined to every node it touches before any reply is read, so a
 * batch costs one round trip per node, not per key.
 *
 * The online store's cluster mode (online-redis-cluster.c) is built on it.
 */
#ifndef FS_REDIS_CLUSTER_H
#define FS_REDIS_CLUSTER_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#define FS_RC_SLOTS 16384

struct fs_rc;

/* What the router did, for tests and the server's metrics. */
struct fs_rc_stats {
	unsigned long moved;     /* MOVED replies followed */
	unsigned long ask;       /* ASK replies followed */
	unsigned long refreshes; /* slot maps read */
	unsigned long retries;   /* commands sent again (redirection, broken connection, CLUSTERDOWN) */
	unsigned long reconnects; /* connections made again */
};

/*
 * One command of a batch, routed by key (its slot). With n > 1 its n
 * sub-commands run as one MULTI/EXEC on the key's node, and the reply is
 * EXEC's array; every key of them must hash to the same slot (use a hash
 * tag). idempotent: it may be sent again when a connection broke after it
 * was sent (a GET, a SET of a value); otherwise that fails it.
 */
struct fs_rc_cmd {
	const char *key;
	size_t keylen;
	size_t n;
	int *argc;
	const char ***argv;
	const size_t **argl;
	bool idempotent;
	redisReply *reply; /* set by fs_rc_exec (free with freeReplyObject); NULL: failed */
	char err[256];     /* why it failed, when reply is NULL */
	/* the router's own */
	int node, ask_node;
};

/* The slot of a key: CRC16 (XMODEM) of the key, or of its {hash tag}, mod 16384. */
unsigned fs_rc_slot(const char *key, size_t len);

/*
 * Connect to the cluster of the seed URLs (redis://[user:pass@]host:port,
 * every seed with the same credentials) and read its slot map from the
 * first seed that answers. where names the store in messages.
 */
int fs_rc_open(struct fs_rc **out, const char *const *seeds, size_t nseeds, const char *where);
void fs_rc_free(struct fs_rc *rc);

/*
 * Run the n commands: grouped by node, pipelined, every node's commands
 * sent before any reply is read; MOVED and ASK followed, broken
 * connections and CLUSTERDOWN/TRYAGAIN retried with a short backoff, for
 * up to about deadline_ms. Returns 0 when every command has a reply (an
 * error reply of Redis's own, such as WRONGTYPE, is a reply), FS_ERR when
 * some have none (their err says why; fs_error_last the first).
 */
int fs_rc_exec(struct fs_rc *rc, struct fs_rc_cmd *cmds, size_t n, int deadline_ms);

/* Read the slot map again. */
int fs_rc_refresh(struct fs_rc *rc);

/*
 * How the cluster answers now: the number of slots no master serves in
 * the map, after reading it again, and the masters that do not answer
 * PING (0 and 0: healthy).
 */
int fs_rc_check(struct fs_rc *rc, unsigned *uncovered, unsigned *down);

const struct fs_rc_stats *fs_rc_stats(const struct fs_rc *rc);

/*
 * The i-th master of the map (in slot order, each once): a connection to
 * it in *c, its host:port in *name. 0; FS_ENOTFOUND past the last master;
 * FS_ERR when it does not answer (fs_error_last says so). For what goes
 * to every master: SCAN, SCRIPT LOAD.
 */
int fs_rc_master(struct fs_rc *rc, size_t i, redisContext **c, const char **name);

/* Like fs_rc_master, for the master the map says serves slot. */
int fs_rc_master_of(struct fs_rc *rc, unsigned slot, redisContext **c, const char **name);

/* The node (host:port) the map says serves slot, or NULL. */
const char *fs_rc_node_of(const struct fs_rc *rc, unsigned slot);

#endif
