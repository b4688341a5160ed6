/*
 * stream-fresh: the freshness part of bench/stream. Produces events to a
 * Kafka topic at a steady rate and measures how long a produced value
 * takes to be readable through `fs serve-lite`, and, as a baseline, to be
 * received by a bare librdkafka consumer.
 *
 *   stream-fresh [-r RATE] [-s SECONDS] [-p PROBE_MS] [-i POLL_MS] [-w WARMUP_S]
 *                [-o FILE] [-X KEY=VALUE]... [-C KEY=VALUE]... BROKERS TOPIC URL
 *
 * URL is serve-lite's, e.g. http://127.0.0.1:6566. For SECONDS (default
 * 10) it produces RATE (default 10000) events a second
 * {"token":"<1..100000>","ts":<Unix seconds in the last day>,"amount":..,"price":..}
 * keyed by token, and every PROBE_MS (default 10) ms a probe event
 * {"token":"probe","ts":"<now, RFC 3339 with microseconds>","amount":BASE+SEQ,..}
 * keyed "probe", noting when it was handed to librdkafka. BASE is the
 * start time in Unix microseconds, so that the probes of an earlier run do
 * not count.
 *
 * Meanwhile a thread asks POST URL/get-online-features for
 * trades_last:amount of token "probe" every POLL_MS (default 1) ms at most
 * (one keep-alive connection); when the amount served reaches BASE+SEQ,
 * every probe up to SEQ not yet seen is seen, and its latency is now - its
 * send time. Another thread, a bare consumer assigned every partition of
 * TOPIC from its end, notes when it receives each probe (the baseline:
 * what Kafka alone costs).
 *
 * Before that, a warm-up: probes with SEQ 0 every 100 ms until one is
 * served and received (the consumer group's join, catching up), at most
 * WARMUP_S (default 60) seconds. After the SECONDS, it waits up to 5 s for
 * the last probes. Prints one line:
 *
 *   events N probes P seen S p50 MS p99 MS max MS polls Q kafka_seen S kafka_p50 MS kafka_p99 MS kafka_max MS
 *
 * (probes never seen count as infinitely late in the percentiles). -o
 * writes each probe's latencies (served, received; ms or "unseen") a line.
 * -X passes a librdkafka setting to the producer (defaults:
 * compression.codec=lz4, linger.ms=5), -C to the bare consumer. Exit 1 on
 * errors (the warm-up timing out, delivery failures), 129 on bad usage.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FEATURE "trades_last:amount"

static double *sent;          /* send time of probe seq (monotonic s) */
static double *lat;           /* its latency (s), or -1 while unseen */
static double *klat;          /* the same for the bare consumer */
static long nprobes;          /* capacity of sent/lat */
static long last_sent = -1;   /* highest probe seq sent (atomic) */
static long served = -1;      /* highest SEQ served (atomic) */
static long received = -1;    /* highest SEQ the bare consumer received (atomic) */
static rd_kafka_t *watch_rk;  /* the bare consumer */
static const char *topic;
static long long base;        /* amount of SEQ 0 */
static long polls, poll_errors;
static int stop;              /* atomic */
static long delivery_errors;
static char *url;
static double poll_s = 0.001;

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double secs)
{
	struct timespec ts;

	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

static int usage(void)
{
	fprintf(stderr, "usage: stream-fresh [-r RATE] [-s SECONDS] [-p PROBE_MS] [-i POLL_MS] [-w WARMUP_S]\n"
			"                    [-o FILE] [-X KEY=VALUE]... [-C KEY=VALUE]... BROKERS TOPIC URL\n");
	return 129;
}

static void set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
	char errstr[512];

	if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "stream-fresh: %s=%s: %s\n", key, value, errstr);
		exit(1);
	}
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (m->err && delivery_errors++ < 5)
		fprintf(stderr, "stream-fresh: delivery failed: %s\n", rd_kafka_err2str(m->err));
}

struct buf {
	char *p;
	size_t len, cap;
};

