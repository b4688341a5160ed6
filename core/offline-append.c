/*
 * offline-append.c: pushed rows appended to a push source's batch source;
 * see offline-append.h for the contract.
 *
 * The rows are checked through a projection of the pushed table onto the
 * batch source's columns (absent ones null), read by fs_viewscan for every
 * view of the push source: the checks and messages of online push. Then
 * each backend stages them.
 *
 * A csv append and crashes. The rows go to the end of the file under an
 * exclusive flock of it (concurrent appends serialize), in one write loop,
 * then fsync. Two things keep a crash from leaving a torn line:
 *
 * - write(2) to a file is not atomic: a process killed (SIGKILL) inside it
 *   returns short, the kernel stopping between pages, which would leave a
 *   torn last line. So the write loop runs in a child process, which a kill
 *   of fs does not reach: it finishes the batch, and holds the lock (it
 *   shares the locked file description) until it has.
 * - Before the write, a journal next to the file (FILE.fs-journal) records
 *   the file's size; commit and abort remove it. A journal still there when
 *   the next append takes the lock is from an append that never committed
 *   (fs killed, the power cut, the child killed with its process group):
 *   its rows, whole or torn, are truncated away first, as SQLite and
 *   PostgreSQL roll back a transaction that never committed.
 *
 * So a crash between the write and commit leaves whole lines, which
 * readers see until the next append to the file takes them back.
 */
#include "offline-append.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agg.h"
#include "csv.h"
#include "error.h"
#include "pg.h"
#include "timeutil.h"
#include "unapplied.h"
#include "util.h"
#include "value.h"
#include "viewscan.h"
#include "banned.h"

enum backend { B_CSV, B_SQLITE, B_POSTGRES };

/* How a column's values are written. */
enum form {
	FORM_AS_IS,
	FORM_TIME, /* a timestamp: RFC 3339 UTC */
	FORM_UNIX, /* a timestamp in an integer column: Unix seconds */
};

struct column {
	char *name;
	enum form form;
	bool int_col;    /* an integer column: a timestamp goes in as Unix seconds */
	bool check;      /* values must be of type (a postgres column's type) */
	enum fs_type type;
	char *type_name; /* the column's own type, for messages; NULL in a csv file */
};

struct fs_offline_append {
	enum backend backend;
	char *source, *what;
	struct column *cols;
	size_t ncols, nrows;
	bool staged; /* something to commit or take back */
	/* csv */
	int fd;
	char *path, *journal;
	bool crlf;
	off_t size; /* before the append */
	/* sqlite */
	sqlite3 *db;
	/* postgres */
	struct fs_pg *pg;
};

/* ---- the pushed rows as the batch source's columns ---- */

struct projection {
	struct fs_source *rows;
	const int *map; /* batch column -> pushed column, or -1 */
	struct fs_cell *cells;
};

static int proj_next(struct fs_source *src, const struct fs_cell **cells)
{
	struct projection *p = src->state;
	const struct fs_cell *in;
	size_t j;
	int rc = fs_source_next(p->rows, &in);

	if (rc <= 0)
		return rc;
	for (j = 0; j < src->ncolumns; j++) {
		if (p->map[j] >= 0) {
			p->cells[j] = in[p->map[j]];
		} else {
			p->cells[j].s = "";
			p->cells[j].len = 0;
			p->cells[j].null = true;
		}
	}
	*cells = p->cells;
	return 1;
}

static void proj_where(struct fs_source *src, char *buf, size_t len)
{
	fs_source_where(((struct projection *)src->state)->rows, buf, len);
}

static void proj_close(struct fs_source *src)
{
	struct projection *p = src->state;

	free(p->cells);
	free(p);
}

static const struct fs_source_ops projection_ops = {
	.type = "projection",
	.next = proj_next,
	.where = proj_where,
	.close = proj_close,
};

/* Named and placed as rows (messages name the pushed rows), shaped as a's columns. */
static struct fs_source *projection_new(struct fs_source *rows, const struct fs_offline_append *a,
					const int *map)
{
	struct fs_source *src = xcalloc(1, sizeof(*src));
	struct projection *p = xcalloc(1, sizeof(*p));
	size_t j;

	p->rows = rows;
	p->map = map;
	p->cells = xcalloc(a->ncols + 1, sizeof(*p->cells));
	src->ops = &projection_ops;
	src->state = p;
	src->name = xstrdup(rows->name);
	src->what = xstrdup(rows->what);
	src->ncolumns = a->ncols;
	src->columns = xcalloc(a->ncols + 1, sizeof(char *));
	for (j = 0; j < a->ncols; j++)
		src->columns[j] = xstrdup(a->cols[j].name);
	return src;
}

