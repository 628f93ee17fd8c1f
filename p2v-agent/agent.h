/* p2v-agent: private declarations, by the file that defines them.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_AGENT_H
#define P2V_AGENT_H

#include <stdbool.h>

/* Exit codes (documented in docs/p2v-agent.md). */
enum {
  EXIT_OK = 0,
  EXIT_ERROR = 1,        /* a disk, address or TLS file could not be used */
  EXIT_USAGE = 2,        /* bad command line */
};

/* serve.c */
int agent_serve(int argc, char **argv);

/* survey-command.c */
int agent_survey(int argc, char **argv);

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
