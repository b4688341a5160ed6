#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "strbuf.h"
#include "util.h"
#include "yamlutil.h"
#include "banned.h"

struct parse_state {
	struct fs_config *cfg;
	const char *root;
	const char *name;
	struct fs_diags *diags;
	int ndocs;
	bool defs_known; /* `definitions:` was read, valid or absent */
};

static void parse_online(struct fs_yctx *y, struct fs_config *cfg, const char *root,
			 yaml_node_t *m)
{
	static const char *const keys[] = { "type", "path", "url", "cluster", NULL };
	const char *type = NULL, *path = NULL, *url = NULL;
	yaml_node_t *tn;

	fs_y_check_keys(y, m, keys);
	tn = fs_y_want_str(y, m, "type", false, &type);
	fs_y_want_str(y, m, "path", false, &path);
	fs_y_want_str(y, m, "url", false, &url);
	if (!type)
		type = "sqlite";
	if (!strcmp(type, "sqlite")) {
		if (url)
			fs_y_err(y, fs_y_get(y, m, "url"), "'url' is for redis, not sqlite");
	} else if (!strcmp(type, "redis")) {
		yaml_node_t *cl = fs_y_get(y, m, "cluster");
		if (path)
			fs_y_err(y, fs_y_get(y, m, "path"), "'path' is for sqlite, not redis");
		if (url && !starts_with(url, "redis://") && !starts_with(url, "rediss://"))
			fs_y_err(y, fs_y_get(y, m, "url"), "redis url must start with redis://");
		if (cl && url)
			fs_y_err(y, cl, "'cluster' and 'url' go not together: a cluster is named by its seed nodes");
		else if (cl && (cl->type != YAML_SEQUENCE_NODE ||
				cl->data.sequence.items.top == cl->data.sequence.items.start))
			fs_y_err(y, cl, "'cluster' must be a list of seed nodes ([redis://host:port, ...])");
		else if (cl) {
			yaml_node_item_t *it;
			for (it = cl->data.sequence.items.start; it < cl->data.sequence.items.top; it++) {
				yaml_node_t *e = yaml_document_get_node(y->doc, *it);
				const char *v = e && e->type == YAML_SCALAR_NODE ? (const char *)e->data.scalar.value
										  : NULL;
				if (!v || !starts_with(v, "redis://")) {
					fs_y_err(y, e ? e : cl, "a cluster seed must be a redis:// URL");
					continue;
				}
				cfg->online_cluster = xrealloc(cfg->online_cluster,
							       (cfg->online_cluster_n + 1) * sizeof(char *));
				cfg->online_cluster[cfg->online_cluster_n++] = xstrdup(v);
			}
		}
	} else {
		fs_y_err(y, tn, "unknown online store type '%s' (expected sqlite or redis)", type);
		return;
	}
	free(cfg->online_type);
	cfg->online_type = xstrdup(type);
	if (path) {
		free(cfg->online_path);
		cfg->online_path = fs_path_resolve(root, path);
	}
	if (url)
		cfg->online_url = xstrdup(url);
}

static void parse_offline(struct fs_yctx *y, struct fs_config *cfg, yaml_node_t *m)
{
	static const char *const keys[] = { "type", "dsn", NULL };
	const char *type = NULL, *dsn = NULL;
	yaml_node_t *tn;

	fs_y_check_keys(y, m, keys);
	tn = fs_y_want_str(y, m, "type", false, &type);
	fs_y_want_str(y, m, "dsn", false, &dsn);
	if (!type)
		type = "embedded";
	if (strcmp(type, "embedded") && strcmp(type, "postgres")) {
		fs_y_err(y, tn, "unknown offline store type '%s' (expected embedded or postgres)",
			 type);
		return;
	}
	if (!strcmp(type, "embedded") && dsn)
		fs_y_err(y, fs_y_get(y, m, "dsn"), "'dsn' is for postgres, not embedded");
	free(cfg->offline_type);
	cfg->offline_type = xstrdup(type);
	if (dsn)
		cfg->offline_dsn = xstrdup(dsn);
}

