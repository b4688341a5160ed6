#include "gitrepo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "defs.h"
#include "error.h"
#include "ignore.h"
#include "util.h"
#include "banned.h"

struct fs_git {
	git_repository *repo;
	char *root;   /* fs root, absolute */
	char *prefix; /* fs root relative to the work tree: "" or "sub/dir/" */
	git_tree *rev_tree; /* tree of the last fs_git_rev_files() (prefix applied) */
};

static int git_fail(const char *what)
{
	const git_error *e = git_error_last();
	fs_error_set("%s: %s", what, e && e->message ? e->message : "libgit2 error");
	return FS_ERR;
}

void fs_files_add(struct fs_files *files, const char *path, const char *data, size_t len)
{
	struct fs_file *f;
	git_oid oid;

	ALLOC_GROW(files->items, files->n + 1, files->alloc);
	f = &files->items[files->n++];
	f->path = xstrdup(path);
	f->data = xmalloc(len + 1);
	memcpy(f->data, data, len);
	f->data[len] = '\0';
	f->len = len;
	git_odb_hash(&oid, data, len, GIT_OBJECT_BLOB);
	git_oid_tostr(f->oid, sizeof(f->oid), &oid);
}

void fs_files_release(struct fs_files *files)
{
	size_t i;

	for (i = 0; i < files->n; i++) {
		free(files->items[i].path);
		free(files->items[i].data);
	}
	free(files->items);
	for (i = 0; i < files->nskipped; i++)
		free(files->skipped[i]);
	free(files->skipped);
	memset(files, 0, sizeof(*files));
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct fs_file *)a)->path, ((const struct fs_file *)b)->path);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void files_sort(struct fs_files *files)
{
	if (files->n > 1)
		qsort(files->items, files->n, sizeof(*files->items), cmp_file);
	if (files->nskipped > 1)
		qsort(files->skipped, files->nskipped, sizeof(*files->skipped), cmp_str);
}

static bool is_special(const char *path)
{
	return !strcmp(path, "fs.yaml") || !strcmp(path, ".fsignore");
}

/* A file sel picks by its path is added, or skipped for its content. */
static void add_selected(struct fs_files *files, const struct fs_defsel *sel, const char *path,
			 const struct strbuf *sb)
{
	if (!is_special(path) && fs_defsel_by_content(sel) &&
	    !fs_defs_has_kind(sb_str(sb), sb->len)) {
		ALLOC_GROW(files->skipped, files->nskipped + 1, files->skipped_alloc);
		files->skipped[files->nskipped++] = xstrdup(path);
		return;
	}
	fs_files_add(files, path, sb_str(sb), sb->len);
}

bool fs_is_definition_path(const char *path)
{
	return !is_special(path) && (ends_with(path, ".yaml") || ends_with(path, ".yml"));
}

/* fs.yaml and .fsignore always; a definition file when sel picks it */
static bool wanted_file(const struct fs_defsel *sel, const char *path)
{
	return is_special(path) || (fs_is_definition_path(path) && fs_defsel_file(sel, path));
}

static bool skipped_dir(const char *path)
{
	return !strcmp(path, ".git") || !strcmp(path, ".fs");
}

int fs_git_init(const char *dir)
{
	git_repository *repo = NULL;
	git_repository_init_options opts = GIT_REPOSITORY_INIT_OPTIONS_INIT;

	/* inside an existing work tree (a monorepo): use that repository */
	if (git_repository_open_ext(&repo, dir, 0, NULL) == 0) {
		bool bare = git_repository_is_bare(repo);
		git_repository_free(repo);
		if (!bare)
			return 0;
		repo = NULL;
	}
	opts.flags = GIT_REPOSITORY_INIT_MKPATH;
	opts.initial_head = "main";
	if (git_repository_init_ext(&repo, dir, &opts) < 0)
		return git_fail("cannot create git repository");
	git_repository_free(repo);
	return 0;
}

