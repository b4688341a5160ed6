#include "server.h"
#include "stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "artifact.h"
#include "error.h"
#include "online.h"
#include "serve.h"
#include "strbuf.h"
#include "embedded.h"
#include "timeutil.h"
#include "util.h"
#include "banned.h"

/* ---- metrics ---- */

/* the paths before EP_MODELS are matched exactly; /models/NAME/STAGE and /api/v1/... by their prefix */
enum {
	EP_ONLINE,
	EP_PUSH,
	EP_WRITE_ONLINE,
	EP_MATERIALIZE,
	EP_MATERIALIZE_INCREMENTAL,
	EP_HEALTH,
	EP_METRICS,
	EP_MODELS,
	EP_API,
	EP_UI,
	EP_OTHER,
	EP__N
};
static const char *const ep_names[EP__N] = {
	"/get-online-features", "/push", "/write-to-online-store", "/materialize",
	"/materialize-incremental", "/health", "/metrics", "/models", "/api/v1", "/ui", "other",
};
static const int codes[] = { 200, 400, 401, 404, 405, 413, 500, 503 };
#define NCODES (sizeof(codes) / sizeof(codes[0]) + 1) /* + other */
static const double buckets[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
				  0.01,   0.025,   0.05,   0.1,   0.25,   1.0 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct metrics {
	unsigned long requests[EP__N][NCODES];
	unsigned long hist[EP__N][NBUCKETS + 1];
	unsigned long sum_us[EP__N];
	unsigned long store_errors;
};

/* ---- the registry snapshot ---- */

struct snapshot {
	struct fs_defs defs;
	json_t *models;
	struct fs_plan_cache *plans;
	int refs;
};

struct fs_server {
	struct fs_repo *repo;
	struct fs_server_opts o;
	struct MHD_Daemon *d;
	struct metrics m;
	pthread_mutex_t lock; /* guards snap, snap_gen and the refcounts */
	struct snapshot *snap;
	unsigned snap_gen;    /* bumped when snap is replaced */
	pthread_key_t snap_key; /* a worker's own reference (struct held) */
	bool registry_ok;
	pthread_t watcher;
	volatile int stopping;
	int inflight; /* requests begun and not completed (atomic) */
	pthread_key_t store_key;
	unsigned char (*token_digest)[32];
	/* connections waiting for a request head (head_deadline), guarded by plock */
	pthread_mutex_t plock;
	struct pending *pending;
	/* the PEM text of the TLS certificate and key: libmicrohttpd keeps pointers to it */
	struct strbuf tls_cert, tls_key;
	/* libmicrohttpd's last message while starting; set: it started (see mhd_log) */
	char mhd_msg[512];
	int started; /* atomic */
};

/*
 * A connection, from its start or its last answer until a request head
 * has come: the watcher shuts down one still waiting after FS_HEAD_DEADLINE
 * seconds (for the head of a kept-alive connection's next request, after
 * the idle timeout), however it trickles its bytes: the idle timeout alone
 * cannot tell a slow client from an active one.
 */
#define FS_HEAD_DEADLINE 10
struct pending {
	struct pending *prev, *next;
	int fd;
	bool waiting; /* for a request head */
	bool later;   /* a kept-alive connection's next head: the idle timeout is its deadline */
	bool shut;
	struct timespec since;
};

struct request {
	struct strbuf body;
	bool too_big;
	struct timespec start;
};

static void snapshot_put(struct fs_server *s, struct snapshot *snap)
{
	bool last;

	if (!snap)
		return;
	pthread_mutex_lock(&s->lock);
	last = --snap->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (last) {
		fs_plan_cache_free(snap->plans);
		fs_defs_release(&snap->defs);
		json_decref(snap->models);
		free(snap);
	}
}

static struct snapshot *snapshot_get(struct fs_server *s, unsigned *gen)
{
	struct snapshot *snap;

	pthread_mutex_lock(&s->lock);
	snap = s->snap;
	if (snap)
		snap->refs++;
	*gen = s->snap_gen;
	pthread_mutex_unlock(&s->lock);
	return snap;
}

/* A worker thread's reference to the snapshot, dropped when it exits. */
struct held {
	struct fs_server *s;
	struct snapshot *snap;
	unsigned gen;
};

static void drop_held(void *p)
{
	struct held *h = p;

	snapshot_put(h->s, h->snap);
	free(h);
}

/*
 * The current snapshot for this thread. Each worker keeps a reference and
 * takes the lock only when the watcher has replaced the snapshot, so
 * requests on different threads never wait for each other here.
 */
static struct snapshot *thread_snapshot(struct fs_server *s)
{
	struct held *h = pthread_getspecific(s->snap_key);

	if (!h) {
		h = xcalloc(1, sizeof(*h));
		h->s = s;
		pthread_setspecific(s->snap_key, h);
	}
	if (!h->snap || h->gen != __atomic_load_n(&s->snap_gen, __ATOMIC_ACQUIRE)) {
		struct snapshot *old = h->snap;
		h->snap = snapshot_get(s, &h->gen);
		snapshot_put(s, old);
	}
	return h->snap;
}

/* A token of what the registry holds: applies, model transitions and alias changes. */
static int registry_token(sqlite3 *db, char *buf, size_t len)
{
	sqlite3_stmt *st;
	int rc = FS_ERR;

	if (sqlite3_prepare_v2(db,
			       "SELECT (SELECT COALESCE(MAX(version), 0) FROM applies),"
			       " (SELECT COALESCE(MAX(id), 0) FROM model_transitions),"
			       " (SELECT COALESCE(MAX(id), 0) FROM model_alias_changes)",
			       -1, &st, NULL) != SQLITE_OK)
		return FS_ERR;
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(buf, len, "%lld/%lld/%lld", (long long)sqlite3_column_int64(st, 0),
			 (long long)sqlite3_column_int64(st, 1), (long long)sqlite3_column_int64(st, 2));
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

static int load_snapshot(struct fs_server *s, struct fs_registry *reg)
{
	struct snapshot *snap = xcalloc(1, sizeof(*snap)), *old;

	if (fs_registry_load(reg, &snap->defs) || fs_serve_models(reg, &snap->models)) {
		fs_defs_release(&snap->defs);
		free(snap);
		return FS_ERR;
	}
	snap->refs = 1;
	snap->plans = fs_plan_cache_new();
	pthread_mutex_lock(&s->lock);
	old = s->snap;
	s->snap = snap;
	__atomic_store_n(&s->snap_gen, s->snap_gen + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&s->lock);
	snapshot_put(s, old);
	return 0;
}

static void pending_set(struct fs_server *s, struct MHD_Connection *c, bool waiting)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct pending *p = ci ? ci->socket_context : NULL;

	if (!p)
		return;
	pthread_mutex_lock(&s->plock);
	p->waiting = waiting;
	p->later = true;
	clock_gettime(CLOCK_MONOTONIC, &p->since);
	pthread_mutex_unlock(&s->plock);
}

static void notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			      enum MHD_ConnectionNotificationCode code)
{
	struct fs_server *s = cls;
	struct pending *p;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		p = xcalloc(1, sizeof(*p));
		p->fd = ci ? ci->connect_fd : -1;
		p->waiting = true;
		clock_gettime(CLOCK_MONOTONIC, &p->since);
		pthread_mutex_lock(&s->plock);
		p->next = s->pending;
		if (s->pending)
			s->pending->prev = p;
		s->pending = p;
		pthread_mutex_unlock(&s->plock);
		*socket_context = p;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && (p = *socket_context)) {
		/* before MHD closes the descriptor: the watcher never touches a reused one */
		pthread_mutex_lock(&s->plock);
		if (p->prev)
			p->prev->next = p->next;
		else
			s->pending = p->next;
		if (p->next)
			p->next->prev = p->prev;
		pthread_mutex_unlock(&s->plock);
		free(p);
		*socket_context = NULL;
	}
}