static void parse_webhooks(struct fs_yctx *y, struct fs_config *cfg, yaml_node_t *seq)
{
	static const char *const keys[] = { "url", "events", "secret_env", NULL };
	static const char *const events[] = { "model.registered", "model.promoted", NULL };
	size_t i, j, n = fs_y_seq_len(seq);

	cfg->webhooks = xcalloc(n, sizeof(*cfg->webhooks));
	for (i = 0; i < n; i++) {
		yaml_node_t *m = fs_y_seq_item(y, seq, i), *ev;
		const char *url = NULL, *secret = NULL;
		struct fs_webhook *w;
		json_t *list = NULL;

		if (m->type != YAML_MAPPING_NODE) {
			fs_y_err(y, m, "webhooks must be mappings with 'url' and 'events'");
			continue;
		}
		fs_y_check_keys(y, m, keys);
		fs_y_want_str(y, m, "url", true, &url);
		fs_y_want_str(y, m, "secret_env", false, &secret);
		ev = fs_y_want_str_list(y, m, "events", true, &list);
		if (url && !starts_with(url, "http://") && !starts_with(url, "https://"))
			fs_y_err(y, fs_y_get(y, m, "url"), "webhook url must be http:// or https://");
		if (!url || !list) {
			json_decref(list);
			continue;
		}
		w = &cfg->webhooks[cfg->nwebhooks++];
		w->url = xstrdup(url);
		w->secret_env = secret ? xstrdup(secret) : NULL;
		w->events = xcalloc(json_array_size(list), sizeof(char *));
		for (j = 0; j < json_array_size(list); j++) {
			const char *e = json_string_value(json_array_get(list, j));
			const char *const *k;
			for (k = events; *k; k++)
				if (!strcmp(*k, e))
					break;
			if (!*k)
				fs_y_err(y, fs_y_seq_item(y, ev, j),
					 "unknown webhook event '%s' (expected model.registered or model.promoted)",
					 e);
			w->events[w->nevents++] = xstrdup(e);
		}
		json_decref(list);
	}
}

/*
 * An entry of `definitions:` in its normal form (no "." or empty
 * components, "" for the root itself), or NULL after reporting why not.
 */
static char *normal_path(struct fs_yctx *y, yaml_node_t *at, const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p = s, *end, *star;

	if (*s == '/') {
		fs_y_err(y, at, "definitions: '%s' is not relative to the repository root", s);
		return NULL;
	}
	for (star = strstr(s, "**"); star; star = strstr(star + 2, "**"))
		if ((star > s && star[-1] != '/') || (star[2] && star[2] != '/')) {
			fs_y_err(y, at, "definitions: '%s': '**' must be a whole path component", s);
			return NULL;
		}
	for (; *p; p = *end ? end + 1 : end) {
		size_t len;

		end = strchrnul(p, '/');
		len = (size_t)(end - p);
		if (!len || (len == 1 && *p == '.'))
			continue;
		if (len == 2 && !memcmp(p, "..", 2)) {
			fs_y_err(y, at, "definitions: '%s' is outside the repository", s);
			sb_release(&sb);
			return NULL;
		}
		if (sb.len)
			sb_addc(&sb, '/');
		sb_add(&sb, p, len);
	}
	return sb_detach(&sb);
}

/* `definitions:` must be a non-empty list of paths; *ok tells whether it is. */
static void parse_definitions(struct fs_yctx *y, struct fs_config *cfg, yaml_node_t *seq,
			      bool *ok)
{
	size_t i, n = fs_y_seq_len(seq);

	*ok = n > 0;
	if (!n) {
		fs_y_err(y, seq, "'definitions' must not be empty: list the directories and files "
				 "that hold the definitions, or remove the key");
		return;
	}
	cfg->definitions = xcalloc(n, sizeof(*cfg->definitions));
	for (i = 0; i < n; i++) {
		yaml_node_t *it = fs_y_seq_item(y, seq, i);
		const char *s = fs_y_str(it);
		struct fs_config_path *d;
		char *path;

		if (!s || fs_y_is_null(it)) {
			fs_y_err(y, it, "items of 'definitions' must be strings, not %s",
				 s ? "null" : fs_y_type_name(it));
			*ok = false;
			continue;
		}
		if (!(path = normal_path(y, it, s))) {
			*ok = false;
			continue;
		}
		d = &cfg->definitions[cfg->ndefinitions++];
		d->path = path;
		d->line = fs_y_line(it);
		d->col = fs_y_col(it);
	}
}

