#include "apply.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "lock.h"
#include "models.h"
#include "online.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

/*
 * Parsing YAML dominates planning a large repository; files are
 * independent, so a large set is parsed by two threads, each into its own
 * defs and diagnostics, merged afterwards (validation sorts them anyway).
 */
struct parse_job {
	const struct fs_files *files;
	size_t from, to;
	struct fs_defs defs;
	struct fs_diags diags;
};

static void *parse_files(void *p)
{
	struct parse_job *job = p;
	size_t i;

	for (i = job->from; i < job->to; i++) {
		const struct fs_file *f = &job->files->items[i];
		if (fs_is_definition_path(f->path))
			fs_defs_parse(&job->defs, f->path, f->data, f->len, &job->diags);
	}
	return NULL;
}

static void merge_job(struct fs_defs *defs, struct fs_diags *diags, struct parse_job *job)
{
	size_t i;

	ALLOC_GROW(defs->objs, defs->n + job->defs.n, defs->alloc);
	memcpy(defs->objs + defs->n, job->defs.objs, job->defs.n * sizeof(*defs->objs));
	defs->n += job->defs.n;
	ALLOC_GROW(defs->docs, defs->ndocs + job->defs.ndocs, defs->docs_alloc);
	memcpy(defs->docs + defs->ndocs, job->defs.docs, job->defs.ndocs * sizeof(*defs->docs));
	defs->ndocs += job->defs.ndocs;
	free(job->defs.objs);
	free(job->defs.docs);
	for (i = 0; i < job->diags.n; i++) {
		ALLOC_GROW(diags->items, diags->n + 1, diags->alloc);
		diags->items[diags->n++] = job->diags.items[i];
	}
	free(job->diags.items);
}

#define PARALLEL_PARSE_BYTES (256 * 1024)

static void parse_definitions(const struct fs_files *files, struct fs_defs *defs,
			      struct fs_diags *diags)
{
	struct parse_job jobs[2] = { { files, 0, 0 }, { files, 0, 0 } };
	size_t total = 0, half = 0, i;
	pthread_t tid;

	for (i = 0; i < files->n; i++)
		total += files->items[i].len;
	for (i = 0; i < files->n && half < total / 2; i++)
		half += files->items[i].len;
	jobs[0].to = jobs[1].from = i;
	jobs[1].to = files->n;
	json_object_seed(0); /* before any thread creates objects */
	if (total < PARALLEL_PARSE_BYTES || sysconf(_SC_NPROCESSORS_ONLN) < 2 ||
	    pthread_create(&tid, NULL, parse_files, &jobs[1])) {
		jobs[0].to = files->n;
		parse_files(&jobs[0]);
		merge_job(defs, diags, &jobs[0]);
		return;
	}
	parse_files(&jobs[0]);
	pthread_join(tid, NULL);
	merge_job(defs, diags, &jobs[0]);
	merge_job(defs, diags, &jobs[1]);
}

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
 * Views whose stored online records no longer fit: deleted, or whose
 * schema (join keys and their types, features and their types) changes,
 * through the view itself or one of its entities.
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
		if (strcmp(s1, s2)) {
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

int fs_apply_prepare(struct fs_repo *repo, const struct fs_apply_opts *opts, struct fs_apply *a,
		     struct fs_diags *diags)
{
	struct fs_data_access data = { repo->root, NULL, NULL };
	struct fs_config *cfg = NULL;
	struct fs_git *git;
	bool have_config = false;
	size_t i;
	int rc;

	if ((rc = fs_repo_git(repo, &git)))
		return rc;
	if (opts->rev) {
		rc = fs_git_rev_files(git, opts->rev, &a->files, a->commit);
		data.read = fs_git_rev_read;
		data.ctx = git;
	} else {
		rc = fs_git_worktree_files(git, &a->files);
	}
	if (rc)
		return rc;

	for (i = 0; i < a->files.n; i++) {
		const struct fs_file *f = &a->files.items[i];
		if (!strcmp(f->path, "fs.yaml")) {
			have_config = true;
			if (!fs_config_parse(&cfg, repo->root, f->data, f->len, f->path, diags))
				fs_config_free(cfg);
		}
	}
	parse_definitions(&a->files, &a->want, diags);
	if (!have_config)
		fs_diags_add(diags, opts->rev ? opts->rev : NULL, 0, 0,
			     "no fs.yaml in %s", opts->rev ? "that revision" : "the working tree");
	fs_defs_validate(&a->want, &data, diags);
	if (diags->n) {
		fs_diags_sort(diags);
		return FS_EINVALID;
	}
	if ((rc = fs_registry_load_texts(repo->registry, &a->have)))
		return rc;
	fs_plan_compute(&a->plan, &a->want, &a->have);
	find_resets(a);
	return plan_impact(repo, a);
}

static char *lock_path(struct fs_repo *repo)
{
	return xstrfmt("%s.lock", fs_registry_path(repo->registry));
}

int fs_apply_run(struct fs_repo *repo, const struct fs_apply_opts *opts, struct fs_apply *a,
		 struct fs_diags *diags)
{
	struct fs_apply_record rec;
	char *lpath = lock_path(repo), *summary = NULL, *author = NULL;
	struct fs_git *git;
	int rc;

	rc = fs_lock_acquire(&a->lock, lpath, true);
	free(lpath);
	if (rc)
		return rc;
	if ((rc = fs_apply_prepare(repo, opts, a, diags)))
		return rc;
	if ((rc = fs_repo_git(repo, &git)))
		return rc;
	if (!opts->force && (rc = check_production_guard(a)))
		return rc;
	if (!opts->rev) {
		rc = fs_git_diff_head(git, &a->files, &a->changed, &a->nchanged, &a->deleted,
				      &a->ndeleted);
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
