#include "init.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embedded.h"
#include "error.h"
#include "strbuf.h"
#include "timeutil.h"
#include "util.h"
#include "banned.h"

#define SAMPLE_DRIVERS 5
#define SAMPLE_HOURS 24

char *fs_init_sample_csv(int64_t now)
{
	struct strbuf sb = STRBUF_INIT;
	int64_t hour = now - now % 3600;
	int d, k;

	sb_adds(&sb, "driver_id,event_timestamp,conv_rate,acc_rate,avg_daily_trips,created\n");
	for (k = SAMPLE_HOURS - 1; k >= 0; k--) {
		char ts[FS_TIME_BUFSZ];
		fs_time_format(ts, hour - (int64_t)k * 3600);
		for (d = 0; d < SAMPLE_DRIVERS; d++) {
			int id = 1001 + d;
			/* fixed values: a function of driver and hour only */
			sb_addf(&sb, "%d,%s,%.2f,%.2f,%d,%s\n", id, ts,
				(double)((id * 7 + k * 13) % 100) / 100.0,
				(double)((id * 11 + k * 3) % 100) / 100.0, (id * 17 + k * 5) % 1000,
				ts);
		}
	}
	return sb_detach(&sb);
}

/*
 * The sample trips: for each driver, one to three trips in each of the
 * SAMPLE_HOURS hours before the hour of now (none later than now, so that
 * a materialization up to now holds them all), at fixed minutes and fares,
 * the last one late in its hour (a read at now finds trips in the last hour).
 */
char *fs_init_sample_trips_csv(int64_t now)
{
	struct strbuf sb = STRBUF_INIT;
	int64_t hour = now - now % 3600;
	int d, k, j;

	sb_adds(&sb, "driver_id,event_timestamp,fare\n");
	for (k = SAMPLE_HOURS; k >= 1; k--) {
		for (d = 0; d < SAMPLE_DRIVERS; d++) {
			int id = 1001 + d, trips = 1 + (id + k) % 3;
			for (j = trips - 1; j >= 0; j--) {
				char ts[FS_TIME_BUFSZ];
				int minute = 59 - j * 20 - (id * 7 + k * 11) % 20;
				fs_time_format(ts, hour - (int64_t)k * 3600 + minute * 60);
				sb_addf(&sb, "%d,%s,%.2f\n", id, ts,
					5.0 + (double)((id * 13 + k * 7 + j * 29) % 400) / 10.0);
			}
		}
	}
	return sb_detach(&sb);
}

static char *project_name(const char *dir)
{
	char *abs = realpath(dir, NULL), *base, *p;
	char *name;

	base = abs ? strrchr(abs, '/') : NULL;
	name = xstrdup(base && base[1] ? base + 1 : "features");
	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			*p = '_';
	free(abs);
	return name;
}

/* does .gitignore text already ignore .fs/ at the top level? */
static bool ignores_fs_dir(const char *text)
{
	static const char *const forms[] = { ".fs/", "/.fs/", ".fs", "/.fs" };
	const char *line = text, *end;
	size_t i, len;

	for (; *line; line = *end ? end + 1 : end) {
		end = strchrnul(line, '\n');
		len = (size_t)(end - line);
		while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
			len--;
		for (i = 0; i < ARRAY_SIZE(forms); i++)
			if (len == strlen(forms[i]) && !memcmp(line, forms[i], len))
				return true;
	}
	return false;
}

static int write_file(const char *dir, const char *rel, const char *data, size_t len,
		      struct fs_files *files)
{
	char *path = fs_path_join(dir, rel), *slash = strrchr(path, '/');
	int rc = 0;

	*slash = '\0';
	if (fs_mkdir_p(path, 0777) < 0)
		rc = -1;
	*slash = '/';
	if (!rc && fs_write_file_atomic(path, data, len) < 0)
		rc = -1;
	if (rc)
		fs_error_set("cannot write '%s': %s", path, strerror(errno));
	else
		fs_files_add(files, rel, data, len);
	free(path);
	return rc ? FS_ERR : 0;
}

