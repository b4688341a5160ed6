#include "csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

#define CSV_CHUNK (256 * 1024)

struct fs_csv {
	int fd; /* -1 for memory input */
	const char *name;
	char *buf; /* owned read buffer (fd input) */
	const char *data;
	size_t len, pos;
	bool eof;
	bool started;
	size_t line, rec_line;
	struct strbuf row; /* unescaped field bytes, NUL-separated */
	size_t *offs;
	struct fs_csv_field *fields;
	size_t nalloc, falloc;
};

static struct fs_csv *csv_new(const char *name)
{
	struct fs_csv *c = xcalloc(1, sizeof(*c));
	c->name = name;
	c->line = 1;
	sb_init(&c->row);
	return c;
}

struct fs_csv *fs_csv_from_fd(int fd, const char *name)
{
	struct fs_csv *c = csv_new(name);
	c->fd = fd;
	c->buf = xmalloc(CSV_CHUNK);
	c->data = c->buf;
	return c;
}

struct fs_csv *fs_csv_from_mem(const char *data, size_t len, const char *name)
{
	struct fs_csv *c = csv_new(name);
	c->fd = -1;
	c->data = data;
	c->len = len;
	c->eof = true;
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

/* Make at least one unread byte available; false at end of input. */
static int fill(struct fs_csv *c)
{
	ssize_t n;

	if (c->pos < c->len)
		return 1;
	if (c->eof)
		return 0;
	for (;;) {
		n = read(c->fd, c->buf, CSV_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (n < 0) {
		fs_error_set("%s: read error: %s", c->name, strerror(errno));
		return -1;
	}
	c->pos = 0;
	c->len = (size_t)n;
	if (n == 0)
		c->eof = true;
	return n > 0;
}

static void end_field(struct fs_csv *c, size_t *nf, bool quoted)
{
	ALLOC_GROW(c->offs, *nf + 1, c->nalloc);
	ALLOC_GROW(c->fields, *nf + 1, c->falloc);
	c->fields[*nf].quoted = quoted;
	sb_addc(&c->row, '\0');
	c->offs[++*nf - 1] = c->row.len;
}

int fs_csv_next(struct fs_csv *c, const struct fs_csv_field **out, size_t *n)
{
	size_t nf = 0, i, start;
	bool quoted = false, in_quotes = false, after_quote = false, any = false;
	int r;

	sb_reset(&c->row);
	if (!c->started) {
		c->started = true;
		if ((r = fill(c)) < 0)
			return FS_EINVALID;
		if (r && c->len - c->pos >= 3 && !memcmp(c->data + c->pos, "\xEF\xBB\xBF", 3))
			c->pos += 3;
	}
	c->rec_line = c->line;
	for (;;) {
		char ch;

		if ((r = fill(c)) < 0)
			return FS_EINVALID;
		if (!r) {
			if (in_quotes) {
				fs_error_set("%s:%zu: unterminated quoted field", c->name, c->rec_line);
				return FS_EINVALID;
			}
			if (!any)
				return 0;
			end_field(c, &nf, quoted);
			break;
		}
		if (in_quotes) {
			/* fast path: copy a run of ordinary bytes */
			const char *p = c->data + c->pos, *e = c->data + c->len, *q = p;
			while (q < e && *q != '"' && *q != '\n')
				q++;
			if (q > p) {
				sb_add(&c->row, p, (size_t)(q - p));
				c->pos += (size_t)(q - p);
				continue;
			}
			ch = c->data[c->pos++];
			if (ch == '\n') {
				c->line++;
				sb_addc(&c->row, ch);
			} else {
				in_quotes = false;
				after_quote = true;
			}
			continue;
		}
		ch = c->data[c->pos];
		if (after_quote && ch == '"') {
			/* "" inside a quoted field */
			c->pos++;
			sb_addc(&c->row, '"');
			in_quotes = true;
			after_quote = false;
			continue;
		}
		if (ch == ',') {
			c->pos++;
			end_field(c, &nf, quoted);
			quoted = after_quote = false;
			any = true;
			continue;
		}
		if (ch == '\n' || ch == '\r') {
			c->pos++;
			if (ch == '\r') {
				if ((r = fill(c)) < 0)
					return FS_EINVALID;
				if (r && c->data[c->pos] == '\n')
					c->pos++;
			}
			c->line++;
			if (!any && !nf && !c->row.len && !quoted) {
				/* blank line: skip it */
				c->rec_line = c->line;
				continue;
			}
			end_field(c, &nf, quoted);
			break;
		}
		if (after_quote) {
			fs_error_set("%s:%zu: unexpected character after closing quote in field %zu",
				     c->name, c->rec_line, nf + 1);
			return FS_EINVALID;
		}
		any = true;
		if (ch == '"') {
			c->pos++;
			if (c->row.len != (nf ? c->offs[nf - 1] : 0)) {
				fs_error_set("%s:%zu: quote inside an unquoted field %zu", c->name,
					     c->rec_line, nf + 1);
				return FS_EINVALID;
			}
			quoted = in_quotes = true;
			continue;
		}
		{
			const char *p = c->data + c->pos, *e = c->data + c->len, *q = p;
			while (q < e && *q != ',' && *q != '\n' && *q != '\r' && *q != '"')
				q++;
			sb_add(&c->row, p, (size_t)(q - p));
			c->pos += (size_t)(q - p);
		}
	}
	start = 0;
	for (i = 0; i < nf; i++) {
		c->fields[i].s = c->row.buf + start;
		c->fields[i].len = c->offs[i] - start - 1;
		start = c->offs[i];
	}
	*out = c->fields;
	*n = nf;
	return 1;
}

size_t fs_csv_line(const struct fs_csv *c)
{
	return c->rec_line;
}