/* Shut down the connections past the request-head deadline. */
static void head_deadline(struct fs_server *s)
{
	struct timespec now;
	struct pending *p;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&s->plock);
	for (p = s->pending; p; p = p->next)
		if (p->waiting && !p->shut && p->fd >= 0 &&
		    (p->later ? s->o.timeout && now.tv_sec - p->since.tv_sec > (time_t)s->o.timeout
			      : now.tv_sec - p->since.tv_sec > FS_HEAD_DEADLINE)) {
			shutdown(p->fd, SHUT_RDWR);
			p->shut = true;
		}
	pthread_mutex_unlock(&s->plock);
}

static void *watch(void *p)
{
	struct fs_server *s = p;
	struct fs_registry *reg = NULL;
	char seen[64] = "", now[64];

	while (!s->stopping) {
		head_deadline(s);
		if (!reg && fs_registry_open(&reg, fs_registry_path(s->repo->registry)))
			reg = NULL;
		if (reg && registry_token(fs_registry_db(reg), now, sizeof(now)) == 0) {
			s->registry_ok = true;
			if (strcmp(now, seen) && load_snapshot(s, reg) == 0)
				snprintf(seen, sizeof(seen), "%s", now);
		} else {
			s->registry_ok = false;
		}
		usleep(200 * 1000);
	}
	fs_registry_free(reg);
	return NULL;
}

