#include "plan.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "util.h"
#include "banned.h"

static struct fs_change *add(struct fs_plan *p, char op, const struct fs_object *o)
{
	struct fs_change *c;

	ALLOC_GROW(p->items, p->n + 1, p->alloc);
	c = &p->items[p->n++];
	memset(c, 0, sizeof(*c));
	c->op = op;
	c->kind = o->kind;
	c->name = o->name;
	return c;
}

static void add_field(struct fs_change *c, const char *key)
{
	c->fields = xrealloc(c->fields, (c->nfields + 1) * sizeof(*c->fields));
	c->fields[c->nfields++] = xstrdup(key);
}

static int cmp_field(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void diff_fields(struct fs_change *c)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)c->spec, key, v) {
		if (!json_equal(v, json_object_get(c->old, key)))
			add_field(c, key);
	}
	json_object_foreach((json_t *)c->old, key, v) {
		if (!json_object_get(c->spec, key))
			add_field(c, key);
	}
	qsort(c->fields, c->nfields, sizeof(*c->fields), cmp_field);
}

/* Does the registered h hold exactly w's spec? */
static bool same_spec(const struct fs_object *w, struct fs_object *h)
{
	char *text;
	bool same;

	if (!h->spec_text)
		return json_equal(w->spec, h->spec);
	text = fs_spec_dump(w->spec);
	same = text && !strcmp(text, h->spec_text);
	free(text);
	return same;
}

void fs_plan_compute(struct fs_plan *out, const struct fs_defs *want, struct fs_defs *have)
{
	size_t i = 0, j = 0;

	memset(out, 0, sizeof(*out));
	while (i < want->n || j < have->n) {
		const struct fs_object *w = i < want->n ? &want->objs[i] : NULL;
		struct fs_object *h = j < have->n ? &have->objs[j] : NULL;
		int c;

		if (!w)
			c = 1;
		else if (!h)
			c = -1;
		else if (w->kind != h->kind)
			c = w->kind < h->kind ? -1 : 1;
		else
			c = strcmp(w->name, h->name);
		if (c < 0) {
			add(out, '+', w)->spec = w->spec;
			i++;
		} else if (c > 0) {
			struct fs_change *ch = add(out, '-', h);
			ch->old = fs_object_spec(h);
			ch->old_version = h->version;
			j++;
		} else {
			if (!same_spec(w, h)) {
				struct fs_change *ch = add(out, '~', w);
				ch->spec = w->spec;
				ch->old = fs_object_spec(h);
				ch->old_version = h->version;
				diff_fields(ch);
			}
			i++;
			j++;
		}
	}
}

char *fs_plan_summary(const struct fs_plan *p)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i, shown = p->n > 6 ? 5 : p->n;

	sb_adds(&sb, "fs apply: ");
	for (i = 0; i < shown; i++)
		sb_addf(&sb, "%s%c%s %s", i ? ", " : "", p->items[i].op,
			fs_kind_name(p->items[i].kind), p->items[i].name);
	if (shown < p->n)
		sb_addf(&sb, " and %zu more", p->n - shown);
	if (!p->n)
		sb_adds(&sb, "update definitions");
	return sb_detach(&sb);
}

json_t *fs_plan_json(const struct fs_plan *p)
{
	json_t *arr = json_array();
	size_t i, k;

	for (i = 0; i < p->n; i++) {
		const struct fs_change *c = &p->items[i];
		char op[2] = { c->op, 0 };
		json_t *o = json_pack("{s:s, s:s, s:s}", "op", op, "kind", fs_kind_name(c->kind),
				      "name", c->name);
		if (c->op == '~') {
			json_t *f = json_array();
			for (k = 0; k < c->nfields; k++)
				json_array_append_new(f, json_string(c->fields[k]));
			json_object_set_new(o, "fields", f);
		}
		json_array_append_new(arr, o);
	}
	return arr;
}

void fs_plan_release(struct fs_plan *p)
{
	size_t i, k;

	for (i = 0; i < p->n; i++) {
		for (k = 0; k < p->items[i].nfields; k++)
			free(p->items[i].fields[k]);
		free(p->items[i].fields);
	}
	free(p->items);
	memset(p, 0, sizeof(*p));
}
