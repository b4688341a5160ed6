#include "apply.h"

#include <git2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "deffiles.h"
#include "error.h"
#include "lock.h"
#include "models.h"
#include "online.h"
#include "source.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

static bool has_feature(const json_t *view_spec, const char *name)
{
	json_t *f;
	size_t i;

	json_array_foreach(json_object_get(view_spec, "features"), i, f)
		if (!strcmp(json_string_value(json_object_get(f, "name")), name))
			return true;
	return false;
}

/* Which model versions each change of a feature view touches, and breaks. */
static int plan_impact(struct fs_repo *repo, struct fs_apply *a)
{
	size_t i, j, k;
	int rc;

	a->impact = json_array();
	for (i = 0; i < a->plan.n; i++) {
		const struct fs_change *c = &a->plan.items[i];
		json_t *users = NULL, *u;

		if (c->kind != FS_KIND_FEATURE_VIEW || c->op == '+') {
			json_array_append_new(a->impact, json_array());
			continue;
		}
		if ((rc = fs_models_using_view(repo->registry, c->name, &users)))
			return rc;
		json_array_foreach(users, j, u) {
			json_t *breaks = json_array(), *f;
			json_array_foreach(json_object_get(u, "features"), k, f)
				if (c->op == '-' || !has_feature(c->spec, json_string_value(f)))
					json_array_append(breaks, f);
			json_object_del(u, "features");
			json_object_set_new(u, "breaks", breaks);
		}
		json_array_append_new(a->impact, users);
	}
	return 0;
}

static bool plan_changes(const struct fs_plan *p, enum fs_kind kind, const char *name)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->items[i].kind == kind && !strcmp(p->items[i].name, name))
			return true;
	return false;
}

/*
 * Views whose stored online records no longer fit: deleted, switched to
 * online: false (nothing may serve them; back on, they start empty), or
 * whose schema (join keys and their types, features and their types)
 * changes, through the view itself or one of its entities.
 */
static void find_resets(struct fs_apply *a)
{
	size_t i, j;

	for (i = 0; i < a->plan.n; i++)
		if (a->plan.items[i].kind == FS_KIND_FEATURE_VIEW && a->plan.items[i].op == '-') {
			a->resets = xrealloc(a->resets, (a->nresets + 1) * sizeof(char *));
			a->resets[a->nresets++] = xstrdup(a->plan.items[i].name);
		}
	for (i = 0; i < a->have.n; i++)
		if (a->have.objs[i].kind == FS_KIND_ENTITY)
			fs_object_spec(&a->have.objs[i]);
	for (i = 0; i < a->want.n; i++) {
		const struct fs_object *w = &a->want.objs[i];
		struct fs_object *h;
		json_t *ents = json_object_get(w->spec, "entities");
		bool touched;
		char *s1, *s2;

		if (w->kind != FS_KIND_FEATURE_VIEW)
			continue;
		h = fs_defs_find(&a->have, FS_KIND_FEATURE_VIEW, w->name);
		if (!h)
			continue;
		touched = plan_changes(&a->plan, FS_KIND_FEATURE_VIEW, w->name);
		for (j = 0; !touched && j < json_array_size(ents); j++)
			touched = plan_changes(&a->plan, FS_KIND_ENTITY,
					       json_string_value(json_array_get(ents, j)));
		if (!touched || !fs_object_spec(h))
			continue;
		s1 = fs_view_schema(&a->want, w);
		s2 = fs_view_schema(&a->have, h);
		if (strcmp(s1, s2) || (json_is_true(json_object_get(h->spec, "online")) &&
					!json_is_true(json_object_get(w->spec, "online")))) {
			a->resets = xrealloc(a->resets, (a->nresets + 1) * sizeof(char *));
			a->resets[a->nresets++] = xstrdup(w->name);
		}
		free(s1);
		free(s2);
	}
}

/* A change that removes features a production model was trained on. */
static int check_production_guard(const struct fs_apply *a)
{
	size_t i, j;
	json_t *u;

	for (i = 0; i < a->plan.n; i++) {
		json_array_foreach(json_array_get(a->impact, i), j, u) {
			json_t *breaks = json_object_get(u, "breaks");
			char *list;
			if (strcmp(json_string_value(json_object_get(u, "stage")), "production") ||
			    !json_array_size(breaks))
				continue;
			list = json_dumps(breaks, JSON_COMPACT);
			fs_error_set("%s feature_view '%s' would remove features %s that model '%s' version %lld in production was trained on; use --force to apply anyway",
				     a->plan.items[i].op == '-' ? "deleting" : "changing",
				     a->plan.items[i].name, list,
				     json_string_value(json_object_get(u, "model")),
				     (long long)json_integer_value(json_object_get(u, "version")));
			free(list);
			return FS_EINVALID;
		}
	}
	return 0;
}