/* ---- requests ---- */

static void close_store(void *p)
{
	fs_online_close(p);
}

static struct fs_online *thread_store(struct fs_server *s)
{
	struct fs_online *o = pthread_getspecific(s->store_key);

	if (!o && fs_online_open(&o, s->repo->config) == 0)
		pthread_setspecific(s->store_key, o);
	return o;
}

static bool authorized(struct fs_server *s, struct MHD_Connection *c)
{
	const char *h = NULL;
	unsigned char digest[65];
	bool ok = false;
	size_t i, len = 0;

	if (!s->o.ntokens)
		return true;
	if (MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, "Authorization", 13, &h, &len) !=
	    MHD_YES)
		return false;
	/* the scheme name is case-insensitive (RFC 7235 section 2.1) */
	if (!h || len < 7 || strncasecmp(h, "Bearer ", 7))
		return false;
	/* a NUL or another control character is in no token: "TOKEN\0junk" is not TOKEN */
	for (i = 7; i < len; i++)
		if ((unsigned char)h[i] < 0x20 || h[i] == 0x7f)
			return false;
	/*
	 * Compare digests in constant time: neither the token's content nor
	 * its length shows in the timing.
	 */
	{
		char hex[65];
		fs_sha256_hex(hex, h + 7, len - 7);
		memcpy(digest, hex, 64);
	}
	for (i = 0; i < s->o.ntokens; i++)
		ok |= CRYPTO_memcmp(digest, s->token_digest[i], 32) == 0;
	return ok;
}

/*
 * The web UI's static files, embedded from share/ui/: the page at / (and
 * /index.html), its script and style under /ui/. Served to anyone: they
 * hold no data, which the page reads from /api/v1/ under the token rule.
 */
static const struct ui_file {
	const char *path, *name, *type;
} ui_files[] = {
	{ "/", "index.html", "text/html; charset=utf-8" },
	{ "/index.html", "index.html", "text/html; charset=utf-8" },
	{ "/ui/app.js", "app.js", "text/javascript; charset=utf-8" },
	{ "/ui/app.css", "app.css", "text/css; charset=utf-8" },
};

static const struct ui_file *ui_file(const char *url)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ui_files); i++)
		if (!strcmp(url, ui_files[i].path))
			return &ui_files[i];
	return NULL;
}

