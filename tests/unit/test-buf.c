/* Unit test for common/util/buf.c and the clock: growth, the NUL, growth
 * that would overflow, the tail kept, an argv built piece by piece.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "cleanup.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

static void buffer(void)
{
  struct p2v_buf b = P2V_BUF_INIT;
  CHECK(p2v_buf_append(&b, "", 0) == 0 && b.data && b.len == 0 && b.data[0] == '\0');
  for (int i = 0; i < 10000; i++)
    CHECK(p2v_buf_printf(&b, "%d,", i) == 0);
  CHECK(strncmp(b.data, "0,1,2,", 6) == 0 && strcmp(b.data + b.len - 5, "9999,") == 0);
  CHECK(strlen(b.data) == b.len && b.cap > b.len);
  p2v_buf_drop_front(&b, 2);
  CHECK(strncmp(b.data, "1,2,", 4) == 0 && strlen(b.data) == b.len);
  p2v_buf_drop_front(&b, SIZE_MAX);
  CHECK(b.len == 0 && b.data[0] == '\0');
  CHECK(p2v_buf_append(&b, "a\0b", 3) == 0 && b.len == 3 && memcmp(b.data, "a\0b", 4) == 0);

  /* Growth past SIZE_MAX: refused, the buffer intact. */
  errno = 0;
  CHECK(p2v_buf_reserve(&b, SIZE_MAX) == -1 && errno == EOVERFLOW);
  CHECK(p2v_buf_reserve(&b, SIZE_MAX - 3) == -1 && errno == EOVERFLOW);
  CHECK(p2v_buf_append(&b, "c", SIZE_MAX - 2) == -1);
  CHECK(b.len == 3 && memcmp(b.data, "a\0b", 4) == 0);
  /* Possible in size_t but not in memory: ENOMEM, intact.  (ASan
   * aborts on such a request instead of failing it.) */
#ifndef __SANITIZE_ADDRESS__
  errno = 0;
  CHECK(p2v_buf_reserve(&b, SIZE_MAX / 2) == -1 && errno == ENOMEM);
  CHECK(b.len == 3);
#endif

  CLEANUP_FREE char *s = p2v_buf_steal(&b);
  CHECK(s && memcmp(s, "a\0b", 4) == 0 && !b.data && b.len == 0);
  CLEANUP_FREE char *empty = p2v_buf_steal(&b);
  CHECK(empty && !*empty);
  p2v_buf_free(&b);
}

static void arrays(void)
{
  size_t cap = 0;
  uint64_t *a = p2v_grow(NULL, &cap, 3, sizeof *a);
  CHECK(a && cap == 16);
  CHECK(p2v_grow(a, &cap, 16, sizeof *a) == a && cap == 16);
  a[15] = 7;
  a = p2v_grow(a, &cap, 17, sizeof *a);
  CHECK(a && cap == 32 && a[15] == 7);
  /* count * size past SIZE_MAX: refused, the array and cap untouched. */
  errno = 0;
  CHECK(!p2v_grow(a, &cap, SIZE_MAX / 4, sizeof *a) && errno == EOVERFLOW && cap == 32);
#ifndef __SANITIZE_ADDRESS__
  CHECK(!p2v_grow(a, &cap, SIZE_MAX, 1) && cap == 32);
#endif
  CHECK(a[15] == 7);
  free(a);
}

static void strings(void)
{
  struct p2v_strvec a = P2V_STRVEC_INIT;
  CHECK(p2v_strvec_push(&a, "qemu-system-x86_64") == 0);
  for (int i = 0; i < 100; i++)
    CHECK(p2v_strvec_printf(&a, "-drive=file=disk%d,if=virtio", i) == 0);
  CHECK(a.n == 101 && a.v[101] == NULL && !a.failed);
  CHECK(strcmp(a.v[0], "qemu-system-x86_64") == 0 && strcmp(a.v[100], "-drive=file=disk99,if=virtio") == 0);
  /* After a failure, every add fails and the vector stays as it was. */
  a.failed = true;
  CHECK(p2v_strvec_push(&a, "x") == -1 && a.n == 101);
  p2v_strvec_free(&a);
  CHECK(!a.v && a.n == 0 && !a.failed);
}

static void monotonic_clock(void)
{
  uint64_t ns = p2v_now_ns();
  int64_t ms = p2v_now_ms();
  double s = p2v_now_s();
  CHECK(ns > 0 && ms >= (int64_t) (ns / 1000000) && s * 1e3 + 1 >= (double) ms);
  CHECK(p2v_now_ns() >= ns);
}

int main(void)
{
  buffer();
  arrays();
  strings();
  monotonic_clock();
  return 0;
}
