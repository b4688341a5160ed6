/*
 * ignore.h: which paths are definitions: fs.yaml's `definitions:` (below),
 * and .fsignore, gitignore-style patterns naming paths that are not
 * definitions: '#' comments, '!' to re-include, a trailing '/' for
 * directories only, a '/' inside a pattern anchors it to the repo root,
 * otherwise it matches a name at any depth; '*', '?', '[...]' and '**'.
 * The last matching pattern wins.
 */
#ifndef FS_IGNORE_H
#define FS_IGNORE_H

#include <stdbool.h>
#include <stddef.h>

struct fs_ignore;

struct fs_ignore *fs_ignore_parse(const char *text, size_t len);
/* Is the repo-relative path (a directory when is_dir) ignored? */
bool fs_ignore_match(const struct fs_ignore *ign, const char *path, bool is_dir);
void fs_ignore_free(struct fs_ignore *ign);

/*
 * Which files are definitions (fs.yaml and .fsignore aside, see gitrepo.h),
 * by path; names must end in .yaml or .yml besides.
 *
 * Without `definitions:` in fs.yaml: every file not hidden and outside
 * hidden directories (a name starting with '.', such as .github or .venv),
 * provided one of its YAML documents has a kind, which the caller checks
 * (fs_defsel_by_content).
 *
 * With `definitions:`, the files its entries select. An entry is a path
 * relative to the root, or a glob: '*', '?' and '[...]' of fnmatch(3)
 * within a path component, '**' as a whole component for any number of
 * directories. An entry naming a directory, or a glob matching one,
 * selects every file below it. Wildcards and directories never reach a
 * hidden name: only an entry spelling it out does.
 */
struct fs_defsel;

/* The selection of an fs.yaml without `definitions:`. */
struct fs_defsel *fs_defsel_default(void);
/* The files entries select (normalized as fs_config_path); none when n is 0. */
struct fs_defsel *fs_defsel_paths(const char *const *entries, size_t n);
/* Is this the default selection, which leaves out files whose documents have no kind? */
bool fs_defsel_by_content(const struct fs_defsel *sel);
/* Could a file below the directory dir be selected? (pruning a walk) */
bool fs_defsel_dir(const struct fs_defsel *sel, const char *dir);
/* Is the file path selected? */
bool fs_defsel_file(const struct fs_defsel *sel, const char *path);
/* Does entry i of fs_defsel_paths() select the file path? */
bool fs_defsel_entry_selects(const struct fs_defsel *sel, size_t i, const char *path);
void fs_defsel_free(struct fs_defsel *sel);

#endif
