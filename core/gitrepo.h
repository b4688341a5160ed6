/*
 * gitrepo.h: the feature repository's git side, through libgit2: finding
 * the definition files (working tree or any commit), telling which differ
 * from HEAD, and committing them without touching anything else.
 *
 * Paths are relative to the fs root (the directory holding fs.yaml), which
 * may sit below the git work tree's top (a monorepo): the prefix between
 * them is handled here.
 *
 * Definition files are fs.yaml, .fsignore and the *.yaml / *.yml files a
 * selection picks (fs.yaml's `definitions:`, see ignore.h) outside .git/
 * and .fs/ that neither .gitignore nor .fsignore excludes. The same
 * selection applies to the working tree, HEAD and any commit.
 */
#ifndef FS_GITREPO_H
#define FS_GITREPO_H

#include <stdbool.h>
#include <stddef.h>

#include "ignore.h"
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
	/* selected by path, left out by content: no document has a kind (sorted) */
	char **skipped;
	size_t nskipped, skipped_alloc;
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

/* Files of the working tree that sel picks (content read). */
int fs_git_worktree_files(struct fs_git *git, const struct fs_defsel *sel, struct fs_files *out);
/*
 * Choose the commit rev resolves to for the calls below; commit_out gets
 * its id. FS_ENOTFOUND when rev names nothing (or the commit lacks the fs
 * root's directory).
 */
int fs_git_rev_open(struct fs_git *git, const char *rev, char commit_out[FS_OID_HEXSZ + 1]);
/* Files of that commit that sel picks (content read). */
int fs_git_rev_files(struct fs_git *git, const struct fs_defsel *sel, struct fs_files *out);
/* Read a file of that commit (fs.yaml, source headers); FS_ENOTFOUND if absent. */
int fs_git_rev_read(void *git, const char *path, struct strbuf *out);

/* HEAD's commit id, or FS_ENOTFOUND on an unborn branch. */
int fs_git_head(struct fs_git *git, char out[FS_OID_HEXSZ + 1]);
/* The current branch's short name ("main"), or "HEAD" when detached. */
char *fs_git_branch(struct fs_git *git);

/*
 * Compare the working-tree files with HEAD's that sel picks: changed gets
 * the working files that are new or modified (pointers into worktree),
 * deleted the paths present in HEAD only (owned by the caller: free each
 * and the array); a path the working tree skipped is neither.
 */
int fs_git_diff_head(struct fs_git *git, const struct fs_defsel *sel,
		     const struct fs_files *worktree,
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

/*
 * "Name <email>" of the author git would use (env, then config, then
 * EMAIL, then a guess: <login>@<host>): who did something, for a record.
 */
char *fs_git_author(struct fs_git *git);
/*
 * Whether commits can be made in dir (which need not exist yet), as git
 * commit decides it: an author and a committer from GIT_AUTHOR_NAME and
 * _EMAIL, GIT_COMMITTER_NAME and _EMAIL, or the git configuration (of the
 * repository at or above dir, else global and system), or EMAIL; an
 * address is never made up from the host name. 0, or FS_EIDENT with git's message ("unable to
 * auto-detect email address (got 'root@host.(none)')"). fs_git_commit
 * refuses alike, before it writes anything.
 */
int fs_git_ident_check(const char *dir);
/* Whose identity the last FS_EIDENT lacked: "Author" or "Committer". */
const char *fs_git_ident_unknown(void);

#endif
