/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "image/deflate-probe.h"

#define SAMPLE_BYTES 2048

bool deflate_is_pointless(z_stream *z, const unsigned char *in, size_t len)
{
  unsigned char out[SAMPLE_BYTES];

  if (len < 2 * SAMPLE_BYTES)
    return false;
  for (size_t at = 0; at < len; at += len / 2) {
    if (at + SAMPLE_BYTES > len || deflateReset(z) != Z_OK)
      return false;
    z->next_in = (unsigned char *) in + at;     /* zlib's API is not const */
    z->avail_in = SAMPLE_BYTES;
    z->next_out = out;
    z->avail_out = sizeof out;
    int r = deflate(z, Z_FINISH);
    /* Z_OK or Z_BUF_ERROR: the output did not even fit in the input's size. */
    if (r == Z_STREAM_END && z->total_out < SAMPLE_BYTES - SAMPLE_BYTES / 32)
      return false;
    if (r != Z_STREAM_END && r != Z_OK && r != Z_BUF_ERROR)
      return false;
  }
  return true;
}
