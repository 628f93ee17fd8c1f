/* What Windows says about a disk's partitions and an NTFS volume's unused
 * space, through the ioctls whose buffers ntfs-ioctl-parse.c parses.
 * Windows build only.  Untested by the test suite: wine implements none of
 * FSCTL_GET_VOLUME_BITMAP, FSCTL_GET_RETRIEVAL_POINTERS,
 * FSCTL_GET_NTFS_VOLUME_DATA or IOCTL_DISK_GET_DRIVE_LAYOUT_EX; the parsers
 * are tested on Linux with recorded buffers instead.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_VOLUME_WIN32_H
#define P2V_VOLUME_WIN32_H

#include <stdint.h>

#include "extent-list.h"
#include "ntfs-ioctl-parse.h"

/* The partition table of the disk at disk_path (\\.\PhysicalDriveN) of
 * disk_size bytes.  0, or -1 with one error reported. */
int p2v_win32_drive_layout(const char *disk_path, uint64_t disk_size,
                           struct p2v_drive_layout *layout);

/* Add to out, in disk bytes, what the NTFS volume at volume_path (a volume
 * or its shadow-copy device, \\?\GLOBALROOT\Device\HarddiskVolumeShadowCopyN)
 * does not use: its free clusters and the runs of \pagefile.sys,
 * \hiberfil.sys and \swapfile.sys.  volume_offset is where the volume
 * starts on its disk.  0, or -1 with one error reported (the caller then
 * sends the volume whole). */
int p2v_win32_volume_unused(const char *volume_path, uint64_t volume_offset,
                            struct p2v_extent_list *out);

#endif
