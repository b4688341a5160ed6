/*
 * pg.c: the libpq side of postgres sources (see pg.h).
 */
#include "pg.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"
#include "banned.h"

/* Type oids (pg_type.h, stable across PostgreSQL versions). */
enum {
	OID_BOOL = 16,
	OID_INT8 = 20,
	OID_INT2 = 21,
	OID_INT4 = 23,
	OID_TEXT = 25,
	OID_FLOAT4 = 700,
	OID_FLOAT8 = 701,
	OID_BPCHAR = 1042,
	OID_VARCHAR = 1043,
	OID_DATE = 1082,
	OID_TIMESTAMP = 1114,
	OID_TIMESTAMPTZ = 1184,
	OID_NUMERIC = 1700,
};

struct fs_pg {
	PGconn *conn;
	char *what;
	/* COPY TO: the row being decoded */
	char *line;
	struct strbuf row;
	struct fs_cell *cells;
	size_t ncells, cells_alloc;
	size_t *offs;
	size_t offs_alloc;
};

const char *fs_pg_dsn(const json_t *spec, const char *fallback)
{
	const char *dsn = json_string_value(json_object_get(spec, "dsn"));

	if (dsn && *dsn)
		return dsn;
	if (fallback && *fallback)
		return fallback;
	fs_error_set("no PostgreSQL connection: set 'dsn' in offline_store of fs.yaml, "
		     "the source's 'dsn', or FS_POSTGRES_DSN");
	return NULL;
}

/* libpq's messages end in a newline and continue on tabbed lines: one line. */
static char *one_line(const char *msg)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p;

	for (p = msg ? msg : ""; *p; p++) {
		if (*p == '\n' || *p == '\t' || *p == '\r') {
			if (sb.len && sb.buf[sb.len - 1] != ' ' && p[1])
				sb_addc(&sb, ' ');
			continue;
		}
		sb_addc(&sb, *p);
	}
	while (sb.len && sb.buf[sb.len - 1] == ' ')
		sb.buf[--sb.len] = '\0';
	return sb_detach(&sb);
}

static int pg_fail(struct fs_pg *pg, const PGresult *res, const char *doing)
{
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char *line = one_line(msg ? msg : PQerrorMessage(pg->conn));

	fs_error_set("%s: %s: %s", pg->what, doing, line);
	free(line);
	return FS_ERR;
}

int fs_pg_connect(struct fs_pg **out, const char *dsn, const char *what)
{
	/* our defaults first: settings in the DSN override them */
	static const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *vals[] = { "10", "fs", dsn, NULL };
	struct fs_pg *pg = xcalloc(1, sizeof(*pg));
	PGresult *res;

	*out = NULL;
	pg->what = xstrdup(what);
	sb_init(&pg->row);
	pg->conn = PQconnectdbParams(keys, vals, 1);
	if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK) {
		char *line = one_line(pg->conn ? PQerrorMessage(pg->conn) : "out of memory");
		fs_error_set("%s: cannot connect to PostgreSQL: %s", what, line);
		free(line);
		fs_pg_close(pg);
		return FS_ERR;
	}
	res = PQexec(pg->conn, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; "
			       "SET extra_float_digits = 1; SET client_encoding = 'UTF8'");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		pg_fail(pg, res, "cannot set up the session");
		PQclear(res);
		fs_pg_close(pg);
		return FS_ERR;
	}
	PQclear(res);
	*out = pg;
	return 0;
}

void fs_pg_close(struct fs_pg *pg)
{
	if (!pg)
		return;
	if (pg->conn)
		PQfinish(pg->conn);
	PQfreemem(pg->line);
	sb_release(&pg->row);
	free(pg->cells);
	free(pg->offs);
	free(pg->what);
	free(pg);
}

void fs_pg_ident(struct strbuf *sb, struct fs_pg *pg, const char *name)
{
	char *q = PQescapeIdentifier(pg->conn, name, strlen(name));

	sb_adds(sb, q ? q : "\"\"");
	PQfreemem(q);
}

void fs_pg_from(struct strbuf *sb, struct fs_pg *pg, const json_t *spec)
{
	const char *table = json_string_value(json_object_get(spec, "table"));
	const char *query = json_string_value(json_object_get(spec, "query"));
	const char *dot;

	if (!table) {
		sb_addf(sb, "(%s) AS fs_q", query ? query : "SELECT 1");
		return;
	}
	/* schema.table */
	dot = strchr(table, '.');
	if (dot) {
		char *schema = xstrndup(table, (size_t)(dot - table));
		fs_pg_ident(sb, pg, schema);
		sb_addc(sb, '.');
		fs_pg_ident(sb, pg, dot + 1);
		free(schema);
	} else {
		fs_pg_ident(sb, pg, table);
	}
}

char *fs_pg_what(const json_t *spec)
{
	const char *table = json_string_value(json_object_get(spec, "table"));

	return table ? xstrfmt("postgres table '%s'", table) : xstrdup("postgres query");
}