static int column_index(const struct fs_offline_append *a, const char *name)
{
	size_t j;

	for (j = 0; j < a->ncols; j++)
		if (!strcmp(a->cols[j].name, name))
			return (int)j;
	return -1;
}

static void add_column(struct fs_offline_append *a, const char *name, const char *type_name)
{
	struct column *c;

	a->cols = xrealloc(a->cols, (a->ncols + 1) * sizeof(*a->cols));
	c = &a->cols[a->ncols++];
	memset(c, 0, sizeof(*c));
	c->name = xstrdup(name);
	c->type_name = type_name ? xstrdup(type_name) : NULL;
}

/* ---- the batch source: its columns ---- */

static int csv_open(struct fs_offline_append *a, const json_t *spec, const char *root)
{
	const char *path = json_string_value(json_object_get(spec, "path"));
	const struct fs_csv_field *f;
	struct fs_csv *csv;
	char end[2];
	size_t n, i;
	off_t off;
	int rc;

	a->what = xstrdup(path);
	if (!fs_source_path_if_local(spec)) {
		fs_error_set("source '%s' (%s): rows can only be appended to a local file, not a URL",
			     a->source, a->what);
		return FS_EINVALID;
	}
	a->path = fs_path_resolve(root, path);
	a->journal = xstrfmt("%s.fs-journal", a->path);
	a->fd = open(a->path, O_RDWR | O_CLOEXEC);
	if (a->fd < 0) {
		fs_error_set("source '%s': cannot open '%s' for writing: %s", a->source, path,
			     strerror(errno));
		return FS_ERR;
	}
	csv = fs_csv_from_fd(a->fd, a->what);
	rc = fs_csv_next(csv, &f, &n);
	if (rc == 0) {
		fs_error_set("%s: empty file (a csv source needs a header row)", a->what);
		rc = FS_EINVALID;
	}
	for (i = 0; rc > 0 && i < n; i++) {
		char *name = xstrndup(f[i].s, f[i].len);
		if (column_index(a, name) >= 0) {
			fs_error_set("%s:1: column '%s' is in the header twice", a->what, name);
			rc = FS_EINVALID;
		}
		add_column(a, name, NULL);
		free(name);
	}
	/* rows end as the header does */
	off = fs_csv_offset(csv);
	a->crlf = off >= 2 && pread(a->fd, end, 2, off - 2) == 2 && end[0] == '\r' && end[1] == '\n';
	fs_csv_free(csv);
	return rc < 0 ? rc : 0;
}

/* SQLite's rule for INTEGER affinity. */
static bool sqlite_int_affinity(const char *decl)
{
	return decl && strcasestr(decl, "int");
}

static int sqlite_open(struct fs_offline_append *a, const json_t *spec, const char *root)
{
	const char *path = json_string_value(json_object_get(spec, "path"));
	const char *table = json_string_value(json_object_get(spec, "table"));
	sqlite3_stmt *st = NULL;
	char *full, *sql;
	int rc;

	a->what = table ? xstrfmt("%s table '%s'", path, table) : xstrfmt("%s query", path);
	if (!table) {
		fs_error_set("source '%s' (%s): rows can only be appended to a table, not a query",
			     a->source, a->what);
		return FS_EINVALID;
	}
	full = fs_path_resolve(root, path);
	rc = sqlite3_open_v2(full, &a->db, SQLITE_OPEN_READWRITE, NULL);
	free(full);
	if (rc != SQLITE_OK) {
		fs_error_set("source '%s': cannot open '%s' for writing: %s", a->source, path,
			     sqlite3_errmsg(a->db));
		return FS_ERR;
	}
	sqlite3_busy_timeout(a->db, 10000);
	sql = sqlite3_mprintf("PRAGMA table_info(\"%w\")", table);
	rc = sqlite3_prepare_v2(a->db, sql, -1, &st, NULL);
	sqlite3_free(sql);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *decl = (const char *)sqlite3_column_text(st, 2);
		add_column(a, (const char *)sqlite3_column_text(st, 1), decl);
		a->cols[a->ncols - 1].int_col = sqlite_int_affinity(decl);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE) {
		fs_error_set("source '%s' (%s): %s", a->source, a->what, sqlite3_errmsg(a->db));
		sqlite3_finalize(st);
		return FS_ERR;
	}
	sqlite3_finalize(st);
	if (!a->ncols) {
		fs_error_set("source '%s': database '%s' has no table '%s'", a->source, path, table);
		return FS_EINVALID;
	}
	return 0;
}

