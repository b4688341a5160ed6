#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

#include "agg-online.h"
#include "builtin.h"
#include "duration.h"
#include "error.h"
#include "inspect.h"
#include "materialize.h"
#include "online.h"
#include "parse-options.h"
#include "serving.h"
#include "stream.h"
#include "timeutil.h"
#include "util.h"
#include "banned.h"

/* A view's staleness for the table: "3h5m", or "never" (null). */
static void staleness_text(char *buf, size_t len, const json_t *seconds)
{
	if (json_is_integer(seconds))
		fs_duration_format(buf, len,
				   json_integer_value(seconds) < 0 ? 0 : json_integer_value(seconds));
	else
		snprintf(buf, len, "never");
}

int cmd_status(int argc, const char **argv, struct fs_ctx *ctx)
{
	static const char *const usage[] = { "fs status [--max-staleness <duration>] [--json]", NULL };
	const char *max = NULL;
	bool json = false;
	const struct option options[] = {
		OPT_STRING(0, "max-staleness", &max, "duration",
			   "exit 1 when a view is staler than this (e.g. 2h)"),
		OPT_BOOL(0, "json", &json, "print as JSON"),
		OPT_END(),
	};
	struct fs_defs defs = { 0 };
	struct fs_online *store = NULL;
	int64_t max_s = -1, now = (int64_t)time(NULL);
	json_t *status = NULL, *views, *v, *streams;
	json_t *stale = json_array(); /* what makes the check fail, one message a view */
	size_t i;
	int rc = 0;

	if (parse_options(argc, argv, options, usage))
		usage_error(usage, options, "too many arguments");
	if (max && fs_duration_parse(&max_s, max))
		usage_error(usage, options, "--max-staleness: %s", fs_error_last());
	if (fs_registry_load(ctx->repo->registry, &defs) || fs_online_open(&store, ctx->repo->config)) {
		rc = die_last_error();
		goto done;
	}
	if (fs_inspect_status(ctx->repo, ctx->repo->registry, &defs, store, now, &status)) {
		rc = die_last_error();
		goto done;
	}
	views = json_object_get(status, "views");
	streams = json_object_get(status, "streams");
	/* what makes the check fail, one message a view */
	json_array_foreach(views, i, v) {
		json_t *seconds = json_object_get(v, "staleness_seconds");
		const char *name = json_string_value(json_object_get(v, "name"));
		if (max_s < 0)
			break;
		if (!json_is_integer(seconds)) {
			/* never materialized: infinitely stale */
			json_array_append_new(stale, json_sprintf("view '%s' has never been materialized, pushed to or streamed into",
								  name));
		} else if (json_integer_value(seconds) > max_s) {
			char dur[64];
			fs_duration_format(dur, sizeof(dur), json_integer_value(seconds));
			json_array_append_new(stale, json_sprintf("view '%s' is %s stale (last end %s)",
								  name, dur,
								  json_string_value(json_object_get(v, "last_end"))));
		}
	}
	if (json) {
		print_json(json_incref(status));
	} else {
		/* the names' and staleness columns as wide as their longest cell */
		int w = 4, sw = 12;
		json_array_foreach(views, i, v) {
			int l = (int)strlen(json_string_value(json_object_get(v, "name")));
			char dur[64];
			if (l > w)
				w = l;
			staleness_text(dur, sizeof(dur), json_object_get(v, "staleness_seconds"));
			if ((int)strlen(dur) > sw)
				sw = (int)strlen(dur);
		}
		printf("%-*s %-27s %-*s %s\n", w, "VIEW", "LAST END", sw, "STALENESS", "KEYS");
		json_array_foreach(views, i, v) {
			char dur[64];
			staleness_text(dur, sizeof(dur), json_object_get(v, "staleness_seconds"));
			printf("%-*s %-27s %-*s %lld\n", w, json_string_value(json_object_get(v, "name")),
			       json_is_string(json_object_get(v, "last_end"))
				       ? json_string_value(json_object_get(v, "last_end"))
				       : "-",
			       sw, dur, (long long)json_integer_value(json_object_get(v, "keys")));
			if (json_object_get(v, "late")) {
				json_t *be = json_object_get(v, "batch_end"), *ne = json_object_get(v, "newest_event");
				printf("  batch end %s, newest event %s, %lld events applied after it, %lld late\n",
				       json_is_string(be) ? json_string_value(be) : "-",
				       json_is_string(ne) ? json_string_value(ne) : "-",
				       (long long)json_integer_value(json_object_get(v, "events_applied")),
				       (long long)json_integer_value(json_object_get(v, "late")));
			}
		}
	}
	if (!json && json_array_size(streams)) {
		int w = 32; /* the sources' column as wide as the longest, 32 at least */
		json_array_foreach(streams, i, v) {
			int l = (int)strlen(json_string_value(json_object_get(v, "source")));
			if (l > w)
				w = l;
		}
		printf("\n%-*s %-12s %-10s %-10s %s\n", w, "STREAM SOURCE", "APPLIED", "BAD", "LATE",
		       "LAG");
		json_array_foreach(streams, i, v) {
			json_t *p, *lag = json_object_get(v, "lag");
			const char *what = json_is_string(json_object_get(v, "topic"))
						   ? json_string_value(json_object_get(v, "topic"))
						   : json_string_value(json_object_get(v, "stream"));
			size_t j;
			char lags[32] = "?";
			if (json_is_integer(lag))
				snprintf(lags, sizeof(lags), "%lld", (long long)json_integer_value(lag));
			printf("%-*s %-12lld %-10lld %-10lld %s\n", w,
			       json_string_value(json_object_get(v, "source")),
			       (long long)json_integer_value(json_object_get(v, "applied")),
			       (long long)json_integer_value(json_object_get(v, "bad")),
			       (long long)json_integer_value(json_object_get(v, "late")), lags);
			json_array_foreach(json_object_get(v, "partitions"), j, p) {
				json_t *pos = json_object_get(p, "position");
				char posbuf[64] = "the start";
				lag = json_object_get(p, "lag");
				snprintf(lags, sizeof(lags), "?");
				if (json_is_integer(lag))
					snprintf(lags, sizeof(lags), "%lld",
						 (long long)json_integer_value(lag));
				if (json_is_integer(pos))
					snprintf(posbuf, sizeof(posbuf), "%lld",
						 (long long)json_integer_value(pos));
				else if (json_is_string(pos))
					snprintf(posbuf, sizeof(posbuf), "%s", json_string_value(pos));
				printf("  %s[%lld] at %s, lag %s\n", what,
				       (long long)json_integer_value(json_object_get(p, "partition")),
				       posbuf, lags);
			}
		}
	}
	if (json_array_size(stale)) {
		char *summary = xstrfmt("%zu views are staler than %s", json_array_size(stale), max);
		rc = report_failed_check(json_incref(stale), summary);
		free(summary);
	}
done:
	json_decref(stale);
	json_decref(status);
	fs_online_close(store);
	fs_defs_release(&defs);
	return rc;
}
