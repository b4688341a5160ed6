#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builtin.h"
#include "error.h"
#include "historical.h"
#include "online.h"
#include "parse-options.h"
#include "serving.h"
#include "strbuf.h"
#include "timeutil.h"
#include "util.h"
#include "value.h"
#include "banned.h"

/* An entity value as JSON: a number for the join key of an int64 entity. */
static json_t *entity_value(const struct fs_defs *defs, const char *key, const char *val)
{
	size_t i;
	int64_t iv;

	for (i = 0; i < defs->n; i++) {
		const struct fs_object *e = &defs->objs[i];
		if (e->kind == FS_KIND_ENTITY &&
		    !strcmp(json_string_value(json_object_get(e->spec, "join_key")), key) &&
		    !strcmp(json_string_value(json_object_get(e->spec, "type")), "int64") &&
		    fs_parse_int64(val, strlen(val), &iv))
			return json_integer(iv);
	}
	return json_string(val);
}

/* -e k=v[,k=v]... rows into Feast's columnar entities object. */
static int parse_entities(const struct fs_defs *defs, const struct opt_list *rows, json_t **out)
{
	json_t *ent = json_object();
	size_t r;

	for (r = 0; r < rows->n; r++) {
		char *copy = xstrdup(rows->items[r]), *p = copy, *comma;
		size_t npairs = 0;
		do {
			char *key;
			const char *val;
			json_t *col;
			comma = strchr(p, ',');
			if (comma)
				*comma = '\0';
			if (parse_kv(p, &key, &val)) {
				fs_error_set("-e '%s': expected KEY=VALUE[,KEY=VALUE...]", rows->items[r]);
				free(copy);
				json_decref(ent);
				return FS_EINVALID;
			}
			col = json_object_get(ent, key);
			if (!col) {
				if (r) {
					fs_error_set("-e '%s': every row needs the same keys ('%s' is new)",
						     rows->items[r], key);
					free(key);
					free(copy);
					json_decref(ent);
					return FS_EINVALID;
				}
				col = json_array();
				json_object_set_new(ent, key, col);
			}
			if (json_array_size(col) != r) {
				fs_error_set("-e '%s': '%s' is given twice", rows->items[r], key);
				free(key);
				free(copy);
				json_decref(ent);
				return FS_EINVALID;
			}
			json_array_append_new(col, entity_value(defs, key, val));
			free(key);
			npairs++;
			p = comma + 1;
		} while (comma);
		free(copy);
		if (npairs != json_object_size(ent)) {
			fs_error_set("-e '%s': every row needs the same keys", rows->items[r]);
			json_decref(ent);
			return FS_EINVALID;
		}
	}
	*out = ent;
	return 0;
}

/* A string for the table: control characters, NUL and backslash escaped, one cell one line. */
static void add_escaped(struct strbuf *sb, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\')
			sb_adds(sb, "\\\\");
		else if (c == '\n')
			sb_adds(sb, "\\n");
		else if (c == '\t')
			sb_adds(sb, "\\t");
		else if (c == '\r')
			sb_adds(sb, "\\r");
		else if (c < 0x20 || c == 0x7f)
			sb_addf(sb, "\\x%02x", c);
		else
			sb_addc(sb, (char)c);
	}
}

/* The text of the cell of column c, row r. */
static void cell_text(struct strbuf *sb, json_t *col, size_t r)
{
	json_t *v = json_array_get(json_object_get(col, "values"), r);
	const char *st = json_string_value(json_array_get(json_object_get(col, "statuses"), r));

	if (!strcmp(st, "NOT_FOUND")) {
		sb_adds(sb, "(not found)");
	} else if (!strcmp(st, "NULL_VALUE")) {
		sb_adds(sb, "(null)");
	} else if (json_is_string(v)) {
		add_escaped(sb, json_string_value(v), json_string_length(v));
	} else {
		char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
		sb_adds(sb, text);
		free(text);
	}
	if (!strcmp(st, "OUTSIDE_MAX_AGE"))
		sb_adds(sb, " (outside max age)");
}

/* Characters on the screen: UTF-8 continuation bytes take no column. */
static size_t text_width(const struct strbuf *sb)
{
	size_t i, w = 0;

	for (i = 0; i < sb->len; i++)
		if (((unsigned char)sb->buf[i] & 0xc0) != 0x80)
			w++;
	return w;
}