static int endpoint_of(const char *url)
{
	int i;

	for (i = 0; i < EP_MODELS; i++)
		if (!strcmp(url, ep_names[i]))
			return i;
	return starts_with(url, "/models/")   ? EP_MODELS
	       : starts_with(url, "/api/v1/") ? EP_API
	       : ui_file(url)		      ? EP_UI
					      : EP_OTHER;
}

static void count(struct fs_server *s, int ep, int status, double secs)
{
	size_t i, ci;

	for (ci = 0; ci < NCODES - 1 && codes[ci] != status; ci++)
		;
	__atomic_fetch_add(&s->m.requests[ep][ci], 1, __ATOMIC_RELAXED);
	for (i = 0; i < NBUCKETS && secs > buckets[i]; i++)
		;
	__atomic_fetch_add(&s->m.hist[ep][i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->m.sum_us[ep], (unsigned long)(secs * 1e6), __ATOMIC_RELAXED);
}

static void metrics_text(struct fs_server *s, struct strbuf *out)
{
	size_t e, c, b;

	sb_adds(out, "# HELP fs_requests_total HTTP requests by endpoint and status code.\n"
		     "# TYPE fs_requests_total counter\n");
	for (e = 0; e < EP__N; e++)
		for (c = 0; c < NCODES; c++) {
			unsigned long v = __atomic_load_n(&s->m.requests[e][c], __ATOMIC_RELAXED);
			if (!v)
				continue;
			if (c < NCODES - 1)
				sb_addf(out, "fs_requests_total{endpoint=\"%s\",code=\"%d\"} %lu\n",
					ep_names[e], codes[c], v);
			else
				sb_addf(out, "fs_requests_total{endpoint=\"%s\",code=\"other\"} %lu\n",
					ep_names[e], v);
		}
	sb_adds(out, "# HELP fs_request_duration_seconds Time to answer a request.\n"
		     "# TYPE fs_request_duration_seconds histogram\n");
	for (e = 0; e < EP__N; e++) {
		unsigned long cum = 0;
		for (b = 0; b <= NBUCKETS; b++) {
			cum += __atomic_load_n(&s->m.hist[e][b], __ATOMIC_RELAXED);
			if (b < NBUCKETS)
				sb_addf(out, "fs_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %lu\n",
					ep_names[e], buckets[b], cum);
			else
				sb_addf(out, "fs_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %lu\n",
					ep_names[e], cum);
		}
		sb_addf(out, "fs_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n", ep_names[e],
			(double)__atomic_load_n(&s->m.sum_us[e], __ATOMIC_RELAXED) / 1e6);
		sb_addf(out, "fs_request_duration_seconds_count{endpoint=\"%s\"} %lu\n", ep_names[e], cum);
	}
	sb_adds(out, "# HELP fs_online_store_errors_total Online store failures while serving.\n"
		     "# TYPE fs_online_store_errors_total counter\n");
	sb_addf(out, "fs_online_store_errors_total %lu\n",
		__atomic_load_n(&s->m.store_errors, __ATOMIC_RELAXED));
}

/*
 * What fs stream has stored in this server's online store: per stream
 * source its events by result and each partition's position (a Redis
 * entry id as its milliseconds). Lag needs the broker: fs status has it.
 */
static void stream_metrics(struct fs_server *s, struct strbuf *out)
{
	struct snapshot *snap = thread_snapshot(s);
	struct fs_online *store = thread_store(s);
	json_t *streams = NULL, *v, *p;
	size_t i, j;

	if (!snap || !store || fs_stream_status(store, s->repo, &snap->defs, false, &streams)) {
		json_decref(streams);
		return;
	}
	if (json_array_size(streams))
		sb_adds(out, "# HELP fs_stream_events_total Events fs stream has written, by result.\n"
			     "# TYPE fs_stream_events_total counter\n");
	json_array_foreach(streams, i, v) {
		const char *src = json_string_value(json_object_get(v, "source"));
		static const char *const results[] = { "applied", "bad", "late" };
		for (j = 0; j < 3; j++)
			sb_addf(out, "fs_stream_events_total{source=\"%s\",result=\"%s\"} %lld\n", src,
				results[j],
				(long long)json_integer_value(json_object_get(v, results[j])));
	}
	if (json_array_size(streams))
		sb_adds(out, "# HELP fs_stream_position The stored position of each partition"
			     " (a Kafka offset; a Redis stream's entry id milliseconds).\n"
			     "# TYPE fs_stream_position gauge\n");
	json_array_foreach(streams, i, v) {
		json_array_foreach(json_object_get(v, "partitions"), j, p) {
			json_t *pos = json_object_get(p, "position");
			sb_addf(out, "fs_stream_position{source=\"%s\",partition=\"%lld\"} %lld\n",
				json_string_value(json_object_get(v, "source")),
				(long long)json_integer_value(json_object_get(p, "partition")),
				json_is_integer(pos) ? (long long)json_integer_value(pos)
						     : strtoll(json_string_value(pos), NULL, 10));
		}
	}
	json_decref(streams);
}

/*
 * As many connections as the descriptors allow: the soft RLIMIT_NOFILE is
 * raised to the hard one, and all but a reserve (the stores, the log,
 * the registry) may be connections. One address may hold at most
 * FS_SERVE_PER_ADDRESS of them, so that slow or idle clients from one
 * place cannot take them all.
 */
static unsigned connection_limit(void)
{
	struct rlimit rl;
	rlim_t n;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max == RLIM_INFINITY ? 65536 : rl.rlim_max;
		struct rlimit raised = { want, rl.rlim_max };
		if (!setrlimit(RLIMIT_NOFILE, &raised))
			rl.rlim_cur = want;
	}
	n = rl.rlim_cur == RLIM_INFINITY ? 65536 : rl.rlim_cur;
	n = n > 256 + 64 ? n - 256 : 64;
	return n > 65536 ? 65536 : (unsigned)n;
}

