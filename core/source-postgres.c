/*
 * source-postgres.c: postgres sources, a table or a query on a PostgreSQL
 * server. Rows stream out through COPY TO as text, each column converted
 * so that value.h reads it as it reads a CSV cell (timestamps as RFC 3339
 * in UTC, booleans as true/false).
 *
 * Besides reading every row, a postgres source can hand over only the
 * latest row per entity key in a time window (open_latest): the
 * work of materialization done inside PostgreSQL, so that only one row per
 * key crosses the connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "pg.h"
#include "source.h"
#include "util.h"
#include "banned.h"

struct pg_state {
	struct fs_pg *pg;
	size_t row;
};

/* The offline store's DSN (fs.yaml, FS_POSTGRES_DSN); caller frees. */
static char *offline_dsn(const char *root)
{
	struct fs_config *cfg = NULL;
	char *dsn = NULL;

	if (root && !fs_config_load(&cfg, root, NULL)) {
		if (cfg->offline_dsn)
			dsn = xstrdup(cfg->offline_dsn);
		fs_config_free(cfg);
	} else if (getenv("FS_POSTGRES_DSN") && *getenv("FS_POSTGRES_DSN")) {
		dsn = xstrdup(getenv("FS_POSTGRES_DSN"));
	}
	return dsn;
}

/* Connect and describe; the columns go to src, their types to *cols. */
static int pg_start(struct fs_source *src, const json_t *spec, const char *root,
		    struct fs_pg_col **cols, size_t *ncols)
{
	struct pg_state *st = xcalloc(1, sizeof(*st));
	char *fallback = offline_dsn(root), *what;
	const char *dsn = fs_pg_dsn(spec, fallback);
	size_t i;
	int rc;

	src->state = st;
	src->what = fs_pg_what(spec);
	what = xstrfmt("source '%s' (%s)", src->name, src->what);
	if (!dsn) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", fs_error_last());
		fs_error_set("%s: %s", what, msg);
		free(what);
		free(fallback);
		return FS_ERR;
	}
	rc = fs_pg_connect(&st->pg, dsn, what);
	free(fallback);
	if (!rc && (rc = fs_pg_describe(st->pg, spec, cols, ncols))) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", fs_error_last());
		fs_error_set("%s: %s", what, msg);
	}
	free(what);
	if (rc)
		return rc;
	src->ncolumns = *ncols;
	src->columns = xcalloc(*ncols + 1, sizeof(char *));
	for (i = 0; i < *ncols; i++)
		src->columns[i] = xstrdup((*cols)[i].name);
	return 0;
}

/* s."col" */
static char *col_ref(struct fs_pg *pg, const char *name)
{
	struct strbuf sb = STRBUF_INIT;

	sb_adds(&sb, "s.");
	fs_pg_ident(&sb, pg, name);
	return sb_detach(&sb);
}

/* The select list: every column as the text value.h reads. */
static void text_columns(struct strbuf *sql, struct fs_pg *pg, const struct fs_pg_col *cols,
			 size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char *ref = col_ref(pg, cols[i].name);
		if (i)
			sb_adds(sql, ", ");
		fs_pg_text_expr(sql, ref, cols[i].oid);
		free(ref);
	}
}

static int pg_open(struct fs_source *src, const json_t *spec, const char *root)
{
	struct fs_pg_col *cols = NULL;
	struct strbuf sql = STRBUF_INIT;
	struct pg_state *st;
	size_t n = 0;
	int rc;

	if ((rc = pg_start(src, spec, root, &cols, &n)))
		goto done;
	st = src->state;
	sb_adds(&sql, "COPY (SELECT ");
	text_columns(&sql, st->pg, cols, n);
	sb_adds(&sql, " FROM ");
	fs_pg_from(&sql, st->pg, spec);
	sb_adds(&sql, " s) TO STDOUT");
	rc = fs_pg_copy_out(st->pg, sql.buf);
done:
	fs_pg_cols_free(cols, n);
	sb_release(&sql);
	return rc;
}

