/* A made-up disk for the NBD server's tests and fuzz harnesses: contents
 * computed from the offset (no memory needed), source holes at fixed
 * places, and an "unused" range that must read as zeroes.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_TEST_NBD_MEMDISK_H
#define P2V_TEST_NBD_MEMDISK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"

#define MIB (UINT64_C(1) << 20)

struct memdisk_range { uint64_t offset, length; };

/* Holes the source reports itself (sparse-file-like). */
static const struct memdisk_range memdisk_holes[] = {
  { 1 * MIB, 1 * MIB },
  { 3 * MIB, 1024 },              /* small: sent as zero data in reads */
  { 60 * MIB, 4 * MIB },          /* to the end */
};
/* What "the filesystem" says is free: reads as zeroes, reported as a hole. */
static const struct memdisk_range memdisk_unused = { 40 * MIB, 1 * MIB };

static inline bool memdisk_in_hole(uint64_t off, uint64_t *run)
{
  uint64_t next = UINT64_MAX;
  for (size_t i = 0; i < sizeof memdisk_holes / sizeof memdisk_holes[0]; i++) {
    const struct memdisk_range *h = &memdisk_holes[i];
    if (off >= h->offset && off < h->offset + h->length) {
      *run = h->offset + h->length - off;
      return true;
    }
    if (h->offset > off && h->offset < next)
      next = h->offset;
  }
  *run = next - off;
  return false;
}

/* The byte the source holds at off (ignoring holes). */
static inline unsigned char memdisk_pattern(uint64_t off)
{
  uint64_t x = off * UINT64_C(0x9e3779b97f4a7c15);
  return (unsigned char) ((x >> 56) ^ (off >> 9));
}

/* The byte a client must read at off. */
static inline unsigned char memdisk_expected(uint64_t off)
{
  uint64_t run;
  if (memdisk_in_hole(off, &run))
    return 0;
  if (off >= memdisk_unused.offset && off < memdisk_unused.offset + memdisk_unused.length)
    return 0;
  return memdisk_pattern(off);
}

static int memdisk_pread(void *handle, void *buf, size_t count, uint64_t offset)
{
  unsigned char *p = buf;
  while (count > 0) {
    uint64_t run;
    bool hole = memdisk_in_hole(offset, &run);
    size_t n = run < count ? (size_t) run : count;
    if (hole)
      memset(p, 0, n);
    else
      for (size_t i = 0; i < n; i++)
        p[i] = memdisk_pattern(offset + i);
    p += n;
    offset += n;
    count -= n;
  }
  return 0;
}

static int memdisk_extents(void *handle, uint64_t offset, uint64_t count,
                           p2v_extent_fn fn, void *opaque)
{
  uint64_t end = offset + count;
  while (offset < end) {
    uint64_t run;
    bool hole = memdisk_in_hole(offset, &run);
    if (run > end - offset)
      run = end - offset;
    if (fn(opaque, offset, run, hole) == -1)
      return -1;
    offset += run;
  }
  return 0;
}

static void memdisk_close(void *handle) { }

static const struct p2v_disk_source_ops memdisk_ops = {
  .kind = "memory", .pread = memdisk_pread, .extents = memdisk_extents,
  .close = memdisk_close,
};

/* A 64 MiB disk named name.  Freed with p2v_disk_close. */
static inline struct p2v_disk *memdisk_new(const char *name, const char *description)
{
  struct p2v_disk *d = calloc(1, sizeof *d);
  if (!d)
    abort();
  d->ops = &memdisk_ops;
  d->path = strdup(name);
  d->export_name = strdup(name);
  d->description = description ? strdup(description) : NULL;
  d->size = 64 * MIB;
  d->block_size = 512;
  d->unused = (struct p2v_extent_list) P2V_EXTENT_LIST_INIT;
  if (p2v_extent_list_add(&d->unused, memdisk_unused.offset, memdisk_unused.length) == -1)
    abort();
  p2v_extent_list_normalize(&d->unused);
  return d;
}

#endif
