/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdlib.h>

#include "extent-list.h"
#include "log.h"

int p2v_extent_list_add(struct p2v_extent_list *list, uint64_t offset, uint64_t length)
{
  if (length == 0)
    return 0;
  if (offset + length < offset) {
    p2v_error("extent at %llu with length %llu overflows",
              (unsigned long long) offset, (unsigned long long) length);
    errno = EOVERFLOW;
    return -1;
  }
  if (list->count > 0) {
    struct p2v_extent *last = &list->items[list->count - 1];
    if (list->sorted && offset >= last->offset && offset <= last->offset + last->length) {
      uint64_t end = offset + length;
      if (end > last->offset + last->length)
        last->length = end - last->offset;
      return 0;
    }
    if (offset < last->offset)
      list->sorted = false;
  }
  if (list->count == list->capacity) {
    size_t capacity = list->capacity ? list->capacity * 2 : 64;
    struct p2v_extent *items = reallocarray(list->items, capacity, sizeof *items);
    if (!items) {
      p2v_error("cannot grow extent list to %zu entries: %m", capacity);
      return -1;
    }
    list->items = items;
    list->capacity = capacity;
  }
  list->items[list->count++] = (struct p2v_extent) { offset, length };
  return 0;
}

static int compare_extents(const void *a, const void *b)
{
  const struct p2v_extent *x = a, *y = b;
  return (x->offset > y->offset) - (x->offset < y->offset);
}

void p2v_extent_list_normalize(struct p2v_extent_list *list)
{
  size_t out = 0;

  if (list->count == 0) {
    list->sorted = true;
    return;
  }
  if (!list->sorted)
    qsort(list->items, list->count, sizeof list->items[0], compare_extents);
  for (size_t i = 1; i < list->count; i++) {
    struct p2v_extent *cur = &list->items[out];
    const struct p2v_extent *next = &list->items[i];
    if (next->offset <= cur->offset + cur->length) {
      uint64_t end = next->offset + next->length;
      if (end > cur->offset + cur->length)
        cur->length = end - cur->offset;
    }
    else
      list->items[++out] = *next;
  }
  list->count = out + 1;
  list->sorted = true;
}

bool p2v_extent_list_lookup(const struct p2v_extent_list *list, uint64_t position,
                            uint64_t *run_length)
{
  /* Binary search for the first range ending after position. */
  size_t lo = 0, hi = list->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const struct p2v_extent *e = &list->items[mid];
    if (e->offset + e->length <= position)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == list->count) {
    *run_length = UINT64_MAX - position;
    return false;
  }
  const struct p2v_extent *e = &list->items[lo];
  if (position >= e->offset) {
    *run_length = e->offset + e->length - position;
    return true;
  }
  *run_length = e->offset - position;
  return false;
}

uint64_t p2v_extent_list_total(const struct p2v_extent_list *list)
{
  uint64_t total = 0;
  for (size_t i = 0; i < list->count; i++)
    total += list->items[i].length;
  return total;
}

void p2v_extent_list_clear(struct p2v_extent_list *list)
{
  free(list->items);
  *list = (struct p2v_extent_list) P2V_EXTENT_LIST_INIT;
}
