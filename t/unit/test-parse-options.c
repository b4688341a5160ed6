/*
 * Unit tests of cmd/parse-options.c where the CLI has no case: a long
 * option whose name starts another's (the exact name wins), and the usage
 * errors of abbreviations, checked in a child since they exit.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "parse-options.h"
#include "tap.h"

static const char *const usage[] = { "test [<options>]", NULL };
static bool force, force_all, verbose;
static const char *message, *metric;
static const struct option options[] = {
	OPT_BOOL(0, "force", &force, "force"),
	OPT_BOOL(0, "force-all", &force_all, "force all"),
	OPT_STRING('m', "message", &message, "msg", "message"),
	OPT_STRING(0, "metric", &metric, "k=v", "metric"),
	OPT_BOOL(0, "verbose", &verbose, "verbose"),
	OPT_END(),
};

static void reset(void)
{
	force = force_all = verbose = false;
	message = metric = NULL;
}

static int parse(const char *a1, const char *a2)
{
	const char *argv[4] = { "test", a1, a2, NULL };

	reset();
	return parse_options(a2 ? 3 : 2, argv, options, usage);
}

/* The exit status of parsing a1 in a child, stderr to /dev/null. */
static int parse_status(const char *a1)
{
	int status;
	pid_t pid;

	fflush(stdout); /* the child exits: its copy of the buffer must be empty */
	pid = fork();

	if (pid == 0) {
		if (!freopen("/dev/null", "w", stderr))
			_exit(99);
		parse(a1, NULL);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int main(void)
{
	parse("--force", NULL);
	ok(force && !force_all, "--force is --force although --force-all starts with it");
	parse("--force-", NULL);
	ok(!force && force_all, "--force- is --force-all");
	parse("--mes", "hi");
	is_str(message, "hi", "--mes VALUE is --message");
	parse("--mess=hi", NULL);
	is_str(message, "hi", "--mess=VALUE is --message");
	parse("--metr=a=1", NULL);
	is_str(metric, "a=1", "--metr=VALUE is --metric");
	parse("--v", NULL);
	ok(verbose, "--v is --verbose");
	ok(parse_status("--me=x") == 129, "--me (--message or --metric) is a usage error");
	ok(parse_status("--f") == 129, "--f (--force or --force-all) is a usage error");
	ok(parse_status("--verbose=yes") == 129, "a boolean abbreviation takes no value");
	ok(parse_status("--x") == 129, "an unknown option is a usage error");
	ok(parse_status("--q") == 0, "--q is the --quiet every command takes");
	return done_testing();
}