/* What value.h checks a postgres column's values as, and how a timestamp goes in. */
static void pg_column_type(struct column *c)
{
	static const struct {
		const char *name;
		enum fs_type type;
		bool unix_time;
	} types[] = {
		{ "smallint", FS_T_INT32, true },      { "integer", FS_T_INT32, true },
		{ "bigint", FS_T_INT64, true },        { "real", FS_T_FLOAT64, false },
		{ "double precision", FS_T_FLOAT64, false }, { "numeric", FS_T_FLOAT64, false },
		{ "boolean", FS_T_BOOL, false },       { "date", FS_T_TIMESTAMP, false },
		{ "timestamp", FS_T_TIMESTAMP, false }, { "timestamptz", FS_T_TIMESTAMP, false },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		if (strcmp(types[i].name, c->type_name))
			continue;
		if (types[i].type == FS_T_TIMESTAMP) {
			c->form = FORM_TIME;
		} else {
			c->check = true;
			c->type = types[i].type;
		}
		c->int_col = types[i].unix_time;
		return;
	}
}

static int pg_open(struct fs_offline_append *a, const json_t *spec, const struct fs_config *cfg)
{
	struct fs_pg_col *cols = NULL;
	const char *dsn;
	char *what, msg[1024];
	size_t n = 0, j;
	int rc;

	a->what = fs_pg_what(spec);
	what = xstrfmt("source '%s' (%s)", a->source, a->what);
	if (!json_object_get(spec, "table")) {
		fs_error_set("%s: rows can only be appended to a table, not a query", what);
		free(what);
		return FS_EINVALID;
	}
	if (!(dsn = fs_pg_dsn(spec, cfg ? cfg->offline_dsn : NULL))) {
		snprintf(msg, sizeof(msg), "%s", fs_error_last());
		fs_error_set("%s: %s", what, msg);
		free(what);
		return FS_ERR;
	}
	rc = fs_pg_connect(&a->pg, dsn, what);
	if (!rc && (rc = fs_pg_describe(a->pg, spec, &cols, &n))) {
		snprintf(msg, sizeof(msg), "%s", fs_error_last());
		fs_error_set("%s: %s", what, msg);
	}
	free(what);
	for (j = 0; !rc && j < n; j++) {
		add_column(a, cols[j].name, fs_pg_type_name(cols[j].oid));
		pg_column_type(&a->cols[j]);
	}
	fs_pg_cols_free(cols, n);
	return rc;
}

/* ---- checking the rows ---- */

static bool is_push(const struct fs_object *o)
{
	return !strcmp(json_string_value(json_object_get(o->spec, "type")), "push");
}

int fs_push_source_find(const struct fs_defs *defs, const char *root, const char *name,
			const struct fs_object **out)
{
	const struct fs_object *o = fs_defs_find(defs, FS_KIND_SOURCE, name);
	const char *type;

	*out = NULL;
	if (!o)
		return fs_unknown_name(defs, root, FS_KIND_BIT(FS_KIND_SOURCE), name, is_push);
	type = json_string_value(json_object_get(o->spec, "type"));
	if (strcmp(type, "push")) {
		fs_error_set("source '%s' is a %s source, not a push source", name, type);
		return FS_EINVALID;
	}
	*out = o;
	return 0;
}

static bool reads(const struct fs_object *o, const char *source)
{
	return o->kind == FS_KIND_FEATURE_VIEW &&
	       !strcmp(json_string_value(json_object_get(o->spec, "source")), source);
}

/* A column the rows must have: col of a, pushed (map[col] >= 0). */
static int want_pushed(const struct fs_offline_append *a, const int *map,
		       const struct fs_source *rows, const char *col, const char *role)
{
	int j = column_index(a, col);

	if (j >= 0 && map[j] >= 0)
		return 0;
	if (j < 0)
		fs_error_set("source '%s' (%s) has no column '%s' (%s)", a->source, a->what, col,
			     role);
	else
		fs_error_set("source '%s' (%s) has no column '%s' (%s)", rows->name, rows->what, col,
			     role);
	return FS_EINVALID;
}

/*
 * map[j]: the pushed column of a's column j, or -1. Every pushed column
 * must be one of a's, and the timestamp field and the join keys of every
 * view there.
 */
