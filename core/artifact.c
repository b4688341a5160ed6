#include "artifact.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fetch.h"
#include "util.h"
#include "banned.h"

static void to_hex(char *hex, const unsigned char *md, unsigned n)
{
	static const char digits[] = "0123456789abcdef";
	unsigned i;

	for (i = 0; i < n; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * n] = '\0';
}

void fs_sha256_hex(char hex[65], const void *data, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	to_hex(hex, md, n);
}

/* Copy from fd in to fd out (when out >= 0), hashing; size into *size. */
static int copy_hash(int in, int out, char hex[65], int64_t *size)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	char *buf = xmalloc(1 << 16);
	unsigned n = 0;
	int rc = 0;

	*size = 0;
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (;;) {
		ssize_t r = read(in, buf, 1 << 16), done = 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fs_error_set("cannot read artifact: %s", strerror(errno));
			rc = FS_ERR;
			break;
		}
		if (r == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)r);
		*size += r;
		while (out >= 0 && done < r) {
			ssize_t w = write(out, buf + done, (size_t)(r - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				fs_error_set("cannot write to the artifact store: %s", strerror(errno));
				rc = FS_ERR;
				goto done;
			}
			done += w;
		}
	}
done:
	EVP_DigestFinal_ex(ctx, md, &n);
	to_hex(hex, md, n);
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}

/*
 * Remove the temporary files of runs that died before renaming them
 * (tmp-<pid>-XXXXXX whose process is gone): a killed register-model
 * leaves nothing behind for long.
 */
static void clean_stale(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end, *path;
		struct stat st;
		long pid;

		if (strncmp(e->d_name, "tmp-", 4))
			continue;
		path = fs_path_join(dir, e->d_name);
		pid = strtol(e->d_name + 4, &end, 10);
		if (end != e->d_name + 4 && *end == '-' && pid > 0) {
			/* tmp-<pid>-...: stale once its process is gone */
			if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
				unlink(path);
		} else if (stat(path, &st) == 0 && st.st_mtime < time(NULL) - 3600) {
			unlink(path); /* tmp-XXXXXX of an older fs, an hour old */
		}
		free(path);
	}
	closedir(d);
}

int fs_artifact_store(struct fs_artifact *a, const char *store, const char *src)
{
	bool url = starts_with(src, "http://") || starts_with(src, "https://");
	char *tmp = NULL, *dir = NULL, *base = NULL;
	struct stat st;
	mode_t mask;
	int fd = -1, in = -1, rc = FS_ERR;

	memset(a, 0, sizeof(*a));
	if (url) {
		snprintf(a->uri, sizeof(a->uri), "%s", src);
	} else {
		char *abs = realpath(src, NULL);
		if (!abs || stat(abs, &st) < 0) {
			fs_error_set("cannot read artifact '%s': %s", src, strerror(errno));
			free(abs);
			return FS_ERR;
		}
		if (!S_ISREG(st.st_mode)) {
			fs_error_set("artifact '%s' is not a regular file (archive a directory first, e.g. with tar)",
				     src);
			free(abs);
			return FS_ERR;
		}
		snprintf(a->uri, sizeof(a->uri), "%s", abs);
		free(abs);
	}
	if (fs_mkdir_p(store, 0777) < 0 || !(base = realpath(store, NULL))) {
		fs_error_set("cannot create artifact store '%s': %s", store, strerror(errno));
		goto done;
	}
	/* the store's own path, no '..' or symlinks: what versions record */
	dir = fs_path_join(base, "sha256");
	if (fs_mkdir_p(dir, 0777) < 0) {
		fs_error_set("cannot create artifact store '%s': %s", dir, strerror(errno));
		goto done;
	}
	clean_stale(dir);
	tmp = xstrfmt("%s/tmp-%ld-XXXXXX", dir, (long)getpid());
	fd = mkstemp(tmp);
	/*
	 * mkstemp makes 0600: a stored artifact is readable by others when
	 * its source is (and the umask lets it), never more than 0644
	 */
	mask = umask(0);
	umask(mask);
	if (fd < 0 || fchmod(fd, (url || (st.st_mode & S_IROTH) ? 0644 : 0600) & ~mask) < 0) {
		fs_error_set("cannot write to artifact store '%s': %s", dir, strerror(errno));
		goto done;
	}
	if (url) {
		/* download, then hash what arrived */
		if (fs_fetch_to_fd(src, fd) || lseek(fd, 0, SEEK_SET) < 0 ||
		    copy_hash(fd, -1, a->sha256, &a->size))
			goto done;
	} else {
		in = open(a->uri, O_RDONLY | O_CLOEXEC);
		if (in < 0) {
			fs_error_set("cannot read artifact '%s': %s", src, strerror(errno));
			goto done;
		}
		if (copy_hash(in, fd, a->sha256, &a->size))
			goto done;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		fs_error_set("cannot write to artifact store: %s", strerror(errno));
		goto done;
	}
	fd = -1;
	{
		char *sub = xstrfmt("%s/%.2s", dir, a->sha256);
		fs_mkdir_p(sub, 0777);
		a->path = xstrfmt("%s/%s", sub, a->sha256);
		free(sub);
	}
	if (stat(a->path, &st) == 0) {
		unlink(tmp); /* the same content is already stored */
	} else if (rename(tmp, a->path) < 0) {
		fs_error_set("cannot store artifact '%s': %s", a->path, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	if (in >= 0)
		close(in);
	if (rc && tmp)
		unlink(tmp);
	if (rc) {
		free(a->path);
		a->path = NULL;
	}
	free(tmp);
	free(dir);
	free(base);
	return rc;
}

void fs_artifact_release(struct fs_artifact *a)
{
	free(a->path);
	a->path = NULL;
}
