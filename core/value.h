/*
 * value.h: feature types and the conversion of data text into them.
 *
 * Values travel as text from sources to outputs; conversion validates the
 * text against the declared type and normalizes what has a canonical form:
 * integers and booleans become int64, timestamps microseconds. Floats and
 * strings keep their text (floats are checked to be numbers), so no
 * precision is lost on the way through.
 */
#ifndef FS_VALUE_H
#define FS_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

enum fs_type {
	FS_T_INT32,
	FS_T_INT64,
	FS_T_FLOAT32,
	FS_T_FLOAT64,
	FS_T_STRING,
	FS_T_BOOL,
	FS_T_TIMESTAMP,
};

/* 0 and *out for a name of DESIGN.md's types, else FS_ENOTFOUND. */
int fs_type_parse(enum fs_type *out, const char *name);
const char *fs_type_name(enum fs_type t);
/* Does the type keep its text (float, string) rather than an int64? */
static inline bool fs_type_is_text(enum fs_type t)
{
	return t == FS_T_FLOAT32 || t == FS_T_FLOAT64 || t == FS_T_STRING;
}

/*
 * Check text s (len bytes, not empty) against type t; for int, bool and
 * timestamp types *iv gets the value. false when it does not fit.
 */
bool fs_value_parse(enum fs_type t, const char *s, size_t len, int64_t *iv);
bool fs_parse_int64(const char *s, size_t len, int64_t *out);

/* Append the CSV form of a value (text types: the text, quoted when needed). */
void fs_value_csv(struct strbuf *sb, enum fs_type t, int64_t iv, const char *text, size_t len);
/* The shortest text that reads back as d (%.15g, else %.16g, else %.17g). */
void fs_format_double(char *buf, size_t len, double d);
/* Append s as a JSON string (quotes, escapes). */
void fs_json_quote(struct strbuf *sb, const char *s, size_t len);
/*
 * Append a value as JSON: numbers as numbers (a float's own text when it is
 * a valid JSON number, else its shortest round-trip form; null for NaN and
 * infinities), bool as true/false, timestamps and strings as strings.
 */
void fs_value_json(struct strbuf *sb, enum fs_type t, int64_t iv, const char *text, size_t len);
/* Append s as one CSV field, quoted when it holds , " CR or LF. */
void fs_csv_quote(struct strbuf *sb, const char *s, size_t len);

#endif
