/*
 * server.h: serve-lite's HTTP server on libmicrohttpd: an epoll thread
 * pool, keep-alive, a body limit, a per-connection timeout; bearer-token
 * auth (constant-time compare) on every endpoint but /health; Prometheus
 * metrics; an access log line per request (never the token).
 *
 * Definitions and model stages are served from an in-memory snapshot that a
 * watcher thread reloads when an apply or a promotion changes the registry,
 * so requests never read the registry and a new apply is served without a
 * restart. Each worker thread has its own online store connection.
 *
 * With a certificate and a key (PEM files, read and checked at start) it
 * serves HTTPS instead of HTTP (libmicrohttpd's TLS, GnuTLS).
 */
#ifndef FS_SERVER_H
#define FS_SERVER_H

#include <stdio.h>

#include "repo.h"

/* Connections one client address may hold at once (the rest are refused). */
#define FS_SERVE_PER_ADDRESS 256

struct fs_server_opts {
	const char *host;   /* address to bind, default 127.0.0.1 */
	int port;           /* 0: any free port */
	unsigned threads;   /* worker threads, default: the number of cores */
	size_t max_body;    /* bytes */
	unsigned timeout;   /* seconds a connection may idle */
	char **tokens;      /* accepted bearer tokens; none: no auth */
	size_t ntokens;
	FILE *access_log;   /* NULL: no access log */
	const char *tls_cert; /* PEM certificate file: HTTPS; NULL: HTTP */
	const char *tls_key;  /* PEM private key file, with tls_cert (unencrypted) */
};

struct fs_server;

/*
 * Listen and serve. On error nothing listens, and the last error says why;
 * a TLS file that cannot be read or holds no usable certificate or key is
 * named in it.
 */
int fs_server_start(struct fs_server **out, struct fs_repo *repo, const struct fs_server_opts *o);
int fs_server_port(const struct fs_server *s);
/* Stop accepting, let in-flight requests finish (up to 10 s), stop. */
void fs_server_stop(struct fs_server *s);

#endif
