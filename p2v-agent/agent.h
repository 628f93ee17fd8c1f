/* p2v-agent: private declarations, by the file that defines them.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_AGENT_H
#define P2V_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

struct p2v_disk;

/* Exit codes (documented in docs/p2v-agent.md). */
enum {
  EXIT_OK = 0,
  EXIT_ERROR = 1,        /* a disk, address or TLS file could not be used */
  EXIT_USAGE = 2,        /* bad command line */
};

/* serve.c */
int agent_serve(int argc, char **argv);

/* survey-command.c (platform-win32.c: not there yet) */
int agent_survey(int argc, char **argv);
/* The survey of the served disks, served as export p2v:survey: 0 with
 * *json malloc'd (NULL: no survey on this platform), or -1 reported. */
int agent_survey_export(struct p2v_disk *const *disks, size_t n, char **json);

/* platform-posix.c, platform-win32.c */
/* Before serving: sockets (WSAStartup on Windows).  0, or -1 reported. */
int agent_platform_init(void);
/* Set *flag on a request to stop (SIGINT, SIGTERM; on Windows Ctrl-C,
 * Ctrl-Break, the console closing), and make a vanished client an error
 * return rather than a death (SIGPIPE). */
void agent_catch_stop(volatile sig_atomic_t *flag);
/* What this platform's build of 'serve' lacks, for its --help ("" if nothing). */
const char *agent_platform_help(void);

/* options.c */
/* option's number from min to max into *value; -1 with one usage error. */
int option_number(const char *command, const char *option, const char *arg, unsigned min,
                  unsigned max, unsigned *value);
/* The index of option's arg in names; -1 with one usage error. */
int option_choice(const char *command, const char *option, const char *arg,
                  const char *const names[], int *index);
void usage_error(const char *command, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));

#endif
