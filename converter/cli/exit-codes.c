/* p2v-convert's exit codes: the one place a failure kind of run/ (the
 * pipeline or the copy job) becomes a number (docs/p2v-convert.md).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <signal.h>

#include "cli/cli.h"

int convert_exit_code(enum run_failure failure, int signo)
{
  switch (failure) {
  case RUN_OK: return EXIT_OK;
  case RUN_FAILED: return EXIT_FAILURE_OTHER;
  case RUN_BAD_USAGE: return EXIT_USAGE;
  case RUN_UNREACHABLE: return EXIT_UNREACHABLE;
  case RUN_NO_EXPORT: return EXIT_NO_EXPORT;
  case RUN_TLS_FAILED: return EXIT_TLS;
  case RUN_OUTPUT_EXISTS: return EXIT_OUTPUT_EXISTS;
  case RUN_DISK_FULL: return EXIT_DISK_FULL;
  case RUN_READ_ERROR: return EXIT_READ_ERROR;
  case RUN_STALLED: return EXIT_STALLED;
  case RUN_PREFLIGHT_FAILED: return EXIT_PREFLIGHT;
  case RUN_NO_SPACE: return EXIT_NO_SPACE;
  case RUN_NO_OS: return EXIT_NO_OS;
  case RUN_CONVERT_FAILED: return EXIT_CONVERT;
  case RUN_VERIFY_FAILED: return EXIT_VERIFY;
  case RUN_BOOT_TEST_FAILED: return EXIT_BOOT_TEST;
  case RUN_INTERRUPTED: return 128 + (signo ? signo : SIGINT);
  }
  return EXIT_FAILURE_OTHER;
}
