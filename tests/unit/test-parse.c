/* Unit test for common/util/parse.c: numbers, sizes and choices, and the
 * hostile inputs (overflow, signs, spaces, trailing junk, empty).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "parse.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

static void size_is(const char *text, uint64_t want)
{
  uint64_t v = 12345;
  if (p2v_parse_size(text, &v) != 0 || v != want) {
    fprintf(stderr, "size \"%s\": got %llu, expected %llu\n", text, (unsigned long long) v,
            (unsigned long long) want);
    exit(1);
  }
}

static void not_size(const char *text)
{
  uint64_t v = 12345;
  if (p2v_parse_size(text, &v) != -1 || v != 12345) {
    fprintf(stderr, "size \"%s\" accepted as %llu\n", text, (unsigned long long) v);
    exit(1);
  }
}

static void numbers(void)
{
  uint64_t v;
  CHECK(p2v_parse_u64("0", &v) == 0 && v == 0);
  CHECK(p2v_parse_u64("18446744073709551615", &v) == 0 && v == UINT64_MAX);
  static const char *const bad[] = {
    "", "18446744073709551616", "99999999999999999999999", "-1", "+1", " 1", "1 ",
    "1x", "0x10", "1.0", "1e3", "--1", "\t7", NULL,
  };
  for (int i = 0; bad[i]; i++) {
    v = 7;
    CHECK(p2v_parse_u64(bad[i], &v) == -1 && v == 7);
  }
}

static void sizes(void)
{
  size_is("0", 0);
  size_is("512", 512);
  size_is("64K", 65536);
  size_is("64k", 65536);
  size_is("64KiB", 65536);
  size_is("64kb", 65536);
  size_is("2M", 2u << 20);
  size_is("1.5G", UINT64_C(3) << 29);
  size_is("2T", UINT64_C(2) << 40);
  size_is("0.5K", 512);
  size_is("1.25K", 1280);
  size_is("1.000000000000000000000K", 1024);
  size_is("15E", UINT64_C(15) << 60);
  size_is("15.5E", (UINT64_C(31) << 59));
  size_is("18446744073709551615", UINT64_MAX);
  static const char *const bad[] = {
    "", "K", "-1", "-1K", "+1K", " 1K", "1K ", "1 K", "1KB ", "1KiBx", "1Kx", "1X",
    "1 ", "1.5", "1.0", ".5K", "1.K", "0.1K", "1.0000000000000000001K", "16E",
    "18446744073709551616", "17179869184G", "99999999999999999999K", "1e3", "0x10",
    "1B", "1KK", "1Ki", "1\n", "1\x20K", "1\x20", NULL,
  };
  for (int i = 0; bad[i]; i++)
    not_size(bad[i]);
}

static int errors;
static char last_error[512];
static void sink(enum p2v_log_level level, const char *message)
{
  if (level == P2V_LOG_ERROR) {
    errors++;
    snprintf(last_error, sizeof last_error, "%s", message);
  }
}

static void options(void)
{
  unsigned n = 99;
  CHECK(p2v_option_uint("--connections", "64", 1, 64, &n) == 0 && n == 64);
  CHECK(p2v_option_uint("--connections", "65", 1, 64, &n) == -1 && n == 64 && errors == 1);
  CHECK(strcmp(last_error, "--connections: \"65\" is not a number from 1 to 64") == 0);
  CHECK(p2v_option_uint("--wait", "4294967296", 0, UINT32_MAX, &n) == -1);
  CHECK(strcmp(last_error, "--wait: \"4294967296\" is not a number from 0 to 4294967295") == 0);
  CHECK(p2v_option_uint("--wait", "", 0, 10, &n) == -1 && errors == 3);

  uint64_t v = 0;
  CHECK(p2v_option_size("--cluster-size", "64K", 512, 2 << 20, "64K, 2M", &v) == 0 && v == 65536);
  CHECK(p2v_option_size("--cluster-size", "abc", 512, 2 << 20, "64K, 2M", &v) == -1);
  CHECK(strcmp(last_error, "--cluster-size: \"abc\" is not a size (e.g. 64K, 2M)") == 0);
  CHECK(p2v_option_size("--memory", "1M", UINT64_C(64) << 20, UINT64_C(1) << 50, "4096M, 4G",
                        &v) == -1 && v == 65536);
  CHECK(strcmp(last_error, "--memory: \"1M\" is not a size from 64M to 1P") == 0);
  CHECK(p2v_option_size("--chunk", "5000", 4096, 5000, "4K", &v) == 0 && v == 5000);
  CHECK(p2v_option_size("--chunk", "5001", 4096, 5000, "4K", &v) == -1);
  CHECK(strcmp(last_error, "--chunk: \"5001\" is not a size from 4K to 5000") == 0);

  static const char *const modes[] = { "bar", "json", "none", NULL };
  int i = -1;
  CHECK(p2v_option_choice("--progress", "none", modes, &i) == 0 && i == 2);
  CHECK(p2v_option_choice("--progress", "JSON", modes, &i) == -1 && i == 2);
  CHECK(strcmp(last_error, "--progress: \"JSON\" is not one of bar, json, none") == 0);
  CHECK(p2v_option_choice("--progress", "", modes, &i) == -1);

  /* A long argument is cut, never overrun. */
  char long_arg[1000];
  memset(long_arg, 'x', sizeof long_arg - 1);
  long_arg[sizeof long_arg - 1] = '\0';
  char why[64];
  CHECK(p2v_option_why_choice("--progress", long_arg, modes, &i, why, sizeof why) == -1);
  CHECK(strlen(why) == sizeof why - 1 && strncmp(why, "--progress: \"xxx", 16) == 0);
  CHECK(errors == 8);
}

int main(void)
{
  p2v_log_init("test-parse");
  p2v_log_set_sink(sink);
  numbers();
  sizes();
  options();
  return 0;
}
