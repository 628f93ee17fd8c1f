/* Unit test for p2v_console_failed_line (converter/boot-test.c): systemd's
 * "[FAILED]" status lines are found through their colour escapes and
 * carriage returns; other lines, and the word elsewhere, are not.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

static void expect(const char *line, const char *want)
{
  char *got = p2v_console_failed_line(line, strlen(line));
  if (want ? !got || strcmp(got, want) != 0 : got != NULL) {
    fprintf(stderr, "line '%s': got '%s', expected '%s'\n", line, got ? got : "(none)",
            want ? want : "(none)");
    exit(1);
  }
  free(got);
}

int main(void)
{
  expect("[\x1b[0;1;31mFAILED\x1b[0m] Failed to start \x1b[0;1;39mnetworking.service\x1b[0m"
         " - Raise network interfaces.\r",
         "[FAILED] Failed to start networking.service - Raise network interfaces.");
  expect("\r  [FAILED] Failed to mount /data.", "[FAILED] Failed to mount /data.");
  expect("[  OK  ] Started systemd-journald.service - Journal Service.", NULL);
  expect("[FAILED]", NULL);                             /* nothing said */
  expect("See 'systemctl status networking.service' for details.", NULL);
  expect("kernel: something [FAILED] in the middle", NULL);
  expect("", NULL);
  printf("ok\n");
  return 0;
}
