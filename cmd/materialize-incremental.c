#include <stdio.h>
#include <time.h>

#include "builtin.h"
#include "error.h"
#include "materialize.h"
#include "parse-options.h"
#include "timeutil.h"
#include "banned.h"

int cmd_materialize_incremental(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = {
		"fs materialize-incremental <end> [-v <view>]... [--no-wait] [--verbose] [--json]", NULL
	};
	struct opt_list views = { 0 };
	struct fs_mat_opts o = { 0 };
	bool verbose = false, json = false;
	const struct option options[] = {
		OPT_LIST('v', "view", &views, "view", "only this feature view; repeatable"),
		OPT_BOOL(0, "no-wait", &o.no_wait,
			 "exit 1 instead of waiting when another run holds a view"),
		OPT_BOOL(0, "verbose", &verbose, "print a summary per view even when not on a terminal"),
		OPT_BOOL(0, "json", &json, "print the summary as JSON"),
		OPT_END(),
	};
	int rc;

	argc = parse_options(argc, argv, options, usage);
	if (argc != 1)
		usage_error(usage, options, "expected an end time (e.g. now)");
	if (fs_time_parse_arg(argv[0], (int64_t)time(NULL), &o.end_us))
		usage_error(usage, options, "%s", fs_error_last());
	o.incremental = true;
	o.views = views.items;
	o.nviews = views.n;
	rc = run_materialize(ctx, &o, verbose, json);
	opt_list_release(&views);
	return rc;
}
