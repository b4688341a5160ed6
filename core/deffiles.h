/*
 * deffiles.h: the definitions of a repository as plan and apply read them:
 * which files fs.yaml selects (fs_defs_selection), parsing them
 * (fs_defs_parse_files), and both for the working tree at once
 * (fs_worktree_defs), for whoever needs to know what the working tree
 * defines without planning it (see unapplied.h).
 */
#ifndef FS_DEFFILES_H
#define FS_DEFFILES_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "defs.h"
#include "diag.h"
#include "gitrepo.h"
#include "ignore.h"

/*
 * The selection the fs.yaml of the working tree at root, or with rev of
 * the commit git has open, makes; *paths gets its `definitions:` (NULL
 * when absent). When fs.yaml does not say (invalid), nothing is selected:
 * fs.yaml's own problems are reported. A missing fs.yaml is reported
 * with the definitions.
 */
struct fs_defsel *fs_defs_selection(const char *root, struct fs_git *git, bool rev,
				    struct fs_config_path **paths, size_t *npaths);

/* Parse the definition files among files into defs (not validated); problems into diags. */
void fs_defs_parse_files(const struct fs_files *files, struct fs_defs *defs,
			 struct fs_diags *diags);

/*
 * The definitions of the working tree of the repository at root, read as
 * plan reads them (the files fs.yaml selects), parsed but not validated:
 * objects with their names, specs, files and lines, sorted; problems in
 * the files are left to plan. For messages about what is not applied yet.
 */
int fs_worktree_defs(const char *root, struct fs_defs *out);

#endif
