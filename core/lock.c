#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "error.h"
#include "util.h"
#include "banned.h"

struct fs_lock {
	int fd;
};

int fs_lock_acquire(struct fs_lock **out, const char *path, bool wait)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);

	*out = NULL;
	if (fd < 0) {
		fs_error_set("cannot open lock file '%s': %s", path, strerror(errno));
		return FS_ERR;
	}
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK) {
			char pid[32] = "";
			ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
			close(fd);
			if (n > 0) {
				pid[n] = '\0';
				pid[strcspn(pid, "\n")] = '\0';
			}
			if (n > 0 && *pid)
				fs_error_set("'%s' is locked by another fs process (pid %s)", path, pid);
			else
				fs_error_set("'%s' is locked by another fs process", path);
			return FS_ELOCKED;
		}
		fs_error_set("cannot lock '%s': %s", path, strerror(errno));
		close(fd);
		return FS_ERR;
	}
	/* say who holds it, for the message of a run that would have to wait */
	if (ftruncate(fd, 0) == 0) {
		char pid[32];
		int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
		if (pwrite(fd, pid, (size_t)n, 0) < 0) {
			/* the pid is informative only */
		}
	}
	*out = xmalloc(sizeof(**out));
	(*out)->fd = fd;
	return 0;
}

void fs_lock_release(struct fs_lock *lock)
{
	if (!lock)
		return;
	flock(lock->fd, LOCK_UN);
	close(lock->fd);
	free(lock);
}
