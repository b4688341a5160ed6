#include "lock.h"

#include <errno.h>
#include <fcntl.h>
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
			close(fd);
			fs_error_set("'%s' is locked by another fs process", path);
			return FS_ELOCKED;
		}
		fs_error_set("cannot lock '%s': %s", path, strerror(errno));
		close(fd);
		return FS_ERR;
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
