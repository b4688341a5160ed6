/*
 * lock.h: advisory whole-file locks (flock) that serialize writers of one
 * registry. The kernel drops the lock when the process dies, so a killed run
 * never leaves a stale lock behind.
 */
#ifndef FS_LOCK_H
#define FS_LOCK_H

#include <stdbool.h>

struct fs_lock;

/*
 * Take the exclusive lock on path (created if missing). With wait, block
 * until it is free; without, return FS_ELOCKED at once when it is held.
 */
int fs_lock_acquire(struct fs_lock **out, const char *path, bool wait);
void fs_lock_release(struct fs_lock *lock);

#endif
