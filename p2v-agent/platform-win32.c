/* The agent's platform layer on Windows: Winsock, console stop events,
 * and what the Windows agent does not have yet (the survey, issue 13).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "net-platform.h"      /* winsock2.h before windows.h */

#include <windows.h>

#include "agent.h"
#include "log.h"

static volatile sig_atomic_t *stop_flag;
static volatile sig_atomic_t stop_early;   /* asked before agent_catch_stop */

/* From a thread of its own (console events, the service's control
 * handler): set the flag, and let the serving loop (which polls it every
 * 200 ms) wind down before Windows ends us. */
void agent_request_stop(void)
{
  stop_early = 1;
  if (stop_flag)
    *stop_flag = 1;
}

static BOOL WINAPI on_console_event(DWORD event)
{
  switch (event) {
  /* Not CTRL_LOGOFF_EVENT: only services get it, whenever anyone logs
   * off, and the service must serve on. */
  case CTRL_C_EVENT: case CTRL_BREAK_EVENT: case CTRL_CLOSE_EVENT: case CTRL_SHUTDOWN_EVENT:
    agent_request_stop();
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
    "\"Windows build\").  'p2v-agent install [OPTIONS] DISK...' runs serve as the\n"
    "Windows service p2v-agent (\"Windows service\").\n";
}

int agent_platform_init(void)
{
  return p2v_sock_startup();
}

void agent_catch_stop(volatile sig_atomic_t *flag)
{
  stop_flag = flag;
  if (stop_early)               /* after: a stop in between sets one or the other */
    *flag = 1;
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
