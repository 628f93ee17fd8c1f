/* Deciding cheaply whether a block is worth deflating.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_DEFLATE_PROBE_H
#define P2V_DEFLATE_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <zlib.h>

/* Deflate a 2 KiB sample from the start of in and one from its middle
 * with z (an initialised deflate stream of any format; it is reset).
 * True when neither shrinks by 1/32: compressed, encrypted or random data,
 * where deflating the whole block would take time and save nothing, so
 * the caller stores it as it is.  Blocks under 4 KiB are always tried. */
bool deflate_is_pointless(z_stream *z, const unsigned char *in, size_t len);

#endif
