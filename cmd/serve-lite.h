/*
 * serve-lite.h: the server that fs serve-lite and fs ui both run.
 */
#ifndef FS_CMD_SERVE_LITE_H
#define FS_CMD_SERVE_LITE_H

#include <stdbool.h>

#include "builtin.h"
#include "parse-options.h"
#include "server.h"

struct serve_lite_args {
	struct fs_server_opts o; /* all but the tokens and the access log */
	const char *token_file;  /* NULL: no token needed */
	const char *access_log;  /* NULL: none; "-": stderr */
};

/* --host and --port into a; a bad port is a usage error (exit 129). */
void serve_lite_address(struct serve_lite_args *a, const char *host, const char *port,
			const char *const *usage, const struct option *options);

/*
 * Serve until SIGTERM or SIGINT, after printing "WHAT listening on URL"
 * (URL ending in "/" when ui: the page's address). Returns the exit code.
 */
int serve_lite_run(struct fs_ctx *ctx, const struct serve_lite_args *a, const char *what, bool ui);

#endif
