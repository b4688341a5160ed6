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
static void print_cell(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\')
			fputs("\\\\", stdout);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c == '\r')
			fputs("\\r", stdout);
		else if (c < 0x20 || c == 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static void print_table(json_t *resp)
{
	json_t *names = json_object_get(json_object_get(resp, "metadata"), "feature_names");
	json_t *results = json_object_get(resp, "results"), *col;
	size_t nrows = json_array_size(json_object_get(json_array_get(results, 0), "values"));
	size_t c, r;

	json_array_foreach(names, c, col)
		printf("%s%s", c ? "\t" : "", json_string_value(col));
	putchar('\n');
	for (r = 0; r < nrows; r++) {
		json_array_foreach(results, c, col) {
			json_t *v = json_array_get(json_object_get(col, "values"), r);
			const char *st = json_string_value(json_array_get(json_object_get(col, "statuses"), r));
			char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
			if (c)
				putchar('\t');
			if (!strcmp(st, "NOT_FOUND"))
				printf("(not found)");
			else if (!strcmp(st, "NULL_VALUE"))
				printf("(null)");
			else if (json_is_string(v))
				print_cell(json_string_value(v), json_string_length(v));
			else
				printf("%s", text);
			if (!strcmp(st, "OUTSIDE_MAX_AGE"))
				printf(" (outside max age)");
			free(text);
		}
		putchar('\n');
	}
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
