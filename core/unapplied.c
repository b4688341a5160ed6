#include "unapplied.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deffiles.h"
#include "error.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

const char *fs_kind_noun(enum fs_kind kind)
{
	switch (kind) {
	case FS_KIND_ENTITY:
		return "entity";
	case FS_KIND_SOURCE:
		return "source";
	case FS_KIND_FEATURE_VIEW:
		return "feature view";
	case FS_KIND_FEATURE_SERVICE:
		return "feature service";
	case FS_KIND_MODEL:
		return "model";
	default:
		return "object";
	}
}

/*
 * The working tree's definitions, read at most once a second per
 * repository and process: a server answering many requests for a name
 * that is not applied reads them once, not once a request. Held under
 * cache_lock; kept until the process ends.
 */
#define WORKTREE_CACHE_NS 1000000000LL

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char *root;
	struct fs_defs defs;
	bool ok;
	long long at; /* CLOCK_MONOTONIC, ns */
} cache;

/* With cache_lock held: the definitions of the working tree at root, or NULL. */
static const struct fs_defs *worktree(const char *root)
{
	struct timespec ts;
	long long now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	if (!cache.root || strcmp(cache.root, root) || now - cache.at >= WORKTREE_CACHE_NS) {
		free(cache.root);
		fs_defs_release(&cache.defs);
		cache.root = xstrdup(root);
		cache.ok = !fs_worktree_defs(root, &cache.defs);
		cache.at = now;
	}
	return cache.ok ? &cache.defs : NULL;
}

/* The first of kinds (in kind order) the working tree defines name as. */
static const struct fs_object *find(const struct fs_defs *defs, unsigned kinds, const char *name)
{
	const struct fs_object *o;
	int k;

	for (k = 0; k < FS_KIND__COUNT; k++)
		if ((kinds & FS_KIND_BIT(k)) && (o = fs_defs_find(defs, (enum fs_kind)k, name)))
			return o;
	return NULL;
}

/* The file of the working tree defining name as one of kinds, and its kind; or NULL. */
static char *defined_where(const char *root, unsigned kinds, const char *name, enum fs_kind *kind)
{
	const struct fs_defs *defs;
	const struct fs_object *o;
	char *file = NULL;

	if (!root)
		return NULL;
	pthread_mutex_lock(&cache_lock);
	if ((defs = worktree(root)) && (o = find(defs, kinds, name)) && o->file) {
		file = xstrdup(o->file);
		*kind = o->kind;
	}
	pthread_mutex_unlock(&cache_lock);
	return file;
}

bool fs_unapplied_object(const char *root, unsigned kinds, const char *name)
{
	enum fs_kind kind;
	char *file = defined_where(root, kinds, name, &kind);

	if (!file)
		return false;
	fs_error_set("%s '%s' is defined in %s but not applied; run 'fs apply'", fs_kind_noun(kind),
		     name, file);
	free(file);
	return true;
}

bool fs_unapplied_feature(const char *root, const char *view, const char *feature)
{
	const struct fs_defs *defs;
	const struct fs_object *o = NULL;
	json_t *f;
	size_t i;
	bool found = false;

	if (!root)
		return false;
	pthread_mutex_lock(&cache_lock);
	if ((defs = worktree(root)))
		o = fs_defs_find(defs, FS_KIND_FEATURE_VIEW, view);
	json_array_foreach(o ? json_object_get(o->spec, "features") : NULL, i, f) {
		const char *name = json_string_value(json_object_get(f, "name"));
		if (name && !strcmp(name, feature)) {
			fs_error_set("feature view '%s' has no feature '%s' in the registry; %s defines it: run 'fs apply'",
				     view, feature, o->file);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&cache_lock);
	return found;
}

int fs_unknown_name(const struct fs_defs *defs, const char *root, unsigned kinds,
		    const char *name, bool (*want)(const struct fs_object *obj))
{
	const char **cands;
	const char *hint;
	struct strbuf what = STRBUF_INIT;
	size_t i, n = 0;
	int k;

	if (fs_unapplied_object(root, kinds, name))
		return FS_ENOTFOUND;
	for (k = 0; k < FS_KIND__COUNT; k++)
		if (kinds & FS_KIND_BIT(k)) {
			if (what.len)
				sb_adds(&what, " or ");
			sb_adds(&what, fs_kind_noun((enum fs_kind)k));
		}
	cands = xcalloc(defs->n + 1, sizeof(*cands));
	for (i = 0; i < defs->n; i++)
		if ((kinds & FS_KIND_BIT(defs->objs[i].kind)) && (!want || want(&defs->objs[i])))
			cands[n++] = defs->objs[i].name;
	hint = fs_suggest(name, cands, n);
	if (hint)
		fs_error_set("no %s '%s' is registered (did you mean '%s'?)", sb_str(&what), name, hint);
	else
		fs_error_set("no %s '%s' is registered", sb_str(&what), name);
	free(cands);
	sb_release(&what);
	return FS_ENOTFOUND;
}
