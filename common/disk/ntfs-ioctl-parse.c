/* Parsers of FSCTL_GET_VOLUME_BITMAP, FSCTL_GET_RETRIEVAL_POINTERS and
 * IOCTL_DISK_GET_DRIVE_LAYOUT_EX buffers (layouts in the header).  Every
 * field is read with explicit little-endian loads at checked offsets, never
 * through a cast struct, so alignment and padding cannot differ between
 * the Linux tests and the Windows agent.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "ntfs-ioctl-parse.h"

#define MAX_CLUSTER_SIZE (UINT64_C(2) << 20)

static uint32_t le32(const uint8_t *p)
{
  return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
  return (uint64_t) le32(p) | (uint64_t) le32(p + 4) << 32;
}

/* A LONGLONG that must be >= 0. */
static bool nonnegative(const uint8_t *p, uint64_t *value)
{
  *value = le64(p);
  return *value <= (uint64_t) INT64_MAX;
}

static bool geometry_ok(const struct p2v_volume_geometry *g, const char **why)
{
  uint64_t c = g->cluster_size;
  if (c < 512 || c > MAX_CLUSTER_SIZE || (c & (c - 1))) {
    *why = "the cluster size is not a power of two between 512 bytes and 2 MiB";
    return false;
  }
  if (g->volume_offset + g->volume_length < g->volume_offset) {
    *why = "the volume ends past 2^64 bytes";
    return false;
  }
  return true;
}

/* Clusters [lcn, lcn+n) must end within the volume. */
static bool clusters_inside(const struct p2v_volume_geometry *g, uint64_t lcn, uint64_t n)
{
  uint64_t volume_clusters = g->volume_length / g->cluster_size;
  return lcn <= volume_clusters && n <= volume_clusters - lcn;
}

static int add_clusters(const struct p2v_volume_geometry *g, uint64_t lcn, uint64_t n,
                        struct p2v_extent_list *out, const char **why)
{
  /* clusters_inside holds, so neither product nor sum can overflow. */
  if (p2v_extent_list_add(out, g->volume_offset + lcn * g->cluster_size,
                          n * g->cluster_size) == -1) {
    *why = "out of memory";
    return -1;
  }
  return 0;
}

/* Free (zero) runs among bits [0, nbits) of bits, cluster lcn0 + i. */
static int free_runs(struct p2v_bitmap_walk *walk, uint64_t lcn0, const uint8_t *bits,
                     uint64_t nbits, struct p2v_extent_list *out, const char **why)
{
  const struct p2v_volume_geometry *g = &walk->geometry;
  uint64_t i = 0;
  while (i < nbits) {
    /* Whole bytes of one kind are skipped at once. */
    if (i % 8 == 0 && nbits - i >= 8 && bits[i / 8] == 0xff) {
      i += 8;
      continue;
    }
    if (bits[i / 8] & (1u << (i % 8))) {
      i++;
      continue;
    }
    uint64_t start = i;
    while (i < nbits) {
      if (i % 8 == 0 && nbits - i >= 8 && bits[i / 8] == 0) {
        i += 8;
        continue;
      }
      if (bits[i / 8] & (1u << (i % 8)))
        break;
      i++;
    }
    if (walk->max_ranges && out->count >= walk->max_ranges) {
      walk->dropped_clusters += i - start;
      continue;
    }
    if (add_clusters(g, lcn0 + start, i - start, out, why) == -1)
      return -1;
    walk->free_clusters += i - start;
  }
  return 0;
}

int p2v_volume_bitmap_feed(struct p2v_bitmap_walk *walk, const uint8_t *buf, size_t len,
                           bool more_data, struct p2v_extent_list *out, const char **why)
{
  const struct p2v_volume_geometry *g = &walk->geometry;
  uint64_t starting_lcn, bitmap_size;

  if (walk->done) {
    *why = "the bitmap was already complete";
    return -1;
  }
  if (!geometry_ok(g, why))
    return -1;
  if (len < P2V_VOLUME_BITMAP_HEADER) {
    *why = "the volume bitmap is shorter than its header";
    return -1;
  }
  if (!nonnegative(buf, &starting_lcn) || !nonnegative(buf + 8, &bitmap_size)) {
    *why = "the volume bitmap has a negative starting cluster or size";
    return -1;
  }
  if (starting_lcn != walk->next_lcn) {
    *why = "the volume bitmap starts at another cluster than asked for";
    return -1;
  }
  if (!clusters_inside(g, starting_lcn, bitmap_size)) {
    *why = "the volume bitmap covers clusters past the end of the volume";
    return -1;
  }
  uint64_t bytes = len - P2V_VOLUME_BITMAP_HEADER;
  uint64_t needed = bitmap_size / 8 + (bitmap_size % 8 != 0);
  uint64_t nbits;
  if (more_data) {
    /* A partial answer: only whole bytes, fewer than the rest of the volume. */
    if (bytes == 0 || bytes >= needed) {
      *why = "a partial volume bitmap (more data) makes no progress or holds it all";
      return -1;
    }
    nbits = bytes * 8;
  }
  else {
    if (bytes < needed) {
      *why = "the volume bitmap is shorter than its size says";
      return -1;
    }
    nbits = bitmap_size;      /* the last byte's spare bits are ignored */
  }
  if (free_runs(walk, starting_lcn, buf + P2V_VOLUME_BITMAP_HEADER, nbits, out, why) == -1)
    return -1;
  walk->next_lcn = starting_lcn + nbits;
  walk->done = !more_data;
  return 0;
}

