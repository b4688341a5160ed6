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
#include "strbuf.h"

struct fs_cell {
	const char *s; /* NUL-terminated */
	size_t len;
	bool null;
};

struct fs_source;

/* The columns a source's data has, as validation sees them. */
struct fs_source_columns {
	char **names;
	size_t n;
	char *where; /* "data/x.csv", "db.sqlite table 't'" */
};

/* Only the latest row per entity key in a time window (see open_latest). */
struct fs_source_latest {
	const char *const *keys; /* the source columns of the join keys */
	const bool *is_int;      /* int64 entity, else string */
	size_t nkeys;
	int64_t start_us, end_us;
};

/* A problem with a spec: key is the spec key it is about, NULL the source. */
typedef void fs_source_complain(void *ctx, const char *key, const char *msg);

/*
 * A kind of source: its type name, how its rows are read, and what
 * validation and the planner need to know of it. Only type is required: a
 * backend without open (push) holds no rows itself but names, in
 * batch_source, the source that does; the in-memory table (source-table.c)
 * only reads.
 */
struct fs_source_ops {
	const char *type;
	/* open the data of spec; set columns/ncolumns and what on src */
	int (*open)(struct fs_source *src, const json_t *spec, const char *root);
	/* 1 and the row's cells (ncolumns of them), 0 at the end, or an error */
	int (*next)(struct fs_source *src, const struct fs_cell **cells);
	/* "data/x.csv:12" for the row last returned */
	void (*where)(struct fs_source *src, char *buf, size_t len);
	void (*close)(struct fs_source *src);

	/* the keys of a spec only some kinds use (path, table...), NULL-terminated */
	const char *const *keys;
	/* report what is wrong with spec beyond unknown keys (missing ones, conflicts) */
	void (*check_spec)(const json_t *spec, fs_source_complain *complain, void *ctx);
	/*
	 * The columns of spec's data, for validation: 0, 1 when not checked
	 * here (a URL, no connection allowed, a spec already reported bad),
	 * or -1 with *err (caller frees) and *at the spec key it is about.
	 */
	int (*columns)(const json_t *spec, const struct fs_data_access *data,
		       struct fs_source_columns *out, char **err, const char **at);
	/* the repo-relative file validation reads (the plan cache's inputs), or NULL */
	const char *(*local_file)(const json_t *spec);

	/*
	 * Optional: open only the latest row per key of q's window, the
	 * greatest (timestamp, created) winning, exact ties going to the later
	 * row (materialization done where the data lives). Columns as open
	 * gives them.
	 */
	int (*open_latest)(struct fs_source *src, const json_t *spec, const char *root,
			   const struct fs_source_latest *q);
	/* Optional: see fs_source_split. */
	int (*split)(struct fs_source *src, struct fs_source **second);
	/* The rows are a PostgreSQL table or query: get-historical joins them there. */
	bool in_postgres;
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
 * The backend for a type name, or NULL; fs_source_backend(i) the i-th of
 * the backend table, NULL past the last.
 */
const struct fs_source_ops *fs_source_ops_for(const char *type);
const struct fs_source_ops *fs_source_backend(size_t i);
/* The backend of a source spec (by its type), or NULL. */
const struct fs_source_ops *fs_source_spec_ops(const json_t *spec);
/*
 * The types of the backends that use spec key (that hold rows, for key
 * NULL), in table order, joined as "a, b and c" with conj for "and".
 */
void fs_source_types_with(struct strbuf *out, const char *key, const char *conj);
/* The local file validation of a source spec reads, or NULL (see local_file). */
const char *fs_source_local_file(const json_t *spec);
/* A local_file for the kinds whose data is at 'path': it, unless a URL. */
const char *fs_source_path_if_local(const json_t *spec);
void fs_source_columns_release(struct fs_source_columns *c);

/*
 * The latest rows of spec's data per q (see open_latest): 0 and *out, 1
 * when its backend cannot (read every row instead), or an error.
 */
int fs_source_open_latest(struct fs_source **out, const json_t *spec, const char *name,
			  const char *root, const struct fs_source_latest *q);

/*
 * Split a source read up to its header (no row read yet) in two at the
 * first line end after the middle of its rows: src keeps the first half,
 * *second (the caller's to close) reads the rest. Either half fails on a
 * record holding a quote (a quoted field may span the cut) and counts its
 * lines from its own start: on any error, read the whole file instead.
 * 0 when split, 1 when not (a backend that cannot, not a regular file,
 * too short).
 */
int fs_source_split(struct fs_source *src, struct fs_source **second);

extern const struct fs_source_ops fs_source_csv_ops;
extern const struct fs_source_ops fs_source_sqlite_ops;
extern const struct fs_source_ops fs_source_postgres_ops;

#endif
