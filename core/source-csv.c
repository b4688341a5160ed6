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
#include <sys/stat.h>
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
	src->what = fs_url_redact(path); /* for messages: never a password */
	if (starts_with(path, "http://") || starts_with(path, "https://")) {
		st->fd = fs_fetch_tmpfile(path);
		if (st->fd < 0)
			return FS_ERR;
	} else {
		char *full = fs_path_resolve(root, path);
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
		fs_error_set("%s: empty file (a csv source needs a header row)", src->what);
		return FS_EINVALID;
	}
	src->columns = xcalloc(n, sizeof(char *));
	for (i = 0; i < n; i++)
		src->columns[i] = xstrndup(f[i].s, f[i].len);
	src->ncolumns = n;
	st->cells = xcalloc(n, sizeof(*st->cells));
	/* a column twice: which one a name means would be a guess */
	for (i = 1; i < n; i++) {
		size_t j;
		for (j = 0; j < i; j++) {
			if (!strcmp(src->columns[i], src->columns[j])) {
				fs_error_set("%s:1: column '%s' is in the header twice (fields %zu and %zu)",
					     src->what, src->columns[i], j + 1, i + 1);
				return FS_EINVALID;
			}
		}
	}
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
	if (n != src->ncolumns)
		return fs_csv_count_error(src->what, fs_csv_line(st->csv), src->columns,
					  src->ncolumns, n);
	for (i = 0; i < n; i++) {
		st->cells[i].s = f[i].s;
		st->cells[i].len = f[i].len;
		st->cells[i].null = !f[i].len && !f[i].quoted;
	}
	*cells = st->cells;
	return 1;
}

/* The offset just past the first line end at or after at, or -1 (none before end). */
static off_t line_end_after(int fd, off_t at, off_t end)
{
	char buf[65536], *nl;
	ssize_t n;

	while (at < end) {
		n = pread(fd, buf, sizeof(buf), at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if ((nl = memchr(buf, '\n', (size_t)n)))
			return at + (nl - buf) + 1;
		at += n;
	}
	return -1;
}

static int csv_split(struct fs_source *src, struct fs_source **second)
{
	struct csv_state *st = src->state, *st2;
	struct fs_source *s2;
	struct stat sb;
	off_t start, mid, cut;
	size_t i;
	int fd2;

	*second = NULL;
	if (fstat(st->fd, &sb) || !S_ISREG(sb.st_mode))
		return 1;
	start = fs_csv_offset(st->csv);
	if (sb.st_size - start < 2)
		return 1;
	mid = start + (sb.st_size - start) / 2;
	cut = line_end_after(st->fd, mid - 1, sb.st_size);
	if (cut <= start || cut >= sb.st_size)
		return 1;
	if ((fd2 = dup(st->fd)) < 0)
		return 1;
	fs_csv_free(st->csv);
	st->csv = fs_csv_from_fd_range(st->fd, src->what, start, cut);
	st2 = xcalloc(1, sizeof(*st2));
	st2->fd = fd2;
	st2->cells = xcalloc(src->ncolumns + 1, sizeof(*st2->cells));
	s2 = xcalloc(1, sizeof(*s2));
	s2->ops = src->ops;
	s2->state = st2;
	s2->name = xstrdup(src->name);
	s2->what = xstrdup(src->what);
	s2->columns = xcalloc(src->ncolumns + 1, sizeof(char *));
	for (i = 0; i < src->ncolumns; i++)
		s2->columns[i] = xstrdup(src->columns[i]);
	s2->ncolumns = src->ncolumns;
	st2->csv = fs_csv_from_fd_range(fd2, s2->what, cut, sb.st_size);
	*second = s2;
	return 0;
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

static const char *const csv_keys[] = { "path", NULL };

static void csv_check_spec(const json_t *spec, fs_source_complain *complain, void *ctx)
{
	const char *path = json_string_value(json_object_get(spec, "path"));

	if (!path)
		complain(ctx, NULL, "missing 'path' (a csv source needs a file path or URL)");
	else if (!*path)
		complain(ctx, "path", "empty path");
}

/* The header row. */
static int csv_columns(const json_t *spec, const struct fs_data_access *data,
		       struct fs_source_columns *out, char **err, const char **at)
{
	const char *path = json_string_value(json_object_get(spec, "path"));
	struct strbuf buf = STRBUF_INIT;
	const struct fs_csv_field *f;
	struct fs_csv *csv = NULL;
	size_t n, i;
	int rc = 0, fd = -1;

	*at = "path";
	if (!path || !*path || strstr(path, "://"))
		return 1; /* reported with the spec, or checked when read */
	if (data->read && !data->read(data->ctx, path, &buf)) {
		csv = fs_csv_from_mem(buf.buf, buf.len, path);
	} else {
		char *full = fs_path_resolve(data->root, path);
		fd = open(full, O_RDONLY | O_CLOEXEC);
		free(full);
		if (fd < 0) {
			*err = xstrfmt("file '%s' %s", path,
				       errno == ENOENT ? "does not exist" : strerror(errno));
			return -1;
		}
		csv = fs_csv_from_fd(fd, path);
	}
	rc = fs_csv_next(csv, &f, &n);
	if (rc < 0) {
		*err = xstrdup(fs_error_last());
		rc = -1;
	} else if (rc == 0) {
		*err = xstrfmt("file '%s' is empty (a csv source needs a header row)", path);
		rc = -1;
	} else {
		out->names = xcalloc(n, sizeof(char *));
		for (i = 0; i < n; i++)
			out->names[out->n++] = xstrndup(f[i].s, f[i].len);
		out->where = fs_url_redact(path);
		rc = 0;
		for (i = 1; i < n && !rc; i++) {
			size_t j;
			for (j = 0; j < i && !rc; j++) {
				if (!strcmp(out->names[i], out->names[j])) {
					*err = xstrfmt("file '%s': column '%s' is in the header twice (fields %zu and %zu)",
						       path, out->names[i], j + 1, i + 1);
					rc = -1;
				}
			}
		}
	}
	fs_csv_free(csv);
	if (fd >= 0)
		close(fd);
	sb_release(&buf);
	return rc;
}

const struct fs_source_ops fs_source_csv_ops = {
	.type = "csv",
	.keys = csv_keys,
	.check_spec = csv_check_spec,
	.columns = csv_columns,
	.local_file = fs_source_path_if_local,
	.open = csv_open,
	.next = csv_next,
	.where = csv_where,
	.close = csv_close,
	.split = csv_split,
};