/* ---- the plan cache ---- */

/*
 * Validating and planning a large repository costs mostly YAML parsing.
 * When nothing that result depends on changed since the last full run (the
 * definition files, by blob id; the data files validation read, by stat;
 * this version of fs), the result is known: the canonical specs it
 * produced, kept as a digest in .fs/plan-cache. If the registry still holds
 * exactly those specs, the plan is empty without parsing anything. Like
 * git's index, the cache is only a shortcut: any difference takes the full
 * path, which rewrites it.
 */
static void digest(char out[FS_OID_HEXSZ + 1], const struct strbuf *sb)
{
	git_oid oid;

	git_odb_hash(&oid, sb_str(sb), sb->len, GIT_OBJECT_BLOB);
	git_oid_tostr(out, FS_OID_HEXSZ + 1, &oid);
}

/* What the validation of these files read, as one digest. */
static void inputs_digest(char out[FS_OID_HEXSZ + 1], const char *root,
			  const struct fs_files *files, const json_t *deps)
{
	struct strbuf sb = STRBUF_INIT;
	json_t *d;
	size_t i;

	sb_addf(&sb, "fs %s\n", FS_VERSION);
	for (i = 0; i < files->n; i++)
		sb_addf(&sb, "%s%c%s\n", files->items[i].path, 0, files->items[i].oid);
	json_array_foreach((json_t *)deps, i, d) {
		char *full = fs_path_resolve(root, json_string_value(d));
		struct stat st;
		if (stat(full, &st) == 0)
			sb_addf(&sb, "%s %lld %lld.%09ld %llu\n", full, (long long)st.st_size,
				(long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
				(unsigned long long)st.st_ino);
		else
			sb_addf(&sb, "%s missing\n", full);
		free(full);
	}
	digest(out, &sb);
	sb_release(&sb);
}

/* The specs of defs (objects sorted), as registered: kind, name, canonical text. */
static void specs_digest(char out[FS_OID_HEXSZ + 1], const struct fs_defs *defs)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; i < defs->n; i++) {
		const struct fs_object *o = &defs->objs[i];
		char *text = o->spec_text ? NULL : fs_spec_dump(o->spec);
		sb_addf(&sb, "%s%c%s%c%s\n", fs_kind_name(o->kind), 0, o->name, 0,
			o->spec_text ? o->spec_text : text);
		free(text);
	}
	digest(out, &sb);
	sb_release(&sb);
}

static char *cache_path(const struct fs_repo *repo)
{
	return fs_path_join(repo->root, ".fs/plan-cache");
}

/* The local data files sources of defs name (what validation reads). */
static json_t *data_deps(const struct fs_defs *defs)
{
	json_t *deps = json_array();
	size_t i;

	for (i = 0; i < defs->n; i++) {
		const struct fs_object *o = &defs->objs[i];
		const char *path = o->kind == FS_KIND_SOURCE ? fs_source_local_file(o->spec) : NULL;
		if (path)
			json_array_append_new(deps, json_string(path));
	}
	return deps;
}

/* A postgres source is checked through its connection: no cache can say it did not change. */
static bool has_remote_checks(const struct fs_defs *defs)
{
	size_t i;

	for (i = 0; i < defs->n; i++) {
		const struct fs_source_ops *ops;
		if (defs->objs[i].kind != FS_KIND_SOURCE)
			continue;
		ops = fs_source_spec_ops(defs->objs[i].spec);
		if (ops && ops->in_postgres)
			return true;
	}
	return false;
}

static void cache_write(const struct fs_repo *repo, const struct fs_apply *a)
{
	char inputs[FS_OID_HEXSZ + 1], specs[FS_OID_HEXSZ + 1];
	json_t *deps, *c;
	char *path = cache_path(repo), *text, *dir;

	if (has_remote_checks(&a->want)) {
		unlink(path);
		free(path);
		return;
	}
	deps = data_deps(&a->want);
	dir = fs_path_join(repo->root, ".fs");
	inputs_digest(inputs, repo->root, &a->files, deps);
	specs_digest(specs, &a->want);
	c = json_pack("{s:s, s:s, s:o}", "inputs", inputs, "specs", specs, "deps", deps);
	text = json_dumps(c, JSON_COMPACT);
	if (fs_mkdir_p(dir, 0777) == 0 && text)
		fs_write_file_atomic(path, text, strlen(text)); /* a cache: failing to write is fine */
	free(text);
	json_decref(c);
	free(path);
	free(dir);
}

/*
 * Does the cache say the definitions are exactly what the registry holds?
 * *loaded tells whether a->have was read on the way (then it is kept).
 */
