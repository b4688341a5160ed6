#include "source.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"
#include "banned.h"

/*
 * push, kafka and redis_stream sources hold no rows: their batch_source
 * does, read in its place offline (fs_source_data_spec). Only their specs
 * are checked here: a broker or a Redis server is never contacted at apply.
 */
static void want_batch_source(const json_t *spec, fs_source_complain *complain, void *ctx)
{
	struct strbuf sb = STRBUF_INIT;

	if (!json_object_get(spec, "batch_source")) {
		sb_addf(&sb, "missing 'batch_source' (a %s source names the ",
			json_string_value(json_object_get(spec, "type")));
		fs_source_types_with(&sb, NULL, "or");
		sb_adds(&sb, " source that holds its history)");
		complain(ctx, NULL, sb.buf);
	}
	sb_release(&sb);
}

static const char *const push_keys[] = { "batch_source", NULL };

static const struct fs_source_ops push_ops = {
	.type = "push",
	.keys = push_keys,
	.check_spec = want_batch_source,
};

/* Kafka's rule for topic names: 1 to 249 of [a-zA-Z0-9._-], not "." or "..". */
static bool is_topic_name(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

	return n && n == strlen(s) && n <= 249 && strcmp(s, ".") && strcmp(s, "..");
}

/* dead_letter, when given, must not be what is read (bad messages would come back). */
static void check_dead_letter(const json_t *spec, const char *read, const char *what,
			      fs_source_complain *complain, void *ctx)
{
	const char *dlq = json_string_value(json_object_get(spec, "dead_letter"));
	struct strbuf sb = STRBUF_INIT;

	if (!dlq || !read || strcmp(dlq, read))
		return;
	sb_addf(&sb,
		"dead_letter '%s' is the %s this source reads (bad messages would be read again)",
		dlq, what);
	complain(ctx, "dead_letter", sb.buf);
	sb_release(&sb);
}

/*
 * A kafka source: JSON messages of topic, read by `fs stream` (librdkafka,
 * consumer group group, options passed to it as they are). brokers may be
 * left to FS_KAFKA_BROKERS at run time.
 */
static void kafka_check_spec(const json_t *spec, fs_source_complain *complain, void *ctx)
{
	static const char *const names[] = { "topic", "dead_letter" };
	const char *format = json_string_value(json_object_get(spec, "format"));
	const char *s;
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	if (!json_object_get(spec, "topic"))
		complain(ctx, NULL, "missing 'topic' (a kafka source needs the topic it reads)");
	if (!json_object_get(spec, "timestamp_field"))
		complain(ctx, NULL,
			 "missing 'timestamp_field' (a kafka source needs the message field "
			 "holding the event time)");
	want_batch_source(spec, complain, ctx);
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		s = json_string_value(json_object_get(spec, names[i]));
		if (!s || is_topic_name(s))
			continue;
		sb_reset(&sb);
		sb_addf(&sb,
			"bad topic name '%s' in '%s' (1 to 249 letters, digits, '.', '_' or '-')",
			s, names[i]);
		complain(ctx, names[i], sb.buf);
	}
	if (format && strcmp(format, "json")) {
		sb_reset(&sb);
		sb_addf(&sb, "unsupported format '%s' (only json)", format);
		complain(ctx, "format", sb.buf);
	}
	s = json_string_value(json_object_get(spec, "brokers"));
	if (s && !*s)
		complain(ctx, "brokers", "empty 'brokers' (leave it out to use FS_KAFKA_BROKERS)");
	check_dead_letter(spec, json_string_value(json_object_get(spec, "topic")), "topic",
			  complain, ctx);
	sb_release(&sb);
}

/* options is a map of strings (defs.c reads it so, the one backend key that is) */
static const char *const kafka_keys[] = { "topic", "brokers", "group", "format", "dead_letter",
					  "options", "batch_source", NULL };

static const struct fs_source_ops kafka_ops = {
	.type = "kafka",
	.keys = kafka_keys,
	.check_spec = kafka_check_spec,
};

/*
 * A redis_stream source: the entries of the stream key stream, read by `fs
 * stream` (hiredis). url defaults to the online store's Redis at run time;
 * timestamp_field to the entry id's milliseconds.
 */
static void redis_stream_check_spec(const json_t *spec, fs_source_complain *complain, void *ctx)
{
	const char *url = json_string_value(json_object_get(spec, "url"));
	struct strbuf sb = STRBUF_INIT;

	if (!json_object_get(spec, "stream"))
		complain(ctx, NULL,
			 "missing 'stream' (a redis_stream source needs the stream key it reads)");
	want_batch_source(spec, complain, ctx);
	if (url && !starts_with(url, "redis://")) {
		sb_addf(&sb, "unsupported URL '%s' (only redis://)", url);
		complain(ctx, "url", sb.buf);
	}
	check_dead_letter(spec, json_string_value(json_object_get(spec, "stream")), "stream",
			  complain, ctx);
	sb_release(&sb);
}

static const char *const redis_stream_keys[] = { "stream", "url", "dead_letter", "batch_source",
						 NULL };

static const struct fs_source_ops redis_stream_ops = {
	.type = "redis_stream",
	.keys = redis_stream_keys,
	.check_spec = redis_stream_check_spec,
};

