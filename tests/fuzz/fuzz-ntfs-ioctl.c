/* libFuzzer harness: the parsers of the Windows ioctl buffers
 * (common/disk/ntfs-ioctl-parse.c).  Byte 0 picks the parser (0: volume
 * bitmap, 1: retrieval pointers, 2: drive layout; bit 7: ERROR_MORE_DATA),
 * byte 1 the volume's size in 4 KiB clusters (x 8); the rest is the
 * buffer.  Whatever is accepted must stay inside the volume or the disk.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>

#include "ntfs-ioctl-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define VOLUME_OFFSET (UINT64_C(1) << 20)
#define DISK_SIZE (UINT64_C(1) << 40)

static void check_inside(const struct p2v_extent_list *list, uint64_t end)
{
  for (size_t i = 0; i < list->count; i++)
    if (list->items[i].offset < VOLUME_OFFSET || list->items[i].length == 0 ||
        list->items[i].length > end - list->items[i].offset)
      abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  bool more = data[0] & 0x80;
  struct p2v_volume_geometry g = {
    .cluster_size = 4096, .volume_offset = VOLUME_OFFSET,
    .volume_length = (uint64_t) data[1] * 8 * 4096,
  };
  const uint8_t *buf = data + 2;
  size_t len = size - 2;
  struct p2v_extent_list out = P2V_EXTENT_LIST_INIT;
  const char *why;
  switch ((data[0] & 0x7f) % 3) {
  case 0: {
    struct p2v_bitmap_walk walk = { .geometry = g };
    if (p2v_volume_bitmap_feed(&walk, buf, len, more, &out, &why) == 0 &&
        walk.next_lcn * 4096 > g.volume_length)
      abort();
    break;
  }
  case 1: {
    struct p2v_retrieval_walk walk = { .geometry = g };
    (void) p2v_retrieval_pointers_feed(&walk, buf, len, more, &out, &why);
    break;
  }
  default: {
    struct p2v_drive_layout layout;
    if (p2v_drive_layout_parse(buf, len, DISK_SIZE, &layout, &why) == 0) {
      for (size_t i = 0; i < layout.count; i++)
        if (layout.partitions[i].offset + layout.partitions[i].length > DISK_SIZE)
          abort();
      p2v_drive_layout_clear(&layout);
    }
    break;
  }
  }
  check_inside(&out, VOLUME_OFFSET + g.volume_length);
  p2v_extent_list_clear(&out);
  return 0;
}
