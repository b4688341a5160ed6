#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "util.h"
#include "banned.h"

void fs_diags_add(struct fs_diags *d, const char *file, int line, int col, const char *fmt, ...)
{
	struct fs_diag *g;
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	ALLOC_GROW(d->items, d->n + 1, d->alloc);
	g = &d->items[d->n++];
	g->file = file ? xstrdup(file) : NULL;
	g->line = line;
	g->col = col;
	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	g->msg = sb_detach(&sb);
}

static int cmp_diag(const void *a, const void *b)
{
	const struct fs_diag *x = a, *y = b;
	int c = strcmp(x->file ? x->file : "", y->file ? y->file : "");

	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x < y ? -1 : x > y;
}

void fs_diags_sort(struct fs_diags *d)
{
	if (d->n > 1)
		qsort(d->items, d->n, sizeof(*d->items), cmp_diag);
}

char *fs_diag_format(const struct fs_diag *g)
{
	if (g->file && g->line > 0 && g->col > 0)
		return xstrfmt("%s:%d:%d: %s", g->file, g->line, g->col, g->msg);
	if (g->file && g->line > 0)
		return xstrfmt("%s:%d: %s", g->file, g->line, g->msg);
	if (g->file)
		return xstrfmt("%s: %s", g->file, g->msg);
	return xstrdup(g->msg);
}

char *fs_diags_report(const struct fs_diags *d, const char *what)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; i < d->n; i++) {
		char *s = fs_diag_format(&d->items[i]);
		sb_addf(&sb, "%s: %s\n", d->n == 1 ? "fatal" : "error", s);
		free(s);
	}
	if (d->n > 1)
		sb_addf(&sb, "fatal: %zu errors in %s\n", d->n, what);
	return sb_detach(&sb);
}

void fs_diags_release(struct fs_diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->items[i].file);
		free(d->items[i].msg);
	}
	free(d->items);
	d->items = NULL;
	d->n = d->alloc = 0;
}
