/* The disk view: one whole disk assembled from several read-only sources.
 * The disk itself supplies the partition table and the gaps between
 * partitions; each mapped partition is read from another source whose
 * byte 0 is the partition's first byte (on Windows, the volume's VSS
 * shadow-copy device), so the whole disk is as consistent as its volumes'
 * snapshot.  Unused ranges (free clusters, page file runs) must lie inside
 * a mapped volume: they read as zeroes and are reported as holes, while
 * tables and gaps are always data.  The result is an ordinary struct
 * p2v_disk, served like any other.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_DISK_VIEW_H
#define P2V_DISK_VIEW_H

#include <stdint.h>

#include "disk.h"
#include "extent-list.h"

struct p2v_disk_view;

/* Start a view of the disk at disk_path (opened read-only).  NULL with one
 * error reported. */
struct p2v_disk_view *p2v_disk_view_new(const char *disk_path);

/* Read disk bytes [offset, offset+length) (partition number) from
 * volume_path (opened read-only).  Volumes may not overlap nor leave the
 * disk.  A volume shorter than its partition leaves the tail to the disk.
 * 0, or -1 with one error reported. */
int p2v_disk_view_add_volume(struct p2v_disk_view *view, unsigned number, uint64_t offset,
                             uint64_t length, const char *volume_path);

/* Mark ranges (disk bytes) unused; each must lie inside one mapped volume
 * (a range anywhere else is refused: it could hide a partition table or a
 * boot loader).  0, or -1 with one error reported. */
int p2v_disk_view_add_unused(struct p2v_disk_view *view, const struct p2v_extent_list *ranges);

/* Record the partition table's type ("gpt", "msdos") for the survey. */
int p2v_disk_view_set_table_type(struct p2v_disk_view *view, const char *type);

/* The finished disk (the view is consumed and closed with it by
 * p2v_disk_close).  NULL with one error reported (the view is freed). */
struct p2v_disk *p2v_disk_view_finish(struct p2v_disk_view *view);

/* Abandon a view not finished. */
void p2v_disk_view_free(struct p2v_disk_view *view);

#endif