int fs_git_open(struct fs_git **out, const char *root)
{
	struct fs_git *g = xcalloc(1, sizeof(*g));
	const char *workdir;
	char *real_root = NULL, *real_wd = NULL;
	size_t wl;

	*out = NULL;
	if (git_repository_open_ext(&g->repo, root, 0, NULL) < 0) {
		fs_error_set("'%s' is not inside a git repository (fs init creates one)", root);
		free(g);
		return FS_ERR;
	}
	workdir = git_repository_workdir(g->repo);
	if (!workdir) {
		fs_error_set("the git repository of '%s' is bare", root);
		fs_git_free(g);
		return FS_ERR;
	}
	real_root = realpath(root, NULL);
	real_wd = realpath(workdir, NULL);
	if (!real_root || !real_wd) {
		fs_error_set("cannot resolve '%s': %s", root, strerror(errno));
		free(real_root);
		free(real_wd);
		fs_git_free(g);
		return FS_ERR;
	}
	wl = strlen(real_wd);
	g->root = real_root;
	if (!strcmp(real_root, real_wd))
		g->prefix = xstrdup("");
	else if (!strncmp(real_root, real_wd, wl) && real_root[wl] == '/')
		g->prefix = xstrfmt("%s/", real_root + wl + 1);
	else
		g->prefix = xstrdup("");
	free(real_wd);
	*out = g;
	return 0;
}

void fs_git_free(struct fs_git *g)
{
	if (!g)
		return;
	git_tree_free(g->rev_tree);
	git_repository_free(g->repo);
	free(g->root);
	free(g->prefix);
	free(g);
}

/* ---- working tree ---- */

struct walk {
	struct fs_git *g;
	const struct fs_defsel *sel;
	struct fs_ignore *ign;
	struct fs_files *out;
	int rc;
};

static bool git_ignored(struct fs_git *g, const char *path, bool is_dir)
{
	char *full = xstrfmt("%s%s%s", g->prefix, path, is_dir ? "/" : "");
	int ignored = 0;

	if (git_ignore_path_is_ignored(&ignored, g->repo, full) < 0)
		ignored = 0;
	free(full);
	return ignored;
}

