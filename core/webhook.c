#include "webhook.h"

#include <curl/curl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

int fs_webhook_wants(const struct fs_webhook *hook, const char *event)
{
	size_t i;

	for (i = 0; i < hook->nevents; i++)
		if (!strcmp(hook->events[i], event))
			return 1;
	return 0;
}

/*
 * The HMAC key of a secret: for "whsec_<base64>" the decoded bytes (missing
 * '=' padding tolerated), otherwise the secret's own bytes. NULL when the
 * part after "whsec_" is not base64.
 */
static unsigned char *secret_key(const char *secret, size_t *len)
{
	const char *b64 = secret + 6;
	size_t n = strlen(b64), pad = 0;
	unsigned char *key;
	char *padded;
	int got;

	if (!starts_with(secret, "whsec_")) {
		*len = strlen(secret);
		return (unsigned char *)xstrdup(secret);
	}
	if (!n || n % 4 == 1 || n > INT_MAX / 2)
		return NULL;
	padded = xstrfmt("%s%.*s", b64, (int)((4 - n % 4) % 4), "==");
	n = strlen(padded);
	key = xmalloc(n / 4 * 3 + 1);
	got = EVP_DecodeBlock(key, (const unsigned char *)padded, (int)n);
	/* EVP_DecodeBlock counts padding as data bytes: drop them */
	while (pad < 2 && padded[n - 1 - pad] == '=')
		pad++;
	free(padded);
	if (got < 0 || (size_t)got < pad) {
		free(key);
		return NULL;
	}
	*len = (size_t)got - pad;
	return key;
}

int fs_webhook_sign(char *out, size_t outlen, const char *secret, const char *id,
		    const char *timestamp, const char *body)
{
	unsigned char md[EVP_MAX_MD_SIZE], b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
	unsigned char *key;
	size_t keylen;
	unsigned mdlen = 0;
	struct strbuf msg = STRBUF_INIT;

	if (!(key = secret_key(secret, &keylen)))
		return -1;
	sb_addf(&msg, "%s.%s.%s", id, timestamp, body);
	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg.buf, msg.len, md, &mdlen);
	EVP_EncodeBlock(b64, md, (int)mdlen);
	snprintf(out, outlen, "v1,%s", b64);
	sb_release(&msg);
	free(key);
	return 0;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
	return s * n;
}

int fs_webhook_post(const struct fs_webhook *hook, const char *body)
{
	const char *t = getenv("FS_WEBHOOK_TIMEOUT"), *d = getenv("FS_WEBHOOK_RETRY_MS");
	/* unset, empty or not a number: the defaults (FS_WEBHOOK_RETRY_MS=0 is no wait) */
	long timeout = t && atol(t) > 0 ? atol(t) : 5;
	long delay_ms = d && *d >= '0' && *d <= '9' ? atol(d) : 500;
	const char *secret = hook->secret_env ? getenv(hook->secret_env) : NULL;
	unsigned char rnd[12];
	char id[64], ts[32], sig[128], hdr[256], err[CURL_ERROR_SIZE];
	int attempt;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	snprintf(id, sizeof(id), "msg_%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0],
		 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], rnd[8], rnd[9], rnd[10],
		 rnd[11]);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (attempt = 0; attempt <= 3; attempt++) {
		CURL *curl = curl_easy_init();
		struct curl_slist *h = NULL;
		CURLcode res;
		long status = 0;
		bool retry;

		if (!curl) {
			fs_error_set("cannot initialize libcurl");
			return FS_ERR;
		}
		snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
		h = curl_slist_append(h, "Content-Type: application/json");
		snprintf(hdr, sizeof(hdr), "webhook-id: %s", id);
		h = curl_slist_append(h, hdr);
		snprintf(hdr, sizeof(hdr), "webhook-timestamp: %s", ts);
		h = curl_slist_append(h, hdr);
		if (secret && *secret) {
			if (fs_webhook_sign(sig, sizeof(sig), secret, id, ts, body)) {
				char *shown = fs_url_redact(hook->url);
				curl_slist_free_all(h);
				curl_easy_cleanup(curl);
				fs_error_set("webhook %s: the secret in %s starts with 'whsec_' but the rest is not base64; nothing sent",
					     shown, hook->secret_env);
				free(shown);
				return FS_ERR;
			}
			snprintf(hdr, sizeof(hdr), "webhook-signature: %s", sig);
			h = curl_slist_append(h, hdr);
		}
		err[0] = '\0';
		curl_easy_setopt(curl, CURLOPT_URL, hook->url);
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout);
		curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, timeout);
		curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(curl, CURLOPT_USERAGENT, "fs/" FS_VERSION);
		res = curl_easy_perform(curl);
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		curl_slist_free_all(h);
		curl_easy_cleanup(curl);
		if (res == CURLE_OK && status < 300)
			return 0;
		{
			char *shown = fs_url_redact(hook->url);
			if (res != CURLE_OK)
				fs_error_set("webhook %s: %s", shown, err[0] ? err : curl_easy_strerror(res));
			else
				fs_error_set("webhook %s: HTTP status %ld", shown, status);
			free(shown);
		}
		retry = res != CURLE_OK || status == 429 || status >= 500;
		if (!retry || attempt == 3)
			break;
		usleep((useconds_t)(delay_ms * 1000) << attempt);
	}
	return FS_ERR;
}
