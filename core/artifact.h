/*
 * artifact.h: model artifacts in a content-addressed store
 * (<store>/sha256/<2 hex>/<64 hex>): a local file is copied in, an http(s)
 * URL is downloaded through libcurl; the same content is stored once. The
 * SHA-256 is computed with OpenSSL's libcrypto.
 */
#ifndef FS_ARTIFACT_H
#define FS_ARTIFACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fs_artifact {
	char uri[4096];  /* the source: absolute path or URL */
	char sha256[65]; /* hex: of the file, or of a directory's manifest */
	int64_t size;    /* of the file, or of all the files of a directory */
	const char *kind; /* "file" or "directory" (static) */
	char *path;      /* where the store keeps it (owned): the file, or the manifest */
};

/*
 * Store src (a path, relative to the current directory, or a URL) under
 * store, created if missing; a->path is absolute and canonical (realpath of
 * the store), the file mode 0644 less the umask.
 *
 * A directory is stored file by file (each under its sha256), then its
 * manifest, whose sha256 is a->sha256:
 *
 *   fs-manifest 1
 *   <mode> <size> <sha256> <path>     one line a file, sorted by path (bytes)
 *
 * mode 100755 (executable by its owner) or 100644, path relative with '/'
 * between its parts. The same content gives the same manifest whatever the
 * mtimes or the order of readdir; empty directories are not recorded. A
 * symlink to a file inside the tree is stored as that file's content; a
 * symlink leading outside the tree or to a directory, a special file (fifo,
 * socket, device) and a name with a control character are errors naming the
 * entry, and nothing is recorded.
 */
int fs_artifact_store(struct fs_artifact *out, const char *store, const char *src);
void fs_artifact_release(struct fs_artifact *a);

/*
 * Write the stored artifact (kind "file" or "directory", sha256 as
 * recorded) to dest, checking the sha256 of the manifest and of every file
 * as it is copied. It is written under a temporary name next to dest and
 * renamed into place: on failure nothing is left at dest. An existing dest
 * is FS_EEXISTS unless force (then it is replaced once the new copy is
 * complete). Content missing from the store is FS_ENOTFOUND; content that
 * does not match its sha256 is FS_ERR naming the store file.
 *
 * uri, when an http(s) URL and the content is not in the store, is fetched
 * and checked against sha256 instead; failing that, FS_ENOTFOUND.
 */
int fs_artifact_export(const char *store, const char *kind, const char *sha256, const char *uri,
		       const char *dest, bool force);

/*
 * A stored file artifact for reading: *fd open at its start, its sha256
 * checked. FS_ENOTFOUND when the store does not hold it.
 */
int fs_artifact_open(int *fd, int64_t *size, const char *store, const char *sha256);

struct strbuf;
/*
 * A stored directory artifact as a POSIX ustar archive appended to out
 * (every hash checked; names longer than ustar allows are an error).
 */
int fs_artifact_tar(struct strbuf *out, const char *store, const char *sha256);

/* SHA-256 of len bytes as 64 hex characters into hex (65 bytes). */
void fs_sha256_hex(char hex[65], const void *data, size_t len);

#endif
