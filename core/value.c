#include "value.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "timeutil.h"
#include "util.h"
#include "banned.h"

static const char *const type_names[] = {
	"int32", "int64", "float32", "float64", "string", "bool", "timestamp",
};

int fs_type_parse(enum fs_type *out, const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(type_names); i++) {
		if (!strcmp(type_names[i], name)) {
			*out = (enum fs_type)i;
			return 0;
		}
	}
	return FS_ENOTFOUND;
}

const char *fs_type_name(enum fs_type t)
{
	return type_names[t];
}

bool fs_parse_int64(const char *s, size_t len, int64_t *out)
{
	uint64_t v = 0, limit;
	size_t i = 0;
	bool neg = false;

	if (len && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		i = 1;
	}
	if (i == len)
		return false;
	if (len - i <= 18) {
		/* up to 18 digits cannot overflow: no per-digit range check */
		for (; i < len; i++) {
			unsigned d = (unsigned)(s[i] - '0');
			if (d > 9)
				return false;
			v = v * 10 + d;
		}
		*out = neg ? (int64_t)(0 - v) : (int64_t)v;
		return true;
	}
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (d > 9 || v > (limit - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

/*
 * [-+]?(digits[.digits?]|.digits)([eE][-+]?digits)?, or what strtod takes
 * (inf, nan). *big: a number that might not fit a float32 (an exponent, or
 * 39 digits or more before the point): the caller checks its range.
 */
static bool is_float(const char *s, size_t len, bool *big)
{
	size_t i = 0, d = 0;
	char buf[64], *end;

	*big = false;
	if (i < len && (s[i] == '-' || s[i] == '+'))
		i++;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++, d++;
	if (d >= 39)
		*big = true;
	if (i < len && s[i] == '.') {
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++, d++;
	}
	if (d && i < len && (s[i] == 'e' || s[i] == 'E')) {
		size_t e = 0;
		*big = true;
		i++;
		if (i < len && (s[i] == '-' || s[i] == '+'))
			i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++, e++;
		if (!e)
			return false;
	}
	if (d && i == len)
		return true;
	/* the rare spellings: inf, nan */
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	strtod(buf, &end);
	return end == buf + len && len && !strpbrk(buf, "xXpP");
}

/* A number written with an exponent or many digits: is it finite in type t? */
static bool float_fits(enum fs_type t, const char *s, size_t len)
{
	char *buf = xstrndup(s, len);
	double v = strtod(buf, NULL);
	bool fits = isfinite(v) && (t == FS_T_FLOAT64 || fabs(v) <= FLT_MAX);

	free(buf);
	return fits;
}

bool fs_value_parse(enum fs_type t, const char *s, size_t len, int64_t *iv)
{
	switch (t) {
	case FS_T_INT32:
		return fs_parse_int64(s, len, iv) && *iv >= INT32_MIN && *iv <= INT32_MAX;
	case FS_T_INT64:
		return fs_parse_int64(s, len, iv);
	case FS_T_FLOAT32:
	case FS_T_FLOAT64: {
		bool big;
		return is_float(s, len, &big) && (!big || float_fits(t, s, len));
	}
	case FS_T_STRING:
		return true;
	case FS_T_BOOL:
		if ((len == 4 && (!strncmp(s, "true", 4) || !strncmp(s, "True", 4) ||
				  !strncmp(s, "TRUE", 4))) ||
		    (len == 1 && s[0] == '1')) {
			*iv = 1;
			return true;
		}
		if ((len == 5 && (!strncmp(s, "false", 5) || !strncmp(s, "False", 5) ||
				  !strncmp(s, "FALSE", 5))) ||
		    (len == 1 && s[0] == '0')) {
			*iv = 0;
			return true;
		}
		return false;
	case FS_T_TIMESTAMP:
		return fs_time_parse(s, len, iv);
	}
	return false;
}

void fs_csv_quote(struct strbuf *sb, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
			break;
	if (i == len) {
		sb_add(sb, s, len);
		return;
	}
	sb_addc(sb, '"');
	for (i = 0; i < len; i++) {
		if (s[i] == '"')
			sb_addc(sb, '"');
		sb_addc(sb, s[i]);
	}
	sb_addc(sb, '"');
}

static void add_int(struct strbuf *sb, int64_t v)
{
	char buf[24], *p = buf + sizeof(buf);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	sb_add(sb, p, (size_t)(buf + sizeof(buf) - p));
}

void fs_value_csv(struct strbuf *sb, enum fs_type t, int64_t iv, const char *text, size_t len)
{
	char ts[FS_TIME_BUFSZ];

	switch (t) {
	case FS_T_INT32:
	case FS_T_INT64:
		add_int(sb, iv);
		break;
	case FS_T_BOOL:
		sb_adds(sb, iv ? "true" : "false");
		break;
	case FS_T_TIMESTAMP:
		fs_time_format_us(ts, iv);
		sb_adds(sb, ts);
		break;
	default:
		fs_csv_quote(sb, text, len);
	}
}

void fs_format_double(char *buf, size_t len, double d)
{
	int prec;

	for (prec = 15; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

void fs_json_quote(struct strbuf *sb, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	sb_addc(sb, '"');
	while (i < len) {
		unsigned char c = p[i];
		size_t l, run = i;

		/* the common case: a run of plain ASCII copied at once */
		while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
			run++;
		if (run > i) {
			sb_add(sb, p + i, run - i);
			i = run;
			continue;
		}
		if (c == '"' || c == '\\') {
			sb_addc(sb, '\\');
			sb_addc(sb, (char)c);
		} else if (c == '\n') {
			sb_adds(sb, "\\n");
		} else if (c == '\t') {
			sb_adds(sb, "\\t");
		} else if (c == '\r') {
			sb_adds(sb, "\\r");
		} else if (c < 0x20) {
			sb_addf(sb, "\\u%04x", c);
		} else if (c < 0x80) {
			sb_addc(sb, (char)c);
		} else if ((l = utf8_len(p + i, len - i))) {
			sb_add(sb, p + i, l);
			i += l;
			continue;
		} else {
			sb_adds(sb, "\\ufffd"); /* not UTF-8: the output stays valid JSON */
		}
		i++;
	}
	sb_addc(sb, '"');
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][-+]?[0-9]+)? */
static bool is_json_number(const char *s, size_t len)
{
	size_t i = 0;

	if (i < len && s[i] == '-')
		i++;
	if (i < len && s[i] == '0')
		i++;
	else if (i < len && s[i] >= '1' && s[i] <= '9')
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return false;
	if (i < len && s[i] == '.') {
		size_t d = ++i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		size_t d;
		i++;
		if (i < len && (s[i] == '-' || s[i] == '+'))
			i++;
		d = i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	return i == len;
}

void fs_value_json(struct strbuf *sb, enum fs_type t, int64_t iv, const char *text, size_t len)
{
	char ts[FS_TIME_BUFSZ];

	switch (t) {
	case FS_T_INT32:
	case FS_T_INT64:
		add_int(sb, iv);
		break;
	case FS_T_BOOL:
		sb_adds(sb, iv ? "true" : "false");
		break;
	case FS_T_TIMESTAMP:
		fs_time_format_us(ts, iv);
		fs_json_quote(sb, ts, strlen(ts));
		break;
	case FS_T_FLOAT32:
	case FS_T_FLOAT64:
		if (is_json_number(text, len)) {
			sb_add(sb, text, len);
			if (!memchr(text, '.', len) && !memchr(text, 'e', len) && !memchr(text, 'E', len))
				sb_adds(sb, ".0"); /* a float, never read back as an int */
		} else {
			double d = strtod(text, NULL);
			if (!isfinite(d)) {
				sb_adds(sb, "null");
			} else {
				char buf[40];
				fs_format_double(buf, sizeof(buf), d);
				sb_adds(sb, buf);
				if (!strpbrk(buf, ".eE"))
					sb_adds(sb, ".0");
			}
		}
		break;
	default:
		fs_json_quote(sb, text, len);
	}
}
