#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "error.h"
#include "parse-options.h"
#include "serve-lite.h"
#include "util.h"
#include "banned.h"

/* One token a line, surrounding whitespace ignored, blank lines skipped. */
static int read_tokens(const char *path, char ***out, size_t *n)
{
	struct strbuf sb = STRBUF_INIT;
	char *p, *line;

	*out = NULL;
	*n = 0;
	if (sb_read_file(&sb, path) < 0) {
		fs_error_set("cannot read token file '%s': %s", path, strerror(errno));
		sb_release(&sb);
		return FS_ERR;
	}
	/* a token is printable text: a NUL would cut it short, anything else is no token */
	for (p = sb.buf; p < sb.buf + sb.len; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f) {
			fs_error_set("token file '%s': a control character (byte %zu, 0x%02x) is in no token",
				     path, (size_t)(p - sb.buf), c);
			sb_release(&sb);
			return FS_EINVALID;
		}
	}
	for (p = sb.buf; p && *p; p = line) {
		char *end;
		line = strchr(p, '\n');
		if (line)
			*line++ = '\0';
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		end = p + strlen(p);
		while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (!*p)
			continue;
		*out = xrealloc(*out, (*n + 1) * sizeof(char *));
		(*out)[(*n)++] = xstrdup(p);
	}
	sb_release(&sb);
	if (!*n) {
		fs_error_set("token file '%s' holds no token", path);
		return FS_EINVALID;
	}
	return 0;
}

static bool is_loopback(const char *host)
{
	return !strcmp(host, "localhost") || starts_with(host, "127.") || !strcmp(host, "::1");
}

/*
 * Start the server of the options in a and run it until SIGTERM or
 * SIGINT; what names the command in the line that tells where it
 * listens ("fs serve-lite listening on http://127.0.0.1:6566"), ui adds
 * the page's "/" to that URL.
 */
int serve_lite_run(struct fs_ctx *ctx, const struct serve_lite_args *a, const char *what, bool ui)
{
	struct fs_server_opts o = { 0 };
	struct fs_server *s = NULL;
	sigset_t set;
	int sig, rc = 0;
	size_t i;

	o = a->o;
	o.tokens = NULL;
	o.ntokens = 0;
	if (a->token_file && read_tokens(a->token_file, &o.tokens, &o.ntokens))
		return die_last_error();
	if (a->token_file) {
		struct stat st;
		if (stat(a->token_file, &st) == 0 && (st.st_mode & S_IROTH))
			warning("token file '%s' is readable by others (chmod o-r '%s')", a->token_file,
				a->token_file);
	}
	if (a->access_log) {
		o.access_log = strcmp(a->access_log, "-") ? fopen(a->access_log, "a") : stderr;
		if (!o.access_log) {
			rc = die("cannot open access log '%s': %s", a->access_log, strerror(errno));
			goto done;
		}
	}
	if (!a->token_file && !is_loopback(o.host))
		warning(ui ? "serving on %s without --token-file: anyone who can reach it can read the registry"
			   : "serving on %s without --token-file: anyone who can reach it can read and push features",
			o.host);
	/* signals are taken by this thread alone, with sigwait */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (fs_server_start(&s, ctx->repo, &o)) {
		rc = die_last_error();
		goto done;
	}
	printf("%s listening on %s://%s%s%s:%d%s\n", what, o.tls_cert ? "https" : "http",
	       strchr(o.host, ':') ? "[" : "", o.host, strchr(o.host, ':') ? "]" : "", fs_server_port(s),
	       ui ? "/" : "");
	fflush(stdout);
	sigwait(&set, &sig);
	fs_server_stop(s);
done:
	if (o.access_log && o.access_log != stderr)
		fclose(o.access_log);
	for (i = 0; i < o.ntokens; i++)
		free(o.tokens[i]);
	free(o.tokens);
	return rc;
}

/* --host and --port of serve-lite and ui into a; exits on a bad one */
void serve_lite_address(struct serve_lite_args *a, const char *host, const char *port,
			const char *const *usage, const struct option *options)
{
	char *end;
	long v;

	a->o.host = host;
	v = strtol(port, &end, 10);
	if (!*port || *end || v < 0 || v > 65535)
		usage_error(usage, options, "bad port '%s'", port);
	a->o.port = (int)v;
}

int cmd_serve_lite(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = {
		"fs serve-lite [--host <addr>] [--port <port>] [--token-file <file>] [--threads <n>]\n"
		"              [--max-body <bytes>] [--timeout <seconds>] [--access-log <file>|-]\n"
		"              [--tls-cert <file> --tls-key <file>]",
		NULL
	};
	const char *host = "127.0.0.1", *port = "6566", *token_file = NULL, *threads = NULL,
		   *max_body = "1048576", *timeout = "30", *access_log = NULL, *tls_cert = NULL,
		   *tls_key = NULL;
	const struct option options[] = {
		OPT_STRING(0, "host", &host, "addr", "address to listen on (default 127.0.0.1)"),
		OPT_STRING(0, "port", &port, "port", "port (default 6566; 0: any free port)"),
		OPT_STRING(0, "token-file", &token_file, "file",
			   "require Authorization: Bearer <token>, tokens one a line"),
		OPT_STRING(0, "threads", &threads, "n", "worker threads (default: the number of cores)"),
		OPT_STRING(0, "max-body", &max_body, "bytes", "largest request body (default 1 MiB)"),
		OPT_STRING(0, "timeout", &timeout, "seconds", "idle connection timeout (default 30)"),
		OPT_STRING(0, "access-log", &access_log, "file", "log one line per request (- for stderr)"),
		OPT_STRING(0, "tls-cert", &tls_cert, "file",
			   "serve HTTPS with this PEM certificate (needs --tls-key)"),
		OPT_STRING(0, "tls-key", &tls_key, "file",
			   "the PEM private key of --tls-cert, unencrypted"),
		OPT_END(),
	};
	struct serve_lite_args a = { 0 };
	char *end;
	long v;

	if (parse_options(argc, argv, options, usage))
		usage_error(usage, options, "too many arguments");
	serve_lite_address(&a, host, port, usage, options);
	v = threads ? strtol(threads, &end, 10) : sysconf(_SC_NPROCESSORS_ONLN);
	if ((threads && *end) || v < 1 || v > 256)
		usage_error(usage, options, "bad thread count '%s'", threads);
	a.o.threads = (unsigned)v;
	v = strtol(max_body, &end, 10);
	if (*end || v < 1)
		usage_error(usage, options, "bad --max-body '%s'", max_body);
	a.o.max_body = (size_t)v;
	v = strtol(timeout, &end, 10);
	if (*end || v < 1)
		usage_error(usage, options, "bad --timeout '%s'", timeout);
	a.o.timeout = (unsigned)v;
	if (!tls_cert != !tls_key)
		usage_error(usage, options, "--tls-cert and --tls-key go together");
	a.o.tls_cert = tls_cert;
	a.o.tls_key = tls_key;
	a.token_file = token_file;
	a.access_log = access_log;
	return serve_lite_run(ctx, &a, "fs serve-lite", false);
}
