/* p2v-firstboot: the Windows service that runs the conversion's first-boot
 * scripts once each (docs/firstboot.md).  Windows only (mingw-w64).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_FIRSTBOOT_H
#define P2V_FIRSTBOOT_H

#include <stdbool.h>
#include <windows.h>

#define FB_SERVICE_NAME L"p2v-firstboot"
/* A failing script is run at most this many times, across boots. */
#define FB_MAX_ATTEMPTS 3

/* Run every script in DIR\firstboot\*.cmd once, in name order (see
 * docs/firstboot.md).  STOP (may be NULL) is checked between scripts;
 * ECHO copies the log to stdout.  When no script is left, the service is
 * removed.  Returns the number of scripts left for a later run, or -1 when
 * DIR\firstboot cannot be used. */
int fb_run(const wchar_t *dir, volatile LONG *stop, bool echo);

#endif