static size_t on_body(char *data, size_t size, size_t n, void *opaque)
{
	struct buf *b = opaque;
	size_t add = size * n;

	if (b->len + add + 1 > b->cap) {
		b->cap = (b->len + add + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->len, data, add);
	b->len += add;
	return add;
}

/* The SEQ served for "probe" in a response; -1 when null or older. */
static long seq_of(const struct buf *b, int *ok)
{
	json_error_t jerr;
	json_t *o = json_loadb(b->p, b->len, 0, &jerr), *v;
	long seq = -1;

	*ok = 0;
	v = json_array_get(json_object_get(json_array_get(json_object_get(o, "results"), 1), "values"), 0);
	if (json_is_integer(v)) {
		if (json_integer_value(v) >= base)
			seq = (long)(json_integer_value(v) - base);
		*ok = 1;
	} else if (json_is_null(v)) {
		*ok = 1;
	}
	json_decref(o);
	return seq;
}

static void *poller(void *arg)
{
	static const char body[] =
		"{\"entities\": {\"token\": [\"probe\"]}, \"features\": [\"" FEATURE "\"]}";
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	struct buf b = { NULL, 0, 0 };
	char *endpoint;

	(void)arg;
	if (!c)
		abort();
	endpoint = malloc(strlen(url) + sizeof("/get-online-features"));
	if (!endpoint)
		abort();
	strcpy(endpoint, url);
	strcat(endpoint, "/get-online-features");
	curl_easy_setopt(c, CURLOPT_URL, endpoint);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		double start = mono(), t;
		long code = 0, amount, top, s;
		CURLcode rc;
		int ok;

		b.len = 0;
		rc = curl_easy_perform(c);
		if (rc == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		polls++;
		if (rc != CURLE_OK || code != 200) {
			if (poll_errors++ < 5)
				fprintf(stderr, "stream-fresh: %s: %s\n", endpoint,
					rc != CURLE_OK ? curl_easy_strerror(rc) : "status not 200");
			if (code && b.len && poll_errors <= 5)
				fprintf(stderr, "stream-fresh: %.*s\n", (int)b.len, b.p);
			sleep_s(0.01);
			continue;
		}
		amount = seq_of(&b, &ok);
		if (!ok) {
			if (poll_errors++ < 5)
				fprintf(stderr, "stream-fresh: unexpected response: %.*s\n", (int)b.len, b.p);
			continue;
		}
		t = mono();
		top = __atomic_load_n(&last_sent, __ATOMIC_ACQUIRE);
		if (amount > top) {
			if (poll_errors++ < 5)
				fprintf(stderr, "stream-fresh: probe %ld served, but only %ld sent\n", amount, top);
			amount = top;
		}
		for (s = served + 1; s <= amount; s++)
			lat[s] = t - sent[s];
		if (amount > served)
			__atomic_store_n(&served, amount, __ATOMIC_RELEASE);
		t = mono() - start;
		if (t < poll_s)
			sleep_s(poll_s - t);
	}
	curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	free(b.p);
	free(endpoint);
	return NULL;
}

/* Where the n bytes of s first are in the len bytes of p, or NULL. */
static const char *find(const void *p, size_t len, const char *s, size_t n)
{
	const char *c = p;
	size_t i;

	for (i = 0; i + n <= len; i++)
		if (c[i] == s[0] && !memcmp(c + i, s, n))
			return c + i;
	return NULL;
}

/* The bare consumer: every partition from its end, the probes' receipt. */
static void *watcher(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(watch_rk, 100);
		const char *a;
		long long amount;
		long seq;

		if (!m)
			continue;
		if (!m->err && m->key_len == 5 && !memcmp(m->key, "probe", 5) &&
		    (a = find(m->payload, m->len, "\"amount\":", 9))) {
			double t = mono();
			amount = strtoll(a + 9, NULL, 10);
			seq = amount >= base ? (long)(amount - base) : -1;
			if (seq >= 0 && seq <= __atomic_load_n(&last_sent, __ATOMIC_ACQUIRE) &&
			    klat[seq] < 0) {
				klat[seq] = t - sent[seq];
				if (seq > __atomic_load_n(&received, __ATOMIC_ACQUIRE))
					__atomic_store_n(&received, seq, __ATOMIC_RELEASE);
			}
		}
		rd_kafka_message_destroy(m);
	}
	return NULL;
}

