/* qcow2 writer internals worth reaching from tests (p2v_qcow2_create itself
 * is in image.h).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_QCOW2_H
#define P2V_QCOW2_H

#include <stddef.h>

/* Bytes of L2 tables one image keeps in memory before it writes the least
 * recently used one out early (default 32 MiB).  Applies to images created
 * afterwards; tests make it tiny to exercise the early writes. */
void p2v_qcow2_set_l2_cache_limit(size_t bytes);

#endif
