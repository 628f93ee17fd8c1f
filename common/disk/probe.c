/* The probe, run inside the sandbox child: read the partition table with
 * libparted, then each partition's filesystem with the readers of fs.c.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <parted/parted.h>

#include "disk-internal.h"
#include "log.h"

/* libparted asks questions through exceptions.  Never answer FIX (it would
 * write) or RETRY (it could loop): warnings are ignored, errors cancel. */
static PedExceptionOption answer(PedException *ex)
{
  p2v_debug("libparted: %s", ex->message);
  if (ex->type <= PED_EXCEPTION_WARNING) {
    if (ex->options & PED_EXCEPTION_IGNORE)
      return PED_EXCEPTION_IGNORE;
    if (ex->options & PED_EXCEPTION_OK)
      return PED_EXCEPTION_OK;
  }
  if (ex->options & PED_EXCEPTION_CANCEL)
    return PED_EXCEPTION_CANCEL;
  if (ex->options & PED_EXCEPTION_NO)
    return PED_EXCEPTION_NO;
  return PED_EXCEPTION_UNHANDLED;
}

/* Try the readers on one partition (number 0: the whole disk) and record
 * it.  fallback_name is libparted's idea of the filesystem, for the survey
 * when none of our readers knows it.  Returns 0 if recorded. */
static int probe_partition(const struct p2v_probe_input *input, struct p2v_probe_result *result,
                           unsigned number, uint64_t offset, uint64_t length,
                           const char *fallback_name, bool whole_disk)
{
  struct p2v_fs_input in = {
    .fd = input->fd, .disk_path = input->path, .offset = offset, .length = length,
  };
  struct p2v_partition part = {
    .number = number, .offset = offset, .length = length, .used_bytes = UINT64_MAX,
  };

  for (size_t i = 0; p2v_filesystems[i]; i++) {
    const struct p2v_filesystem *fs = p2v_filesystems[i];
    if (!fs->probe(&in))
      continue;

    struct p2v_extent_list unused = P2V_EXTENT_LIST_INIT;
    struct p2v_fs_output out = { .unused = &unused, .used_bytes = UINT64_MAX };
    char why[512] = "";
    const char *name = fs->name;
    if (fs->scan(&in, &out, why, sizeof why) == 0) {
      for (size_t j = 0; j < unused.count; j++)
        if (p2v_extent_list_add(&result->unused, unused.items[j].offset,
                                unused.items[j].length) == -1) {
          p2v_extent_list_clear(&unused);
          free(out.label);
          return -1;
        }
      part.used_bytes = out.used_bytes;
      p2v_debug("%s: partition %u: %s, %" PRIu64 " of %" PRIu64 " bytes used",
                input->path, number, out.fs_name ? out.fs_name : name,
                out.used_bytes, length);
    }
    else {
      name = out.fs_name ? out.fs_name : name;
      if (whole_disk)
        p2v_probe_result_add_warning(result, "cannot read the %s filesystem on %s: %s; "
                                     "all of it will be sent", name, input->path, why);
      else
        p2v_probe_result_add_warning(result, "cannot read the %s filesystem on %s "
                                     "partition %u: %s; all of it will be sent",
                                     name, input->path, number, why);
    }
    p2v_extent_list_clear(&unused);
    part.label = out.label;
    part.filesystem = strdup(out.fs_name ? out.fs_name : name);
    return p2v_probe_result_add_partition(result, &part);
  }

  if (whole_disk && !fallback_name)
    return 0;                 /* nothing recognisable: not a partition */
  p2v_debug("%s: partition %u: %s: no reader, all of it is sent", input->path,
            number, fallback_name ? fallback_name : "unknown contents");
  part.filesystem = fallback_name ? strdup(fallback_name) : NULL;
  return p2v_probe_result_add_partition(result, &part);
}

int p2v_probe_run(const struct p2v_probe_input *input, struct p2v_probe_result *result)
{
  PedDevice *dev;
  PedDisk *pdisk = NULL;
  const PedDiskType *type;
  bool opened = false;
  int ret = -1;

  ped_exception_set_handler(answer);
  dev = ped_device_get(input->path);
  if (!dev) {
    p2v_probe_result_add_warning(result, "cannot read the partition table of %s", input->path);
    return probe_partition(input, result, 0, 0, input->size, NULL, true);
  }
  if (!ped_device_open(dev)) {
    p2v_probe_result_add_warning(result, "cannot read the partition table of %s", input->path);
    goto out;
  }
  opened = true;
  type = ped_disk_probe(dev);
  /* "loop" is libparted's name for a filesystem on the whole disk. */
  if (!type || strcmp(type->name, "loop") == 0) {
    ret = probe_partition(input, result, 0, 0, input->size, NULL, true);
    goto out;
  }
  pdisk = ped_disk_new(dev);
  if (!pdisk) {
    p2v_probe_result_add_warning(result, "cannot read the %s partition table of %s; "
                                 "all of it will be sent", type->name, input->path);
    ret = 0;
    goto out;
  }
  result->table_type = strdup(type->name);
  if (!result->table_type)
    goto out;
  for (PedPartition *p = ped_disk_next_partition(pdisk, NULL); p;
       p = ped_disk_next_partition(pdisk, p)) {
    /* Free space, metadata and the extended container are not filesystems;
     * they count as used (boot loaders live in gaps). */
    if (p->num <= 0 || !ped_partition_is_active(p) || (p->type & PED_PARTITION_EXTENDED))
      continue;
    uint64_t ss = (uint64_t) dev->sector_size;
    uint64_t offset = (uint64_t) p->geom.start * ss, length = (uint64_t) p->geom.length * ss;
    if (offset >= input->size || length > input->size - offset) {
      p2v_probe_result_add_warning(result, "partition %d of %s lies beyond the end of the disk; "
                                   "it is sent as it is", p->num, input->path);
      continue;
    }
    if (probe_partition(input, result, (unsigned) p->num, offset, length,
                        p->fs_type ? p->fs_type->name : NULL, false) == -1)
      goto out;
  }
  ret = 0;
out:
  if (pdisk)
    ped_disk_destroy(pdisk);
  if (opened)
    ped_device_close(dev);
  ped_device_destroy(dev);
  return ret;
}