/* The bare consumer, assigned every partition of the topic at its end. */
static void watch_open(rd_kafka_conf_t *conf, const char *brokers)
{
	char errstr[512];
	const rd_kafka_metadata_t *md;
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_topic_t *rkt;
	rd_kafka_resp_err_t err;
	int i;

	set(conf, "bootstrap.servers", brokers);
	set(conf, "group.id", "stream-fresh-watch");
	set(conf, "enable.auto.commit", "false");
	set(conf, "log_level", "3");
	watch_rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!watch_rk) {
		fprintf(stderr, "stream-fresh: %s\n", errstr);
		exit(1);
	}
	rd_kafka_poll_set_consumer(watch_rk);
	rkt = rd_kafka_topic_new(watch_rk, topic, NULL);
	err = rd_kafka_metadata(watch_rk, 0, rkt, &md, 10000);
	if (err || md->topic_cnt != 1 || md->topics[0].err) {
		fprintf(stderr, "stream-fresh: metadata of '%s': %s\n", topic,
			rd_kafka_err2str(err ? err : md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
		exit(1);
	}
	parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
	for (i = 0; i < md->topics[0].partition_cnt; i++)
		rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)->offset =
			RD_KAFKA_OFFSET_END;
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	if ((err = rd_kafka_assign(watch_rk, parts))) {
		fprintf(stderr, "stream-fresh: assign: %s\n", rd_kafka_err2str(err));
		exit(1);
	}
	rd_kafka_topic_partition_list_destroy(parts);
}

static void produce(rd_kafka_t *rk, const char *key, const char *msg)
{
	rd_kafka_resp_err_t err;

	for (;;) {
		err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
					RD_KAFKA_V_VALUE((void *)msg, strlen(msg)),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(rk, 10);
	}
	if (err) {
		fprintf(stderr, "stream-fresh: produce: %s\n", rd_kafka_err2str(err));
		exit(1);
	}
}

