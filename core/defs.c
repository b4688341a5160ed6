#include "defs.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "agg.h"
#include "duration.h"
#include "keymap.h"
#include "source.h"
#include "error.h"
#include "util.h"
#include "yamlutil.h"
#include "banned.h"

const char *const fs_kind_names[FS_KIND__COUNT + 1] = {
	"entity", "source", "feature_view", "feature_service", "model", NULL,
};

static const char *const kind_plurals[FS_KIND__COUNT] = {
	"entities", "sources", "feature_views", "feature_services", "models",
};

const char *const fs_feature_types[] = {
	"int32", "int64", "float32", "float64", "string", "bool", "timestamp", NULL,
};

static const char *const entity_types[] = { "int64", "string", NULL };
static const char *const stages[] = { "none", "staging", "production", "archived", NULL };

const char *fs_kind_name(enum fs_kind kind)
{
	return fs_kind_names[kind];
}

int fs_kind_parse(enum fs_kind *out, const char *s)
{
	int i;

	for (i = 0; i < FS_KIND__COUNT; i++) {
		if (!strcmp(s, fs_kind_names[i]) || !strcmp(s, kind_plurals[i])) {
			*out = (enum fs_kind)i;
			return 0;
		}
	}
	return FS_ENOTFOUND;
}

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

static void err_choice(struct fs_yctx *y, yaml_node_t *at, const char *what, const char *value,
		       const char *const *choices)
{
	struct strbuf sb = STRBUF_INIT;
	const char *const *c;
	const char *hint = fs_suggest(value, choices, (size_t)-1);

	for (c = choices; *c; c++)
		sb_addf(&sb, "%s%s", c == choices ? "" : " ", *c);
	if (hint)
		fs_y_err(y, at, "unknown %s '%s' (did you mean '%s'?)", what, value, hint);
	else
		fs_y_err(y, at, "unknown %s '%s' (expected one of: %s)", what, value, sb_str(&sb));
	sb_release(&sb);
}

