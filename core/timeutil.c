#include "timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "duration.h"
#include "error.h"
#include "banned.h"

int64_t fs_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void fs_time_format(char *buf, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm)) {
		snprintf(buf, FS_TIME_BUFSZ, "%lld", (long long)t);
		return;
	}
	snprintf(buf, FS_TIME_BUFSZ, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void fs_time_format_us(char *buf, int64_t us)
{
	int64_t secs = us / FS_USEC, frac = us % FS_USEC;
	size_t n;

	if (frac < 0) {
		frac += FS_USEC;
		secs--;
	}
	fs_time_format(buf, secs);
	if (!frac)
		return;
	n = strlen(buf) - 1; /* overwrite the 'Z' */
	snprintf(buf + n, FS_TIME_BUFSZ - n, ".%06lldZ", (long long)frac);
	/* trim trailing zeros of the fraction */
	n = strlen(buf) - 2;
	while (buf[n] == '0')
		n--;
	buf[n + 1] = 'Z';
	buf[n + 2] = '\0';
}

static bool digits(const char *s, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static int days_in_month(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : d[m - 1];
}

static bool parse_date(const char *s, int64_t *days)
{
	int y, m, d;

	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) || s[7] != '-' ||
	    !digits(s + 8, 2, &d))
		return false;
	if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return false;
	*days = fs_days_from_civil(y, (unsigned)m, (unsigned)d);
	return true;
}

bool fs_time_parse(const char *s, size_t len, int64_t *us)
{
	int64_t days, frac = 0, offset = 0;
	int hh, mi, ss;
	size_t i;

	/* integer Unix seconds */
	if (len && len <= 19 && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'))) {
		int64_t v = 0;
		bool neg = s[0] == '-';
		/* up to 12 digits cannot overflow in microseconds: no range check */
		bool small = len - neg <= 12;
		for (i = neg; i < len; i++) {
			if (s[i] < '0' || s[i] > '9')
				break;
			if (!small && v > INT64_MAX / FS_USEC)
				return false; /* out of range; no other form starts with 13 digits */
			v = v * 10 + (s[i] - '0');
		}
		if (i == len && i > (size_t)neg) {
			if (v > INT64_MAX / FS_USEC)
				return false;
			*us = (neg ? -v : v) * FS_USEC;
			return true;
		}
	}
	if (len < 19 || !parse_date(s, &days) || (s[10] != 'T' && s[10] != ' ' && s[10] != 't') ||
	    !digits(s + 11, 2, &hh) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &ss) || hh > 23 || mi > 59 || ss > 60)
		return false;
	i = 19;
	if (i < len && s[i] == '.') {
		int64_t scale = 100000;
		size_t start = ++i;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (scale) {
				frac += (s[i] - '0') * scale;
				scale /= 10;
			}
			i++;
		}
		if (i == start)
			return false;
	}
	if (i < len) {
		if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
			i++;
		} else if ((s[i] == '+' || s[i] == '-') && len - i == 6 && s[i + 3] == ':') {
			int oh, om;
			if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om) || oh > 23 ||
			    om > 59)
				return false;
			offset = (int64_t)(oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
			i = len;
		} else {
			return false;
		}
	}
	if (ss == 60)
		ss = 59; /* a leap second sorts with the second before it */
	*us = ((days * 86400 + hh * 3600 + mi * 60 + ss) - offset) * FS_USEC + frac;
	return true;
}

int fs_time_parse_arg(const char *s, int64_t now, int64_t *us)
{
	size_t len = strlen(s);
	int64_t days, d;

	if (!strncmp(s, "now", 3)) {
		if (!s[3]) {
			*us = now * FS_USEC;
			return 0;
		}
		if ((s[3] == '-' || s[3] == '+') && !fs_duration_parse(&d, s + 4)) {
			*us = (now + (s[3] == '-' ? -d : d)) * FS_USEC;
			return 0;
		}
	} else if (len == 10 && parse_date(s, &days)) {
		*us = days * 86400 * FS_USEC;
		return 0;
	} else if (fs_time_parse(s, len, us)) {
		return 0;
	}
	fs_error_set("bad time '%s' (expected RFC 3339 like 2024-05-01T10:00:00Z, YYYY-MM-DD, now, or now-2h)",
		     s);
	return FS_EINVALID;
}

bool fs_time_parse_or_date(const char *s, size_t len, int64_t *us)
{
	int64_t days;

	if (fs_time_parse(s, len, us))
		return true;
	if (len != 10 || !parse_date(s, &days))
		return false;
	*us = days * 86400 * FS_USEC;
	return true;
}
