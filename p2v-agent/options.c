/* Command-line helpers shared by the agent's commands.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdarg.h>
#include <stdio.h>

#include "agent.h"
#include "log.h"
#include "parse.h"

int option_number(const char *command, const char *option, const char *arg, unsigned min,
                  unsigned max, unsigned *value)
{
  char why[P2V_OPTION_WHY_MAX];
  if (p2v_option_why_uint(option, arg, min, max, value, why, sizeof why) == 0)
    return 0;
  usage_error(command, "%s", why);
  return -1;
}

int option_choice(const char *command, const char *option, const char *arg,
                  const char *const names[], int *index)
{
  char why[P2V_OPTION_WHY_MAX];
  if (p2v_option_why_choice(option, arg, names, index, why, sizeof why) == 0)
    return 0;
  usage_error(command, "%s", why);
  return -1;
}

/* One line that says what was wrong and where to look. */
void usage_error(const char *command, const char *fmt, ...)
{
  char message[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  p2v_error("%s; see 'p2v-agent %s --help'", message, command);
}