static void walk_dir(struct walk *w, const char *rel)
{
	char *dirpath = *rel ? fs_path_join(w->g->root, rel) : xstrdup(w->g->root);
	DIR *d = opendir(dirpath);
	struct dirent *de;

	if (!d) {
		if (!w->rc) {
			fs_error_set("cannot read directory '%s': %s", dirpath, strerror(errno));
			w->rc = FS_ERR;
		}
		free(dirpath);
		return;
	}
	while ((de = readdir(d))) {
		char *path, *full;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		path = *rel ? xstrfmt("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		full = fs_path_join(w->g->root, path);
		if (lstat(full, &st) < 0)
			goto next;
		if (S_ISDIR(st.st_mode)) {
			if (!skipped_dir(path) && fs_defsel_dir(w->sel, path) &&
			    !fs_ignore_match(w->ign, path, true) && !git_ignored(w->g, path, true))
				walk_dir(w, path);
		} else if (S_ISREG(st.st_mode) && wanted_file(w->sel, path)) {
			if (is_special(path) || (!fs_ignore_match(w->ign, path, false) &&
						 !git_ignored(w->g, path, false))) {
				struct strbuf sb = STRBUF_INIT;
				if (sb_read_file(&sb, full) < 0) {
					if (!w->rc) {
						fs_error_set("cannot read '%s': %s", path,
							     strerror(errno));
						w->rc = FS_ERR;
					}
				} else {
					add_selected(w->out, w->sel, path, &sb);
				}
				sb_release(&sb);
			}
		}
	next:
		free(path);
		free(full);
	}
	closedir(d);
	free(dirpath);
}

int fs_git_worktree_files(struct fs_git *g, const struct fs_defsel *sel, struct fs_files *out)
{
	struct strbuf sb = STRBUF_INIT;
	char *ignpath = fs_path_join(g->root, ".fsignore");
	struct walk w = { g, sel, NULL, out, 0 };

	if (!sb_read_file(&sb, ignpath))
		w.ign = fs_ignore_parse(sb_str(&sb), sb.len);
	sb_release(&sb);
	free(ignpath);
	walk_dir(&w, "");
	fs_ignore_free(w.ign);
	files_sort(out);
	return w.rc;
}

/* ---- commits ---- */

static int resolve_commit(struct fs_git *g, const char *rev, git_commit **out)
{
	git_object *obj = NULL;
	int rc;

	rc = git_revparse_single(&obj, g->repo, rev);
	if (rc == GIT_ENOTFOUND || rc == GIT_EAMBIGUOUS || rc == GIT_EINVALIDSPEC) {
		fs_error_set("unknown revision '%s'", rev);
		return FS_ENOTFOUND;
	}
	if (rc < 0)
		return git_fail(rev);
	rc = git_object_peel((git_object **)out, obj, GIT_OBJECT_COMMIT);
	git_object_free(obj);
	if (rc < 0) {
		fs_error_set("'%s' does not name a commit", rev);
		return FS_ENOTFOUND;
	}
	return 0;
}

/* The tree of commit below the prefix; FS_ENOTFOUND if the prefix is absent. */
static int prefix_tree(struct fs_git *g, git_commit *commit, git_tree **out)
{
	git_tree *tree = NULL;
	git_tree_entry *e = NULL;
	int rc;

	if (git_commit_tree(&tree, commit) < 0)
		return git_fail("cannot read commit tree");
	if (!*g->prefix) {
		*out = tree;
		return 0;
	}
	{
		char *p = xstrndup(g->prefix, strlen(g->prefix) - 1);
		rc = git_tree_entry_bypath(&e, tree, p);
		free(p);
	}
	if (rc < 0 || git_tree_entry_type(e) != GIT_OBJECT_TREE) {
		git_tree_entry_free(e);
		git_tree_free(tree);
		*out = NULL;
		return FS_ENOTFOUND;
	}
	rc = git_tree_lookup(out, g->repo, git_tree_entry_id(e));
	git_tree_entry_free(e);
	git_tree_free(tree);
	return rc < 0 ? git_fail("cannot read tree") : 0;
}

static int read_blob(git_repository *repo, const git_oid *id, struct strbuf *out)
{
	git_blob *blob;

	if (git_blob_lookup(&blob, repo, id) < 0)
		return git_fail("cannot read blob");
	sb_add(out, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	return 0;
}

struct tree_walk {
	struct fs_git *g;
	const struct fs_defsel *sel;
	struct fs_ignore *ign;
	struct fs_files *out;
	int rc;
};

static int tree_cb(const char *root, const git_tree_entry *e, void *payload)
{
	struct tree_walk *w = payload;
	char *path = xstrfmt("%s%s", root, git_tree_entry_name(e));
	int ret = 0;

	if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
		if (skipped_dir(path) || !fs_defsel_dir(w->sel, path) ||
		    fs_ignore_match(w->ign, path, true))
			ret = 1; /* skip the subtree */
	} else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB && wanted_file(w->sel, path)) {
		if (is_special(path) || !fs_ignore_match(w->ign, path, false)) {
			struct strbuf sb = STRBUF_INIT;
			if (read_blob(w->g->repo, git_tree_entry_id(e), &sb) < 0) {
				w->rc = FS_ERR;
				ret = -1;
			} else {
				add_selected(w->out, w->sel, path, &sb);
			}
			sb_release(&sb);
		}
	}
	free(path);
	return ret;
}

static int tree_files(struct fs_git *g, const struct fs_defsel *sel, git_tree *tree,
		      struct fs_files *out)
{
	struct tree_walk w = { g, sel, NULL, out, 0 };
	git_tree_entry *e = NULL;

	if (!git_tree_entry_bypath(&e, tree, ".fsignore")) {
		struct strbuf sb = STRBUF_INIT;
		if (!read_blob(g->repo, git_tree_entry_id(e), &sb))
			w.ign = fs_ignore_parse(sb_str(&sb), sb.len);
		sb_release(&sb);
		git_tree_entry_free(e);
	}
	if (git_tree_walk(tree, GIT_TREEWALK_PRE, tree_cb, &w) < 0 && !w.rc)
		w.rc = git_fail("cannot walk tree");
	fs_ignore_free(w.ign);
	files_sort(out);
	return w.rc;
}

int fs_git_rev_open(struct fs_git *g, const char *rev, char commit_out[FS_OID_HEXSZ + 1])
{
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	int rc;

	if ((rc = resolve_commit(g, rev, &commit)))
		return rc;
	git_oid_tostr(commit_out, FS_OID_HEXSZ + 1, git_commit_id(commit));
	rc = prefix_tree(g, commit, &tree);
	git_commit_free(commit);
	if (rc == FS_ENOTFOUND) {
		fs_error_set("revision '%s' has no '%s'", rev, g->prefix);
		return rc;
	}
	if (rc)
		return rc;
	git_tree_free(g->rev_tree);
	g->rev_tree = tree;
	return 0;
}

