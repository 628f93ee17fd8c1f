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
  EXIT_NOT_RUNNING = 3,  /* status: the service is installed, not running */
  EXIT_NOT_INSTALLED = 4,/* status: no service p2v-agent */
};

/* serve.c */
int agent_serve(int argc, char **argv);
/* What 'serve ARGS' would be told before it listens, for 'install' and
 * 'status' (argv[0] is the command's name). */
struct agent_serve_summary {
  const char *listen_address;   /* or NULL; into argv, or the default */
  const char *connect_address;  /* or NULL; into argv */
  int first_disk;               /* argv index of the first DISK */
  bool help_shown;              /* -h among them: the usage was printed */
};
/* The options checked as 'serve' checks them, opening no disk; with
 * load_tls the TLS files loaded too.  EXIT_OK with *summary filled, or
 * serve's exit status with its one line. */
int agent_serve_check(int argc, char **argv, bool load_tls, struct agent_serve_summary *summary);

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
/* Serving has begun: listening on bound, or about to dial it.  The
 * Windows service reports SERVICE_RUNNING here; nothing on Linux. */
void agent_serving(const char *bound);
/* install, uninstall, start, stop, status and service (argv[0]): the
 * Windows service (service-win32.c); on Linux one line saying so. */
int agent_service_command(int argc, char **argv);

/* platform-win32.c: the stop the console's Ctrl-C makes, for the
 * service's STOP and SHUTDOWN (also before agent_catch_stop). */
void agent_request_stop(void);

/* service-cmdline.c: Windows command lines (pure C, tested on Linux). */
/* arg appended to the NUL-terminated line (size bytes in all), after a
 * space unless line is empty, quoted so that the C runtime splits it back
 * as it was; program: CreateProcess's rule for the program name (always
 * quoted, no quote allowed).  0, or -1 if it does not fit (line then
 * holds a truncated attempt). */
int agent_cmdline_append(char *line, size_t size, const char *arg, bool program);
/* line split as the C runtime splits a command line (argv[0] by
 * CreateProcess's rule): a NULL-terminated vector in one malloc'd block
 * (free it alone), *argc set; NULL if out of memory. */
char **agent_cmdline_split(const char *line, int *argc);

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
