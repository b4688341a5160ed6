#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "error.h"
#include "parse-options.h"
#include "stream.h"
#include "util.h"
#include "banned.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Bad messages and outages: warnings on stderr, above the live status line. */
static void warn(void *ctx, const char *msg)
{
	bool tty = *(bool *)ctx;

	fprintf(stderr, "%swarning: %s\n", tty ? "\r\033[K" : "", msg);
}

/* The one-line live status on a terminal: events/s and lag. */
static void live(void *ctx, const struct fs_stream_stats *st, size_t n, double secs)
{
	static int64_t last_events = -1;
	static double last_secs;
	int64_t events = 0, lag = 0;
	bool lag_known = true;
	size_t i;

	(void)ctx;
	for (i = 0; i < n; i++) {
		events += st[i].events;
		if (st[i].lag < 0)
			lag_known = false;
		else
			lag += st[i].lag;
	}
	if (last_events >= 0 && secs > last_secs) {
		fprintf(stderr, "\r\033[Kstreaming %zu source%s: %lld events, %.0f events/s, lag ",
			n, n == 1 ? "" : "s", (long long)events,
			(double)(events - last_events) / (secs - last_secs));
		if (lag_known)
			fprintf(stderr, "%lld", (long long)lag);
		else
			fputs("unknown", stderr);
		fflush(stderr);
	}
	last_events = events;
	last_secs = secs;
}

static int64_t positive(const char *arg, const char *opt, const char *const *usage,
			const struct option *options)
{
	char *end;
	long long v;

	if (!arg)
		return 0;
	v = strtoll(arg, &end, 10);
	if (*end || end == arg || v <= 0 || v > 1000000000LL)
		usage_error(usage, options, "%s: '%s' is not a positive whole number", opt, arg);
	return v;
}

int cmd_stream(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = {
		"fs stream [<source>...] [--once] [--max-events <n>] [--batch-ms <ms>]"
		" [--batch-events <n>] [--verbose] [--json]",
		NULL
	};
	const char *max_events = NULL, *batch_ms = NULL, *batch_events = NULL;
	bool verbose = false, json = false, tty = isatty(STDERR_FILENO);
	struct fs_stream_opts o = { 0 };
	const struct option options[] = {
		OPT_BOOL(0, "once", &o.once, "stop when no more events are waiting"),
		OPT_STRING(0, "max-events", &max_events, "n", "stop after n events"),
		OPT_STRING(0, "batch-ms", &batch_ms, "ms",
			   "write a batch at least every ms milliseconds (default 50)"),
		OPT_STRING(0, "batch-events", &batch_events, "n",
			   "write a batch at most every n events (default 10000)"),
		OPT_BOOL(0, "verbose", &verbose, "print a summary even when not on a terminal"),
		OPT_BOOL(0, "json", &json, "print the summary as JSON"),
		OPT_END(),
	};
	struct fs_stream_stats *st = NULL;
	struct sigaction sa;
	size_t n = 0, i;
	int rc;

	argc = parse_options(argc, argv, options, usage);
	o.max_events = positive(max_events, "--max-events", usage, options);
	o.batch_ms = (int)positive(batch_ms, "--batch-ms", usage, options);
	o.batch_events = positive(batch_events, "--batch-events", usage, options);
	o.stop = &stop;
	o.warn = warn;
	o.ctx = &tty;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	rc = fs_stream_run(ctx->repo, argv, (size_t)argc, &o, tty ? live : NULL, &st, &n);
	if (tty)
		fputs("\r\033[K", stderr);
	if (json) {
		json_t *arr = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}",
							     "source", st[i].source, "type",
							     st[i].type, "events",
							     (json_int_t)st[i].events, "applied",
							     (json_int_t)st[i].applied, "bad",
							     (json_int_t)st[i].bad, "late",
							     (json_int_t)st[i].late, "batches",
							     (json_int_t)st[i].batches));
		print_json(json_pack("{s:o}", "sources", arr));
	} else if (verbose || isatty(STDOUT_FILENO)) {
		for (i = 0; i < n; i++)
			printf("%s: %lld events, %lld applied, %lld bad, %lld late\n", st[i].source,
			       (long long)st[i].events, (long long)st[i].applied,
			       (long long)st[i].bad, (long long)st[i].late);
	}
	free(st);
	return rc ? die_last_error() : 0;
}
