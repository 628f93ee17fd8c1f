/* The disk view (disk-view.h): a source made of the disk and its volumes.
 * After p2v_disk_view_finish the mapping table never changes, so reads
 * from several threads need no lock (each sub-source's pread is
 * thread-safe).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk-internal.h"
#include "disk-view.h"
#include "log.h"

struct sub_source {
  const struct p2v_disk_source_ops *ops;
  void *handle;
  uint64_t size;
  char *path;                 /* for messages */
};

/* Disk bytes [offset, offset+length) are the volume's [0, length). */
struct mapping {
  unsigned number;
  uint64_t offset, length;    /* of the partition */
  uint64_t mapped;            /* bytes read from the volume (<= length) */
  struct sub_source volume;
};

struct p2v_disk_view {
  struct p2v_disk *disk;      /* being built: ops/handle point here once finished */
  struct sub_source base;     /* the whole disk */
  struct mapping *maps;       /* sorted by offset */
  size_t nmaps;
};

static void sub_source_close(struct sub_source *s)
{
  if (s->ops && s->ops->close)
    s->ops->close(s->handle);
  free(s->path);
  *s = (struct sub_source) { 0 };
}

/* Open path read-only through this platform's file source. */
static int sub_source_open(struct sub_source *s, const char *path)
{
  struct p2v_disk tmp = { 0 };
  if (p2v_disk_source_file_open(&tmp, path) == -1)
    return -1;
  free(tmp.export_name);
  free(tmp.description);
  *s = (struct sub_source) { .ops = tmp.ops, .handle = tmp.handle, .size = tmp.size,
                             .path = strdup(path) };
  if (!s->path) {
    sub_source_close(s);
    p2v_error("cannot open %s: out of memory", path);
    return -1;
  }
  return 0;
}

void p2v_disk_view_free(struct p2v_disk_view *view)
{
  if (!view)
    return;
  sub_source_close(&view->base);
  for (size_t i = 0; i < view->nmaps; i++)
    sub_source_close(&view->maps[i].volume);
  free(view->maps);
  if (view->disk) {
    view->disk->ops = NULL;     /* the sources were closed just above */
    p2v_disk_close(view->disk);
  }
  free(view);
}

struct p2v_disk_view *p2v_disk_view_new(const char *disk_path)
{
  struct p2v_disk_view *view = calloc(1, sizeof *view);
  if (!view || !(view->disk = calloc(1, sizeof *view->disk)) ||
      !(view->disk->path = strdup(disk_path))) {
    p2v_error("cannot open disk %s: out of memory", disk_path);
    p2v_disk_view_free(view);
    return NULL;
  }
  struct p2v_disk *disk = view->disk;
  disk->unused = (struct p2v_extent_list) P2V_EXTENT_LIST_INIT;
  if (p2v_disk_source_file_open(disk, disk_path) == -1) {
    p2v_disk_view_free(view);
    return NULL;
  }
  view->base = (struct sub_source) { .ops = disk->ops, .handle = disk->handle,
                                     .size = disk->size, .path = strdup(disk_path) };
  disk->ops = NULL;
  disk->handle = NULL;
  if (!view->base.path) {
    p2v_error("cannot open disk %s: out of memory", disk_path);
    p2v_disk_view_free(view);
    return NULL;
  }
  return view;
}

int p2v_disk_view_add_volume(struct p2v_disk_view *view, unsigned number, uint64_t offset,
                             uint64_t length, const char *volume_path)
{
  const char *disk_path = view->base.path;
  if (length == 0 || offset > view->base.size || length > view->base.size - offset) {
    p2v_error("cannot map %s onto %s partition %u: bytes %" PRIu64 "+%" PRIu64
              " are not inside the disk (%" PRIu64 " bytes)", volume_path, disk_path,
              number, offset, length, view->base.size);
    return -1;
  }
  size_t at = 0;
  while (at < view->nmaps && view->maps[at].offset < offset)
    at++;
  const struct mapping *clash = NULL;
  if (at > 0 && view->maps[at - 1].offset + view->maps[at - 1].length > offset)
    clash = &view->maps[at - 1];
  else if (at < view->nmaps && offset + length > view->maps[at].offset)
    clash = &view->maps[at];
  if (clash) {
    p2v_error("cannot map %s onto %s partition %u: it overlaps partition %u",
              volume_path, disk_path, number, clash->number);
    return -1;
  }
  struct mapping *maps = reallocarray(view->maps, view->nmaps + 1, sizeof *maps);
  if (!maps) {
    p2v_error("cannot map %s onto %s: out of memory", volume_path, disk_path);
    return -1;
  }
  view->maps = maps;
  struct mapping m = { .number = number, .offset = offset, .length = length };
  if (sub_source_open(&m.volume, volume_path) == -1)
    return -1;
  m.mapped = m.volume.size < length ? m.volume.size : length;
  if (m.mapped < length)
    p2v_warning("%s is %" PRIu64 " bytes shorter than %s partition %u: those last bytes "
                "are read from the disk itself", volume_path, length - m.mapped,
                disk_path, number);
  memmove(&maps[at + 1], &maps[at], (view->nmaps - at) * sizeof *maps);
  maps[at] = m;
  view->nmaps++;
  return 0;
}

/* The mapping whose volume bytes hold disk offset, or NULL. */
static const struct mapping *mapping_at(const struct p2v_disk_view *view, uint64_t offset)
{
  size_t lo = 0, hi = view->nmaps;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (view->maps[mid].offset + view->maps[mid].mapped <= offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < view->nmaps && view->maps[lo].offset <= offset)
    return &view->maps[lo];
  return NULL;
}

