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
#include "strbuf.h"
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

/* <dir>/<2 hex>/<64 hex>: where the store keeps content of that sha256 */
static char *blob_path(const char *dir, const char *sha256)
{
	return xstrfmt("%s/%.2s/%s", dir, sha256, sha256);
}

/* A new temporary file in dir, of mode (less the umask); -1 with a message. */
static int tmp_open(const char *dir, mode_t mode, char **tmp)
{
	mode_t mask = umask(0);
	int fd;

	umask(mask);
	*tmp = xstrfmt("%s/tmp-%ld-XXXXXX", dir, (long)getpid());
	fd = mkstemp(*tmp);
	/* mkstemp makes 0600 */
	if (fd < 0 || fchmod(fd, mode & ~mask) < 0) {
		fs_error_set("cannot write to artifact store '%s': %s", dir, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(*tmp);
		}
		free(*tmp);
		*tmp = NULL;
		return -1;
	}
	return fd;
}

/*
 * Make the temporary file tmp (open as fd, closed here) the store's copy of
 * sha256; *path (when not NULL) gets where it is. The temporary is gone
 * whatever happens.
 */
static int tmp_commit(const char *dir, const char *tmp, int fd, const char *sha256, char **path)
{
	struct stat st;
	char *sub, *dst;

	if (fsync(fd) < 0 || close(fd) < 0) {
		fs_error_set("cannot write to artifact store: %s", strerror(errno));
		unlink(tmp);
		return FS_ERR;
	}
	sub = xstrfmt("%s/%.2s", dir, sha256);
	fs_mkdir_p(sub, 0777);
	free(sub);
	dst = blob_path(dir, sha256);
	if (stat(dst, &st) == 0) {
		unlink(tmp); /* the same content is already stored */
	} else if (rename(tmp, dst) < 0) {
		fs_error_set("cannot store artifact '%s': %s", dst, strerror(errno));
		unlink(tmp);
		free(dst);
		return FS_ERR;
	}
	if (path)
		*path = dst;
	else
		free(dst);
	return 0;
}

/* Copy the open file in into the store: its sha256 and size out. */
static int store_fd(const char *dir, int in, mode_t mode, char sha256[65], int64_t *size,
		    char **path)
{
	char *tmp = NULL;
	int fd = tmp_open(dir, mode, &tmp), rc;

	if (fd < 0)
		return FS_ERR;
	if (copy_hash(in, fd, sha256, size)) {
		close(fd);
		unlink(tmp);
		free(tmp);
		return FS_ERR;
	}
	rc = tmp_commit(dir, tmp, fd, sha256, path);
	free(tmp);
	return rc;
}

/* ---- directories ---- */

struct entry {
	char *rel;  /* path inside the tree */
	char *abs;  /* the file to read (a symlink's target) */
	bool exec;
	char sha256[65];
	int64_t size;
};

struct walk {
	const char *src;  /* as the user gave it, for messages */
	const char *root; /* realpath of the tree */
	struct entry *e;
	size_t n, alloc;
};

