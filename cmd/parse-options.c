#include "parse-options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "util.h"
#include "banned.h"

static int (*deferred_fatal)(void *);
static void *deferred_data;
static bool json_given;

static bool has_quiet(const struct option *opts)
{
	const struct option *o;

	for (o = opts; o && o->type != OPT_END_T; o++)
		if (o->short_name == 'q' || (o->long_name && !strcmp(o->long_name, "quiet")))
			return true;
	return false;
}

static void print_usage(FILE *out, const char *const *usage, const struct option *opts)
{
	const struct option *o;
	int i;

	for (i = 0; usage[i]; i++)
		fprintf(out, "%s%s\n", i ? "   or: " : "usage: ", usage[i]);
	fputc('\n', out);
	if (!has_quiet(opts))
		fprintf(out, "    %-24s%s\n", "-q, --quiet", "print nothing on stdout (errors still go to stderr)");
	for (o = opts; o->type != OPT_END_T; o++) {
		char left[128];
		int n = 0;

		if (o->type == OPT_GROUP_T) {
			fprintf(out, "\n%s\n", o->help);
			continue;
		}
		if (o->short_name && o->long_name)
			n = snprintf(left, sizeof(left), "-%c, --%s", o->short_name, o->long_name);
		else if (o->short_name)
			n = snprintf(left, sizeof(left), "-%c", o->short_name);
		else
			n = snprintf(left, sizeof(left), "    --%s", o->long_name);
		if (o->argh && n > 0 && (size_t)n < sizeof(left))
			snprintf(left + n, sizeof(left) - (size_t)n, " <%s>", o->argh);
		if (strlen(left) > 22)
			fprintf(out, "    %s\n%28s%s\n", left, "", o->help);
		else
			fprintf(out, "    %-24s%s\n", left, o->help);
	}
}

void usage_with_options(const char *const *usage, const struct option *opts, bool err)
{
	print_usage(err ? stderr : stdout, usage, opts);
	if (!err && (fflush(stdout) || ferror(stdout)) && errno != EPIPE) {
		fprintf(stderr, "fatal: unable to write to stdout: %s\n", strerror(errno));
		exit(128);
	}
	exit(err ? 129 : 0);
}

void usage_error(const char *const *usage, const struct option *opts, const char *fmt, ...)
{
	va_list ap;

	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage_with_options(usage, opts, true);
}

static void set_value(const struct option *o, const char *arg)
{
	switch (o->type) {
	case OPT_BOOL_T:
		*(bool *)o->value = true;
		if (o->long_name && !strcmp(o->long_name, "json"))
			json_given = true;
		break;
	case OPT_STRING_T:
		*(const char **)o->value = arg;
		break;
	case OPT_LIST_T: {
		struct opt_list *l = o->value;
		ALLOC_GROW(l->items, l->n + 1, l->alloc);
		l->items[l->n++] = arg;
		break;
	}
	default:
		break;
	}
}

static void completion_helper(const struct option *opts)
{
	const struct option *o;

	for (o = opts; o && o->type != OPT_END_T; o++) {
		if (o->type == OPT_GROUP_T || !o->long_name)
			continue;
		printf("--%s%s ", o->long_name, o->argh ? "=" : "");
	}
	if (!has_quiet(opts))
		printf("--quiet ");
	putchar('\n');
	exit(0);
}

/* Every command takes -q, --quiet: print nothing on stdout, errors still on stderr. */
static const struct option implicit_quiet = OPT_BOOL('q', "quiet", NULL, NULL);

static void silence_stdout(const char *const *usage, const struct option *opts)
{
	fflush(stdout);
	if (!freopen("/dev/null", "w", stdout))
		usage_error(usage, opts, "cannot silence stdout");
}

/*
 * The long option name[0..len) stands for, as git's parse-options finds it:
 * the option of that exact name, else the only one whose name starts with
 * it (--mess for --message). No option, or several, is a usage error.
 * Returns &implicit_quiet for the --quiet every command takes.
 */
