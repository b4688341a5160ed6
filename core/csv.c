#include "csv.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

#define CSV_CHUNK (1024 * 1024)

/*
 * Records without quotes (the common case) are split in place in the read
 * buffer, 8 bytes at a time: fields point into it and are terminated by
 * overwriting the comma or line end. Records with a quote go through a
 * byte-at-a-time parser that copies the unescaped fields into row. The
 * buffer has CSV_PAD bytes after its capacity, so that the last 8-byte
 * load of the buffered input stays inside it.
 */
#define CSV_PAD 8

struct fs_csv {
	int fd; /* -1: everything is in buf already */
	const char *name;
	bool range;     /* bytes [off, end) of fd only, read with pread, no quotes */
	off_t off, end; /* off: the input offset of buf[len] */
	char *buf;
	size_t cap, pos, len;
	bool eof;
	bool started;
	size_t line, rec_line;
	struct strbuf row;
	size_t *offs;
	struct fs_csv_field *fields;
	size_t nalloc, falloc;
};

static struct fs_csv *csv_new(const char *name, size_t cap)
{
	struct fs_csv *c = xcalloc(1, sizeof(*c));
	c->name = name;
	c->line = 1;
	c->cap = cap;
	c->buf = xmalloc(cap + CSV_PAD);
	sb_init(&c->row);
	return c;
}

struct fs_csv *fs_csv_from_fd(int fd, const char *name)
{
	struct fs_csv *c = csv_new(name, CSV_CHUNK);
	c->fd = fd;
	return c;
}

struct fs_csv *fs_csv_from_mem(const char *data, size_t len, const char *name)
{
	struct fs_csv *c = csv_new(name, len + 1);
	memcpy(c->buf, data, len);
	c->len = len;
	c->off = (off_t)len;
	c->fd = -1;
	c->eof = true;
	return c;
}

struct fs_csv *fs_csv_from_fd_range(int fd, const char *name, off_t start, off_t end)
{
	struct fs_csv *c = csv_new(name, CSV_CHUNK);
	c->fd = fd;
	c->range = true;
	c->started = true; /* no BOM in the middle of a file */
	c->off = start;
	c->end = end;
	return c;
}

void fs_csv_free(struct fs_csv *c)
{
	if (!c)
		return;
	free(c->buf);
	sb_release(&c->row);
	free(c->offs);
	free(c->fields);
	free(c);
}

/* The longest record read (a binary or sparse file is one endless "line"). */
#define CSV_MAX_RECORD (64 << 20)

