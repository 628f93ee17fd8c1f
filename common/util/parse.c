/* Option and setting parsers.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "parse.h"

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Leading digits of *p into *v (advancing *p): false if none or overflow. */
static bool digits(const char **p, uint64_t *v)
{
  const char *s = *p;
  uint64_t n = 0;
  if (!is_digit(*s))
    return false;
  for (; is_digit(*s); s++) {
    unsigned d = (unsigned) (*s - '0');
    if (n > (UINT64_MAX - d) / 10)
      return false;
    n = n * 10 + d;
  }
  *p = s;
  *v = n;
  return true;
}

int p2v_parse_u64(const char *text, uint64_t *out)
{
  uint64_t v;
  if (!digits(&text, &v) || *text)
    return -1;
  *out = v;
  return 0;
}

static int unit_shift(char c)
{
  static const char units[] = "KMGTPE";
  for (int i = 0; units[i]; i++)
    if (c == units[i] || c == units[i] + ('a' - 'A'))
      return 10 * (i + 1);
  return -1;
}

int p2v_parse_size(const char *text, uint64_t *out)
{
  const char *p = text;
  uint64_t whole, frac = 0, scale = 1;
  if (!digits(&p, &whole))
    return -1;
  if (*p == '.') {
    p++;
    if (!is_digit(*p))
      return -1;
    /* Up to 18 digits (below 10^18); trailing zeros beyond change nothing. */
    for (; is_digit(*p); p++) {
      if (scale < UINT64_C(1000000000000000000)) {
        frac = frac * 10 + (uint64_t) (*p - '0');
        scale *= 10;
      } else if (*p != '0') {
        return -1;
      }
    }
  }
  int shift = 0;
  if (*p) {
    shift = unit_shift(*p);
    if (shift < 0)
      return -1;
    p++;
    if (!strcasecmp(p, "iB") || !strcasecmp(p, "B"))
      p += strlen(p);
  }
  if (*p || (scale > 1 && shift == 0))
    return -1;
  if (whole > UINT64_MAX >> shift)
    return -1;
  unsigned __int128 part = (unsigned __int128) frac << shift;
  if (part % scale)
    return -1;                      /* not whole bytes */
  unsigned __int128 total = ((unsigned __int128) whole << shift) + part / scale;
  if (total > UINT64_MAX)
    return -1;
  *out = (uint64_t) total;
  return 0;
}

int p2v_parse_choice(const char *text, const char *const names[])
{
  for (int i = 0; names[i]; i++)
    if (!strcmp(text, names[i]))
      return i;
  return -1;
}

/* "64M", "1P", "512": the shortest exact form of a bound. */
static const char *size_text(uint64_t v, char *buf, size_t len)
{
  static const char units[] = "KMGTPE";
  int u = -1;
  while (v && u < 5 && (v & 1023) == 0) {
    v >>= 10;
    u++;
  }
  if (u < 0)
    snprintf(buf, len, "%llu", (unsigned long long) v);
  else
    snprintf(buf, len, "%llu%c", (unsigned long long) v, units[u]);
  return buf;
}

int p2v_option_why_uint(const char *option, const char *arg, unsigned min, unsigned max,
                        unsigned *out, char *why, size_t why_len)
{
  uint64_t v;
  if (p2v_parse_u64(arg, &v) == -1 || v < min || v > max) {
    snprintf(why, why_len, "%s: \"%s\" is not a number from %u to %u", option, arg, min, max);
    return -1;
  }
  *out = (unsigned) v;
  return 0;
}

int p2v_option_why_size(const char *option, const char *arg, uint64_t min, uint64_t max,
                        const char *examples, uint64_t *out, char *why, size_t why_len)
{
  uint64_t v;
  if (p2v_parse_size(arg, &v) == -1) {
    snprintf(why, why_len, "%s: \"%s\" is not a size (e.g. %s)", option, arg, examples);
    return -1;
  }
  if (v < min || v > max) {
    char lo[32], hi[32];
    snprintf(why, why_len, "%s: \"%s\" is not a size from %s to %s", option, arg,
             size_text(min, lo, sizeof lo), size_text(max, hi, sizeof hi));
    return -1;
  }
  *out = v;
  return 0;
}

int p2v_option_why_choice(const char *option, const char *arg, const char *const names[],
                          int *out, char *why, size_t why_len)
{
  int i = p2v_parse_choice(arg, names);
  if (i >= 0) {
    *out = i;
    return 0;
  }
  int n = snprintf(why, why_len, "%s: \"%s\" is not one of ", option, arg);
  for (int k = 0; names[k] && n >= 0 && (size_t) n < why_len; k++)
    n += snprintf(why + n, why_len - (size_t) n, "%s%s", k ? ", " : "", names[k]);
  return -1;
}

int p2v_option_uint(const char *option, const char *arg, unsigned min, unsigned max,
                    unsigned *out)
{
  char why[P2V_OPTION_WHY_MAX];
  if (p2v_option_why_uint(option, arg, min, max, out, why, sizeof why) == 0)
    return 0;
  p2v_error("%s", why);
  return -1;
}

int p2v_option_size(const char *option, const char *arg, uint64_t min, uint64_t max,
                    const char *examples, uint64_t *out)
{
  char why[P2V_OPTION_WHY_MAX];
  if (p2v_option_why_size(option, arg, min, max, examples, out, why, sizeof why) == 0)
    return 0;
  p2v_error("%s", why);
  return -1;
}

int p2v_option_choice(const char *option, const char *arg, const char *const names[],
                      int *out)
{
  char why[P2V_OPTION_WHY_MAX];
  if (p2v_option_why_choice(option, arg, names, out, why, sizeof why) == 0)
    return 0;
  p2v_error("%s", why);
  return -1;
}
