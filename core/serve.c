#include "serve.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact.h"
#include "error.h"
#include "historical.h"
#include "inspect.h"
#include "jsonout.h"
#include "materialize.h"
#include "repo.h"
#include "timeutil.h"
#include "models.h"
#include "offline-append.h"
#include "unapplied.h"
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
 * An error as Feast's server answers a FeastError: the exception's
 * to_error_detail(), a JSON text {"module", "class", "message"}, sent as
 * a JSON string (FastAPI's JSONResponse of a str); Feast's client turns it
 * back into the exception with FeastError.from_error_detail. The text is
 * as Python's json.dumps writes it (", " and ": ", ASCII only).
 */
static int feast_fail(struct strbuf *out, int status, const char *cls, const char *msg)
{
	json_t *detail = json_pack("{s:s, s:s, s:s}", "module", "feast.errors", "class", cls,
				   "message", msg);
	/* without JSON_COMPACT: ", " and ": " */
	char *text = json_dumps(detail, JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);

	sb_reset(out);
	fs_json_quote(out, text, strlen(text));
	free(text);
	json_decref(detail);
	return status;
}

/*
 * fs's hint in an error message, for Feast's message: " (did you mean
 * 'x'?)", " (it is defined in F but not applied; run 'fs apply')", or ""
 * (static storage, one thread's).
 */
static const char *hint_of(const char *msg)
{
	static _Thread_local char buf[600];
	const char *h = strstr(msg, " (did you mean");

	if (h)
		return h;
	if ((h = strstr(msg, " is defined in ")) && strstr(h, " but not applied")) {
		snprintf(buf, sizeof(buf), " (it%s)", h);
		return buf;
	}
	return "";
}

/* The hint for a feature view name not registered (see hint_of; one thread's storage). */
static const char *view_hint(const struct fs_serve_env *env, const char *name)
{
	fs_unknown_name(env->defs, env->root, FS_KIND_BIT(FS_KIND_FEATURE_VIEW), name, NULL);
	return hint_of(fs_error_last());
}

/* The hint for a feature service name not registered (see hint_of; static storage, one thread's). */
static const char *service_hint(const struct fs_serve_env *env, const char *name)
{
	static _Thread_local char buf[300];
	const char **cands;
	const char *hint;
	size_t i, n = 0;

	if (fs_unapplied_object(env->root, FS_KIND_BIT(FS_KIND_FEATURE_SERVICE), name))
		return hint_of(fs_error_last());
	cands = xcalloc(env->defs->n + 1, sizeof(*cands));
	for (i = 0; i < env->defs->n; i++)
		if (env->defs->objs[i].kind == FS_KIND_FEATURE_SERVICE)
			cands[n++] = env->defs->objs[i].name;
	hint = fs_suggest(name, cands, n);
	free(cands);
	if (!hint)
		return "";
	snprintf(buf, sizeof(buf), " (did you mean '%.200s'?)", hint);
	return buf;
}

/* A view reference's name without Feast's "@latest" version suffix, in buf. */
static const char *view_name(const char *ref, size_t len, char *buf, size_t size)
{
	const char *at = memchr(ref, '@', len);

	if (at && (size_t)(ref + len - at) == strlen("@latest") && !strncmp(at, "@latest", 7))
		len = (size_t)(at - ref);
	snprintf(buf, size, "%.*s", (int)len, ref);
	return buf;
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

/*
 * fs_resolve_refs failed with rc for the n refs of list: a view not
 * registered is Feast's FeatureViewNotFoundException, keeping fs's hint;
 * the rest fs's own error.
 */
static int resolve_fail(struct fs_serve_env *env, struct strbuf *out, int rc, const char **list,
			size_t n)
{
	size_t i;

	if (rc == FS_ENOTFOUND)
		for (i = 0; i < n; i++) {
			const char *colon = strchr(list[i], ':');
			char vbuf[256], msg[640];
			if (!colon || fs_defs_find(env->defs, FS_KIND_FEATURE_VIEW,
						   view_name(list[i], (size_t)(colon - list[i]), vbuf,
							     sizeof(vbuf))))
				continue;
			snprintf(msg, sizeof(msg), "Feature view %s does not exist%s", vbuf,
				 hint_of(fs_error_last()));
			return feast_fail(out, 404, "FeatureViewNotFoundException", msg);
		}
	return fail(out, status_of(rc), fs_error_last());
}

static int get_online(struct fs_serve_env *env, const char *body, size_t len, struct strbuf *out)
{
	json_t *req, *features, *svc, *full, *entities, *refs = NULL, *owned = NULL, *mapped = NULL;
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
	{
		/* every column checked, also those dropped as no join key */
		const char *name;
		json_t *col;
		size_t rows = 0;
		bool first = true;
		char msg[512];
		json_object_foreach(entities, name, col) {
			if (!json_is_array(col)) {
				snprintf(msg, sizeof(msg), "entities.%.200s: expected a list of values", name);
				status = fail(out, 400, msg);
				goto done;
			}
			if (!first && json_array_size(col) != rows) {
				snprintf(msg, sizeof(msg),
					 "entities: columns have different lengths (%.200s has %zu, expected %zu)",
					 name, json_array_size(col), rows);
				status = fail(out, 400, msg);
				goto done;
			}
			rows = json_array_size(col);
			first = false;
		}
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
			snprintf(msg, sizeof(msg), "Feature service %s does not exist%s",
				 json_string_value(svc), service_hint(env, json_string_value(svc)));
			status = feast_fail(out, 404, "FeatureServiceNotFoundException", msg);
			goto done;
		}
		list = xcalloc(1, sizeof(*list));
		list[n++] = json_string_value(svc);
	} else if (json_is_array(features) && json_array_size(features)) {
		json_t *f;
		list = xcalloc(json_array_size(features), sizeof(*list));
		json_array_foreach(features, i, f) {
			char msg[128];
			const char *ref = json_string_value(f), *colon = ref ? strchr(ref, ':') : NULL;
			if (!colon) {
				snprintf(msg, sizeof(msg), "features[%zu]: expected \"view:feature\"", i);
				status = fail(out, 400, msg);
				goto done;
			}
			if (memchr(ref, '@', (size_t)(colon - ref))) {
				/* "view@latest:feature": the view as registered */
				char vbuf[256];
				view_name(ref, (size_t)(colon - ref), vbuf, sizeof(vbuf));
				if (!owned)
					owned = json_array();
				json_array_append_new(owned, json_sprintf("%s%s", vbuf, colon));
				ref = json_string_value(json_array_get(owned, json_array_size(owned) - 1));
			}
			list[n++] = ref;
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
			rc = fs_resolve_refs(env->defs, env->root, list, n, json_is_true(full), &refs);
			if (!rc)
				rc = fs_serve_plan_build(&plan, env->defs, refs);
			if (rc) {
				sb_release(&key);
				status = resolve_fail(env, out, rc, list, svc ? 0 : n);
				goto done;
			}
			cached = env->plans && cache_put(env->plans, key.buf, plan);
		}
		sb_release(&key);
		mapped = fs_serve_plan_entities(plan, env->defs, entities);
		rc = fs_online_response_plan(env->store, plan, mapped, env->now_us, out);
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
	json_decref(owned);
	json_decref(mapped);
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

/*
 * Feast's "df" (a pandas DataFrame as {column: [values]}) as an in-memory
 * table named name. A column given as one value instead of a list is
 * repeated down the column, as pandas broadcasts it. 0, or the status of
 * the error written to out.
 */
static int df_table(const json_t *df, const char *name, struct fs_source **table,
		    struct strbuf *out)
{
	const char **cols = NULL;
	struct fs_cell *cells = NULL;
	char (*bufs)[40] = NULL;
	size_t ncols, nrows = 1, i = 0, r;
	bool lists = false;
	const char *key;
	json_t *col;
	char msg[512];
	int status = 0;

	*table = NULL;
	if (!json_is_object(df) || !json_object_size(df))
		return fail(out, 400, "df: expected an object of columns like {\"driver_id\": [1001]}");
	ncols = json_object_size(df);
	cols = xcalloc(ncols, sizeof(*cols));
	json_object_foreach((json_t *)df, key, col) {
		if (json_is_object(col)) {
			snprintf(msg, sizeof(msg), "df.%s: expected a list of values", key);
			status = fail(out, 400, msg);
			goto done;
		}
		if (json_is_array(col)) {
			if (lists && json_array_size(col) != nrows) {
				snprintf(msg, sizeof(msg),
					 "df: columns have different lengths (%s has %zu, expected %zu)",
					 key, json_array_size(col), nrows);
				status = fail(out, 400, msg);
				goto done;
			}
			nrows = json_array_size(col);
			lists = true;
		}
		cols[i++] = key;
	}
	*table = fs_source_table_new(name, "df", cols, ncols);
	cells = xcalloc(ncols, sizeof(*cells));
	bufs = xcalloc(ncols, sizeof(*bufs));
	for (r = 0; r < nrows; r++) {
		for (i = 0; i < ncols; i++) {
			json_t *c = json_object_get(df, cols[i]);
			json_t *v = json_is_array(c) ? json_array_get(c, r) : c;
			if (!cell_text(v, bufs[i], sizeof(bufs[i]), &cells[i])) {
				snprintf(msg, sizeof(msg),
					 "df.%s[%zu]: expected a string, number, boolean or null", cols[i], r);
				status = fail(out, 400, msg);
				goto done;
			}
		}
		fs_source_table_add(*table, cells, r + 1);
	}
done:
	if (status) {
		fs_source_close(*table);
		*table = NULL;
	}
	free(cols);
	free(cells);
	free(bufs);
	return status;
}

/* {"status": "ok", "views": res} into out */
/* j (stolen) as the body, compact; returns status */
static int reply_json(struct strbuf *out, int status, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);

	sb_reset(out);
	sb_adds(out, text);
	free(text);
	json_decref(j);
	return status;
}

static int reply_views(struct strbuf *out, json_t *res)
{
	return reply_json(out, 200, json_pack("{s:s, s:O}", "status", "ok", "views", res));
}

static int push(struct fs_serve_env *env, const char *body, size_t len, struct strbuf *out)
{
	json_t *req, *name, *to, *res = NULL;
	struct fs_source *table = NULL;
	const struct fs_object *src;
	const char *mode = "online";
	int stores;
	char msg[512];
	int status, rc;

	if ((status = parse_body(body, len, &req, out)))
		return status;
	name = json_object_get(req, "push_source_name");
	to = json_object_get(req, "to");
	if (!json_is_string(name)) {
		status = fail(out, 400, "push_source_name: expected a string");
		goto done;
	}
	if (to && !json_is_string(to)) {
		status = fail(out, 400, "to: expected \"online\", \"offline\" or \"online_and_offline\"");
		goto done;
	}
	if (to)
		mode = json_string_value(to);
	if (!(stores = fs_push_stores(mode))) {
		/* Feast: a ValueError, answered 500 with its text as a JSON string */
		snprintf(msg, sizeof(msg),
			 "to: %.100s is not a supported push format. Please specify one of these ['online', 'offline', 'online_and_offline'].",
			 mode);
		status = fail(out, 400, msg);
		goto done;
	}
	if ((rc = fs_push_source_find(env->defs, env->root, json_string_value(name), &src))) {
		if (rc == FS_EINVALID)
			snprintf(msg, sizeof(msg), "Unable to find push source '%.200s'. ('%.200s' is a %s source, not a push source)",
				 json_string_value(name), json_string_value(name),
				 json_string_value(json_object_get(
					 fs_defs_find(env->defs, FS_KIND_SOURCE, json_string_value(name))->spec,
					 "type")));
		else
			snprintf(msg, sizeof(msg), "Unable to find push source '%.200s'.%s",
				 json_string_value(name), hint_of(fs_error_last()));
		status = feast_fail(out, 422, "PushSourceNotFoundException", msg);
		goto done;
	}
	if ((status = df_table(json_object_get(req, "df"), json_string_value(name), &table, out)))
		goto done;
	if ((stores & FS_PUSH_OFFLINE) && (!env->root || !env->config)) {
		status = fail(out, 503, "push to the offline store: this server has no repository");
		goto done;
	}
	rc = fs_push_to(env->store, env->defs, env->root, env->config, json_string_value(name),
			stores, table, &res);
	if (rc) {
		if (rc != FS_EINVALID && rc != FS_ENOTFOUND)
			env->store_errors = 1;
		status = fail(out, status_of(rc), fs_error_last());
		goto done;
	}
	/* {"status": "ok", "views": [...] (online), "offline": {...} (offline)} */
	json_object_set_new(res, "status", json_string("ok"));
	status = reply_json(out, 200, json_incref(res));
done:
	json_decref(res);
	fs_source_close(table);
	release_body(req);
	return status;
}

/* Feast's RemoteOnlineStore.online_write_batch: rows of one view */
static int write_online(struct fs_serve_env *env, const char *body, size_t len, struct strbuf *out)
{
	json_t *req, *name, *res = NULL;
	struct fs_source *table = NULL;
	char msg[1024];
	int status, rc;

	if ((status = parse_body(body, len, &req, out)))
		return status;
	name = json_object_get(req, "feature_view_name");
	if (!json_is_string(name)) {
		status = fail(out, 400, "feature_view_name: expected a string");
		goto done;
	}
	if (!fs_defs_find(env->defs, FS_KIND_FEATURE_VIEW, json_string_value(name))) {
		snprintf(msg, sizeof(msg), "Can't recognize feast object with a name %.200s%.300s",
			 json_string_value(name), view_hint(env, json_string_value(name)));
		status = feast_fail(out, 404, "FeastObjectNotFoundException", msg);
		goto done;
	}
	if ((status = df_table(json_object_get(req, "df"), json_string_value(name), &table, out)))
		goto done;
	rc = fs_view_write(env->store, env->defs, json_string_value(name), table, &res);
	if (rc) {
		if (rc != FS_EINVALID && rc != FS_ENOTFOUND)
			env->store_errors = 1;
		status = fail(out, status_of(rc), fs_error_last());
		goto done;
	}
	status = reply_views(out, res);
done:
	json_decref(res);
	fs_source_close(table);
	release_body(req);
	return status;
}

/* a request's time field: RFC 3339 (naive is UTC), as Feast's dateutil parse reads isoformat() */
static int req_time(const json_t *req, const char *field, int64_t *us, struct strbuf *out)
{
	const json_t *v = json_object_get(req, field);
	char msg[512];

	if (json_is_string(v) &&
	    !fs_time_parse_arg(json_string_value(v), (int64_t)time(NULL), us))
		return 0;
	snprintf(msg, sizeof(msg), "%s: expected a time like \"2024-05-01T10:00:00\"%s%s", field,
		 json_is_string(v) ? ", got " : "", json_is_string(v) ? json_string_value(v) : "");
	return fail(out, 400, msg);
}

/*
 * Feast's SDK with a remote online store: POST /materialize and
 * /materialize-incremental run what fs materialize(-incremental) runs,
 * under the same per-view lock (busy: 409, as Feast's async path) and
 * recording the same intervals.
 */
static int materialize(struct fs_serve_env *env, const char *body, size_t len, bool incremental,
		       struct strbuf *out)
{
	json_t *req, *views, *v, *res = NULL;
	struct fs_mat_opts opts = { .incremental = incremental, .no_wait = true };
	const char **names = NULL;
	struct fs_repo *repo = NULL;
	struct fs_diags diags = { 0 };
	char msg[1024];
	size_t i;
	int status, rc;

	if ((status = parse_body(body, len, &req, out)))
		return status;
	if (!env->root) {
		status = fail(out, 503, "materialize: this server has no repository");
		goto done;
	}
	if ((status = req_time(req, "end_ts", &opts.end_us, out)))
		goto done;
	if (!incremental) {
		if (json_is_true(json_object_get(req, "disable_event_timestamp"))) {
			opts.start_us = 0;
			opts.end_us = (int64_t)time(NULL) * FS_USEC;
		} else if ((status = req_time(req, "start_ts", &opts.start_us, out))) {
			goto done;
		}
		if (opts.start_us >= opts.end_us) {
			status = fail(out, 400, "start_ts must be before end_ts");
			goto done;
		}
	}
	views = json_object_get(req, "feature_views");
	if (views && !json_is_null(views)) {
		if (!json_is_array(views)) {
			status = fail(out, 400, "feature_views: expected a list of feature view names");
			goto done;
		}
		names = xcalloc(json_array_size(views) + 1, sizeof(*names));
		json_array_foreach(views, i, v) {
			if (!json_is_string(v)) {
				snprintf(msg, sizeof(msg), "feature_views[%zu]: expected a name", i);
				status = fail(out, 400, msg);
				goto done;
			}
			if (!fs_defs_find(env->defs, FS_KIND_FEATURE_VIEW, json_string_value(v))) {
				snprintf(msg, sizeof(msg), "Feature view %.200s does not exist%.300s",
					 json_string_value(v), view_hint(env, json_string_value(v)));
				status = feast_fail(out, 404, "FeatureViewNotFoundException", msg);
				goto done;
			}
			names[opts.nviews++] = json_string_value(v);
		}
		opts.views = names;
	}
	if ((rc = fs_repo_open(&repo, env->root, &diags)) ||
	    (rc = fs_materialize(repo, &opts, &res))) {
		if (rc == FS_ELOCKED)
			status = reply_json(out, 409,
					    json_pack("{s:s, s:O}", "error", fs_error_last(),
						      "feature_views",
						      views && json_is_array(views) ? views : json_null()));
		else
			status = fail(out, status_of(rc), fs_error_last());
		goto done;
	}
	status = reply_views(out, res);
done:
	fs_diags_release(&diags);
	fs_repo_free(repo);
	json_decref(res);
	free(names);
	release_body(req);
	return status;
}

/* Content-Disposition naming base (quotes, backslashes and control characters as '_') */
static void set_disposition(struct fs_serve_env *env, const char *base, const char *suffix)
{
	size_t i;
	int n = snprintf(env->disposition, sizeof(env->disposition), "attachment; filename=\"");

	for (i = 0; base[i] && (size_t)n < sizeof(env->disposition) - 16; i++) {
		unsigned char c = (unsigned char)base[i];
		env->disposition[n++] = c < 0x20 || c == 0x7f || c == '"' || c == '\\' ? '_' : (char)c;
	}
	snprintf(env->disposition + n, sizeof(env->disposition) - (size_t)n, "%s\"", suffix);
}

/* GET /models/NAME/REF/artifact: the stored file as it is, a directory as a tar archive */
static int model_artifact(struct fs_serve_env *env, const char *key, const json_t *v,
			  struct strbuf *out)
{
	const char *kind = json_string_value(json_object_get(v, "artifact_kind"));
	const char *sha = json_string_value(json_object_get(v, "sha256"));
	const char *src = json_string_value(json_object_get(v, "source_uri"));
	const char *base = strrchr(src, '/');
	char msg[1024];
	int rc;

	if (!env->config || !json_is_true(json_object_get(v, "stored"))) {
		snprintf(msg, sizeof(msg), "the artifact of '%s' is not in the artifact store: fetch it from '%s'",
			 key, src);
		return fail(out, 404, msg);
	}
	base = base && base[1] ? base + 1 : "artifact";
	if (!strcmp(kind, "directory")) {
		sb_reset(out);
		rc = fs_artifact_tar(out, env->config->artifact_store, sha);
		if (rc)
			return fail(out, 500, fs_error_last());
		env->content_type = "application/x-tar";
		set_disposition(env, base, ".tar");
		return 200;
	}
	rc = fs_artifact_open(&env->body_fd, &env->body_size, env->config->artifact_store, sha);
	if (rc)
		return fail(out, rc == FS_ENOTFOUND ? 404 : 500, fs_error_last());
	env->has_body_fd = true;
	env->content_type = "application/octet-stream";
	set_disposition(env, base, "");
	sb_reset(out);
	return 200;
}

static int model(struct fs_serve_env *env, const char *path, struct strbuf *out)
{
	const char *rest = path + strlen("/models/"), *slash = strchr(rest, '/'), *tail;
	char key[2 * FS_NAME_MAX + 8];
	const json_t *v = NULL;
	json_t *res;
	size_t n, i;
	bool artifact = false;
	char *text;

	/* NAME/REF or NAME/REF/artifact; REF a stage (any case) or an alias */
	if (slash) {
		tail = strchr(slash + 1, '/');
		n = tail ? (size_t)(tail - rest) : strlen(rest);
		artifact = tail && !strcmp(tail, "/artifact");
		if ((!tail || artifact) && n < sizeof(key)) {
			memcpy(key, rest, n);
			key[n] = '\0';
			for (i = (size_t)(slash - rest); i < n; i++)
				if (key[i] >= 'A' && key[i] <= 'Z')
					key[i] = (char)(key[i] - 'A' + 'a');
			v = json_object_get(env->models, key);
		}
	}
	if (!v) {
		char msg[512];
		snprintf(msg, sizeof(msg),
			 "no model version for '%s' (expected /models/NAME/STAGE, /models/NAME/ALIAS or .../artifact)",
			 rest);
		return fail(out, 404, msg);
	}
	if (artifact)
		return model_artifact(env, key, v, out);
	res = json_deep_copy(v);
	json_object_del(res, "stored");
	json_object_set_new(res, "artifact_url", json_sprintf("/models/%s/artifact", key));
	/* metrics as the shortest text that reads back the same */
	text = fs_json_dumps(res, 0);
	json_decref(res);
	sb_reset(out);
	sb_adds(out, text);
	free(text);
	return 200;
}


/* ---- /api/v1/: the web UI's read-only JSON API ---- */

/* j (stolen) as the body, compact, reals as fs prints them; 200 */
static int reply_api(struct strbuf *out, json_t *j)
{
	char *text = fs_json_dumps(j, 0);

	sb_reset(out);
	sb_adds(out, text);
	free(text);
	json_decref(j);
	return 200;
}

/*
 * GET /api/v1/objects: fs ls --json with each object's spec, the project,
 * and the newest apply (fs log -n 1 --json)
 */
static int api_objects(struct fs_serve_env *env, struct fs_registry *reg, struct strbuf *out)
{
	struct fs_defs defs = { 0 };
	json_t *res, *log = NULL, *last, *o;
	size_t i;
	int rc;

	/* one read transaction: the objects and the apply that made them */
	sqlite3_exec(fs_registry_db(reg), "BEGIN", NULL, NULL, NULL);
	if ((rc = fs_registry_load(reg, &defs)) || (rc = fs_inspect_log(reg, NULL, 1, &log))) {
		sqlite3_exec(fs_registry_db(reg), "ROLLBACK", NULL, NULL, NULL);
		fs_defs_release(&defs);
		return fail(out, status_of(rc), fs_error_last());
	}
	sqlite3_exec(fs_registry_db(reg), "COMMIT", NULL, NULL, NULL);
	last = json_array_get(json_object_get(log, "applies"), 0);
	res = fs_inspect_objects(&defs, FS_KIND__COUNT);
	/* and each object's spec: the page draws the lineage graph from them */
	json_array_foreach(json_object_get(res, "objects"), i, o)
		json_object_set(o, "spec", defs.objs[i].spec);
	json_object_set_new(res, "project",
			    env->config && env->config->project ? json_string(env->config->project)
								: json_null());
	json_object_set_new(res, "registry_version",
			    json_integer(last ? json_integer_value(json_object_get(last, "registry_version")) : 0));
	json_object_set(res, "last_apply", last ? last : json_null());
	json_decref(log);
	fs_defs_release(&defs);
	return reply_api(out, res);
}

/* GET /api/v1/objects/KIND/NAME: fs describe KIND NAME --json, with every version */
static int api_object(struct fs_serve_env *env, struct fs_registry *reg, const char *kindname,
		      const char *name, struct strbuf *out)
{
	struct fs_defs defs = { 0 };
	const struct fs_object *o;
	enum fs_kind kind;
	json_t *res = NULL, *versions;
	char msg[512];
	int rc, status;

	if (fs_kind_parse(&kind, kindname)) {
		snprintf(msg, sizeof(msg),
			 "unknown kind '%.200s' (expected entity, source, feature_view, feature_service or model)",
			 kindname);
		return fail(out, 404, msg);
	}
	if ((rc = fs_registry_load(reg, &defs))) {
		status = fail(out, status_of(rc), fs_error_last());
		goto done;
	}
	if (!(o = fs_defs_find(&defs, kind, name))) {
		rc = fs_unknown_name(&defs, env->root, FS_KIND_BIT(kind), name, NULL);
		status = fail(out, status_of(rc), fs_error_last());
		goto done;
	}
	if ((rc = fs_registry_object_versions(reg, kind, name, &versions))) {
		status = fail(out, status_of(rc), fs_error_last());
		goto done;
	}
	res = fs_inspect_object(o);
	json_object_set_new(res, "versions", versions);
	status = reply_api(out, res);
done:
	fs_defs_release(&defs);
	return status;
}

/* GET /api/v1/models/NAME: fs models NAME --json and fs models log NAME --json in one */
static int api_model(struct fs_registry *reg, const char *name, struct strbuf *out)
{
	json_t *list, *log, *res;
	int rc;

	if ((rc = fs_inspect_models(reg, name, &list)))
		return fail(out, status_of(rc), fs_error_last());
	if ((rc = fs_inspect_models_log(reg, name, &log))) {
		json_decref(list);
		return fail(out, status_of(rc), fs_error_last());
	}
	res = json_pack("{s:s, s:O, s:O, s:O}", "model", name, "versions",
			json_object_get(list, "versions"), "transitions",
			json_object_get(log, "transitions"), "alias_changes",
			json_object_get(log, "alias_changes"));
	json_decref(list);
	json_decref(log);
	return reply_api(out, res);
}

/* GET /api/v1/log[?n=N]: fs log [-n N] --json */
static int api_log(struct fs_serve_env *env, struct fs_registry *reg, struct strbuf *out)
{
	const char *n = env->query ? env->query(env->query_cls, "n") : NULL;
	long long max = -1;
	json_t *res;
	int rc;

	if (n) {
		char *end, msg[256];
		errno = 0;
		max = strtoll(n, &end, 10);
		if (end == n || *end || errno || max < 0) {
			snprintf(msg, sizeof(msg), "n: '%.100s' is not a count (expected 0 or more)", n);
			return fail(out, 400, msg);
		}
	}
	if ((rc = fs_inspect_log(reg, NULL, max, &res)))
		return fail(out, status_of(rc), fs_error_last());
	return reply_api(out, res);
}

/* GET /api/v1/status: fs status --json */
static int api_status(struct fs_serve_env *env, struct fs_registry *reg, struct strbuf *out)
{
	struct fs_defs defs = { 0 };
	json_t *res;
	int rc;

	if (!env->repo || !env->store)
		return fail(out, 503, "status: this server has no repository");
	if ((rc = fs_registry_load(reg, &defs)))
		return fail(out, status_of(rc), fs_error_last());
	if ((rc = fs_inspect_status(env->repo, reg, &defs, env->store, env->now_us / FS_USEC, &res))) {
		fs_defs_release(&defs);
		env->store_errors = 1; /* the online store, or the registry under it */
		return fail(out, status_of(rc), fs_error_last());
	}
	fs_defs_release(&defs);
	return reply_api(out, res);
}

enum api_ep { API_NONE, API_OBJECTS, API_OBJECT, API_MODELS, API_MODEL, API_LOG, API_STATUS };

/*
 * /api/v1/<rest>: the segments of rest (the server has percent-decoded
 * them) matched exactly. An empty segment (a trailing slash, "//") or a
 * segment too many is no endpoint.
 */
static int api(struct fs_serve_env *env, const char *method, const char *rest, struct strbuf *out)
{
	char *copy = xstrdup(rest), *seg[4], *p = copy;
	enum api_ep ep = API_NONE;
	struct fs_registry *reg = NULL;
	size_t n = 0, i;
	bool empty = false;
	int status;

	/* up to 4 segments: a fourth means too many */
	for (;;) {
		char *slash = strchr(p, '/');
		seg[n++] = p;
		if (!slash || n == 4)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	for (i = 0; i < n; i++)
		if (!seg[i][0])
			empty = true;
	if (empty)
		ep = API_NONE;
	else if (n == 1)
		ep = !strcmp(seg[0], "objects") ? API_OBJECTS
		     : !strcmp(seg[0], "models") ? API_MODELS
		     : !strcmp(seg[0], "log")    ? API_LOG
		     : !strcmp(seg[0], "status") ? API_STATUS
						 : API_NONE;
	else if (n == 2 && !strcmp(seg[0], "models"))
		ep = API_MODEL;
	else if (n == 3 && !strcmp(seg[0], "objects"))
		ep = API_OBJECT;
	if (ep == API_NONE) {
		status = fail(out, 404, "no such endpoint");
		goto done;
	}
	if (strcmp(method, "GET")) {
		env->allow = "GET";
		status = fail(out, 405, "use GET");
		goto done;
	}
	if (!env->registry_path) {
		status = fail(out, 503, "this server has no registry");
		goto done;
	}
	/* a connection of this request's own: it sees every apply made so far */
	if (fs_registry_open(&reg, env->registry_path)) {
		status = fail(out, 503, fs_error_last());
		goto done;
	}
	switch (ep) {
	case API_OBJECTS:
		status = api_objects(env, reg, out);
		break;
	case API_OBJECT:
		status = api_object(env, reg, seg[1], seg[2], out);
		break;
	case API_MODELS: {
		json_t *res;
		int rc = fs_inspect_models(reg, NULL, &res);
		status = rc ? fail(out, status_of(rc), fs_error_last()) : reply_api(out, res);
		break;
	}
	case API_MODEL:
		status = api_model(reg, seg[1], out);
		break;
	case API_LOG:
		status = api_log(env, reg, out);
		break;
	case API_STATUS:
		status = api_status(env, reg, out);
		break;
	default:
		status = fail(out, 404, "no such endpoint");
	}
done:
	fs_registry_free(reg);
	free(copy);
	return status;
}

int fs_serve_request(struct fs_serve_env *env, const char *method, const char *path,
		     const char *body, size_t len, struct strbuf *out)
{
	bool post = !strcmp(method, "POST"), get = !strcmp(method, "GET");

	if (!strcmp(path, "/get-online-features"))
		return post ? get_online(env, body, len, out) : fail(out, 405, "use POST");
	if (!strcmp(path, "/push"))
		return post ? push(env, body, len, out) : fail(out, 405, "use POST");
	if (!strcmp(path, "/write-to-online-store"))
		return post ? write_online(env, body, len, out) : fail(out, 405, "use POST");
	if (!strcmp(path, "/materialize") || !strcmp(path, "/materialize-incremental"))
		return post ? materialize(env, body, len, path[12] == '-', out)
			    : fail(out, 405, "use POST");
	if (starts_with(path, "/models/"))
		return get ? model(env, path, out) : fail(out, 405, "use GET");
	if (starts_with(path, "/api/v1/"))
		return api(env, method, path + strlen("/api/v1/"), out);
	return fail(out, 404, "no such endpoint");
}

/* What /models/NAME/REF answers of version v (alias: the alias asked for, or NULL). */
static json_t *served_version(const json_t *v, const char *alias)
{
	const json_t *art = json_object_get(v, "artifact");
	const char *sha = json_string_value(json_object_get(art, "sha256"));
	bool stored = json_is_string(json_object_get(art, "path"));
	json_t *res = json_pack("{s:O, s:O, s:O, s:O, s:o, s:O, s:O, s:O, s:O, s:O, s:b}", "model",
				json_object_get(v, "model"), "version", json_object_get(v, "version"),
				"stage", json_object_get(v, "stage"), "aliases",
				json_object_get(v, "aliases"), "artifact_uri",
				stored ? json_sprintf("fs-artifacts:sha256:%s", sha)
				       : json_incref(json_object_get(art, "uri")),
				"source_uri", json_object_get(art, "uri"), "artifact_kind",
				json_object_get(art, "kind"), "sha256", json_object_get(art, "sha256"),
				"metrics", json_object_get(v, "metrics"), "lineage",
				json_object_get(v, "lineage"), "stored", stored);

	if (alias)
		json_object_set_new(res, "alias", json_string(alias));
	return res;
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
		json_object_set_new(map, key, served_version(v, NULL));
		free(key);
	}
	/* then the aliases, each to the version it names */
	json_array_foreach(all, i, v) {
		json_t *a;
		size_t j;
		json_array_foreach(json_object_get(v, "aliases"), j, a) {
			char *key = xstrfmt("%s/%s", json_string_value(json_object_get(v, "model")),
					    json_string_value(a));
			json_object_set_new(map, key, served_version(v, json_string_value(a)));
			free(key);
		}
	}
	json_decref(all);
	*out = map;
	return 0;
}