static void parse_doc(void *data, yaml_document_t *doc, yaml_node_t *root)
{
	static const char *const keys[] = { "project",       "registry", "online_store",
					    "offline_store", "webhooks", "artifact_store",
					    "definitions",   NULL };
	struct parse_state *st = data;
	struct fs_yctx y = { doc, st->name, st->diags, NULL };
	struct fs_config *cfg = st->cfg;
	const char *project = NULL, *registry = NULL, *artifacts = NULL;
	yaml_node_t *pn, *m;

	if (st->ndocs++) {
		fs_y_err(&y, root, "fs.yaml holds one document only");
		goto done;
	}
	if (root->type != YAML_MAPPING_NODE) {
		fs_y_err(&y, root, "fs.yaml must be a mapping, not %s", fs_y_type_name(root));
		goto done;
	}
	fs_y_check_keys(&y, root, keys);
	pn = fs_y_want_str(&y, root, "project", true, &project);
	if (project && !fs_is_valid_project(project))
		fs_y_err(&y, pn, "bad project name '%s' (letters, digits, '_' and '-' only)",
			 project);
	else if (project)
		cfg->project = xstrdup(project);
	if (fs_y_want_str(&y, root, "registry", false, &registry)) {
		free(cfg->registry_path);
		cfg->registry_path = fs_path_resolve(st->root, registry);
	}
	if (fs_y_want_str(&y, root, "artifact_store", false, &artifacts)) {
		free(cfg->artifact_store);
		cfg->artifact_store = fs_path_resolve(st->root, artifacts);
	}
	if ((m = fs_y_want_map(&y, root, "online_store", false)))
		parse_online(&y, cfg, st->root, m);
	if ((m = fs_y_want_map(&y, root, "offline_store", false)))
		parse_offline(&y, cfg, m);
	if ((m = fs_y_want_seq(&y, root, "webhooks", false)))
		parse_webhooks(&y, cfg, m);
	if ((m = fs_y_want_seq(&y, root, "definitions", false))) {
		parse_definitions(&y, cfg, m, &st->defs_known);
	} else {
		m = fs_y_get(&y, root, "definitions"); /* absent, null, or reported */
		st->defs_known = !m || fs_y_is_null(m);
	}
done:
	yaml_document_delete(doc);
	free(doc);
}

static void env_override(char **field, const char *var, const char *root, bool is_path)
{
	const char *v = getenv(var);

	if (!v || !*v)
		return;
	free(*field);
	*field = is_path ? fs_path_resolve(root, v) : xstrdup(v);
}

static void clear_cluster(struct fs_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->online_cluster_n; i++)
		free(cfg->online_cluster[i]);
	free(cfg->online_cluster);
	cfg->online_cluster = NULL;
	cfg->online_cluster_n = 0;
}

int fs_config_parse(struct fs_config **out, const char *root, const char *text, size_t len,
		    const char *name, struct fs_diags *diags)
{
	struct fs_config *cfg = xcalloc(1, sizeof(*cfg));
	struct parse_state st = { cfg, root, name, diags, 0, false };
	size_t before = diags->n;

	cfg->registry_path = fs_path_join(root, ".fs/registry.db");
	cfg->online_type = xstrdup("sqlite");
	cfg->online_path = fs_path_join(root, ".fs/online.db");
	cfg->offline_type = xstrdup("embedded");
	cfg->artifact_store = fs_path_join(root, ".fs/artifacts");
	fs_y_load_all(text, len, name, diags, parse_doc, &st);
	if (diags->n == before && !cfg->project)
		fs_diags_add(diags, name, 1, 1, "missing 'project'");
	env_override(&cfg->registry_path, "FS_REGISTRY", root, true);
	env_override(&cfg->online_path, "FS_ONLINE_PATH", root, true);
	if (getenv("FS_REDIS_CLUSTER") && *getenv("FS_REDIS_CLUSTER")) {
		/* seed URLs, comma-separated: a cluster instead of what fs.yaml says */
		char *copy = xstrdup(getenv("FS_REDIS_CLUSTER")), *p, *save = NULL;
		clear_cluster(cfg);
		for (p = strtok_r(copy, ", ", &save); p; p = strtok_r(NULL, ", ", &save)) {
			cfg->online_cluster = xrealloc(cfg->online_cluster,
						       (cfg->online_cluster_n + 1) * sizeof(char *));
			cfg->online_cluster[cfg->online_cluster_n++] = xstrdup(p);
		}
		free(copy);
		free(cfg->online_url);
		cfg->online_url = NULL;
		free(cfg->online_type);
		cfg->online_type = xstrdup("redis");
	} else if (getenv("FS_REDIS_URL") && *getenv("FS_REDIS_URL")) {
		clear_cluster(cfg);
		env_override(&cfg->online_url, "FS_REDIS_URL", root, false);
		free(cfg->online_type);
		cfg->online_type = xstrdup("redis");
	}
	env_override(&cfg->offline_dsn, "FS_POSTGRES_DSN", root, false);
	if (diags->n != before) {
		fs_config_free(cfg);
		*out = NULL;
		return FS_EINVALID;
	}
	*out = cfg;
	return 0;
}

