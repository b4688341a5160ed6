/*
 * source.h: reading the rows of a source (kind: source) as text cells.
 *
 * Backends (csv, sqlite, ...) sit behind struct fs_source_ops: a new kind
 * of source adds a file and a line in the backend table of source.c. Rows
 * come one at a time (streaming); the cells of a row stay valid until the
 * next call. Typed conversion is the caller's (value.h), so that every
 * backend converts the same way.
 */
#ifndef FS_SOURCE_H
#define FS_SOURCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "defs.h"

struct fs_cell {
	const char *s; /* NUL-terminated */
	size_t len;
	bool null;
};

struct fs_source;

struct fs_source_ops {
	const char *type;
	/* open the data of spec; set columns/ncolumns and where on src */
	int (*open)(struct fs_source *src, const json_t *spec, const char *root);
	/* 1 and the row's cells (ncolumns of them), 0 at the end, or an error */
	int (*next)(struct fs_source *src, const struct fs_cell **cells);
	/* "data/x.csv:12" for the row last returned */
	void (*where)(struct fs_source *src, char *buf, size_t len);
	void (*close)(struct fs_source *src);
};

struct fs_source {
	const struct fs_source_ops *ops;
	void *state;
	char **columns;
	size_t ncolumns;
	char *name; /* the source's name */
	char *what; /* "data/x.csv", "db.sqlite table 't'" */
};

/*
 * Open the rows of source (a registered source spec; a push source reads
 * its batch_source, looked up in defs). root resolves relative paths.
 */
int fs_source_open(struct fs_source **out, const struct fs_defs *defs, const json_t *source,
		   const char *root);
int fs_source_next(struct fs_source *src, const struct fs_cell **cells);
/* Index of column name, or -1. */
int fs_source_column(const struct fs_source *src, const char *name);
/* Where the last row came from, for messages ("data/x.csv:12"). */
void fs_source_where(struct fs_source *src, char *buf, size_t len);
void fs_source_close(struct fs_source *src);

/* The source whose rows back a view's source (its batch_source for push). */
const json_t *fs_source_data_spec(const struct fs_defs *defs, const json_t *source);

/*
 * In-memory rows: make one, add rows (cells are copied; line is where the
 * row came from, for messages, 0 for "row N"), read, rewind.
 */
struct fs_source *fs_source_table_new(const char *name, const char *what,
				      const char *const *cols, size_t ncols);
void fs_source_table_add(struct fs_source *src, const struct fs_cell *cells, size_t line);
void fs_source_table_rewind(struct fs_source *src);

/*
 * The latest row per entity key among the rows of a postgres source (spec:
 * its data spec) with start_us <= timestamp <= end_us, the greatest
 * (timestamp, created) winning, exact ties going to the later row: the
 * work of materialization done by PostgreSQL. Columns as a full read of
 * the source has them.
 */
struct fs_pg_latest {
	const char *const *keys; /* the source columns of the join keys */
	const bool *is_int;      /* int64 entity, else string */
	size_t nkeys;
	int64_t start_us, end_us;
};
int fs_source_pg_latest(struct fs_source **out, const json_t *spec, const char *name,
			const char *root, const struct fs_pg_latest *q);

/*
 * Split a csv source read up to its header (no row read yet) in two at the
 * first line end after the middle of its rows: src keeps the first half,
 * *second (the caller's to close) reads the rest. Either half fails on a
 * record holding a quote (a quoted field may span the cut) and counts its
 * lines from its own start: on any error, read the whole file instead.
 * 0 when split, 1 when not (not a csv source, not a regular file, too
 * short).
 */
int fs_source_csv_split(struct fs_source *src, struct fs_source **second);

extern const struct fs_source_ops fs_source_csv_ops;
extern const struct fs_source_ops fs_source_sqlite_ops;
extern const struct fs_source_ops fs_source_postgres_ops;

#endif
