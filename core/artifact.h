/*
 * artifact.h: model artifacts in a content-addressed store
 * (<store>/sha256/<2 hex>/<64 hex>): a local file is copied in, an http(s)
 * URL is downloaded through libcurl; the same content is stored once. The
 * SHA-256 is computed with OpenSSL's libcrypto.
 */
#ifndef FS_ARTIFACT_H
#define FS_ARTIFACT_H

#include <stddef.h>
#include <stdint.h>

struct fs_artifact {
	char uri[4096];  /* the source: absolute path or URL */
	char sha256[65]; /* hex */
	int64_t size;
	char *path;      /* where the store keeps it (owned) */
};

/*
 * Store src (a path, relative to the current directory, or a URL) under
 * store, created if missing; a->path is absolute and canonical (realpath of
 * the store), the file mode 0644 less the umask.
 */
int fs_artifact_store(struct fs_artifact *out, const char *store, const char *src);
void fs_artifact_release(struct fs_artifact *a);

/* SHA-256 of len bytes as 64 hex characters into hex (65 bytes). */
void fs_sha256_hex(char hex[65], const void *data, size_t len);

#endif
