#include "error.h"

#include <stdarg.h>
#include <stdio.h>

#include "banned.h"

static _Thread_local char last_error[4096];

void fs_error_set(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

const char *fs_error_last(void)
{
	return last_error[0] ? last_error : "unknown error";
}
