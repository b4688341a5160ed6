#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builtin.h"
#include "error.h"
#include "inspect.h"
#include "jsonout.h"
#include "artifact.h"
#include "models.h"
#include "parse-options.h"
#include "timeutil.h"
#include "util.h"
#include "banned.h"

/* Width of the version column: "v12", 5 at least (its width before it was computed). */
static int version_width(const json_t *list)
{
	char buf[32];
	json_t *v;
	size_t i;
	int w = 5, n;

	json_array_foreach(list, i, v) {
		n = snprintf(buf, sizeof(buf), "v%lld",
			     (long long)json_integer_value(json_object_get(v, "version")));
		if (n > w)
			w = n;
	}
	return w;
}

/*
 * One row per version; on a terminal a heading row first (not when piped:
 * scripts read the rows). The name column is as wide as the longest name
 * (20 at least, so that short names line up as they always have).
 */
static void print_versions(const json_t *list)
{
	int nw = 20, vw = version_width(list);
	json_t *v;
	size_t i, j;

	json_array_foreach(list, i, v) {
		int n = (int)strlen(json_string_value(json_object_get(v, "model")));
		if (n > nw)
			nw = n;
	}
	if (json_array_size(list) && isatty(STDOUT_FILENO))
		printf("%-*s %-*s %-11s %-20s %-19s %s\n", nw, "MODEL", vw, "VER", "STAGE", "CREATED",
		       "ARTIFACT", "METRICS @ALIASES");
	json_array_foreach(list, i, v) {
		json_t *metrics = json_object_get(v, "metrics"), *m;
		const char *k;
		char ver[32];

		snprintf(ver, sizeof(ver), "v%lld",
			 (long long)json_integer_value(json_object_get(v, "version")));
		printf("%-*s %-*s %-11s %s sha256:%.12s", nw,
		       json_string_value(json_object_get(v, "model")), vw, ver,
		       json_string_value(json_object_get(v, "stage")),
		       json_string_value(json_object_get(v, "created_at")),
		       json_string_value(json_object_get(json_object_get(v, "artifact"), "sha256")));
		json_object_foreach(metrics, k, m) {
			char num[FS_REAL_BUFSZ];
			printf(" %s=%s", k, fs_real_format(num, json_number_value(m)));
		}
		json_array_foreach(json_object_get(v, "aliases"), j, m)
			printf(" @%s", json_string_value(m));
		putchar('\n');
	}
}

static void print_alias_change(const json_t *e)
{
	json_t *v = json_object_get(e, "version"), *prev = json_object_get(e, "previous");
	char from[32] = "(new)", to[32] = "(deleted)";

	if (json_is_integer(prev))
		snprintf(from, sizeof(from), "v%lld", (long long)json_integer_value(prev));
	if (json_is_integer(v))
		snprintf(to, sizeof(to), "v%lld", (long long)json_integer_value(v));
	printf("%s  @%s  %s -> %s  by %s\n", json_string_value(json_object_get(e, "at")),
	       json_string_value(json_object_get(e, "alias")), from, to,
	       json_string_value(json_object_get(e, "author")));
}