static bool cache_says_unchanged(struct fs_repo *repo, struct fs_apply *a, bool *loaded)
{
	char *path = cache_path(repo);
	json_t *c = json_load_file(path, 0, NULL);
	char inputs[FS_OID_HEXSZ + 1], specs[FS_OID_HEXSZ + 1];
	const char *want_inputs, *want_specs;
	bool same = false;

	free(path);
	want_inputs = json_string_value(json_object_get(c, "inputs"));
	want_specs = json_string_value(json_object_get(c, "specs"));
	if (!want_inputs || !want_specs || !json_is_array(json_object_get(c, "deps")))
		goto done;
	inputs_digest(inputs, repo->root, &a->files, json_object_get(c, "deps"));
	if (strcmp(inputs, want_inputs))
		goto done;
	if (fs_registry_load_texts(repo->registry, &a->have))
		goto done;
	*loaded = true;
	specs_digest(specs, &a->have);
	same = !strcmp(specs, want_specs);
done:
	json_decref(c);
	return same;
}

/* Every entry of `definitions:` must select a file. */
static void check_paths(const struct fs_defsel *sel, const struct fs_config_path *paths,
			size_t npaths, const struct fs_files *files, struct fs_diags *diags)
{
	size_t i, j;

	for (i = 0; i < npaths; i++) {
		for (j = 0; j < files->n; j++)
			if (fs_is_definition_path(files->items[j].path) &&
			    fs_defsel_entry_selects(sel, i, files->items[j].path))
				break;
		if (j == files->n)
			fs_diags_add(diags, "fs.yaml", paths[i].line, paths[i].col,
				     "definitions: '%s' matches no .yaml or .yml file",
				     *paths[i].path ? paths[i].path : ".");
	}
}


/* The problems of an fs.yaml too invalid to open the registry it names. */
static int config_problems(const struct fs_repo *repo, struct fs_diags *diags)
{
	const struct fs_diag *g;
	size_t i;

	for (i = 0; i < repo->config_diags.n; i++) {
		g = &repo->config_diags.items[i];
		fs_diags_add(diags, g->file, g->line, g->col, "%s", g->msg);
	}
	fs_diags_sort(diags);
	return FS_EINVALID;
}

int fs_apply_prepare(struct fs_repo *repo, const struct fs_apply_opts *opts, struct fs_apply *a,
		     struct fs_diags *diags)
{
	struct fs_data_access data = { repo->root, NULL, NULL, NULL, true };
	struct fs_config *cfg = NULL;
	struct fs_config_path *paths = NULL;
	struct fs_defsel *sel = NULL;
	struct fs_git *git;
	bool have_config = false, have_loaded = false;
	size_t i, npaths = 0;
	int rc;

	if ((rc = fs_repo_git(repo, &git)))
		return rc;
	if (opts->rev && (rc = fs_git_rev_open(git, opts->rev, a->commit)))
		return rc;
	sel = fs_defs_selection(repo->root, git, opts->rev != NULL, &paths, &npaths);
	if (opts->rev) {
		rc = fs_git_rev_files(git, sel, &a->files);
		data.read = fs_git_rev_read;
		data.ctx = git;
	} else {
		rc = fs_git_worktree_files(git, sel, &a->files);
	}
	if (rc)
		goto done;
	if (!repo->registry && opts->rev) { /* the working tree's fs.yaml is invalid */
		rc = config_problems(repo, diags);
		goto done;
	}
	if (!opts->rev && repo->registry && cache_says_unchanged(repo, a, &have_loaded)) {
		a->impact = json_array();
		goto done; /* the plan is empty */
	}
	check_paths(sel, paths, npaths, &a->files, diags);

	for (i = 0; i < a->files.n; i++) {
		const struct fs_file *f = &a->files.items[i];
		if (!strcmp(f->path, "fs.yaml")) {
			have_config = true;
			if (!fs_config_parse(&cfg, repo->root, f->data, f->len, f->path, diags))
				fs_config_free(cfg);
		}
	}
	/* the working tree's offline store (fs.yaml, FS_POSTGRES_DSN) */
	data.pg_dsn = repo->config ? repo->config->offline_dsn : NULL;
	fs_defs_parse_files(&a->files, &a->want, diags);
	if (!have_config)
		fs_diags_add(diags, opts->rev ? opts->rev : NULL, 0, 0,
			     "no fs.yaml in %s", opts->rev ? "that revision" : "the working tree");
	fs_defs_validate(&a->want, &data, diags);
	if (!repo->registry && !diags->n) {
		rc = config_problems(repo, diags);
		goto done;
	}
	if (diags->n) {
		fs_diags_sort(diags);
		rc = FS_EINVALID;
		goto done;
	}
	if (!have_loaded && (rc = fs_registry_load_texts(repo->registry, &a->have)))
		goto done;
	if (!opts->rev)
		cache_write(repo, a);
	fs_plan_compute(&a->plan, &a->want, &a->have);
	find_resets(a);
	rc = plan_impact(repo, a);
done:
	fs_defsel_free(sel);
	fs_config_paths_free(paths, npaths);
	return rc;
}

