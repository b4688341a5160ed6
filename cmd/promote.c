#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builtin.h"
#include "error.h"
#include "models.h"
#include "parse-options.h"
#include "timeutil.h"
#include "util.h"
#include "banned.h"

/* The model.promoted webhooks of one transition. */
static void post_promoted(struct fs_ctx *ctx, const char *model, int version, const char *from,
			  const char *to, const char *author, const char *reason, bool forced)
{
	json_t *v = NULL;
	char when[FS_TIME_BUFSZ];

	fs_time_format(when, (int64_t)time(NULL));
	fs_model_get(ctx->repo->registry, model, version, &v);
	fire_webhooks(ctx->repo->config, "model.promoted",
		      json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s*, s:b, s:{s:O, s:O}}", "model",
				model, "version", version, "from_stage", from, "to_stage", to,
				"author", author, "time", when, "reason", reason, "forced", forced,
				"artifact", "uri",
				json_object_get(json_object_get(v, "artifact"), "uri"), "sha256",
				json_object_get(json_object_get(v, "artifact"), "sha256")));
	json_decref(v);
}

int cmd_promote(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = {
		"fs promote <name> <version> <stage> [--reason <text>] [--force] [--keep-existing] [--json]",
		NULL
	};
	struct fs_promote_opts o = { 0 };
	bool json = false;
	const struct option options[] = {
		OPT_STRING(0, "reason", &o.reason, "text", "why, for the audit trail"),
		OPT_BOOL(0, "force", &o.force, "override unmet gates and the skew guard (recorded)"),
		OPT_BOOL(0, "keep-existing", &o.keep_existing,
			 "do not archive the version now in that stage"),
		OPT_BOOL(0, "json", &json, "print the result as JSON"),
		OPT_END(),
	};
	json_t *res = NULL, *u;
	struct fs_git *git;
	char *author = NULL, stage[32];
	size_t i;
	int rc;

	argc = parse_options(argc, argv, options, usage);
	if (argc != 3)
		usage_error(usage, options, "expected a model name, a version and a stage");
	snprintf(stage, sizeof(stage), "%s", argv[2]);
	for (i = 0; stage[i]; i++)
		if (stage[i] >= 'A' && stage[i] <= 'Z')
			stage[i] = (char)(stage[i] - 'A' + 'a');
	for (i = 0; fs_stages[i] && strcmp(fs_stages[i], stage); i++)
		;
	if (!fs_stages[i] || strlen(argv[2]) >= sizeof(stage))
		usage_error(usage, options,
			    "unknown stage '%s' (expected none, staging, production or archived)",
			    argv[2]);
	o.model = argv[0];
	o.stage = stage;
	rc = fs_model_resolve(ctx->repo->registry, o.model, argv[1], &o.version);
	if (rc == FS_EINVALID)
		usage_error(usage, options, "%s", fs_error_last());
	if (rc)
		return die_last_error();
	if (fs_repo_git(ctx->repo, &git))
		return die_last_error();
	author = fs_git_author(git);
	o.author = author;
	rc = fs_model_promote(ctx->repo, &o, &res);
	if (rc == FS_EGATE) {
		char *msg = xstrfmt("promotion of model '%s' version %d to %s refused", o.model,
				    o.version, o.stage);
		if (json) {
			print_json(json_incref(res));
			report_error_json(EXIT_NEGATIVE, msg, json_copy(json_object_get(res, "unmet")));
		} else {
			fprintf(stderr, "error: %s:\n", msg);
			json_array_foreach(json_object_get(res, "unmet"), i, u)
				fprintf(stderr, "  - %s\n", json_string_value(u));
			fprintf(stderr, "hint: fix the causes, or use --force (recorded in 'fs models log')\n");
		}
		free(msg);
		rc = EXIT_NEGATIVE;
		goto done;
	}
	if (rc == FS_EEXISTS) {
		/* already there: nothing changes, nothing is posted */
		if (json)
			print_json(json_pack("{s:s, s:i, s:s, s:s, s:b, s:[], s:[]}", "model", o.model,
					     "version", o.version, "from", o.stage, "to", o.stage,
					     "forced", 0, "unmet", "archived"));
		else
			printf("%s\n", fs_error_last());
		rc = 0;
		goto done;
	}
	if (rc == FS_EINVALID) {
		/* the stage was checked above: only bad usage gets here */
		json_decref(res);
		free(author);
		usage_error(usage, options, "%s", fs_error_last());
	}
	if (rc) {
		rc = die_last_error();
		goto done;
	}
	json_array_foreach(json_object_get(res, "unmet"), i, u)
		warning("forced past: %s", json_string_value(u));
	if (json) {
		print_json(json_incref(res));
	} else {
		json_t *a;
		printf("model '%s' version %d: %s -> %s\n", o.model, o.version,
		       json_string_value(json_object_get(res, "from")), o.stage);
		json_array_foreach(json_object_get(res, "archived"), i, a)
			printf("model '%s' version %lld: %s -> archived\n", o.model,
			       (long long)json_integer_value(a), o.stage);
	}
	fflush(stdout);
	post_promoted(ctx, o.model, o.version, json_string_value(json_object_get(res, "from")),
		      o.stage, author, o.reason, json_is_true(json_object_get(res, "forced")));
	/* then the versions it moved out, each its own transition */
	json_array_foreach(json_object_get(res, "archived"), i, u) {
		int version = (int)json_integer_value(u);
		char *why = xstrfmt("replaced in %s by version %d", o.stage, o.version);
		post_promoted(ctx, o.model, version, o.stage, "archived", author, why, false);
		free(why);
	}
	rc = 0;
done:
	json_decref(res);
	free(author);
	return rc;
}
