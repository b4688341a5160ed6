/*
 * timeutil.h: UTC timestamps. Times are int64 seconds since the Unix epoch.
 */
#ifndef FS_TIMEUTIL_H
#define FS_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define FS_TIME_BUFSZ 80

/* "2024-05-01T10:00:00Z" into buf (FS_TIME_BUFSZ bytes). */
void fs_time_format(char *buf, int64_t t);
/* Days since the epoch for a proleptic Gregorian date. */
int64_t fs_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