static void walk_add(struct walk *w, char *rel, const char *abs, bool exec)
{
	ALLOC_GROW(w->e, w->n + 1, w->alloc);
	memset(&w->e[w->n], 0, sizeof(w->e[w->n]));
	w->e[w->n].rel = rel;
	w->e[w->n].abs = xstrdup(abs);
	w->e[w->n].exec = exec;
	w->n++;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Collect the files under abs (rel inside the tree, "" for its top). */
static int walk_dir(struct walk *w, const char *abs, const char *rel)
{
	DIR *d = opendir(abs);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		fs_error_set("artifact '%s': cannot read directory '%s': %s", w->src,
			     *rel ? rel : ".", strerror(errno));
		return FS_ERR;
	}
	while (!rc && (errno = 0, de = readdir(d))) {
		char *cabs, *crel;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		cabs = fs_path_join(abs, de->d_name);
		crel = *rel ? xstrfmt("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		if (has_control(de->d_name)) {
			fs_error_set("artifact '%s': '%s' has a control character in its name",
				     w->src, crel);
			rc = FS_ERR;
		} else if (lstat(cabs, &st) < 0) {
			fs_error_set("artifact '%s': cannot read '%s': %s", w->src, crel,
				     strerror(errno));
			rc = FS_ERR;
		} else if (S_ISDIR(st.st_mode)) {
			rc = walk_dir(w, cabs, crel);
		} else if (S_ISREG(st.st_mode)) {
			walk_add(w, crel, cabs, st.st_mode & S_IXUSR);
			crel = NULL;
		} else if (S_ISLNK(st.st_mode)) {
			char *target = realpath(cabs, NULL);
			size_t rl = strlen(w->root);
			if (!target) {
				fs_error_set("artifact '%s': symlink '%s' is broken: %s", w->src, crel,
					     strerror(errno));
				rc = FS_ERR;
			} else if (strncmp(target, w->root, rl) || target[rl] != '/') {
				fs_error_set("artifact '%s': symlink '%s' points outside the directory (to '%s')",
					     w->src, crel, target);
				rc = FS_ERR;
			} else if (stat(target, &st) < 0 || !S_ISREG(st.st_mode)) {
				fs_error_set("artifact '%s': symlink '%s' points to %s (only symlinks to files are stored, as the file)",
					     w->src, crel,
					     S_ISDIR(st.st_mode) ? "a directory" : "a special file");
				rc = FS_ERR;
			} else {
				walk_add(w, crel, target, st.st_mode & S_IXUSR);
				crel = NULL;
			}
			free(target);
		} else {
			fs_error_set("artifact '%s': '%s' is a special file (%s), not allowed in an artifact",
				     w->src, crel,
				     S_ISFIFO(st.st_mode)   ? "a fifo"
				     : S_ISSOCK(st.st_mode) ? "a socket"
							    : "a device");
			rc = FS_ERR;
		}
		free(cabs);
		free(crel);
	}
	if (!rc && errno) {
		fs_error_set("artifact '%s': cannot read directory '%s': %s", w->src,
			     *rel ? rel : ".", strerror(errno));
		rc = FS_ERR;
	}
	closedir(d);
	return rc;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->rel, ((const struct entry *)b)->rel);
}

static void walk_release(struct walk *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		free(w->e[i].rel);
		free(w->e[i].abs);
	}
	free(w->e);
}

/* Store every file of the tree at a->uri, then its manifest. */
static int store_tree(struct fs_artifact *a, const char *dir, const char *src, mode_t mode)
{
	struct walk w = { src, a->uri, NULL, 0, 0 };
	struct strbuf m = STRBUF_INIT;
	char *tmp = NULL;
	size_t i;
	int fd, rc;

	if ((rc = walk_dir(&w, a->uri, "")))
		goto done;
	if (!w.n) {
		fs_error_set("artifact '%s': the directory holds no file", src);
		rc = FS_ERR;
		goto done;
	}
	qsort(w.e, w.n, sizeof(*w.e), entry_cmp);
	sb_adds(&m, "fs-manifest 1\n");
	for (i = 0; i < w.n; i++) {
		struct entry *e = &w.e[i];
		struct stat st;
		int in = open(e->abs, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);

		/* the walk saw a regular file: it must still be one */
		if (in < 0 || fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
			fs_error_set("artifact '%s': cannot read '%s': %s", src, e->rel,
				     in < 0 ? strerror(errno) : "no longer a regular file");
			if (in >= 0)
				close(in);
			rc = FS_ERR;
			goto done;
		}
		rc = store_fd(dir, in, mode, e->sha256, &e->size, NULL);
		close(in);
		if (rc)
			goto done;
		a->size += e->size;
		sb_addf(&m, "%s %lld %s %s\n", e->exec ? "100755" : "100644", (long long)e->size,
			e->sha256, e->rel);
	}
	fs_sha256_hex(a->sha256, m.buf, m.len);
	if ((fd = tmp_open(dir, mode, &tmp)) < 0) {
		rc = FS_ERR;
		goto done;
	}
	if (write(fd, m.buf, m.len) != (ssize_t)m.len) {
		fs_error_set("cannot write to the artifact store: %s", strerror(errno));
		close(fd);
		unlink(tmp);
		rc = FS_ERR;
		goto done;
	}
	rc = tmp_commit(dir, tmp, fd, a->sha256, &a->path);
done:
	free(tmp);
	sb_release(&m);
	walk_release(&w);
	return rc;
}

