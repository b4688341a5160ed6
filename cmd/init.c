#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "builtin.h"
#include "error.h"
#include "init.h"
#include "parse-options.h"
#include "banned.h"

int cmd_init(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = { "fs init [-q] [<directory>]", NULL };
	bool quiet = false;
	const struct option options[] = {
		OPT_BOOL('q', "quiet", &quiet, "print nothing on success"),
		OPT_END(),
	};
	char commit[FS_OID_HEXSZ + 1];
	const char *dir;
	char *abs;

	argc = parse_options(argc, argv, options, usage);
	if (argc > 1)
		usage_error(usage, options, "too many arguments");
	dir = argc ? argv[0] : ".";
	switch (fs_init_repo(dir, (int64_t)time(NULL), commit)) {
	case 0:
		break;
	case FS_EIDENT:
		return die_ident();
	default:
		return die_last_error();
	}
	if (!quiet) {
		abs = realpath(dir, NULL);
		printf("Initialized fs repository in %s/\n", abs ? abs : dir);
		printf("Next: cd into it, then 'fs plan' and 'fs apply'.\n");
		free(abs);
	}
	return 0;
}
