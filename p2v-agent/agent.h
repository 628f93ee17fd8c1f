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

/* serve-snapshot.c: serve --snapshot (snapshot.h is the provider) */
struct agent_snapshot;
struct agent_done_watch;
struct p2v_disk_options;
struct p2v_nbd_counters;
/* Snapshot the volumes ("C:", "D:\") and open each one's shadow copy as
 * a disk, exported under the volume's name ("C"); *snapshot is then to be
 * released once the disks are closed.  NULL with one error, nothing left. */
struct p2v_disk **agent_snapshot_disks_open(char *const *volumes, size_t n,
                                            const struct p2v_disk_options *options,
                                            struct agent_snapshot **snapshot);
/* A thread that sets *stop once a client opened p2v:done and every
 * client has left.  NULL with one error. */
struct agent_done_watch *agent_done_watch_start(const struct p2v_nbd_counters *counters,
                                                volatile sig_atomic_t *stop);
void agent_done_watch_stop(struct agent_done_watch *watch);

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
