/* Growable buffer and string vector.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void *p2v_grow(void *items, size_t *cap, size_t need, size_t size)
{
  if (need <= *cap)
    return items;
  size_t cap2 = *cap < 16 ? 16 : *cap;
  while (cap2 < need)
    cap2 = cap2 > SIZE_MAX / 2 ? need : cap2 * 2;
  if (cap2 > SIZE_MAX / size) {
    errno = EOVERFLOW;
    return NULL;
  }
  void *p = realloc(items, cap2 * size);
  if (p)
    *cap = cap2;
  return p;
}

int p2v_buf_reserve(struct p2v_buf *b, size_t more)
{
  if (more > SIZE_MAX - 1 - b->len) {
    errno = EOVERFLOW;
    return -1;
  }
  char *p = p2v_grow(b->data, &b->cap, b->len + more + 1, 1);
  if (!p)
    return -1;
  b->data = p;
  return 0;
}

int p2v_buf_append(struct p2v_buf *b, const void *data, size_t n)
{
  if (p2v_buf_reserve(b, n) == -1)
    return -1;
  if (n)
    memcpy(b->data + b->len, data, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int p2v_buf_printf(struct p2v_buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || p2v_buf_reserve(b, (size_t) n) == -1)
    return -1;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t) n;
  return 0;
}

void p2v_buf_drop_front(struct p2v_buf *b, size_t n)
{
  if (n >= b->len)
    n = b->len;
  if (!b->data)
    return;
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
  b->data[b->len] = '\0';
}

char *p2v_buf_steal(struct p2v_buf *b)
{
  char *s = b->data ? b->data : strdup("");
  b->data = NULL;
  b->len = b->cap = 0;
  return s;
}

void p2v_buf_free(struct p2v_buf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* Take ownership of s (malloc'd, or NULL for out of memory). */
static int strvec_take(struct p2v_strvec *sv, char *s)
{
  char **v = s && !sv->failed ? p2v_grow(sv->v, &sv->cap, sv->n + 2, sizeof *v) : NULL;
  if (!v) {
    if (!s)
      errno = ENOMEM;
    free(s);
    sv->failed = true;
    return -1;
  }
  sv->v = v;
  sv->v[sv->n++] = s;
  sv->v[sv->n] = NULL;
  return 0;
}

int p2v_strvec_push(struct p2v_strvec *sv, const char *s)
{
  if (sv->failed)
    return -1;
  return strvec_take(sv, strdup(s));
}

int p2v_strvec_printf(struct p2v_strvec *sv, const char *fmt, ...)
{
  if (sv->failed)
    return -1;
  char *s;
  va_list ap;
  va_start(ap, fmt);
  int r = vasprintf(&s, fmt, ap);
  va_end(ap);
  return strvec_take(sv, r < 0 ? NULL : s);
}

void p2v_strvec_free(struct p2v_strvec *sv)
{
  for (size_t i = 0; i < sv->n; i++)
    free(sv->v[i]);
  free(sv->v);
  sv->v = NULL;
  sv->n = sv->cap = 0;
  sv->failed = false;
}
