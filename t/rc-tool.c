/*
 * rc-tool: drives core/redis-cluster.c against a real Redis Cluster for
 * t/t3012-redis-cluster.bats. One JSON line out per run.
 *
 *   rc-tool [--pause FILE] SEED-URL[,SEED-URL...] COMMAND ARGS...
 *     set PREFIX N        SET PREFIX:i to "v:i" for i < N, 500 a batch
 *     get PREFIX N        GET them back; counts ok, bad and missing values
 *     tx PREFIX N         per i, MULTI {SET {PREFIX:i}:a i; SET {PREFIX:i}:b i} EXEC; then checks both
 *     slot KEY            the key's slot and the node serving it
 *     loop PREFIX N SECS  rounds of set (value "r:i" in round r) then get, for SECS seconds;
 *                         rounds, failed rounds, the ok rounds since the last failure
 *     check               fs_rc_check: slots no master serves, masters down
 *   --pause FILE: open (read the map), print "ready", wait for FILE to exist, then run.
 * Every output has the router's counters: moved, ask, refreshes, retries, reconnects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "redis-cluster.h"
#include "util.h"

static void stats(const struct fs_rc *rc)
{
	const struct fs_rc_stats *s = fs_rc_stats(rc);

	printf("\"moved\":%lu,\"ask\":%lu,\"refreshes\":%lu,\"retries\":%lu,\"reconnects\":%lu}\n",
	       s->moved, s->ask, s->refreshes, s->retries, s->reconnects);
}

/* SET or GET keys [from, to) of prefix with values of round r; returns failed commands, counts bad ones */
static int run(struct fs_rc *rc, const char *prefix, long from, long to, long r, bool set, bool tx,
	       long *ok, long *bad, long *missing)
{
	size_t n = (size_t)(to - from), i;
	struct fs_rc_cmd *cmds = xcalloc(n, sizeof(*cmds));
	char **k1 = xcalloc(n, sizeof(char *)), **k2 = xcalloc(n, sizeof(char *)),
	     **v = xcalloc(n, sizeof(char *));
	int *argc = xcalloc(2 * n, sizeof(int));
	const char ***argv = xcalloc(2 * n, sizeof(char **));
	const size_t **argl = xcalloc(2 * n, sizeof(size_t *));
	const char **words = xcalloc(6 * n, sizeof(char *));
	size_t *lens = xcalloc(6 * n, sizeof(size_t));
	int failed = 0;

	for (i = 0; i < n; i++) {
		long k = from + (long)i;
		struct fs_rc_cmd *c = &cmds[i];
		k1[i] = tx ? xstrfmt("{%s:%ld}:a", prefix, k) : xstrfmt("%s:%ld", prefix, k);
		k2[i] = xstrfmt("{%s:%ld}:b", prefix, k);
		v[i] = xstrfmt("%ld:%ld", r, k);
		c->key = k1[i];
		c->keylen = strlen(k1[i]);
		c->n = tx && set ? 2 : 1;
		c->argc = &argc[2 * i];
		c->argv = &argv[2 * i];
		c->argl = &argl[2 * i];
		c->idempotent = true;
		/* sub-command 0: SET k1 v or GET k1; 1: SET k2 v */
		words[6 * i] = set ? "SET" : "GET";
		words[6 * i + 1] = k1[i];
		words[6 * i + 2] = v[i];
		words[6 * i + 3] = "SET";
		words[6 * i + 4] = k2[i];
		words[6 * i + 5] = v[i];
		for (int w = 0; w < 6; w++)
			lens[6 * i + w] = strlen(words[6 * i + w]);
		argc[2 * i] = set ? 3 : 2;
		argv[2 * i] = &words[6 * i];
		argl[2 * i] = &lens[6 * i];
		argc[2 * i + 1] = 3;
		argv[2 * i + 1] = &words[6 * i + 3];
		argl[2 * i + 1] = &lens[6 * i + 3];
	}
	if (fs_rc_exec(rc, cmds, n, 5000))
		fprintf(stderr, "rc-tool: %s\n", fs_error_last());
	for (i = 0; i < n; i++) {
		redisReply *rep = cmds[i].reply;
		if (!rep) {
			failed++;
		} else if (set) {
			bool good = tx ? rep->type == REDIS_REPLY_ARRAY && rep->elements == 2
				       : rep->type == REDIS_REPLY_STATUS;
			if (!good) {
				failed++;
				fprintf(stderr, "rc-tool: %s: %s\n", k1[i], rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
			}
		} else if (rep->type == REDIS_REPLY_NIL) {
			(*missing)++;
		} else if (rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, v[i])) {
			(*ok)++;
		} else {
			(*bad)++;
		}
		freeReplyObject(rep);
		free(k1[i]);
		free(k2[i]);
		free(v[i]);
	}
	free(cmds);
	free(k1);
	free(k2);
	free(v);
	free(argc);
	free(argv);
	free(argl);
	free(words);
	free(lens);
	return failed;
}

