/*
 * kafka-mock: an in-process Kafka cluster (librdkafka's mock brokers) for
 * the tests, so that they need no JVM.
 *
 *   kafka-mock [-b BROKERS] [-t TOPIC:PARTITIONS]...
 *
 * Creates the cluster (BROKERS brokers, default 1) and each topic given,
 * prints the bootstrap servers ("127.0.0.1:PORT,...") and a newline on
 * stdout, then serves until SIGTERM or SIGINT (exit 0). SIGUSR1 sets every
 * broker down, SIGUSR2 up again (to test an unreachable broker). Errors go
 * to stderr with exit 1; bad usage exits 129.
 */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop, want_down = -1;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		want_down = 1;
	else if (sig == SIGUSR2)
		want_down = 0;
	else
		stop = 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: kafka-mock [-b BROKERS] [-t TOPIC:PARTITIONS]...\n");
	return 129;
}

/* TOPIC:PARTITIONS into *topic (in arg) and *partitions, or -1. */
static int parse_topic(char *arg, const char **topic, int *partitions)
{
	char *colon = strrchr(arg, ':'), *end;
	long n;

	if (!colon || colon == arg)
		return -1;
	errno = 0;
	n = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || n < 1 || n > 10000)
		return -1;
	*colon = '\0';
	*topic = arg;
	*partitions = (int)n;
	return 0;
}

int main(int argc, char **argv)
{
	char errstr[512];
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
	struct sigaction sa;
	long brokers = 1;
	int opt, i, rc = 1;

	while ((opt = getopt(argc, argv, "b:t:")) != -1) {
		if (opt == 'b') {
			char *end;
			brokers = strtol(optarg, &end, 10);
			if (*end || end == optarg || brokers < 1 || brokers > 100)
				return usage();
		} else if (opt != 't') {
			return usage();
		}
	}
	if (optind != argc)
		return usage();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);

	/* the mock cluster lives in (and needs) a client handle */
	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "kafka-mock: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "kafka-mock: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	mc = rd_kafka_mock_cluster_new(rk, (int)brokers);
	if (!mc) {
		fprintf(stderr, "kafka-mock: cannot create the mock cluster\n");
		goto done;
	}

	optind = 1; /* the topics, now that the cluster is there */
	while ((opt = getopt(argc, argv, "b:t:")) != -1) {
		const char *topic;
		int partitions;
		rd_kafka_resp_err_t err;

		if (opt != 't')
			continue;
		if (parse_topic(optarg, &topic, &partitions)) {
			fprintf(stderr, "kafka-mock: bad topic '%s' (TOPIC:PARTITIONS)\n", optarg);
			rc = 129;
			goto done;
		}
		err = rd_kafka_mock_topic_create(mc, topic, partitions, 1);
		if (err) {
			fprintf(stderr, "kafka-mock: cannot create topic '%s': %s\n", topic,
				rd_kafka_err2str(err));
			goto done;
		}
	}

	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	if (fflush(stdout) == EOF) {
		perror("kafka-mock: stdout");
		goto done;
	}

	while (!stop) {
		if (want_down >= 0) {
			int down = want_down;
			want_down = -1;
			for (i = 1; i <= brokers; i++) {
				if (down)
					rd_kafka_mock_broker_set_down(mc, i);
				else
					rd_kafka_mock_broker_set_up(mc, i);
			}
		}
		usleep(20000);
	}
	rc = 0;
done:
	if (mc)
		rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return rc;
}
