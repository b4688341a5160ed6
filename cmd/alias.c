/*
 * alias.c: `fs alias`, MLflow's model version aliases: a name such as
 * champion pointing at one version, next to the stages, resolved wherever
 * a stage is (@champion).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "error.h"
#include "models.h"
#include "parse-options.h"
#include "banned.h"

int cmd_alias(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = {
		"fs alias <name> <alias> <version> [--json]",
		"fs alias -d <name> <alias>",
		"fs alias <name> [--json]",
		NULL
	};
	bool del = false, json = false;
	const struct option options[] = {
		OPT_BOOL('d', "delete", &del, "delete the alias"),
		OPT_BOOL(0, "json", &json, "print as JSON"),
		OPT_END(),
	};
	struct fs_registry *reg;
	struct fs_git *git;
	json_t *res = NULL;
	char *author = NULL;
	int version, rc;

	argc = parse_options(argc, argv, options, usage);
	if (del ? argc != 2 : argc != 1 && argc != 3)
		usage_error(usage, options,
			    del ? "expected a model name and an alias"
				: "expected a model name, or a model name, an alias and a version");
	if (argc >= 2 && !fs_is_alias_name(argv[1]))
		usage_error(usage, options,
			    "bad alias name '%s' (expected [a-z][a-z0-9_-]*, not a stage name)",
			    argv[1]);
	reg = ctx->repo->registry;
	if (fs_model_known(reg, argv[0]))
		return die_last_error();
	if (argc == 1) {
		const char *k;
		json_t *v;
		if (fs_model_aliases(reg, argv[0], &res))
			return die_last_error();
		if (json) {
			print_json(json_pack("{s:s, s:o}", "model", argv[0], "aliases", res));
			return 0;
		}
		json_object_foreach(res, k, v)
			printf("%s v%lld\n", k, (long long)json_integer_value(v));
		json_decref(res);
		return 0;
	}
	if (fs_repo_git(ctx->repo, &git))
		return die_last_error();
	author = fs_git_author(git);
	if (del) {
		if (fs_model_alias_delete(reg, argv[0], argv[1], author, &version)) {
			rc = die_last_error();
			goto done;
		}
		if (json)
			print_json(json_pack("{s:s, s:s, s:n, s:i}", "model", argv[0], "alias",
					     argv[1], "version", "previous", version));
		else
			printf("Deleted alias '%s' of model '%s' (was v%d).\n", argv[1], argv[0],
			       version);
		rc = 0;
		goto done;
	}
	rc = fs_model_resolve(reg, argv[0], argv[2], &version);
	if (rc == FS_EINVALID)
		usage_error(usage, options, "%s", fs_error_last());
	if (rc || fs_model_alias_set(reg, argv[0], argv[1], version, author, &res)) {
		rc = die_last_error();
		goto done;
	}
	if (json) {
		print_json(json_incref(res));
	} else {
		json_t *prev = json_object_get(res, "previous");
		if (!json_is_true(json_object_get(res, "changed")))
			printf("Alias '%s' of model '%s' already names v%d.\n", argv[1], argv[0],
			       version);
		else if (json_is_integer(prev))
			printf("Moved alias '%s' of model '%s' from v%lld to v%d.\n", argv[1],
			       argv[0], (long long)json_integer_value(prev), version);
		else
			printf("Set alias '%s' of model '%s' to v%d.\n", argv[1], argv[0], version);
	}
	rc = 0;
done:
	json_decref(res);
	free(author);
	return rc;
}
