#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "duration.h"
#include "error.h"
#include "jsonout.h"
#include "util.h"
#include "webhook.h"
#include "banned.h"

int die_last_error(void)
{
	fprintf(stderr, "fatal: %s\n", fs_error_last());
	return EXIT_FATAL;
}

int die(const char *fmt, ...)
{
	va_list ap;

	fputs("fatal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FATAL;
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

int die_diags(struct fs_diags *diags, const char *what)
{
	char *text = fs_diags_report(diags, what);

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
