/*
 * libFuzzer target: serve-lite request bodies, fed to the request handler
 * (the same function the HTTP server calls) for each endpoint, over the
 * example definitions and a SQLite online store holding a few rows.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "defs.h"
#include "embedded.h"
#include "online.h"
#include "serve.h"
#include "source.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char extra[] = "---\nkind: source\nname: live\ntype: push\nbatch_source: driver_stats\n"
			    "---\nkind: feature_view\nname: live_stats\nentities: [driver]\n"
			    "source: live\nttl: 1h\nfeatures:\n  - {name: conv_rate, type: float64}\n"
			    "  - {name: note, type: string}\n";

static struct fs_defs defs;
static struct fs_online *store;
static json_t *models;

static void setup(void)
{
	struct fs_diags diags = { 0 };
	struct fs_config cfg = { 0 };
	const struct fs_embedded *tmpl = fs_embedded_get("driver.yaml");
	char path[] = "/tmp/fs-fuzz-serve-XXXXXX";
	int fd = mkstemp(path);
	struct strbuf body = STRBUF_INIT;
	struct fs_serve_env env = { 0 };

	close(fd);
	fs_defs_parse(&defs, "driver.yaml", tmpl->data, tmpl->len, &diags);
	fs_defs_parse(&defs, "extra.yaml", extra, sizeof(extra) - 1, &diags);
	fs_defs_sort(&defs);
	fs_diags_release(&diags);
	cfg.project = (char *)"fuzz";
	cfg.online_type = (char *)"sqlite";
	cfg.online_path = path;
	if (fs_online_open(&store, &cfg))
		abort();
	unlink(path);
	models = json_pack("{s:{s:i}}", "eta/production", "version", 1);
	/* a few rows to find */
	env.defs = &defs;
	env.models = models;
	env.store = store;
	{
		static const char push[] =
			"{\"push_source_name\":\"live\",\"df\":{\"driver_id\":[1001,1002],"
			"\"event_timestamp\":[\"2024-05-01T10:00:00Z\",1714557600],"
			"\"created\":[null,null],\"conv_rate\":[0.5,null],\"note\":[\"a\",\"b\"]}}";
		if (fs_serve_request(&env, "POST", "/push", push, sizeof(push) - 1, &body) != 200)
			abort();
	}
	sb_release(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = { "/get-online-features", "/push", "/models/eta/production",
					     "/models/x", "/nope" };
	struct fs_serve_env env = { 0 };
	struct strbuf out = STRBUF_INIT;
	int status;

	if (!store)
		setup();
	if (!size)
		return 0;
	env.defs = &defs;
	env.models = models;
	env.store = store;
	env.now_us = 1714557600LL * 1000000;
	status = fs_serve_request(&env, data[0] & 0x80 ? "GET" : "POST", paths[data[0] % 5],
				  (const char *)data + 1, size - 1, &out);
	if (status < 200 || status > 599 || !out.len)
		abort();
	/* every answer is JSON */
	{
		json_t *j = json_loadb(out.buf, out.len, 0, NULL);
		if (!j)
			abort();
		json_decref(j);
	}
	sb_release(&out);
	return 0;
}
