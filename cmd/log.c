/*
 * fs log: the applies that changed the registry (or one object), newest
 * first, as git log shows commits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "builtin.h"
#include "error.h"
#include "inspect.h"
#include "parse-options.h"
#include "banned.h"

static void print_entry(const json_t *entry, bool first)
{
	json_t *changes = json_object_get(entry, "changes"), *c;
	size_t k;

	printf("%sregistry version %lld\ncommit: %s\nauthor: %s\ndate:   %s\n\n    %s\n\n",
	       first ? "" : "\n", (long long)json_integer_value(json_object_get(entry, "registry_version")),
	       json_string_value(json_object_get(entry, "commit")),
	       json_string_value(json_object_get(entry, "author")),
	       json_string_value(json_object_get(entry, "time")),
	       json_string_value(json_object_get(entry, "summary")));
	json_array_foreach(changes, k, c)
		printf("    %s %s %s (version %lld)\n", json_string_value(json_object_get(c, "op")),
		       json_string_value(json_object_get(c, "kind")),
		       json_string_value(json_object_get(c, "name")),
		       (long long)json_integer_value(json_object_get(c, "version")));
}

/* "v3 1a2b3c4d5e6f summary": registry version, commit as fs apply shows it, summary. */
static void print_oneline(const json_t *entry)
{
	printf("v%lld %s %s\n", (long long)json_integer_value(json_object_get(entry, "registry_version")),
	       short_oid(json_string_value(json_object_get(entry, "commit"))),
	       json_string_value(json_object_get(entry, "summary")));
}

int cmd_log(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = {
		"fs log [<name>] [-n <number>] [--oneline] [--json]", NULL
	};
	bool json = false, oneline = false;
	const char *max_arg = NULL;
	const struct option options[] = {
		OPT_STRING('n', "max-count", &max_arg, "number", "show only the newest <number> applies"),
		OPT_BOOL(0, "oneline", &oneline, "one line per apply: version, short commit, summary"),
		OPT_BOOL(0, "json", &json, "print as JSON"),
		OPT_END(),
	};
	json_t *log, *entry;
	long long max = -1;
	size_t i;

	argc = parse_options(argc, argv, options, usage);
	if (argc > 1)
		usage_error(usage, options, "too many arguments");
	if (max_arg) {
		char *end;
		errno = 0;
		max = strtoll(max_arg, &end, 10);
		if (end == max_arg || *end || errno || max < 0)
			usage_error(usage, options, "-n: '%s' is not a count (expected 0 or more)",
				    max_arg);
	}
	if (json && oneline)
		usage_error(usage, options, "--oneline and --json cannot be used together");
	if (json) {
		if (fs_inspect_log(ctx->repo->registry, argc ? argv[0] : NULL, max, &log))
			return die_last_error();
		print_json(log);
		return 0;
	}
	if (fs_registry_log(ctx->repo->registry, argc ? argv[0] : NULL, &log))
		return die_last_error();
	/* newest first: keep the first max */
	while (max >= 0 && json_array_size(log) > (size_t)max)
		json_array_remove(log, json_array_size(log) - 1);
	json_array_foreach(log, i, entry) {
		if (oneline)
			print_oneline(entry);
		else
			print_entry(entry, !i);
	}
	json_decref(log);
	return 0;
}