int fs_init_repo(const char *dir, int64_t now, char commit_out[FS_OID_HEXSZ + 1])
{
	struct fs_files files = { 0 };
	struct strbuf cfg = STRBUF_INIT, ign = STRBUF_INIT;
	const struct fs_embedded *tmpl = fs_embedded_get("fs.yaml");
	const struct fs_file **list = NULL;
	char *path = fs_path_join(dir, "fs.yaml"), *project = NULL, *csv = NULL, *trips = NULL;
	char *at, *gi;
	struct fs_git *git = NULL;
	static const char *const ours[] = { "features/driver.yaml", "data/driver_stats.csv",
					    "data/driver_trips.csv" };
	struct stat st;
	size_t i;
	int rc;

	if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
		fs_error_set("'%s' exists and is not a directory", dir);
		free(path);
		return FS_EEXISTS;
	}
	if (stat(path, &st) == 0) {
		fs_error_set("'%s' already holds an fs repository (fs.yaml exists)", dir);
		free(path);
		return FS_EEXISTS;
	}
	free(path);
	/* never overwrite a user's file with a template */
	for (i = 0; i < ARRAY_SIZE(ours); i++) {
		path = fs_path_join(dir, ours[i]);
		rc = lstat(path, &st);
		free(path);
		if (rc == 0) {
			fs_error_set("'%s/%s' already exists; fs init would overwrite it", dir, ours[i]);
			return FS_EEXISTS;
		}
	}
	/* the first commit needs an identity: without one, nothing is created */
	if ((rc = fs_git_ident_check(dir)))
		return rc;
	if (fs_mkdir_p(dir, 0777) < 0) {
		fs_error_set("cannot create '%s': %s", dir, strerror(errno));
		return FS_ERR;
	}
	if ((rc = fs_git_init(dir)))
		return rc;

	project = project_name(dir);
	at = strstr(tmpl->data, "@PROJECT@");
	sb_add(&cfg, tmpl->data, (size_t)(at - tmpl->data));
	sb_adds(&cfg, project);
	sb_adds(&cfg, at + strlen("@PROJECT@"));

	/* keep an existing .gitignore, adding .fs/ when it lacks it */
	gi = fs_path_join(dir, ".gitignore");
	if (sb_read_file(&ign, gi) == 0) {
		if (!ignores_fs_dir(sb_str(&ign))) {
			if (ign.len && ign.buf[ign.len - 1] != '\n')
				sb_addc(&ign, '\n');
			sb_adds(&ign, ".fs/\n");
		}
	} else {
		sb_reset(&ign);
		sb_adds(&ign, fs_embedded_get("gitignore")->data);
	}
	free(gi);
	csv = fs_init_sample_csv(now);
	trips = fs_init_sample_trips_csv(now);
	tmpl = fs_embedded_get("driver.yaml");
	if ((rc = write_file(dir, "fs.yaml", cfg.buf, cfg.len, &files)) ||
	    (rc = write_file(dir, ".gitignore", ign.buf, ign.len, &files)) ||
	    (rc = write_file(dir, "features/driver.yaml", tmpl->data, tmpl->len, &files)) ||
	    (rc = write_file(dir, "data/driver_stats.csv", csv, strlen(csv), &files)) ||
	    (rc = write_file(dir, "data/driver_trips.csv", trips, strlen(trips), &files)))
		goto done;
	if ((rc = fs_git_open(&git, dir)))
		goto done;
	list = xcalloc(files.n, sizeof(*list));
	for (i = 0; i < files.n; i++)
		list[i] = &files.items[i];
	rc = fs_git_commit(git, list, files.n, NULL, 0, "fs init: new feature repository",
			   commit_out);
done:
	free(list);
	fs_git_free(git);
	fs_files_release(&files);
	sb_release(&cfg);
	sb_release(&ign);
	free(project);
	free(csv);
	free(trips);
	return rc;
}
