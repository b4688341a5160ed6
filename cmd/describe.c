/*
 * fs describe: one registered object, as YAML (the same object as --json,
 * which a YAML reader reads back) or as JSON.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "builtin.h"
#include "duration.h"
#include "error.h"
#include "inspect.h"
#include "jsonout.h"
#include "parse-options.h"
#include "unapplied.h"
#include "util.h"
#include "banned.h"

/*
 * Whether the string s, written plain, would read back as something else: a
 * bool, null, number or date under YAML 1.1 or 1.2, a merge key, or nothing
 * (empty). libyaml's emitter quotes what the syntax needs (">= 0.80", ": ",
 * " #", a leading indicator) but not these, so they are quoted here. The test
 * is wider than the resolvers' (any leading digit, sign or dot): quoting a
 * string that did not need it is harmless.
 */
static bool reads_as_non_string(const char *s)
{
	static const char *const words[] = { "y", "n", "yes", "no", "true", "false", "on", "off",
					     "null", "~", NULL };
	const char *const *w;

	if (!*s || strchr("0123456789+-.<=", *s))
		return true;
	for (w = words; *w; w++)
		if (!strcasecmp(s, *w))
			return true;
	return false;
}

static int emit_scalar(yaml_emitter_t *em, const char *s, bool is_string)
{
	yaml_event_t ev;

	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
				     is_string && reads_as_non_string(s) ?
					     YAML_SINGLE_QUOTED_SCALAR_STYLE :
					     YAML_ANY_SCALAR_STYLE);
	return yaml_emitter_emit(em, &ev);
}

/* v as YAML; an integer ttl is shown as a duration (1d), as it is written. */
static int emit_value(yaml_emitter_t *em, const char *key, const json_t *v)
{
	yaml_event_t ev;
	char buf[64];
	const char *k;
	json_t *item;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
		if (!yaml_emitter_emit(em, &ev))
			return 0;
		json_object_foreach((json_t *)v, k, item)
			if (!emit_scalar(em, k, true) || !emit_value(em, k, item))
				return 0;
		yaml_mapping_end_event_initialize(&ev);
		return yaml_emitter_emit(em, &ev);
	case JSON_ARRAY:
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
		if (!yaml_emitter_emit(em, &ev))
			return 0;
		json_array_foreach(v, i, item)
			if (!emit_value(em, NULL, item))
				return 0;
		yaml_sequence_end_event_initialize(&ev);
		return yaml_emitter_emit(em, &ev);
	case JSON_STRING:
		return emit_scalar(em, json_string_value(v), true);
	case JSON_INTEGER:
		if (key && !strcmp(key, "ttl"))
			fs_duration_format(buf, sizeof(buf), json_integer_value(v));
		else
			snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return emit_scalar(em, buf, false);
	case JSON_REAL:
		return emit_scalar(em, fs_real_format(buf, json_real_value(v)), false);
	case JSON_TRUE:
		return emit_scalar(em, "true", false);
	case JSON_FALSE:
		return emit_scalar(em, "false", false);
	default:
		return emit_scalar(em, "null", false);
	}
}

/* obj on stdout as one YAML document without markers; 0, or die()'s status. */
static int print_yaml(const json_t *obj)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	int ok;

	if (!yaml_emitter_initialize(&em))
		return die("out of memory");
	yaml_emitter_set_output_file(&em, stdout);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	ok = yaml_emitter_emit(&em, &ev);
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	ok = ok && yaml_emitter_emit(&em, &ev);
	ok = ok && emit_value(&em, NULL, obj);
	yaml_document_end_event_initialize(&ev, 1);
	ok = ok && yaml_emitter_emit(&em, &ev);
	yaml_stream_end_event_initialize(&ev);
	ok = ok && yaml_emitter_emit(&em, &ev);
	if (!ok) {
		int rc = die("cannot write YAML: %s", em.problem ? em.problem : "unknown error");
		yaml_emitter_delete(&em);
		return rc;
	}
	yaml_emitter_delete(&em);
	return 0;
}

int cmd_describe(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = { "fs describe <kind> <name> [--json]", NULL };
	bool json = false;
	const struct option options[] = {
		OPT_BOOL(0, "json", &json, "print as JSON instead of YAML"),
		OPT_END(),
	};
	struct fs_defs defs = { 0 };
	const struct fs_object *o;
	enum fs_kind kind;
	json_t *out;
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
		fs_unknown_name(&defs, ctx->repo->root, FS_KIND_BIT(kind), argv[1], NULL);
		rc = die_last_error();
		goto done;
	}
	out = fs_inspect_object(o);
	if (json) {
		print_json(out);
	} else {
		rc = print_yaml(out);
		json_decref(out);
	}
done:
	fs_defs_release(&defs);
	return rc;
}