/*
 * Send body, or when env asks for it (a model artifact) the file env
 * holds open (the response takes it) with env's headers.
 */
static enum MHD_Result reply(struct MHD_Connection *c, int status, struct strbuf *body,
			     const char *type, struct fs_serve_env *env)
{
	size_t len = body->len;
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (env && env->has_body_fd) {
		r = MHD_create_response_from_fd((uint64_t)env->body_size, env->body_fd);
		env->has_body_fd = false;
		if (!r) {
			close(env->body_fd);
			return MHD_NO;
		}
	} else {
		r = MHD_create_response_from_buffer(len, sb_detach(body), MHD_RESPMEM_MUST_FREE);
	}
	if (env && env->content_type)
		type = env->content_type;
	if (env && env->disposition[0])
		MHD_add_response_header(r, "Content-Disposition", env->disposition);
	MHD_add_response_header(r, "Content-Type", type);
	if (status == 401)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
	if (env && env->allow)
		MHD_add_response_header(r, "Allow", env->allow);
	if (env && env->static_file) {
		/* the page runs its own script and style, and nothing from elsewhere */
		MHD_add_response_header(r, "Content-Security-Policy",
					"default-src 'none'; script-src 'self'; style-src 'self'; "
					"img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
					"form-action 'none'; frame-ancestors 'none'");
		MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
		MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
		MHD_add_response_header(r, "Cache-Control", "no-cache");
	}
	ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * A request field in the access log: control characters, quotes and
 * backslashes escaped (\xNN), so that a request cannot forge a log line.
 */
static void log_field(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
}

/* A query argument of the request on connection cls (env.query). */
static const char *query_arg(void *cls, const char *key)
{
	return MHD_lookup_connection_value(cls, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct fs_server *s = cls;
	struct request *req = *con_cls;
	struct strbuf out = STRBUF_INIT;
	struct fs_serve_env env = { 0 };
	const char *type = "application/json";
	struct timespec t1;
	size_t sent;
	int status, ep;
	enum MHD_Result ret;

	if (!req) {
		/* the request head is in */
		pending_set(s, c, false);
		req = xcalloc(1, sizeof(*req));
		sb_init(&req->body);
		clock_gettime(CLOCK_MONOTONIC, &req->start);
		*con_cls = req;
		__atomic_fetch_add(&s->inflight, 1, __ATOMIC_SEQ_CST);
		return MHD_YES;
	}
	if (*upload_size) {
		if (req->body.len + *upload_size > s->o.max_body)
			req->too_big = true;
		else
			sb_add(&req->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	sb_init(&out);
	ep = endpoint_of(url);
	if (req->too_big) {
		char msg[128];
		snprintf(msg, sizeof(msg), "request body larger than %zu bytes", s->o.max_body);
		fs_serve_error(&out, msg);
		status = 413;
	} else if (ep == EP_HEALTH) {
		struct fs_online *store = thread_store(s);
		bool online = store && fs_online_ping(store) == 0;
		/* HEAD as GET (load balancers probe with it): the server sends no body */
		if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
			fs_serve_error(&out, "use GET");
			status = 405;
		} else if (s->registry_ok && s->snap && online) {
			sb_adds(&out, "{\"status\":\"ok\"}");
			status = 200;
		} else {
			/* name what is down */
			fs_serve_error(&out, !online ? "online store unavailable" : "registry unavailable");
			status = 503;
		}
	} else if (ep == EP_UI) {
		const struct ui_file *f = ui_file(url);
		const struct fs_embedded *e = fs_embedded_get(f->name);
		/* HEAD as GET: the server sends no body */
		if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
			fs_serve_error(&out, "use GET");
			env.allow = "GET, HEAD";
			status = 405;
		} else if (!e) {
			fs_serve_error(&out, "this fs was built without its web UI");
			status = 404;
		} else {
			sb_add(&out, e->data, e->len);
			env.content_type = f->type;
			env.static_file = true;
			status = 200;
		}
	} else if (!authorized(s, c)) {
		fs_serve_error(&out, "unauthorized: send Authorization: Bearer <token>");
		status = 401;
	} else if (ep == EP_METRICS) {
		metrics_text(s, &out);
		stream_metrics(s, &out);
		type = "text/plain; version=0.0.4";
		status = 200;
	} else {
		struct snapshot *snap = thread_snapshot(s);

		env.store = thread_store(s);
		if (!snap || !env.store) {
			fs_serve_error(&out, !snap ? "registry not loaded yet" : "online store unavailable");
			status = 503;
		} else {
			env.defs = &snap->defs;
			env.models = snap->models;
			env.root = s->repo->root;
			env.config = s->repo->config;
			env.plans = snap->plans;
			env.repo = s->repo;
			env.registry_path = fs_registry_path(s->repo->registry);
			env.query = query_arg;
			env.query_cls = c;
			env.now_us = (int64_t)time(NULL) * FS_USEC;
			status = fs_serve_request(&env, method, url, sb_str(&req->body), req->body.len,
						  &out);
			if (env.store_errors)
				__atomic_fetch_add(&s->m.store_errors, 1, __ATOMIC_RELAXED);
		}
	}
	/* reply hands the buffer (or the file) over */
	sent = env.has_body_fd ? (size_t)env.body_size : out.len;
	ret = reply(c, status, &out, type, &env);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	{
		double secs = (double)(t1.tv_sec - req->start.tv_sec) +
			      (double)(t1.tv_nsec - req->start.tv_nsec) / 1e9;
		count(s, ep, status, secs);
		if (s->o.access_log) {
			char when[FS_TIME_BUFSZ];
			fs_time_format(when, (int64_t)time(NULL));
			flockfile(s->o.access_log);
			fprintf(s->o.access_log, "%s \"", when);
			log_field(s->o.access_log, method);
			fputc(' ', s->o.access_log);
			log_field(s->o.access_log, url);
			fprintf(s->o.access_log, "\" %d %zu %.3fms\n", status, sent, secs * 1e3);
			fflush(s->o.access_log);
			funlockfile(s->o.access_log);
		}
	}
	sb_release(&out);
	return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct fs_server *s = cls;
	struct request *req = *con_cls;

	if (req) {
		sb_release(&req->body);
		free(req);
		*con_cls = NULL;
		__atomic_fetch_sub(&s->inflight, 1, __ATOMIC_SEQ_CST);
		/* the next request head of a kept-alive connection: its deadline from now */
		pending_set(s, c, true);
	}
}

/* OpenSSL asks for no passphrase: an encrypted key is refused, not prompted for. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/*
 * Read the TLS certificate and key files into s, checked with OpenSSL's
 * PEM reader first: libmicrohttpd refusing them says neither which file
 * is at fault nor why.
 */
static int load_tls(struct fs_server *s)
{
	const char *cert_path = s->o.tls_cert, *key_path = s->o.tls_key;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	BIO *bio;
	int rc = FS_EINVALID;

	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		fs_error_set("this libmicrohttpd was built without TLS:"
			     " --tls-cert and --tls-key need one built with GnuTLS");
		return FS_ERR;
	}
	if (sb_read_file(&s->tls_cert, cert_path) < 0) {
		fs_error_set("cannot read TLS certificate '%s': %s", cert_path, strerror(errno));
		return FS_ERR;
	}
	if (sb_read_file(&s->tls_key, key_path) < 0) {
		fs_error_set("cannot read TLS key '%s': %s", key_path, strerror(errno));
		return FS_ERR;
	}
	/* libmicrohttpd reads each as a C string: what a NUL cuts off is not seen here either */
	bio = BIO_new_mem_buf(sb_str(&s->tls_cert), -1);
	cert = bio ? PEM_read_bio_X509(bio, NULL, no_passphrase, NULL) : NULL;
	BIO_free(bio);
	if (!cert) {
		fs_error_set("TLS certificate '%s': no PEM certificate in it", cert_path);
		goto done;
	}
	bio = BIO_new_mem_buf(sb_str(&s->tls_key), -1);
	key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
	BIO_free(bio);
	if (!key) {
		fs_error_set("TLS key '%s': no unencrypted PEM private key in it", key_path);
		goto done;
	}
	if (X509_check_private_key(cert, key) != 1) {
		fs_error_set("TLS key '%s' does not match the certificate '%s'", key_path,
			     cert_path);
		goto done;
	}
	rc = 0;
done:
	ERR_clear_error();
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

static void release_tls(struct fs_server *s)
{
	if (s->tls_key.buf)
		OPENSSL_cleanse(s->tls_key.buf, s->tls_key.len);
	sb_release(&s->tls_key);
	sb_release(&s->tls_cert);
}

/*
 * libmicrohttpd's own messages never reach stderr as they are: while the
 * daemon starts, the last one is kept for fs's error (say, why TLS
 * failed); once it serves, they go to the access log, when there is one.
 */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct fs_server *s = cls;
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == '.'))
		msg[--n] = '\0';
	if (!__atomic_load_n(&s->started, __ATOMIC_ACQUIRE)) {
		memcpy(s->mhd_msg, msg, n + 1);
		return;
	}
	if (s->o.access_log) {
		flockfile(s->o.access_log);
		fputs("libmicrohttpd: ", s->o.access_log);
		log_field(s->o.access_log, msg);
		fputc('\n', s->o.access_log);
		fflush(s->o.access_log);
		funlockfile(s->o.access_log);
	}
}

