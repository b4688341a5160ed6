/*
 * webhook.h: event notifications POSTed as JSON through libcurl, signed as
 * the Standard Webhooks specification says when a secret is configured:
 *   webhook-id: msg_<random>
 *   webhook-timestamp: <unix seconds>
 *   webhook-signature: v1,<base64 HMAC-SHA256(secret, id "." timestamp "." body)>
 * A secret written "whsec_<base64>" is the base64-decoded key, otherwise its
 * bytes are the key. Each attempt times out (FS_WEBHOOK_TIMEOUT seconds,
 * default 5); connection errors, 429 and 5xx are retried up to 3 times with
 * exponential backoff (FS_WEBHOOK_RETRY_MS, default 500 ms, doubling).
 */
#ifndef FS_WEBHOOK_H
#define FS_WEBHOOK_H

#include <stddef.h>

#include "config.h"

/* POST body to hook; 0, or an error (message says why) after the retries. */
int fs_webhook_post(const struct fs_webhook *hook, const char *body);
/* Does hook subscribe to event? */
int fs_webhook_wants(const struct fs_webhook *hook, const char *event);
/*
 * "v1,<base64>" for secret, id, timestamp, body into out (at least 64
 * bytes); -1 (out untouched) when a "whsec_" secret is not base64.
 */
int fs_webhook_sign(char *out, size_t outlen, const char *secret, const char *id,
		    const char *timestamp, const char *body);

#endif
