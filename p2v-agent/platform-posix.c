/* The agent's platform layer on Linux: signals; no service commands
 * (systemd runs 'p2v-agent serve', docs/p2v-agent.md).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <signal.h>
#include <stddef.h>

#include "agent.h"
#include "log.h"

static volatile sig_atomic_t *stop_flag;

static void on_stop_signal(int sig) { *stop_flag = 1; }

int agent_platform_init(void) { return 0; }

const char *agent_platform_help(void) { return ""; }

void agent_serving(const char *bound) { }

int agent_service_command(int argc, char **argv)
{
  p2v_error("'%s' is for the Windows agent; on Linux run p2v-agent serve from systemd "
            "(docs/p2v-agent.md)", argv[0]);
  return EXIT_USAGE;
}

void agent_catch_stop(volatile sig_atomic_t *flag)
{
  stop_flag = flag;
  struct sigaction sa = { .sa_handler = on_stop_signal };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);     /* a vanished client is an EPIPE, not a death */
}
