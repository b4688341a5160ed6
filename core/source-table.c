/*
 * source-table.c: rows held in memory (a push request, a CSV read whole),
 * read like any other source, as many times as needed (rewind).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "source.h"
#include "util.h"
#include "banned.h"

struct table {
	struct strbuf arena;   /* cell texts, NUL-terminated */
	size_t *off;           /* nrows * ncols offsets into arena, or SIZE_MAX for null */
	size_t *len;
	size_t *line; /* where each row came from, 0 when unknown */
	size_t nrows, alloc_off, alloc_len, alloc_line;
	size_t cursor;
	struct fs_cell *cells;
};

static int tb_next(struct fs_source *src, const struct fs_cell **cells)
{
	struct table *t = src->state;
	size_t c;

	if (t->cursor >= t->nrows)
		return 0;
	for (c = 0; c < src->ncolumns; c++) {
		size_t i = t->cursor * src->ncolumns + c;
		t->cells[c].null = t->off[i] == SIZE_MAX;
		t->cells[c].s = t->cells[c].null ? "" : t->arena.buf + t->off[i];
		t->cells[c].len = t->cells[c].null ? 0 : t->len[i];
	}
	t->cursor++;
	*cells = t->cells;
	return 1;
}

static void tb_where(struct fs_source *src, char *buf, size_t len)
{
	struct table *t = src->state;
	size_t line = t->cursor ? t->line[t->cursor - 1] : 0;

	if (line)
		snprintf(buf, len, "%s:%zu", src->what, line);
	else /* rows without a line (a JSON df): their zero-based index */
		snprintf(buf, len, "%s row %zu", src->what, t->cursor ? t->cursor - 1 : 0);
}

static void tb_close(struct fs_source *src)
{
	struct table *t = src->state;

	sb_release(&t->arena);
	free(t->off);
	free(t->len);
	free(t->line);
	free(t->cells);
	free(t);
}

static const struct fs_source_ops table_ops = {
	"table", NULL, tb_next, tb_where, tb_close,
};

struct fs_source *fs_source_table_new(const char *name, const char *what,
				      const char *const *cols, size_t ncols)
{
	struct fs_source *src = xcalloc(1, sizeof(*src));
	struct table *t = xcalloc(1, sizeof(*t));
	size_t i;

	sb_init(&t->arena);
	src->ops = &table_ops;
	src->state = t;
	src->name = xstrdup(name);
	src->what = xstrdup(what);
	src->ncolumns = ncols;
	src->columns = xcalloc(ncols + 1, sizeof(char *));
	for (i = 0; i < ncols; i++)
		src->columns[i] = xstrdup(cols[i]);
	t->cells = xcalloc(ncols + 1, sizeof(*t->cells));
	return src;
}

void fs_source_table_add(struct fs_source *src, const struct fs_cell *cells, size_t line)
{
	struct table *t = src->state;
	size_t c, base = t->nrows * src->ncolumns;

	ALLOC_GROW(t->line, t->nrows + 1, t->alloc_line);
	t->line[t->nrows] = line;
	ALLOC_GROW(t->off, base + src->ncolumns, t->alloc_off);
	ALLOC_GROW(t->len, base + src->ncolumns, t->alloc_len);
	for (c = 0; c < src->ncolumns; c++) {
		if (cells[c].null) {
			t->off[base + c] = SIZE_MAX;
			t->len[base + c] = 0;
			continue;
		}
		t->off[base + c] = t->arena.len;
		t->len[base + c] = cells[c].len;
		sb_add(&t->arena, cells[c].s, cells[c].len);
		sb_addc(&t->arena, '\0');
	}
	t->nrows++;
}

void fs_source_table_rewind(struct fs_source *src)
{
	((struct table *)src->state)->cursor = 0;
}

