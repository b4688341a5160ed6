#include <stdio.h>
#include <string.h>

#include "builtin.h"
#include "error.h"
#include "parse-options.h"
#include "util.h"
#include "banned.h"

int cmd_describe(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = { "fs describe <kind> <name> [--json]", NULL };
	bool json = false;
	const struct option options[] = {
		OPT_BOOL(0, "json", &json, "print as JSON"),
		OPT_END(),
	};
	struct fs_defs defs = { 0 };
	const struct fs_object *o;
	enum fs_kind kind;
	int rc = 0;

	argc = parse_options(argc, argv, options, usage);
	if (argc != 2)
		usage_error(usage, options, "expected a kind and a name");
	if (fs_kind_parse(&kind, argv[0]))
		usage_error(usage, options,
			    "unknown kind '%s' (expected entity, source, feature_view, feature_service or model)",
			    argv[0]);
	if (fs_registry_load(ctx->repo->registry, &defs))
		return die_last_error();
	o = fs_defs_find(&defs, kind, argv[1]);
	if (!o) {
		const char **names = xcalloc(defs.n + 1, sizeof(*names));
		const char *hint;
		size_t i, n = 0;
		for (i = 0; i < defs.n; i++)
			if (defs.objs[i].kind == kind)
				names[n++] = defs.objs[i].name;
		hint = fs_suggest(argv[1], names, n);
		if (hint)
			rc = die("no %s '%s' is registered (did you mean '%s'?)", fs_kind_name(kind),
				 argv[1], hint);
		else
			rc = die("no %s '%s' is registered", fs_kind_name(kind), argv[1]);
		free(names);
		goto done;
	}
	if (json) {
		print_json(json_pack("{s:s, s:s, s:i, s:I, s:O}", "kind", fs_kind_name(o->kind), "name",
				     o->name, "version", o->version, "registry_version",
				     (json_int_t)o->applied_in, "spec", o->spec));
	} else {
		printf("%s %s\nversion: %d (registry version %lld)\n", fs_kind_name(o->kind), o->name,
		       o->version, (long long)o->applied_in);
		json_object_del(o->spec, "name");
		print_spec(o->spec, 0);
	}
done:
	fs_defs_release(&defs);
	return rc;
}
