/*
 * lock.h: advisory whole-file locks (flock) that serialize writers of one
 * registry. The kernel drops the lock when the process dies, so a killed run
 * never leaves a stale lock behind.
 */
#ifndef FS_LOCK_H
#define FS_LOCK_H

#include <stdbool.h>
#include <stdint.h>

struct fs_lock;

/*
 * Who holds a lock, as its holder wrote it into the lock file: its pid and
 * when it took the lock (Unix seconds); 0 where the file does not say.
 */
struct fs_lock_holder {
	long pid;
	int64_t since;
};

/*
 * Take the exclusive lock on path (created if missing). With wait, block
 * until it is free; without, return FS_ELOCKED at once when it is held.
 * The lock file then holds "PID\nSINCE\n" for the next one to read.
 */
int fs_lock_acquire(struct fs_lock **out, const char *path, bool wait);
/*
 * fs_lock_acquire waiting, that first calls waiting(ctx, holder) once when
 * the lock is held by another process.
 */
int fs_lock_acquire_notify(struct fs_lock **out, const char *path,
			   void (*waiting)(void *ctx, const struct fs_lock_holder *holder),
			   void *ctx);
void fs_lock_release(struct fs_lock *lock);

#endif
