#include <unistd.h>

#include "builtin.h"
#include "parse-options.h"
#include "serve-lite.h"
#include "banned.h"

/*
 * fs ui: the serve-lite server, which answers the web UI at "/", started
 * with the options a person at a terminal needs, and its URL printed.
 */
int cmd_ui(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = {
		"fs ui [--host <addr>] [--port <port>] [--token-file <file>]",
		NULL
	};
	const char *host = "127.0.0.1", *port = "6566", *token_file = NULL;
	const struct option options[] = {
		OPT_STRING(0, "host", &host, "addr", "address to listen on (default 127.0.0.1)"),
		OPT_STRING(0, "port", &port, "port", "port (default 6566; 0: any free port)"),
		OPT_STRING(0, "token-file", &token_file, "file",
			   "the page asks for one of these tokens (one a line) before it shows anything"),
		OPT_END(),
	};
	struct serve_lite_args a = { 0 };
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (parse_options(argc, argv, options, usage))
		usage_error(usage, options, "too many arguments");
	serve_lite_address(&a, host, port, usage, options);
	/* serve-lite's defaults: a page makes a few requests at a time */
	a.o.threads = n < 1 ? 1 : n > 4 ? 4 : (unsigned)n;
	a.o.max_body = 1048576;
	a.o.timeout = 30;
	a.token_file = token_file;
	return serve_lite_run(ctx, &a, "fs ui", true);
}
