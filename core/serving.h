/*
 * serving.h: reading and writing the online store for users: the
 * get-online-features response (Feast's wire format) and push.
 */
#ifndef FS_SERVING_H
#define FS_SERVING_H

#include <jansson.h>
#include <stdint.h>

#include "config.h"
#include "defs.h"
#include "online.h"
#include "source.h"
#include "strbuf.h"

/*
 * The response to Feast's POST /get-online-features for refs (resolved by
 * fs_resolve_refs) and entities ({"driver_id": [1001, 1002], ...}), into
 * out as JSON text:
 *   {"metadata": {"feature_names": [join keys..., features...]},
 *    "results": [{"values": [...], "statuses": [...], "event_timestamps": [...]}, ...]}
 * Statuses: PRESENT, NOT_FOUND, NULL_VALUE, OUTSIDE_MAX_AGE (older than
 * now - ttl; the value is still returned). Bad entities (unequal lengths,
 * a missing join key, a value of the wrong type): FS_EINVALID, message
 * naming the entity column and row.
 */
int fs_online_response(struct fs_online *store, const struct fs_defs *defs, const json_t *refs,
		       const json_t *entities, int64_t now_us, struct strbuf *out);

/*
 * The same in two steps, for a server answering the same feature list many
 * times: a plan (views, keys, types, output columns) built once from refs,
 * valid while defs is, then answered per request.
 */
struct fs_serve_plan;
int fs_serve_plan_build(struct fs_serve_plan **out, const struct fs_defs *defs, const json_t *refs);
void fs_serve_plan_free(struct fs_serve_plan *plan);
int fs_online_response_plan(struct fs_online *store, const struct fs_serve_plan *plan,
			    const json_t *entities, int64_t now_us, struct strbuf *out);

/*
 * The entities of a request as the plan reads them, as Feast takes them:
 * a column named by an entity's name instead of its join key stands for
 * the join key; a column that is no join key of the plan's views is
 * dropped. A new reference (entities itself when nothing changes).
 */
json_t *fs_serve_plan_entities(const struct fs_serve_plan *plan, const struct fs_defs *defs,
				json_t *entities);

/* How far ahead of the clock a pushed event may be (a day). */
#define FS_MAX_AHEAD_US (86400LL * 1000000LL)

/*
 * Write rows to the online store for every view reading the push source
 * named source. rows is an in-memory table (fs_source_table_new) with the
 * columns the source names (join keys, timestamp field, features). *out
 * gets [{"view", "rows", "keys_written"}].
 */
int fs_push(struct fs_online *store, const struct fs_defs *defs, const char *source,
	    struct fs_source *rows, json_t **out);

/* The stores a push writes, as Feast's "to" names them. */
enum { FS_PUSH_ONLINE = 1, FS_PUSH_OFFLINE = 2 };
/* "online", "offline" or "online_and_offline" as FS_PUSH_* bits; 0 for anything else. */
int fs_push_stores(const char *to);

/*
 * A push to stores (FS_PUSH_* bits): online (fs_push; store may be NULL
 * otherwise), offline (the rows appended to the push source's
 * batch_source, see offline-append.h; root and cfg: the repository's) or
 * both (the offline rows staged, the online write, then the offline
 * commit: neither store written when the online write fails). *out gets
 * {"views": fs_push's result (online), "offline": {"source", "where",
 * "rows"} (offline)}.
 */
int fs_push_to(struct fs_online *store, const struct fs_defs *defs, const char *root,
	       const struct fs_config *cfg, const char *source, int stores,
	       struct fs_source *rows, json_t **out);

/*
 * The time of the newest event pushed to plain view (outside fs stream,
 * which keeps its own with its positions): INT64_MIN when none.
 */
int fs_view_newest(struct fs_online *store, const char *view, int64_t *us);

/*
 * What fs_push does once the source is known, for push and stream
 * sources alike: rows (read with data, the spec naming their columns) to
 * every view reading source, all of them checked before anything is
 * written; a result object a view appended to res ("applied" and "late"
 * for aggregation views too).
 */
int fs_rows_apply(struct fs_online *store, const struct fs_defs *defs, const char *source,
		  const json_t *data, struct fs_source *rows, json_t *res);

/*
 * Feast's write_to_online_store: rows of one view named as the view names
 * them (join keys, features or the aggregated columns, event_timestamp,
 * created optional) to the online store, as a push to that view alone.
 */
int fs_view_write(struct fs_online *store, const struct fs_defs *defs, const char *view,
		  struct fs_source *rows, json_t **out);

#endif