int p2v_disk_view_add_unused(struct p2v_disk_view *view, const struct p2v_extent_list *ranges)
{
  for (size_t i = 0; i < ranges->count; i++) {
    uint64_t offset = ranges->items[i].offset, length = ranges->items[i].length;
    const struct mapping *m = mapping_at(view, offset);
    if (length == 0)
      continue;
    if (!m || length > m->offset + m->mapped - offset) {
      p2v_error("%s: unused range at %" PRIu64 "+%" PRIu64 " is not inside a mapped "
                "volume: refusing it (a bug in the volume reader)", view->base.path,
                offset, length);
      return -1;
    }
    if (p2v_extent_list_add(&view->disk->unused, offset, length) == -1)
      return -1;
  }
  return 0;
}

int p2v_disk_view_set_table_type(struct p2v_disk_view *view, const char *type)
{
  free(view->disk->table_type);
  view->disk->table_type = type ? strdup(type) : NULL;
  if (type && !view->disk->table_type) {
    p2v_error("out of memory");
    return -1;
  }
  return 0;
}

/* One stretch from offset: inside a volume, or the disk up to the next
 * volume.  Sets *src, the source offset, and how many bytes it covers. */
static void segment(const struct p2v_disk_view *view, uint64_t offset,
                    const struct sub_source **src, uint64_t *src_offset, uint64_t *run)
{
  const struct mapping *m = mapping_at(view, offset);
  if (m) {
    *src = &m->volume;
    *src_offset = offset - m->offset;
    *run = m->offset + m->mapped - offset;
    return;
  }
  *src = &view->base;
  *src_offset = offset;
  *run = view->base.size - offset;
  for (size_t i = 0; i < view->nmaps; i++)
    if (view->maps[i].offset > offset) {
      *run = view->maps[i].offset - offset;
      break;
    }
}

static int view_pread(void *handle, void *buf, size_t count, uint64_t offset)
{
  const struct p2v_disk_view *view = handle;
  unsigned char *p = buf;
  while (count > 0) {
    const struct sub_source *src;
    uint64_t src_offset, run;
    segment(view, offset, &src, &src_offset, &run);
    size_t n = run < count ? (size_t) run : count;
    if (n == 0) {
      p2v_error("%s: read at %" PRIu64 " is past the end of the disk", view->base.path, offset);
      return -1;
    }
    if (src->ops->pread(src->handle, p, n, src_offset) == -1)
      return -1;
    p += n;
    offset += n;
    count -= n;
  }
  return 0;
}

/* A sub-source's extents, moved to disk offsets and cut at the segment's end. */
struct shift {
  p2v_extent_fn fn;
  void *opaque;
  uint64_t src_start, disk_start, length;
};

static int shifted(void *opaque, uint64_t offset, uint64_t length, bool hole)
{
  struct shift *s = opaque;
  if (offset < s->src_start || offset - s->src_start >= s->length)
    return 0;                   /* past what was asked: the caller asks again */
  uint64_t rel = offset - s->src_start;
  if (length > s->length - rel)
    length = s->length - rel;
  return s->fn(s->opaque, s->disk_start + rel, length, hole);
}

static int view_extents(void *handle, uint64_t offset, uint64_t count,
                        p2v_extent_fn fn, void *opaque)
{
  const struct p2v_disk_view *view = handle;
  const struct sub_source *src;
  uint64_t src_offset, run;
  segment(view, offset, &src, &src_offset, &run);
  if (run > count)
    run = count;
  if (run == 0) {
    p2v_error("%s: extents at %" PRIu64 " are past the end of the disk", view->base.path,
              offset);
    return -1;
  }
  if (!src->ops->extents)
    return fn(opaque, offset, run, false);
  struct shift s = { fn, opaque, src_offset, offset, run };
  return src->ops->extents(src->handle, src_offset, run, shifted, &s);
}

static void view_close(void *handle)
{
  struct p2v_disk_view *view = handle;
  view->disk = NULL;            /* p2v_disk_close is freeing it */
  p2v_disk_view_free(view);
}

static const struct p2v_disk_source_ops view_ops = {
  .kind = "disk view", .pread = view_pread, .extents = view_extents, .close = view_close,
};

/* Bytes of [offset, offset+length) in the (normalized) unused list. */
static uint64_t unused_within(const struct p2v_extent_list *list, uint64_t offset,
                              uint64_t length)
{
  uint64_t total = 0, end = offset + length;
  for (size_t i = 0; i < list->count; i++) {
    uint64_t a = list->items[i].offset, b = a + list->items[i].length;
    if (a < offset)
      a = offset;
    if (b > end)
      b = end;
    if (a < b)
      total += b - a;
  }
  return total;
}

struct p2v_disk *p2v_disk_view_finish(struct p2v_disk_view *view)
{
  struct p2v_disk *disk = view->disk;
  p2v_extent_list_normalize(&disk->unused);
  disk->partitions = calloc(view->nmaps ? view->nmaps : 1, sizeof *disk->partitions);
  char *description = NULL;
  if (!disk->partitions ||
      asprintf(&description, "%s, %zu volume%s from their own sources", disk->description,
               view->nmaps, view->nmaps == 1 ? "" : "s") == -1) {
    p2v_error("cannot open disk %s: out of memory", disk->path);
    p2v_disk_view_free(view);
    return NULL;
  }
  free(disk->description);
  disk->description = description;
  for (size_t i = 0; i < view->nmaps; i++) {
    const struct mapping *m = &view->maps[i];
    disk->partitions[i] = (struct p2v_partition) {
      .number = m->number, .offset = m->offset, .length = m->length,
      .used_bytes = m->length - unused_within(&disk->unused, m->offset, m->length),
    };
  }
  disk->npartitions = view->nmaps;
  disk->ops = &view_ops;
  disk->handle = view;
  return disk;
}
