/*
 * online.h: the online store: for each feature view and entity key, the
 * latest feature values with their event and created timestamps.
 *
 * Backends (sqlite, redis) implement struct fs_online_ops; adding one adds
 * a file and a line in online.c's table. Every record of a view is written
 * with the view's schema (join keys and feature types): when it changes,
 * the view's old records are dropped before new ones are written, and reads
 * under a different schema find nothing, so stale data can never be
 * decoded with the wrong types.
 *
 * Writes are newest-wins: a record replaces the stored one only when its
 * (event timestamp, created timestamp) is not older.
 */
#ifndef FS_ONLINE_H
#define FS_ONLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "defs.h"
#include "strbuf.h"
#include "value.h"
#include "viewscan.h"

struct fs_online_rec {
	const void *key;
	size_t keylen;
	int64_t ts, created;
	const void *val; /* encoded values (fs_online_encode) */
	size_t vallen;
};

struct fs_online_hit {
	bool found;
	int64_t ts, created;
	char *val; /* malloc'd */
	size_t vallen;
};

struct fs_online;

/*
 * One named record's change in fs_online_meta_change: expect is the value
 * it must hold (NULL: it must not exist; FS_META_ANY: it must exist), val
 * the value it gets (NULL: it is deleted).
 */
struct fs_meta_change {
	const char *name, *expect, *val;
};
extern const char FS_META_ANY[];

/*
 * One record's change in fs_online_update. i is the record's index in the
 * keys asked for, or SIZE_MAX for another record of the view (update with
 * all). old is what is stored (found false when nothing). fn returns 0 with
 * out->ts, out->created, out->val, out->vallen set to write the new record
 * (out->key is ignored; val stays valid until fn is called again or the
 * update returns), 1 to delete the record (or leave it absent), or a
 * negative code to abandon the whole update (nothing written where the
 * backend is atomic).
 */
typedef int (*fs_online_update_fn)(void *ctx, const void *key, size_t keylen, size_t i,
				   const struct fs_online_hit *old, struct fs_online_rec *out);

struct fs_online_ops {
	const char *type;
	int (*open)(struct fs_online *o, const struct fs_config *cfg);
	/* all of recs in one batch (atomic where the backend can) */
	int (*write)(struct fs_online *o, const char *view, const char *schema,
		     const struct fs_online_rec *recs, size_t n, size_t *written);
	int (*read)(struct fs_online *o, const char *view, const char *schema,
		    const struct fs_online_rec *keys, size_t n, struct fs_online_hit *hits);
	int (*drop)(struct fs_online *o, const char *view);
	/*
	 * Read-modify-write (fs_online_update): for each of keys, and with
	 * FS_UPDATE_ALL for every other record of the view, fn decides the
	 * new record.
	 */
	int (*update)(struct fs_online *o, const char *view, const char *schema,
		      const struct fs_online_rec *keys, size_t n, unsigned flags,
		      fs_online_update_fn fn, void *ctx);
	int (*count)(struct fs_online *o, const char *view, const char *schema, int64_t *n);
	int (*ping)(struct fs_online *o);
	/* Optional: see fs_online_defer_maintenance and fs_online_maintain. */
	void (*defer_maintenance)(struct fs_online *o);
	int (*maintain)(struct fs_online *o);
	/* A batch (fs_online_begin): everything until commit in one atomic write. */
	int (*begin)(struct fs_online *o);
	int (*commit)(struct fs_online *o);
	void (*rollback)(struct fs_online *o);
	/*
	 * Optional, for a store without batches (begin NULL): see
	 * fs_online_meta_change and fs_online_mark.
	 */
	int (*meta_change)(struct fs_online *o, const struct fs_meta_change *c, size_t n);
	void (*mark)(struct fs_online *o, const char *id, const char *live);
	int (*forget_marks)(struct fs_online *o);
	/* Small named records of the store's own (stream positions). */
	int (*meta_get)(struct fs_online *o, const char *name, struct strbuf *val, bool *found);
	int (*meta_put)(struct fs_online *o, const char *name, const char *val);
	int (*meta_list)(struct fs_online *o, const char *prefix,
			 void (*fn)(void *ctx, const char *name, const char *val), void *ctx);
	void (*close)(struct fs_online *o);
};

struct fs_online {
	const struct fs_online_ops *ops;
	void *state;
	char *project;
	char *where; /* path or URL, for messages */
	bool in_batch; /* between fs_online_begin and commit or rollback */
	char *mark; /* fs_online_mark's id, while updates are marked */
};

/* Open the online store fs.yaml configures (sqlite by default). */
int fs_online_open(struct fs_online **out, const struct fs_config *cfg);
void fs_online_close(struct fs_online *o);

int fs_online_write(struct fs_online *o, const char *view, const char *schema,
		    const struct fs_online_rec *recs, size_t n, size_t *written);
int fs_online_read(struct fs_online *o, const char *view, const char *schema,
		   const struct fs_online_rec *keys, size_t n, struct fs_online_hit *hits);
