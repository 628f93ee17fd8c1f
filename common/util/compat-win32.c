/* See compat-win32.h.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <windows.h>

#include "compat-win32.h"

void *reallocarray(void *ptr, size_t n, size_t size)
{
  if (size && n > SIZE_MAX / size) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(ptr, n * size);
}

/* The errno values net-win32.c maps Winsock errors to. */
static const char *socket_error_text(int err)
{
  switch (err) {
  case EADDRINUSE: return "address already in use";
  case EADDRNOTAVAIL: return "cannot assign requested address";
  case ECONNREFUSED: return "connection refused";
  case ECONNRESET: return "connection reset by peer";
  case ECONNABORTED: return "connection aborted";
  case ETIMEDOUT: return "connection timed out";
  case ENETUNREACH: return "network is unreachable";
  case EHOSTUNREACH: return "no route to host";
  case EINPROGRESS: return "operation in progress";
  case ENOBUFS: return "no buffer space available";
  case EAFNOSUPPORT: return "address family not supported";
  default: return NULL;
  }
}

const char *p2v_expand_errno(const char *fmt, int err, char *out, size_t size)
{
  const char *text = socket_error_text(err);
  if (!text)
    text = strerror(err);
  size_t o = 0;
  for (const char *p = fmt; *p; p++) {
    const char *piece = p;
    size_t n = 1;
    if (p[0] == '%' && p[1] == '%')
      n = 2;                                /* "%%" stays as it is */
    else if (p[0] == '%' && p[1] == 'm') {
      piece = text;
      n = strlen(text);
    }
    if (o + n + 1 > size)
      return fmt;
    for (size_t i = 0; i < n; i++) {
      if (piece == text && piece[i] == '%')
        return fmt;                         /* a '%' in the text: leave it to printf */
      out[o++] = piece[i];
    }
    if (piece != text)
      p += n - 1;
    else
      p++;                                  /* past the 'm' */
  }
  out[o] = '\0';
  return out;
}

size_t p2v_win32_text(unsigned long err, char *buf, size_t size)
{
  DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                           (DWORD) err, MAKELANGID(LANG_ENGLISH, SUBLANG_DEFAULT), buf,
                           (DWORD) size, NULL);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == '.'))
    n--;
  if (size > 0)
    buf[n < size ? n : size - 1] = '\0';
  return n;
}

void p2v_win32_message(unsigned long err, char *buf, size_t size)
{
  char text[256];
  size_t n = p2v_win32_text(err, text, sizeof text);
  snprintf(buf, size, "error %lu%s%s", err, n ? ": " : "", n ? text : "");
}
