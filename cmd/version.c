#include <stdio.h>

#include "builtin.h"
#include "parse-options.h"
#include "banned.h"

int cmd_version(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = { "fs version [--json]", NULL };
	bool json = false;
	const struct option options[] = {
		OPT_BOOL(0, "json", &json, "print as JSON"),
		OPT_END(),
	};

	if (parse_options(argc, argv, options, usage))
		usage_error(usage, options, "too many arguments");
	if (json)
		print_json(json_pack("{s:s}", "version", FS_VERSION));
	else
		printf("fs version %s\n", FS_VERSION);
	return 0;
}
