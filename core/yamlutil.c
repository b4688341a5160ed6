#include "yamlutil.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

/* The 1-based line and column (in bytes) of byte offset off of buf. */
static void offset_position(const char *buf, size_t len, size_t off, int *line, int *col)
{
	size_t i, start = 0;

	if (off > len)
		off = len;
	*line = 1;
	for (i = 0; i < off; i++)
		if (buf[i] == '\n') {
			(*line)++;
			start = i + 1;
		}
	*col = (int)(off - start) + 1;
}

/*
 * libyaml's scanner takes time quadratic in the nesting depth of flow
 * collections ("[[[[...]]]]" 100000 deep runs for minutes), so refuse deep
 * nesting before parsing. Brackets are counted in the raw text, quoted or
 * not: no real definition comes near the limit.
 */
#define MAX_FLOW_DEPTH 1000

static int check_flow_depth(const char *buf, size_t len, const char *file,
			    struct fs_diags *diags)
{
	size_t i, depth = 0;
	int line, col;

	for (i = 0; i < len; i++) {
		if (buf[i] == '[' || buf[i] == '{') {
			if (++depth > MAX_FLOW_DEPTH) {
				offset_position(buf, len, i, &line, &col);
				fs_diags_add(diags, file, line, col,
					     "invalid YAML: collections nested more than %d deep",
					     MAX_FLOW_DEPTH);
				return FS_EINVALID;
			}
		} else if ((buf[i] == ']' || buf[i] == '}') && depth) {
			depth--;
		}
	}
	return 0;
}

