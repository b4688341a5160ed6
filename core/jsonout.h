/*
 * jsonout.h: JSON text for people and for programs, from jansson values.
 */
#ifndef FS_JSONOUT_H
#define FS_JSONOUT_H

#include <jansson.h>

/*
 * Numbers for people and for JSON: metrics are doubles, and what a user
 * typed (0.85) should come back as typed, not as 0.84999999999999998.
 * fs_real_format: d as the shortest "%g" text that reads back as d (and
 * 0.7999999 is not rounded to 0.8). fs_json_dumps: j laid out as
 * json_dumps(j, JSON_INDENT(indent)) does (JSON_COMPACT for 0), keys in
 * insertion order, each real with the fewest digits that read back as it;
 * the caller frees the text.
 */
#define FS_REAL_BUFSZ 32
const char *fs_real_format(char buf[FS_REAL_BUFSZ], double d);
char *fs_json_dumps(const json_t *j, int indent);

#endif
