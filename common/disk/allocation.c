/* The parent side of the allocation reader: run the probe in the sandbox,
 * check what it sends, and adopt it.  Whatever goes wrong, the disk is
 * still served, with everything counted as used.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "disk-internal.h"
#include "log.h"

/* A hostile filesystem could loop; a real one is read in seconds. */
#define PROBE_TIMEOUT_SECONDS 120
/* 17 bytes per range on the wire, plus partitions and warnings. */
#define PROBE_MAX_BYTES ((size_t) P2V_PROBE_MAX_EXTENTS * 17 + (4u << 20))

struct probe_ctx {
  const struct p2v_disk *disk;
};

/* Too many small free ranges (a fragmented terabyte): drop the smallest
 * until the list fits.  Dropped ranges are merely sent. */
static void coarsen(struct p2v_extent_list *list)
{
  uint64_t min = 4096;
  while (list->count > P2V_PROBE_MAX_EXTENTS) {
    size_t out = 0;
    for (size_t i = 0; i < list->count; i++)
      if (list->items[i].length >= min)
        list->items[out++] = list->items[i];
    list->count = out;
    min *= 2;
  }
}

/* In the sandboxed child. */
static int probe_child(void *opaque, int input_fd, int result_fd)
{
  const struct probe_ctx *ctx = opaque;
  struct p2v_probe_input in = {
    .path = ctx->disk->path, .fd = input_fd, .size = ctx->disk->size,
    .sector_size = ctx->disk->block_size,
  };
  struct p2v_probe_result result = { .unused = P2V_EXTENT_LIST_INIT };

  if (p2v_probe_run(&in, &result) == -1)
    return -1;
  p2v_extent_list_normalize(&result.unused);
  coarsen(&result.unused);
  return p2v_probe_result_write(result_fd, &result);
}

void p2v_disk_read_allocation(struct p2v_disk *disk)
{
  struct probe_ctx ctx = { .disk = disk };
  struct p2v_probe_result result;
  uint8_t *buf = NULL;
  size_t len = 0;
  char why[256] = "";
  const char *bad = NULL;
  int fd = p2v_disk_source_file_fd(disk);

  if (fd < 0)
    return;                   /* a source with its own allocation info */
  if (p2v_sandbox_run(probe_child, &ctx, fd, PROBE_TIMEOUT_SECONDS, PROBE_MAX_BYTES,
                      &buf, &len, why, sizeof why) == -1) {
    free(buf);
    p2v_warning("cannot read the filesystems on %s: %s; all of it will be sent",
                disk->path, why);
    return;
  }
  if (p2v_probe_result_decode(buf, len, disk->size, &result, &bad) == -1) {
    free(buf);
    p2v_warning("cannot read the filesystems on %s: the reader sent bad data (%s); "
                "all of it will be sent", disk->path, bad);
    return;
  }
  free(buf);

  for (size_t i = 0; i < result.nwarnings; i++)
    p2v_warning("%s", result.warnings[i]);
  disk->table_type = result.table_type;
  disk->partitions = result.partitions;
  disk->npartitions = result.npartitions;
  disk->unused = result.unused;
  result.table_type = NULL;
  result.partitions = NULL;
  result.npartitions = 0;
  result.unused = (struct p2v_extent_list) P2V_EXTENT_LIST_INIT;
  p2v_probe_result_clear(&result);

  for (size_t i = 0; i < disk->npartitions; i++) {
    const struct p2v_partition *p = &disk->partitions[i];
    p2v_info("%s: partition %u: %s%s%s%s", disk->path, p->number,
             p->filesystem ? p->filesystem : "unknown contents",
             p->label ? " \"" : "", p->label ? p->label : "", p->label ? "\"" : "");
  }
  p2v_info("%s: %s, %zu partition(s), %" PRIu64 " of %" PRIu64 " bytes unused (not sent)",
           disk->path, disk->table_type ? disk->table_type : "no partition table",
           disk->npartitions, p2v_extent_list_total(&disk->unused), disk->size);
}
