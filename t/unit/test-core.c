/*
 * Unit tests of core pieces that are awkward to reach through the CLI:
 * durations, the CSV reader, .fsignore matching, suggestions and names.
 */
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "duration.h"
#include "ignore.h"
#include "timeutil.h"
#include "util.h"
#include "value.h"
#include "tap.h"

static void test_duration(void)
{
	static const struct {
		const char *in;
		long long secs;
		const char *canon;
	} good[] = {
		{ "0", 0, "0" },       { "1s", 1, "1s" },      { "90m", 5400, "1h30m" },
		{ "2h", 7200, "2h" },  { "1d", 86400, "1d" },  { "1w", 604800, "1w" },
		{ "1h30m", 5400, "1h30m" }, { "24h", 86400, "1d" }, { "8d", 691200, "8d" },
	};
	static const char *const bad[] = { "", "5", "3600", "5x", "h", "1.5h", "-1h", "1h ",
					   "99999999999999999999s" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		int64_t s = -1;
		char buf[64];
		ok(fs_duration_parse(&s, good[i].in) == 0 && s == good[i].secs,
		   "duration '%s' is %lld s", good[i].in, good[i].secs);
		fs_duration_format(buf, sizeof(buf), good[i].secs);
		is_str(buf, good[i].canon, "duration %lld s prints as '%s'", good[i].secs,
		       good[i].canon);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		int64_t s;
		ok(fs_duration_parse(&s, bad[i]) != 0, "duration '%s' is rejected", bad[i]);
	}
}

/* All records of text as "a|b|c" lines joined by '\n'; NULL-field shown as <null>. */
static char *csv_all(const char *text, int *rc_out)
{
	struct fs_csv *c = fs_csv_from_mem(text, strlen(text), "t.csv");
	const struct fs_csv_field *f;
	size_t n, i;
	int rc;
	char *out = xstrdup("");

	while ((rc = fs_csv_next(c, &f, &n)) == 1) {
		for (i = 0; i < n; i++) {
			char *next = xstrfmt("%s%s%s", out, i ? "|" : "",
					     f[i].len || f[i].quoted ? f[i].s : "<null>");
			free(out);
			out = next;
		}
		{
			char *next = xstrfmt("%s\n", out);
			free(out);
			out = next;
		}
	}
	*rc_out = rc;
	fs_csv_free(c);
	return out;
}

static void test_csv(void)
{
	static const struct {
		const char *in, *want, *name;
	} cases[] = {
		{ "a,b\n1,2\n", "a|b\n1|2\n", "plain" },
		{ "a,b\r\n1,2\r\n", "a|b\n1|2\n", "CRLF" },
		{ "\xEF\xBB\xBF" "a,b\n1,2", "a|b\n1|2\n", "BOM and no final newline" },
		{ "a,b\n\"x,y\",\"q\"\"q\"\n", "a|b\nx,y|q\"q\n", "quoted comma and quote" },
		{ "a\n\"line1\nline2\"\n", "a\nline1\nline2\n", "quoted newline" },
		{ "a,b,c\n1,,3\n", "a|b|c\n1|<null>|3\n", "empty cell is null" },
		{ "a,b\n1,\"\"\n", "a|b\n1|\n", "empty quoted string is not null" },
		{ "a,b\n\n1,2\n", "a|b\n1|2\n", "blank line skipped" },
	};
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char *got = csv_all(cases[i].in, &rc);
		is_str(got, cases[i].want, "csv: %s", cases[i].name);
		ok(rc == 0, "csv: %s ends cleanly", cases[i].name);
		free(got);
	}
	free(csv_all("a,b\n\"open,2\n", &rc));
	ok(rc < 0, "csv: unterminated quote is an error");
	free(csv_all("a,b\n\"x\"y,2\n", &rc));
	ok(rc < 0, "csv: text after a closing quote is an error");
	free(csv_all("a,b\nx\"y,2\n", &rc));
	ok(rc < 0, "csv: a quote inside an unquoted field is an error");
	{
		struct fs_csv *c = fs_csv_from_mem("a\n1\n\"x\ny\"\n3\n", 11, "t.csv");
		const struct fs_csv_field *f;
		size_t n;
		fs_csv_next(c, &f, &n);
		fs_csv_next(c, &f, &n);
		fs_csv_next(c, &f, &n);
		ok(fs_csv_line(c) == 3, "csv: a record's line is where it starts");
		fs_csv_next(c, &f, &n);
		ok(fs_csv_line(c) == 5, "csv: lines count embedded newlines");
		fs_csv_free(c);
	}
}

