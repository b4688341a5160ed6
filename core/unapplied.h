/*
 * unapplied.h: the errors for names the registry lacks. A name asked for
 * on the command line or over HTTP that the registry lacks may be defined
 * in the working tree all the same: its file was edited and `fs apply`
 * not run yet. These read the working tree's definitions as `fs plan`
 * does (fs_worktree_defs), and only when asked: callers ask on their error
 * path, once the registry said no, so that a lookup that succeeds never
 * reads the working tree; and at most once a second (thread-safe), so
 * that a server answering many requests for such a name reads it once.
 *
 * fs_unapplied_object and fs_unapplied_feature return true and set the
 * error message when the working tree defines what was asked for; false,
 * leaving the error alone, when it does not or cannot be read (root NULL,
 * no git repository).
 */
#ifndef FS_UNAPPLIED_H
#define FS_UNAPPLIED_H

#include <stdbool.h>

#include "defs.h"

/* A mask of kinds for fs_unapplied_object */
#define FS_KIND_BIT(kind) (1u << (kind))

/* A kind as messages name it: "feature view", "source", ... */
const char *fs_kind_noun(enum fs_kind kind);

/*
 * An object named name of one of kinds (FS_KIND_BIT mask): "feature view
 * 'trips' is defined in features/trips.yaml but not applied; run 'fs apply'".
 */
bool fs_unapplied_object(const char *root, unsigned kinds, const char *name);

/*
 * A feature of a registered view: "feature view 'driver_stats' has no
 * feature 'rating' in the registry; features/driver.yaml defines it: run
 * 'fs apply'".
 */
bool fs_unapplied_feature(const char *root, const char *view, const char *feature);

/*
 * The error for a name asked for that defs (the registry) has no object
 * of kinds for: defined in the working tree of root but not applied
 * (fs_unapplied_object), else "no feature view or feature service 'x' is
 * registered", with " (did you mean 'y'?)" when y, an object of kinds for
 * which want (NULL: any) is true, is close. Returns FS_ENOTFOUND.
 */
int fs_unknown_name(const struct fs_defs *defs, const char *root, unsigned kinds,
		    const char *name, bool (*want)(const struct fs_object *obj));

#endif
