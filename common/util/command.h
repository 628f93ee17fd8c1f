/* Running a program: argv (no shell), optional time limit, captured
 * output, its exit status.  The result is opaque (no pid, no fds), so a
 * Windows twin can have the same interface.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_COMMAND_H
#define P2V_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

/* How long a program asked to stop (SIGTERM) has before it is killed. */
#define P2V_COMMAND_GRACE_MS 2000

struct p2v_command_options {
  unsigned timeout_ms;          /* 0: none; else stop it then (SIGTERM, grace, SIGKILL) */
  bool inherit_stdio;           /* ours (a console tool); else stdin /dev/null, output captured */
  size_t max_stdout;            /* 0: 64 MiB; more and the run fails (the program is stopped) */
  size_t max_stderr;            /* 0: 64 KiB; only the end is kept (where the reason is) */
  char *const *env;             /* NULL: ours */
  const char *install_hint;     /* for a program not found, e.g. "apt-get install xorriso" */
};

struct p2v_command;

/* Run argv[0] (looked up in PATH) with opts (NULL: the defaults) and
 * wait for it; always reaped.  NULL reported: it cannot start (not
 * found: one line, with the install hint), its output is over
 * max_stdout, out of memory. */
struct p2v_command *p2v_command_run(const char *const argv[],
                                    const struct p2v_command_options *opts);

/* Its exit status (0..255), or -1 if a signal ended it (or the timeout). */
int p2v_command_status(const struct p2v_command *c);
/* The signal that ended it, 0 if it exited. */
int p2v_command_signal(const struct p2v_command *c);
bool p2v_command_timed_out(const struct p2v_command *c);
/* What it wrote (NUL-terminated; "" with inherit_stdio); len may be NULL. */
const char *p2v_command_stdout(const struct p2v_command *c, size_t *len);
const char *p2v_command_stderr(const struct p2v_command *c, size_t *len);
/* The last non-empty line of its stderr (malloc'd, "" if none; NULL if
 * out of memory). */
char *p2v_command_last_error_line(const struct p2v_command *c);
/* How it ended, for messages: "exited with status 3", "was killed by
 * signal 9", "did not finish within 10 s and was stopped". */
const char *p2v_command_ending(const struct p2v_command *c, char *buf, size_t len);
void p2v_command_free(struct p2v_command *c);

#endif