/* Read more input after what is buffered, keeping [pos, len). 1, 0 at end, -1 on error. */
static int read_more(struct fs_csv *c)
{
	ssize_t n;

	if (c->eof)
		return 0;
	if (c->pos) {
		memmove(c->buf, c->buf + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
	}
	if (c->cap - c->len < CSV_CHUNK / 4) {
		/* what is kept is one record: memory bounded by a record, not the file */
		if (c->len >= CSV_MAX_RECORD) {
			fs_error_set("%s:%zu: a record longer than %d MiB (not a CSV file?)", c->name,
				     c->rec_line, CSV_MAX_RECORD >> 20);
			return -1;
		}
		c->cap *= 2;
		c->buf = xrealloc(c->buf, c->cap + CSV_PAD);
	}
	if (c->range) {
		size_t want = c->cap - c->len - 1;
		if ((uintmax_t)(c->end - c->off) < want)
			want = (size_t)(c->end - c->off);
		do
			n = want ? pread(c->fd, c->buf + c->len, want, c->off) : 0;
		while (n < 0 && errno == EINTR);
		if (n > 0)
			c->off += n;
	} else {
		do
			n = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
		while (n < 0 && errno == EINTR);
		if (n > 0)
			c->off += n;
	}
	if (n < 0) {
		fs_error_set("%s: read error: %s", c->name, strerror(errno));
		return -1;
	}
	if (n == 0) {
		c->eof = true;
		return 0;
	}
	c->len += (size_t)n;
	return 1;
}

static void add_field(struct fs_csv *c, size_t i, const char *s, size_t len, bool quoted)
{
	if (i >= c->falloc)
		ALLOC_GROW(c->fields, i + 1, c->falloc);
	c->fields[i].s = s;
	c->fields[i].len = len;
	c->fields[i].quoted = quoted;
}

/* 8 bytes of s, the first in the lowest byte. */
static inline uint64_t load8(const char *s)
{
	uint64_t w;

	memcpy(&w, s, sizeof(w));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

#define ONES 0x0101010101010101ULL
#define LOW7 0x7f7f7f7f7f7f7f7fULL

/* 0x80 in each byte of w equal to the byte in each byte of c8, 0 elsewhere (exact). */
static inline uint64_t bytes_eq(uint64_t w, uint64_t c8)
{
	uint64_t t = w ^ c8;

	return ~(((t & LOW7) + LOW7) | t | LOW7);
}

/*
 * Split the record at pos when it holds no quote: 1 with its fields (it
 * ends at a line end, or at the end of the input when the input is all
 * read), 0 when its line end is not buffered yet, -1 when it holds a
 * quote. Nothing is changed unless 1.
 */
static int split_fast(struct fs_csv *c, size_t *out_n)
{
	char *b = c->buf, *p = b + c->pos, *end = b + c->len, *f = p, *e;
	size_t n = 0, i;

	for (;; p += 8) {
		uint64_t w, valid = ~0ULL, comma, nl, quote;

		if (p >= end) {
			if (!c->eof)
				return 0;
			e = end;
			break;
		}
		w = load8(p);
		if (end - p < 8)
			valid = (1ULL << (8 * (end - p))) - 1;
		comma = bytes_eq(w, ',' * ONES) & valid;
		nl = bytes_eq(w, '\n' * ONES) & valid;
		quote = bytes_eq(w, '"' * ONES) & valid;
		if (nl) {
			uint64_t before = (nl & -nl) - 1;
			comma &= before;
			quote &= before;
		}
		if (quote)
			return -1;
		for (; comma; comma &= comma - 1) {
			char *at = p + (__builtin_ctzll(comma) >> 3);
			if (n >= c->falloc)
				ALLOC_GROW(c->fields, n + 1, c->falloc);
			c->fields[n].s = f;
			c->fields[n++].len = (size_t)(at - f);
			f = at + 1;
		}
		if (nl) {
			e = p + (__builtin_ctzll(nl) >> 3);
			break;
		}
	}
	c->pos = (size_t)(e - b) + (e < end); /* past the line end */
	if (e > f && e[-1] == '\r')
		e--;
	if (n >= c->falloc)
		ALLOC_GROW(c->fields, n + 1, c->falloc);
	c->fields[n].s = f;
	c->fields[n++].len = (size_t)(e - f);
	for (i = 0; i < n; i++) {
		((char *)c->fields[i].s)[c->fields[i].len] = '\0';
		c->fields[i].quoted = false;
	}
	*out_n = n;
	return 1;
}

/* ---- the slow path, for records with quotes ---- */

static int slow_byte(struct fs_csv *c)
{
	if (c->pos == c->len) {
		int r;
		c->pos = c->len = 0; /* the slow path copies: nothing to keep */
		if ((r = read_more(c)) <= 0)
			return r < 0 ? -2 : -1;
	}
	return (unsigned char)c->buf[c->pos++];
}

static int end_field(struct fs_csv *c, size_t *nf, bool quoted)
{
	ALLOC_GROW(c->offs, *nf + 1, c->nalloc);
	add_field(c, *nf, NULL, 0, quoted);
	sb_addc(&c->row, '\0');
	c->offs[(*nf)++] = c->row.len;
	return 0;
}

static int parse_quoted_record(struct fs_csv *c, size_t *out_n)
{
	size_t nf = 0, i, start = 0, field_start = 0;
	bool quoted = false, in_quotes = false, after_quote = false;
	int ch;

	sb_reset(&c->row);
	for (;;) {
		ch = slow_byte(c);
		if (ch == -2)
			return FS_EINVALID;
		if (ch == -1) {
			if (in_quotes) {
				fs_error_set("%s:%zu: unterminated quoted field", c->name, c->rec_line);
				return FS_EINVALID;
			}
			end_field(c, &nf, quoted);
			break;
		}
		if (in_quotes) {
			if (ch == '"') {
				in_quotes = false;
				after_quote = true;
			} else {
				if (ch == '\n')
					c->line++;
				sb_addc(&c->row, (char)ch);
			}
			continue;
		}
		if (after_quote && ch == '"') {
			sb_addc(&c->row, '"');
			in_quotes = true;
			after_quote = false;
			continue;
		}
		if (ch == ',') {
			end_field(c, &nf, quoted);
			field_start = c->row.len;
			quoted = after_quote = false;
			continue;
		}
		if (ch == '\r' || ch == '\n') {
			if (ch == '\r') {
				int nx = slow_byte(c);
				if (nx == -2)
					return FS_EINVALID;
				if (nx != '\n' && nx != -1)
					c->pos--; /* a lone CR ends the record too */
			}
			c->line++;
			end_field(c, &nf, quoted);
			break;
		}
		if (after_quote) {
			fs_error_set("%s:%zu: unexpected character after closing quote in field %zu",
				     c->name, c->rec_line, nf + 1);
			return FS_EINVALID;
		}
		if (ch == '"') {
			if (c->row.len != field_start) {
				fs_error_set("%s:%zu: quote inside an unquoted field %zu", c->name,
					     c->rec_line, nf + 1);
				return FS_EINVALID;
			}
			quoted = in_quotes = true;
			continue;
		}
		sb_addc(&c->row, (char)ch);
	}
	for (i = 0; i < nf; i++) {
		c->fields[i].s = c->row.buf + start;
		c->fields[i].len = c->offs[i] - start - 1;
		start = c->offs[i];
	}
	*out_n = nf;
	return 1;
}

int fs_csv_next(struct fs_csv *c, const struct fs_csv_field **out, size_t *n)
{
	int r;

	if (!c->started) {
		c->started = true;
		while (c->len - c->pos < 3 && (r = read_more(c)) > 0)
			;
		if (c->fd >= 0 && !c->eof && c->len == 0 && (r = read_more(c)) < 0)
			return FS_EINVALID;
		if (c->len - c->pos >= 3 && !memcmp(c->buf + c->pos, "\xEF\xBB\xBF", 3))
			c->pos += 3;
	}
	for (;;) {
		c->rec_line = c->line;
		if (c->pos == c->len && c->eof)
			return 0;
		r = split_fast(c, n);
		if (r == 0) {
			if ((r = read_more(c)) < 0)
				return FS_EINVALID;
			continue;
		}
		if (r < 0) {
			if (c->range) {
				/* a quoted newline could have fooled the split: the caller reads the whole file */
				fs_error_set("%s: a quote in a split read", c->name);
				return FS_EINVALID;
			}
			/* the slow path reads on by itself */
			r = parse_quoted_record(c, n);
			if (r < 0)
				return r;
			*out = c->fields;
			return 1;
		}
		c->line++;
		if (*n == 1 && !c->fields[0].len)
			continue; /* a blank line */
		*out = c->fields;
		return 1;
	}
}

off_t fs_csv_offset(const struct fs_csv *c)
{
	return c->off - (off_t)(c->len - c->pos);
}

size_t fs_csv_line(const struct fs_csv *c)
{
	return c->rec_line;
}

int fs_csv_count_error(const char *name, size_t line, char *const *header, size_t ncols,
		       size_t n)
{
	if (n < ncols)
		fs_error_set("%s:%zu: %zu field%s, expected %zu: no value for column '%s'", name, line,
			     n, n == 1 ? "" : "s", ncols, header[n]);
	else
		fs_error_set("%s:%zu: %zu fields, expected %zu: field %zu has no column in the header",
			     name, line, n, ncols, ncols + 1);
	return FS_EINVALID;
}
