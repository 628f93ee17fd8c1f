/* The agent's platform layer on Windows: Winsock, console stop events,
 * and what the Windows agent does not have yet (the survey, issue 13).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "net-platform.h"      /* winsock2.h before windows.h */

#include <windows.h>

#include "agent.h"
#include "log.h"

static volatile sig_atomic_t *stop_flag;

/* Runs on a thread of its own: set the flag, and let the serving loop
 * (which polls it every 200 ms) wind down before Windows ends us. */
static BOOL WINAPI on_console_event(DWORD event)
{
  switch (event) {
  case CTRL_C_EVENT: case CTRL_BREAK_EVENT: case CTRL_CLOSE_EVENT:
  case CTRL_SHUTDOWN_EVENT: case CTRL_LOGOFF_EVENT:
    *stop_flag = 1;
    return TRUE;
  default:
    return FALSE;
  }
}

const char *agent_platform_help(void)
{
  return "\n"
    "This Windows build has no TLS yet (SChannel is to come): it serves plain\n"
    "NBD, on 127.0.0.1 only unless --insecure, and refuses the --tls options.\n"
    "It has no survey (no p2v:survey export) and reads no filesystems: every\n"
    "block is sent.  DISK is an image file or \\\\.\\PhysicalDriveN (docs/p2v-agent.md,\n"
    "\"Windows build\").\n";
}

int agent_platform_init(void)
{
  return p2v_sock_startup();
}

void agent_catch_stop(volatile sig_atomic_t *flag)
{
  stop_flag = flag;
  SetConsoleCtrlHandler(on_console_event, TRUE);
}

int agent_survey(int argc, char **argv)
{
  p2v_error("the survey is not in the Windows agent yet (issue 13); run 'p2v-agent survey' "
            "on Linux, or boot the source from the p2v live image");
  return EXIT_ERROR;
}

int agent_survey_export(struct p2v_disk *const *disks, size_t n, char **json)
{
  *json = NULL;                 /* no p2v:survey export */
  return 0;
}