/* A column name in a data file: [A-Za-z_][A-Za-z0-9_]* */
static bool is_column_name(const char *s)
{
	if (!*s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static void set_str(json_t *spec, const char *key, const char *value)
{
	if (value)
		json_object_set_new(spec, key, json_string(value));
}

/* description, owner, tags: allowed on every object. */
static void common_fields(struct fs_yctx *y, yaml_node_t *m, json_t *spec)
{
	const char *s;
	json_t *tags;

	fs_y_want_str(y, m, "description", false, &s);
	set_str(spec, "description", s);
	fs_y_want_str(y, m, "owner", false, &s);
	set_str(spec, "owner", s);
	if (fs_y_want_str_map(y, m, "tags", &tags))
		json_object_set_new(spec, "tags", tags);
}

/* The node of key in map (for errors about one pair), else map itself. */
static yaml_node_t *key_node(struct fs_yctx *y, yaml_node_t *map, const char *key)
{
	size_t i;

	if (!map || map->type != YAML_MAPPING_NODE)
		return map;
	for (i = 0; i < fs_y_map_len(map); i++) {
		yaml_node_t *k = fs_y_map_key(y, map, i);
		if (fs_y_str(k) && !strcmp(fs_y_str(k), key))
			return k;
	}
	return map;
}

static void want_column(struct fs_yctx *y, yaml_node_t *m, const char *key, bool required,
			json_t *spec)
{
	const char *s;
	yaml_node_t *n = fs_y_want_str(y, m, key, required, &s);

	if (!n)
		return;
	if (!is_column_name(s)) {
		fs_y_err(y, n, "bad column name '%s' in '%s'", s, key);
		return;
	}
	set_str(spec, key, s);
}

static void parse_entity(struct fs_yctx *y, yaml_node_t *m, json_t *spec, const char *name)
{
	static const char *const keys[] = { "kind", "name", "join_key", "type",
					    "description", "owner", "tags", NULL };
	const char *type;
	yaml_node_t *n;

	fs_y_check_keys(y, m, keys);
	want_column(y, m, "join_key", false, spec);
	if (!json_object_get(spec, "join_key") && !fs_y_get(y, m, "join_key"))
		set_str(spec, "join_key", name);
	n = fs_y_want_str(y, m, "type", false, &type);
	if (n && !in_list(type, entity_types))
		err_choice(y, n, "entity type", type, entity_types);
	set_str(spec, "type", type && in_list(type, entity_types) ? type : "string");
	common_fields(y, m, spec);
}

/* The spec keys some kinds of source use (path, table...), NULL-terminated; caller frees. */
static const char **backend_keys(void)
{
	const struct fs_source_ops *ops;
	const char **keys = NULL, *const *k;
	size_t i, j, n = 0, alloc = 0;

	for (i = 0; (ops = fs_source_backend(i)); i++) {
		for (k = ops->keys; k && *k; k++) {
			for (j = 0; j < n && strcmp(keys[j], *k); j++)
				;
			if (j < n)
				continue;
			ALLOC_GROW(keys, n + 2, alloc);
			keys[n++] = *k;
		}
	}
	ALLOC_GROW(keys, n + 1, alloc);
	keys[n] = NULL;
	return keys;
}

struct spec_place {
	struct fs_yctx *y;
	yaml_node_t *m;
};

/* A source backend's complaint, at the key it names. */
static void complain_at(void *ctx, const char *key, const char *msg)
{
	struct spec_place *p = ctx;
	yaml_node_t *n = key ? fs_y_get(p->y, p->m, key) : NULL;

	fs_y_err(p->y, n ? n : p->m, "%s", msg);
}

static void parse_source(struct fs_yctx *y, yaml_node_t *m, json_t *spec)
{
	static const char *const head[] = { "kind", "name", "type" };
	static const char *const tail[] = { "timestamp_field", "created_timestamp_field",
					    "field_mapping", "description", "owner", "tags" };
	const char **bkeys = backend_keys(), **keys, **vals, **types;
	const struct fs_source_ops *ops = NULL;
	const char *type = NULL, *path;
	struct spec_place place = { y, m };
	size_t nb, i, n = 0;
	yaml_node_t *tn;
	json_t *mapping;

	for (nb = 0; bkeys[nb]; nb++)
		;
	keys = xcalloc(ARRAY_SIZE(head) + nb + ARRAY_SIZE(tail) + 1, sizeof(*keys));
	for (i = 0; i < ARRAY_SIZE(head); i++)
		keys[n++] = head[i];
	for (i = 0; i < nb; i++)
		keys[n++] = bkeys[i];
	for (i = 0; i < ARRAY_SIZE(tail); i++)
		keys[n++] = tail[i];
	for (n = 0; fs_source_backend(n); n++)
		;
	types = xcalloc(n + 1, sizeof(*types));
	for (i = 0; i < n; i++)
		types[i] = fs_source_backend(i)->type;
	vals = xcalloc(nb + 1, sizeof(*vals));

	fs_y_check_keys(y, m, keys);
	tn = fs_y_want_str(y, m, "type", true, &type);
	if (tn && !(ops = fs_source_ops_for(type)))
		err_choice(y, tn, "source type", type, types);
	for (i = 0; i < nb; i++) {
		json_t *map;
		/* kafka's options (for librdkafka) is the one backend key holding a map */
		if (strcmp(bkeys[i], "options"))
			fs_y_want_str(y, m, bkeys[i], false, &vals[i]);
		else if (fs_y_want_str_map(y, m, bkeys[i], &map))
			json_object_set_new(spec, bkeys[i], map);
	}
	want_column(y, m, "created_timestamp_field", false, spec);
	common_fields(y, m, spec);
	if (fs_y_want_str_map(y, m, "field_mapping", &mapping)) {
		const char *k;
		json_t *v;
		json_object_foreach(mapping, k, v) {
			if (!is_column_name(k) || !is_column_name(json_string_value(v)))
				fs_y_err(y, key_node(y, fs_y_get(y, m, "field_mapping"), k),
					 "bad column name in field_mapping '%s: %s'", k,
					 json_string_value(v));
		}
		json_object_set_new(spec, "field_mapping", mapping);
	}
	if (!ops)
		goto done;
	set_str(spec, "type", type);
	/* a push source's rows, and so their timestamps, are its batch_source's */
	want_column(y, m, "timestamp_field", ops->open != NULL, spec);
	for (i = 0; i < nb; i++)
		set_str(spec, bkeys[i], vals[i]);
	if (ops->check_spec)
		ops->check_spec(spec, complain_at, &place);
	for (i = 0; i < nb; i++) {
		const char *const *k;
		struct strbuf sb = STRBUF_INIT;

		for (k = ops->keys; k && *k && strcmp(*k, bkeys[i]); k++)
			;
		if (!json_object_get(spec, bkeys[i]) || (k && *k))
			continue;
		fs_source_types_with(&sb, bkeys[i], "and");
		fs_y_err(y, fs_y_get(y, m, bkeys[i]), "'%s' is not used by a %s source (only %s)",
			 bkeys[i], type, sb.buf);
		sb_release(&sb);
	}
	path = json_string_value(json_object_get(spec, "path"));
	if (path && strstr(path, "://") && !starts_with(path, "http://") &&
	    !starts_with(path, "https://"))
		fs_y_err(y, fs_y_get(y, m, "path"), "unsupported URL '%s' (only http:// and https://)",
			 path);
done:
	free(types);
	free(vals);
	free(keys);
	free(bkeys);
}

/* One aggregation of a view into aggs; its feature (name, result type) into features. */
static void parse_aggregation(struct fs_yctx *y, yaml_node_t *f, struct fs_keymap *seen,
			      json_t *aggs, json_t *features, int64_t *hops, size_t *nhops,
			      yaml_node_t **hop_at)
{
	static const char *const akeys[] = { "name", "function", "column", "window", "hop",
					     "type", "description", "tags", NULL };
	const char *aname = NULL, *fn = NULL, *col = NULL, *win = NULL, *hop = NULL,
		   *type = NULL, *desc = NULL;
	yaml_node_t *nn, *fnn, *cn, *wn, *hn, *tn;
	enum fs_agg_fn func = FS_AGG_COUNT;
	enum fs_type ctype = FS_T_FLOAT64;
	int64_t window = 0, hopv = 0;
	bool ok = true;
	json_t *a, *tags;
	size_t i;

	if (f->type != YAML_MAPPING_NODE) {
		fs_y_err(y, f, "an aggregation must be a mapping like {name: x, function: count, window: 30m}, not %s",
			 fs_y_type_name(f));
		return;
	}
	fs_y_check_keys(y, f, akeys);
	nn = fs_y_want_str(y, f, "name", true, &aname);
	fnn = fs_y_want_str(y, f, "function", true, &fn);
	cn = fs_y_want_str(y, f, "column", false, &col);
	wn = fs_y_want_str(y, f, "window", true, &win);
	hn = fs_y_want_str(y, f, "hop", false, &hop);
	tn = fs_y_want_str(y, f, "type", false, &type);
	if (nn && !fs_is_valid_name(aname)) {
		fs_y_err(y, nn, "bad feature name '%s' (lowercase letters, digits and '_', not starting with a digit)",
			 aname);
		aname = NULL;
	}
	if (fnn && fs_agg_fn_parse(&func, fn)) {
		err_choice(y, fnn, "aggregation function", fn, fs_agg_fn_names);
		ok = false;
	} else if (!fnn) {
		ok = false;
	}
	if (cn && !is_column_name(col)) {
		fs_y_err(y, cn, "bad column name '%s' in 'column'", col);
		ok = false;
	}
	if (ok && !cn && func != FS_AGG_COUNT) {
		fs_y_err(y, f, "aggregation '%s': function %s needs a 'column'", aname ? aname : "?", fn);
		ok = false;
	}
	if (tn && fs_type_parse(&ctype, type)) {
		err_choice(y, tn, "column type", type, fs_feature_types);
		ok = false;
	}
	if (ok && cn && fs_agg_fn_numeric(func) && !fs_type_is_numeric(ctype))
		fs_y_err(y, tn ? tn : f, "aggregation '%s': %s needs a numeric column (int32, int64, float32 or float64), not %s",
			 aname ? aname : "?", fn, fs_type_name(ctype)), ok = false;
	if (wn) {
		if (fs_duration_parse(&window, win) || window <= 0) {
			fs_y_err(y, wn, "bad window '%s' (expected a duration above 0 with a unit s m h d w, e.g. 30m, 1h)",
				 win);
			ok = false;
		}
	} else {
		ok = false;
	}
	if (hn) {
		if (fs_duration_parse(&hopv, hop) || hopv <= 0) {
			fs_y_err(y, hn, "bad hop '%s' (expected a duration above 0 with a unit s m h d w, e.g. 1m)",
				 hop);
			ok = false;
		}
	} else if (window > 0) {
		hopv = fs_agg_default_hop(window);
	}
	if (ok && window % hopv) {
		fs_y_err(y, hn, "aggregation '%s': hop '%s' does not divide the window '%s'",
			 aname ? aname : "?", hop, win);
		ok = false;
	} else if (ok && window / hopv > 10000) {
		char h1[64];
		fs_duration_format(h1, sizeof(h1), hopv);
		fs_y_err(y, hn ? hn : wn, "aggregation '%s': window '%s' is %lld hops of %s: at most 10000 tiles per window (use a larger hop)",
			 aname ? aname : "?", win, (long long)(window / hopv), h1);
		ok = false;
	}
	if (ok) {
		for (i = 0; i < *nhops; i++) {
			if (hops[i] % hopv && hopv % hops[i]) {
				char h1[64], h2[64];
				fs_duration_format(h1, sizeof(h1), hopv);
				fs_duration_format(h2, sizeof(h2), hops[i]);
				fs_y_err(y, hn ? hn : wn, "aggregation '%s': its hop %s%s and the hop %s of the aggregation at %d:%d do not divide each other (the hops of one view must)",
					 aname ? aname : "?", h1, hn ? "" : " (the default for its window)",
					 h2, fs_y_line(hop_at[i]), fs_y_col(hop_at[i]));
				ok = false;
				break;
			}
		}
		if (ok && *nhops < 64) {
			hops[*nhops] = hopv;
			hop_at[(*nhops)++] = hn ? hn : wn;
		}
	}
	if (!aname)
		return;
	if (fs_keymap_find(seen, aname, strlen(aname)) != FS_KEY_NONE) {
		fs_y_err(y, nn, "duplicate feature '%s'", aname);
		return;
	}
	fs_keymap_intern(seen, aname, strlen(aname));
	a = json_object();
	set_str(a, "name", aname);
	set_str(a, "function", fnn ? fn : NULL);
	set_str(a, "column", col);
	json_object_set_new(a, "window", json_integer(window));
	json_object_set_new(a, "hop", json_integer(hopv));
	if (col)
		set_str(a, "type", fs_type_name(ctype));
	fs_y_want_str(y, f, "description", false, &desc);
	set_str(a, "description", desc);
	if (fs_y_want_str_map(y, f, "tags", &tags))
		json_object_set_new(a, "tags", tags);
	json_array_append_new(aggs, a);
	/* the features the view serves: what every reader of features sees */
	json_array_append_new(features,
			      json_pack("{s:s, s:s}", "name", aname, "type",
					fs_type_name(fs_agg_result_type(func, ctype, col != NULL))));
}

static void parse_feature_view(struct fs_yctx *y, yaml_node_t *m, json_t *spec)
{
	static const char *const keys[] = { "kind", "name", "entities", "source", "ttl", "online",
					    "features", "aggregations", "description", "owner",
					    "tags", NULL };
	static const char *const fkeys[] = { "name", "type", "description", "tags", NULL };
	const char *source = NULL, *ttl = NULL;
	yaml_node_t *n, *seq;
	json_t *entities, *features;
	struct fs_keymap *seen;
	bool online = true;
	size_t i;

	fs_y_check_keys(y, m, keys);
	if (fs_y_want_str_list(y, m, "entities", true, &entities))
		json_object_set_new(spec, "entities", entities);
	fs_y_want_str(y, m, "source", true, &source);
	set_str(spec, "source", source);
	n = fs_y_want_str(y, m, "ttl", false, &ttl);
	if (n) {
		int64_t secs;
		if (fs_duration_parse(&secs, ttl))
			fs_y_err(y, n, "bad ttl '%s' (expected 0 or a number with a unit s m h d w, e.g. 90m, 2h, 1d)",
				 ttl);
		else
			json_object_set_new(spec, "ttl", json_integer(secs));
	} else {
		json_object_set_new(spec, "ttl", json_integer(0));
	}
	fs_y_want_bool(y, m, "online", &online);
	json_object_set_new(spec, "online", json_boolean(online));
	common_fields(y, m, spec);

	if (fs_y_get(y, m, "aggregations")) {
		int64_t hops[64];
		yaml_node_t *hop_at[64];
		size_t nhops = 0;
		json_t *aggs;

		if (fs_y_get(y, m, "features")) {
			fs_y_err(y, key_node(y, m, "aggregations"),
				 "a feature view has 'features' or 'aggregations', not both");
			return;
		}
		if (n)
			fs_y_err(y, n, "ttl does not apply to a view with aggregations (each has its window)");
		seq = fs_y_want_seq(y, m, "aggregations", true);
		if (!seq)
			return;
		if (!fs_y_seq_len(seq)) {
			fs_y_err(y, seq, "'aggregations' must not be empty");
			return;
		}
		aggs = json_array();
		features = json_array();
		seen = fs_keymap_new();
		for (i = 0; i < fs_y_seq_len(seq); i++)
			parse_aggregation(y, fs_y_seq_item(y, seq, i), seen, aggs, features, hops,
					  &nhops, hop_at);
		fs_keymap_free(seen);
		json_object_set_new(spec, "aggregations", aggs);
		json_object_set_new(spec, "features", features);
		return;
	}
	seq = fs_y_want_seq(y, m, "features", true);
	if (!seq)
		return;
	if (!fs_y_seq_len(seq)) {
		fs_y_err(y, seq, "'features' must not be empty");
		return;
	}
	features = json_array();
	seen = fs_keymap_new();
	for (i = 0; i < fs_y_seq_len(seq); i++) {
		yaml_node_t *f = fs_y_seq_item(y, seq, i), *nn, *tn;
		const char *fname = NULL, *ftype = NULL;
		json_t *fs, *tags;

		if (f->type != YAML_MAPPING_NODE) {
			fs_y_err(y, f, "a feature must be a mapping like {name: x, type: float64}, not %s",
				 fs_y_type_name(f));
			continue;
		}
		fs_y_check_keys(y, f, fkeys);
		nn = fs_y_want_str(y, f, "name", true, &fname);
		tn = fs_y_want_str(y, f, "type", true, &ftype);
		if (nn && !fs_is_valid_name(fname)) {
			fs_y_err(y, nn, "bad feature name '%s' (lowercase letters, digits and '_', not starting with a digit)",
				 fname);
			fname = NULL;
		}
		if (tn && !in_list(ftype, fs_feature_types)) {
			err_choice(y, tn, "feature type", ftype, fs_feature_types);
			ftype = NULL;
		}
		if (!fname)
			continue;
		/* a bad type is reported above; keep the name so that references
		 * to the feature do not report it as missing too */
		if (fs_keymap_find(seen, fname, strlen(fname)) != FS_KEY_NONE) {
			fs_y_err(y, nn, "duplicate feature '%s'", fname);
			continue;
		}
		fs_keymap_intern(seen, fname, strlen(fname));
		fs = json_object();
		set_str(fs, "name", fname);
		set_str(fs, "type", ftype);
		fs_y_want_str(y, f, "description", false, &fname);
		set_str(fs, "description", fname);
		if (fs_y_want_str_map(y, f, "tags", &tags))
			json_object_set_new(fs, "tags", tags);
		json_array_append_new(features, fs);
	}
	fs_keymap_free(seen);
	json_object_set_new(spec, "features", features);
}

static bool has_string(const json_t *arr, const json_t *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_equal(v, s))
			return true;
	return false;
}

/* a feature service's item for this view already in refs */
static bool listed_before(const json_t *refs, const json_t *view)
{
	size_t i;
	json_t *r;

	json_array_foreach(refs, i, r)
		if (json_equal(json_object_get(r, "view"), view))
			return true;
	return false;
}

static void parse_feature_service(struct fs_yctx *y, yaml_node_t *m, json_t *spec)
{
	static const char *const keys[] = { "kind", "name", "features", "description", "owner",
					    "tags", NULL };
	yaml_node_t *seq;
	json_t *refs;
	size_t i;

	fs_y_check_keys(y, m, keys);
	common_fields(y, m, spec);
	seq = fs_y_want_seq(y, m, "features", true);
	if (!seq)
		return;
	if (!fs_y_seq_len(seq)) {
		fs_y_err(y, seq, "'features' must not be empty");
		return;
	}
	refs = json_array();
	for (i = 0; i < fs_y_seq_len(seq); i++) {
		yaml_node_t *it = fs_y_seq_item(y, seq, i);
		json_t *ref = json_object();

		if (it->type == YAML_SCALAR_NODE && !fs_y_is_null(it)) {
			set_str(ref, "view", fs_y_str(it));
		} else if (it->type == YAML_MAPPING_NODE && fs_y_map_len(it) == 1 &&
			   fs_y_str(fs_y_map_key(y, it, 0))) {
			const char *view = fs_y_str(fs_y_map_key(y, it, 0));
			yaml_node_t *list = fs_y_map_value(y, it, 0);
			json_t *names = json_array();
			size_t j;

			set_str(ref, "view", view);
			if (list->type != YAML_SEQUENCE_NODE || !fs_y_seq_len(list)) {
				fs_y_err(y, list, "features of '%s' must be a non-empty list of feature names",
					 view);
			} else {
				for (j = 0; j < fs_y_seq_len(list); j++) {
					yaml_node_t *f = fs_y_seq_item(y, list, j);
					json_t *name;

					if (!fs_y_str(f) || fs_y_is_null(f)) {
						fs_y_err(y, f, "feature names must be strings");
						continue;
					}
					name = json_string(fs_y_str(f));
					if (has_string(names, name))
						fs_y_err(y, f, "feature '%s' of '%s' listed twice",
							 fs_y_str(f), view);
					json_array_append_new(names, name);
				}
			}
			json_object_set_new(ref, "features", names);
		} else {
			fs_y_err(y, it, "each item of 'features' is a view name or '<view>: [feature, ...]'");
			json_decref(ref);
			continue;
		}
		if (listed_before(refs, json_object_get(ref, "view"))) {
			fs_y_err(y, it, "feature_view '%s' listed twice in 'features'",
				 json_string_value(json_object_get(ref, "view")));
			json_decref(ref);
			continue;
		}
		json_array_append_new(refs, ref);
	}
	json_object_set_new(spec, "features", refs);
}

/* ">= 0.80" -> 0 and the canonical text, or FS_EINVALID. */
static int parse_gate(const char *s, char **canon)
{
	static const char *const ops[] = { ">=", "<=", "==", ">", "<", NULL };
	const char *const *op;
	const char *p = s;
	char *end;
	double v;

	while (*p == ' ')
		p++;
	for (op = ops; *op; op++)
		if (starts_with(p, *op))
			break;
	if (!*op)
		return FS_EINVALID;
	p += strlen(*op);
	while (*p == ' ')
		p++;
	if (!*p)
		return FS_EINVALID;
	errno = 0;
	v = strtod(p, &end);
	while (*end == ' ')
		end++;
	if (*end || errno || !isfinite(v) || end == p)
		return FS_EINVALID;
	*canon = xstrfmt("%s %.*s", *op, (int)strcspn(p, " "), p);
	return 0;
}

static void parse_model(struct fs_yctx *y, yaml_node_t *m, json_t *spec)
{
	static const char *const keys[] = { "kind", "name", "feature_service", "promotion",
					    "description", "owner", "tags", NULL };
	static const char *const gkeys[] = { "from", "metrics", NULL };
	const char *fsvc;
	yaml_node_t *promo;
	json_t *gates;
	size_t i, j;

	fs_y_check_keys(y, m, keys);
	fs_y_want_str(y, m, "feature_service", true, &fsvc);
	set_str(spec, "feature_service", fsvc);
	common_fields(y, m, spec);
	promo = fs_y_want_map(y, m, "promotion", false);
	if (!promo)
		return;
	gates = json_object();
	for (i = 0; i < fs_y_map_len(promo); i++) {
		yaml_node_t *kn = fs_y_map_key(y, promo, i), *g = fs_y_map_value(y, promo, i), *mn;
		const char *stage = fs_y_str(kn);
		json_t *gate, *from, *metrics;

		if (!stage || !in_list(stage, stages)) {
			if (stage)
				err_choice(y, kn, "stage", stage, stages);
			else
				fs_y_err(y, kn, "promotion keys must be stage names");
			continue;
		}
		if (json_object_get(gates, stage)) {
			fs_y_err(y, kn, "duplicate key '%s'", stage);
			continue;
		}
		if (g->type != YAML_MAPPING_NODE) {
			fs_y_err(y, g, "promotion.%s must be a mapping with 'from' and/or 'metrics'",
				 stage);
			continue;
		}
		fs_y_check_keys(y, g, gkeys);
		gate = json_object();
		if (fs_y_want_str_list(y, g, "from", false, &from)) {
			yaml_node_t *fl = fs_y_get(y, g, "from");
			for (j = 0; j < json_array_size(from); j++) {
				const char *st = json_string_value(json_array_get(from, j));
				if (!in_list(st, stages))
					err_choice(y, fs_y_seq_item(y, fl, j), "stage", st, stages);
			}
			json_object_set_new(gate, "from", from);
		}
		if ((mn = fs_y_want_map(y, g, "metrics", false))) {
			metrics = json_object();
			for (j = 0; j < fs_y_map_len(mn); j++) {
				yaml_node_t *mk = fs_y_map_key(y, mn, j), *mv = fs_y_map_value(y, mn, j);
				const char *metric = fs_y_str(mk), *expr = fs_y_str(mv);
				char *canon;

				if (!metric) {
					fs_y_err(y, mk, "metric names must be strings");
					continue;
				}
				if (!expr || parse_gate(expr, &canon)) {
					fs_y_err(y, mv, "bad gate for metric '%s': '%s' (expected an operator >= > <= < == and a number, e.g. \">= 0.80\")",
						 metric, expr ? expr : fs_y_type_name(mv));
					continue;
				}
				json_object_set_new(metrics, metric, json_string(canon));
				free(canon);
			}
			json_object_set_new(gate, "metrics", metrics);
		}
		json_object_set_new(gates, stage, gate);
	}
	json_object_set_new(spec, "promotion", gates);
}

struct parse_state {
	struct fs_defs *defs;
	const char *file;
	struct fs_diags *diags;
};

static void parse_doc(void *data, yaml_document_t *doc, yaml_node_t *root)
{
	struct parse_state *st = data;
	struct fs_yctx y = { doc, st->file, st->diags, NULL };
	const char *kind = NULL, *name = NULL;
	yaml_node_t *kn, *nn;
	enum fs_kind k;
	json_t *spec;
	char *what;
	struct fs_object *obj;

	ALLOC_GROW(st->defs->docs, st->defs->ndocs + 1, st->defs->docs_alloc);
	st->defs->docs[st->defs->ndocs++] = doc;
	if (root->type != YAML_MAPPING_NODE) {
		fs_y_err(&y, root, "a definition must be a mapping with 'kind' and 'name', not %s",
			 fs_y_type_name(root));
		return;
	}
	kn = fs_y_want_str(&y, root, "kind", true, &kind);
	nn = fs_y_want_str(&y, root, "name", true, &name);
	if (!kn || !nn)
		return;
	if (fs_kind_parse(&k, kind) || strcmp(kind, fs_kind_names[k])) {
		err_choice(&y, kn, "kind", kind, fs_kind_names);
		return;
	}
	what = xstrfmt("%s '%s'", kind, name);
	y.what = what;
	if (!fs_is_valid_name(name))
		fs_y_err(&y, nn, "bad name (lowercase letters, digits and '_', not starting with a digit)");
	else if (strlen(name) > FS_NAME_MAX)
		fs_y_err(&y, nn, "name of %zu characters: at most %d (it names files, keys and metrics)",
			 strlen(name), FS_NAME_MAX);
	spec = json_object();
	set_str(spec, "name", name);
	switch (k) {
	case FS_KIND_ENTITY:
		parse_entity(&y, root, spec, name);
		break;
	case FS_KIND_SOURCE:
		parse_source(&y, root, spec);
		break;
	case FS_KIND_FEATURE_VIEW:
		parse_feature_view(&y, root, spec);
		break;
	case FS_KIND_FEATURE_SERVICE:
		parse_feature_service(&y, root, spec);
		break;
	case FS_KIND_MODEL:
		parse_model(&y, root, spec);
		break;
	default:
		break;
	}
	free(what);
	ALLOC_GROW(st->defs->objs, st->defs->n + 1, st->defs->alloc);
	obj = &st->defs->objs[st->defs->n++];
	memset(obj, 0, sizeof(*obj));
	obj->kind = k;
	obj->name = xstrdup(name);
	obj->spec = spec;
	obj->file = xstrdup(st->file);
	obj->line = fs_y_line(root);
	obj->col = fs_y_col(root);
	obj->doc = doc;
	obj->node = root;
}

/*
 * In practice a line starting with "kind:" is the key of a document's
 * root mapping: then the file need not be parsed twice (planning a large
 * repository is mostly parsing). The other files are parsed, and are few.
 */
static bool has_kind_line(const char *data, size_t len)
{
	const char *p = data, *end = data + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);

		if (n > 4 && !memcmp(p, "kind", 4)) {
			size_t i = 4;
			while (i < n && (p[i] == ' ' || p[i] == '\t'))
				i++;
			if (i < n && p[i] == ':')
				return true;
		}
		p = nl ? nl + 1 : end;
	}
	return false;
}