int fs_git_rev_files(struct fs_git *g, const struct fs_defsel *sel, struct fs_files *out)
{
	if (!g->rev_tree) {
		fs_error_set("no revision to read");
		return FS_ERR;
	}
	return tree_files(g, sel, g->rev_tree, out);
}

int fs_git_rev_read(void *data, const char *path, struct strbuf *out)
{
	struct fs_git *g = data;
	git_tree_entry *e = NULL;
	int rc;

	if (!g->rev_tree || git_tree_entry_bypath(&e, g->rev_tree, path) < 0)
		return FS_ENOTFOUND;
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
		git_tree_entry_free(e);
		return FS_ENOTFOUND;
	}
	rc = read_blob(g->repo, git_tree_entry_id(e), out);
	git_tree_entry_free(e);
	return rc;
}

int fs_git_head(struct fs_git *g, char out[FS_OID_HEXSZ + 1])
{
	git_oid oid;
	int rc = git_reference_name_to_id(&oid, g->repo, "HEAD");

	if (rc == GIT_ENOTFOUND || rc == GIT_EUNBORNBRANCH)
		return FS_ENOTFOUND;
	if (rc < 0)
		return git_fail("cannot resolve HEAD");
	git_oid_tostr(out, FS_OID_HEXSZ + 1, &oid);
	return 0;
}

char *fs_git_branch(struct fs_git *g)
{
	git_reference *head = NULL;
	char *name;

	if (git_reference_lookup(&head, g->repo, "HEAD") < 0)
		return xstrdup("HEAD");
	if (git_reference_type(head) == GIT_REFERENCE_SYMBOLIC) {
		const char *t = git_reference_symbolic_target(head);
		name = xstrdup(starts_with(t, "refs/heads/") ? t + 11 : t);
	} else {
		name = xstrdup("HEAD");
	}
	git_reference_free(head);
	return name;
}

int fs_git_diff_head(struct fs_git *g, const struct fs_defsel *sel, const struct fs_files *wt,
		     const struct fs_file ***changed, size_t *nchanged, char ***deleted,
		     size_t *ndeleted)
{
	struct fs_files head = { 0 };
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	size_t i = 0, j = 0, dalloc = 0;
	char hex[FS_OID_HEXSZ + 1];
	int rc;

	*changed = xcalloc(wt->n + 1, sizeof(**changed));
	*nchanged = 0;
	*deleted = NULL;
	*ndeleted = 0;
	rc = fs_git_head(g, hex);
	if (rc == FS_ENOTFOUND) {
		for (i = 0; i < wt->n; i++)
			(*changed)[(*nchanged)++] = &wt->items[i];
		return 0;
	}
	if (rc)
		return rc;
	if ((rc = resolve_commit(g, "HEAD", &commit)))
		return rc;
	rc = prefix_tree(g, commit, &tree);
	git_commit_free(commit);
	if (rc == 0) {
		rc = tree_files(g, sel, tree, &head);
		git_tree_free(tree);
		if (rc)
			goto done;
	} else if (rc != FS_ENOTFOUND) {
		return rc;
	}
	rc = 0;
	/* both lists are sorted by path: merge them */
	while (i < wt->n || j < head.n) {
		int c = i == wt->n ? 1 : j == head.n ? -1 : strcmp(wt->items[i].path, head.items[j].path);
		if (c < 0) {
			(*changed)[(*nchanged)++] = &wt->items[i++];
		} else if (c > 0) {
			/* a file still there, no longer a definition by its content, stays */
			const char *path = head.items[j++].path;
			if (wt->nskipped && bsearch(&path, wt->skipped, wt->nskipped,
						    sizeof(*wt->skipped), cmp_str))
				continue;
			ALLOC_GROW(*deleted, *ndeleted + 1, dalloc);
			(*deleted)[(*ndeleted)++] = xstrdup(path);
		} else {
			if (strcmp(wt->items[i].oid, head.items[j].oid))
				(*changed)[(*nchanged)++] = &wt->items[i];
			i++;
			j++;
		}
	}
done:
	fs_files_release(&head);
	return rc;
}

/* The value of variable var, NULL when unset or empty. */
static const char *env_value(const char *var)
{
	const char *v = getenv(var);
	return v && *v ? v : NULL;
}

