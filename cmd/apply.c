#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "builtin.h"
#include "error.h"
#include "parse-options.h"
#include "banned.h"

void print_changes(const struct fs_plan *plan, const json_t *impact);
json_t *changes_json(const struct fs_plan *plan, const json_t *impact);
void print_resets(char *const *resets, size_t n);
json_t *resets_json(char *const *resets, size_t n);

int cmd_apply(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = {
		"fs apply [-m <msg>] [--rev <rev>] [--no-commit] [--force] [--json] [-q]", NULL
	};
	struct fs_apply_opts opts = { 0 };
	bool json = false, quiet = false;
	const struct option options[] = {
		OPT_STRING('m', "message", &opts.message, "msg",
			   "commit message (default: a summary of the changes)"),
		OPT_STRING(0, "rev", &opts.rev, "rev",
			   "apply the definitions of this commit (the working tree is not read)"),
		OPT_BOOL(0, "no-commit", &opts.no_commit,
			 "refuse definitions that differ from HEAD instead of committing them"),
		OPT_BOOL(0, "force", &opts.force,
			 "apply even when it removes features a production model was trained on"),
		OPT_BOOL(0, "json", &json, "print the result as JSON"),
		OPT_BOOL('q', "quiet", &quiet, "print nothing on success"),
		OPT_END(),
	};
	struct fs_apply a = { 0 };
	struct fs_diags diags = { 0 };
	int rc;

	if (parse_options(argc, argv, options, usage))
		usage_error(usage, options, "too many arguments");
	if (opts.message && !opts.message[strspn(opts.message, " \t\n")])
		usage_error(usage, options, "empty commit message (-m)");
	if (opts.rev && opts.message)
		usage_error(usage, options, "--rev applies an existing commit: -m does not apply");
	rc = fs_apply_run(ctx->repo, &opts, &a, &diags);
	warn_skipped(&a.files);
	if (rc == FS_EINVALID && diags.n) {
		rc = die_diags(&diags, "definitions");
		goto done;
	} else if (rc) {
		rc = rc == FS_EIDENT ? die_ident() : die_last_error();
		goto done;
	}
	if (json) {
		json_t *j = json_pack("{s:o, s:s, s:b, s:o, s:o}", "registry_version",
				      a.registry_version ? json_integer(a.registry_version)
							 : json_null(),
				      "commit", a.commit, "committed", a.committed, "changes",
				      changes_json(&a.plan, a.impact), "resets",
				      resets_json(a.resets, a.nresets));
		print_json(j);
	} else if (!quiet) {
		print_changes(&a.plan, a.impact);
		print_resets(a.resets, a.nresets);
		if (a.committed) {
			char *branch = fs_git_branch(ctx->repo->git);
			printf("[%s %s] %s\n", branch, short_oid(a.commit),
			       opts.message ? opts.message : a.summary);
			free(branch);
		}
		if (!a.plan.n)
			printf("No changes.\n");
		else
			printf("Applied registry version %lld (commit %s).\n",
			       (long long)a.registry_version, short_oid(a.commit));
	}
done:
	fs_lock_release(a.lock);
	a.lock = NULL;
	UNLEAK(a); /* exiting: see UNLEAK in builtin.h */
	fs_diags_release(&diags);
	return rc;
}
