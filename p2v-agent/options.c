/* Command-line helpers shared by the agent's commands.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent.h"
#include "log.h"

bool parse_unsigned(const char *text, unsigned max, unsigned *value)
{
  char *end;
  errno = 0;
  unsigned long v = strtoul(text, &end, 10);
  if (errno || end == text || *end || text[0] == '-' || v > max)
    return false;
  *value = (unsigned) v;
  return true;
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
