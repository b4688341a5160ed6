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