static int map_columns(struct fs_offline_append *a, const struct fs_defs *defs,
		       const char *push_source, const json_t *spec, const struct fs_source *rows,
		       int *map)
{
	const char *ts = json_string_value(json_object_get(spec, "timestamp_field"));
	const char **names = xcalloc(a->ncols + 1, sizeof(*names));
	char *role;
	size_t i, j, k;
	int rc = 0;

	for (j = 0; j < a->ncols; j++) {
		map[j] = -1;
		names[j] = a->cols[j].name;
	}
	for (i = 0; i < rows->ncolumns && !rc; i++) {
		int at = column_index(a, rows->columns[i]);
		const char *hint;

		if (at >= 0 && map[at] < 0) {
			map[at] = (int)i;
			continue;
		}
		rc = FS_EINVALID;
		if (at >= 0) {
			fs_error_set("source '%s' (%s): column '%s' is in the header twice", rows->name,
				     rows->what, rows->columns[i]);
		} else if ((hint = fs_suggest(rows->columns[i], names, a->ncols))) {
			fs_error_set("source '%s' (%s) has no column '%s' (pushed in %s; did you mean '%s'?)",
				     a->source, a->what, rows->columns[i], rows->what, hint);
		} else {
			fs_error_set("source '%s' (%s) has no column '%s' (pushed in %s)", a->source,
				     a->what, rows->columns[i], rows->what);
		}
	}
	free(names);
	if (rc)
		return rc;
	if (ts) {
		role = xstrfmt("timestamp_field of source '%s'", a->source);
		rc = want_pushed(a, map, rows, fs_source_column_for(spec, ts), role);
		free(role);
	}
	for (i = 0; i < defs->n && !rc; i++) {
		struct fs_view_keys keys;

		if (!reads(&defs->objs[i], push_source))
			continue;
		if ((rc = fs_view_keys_load(&keys, defs, &defs->objs[i])))
			break;
		for (k = 0; k < keys.n && !rc; k++) {
			role = xstrfmt("join key of feature_view '%s'", defs->objs[i].name);
			rc = want_pushed(a, map, rows, fs_source_column_for(spec, keys.names[k]),
					 role);
			free(role);
		}
		fs_view_keys_release(&keys);
	}
	return rc;
}

/* Mark a's column of source field name (through field_mapping) a timestamp. */
static void mark_time(struct fs_offline_append *a, const json_t *spec, const char *name)
{
	int j = name ? column_index(a, fs_source_column_for(spec, name)) : -1;

	if (j < 0)
		return;
	a->cols[j].form = a->cols[j].int_col ? FORM_UNIX : FORM_TIME;
	a->cols[j].check = false; /* checked as a time */
}

/* Which columns hold timestamps: the source's time fields, timestamp features. */
static int mark_times(struct fs_offline_append *a, const struct fs_defs *defs,
		      const char *push_source, const json_t *spec)
{
	size_t i, k;
	json_t *f;

	mark_time(a, spec, json_string_value(json_object_get(spec, "timestamp_field")));
	mark_time(a, spec, json_string_value(json_object_get(spec, "created_timestamp_field")));
	for (i = 0; i < defs->n; i++) {
		const struct fs_object *v = &defs->objs[i];

		if (!reads(v, push_source))
			continue;
		if (fs_view_is_agg(v->spec)) {
			struct fs_aggview av;
			int rc = fs_aggview_load(&av, v->spec);
			if (rc)
				return rc;
			for (k = 0; k < av.ncols; k++)
				if (av.col_types[k] == FS_T_TIMESTAMP)
					mark_time(a, spec, av.cols[k]);
			fs_aggview_release(&av);
			continue;
		}
		json_array_foreach(json_object_get(v->spec, "features"), k, f)
			if (!strcmp(json_string_value(json_object_get(f, "type")), "timestamp"))
				mark_time(a, spec, json_string_value(json_object_get(f, "name")));
	}
	return 0;
}

/* Every row through every view of the push source: online push's checks. */
static int check_views(const struct fs_defs *defs, const char *push_source, const json_t *spec,
		       struct fs_source *rows, struct fs_source *proj)
{
	const struct strbuf *key;
	const struct fs_scan_value *sv;
	int64_t ts, cr;
	size_t i;
	int rc = 0;

	for (i = 0; i < defs->n && !rc; i++) {
		struct fs_viewscan *scan;

		if (!reads(&defs->objs[i], push_source))
			continue;
		fs_source_table_rewind(rows);
		if ((rc = fs_viewscan_open_rows(&scan, defs, &defs->objs[i], spec, proj)))
			break;
		while ((rc = fs_viewscan_next(scan, &key, &ts, &cr, &sv)) == 1)
			;
		fs_viewscan_close(scan);
	}
	return rc;
}

/* ---- the rows as written ---- */

struct writer {
	struct fs_offline_append *a;
	struct fs_source *proj;
	int ts_col;
	struct fs_cell *cells;
	char (*times)[FS_TIME_BUFSZ];
};

/* "where: column 'col': msg"; takes msg. */
static int row_error(struct writer *w, const char *col, char *msg)
{
	char where[512];

	fs_source_where(w->proj, where, sizeof(where));
	fs_error_set("%s: column '%s': %s", where, col, msg);
	free(msg);
	return FS_EINVALID;
}

