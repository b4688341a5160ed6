#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "util.h"
#include "banned.h"

struct sink {
	int fd;
	int err;
};

static size_t write_cb(char *data, size_t size, size_t nmemb, void *p)
{
	struct sink *s = p;
	size_t len = size * nmemb, done = 0;

	while (done < len) {
		ssize_t n = write(s->fd, data + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			s->err = errno;
			return 0;
		}
		done += (size_t)n;
	}
	return len;
}

int fs_fetch_to_fd(const char *url, int fd)
{
	CURL *curl;
	CURLcode res;
	struct sink sink = { fd, 0 };
	long status = 0, timeout = 300;
	const char *t = getenv("FS_FETCH_TIMEOUT");
	char errbuf[CURL_ERROR_SIZE] = "";

	if (t && atol(t) > 0)
		timeout = atol(t);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	curl = curl_easy_init();
	if (!curl) {
		fs_error_set("cannot initialize libcurl");
		return FS_ERR;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "fs/" FS_VERSION);
	res = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	if (sink.err || res != CURLE_OK || status >= 400) {
		char *shown = fs_url_redact(url); /* a message never holds a password */
		if (sink.err)
			fs_error_set("cannot store download of '%s': %s", shown, strerror(sink.err));
		else if (res != CURLE_OK)
			fs_error_set("cannot fetch '%s': %s", shown,
				     errbuf[0] ? errbuf : curl_easy_strerror(res));
		else
			fs_error_set("cannot fetch '%s': HTTP status %ld", shown, status);
		free(shown);
		return FS_ERR;
	}
	return 0;
}

int fs_fetch_tmpfile(const char *url)
{
	const char *dir = getenv("TMPDIR");
	char *path = xstrfmt("%s/fs-fetch-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);

	if (fd < 0) {
		fs_error_set("cannot create a temporary file in '%s': %s", dir && *dir ? dir : "/tmp",
			     strerror(errno));
		free(path);
		return -1;
	}
	unlink(path); /* anonymous from now on: gone when closed */
	free(path);
	if (fs_fetch_to_fd(url, fd) || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}
