/*
 * ignore.h: .fsignore, gitignore-style patterns naming paths that are not
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

#endif