static int all(struct fs_rc *rc, const char *prefix, long n, long r, bool set, bool tx, long *ok,
	       long *bad, long *missing)
{
	long from;
	int failed = 0;

	for (from = 0; from < n; from += 500)
		failed += run(rc, prefix, from, from + 500 < n ? from + 500 : n, r, set, tx, ok, bad,
			      missing);
	return failed;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *pause = NULL, *seed, *cmd;
	struct fs_rc *rc;
	long ok = 0, bad = 0, missing = 0;
	int failed;

	if (argc > 2 && !strcmp(argv[1], "--pause")) {
		pause = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: rc-tool [--pause FILE] SEED COMMAND ARGS...\n");
		return 2;
	}
	/* SEED-URL[,SEED-URL...] */
	seed = argv[1];
	cmd = argv[2];
	{
		char *copy = xstrdup(seed), *p, *save = NULL;
		const char *seeds[16];
		size_t nseeds = 0;
		int rc_;
		for (p = strtok_r(copy, ",", &save); p && nseeds < 16; p = strtok_r(NULL, ",", &save))
			seeds[nseeds++] = p;
		rc_ = fs_rc_open(&rc, seeds, nseeds, "cluster");
		free(copy);
		if (rc_) {
			fprintf(stderr, "rc-tool: %s\n", fs_error_last());
			return 1;
		}
	}
	if (pause) {
		printf("ready\n");
		fflush(stdout);
		while (access(pause, F_OK))
			usleep(10000);
	}
	if ((!strcmp(cmd, "set") || !strcmp(cmd, "get") || !strcmp(cmd, "tx")) && argc == 5) {
		long n = atol(argv[4]);
		bool tx = !strcmp(cmd, "tx");
		failed = all(rc, argv[3], n, 0, strcmp(cmd, "get") != 0, tx, &ok, &bad, &missing);
		if (tx) {
			/* both keys of each transaction hold the value */
			char *pa = xstrfmt("%s", argv[3]);
			for (long i = 0; i < n; i++) {
				char k[2][256];
				struct fs_rc_cmd c[2];
				int ac[2] = { 2, 2 };
				const char *w[2][2];
				size_t l[2][2];
				const char **av[2] = { w[0], w[1] };
				const size_t *al[2] = { l[0], l[1] };
				char want[64];
				snprintf(k[0], sizeof(k[0]), "{%s:%ld}:a", pa, i);
				snprintf(k[1], sizeof(k[1]), "{%s:%ld}:b", pa, i);
				snprintf(want, sizeof(want), "0:%ld", i);
				for (int j = 0; j < 2; j++) {
					w[j][0] = "GET";
					w[j][1] = k[j];
					l[j][0] = 3;
					l[j][1] = strlen(k[j]);
					memset(&c[j], 0, sizeof(c[j]));
					c[j].key = k[j];
					c[j].keylen = strlen(k[j]);
					c[j].n = 1;
					c[j].argc = &ac[j];
					c[j].argv = &av[j];
					c[j].argl = &al[j];
					c[j].idempotent = true;
				}
				if (fs_rc_exec(rc, c, 2, 5000))
					failed++;
				for (int j = 0; j < 2; j++) {
					if (c[j].reply && c[j].reply->type == REDIS_REPLY_STRING &&
					    !strcmp(c[j].reply->str, want))
						ok++;
					else
						bad++;
					freeReplyObject(c[j].reply);
				}
			}
			free(pa);
		}
		printf("{\"failed\":%d,\"ok\":%ld,\"bad\":%ld,\"missing\":%ld,", failed, ok, bad, missing);
	} else if (!strcmp(cmd, "slot") && argc == 4) {
		unsigned s = fs_rc_slot(argv[3], strlen(argv[3]));
		const char *node = fs_rc_node_of(rc, s);
		printf("{\"slot\":%u,\"node\":\"%s\",", s, node ? node : "");
	} else if (!strcmp(cmd, "loop") && argc == 6) {
		long n = atol(argv[4]), r;
		double secs = atof(argv[5]), t0 = now_s(), last_fail = -1;
		long rounds = 0, fails = 0, since = 0;
		for (r = 1; now_s() - t0 < secs; r++) {
			long rok = 0, rbad = 0, rmiss = 0;
			int f = all(rc, argv[3], n, r, true, false, &rok, &rbad, &rmiss);
			f += all(rc, argv[3], n, r, false, false, &rok, &rbad, &rmiss);
			rounds++;
			if (f || rbad || rmiss || rok != n) {
				fails++;
				since = 0;
				last_fail = now_s() - t0;
			} else {
				since++;
			}
		}
		printf("{\"rounds\":%ld,\"failed_rounds\":%ld,\"ok_since_last_failure\":%ld,\"last_failure_s\":%.2f,",
		       rounds, fails, since, last_fail);
	} else if (!strcmp(cmd, "check") && argc == 3) {
		unsigned uncovered, down;
		fs_rc_check(rc, &uncovered, &down);
		printf("{\"uncovered\":%u,\"down\":%u,", uncovered, down);
	} else {
		fprintf(stderr, "rc-tool: bad command\n");
		fs_rc_free(rc);
		return 2;
	}
	stats(rc);
	fs_rc_free(rc);
	return 0;
}
