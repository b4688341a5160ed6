/*
 * offline-append.h: pushed rows appended to the offline store, that is to
 * the batch_source of a push source (a csv file, a sqlite table or a
 * postgres table), in two phases, so that a caller can write the online
 * store in between and keep both writes or neither.
 *
 * prepare checks every row before it writes anything: each pushed column
 * must be a column of the batch source; the batch source's timestamp field
 * and the join keys of every view reading the push source must be there;
 * each value must be of the type the views declare (the checks of online
 * push, fs_viewscan). It then stages the rows:
 *
 *   csv       an exclusive lock (flock) on the file, the rows appended in
 *             the file's column order (absent columns empty, timestamps as
 *             RFC 3339 UTC) and fsynced
 *   sqlite    BEGIN IMMEDIATE and the INSERTs, not committed
 *   postgres  BEGIN and a COPY, not committed
 *
 * commit makes the rows permanent, abort takes them back (csv: the file is
 * truncated to its old size); both release what prepare holds and free the
 * handle. On an error prepare has written nothing and holds nothing; a
 * failed commit has rolled back.
 *
 * Staged csv rows are whole lines in the file, visible to readers that do
 * not lock (get-historical, materialize) until commit or abort. A process
 * that dies before commit leaves whole lines only, and the next append to
 * the file takes them back (see offline-append.c).
 *
 * No user I/O and no global state: a server thread may call these, one
 * handle used by one thread at a time. Relative paths resolve against
 * root (the repository root); cfg gives the offline store's PostgreSQL DSN
 * (NULL: none).
 */
#ifndef FS_OFFLINE_APPEND_H
#define FS_OFFLINE_APPEND_H

#include <stddef.h>

#include "config.h"
#include "defs.h"
#include "source.h"

struct fs_offline_append;

/*
 * The registered push source named name: 0 and *out; FS_ENOTFOUND naming
 * what the working tree of root says of it (defined but not applied; root
 * NULL: nothing) or the push source it is a typo of; FS_EINVALID when it
 * is a source of another type.
 */
int fs_push_source_find(const struct fs_defs *defs, const char *root, const char *name,
			const struct fs_object **out);

/*
 * Check rows (an in-memory table, fs_source_table_new, with the columns
 * the batch source names) for push_source and stage them. 0 and *out, or
 * FS_ENOTFOUND (no such source), FS_EINVALID (not a push source, a bad
 * column or row: the message names it, file:line for rows read from a
 * file), FS_ERR (the batch source cannot be written). rows is rewound and
 * read; it stays the caller's. defs is not used after prepare returns.
 */
int fs_offline_append_prepare(const char *root, const struct fs_config *cfg,
			      const struct fs_defs *defs, const char *push_source,
			      struct fs_source *rows, struct fs_offline_append **out);

/* Make the rows permanent and free a. 0, or an error (the rows are not kept). */
int fs_offline_append_commit(struct fs_offline_append *a);
/* Take the rows back and free a (NULL: nothing). */
void fs_offline_append_abort(struct fs_offline_append *a);

/* What a holds, until commit or abort: the rows staged, */
size_t fs_offline_append_rows(const struct fs_offline_append *a);
/* the batch source's name, */
const char *fs_offline_append_source(const struct fs_offline_append *a);
/* and where its data is ("data/x.csv", "db.sqlite table 't'", "postgres table 't'"). */
const char *fs_offline_append_what(const struct fs_offline_append *a);

#endif