static int pg_next(struct fs_source *src, const struct fs_cell **cells)
{
	struct pg_state *st = src->state;
	size_t n;
	int rc = fs_pg_copy_row(st->pg, cells, &n);

	if (rc == 1) {
		st->row++;
		if (n != src->ncolumns) {
			fs_error_set("source '%s' (%s) row %zu: expected %zu columns, got %zu",
				     src->name, src->what, st->row, src->ncolumns, n);
			return FS_ERR;
		}
	}
	return rc;
}

static void pg_where(struct fs_source *src, char *buf, size_t len)
{
	struct pg_state *st = src->state;
	snprintf(buf, len, "source '%s' (%s) row %zu", src->name, src->what, st->row);
}

static void pg_close_src(struct fs_source *src)
{
	struct pg_state *st = src->state;

	fs_pg_close(st->pg);
	free(st);
}

/* The order of source rows for exact ties: physical for a table. */
static void seq_expr(struct strbuf *sql, const json_t *spec)
{
	if (json_object_get(spec, "table"))
		sb_adds(sql, "ctid");
	else
		sb_adds(sql, "row_number() OVER ()");
}

static int pg_open_latest(struct fs_source *src, const json_t *spec, const char *root,
			  const struct fs_source_latest *q)
{
	struct fs_pg_col *cols = NULL;
	struct strbuf sql = STRBUF_INIT, keys = STRBUF_INIT, ts = STRBUF_INIT, cr = STRBUF_INIT;
	const char *ts_field = json_string_value(json_object_get(spec, "timestamp_field"));
	const char *cr_field = json_string_value(json_object_get(spec, "created_timestamp_field"));
	struct pg_state *st;
	size_t n = 0, i;
	char *ref, *what = NULL;
	int rc;

	if ((rc = pg_start(src, spec, root, &cols, &n)))
		goto done;
	st = src->state;
	rc = FS_EINVALID;
	what = xstrfmt("source '%s' (%s)", src->name, src->what);
	/* the columns as every reader finds them: through field_mapping */
	if ((rc = fs_pg_time_column(&ts, st->pg, "s.", cols, n,
				    ts_field ? fs_source_column_for(spec, ts_field) : NULL,
				    "timestamp_field", what)) ||
	    (rc = fs_pg_time_column(&cr, st->pg, "s.", cols, n,
				    cr_field ? fs_source_column_for(spec, cr_field) : NULL,
				    "created_timestamp_field", what)))
		goto done;
	rc = FS_EINVALID;
	for (i = 0; i < q->nkeys; i++) {
		if (!fs_pg_col_type(cols, n, q->keys[i])) {
			fs_error_set("source '%s' (%s) has no column '%s' (a join key)", src->name,
				     src->what, q->keys[i]);
			goto done;
		}
		ref = col_ref(st->pg, q->keys[i]);
		sb_addf(&keys, "%s%s::%s", i ? ", " : "", ref, q->is_int[i] ? "bigint" : "text");
		free(ref);
	}

	/*
	 * Per key the greatest ts in the window by hash aggregation, then the
	 * rows at that ts, of which DISTINCT ON keeps the greatest (created,
	 * row order): two scans, and only the few rows at the top get sorted.
	 */
	sb_adds(&sql, "COPY (SELECT DISTINCT ON (");
	sb_add(&sql, keys.buf, keys.len);
	sb_adds(&sql, ") ");
	text_columns(&sql, st->pg, cols, n);
	sb_adds(&sql, " FROM (SELECT *, ");
	seq_expr(&sql, spec);
	sb_adds(&sql, " AS fs__seq FROM ");
	fs_pg_from(&sql, st->pg, spec);
	sb_adds(&sql, ") s JOIN (SELECT ");
	for (i = 0; i < q->nkeys; i++) {
		ref = col_ref(st->pg, q->keys[i]);
		sb_addf(&sql, "%s::%s AS m%zu, ", ref, q->is_int[i] ? "bigint" : "text", i);
		free(ref);
	}
	sb_addf(&sql, "max(%s) AS fs__max FROM ", ts.buf);
	fs_pg_from(&sql, st->pg, spec);
	sb_addf(&sql, " s WHERE %s <= %lld", ts.buf, (long long)q->end_us);
	if (q->start_us != INT64_MIN)
		sb_addf(&sql, " AND %s >= %lld", ts.buf, (long long)q->start_us);
	for (i = 0; i < q->nkeys; i++) {
		ref = col_ref(st->pg, q->keys[i]);
		sb_addf(&sql, " AND %s IS NOT NULL", ref);
		free(ref);
	}
	sb_adds(&sql, " GROUP BY ");
	sb_add(&sql, keys.buf, keys.len);
	sb_addf(&sql, ") m ON %s = m.fs__max", ts.buf);
	for (i = 0; i < q->nkeys; i++) {
		ref = col_ref(st->pg, q->keys[i]);
		sb_addf(&sql, " AND %s::%s = m.m%zu", ref, q->is_int[i] ? "bigint" : "text", i);
		free(ref);
	}
	sb_adds(&sql, " ORDER BY ");
	sb_add(&sql, keys.buf, keys.len);
	sb_addf(&sql, ", %s DESC NULLS LAST, s.fs__seq DESC) TO STDOUT", cr.buf);
	rc = fs_pg_copy_out(st->pg, sql.buf);
done:
	free(what);
	fs_pg_cols_free(cols, n);
	sb_release(&sql);
	sb_release(&keys);
	sb_release(&ts);
	sb_release(&cr);
	return rc;
}

