/*
 * util.h: allocation wrappers that abort on exhaustion, small string
 * helpers, and the did-you-mean suggestion used by every "unknown X" error.
 */
#ifndef FS_UTIL_H
#define FS_UTIL_H

#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xstrfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvstrfmt(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Grow *arr (of *alloc elements of size elem) to hold at least n. */
void xgrow(void **arr, size_t *alloc, size_t n, size_t elem);
#define ALLOC_GROW(arr, n, alloc) xgrow((void **)&(arr), &(alloc), (n), sizeof(*(arr)))

bool starts_with(const char *s, const char *prefix);
bool ends_with(const char *s, const char *suffix);

/* Edit distance between a and b (Damerau-Levenshtein, adjacent swaps cost 1). */
int fs_edit_distance(const char *a, const char *b);
/*
 * The candidate closest to word, or NULL if none is close enough to be a
 * plausible typo. candidates is NULL-terminated when n is (size_t)-1.
 */
const char *fs_suggest(const char *word, const char *const *candidates, size_t n);

/* The longest name of a definition: names end up in lock file names, keys and metrics. */
#define FS_NAME_MAX 128

/* Names of definitions: [a-z_][a-z0-9_]* */
bool fs_is_valid_name(const char *s);
/* Project names: [A-Za-z0-9_-]+ */
bool fs_is_valid_project(const char *s);

/*
 * url with the password of its userinfo masked, for messages, logs and
 * HTTP bodies: "redis://:secret@h:6379/0" gives "redis://:***@h:6379/0",
 * "https://u:p@h/x" gives "https://u:***@h/x"; key=value DSNs mask
 * password=. Anything else is copied as it is. Caller frees.
 */
char *fs_url_redact(const char *url);

/* Join a and b with exactly one '/' between them. */
char *fs_path_join(const char *a, const char *b);
/* path as it is when absolute, else relative to root; caller frees. */
char *fs_path_resolve(const char *root, const char *path);
/* mkdir -p; returns 0 or -1 with errno. */
int fs_mkdir_p(const char *path, int mode);
/* Write data to path atomically (temp file in the same directory + rename). */
int fs_write_file_atomic(const char *path, const void *data, size_t len);
/*
 * For the crash tests (git's GIT_TEST_* convention): when the environment
 * variable FS_TEST_CRASH_AT names this point, the process kills itself
 * with SIGKILL right here, as a power cut or an OOM kill would;
 * "point#K" kills it the K-th time the point is reached.
 */
void fs_test_crash_point(const char *point);

#endif