/* The next row as written: 1 and cells (one per column of a), 0 at the end, or an error. */
static int next_row(struct writer *w, const struct fs_cell **out)
{
	const struct fs_cell *in;
	size_t j;
	int rc = fs_source_next(w->proj, &in);

	if (rc <= 0)
		return rc;
	for (j = 0; j < w->a->ncols; j++) {
		const struct column *c = &w->a->cols[j];
		struct fs_cell *o = &w->cells[j];
		int64_t us;

		*o = in[j];
		if (c->form == FORM_AS_IS) {
			if (c->check && !o->null && o->len && !fs_value_parse(c->type, o->s, o->len, &us))
				return row_error(w, c->name,
						 xstrfmt("'%s' is not a valid %s (the column's type in %s)",
							 o->s, c->type_name, w->a->what));
			continue;
		}
		/* a timestamp: empty is null, except in the timestamp field */
		if ((o->null || !o->len) && (int)j != w->ts_col) {
			o->null = true;
			continue;
		}
		if (o->null || !fs_time_parse(o->s, o->len, &us))
			return row_error(w, c->name,
					 xstrfmt("bad timestamp '%s' (expected " FS_TIME_FORMATS ")", o->s));
		if (c->form == FORM_UNIX && !(us % FS_USEC)) {
			snprintf(w->times[j], FS_TIME_BUFSZ, "%" PRId64, (int64_t)(us / FS_USEC));
		} else if (c->form == FORM_UNIX && w->a->backend != B_SQLITE) {
			/* (SQLite stores the text in an integer column as it is) */
			return row_error(w, c->name,
					 xstrfmt("'%s' has a fraction of a second, but the column is "
						 "%s (whole Unix seconds)",
						 o->s, c->type_name));
		} else {
			fs_time_format_us(w->times[j], us);
		}
		o->s = w->times[j];
		o->len = strlen(o->s);
	}
	*out = w->cells;
	return 1;
}

/* ---- csv: lock, journal, write ---- */

