#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "error.h"
#include "historical.h"
#include "parse-options.h"
#include "util.h"
#include "banned.h"

/* The -o file being written: removed when a signal ends the run. */
static char *volatile partial_path;

static void remove_partial(int sig)
{
	if (partial_path)
		unlink(partial_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* On a terminal: the source rows scanned, on one line rewritten. */
static void progress(void *ctx, const char *view, size_t rows)
{
	fprintf(stderr, "\rget-historical: feature_view '%s': %zu source rows scanned\033[K", view,
		rows);
	fflush(stderr);
	*(bool *)ctx = true;
}

/* FS_TIMING=1 (internal, for benchmarks): the wall time of each phase. */
static void timing(void *ctx, const char *phase, double secs)
{
	(void)ctx;
	fprintf(stderr, "get-historical: timing: %-32s %8.3f s\n", phase, secs);
}

/*
 * A warning for each view that matched no entity row, always; with
 * verbose, then the rows written and per view how many found a value.
 */
static void report(const struct fs_hist_stats *st, bool verbose)
{
	size_t i;

	for (i = 0; i < st->nviews; i++) {
		const struct fs_hist_view_stats *v = &st->views[i];
		if (v->matched || !st->rows)
			continue;
		if (v->why)
			warning("feature_view '%s' matched none of the %zu entity rows: %s", v->view,
				st->rows, v->why);
		else
			warning("feature_view '%s' matched none of the %zu entity rows", v->view,
				st->rows);
	}
	if (!verbose)
		return;
	fprintf(stderr, "%zu row%s written\n", st->rows, st->rows == 1 ? "" : "s");
	for (i = 0; i < st->nviews; i++)
		fprintf(stderr, "%s: %zu of %zu rows matched\n", st->views[i].view,
			st->views[i].matched, st->rows);
}

int cmd_get_historical(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = {
		"fs get-historical --entities <file> (-f <ref>)... [--full-feature-names]\n"
		"                  [--timestamp-column <column>] [-o <file>] [--format csv|json]\n"
		"                  [-v | --verbose]",
		NULL
	};
	struct opt_list refs = { 0 };
	struct fs_hist_opts opts = { 0 };
	struct fs_hist_stats stats = { 0 };
	bool verbose = false, progressed = false;
	const char *output = NULL, *format = "csv";
	const struct option options[] = {
		OPT_STRING(0, "entities", &opts.entities, "file",
			   "entity rows: join keys, a timestamp, any other columns (- for stdin)"),
		OPT_LIST('f', "features", &refs, "ref",
			 "view:feature, a view (all its features) or a feature service; repeatable"),
		OPT_BOOL(0, "full-feature-names", &opts.full_names, "name columns view__feature"),
		OPT_STRING(0, "timestamp-column", &opts.ts_column, "column",
			   "the entity rows' timestamp column (default: event_timestamp)"),
		OPT_STRING('o', "output", &output, "file", "write to file instead of stdout"),
		OPT_STRING(0, "format", &format, "format", "csv (default) or json (one object a line)"),
		OPT_BOOL('v', "verbose", &verbose,
			 "print the rows written and per view the rows matched, even when stderr is not a terminal"),
		OPT_END(),
	};
	char *tmp = NULL;
	FILE *out = stdout;
	int rc;

	if (parse_options(argc, argv, options, usage))
		usage_error(usage, options, "too many arguments");
	if (!opts.entities)
		usage_error(usage, options, "--entities is required");
	if (!refs.n)
		usage_error(usage, options, "at least one -f <ref> is required");
	if (strcmp(format, "csv") && strcmp(format, "json"))
		usage_error(usage, options, "unknown format '%s' (csv or json)", format);
	opts.json = !strcmp(format, "json");
	opts.refs = refs.items;
	opts.nrefs = refs.n;
	if (output) {
		/* write next to the target, rename at the end: no partial file on failure */
		tmp = xstrfmt("%s.tmp.%ld", output, (long)getpid());
		partial_path = tmp;
		signal(SIGINT, remove_partial);
		signal(SIGTERM, remove_partial);
		signal(SIGHUP, remove_partial);
		signal(SIGQUIT, remove_partial);
		out = fopen(tmp, "w");
		if (!out) {
			rc = die("cannot create '%s': %s", output, strerror(errno));
			goto done;
		}
	}
	if (isatty(STDERR_FILENO)) {
		opts.progress = progress;
		opts.progress_ctx = &progressed;
	}
	if (getenv("FS_TIMING") && *getenv("FS_TIMING"))
		opts.timing = timing;
	rc = fs_historical(ctx->repo, &opts, out, &stats);
	if (progressed)
		fputs("\r\033[K", stderr);
	if (output) {
		if (fclose(out) && !rc) {
			fs_error_set("cannot write '%s': %s", output, strerror(errno));
			rc = FS_ERR;
		}
		if (!rc && rename(tmp, output) < 0) {
			fs_error_set("cannot write '%s': %s", output, strerror(errno));
			rc = FS_ERR;
		}
		if (rc)
			unlink(tmp);
		partial_path = NULL;
	}
	if (rc)
		rc = die_last_error();
	else
		report(&stats, verbose || isatty(STDERR_FILENO));
done:
	fs_hist_stats_release(&stats);
	free(tmp);
	opt_list_release(&refs);
	return rc;
}
