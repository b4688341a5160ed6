/*
 * config.h: fs.yaml, the project configuration, with the environment
 * overrides for CI (FS_REGISTRY, FS_ONLINE_PATH, FS_REDIS_URL,
 * FS_POSTGRES_DSN). Paths are resolved against the repository root.
 */
#ifndef FS_CONFIG_H
#define FS_CONFIG_H

#include <stddef.h>

#include "diag.h"

struct fs_webhook {
	char *url;
	char **events;
	size_t nevents;
	char *secret_env; /* NULL: unsigned */
};

/* An entry of `definitions:`, and where fs.yaml says it. */
struct fs_config_path {
	char *path; /* relative to the root, normalized: no "./", no '/' at either end */
	int line, col;
};

struct fs_config {
	char *project;
	char *registry_path;  /* absolute */
	char *online_type;    /* "sqlite" | "redis" */
	char *online_path;    /* absolute; sqlite */
	char *online_url;     /* redis */
	char **online_cluster; /* redis: a cluster's seed URLs (NULL: one Redis) */
	size_t online_cluster_n;
	char *offline_type;   /* "embedded" | "postgres" */
	char *offline_dsn;    /* postgres */
	char *artifact_store; /* absolute */
	struct fs_webhook *webhooks;
	size_t nwebhooks;
	/*
	 * `definitions:`, the directories, files and globs holding the
	 * definitions; NULL when absent (every YAML file of the tree, see
	 * gitrepo.h). Never empty when set.
	 */
	struct fs_config_path *definitions;
	size_t ndefinitions;
};

/*
 * Parse fs.yaml text (name is used in messages). Problems go to diags;
 * returns 0, or FS_EINVALID when there were any.
 */
int fs_config_parse(struct fs_config **out, const char *root, const char *text, size_t len,
		    const char *name, struct fs_diags *diags);
/*
 * Read root/fs.yaml; on failure the message says every problem, and when
 * the file is invalid (FS_EINVALID) diags, if not NULL, receives them, sorted.
 */
int fs_config_load(struct fs_config **out, const char *root, struct fs_diags *diags);
void fs_config_free(struct fs_config *cfg);

/*
 * The `definitions:` of fs.yaml text, however invalid the rest of it is:
 * 0 with *out (NULL, *n 0: the key is absent), or FS_EINVALID when the text
 * does not say (invalid YAML, not a mapping, a bad `definitions:`).
 */
int fs_config_definitions(struct fs_config_path **out, size_t *n, const char *text, size_t len);
void fs_config_paths_free(struct fs_config_path *paths, size_t n);

#endif
