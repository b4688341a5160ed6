/*
 * fs.c: the dispatcher. One sorted table of commands drives dispatch,
 * `fs help`, `--list-cmds` and completion. It does what every command
 * needs: -C, finding the repository (walking up to fs.yaml), opening its
 * registry, and checking that stdout was written.
 */
#include <errno.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "embedded.h"
#include "error.h"
#include "parse-options.h"
#include "util.h"
#include "banned.h"

#define NEEDS_REPO 1
#define VALIDATES 2 /* an invalid fs.yaml is reported with the definitions */
#define USE_PAGER 4 /* long output: through the pager on a terminal (pager.c) */

struct cmd_struct {
	const char *name;
	int (*fn)(int, const char **, struct fs_ctx *);
	unsigned flags;
	const char *summary;
};

static const struct cmd_struct commands[] = {
	{ "alias", cmd_alias, NEEDS_REPO, "Set, move, delete or list the aliases of a model's versions" },
	{ "apply", cmd_apply, NEEDS_REPO | VALIDATES, "Validate definitions, commit them and register them" },
	{ "describe", cmd_describe, NEEDS_REPO | USE_PAGER, "Show one registered object" },
	{ "get-historical", cmd_get_historical, NEEDS_REPO,
	  "Build a point-in-time correct training set" },
	{ "get-online", cmd_get_online, NEEDS_REPO, "Read feature values from the online store" },
	{ "help", cmd_help, 0, "Show help for fs or a command" },
	{ "init", cmd_init, 0, "Create a feature repository" },
	{ "log", cmd_log, NEEDS_REPO | USE_PAGER, "Show the apply history" },
	{ "ls", cmd_ls, NEEDS_REPO | USE_PAGER, "List registered objects" },
	{ "materialize", cmd_materialize, NEEDS_REPO,
	  "Load the latest values of a time window into the online store" },
	{ "materialize-incremental", cmd_materialize_incremental, NEEDS_REPO,
	  "Materialize from where each view's last run ended" },
	{ "models", cmd_models, NEEDS_REPO | USE_PAGER,
	  "List model versions, their audit trail, or past stages" },
	{ "plan", cmd_plan, NEEDS_REPO | VALIDATES | USE_PAGER, "Show what apply would change" },
	{ "promote", cmd_promote, NEEDS_REPO, "Move a model version to a stage, checking its gates" },
	{ "push", cmd_push, NEEDS_REPO, "Write rows of a push source to the online store" },
	{ "register-model", cmd_register_model, NEEDS_REPO,
	  "Register a new model version with its artifact and lineage" },
	{ "serve-lite", cmd_serve_lite, NEEDS_REPO,
	  "Serve online features and model stages over HTTP (Feast-compatible)" },
	{ "status", cmd_status, NEEDS_REPO, "Show how fresh each online view is" },
	{ "stream", cmd_stream, NEEDS_REPO,
	  "Apply events from Kafka topics and Redis Streams to the online store" },
	{ "ui", cmd_ui, NEEDS_REPO, "Browse the registry, lineage, freshness and models in a web page" },
	{ "version", cmd_version, 0, "Print the version" },
};

static const char fs_usage[] =
	"fs [-C <path>] [-P | --no-pager] [--version] [--help] <command> [<args>]";

static const struct cmd_struct *find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void print_main_usage(FILE *out)
{
	size_t i;
	int width = 0;

	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if ((int)strlen(commands[i].name) > width)
			width = (int)strlen(commands[i].name);
	fprintf(out, "usage: %s\n\nCommands:\n", fs_usage);
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "   %-*s  %s\n", width, commands[i].name, commands[i].summary);
	fprintf(out, "\nSee 'fs help <command>' or 'fs <command> -h' for one command.\n");
}

static int cmd_exit(int rc)
{
	if (fflush(stdout) || ferror(stdout)) {
		if (errno == EPIPE)
			return rc;
		return die("unable to write to stdout: %s", strerror(errno));
	}
	return rc;
}

static bool wants_help(int argc, const char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") ||
		    !strcmp(argv[i], "--fs-completion-helper"))
			return true;
	}
	return false;
}

/* Why a command cannot run (no repository, an invalid fs.yaml): reported after its options. */
struct not_runnable {
	struct fs_diags *diags;
	char *msg;
};

static int report_not_runnable(void *data)
{
	struct not_runnable *why = data;

	return why->diags->n ? die_diags(why->diags, "fs.yaml") : die("%s", why->msg);
}

static int run_builtin(const struct cmd_struct *c, int argc, const char **argv)
{
	struct fs_ctx ctx = { NULL };
	struct fs_diags diags = { 0 };
	struct not_runnable why = { &diags, NULL };
	char *root = NULL;
	int rc;

	if ((c->flags & NEEDS_REPO) && !wants_help(argc, argv)) {
		if (fs_repo_discover(&root, ".")) {
			rc = FS_ENOTFOUND;
		} else {
			rc = fs_repo_open(&ctx.repo, root, &diags);
			if (rc == FS_EINVALID && (c->flags & VALIDATES)) {
				ctx.repo = fs_repo_open_invalid(root, &diags);
				rc = 0;
			}
		}
		if (rc) {
			/* bad usage still wins (129): the command's option parser reports this */
			why.msg = xstrdup(fs_error_last());
			parse_options_defer_fatal(report_not_runnable, &why);
			free(root);
			rc = c->fn(argc, argv, &ctx);
			parse_options_defer_fatal(NULL, NULL); /* not reached: the parser exits */
			rc = report_not_runnable(&why);
			fs_diags_release(&diags);
			free(why.msg);
			return rc;
		}
		free(root);
	}
	if ((c->flags & USE_PAGER) && !wants_help(argc, argv))
		setup_pager();
	rc = c->fn(argc, argv, &ctx);
	fs_repo_free(ctx.repo);
	return cmd_exit(rc);
}