int fs_apply_lock(struct fs_repo *repo, struct fs_lock **out)
{
	char *path = xstrfmt("%s.lock", fs_registry_path(repo->registry));
	int rc = fs_lock_acquire(out, path, true);

	free(path);
	return rc;
}

int fs_apply_run(struct fs_repo *repo, const struct fs_apply_opts *opts, struct fs_apply *a,
		 struct fs_diags *diags)
{
	struct fs_apply_record rec;
	char *summary = NULL, *author = NULL;
	struct fs_git *git;
	int rc;

	if (!repo->registry) /* fs.yaml is invalid: prepare reports it with the definitions */
		return fs_apply_prepare(repo, opts, a, diags);
	if ((rc = fs_apply_lock(repo, &a->lock)))
		return rc;
	if ((rc = fs_apply_prepare(repo, opts, a, diags)))
		return rc;
	if ((rc = fs_repo_git(repo, &git)))
		return rc;
	if (!opts->force && (rc = check_production_guard(a)))
		return rc;
	if (!opts->rev) {
		struct fs_config_path *paths;
		size_t npaths;
		struct fs_defsel *sel = fs_defs_selection(repo->root, git, false, &paths, &npaths);

		rc = fs_git_diff_head(git, sel, &a->files, &a->changed, &a->nchanged, &a->deleted,
				      &a->ndeleted);
		fs_defsel_free(sel);
		fs_config_paths_free(paths, npaths);
		if (rc)
			return rc;
		if (fs_git_head(git, a->commit) == FS_ENOTFOUND)
			a->commit[0] = '\0';
	}
	summary = fs_plan_summary(&a->plan);
	if (!opts->rev && (a->nchanged || a->ndeleted)) {
		if (opts->no_commit) {
			struct strbuf sb = STRBUF_INIT;
			size_t i;
			for (i = 0; i < a->nchanged; i++)
				sb_addf(&sb, "%s%s", sb.len ? ", " : "", a->changed[i]->path);
			for (i = 0; i < a->ndeleted; i++)
				sb_addf(&sb, "%s%s (deleted)", sb.len ? ", " : "", a->deleted[i]);
			fs_error_set("definitions differ from HEAD (%s): commit them, or run without --no-commit",
				     sb_str(&sb));
			sb_release(&sb);
			rc = FS_EINVALID;
			goto done;
		}
		rc = fs_git_commit(git, a->changed, a->nchanged, a->deleted, a->ndeleted,
				   opts->message ? opts->message : summary, a->commit);
		if (rc)
			goto done;
		a->committed = true;
		fs_test_crash_point("apply-after-git-commit");
	}
	if (!a->plan.n)
		goto done;
	if (!a->commit[0]) {
		fs_error_set("the repository has no commit to record");
		rc = FS_ERR;
		goto done;
	}
	author = fs_git_author(git);
	rec.commit = a->commit;
	rec.author = author;
	rec.summary = opts->message ? opts->message : summary;
	rec.time = (int64_t)time(NULL);
	rc = fs_registry_apply(repo->registry, &a->plan, &rec, a->resets, a->nresets,
			       &a->registry_version);
	if (!rc && a->nresets) {
		/*
		 * The registry no longer claims these views are materialized;
		 * drop their records too. Reads check the schema stamp, so a
		 * failure here leaves space, never wrong answers.
		 */
		struct fs_online *store = NULL;
		size_t i;
		if (!fs_online_open(&store, repo->config))
			for (i = 0; i < a->nresets; i++)
				fs_online_drop(store, a->resets[i]);
		fs_online_close(store);
	}
done:
	a->summary = summary;
	free(author);
	return rc;
}

void fs_apply_release(struct fs_apply *a)
{
	size_t i;

	fs_plan_release(&a->plan);
	fs_defs_release(&a->want);
	fs_defs_release(&a->have);
	fs_files_release(&a->files);
	free(a->changed);
	for (i = 0; i < a->ndeleted; i++)
		free(a->deleted[i]);
	free(a->deleted);
	fs_lock_release(a->lock);
	free(a->summary);
	json_decref(a->impact);
	for (i = 0; i < a->nresets; i++)
		free(a->resets[i]);
	free(a->resets);
	memset(a, 0, sizeof(*a));
}
