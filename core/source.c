#include "source.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"
#include "banned.h"

static const struct fs_source_ops *const backends[] = {
	&fs_source_csv_ops,
	&fs_source_sqlite_ops,
	&fs_source_postgres_ops,
};

const json_t *fs_source_data_spec(const struct fs_defs *defs, const json_t *source)
{
	const char *batch = json_string_value(json_object_get(source, "batch_source"));
	const struct fs_object *o;

	if (!batch)
		return source;
	o = fs_defs_find(defs, FS_KIND_SOURCE, batch);
	return o ? o->spec : NULL;
}

int fs_source_open(struct fs_source **out, const struct fs_defs *defs, const json_t *source,
		   const char *root)
{
	const json_t *spec = fs_source_data_spec(defs, source);
	const char *name = json_string_value(json_object_get(source, "name"));
	const char *type;
	struct fs_source *src;
	size_t i;
	int rc;

	*out = NULL;
	if (!spec) {
		fs_error_set("source '%s': its batch_source is not registered", name);
		return FS_ENOTFOUND;
	}
	type = json_string_value(json_object_get(spec, "type"));
	for (i = 0; i < ARRAY_SIZE(backends); i++)
		if (!strcmp(backends[i]->type, type))
			break;
	if (i == ARRAY_SIZE(backends)) {
		fs_error_set("source '%s': reading %s sources is not supported by this build", name,
			     type);
		return FS_ERR;
	}
	src = xcalloc(1, sizeof(*src));
	src->ops = backends[i];
	src->name = xstrdup(name);
	if ((rc = src->ops->open(src, spec, root))) {
		fs_source_close(src);
		return rc;
	}
	*out = src;
	return 0;
}

int fs_source_next(struct fs_source *src, const struct fs_cell **cells)
{
	return src->ops->next(src, cells);
}

int fs_source_column(const struct fs_source *src, const char *name)
{
	size_t i;

	for (i = 0; i < src->ncolumns; i++)
		if (!strcmp(src->columns[i], name))
			return (int)i;
	return -1;
}

void fs_source_where(struct fs_source *src, char *buf, size_t len)
{
	src->ops->where(src, buf, len);
}

void fs_source_close(struct fs_source *src)
{
	size_t i;

	if (!src)
		return;
	if (src->ops && src->state)
		src->ops->close(src);
	for (i = 0; i < src->ncolumns; i++)
		free(src->columns[i]);
	free(src->columns);
	free(src->name);
	free(src->what);
	free(src);
}