static void test_ignore(void)
{
	const char *rules = "# comment\n*.tmp.yaml\nscratch/\n/top.yaml\n!keep.tmp.yaml\n"
			    "drafts/**/old.yaml\n";
	struct fs_ignore *ign = fs_ignore_parse(rules, strlen(rules));

	ok(fs_ignore_match(ign, "a.tmp.yaml", false), "ignore: glob on a name");
	ok(fs_ignore_match(ign, "deep/dir/a.tmp.yaml", false), "ignore: glob at any depth");
	ok(!fs_ignore_match(ign, "keep.tmp.yaml", false), "ignore: ! re-includes");
	ok(fs_ignore_match(ign, "scratch", true), "ignore: directory rule matches the directory");
	ok(fs_ignore_match(ign, "scratch/x.yaml", false), "ignore: files below an ignored directory");
	ok(!fs_ignore_match(ign, "scratch", false), "ignore: directory rule skips files of that name");
	ok(fs_ignore_match(ign, "top.yaml", false), "ignore: anchored rule at the root");
	ok(!fs_ignore_match(ign, "sub/top.yaml", false), "ignore: anchored rule not below the root");
	ok(fs_ignore_match(ign, "drafts/a/b/old.yaml", false), "ignore: ** crosses directories");
	ok(!fs_ignore_match(ign, "features/driver.yaml", false), "ignore: others are kept");
	fs_ignore_free(ign);
}

static void test_names(void)
{
	static const char *const cmds[] = { "apply", "plan", "describe", "log", NULL };

	is_str(fs_suggest("aply", cmds, (size_t)-1), "apply", "suggest: missing letter");
	is_str(fs_suggest("paln", cmds, (size_t)-1), "plan", "suggest: swapped letters");
	is_str(fs_suggest("xyzzy", cmds, (size_t)-1), NULL, "suggest: nothing close");
	ok(fs_edit_distance("driver", "drivr") == 1, "edit distance of a deletion is 1");
	ok(fs_is_valid_name("driver_hourly_stats2"), "names: lowercase, digits, _");
	ok(fs_is_valid_name("_x"), "names: may start with _");
	ok(!fs_is_valid_name("Driver"), "names: no uppercase");
	ok(!fs_is_valid_name("1x"), "names: no leading digit");
	ok(!fs_is_valid_name(""), "names: not empty");
	ok(fs_is_valid_project("driver-ranking_2"), "project names allow -");
	ok(!fs_is_valid_project("a b"), "project names: no spaces");
}

static void test_time(void)
{
	char buf[FS_TIME_BUFSZ];

	fs_time_format(buf, 0);
	is_str(buf, "1970-01-01T00:00:00Z", "time: epoch");
	fs_time_format(buf, 1714557600);
	is_str(buf, "2024-05-01T10:00:00Z", "time: RFC 3339 UTC");
	ok(fs_days_from_civil(2024, 3, 1) - fs_days_from_civil(2024, 2, 28) == 2,
	   "time: 2024 is a leap year");
	ok(fs_days_from_civil(1970, 1, 1) == 0, "time: day 0 is 1970-01-01");
}

/* one timestamp text: parses (to want microseconds) or not (ok false) */
static void parses(const char *s, bool good, int64_t want)
{
	int64_t us = 0;
	bool got = fs_time_parse(s, strlen(s), &us);

	if (good)
		ok(got && us == want, "time parse: '%s' -> %lld (got %s %lld)", s, (long long)want,
		   got ? "ok" : "error", (long long)us);
	else
		ok(!got, "time parse: '%s' is refused", s);
}

static void fits(enum fs_type t, const char *s, bool want)
{
	int64_t iv;

	ok(fs_value_parse(t, s, strlen(s), &iv) == want, "value: '%s' %s a %s", s,
	   want ? "is" : "is not", fs_type_name(t));
}

static void test_float_range(void)
{
	static const char forty[] = "1000000000000000000000000000000000000000";

	fits(FS_T_FLOAT32, "0.5", true);
	fits(FS_T_FLOAT32, "3.4e38", true);
	fits(FS_T_FLOAT32, "-3.4e38", true);
	fits(FS_T_FLOAT32, "1e39", false);
	fits(FS_T_FLOAT32, "-1E+39", false);
	fits(FS_T_FLOAT32, forty, false);
	fits(FS_T_FLOAT64, forty, true);
	fits(FS_T_FLOAT64, "1e308", true);
	fits(FS_T_FLOAT64, "1e309", false);
	fits(FS_T_FLOAT64, "1e-400", true); /* underflows to 0: still a number */
	fits(FS_T_FLOAT64, "inf", true);    /* spelled out: kept, written as null in JSON */
	fits(FS_T_FLOAT64, "1e", false);
	fits(FS_T_FLOAT64, "0x10", false);
}

