#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"

static void oom(void)
{
	fputs("fatal: out of memory\n", stderr);
	abort();
}

/*
 * A block of many megabytes (malloc maps it on its own) is advised to the
 * kernel for transparent huge pages: the large arrays of a join are read
 * at random, and 2 MiB pages cut their TLB misses and page faults (what
 * glibc.malloc.hugetlb=1 does; Debian's kernels give huge pages only where
 * madvised). The advice covers the block's whole pages.
 */
#define BIG_BLOCK ((size_t)8 << 20)

static void *advise_big(void *p, size_t n)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo, hi;

	if (n < BIG_BLOCK)
		return p;
	lo = ((uintptr_t)p + page - 1) & ~(page - 1);
	hi = ((uintptr_t)p + n) & ~(page - 1);
	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_HUGEPAGE); /* advice: without it, small pages */
	return p;
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return advise_big(p, n);
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	size_t n;

	if (!p)
		oom();
	return __builtin_mul_overflow(nmemb, size, &n) ? p : advise_big(p, n);
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		oom();
	return p;
}

char *xvstrfmt(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	return s;
}

char *xstrfmt(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvstrfmt(fmt, ap);
	va_end(ap);
	return s;
}

void xgrow(void **arr, size_t *alloc, size_t n, size_t elem)
{
	size_t na;

	if (n <= *alloc)
		return;
	na = *alloc ? *alloc : 8;
	while (na < n)
		na *= 2;
	if (na > ((size_t)-1) / elem)
		oom();
	*arr = xrealloc(*arr, na * elem);
	*alloc = na;
}

bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

int fs_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	int *d, r;

	if (la > 256 || lb > 256)
		return 1000;
	d = xmalloc((la + 1) * (lb + 1) * sizeof(*d));
#define D(i, j) d[(i) * (lb + 1) + (j)]
	for (i = 0; i <= la; i++)
		D(i, 0) = (int)i;
	for (j = 0; j <= lb; j++)
		D(0, j) = (int)j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			int cost = a[i - 1] != b[j - 1];
			int v = D(i - 1, j) + 1;
			if (D(i, j - 1) + 1 < v)
				v = D(i, j - 1) + 1;
			if (D(i - 1, j - 1) + cost < v)
				v = D(i - 1, j - 1) + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    D(i - 2, j - 2) + 1 < v)
				v = D(i - 2, j - 2) + 1;
			D(i, j) = v;
		}
	}
	r = D(la, lb);
#undef D
	free(d);
	return r;
}

const char *fs_suggest(const char *word, const char *const *candidates, size_t n)
{
	const char *best = NULL;
	int best_d = 1000;
	size_t i;
	int limit;

	for (i = 0; n == (size_t)-1 ? candidates[i] != NULL : i < n; i++) {
		int d = fs_edit_distance(word, candidates[i]);
		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	/* A typo changes a few characters, not most of the word. */
	limit = (int)strlen(word) / 3 + 1;
	if (limit > 3)
		limit = 3;
	return best_d <= limit ? best : NULL;
}

bool fs_is_valid_name(const char *s)
{
	if (!*s || !((*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

bool fs_is_valid_project(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

char *fs_path_resolve(const char *root, const char *path)
{
	return path[0] == '/' ? xstrdup(path) : fs_path_join(root, path);
}

char *fs_path_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	if (!la)
		return xstrdup(b);
	while (*b == '/')
		b++;
	if (a[la - 1] == '/')
		return xstrfmt("%s%s", a, b);
	return xstrfmt("%s/%s", a, b);
}

int fs_mkdir_p(const char *path, int mode)
{
	char *p = xstrdup(path), *s;
	int rc = 0;

	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST) {
			rc = -1;
			goto done;
		}
		*s = '/';
	}
	if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST)
		rc = -1;
done:
	free(p);
	return rc;
}

int fs_write_file_atomic(const char *path, const void *data, size_t len)
{
	char *tmp = xstrfmt("%s.tmp.%ld", path, (long)getpid());
	const char *p = data;
	int fd, e;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		goto fail;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0)
		goto fail;
	free(tmp);
	return 0;
fail:
	e = errno;
	unlink(tmp);
	free(tmp);
	errno = e;
	return -1;
}

void fs_test_crash_point(const char *point)
{
	static long hits;
	const char *at = getenv("FS_TEST_CRASH_AT"), *hash;
	size_t len;

	if (!at)
		return;
	/* "point#K": the K-th time the point is reached */
	hash = strchr(at, '#');
	len = hash ? (size_t)(hash - at) : strlen(at);
	if (len == strlen(point) && !strncmp(at, point, len) && (!hash || ++hits == atol(hash + 1)))
		raise(SIGKILL);
}

char *fs_url_redact(const char *url)
{
	const char *scheme = strstr(url, "://"), *auth, *at, *colon, *end, *pw;

	if (scheme) {
		auth = scheme + 3;
		end = auth + strcspn(auth, "/?#");
		at = memchr(auth, '@', (size_t)(end - auth));
		/* the last '@' of the authority ends the userinfo */
		while (at && memchr(at + 1, '@', (size_t)(end - at - 1)))
			at = memchr(at + 1, '@', (size_t)(end - at - 1));
		if (!at)
			return xstrdup(url);
		colon = memchr(auth, ':', (size_t)(at - auth));
		if (!colon)
			return xstrdup(url); /* a user name alone */
		return xstrfmt("%.*s***%s", (int)(colon + 1 - url), url, at);
	}
	/* key=value connection strings: password=... up to the next space */
	if ((pw = strstr(url, "password="))) {
		const char *v = pw + 9, *e = v;
		if (*v == '\'') {
			for (e = v + 1; *e && *e != '\''; e++)
				if (*e == '\\' && e[1])
					e++;
			if (*e)
				e++;
		} else {
			e = v + strcspn(v, " \t");
		}
		return xstrfmt("%.*s***%s", (int)(v - url), url, e);
	}
	return xstrdup(url);
}
