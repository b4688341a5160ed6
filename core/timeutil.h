/*
 * timeutil.h: UTC timestamps.
 *
 * Registry and apply times are int64 seconds since the Unix epoch. Data
 * timestamps (event and created timestamps of sources and entity rows) are
 * int64 microseconds since the epoch, so that fractional seconds order
 * correctly in point-in-time joins.
 */
#ifndef FS_TIMEUTIL_H
#define FS_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FS_TIME_BUFSZ 80
#define FS_USEC 1000000LL

/* "2024-05-01T10:00:00Z" into buf (FS_TIME_BUFSZ bytes). */
void fs_time_format(char *buf, int64_t t);
/* Microseconds as RFC 3339 UTC, with a fraction only when it is not zero. */
void fs_time_format_us(char *buf, int64_t us);
/* Days since the epoch for a proleptic Gregorian date. */
int64_t fs_days_from_civil(int64_t y, unsigned m, unsigned d);

/*
 * Parse a data timestamp of len bytes: RFC 3339 ("2024-05-01T10:00:00Z",
 * "2024-05-01T12:00:00.250+02:00", 'T' or ' ' between date and time),
 * "YYYY-MM-DD HH:MM:SS" (UTC), or integer Unix seconds. Returns true and
 * *us on success.
 */
bool fs_time_parse(const char *s, size_t len, int64_t *us);

/* What fs_time_parse takes, for messages: "bad timestamp 'x' (expected " FS_TIME_FORMATS ")" */
#define FS_TIME_FORMATS \
	"RFC 3339 like 2024-05-01T10:00:00Z, 'YYYY-MM-DD HH:MM:SS' in UTC, or Unix seconds"

/* fs_time_parse, or a date alone "YYYY-MM-DD" (its midnight UTC): entity rows. */
bool fs_time_parse_or_date(const char *s, size_t len, int64_t *us);

/*
 * Parse a command-line time: anything fs_time_parse takes, "YYYY-MM-DD"
 * (midnight UTC), "now", or "now-2h" / "now+30m" style offsets (units as
 * durations). now is the current time in seconds. 0 and *us, or
 * FS_EINVALID with a message.
 */
int fs_time_parse_arg(const char *s, int64_t now, int64_t *us);

#endif
