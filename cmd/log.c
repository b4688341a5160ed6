#include <stdio.h>

#include "builtin.h"
#include "error.h"
#include "parse-options.h"
#include "banned.h"

int cmd_log(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = { "fs log [<name>] [--json]", NULL };
	bool json = false;
	const struct option options[] = {
		OPT_BOOL(0, "json", &json, "print as JSON"),
		OPT_END(),
	};
	json_t *log, *entry;
	size_t i, k;

	argc = parse_options(argc, argv, options, usage);
	if (argc > 1)
		usage_error(usage, options, "too many arguments");
	if (fs_registry_log(ctx->repo->registry, argc ? argv[0] : NULL, &log))
		return die_last_error();
	if (json) {
		print_json(json_pack("{s:o}", "applies", log));
		return 0;
	}
	json_array_foreach(log, i, entry) {
		json_t *changes = json_object_get(entry, "changes"), *c;
		printf("%sregistry version %lld\ncommit: %s\nauthor: %s\ndate:   %s\n\n    %s\n\n",
		       i ? "\n" : "", (long long)json_integer_value(json_object_get(entry, "registry_version")),
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
	json_decref(log);
	return 0;
}
