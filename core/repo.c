#include "repo.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "util.h"
#include "banned.h"

int fs_repo_discover(char **out, const char *start)
{
	char *dir = realpath(start, NULL);

	*out = NULL;
	if (!dir) {
		fs_error_set("cannot resolve '%s': %s", start, strerror(errno));
		return FS_ERR;
	}
	for (;;) {
		char *cand = fs_path_join(dir, "fs.yaml");
		struct stat st;
		char *slash;
		int found = stat(cand, &st) == 0 && S_ISREG(st.st_mode);

		free(cand);
		if (found) {
			*out = dir;
			return 0;
		}
		slash = strrchr(dir, '/');
		if (!slash || !strcmp(dir, "/"))
			break;
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	free(dir);
	fs_error_set("not an fs repository (or any of the parent directories): no fs.yaml; "
		     "create one with 'fs init'");
	return FS_ENOTFOUND;
}

int fs_repo_open(struct fs_repo **out, const char *root, struct fs_diags *diags)
{
	struct fs_repo *r = xcalloc(1, sizeof(*r));
	int rc;

	*out = NULL;
	r->root = xstrdup(root);
	if ((rc = fs_config_load(&r->config, root, diags)) ||
	    (rc = fs_registry_open(&r->registry, r->config->registry_path))) {
		fs_repo_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

struct fs_repo *fs_repo_open_invalid(const char *root, struct fs_diags *diags)
{
	struct fs_repo *r = xcalloc(1, sizeof(*r));

	r->root = xstrdup(root);
	r->config_diags = *diags;
	memset(diags, 0, sizeof(*diags));
	return r;
}

int fs_repo_git(struct fs_repo *r, struct fs_git **out)
{
	int rc;

	if (!r->git && (rc = fs_git_open(&r->git, r->root)))
		return rc;
	*out = r->git;
	return 0;
}

void fs_repo_free(struct fs_repo *r)
{
	if (!r)
		return;
	fs_registry_free(r->registry);
	fs_config_free(r->config);
	fs_git_free(r->git);
	fs_diags_release(&r->config_diags);
	free(r->root);
	free(r);
}
