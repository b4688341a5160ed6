#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "csv.h"
#include "error.h"
#include "offline-append.h"
#include "online.h"
#include "parse-options.h"
#include "serving.h"
#include "source.h"
#include "util.h"
#include "banned.h"

/* The whole CSV (header and rows) as an in-memory table, named source. */
static int read_table(const char *source, const char *path, struct fs_source **out)
{
	const char *name = strcmp(path, "-") ? path : "<stdin>";
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	struct fs_csv *csv;
	const struct fs_csv_field *f;
	struct fs_cell *cells = NULL;
	size_t n, ncols, i;
	int rc;

	*out = NULL;
	if (fd < 0) {
		fs_error_set("cannot open '%s': %s", path, strerror(errno));
		return FS_ERR;
	}
	csv = fs_csv_from_fd(fd, name);
	rc = fs_csv_next(csv, &f, &n);
	if (rc <= 0) {
		if (!rc)
			fs_error_set("%s: empty (a header row is needed)", name);
		rc = FS_EINVALID;
		goto done;
	}
	{
		const char **cols = xcalloc(n + 1, sizeof(char *));
		char **copies = xcalloc(n + 1, sizeof(char *));
		for (i = 0; i < n; i++)
			cols[i] = copies[i] = xstrndup(f[i].s, f[i].len);
		*out = fs_source_table_new(source, name, cols, n);
		for (i = 0; i < n; i++)
			free(copies[i]);
		free(copies);
		free(cols);
	}
	ncols = n;
	cells = xcalloc(ncols + 1, sizeof(*cells));
	while ((rc = fs_csv_next(csv, &f, &n)) == 1) {
		if (n != ncols) {
			rc = fs_csv_count_error(name, fs_csv_line(csv), (*out)->columns, ncols, n);
			break;
		}
		for (i = 0; i < n; i++) {
			cells[i].s = f[i].s;
			cells[i].len = f[i].len;
			cells[i].null = !f[i].len && !f[i].quoted;
		}
		fs_source_table_add(*out, cells, fs_csv_line(csv));
	}
done:
	free(cells);
	fs_csv_free(csv);
	if (fd > 0)
		close(fd);
	if (rc < 0) {
		fs_source_close(*out);
		*out = NULL;
		return rc;
	}
	return 0;
}

int cmd_push(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = {
		"fs push <source> [<file>|-] [--to online|offline|online_and_offline] [--verbose] [--json]",
		NULL
	};
	bool verbose = false, json = false;
	const char *to_arg = "online";
	const struct option options[] = {
		OPT_STRING(0, "to", &to_arg, "store",
			   "online (default), offline (the batch source) or online_and_offline"),
		OPT_BOOL(0, "verbose", &verbose, "print a summary even when not on a terminal"),
		OPT_BOOL(0, "json", &json, "print the result as JSON"),
		OPT_END(),
	};
	struct fs_defs defs = { 0 };
	const struct fs_object *source;
	struct fs_online *store = NULL;
	struct fs_source *rows = NULL;
	json_t *out = NULL, *res, *offline, *r;
	size_t i;
	int rc = 0, to;

	argc = parse_options(argc, argv, options, usage);
	if (argc < 1 || argc > 2)
		usage_error(usage, options, "expected a push source and a CSV file (or -)");
	if (!(to = fs_push_stores(to_arg)))
		usage_error(usage, options,
			    "unknown store '%s' for --to (online, offline or online_and_offline)",
			    to_arg);
	/* the source first: a name not registered is told before any row is read */
	if (fs_registry_load(ctx->repo->registry, &defs) ||
	    fs_push_source_find(&defs, ctx->repo->root, argv[0], &source) ||
	    read_table(argv[0], argc > 1 ? argv[1] : "-", &rows)) {
		rc = die_last_error();
		goto done;
	}
	if (((to & FS_PUSH_ONLINE) && fs_online_open(&store, ctx->repo->config)) ||
	    fs_push_to(store, &defs, ctx->repo->root, ctx->repo->config, argv[0], to, rows, &out)) {
		rc = die_last_error();
		goto done;
	}
	res = json_object_get(out, "views");
	offline = json_object_get(out, "offline");
	if (json) {
		print_json(json_incref(out));
	} else if (verbose || isatty(STDOUT_FILENO)) {
		json_array_foreach(res, i, r)
			printf("%s: %lld rows, %lld keys written\n",
			       json_string_value(json_object_get(r, "view")),
			       (long long)json_integer_value(json_object_get(r, "rows")),
			       (long long)json_integer_value(json_object_get(r, "keys_written")));
		if (offline)
			printf("offline: %lld rows appended to source '%s' (%s)\n",
			       (long long)json_integer_value(json_object_get(offline, "rows")),
			       json_string_value(json_object_get(offline, "source")),
			       json_string_value(json_object_get(offline, "where")));
	}
done:
	json_decref(out);
	fs_source_close(rows);
	fs_online_close(store);
	fs_defs_release(&defs);
	return rc;
}
