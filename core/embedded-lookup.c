#include <string.h>

#include "embedded.h"
#include "banned.h"

const struct fs_embedded *fs_embedded_get(const char *name)
{
	const struct fs_embedded *e;

	for (e = fs_embedded_files; e->name; e++)
		if (!strcmp(e->name, name))
			return e;
	return NULL;
}
