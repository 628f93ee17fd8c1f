/* Pure parsers of the buffers three Windows ioctls return: the NTFS free
 * cluster bitmap (FSCTL_GET_VOLUME_BITMAP), a file's cluster runs
 * (FSCTL_GET_RETRIEVAL_POINTERS) and the partition table
 * (IOCTL_DISK_GET_DRIVE_LAYOUT_EX).  No Windows header: the layouts are
 * written out by hand from the documented x64 definitions (offsets checked
 * against mingw-w64's winioctl.h), so the same code runs and is tested on
 * Linux with recorded buffers.  The buffers come from the OS, but nothing
 * here reads past len, trusts a count, or lets a range leave the volume.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_NTFS_IOCTL_PARSE_H
#define P2V_NTFS_IOCTL_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "extent-list.h"

/* VOLUME_BITMAP_BUFFER: LONGLONG StartingLcn @0, LONGLONG BitmapSize @8
 * (clusters from StartingLcn to the end of the volume), BYTE Buffer[] @16,
 * bit i (LSB first) set = cluster StartingLcn+i in use. */
#define P2V_VOLUME_BITMAP_HEADER 16
/* RETRIEVAL_POINTERS_BUFFER: DWORD ExtentCount @0, LONGLONG StartingVcn @8,
 * then ExtentCount x {LONGLONG NextVcn, LONGLONG Lcn} @16; Lcn -1: a run
 * with no clusters (sparse, or compressed away). */
#define P2V_RETRIEVAL_HEADER 16
#define P2V_RETRIEVAL_EXTENT 16
/* DRIVE_LAYOUT_INFORMATION_EX: DWORD PartitionStyle @0, DWORD
 * PartitionCount @4, union {MBR: DWORD Signature; GPT: GUID DiskId,
 * LONGLONG StartingUsableOffset, UsableLength, DWORD MaxPartitionCount}
 * @8 (40 bytes), PARTITION_INFORMATION_EX PartitionEntry[] @48, 144 bytes
 * each: style @0, StartingOffset @8, PartitionLength @16, PartitionNumber
 * @24, RewritePartition @28, union @32 {MBR: BYTE PartitionType,
 * BootIndicator, RecognizedPartition, DWORD HiddenSectors; GPT: GUID
 * PartitionType, GUID PartitionId, Attributes, WCHAR Name[36]}. */
#define P2V_LAYOUT_HEADER 48
#define P2V_LAYOUT_ENTRY 144
#define P2V_LAYOUT_MAX_PARTITIONS 1024

/* Where a volume lies, for turning clusters into disk byte ranges. */
struct p2v_volume_geometry {
  uint64_t cluster_size;      /* bytes, a power of two, 512 .. 2 MiB */
  uint64_t volume_offset;     /* of the volume on the disk, bytes */
  uint64_t volume_length;     /* bytes; no range may end past it */
};

/* Reading a volume bitmap in pieces: start with next_lcn 0, feed each
 * buffer with more_data = (the ioctl failed with ERROR_MORE_DATA), ask
 * again from next_lcn until done.  Free runs are added to out in disk
 * bytes, in order (a run across two buffers merges). */
struct p2v_bitmap_walk {
  struct p2v_volume_geometry geometry;
  uint64_t next_lcn;          /* to ask for next (a multiple of 8) */
  uint64_t free_clusters;     /* added to out */
  /* Memory bound: once out holds max_ranges ranges (0: no bound), later
   * free runs are not added but counted here (they are merely sent).  A
   * 2 TiB volume with every other 4 KiB cluster free has 2^28 runs. */
  size_t max_ranges;
  uint64_t dropped_clusters;
  bool done;
};
/* 0, or -1 with *why set to a static reason (nothing logged): too short,
 * a StartingLcn other than asked for, a size past the volume, no progress. */
int p2v_volume_bitmap_feed(struct p2v_bitmap_walk *walk, const uint8_t *buf, size_t len,
                           bool more_data, struct p2v_extent_list *out, const char **why);

/* A file's clusters, in pieces as above (next_vcn starts at 0). */
struct p2v_retrieval_walk {
  struct p2v_volume_geometry geometry;
  uint64_t next_vcn;
  uint64_t clusters;          /* allocated clusters seen (sparse runs not counted) */
  bool done;
};
int p2v_retrieval_pointers_feed(struct p2v_retrieval_walk *walk, const uint8_t *buf,
                                size_t len, bool more_data, struct p2v_extent_list *out,
                                const char **why);

enum p2v_layout_style { P2V_LAYOUT_MBR = 0, P2V_LAYOUT_GPT = 1, P2V_LAYOUT_RAW = 2 };

struct p2v_layout_partition {
  unsigned number;            /* PartitionNumber (0: an MBR extended container) */
  uint64_t offset, length;    /* bytes on the disk */
  uint8_t mbr_type;           /* MBR only */
  bool container;             /* MBR extended partition (holds EBRs: never a volume) */
  uint8_t gpt_type[16];       /* GPT only: the type GUID as stored */
};

struct p2v_drive_layout {
  enum p2v_layout_style style;
  struct p2v_layout_partition *partitions;  /* non-empty entries, by offset */
  size_t count;
};

/* Parse the layout of a disk of disk_size bytes: every entry inside the
 * disk, of the layout's style, volumes not overlapping one another; empty
 * MBR slots dropped.  0, or -1 with *why set (out then empty). */
int p2v_drive_layout_parse(const uint8_t *buf, size_t len, uint64_t disk_size,
                           struct p2v_drive_layout *out, const char **why);
void p2v_drive_layout_clear(struct p2v_drive_layout *layout);

#endif
