/*
 * serve.h: the HTTP API of serve-lite as plain functions, independent of
 * the HTTP server: one request (method, path, body) in, a status code and
 * a JSON body out. The server (server.c) adds sockets, auth, metrics and
 * logging; the fuzzer calls this directly.
 *
 *   POST /get-online-features  Feast's request and response
 *   POST /push                 {"push_source_name", "df": {col: [...]}, "to": "online"}
 *   POST /write-to-online-store  {"feature_view_name", "df"}: Feast's remote online store
 *   POST /materialize          {"start_ts", "end_ts", "feature_views"}
 *   POST /materialize-incremental {"end_ts", "feature_views"}
 *   GET  /models/NAME/STAGE    the version in that stage (or that ALIAS), 404 if none
 *   GET  /models/NAME/STAGE/artifact  its stored artifact: the file, or a
 *                              directory as a ustar archive
 *   GET  /api/v1/objects, /api/v1/objects/KIND/NAME, /api/v1/models,
 *        /api/v1/models/NAME, /api/v1/log[?n=N], /api/v1/status
 *                              the web UI's read-only API: what fs ls,
 *                              describe, models, models log, log and status
 *                              print with --json (core/inspect.h), read from
 *                              the registry at each request
 *
 * Bad input never crashes: it is a 4xx with {"error": "..."} naming the
 * problem (and the JSON path where there is one). What Feast's server
 * answers with a FeastError (a view, feature service or push source not
 * registered) is answered as Feast does: its status and its error body.
 */
#ifndef FS_SERVE_H
#define FS_SERVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "defs.h"
#include "online.h"
#include "registry.h"
#include "repo.h"
#include "strbuf.h"

/*
 * Plans for the feature lists requests ask for, kept per registry snapshot
 * (thread-safe; a bounded number of entries).
 */
struct fs_plan_cache;
struct fs_plan_cache *fs_plan_cache_new(void);
void fs_plan_cache_free(struct fs_plan_cache *c);

struct fs_serve_env {
	struct fs_plan_cache *plans; /* NULL: plan every request */
	const struct fs_defs *defs; /* registered definitions (a snapshot) */
	const json_t *models;       /* {"NAME/STAGE": version JSON} */
	struct fs_online *store;    /* this thread's online store */
	const char *root;           /* the repository (materialize, offline push); NULL: none */
	const struct fs_config *config; /* its configuration (offline push) */
	struct fs_repo *repo;       /* the repository (/api/v1/status); NULL: none */
	const char *registry_path;  /* the registry /api/v1/ opens per request; NULL: none */
	/* a query argument of the request (?n=3), NULL when absent; NULL: no query */
	const char *(*query)(void *cls, const char *key);
	void *query_cls;
	int64_t now_us;
	int store_errors;           /* set to 1 when the online store failed */
	/*
	 * Set by a request whose answer is not JSON: its Content-Type and
	 * Content-Disposition, and when has_body_fd a file (the caller
	 * closes it) of body_size bytes to send instead of out.
	 */
	const char *content_type;
	char disposition[512];
	const char *allow;          /* set with a 405: the Allow header */
	bool static_file;           /* a file of the web UI: its security headers */
	bool has_body_fd;
	int body_fd;
	int64_t body_size;
};

/*
 * Optional, once before any thread starts: parse request bodies in a
 * per-thread arena (it changes jansson's allocator for the process).
 */
void fs_serve_init(void);

/* Handle one request; out gets the JSON body; returns the HTTP status. */
int fs_serve_request(struct fs_serve_env *env, const char *method, const char *path,
		     const char *body, size_t len, struct strbuf *out);

/* {"error": msg} into out. */
void fs_serve_error(struct strbuf *out, const char *msg);

/*
 * The model table of the snapshot: {"NAME/STAGE": version JSON} for the
 * stages but none, and {"NAME/ALIAS": version JSON} for the aliases; each
 * with artifact_uri (fs-artifacts:sha256:HEX when the store holds it, else
 * the source URL), source_uri (what was registered), artifact_kind and
 * artifact_sha256.
 */
int fs_serve_models(struct fs_registry *reg, json_t **out);

#endif
