/*
 * csv.h: a streaming RFC 4180 reader: quoted fields with embedded commas,
 * quotes ("") and newlines, LF or CRLF line ends, an optional UTF-8 BOM.
 *
 * fs_csv_next() returns one record at a time; the field pointers stay valid
 * until the next call. Fields are NUL-terminated; quoted tells an empty
 * quoted field ("") from an empty cell (null).
 */
#ifndef FS_CSV_H
#define FS_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct fs_csv;

struct fs_csv_field {
	const char *s;
	size_t len;
	bool quoted;
};

/* Read from a file descriptor (not closed by fs_csv_free). */
struct fs_csv *fs_csv_from_fd(int fd, const char *name);
/* Read from memory (not copied: it must outlive the reader). */
struct fs_csv *fs_csv_from_mem(const char *data, size_t len, const char *name);
/*
 * Read bytes [start, end) of fd only (with pread: the fd's offset is left
 * alone), a range that starts at a record. A record holding a quote is an
 * error: the range was split at a line end, which a quoted field may span,
 * so the caller falls back to reading the file from its start. Lines count
 * from 1 at start.
 */
struct fs_csv *fs_csv_from_fd_range(int fd, const char *name, off_t start, off_t end);
void fs_csv_free(struct fs_csv *csv);

/*
 * Next record: 1 with fields and n set, 0 at the end of input, or FS_EINVALID
 * with a message naming "name:line" (unterminated quote, stray quote, read
 * error).
 */
int fs_csv_next(struct fs_csv *csv, const struct fs_csv_field **fields, size_t *n);
/* The input offset just past the last record returned (from the fd's start). */
off_t fs_csv_offset(const struct fs_csv *csv);
/* The line on which the last record returned started (1-based). */
size_t fs_csv_line(const struct fs_csv *csv);

/*
 * Set the error for a record at name:line of n fields under a header of
 * ncols names (n != ncols), naming the first column without a value or the
 * first field without a column; FS_EINVALID.
 */
int fs_csv_count_error(const char *name, size_t line, char *const *header, size_t ncols,
		       size_t n);

#endif