static void test_time_parse(void)
{
	const int64_t t = 1714557600LL * 1000000; /* 2024-05-01T10:00:00Z */

	parses("2024-05-01T10:00:00Z", true, t);
	parses("2024-05-01t10:00:00z", true, t);
	parses("2024-05-01 10:00:00Z", true, t);
	parses("2024-05-01 10:00:00", true, t);
	parses("2024-05-01T12:00:00+02:00", true, t);
	parses("2024-05-01T05:30:00-04:30", true, t);
	parses("2024-05-01T10:00:00.5Z", true, t + 500000);
	parses("2024-05-01T10:00:00.123456Z", true, t + 123456);
	parses("2024-05-01T10:00:00.1234567Z", true, t + 123456); /* beyond microseconds: cut */
	parses("2024-05-01T10:00:00.000+00:00", true, t);
	parses("1714557600", true, t);
	parses("0", true, 0);
	parses("-1", true, -1000000);
	parses("1969-12-31T23:59:59Z", true, -1000000);
	parses("2024-02-29T00:00:00Z", true, 1709164800LL * 1000000);
	parses("2000-02-29T00:00:00Z", true, 951782400LL * 1000000);
	parses("2023-02-29T00:00:00Z", false, 0);
	parses("1900-02-29T00:00:00Z", false, 0);
	parses("2024-04-31T00:00:00Z", false, 0);
	parses("2024-13-01T00:00:00Z", false, 0);
	parses("2024-05-01T24:00:00Z", false, 0);
	parses("2024-05-01T10:60:00Z", false, 0);
	parses("2024-05-01T10:00:00+0200", false, 0);
	parses("2024-05-01T10:00:00+25:00", false, 0);
	parses("2024-05-01T10:00Z", false, 0);
	parses("2024-05-01T10:00:00.Z", false, 0);
	parses("2024-05-01T10:00:00Z ", false, 0);
	parses(" 2024-05-01T10:00:00Z", false, 0);
	parses("2024-5-1T10:00:00Z", false, 0);
	parses("17145576OO", false, 0);
	parses("", false, 0);
	parses("yesterday", false, 0);
}

static void test_json(void)
{
	struct strbuf sb = STRBUF_INIT;
	char buf[40];

	fs_json_quote(&sb, "a\"b\\c\n\x01", 7);
	is_str(sb_str(&sb), "\"a\\\"b\\\\c\\n\\u0001\"", "json: escapes");
	sb_reset(&sb);
	fs_json_quote(&sb, "\xc3\xa9t\xc3\xa9", 5);
	is_str(sb_str(&sb), "\"\xc3\xa9t\xc3\xa9\"", "json: valid UTF-8 kept");
	sb_reset(&sb);
	fs_json_quote(&sb, "\\\xde\xa3\xdd" "b", 5);
	is_str(sb_str(&sb), "\"\\\\\xde\xa3\\ufffdb\"", "json: invalid UTF-8 replaced (fuzzer find)");
	sb_reset(&sb);
	fs_json_quote(&sb, "\xed\xa0\x80", 3);
	is_str(sb_str(&sb), "\"\\ufffd\\ufffd\\ufffd\"", "json: surrogates are not UTF-8");
	sb_reset(&sb);
	fs_value_json(&sb, FS_T_FLOAT64, 0, "0.52", 4);
	is_str(sb_str(&sb), "0.52", "json: a float keeps its text");
	sb_reset(&sb);
	fs_value_json(&sb, FS_T_FLOAT64, 0, "1.", 2);
	is_str(sb_str(&sb), "1.0", "json: a float that is not JSON is reformatted, as a float");
	sb_reset(&sb);
	fs_value_json(&sb, FS_T_FLOAT64, 0, "3", 1);
	is_str(sb_str(&sb), "3.0", "json: a whole float is written 3.0, never as an int");
	sb_reset(&sb);
	fs_value_json(&sb, FS_T_FLOAT32, 0, "-2e5", 4);
	is_str(sb_str(&sb), "-2e5", "json: a float with an exponent keeps it");
	sb_reset(&sb);
	fs_value_json(&sb, FS_T_FLOAT64, 0, "nan", 3);
	is_str(sb_str(&sb), "null", "json: NaN is null");
	sb_release(&sb);
	fs_format_double(buf, sizeof(buf), 0.99);
	is_str(buf, "0.99", "shortest round-trip double");
	fs_format_double(buf, sizeof(buf), 0.1 + 0.2);
	is_str(buf, "0.30000000000000004", "17 digits when needed");
}

static void test_url_redact(void)
{
	static const char *const cases[][2] = {
		{ "redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0" },
		{ "redis://user:s3cret@h/0", "redis://user:***@h/0" },
		{ "https://u:p@ss@h.example/x.csv?a=b@c", "https://u:***@h.example/x.csv?a=b@c" },
		{ "redis://user@h/0", "redis://user@h/0" },
		{ "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0" },
		{ "host=db user=fs password=s3cret dbname=f", "host=db user=fs password=*** dbname=f" },
		{ "password='a b\\' c' host=x", "password=*** host=x" },
		{ "data/driver.csv", "data/driver.csv" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char *got = fs_url_redact(cases[i][0]);
		is_str(got, cases[i][1], "url redact: %s", cases[i][0]);
		free(got);
	}
}

int main(void)
{
	test_url_redact();
	test_json();
	test_duration();
	test_csv();
	test_ignore();
	test_names();
	test_time();
	test_time_parse();
	test_float_range();
	return done_testing();
}
