#include "ignore.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "banned.h"

struct rule {
	char *pattern;
	bool negate, dir_only, anchored, deep;
};

struct fs_ignore {
	struct rule *rules;
	size_t n, alloc;
};

struct fs_ignore *fs_ignore_parse(const char *text, size_t len)
{
	struct fs_ignore *ign = xcalloc(1, sizeof(*ign));
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		char *line = xstrndup(p, (size_t)(e - p)), *s = line;
		size_t l = strlen(s);
		struct rule r = { 0 };

		p = nl ? nl + 1 : end;
		while (l && (s[l - 1] == '\r' || s[l - 1] == ' ' || s[l - 1] == '\t'))
			s[--l] = '\0';
		if (!l || s[0] == '#') {
			free(line);
			continue;
		}
		if (s[0] == '!') {
			r.negate = true;
			s++;
			l--;
		}
		if (l && s[l - 1] == '/') {
			r.dir_only = true;
			s[--l] = '\0';
		}
		if (strchr(s, '/'))
			r.anchored = true;
		while (*s == '/')
			s++;
		if (!*s) {
			free(line);
			continue;
		}
		r.deep = strstr(s, "**") != NULL;
		r.pattern = xstrdup(s);
		free(line);
		ALLOC_GROW(ign->rules, ign->n + 1, ign->alloc);
		ign->rules[ign->n++] = r;
	}
	return ign;
}

static bool rule_matches(const struct rule *r, const char *path, bool is_dir)
{
	const char *base;

	if (r->dir_only && !is_dir)
		return false;
	if (r->anchored)
		return fnmatch(r->pattern, path, r->deep ? 0 : FNM_PATHNAME) == 0;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return fnmatch(r->pattern, base, 0) == 0;
}

static bool match_one(const struct fs_ignore *ign, const char *path, bool is_dir, bool *decided)
{
	size_t i = ign->n;

	while (i--) {
		if (rule_matches(&ign->rules[i], path, is_dir)) {
			*decided = true;
			return !ign->rules[i].negate;
		}
	}
	*decided = false;
	return false;
}