static int models_log(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = { "fs models log <name> [--json]", NULL };
	bool json = false;
	const struct option options[] = {
		OPT_BOOL(0, "json", &json, "print as JSON"),
		OPT_END(),
	};
	json_t *log, *aliases, *e, *a;
	size_t i, next = 0;

	argc = parse_options(argc, argv, options, usage);
	if (argc != 1)
		usage_error(usage, options, "expected one model name");
	if (json) {
		if (fs_inspect_models_log(ctx->repo->registry, argv[0], &log))
			return die_last_error();
		print_json(log);
		return 0;
	}
	if (fs_model_known(ctx->repo->registry, argv[0]) ||
	    fs_models_log(ctx->repo->registry, argv[0], &log))
		return die_last_error();
	if (fs_models_alias_log(ctx->repo->registry, argv[0], &aliases)) {
		json_decref(log);
		return die_last_error();
	}
	/* the two trails as they happened: an alias change after the transition it followed */
	json_array_foreach(log, i, e) {
		json_t *from = json_object_get(e, "from"), *reason = json_object_get(e, "reason");
		json_int_t id = json_integer_value(json_object_get(e, "id"));

		for (; next < json_array_size(aliases); next++) {
			a = json_array_get(aliases, next);
			if (json_integer_value(json_object_get(a, "after_transition")) >= id)
				break;
			print_alias_change(a);
		}
		printf("%s  v%lld  %s -> %s  by %s%s%s%s\n", json_string_value(json_object_get(e, "at")),
		       (long long)json_integer_value(json_object_get(e, "version")),
		       from && json_is_string(from) ? json_string_value(from) : "(new)",
		       json_string_value(json_object_get(e, "to")),
		       json_string_value(json_object_get(e, "author")),
		       json_is_string(reason) ? "  \"" : "",
		       json_is_string(reason) ? json_string_value(reason) : "",
		       json_is_string(reason) ? "\"" : "");
		if (json_is_true(json_object_get(e, "forced")))
			printf("    (forced past unmet gates)\n");
	}
	for (; next < json_array_size(aliases); next++)
		print_alias_change(json_array_get(aliases, next));
	json_decref(log);
	json_decref(aliases);
	return 0;
}

/* The file name of a URL's path: what a browser would save it as. */
static char *url_base(const char *url)
{
	const char *p = strstr(url, "://"), *slash, *end;

	p = p ? p + 3 : url;
	end = p + strcspn(p, "?#");
	slash = memrchr(p, '/', (size_t)(end - p));
	if (!slash || slash + 1 >= end)
		return NULL;
	return xstrndup(slash + 1, (size_t)(end - slash - 1));
}

static int models_get(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = {
		"fs models get <name>@<stage|alias> [-o <path>] [--force]",
		"fs models get <name> <version> [-o <path>] [--force]",
		NULL
	};
	const char *path = NULL;
	bool force = false;
	const struct option options[] = {
		OPT_STRING('o', "output", &path, "path",
			   "where to write it (default: its original name, here)"),
		OPT_BOOL(0, "force", &force, "replace what is at that path"),
		OPT_END(),
	};
	struct fs_registry *reg;
	json_t *v = NULL, *art;
	char *model = NULL, *ref = NULL, *base = NULL;
	const char *uri, *kind, *sha;
	int version, rc;

	argc = parse_options(argc, argv, options, usage);
	if (argc == 1 && strchr(argv[0], '@')) {
		const char *at = strchr(argv[0], '@');
		model = xstrndup(argv[0], (size_t)(at - argv[0]));
		ref = xstrdup(at);
	} else if (argc == 2) {
		model = xstrdup(argv[0]);
		ref = xstrdup(argv[1]);
	} else {
		usage_error(usage, options, "expected <name>@<stage|alias>, or a name and a version");
	}
	if (path && !*path)
		usage_error(usage, options, "-o needs a path");
	reg = ctx->repo->registry; /* opened once the options parsed: not for -h */
	if (fs_model_known(reg, model)) {
		rc = die_last_error();
		goto done;
	}
	rc = fs_model_resolve(reg, model, ref, &version);
	if (rc == FS_EINVALID)
		usage_error(usage, options, "%s", fs_error_last());
	if (rc || fs_model_get(reg, model, version, &v)) {
		rc = die_last_error();
		goto done;
	}
	art = json_object_get(v, "artifact");
	uri = json_string_value(json_object_get(art, "uri"));
	kind = json_string_value(json_object_get(art, "kind"));
	sha = json_string_value(json_object_get(art, "sha256"));
	if (!path) {
		if (starts_with(uri, "http://") || starts_with(uri, "https://")) {
			base = url_base(uri);
		} else {
			const char *slash = strrchr(uri, '/');
			base = slash && slash[1] ? xstrdup(slash + 1) : NULL;
		}
		if (!base || !strcmp(base, ".") || !strcmp(base, "..")) {
			free(base);
			base = NULL;
			usage_error(usage, options, "cannot tell a file name from '%s': use -o <path>",
				    uri);
		}
		path = base;
	}
	rc = fs_artifact_export(ctx->repo->config->artifact_store, kind, sha, uri, path, force);
	if (rc == FS_ENOTFOUND && (starts_with(uri, "http://") || starts_with(uri, "https://"))) {
		/* a negative answer: where it is, for the caller to fetch */
		fprintf(stderr, "error: %s\n", fs_error_last());
		printf("%s\n", uri);
		rc = EXIT_NEGATIVE;
		goto done;
	}
	if (rc) {
		rc = die_last_error();
		goto done;
	}
	printf("%s\n", path);
	rc = 0;
done:
	json_decref(v);
	free(model);
	free(ref);
	free(base);
	return rc;
}