/* fsync the directory holding path (a journal created or removed). */
static void sync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xstrndup(path, (size_t)(slash - path) + (slash == path)) : xstrdup(".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

static int pwrite_all(int fd, const char *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/*
 * Write buf at off in a child process, out of reach of a kill of fs (see
 * the top of this file), then check the file's size and fsync it here.
 * Without a process to spare, the write is done here.
 */
static int write_batch(struct fs_offline_append *a, const char *buf, size_t len, off_t off)
{
	const char *torn = getenv("FS_TEST_CRASH_AT");
	struct stat st;
	pid_t pid;
	int err = 0, status = 0;

	if (torn && !strcmp(torn, "offline-append-torn-write")) {
		/* the crash tests: a write cut short, as a power cut leaves one */
		pwrite_all(a->fd, buf, len / 2, off);
		fs_test_crash_point("offline-append-torn-write");
	}
	pid = fork();
	if (pid == 0)
		_exit(pwrite_all(a->fd, buf, len, off));
	if (pid < 0) {
		err = pwrite_all(a->fd, buf, len, off);
	} else {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		/* (ECHILD when the caller ignores SIGCHLD: the size below says) */
		err = WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
	}
	if (!err && (fstat(a->fd, &st) || st.st_size != off + (off_t)len))
		err = EIO;
	if (!err && fsync(a->fd))
		err = errno;
	if (err) {
		fs_error_set("source '%s': cannot append to '%s': %s", a->source, a->what,
			     strerror(err));
		return FS_ERR;
	}
	return 0;
}

#define JOURNAL_MAGIC "fs offline append\n"

/*
 * The journal of an append that never committed: its rows (from start to
 * at most end) are taken back. A journal of another file (the file
 * replaced since) or one cut short (written before any row) is dropped.
 */
static int csv_recover(struct fs_offline_append *a, const struct stat *st)
{
	struct strbuf sb = STRBUF_INIT;
	uintmax_t v[4];
	char *p;
	size_t i;
	int rc = 0;

	if (sb_read_file(&sb, a->journal) < 0) {
		if (errno == ENOENT)
			return 0;
		fs_error_set("source '%s': cannot read '%s.fs-journal': %s", a->source, a->what,
			     strerror(errno));
		return FS_ERR;
	}
	p = starts_with(sb_str(&sb), JOURNAL_MAGIC) ? sb.buf + strlen(JOURNAL_MAGIC) : NULL;
	for (i = 0; p && i < ARRAY_SIZE(v); i++) {
		char *end;
		errno = 0;
		v[i] = strtoumax(p, &end, 10);
		p = end != p && !errno && (*end == ' ' || *end == '\n') ? end + 1 : NULL;
	}
	if (p && v[0] == (uintmax_t)st->st_dev && v[1] == (uintmax_t)st->st_ino &&
	    v[2] <= (uintmax_t)st->st_size && (uintmax_t)st->st_size <= v[3]) {
		if (ftruncate(a->fd, (off_t)v[2]) || fsync(a->fd)) {
			fs_error_set("source '%s': cannot take back the rows of an unfinished append to '%s': %s",
				     a->source, a->what, strerror(errno));
			rc = FS_ERR;
		}
	}
	sb_release(&sb);
	if (!rc && unlink(a->journal) && errno != ENOENT) {
		fs_error_set("source '%s': cannot remove '%s.fs-journal': %s", a->source, a->what,
			     strerror(errno));
		rc = FS_ERR;
	}
	if (!rc)
		sync_dir_of(a->journal);
	return rc;
}

static int csv_journal_write(struct fs_offline_append *a, const struct stat *st, off_t end)
{
	char *text = xstrfmt(JOURNAL_MAGIC "%ju %ju %jd %jd\n", (uintmax_t)st->st_dev,
			     (uintmax_t)st->st_ino, (intmax_t)st->st_size, (intmax_t)end);
	int fd = open(a->journal, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	int err = fd < 0 ? errno : pwrite_all(fd, text, strlen(text), 0);

	if (!err && fsync(fd))
		err = errno;
	if (fd >= 0)
		close(fd);
	free(text);
	if (err) {
		unlink(a->journal);
		fs_error_set("source '%s': cannot write '%s.fs-journal': %s", a->source, a->what,
			     strerror(err));
		return FS_ERR;
	}
	sync_dir_of(a->journal);
	return 0;
}

static int csv_stage(struct fs_offline_append *a, struct writer *w)
{
	struct strbuf buf = STRBUF_INIT;
	const struct fs_cell *cells;
	struct stat st;
	size_t j, skip = 1;
	char last;
	int rc;

	sb_addc(&buf, '\n'); /* written only after a last line without one */
	while ((rc = next_row(w, &cells)) == 1) {
		for (j = 0; j < a->ncols; j++) {
			if (j)
				sb_addc(&buf, ',');
			if (!cells[j].null && !cells[j].len)
				sb_adds(&buf, "\"\""); /* empty, not null */
			else if (!cells[j].null)
				fs_csv_quote(&buf, cells[j].s, cells[j].len);
		}
		sb_adds(&buf, a->crlf ? "\r\n" : "\n");
		a->nrows++;
	}
	if (rc < 0 || !a->nrows)
		goto done;
	while ((rc = flock(a->fd, LOCK_EX)) < 0 && errno == EINTR)
		;
	if (rc < 0) {
		fs_error_set("source '%s': cannot lock '%s': %s", a->source, a->what,
			     strerror(errno));
		rc = FS_ERR;
		goto done;
	}
	if (fstat(a->fd, &st) || (rc = csv_recover(a, &st)) || fstat(a->fd, &st)) {
		if (!rc)
			fs_error_set("source '%s': cannot stat '%s': %s", a->source, a->what,
				     strerror(errno));
		rc = FS_ERR;
		goto unlock;
	}
	if (!st.st_size) {
		fs_error_set("%s: empty file (a csv source needs a header row)", a->what);
		rc = FS_EINVALID;
		goto unlock;
	}
	if (pread(a->fd, &last, 1, st.st_size - 1) == 1 && last != '\n')
		skip = 0;
	a->size = st.st_size;
	if ((rc = csv_journal_write(a, &st, st.st_size + (off_t)(buf.len - skip))))
		goto unlock;
	if ((rc = write_batch(a, buf.buf + skip, buf.len - skip, st.st_size))) {
		/* what the write left is taken back as abort would */
		if (!ftruncate(a->fd, a->size) && !fsync(a->fd) && !unlink(a->journal))
			sync_dir_of(a->journal);
		goto unlock;
	}
	a->staged = true;
	goto done;
unlock:
	flock(a->fd, LOCK_UN);
done:
	sb_release(&buf);
	return rc < 0 ? rc : 0;
}

static int csv_commit(struct fs_offline_append *a)
{
	int rc = 0;

	if (unlink(a->journal) && errno != ENOENT) {
		fs_error_set("source '%s': cannot remove '%s.fs-journal': %s", a->source, a->what,
			     strerror(errno));
		rc = FS_ERR;
	} else {
		sync_dir_of(a->journal);
	}
	return rc;
}

/* Truncate back; when that fails the journal stays, for the next append to do it. */
static void csv_abort(struct fs_offline_append *a)
{
	if (!ftruncate(a->fd, a->size) && !fsync(a->fd) && !unlink(a->journal))
		sync_dir_of(a->journal);
}

/* ---- sqlite and postgres: a transaction ---- */

static int sqlite_exec(struct fs_offline_append *a, const char *sql, const char *doing)
{
	if (sqlite3_exec(a->db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	fs_error_set("source '%s' (%s): cannot %s: %s", a->source, a->what, doing,
		     sqlite3_errmsg(a->db));
	return FS_ERR;
}

static int sqlite_stage(struct fs_offline_append *a, struct writer *w, const int *map,
			const json_t *spec)
{
	struct strbuf sql = STRBUF_INIT, vals = STRBUF_INIT;
	const char *table = json_string_value(json_object_get(spec, "table"));
	const struct fs_cell *cells;
	sqlite3_stmt *st = NULL;
	char *q;
	size_t j;
	int rc, n;

	q = sqlite3_mprintf("INSERT INTO \"%w\" (", table);
	sb_adds(&sql, q);
	sqlite3_free(q);
	for (j = 0; j < a->ncols; j++) {
		if (map[j] < 0)
			continue;
		q = sqlite3_mprintf("%s\"%w\"", vals.len ? ", " : "", a->cols[j].name);
		sb_adds(&sql, q);
		sqlite3_free(q);
		sb_adds(&vals, vals.len ? ", ?" : "?");
	}
	sb_addf(&sql, ") VALUES (%s)", vals.buf);
	if ((rc = sqlite_exec(a, "BEGIN IMMEDIATE", "start a transaction")))
		goto done;
	a->staged = true;
	if (sqlite3_prepare_v2(a->db, sql.buf, -1, &st, NULL) != SQLITE_OK) {
		fs_error_set("source '%s' (%s): cannot append: %s", a->source, a->what,
			     sqlite3_errmsg(a->db));
		rc = FS_ERR;
		goto done;
	}
	while ((rc = next_row(w, &cells)) == 1) {
		for (j = 0, n = 0; j < a->ncols; j++) {
			if (map[j] < 0)
				continue;
			n++;
			if (cells[j].null)
				sqlite3_bind_null(st, n);
			else
				sqlite3_bind_text(st, n, cells[j].s, (int)cells[j].len, SQLITE_STATIC);
		}
		if (sqlite3_step(st) != SQLITE_DONE) {
			char where[512];
			fs_source_where(w->proj, where, sizeof(where));
			fs_error_set("%s: cannot append to source '%s' (%s): %s", where, a->source,
				     a->what, sqlite3_errmsg(a->db));
			rc = FS_ERR;
			break;
		}
		sqlite3_reset(st);
		a->nrows++;
	}
done:
	sqlite3_finalize(st);
	sb_release(&sql);
	sb_release(&vals);
	return rc < 0 ? rc : 0;
}

/* fs_pg_copy_in names its first use (entity rows): say what failed here instead. */
static void reword_copy_error(const struct fs_offline_append *a)
{
	const char *msg = fs_error_last(), *at = strstr(msg, "cannot load the entity rows: ");
	char *s;

	if (!at)
		return;
	s = xstrfmt("source '%s' (%s): cannot append: %s", a->source, a->what,
		    at + strlen("cannot load the entity rows: "));
	fs_error_set("%s", s);
	free(s);
}

static int pg_stage(struct fs_offline_append *a, struct writer *w, const int *map,
		    const json_t *spec)
{
	struct strbuf sql = STRBUF_INIT, data = STRBUF_INIT;
	const struct fs_cell *cells;
	size_t j;
	bool first;
	int rc;

	while ((rc = next_row(w, &cells)) == 1) {
		for (j = 0, first = true; j < a->ncols; j++) {
			if (map[j] < 0)
				continue;
			if (!first)
				sb_addc(&data, '\t');
			first = false;
			fs_pg_copy_text(&data, cells[j].null ? NULL : cells[j].s, cells[j].len);
		}
		sb_addc(&data, '\n');
		a->nrows++;
	}
	if (rc < 0 || !a->nrows)
		goto done;
	sb_adds(&sql, "COPY ");
	fs_pg_from(&sql, a->pg, spec);
	for (j = 0, first = true; j < a->ncols; j++) {
		if (map[j] < 0)
			continue;
		sb_adds(&sql, first ? " (" : ", ");
		first = false;
		fs_pg_ident(&sql, a->pg, a->cols[j].name);
	}
	sb_adds(&sql, ") FROM STDIN");
	if ((rc = fs_pg_exec(a->pg, "BEGIN")))
		goto done;
	a->staged = true;
	if ((rc = fs_pg_copy_in(a->pg, sql.buf, data.buf, data.len)))
		reword_copy_error(a);
done:
	sb_release(&sql);
	sb_release(&data);
	return rc < 0 ? rc : 0;
}

/* ---- the API ---- */

static void append_free(struct fs_offline_append *a)
{
	size_t j;

	if (a->fd >= 0)
		close(a->fd); /* and with it the lock */
	sqlite3_close(a->db);
	fs_pg_close(a->pg);
	for (j = 0; j < a->ncols; j++) {
		free(a->cols[j].name);
		free(a->cols[j].type_name);
	}
	free(a->cols);
	free(a->path);
	free(a->journal);
	free(a->source);
	free(a->what);
	free(a);
}

int fs_offline_append_prepare(const char *root, const struct fs_config *cfg,
			      const struct fs_defs *defs, const char *push_source,
			      struct fs_source *rows, struct fs_offline_append **out)
{
	const struct fs_object *push;
	const json_t *spec;
	const char *type, *batch;
	struct fs_offline_append *a;
	struct fs_source *proj = NULL;
	struct writer w = { 0 };
	int *map = NULL, rc;

	*out = NULL;
	if ((rc = fs_push_source_find(defs, root, push_source, &push)))
		return rc;
	batch = json_string_value(json_object_get(push->spec, "batch_source"));
	if (!(spec = fs_source_data_spec(defs, push->spec))) {
		fs_error_set("push source '%s': its batch_source '%s' is not registered", push_source,
			     batch);
		return FS_ENOTFOUND;
	}
	a = xcalloc(1, sizeof(*a));
	a->fd = -1;
	a->source = xstrdup(batch);
	type = json_string_value(json_object_get(spec, "type"));
	if (!strcmp(type, "csv")) {
		a->backend = B_CSV;
		rc = csv_open(a, spec, root);
	} else if (!strcmp(type, "sqlite")) {
		a->backend = B_SQLITE;
		rc = sqlite_open(a, spec, root);
	} else if (!strcmp(type, "postgres")) {
		a->backend = B_POSTGRES;
		rc = pg_open(a, spec, cfg);
	} else {
		fs_error_set("push source '%s': its batch_source '%s' is a %s source (rows can be appended to csv, sqlite and postgres sources)",
			     push_source, batch, type);
		rc = FS_EINVALID;
	}
	if (rc)
		goto done;
	map = xcalloc(a->ncols + 1, sizeof(*map));
	if ((rc = map_columns(a, defs, push_source, spec, rows, map)) ||
	    (rc = mark_times(a, defs, push_source, spec)))
		goto done;
	proj = projection_new(rows, a, map);
	if ((rc = check_views(defs, push_source, spec, rows, proj)))
		goto done;
	fs_source_table_rewind(rows);
	w.a = a;
	w.proj = proj;
	w.ts_col = column_index(
		a, fs_source_column_for(spec, json_string_value(
						      json_object_get(spec, "timestamp_field"))));
	w.cells = xcalloc(a->ncols + 1, sizeof(*w.cells));
	w.times = xcalloc(a->ncols + 1, sizeof(*w.times));
	if (a->backend == B_CSV)
		rc = csv_stage(a, &w);
	else if (a->backend == B_SQLITE)
		rc = sqlite_stage(a, &w, map, spec);
	else
		rc = pg_stage(a, &w, map, spec);
done:
	free(w.cells);
	free(w.times);
	fs_source_close(proj);
	free(map);
	if (rc) {
		a->nrows = 0;
		fs_offline_append_abort(a);
		return rc;
	}
	*out = a;
	return 0;
}

int fs_offline_append_commit(struct fs_offline_append *a)
{
	int rc = 0;

	fs_test_crash_point("offline-append-before-commit");
	if (a->staged) {
		if (a->backend == B_CSV)
			rc = csv_commit(a);
		else if (a->backend == B_SQLITE)
			rc = sqlite_exec(a, "COMMIT", "commit");
		else
			rc = fs_pg_exec(a->pg, "COMMIT");
	}
	if (rc) {
		fs_offline_append_abort(a);
		return rc;
	}
	append_free(a);
	return 0;
}

void fs_offline_append_abort(struct fs_offline_append *a)
{
	char msg[4096];

	if (!a)
		return;
	/* the caller's error (why it aborts) is the one to report */
	snprintf(msg, sizeof(msg), "%s", fs_error_last());
	if (a->staged) {
		/* a rollback that fails is one the database does itself (connection closed) */
		if (a->backend == B_CSV)
			csv_abort(a);
		else if (a->backend == B_SQLITE)
			sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
		else
			fs_pg_exec(a->pg, "ROLLBACK");
	}
	append_free(a);
	fs_error_set("%s", msg);
}

size_t fs_offline_append_rows(const struct fs_offline_append *a)
{
	return a->nrows;
}

const char *fs_offline_append_source(const struct fs_offline_append *a)
{
	return a->source;
}

const char *fs_offline_append_what(const struct fs_offline_append *a)
{
	return a->what;
}
