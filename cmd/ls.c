#include <stdio.h>
#include <string.h>

#include "builtin.h"
#include "error.h"
#include "inspect.h"
#include "parse-options.h"
#include "banned.h"

int cmd_ls(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = { "fs ls [<kind>] [--json]", NULL };
	bool json = false;
	const struct option options[] = {
		OPT_BOOL(0, "json", &json, "print as JSON"),
		OPT_END(),
	};
	struct fs_defs defs = { 0 };
	enum fs_kind kind = FS_KIND__COUNT;
	size_t i, width = 32;

	argc = parse_options(argc, argv, options, usage);
	if (argc > 1)
		usage_error(usage, options, "too many arguments");
	if (argc == 1 && fs_kind_parse(&kind, argv[0]))
		usage_error(usage, options,
			    "unknown kind '%s' (expected entity, source, feature_view, feature_service or model)",
			    argv[0]);
	if (fs_registry_load(ctx->repo->registry, &defs))
		return die_last_error();
	/* the names' column as wide as the longest name, 32 at least */
	for (i = 0; i < defs.n; i++)
		if ((kind == FS_KIND__COUNT || defs.objs[i].kind == kind) &&
		    strlen(defs.objs[i].name) > width)
			width = strlen(defs.objs[i].name);
	if (json) {
		print_json(fs_inspect_objects(&defs, kind));
		fs_defs_release(&defs);
		return 0;
	}
	for (i = 0; i < defs.n; i++) {
		const struct fs_object *o = &defs.objs[i];
		if (kind == FS_KIND__COUNT || o->kind == kind)
			printf("%-16s %-*s v%d\n", fs_kind_name(o->kind), (int)width, o->name,
			       o->version);
	}
	fs_defs_release(&defs);
	return 0;
}