static const struct option *find_long(const struct option *opts, const char *const *usage,
				      const char *name, size_t len)
{
	const struct option *o, *found[64];
	size_t n = 0, i;
	struct strbuf sb = STRBUF_INIT;

	for (o = opts; o->type != OPT_END_T; o++)
		if (o->long_name && strlen(o->long_name) == len && !strncmp(o->long_name, name, len))
			return o;
	if (!has_quiet(opts) && len == 5 && !strncmp(name, "quiet", 5))
		return &implicit_quiet;
	for (o = opts; len && o->type != OPT_END_T; o++)
		if (o->long_name && !strncmp(o->long_name, name, len) && n < ARRAY_SIZE(found))
			found[n++] = o;
	if (len && !has_quiet(opts) && !strncmp("quiet", name, len) && n < ARRAY_SIZE(found))
		found[n++] = &implicit_quiet;
	if (n == 1)
		return found[0];
	if (!n)
		usage_error(usage, opts, "unknown option '%.*s'", (int)len, name);
	for (i = 0; i < n; i++)
		sb_addf(&sb, "%s--%s", !i ? "" : i + 1 < n ? ", " : " or ", found[i]->long_name);
	usage_error(usage, opts, "ambiguous option: %.*s (could be %s)", (int)len, name, sb_str(&sb));
}

int parse_options(int argc, const char **argv, const struct option *opts,
		  const char *const *usage)
{
	int i, out = 0;
	bool only_args = false;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const struct option *o;

		if (only_args || arg[0] != '-' || !arg[1]) {
			argv[out++] = arg;
			continue;
		}
		if (!strcmp(arg, "--")) {
			only_args = true;
			continue;
		}
		if (!strcmp(arg, "-h") || !strcmp(arg, "--help"))
			usage_with_options(usage, opts, false);
		if (!strcmp(arg, "--fs-completion-helper"))
			completion_helper(opts);
		if (arg[1] == '-') {
			const char *name = arg + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);

			o = find_long(opts, usage, name, len);
			if (o == &implicit_quiet) {
				if (eq)
					usage_error(usage, opts, "option 'quiet' takes no value");
				silence_stdout(usage, opts);
				continue;
			}
			if (o->type == OPT_BOOL_T) {
				if (eq)
					usage_error(usage, opts, "option '%s' takes no value",
						    o->long_name);
				set_value(o, NULL);
			} else if (eq) {
				set_value(o, eq + 1);
			} else if (i + 1 < argc) {
				set_value(o, argv[++i]);
			} else {
				usage_error(usage, opts, "option '%s' requires a value",
					    o->long_name);
			}
			continue;
		}
		/* short options, possibly bundled: -qv, -mMSG, -m MSG */
		for (arg++; *arg; arg++) {
			for (o = opts; o && o->type != OPT_END_T; o++)
				if (o->short_name == *arg)
					break;
			if ((!o || o->type == OPT_END_T) && *arg == 'q') {
				silence_stdout(usage, opts);
				continue;
			}
			if (!o || o->type == OPT_END_T)
				usage_error(usage, opts, "unknown switch '%c'", *arg);
			if (o->type == OPT_BOOL_T) {
				set_value(o, NULL);
				continue;
			}
			if (arg[1]) {
				set_value(o, arg + 1);
			} else if (i + 1 < argc) {
				set_value(o, argv[++i]);
			} else {
				usage_error(usage, opts, "switch '%c' requires a value", *arg);
			}
			break;
		}
	}
	argv[out] = NULL;
	if (deferred_fatal) {
		/* the options were fine: now report why the command cannot run */
		exit(deferred_fatal(deferred_data));
	}
	return out;
}

void parse_options_defer_fatal(int (*report)(void *), void *data)
{
	deferred_fatal = report;
	deferred_data = data;
}

bool parse_options_json(void)
{
	return json_given;
}

void opt_list_release(struct opt_list *l)
{
	free(l->items);
	memset(l, 0, sizeof(*l));
}
