/* Unit test for converter/copy/digest.c: the digest of a disk does not
 * depend on how its bytes are cut into pieces or in what order they
 * come, zeroes add nothing, and a changed, moved or missing byte shows.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "copy/copy.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

#define SIZE (1 << 20)

/* Digest of buf[0..SIZE) cut at random points and added in reverse order. */
static struct run_digest in_pieces(const unsigned char *buf, uint64_t base, unsigned seed)
{
  struct run_digest d = { { 0 } };
  size_t cuts[64];
  size_t n = 0;
  srand(seed);
  for (size_t pos = 0; pos < SIZE && n < 63;) {
    cuts[n++] = pos;
    pos += 1 + (size_t) rand() % (SIZE / 16);
  }
  cuts[n] = SIZE;
  for (size_t i = n; i-- > 0;)
    run_digest_add(&d, buf + cuts[i], cuts[i + 1] - cuts[i], base + cuts[i]);
  return d;
}

int main(void)
{
  p2v_log_init("test-run-digest");
  run_digest_init();
  unsigned char *buf = malloc(SIZE), *zeroes = calloc(1, SIZE);
  CHECK(buf && zeroes);
  for (size_t i = 0; i < SIZE; i++)
    buf[i] = (unsigned char) (rand() >> 7);
  memset(buf + 1000, 0, 70000);                   /* some zeroes inside */

  struct run_digest whole = { { 0 } };
  run_digest_add(&whole, buf, SIZE, 12345);       /* unaligned base */
  for (unsigned seed = 1; seed < 20; seed++) {
    struct run_digest d = in_pieces(buf, 12345, seed);
    CHECK(run_digest_equal(&d, &whole));
  }

  /* Zeroes add nothing: a hole need not be read. */
  struct run_digest z = { { 0 } }, empty = { { 0 } };
  run_digest_add(&z, zeroes, SIZE, 777);
  CHECK(run_digest_equal(&z, &empty));
  struct run_digest plus = whole;
  run_digest_add(&plus, zeroes, 4096, 1 << 30);
  CHECK(run_digest_equal(&plus, &whole));

  /* One flipped bit, one byte moved, one piece missing or doubled. */
  buf[SIZE / 2] ^= 1;
  struct run_digest d = { { 0 } };
  run_digest_add(&d, buf, SIZE, 12345);
  CHECK(!run_digest_equal(&d, &whole));
  buf[SIZE / 2] ^= 1;

  memset(&d, 0, sizeof d);
  run_digest_add(&d, buf, SIZE, 12346);
  CHECK(!run_digest_equal(&d, &whole));

  memset(&d, 0, sizeof d);
  run_digest_add(&d, buf, SIZE / 2, 12345);
  CHECK(!run_digest_equal(&d, &whole));
  run_digest_add(&d, buf + SIZE / 2, SIZE / 2, 12345 + SIZE / 2);
  CHECK(run_digest_equal(&d, &whole));
  run_digest_add(&d, buf + 100000, 4096, 12345 + 100000);
  CHECK(!run_digest_equal(&d, &whole));

  /* Merging per-connection digests is adding. */
  struct run_digest a = { { 0 } }, b = { { 0 } };
  run_digest_add(&a, buf, 3000, 12345);
  run_digest_add(&b, buf + 3000, SIZE - 3000, 12345 + 3000);
  run_digest_merge(&a, &b);
  CHECK(run_digest_equal(&a, &whole));

  free(buf);
  free(zeroes);
  puts("test-run-digest: ok");
  return 0;
}
