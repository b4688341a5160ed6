/*
 * gitrepo.h: the feature repository's git side, through libgit2: finding
 * the definition files (working tree or any commit), telling which differ
 * from HEAD, and committing them without touching anything else.
 *
 * Paths are relative to the fs root (the directory holding fs.yaml), which
 * may sit below the git work tree's top (a monorepo): the prefix between
 * them is handled here.
 *
 * Definition files are fs.yaml, .fsignore and every *.yaml / *.yml outside
 * .git/ and .fs/ that neither .gitignore nor .fsignore excludes.
 */
#ifndef FS_GITREPO_H
#define FS_GITREPO_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

#define FS_OID_HEXSZ 40

struct fs_git;

struct fs_file {
	char *path; /* relative to the fs root */
	char *data;
	size_t len;
	char oid[FS_OID_HEXSZ + 1]; /* blob id of data */
};

struct fs_files {
	struct fs_file *items; /* sorted by path */
	size_t n, alloc;
};

void fs_files_add(struct fs_files *files, const char *path, const char *data, size_t len);
void fs_files_release(struct fs_files *files);
/* The definitions among files (not fs.yaml, .fsignore). */
bool fs_is_definition_path(const char *path);

/* Create a git repository in dir (or reuse the one there). */
int fs_git_init(const char *dir);
/* Open the repository holding root. */
int fs_git_open(struct fs_git **out, const char *root);
void fs_git_free(struct fs_git *git);

/* Files of the working tree (content read). */
int fs_git_worktree_files(struct fs_git *git, struct fs_files *out);
/*
 * Files of the commit rev resolves to (content read); commit_out gets its
 * id. FS_ENOTFOUND when rev names nothing.
 */
int fs_git_rev_files(struct fs_git *git, const char *rev, struct fs_files *out,
		     char commit_out[FS_OID_HEXSZ + 1]);
/* Read a file of that commit (for source headers); FS_ENOTFOUND if absent. */
int fs_git_rev_read(void *git, const char *path, struct strbuf *out);

/* HEAD's commit id, or FS_ENOTFOUND on an unborn branch. */
int fs_git_head(struct fs_git *git, char out[FS_OID_HEXSZ + 1]);
/* The current branch's short name ("main"), or "HEAD" when detached. */
char *fs_git_branch(struct fs_git *git);

/*
 * Compare the working-tree files with HEAD: changed gets the working files
 * that are new or modified (pointers into worktree), deleted the paths
 * present in HEAD only (owned by the caller: free each and the array).
 */
int fs_git_diff_head(struct fs_git *git, const struct fs_files *worktree,
		     const struct fs_file ***changed, size_t *nchanged, char ***deleted,
		     size_t *ndeleted);

/*
 * Commit on the current branch: HEAD's tree with changed written and
 * deleted removed, message msg; also brings the index up to date for those
 * paths. out gets the new commit id.
 */
int fs_git_commit(struct fs_git *git, const struct fs_file *const *changed, size_t nchanged,
		  char *const *deleted, size_t ndeleted, const char *msg,
		  char out[FS_OID_HEXSZ + 1]);

/* "Name <email>" of the author git would use (env, then config, then guess). */
char *fs_git_author(struct fs_git *git);

#endif