static const char *const pg_keys[] = { "table", "query", "dsn", NULL };

static void pg_check_spec(const json_t *spec, fs_source_complain *complain, void *ctx)
{
	if (!json_object_get(spec, "table") == !json_object_get(spec, "query"))
		complain(ctx, NULL, "a postgres source needs exactly one of 'table' and 'query'");
}

/*
 * The columns of a postgres source's table or query, through a connection
 * (the query is described, not run), and the types of its timestamp
 * columns checked; when allowed (data->pg_connect). On error *at names the key the error is about.
 */
static int pg_columns(const json_t *spec, const struct fs_data_access *data,
		      struct fs_source_columns *out, char **err, const char **at)
{
	const char *fields[] = { "timestamp_field", "created_timestamp_field" };
	struct fs_pg_col *cols = NULL;
	struct fs_pg *pg = NULL;
	struct strbuf scratch = STRBUF_INIT;
	const char *dsn;
	char *what;
	size_t n = 0, i;
	int rc = -1;

	if (!data->pg_connect || !json_object_get(spec, "table") == !json_object_get(spec, "query"))
		return 1; /* not checked here, or reported with the spec */
	dsn = fs_pg_dsn(spec, data->pg_dsn);
	what = fs_pg_what(spec);
	*at = json_object_get(spec, "dsn") ? "dsn" : "type";
	if (!dsn || fs_pg_connect(&pg, dsn, what)) {
		*err = xstrdup(fs_error_last());
		goto done;
	}
	*at = json_object_get(spec, "table") ? "table" : "query";
	if (fs_pg_describe(pg, spec, &cols, &n)) {
		*err = xstrdup(fs_error_last());
		goto done;
	}
	for (i = 0; i < ARRAY_SIZE(fields); i++) {
		const char *f = json_string_value(json_object_get(spec, fields[i]));
		if (f)
			f = fs_source_column_for(spec, f);
		/* a missing column is reported with the others below */
		if (f && fs_pg_col_type(cols, n, f) &&
		    fs_pg_time_column(&scratch, pg, "", cols, n, f, fields[i], what)) {
			*at = fields[i];
			*err = xstrdup(fs_error_last());
			goto done;
		}
	}
	out->names = xcalloc(n + 1, sizeof(char *));
	for (i = 0; i < n; i++)
		out->names[out->n++] = xstrdup(cols[i].name);
	out->where = xstrdup(what);
	rc = 0;
done:
	fs_pg_cols_free(cols, n);
	fs_pg_close(pg);
	sb_release(&scratch);
	free(what);
	return rc;
}

const struct fs_source_ops fs_source_postgres_ops = {
	.type = "postgres",
	.keys = pg_keys,
	.check_spec = pg_check_spec,
	.columns = pg_columns,
	.open = pg_open,
	.next = pg_next,
	.where = pg_where,
	.close = pg_close_src,
	.open_latest = pg_open_latest,
	.in_postgres = true,
};
