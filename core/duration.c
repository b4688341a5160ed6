#include "duration.h"

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "banned.h"

static const struct {
	char unit;
	int64_t seconds;
} units[] = {
	{ 'w', 7 * 86400 }, { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 },
};

int fs_duration_parse(int64_t *out, const char *s)
{
	const char *p = s;
	int64_t total = 0;

	if (!strcmp(s, "0")) {
		*out = 0;
		return 0;
	}
	if (!*p)
		goto bad;
	while (*p) {
		int64_t n = 0;
		size_t i;
		int digits = 0;

		while (*p >= '0' && *p <= '9') {
			if (n > (INT64_MAX - 9) / 10)
				goto bad;
			n = n * 10 + (*p++ - '0');
			digits++;
		}
		if (!digits)
			goto bad;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (*p == units[i].unit)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			goto bad;
		p++;
		if (n > (INT64_MAX / 2) / units[i].seconds || total > INT64_MAX / 2)
			goto bad;
		total += n * units[i].seconds;
	}
	*out = total;
	return 0;
bad:
	fs_error_set("bad duration '%s' (expected 0 or a number with a unit s m h d w, e.g. 90m, 2h, 1d)",
		     s);
	return FS_EINVALID;
}

void fs_duration_format(char *buf, size_t len, int64_t seconds)
{
	size_t i, used = 0;

	if (seconds == 0) {
		snprintf(buf, len, "0");
		return;
	}
	buf[0] = '\0';
	/* weeks only when exact, like people write them */
	for (i = seconds % units[0].seconds ? 1 : 0; i < sizeof(units) / sizeof(units[0]); i++) {
		int64_t n = seconds / units[i].seconds;
		if (!n)
			continue;
		seconds -= n * units[i].seconds;
		used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%lld%c",
					 (long long)n, units[i].unit);
		if (used >= len)
			return;
	}
}