int fs_artifact_store(struct fs_artifact *a, const char *store, const char *src)
{
	bool url = starts_with(src, "http://") || starts_with(src, "https://");
	char *tmp = NULL, *dir = NULL, *base = NULL;
	struct stat st;
	mode_t mode = 0644;
	int fd = -1, in = -1, rc = FS_ERR;

	memset(a, 0, sizeof(*a));
	a->kind = "file";
	if (url) {
		snprintf(a->uri, sizeof(a->uri), "%s", src);
	} else {
		char *abs = realpath(src, NULL);
		if (!abs || stat(abs, &st) < 0) {
			fs_error_set("cannot read artifact '%s': %s", src, strerror(errno));
			free(abs);
			return FS_ERR;
		}
		if (S_ISDIR(st.st_mode)) {
			a->kind = "directory";
		} else if (!S_ISREG(st.st_mode)) {
			fs_error_set("artifact '%s' is not a regular file or a directory", src);
			free(abs);
			return FS_ERR;
		}
		if (strlen(abs) >= sizeof(a->uri)) {
			fs_error_set("artifact '%s': path too long", src);
			free(abs);
			return FS_ERR;
		}
		snprintf(a->uri, sizeof(a->uri), "%s", abs);
		free(abs);
		/*
		 * a stored artifact is readable by others when its source is
		 * (and the umask lets it), never more than 0644
		 */
		if (!(st.st_mode & S_IROTH))
			mode = 0600;
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
	if (!strcmp(a->kind, "directory")) {
		rc = store_tree(a, dir, src, mode);
		goto done;
	}
	if (!url) {
		in = open(a->uri, O_RDONLY | O_CLOEXEC);
		if (in < 0) {
			fs_error_set("cannot read artifact '%s': %s", src, strerror(errno));
			goto done;
		}
		rc = store_fd(dir, in, mode, a->sha256, &a->size, &a->path);
		goto done;
	}
	/* download, then hash what arrived */
	if ((fd = tmp_open(dir, mode, &tmp)) < 0)
		goto done;
	if (fs_fetch_to_fd(src, fd) || lseek(fd, 0, SEEK_SET) < 0 ||
	    copy_hash(fd, -1, a->sha256, &a->size)) {
		close(fd);
		unlink(tmp);
		goto done;
	}
	rc = tmp_commit(dir, tmp, fd, a->sha256, &a->path);
done:
	if (in >= 0)
		close(in);
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

/* ---- reading back ---- */

struct mentry {
	char *path;
	bool exec;
	int64_t size;
	char sha256[65];
};

struct manifest {
	struct strbuf text;
	struct mentry *e;
	size_t n, alloc;
};

static void manifest_release(struct manifest *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		free(m->e[i].path);
	free(m->e);
	sb_release(&m->text);
}

static bool is_hex64(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == '\0';
}

/* A relative path with no empty, '.' or '..' part. */
static bool is_safe_path(const char *p)
{
	const char *part = p;

	if (!*p || *p == '/' || has_control(p))
		return false;
	for (;;) {
		const char *slash = strchr(part, '/');
		size_t n = slash ? (size_t)(slash - part) : strlen(part);
		if (!n || (n == 1 && part[0] == '.') || (n == 2 && !strncmp(part, "..", 2)))
			return false;
		if (!slash)
			return true;
		part = slash + 1;
	}
}

/* Content of sha256 in the store, wholly read and checked. */
static int read_blob(struct strbuf *out, const char *dir, const char *sha256, const char *what)
{
	char *path = blob_path(dir, sha256), hex[65];
	size_t start = out->len;
	int rc = 0;

	if (sb_read_file(out, path) < 0) {
		fs_error_set("artifact store: %s '%s' is missing: %s", what, path, strerror(errno));
		rc = errno == ENOENT ? FS_ENOTFOUND : FS_ERR;
	} else {
		fs_sha256_hex(hex, out->buf + start, out->len - start);
		if (strcmp(hex, sha256)) {
			fs_error_set("artifact store: %s '%s' is corrupt (its sha256 is %s, not %s)",
				     what, path, hex, sha256);
			rc = FS_ERR;
		}
	}
	free(path);
	return rc;
}

static int manifest_load(struct manifest *m, const char *dir, const char *sha256)
{
	char *line, *next, *path = blob_path(dir, sha256);
	int rc;

	memset(m, 0, sizeof(*m));
	sb_init(&m->text);
	if ((rc = read_blob(&m->text, dir, sha256, "manifest")))
		goto done;
	line = m->text.buf;
	if (!starts_with(line, "fs-manifest 1\n"))
		goto bad;
	for (line += strlen("fs-manifest 1\n"); *line; line = next) {
		struct mentry e = { 0 };
		char *f[4], *end;
		int i;

		if (!(next = strchr(line, '\n')))
			goto bad;
		*next++ = '\0';
		for (i = 0; i < 3; i++) {
			f[i] = line;
			if (!(line = strchr(line, ' ')))
				goto bad;
			*line++ = '\0';
		}
		f[3] = line;
		if (strcmp(f[0], "100644") && strcmp(f[0], "100755"))
			goto bad;
		e.exec = !strcmp(f[0], "100755");
		errno = 0;
		e.size = strtoll(f[1], &end, 10);
		if (errno || *end || end == f[1] || e.size < 0 || !is_hex64(f[2]) ||
		    !is_safe_path(f[3]) || (m->n && strcmp(m->e[m->n - 1].path, f[3]) >= 0))
			goto bad;
		memcpy(e.sha256, f[2], 65);
		e.path = xstrdup(f[3]);
		ALLOC_GROW(m->e, m->n + 1, m->alloc);
		m->e[m->n++] = e;
	}
	goto done;
bad:
	fs_error_set("artifact store: manifest '%s' is malformed", path);
	rc = FS_ERR;
done:
	/* on error nothing for the caller to release */
	if (rc)
		manifest_release(m);
	free(path);
	return rc;
}

/* Copy content sha256 of the store into out, checking its hash and size. */
static int copy_verified(const char *dir, const char *sha256, int64_t want, int out,
			 const char *what)
{
	char *path = blob_path(dir, sha256), hex[65];
	int64_t size;
	int in = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (in < 0) {
		fs_error_set("artifact store: %s: '%s' is missing: %s", what, path, strerror(errno));
		rc = errno == ENOENT ? FS_ENOTFOUND : FS_ERR;
	} else if (!(rc = copy_hash(in, out, hex, &size)) &&
		   (strcmp(hex, sha256) || (want >= 0 && size != want))) {
		fs_error_set("artifact store: %s: '%s' is corrupt (its sha256 is %s, not %s)", what,
			     path, hex, sha256);
		rc = FS_ERR;
	}
	if (in >= 0)
		close(in);
	free(path);
	return rc;
}

/* rm -rf of what export wrote (nothing but files and directories). */
static void remove_tree(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (lstat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	if ((d = opendir(path))) {
		while ((de = readdir(d))) {
			char *c;
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			c = fs_path_join(path, de->d_name);
			remove_tree(c);
			free(c);
		}
		closedir(d);
	}
	rmdir(path);
}

static int write_tree(const char *dir, const char *sha256, const char *tmp)
{
	struct manifest m;
	mode_t mask = umask(0);
	size_t i;
	int rc;

	umask(mask);
	if ((rc = manifest_load(&m, dir, sha256)))
		return rc;
	for (i = 0; i < m.n && !rc; i++) {
		char *p = fs_path_join(tmp, m.e[i].path), *slash = strrchr(p, '/');
		int fd;

		*slash = '\0';
		if (fs_mkdir_p(p, 0777) < 0) {
			fs_error_set("cannot create '%s': %s", p, strerror(errno));
			free(p);
			rc = FS_ERR;
			break;
		}
		*slash = '/';
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, m.e[i].exec ? 0777 : 0666);
		if (fd < 0) {
			fs_error_set("cannot create '%s': %s", p, strerror(errno));
			rc = FS_ERR;
		} else {
			rc = copy_verified(dir, m.e[i].sha256, m.e[i].size, fd, m.e[i].path);
			/* the exec bit as recorded, whatever the umask left of it for the owner */
			if (!rc && m.e[i].exec)
				fchmod(fd, 0777 & ~mask);
			if (close(fd) < 0 && !rc) {
				fs_error_set("cannot write '%s': %s", p, strerror(errno));
				rc = FS_ERR;
			}
		}
		free(p);
	}
	manifest_release(&m);
	return rc;
}

int fs_artifact_export(const char *store, const char *kind, const char *sha256, const char *uri,
		       const char *dest, bool force)
{
	bool tree = !strcmp(kind, "directory"), url = uri && (starts_with(uri, "http://") ||
							      starts_with(uri, "https://"));
	char *dir = fs_path_join(store, "sha256"), *parent = xstrdup(dest), *slash, *tmp = NULL,
	     *trash = NULL, *blob = blob_path(dir, sha256);
	struct stat st;
	int rc = FS_ERR, fd = -1;

	if (lstat(dest, &st) == 0 && !force) {
		fs_error_set("'%s' already exists (use --force to replace it)", dest);
		rc = FS_EEXISTS;
		goto done;
	}
	slash = strrchr(parent, '/');
	if (slash)
		slash[slash == parent] = '\0';
	else
		snprintf(parent, strlen(parent) + 1, ".");
	if (tree) {
		tmp = xstrfmt("%s/.fs-tmp-%ld-XXXXXX", parent, (long)getpid());
		if (!mkdtemp(tmp)) {
			fs_error_set("cannot write in '%s': %s", parent, strerror(errno));
			free(tmp);
			tmp = NULL;
			goto done;
		}
		{
			mode_t mask = umask(0);
			umask(mask);
			chmod(tmp, 0777 & ~mask);
		}
		if ((rc = write_tree(dir, sha256, tmp)))
			goto done;
	} else {
		mode_t mask = umask(0);
		umask(mask);
		tmp = xstrfmt("%s/.fs-tmp-%ld-XXXXXX", parent, (long)getpid());
		if ((fd = mkstemp(tmp)) < 0 || fchmod(fd, 0666 & ~mask) < 0) {
			fs_error_set("cannot write in '%s': %s", parent, strerror(errno));
			if (fd < 0) {
				free(tmp);
				tmp = NULL;
			}
			goto done;
		}
		if (url && stat(blob, &st) < 0) {
			/* only hashed when registered: fetch it again, check it is the same */
			char hex[65];
			int64_t size;
			if (fs_fetch_to_fd(uri, fd) || lseek(fd, 0, SEEK_SET) < 0 ||
			    copy_hash(fd, -1, hex, &size)) {
				char *why = xstrdup(fs_error_last());
				fs_error_set("the artifact was not stored, only hashed, and cannot be fetched: %s",
					     why);
				free(why);
				rc = FS_ENOTFOUND;
				goto done;
			}
			if (strcmp(hex, sha256)) {
				fs_error_set("the artifact was not stored, only hashed, and '%s' has changed since (its sha256 is %s, not %s)",
					     uri, hex, sha256);
				rc = FS_ERR;
				goto done;
			}
		} else if ((rc = copy_verified(dir, sha256, -1, fd, "file"))) {
			goto done;
		}
		if (fsync(fd) < 0 || close(fd) < 0) {
			fd = -1;
			fs_error_set("cannot write '%s': %s", tmp, strerror(errno));
			rc = FS_ERR;
			goto done;
		}
		fd = -1;
	}
	/* into place: a file over a file at once; a directory by moving the old one aside */
	if (lstat(dest, &st) == 0 && (tree || S_ISDIR(st.st_mode))) {
		trash = xstrfmt("%s/.fs-old-%ld-XXXXXX", parent, (long)getpid());
		if (!mkdtemp(trash)) {
			fs_error_set("cannot write in '%s': %s", parent, strerror(errno));
			free(trash);
			trash = NULL;
			rc = FS_ERR;
			goto done;
		}
		{
			char *old = fs_path_join(trash, "old");
			if (rename(dest, old) < 0) {
				fs_error_set("cannot replace '%s': %s", dest, strerror(errno));
				free(old);
				rc = FS_ERR;
				goto done;
			}
			if (rename(tmp, dest) < 0) {
				fs_error_set("cannot write '%s': %s", dest, strerror(errno));
				rename(old, dest);
				free(old);
				rc = FS_ERR;
				goto done;
			}
			free(old);
		}
	} else if (rename(tmp, dest) < 0) {
		fs_error_set("cannot write '%s': %s", dest, strerror(errno));
		rc = FS_ERR;
		goto done;
	}
	free(tmp);
	tmp = NULL;
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	if (tmp)
		remove_tree(tmp);
	if (trash)
		remove_tree(trash);
	free(tmp);
	free(trash);
	free(blob);
	free(parent);
	free(dir);
	return rc;
}

int fs_artifact_open(int *out, int64_t *size, const char *store, const char *sha256)
{
	char *dir = fs_path_join(store, "sha256"), *path = blob_path(dir, sha256), hex[65];
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0) {
		fs_error_set("artifact store: '%s' is missing: %s", path, strerror(errno));
		rc = errno == ENOENT ? FS_ENOTFOUND : FS_ERR;
	} else if (!(rc = copy_hash(fd, -1, hex, size))) {
		if (strcmp(hex, sha256)) {
			fs_error_set("artifact store: '%s' is corrupt (its sha256 is %s, not %s)", path,
				     hex, sha256);
			rc = FS_ERR;
		} else if (lseek(fd, 0, SEEK_SET) < 0) {
			fs_error_set("artifact store: '%s': %s", path, strerror(errno));
			rc = FS_ERR;
		}
	}
	if (rc && fd >= 0)
		close(fd);
	else
		*out = fd;
	free(path);
	free(dir);
	return rc;
}

/* One ustar header block for a file of size bytes at path. */
static int tar_header(struct strbuf *out, const char *path, bool exec, int64_t size)
{
	char h[512];
	size_t len = strlen(path), split = 0, i;
	unsigned sum = 0;

	memset(h, 0, sizeof(h));
	if (len > 100) {
		/* prefix '/' name: the prefix at most 155 bytes, the name at most 100 */
		for (i = len - 1; i > 0; i--)
			if (path[i] == '/' && i <= 155 && len - i - 1 <= 100 && len - i - 1 > 0) {
				split = i;
				break;
			}
		if (!split) {
			fs_error_set("artifact path '%s' is too long for a tar archive", path);
			return FS_ERR;
		}
		memcpy(h + 345, path, split);
		memcpy(h, path + split + 1, len - split - 1);
	} else {
		memcpy(h, path, len);
	}
	snprintf(h + 100, 8, "%07o", exec ? 0755 : 0644);
	snprintf(h + 108, 8, "%07o", 0);
	snprintf(h + 116, 8, "%07o", 0);
	snprintf(h + 124, 12, "%011llo", (unsigned long long)size);
	snprintf(h + 136, 12, "%011o", 0);
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (i = 0; i < sizeof(h); i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	h[155] = ' ';
	sb_add(out, h, sizeof(h));
	return 0;
}

int fs_artifact_tar(struct strbuf *out, const char *store, const char *sha256)
{
	char *dir = fs_path_join(store, "sha256");
	static const char zero[1024];
	struct manifest m;
	size_t i, base = out->len;
	int rc;

	if ((rc = manifest_load(&m, dir, sha256))) {
		free(dir);
		return rc;
	}
	for (i = 0; i < m.n && !rc; i++) {
		size_t before;
		if ((rc = tar_header(out, m.e[i].path, m.e[i].exec, m.e[i].size)))
			break;
		before = out->len;
		if ((rc = read_blob(out, dir, m.e[i].sha256, m.e[i].path)))
			break;
		if ((int64_t)(out->len - before) != m.e[i].size) {
			fs_error_set("artifact store: '%s' has the wrong size", m.e[i].path);
			rc = FS_ERR;
			break;
		}
		if ((out->len - base) % 512)
			sb_add(out, zero, 512 - (out->len - base) % 512);
	}
	if (!rc)
		sb_add(out, zero, sizeof(zero));
	manifest_release(&m);
	free(dir);
	return rc;
}
