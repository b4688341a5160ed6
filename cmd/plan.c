#include <stdio.h>
#include <stdlib.h>

#include "apply.h"
#include "builtin.h"
#include "error.h"
#include "parse-options.h"
#include "banned.h"

/* Shared with apply: one line per change, and the model versions it affects. */
void print_changes(const struct fs_plan *plan, const json_t *impact);
void print_resets(char *const *resets, size_t n);
json_t *resets_json(char *const *resets, size_t n);

void print_resets(char *const *resets, size_t n)
{
	size_t i;

	if (!n)
		return;
	printf("Drops the online data and materialization state of:");
	for (i = 0; i < n; i++)
		printf(" %s", resets[i]);
	printf(" (rematerialize them)\n");
}

json_t *resets_json(char *const *resets, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_string(resets[i]));
	return arr;
}
json_t *changes_json(const struct fs_plan *plan, const json_t *impact);

void print_changes(const struct fs_plan *plan, const json_t *impact)
{
	size_t i, k;
	json_t *u;

	for (i = 0; i < plan->n; i++) {
		const struct fs_change *c = &plan->items[i];
		printf("%c %s %s", c->op, fs_kind_name(c->kind), c->name);
		for (k = 0; k < c->nfields; k++)
			printf("%s%s", k ? ", " : ": ", c->fields[k]);
		putchar('\n');
		json_array_foreach(json_array_get(impact, i), k, u) {
			json_t *breaks = json_object_get(u, "breaks");
			printf("    affects model %s version %lld (%s)",
			       json_string_value(json_object_get(u, "model")),
			       (long long)json_integer_value(json_object_get(u, "version")),
			       json_string_value(json_object_get(u, "stage")));
			if (json_array_size(breaks)) {
				char *list = json_dumps(breaks, JSON_COMPACT);
				printf(": removes trained-on features %s", list);
				free(list);
			}
			putchar('\n');
		}
	}
}

json_t *changes_json(const struct fs_plan *plan, const json_t *impact)
{
	json_t *arr = fs_plan_json(plan), *c;
	size_t i;

	json_array_foreach(arr, i, c)
		json_object_set(c, "models", json_array_get(impact, i));
	return arr;
}

int cmd_plan(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = { "fs plan [--rev <rev>] [--exit-code] [--json] [-q]", NULL };
	const char *rev = NULL;
	bool exit_code = false, json = false, quiet = false;
	const struct option options[] = {
		OPT_STRING(0, "rev", &rev, "rev", "plan the definitions of this commit"),
		OPT_BOOL(0, "exit-code", &exit_code, "exit 1 when there are changes"),
		OPT_BOOL(0, "json", &json, "print the plan as JSON"),
		OPT_BOOL('q', "quiet", &quiet, "print nothing (use with --exit-code)"),
		OPT_END(),
	};
	struct fs_apply_opts opts = { 0 };
	struct fs_apply a = { 0 };
	struct fs_diags diags = { 0 };
	size_t i, counts[3] = { 0 };
	int rc;

	if (parse_options(argc, argv, options, usage))
		usage_error(usage, options, "too many arguments");
	opts.rev = rev;
	rc = fs_apply_prepare(ctx->repo, &opts, &a, &diags);
	warn_skipped(&a.files);
	if (rc == FS_EINVALID) {
		rc = die_diags(&diags, "definitions");
		goto done;
	} else if (rc) {
		rc = die_last_error();
		goto done;
	}
	for (i = 0; i < a.plan.n; i++)
		counts[a.plan.items[i].op == '+' ? 0 : a.plan.items[i].op == '~' ? 1 : 2]++;
	if (json) {
		print_json(json_pack("{s:o, s:o, s:{s:I, s:I, s:I}}", "changes", changes_json(&a.plan, a.impact), "resets", resets_json(a.resets, a.nresets),
				     "summary", "add", (json_int_t)counts[0], "change",
				     (json_int_t)counts[1], "delete", (json_int_t)counts[2]));
	} else if (!quiet) {
		if (!a.plan.n) {
			printf("No changes.\n");
		} else {
			print_changes(&a.plan, a.impact);
			print_resets(a.resets, a.nresets);
			printf("\n%zu to add, %zu to change, %zu to delete.\n", counts[0], counts[1],
			       counts[2]);
		}
	}
	rc = exit_code && a.plan.n ? EXIT_NEGATIVE : 0;
done:
	UNLEAK(a); /* exiting: see UNLEAK in builtin.h */
	fs_diags_release(&diags);
	return rc;
}
