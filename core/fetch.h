/*
 * fetch.h: downloading http(s) URLs through libcurl, with timeouts, and
 * HTTP errors reported with their status.
 */
#ifndef FS_FETCH_H
#define FS_FETCH_H

#include <stddef.h>

/*
 * Stream url into fd (written from its current offset). Timeouts: 10 s to
 * connect, FS_FETCH_TIMEOUT seconds in all (default 300). On failure the
 * message names the URL and the cause; what was written is the caller's to
 * drop.
 */
int fs_fetch_to_fd(const char *url, int fd);

/*
 * Download url into an anonymous temporary file and return its descriptor
 * positioned at the start, or -1 with a message. Nothing is left on disk,
 * whatever happens.
 */
int fs_fetch_tmpfile(const char *url);

#endif