/* The kinds of source: a new one is a file and a line here. */
static const struct fs_source_ops *const backends[] = {
	&fs_source_csv_ops,
	&fs_source_sqlite_ops,
	&fs_source_postgres_ops,
	&push_ops,
	&kafka_ops,
	&redis_stream_ops,
};

const struct fs_source_ops *fs_source_backend(size_t i)
{
	return i < ARRAY_SIZE(backends) ? backends[i] : NULL;
}

const struct fs_source_ops *fs_source_ops_for(const char *type)
{
	size_t i;

	for (i = 0; type && i < ARRAY_SIZE(backends); i++)
		if (!strcmp(backends[i]->type, type))
			return backends[i];
	return NULL;
}

const struct fs_source_ops *fs_source_spec_ops(const json_t *spec)
{
	return fs_source_ops_for(json_string_value(json_object_get(spec, "type")));
}

static bool uses_key(const struct fs_source_ops *ops, const char *key)
{
	const char *const *k;

	if (!key)
		return ops->open != NULL;
	for (k = ops->keys; k && *k; k++)
		if (!strcmp(*k, key))
			return true;
	return false;
}

void fs_source_types_with(struct strbuf *out, const char *key, const char *conj)
{
	size_t i, n = 0, total = 0;

	for (i = 0; i < ARRAY_SIZE(backends); i++)
		total += uses_key(backends[i], key);
	for (i = 0; i < ARRAY_SIZE(backends); i++) {
		if (!uses_key(backends[i], key))
			continue;
		if (n && n + 1 == total)
			sb_addf(out, " %s ", conj);
		else if (n)
			sb_adds(out, ", ");
		sb_adds(out, backends[i]->type);
		n++;
	}
}

const char *fs_source_path_if_local(const json_t *spec)
{
	const char *path = json_string_value(json_object_get(spec, "path"));

	return path && !strstr(path, "://") ? path : NULL;
}

const char *fs_source_local_file(const json_t *spec)
{
	const struct fs_source_ops *ops = fs_source_spec_ops(spec);

	return ops && ops->local_file ? ops->local_file(spec) : NULL;
}

void fs_source_columns_release(struct fs_source_columns *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->names[i]);
	free(c->names);
	free(c->where);
	memset(c, 0, sizeof(*c));
}

const json_t *fs_source_data_spec(const struct fs_defs *defs, const json_t *source)
{
	const char *batch = json_string_value(json_object_get(source, "batch_source"));
	const struct fs_object *o;

	if (!batch)
		return source;
	o = fs_defs_find(defs, FS_KIND_SOURCE, batch);
	return o ? o->spec : NULL;
}

int fs_source_open(struct fs_source **out, const struct fs_defs *defs, const json_t *source,
		   const char *root)
{
	const json_t *spec = fs_source_data_spec(defs, source);
	const char *name = json_string_value(json_object_get(source, "name"));
	const char *type;
	const struct fs_source_ops *ops;
	struct fs_source *src;
	int rc;

	*out = NULL;
	if (!spec) {
		fs_error_set("source '%s': its batch_source is not registered", name);
		return FS_ENOTFOUND;
	}
	type = json_string_value(json_object_get(spec, "type"));
	ops = fs_source_ops_for(type);
	if (!ops || !ops->open) {
		fs_error_set("source '%s': reading %s sources is not supported by this build", name,
			     type);
		return FS_ERR;
	}
	src = xcalloc(1, sizeof(*src));
	src->ops = ops;
	/* the rows are the batch source's (of a push or stream source): messages name it */
	src->name = xstrdup(json_string_value(json_object_get(spec, "name"))
				    ? json_string_value(json_object_get(spec, "name"))
				    : name);
	if ((rc = src->ops->open(src, spec, root))) {
		fs_source_close(src);
		return rc;
	}
	*out = src;
	return 0;
}

int fs_source_open_latest(struct fs_source **out, const json_t *spec, const char *name,
			  const char *root, const struct fs_source_latest *q)
{
	const struct fs_source_ops *ops = fs_source_spec_ops(spec);
	struct fs_source *src;
	int rc;

	*out = NULL;
	if (!ops || !ops->open_latest)
		return 1;
	src = xcalloc(1, sizeof(*src));
	src->ops = ops;
	src->name = xstrdup(name);
	if ((rc = ops->open_latest(src, spec, root, q))) {
		fs_source_close(src);
		return rc;
	}
	*out = src;
	return 0;
}

int fs_source_split(struct fs_source *src, struct fs_source **second)
{
	*second = NULL;
	return src->ops->split ? src->ops->split(src, second) : 1;
}

int fs_source_next(struct fs_source *src, const struct fs_cell **cells)
{
	return src->ops->next(src, cells);
}

int fs_source_column(const struct fs_source *src, const char *name)
{
	size_t i;

	for (i = 0; i < src->ncolumns; i++)
		if (!strcmp(src->columns[i], name))
			return (int)i;
	return -1;
}

void fs_source_where(struct fs_source *src, char *buf, size_t len)
{
	src->ops->where(src, buf, len);
}

void fs_source_close(struct fs_source *src)
{
	size_t i;

	if (!src)
		return;
	if (src->ops && src->state)
		src->ops->close(src);
	for (i = 0; i < src->ncolumns; i++)
		free(src->columns[i]);
	free(src->columns);
	free(src->name);
	free(src->what);
	free(src);
}
