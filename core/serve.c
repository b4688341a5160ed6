#include "serve.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "historical.h"
#include "jsonout.h"
#include "models.h"
#include "serving.h"
#include "source.h"
#include "util.h"
#include "value.h"
#include "banned.h"

void fs_serve_error(struct strbuf *out, const char *msg)
{
	sb_reset(out);
	sb_adds(out, "{\"error\":");
	fs_json_quote(out, msg, strlen(msg));
	sb_addc(out, '}');
}

static int fail(struct strbuf *out, int status, const char *msg)
{
	fs_serve_error(out, msg);
	return status;
}

static int status_of(int rc)
{
	return rc == FS_ENOTFOUND ? 404 : rc == FS_EINVALID ? 400 : 500;
}

/*
 * The parsed request lives in a per-thread arena: jansson allocates each
 * string, array and object of a body separately, and freeing the tree was
 * as costly as half the parse. While a body is parsed, jansson's
 * allocations come from the arena (malloc once it is full); its frees of
 * arena memory do nothing, and the next parse on the thread starts the
 * arena over. Nothing of a request's tree outlives the request. Not under
 * AddressSanitizer, which should see every allocation.
 */
#if defined(__SANITIZE_ADDRESS__)
#define USE_ARENA 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define USE_ARENA 0
#endif
#endif
#ifndef USE_ARENA
#define USE_ARENA 1
#endif

#define ARENA_SIZE (64 * 1024)

static bool arena_installed;
static _Thread_local struct {
	_Alignas(16) char buf[ARENA_SIZE];
	size_t used;
	bool on;      /* jansson allocates from buf */
	bool spilled; /* some of this parse went to malloc */
} arena;

static void *arena_malloc(size_t n)
{
	if (arena.on) {
		size_t need = (n + 15) & ~(size_t)15;
		if (need >= n && need <= ARENA_SIZE - arena.used) {
			void *p = arena.buf + arena.used;
			arena.used += need;
			return p;
		}
		arena.spilled = true;
	}
	return malloc(n);
}

static void arena_free(void *p)
{
	if ((char *)p >= arena.buf && (char *)p < arena.buf + ARENA_SIZE)
		return;
	free(p);
}

void fs_serve_init(void)
{
	if (USE_ARENA && !arena_installed) {
		json_set_alloc_funcs(arena_malloc, arena_free);
		arena_installed = true;
	}
}

/* Drop a tree parse_body made. */
static void release_body(json_t *req)
{
	/* all of it in the arena: the next parse reclaims it */
	if (req && arena_installed && !arena.spilled)
		return;
	json_decref(req);
}

static int parse_body(const char *body, size_t len, json_t **out, struct strbuf *err)
{
	json_error_t e;

	if (arena_installed) {
		arena.used = 0;
		arena.spilled = false;
		arena.on = true;
	}
	*out = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
	arena.on = false;
	if (!*out) {
		char msg[512];
		snprintf(msg, sizeof(msg), "invalid JSON at line %d column %d: %s", e.line, e.column,
			 e.text);
		return fail(err, 400, msg);
	}
	if (!json_is_object(*out)) {
		release_body(*out);
		*out = NULL;
		return fail(err, 400, "the body must be a JSON object");
	}
	return 0;
}

#define PLAN_CACHE_MAX 256

struct fs_plan_cache {
	pthread_mutex_t lock;
	size_t n;
	char *keys[PLAN_CACHE_MAX];
	struct fs_serve_plan *plans[PLAN_CACHE_MAX];
};

struct fs_plan_cache *fs_plan_cache_new(void)
{
	struct fs_plan_cache *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void fs_plan_cache_free(struct fs_plan_cache *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n; i++) {
		free(c->keys[i]);
		fs_serve_plan_free(c->plans[i]);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/*
 * The cached plan for key, or NULL. Entries are only ever appended and
 * never freed while the cache lives, and n is published after its entry
 * is written: readers take no lock.
 */
static struct fs_serve_plan *cache_get(struct fs_plan_cache *c, const char *key)
{
	size_t n = __atomic_load_n(&c->n, __ATOMIC_ACQUIRE), i;