int p2v_retrieval_pointers_feed(struct p2v_retrieval_walk *walk, const uint8_t *buf,
                                size_t len, bool more_data, struct p2v_extent_list *out,
                                const char **why)
{
  const struct p2v_volume_geometry *g = &walk->geometry;
  uint64_t vcn;

  if (walk->done) {
    *why = "the cluster runs were already complete";
    return -1;
  }
  if (!geometry_ok(g, why))
    return -1;
  if (len < P2V_RETRIEVAL_HEADER) {
    *why = "the retrieval pointers are shorter than their header";
    return -1;
  }
  uint32_t count = le32(buf);
  if (count > (len - P2V_RETRIEVAL_HEADER) / P2V_RETRIEVAL_EXTENT) {
    *why = "the retrieval pointers count more runs than the buffer holds";
    return -1;
  }
  if (count == 0 && more_data) {
    *why = "partial retrieval pointers (more data) with no run";
    return -1;
  }
  if (!nonnegative(buf + 8, &vcn) || vcn != walk->next_vcn) {
    *why = "the retrieval pointers start at another cluster than asked for";
    return -1;
  }
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *e = buf + P2V_RETRIEVAL_HEADER + (size_t) i * P2V_RETRIEVAL_EXTENT;
    uint64_t next_vcn, lcn;
    if (!nonnegative(e, &next_vcn) || next_vcn <= vcn) {
      *why = "a run of the retrieval pointers does not move forward";
      return -1;
    }
    uint64_t n = next_vcn - vcn;
    lcn = le64(e + 8);
    if (lcn != UINT64_MAX) {          /* -1: no clusters behind this run */
      if (lcn > (uint64_t) INT64_MAX || !clusters_inside(g, lcn, n)) {
        *why = "a run of the retrieval pointers lies past the end of the volume";
        return -1;
      }
      if (add_clusters(g, lcn, n, out, why) == -1)
        return -1;
      walk->clusters += n;
    }
    vcn = next_vcn;
  }
  walk->next_vcn = vcn;
  walk->done = !more_data;
  return 0;
}

void p2v_drive_layout_clear(struct p2v_drive_layout *layout)
{
  free(layout->partitions);
  *layout = (struct p2v_drive_layout) { .style = P2V_LAYOUT_RAW };
}

static bool mbr_container(uint8_t type)
{
  return type == 0x05 || type == 0x0f || type == 0x85;
}

static int by_offset(const void *a, const void *b)
{
  const struct p2v_layout_partition *x = a, *y = b;
  if (x->offset != y->offset)
    return (x->offset > y->offset) - (x->offset < y->offset);
  return (y->container) - (x->container);   /* a container before what it holds */
}

static int parse_entry(const uint8_t *e, uint32_t style, uint64_t disk_size,
                       struct p2v_layout_partition *p, bool *empty, const char **why)
{
  *p = (struct p2v_layout_partition) { 0 };   /* the slot of a dropped empty entry */
  if (le32(e) != style) {
    *why = "a partition entry has another style than its table";
    return -1;
  }
  if (!nonnegative(e + 8, &p->offset) || !nonnegative(e + 16, &p->length) ||
      p->offset > disk_size || p->length > disk_size - p->offset) {
    *why = "a partition lies past the end of the disk";
    return -1;
  }
  p->number = le32(e + 24);
  if (style == P2V_LAYOUT_MBR) {
    p->mbr_type = e[32];
    p->container = mbr_container(p->mbr_type);
    *empty = p->mbr_type == 0 || p->length == 0;
  }
  else {
    static const uint8_t unused[16];
    memcpy(p->gpt_type, e + 32, 16);
    *empty = !memcmp(p->gpt_type, unused, 16) || p->length == 0;
  }
  return 0;
}

int p2v_drive_layout_parse(const uint8_t *buf, size_t len, uint64_t disk_size,
                           struct p2v_drive_layout *out, const char **why)
{
  *out = (struct p2v_drive_layout) { .style = P2V_LAYOUT_RAW };
  if (len < P2V_LAYOUT_HEADER) {
    *why = "the drive layout is shorter than its header";
    return -1;
  }
  uint32_t style = le32(buf), count = le32(buf + 4);
  if (style > P2V_LAYOUT_RAW) {
    *why = "the drive layout has an unknown partition style";
    return -1;
  }
  if (count > P2V_LAYOUT_MAX_PARTITIONS ||
      count > (len - P2V_LAYOUT_HEADER) / P2V_LAYOUT_ENTRY) {
    *why = "the drive layout counts more partitions than the buffer holds";
    return -1;
  }
  if (style == P2V_LAYOUT_RAW) {
    out->style = P2V_LAYOUT_RAW;      /* no table: entries, if any, mean nothing */
    return 0;
  }
  struct p2v_layout_partition *parts = calloc(count ? count : 1, sizeof *parts);
  if (!parts) {
    *why = "out of memory";
    return -1;
  }
  size_t n = 0;
  for (uint32_t i = 0; i < count; i++) {
    bool empty;
    if (parse_entry(buf + P2V_LAYOUT_HEADER + (size_t) i * P2V_LAYOUT_ENTRY, style,
                    disk_size, &parts[n], &empty, why) == -1) {
      free(parts);
      return -1;
    }
    if (!empty)
      n++;
  }
  qsort(parts, n, sizeof *parts, by_offset);
  /* Volumes may not overlap (a container holds logical volumes: skip it). */
  uint64_t end = 0;
  for (size_t i = 0; i < n; i++) {
    if (parts[i].container)
      continue;
    if (parts[i].offset < end) {
      free(parts);
      *why = "two partitions of the drive layout overlap";
      return -1;
    }
    end = parts[i].offset + parts[i].length;
  }
  out->style = (enum p2v_layout_style) style;
  out->partitions = parts;
  out->count = n;
  return 0;
}
