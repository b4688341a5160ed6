/*
 * libFuzzer target: the CSV reader, and the typed conversion of every
 * field it returns, from arbitrary bytes. Both the in-memory and the
 * file-descriptor paths are fed (the latter through a pipe-sized chunking
 * that makes records straddle buffer refills).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv.h"
#include "timeutil.h"
#include "value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drain(struct fs_csv *c)
{
	const struct fs_csv_field *f;
	size_t n, i;
	int t;

	while (fs_csv_next(c, &f, &n) == 1) {
		for (i = 0; i < n; i++) {
			int64_t v;
			if (strlen(f[i].s) > f[i].len)
				abort(); /* a field must be NUL-terminated at its length */
			for (t = FS_T_INT32; t <= FS_T_TIMESTAMP; t++)
				fs_value_parse((enum fs_type)t, f[i].s, f[i].len, &v);
		}
		(void)fs_csv_line(c);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fs_csv *c = fs_csv_from_mem((const char *)data, size, "fuzz.csv");
	int fds[2];

	drain(c);
	fs_csv_free(c);
	if (size < 60000 && pipe(fds) == 0) {
		/* the pipe holds 64 KiB: write it all, then read through the fd path */
		if (write(fds[1], data, size) == (ssize_t)size) {
			close(fds[1]);
			c = fs_csv_from_fd(fds[0], "fuzz.csv");
			drain(c);
			fs_csv_free(c);
		} else {
			close(fds[1]);
		}
		close(fds[0]);
	}
	return 0;
}
