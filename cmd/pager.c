/*
 * pager.c: long output through a pager when stdout is a terminal, as git's
 * pager.c does it. The pager is $FS_PAGER, else $PAGER, else less (with
 * LESS=FRX when LESS is unset: quit when the text fits one screen, keep
 * colours, leave the screen as it is); "cat" or an empty value means none.
 * It runs as `sh -c "$pager"` reading a pipe that becomes fs's stdout (and
 * stderr, when that is the terminal too); fs waits for it before exiting,
 * so the shell prompt comes back after the pager is done.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builtin.h"
#include "banned.h"

static bool disabled;
static pid_t pager_pid = -1;

void pager_disable(void)
{
	disabled = true;
}

/* The pager to run, or NULL for none. */
static const char *pager_program(void)
{
	const char *p = getenv("FS_PAGER");

	if (!p)
		p = getenv("PAGER");
	if (!p)
		p = "less";
	return *p && strcmp(p, "cat") ? p : NULL;
}

/* Close fs's ends of the pipe so that the pager sees the end, then wait for it. */
static void finish_pager(void)
{
	int status;

	close(STDOUT_FILENO);
	close(STDERR_FILENO);
	while (waitpid(pager_pid, &status, 0) < 0 && errno == EINTR)
		;
	pager_pid = -1;
}

static void wait_for_pager(void)
{
	if (pager_pid < 0)
		return;
	fflush(stdout);
	fflush(stderr);
	finish_pager();
}

/* Killed (^C in the pager, a pager quit early: SIGPIPE): let the pager finish first. */
static void wait_for_pager_signal(int sig)
{
	if (pager_pid > 0)
		finish_pager();
	signal(sig, SIG_DFL);
	raise(sig);
}

void setup_pager(void)
{
	static const int sigs[] = { SIGINT, SIGHUP, SIGTERM, SIGQUIT, SIGPIPE };
	const char *pager;
	int fd[2];
	pid_t pid;
	size_t i;

	if (disabled || pager_pid > 0 || !isatty(STDOUT_FILENO) || !(pager = pager_program()))
		return;
	fflush(stdout);
	fflush(stderr);
	if (pipe(fd) < 0)
		return; /* as git: no pager, the output still goes to the terminal */
	pid = fork();
	if (pid < 0) {
		close(fd[0]);
		close(fd[1]);
		return;
	}
	if (pid == 0) {
		dup2(fd[0], STDIN_FILENO);
		close(fd[0]);
		close(fd[1]);
		setenv("LESS", "FRX", 0);
		setenv("LV", "-c", 0);
		execl("/bin/sh", "sh", "-c", pager, (char *)NULL);
		fprintf(stderr, "fatal: cannot run pager '%s': %s\n", pager, strerror(errno));
		_exit(127);
	}
	dup2(fd[1], STDOUT_FILENO);
	if (isatty(STDERR_FILENO))
		dup2(fd[1], STDERR_FILENO);
	close(fd[0]);
	close(fd[1]);
	pager_pid = pid;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], wait_for_pager_signal);
	atexit(wait_for_pager);
}
