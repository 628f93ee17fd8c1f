/* The monotonic clock in milliseconds, for deadlines and idle times
 * (never the wall clock: it jumps).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_CLOCK_H
#define P2V_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t p2v_now_ms(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t) t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

#endif
