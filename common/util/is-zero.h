/* Is a buffer all zero bytes?
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_IS_ZERO_H
#define P2V_IS_ZERO_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* A short prefix byte by byte, then the buffer against itself shifted by
 * 16: memcmp is vectorised by libc, a byte loop is not. */
static inline bool p2v_is_zero(const void *buf, size_t len)
{
  const unsigned char *p = buf;
  size_t head = len < 16 ? len : 16;
  for (size_t i = 0; i < head; i++)
    if (p[i])
      return false;
  return len <= 16 || memcmp(p, p + 16, len - 16) == 0;
}

#endif
