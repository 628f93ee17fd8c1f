/* The allocation reader where there is none yet (the Windows agent): the
 * libparted/NTFS/ext probe and its seccomp sandbox are Linux-only, so
 * every block counts as data.  Issue 13 brings FSCTL_GET_VOLUME_BITMAP.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "disk-internal.h"
#include "log.h"

void p2v_disk_read_allocation(struct p2v_disk *disk)
{
  p2v_info("%s: filesystems are not read on this platform yet; all of it will be sent",
           disk->path);
}
