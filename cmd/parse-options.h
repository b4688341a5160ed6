/*
 * parse-options.h: command-line options as data (git's parse-options).
 *
 * One table per command drives parsing, `-h` (usage on stdout, exit 0),
 * usage errors (message and usage on stderr, exit 129) and completion
 * (`--fs-completion-helper` prints the long options).
 */
#ifndef FS_PARSE_OPTIONS_H
#define FS_PARSE_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

enum opt_type {
	OPT_END_T,
	OPT_BOOL_T,   /* bool *value */
	OPT_STRING_T, /* const char **value */
	OPT_LIST_T,   /* struct opt_list *value: repeatable */
	OPT_GROUP_T,
};

struct opt_list {
	const char **items;
	size_t n, alloc;
};

struct option {
	enum opt_type type;
	char short_name;
	const char *long_name;
	void *value;
	const char *argh; /* name of the argument in help */
	const char *help;
};

#define OPT_BOOL(s, l, v, h) { OPT_BOOL_T, (s), (l), (v), NULL, (h) }
#define OPT_STRING(s, l, v, a, h) { OPT_STRING_T, (s), (l), (v), (a), (h) }
#define OPT_LIST(s, l, v, a, h) { OPT_LIST_T, (s), (l), (v), (a), (h) }
#define OPT_GROUP(h) { OPT_GROUP_T, 0, NULL, NULL, NULL, (h) }
#define OPT_END() { OPT_END_T, 0, NULL, NULL, NULL, NULL }

/*
 * Parse argv (argv[0] is the command name) against options; returns the
 * number of arguments left in argv (moved to its front, options removed).
 * Exits on -h (0), --fs-completion-helper (0) and bad usage (129).
 */
int parse_options(int argc, const char **argv, const struct option *options,
		  const char *const *usage);
void usage_with_options(const char *const *usage, const struct option *options, bool err)
	__attribute__((noreturn));
/* "error: msg" then usage on stderr, exit 129. */
void usage_error(const char *const *usage, const struct option *options, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));
void opt_list_release(struct opt_list *l);
/*
 * A fatal error to report once the command's options parsed cleanly (the
 * dispatcher's "not an fs repository"), so that bad usage still exits 129
 * and the report knows whether --json was given: parse_options then exits
 * with what report(data) returns. NULL cancels.
 */
void parse_options_defer_fatal(int (*report)(void *), void *data);
/*
 * Whether the command's --json option (a boolean named "json") was given:
 * its failures are then reported as JSON (see report_error in builtin.h).
 */
bool parse_options_json(void);

#endif