struct kind_scan {
	bool docs, kind;
};

static void scan_kind(void *data, yaml_document_t *doc, yaml_node_t *root)
{
	struct kind_scan *ks = data;
	struct fs_yctx y = { doc, "", NULL, NULL };

	ks->docs = true;
	if (fs_y_get(&y, root, "kind"))
		ks->kind = true;
	yaml_document_delete(doc);
	free(doc);
}

bool fs_defs_has_kind(const char *data, size_t len)
{
	struct kind_scan ks = { false, false };
	struct fs_diags diags = { 0 };
	int rc;

	if (has_kind_line(data, len))
		return true;
	rc = fs_y_load_all(data, len, "", &diags, scan_kind, &ks);
	fs_diags_release(&diags);
	return rc || ks.kind || !ks.docs;
}

void fs_defs_parse(struct fs_defs *defs, const char *file, const char *data, size_t len,
		   struct fs_diags *diags)
{
	struct parse_state st = { defs, file, diags };

	fs_y_load_all(data, len, file, diags, parse_doc, &st);
}

void fs_defs_add(struct fs_defs *defs, enum fs_kind kind, const char *name, json_t *spec)
{
	struct fs_object *obj;

	ALLOC_GROW(defs->objs, defs->n + 1, defs->alloc);
	obj = &defs->objs[defs->n++];
	memset(obj, 0, sizeof(*obj));
	obj->kind = kind;
	obj->name = xstrdup(name);
	obj->spec = spec;
}

