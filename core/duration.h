/*
 * duration.h: durations as written in definitions and on the command line:
 * "0", or one or more <integer><unit> groups with units s m h d w
 * ("90m", "2h", "1h30m", "1w").
 */
#ifndef FS_DURATION_H
#define FS_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* 0 and *out in seconds, or FS_EINVALID with an error message set. */
int fs_duration_parse(int64_t *out, const char *s);
/* Shortest canonical spelling ("0", "1d", "1h30m") into buf. */
void fs_duration_format(char *buf, size_t len, int64_t seconds);

#endif
