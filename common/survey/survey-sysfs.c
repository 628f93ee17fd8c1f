/* Reading small files from /sys and /proc, and cleaning what they say so
 * that it can go into the survey (and come back out of its JSON) unchanged.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "file-io.h"
#include "survey-internal.h"

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid:
 * no overlong forms, surrogates or code points above U+10FFFF. */
static size_t utf8_length(const unsigned char *s, size_t n)
{
  if (s[0] < 0x80)
    return 1;
  size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
  if (len == 0 || len > n || s[0] > 0xf4)
    return 0;
  uint32_t cp = s[0] & (0x7f >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
      (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
    return 0;
  return len;
}

char *survey_clean_n(const char *s, size_t n)
{
  if (!s)
    return NULL;
  while (n && isspace((unsigned char)*s))
    s++, n--;
  while (n && isspace((unsigned char)s[n - 1]))
    n--;
  if (n > P2V_SURVEY_MAX_STRING)
    n = P2V_SURVEY_MAX_STRING;
  char *out = malloc(n + 1);
  if (!out)
    return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n && s[i]; ) {
    const unsigned char *c = (const unsigned char *)s + i;
    size_t len = utf8_length(c, n - i);
    if (len == 0 || c[0] < 0x20 || c[0] == 0x7f) {
      out[o++] = '?';
      i++;
    } else {
      memcpy(out + o, c, len);
      o += len;
      i += len;
    }
  }
  out[o] = '\0';
  if (o == 0) {
    free(out);
    return NULL;
  }
  return out;
}

char *survey_clean(const char *s)
{
  return s ? survey_clean_n(s, strlen(s)) : NULL;
}

/* Up to size-1 bytes of the file; -1 if unreadable. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
  CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd == -1)
    return -1;
  ssize_t got = p2v_read_full(fd, buf, size - 1);
  if (got >= 0)
    buf[got] = '\0';
  return got;
}

#define FORMAT_PATH(path, fmt)                                  \
  char path[PATH_MAX];                                          \
  do {                                                          \
    va_list ap_;                                                \
    va_start(ap_, fmt);                                         \
    int r_ = vsnprintf(path, sizeof path, fmt, ap_);            \
    va_end(ap_);                                                \
    if (r_ < 0 || (size_t)r_ >= sizeof path)                    \
      path[0] = '\0';                                           \
  } while (0)

char *survey_read(const char *fmt, ...)
{
  FORMAT_PATH(path, fmt);
  char buf[P2V_SURVEY_MAX_STRING + 1];
  ssize_t n = read_small(path, buf, sizeof buf);
  return n < 0 ? NULL : survey_clean_n(buf, (size_t)n);
}

uint64_t survey_read_uint(const char *fmt, ...)
{
  FORMAT_PATH(path, fmt);
  char buf[64], *end;
  if (read_small(path, buf, sizeof buf) <= 0 || !isdigit((unsigned char)buf[0]))
    return P2V_SURVEY_UNKNOWN;
  errno = 0;
  unsigned long long v = strtoull(buf, &end, 10);
  if (errno || v > INT64_MAX || (*end && !isspace((unsigned char)*end)))
    return P2V_SURVEY_UNKNOWN;
  return v;
}

char *survey_read_hex(size_t digits, const char *fmt, ...)
{
  FORMAT_PATH(path, fmt);
  char buf[64], *end;
  if (read_small(path, buf, sizeof buf) <= 0 || strncmp(buf, "0x", 2) != 0 ||
      !isxdigit((unsigned char)buf[2]))
    return NULL;
  errno = 0;
  unsigned long long v = strtoull(buf + 2, &end, 16);
  if (errno || (*end && !isspace((unsigned char)*end)) || (digits < 16 && v >> (4 * digits)))
    return NULL;
  char *out;
  if (asprintf(&out, "%0*llx", (int)digits, v) == -1)
    return NULL;
  return out;
}

char *survey_link_name(const char *fmt, ...)
{
  FORMAT_PATH(path, fmt);
  char target[PATH_MAX];
  ssize_t n = readlink(path, target, sizeof target - 1);
  if (n <= 0)
    return NULL;
  target[n] = '\0';
  const char *slash = strrchr(target, '/');
  return survey_clean(slash ? slash + 1 : target);
}

int survey_grow(void **items, size_t *capacity, size_t count, size_t size)
{
  if (count < *capacity)
    return 0;
  size_t cap = *capacity ? *capacity * 2 : 8;
  void *p = reallocarray(*items, cap, size);
  if (!p)
    return -1;
  memset((char *)p + *capacity * size, 0, (cap - *capacity) * size);
  *items = p;
  *capacity = cap;
  return 0;
}
