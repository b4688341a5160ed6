/*
 * strbuf.h: a growable NUL-terminated byte buffer (git's strbuf, trimmed).
 * buf is never NULL after sb_init; allocation failure aborts.
 */
#ifndef FS_STRBUF_H
#define FS_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t alloc;
};

#define STRBUF_INIT { NULL, 0, 0 }

void sb_init(struct strbuf *sb);
void sb_release(struct strbuf *sb);
void sb_grow(struct strbuf *sb, size_t extra);
void sb_add(struct strbuf *sb, const void *data, size_t len);
void sb_adds(struct strbuf *sb, const char *s);
void sb_addc(struct strbuf *sb, char c);
void sb_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
void sb_reset(struct strbuf *sb);
/* Hand the buffer to the caller (to free()), leaving sb empty. */
char *sb_detach(struct strbuf *sb);
/* Read a whole file; returns 0, or -1 with errno set. */
int sb_read_file(struct strbuf *sb, const char *path);
/* The buffer as a C string; "" for a buffer never written to. */
const char *sb_str(const struct strbuf *sb);

#endif
