/* Byte counts for people: "512 B", "1.5 GiB".
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_HUMAN_SIZE_H
#define P2V_HUMAN_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* Longest result ("1023.9 PiB") plus its NUL, rounded up. */
#define P2V_HUMAN_SIZE_MAX 16

/* Write bytes in binary units into buf (cut to len); returns buf. */
char *p2v_human_size(char *buf, size_t len, uint64_t bytes);

#endif