int fs_pg_describe(struct fs_pg *pg, const json_t *spec, struct fs_pg_col **cols, size_t *n)
{
	const char *table = json_string_value(json_object_get(spec, "table"));
	struct strbuf sql = STRBUF_INIT;
	PGresult *res;
	int i, nf, rc = 0;

	*cols = NULL;
	*n = 0;
	sb_adds(&sql, "SELECT * FROM ");
	fs_pg_from(&sql, pg, spec);
	res = PQprepare(pg->conn, "", sql.buf, 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (table && state && !strcmp(state, "42P01")) /* undefined_table */
			fs_error_set("table '%s' does not exist", table);
		else if (table && state && !strcmp(state, "3F000")) /* invalid_schema_name */
			fs_error_set("table '%s' does not exist (no such schema)", table);
		else {
			char *line = one_line(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
			fs_error_set(table ? "cannot read table '%s': %s" : "%squery fails: %s",
				     table ? table : "", line);
			free(line);
		}
		rc = FS_ERR;
		goto done;
	}
	PQclear(res);
	res = PQdescribePrepared(pg->conn, "");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		char *line = one_line(PQerrorMessage(pg->conn));
		fs_error_set("cannot describe the %s: %s", table ? "table" : "query", line);
		free(line);
		rc = FS_ERR;
		goto done;
	}
	nf = PQnfields(res);
	*cols = xcalloc((size_t)nf + 1, sizeof(**cols));
	for (i = 0; i < nf; i++) {
		(*cols)[i].name = xstrdup(PQfname(res, i));
		(*cols)[i].oid = (unsigned int)PQftype(res, i);
	}
	*n = (size_t)nf;
done:
	PQclear(res);
	sb_release(&sql);
	return rc;
}

void fs_pg_cols_free(struct fs_pg_col *cols, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(cols[i].name);
	free(cols);
}

unsigned int fs_pg_col_type(const struct fs_pg_col *cols, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(cols[i].name, name))
			return cols[i].oid;
	return 0;
}

const char *fs_pg_type_name(unsigned int oid)
{
	switch (oid) {
	case OID_BOOL: return "boolean";
	case OID_INT8: return "bigint";
	case OID_INT2: return "smallint";
	case OID_INT4: return "integer";
	case OID_TEXT: return "text";
	case OID_FLOAT4: return "real";
	case OID_FLOAT8: return "double precision";
	case OID_BPCHAR: return "character";
	case OID_VARCHAR: return "character varying";
	case OID_DATE: return "date";
	case OID_TIMESTAMP: return "timestamp";
	case OID_TIMESTAMPTZ: return "timestamptz";
	case OID_NUMERIC: return "numeric";
	default: return "a type fs does not read";
	}
}

bool fs_pg_ts_us_expr(struct strbuf *sb, const char *ref, unsigned int oid)
{
	switch (oid) {
	case OID_TIMESTAMP:
	case OID_TIMESTAMPTZ:
		sb_addf(sb, "(extract(epoch FROM %s) * 1000000)::bigint", ref);
		return true;
	case OID_DATE:
		sb_addf(sb, "(extract(epoch FROM %s::timestamp) * 1000000)::bigint", ref);
		return true;
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
		sb_addf(sb, "(%s::bigint * 1000000)", ref);
		return true;
	default:
		return false;
	}
}

int fs_pg_time_column(struct strbuf *sb, struct fs_pg *pg, const char *qual,
		      const struct fs_pg_col *cols, size_t n, const char *col, const char *role,
		      const char *what)
{
	struct strbuf ref = STRBUF_INIT;
	unsigned int oid;
	int rc = 0;

	if (!col) {
		sb_adds(sb, "NULL::bigint");
		return 0;
	}
	oid = fs_pg_col_type(cols, n, col);
	if (!oid) {
		fs_error_set("%s has no column '%s' (%s)", what, col, role);
		return FS_EINVALID;
	}
	sb_adds(&ref, qual);
	fs_pg_ident(&ref, pg, col);
	if (!fs_pg_ts_us_expr(sb, ref.buf, oid)) {
		fs_error_set("%s: column '%s' is %s; %s must be a timestamp, timestamptz, date or integer (Unix seconds) column",
			     what, col, fs_pg_type_name(oid), role);
		rc = FS_EINVALID;
	}
	sb_release(&ref);
	return rc;
}

void fs_pg_text_expr(struct strbuf *sb, const char *ref, unsigned int oid)
{
	switch (oid) {
	case OID_TIMESTAMPTZ:
		sb_addf(sb, "to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')", ref);
		break;
	case OID_TIMESTAMP:
		sb_addf(sb, "to_char(%s, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')", ref);
		break;
	case OID_DATE:
		sb_addf(sb, "to_char(%s, 'YYYY-MM-DD\"T00:00:00Z\"')", ref);
		break;
	default:
		sb_addf(sb, "%s::text", ref);
	}
}

/* Run sql, expecting the result status want. */
static int run(struct fs_pg *pg, const char *sql, ExecStatusType want)
{
	PGresult *res = PQexec(pg->conn, sql);
	int rc = 0;

	if (PQresultStatus(res) != want)
		rc = pg_fail(pg, res, "query fails");
	PQclear(res);
	return rc;
}

