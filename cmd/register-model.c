#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "error.h"
#include "models.h"
#include "parse-options.h"
#include "banned.h"

static bool has_outer_space(const char *s)
{
	size_t n = strlen(s);

	return n && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]));
}

/*
 * K=V arguments into a JSON object: numbers for metrics, strings otherwise.
 * Keys and values are taken as written: surrounding whitespace, a key given
 * twice, and for metrics anything but a finite decimal number (no hex, inf
 * or nan) are usage errors. A metric too small for a double (1e-400) is
 * what strtod makes of it, 0 or a subnormal: still the nearest number.
 */
static json_t *kv_object(const struct opt_list *l, bool numbers, const char *what,
			 const char *const *usage, const struct option *options)
{
	json_t *obj = json_object();
	size_t i;

	for (i = 0; i < l->n; i++) {
		char *key, *end;
		const char *value;
		double d;

		if (parse_kv(l->items[i], &key, &value))
			usage_error(usage, options, "--%s takes KEY=VALUE, not '%s'", what, l->items[i]);
		if (has_outer_space(key) || has_outer_space(value))
			usage_error(usage, options, "%s '%s': leading or trailing whitespace in '%s'",
				    what, key, l->items[i]);
		if (json_object_get(obj, key))
			usage_error(usage, options, "%s '%s' given twice", what, key);
		if (numbers) {
			errno = 0;
			d = strtod(value, &end);
			if (errno == ERANGE && isfinite(d))
				errno = 0; /* underflow: d is the nearest double */
			if (!*value || *end || errno || !isfinite(d) || strpbrk(value, "xX"))
				usage_error(usage, options,
					    "metric '%s': '%s' is not a number (expected a finite decimal such as 0.85)",
					    key, value);
			json_object_set_new(obj, key, json_real(d));
		} else {
			json_object_set_new(obj, key, json_string(value));
		}
		free(key);
	}
	return obj;
}

int cmd_register_model(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = {
		"fs register-model <name> --artifact <path|url> [--metric <key=value>]...\n"
		"                  [--param <key=value>]... [--tag <key=value>]... [-m <text>] [--json]",
		NULL
	};
	struct opt_list metrics = { 0 }, params = { 0 }, tags = { 0 };
	struct fs_register_opts o = { 0 };
	bool json = false;
	const struct option options[] = {
		OPT_STRING(0, "artifact", &o.artifact, "path|url",
			   "the model file or directory, or an http(s) URL to fetch"),
		OPT_LIST(0, "metric", &metrics, "key=value", "a numeric metric; repeatable"),
		OPT_LIST(0, "param", &params, "key=value", "a training parameter; repeatable"),
		OPT_LIST(0, "tag", &tags, "key=value", "a tag; repeatable"),
		OPT_STRING('m', "message", &o.description, "text", "a description of this version"),
		OPT_BOOL(0, "json", &json, "print the whole version as JSON"),
		OPT_END(),
	};
	struct fs_git *git;
	json_t *v = NULL;
	char *author = NULL;
	int rc;

	argc = parse_options(argc, argv, options, usage);
	/* the artifact given as a second argument: name the option it needs */
	if (!o.artifact && argc == 2)
		usage_error(usage, options, "--artifact is required (fs register-model %s --artifact %s)",
			    argv[0], argv[1]);
	if (argc != 1)
		usage_error(usage, options, "expected one model name");
	if (!o.artifact)
		usage_error(usage, options, "--artifact is required");
	o.model = argv[0];
	o.metrics = kv_object(&metrics, true, "metric", usage, options);
	o.params = kv_object(&params, false, "param", usage, options);
	o.tags = kv_object(&tags, false, "tag", usage, options);
	if (fs_repo_git(ctx->repo, &git)) {
		rc = die_last_error();
		goto done;
	}
	author = fs_git_author(git);
	o.author = author;
	if (fs_model_register(ctx->repo, &o, &v)) {
		rc = die_last_error();
		goto done;
	}
	if (json)
		print_json(json_incref(v));
	else
		printf("%lld\n", (long long)json_integer_value(json_object_get(v, "version")));
	fflush(stdout);
	fire_webhooks(ctx->repo->config, "model.registered",
		      json_pack("{s:O, s:O, s:n, s:s, s:s, s:O, s:{s:O, s:O}}", "model",
				json_object_get(v, "model"), "version", json_object_get(v, "version"),
				"from_stage", "to_stage", "none", "author", author, "time",
				json_object_get(v, "created_at"), "artifact", "uri",
				json_object_get(json_object_get(v, "artifact"), "uri"), "sha256",
				json_object_get(json_object_get(v, "artifact"), "sha256")));
	rc = 0;
done:
	json_decref(v);
	json_decref(o.metrics);
	json_decref(o.params);
	json_decref(o.tags);
	free(author);
	opt_list_release(&metrics);
	opt_list_release(&params);
	opt_list_release(&tags);
	return rc;
}
