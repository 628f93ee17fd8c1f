/* A sorted list of non-overlapping byte ranges, e.g. "free space on this disk".
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_EXTENT_LIST_H
#define P2V_EXTENT_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called for consecutive ranges; hole means "reads as zeroes, need not be
 * sent".  Return 0 to go on, -1 to stop with an error already reported. */
typedef int (*p2v_extent_fn)(void *opaque, uint64_t offset, uint64_t length, bool hole);

struct p2v_extent {
  uint64_t offset;
  uint64_t length;
};

struct p2v_extent_list {
  struct p2v_extent *items;
  size_t count, capacity;
  bool sorted;                  /* false after an out-of-order add until normalize */
};

#define P2V_EXTENT_LIST_INIT { NULL, 0, 0, true }

/* Add [offset, offset+length).  Adjacent or overlapping ranges added in
 * order are merged at once; others wait for p2v_extent_list_normalize.
 * Returns 0, or -1 with an error reported (out of memory, overflow). */
int p2v_extent_list_add(struct p2v_extent_list *list, uint64_t offset, uint64_t length);

/* Sort and merge, so that lookups work. */
void p2v_extent_list_normalize(struct p2v_extent_list *list);

/* Given a normalized list and a position, say whether position lies in a
 * range, and how many bytes from position onwards share that answer (up to
 * the end of the range, or to the start of the next range; UINT64_MAX - pos
 * when no range follows). */
bool p2v_extent_list_lookup(const struct p2v_extent_list *list, uint64_t position,
                            uint64_t *run_length);

/* Total bytes covered (normalized list). */
uint64_t p2v_extent_list_total(const struct p2v_extent_list *list);

void p2v_extent_list_clear(struct p2v_extent_list *list);

#endif