int fs_pg_exec(struct fs_pg *pg, const char *sql)
{
	return run(pg, sql, PGRES_COMMAND_OK);
}

void fs_pg_copy_text(struct strbuf *sb, const char *s, size_t len)
{
	size_t i;

	if (!s) {
		sb_adds(sb, "\\N");
		return;
	}
	for (i = 0; i < len; i++) {
		switch (s[i]) {
		case '\\': sb_adds(sb, "\\\\"); break;
		case '\t': sb_adds(sb, "\\t"); break;
		case '\n': sb_adds(sb, "\\n"); break;
		case '\r': sb_adds(sb, "\\r"); break;
		default: sb_addc(sb, s[i]);
		}
	}
}

int fs_pg_copy_in(struct fs_pg *pg, const char *sql, const char *data, size_t len)
{
	PGresult *res = PQexec(pg->conn, sql);
	size_t off = 0;
	int rc = 0;

	if (PQresultStatus(res) != PGRES_COPY_IN) {
		rc = pg_fail(pg, res, "cannot load the entity rows");
		PQclear(res);
		return rc;
	}
	PQclear(res);
	while (off < len && !rc) {
		size_t chunk = len - off > (1 << 20) ? (1 << 20) : len - off;
		if (PQputCopyData(pg->conn, data + off, (int)chunk) != 1)
			rc = pg_fail(pg, NULL, "cannot load the entity rows");
		off += chunk;
	}
	if (PQputCopyEnd(pg->conn, rc ? "aborted" : NULL) != 1 && !rc)
		rc = pg_fail(pg, NULL, "cannot load the entity rows");
	while ((res = PQgetResult(pg->conn))) {
		if (!rc && PQresultStatus(res) != PGRES_COMMAND_OK)
			rc = pg_fail(pg, res, "cannot load the entity rows");
		PQclear(res);
	}
	return rc;
}

int fs_pg_copy_out(struct fs_pg *pg, const char *sql)
{
	return run(pg, sql, PGRES_COPY_OUT);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode one line of COPY's text format into pg->row and pg->cells. */
static void decode_row(struct fs_pg *pg, const char *p, size_t len)
{
	const char *end = p + len;
	size_t i;

	if (len && end[-1] == '\n')
		end--;
	sb_reset(&pg->row);
	pg->ncells = 0;
	for (;;) {
		bool null = false;

		if (end - p >= 2 && p[0] == '\\' && p[1] == 'N' && (end - p == 2 || p[2] == '\t')) {
			null = true;
			p += 2;
		}
		ALLOC_GROW(pg->cells, pg->ncells + 1, pg->cells_alloc);
		ALLOC_GROW(pg->offs, pg->ncells + 1, pg->offs_alloc);
		pg->offs[pg->ncells] = pg->row.len;
		pg->cells[pg->ncells].null = null;
		while (!null && p < end && *p != '\t') {
			char c = *p++;
			if (c == '\\' && p < end) {
				c = *p++;
				switch (c) {
				case 'b': c = '\b'; break;
				case 'f': c = '\f'; break;
				case 'n': c = '\n'; break;
				case 'r': c = '\r'; break;
				case 't': c = '\t'; break;
				case 'v': c = '\v'; break;
				case 'x':
					if (p < end && hexval(*p) >= 0) {
						int v = hexval(*p++);
						if (p < end && hexval(*p) >= 0)
							v = v * 16 + hexval(*p++);
						c = (char)v;
					}
					break;
				default:
					if (c >= '0' && c <= '7') {
						int v = c - '0', k;
						for (k = 0; k < 2 && p < end && *p >= '0' && *p <= '7'; k++)
							v = v * 8 + (*p++ - '0');
						c = (char)v;
					}
				}
			}
			sb_addc(&pg->row, c);
		}
		pg->cells[pg->ncells].len = pg->row.len - pg->offs[pg->ncells];
		sb_addc(&pg->row, '\0');
		pg->ncells++;
		if (p >= end)
			break;
		p++; /* the tab */
	}
	for (i = 0; i < pg->ncells; i++)
		pg->cells[i].s = pg->cells[i].null ? "" : pg->row.buf + pg->offs[i];
}

int fs_pg_copy_row(struct fs_pg *pg, const struct fs_cell **cells, size_t *n)
{
	PGresult *res;
	int len, rc = 0;

	PQfreemem(pg->line);
	pg->line = NULL;
	len = PQgetCopyData(pg->conn, &pg->line, 0);
	if (len >= 0) {
		decode_row(pg, pg->line, (size_t)len);
		*cells = pg->cells;
		*n = pg->ncells;
		return 1;
	}
	if (len == -2)
		return pg_fail(pg, NULL, "query fails");
	while ((res = PQgetResult(pg->conn))) {
		if (!rc && PQresultStatus(res) != PGRES_COMMAND_OK)
			rc = pg_fail(pg, res, "query fails");
		PQclear(res);
	}
	return rc;
}
