#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builtin.h"
#include "error.h"
#include "jsonout.h"
#include "models.h"
#include "parse-options.h"
#include "timeutil.h"
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
	size_t i;

	json_array_foreach(list, i, v) {
		int n = (int)strlen(json_string_value(json_object_get(v, "model")));
		if (n > nw)
			nw = n;
	}
	if (json_array_size(list) && isatty(STDOUT_FILENO))
		printf("%-*s %-*s %-11s %-20s %-19s %s\n", nw, "MODEL", vw, "VER", "STAGE", "CREATED",
		       "ARTIFACT", "METRICS");
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
		putchar('\n');
	}
}

static int models_log(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = { "fs models log <name> [--json]", NULL };
	bool json = false;
	const struct option options[] = {
		OPT_BOOL(0, "json", &json, "print as JSON"),
		OPT_END(),
	};
	json_t *log, *e;
	size_t i;

	argc = parse_options(argc, argv, options, usage);
	if (argc != 1)
		usage_error(usage, options, "expected one model name");
	if (fs_model_known(ctx->repo->registry, argv[0]) ||
	    fs_models_log(ctx->repo->registry, argv[0], &log))
		return die_last_error();
	if (json) {
		print_json(json_pack("{s:s, s:o}", "model", argv[0], "transitions", log));
		return 0;
	}
	json_array_foreach(log, i, e) {
		json_t *from = json_object_get(e, "from"), *reason = json_object_get(e, "reason");
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
	json_decref(log);
	return 0;
}

int cmd_models(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = {
		"fs models [<name>] [--at <time>] [--json]",
		"fs models log <name> [--json]",
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
	argc = parse_options(argc, argv, options, usage);
	if (argc > 1)
		usage_error(usage, options, "too many arguments");
	if (at) {
		int64_t us;
		json_t *stages;
		const char *const *s;
		if (!argc)
			usage_error(usage, options, "--at needs a model name");
		if (fs_time_parse_arg(at, (int64_t)time(NULL), &us))
			usage_error(usage, options, "%s", fs_error_last());
		if (fs_model_known(ctx->repo->registry, argv[0]) ||
		    fs_models_at(ctx->repo->registry, argv[0], us / FS_USEC, &stages))
			return die_last_error();
		if (json) {
			char when[FS_TIME_BUFSZ];
			fs_time_format(when, us / FS_USEC);
			print_json(json_pack("{s:s, s:s, s:o}", "model", argv[0], "at", when, "stages",
					     stages));
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
		json_decref(stages);
		return 0;
	}
	if ((argc && fs_model_known(ctx->repo->registry, argv[0])) ||
	    fs_models_list(ctx->repo->registry, argc ? argv[0] : NULL, &list))
		return die_last_error();
	if (json) {
		print_json(json_pack("{s:o}", "versions", list));
		return 0;
	}
	print_versions(list);
	json_decref(list);
	return 0;
}
