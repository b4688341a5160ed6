/*
 * builtin.h: the commands of the fs binary and what they share.
 *
 * A command is int cmd_NAME(int argc, const char **argv, struct fs_ctx *ctx):
 * argv[0] is its name; it returns the process exit status (0 success, 1 a
 * negative answer, 128 fatal, 129 usage). Commands marked NEEDS_REPO get
 * ctx->repo opened by the dispatcher.
 */
#ifndef FS_BUILTIN_H
#define FS_BUILTIN_H

#include <jansson.h>
#include <stdbool.h>

#include "diag.h"
#include "repo.h"

struct fs_ctx {
	struct fs_repo *repo;
};

#define EXIT_NEGATIVE 1
#define EXIT_FATAL 128
#define EXIT_USAGE 129

int cmd_alias(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_apply(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_describe(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_get_historical(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_get_online(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_help(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_init(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_log(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_ls(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_materialize(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_materialize_incremental(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_models(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_plan(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_promote(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_push(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_stream(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_register_model(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_serve_lite(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_ui(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_status(int argc, const char **argv, struct fs_ctx *ctx);
int cmd_version(int argc, const char **argv, struct fs_ctx *ctx);

/*
 * pager.c: from here on, stdout (and stderr when it is the terminal) goes
 * through the pager, when stdout is a terminal and neither --no-pager nor
 * a "cat" or empty pager says otherwise. The pager is waited for at exit.
 */
void setup_pager(void);
/* fs --no-pager, -P: setup_pager does nothing. */
void pager_disable(void);

struct fs_mat_opts;
/* materialize.c: shared by materialize and materialize-incremental */
int run_materialize(struct fs_ctx *ctx, struct fs_mat_opts *o, bool verbose, bool json);

/*
 * common.c: failures are reported here, and only here. As text they are
 * "fatal: <message>" lines; when the command's --json was given
 * (parse_options_json), one line of JSON instead,
 * {"error": "<message>", "code": <exit status>}, with "errors": [...] when
 * there are several problems; the exit status is the same either way.
 * Usage errors (129) stay text, as git's parse-options prints them.
 */
/* "fatal: <last error>" on stderr; returns EXIT_FATAL. */
int die_last_error(void);
/* "fatal: <message>" on stderr; returns EXIT_FATAL. */
int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, for a failure that exits with code (materialize: 1 when a view is busy). */
int die_code(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * No identity to commit with (FS_EIDENT): git's "*** Please tell me who you
 * are." hint (text only), then the fatal line; returns EXIT_FATAL.
 */
int die_ident(void);
/* The JSON line of a failure whatever --json says; steals errors (may be NULL); returns code. */
int report_error_json(int code, const char *msg, json_t *errors);
/*
 * A failed check (exit 1: a view too stale): "error: <message>" for each of
 * msgs (strings); as JSON the one message, or summary with the messages
 * as "errors". Steals msgs; returns EXIT_NEGATIVE.
 */
int report_failed_check(json_t *msgs, const char *summary);
void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print diagnostics (error: lines, then a fatal: line); returns EXIT_FATAL. */
int die_diags(struct fs_diags *diags, const char *what);
/* Pretty JSON on stdout, newline-terminated; steals j. */
void print_json(json_t *j);
/*
 * Once on stderr, the YAML files plan and apply left out because none of
 * their documents has a kind (no definitions: key in fs.yaml), and the hint.
 */
void warn_skipped(const struct fs_files *files);
/* POST event to the webhooks subscribed to it; failures are warnings. Steals body. */
void fire_webhooks(const struct fs_config *cfg, const char *event, json_t *body);
/* Split "KEY=VALUE": 0 with *key allocated, -1 when there is no '=' or no key. */
int parse_kv(const char *arg, char **key, const char **value);
/*
 * git's UNLEAK: a command about to exit keeps what it built instead of
 * freeing it piece by piece (for a large repository, freeing costs as much
 * as a quarter of `fs plan`); the memory stays reachable, so leak checkers
 * stay quiet and real leaks still show.
 */
void unleak_memory(const void *ptr, size_t len);
#define UNLEAK(var) unleak_memory(&(var), sizeof(var))
/* 12-character abbreviation of a commit id ("" stays ""). */
const char *short_oid(const char *oid);

#endif
