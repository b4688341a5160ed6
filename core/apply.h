/*
 * apply.h: plan and apply, the operations behind `fs plan` and `fs apply`.
 *
 * fs_apply_prepare() reads the definitions (working tree, or the tree of
 * a commit with rev), validates all of them, and computes the plan against
 * the registry. fs_apply_run() then commits dirty definition files (working
 * tree mode) and records the plan in the registry, in that order, holding
 * the registry's apply lock so that concurrent applies serialize.
 */
#ifndef FS_APPLY_H
#define FS_APPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "gitrepo.h"
#include "lock.h"
#include "plan.h"
#include "repo.h"

struct fs_apply_opts {
	const char *rev;     /* NULL: working tree */
	const char *message; /* commit message; NULL: generated */
	bool no_commit;      /* refuse a dirty tree instead of committing */
	bool force;          /* apply even when it breaks a model version in production */
};

struct fs_apply {
	struct fs_defs want, have;
	struct fs_plan plan;
	struct fs_files files;
	/* working tree mode: definition files that differ from HEAD */
	const struct fs_file **changed;
	size_t nchanged;
	char **deleted;
	size_t ndeleted;
	char commit[FS_OID_HEXSZ + 1]; /* commit the registry will point at ("" if none) */
	bool committed;                /* fs_apply_run made a commit */
	int64_t registry_version;      /* after fs_apply_run; 0 when nothing changed */
	char *summary; /* generated summary of the plan */
	/*
	 * Per plan change (same index), the model versions whose lineage uses
	 * the changed view: [{"model", "version", "stage", "breaks": [...]}],
	 * "breaks" naming trained-on features the change removes.
	 */
	json_t *impact;
	/* views whose online data and materialization state this apply drops */
	char **resets;
	size_t nresets;
	struct fs_lock *lock;
};

/*
 * Load, validate and plan. Returns 0; FS_EINVALID with the problems in
 * diags; or another error with a message.
 */
int fs_apply_prepare(struct fs_repo *repo, const struct fs_apply_opts *opts, struct fs_apply *out,
		     struct fs_diags *diags);
/*
 * The lock apply holds from reading the registry to writing it
 * (<registry>.lock), waiting for it: whoever must not land between apply's
 * checks and its write takes it too (promotions into production).
 */
int fs_apply_lock(struct fs_repo *repo, struct fs_lock **out);
/*
 * Take the apply lock, prepare, commit and register. Refuses (FS_EINVALID,
 * message) to delete a view or feature that a production model version was
 * trained on, unless opts->force.
 */
int fs_apply_run(struct fs_repo *repo, const struct fs_apply_opts *opts, struct fs_apply *out,
		 struct fs_diags *diags);
void fs_apply_release(struct fs_apply *a);

#endif
