/* The disk object: a read-only source with unused ranges read as zeroes.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "disk-internal.h"
#include "log.h"

struct p2v_disk *p2v_disk_open(const char *path, const struct p2v_disk_options *options)
{
  struct p2v_disk *disk = calloc(1, sizeof *disk);
  if (!disk) {
    p2v_error("cannot open disk %s: %m", path);
    return NULL;
  }
  disk->unused = (struct p2v_extent_list) P2V_EXTENT_LIST_INIT;
  disk->path = strdup(path);
  if (!disk->path) {
    p2v_error("cannot open disk %s: %m", path);
    free(disk);
    return NULL;
  }
  if (p2v_disk_source_file_open(disk, path) == -1) {
    p2v_disk_close(disk);
    return NULL;
  }
  if (options && options->all_blocks)
    p2v_info("%s: --all-blocks: not reading filesystems, every block is sent", path);
  else
    p2v_disk_read_allocation(disk);
  return disk;
}

void p2v_disk_close(struct p2v_disk *disk)
{
  if (!disk)
    return;
  if (disk->ops && disk->ops->close)
    disk->ops->close(disk->handle);
  for (size_t i = 0; i < disk->npartitions; i++) {
    free(disk->partitions[i].filesystem);
    free(disk->partitions[i].label);
  }
  free(disk->partitions);
  free(disk->table_type);
  p2v_extent_list_clear(&disk->unused);
  free(disk->description);
  free(disk->export_name);
  free(disk->path);
  free(disk);
}

int p2v_disk_pread(struct p2v_disk *disk, void *buf, size_t count, uint64_t offset)
{
  unsigned char *p = buf;

  /* Unused ranges are never read: their contents may be stale or secret
   * (deleted files, pagefile) and reading them would cost disk time. */
  while (count > 0) {
    uint64_t run;
    bool unused = p2v_extent_list_lookup(&disk->unused, offset, &run);
    size_t n = run < count ? (size_t) run : count;
    if (unused)
      memset(p, 0, n);
    else if (disk->ops->pread(disk->handle, p, n, offset) == -1)
      return -1;
    p += n;
    offset += n;
    count -= n;
  }
  return 0;
}

/* Joins adjacent ranges of the same kind so the caller sees maximal runs. */
struct extents_state {
  const struct p2v_disk *disk;
  p2v_extent_fn fn;
  void *opaque;
  uint64_t pending_offset, pending_length;
  bool pending_hole;
  uint64_t position;          /* end of what the source has reported */
  uint64_t end;               /* of the request: a source may say more */
};

static int emit(struct extents_state *s, uint64_t offset, uint64_t length, bool hole)
{
  if (s->pending_length > 0 && s->pending_hole == hole &&
      s->pending_offset + s->pending_length == offset) {
    s->pending_length += length;
    return 0;
  }
  if (s->pending_length > 0 &&
      s->fn(s->opaque, s->pending_offset, s->pending_length, s->pending_hole) == -1)
    return -1;
  s->pending_offset = offset;
  s->pending_length = length;
  s->pending_hole = hole;
  return 0;
}

/* A range from the source: split it by the unused list. */
static int source_range(void *opaque, uint64_t offset, uint64_t length, bool hole)
{
  struct extents_state *s = opaque;

  if (offset != s->position || length == 0) {
    p2v_error("%s: source reported extent at %llu, expected %llu",
              s->disk->path, (unsigned long long) offset,
              (unsigned long long) s->position);
    return -1;
  }
  if (length > s->end - offset)
    length = s->end - offset;
  while (length > 0) {
    uint64_t run;
    bool unused = p2v_extent_list_lookup(&s->disk->unused, offset, &run);
    uint64_t n = run < length ? run : length;
    if (emit(s, offset, n, hole || unused) == -1)
      return -1;
    offset += n;
    length -= n;
  }
  s->position = offset;
  return 0;
}

int p2v_disk_extents(struct p2v_disk *disk, uint64_t offset, uint64_t count,
                     p2v_extent_fn fn, void *opaque)
{
  uint64_t end = offset + count;
  struct extents_state s = { .disk = disk, .fn = fn, .opaque = opaque,
                             .position = offset, .end = end };

  while (s.position < end) {
    uint64_t start = s.position;
    if (disk->ops->extents) {
      if (disk->ops->extents(disk->handle, start, end - start, source_range, &s) == -1)
        return -1;
    }
    else if (source_range(&s, start, end - start, false) == -1)
      return -1;
    if (s.position <= start) {
      p2v_error("%s: source extents made no progress at %llu",
                disk->path, (unsigned long long) start);
      return -1;
    }
  }
  if (s.pending_length > 0)
    return fn(opaque, s.pending_offset, s.pending_length, s.pending_hole);
  return 0;
}