bool fs_ignore_match(const struct fs_ignore *ign, const char *path, bool is_dir)
{
	char *copy;
	char *slash;
	bool decided, r;

	if (!ign || !ign->n)
		return false;
	/* an ignored parent directory hides everything below it */
	copy = xstrdup(path);
	for (slash = strchr(copy, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		r = match_one(ign, copy, true, &decided);
		*slash = '/';
		if (decided && r) {
			free(copy);
			return true;
		}
	}
	free(copy);
	return match_one(ign, path, is_dir, &decided);
}

void fs_ignore_free(struct fs_ignore *ign)
{
	size_t i;

	if (!ign)
		return;
	for (i = 0; i < ign->n; i++)
		free(ign->rules[i].pattern);
	free(ign->rules);
	free(ign);
}

/* ---- definitions: ---- */

struct fs_defsel {
	bool by_default; /* fs.yaml has no `definitions:` */
	char **entries;
	size_t n;
};

struct fs_defsel *fs_defsel_default(void)
{
	struct fs_defsel *sel = xcalloc(1, sizeof(*sel));

	sel->by_default = true;
	return sel;
}

struct fs_defsel *fs_defsel_paths(const char *const *entries, size_t n)
{
	struct fs_defsel *sel = xcalloc(1, sizeof(*sel));
	size_t i;

	sel->entries = xcalloc(n + 1, sizeof(*sel->entries));
	for (i = 0; i < n; i++)
		sel->entries[i] = xstrdup(entries[i]);
	sel->n = n;
	return sel;
}

bool fs_defsel_by_content(const struct fs_defsel *sel)
{
	return sel->by_default;
}

/* The start of the component after p's, or NULL at the last one. */
static const char *next_component(const char *p)
{
	const char *slash = strchr(p, '/');

	return slash ? slash + 1 : NULL;
}

/* Does a component of the relative path start with '.'? */
static bool has_hidden(const char *path)
{
	const char *p;

	for (p = path; p; p = next_component(p))
		if (*p == '.')
			return true;
	return false;
}

static bool fnmatch_n(const char *pat, size_t plen, const char *s, size_t slen)
{
	char *p = xstrndup(pat, plen), *t = xstrndup(s, slen);
	bool m = fnmatch(p, t, FNM_PATHNAME | FNM_PERIOD) == 0;

	free(p);
	free(t);
	return m;
}

static bool glob_match(const char *pat, const char *path);

/* Does "**" then tail ("" or "/..."), match path from p on? */
static bool globstar_match(const char *tail, const char *p)
{
	const char *q;

	if (!*tail) /* a final "**": everything below */
		return *p && !has_hidden(p);
	for (q = p; q; q = next_component(q)) {
		if (glob_match(tail + 1, q))
			return true;
		if (*q == '.') /* "**" does not cross a hidden directory */
			return false;
	}
	return false;
}

/* fnmatch(3) over a path, with '**' components. */
static bool glob_match(const char *pat, const char *path)
{
	const char *ds = strstr(pat, "**"), *p;

	if (!ds)
		return fnmatch(pat, path, FNM_PATHNAME | FNM_PERIOD) == 0;
	if (ds == pat)
		return globstar_match(ds + 2, path);
	/* the components before "**" match a leading part of path */
	for (p = next_component(path); p; p = next_component(p))
		if (fnmatch_n(pat, (size_t)(ds - pat - 1), path, (size_t)(p - path - 1)) &&
		    globstar_match(ds + 2, p))
			return true;
	return false;
}

/* Does entry e select path: the path itself, or a directory above it with nothing hidden between? */
static bool entry_selects(const char *e, const char *path)
{
	bool glob = strpbrk(e, "*?[") != NULL;
	size_t len = strlen(path), k;

	if (!*e) /* the root */
		return !has_hidden(path);
	for (k = 1; k <= len; k++) {
		bool m;

		if (k < len && path[k] != '/')
			continue;
		if (glob) {
			char *lead = xstrndup(path, k);
			m = glob_match(e, lead);
			free(lead);
		} else {
			m = strlen(e) == k && !memcmp(e, path, k);
		}
		if (m && (k == len || !has_hidden(path + k + 1)))
			return true;
	}
	return false;
}

/* Could entry e select files below dir? Compared component by component. */
static bool entry_reaches(const char *e, const char *dir)
{
	const char *ep = e, *dp = dir;

	while (*ep && *dp) {
		size_t el = strcspn(ep, "/"), dl = strcspn(dp, "/");

		if (el == 2 && !memcmp(ep, "**", 2))
			return true;
		if (!fnmatch_n(ep, el, dp, dl))
			return false;
		ep += el + (ep[el] == '/');
		dp += dl + (dp[dl] == '/');
	}
	/* dir leads to what e names, or lies below it */
	return !*dp || !has_hidden(dp);
}

bool fs_defsel_dir(const struct fs_defsel *sel, const char *dir)
{
	size_t i;

	if (sel->by_default)
		return !has_hidden(dir);
	for (i = 0; i < sel->n; i++)
		if (entry_reaches(sel->entries[i], dir))
			return true;
	return false;
}

bool fs_defsel_file(const struct fs_defsel *sel, const char *path)
{
	size_t i;

	if (sel->by_default)
		return !has_hidden(path);
	for (i = 0; i < sel->n; i++)
		if (entry_selects(sel->entries[i], path))
			return true;
	return false;
}

bool fs_defsel_entry_selects(const struct fs_defsel *sel, size_t i, const char *path)
{
	return i < sel->n && entry_selects(sel->entries[i], path);
}

void fs_defsel_free(struct fs_defsel *sel)
{
	size_t i;

	if (!sel)
		return;
	for (i = 0; i < sel->n; i++)
		free(sel->entries[i]);
	free(sel->entries);
	free(sel);
}