/* git's rule: an unknown `fs foo` runs `fs-foo` from PATH. */
static void try_plugin(int argc, const char **argv)
{
	char *name = xstrfmt("fs-%s", argv[0]);
	const char **args = xcalloc((size_t)argc + 1, sizeof(*args));
	int i;

	args[0] = name;
	for (i = 1; i < argc; i++)
		args[i] = argv[i];
	fflush(stdout);
	execvp(name, (char *const *)args);
	free(args);
	free(name);
}

static int unknown_cmd(const char *name)
{
	const char *names[ARRAY_SIZE(commands)];
	const char *hint;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(commands); i++)
		names[i] = commands[i].name;
	fprintf(stderr, "fs: '%s' is not an fs command. See 'fs --help'.\n", name);
	hint = fs_suggest(name, names, ARRAY_SIZE(commands));
	if (hint)
		fprintf(stderr, "\nThe most similar command is\n\t%s\n", hint);
	return 1;
}

/* File-format pages (section 5), by the name fs help takes: built into the binary. */
static const struct {
	const char *topic, *page, *file;
} formats[] = {
	{ "definitions", "fs-definitions", "fs-definitions.adoc" },
	{ "fs.yaml", "fs.yaml", "fs.yaml.adoc" },
};

/* fs help TOPIC for a file format: man 5 PAGE when installed, else its text. */
static int help_format(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(formats); i++) {
		const struct fs_embedded *e;
		if (strcmp(formats[i].topic, name))
			continue;
		if (!getenv("FS_HELP_NO_MAN") && isatty(STDOUT_FILENO)) {
			char *check = xstrfmt("man -w 5 %s >/dev/null 2>&1", formats[i].page);
			int installed = system(check) == 0;
			free(check);
			if (installed) {
				fflush(stdout);
				execlp("man", "man", "5", formats[i].page, (char *)NULL);
			}
		}
		e = fs_embedded_get(formats[i].file);
		if (!e)
			return -1;
		setup_pager();
		fwrite(e->data, 1, e->len, stdout);
		return 0;
	}
	return -1;
}

int cmd_help(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = { "fs help [<command>|definitions|fs.yaml]", NULL };
	static const struct option options[] = { OPT_END() };
	const struct cmd_struct *c;
	const char *args[3];

	argc = parse_options(argc, argv, options, usage);
	if (argc == 0) {
		setup_pager();
		print_main_usage(stdout);
		return 0;
	}
	if (argc > 1)
		usage_error(usage, options, "too many arguments");
	c = find_cmd(argv[0]);
	if (!c && !help_format(argv[0]))
		return 0;
	if (!c)
		return unknown_cmd(argv[0]);
	/* the man page when it is installed, else the command's usage */
	if (!getenv("FS_HELP_NO_MAN") && isatty(STDOUT_FILENO)) {
		char *page = xstrfmt("fs-%s", c->name);
		char *check = xstrfmt("man -w %s >/dev/null 2>&1", page);
		int installed = system(check) == 0;
		free(check);
		if (installed) {
			fflush(stdout);
			execlp("man", "man", page, (char *)NULL);
		}
		free(page);
	}
	setup_pager();
	args[0] = c->name;
	args[1] = "-h";
	args[2] = NULL;
	return c->fn(2, args, ctx);
}

int main(int argc, const char **argv)
{
	const struct cmd_struct *c;
	int rc;

	argv++;
	argc--;
	while (argc > 0 && argv[0][0] == '-') {
		const char *a = argv[0];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			print_main_usage(stdout);
			return cmd_exit(0);
		} else if (!strcmp(a, "--version")) {
			printf("fs version %s\n", FS_VERSION);
			return cmd_exit(0);
		} else if (!strcmp(a, "--list-cmds")) {
			size_t i;
			for (i = 0; i < ARRAY_SIZE(commands); i++)
				printf("%s\n", commands[i].name);
			return cmd_exit(0);
		} else if (!strcmp(a, "-P") || !strcmp(a, "--no-pager")) {
			pager_disable();
			argv++;
			argc--;
		} else if (!strcmp(a, "-C")) {
			if (argc < 2) {
				fprintf(stderr, "error: -C requires a directory\nusage: %s\n", fs_usage);
				return EXIT_USAGE;
			}
			if (*argv[1] && chdir(argv[1]) < 0) {
				fprintf(stderr, "fatal: cannot change to '%s': %s\n", argv[1],
					strerror(errno));
				return EXIT_FATAL;
			}
			argv += 2;
			argc -= 2;
		} else {
			fprintf(stderr, "error: unknown option '%s'\nusage: %s\n", a, fs_usage);
			return EXIT_USAGE;
		}
	}
	if (argc == 0) {
		print_main_usage(stdout);
		return cmd_exit(1);
	}
	c = find_cmd(argv[0]);
	if (!c) {
		try_plugin(argc, argv);
		return unknown_cmd(argv[0]);
	}
	git_libgit2_init();
	rc = run_builtin(c, argc, argv);
	git_libgit2_shutdown();
	return rc;
}