int fs_y_load_all(const char *buf, size_t len, const char *file, struct fs_diags *diags,
		  fs_y_doc_fn fn, void *data)
{
	yaml_parser_t parser;
	int rc = 0;

	if (check_flow_depth(buf, len, file, diags))
		return FS_EINVALID;
	if (!yaml_parser_initialize(&parser)) {
		fs_diags_add(diags, file, 0, 0, "cannot initialize the YAML parser");
		return FS_EINVALID;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	for (;;) {
		yaml_document_t *doc = xcalloc(1, sizeof(*doc));
		yaml_node_t *root;

		if (!yaml_parser_load(&parser, doc)) {
			const yaml_mark_t *m = parser.problem_mark.line || parser.problem_mark.column
						       ? &parser.problem_mark
						       : &parser.context_mark;
			int line = (int)m->line + 1, col = (int)m->column + 1;

			/* a reader error (bad UTF-8, a control character) has only an offset */
			if (parser.error == YAML_READER_ERROR)
				offset_position(buf, len, parser.problem_offset, &line, &col);
			fs_diags_add(diags, file, line, col,
				     "invalid YAML: %s%s%s",
				     parser.problem ? parser.problem : "syntax error",
				     parser.context ? " " : "", parser.context ? parser.context : "");
			free(doc);
			rc = FS_EINVALID;
			break;
		}
		root = yaml_document_get_root_node(doc);
		if (!root) { /* end of stream */
			yaml_document_delete(doc);
			free(doc);
			break;
		}
		if (root->type == YAML_SCALAR_NODE && fs_y_is_null(root)) {
			yaml_document_delete(doc); /* empty document: "---" alone */
			free(doc);
			continue;
		}
		fn(data, doc, root);
	}
	yaml_parser_delete(&parser);
	return rc;
}

int fs_y_line(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

int fs_y_col(const yaml_node_t *n)
{
	return (int)n->start_mark.column + 1;
}

void fs_y_err(struct fs_yctx *y, const yaml_node_t *at, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	if (y->what)
		sb_addf(&sb, "%s: ", y->what);
	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	fs_diags_add(y->diags, y->file, at ? fs_y_line(at) : 0, at ? fs_y_col(at) : 0, "%s",
		     sb_str(&sb));
	sb_release(&sb);
}

const char *fs_y_str(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

bool fs_y_is_null(const yaml_node_t *n)
{
	const char *s;

	if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = (const char *)n->data.scalar.value;
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

const char *fs_y_type_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

yaml_node_t *fs_y_seq_item(struct fs_yctx *y, yaml_node_t *seq, size_t i)
{
	return yaml_document_get_node(y->doc, seq->data.sequence.items.start[i]);
}

yaml_node_t *fs_y_map_key(struct fs_yctx *y, yaml_node_t *map, size_t i)
{
	return yaml_document_get_node(y->doc, map->data.mapping.pairs.start[i].key);
}

yaml_node_t *fs_y_map_value(struct fs_yctx *y, yaml_node_t *map, size_t i)
{
	return yaml_document_get_node(y->doc, map->data.mapping.pairs.start[i].value);
}

yaml_node_t *fs_y_get(struct fs_yctx *y, yaml_node_t *map, const char *key)
{
	size_t i, n;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	n = fs_y_map_len(map);
	for (i = 0; i < n; i++) {
		const char *k = fs_y_str(fs_y_map_key(y, map, i));
		if (k && !strcmp(k, key))
			return fs_y_map_value(y, map, i);
	}
	return NULL;
}

void fs_y_check_keys(struct fs_yctx *y, yaml_node_t *map, const char *const *allowed)
{
	size_t i, j, n = fs_y_map_len(map);

	for (i = 0; i < n; i++) {
		yaml_node_t *kn = fs_y_map_key(y, map, i);
		const char *k = fs_y_str(kn);
		const char *const *a;

		if (!k) {
			fs_y_err(y, kn, "keys must be scalars, not %s", fs_y_type_name(kn));
			continue;
		}
		for (j = 0; j < i; j++) {
			const char *prev = fs_y_str(fs_y_map_key(y, map, j));
			if (prev && !strcmp(prev, k))
				break;
		}
		if (j < i) {
			fs_y_err(y, kn, "duplicate key '%s'", k);
			continue;
		}
		for (a = allowed; *a; a++)
			if (!strcmp(*a, k))
				break;
		if (!*a) {
			const char *hint = fs_suggest(k, allowed, (size_t)-1);
			if (hint)
				fs_y_err(y, kn, "unknown key '%s' (did you mean '%s'?)", k, hint);
			else
				fs_y_err(y, kn, "unknown key '%s'", k);
		}
	}
}

static yaml_node_t *want(struct fs_yctx *y, yaml_node_t *map, const char *key, bool required,
			 yaml_node_type_t type, const char *expect)
{
	yaml_node_t *v = fs_y_get(y, map, key);

	if (!v || fs_y_is_null(v)) {
		if (required)
			fs_y_err(y, v ? v : map, "missing '%s'", key);
		return NULL;
	}
	if (v->type != type) {
		fs_y_err(y, v, "'%s' must be %s, not %s", key, expect, fs_y_type_name(v));
		return NULL;
	}
	return v;
}

yaml_node_t *fs_y_want_str(struct fs_yctx *y, yaml_node_t *map, const char *key, bool required,
			   const char **out)
{
	yaml_node_t *v = want(y, map, key, required, YAML_SCALAR_NODE, "a string");

	*out = v ? fs_y_str(v) : NULL;
	return v;
}

yaml_node_t *fs_y_want_bool(struct fs_yctx *y, yaml_node_t *map, const char *key, bool *out)
{
	yaml_node_t *v = want(y, map, key, false, YAML_SCALAR_NODE, "true or false");
	const char *s = fs_y_str(v);

	if (!v)
		return NULL;
	if (v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
			*out = true;
			return v;
		}
		if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
			*out = false;
			return v;
		}
	}
	fs_y_err(y, v, "'%s' must be true or false, not '%s'", key, s);
	return NULL;
}

yaml_node_t *fs_y_want_seq(struct fs_yctx *y, yaml_node_t *map, const char *key, bool required)
{
	return want(y, map, key, required, YAML_SEQUENCE_NODE, "a list");
}

yaml_node_t *fs_y_want_map(struct fs_yctx *y, yaml_node_t *map, const char *key, bool required)
{
	return want(y, map, key, required, YAML_MAPPING_NODE, "a mapping");
}

yaml_node_t *fs_y_want_str_list(struct fs_yctx *y, yaml_node_t *map, const char *key,
				bool required, json_t **out)
{
	yaml_node_t *seq = fs_y_want_seq(y, map, key, required);
	size_t i, n;
	bool ok = true;

	*out = NULL;
	if (!seq)
		return NULL;
	n = fs_y_seq_len(seq);
	if (!n && required) {
		fs_y_err(y, seq, "'%s' must not be empty", key);
		return NULL;
	}
	*out = json_array();
	for (i = 0; i < n; i++) {
		yaml_node_t *it = fs_y_seq_item(y, seq, i);
		const char *s = fs_y_str(it);
		if (!s || fs_y_is_null(it)) {
			fs_y_err(y, it, "items of '%s' must be strings, not %s", key,
				 s ? "null" : fs_y_type_name(it));
			ok = false;
			continue;
		}
		json_array_append_new(*out, json_string(s));
	}
	if (!ok) {
		json_decref(*out);
		*out = NULL;
		return NULL;
	}
	return seq;
}

yaml_node_t *fs_y_want_str_map(struct fs_yctx *y, yaml_node_t *map, const char *key,
			       json_t **out)
{
	yaml_node_t *m = fs_y_want_map(y, map, key, false);
	size_t i, n;
	bool ok = true;

	*out = NULL;
	if (!m)
		return NULL;
	*out = json_object();
	n = fs_y_map_len(m);
	for (i = 0; i < n; i++) {
		yaml_node_t *kn = fs_y_map_key(y, m, i), *vn = fs_y_map_value(y, m, i);
		const char *k = fs_y_str(kn), *v = fs_y_str(vn);
		if (!k) {
			fs_y_err(y, kn, "keys of '%s' must be strings", key);
			ok = false;
			continue;
		}
		if (!v) {
			fs_y_err(y, vn, "'%s.%s' must be a string, not %s", key, k,
				 fs_y_type_name(vn));
			ok = false;
			continue;
		}
		if (json_object_get(*out, k)) {
			fs_y_err(y, kn, "duplicate key '%s' in '%s'", k, key);
			ok = false;
			continue;
		}
		json_object_set_new(*out, k, json_string(v));
	}
	if (!ok) {
		json_decref(*out);
		*out = NULL;
		return NULL;
	}
	return m;
}
