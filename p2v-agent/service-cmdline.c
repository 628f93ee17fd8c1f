/* Windows command lines: quoting an argv into one line the C runtime
 * splits back into the same argv (the service's ImagePath), and that
 * split (to read an ImagePath back).  Pure C, so it is unit-tested on
 * Linux (tests/unit/test-service-cmdline.c).
 *
 * The rules (Microsoft's "Parsing C command-line arguments"): arguments
 * are separated by spaces or tabs; "..." groups; backslashes are literal
 * unless they come before a quote, where 2n of them are n backslashes
 * and the quote groups, and 2n+1 are n backslashes and a literal quote.
 * The program name is CreateProcess's: up to the next quote, or up to
 * whitespace, with no escapes.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

struct out {
  char *p;
  size_t size, len;
  bool overflow;
};

static void put(struct out *o, char c, size_t times)
{
  for (size_t i = 0; i < times; i++) {
    if (o->len + 1 >= o->size) {
      o->overflow = true;
      return;
    }
    o->p[o->len++] = c;
  }
  o->p[o->len] = '\0';
}

static bool needs_quotes(const char *arg)
{
  return !*arg || strpbrk(arg, " \t\n\v\"") != NULL;
}

int agent_cmdline_append(char *line, size_t size, const char *arg, bool program)
{
  if (size == 0)
    return -1;
  struct out o = { .p = line, .size = size, .len = strnlen(line, size) };
  if (o.len >= size)
    return -1;
  if (o.len > 0)
    put(&o, ' ', 1);
  if (program) {
    /* CreateProcess: no escapes, so a quote cannot be in the name. */
    if (strchr(arg, '"'))
      return -1;
    put(&o, '"', 1);
    for (const char *c = arg; *c; c++)
      put(&o, *c, 1);
    put(&o, '"', 1);
    return o.overflow ? -1 : 0;
  }
  if (!needs_quotes(arg)) {
    for (const char *c = arg; *c; c++)
      put(&o, *c, 1);
    return o.overflow ? -1 : 0;
  }
  put(&o, '"', 1);
  for (const char *c = arg;; c++) {
    size_t backslashes = 0;
    while (*c == '\\') {
      backslashes++;
      c++;
    }
    if (!*c) {                          /* before the closing quote: doubled */
      put(&o, '\\', backslashes * 2);
      break;
    }
    if (*c == '"') {                    /* doubled, and one more for the quote */
      put(&o, '\\', backslashes * 2 + 1);
      put(&o, '"', 1);
    } else {
      put(&o, '\\', backslashes);
      put(&o, *c, 1);
    }
  }
  put(&o, '"', 1);
  return o.overflow ? -1 : 0;
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* One argument from *p (at a non-blank) into out (room for all of line);
 * *p past it. */
static void split_one(const char **p, char *out)
{
  const char *c = *p;
  bool quoted = false;
  while (*c && (quoted || !is_blank(*c))) {
    size_t backslashes = 0;
    while (*c == '\\') {
      backslashes++;
      c++;
    }
    if (*c == '"') {
      for (size_t i = 0; i < backslashes / 2; i++)
        *out++ = '\\';
      if (backslashes % 2) {
        *out++ = '"';
      } else if (quoted && c[1] == '"') {
        *out++ = '"';                   /* "" inside quotes: a quote (the CRT since 2008) */
        c++;
      } else {
        quoted = !quoted;
      }
      c++;
      continue;
    }
    for (size_t i = 0; i < backslashes; i++)
      *out++ = '\\';
    if (!*c || (!quoted && is_blank(*c)))
      break;
    *out++ = *c++;
  }
  *out = '\0';
  *p = c;
}

char **agent_cmdline_split(const char *line, int *argc)
{
  /* One allocation: at most strlen/2 + 2 arguments, and no argument is
   * longer than the line. */
  size_t len = strlen(line);
  size_t max_args = len / 2 + 2;
  char **argv = malloc(max_args * sizeof *argv + 2 * (len + 1) + max_args);
  if (!argv)
    return NULL;
  char *text = (char *) (argv + max_args);
  int n = 0;
  const char *c = line;
  while (is_blank(*c))
    c++;
  if (*c) {                             /* the program: CreateProcess's rule */
    argv[n++] = text;
    if (*c == '"') {
      const char *end = strchr(c + 1, '"');
      size_t l = end ? (size_t) (end - c - 1) : strlen(c + 1);
      memcpy(text, c + 1, l);
      text += l;
      c = end ? end + 1 : c + 1 + l;
    } else {
      while (*c && !is_blank(*c))
        *text++ = *c++;
    }
    *text++ = '\0';
  }
  for (;;) {
    while (is_blank(*c))
      c++;
    if (!*c)
      break;
    argv[n++] = text;
    split_one(&c, text);
    text += strlen(text) + 1;
  }
  argv[n] = NULL;
  *argc = n;
  return argv;
}
