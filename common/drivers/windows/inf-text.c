/* INF text encodings -> UTF-8.  Windows writes INF files as UTF-16LE with a
 * BOM (stampinf output, localized packages), UTF-8 or the ANSI code page.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "inf-parse.h"

static size_t put_utf8(char *out, uint32_t c)
{
  if (c == 0)
    return 0;                  /* NUL would end the string early */
  if (c < 0x80) {
    out[0] = (char) c;
    return 1;
  }
  if (c < 0x800) {
    out[0] = (char) (0xc0 | (c >> 6));
    out[1] = (char) (0x80 | (c & 0x3f));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = (char) (0xe0 | (c >> 12));
    out[1] = (char) (0x80 | ((c >> 6) & 0x3f));
    out[2] = (char) (0x80 | (c & 0x3f));
    return 3;
  }
  out[0] = (char) (0xf0 | (c >> 18));
  out[1] = (char) (0x80 | ((c >> 12) & 0x3f));
  out[2] = (char) (0x80 | ((c >> 6) & 0x3f));
  out[3] = (char) (0x80 | (c & 0x3f));
  return 4;
}

static char *from_utf16le(const uint8_t *p, size_t size, size_t *len_out)
{
  size_t units = size / 2;
  /* Each unit gives at most 3 bytes; a surrogate pair (2 units) gives 4. */
  char *out = malloc(units * 3 + 1);
  if (!out)
    return NULL;
  size_t n = 0;
  for (size_t i = 0; i < units; i++) {
    uint32_t c = p[2 * i] | (uint32_t) p[2 * i + 1] << 8;
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < units) {
      uint32_t lo = p[2 * i + 2] | (uint32_t) p[2 * i + 3] << 8;
      if (lo >= 0xdc00 && lo < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      } else
        c = 0xfffd;
    } else if (c >= 0xd800 && c < 0xe000)
      c = 0xfffd;              /* lone surrogate */
    n += put_utf8(out + n, c);
  }
  out[n] = '\0';
  *len_out = n;
  return out;
}

static bool valid_utf8(const uint8_t *p, size_t size)
{
  size_t i = 0;
  while (i < size) {
    uint8_t b = p[i];
    size_t more = b < 0x80 ? 0 : (b & 0xe0) == 0xc0 ? 1 : (b & 0xf0) == 0xe0 ? 2
      : (b & 0xf8) == 0xf0 ? 3 : 4;
    if (more == 4 || b == 0xc0 || b == 0xc1 || more > size - i - 1)
      return false;
    for (size_t k = 1; k <= more; k++)
      if ((p[i + k] & 0xc0) != 0x80)
        return false;
    i += more + 1;
  }
  return true;
}

char *inf_text_to_utf8(const uint8_t *data, size_t size, size_t *len_out)
{
  if (size >= 2 && data[0] == 0xff && data[1] == 0xfe)
    return from_utf16le(data + 2, size - 2, len_out);
  /* No BOM but "[\0" or ";\0": UTF-16LE all the same. */
  if (size >= 2 && data[0] != 0 && data[1] == 0)
    return from_utf16le(data, size, len_out);
  if (size >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf) {
    data += 3;
    size -= 3;
  }

  bool utf8 = valid_utf8(data, size);
  char *out = malloc(size * 2 + 1);   /* Latin-1 -> UTF-8 at most doubles */
  if (!out)
    return NULL;
  size_t n = 0;
  for (size_t i = 0; i < size; i++) {
    if (data[i] == 0)
      continue;
    if (utf8 || data[i] < 0x80)
      out[n++] = (char) data[i];
    else
      n += put_utf8(out + n, data[i]);
  }
  out[n] = '\0';
  *len_out = n;
  return out;
}
