/* Unit test for common/util/extent-list.c.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "extent-list.h"
#include "log.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

static void check_lookup(const struct p2v_extent_list *l, uint64_t pos, bool in, uint64_t run)
{
  uint64_t r;
  bool got = p2v_extent_list_lookup(l, pos, &r);
  if (got != in || r != run) {
    fprintf(stderr, "lookup %llu: got %d/%llu, expected %d/%llu\n",
            (unsigned long long) pos, got, (unsigned long long) r, in,
            (unsigned long long) run);
    exit(1);
  }
}

int main(void)
{
  struct p2v_extent_list l = P2V_EXTENT_LIST_INIT;

  p2v_log_init("test-extent-list");

  /* Empty list: nothing inside, the run goes to the end of the space. */
  p2v_extent_list_normalize(&l);
  check_lookup(&l, 0, false, UINT64_MAX);
  check_lookup(&l, 100, false, UINT64_MAX - 100);
  CHECK(p2v_extent_list_total(&l) == 0);

  /* In-order adds merge at once (adjacent and overlapping). */
  CHECK(p2v_extent_list_add(&l, 100, 10) == 0);
  CHECK(p2v_extent_list_add(&l, 110, 10) == 0);     /* adjacent */
  CHECK(p2v_extent_list_add(&l, 115, 10) == 0);     /* overlapping */
  CHECK(p2v_extent_list_add(&l, 200, 0) == 0);      /* empty: ignored */
  CHECK(l.count == 1 && l.items[0].offset == 100 && l.items[0].length == 25);

  /* Out-of-order adds wait for normalize. */
  CHECK(p2v_extent_list_add(&l, 300, 50) == 0);
  CHECK(p2v_extent_list_add(&l, 0, 10) == 0);
  CHECK(p2v_extent_list_add(&l, 5, 20) == 0);       /* overlaps [0,10) */
  CHECK(p2v_extent_list_add(&l, 320, 10) == 0);     /* inside [300,350) */
  CHECK(!l.sorted);
  p2v_extent_list_normalize(&l);
  CHECK(l.sorted);
  CHECK(l.count == 3);
  CHECK(l.items[0].offset == 0 && l.items[0].length == 25);
  CHECK(l.items[1].offset == 100 && l.items[1].length == 25);
  CHECK(l.items[2].offset == 300 && l.items[2].length == 50);
  CHECK(p2v_extent_list_total(&l) == 100);

  /* Lookups at every kind of boundary. */
  check_lookup(&l, 0, true, 25);
  check_lookup(&l, 24, true, 1);
  check_lookup(&l, 25, false, 75);
  check_lookup(&l, 99, false, 1);
  check_lookup(&l, 100, true, 25);
  check_lookup(&l, 125, false, 175);
  check_lookup(&l, 349, true, 1);
  check_lookup(&l, 350, false, UINT64_MAX - 350);

  /* Overflow is refused with errno set, the list unchanged. */
  errno = 0;
  CHECK(p2v_extent_list_add(&l, UINT64_MAX - 5, 10) == -1);
  CHECK(errno == EOVERFLOW);
  CHECK(l.count == 3);
  /* A range ending exactly at UINT64_MAX is fine. */
  CHECK(p2v_extent_list_add(&l, UINT64_MAX - 10, 10) == 0);
  p2v_extent_list_normalize(&l);
  check_lookup(&l, UINT64_MAX - 1, true, 1);

  /* Many ranges: growth past the first allocation, reverse order. */
  p2v_extent_list_clear(&l);
  CHECK(l.count == 0 && l.items == NULL);
  for (uint64_t i = 1000; i-- > 0; )
    CHECK(p2v_extent_list_add(&l, i * 10, 5) == 0);
  p2v_extent_list_normalize(&l);
  CHECK(l.count == 1000);
  CHECK(p2v_extent_list_total(&l) == 5000);
  for (uint64_t i = 0; i < 1000; i++) {
    check_lookup(&l, i * 10 + 2, true, 3);
    if (i < 999)
      check_lookup(&l, i * 10 + 5, false, 5);
  }
  /* Fill the gaps: all merge into one. */
  for (uint64_t i = 0; i < 1000; i++)
    CHECK(p2v_extent_list_add(&l, i * 10 + 5, 5) == 0);
  p2v_extent_list_normalize(&l);
  CHECK(l.count == 1 && l.items[0].offset == 0 && l.items[0].length == 10000);

  p2v_extent_list_clear(&l);
  printf("PASS: test-extent-list\n");
  return 0;
}