/* A probe with amount seq, its ts the wall clock now. */
static void probe(rd_kafka_t *rk, long seq)
{
	struct timespec wall;
	struct tm tm;
	char msg[200], when[40];

	clock_gettime(CLOCK_REALTIME, &wall);
	gmtime_r(&wall.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(msg, sizeof(msg), "{\"token\":\"probe\",\"ts\":\"%s.%06ldZ\",\"amount\":%lld,\"price\":0.5}",
		 when, wall.tv_nsec / 1000, base + seq);
	sent[seq] = mono();
	produce(rk, "probe", msg);
	__atomic_store_n(&last_sent, seq, __ATOMIC_RELEASE);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The nearest-rank percentile q of the n sorted values of v. */
static double pct(const double *v, long n, double q)
{
	long r = (long)ceil(n * q);

	if (!n)
		return NAN;
	return v[r < 1 ? 0 : r - 1];
}

static void sleep_until(double t)
{
	struct timespec ts;

	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
		;
}

int main(int argc, char **argv)
{
	char errstr[512], msg[200], key[16];
	rd_kafka_conf_t *conf, *wconf;
	rd_kafka_t *rk;
	pthread_t th, wth;
	const char *brokers, *out = NULL;
	double rate = 10000, secs = 10, probe_ms = 10, warmup = 60, t0, t, *l, *kl;
	long events = 0, seq, n, unseen, kunseen, i;
	unsigned seed = 42;
	time_t now = time(NULL);
	int opt;

	conf = rd_kafka_conf_new();
	set(conf, "compression.codec", "lz4");
	set(conf, "linger.ms", "5");
	set(conf, "log_level", "3");
	wconf = rd_kafka_conf_new();
	while ((opt = getopt(argc, argv, "r:s:p:i:w:o:X:C:")) != -1) {
		switch (opt) {
		case 'r': rate = atof(optarg); break;
		case 's': secs = atof(optarg); break;
		case 'p': probe_ms = atof(optarg); break;
		case 'i': poll_s = atof(optarg) / 1000; break;
		case 'w': warmup = atof(optarg); break;
		case 'o': out = optarg; break;
		case 'X':
		case 'C': {
			char *eq = strchr(optarg, '=');
			if (!eq)
				return usage();
			*eq = '\0';
			set(opt == 'X' ? conf : wconf, optarg, eq + 1);
			break;
		}
		default:
			return usage();
		}
	}
	if (argc - optind != 3 || rate < 0 || secs <= 0 || probe_ms <= 0 || poll_s < 0 ||
	    warmup <= 0)
		return usage();
	brokers = argv[optind];
	topic = argv[optind + 1];
	url = argv[optind + 2];

	nprobes = (long)(secs * 1000 / probe_ms) + 2;
	sent = calloc(nprobes, sizeof(*sent));
	lat = malloc(nprobes * sizeof(*lat));
	klat = malloc(nprobes * sizeof(*klat));
	for (i = 0; i < nprobes; i++)
		lat[i] = klat[i] = -1;
	set(conf, "bootstrap.servers", brokers);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "stream-fresh: %s\n", errstr);
		return 1;
	}
	base = (long long)now * 1000000;
	watch_open(wconf, brokers);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (pthread_create(&th, NULL, poller, NULL) || pthread_create(&wth, NULL, watcher, NULL))
		abort();

	/* warm-up: probe 0 until it is served and received */
	t0 = mono();
	while (__atomic_load_n(&served, __ATOMIC_ACQUIRE) < 0 ||
	       __atomic_load_n(&received, __ATOMIC_ACQUIRE) < 0) {
		if (mono() - t0 > warmup) {
			fprintf(stderr, "stream-fresh: no probe served and received after %.0f s (is fs stream running?)\n", warmup);
			return 1;
		}
		probe(rk, 0);
		rd_kafka_poll(rk, 100);
	}
	fprintf(stderr, "stream-fresh: first probe served after %.1f s; producing %.0f events/s for %.0f s\n",
		mono() - t0, rate, secs);

	/* the measurement: a tick each millisecond */
	t0 = mono();
	seq = 1;
	for (i = 1;; i++) {
		t = t0 + i * 0.001;
		if (t - t0 > secs)
			break;
		sleep_until(t);
		while (events < (long)(rate * (t - t0))) {
			int tok = 1 + (int)(rand_r(&seed) % 100000);
			snprintf(key, sizeof(key), "%d", tok);
			snprintf(msg, sizeof(msg), "{\"token\":\"%d\",\"ts\":%ld,\"amount\":%d,\"price\":%.2f}",
				 tok, (long)(now - 86400 + rand_r(&seed) % 86400), rand_r(&seed) % 1000,
				 rand_r(&seed) % 10000 / 100.0);
			produce(rk, key, msg);
			events++;
		}
		if (seq < nprobes && (t - t0) * 1000 >= seq * probe_ms)
			probe(rk, seq++);
		rd_kafka_poll(rk, 0);
	}
	n = seq - 1; /* probes 1..n */
	rd_kafka_flush(rk, 10000);
	t = mono();
	while ((__atomic_load_n(&served, __ATOMIC_ACQUIRE) < n ||
		__atomic_load_n(&received, __ATOMIC_ACQUIRE) < n) && mono() - t < 5)
		sleep_s(0.01);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	pthread_join(wth, NULL);
	rd_kafka_destroy(rk);
	rd_kafka_consumer_close(watch_rk);
	rd_kafka_destroy(watch_rk);

	l = malloc((n ? n : 1) * sizeof(*l));
	kl = malloc((n ? n : 1) * sizeof(*kl));
	unseen = kunseen = 0;
	for (i = 0; i < n; i++) {
		l[i] = lat[i + 1] < 0 ? INFINITY : lat[i + 1] * 1000;
		kl[i] = klat[i + 1] < 0 ? INFINITY : klat[i + 1] * 1000;
		unseen += lat[i + 1] < 0;
		kunseen += klat[i + 1] < 0;
	}
	if (out) {
		FILE *f = fopen(out, "w");
		if (!f) {
			perror(out);
			return 1;
		}
		for (i = 0; i < n; i++) {
			if (isinf(l[i]))
				fprintf(f, "unseen ");
			else
				fprintf(f, "%.3f ", l[i]);
			if (isinf(kl[i]))
				fprintf(f, "unseen\n");
			else
				fprintf(f, "%.3f\n", kl[i]);
		}
		fclose(f);
	}
	qsort(l, n, sizeof(*l), cmp);
	qsort(kl, n, sizeof(*kl), cmp);
	printf("events %ld probes %ld seen %ld p50 %.3f p99 %.3f max %.3f polls %ld"
	       " kafka_seen %ld kafka_p50 %.3f kafka_p99 %.3f kafka_max %.3f\n",
	       events, n, n - unseen, pct(l, n, 0.5), pct(l, n, 0.99), pct(l, n, 1), polls,
	       n - kunseen, pct(kl, n, 0.5), pct(kl, n, 0.99), pct(kl, n, 1));
	if (delivery_errors || poll_errors)
		fprintf(stderr, "stream-fresh: %ld delivery errors, %ld poll errors\n", delivery_errors,
			poll_errors);
	return delivery_errors ? 1 : 0;
}