/*
 * The response as a table: a header of the feature names, a row per
 * entity row, each column as wide as its widest cell and two spaces
 * between columns, whatever the length of the names and values.
 */
static void print_table(json_t *resp)
{
	json_t *names = json_object_get(json_object_get(resp, "metadata"), "feature_names");
	json_t *results = json_object_get(resp, "results");
	size_t ncols = json_array_size(names);
	size_t nrows = json_array_size(json_object_get(json_array_get(results, 0), "values"));
	struct strbuf *cells = xcalloc((nrows + 1) * ncols + 1, sizeof(*cells));
	size_t *width = xcalloc(ncols + 1, sizeof(*width));
	size_t c, r, w;

	for (c = 0; c < ncols; c++) {
		struct strbuf *h = &cells[c];
		sb_init(h);
		add_escaped(h, json_string_value(json_array_get(names, c)),
			    json_string_length(json_array_get(names, c)));
		width[c] = text_width(h);
		for (r = 0; r < nrows; r++) {
			struct strbuf *cell = &cells[(r + 1) * ncols + c];
			sb_init(cell);
			cell_text(cell, json_array_get(results, c), r);
			if ((w = text_width(cell)) > width[c])
				width[c] = w;
		}
	}
	for (r = 0; r <= nrows; r++) {
		for (c = 0; c < ncols; c++) {
			struct strbuf *cell = &cells[r * ncols + c];
			fwrite(cell->buf, 1, cell->len, stdout);
			if (c + 1 < ncols)
				printf("%*s", (int)(width[c] - text_width(cell) + 2), "");
			sb_release(cell);
		}
		putchar('\n');
	}
	free(cells);
	free(width);
}

int cmd_get_online(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = {
		"fs get-online (-f <ref>)... (-e <key=value>[,<key=value>...])... [--at <time>] [--full-feature-names] [--json]",
		NULL
	};
	struct opt_list refs = { 0 }, rows = { 0 };
	bool json = false, full = false;
	const char *at = NULL;
	int64_t now_us = (int64_t)time(NULL) * FS_USEC;
	const struct option options[] = {
		OPT_LIST('f', "features", &refs, "ref",
			 "view:feature, a view or a feature service; repeatable"),
		OPT_LIST('e', "entity", &rows, "key=value", "one entity row; repeatable"),
		OPT_STRING(0, "at", &at, "time",
			   "read as at this time (default now): windows of aggregations and max age"),
		OPT_BOOL(0, "full-feature-names", &full, "name features view__feature"),
		OPT_BOOL(0, "json", &json, "print the response of serve-lite's /get-online-features"),
		OPT_END(),
	};
	struct fs_defs defs = { 0 };
	struct fs_online *store = NULL;
	struct strbuf out = STRBUF_INIT;
	json_t *resolved = NULL, *entities = NULL;
	int rc = 0;

	if (parse_options(argc, argv, options, usage))
		usage_error(usage, options, "too many arguments");
	if (!refs.n)
		usage_error(usage, options, "at least one -f <ref> is required");
	if (!rows.n)
		usage_error(usage, options, "at least one -e <key=value> is required");
	if (at && fs_time_parse_arg(at, now_us / FS_USEC, &now_us))
		usage_error(usage, options, "--at: %s", fs_error_last());
	if (fs_registry_load(ctx->repo->registry, &defs)) {
		rc = die_last_error();
		goto done;
	}
	if (parse_entities(&defs, &rows, &entities))
		usage_error(usage, options, "%s", fs_error_last());
	if (fs_resolve_refs(&defs, ctx->repo->root, refs.items, refs.n, full, &resolved) ||
	    fs_online_open(&store, ctx->repo->config) ||
	    fs_online_response(store, &defs, resolved, entities, now_us, &out)) {
		rc = die_last_error();
		goto done;
	}
	if (json) {
		printf("%s\n", sb_str(&out));
	} else {
		/* strings may hold NUL: read them whole */
		json_t *resp = json_loadb(out.buf, out.len, JSON_ALLOW_NUL, NULL);
		if (!resp) {
			fs_error_set("cannot read the response to print it as a table (use --json)");
			rc = die_last_error();
			goto done;
		}
		print_table(resp);
		json_decref(resp);
	}
done:
	sb_release(&out);
	json_decref(resolved);
	json_decref(entities);
	fs_online_close(store);
	fs_defs_release(&defs);
	opt_list_release(&refs);
	opt_list_release(&rows);
	return rc;
}
