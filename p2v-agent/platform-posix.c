/* The agent's platform layer on Linux: signals.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <signal.h>
#include <stddef.h>

#include "agent.h"

static volatile sig_atomic_t *stop_flag;

static void on_stop_signal(int sig) { *stop_flag = 1; }

int agent_platform_init(void) { return 0; }

const char *agent_platform_help(void) { return ""; }

void agent_catch_stop(volatile sig_atomic_t *flag)
{
  stop_flag = flag;
  struct sigaction sa = { .sa_handler = on_stop_signal };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);     /* a vanished client is an EPIPE, not a death */
}