/* cfg's value of key (a copy), NULL when unset or empty. */
static char *config_value(git_config *cfg, const char *key)
{
	git_buf buf = GIT_BUF_INIT;
	char *v = NULL;

	if (cfg && git_config_get_string_buf(&buf, cfg, key) == 0 && buf.ptr && *buf.ptr)
		v = xstrdup(buf.ptr);
	git_buf_dispose(&buf);
	return v;
}

/* git's made-up address, user@host, ".(none)" after a host without a domain. */
static char *guessed_email(const char *user)
{
	char host[256] = "";

	if (gethostname(host, sizeof(host) - 1) < 0 || !*host)
		return xstrfmt("%s@(none)", user);
	return xstrfmt("%s@%s%s", user, host, strchr(host, '.') ? "" : ".(none)");
}

static const char *ident_unknown = "Author";

const char *fs_git_ident_unknown(void)
{
	return ident_unknown;
}

/*
 * The identity git gives who ("AUTHOR" or "COMMITTER"): the variables
 * GIT_<who>_NAME and GIT_<who>_EMAIL, else author.name/committer.name
 * and user.name (.email alike) of cfg, else EMAIL for the address and the
 * login's full name (GECOS) for the name. strict (a commit, as git
 * commit): no address is made up from the host name, and an empty name
 * is refused: FS_EIDENT, with git's message. Not strict (a record of who
 * did something): those fall back to <login>@<host> and the login name.
 */
static int ident_from(git_config *cfg, const char *who, bool strict, char **name, char **email)
{
	struct passwd *pw = getpwuid(getuid());
	const char *user = pw && pw->pw_name && *pw->pw_name ? pw->pw_name : "unknown";
	const char *lower = !strcmp(who, "AUTHOR") ? "author" : "committer", *env;
	char var[64];

	*name = *email = NULL;
	snprintf(var, sizeof(var), "GIT_%s_EMAIL", who);
	if ((env = env_value(var)))
		*email = xstrdup(env);
	snprintf(var, sizeof(var), "%s.email", lower);
	if (!*email && !(*email = config_value(cfg, var)))
		*email = config_value(cfg, "user.email");
	if (!*email && (env = env_value("EMAIL")))
		*email = xstrdup(env);
	if (!*email) {
		*email = guessed_email(user);
		if (strict) {
			ident_unknown = !strcmp(who, "AUTHOR") ? "Author" : "Committer";
			fs_error_set("unable to auto-detect email address (got '%s')", *email);
			goto refused;
		}
	}
	snprintf(var, sizeof(var), "GIT_%s_NAME", who);
	if ((env = env_value(var)))
		*name = xstrdup(env);
	snprintf(var, sizeof(var), "%s.name", lower);
	if (!*name && !(*name = config_value(cfg, var)))
		*name = config_value(cfg, "user.name");
	if (!*name && pw && pw->pw_gecos && *pw->pw_gecos && *pw->pw_gecos != ',')
		*name = xstrndup(pw->pw_gecos, strcspn(pw->pw_gecos, ","));
	if (!*name) {
		if (strict) {
			ident_unknown = !strcmp(who, "AUTHOR") ? "Author" : "Committer";
			fs_error_set("empty ident name (for <%s>) not allowed", *email);
			goto refused;
		}
		*name = xstrdup(user);
	}
	return 0;
refused:
	free(*name);
	free(*email);
	*name = *email = NULL;
	return FS_EIDENT;
}

static int ident(struct fs_git *g, const char *who, bool strict, char **name, char **email)
{
	git_config *cfg = NULL;
	int rc;

	if (git_repository_config_snapshot(&cfg, g->repo) < 0)
		cfg = NULL;
	rc = ident_from(cfg, who, strict, name, email);
	git_config_free(cfg);
	return rc;
}

