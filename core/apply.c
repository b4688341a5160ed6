#include "apply.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "error.h"
#include "lock.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

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
		} else if (fs_is_definition_path(f->path)) {
			fs_defs_parse(&a->want, f->path, f->data, f->len, diags);
		}
	}
	if (!have_config)
		fs_diags_add(diags, opts->rev ? opts->rev : NULL, 0, 0,
			     "no fs.yaml in %s", opts->rev ? "that revision" : "the working tree");
	fs_defs_validate(&a->want, &data, diags);
	if (diags->n) {
		fs_diags_sort(diags);
		return FS_EINVALID;
	}
	if ((rc = fs_registry_load(repo->registry, &a->have)))
		return rc;
	fs_plan_compute(&a->plan, &a->want, &a->have);
	return 0;
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
	rc = fs_registry_apply(repo->registry, &a->plan, &rec, &a->registry_version);
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
	memset(a, 0, sizeof(*a));
}
