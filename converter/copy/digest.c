/* A digest of a disk's contents that does not care in what order or in
 * what pieces the bytes arrive.  The disk is cut into 4 KiB blocks; a
 * block's hash is sum(w_j * k_j) over its 4-byte words w_j with random
 * keys k_j, and the digest is sum(hash_i * r^i) over blocks i, all
 * modulo the prime 2^61-1, for two independent sets of random keys.
 * Both are linear in the bytes, so zero words add nothing (holes never
 * need reading) and pieces split anywhere add up to the whole.  Two
 * different disks get the same digest with probability below
 * (blocks + 1) / 2^61 per lane: for 1 TiB under 2^-22, squared for two
 * lanes.  It finds a lost, doubled or misplaced write; it is no defence
 * against someone crafting data, and nothing here needs one.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "copy/copy.h"

#define P UINT64_C(0x1fffffffffffffff)    /* 2^61 - 1 */
#define BLOCK_WORDS 1024                  /* 4 KiB */
#define BLOCK_BYTES (BLOCK_WORDS * 4)

static uint64_t points[RUN_DIGEST_LANES];
static uint64_t keys[RUN_DIGEST_LANES][BLOCK_WORDS];

static uint64_t reduce(uint64_t x)
{
  x = (x & P) + (x >> 61);
  return x >= P ? x - P : x;
}

/* x mod p for x < 2^125: 2^64 = 2^3 * 2^61 = 8 (mod p). */
static uint64_t fold(unsigned __int128 x)
{
  uint64_t lo = (uint64_t) x, hi = (uint64_t) (x >> 64);
  return reduce(reduce(lo) + reduce(hi << 3));
}

static uint64_t mulmod(uint64_t a, uint64_t b)
{
  unsigned __int128 x = (unsigned __int128) a * b;
  uint64_t lo = (uint64_t) x & P, hi = (uint64_t) (x >> 61);
  return reduce(lo + hi);
}

static uint64_t addmod(uint64_t a, uint64_t b)
{
  uint64_t s = a + b;
  return s >= P ? s - P : s;
}

static uint64_t powmod(uint64_t base, uint64_t e)
{
  uint64_t r = 1;
  while (e) {
    if (e & 1)
      r = mulmod(r, base);
    base = mulmod(base, base);
    e >>= 1;
  }
  return r;
}

static uint64_t random_below_p(void)
{
  uint64_t v = 0;
  if (getrandom(&v, sizeof v, 0) != (ssize_t) sizeof v)
    v = ((uint64_t) rand() << 32) ^ (uint64_t) rand() ^ (uint64_t) time(NULL);
  v &= P;
  return v < 2 ? v + 2 : v;
}

void run_digest_init(void)
{
  for (unsigned l = 0; l < RUN_DIGEST_LANES; l++) {
    points[l] = random_below_p();
    for (unsigned j = 0; j < BLOCK_WORDS; j++)
      keys[l][j] = random_below_p();
  }
}

/* The word at word index `word`, with only the bytes of buf in it:
 * partial words at either end of a piece count just the bytes present. */
static uint64_t word_at(const unsigned char *buf, size_t count, uint64_t base, uint64_t word)
{
  uint32_t w = 0;
  for (unsigned b = 0; b < 4; b++) {
    uint64_t pos = word * 4 + b;
    if (pos >= base && pos - base < count)
      w |= (uint32_t) buf[pos - base] << (8 * b);
  }
  return w;
}

void run_digest_add(struct run_digest *d, const void *buf, size_t count, uint64_t offset)
{
  if (count == 0)
    return;
  const unsigned char *p = buf;
  uint64_t end = offset + count;
  uint64_t block = offset / BLOCK_BYTES;
  uint64_t rpow[RUN_DIGEST_LANES];
  for (unsigned l = 0; l < RUN_DIGEST_LANES; l++)
    rpow[l] = powmod(points[l], block);

  for (; block * BLOCK_BYTES < end; block++) {
    uint64_t bstart = block * BLOCK_BYTES;
    uint64_t from = offset > bstart ? offset : bstart;                 /* bytes of this piece */
    uint64_t to = end < bstart + BLOCK_BYTES ? end : bstart + BLOCK_BYTES;
    uint64_t w0 = (from - bstart) / 4, w1 = (to - bstart + 3) / 4;     /* words touched */
    unsigned __int128 acc[RUN_DIGEST_LANES] = { 0 };
    for (uint64_t j = w0; j < w1; j++) {
      uint64_t pos = bstart + j * 4;
      uint64_t w;
      if (pos >= offset && pos + 4 <= end) {
        uint32_t v;
        memcpy(&v, p + (pos - offset), 4);
        w = v;                   /* little-endian hosts (x86, arm) */
      } else
        w = word_at(p, count, offset, (bstart / 4) + j);
      for (unsigned l = 0; l < RUN_DIGEST_LANES; l++)
        acc[l] += (unsigned __int128) w * keys[l][j];
    }
    for (unsigned l = 0; l < RUN_DIGEST_LANES; l++) {
      d->sum[l] = addmod(d->sum[l], mulmod(fold(acc[l]), rpow[l]));
      rpow[l] = mulmod(rpow[l], points[l]);
    }
  }
}

void run_digest_merge(struct run_digest *into, const struct run_digest *from)
{
  for (unsigned l = 0; l < RUN_DIGEST_LANES; l++)
    into->sum[l] = addmod(into->sum[l], from->sum[l]);
}

bool run_digest_equal(const struct run_digest *a, const struct run_digest *b)
{
  return memcmp(a->sum, b->sum, sizeof a->sum) == 0;
}

/* Data ranges first, then reads: an NBD handle cannot read from inside
 * its own block-status callback. */
struct digest_walk {
  struct p2v_extent_list data;
  uint64_t pos;                /* end of what extents reported so far */
};

static int note_range(void *opaque, uint64_t offset, uint64_t length, bool hole)
{
  struct digest_walk *w = opaque;
  w->pos = offset + length;
  return hole ? 0 : p2v_extent_list_add(&w->data, offset, length);
}

int run_digest_image(struct p2v_image *img, struct run_digest *d)
{
  struct digest_walk w = { P2V_EXTENT_LIST_INIT, 0 };
  int r = 0;
  memset(d, 0, sizeof *d);
  /* Extents may answer for less than asked: go on from where they stopped. */
  for (uint64_t off = 0; off < img->size && r == 0; off = w.pos) {
    uint64_t n = img->size - off < (UINT64_C(1) << 30) ? img->size - off : UINT64_C(1) << 30;
    if (img->ops->extents)
      r = img->ops->extents(img, off, n, note_range, &w);
    else
      r = note_range(&w, off, n, false);
    if (r == 0 && w.pos <= off) {
      p2v_error("reading back the output: no progress at offset %llu", (unsigned long long) off);
      r = -1;
    }
  }
  size_t buf_size = 4 << 20;
  unsigned char *buf = r == 0 ? malloc(buf_size) : NULL;
  if (r == 0 && !buf) {
    p2v_error("out of memory");
    r = -1;
  }
  for (size_t i = 0; r == 0 && i < w.data.count; i++) {
    uint64_t offset = w.data.items[i].offset, length = w.data.items[i].length;
    while (length > 0 && r == 0) {
      size_t n = length < buf_size ? (size_t) length : buf_size;
      r = img->ops->pread(img, buf, n, offset);
      run_digest_add(d, buf, n, offset);
      offset += n;
      length -= n;
    }
  }
  free(buf);
  p2v_extent_list_clear(&w.data);
  return r;
}