int fs_git_ident_check(const char *dir)
{
	git_repository *repo = NULL;
	git_config *cfg = NULL, *snap = NULL;
	char *path = xstrdup(dir), *slash, *name = NULL, *email = NULL;
	int rc;

	/* the repository at or above dir, or above its nearest existing parent */
	while (git_repository_open_ext(&repo, path, 0, NULL) < 0) {
		repo = NULL;
		if (access(path, F_OK) == 0)
			break; /* there, and in no repository */
		slash = strrchr(path, '/');
		if (slash == path)
			break;
		if (slash) {
			*slash = '\0';
		} else {
			free(path);
			path = xstrdup(".");
		}
	}
	if (repo && git_repository_config_snapshot(&snap, repo) < 0)
		snap = NULL;
	if (!snap && git_config_open_default(&cfg) == 0 && git_config_snapshot(&snap, cfg) < 0)
		snap = NULL;
	rc = ident_from(snap, "AUTHOR", true, &name, &email);
	free(name);
	free(email);
	if (!rc) {
		rc = ident_from(snap, "COMMITTER", true, &name, &email);
		free(name);
		free(email);
	}
	git_config_free(snap);
	git_config_free(cfg);
	git_repository_free(repo);
	free(path);
	return rc;
}

char *fs_git_author(struct fs_git *g)
{
	char *name, *email, *r;

	ident(g, "AUTHOR", false, &name, &email);
	r = xstrfmt("%s <%s>", name, email);
	free(name);
	free(email);
	return r;
}

/*
 * A commit writes git's lock files (index.lock, the branch's ref lock) and
 * renames them into place. A run killed in between leaves a lock file that
 * makes every later commit fail, as git's own commands do after a crash.
 * Around the writes fs keeps a marker, .git/fs-commit.pid; a marker whose
 * process is gone proves the lock files created after it are that run's
 * leftovers, and only those (created within a minute of it) are removed.
 * A lock file without such a marker belongs to some other git process and
 * stays: the commit fails, naming it.
 */
#define COMMIT_MARKER "fs-commit.pid"

static char *git_path(struct fs_git *g, const char *name)
{
	return xstrfmt("%s%s", git_repository_path(g->repo), name);
}

static bool pid_alive(long pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static bool newer_or_same(const struct stat *a, const struct stat *b)
{
	if (a->st_mtim.tv_sec != b->st_mtim.tv_sec)
		return a->st_mtim.tv_sec > b->st_mtim.tv_sec;
	return a->st_mtim.tv_nsec >= b->st_mtim.tv_nsec;
}

static void head_lock_paths(struct fs_git *g, char **paths, size_t *n)
{
	git_reference *head = NULL;

	paths[(*n)++] = git_path(g, "index.lock");
	paths[(*n)++] = git_path(g, "HEAD.lock");
	paths[(*n)++] = git_path(g, "packed-refs.lock");
	if (git_reference_lookup(&head, g->repo, "HEAD") == 0 &&
	    git_reference_type(head) == GIT_REFERENCE_SYMBOLIC) {
		const char *target = git_reference_symbolic_target(head);
		if (target && !strncmp(target, "refs/", 5) && !strstr(target, ".."))
			paths[(*n)++] = xstrfmt("%s%s.lock", git_repository_path(g->repo), target);
	}
	git_reference_free(head);
}

static void remove_stale_locks(struct fs_git *g, const char *marker)
{
	struct stat mst, lst;
	char buf[32] = "", *paths[4];
	size_t n = 0, i;
	ssize_t len;
	int fd = open(marker, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	len = read(fd, buf, sizeof(buf) - 1);
	if (len < 0 || fstat(fd, &mst) < 0) {
		close(fd);
		return;
	}
	close(fd);
	buf[len] = '\0';
	if (pid_alive(strtol(buf, NULL, 10)))
		return;
	head_lock_paths(g, paths, &n);
	for (i = 0; i < n; i++) {
		if (stat(paths[i], &lst) == 0 && newer_or_same(&lst, &mst) &&
		    lst.st_mtim.tv_sec - mst.st_mtim.tv_sec <= 60)
			unlink(paths[i]);
		free(paths[i]);
	}
	unlink(marker);
}

static int write_marker(const char *marker)
{
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, pid, (size_t)n) != n) {
		fs_error_set("cannot write '%s': %s", marker, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(marker);
		}
		return FS_ERR;
	}
	close(fd);
	return 0;
}

