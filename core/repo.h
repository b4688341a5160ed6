/*
 * repo.h: an open feature repository: its root (the directory holding
 * fs.yaml), configuration, registry and git repository.
 */
#ifndef FS_REPO_H
#define FS_REPO_H

#include "config.h"
#include "gitrepo.h"
#include "registry.h"

struct fs_repo {
	char *root; /* absolute */
	struct fs_config *config;
	struct fs_registry *registry; /* opened by fs_repo_open */
	struct fs_git *git;           /* opened on first fs_repo_git() */
	/*
	 * Set by fs_repo_open_invalid: fs.yaml's problems, config and registry
	 * NULL, so that plan and apply report them with the definitions' own.
	 */
	struct fs_diags config_diags;
};

/*
 * Walk up from start to the first directory holding fs.yaml; *out gets its
 * absolute path. FS_ENOTFOUND when there is none.
 */
int fs_repo_discover(char **out, const char *start);
/*
 * Load fs.yaml of root and open the registry it names. An invalid fs.yaml
 * gives FS_EINVALID with its problems in diags (see fs_config_load).
 */
int fs_repo_open(struct fs_repo **out, const char *root, struct fs_diags *diags);
/* A repository whose fs.yaml is invalid, for validation only: takes diags. */
struct fs_repo *fs_repo_open_invalid(const char *root, struct fs_diags *diags);
int fs_repo_git(struct fs_repo *repo, struct fs_git **out);
void fs_repo_free(struct fs_repo *repo);

#endif
