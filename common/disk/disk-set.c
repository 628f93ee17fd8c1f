/* The disks one server exports: opened together before anyone connects, so
 * a bad disk is found at once, and with export names that cannot clash.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "log.h"

void p2v_disks_close(struct p2v_disk **disks, size_t n)
{
  if (!disks)
    return;
  for (size_t i = 0; i < n; i++)
    if (disks[i])
      p2v_disk_close(disks[i]);
  free(disks);
}

struct p2v_disk **p2v_disks_open(char *const *paths, size_t n,
                                 const struct p2v_disk_options *options)
{
  struct p2v_disk **disks = calloc(n ? n : 1, sizeof *disks);
  if (!disks) {
    p2v_error("out of memory");
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    disks[i] = p2v_disk_open(paths[i], options);
    if (!disks[i])
      goto fail;
    for (size_t j = 0; j < i; j++) {
      if (!strcmp(disks[j]->export_name, disks[i]->export_name)) {
        p2v_error("%s and %s would both be served as export '%s': give disks with "
                  "different names", disks[j]->path, disks[i]->path, disks[i]->export_name);
        goto fail;
      }
    }
    p2v_info("export '%s': %s (%s)", disks[i]->export_name, disks[i]->path, disks[i]->description);
  }
  return disks;

fail:
  p2v_disks_close(disks, n);
  return NULL;
}