int fs_git_commit(struct fs_git *g, const struct fs_file *const *changed, size_t nchanged,
		  char *const *deleted, size_t ndeleted, const char *msg,
		  char out[FS_OID_HEXSZ + 1])
{
	git_index *idx = NULL, *repo_idx = NULL;
	git_commit *parent = NULL;
	git_tree *ptree = NULL, *tree = NULL;
	git_signature *author = NULL, *committer = NULL;
	git_oid tree_id, commit_id;
	char *aname = NULL, *aemail = NULL, *cname = NULL, *cemail = NULL;
	char hex[FS_OID_HEXSZ + 1];
	size_t i;
	char *marker = NULL;
	int rc = FS_ERR;

	/* who commits first, as git commit: refused, nothing is written */
	if ((rc = ident(g, "AUTHOR", true, &aname, &aemail)) ||
	    (rc = ident(g, "COMMITTER", true, &cname, &cemail)))
		goto done;
	rc = FS_ERR;
	if (git_index_new(&idx) < 0) {
		git_fail("cannot create index");
		goto done;
	}
	if (fs_git_head(g, hex) == 0) {
		if (resolve_commit(g, "HEAD", &parent) || git_commit_tree(&ptree, parent) < 0 ||
		    git_index_read_tree(idx, ptree) < 0) {
			git_fail("cannot read HEAD");
			goto done;
		}
	}
	for (i = 0; i < nchanged; i++) {
		git_index_entry e;
		char *gpath = xstrfmt("%s%s", g->prefix, changed[i]->path);

		memset(&e, 0, sizeof(e));
		e.mode = GIT_FILEMODE_BLOB;
		e.path = gpath;
		if (git_blob_create_from_buffer(&e.id, g->repo, changed[i]->data,
						changed[i]->len) < 0 ||
		    git_index_add(idx, &e) < 0) {
			free(gpath);
			git_fail("cannot stage definitions");
			goto done;
		}
		free(gpath);
	}
	for (i = 0; i < ndeleted; i++) {
		char *gpath = xstrfmt("%s%s", g->prefix, deleted[i]);
		git_index_remove_bypath(idx, gpath);
		free(gpath);
	}
	if (git_index_write_tree_to(&tree_id, idx, g->repo) < 0 ||
	    git_tree_lookup(&tree, g->repo, &tree_id) < 0) {
		git_fail("cannot write tree");
		goto done;
	}
	if (git_signature_now(&author, aname, aemail) < 0 ||
	    git_signature_now(&committer, cname, cemail) < 0) {
		git_fail("bad author identity");
		goto done;
	}
	/*
	 * Stage what is committed in the repository's index first, so that
	 * `git status` stays clean: a run killed between the two leaves the
	 * definitions staged (the next apply commits them), never a HEAD
	 * ahead of the index, which would show the commit as staged reverts.
	 */
	marker = git_path(g, COMMIT_MARKER);
	remove_stale_locks(g, marker);
	if (write_marker(marker))
		goto done;
	if (git_repository_index(&repo_idx, g->repo) == 0) {
		for (i = 0; i < nchanged; i++) {
			char *gpath = xstrfmt("%s%s", g->prefix, changed[i]->path);
			git_index_add_bypath(repo_idx, gpath);
			free(gpath);
		}
		for (i = 0; i < ndeleted; i++) {
			char *gpath = xstrfmt("%s%s", g->prefix, deleted[i]);
			git_index_remove_bypath(repo_idx, gpath);
			free(gpath);
		}
		if (git_index_write(repo_idx) < 0) {
			char *lock = git_path(g, "index.lock");
			if (access(lock, F_OK) == 0)
				fs_error_set("cannot update the git index: '%s' exists; another git "
					     "process seems to be running (if none is, remove the file)",
					     lock);
			else
				git_fail("cannot update the git index");
			free(lock);
			goto done;
		}
	}
	fs_test_crash_point("apply-after-git-index");
	if (git_commit_create(&commit_id, g->repo, "HEAD", author, committer, NULL, msg, tree,
			      parent ? 1 : 0, (const git_commit **)&parent) < 0) {
		git_fail("cannot commit");
		goto done;
	}
	git_oid_tostr(out, FS_OID_HEXSZ + 1, &commit_id);

	rc = 0;
done:
	if (marker)
		unlink(marker);
	free(marker);
	git_index_free(repo_idx);
	git_index_free(idx);
	git_tree_free(tree);
	git_tree_free(ptree);
	git_commit_free(parent);
	git_signature_free(author);
	git_signature_free(committer);
	free(aname);
	free(aemail);
	free(cname);
	free(cemail);
	return rc;
}
