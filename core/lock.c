#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "util.h"
#include "banned.h"

struct fs_lock {
	int fd;
};

/* What the holder of fd's lock wrote: "PID\nSINCE\n" (older fs: "PID\n"). */
static void read_holder(int fd, struct fs_lock_holder *h)
{
	char buf[64];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	char *end;

	h->pid = 0;
	h->since = 0;
	if (n <= 0)
		return;
	buf[n] = '\0';
	h->pid = strtol(buf, &end, 10);
	if (end == buf || h->pid <= 0) {
		h->pid = 0;
		return;
	}
	if (*end == '\n')
		h->since = strtoll(end + 1, NULL, 10);
}

static int acquire(struct fs_lock **out, const char *path, bool wait,
		   void (*waiting)(void *ctx, const struct fs_lock_holder *holder), void *ctx)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	bool told = false;

	*out = NULL;
	if (fd < 0) {
		fs_error_set("cannot open lock file '%s': %s", path, strerror(errno));
		return FS_ERR;
	}
	/* without blocking first: whoever waits is told for whom, once */
	while (flock(fd, LOCK_EX | (wait && told ? 0 : LOCK_NB)) < 0) {
		struct fs_lock_holder h;
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK && wait) {
			read_holder(fd, &h);
			if (waiting)
				waiting(ctx, &h);
			told = true;
			continue;
		}
		if (errno == EWOULDBLOCK) {
			read_holder(fd, &h);
			close(fd);
			if (h.pid)
				fs_error_set("'%s' is locked by another fs process (pid %ld)", path, h.pid);
			else
				fs_error_set("'%s' is locked by another fs process", path);
			return FS_ELOCKED;
		}
		fs_error_set("cannot lock '%s': %s", path, strerror(errno));
		close(fd);
		return FS_ERR;
	}
	/* say who holds it and since when, for a run that would have to wait */
	if (ftruncate(fd, 0) == 0) {
		char who[64];
		int n = snprintf(who, sizeof(who), "%ld\n%lld\n", (long)getpid(),
				 (long long)time(NULL));
		if (pwrite(fd, who, (size_t)n, 0) < 0) {
			/* informative only */
		}
	}
	*out = xmalloc(sizeof(**out));
	(*out)->fd = fd;
	return 0;
}

int fs_lock_acquire(struct fs_lock **out, const char *path, bool wait)
{
	return acquire(out, path, wait, NULL, NULL);
}

int fs_lock_acquire_notify(struct fs_lock **out, const char *path,
			   void (*waiting)(void *ctx, const struct fs_lock_holder *holder),
			   void *ctx)
{
	return acquire(out, path, true, waiting, ctx);
}

void fs_lock_release(struct fs_lock *lock)
{
	if (!lock)
		return;
	flock(lock->fd, LOCK_UN);
	close(lock->fd);
	free(lock);
}