void fs_online_hits_release(struct fs_online_hit *hits, size_t n);
int fs_online_drop(struct fs_online *o, const char *view);
/*
 * Change records by what they hold (the tiles of aggregation views): the
 * records of keys (and with FS_UPDATE_ALL, every other record of the view)
 * are read, passed to fn, and what fn returns is written, as one
 * transaction in SQLite; in Redis each record's read and write are atomic
 * together (WATCH/MULTI), the update as a whole is not (when fn abandons,
 * records committed before stay), and fn may be called again for a record
 * when a concurrent write forced a retry. A view stored under another
 * schema is dropped first, as by fs_online_write. Keys of keys must be
 * distinct.
 *
 * FS_UPDATE_GUARD: keys[0] is the view's guard record (an aggregation
 * view's meta record), fn writes it whenever it is asked for it, and every
 * change of the view's records is an update with this flag. Redis then
 * WATCHes the guard instead of every record (a WATCH costs Redis a scan of
 * the keys the connection watches already: a batch watching each of its
 * records is quadratic in the batch), and each transaction of the update
 * that does not write the guard writes it again as it was read, so that
 * every change of a record is a change of the guard. While the guard does
 * not exist, records are watched one by one as without the flag.
 */
#define FS_UPDATE_ALL 1u
#define FS_UPDATE_GUARD 2u
int fs_online_update(struct fs_online *o, const char *view, const char *schema,
		     const struct fs_online_rec *keys, size_t n, unsigned flags,
		     fs_online_update_fn fn, void *ctx);
int fs_online_count(struct fs_online *o, const char *view, const char *schema, int64_t *n);
int fs_online_ping(struct fs_online *o);

/*
 * A writer that commits often and must not stall (fs stream) defers the
 * store's housekeeping (SQLite: WAL checkpoints, with their syncs) to
 * fs_online_maintain, called every so often from another thread on a
 * connection of its own. Either does nothing where there is none.
 */
void fs_online_defer_maintenance(struct fs_online *o);
int fs_online_maintain(struct fs_online *o);

/*
 * A batch: the writes, updates and meta puts between fs_online_begin and
 * fs_online_commit are one atomic write, and what they read is what they
 * change (fs stream stores a batch's effects with its consumer position).
 * SQLite: one transaction (each write and update a savepoint in it).
 * Redis: every record read is WATCHed and the changes are sent as one
 * MULTI/EXEC at commit; until then reads see the store without them, so a
 * batch changes each record once (at most one write or update a view and
 * key). commit returns FS_ECONFLICT when a concurrent writer changed a
 * record the batch read: nothing was written, do the batch again.
 * rollback forgets it all. A view's change of schema is not part of the
 * batch (it drops the view's records at once).
 */
int fs_online_begin(struct fs_online *o);
int fs_online_commit(struct fs_online *o);
void fs_online_rollback(struct fs_online *o);
/*
 * A store without batches (a Redis Cluster: no transaction spans its
 * nodes) records a batch as an intent instead (fs stream, see stream.h):
 * fs_online_has_batches is false, and
 *
 * fs_online_meta_change changes named records (below) all at once, only
 * if each holds what c says it expects: 0, or FS_ECONFLICT with nothing
 * changed. All of a store's named records sit together (one slot).
 *
 * fs_online_mark(o, id, live): the updates (fs_online_update) until
 * fs_online_mark(o, NULL, NULL) are the steps of the intent id: each
 * step's write of a group of records leaves a marker naming the step, and
 * a step whose marker is there changes nothing, so that an intent applied
 * again (after a crash, or by another process at the same time) changes
 * every record once. The same steps come from the same calls in the same
 * order. Each step first checks that the named record live (the intent)
 * still exists: once it is gone (settled by another), an update fails
 * with FS_ECONFLICT, since the markers are going too. Markers last 7
 * days, or a minute after fs_online_forget_marks (called once the intent
 * is settled) for those the connection left: a step checked before the
 * intent was settled still finds them. Writes (fs_online_write) are not
 * marked: newest-wins is the same done twice.
 */
bool fs_online_has_batches(const struct fs_online *o);
int fs_online_meta_change(struct fs_online *o, const struct fs_meta_change *c, size_t n);
void fs_online_mark(struct fs_online *o, const char *id, const char *live);
int fs_online_forget_marks(struct fs_online *o);

/*
 * Named text records beside the views (name: [A-Za-z0-9_/.:-]). get and
 * put take part in a batch when one is open (get then guards the batch as
 * a record read does). list calls fn for each record whose name starts
 * with prefix, in no set order.
 */
int fs_online_meta_get(struct fs_online *o, const char *name, struct strbuf *val, bool *found);
int fs_online_meta_put(struct fs_online *o, const char *name, const char *val);
int fs_online_meta_list(struct fs_online *o, const char *prefix,
			void (*fn)(void *ctx, const char *name, const char *val), void *ctx);

/* The schema of a view: its join keys and feature types. Caller frees. */
char *fs_view_schema(const struct fs_defs *defs, const struct fs_object *view);

/* Encode one row's values (types[i] for values[i]) into out (reset first). */
void fs_online_encode(struct strbuf *out, const enum fs_type *types,
		      const struct fs_scan_value *values, size_t n);

/* Decode all n values of a record at once into out; false when malformed. */
bool fs_online_decode_all(const char *val, size_t len, size_t n, struct fs_scan_value *out);

/*
 * A connection to the Redis of url (redis://[[user]:password@]host[:port][/db]),
 * authenticated, its database selected (for the stream reader of
 * redis_stream sources).
 */
struct redisContext;
int fs_redis_connect(const char *url, struct redisContext **out);

/*
 * The parts of redis://[user:pass@]host[:port][/db] (port 6379, db 0 by
 * default; the strings allocated, user and pass NULL when absent);
 * FS_EINVALID naming the URL without its password.
 */
int fs_redis_parse_url(const char *url, char **host, int *port, char **user, char **pass, int *db);

extern const struct fs_online_ops fs_online_sqlite_ops;
extern const struct fs_online_ops fs_online_redis_cluster_ops;
extern const struct fs_online_ops fs_online_redis_ops;

#endif
