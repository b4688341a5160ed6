/*
 * embedded.h: template files from share/ compiled into the binary (so that
 * `fs init` works from any install location), looked up by file name.
 */
#ifndef FS_EMBEDDED_H
#define FS_EMBEDDED_H

#include <stddef.h>

struct fs_embedded {
	const char *name;
	const char *data; /* NUL-terminated */
	size_t len;
};

extern const struct fs_embedded fs_embedded_files[];

/* The template called name; NULL if there is none. */
const struct fs_embedded *fs_embedded_get(const char *name);

#endif
