/*
 * pg.h: PostgreSQL through libpq, for postgres sources and the work fs
 * pushes down into PostgreSQL (point-in-time joins, latest row per key).
 *
 * Values travel as text (COPY's text format, decoded here) so that every
 * path converts them with value.h exactly as it converts CSV cells. SQL is
 * built from quoted identifiers and integers fs computed itself; values
 * from users travel as COPY data, never inside SQL text.
 */
#ifndef FS_PG_H
#define FS_PG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source.h"
#include "strbuf.h"
#include "value.h"

struct fs_pg;

struct fs_pg_col {
	char *name;
	unsigned int oid; /* PostgreSQL type */
};

/*
 * The DSN of a postgres source: its own `dsn`, else the offline store's
 * (fs.yaml or FS_POSTGRES_DSN, passed as fallback). NULL with a message
 * saying where to set one when there is none (callers name the source).
 */
const char *fs_pg_dsn(const json_t *spec, const char *fallback);

/* Connect; errors name the source (what). Session in UTC. */
int fs_pg_connect(struct fs_pg **out, const char *dsn, const char *what);
void fs_pg_close(struct fs_pg *pg);

/* The FROM item of a source spec: a quoted table, or "(query) AS fs_q". */
void fs_pg_from(struct strbuf *sb, struct fs_pg *pg, const json_t *spec);
/* "postgres table 't'" or "postgres query", for messages; caller frees. */
char *fs_pg_what(const json_t *spec);

/*
 * The columns of a source's table or query and their types (the query is
 * described, not run). Errors say what is wrong (no such table, a query
 * error) prefixed with nothing: the caller names the source.
 */
int fs_pg_describe(struct fs_pg *pg, const json_t *spec, struct fs_pg_col **cols, size_t *n);
void fs_pg_cols_free(struct fs_pg_col *cols, size_t n);
/* The type of column name in cols, or 0 when absent. */
unsigned int fs_pg_col_type(const struct fs_pg_col *cols, size_t n, const char *name);
/* The type name of an oid ("text", "timestamptz"...), for messages. */
const char *fs_pg_type_name(unsigned int oid);

/*
 * SQL expressions over a quoted column reference: the timestamp in
 * microseconds since the epoch (false when the type cannot hold one:
 * timestamp_field must be timestamp, timestamptz, date or integer Unix
 * seconds), and the text that value.h reads for a declared type.
 */
bool fs_pg_ts_us_expr(struct strbuf *sb, const char *ref, unsigned int oid);
void fs_pg_text_expr(struct strbuf *sb, const char *ref, unsigned int oid);
/*
 * Append the microseconds expression of the timestamp column col of cols
 * (qual: "s." or ""), or NULL::bigint when col is NULL. FS_EINVALID with a
 * message prefixed by what when the column is missing or its type holds no
 * time; role ("timestamp_field") says which column it is.
 */
int fs_pg_time_column(struct strbuf *sb, struct fs_pg *pg, const char *qual,
		      const struct fs_pg_col *cols, size_t n, const char *col, const char *role,
		      const char *what);
/* A quoted identifier. */
void fs_pg_ident(struct strbuf *sb, struct fs_pg *pg, const char *name);

/* Run a command that returns no rows. */
int fs_pg_exec(struct fs_pg *pg, const char *sql);
/* COPY ... FROM STDIN with data in COPY's text format. */
int fs_pg_copy_in(struct fs_pg *pg, const char *sql, const char *data, size_t len);
/* Append a value to COPY text data (escaped; NULL pointer for null). */
void fs_pg_copy_text(struct strbuf *sb, const char *s, size_t len);

/*
 * Stream COPY (...) TO STDOUT: start, then fetch rows as cells until 0;
 * cells stay valid until the next fetch.
 */
int fs_pg_copy_out(struct fs_pg *pg, const char *sql);
int fs_pg_copy_row(struct fs_pg *pg, const struct fs_cell **cells, size_t *n);

#endif
