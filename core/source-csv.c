/*
 * source-csv.c: csv sources: a repo-relative file or an http(s) URL
 * (downloaded to an anonymous temporary file first). The header row names
 * the columns; every row must have as many fields; an empty unquoted cell
 * is null.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv.h"
#include "error.h"
#include "fetch.h"
#include "source.h"
#include "util.h"
#include "banned.h"

struct csv_state {
	int fd;
	struct fs_csv *csv;
	struct fs_cell *cells;
};

static int csv_open(struct fs_source *src, const json_t *spec, const char *root)
{
	const char *path = json_string_value(json_object_get(spec, "path"));
	struct csv_state *st = xcalloc(1, sizeof(*st));
	const struct fs_csv_field *f;
	size_t n, i;
	int rc;

	src->state = st;
	src->what = xstrdup(path);
	if (starts_with(path, "http://") || starts_with(path, "https://")) {
		st->fd = fs_fetch_tmpfile(path);
		if (st->fd < 0)
			return FS_ERR;
	} else {
		char *full = path[0] == '/' ? xstrdup(path) : fs_path_join(root, path);
		st->fd = open(full, O_RDONLY | O_CLOEXEC);
		free(full);
		if (st->fd < 0) {
			fs_error_set("source '%s': cannot open '%s': %s", src->name, path,
				     strerror(errno));
			return FS_ERR;
		}
	}
	st->csv = fs_csv_from_fd(st->fd, src->what);
	rc = fs_csv_next(st->csv, &f, &n);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		fs_error_set("%s: empty file (a csv source needs a header row)", path);
		return FS_EINVALID;
	}
	src->columns = xcalloc(n, sizeof(char *));
	for (i = 0; i < n; i++)
		src->columns[i] = xstrndup(f[i].s, f[i].len);
	src->ncolumns = n;
	st->cells = xcalloc(n, sizeof(*st->cells));
	return 0;
}

static int csv_next(struct fs_source *src, const struct fs_cell **cells)
{
	struct csv_state *st = src->state;
	const struct fs_csv_field *f;
	size_t n, i;
	int rc = fs_csv_next(st->csv, &f, &n);

	if (rc <= 0)
		return rc;
	if (n != src->ncolumns) {
		fs_error_set("%s:%zu: expected %zu fields, found %zu", src->what,
			     fs_csv_line(st->csv), src->ncolumns, n);
		return FS_EINVALID;
	}
	for (i = 0; i < n; i++) {
		st->cells[i].s = f[i].s;
		st->cells[i].len = f[i].len;
		st->cells[i].null = !f[i].len && !f[i].quoted;
	}
	*cells = st->cells;
	return 1;
}

static void csv_where(struct fs_source *src, char *buf, size_t len)
{
	struct csv_state *st = src->state;
	snprintf(buf, len, "%s:%zu", src->what, fs_csv_line(st->csv));
}

static void csv_close(struct fs_source *src)
{
	struct csv_state *st = src->state;

	fs_csv_free(st->csv);
	if (st->fd >= 0)
		close(st->fd);
	free(st->cells);
	free(st);
}

const struct fs_source_ops fs_source_csv_ops = {
	"csv", csv_open, csv_next, csv_where, csv_close,
};
