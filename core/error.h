/*
 * error.h: return codes and the last-error message of the core library.
 *
 * Every core function returns 0 on success or one of the negative codes
 * below; on failure it leaves a message for the caller to print with
 * fs_error_last() (libgit2's git_error_last() convention). Core code never
 * prints to the user.
 */
#ifndef FS_ERROR_H
#define FS_ERROR_H

enum {
	FS_OK = 0,
	FS_ERR = -1,       /* generic failure, message set */
	FS_ENOTFOUND = -3, /* the thing asked for does not exist */
	FS_EINVALID = -4,  /* user input is invalid (diagnostics given) */
	FS_ELOCKED = -5,   /* another process holds the lock */
	FS_EEXISTS = -6,   /* the thing to create already exists */
	FS_EGATE = -7,     /* a promotion gate is not met (a negative answer) */
	FS_ECONFLICT = -8, /* a concurrent writer changed what a batch read: do it again */
	FS_EIDENT = -9,    /* no identity to commit with (git's "Please tell me who you are") */
};

void fs_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The message of the last failure, never NULL ("unknown error" if none). */
const char *fs_error_last(void);

#endif
