/* Unit test for p2v-agent/service-cmdline.c: the Windows service's
 * ImagePath.  Microsoft's own examples of how the C runtime splits a
 * command line; every awkward argument (spaces, quotes, backslashes
 * before quotes and at the end, empty) quoted and split back unchanged;
 * a line too long for the buffer refused.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

static void splits_as(const char *line, const char *const want[])
{
  int argc;
  char **argv = agent_cmdline_split(line, &argc);
  CHECK(argv);
  int n = 0;
  while (want[n])
    n++;
  if (argc != n)
    fprintf(stderr, "'%s': %d arguments, expected %d\n", line, argc, n);
  CHECK(argc == n);
  for (int i = 0; i < n; i++) {
    if (strcmp(argv[i], want[i]))
      fprintf(stderr, "'%s': argument %d is '%s', expected '%s'\n", line, i, argv[i], want[i]);
    CHECK(!strcmp(argv[i], want[i]));
  }
  CHECK(argv[n] == NULL);
  free(argv);
}

/* "Parsing C command-line arguments" (Microsoft's documentation), after
 * a program name. */
static void microsoft_examples(void)
{
  splits_as("p \"a b c\" d e", (const char *const[]) { "p", "a b c", "d", "e", NULL });
  splits_as("p \"ab\\\"c\" \"\\\\\" d", (const char *const[]) { "p", "ab\"c", "\\", "d", NULL });
  splits_as("p a\\\\\\b d\"e f\"g h", (const char *const[]) { "p", "a\\\\\\b", "de fg", "h", NULL });
  splits_as("p a\\\\\\\"b c d", (const char *const[]) { "p", "a\\\"b", "c", "d", NULL });
  splits_as("p a\\\\\\\\\"b c\" d e", (const char *const[]) { "p", "a\\\\b c", "d", "e", NULL });
  /* The program name: CreateProcess's rule, no escapes. */
  splits_as("\"C:\\Program Files\\p2v\\p2v-agent.exe\" service",
            (const char *const[]) { "C:\\Program Files\\p2v\\p2v-agent.exe", "service", NULL });
  splits_as("  C:\\p2v\\a.exe\t x  ", (const char *const[]) { "C:\\p2v\\a.exe", "x", NULL });
  splits_as("", (const char *const[]) { NULL });
}

static void round_trip(void)
{
  static const char *const args[] = {
    "service", "--listen", "127.0.0.1:10809", "", "a b", "tab\there", "\"", "\"\"",
    "a\\", "a\\\\", "a\\ b", "a\\\"b", "\\\\\"", "C:\\Program Files\\p2v\\",
    "\\\\.\\PhysicalDrive0", "\\\\server\\share\\disk image.img", "end\\\\\\", "x\"y z\"",
    NULL,
  };
  char line[4096] = "";
  const char *program = "C:\\Program Files\\p2v\\p2v-agent.exe";
  CHECK(agent_cmdline_append(line, sizeof line, program, true) == 0);
  int n = 0;
  for (; args[n]; n++)
    CHECK(agent_cmdline_append(line, sizeof line, args[n], false) == 0);
  int argc;
  char **argv = agent_cmdline_split(line, &argc);
  CHECK(argv && argc == n + 1);
  CHECK(!strcmp(argv[0], program));
  for (int i = 0; i < n; i++) {
    if (strcmp(argv[i + 1], args[i]))
      fprintf(stderr, "'%s' came back as '%s' from: %s\n", args[i], argv[i + 1], line);
    CHECK(!strcmp(argv[i + 1], args[i]));
  }
  free(argv);
  /* Plain arguments stay plain. */
  char plain[64] = "";
  CHECK(agent_cmdline_append(plain, sizeof plain, "serve", false) == 0);
  CHECK(agent_cmdline_append(plain, sizeof plain, "--idle-timeout", false) == 0);
  CHECK(!strcmp(plain, "serve --idle-timeout"));
}

static void limits(void)
{
  char line[16] = "";
  CHECK(agent_cmdline_append(line, sizeof line, "0123456789", false) == 0);
  CHECK(agent_cmdline_append(line, sizeof line, "abcd", false) == 0);   /* 15 + NUL */
  CHECK(agent_cmdline_append(line, sizeof line, "x", false) == -1);
  char small[8] = "";
  CHECK(agent_cmdline_append(small, sizeof small, "a \"b\" c", false) == -1);
  CHECK(agent_cmdline_append(small, sizeof small, "a\"b", true) == -1);   /* no quote in a program */
}

int main(void)
{
  microsoft_examples();
  round_trip();
  limits();
  printf("PASS: service command lines\n");
  return 0;
}
