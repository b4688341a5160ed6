#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "duration.h"
#include "error.h"
#include "gitrepo.h"
#include "jsonout.h"
#include "parse-options.h"
#include "util.h"
#include "webhook.h"
#include "banned.h"

/* s as a JSON string: bytes that are not UTF-8 (a file's, quoted in a message) become '?'. */
static json_t *json_text(const char *s)
{
	json_t *j = json_string(s);
	char *copy, *p;

	if (j)
		return j;
	copy = xstrdup(s);
	for (p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

int report_error_json(int code, const char *msg, json_t *errors)
{
	json_t *j = json_object();
	char *text;

	json_object_set_new(j, "error", json_text(msg));
	json_object_set_new(j, "code", json_integer(code));
	if (errors)
		json_object_set_new(j, "errors", errors);
	text = json_dumps(j, 0); /* one line, keys in this order */
	fprintf(stderr, "%s\n", text);
	free(text);
	json_decref(j);
	return code;
}

static int vdie_code(int code, const char *fmt, va_list ap)
{
	char *msg = xvstrfmt(fmt, ap);

	if (parse_options_json())
		report_error_json(code, msg, NULL);
	else
		fprintf(stderr, "fatal: %s\n", msg);
	free(msg);
	return code;
}

int die_code(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdie_code(code, fmt, ap);
	va_end(ap);
	return code;
}

int die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdie_code(EXIT_FATAL, fmt, ap);
	va_end(ap);
	return EXIT_FATAL;
}

int die_last_error(void)
{
	return die("%s", fs_error_last());
}

void warning(const char *fmt, ...)
{
	va_list ap;

	fputs("warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int die_ident(void)
{
	/* git's hint (ident.c), then its fatal line */
	if (!parse_options_json())
		fprintf(stderr, "%s identity unknown\n"
				"\n"
				"*** Please tell me who you are.\n"
				"\n"
				"Run\n"
				"\n"
				"  git config --global user.email \"you@example.com\"\n"
				"  git config --global user.name \"Your Name\"\n"
				"\n"
				"to set your account's default identity.\n"
				"Omit --global to set the identity only in this repository.\n"
				"\n",
			fs_git_ident_unknown());
	return die_last_error();
}

int report_failed_check(json_t *msgs, const char *summary)
{
	size_t i;
	json_t *m;

	if (parse_options_json()) {
		if (json_array_size(msgs) == 1)
			report_error_json(EXIT_NEGATIVE, json_string_value(json_array_get(msgs, 0)), NULL);
		else
			report_error_json(EXIT_NEGATIVE, summary, json_incref(msgs));
	} else {
		json_array_foreach(msgs, i, m)
			fprintf(stderr, "error: %s\n", json_string_value(m));
	}
	json_decref(msgs);
	return EXIT_NEGATIVE;
}

int die_diags(struct fs_diags *diags, const char *what)
{
	char *text;
	json_t *errors;
	size_t i;

	if (parse_options_json()) {
		if (diags->n == 1) {
			text = fs_diag_format(&diags->items[0]);
			report_error_json(EXIT_FATAL, text, NULL);
			free(text);
			return EXIT_FATAL;
		}
		errors = json_array();
		for (i = 0; i < diags->n; i++) {
			text = fs_diag_format(&diags->items[i]);
			json_array_append_new(errors, json_text(text));
			free(text);
		}
		text = xstrfmt("%zu errors in %s", diags->n, what);
		report_error_json(EXIT_FATAL, text, errors);
		free(text);
		return EXIT_FATAL;
	}
	text = fs_diags_report(diags, what);
	fputs(text, stderr);
	free(text);
	return EXIT_FATAL;
}

void print_json(json_t *j)
{
	/* reals as the shortest text that reads back the same: 0.85, not 0.84999999999999998 */
	char *text = fs_json_dumps(j, 2);

	fputs(text, stdout);
	fputc('\n', stdout);
	free(text);
	json_decref(j);
}

const char *short_oid(const char *oid)
{
	static char buf[13];

	snprintf(buf, sizeof(buf), "%.12s", oid ? oid : "");
	return buf;
}

void fire_webhooks(const struct fs_config *cfg, const char *event, json_t *body)
{
	size_t i;
	char *text;

	json_object_set_new(body, "event", json_string(event));
	text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	for (i = 0; i < cfg->nwebhooks; i++) {
		if (!fs_webhook_wants(&cfg->webhooks[i], event))
			continue;
		if (fs_webhook_post(&cfg->webhooks[i], text))
			warning("%s (the %s still stands)", fs_error_last(),
				!strcmp(event, "model.registered") ? "registration" : "transition");
	}
	free(text);
	json_decref(body);
}

int parse_kv(const char *arg, char **key, const char **value)
{
	const char *eq = strchr(arg, '=');

	if (!eq || eq == arg)
		return -1;
	*key = xstrndup(arg, (size_t)(eq - arg));
	*value = eq + 1;
	return 0;
}

struct unleaked {
	struct unleaked *next;
	unsigned char data[];
};

static struct unleaked *unleaked;

void unleak_memory(const void *ptr, size_t len)
{
	struct unleaked *u = xmalloc(sizeof(*u) + len);

	memcpy(u->data, ptr, len);
	u->next = unleaked;
	unleaked = u;
}

void warn_skipped(const struct fs_files *files)
{
	size_t i, shown = files->nskipped > 10 ? 8 : files->nskipped;

	if (!files->nskipped)
		return;
	fprintf(stderr, "warning: skipped YAML files without 'kind' (not definitions): ");
	for (i = 0; i < shown; i++)
		fprintf(stderr, "%s%s", i ? ", " : "", files->skipped[i]);
	if (shown < files->nskipped)
		fprintf(stderr, " and %zu more", files->nskipped - shown);
	fprintf(stderr, "\nhint: name the paths that hold definitions in fs.yaml, such as "
			"'definitions: [features]' (see fs.yaml(5))\n");
}
