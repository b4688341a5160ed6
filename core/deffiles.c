#include "deffiles.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

/*
 * Parsing YAML dominates planning a large repository; files are
 * independent, so a large set is parsed by two threads, each into its own
 * defs and diagnostics, merged afterwards (validation sorts them anyway).
 */
struct parse_job {
	const struct fs_files *files;
	size_t from, to;
	struct fs_defs defs;
	struct fs_diags diags;
};

static void *parse_files(void *p)
{
	struct parse_job *job = p;
	size_t i;

	for (i = job->from; i < job->to; i++) {
		const struct fs_file *f = &job->files->items[i];
		if (fs_is_definition_path(f->path))
			fs_defs_parse(&job->defs, f->path, f->data, f->len, &job->diags);
	}
	return NULL;
}

static void merge_job(struct fs_defs *defs, struct fs_diags *diags, struct parse_job *job)
{
	size_t i;

	/* a job may have found nothing (its arrays NULL): memcpy must not see them */
	if (job->defs.n) {
		ALLOC_GROW(defs->objs, defs->n + job->defs.n, defs->alloc);
		memcpy(defs->objs + defs->n, job->defs.objs, job->defs.n * sizeof(*defs->objs));
		defs->n += job->defs.n;
	}
	if (job->defs.ndocs) {
		ALLOC_GROW(defs->docs, defs->ndocs + job->defs.ndocs, defs->docs_alloc);
		memcpy(defs->docs + defs->ndocs, job->defs.docs,
		       job->defs.ndocs * sizeof(*defs->docs));
		defs->ndocs += job->defs.ndocs;
	}
	free(job->defs.objs);
	free(job->defs.docs);
	for (i = 0; i < job->diags.n; i++) {
		ALLOC_GROW(diags->items, diags->n + 1, diags->alloc);
		diags->items[diags->n++] = job->diags.items[i];
	}
	free(job->diags.items);
}

#define PARALLEL_PARSE_BYTES (256 * 1024)

void fs_defs_parse_files(const struct fs_files *files, struct fs_defs *defs,
			 struct fs_diags *diags)
{
	struct parse_job jobs[2] = { { files, 0, 0 }, { files, 0, 0 } };
	size_t total = 0, half = 0, i;
	pthread_t tid;

	for (i = 0; i < files->n; i++)
		total += files->items[i].len;
	for (i = 0; i < files->n && half < total / 2; i++)
		half += files->items[i].len;
	jobs[0].to = jobs[1].from = i;
	jobs[1].to = files->n;
	json_object_seed(0); /* before any thread creates objects */
	if (total < PARALLEL_PARSE_BYTES || sysconf(_SC_NPROCESSORS_ONLN) < 2 ||
	    pthread_create(&tid, NULL, parse_files, &jobs[1])) {
		jobs[0].to = files->n;
		parse_files(&jobs[0]);
		merge_job(defs, diags, &jobs[0]);
		return;
	}
	parse_files(&jobs[0]);
	pthread_join(tid, NULL);
	merge_job(defs, diags, &jobs[0]);
	merge_job(defs, diags, &jobs[1]);
}

/*
 * The selection the fs.yaml of the working tree, or of the commit git has
 * open, makes; *paths gets its `definitions:` (NULL when absent). When
 * fs.yaml does not say (invalid), nothing is selected: fs.yaml's own
 * problems are reported. A missing fs.yaml is reported with the definitions.
 */
struct fs_defsel *fs_defs_selection(const char *root, struct fs_git *git, bool rev,
				   struct fs_config_path **paths, size_t *npaths)
{
	struct strbuf text = STRBUF_INIT;
	struct fs_defsel *sel;
	const char **entries;
	size_t i;
	int rc;

	*paths = NULL;
	*npaths = 0;
	if (rev) {
		rc = fs_git_rev_read(git, "fs.yaml", &text);
	} else {
		char *path = fs_path_join(root, "fs.yaml");
		rc = sb_read_file(&text, path);
		free(path);
	}
	if (rc) {
		sel = fs_defsel_default();
	} else if (fs_config_definitions(paths, npaths, text.buf, text.len)) {
		sel = fs_defsel_paths(NULL, 0);
	} else if (!*paths) {
		sel = fs_defsel_default();
	} else {
		entries = xcalloc(*npaths, sizeof(*entries));
		for (i = 0; i < *npaths; i++)
			entries[i] = (*paths)[i].path;
		sel = fs_defsel_paths(entries, *npaths);
		free(entries);
	}
	sb_release(&text);
	return sel;
}

int fs_worktree_defs(const char *root, struct fs_defs *out)
{
	struct fs_config_path *paths = NULL;
	struct fs_files files = { 0 };
	struct fs_diags diags = { 0 };
	struct fs_defsel *sel;
	struct fs_git *git;
	size_t npaths = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = fs_git_open(&git, root)))
		return rc;
	sel = fs_defs_selection(root, git, false, &paths, &npaths);
	if (!(rc = fs_git_worktree_files(git, sel, &files))) {
		fs_defs_parse_files(&files, out, &diags);
		fs_defs_sort(out);
	}
	fs_diags_release(&diags);
	fs_files_release(&files);
	fs_defsel_free(sel);
	fs_config_paths_free(paths, npaths);
	fs_git_free(git);
	return rc;
}