static int cmp_obj(const void *a, const void *b)
{
	const struct fs_object *x = a, *y = b;
	int c;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	c = strcmp(x->name, y->name);
	if (c)
		return c;
	/* keep definition order among duplicates, for the error message */
	c = strcmp(x->file ? x->file : "", y->file ? y->file : "");
	if (c)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

void fs_defs_sort(struct fs_defs *defs)
{
	if (defs->n > 1)
		qsort(defs->objs, defs->n, sizeof(*defs->objs), cmp_obj);
}

struct fs_object *fs_defs_find(const struct fs_defs *defs, enum fs_kind kind, const char *name)
{
	size_t lo = 0, hi = defs->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct fs_object *o = &defs->objs[mid];
		int c = o->kind != kind ? (o->kind < kind ? -1 : 1) : strcmp(o->name, name);
		if (!c) {
			while (mid > 0 && defs->objs[mid - 1].kind == kind &&
			       !strcmp(defs->objs[mid - 1].name, name))
				mid--;
			return &defs->objs[mid];
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void fs_defs_release(struct fs_defs *defs)
{
	size_t i;

	for (i = 0; i < defs->n; i++) {
		free(defs->objs[i].name);
		free(defs->objs[i].file);
		free(defs->objs[i].spec_text);
		json_decref(defs->objs[i].spec);
	}
	free(defs->objs);
	for (i = 0; i < defs->ndocs; i++) {
		yaml_document_delete(defs->docs[i]);
		free(defs->docs[i]);
	}
	free(defs->docs);
	memset(defs, 0, sizeof(*defs));
}

json_t *fs_object_spec(struct fs_object *obj)
{
	if (!obj->spec && obj->spec_text)
		obj->spec = json_loads(obj->spec_text, 0, NULL);
	return obj->spec;
}

char *fs_spec_dump(const json_t *spec)
{
	return json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
}

const char *fs_source_column_for(const json_t *source_spec, const char *feature)
{
	json_t *mapping = json_object_get(source_spec, "field_mapping");
	const char *col;
	json_t *v;

	json_object_foreach(mapping, col, v) {
		if (!strcmp(json_string_value(v), feature))
			return col;
	}
	return feature;
}

/* ---- validation across objects ---- */

struct validator {
	struct fs_defs *defs;
	struct fs_diags *diags;
	const struct fs_data_access *data;
};

static const char *spec_str(const struct fs_object *o, const char *key)
{
	return json_string_value(json_object_get(o->spec, key));
}

/* A context for errors about object o, at nodes under its YAML root. */
static struct fs_yctx obj_ctx(struct validator *v, const struct fs_object *o, char **what)
{
	struct fs_yctx y = { o->doc, o->file, v->diags, NULL };

	*what = xstrfmt("%s '%s'", fs_kind_name(o->kind), o->name);
	y.what = *what;
	return y;
}

static void unknown_ref(struct validator *v, struct fs_yctx *y, yaml_node_t *at,
			enum fs_kind kind, const char *name)
{
	const char **names = xcalloc(v->defs->n + 1, sizeof(*names));
	const char *hint;
	size_t i, n = 0;

	for (i = 0; i < v->defs->n; i++)
		if (v->defs->objs[i].kind == kind)
			names[n++] = v->defs->objs[i].name;
	hint = fs_suggest(name, names, n);
	if (hint)
		fs_y_err(y, at, "unknown %s '%s' (did you mean '%s'?)", fs_kind_name(kind), name,
			 hint);
	else
		fs_y_err(y, at, "unknown %s '%s'", fs_kind_name(kind), name);
	free(names);
}

static yaml_node_t *node_at(struct fs_yctx *y, const struct fs_object *o, const char *key)
{
	yaml_node_t *n = fs_y_get(y, o->node, key);
	return n ? n : o->node;
}

static void check_view(struct validator *v, struct fs_object *o)
{
	char *what;
	struct fs_yctx y = obj_ctx(v, o, &what);
	json_t *entities = json_object_get(o->spec, "entities");
	json_t *features = json_object_get(o->spec, "features");
	const char *source = spec_str(o, "source");
	yaml_node_t *en = fs_y_get(&y, o->node, "entities");
	size_t i, j;

	for (i = 0; i < json_array_size(entities); i++) {
		const char *e = json_string_value(json_array_get(entities, i));
		struct fs_object *ent = fs_defs_find(v->defs, FS_KIND_ENTITY, e);
		yaml_node_t *at = fs_y_seq_item(&y, en, i);

		for (j = 0; j < i; j++)
			if (!strcmp(e, json_string_value(json_array_get(entities, j))))
				fs_y_err(&y, at, "entity '%s' listed twice", e);
		if (!ent) {
			unknown_ref(v, &y, at, FS_KIND_ENTITY, e);
			continue;
		}
		if (!spec_str(ent, "join_key"))
			continue; /* its bad join_key is reported on the entity */
		for (j = 0; j < json_array_size(features); j++) {
			const char *f = json_string_value(
				json_object_get(json_array_get(features, j), "name"));
			if (!strcmp(f, spec_str(ent, "join_key")))
				fs_y_err(&y, at, "feature '%s' has the name of the join key of entity '%s'",
					 f, e);
		}
	}
	if (source && !fs_defs_find(v->defs, FS_KIND_SOURCE, source))
		unknown_ref(v, &y, node_at(&y, o, "source"), FS_KIND_SOURCE, source);
	free(what);
}

static void check_service(struct validator *v, struct fs_object *o)
{
	char *what;
	struct fs_yctx y = obj_ctx(v, o, &what);
	json_t *refs = json_object_get(o->spec, "features");
	yaml_node_t *seq = fs_y_get(&y, o->node, "features");
	size_t i, j, k;

	for (i = 0; i < json_array_size(refs); i++) {
		json_t *ref = json_array_get(refs, i);
		const char *view = json_string_value(json_object_get(ref, "view"));
		json_t *names = json_object_get(ref, "features");
		yaml_node_t *at = fs_y_seq_item(&y, seq, i);
		struct fs_object *vo = fs_defs_find(v->defs, FS_KIND_FEATURE_VIEW, view);
		json_t *vf;

		if (!vo) {
			unknown_ref(v, &y, at->type == YAML_MAPPING_NODE ? fs_y_map_key(&y, at, 0) : at,
				    FS_KIND_FEATURE_VIEW, view);
			continue;
		}
		vf = json_object_get(vo->spec, "features");
		if (!vf)
			continue; /* the view's features are reported on the view */
		for (j = 0; j < json_array_size(names); j++) {
			const char *f = json_string_value(json_array_get(names, j));
			const char **cands = xcalloc(json_array_size(vf) + 1, sizeof(*cands));
			const char *hint;
			yaml_node_t *fn = fs_y_seq_item(&y, fs_y_map_value(&y, at, 0), j);

			for (k = 0; k < json_array_size(vf); k++) {
				cands[k] = json_string_value(
					json_object_get(json_array_get(vf, k), "name"));
				if (!strcmp(cands[k], f))
					break;
			}
			if (k == json_array_size(vf)) {
				hint = fs_suggest(f, cands, k);
				if (hint)
					fs_y_err(&y, fn, "feature_view '%s' has no feature '%s' (did you mean '%s'?)",
						 view, f, hint);
				else
					fs_y_err(&y, fn, "feature_view '%s' has no feature '%s'", view,
						 f);
			}
			free(cands);
		}
	}
	free(what);
}

static void check_model(struct validator *v, struct fs_object *o)
{
	char *what;
	struct fs_yctx y = obj_ctx(v, o, &what);
	const char *svc = spec_str(o, "feature_service");

	if (svc && !fs_defs_find(v->defs, FS_KIND_FEATURE_SERVICE, svc))
		unknown_ref(v, &y, node_at(&y, o, "feature_service"), FS_KIND_FEATURE_SERVICE,
			    svc);
	free(what);
}

/* ---- data columns ---- */

struct columns {
	struct fs_source_columns c; /* from the source's backend */
	struct fs_keymap *index; /* names, for lookups: a source can feed 1000s of views */
};

static void columns_free(struct columns *c)
{
	fs_source_columns_release(&c->c);
	fs_keymap_free(c->index);
}

static bool has_column(struct columns *c, const char *name)
{
	size_t i;

	if (!c->index) {
		c->index = fs_keymap_new();
		for (i = 0; i < c->c.n; i++)
			fs_keymap_intern(c->index, c->c.names[i], strlen(c->c.names[i]));
	}
	return fs_keymap_find(c->index, name, strlen(name)) != FS_KEY_NONE;
}

/* The source that holds the rows of src (its batch source for push). */
static const struct fs_object *data_source(struct validator *v, const struct fs_object *src)
{
	const char *batch = spec_str(src, "batch_source");
	return batch ? fs_defs_find(v->defs, FS_KIND_SOURCE, batch) : src;
}

/* The column of a timestamp field (key), found as the readers find it: through field_mapping. */
static void time_column(struct fs_yctx *y, const struct fs_object *o, struct columns *cols,
			const char *key)
{
	const char *field = spec_str(o, key), *col;

	if (!field)
		return;
	col = fs_source_column_for(o->spec, field);
	if (has_column(cols, col))
		return;
	if (!strcmp(col, field))
		fs_y_err(y, node_at(y, o, key), "%s has no column '%s' (%s)", cols->c.where, col,
			 key);
	else
		fs_y_err(y, node_at(y, o, key),
			 "%s has no column '%s' (%s '%s', through field_mapping)", cols->c.where, col,
			 key, field);
}

static void check_source(struct validator *v, struct fs_object *o)
{
	char *what;
	struct fs_yctx y = obj_ctx(v, o, &what);
	const char *type = spec_str(o, "type"), *batch = spec_str(o, "batch_source");
	const struct fs_source_ops *ops;
	struct columns cols = { { 0 } };
	const char *at = NULL;
	char *err = NULL;
	int rc;
	json_t *mapping;
	const char *key;
	json_t *val;
	size_t i, j;

	if (!type)
		goto done;
	if (batch) {
		struct fs_object *b = fs_defs_find(v->defs, FS_KIND_SOURCE, batch);
		if (!b)
			unknown_ref(v, &y, node_at(&y, o, "batch_source"), FS_KIND_SOURCE, batch);
		else if ((ops = fs_source_spec_ops(b->spec)) && !ops->open) {
			struct strbuf sb = STRBUF_INIT;
			fs_source_types_with(&sb, NULL, "or");
			fs_y_err(&y, node_at(&y, o, "batch_source"),
				 "batch_source '%s' is a %s source (it must be %s)", batch, ops->type,
				 sb.buf);
			sb_release(&sb);
		}
		goto done;
	}
	ops = fs_source_ops_for(type);
	if (!ops || !ops->columns)
		goto done;
	rc = ops->columns(o->spec, v->data, &cols.c, &err, &at);
	if (rc < 0)
		fs_y_err(&y, node_at(&y, o, at), "%s", err);
	if (rc)
		goto done;

	time_column(&y, o, &cols, "timestamp_field");
	time_column(&y, o, &cols, "created_timestamp_field");
	mapping = json_object_get(o->spec, "field_mapping");
	json_object_foreach(mapping, key, val) {
		if (!has_column(&cols, key))
			fs_y_err(&y, key_node(&y, node_at(&y, o, "field_mapping"), key),
				 "%s has no column '%s' (in field_mapping)", cols.c.where, key);
	}

	/* every view reading this source (directly or through a push source) */
	for (i = 0; i < v->defs->n; i++) {
		struct fs_object *vo = &v->defs->objs[i], *vs;
		json_t *ents, *feats;
		char *vwhat;
		struct fs_yctx vy;

		if (vo->kind != FS_KIND_FEATURE_VIEW || !spec_str(vo, "source"))
			continue;
		vs = fs_defs_find(v->defs, FS_KIND_SOURCE, spec_str(vo, "source"));
		if (!vs || data_source(v, vs) != o)
			continue;
		vy = obj_ctx(v, vo, &vwhat);
		ents = json_object_get(vo->spec, "entities");
		for (j = 0; j < json_array_size(ents); j++) {
			struct fs_object *e = fs_defs_find(
				v->defs, FS_KIND_ENTITY, json_string_value(json_array_get(ents, j)));
			const char *col;
			size_t k;

			for (k = 0; k < j; k++) /* listed twice: said once, elsewhere */
				if (json_equal(json_array_get(ents, k), json_array_get(ents, j)))
					break;
			if (!e || !spec_str(e, "join_key") || k < j)
				continue;
			/* read as the readers do: through the source's field_mapping */
			col = fs_source_column_for(o->spec, spec_str(e, "join_key"));
			if (!has_column(&cols, col))
				fs_y_err(&vy, node_at(&vy, vo, "source"),
					 "source '%s' (%s) has no column '%s' (join key of entity '%s')",
					 o->name, cols.c.where, col, e->name);
		}
		feats = json_object_get(vo->spec, "aggregations");
		for (j = 0; j < json_array_size(feats); j++) {
			json_t *a = json_array_get(feats, j);
			const char *f = json_string_value(json_object_get(a, "column"));
			const char *col = f ? fs_source_column_for(o->spec, f) : NULL;
			yaml_node_t *an = vo->node ? fs_y_seq_item(&vy, fs_y_get(&vy, vo->node, "aggregations"), j) : NULL;
			if (col && !has_column(&cols, col))
				fs_y_err(&vy, an ? key_node(&vy, an, "column") : node_at(&vy, vo, "source"),
					 "source '%s' (%s) has no column '%s' (column of aggregation '%s')",
					 o->name, cols.c.where, col,
					 json_string_value(json_object_get(a, "name")));
		}
		feats = feats ? NULL : json_object_get(vo->spec, "features");
		for (j = 0; j < json_array_size(feats); j++) {
			const char *f =
				json_string_value(json_object_get(json_array_get(feats, j), "name"));
			const char *col = fs_source_column_for(o->spec, f);
			if (!has_column(&cols, col))
				fs_y_err(&vy, node_at(&vy, vo, "source"),
					 "source '%s' (%s) has no column '%s' for feature '%s'", o->name,
					 cols.c.where, col, f);
		}
		free(vwhat);
	}
done:
	free(err);
	columns_free(&cols);
	free(what);
}

void fs_defs_validate(struct fs_defs *defs, const struct fs_data_access *data,
		      struct fs_diags *diags)
{
	struct validator v = { defs, diags, data };
	size_t i;

	fs_defs_sort(defs);
	for (i = 1; i < defs->n; i++) {
		struct fs_object *a = &defs->objs[i - 1], *b = &defs->objs[i];
		if (a->kind == b->kind && !strcmp(a->name, b->name))
			fs_diags_add(diags, b->file, b->line, b->col,
				     "duplicate %s '%s' (first defined at %s:%d:%d)",
				     fs_kind_name(b->kind), b->name, a->file, a->line, a->col);
	}
	for (i = 0; i < defs->n; i++) {
		struct fs_object *o = &defs->objs[i];
		if (!o->node)
			continue;
		switch (o->kind) {
		case FS_KIND_FEATURE_VIEW:
			check_view(&v, o);
			break;
		case FS_KIND_FEATURE_SERVICE:
			check_service(&v, o);
			break;
		case FS_KIND_MODEL:
			check_model(&v, o);
			break;
		case FS_KIND_SOURCE:
			check_source(&v, o);
			break;
		default:
			break;
		}
	}
}
