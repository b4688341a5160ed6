/*
 * online-redis.h: what the two Redis online stores (one server,
 * online-redis.c; a cluster, online-redis-cluster.c) share: the stored
 * record's form (8 bytes event time, 8 bytes created time, big-endian,
 * then the encoded values) and the newest-wins write script.
 */
#ifndef FS_ONLINE_REDIS_H
#define FS_ONLINE_REDIS_H

#include <hiredis/hiredis.h>
#include <stdint.h>

#include "online.h"

/*
 * KEYS: records, then the view's (or bucket's) counter; ARGV: their new
 * stored values. Each record is written unless the stored one is newer
 * (event time, then created time); the counter counts the records
 * created. Returns the records written.
 */
extern const char fs_redis_write_script[];

void fs_redis_put_be64(unsigned char *p, int64_t v);
int64_t fs_redis_get_be64(const unsigned char *p);

/* A stored record, reply e, into hit (its values copied); nothing when e holds none. */
void fs_redis_hit(const redisReply *e, struct fs_online_hit *hit);

/* "fs:<project>:@<name>": a record of the store's own */
char *fs_redis_meta_key(const struct fs_online *o, const char *name);

#endif