	for (i = 0; i < n; i++)
		if (!strcmp(c->keys[i], key))
			return c->plans[i];
	return NULL;
}

/* Keep plan under key; false when full (the caller then owns plan). */
static bool cache_put(struct fs_plan_cache *c, const char *key, struct fs_serve_plan *plan)
{
	bool kept = false;

	pthread_mutex_lock(&c->lock);
	if (c->n < PLAN_CACHE_MAX) {
		c->keys[c->n] = xstrdup(key);
		c->plans[c->n] = plan;
		__atomic_store_n(&c->n, c->n + 1, __ATOMIC_RELEASE);
		kept = true;
	}
	pthread_mutex_unlock(&c->lock);
	return kept;
}

static int get_online(struct fs_serve_env *env, const char *body, size_t len, struct strbuf *out)
{
	json_t *req, *features, *svc, *full, *entities, *refs = NULL;
	const char **list = NULL;
	size_t n = 0, i;
	int status, rc;

	if ((status = parse_body(body, len, &req, out)))
		return status;
	features = json_object_get(req, "features");
	svc = json_object_get(req, "feature_service");
	full = json_object_get(req, "full_feature_names");
	entities = json_object_get(req, "entities");
	if (full && !json_is_boolean(full)) {
		status = fail(out, 400, "full_feature_names: expected true or false");
		goto done;
	}
	if (!entities || !json_is_object(entities)) {
		status = fail(out, 400, "entities: expected an object like {\"driver_id\": [1001]}");
		goto done;
	}
	if (features && svc) {
		status = fail(out, 400, "give either features or feature_service, not both");
		goto done;
	}
	if (svc) {
		if (!json_is_string(svc)) {
			status = fail(out, 400, "feature_service: expected a string");
			goto done;
		}
		if (!fs_defs_find(env->defs, FS_KIND_FEATURE_SERVICE, json_string_value(svc))) {
			char msg[512];
			snprintf(msg, sizeof(msg), "no feature service '%s' is registered",
				 json_string_value(svc));
			status = fail(out, 404, msg);
			goto done;
		}
		list = xcalloc(1, sizeof(*list));
		list[n++] = json_string_value(svc);
	} else if (json_is_array(features) && json_array_size(features)) {
		json_t *f;
		list = xcalloc(json_array_size(features), sizeof(*list));
		json_array_foreach(features, i, f) {
			char msg[128];
			if (!json_is_string(f) || !strchr(json_string_value(f), ':')) {
				snprintf(msg, sizeof(msg), "features[%zu]: expected \"view:feature\"", i);
				status = fail(out, 400, msg);
				goto done;
			}
			list[n++] = json_string_value(f);
		}
	} else {
		status = fail(out, 400, "features: expected a non-empty list of \"view:feature\" (or a feature_service)");
		goto done;
	}
	{
		/* the plan of this feature list: cached, or resolved now */
		struct strbuf key = STRBUF_INIT;
		struct fs_serve_plan *plan = NULL;
		bool cached = false;

		/* length-prefixed: a name holding "\n" must not read as two names */
		size_t klen = 2;
		for (i = 0; i < n; i++)
			klen += strlen(list[i]) + 24;
		sb_grow(&key, klen); /* one allocation, not one per doubling */
		sb_addc(&key, svc ? 'S' : 'F');
		sb_addc(&key, json_is_true(full) ? '1' : '0');
		for (i = 0; i < n; i++) {
			/* "\n<length>:<name>": no name can pass for two */
			size_t l = strlen(list[i]);
			char digits[24], *d = digits + sizeof(digits);
			do
				*--d = (char)('0' + l % 10);
			while (l /= 10);
			sb_addc(&key, '\n');
			sb_add(&key, d, (size_t)(digits + sizeof(digits) - d));
			sb_addc(&key, ':');
			sb_adds(&key, list[i]);
		}
		if (env->plans && (plan = cache_get(env->plans, key.buf)))
			cached = true;
		if (!plan) {
			rc = fs_resolve_refs(env->defs, list, n, json_is_true(full), &refs);
			if (!rc)
				rc = fs_serve_plan_build(&plan, env->defs, refs);
			if (rc) {
				sb_release(&key);
				status = fail(out, status_of(rc), fs_error_last());
				goto done;
			}
			cached = env->plans && cache_put(env->plans, key.buf, plan);
		}
		sb_release(&key);
		rc = fs_online_response_plan(env->store, plan, entities, env->now_us, out);
		if (!cached)
			fs_serve_plan_free(plan);
	}
	if (rc) {
		if (rc != FS_EINVALID && rc != FS_ENOTFOUND)
			env->store_errors = 1;
		status = fail(out, status_of(rc), fs_error_last());
		goto done;
	}
	status = 200;
done:
	free(list);
	json_decref(refs);
	release_body(req);
	return status;
}

/* A df cell as text: numbers printed, booleans true/false, null as null. */
static bool cell_text(const json_t *v, char *buf, size_t len, struct fs_cell *c)
{
	c->null = false;
	if (json_is_string(v)) {
		c->s = json_string_value(v);
		c->len = json_string_length(v);
	} else if (json_is_integer(v)) {
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		c->s = buf;
		c->len = strlen(buf);
	} else if (json_is_real(v)) {
		fs_format_double(buf, len, json_real_value(v));
		c->s = buf;
		c->len = strlen(buf);
	} else if (json_is_boolean(v)) {
		c->s = json_is_true(v) ? "true" : "false";
		c->len = strlen(c->s);
	} else if (json_is_null(v)) {
		c->s = "";
		c->len = 0;
		c->null = true;
	} else {
		return false;
	}
	return true;
}

static int push(struct fs_serve_env *env, const char *body, size_t len, struct strbuf *out)
{
	json_t *req, *name, *df, *to, *col, *res = NULL;
	struct fs_source *table = NULL;
	const char **cols = NULL;
	struct fs_cell *cells = NULL;
	char (*bufs)[40] = NULL;
	size_t ncols, nrows = 0, i = 0, r;
	const char *key;
	char msg[512];
	int status, rc;

	if ((status = parse_body(body, len, &req, out)))
		return status;
	name = json_object_get(req, "push_source_name");
	df = json_object_get(req, "df");
	to = json_object_get(req, "to");
	if (!json_is_string(name)) {
		status = fail(out, 400, "push_source_name: expected a string");
		goto done;
	}
	if (to && (!json_is_string(to) || strcmp(json_string_value(to), "online"))) {
		status = fail(out, 400, "to: only \"online\" is supported by serve-lite");
		goto done;
	}
	if (!json_is_object(df) || !json_object_size(df)) {
		status = fail(out, 400, "df: expected an object of columns like {\"driver_id\": [1001]}");
		goto done;
	}
	ncols = json_object_size(df);
	cols = xcalloc(ncols, sizeof(*cols));
	json_object_foreach(df, key, col) {
		if (!json_is_array(col)) {
			snprintf(msg, sizeof(msg), "df.%s: expected a list of values", key);
			status = fail(out, 400, msg);
			goto done;
		}
		if (i && json_array_size(col) != nrows) {
			snprintf(msg, sizeof(msg), "df: columns have different lengths (%s has %zu, expected %zu)",
				 key, json_array_size(col), nrows);
			status = fail(out, 400, msg);
			goto done;
		}
		nrows = json_array_size(col);
		cols[i++] = key;
	}
	table = fs_source_table_new(json_string_value(name), "df", cols, ncols);
	cells = xcalloc(ncols, sizeof(*cells));
	bufs = xcalloc(ncols, sizeof(*bufs));
	for (r = 0; r < nrows; r++) {
		for (i = 0; i < ncols; i++) {
			json_t *v = json_array_get(json_object_get(df, cols[i]), r);
			if (!cell_text(v, bufs[i], sizeof(bufs[i]), &cells[i])) {
				snprintf(msg, sizeof(msg), "df.%s[%zu]: expected a string, number, boolean or null",
					 cols[i], r);
				status = fail(out, 400, msg);
				goto done;
			}
		}
		fs_source_table_add(table, cells, 0);
	}
	rc = fs_push(env->store, env->defs, json_string_value(name), table, &res);
	if (rc) {
		if (rc != FS_EINVALID && rc != FS_ENOTFOUND)
			env->store_errors = 1;
		status = fail(out, status_of(rc), fs_error_last());
		goto done;
	}
	{
		json_t *reply = json_pack("{s:s, s:O}", "status", "ok", "views", res);
		char *text = json_dumps(reply, JSON_COMPACT);
		sb_reset(out);
		sb_adds(out, text);
		free(text);
		json_decref(reply);
	}
	status = 200;
done:
	json_decref(res);
	fs_source_close(table);
	free(cols);
	free(cells);
	free(bufs);
	release_body(req);
	return status;
}

static int model(struct fs_serve_env *env, const char *path, struct strbuf *out)
{
	const char *rest = path + strlen("/models/");
	const json_t *v = json_object_get(env->models, rest);
	char *text;

	if (!strchr(rest, '/') || !v) {
		char msg[512];
		snprintf(msg, sizeof(msg), "no model version for '%s' (expected /models/NAME/STAGE)", rest);
		return fail(out, 404, msg);
	}
	/* metrics as the shortest text that reads back the same */
	text = fs_json_dumps(v, 0);
	sb_reset(out);
	sb_adds(out, text);
	free(text);
	return 200;
}

int fs_serve_request(struct fs_serve_env *env, const char *method, const char *path,
		     const char *body, size_t len, struct strbuf *out)
{
	bool post = !strcmp(method, "POST"), get = !strcmp(method, "GET");

	if (!strcmp(path, "/get-online-features"))
		return post ? get_online(env, body, len, out) : fail(out, 405, "use POST");
	if (!strcmp(path, "/push"))
		return post ? push(env, body, len, out) : fail(out, 405, "use POST");
	if (starts_with(path, "/models/"))
		return get ? model(env, path, out) : fail(out, 405, "use GET");
	return fail(out, 404, "no such endpoint");
}

int fs_serve_models(struct fs_registry *reg, json_t **out)
{
	json_t *all, *v, *map = json_object();
	size_t i;
	int rc;

	if ((rc = fs_models_list(reg, NULL, &all))) {
		json_decref(map);
		return rc;
	}
	/* oldest first: the last one seen in a stage is the newest holder */
	json_array_foreach(all, i, v) {
		const char *stage = json_string_value(json_object_get(v, "stage"));
		char *key;
		if (!strcmp(stage, "none"))
			continue;
		key = xstrfmt("%s/%s", json_string_value(json_object_get(v, "model")), stage);
		json_object_set_new(map, key,
				    json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "model",
					      json_object_get(v, "model"), "version",
					      json_object_get(v, "version"), "stage",
					      json_object_get(v, "stage"), "artifact_uri",
					      json_object_get(json_object_get(v, "artifact"), "uri"),
					      "sha256", json_object_get(json_object_get(v, "artifact"), "sha256"),
					      "metrics", json_object_get(v, "metrics"), "lineage",
					      json_object_get(v, "lineage")));
		free(key);
	}
	json_decref(all);
	*out = map;
	return 0;
}
