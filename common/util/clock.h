/* The monotonic clock, for deadlines, idle times and durations (never
 * the wall clock: it jumps).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_CLOCK_H
#define P2V_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t p2v_now_ns(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t) t.tv_sec * 1000000000 + (uint64_t) t.tv_nsec;
}

static inline int64_t p2v_now_ms(void)
{
  return (int64_t) (p2v_now_ns() / 1000000);
}

/* Seconds, for durations people read and deadlines in seconds. */
static inline double p2v_now_s(void)
{
  return (double) p2v_now_ns() / 1e9;
}

#endif
