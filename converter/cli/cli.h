/* cli/: p2v-convert's command lines (copy, run), their usage texts and
 * the copy summary; the jobs themselves are in run/.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_CLI_H
#define P2V_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "run/run.h"

/* Exit codes of p2v-convert (docs/p2v-convert.md lists them); run/ and
 * the copy job return failure kinds, mapped here only. */
enum {
  EXIT_OK = 0,
  EXIT_FAILURE_OTHER = 1,        /* anything not below, e.g. an output write error */
  EXIT_USAGE = 2,                /* bad command line */
  EXIT_UNREACHABLE = 3,          /* nothing serves at the source URI */
  EXIT_NO_EXPORT = 4,            /* the server has no such export */
  EXIT_TLS = 5,                  /* TLS required, refused or failed */
  EXIT_OUTPUT_EXISTS = 6,        /* OUTPUT (or OUTPUT.part) exists, no --force */
  EXIT_DISK_FULL = 7,            /* ENOSPC or EDQUOT writing the output */
  EXIT_READ_ERROR = 8,           /* the source failed a read after retries */
  EXIT_STALLED = 9,              /* no progress for --stall-timeout seconds */
  /* run (and copy's free-space check, 10) */
  EXIT_PREFLIGHT = 10,           /* preflight failed: space, format limits, survey, an unreadable export */
  EXIT_NO_SPACE = EXIT_PREFLIGHT, /* copy: too little free space for the output, found before writing */
  EXIT_NO_OS = 11,               /* no operating system found, or one that cannot be converted */
  EXIT_CONVERT = 12,             /* inspection or conversion of the guest failed */
  EXIT_VERIFY = 13,              /* an output differs from its converted overlay */
  EXIT_BOOT_TEST = 14,           /* the boot test ran and did not reach the login prompt */
  EXIT_INTERRUPTED = 130,        /* SIGINT; SIGTERM gives 143 */
};

/* exit-codes.c: the one mapping from how a job ended to its exit code. */
int convert_exit_code(enum run_failure failure, int signo);

/* copy-command.c: p2v-convert copy; the exit code. */
int convert_copy(int argc, char **argv);
/* run-command.c: p2v-convert run; the exit code. */
int convert_run(int argc, char **argv);

/* options.c, shared by both commands */
/* copy --listen and run --listen: the source's disks arrive on address,
 * which off loopback needs TLS (a PSK) or --insecure (docs/dial-in.md).
 * psk_option names the command's PSK option.  0, or -1 reported. */
int convert_check_listen_tls(const char *address, bool tls, bool insecure,
                             const char *psk_option);
/* An option's number from min to max into *out; -1 with one error line. */
int convert_parse_unsigned(const char *option, const char *arg, unsigned min, unsigned max,
                           unsigned *out);
/* --cluster-size: "65536", "64K", "2M"; a power of two from 512 to 2M.
 * 0, or -1 with one error. */
int convert_parse_cluster_size(const char *arg, uint32_t *out);

#endif
