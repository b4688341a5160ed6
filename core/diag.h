/*
 * diag.h: a list of positioned diagnostics, so that validation can report
 * every problem at once ("file:line:col: message") rather than the first.
 */
#ifndef FS_DIAG_H
#define FS_DIAG_H

#include <stddef.h>

struct fs_diag {
	char *file; /* repo-relative; may be NULL for messages with no place */
	int line;   /* 1-based; 0 when unknown */
	int col;    /* 1-based; 0 when unknown */
	char *msg;
};

struct fs_diags {
	struct fs_diag *items;
	size_t n, alloc;
};

void fs_diags_add(struct fs_diags *d, const char *file, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Sort by file, line, column (stable for equal places). */
void fs_diags_sort(struct fs_diags *d);
/* "file:line:col: msg" (fewer parts when unknown); caller frees. */
char *fs_diag_format(const struct fs_diag *diag);
/*
 * What a command prints when validation fails: one problem is
 * "fatal: file:line:col: msg"; several are an "error: ..." line each, then
 * "fatal: N errors in WHAT". Every line ends in a newline; caller frees.
 */
char *fs_diags_report(const struct fs_diags *d, const char *what);
void fs_diags_release(struct fs_diags *d);

#endif