int cmd_models(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = {
		"fs models [<name>] [--at <time>] [--json]",
		"fs models log <name> [--json]",
		"fs models get <name>@<stage|alias> | <name> <version> [-o <path>] [--force]",
		NULL
	};
	const char *at = NULL;
	bool json = false;
	const struct option options[] = {
		OPT_STRING(0, "at", &at, "time", "which version held each stage at that time"),
		OPT_BOOL(0, "json", &json, "print as JSON"),
		OPT_END(),
	};
	json_t *list, *v;
	size_t i;

	if (argc > 1 && !strcmp(argv[1], "log"))
		return models_log(argc - 1, argv + 1, ctx);
	if (argc > 1 && !strcmp(argv[1], "get"))
		return models_get(argc - 1, argv + 1, ctx);
	argc = parse_options(argc, argv, options, usage);
	if (argc > 1)
		usage_error(usage, options, "too many arguments");
	if (at) {
		int64_t us;
		json_t *stages, *aliases;
		const char *const *s;
		const char *k;
		if (!argc)
			usage_error(usage, options, "--at needs a model name");
		if (fs_time_parse_arg(at, (int64_t)time(NULL), &us))
			usage_error(usage, options, "%s", fs_error_last());
		if (fs_model_known(ctx->repo->registry, argv[0]) ||
		    fs_models_at(ctx->repo->registry, argv[0], us / FS_USEC, &stages))
			return die_last_error();
		if (fs_models_aliases_at(ctx->repo->registry, argv[0], us / FS_USEC, &aliases)) {
			json_decref(stages);
			return die_last_error();
		}
		if (json) {
			char when[FS_TIME_BUFSZ];
			fs_time_format(when, us / FS_USEC);
			print_json(json_pack("{s:s, s:s, s:o, s:o}", "model", argv[0], "at", when,
					     "stages", stages, "aliases", aliases));
			return 0;
		}
		for (s = fs_stages; *s; s++) {
			json_t *vs = json_object_get(stages, *s);
			printf("%-11s", *s);
			json_array_foreach(vs, i, v)
				printf(" v%lld", (long long)json_integer_value(v));
			if (!json_array_size(vs))
				printf(" -");
			putchar('\n');
		}
		json_object_foreach(aliases, k, v)
			printf("@%-10s v%lld\n", k, (long long)json_integer_value(v));
		json_decref(stages);
		json_decref(aliases);
		return 0;
	}
	if (json) {
		if (fs_inspect_models(ctx->repo->registry, argc ? argv[0] : NULL, &list))
			return die_last_error();
		print_json(list);
		return 0;
	}
	if ((argc && fs_model_known(ctx->repo->registry, argv[0])) ||
	    fs_models_list(ctx->repo->registry, argc ? argv[0] : NULL, &list))
		return die_last_error();
	print_versions(list);
	json_decref(list);
	return 0;
}
