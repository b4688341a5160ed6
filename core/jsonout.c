#include "jsonout.h"

#include <stdio.h>
#include <stdlib.h>

#include "strbuf.h"
#include "banned.h"

static int real_digits(double d)
{
	char buf[FS_REAL_BUFSZ];
	int p;

	for (p = 1; p < 17; p++) {
		snprintf(buf, sizeof(buf), "%.*g", p, d);
		if (strtod(buf, NULL) == d)
			return p;
	}
	return 17;
}

const char *fs_real_format(char buf[FS_REAL_BUFSZ], double d)
{
	snprintf(buf, FS_REAL_BUFSZ, "%.*g", real_digits(d), d);
	return buf;
}

/* A scalar as jansson writes it; a real with the fewest digits that read back as it. */
static void dump_scalar(struct strbuf *sb, const json_t *j)
{
	size_t flags = JSON_ENCODE_ANY;
	char *text;

	if (json_is_real(j))
		flags |= JSON_REAL_PRECISION(real_digits(json_real_value(j)));
	text = json_dumps(j, flags);
	sb_adds(sb, text ? text : "null");
	free(text);
}

static void dump_newline(struct strbuf *sb, int indent, int depth)
{
	if (indent)
		sb_addf(sb, "\n%*s", indent * depth, "");
}

/* jansson's layout (JSON_INDENT(indent), or JSON_COMPACT for 0), insertion order */
static void dump(struct strbuf *sb, const json_t *j, int indent, int depth)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_object(j) && json_object_size(j)) {
		sb_addc(sb, '{');
		i = 0;
		json_object_foreach((json_t *)j, key, v) {
			json_t *k = json_string(key);
			if (i++)
				sb_addc(sb, ',');
			dump_newline(sb, indent, depth + 1);
			dump_scalar(sb, k);
			json_decref(k);
			sb_adds(sb, indent ? ": " : ":");
			dump(sb, v, indent, depth + 1);
		}
		dump_newline(sb, indent, depth);
		sb_addc(sb, '}');
	} else if (json_is_array(j) && json_array_size(j)) {
		sb_addc(sb, '[');
		json_array_foreach(j, i, v) {
			if (i)
				sb_addc(sb, ',');
			dump_newline(sb, indent, depth + 1);
			dump(sb, v, indent, depth + 1);
		}
		dump_newline(sb, indent, depth);
		sb_addc(sb, ']');
	} else if (json_is_object(j)) {
		sb_adds(sb, "{}");
	} else if (json_is_array(j)) {
		sb_adds(sb, "[]");
	} else {
		dump_scalar(sb, j);
	}
}

char *fs_json_dumps(const json_t *j, int indent)
{
	struct strbuf sb = STRBUF_INIT;

	dump(&sb, j, indent, 0);
	return sb_detach(&sb);
}