int fs_config_load(struct fs_config **out, const char *root, struct fs_diags *diags_out)
{
	struct fs_diags diags = { 0 };
	struct strbuf text = STRBUF_INIT, msg = STRBUF_INIT;
	char *path = fs_path_join(root, "fs.yaml");
	size_t i;
	int rc;

	*out = NULL;
	if (sb_read_file(&text, path) < 0) {
		fs_error_set("cannot read '%s': %s", path, strerror(errno));
		rc = FS_ERR;
		goto done;
	}
	rc = fs_config_parse(out, root, sb_str(&text), text.len, "fs.yaml", &diags);
	if (rc) {
		/* one problem: its message; several: a count, then one line each */
		fs_diags_sort(&diags);
		if (diags.n > 1)
			sb_addf(&msg, "%zu errors in fs.yaml", diags.n);
		for (i = 0; i < diags.n; i++) {
			char *s = fs_diag_format(&diags.items[i]);
			sb_addf(&msg, "%s%s", diags.n > 1 ? "\nerror: " : "", s);
			free(s);
		}
		fs_error_set("%s", sb_str(&msg));
		if (diags_out) {
			*diags_out = diags;
			memset(&diags, 0, sizeof(diags));
		}
	}
done:
	fs_diags_release(&diags);
	sb_release(&text);
	sb_release(&msg);
	free(path);
	return rc;
}

int fs_config_definitions(struct fs_config_path **out, size_t *n, const char *text, size_t len)
{
	struct fs_config *cfg = xcalloc(1, sizeof(*cfg));
	struct fs_diags diags = { 0 };
	struct parse_state st = { cfg, "", "fs.yaml", &diags, 0, false };
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (fs_y_load_all(text, len, "fs.yaml", &diags, parse_doc, &st) || st.ndocs != 1 ||
	    !st.defs_known) {
		rc = FS_EINVALID;
	} else {
		*out = cfg->definitions;
		*n = cfg->ndefinitions;
		cfg->definitions = NULL;
		cfg->ndefinitions = 0;
	}
	fs_diags_release(&diags);
	fs_config_free(cfg);
	return rc;
}

void fs_config_paths_free(struct fs_config_path *paths, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(paths[i].path);
	free(paths);
}

void fs_config_free(struct fs_config *cfg)
{
	size_t i, j;

	if (!cfg)
		return;
	fs_config_paths_free(cfg->definitions, cfg->ndefinitions);
	free(cfg->project);
	free(cfg->registry_path);
	free(cfg->online_type);
	free(cfg->online_path);
	free(cfg->online_url);
	clear_cluster(cfg);
	free(cfg->offline_type);
	free(cfg->offline_dsn);
	free(cfg->artifact_store);
	for (i = 0; i < cfg->nwebhooks; i++) {
		free(cfg->webhooks[i].url);
		free(cfg->webhooks[i].secret_env);
		for (j = 0; j < cfg->webhooks[i].nevents; j++)
			free(cfg->webhooks[i].events[j]);
		free(cfg->webhooks[i].events);
	}
	free(cfg->webhooks);
	free(cfg);
}
