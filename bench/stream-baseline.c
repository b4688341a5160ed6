/*
 * stream-baseline: the baseline of bench/stream, a bare librdkafka consumer
 * that reads a topic from the beginning to its high watermarks and parses
 * every message with jansson, doing nothing else.
 *
 *   stream-baseline [-a] [-X KEY=VALUE]... BROKERS TOPIC GROUP
 *
 * By default it subscribes with consumer group GROUP (as `fs stream` does,
 * so that both pay the group's join); -a assigns every partition itself
 * instead. -X passes a librdkafka setting. Each message must be a JSON
 * object with "token" (string or integer), "ts", "amount" (integers) and
 * "price" (a number); it stops when every partition has reached the high
 * watermark it had at the start, then prints one line:
 *
 *   events N bad B seconds S first F
 *
 * S from before the subscription to the last message, F to the first one
 * (the group join). Errors go to stderr with exit 1; bad usage exits 129.
 */
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int usage(void)
{
	fprintf(stderr, "usage: stream-baseline [-a] [-X KEY=VALUE]... BROKERS TOPIC GROUP\n");
	return 129;
}

static void set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
	char errstr[512];

	if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "stream-baseline: %s=%s: %s\n", key, value, errstr);
		exit(1);
	}
}

/* The four fields of one event; -1 if it is not one. */
static int parse(const rd_kafka_message_t *m, uint64_t *sum)
{
	json_error_t jerr;
	json_t *o, *token, *ts, *amount, *price;
	int rc = -1;

	o = json_loadb(m->payload, m->len, 0, &jerr);
	if (!o)
		return -1;
	token = json_object_get(o, "token");
	ts = json_object_get(o, "ts");
	amount = json_object_get(o, "amount");
	price = json_object_get(o, "price");
	if (json_is_object(o) && (json_is_string(token) || json_is_integer(token)) &&
	    json_is_integer(ts) && json_is_integer(amount) && json_is_number(price)) {
		if (json_is_string(token))
			*sum += json_string_length(token);
		else
			*sum += (uint64_t)json_integer_value(token);
		*sum += (uint64_t)json_integer_value(ts) + (uint64_t)json_integer_value(amount) +
			(uint64_t)json_number_value(price);
		rc = 0;
	}
	json_decref(o);
	return rc;
}

int main(int argc, char **argv)
{
	char errstr[512];
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	const rd_kafka_metadata_t *md;
	rd_kafka_topic_t *rkt;
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_resp_err_t err;
	int64_t *high, *next;
	const char *brokers, *topic, *group;
	int opt, assign = 0, nparts, left, i;
	long events = 0, bad = 0;
	uint64_t sum = 0;
	double t0, first = -1, last;

	conf = rd_kafka_conf_new();
	while ((opt = getopt(argc, argv, "aX:")) != -1) {
		if (opt == 'a') {
			assign = 1;
		} else if (opt == 'X') {
			char *eq = strchr(optarg, '=');
			if (!eq)
				return usage();
			*eq = '\0';
			set(conf, optarg, eq + 1);
		} else {
			return usage();
		}
	}
	if (argc - optind != 3)
		return usage();
	brokers = argv[optind];
	topic = argv[optind + 1];
	group = argv[optind + 2];

	t0 = now();
	set(conf, "bootstrap.servers", brokers);
	set(conf, "group.id", group);
	set(conf, "auto.offset.reset", "earliest");
	set(conf, "enable.auto.commit", "false");
	set(conf, "log_level", "3");
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "stream-baseline: %s\n", errstr);
		return 1;
	}
	rd_kafka_poll_set_consumer(rk);

	/* the partitions and their high watermarks now */
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
	if (err || md->topic_cnt != 1 || md->topics[0].err) {
		fprintf(stderr, "stream-baseline: metadata of '%s': %s\n", topic,
			rd_kafka_err2str(err ? err : md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
		return 1;
	}
	nparts = md->topics[0].partition_cnt;
	high = calloc(nparts, sizeof(*high));
	next = calloc(nparts, sizeof(*next));
	parts = rd_kafka_topic_partition_list_new(nparts);
	left = 0;
	for (i = 0; i < nparts; i++) {
		int32_t p = md->topics[0].partitions[i].id;
		int64_t lo, hi;

		if (p < 0 || p >= nparts) {
			fprintf(stderr, "stream-baseline: unexpected partition id %d\n", (int)p);
			return 1;
		}
		err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
		if (err) {
			fprintf(stderr, "stream-baseline: watermarks of %s[%d]: %s\n", topic, (int)p,
				rd_kafka_err2str(err));
			return 1;
		}
		high[p] = hi;
		next[p] = lo;
		if (hi > lo)
			left++;
		rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
	}
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);

	if (assign) {
		err = rd_kafka_assign(rk, parts);
	} else {
		rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
		rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
		err = rd_kafka_subscribe(rk, sub);
		rd_kafka_topic_partition_list_destroy(sub);
	}
	if (err) {
		fprintf(stderr, "stream-baseline: %s: %s\n", assign ? "assign" : "subscribe",
			rd_kafka_err2str(err));
		return 1;
	}
	rd_kafka_topic_partition_list_destroy(parts);

	last = now();
	while (left > 0) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
		int32_t p;

		if (!m)
			continue;
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				fprintf(stderr, "stream-baseline: %s\n", rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		if (first < 0)
			first = now();
		p = m->partition;
		if (p >= 0 && p < nparts && m->offset < high[p]) {
			if (parse(m, &sum))
				bad++;
			else
				events++;
			if (m->offset + 1 >= high[p] && next[p] < high[p])
				left--;
			next[p] = m->offset + 1;
		}
		rd_kafka_message_destroy(m);
	}
	last = now();
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	printf("events %ld bad %ld seconds %.3f first %.3f sum %llu\n", events, bad, last - t0,
	       (first < 0 ? last : first) - t0, (unsigned long long)sum);
	return 0;
}
