/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>

#include "human-size.h"

char *p2v_human_size(char *buf, size_t len, uint64_t bytes)
{
  static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
  double v = (double) bytes;
  unsigned u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    u++;
  }
  snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
  return buf;
}
