#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builtin.h"
#include "error.h"
#include "materialize.h"
#include "parse-options.h"
#include "timeutil.h"
#include "banned.h"

static void progress(void *ctx, const char *view, size_t rows)
{
	fprintf(stderr, "\rmaterializing %s: %zu rows scanned", view, rows);
	fflush(stderr);
	*(bool *)ctx = true;
}

/*
 * A run that must wait for another says so on stderr, once: "waiting for
 * pid N (materialize since HH:MM)", the time on the local clock.
 */
static void waiting(void *ctx, const char *view, const struct fs_lock_holder *holder)
{
	bool *told = ctx;
	char since[16] = "";
	time_t t = (time_t)holder->since;
	struct tm tm;

	(void)view;
	if (*told)
		return;
	*told = true;
	if (holder->since && localtime_r(&t, &tm))
		strftime(since, sizeof(since), " since %H:%M", &tm);
	if (holder->pid)
		fprintf(stderr, "waiting for pid %ld (materialize%s)\n", holder->pid, since);
	else
		fprintf(stderr, "waiting for another materialize to finish\n");
	fflush(stderr);
}

/*
 * Shared by materialize and materialize-incremental. Cron's rule: nothing
 * on stdout on success unless it is a terminal (or --verbose); errors
 * always on stderr.
 */
int run_materialize(struct fs_ctx *ctx, struct fs_mat_opts *o, bool verbose, bool json)
{
	json_t *res = NULL, *r;
	bool progressed = false, told = false;
	size_t i;
	int rc;

	o->waiting = waiting;
	o->waiting_ctx = &told;
	if (isatty(STDERR_FILENO)) {
		o->progress = progress;
		o->progress_ctx = &progressed;
	}
	rc = fs_materialize(ctx->repo, o, &res);
	if (progressed)
		fputs("\r\033[K", stderr);
	if (json) {
		print_json(json_pack("{s:O}", "views", res));
	} else if (verbose || isatty(STDOUT_FILENO)) {
		json_array_foreach(res, i, r) {
			json_t *start = json_object_get(r, "start");
			printf("%s: %lld rows read, %lld keys written in %.2f s (%s .. %s)\n",
			       json_string_value(json_object_get(r, "view")),
			       (long long)json_integer_value(json_object_get(r, "rows_read")),
			       (long long)json_integer_value(json_object_get(r, "keys_written")),
			       json_real_value(json_object_get(r, "seconds")),
			       json_is_string(start) ? json_string_value(start) : "the beginning",
			       json_string_value(json_object_get(r, "end")));
		}
	}
	json_decref(res);
	if (rc == FS_ELOCKED)
		return die_code(EXIT_NEGATIVE, "%s", fs_error_last());
	if (rc == FS_EINVALID && !strncmp(fs_error_last(), "the end of the window", 21))
		return die_last_error();
	return rc ? die_last_error() : 0;
}

int cmd_materialize(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = {
		"fs materialize <start> <end> [-v <view>]... [--no-wait] [--verbose] [--json]", NULL
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
	int64_t now = (int64_t)time(NULL);
	int rc;

	argc = parse_options(argc, argv, options, usage);
	if (argc != 2)
		usage_error(usage, options, "expected a start and an end time");
	if (fs_time_parse_arg(argv[0], now, &o.start_us) || fs_time_parse_arg(argv[1], now, &o.end_us))
		usage_error(usage, options, "%s", fs_error_last());
	if (o.start_us > o.end_us)
		usage_error(usage, options, "the start '%s' is after the end '%s'", argv[0], argv[1]);
	o.views = views.items;
	o.nviews = views.n;
	rc = run_materialize(ctx, &o, verbose, json);
	opt_list_release(&views);
	return rc;
}