int fs_server_start(struct fs_server **out, struct fs_repo *repo, const struct fs_server_opts *o)
{
	struct fs_server *s = xcalloc(1, sizeof(*s));
	struct addrinfo hints = { 0 }, *ai = NULL;
	struct MHD_OptionItem tls[3] = { { MHD_OPTION_END, 0, NULL } };
	char port[16];
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	size_t i;
	int rc;

	*out = NULL;
	s->repo = repo;
	s->o = *o;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->plock, NULL);
	pthread_key_create(&s->store_key, close_store);
	pthread_key_create(&s->snap_key, drop_held);
	sb_init(&s->tls_cert);
	sb_init(&s->tls_key);
	if (o->tls_cert) {
		if ((rc = load_tls(s)))
			goto fail;
		flags |= MHD_USE_TLS;
		/* tls[2] stays MHD_OPTION_END; without TLS, tls[0] ends an empty list */
		tls[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert.buf };
		tls[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key.buf };
	}
	s->token_digest = xcalloc(o->ntokens + 1, sizeof(*s->token_digest));
	for (i = 0; i < o->ntokens; i++) {
		char hex[65];
		fs_sha256_hex(hex, o->tokens[i], strlen(o->tokens[i]));
		memcpy(s->token_digest[i], hex, 32);
	}
	fs_serve_init();
	/* the first snapshot before the first request */
	if ((rc = load_snapshot(s, repo->registry)))
		goto fail;
	s->registry_ok = true;
	snprintf(port, sizeof(port), "%d", o->port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(o->host, port, &hints, &ai) || !ai) {
		fs_error_set("cannot resolve host '%s'", o->host);
		rc = FS_EINVALID;
		goto fail;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	errno = 0;
	s->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, handle, s,
				MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(o->threads ? o->threads : 1),
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout,
				MHD_OPTION_CONNECTION_LIMIT, connection_limit(),
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)FS_SERVE_PER_ADDRESS,
				MHD_OPTION_NOTIFY_COMPLETED, completed, s,
				MHD_OPTION_NOTIFY_CONNECTION, notify_connection, s,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
				MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
	__atomic_store_n(&s->started, 1, __ATOMIC_RELEASE);
	freeaddrinfo(ai);
	if (!s->d && o->tls_cert) {
		/* libmicrohttpd's message says more than errno */
		fs_error_set("cannot serve HTTPS on %s:%d with certificate '%s' and key '%s': %s",
			     o->host, o->port, o->tls_cert, o->tls_key,
			     *s->mhd_msg ? s->mhd_msg
			     : errno    ? strerror(errno)
					: "libmicrohttpd refused them");
		rc = FS_ERR;
		goto fail;
	}
	if (!s->d) {
		fs_error_set("cannot listen on %s:%d: %s", o->host, o->port,
			     errno ? strerror(errno) : "libmicrohttpd refused to start");
		rc = FS_ERR;
		goto fail;
	}
	pthread_create(&s->watcher, NULL, watch, s);
	*out = s;
	return 0;
fail:
	snapshot_put(s, s->snap);
	release_tls(s);
	free(s->token_digest);
	pthread_key_delete(s->store_key);
	pthread_key_delete(s->snap_key);
	free(s);
	return rc;
}

int fs_server_port(const struct fs_server *s)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	return info ? info->port : 0;
}

void fs_server_stop(struct fs_server *s)
{
	int i;

	if (!s)
		return;
	MHD_quiesce_daemon(s->d); /* no new connections */
	/*
	 * Let the requests in flight finish (up to 10 s); idle keep-alive
	 * connections hold no request and must not delay the exit.
	 */
	for (i = 0; i < 100 && __atomic_load_n(&s->inflight, __ATOMIC_SEQ_CST) > 0; i++)
		usleep(100 * 1000);
	MHD_stop_daemon(s->d);
	s->stopping = 1;
	pthread_join(s->watcher, NULL);
	snapshot_put(s, s->snap);
	pthread_key_delete(s->store_key);
	pthread_key_delete(s->snap_key);
	free(s->token_digest);
	release_tls(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
