/* A disk to export: a read-only source (file, block device, later a VSS
 * snapshot) plus what its filesystems say is unused.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_DISK_H
#define P2V_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "extent-list.h"

/* p2v_extent_fn is in extent-list.h (image writers use it without disks). */

/* What a kind of source must provide.  Sources are opened read-only,
 * always; there is no write operation. */
struct p2v_disk_source_ops {
  const char *kind;                                   /* "file", "block device" */
  /* Read exactly count bytes at offset; thread-safe.  0, or -1 reported. */
  int (*pread)(void *handle, void *buf, size_t count, uint64_t offset);
  /* Holes the source itself knows (sparse files).  NULL: all data.
   * Calls fn for consecutive ranges starting at offset; may stop before
   * offset+count but covers at least one byte. */
  int (*extents)(void *handle, uint64_t offset, uint64_t count,
                 p2v_extent_fn fn, void *opaque);
  void (*close)(void *handle);
};

/* A partition and what its filesystem holds (from the partition table and the
 * filesystem reader).  The survey reports these. */
struct p2v_partition {
  unsigned number;            /* as the partition table numbers it */
  uint64_t offset, length;    /* bytes from the start of the disk */
  char *filesystem;           /* "ntfs", "ext4", "linux-swap", ...; NULL unknown */
  char *label;                /* filesystem label, or NULL */
  uint64_t used_bytes;        /* allocated bytes; UINT64_MAX if not known */
};

struct p2v_disk {
  const struct p2v_disk_source_ops *ops;
  void *handle;
  char *path;                 /* as given by the user */
  char *export_name;          /* NBD export name, unique per server: "sda", "disk.img" */
  char *description;          /* for NBD_INFO_DESCRIPTION: "model, 4.0 GB" */
  uint64_t size;              /* bytes */
  uint32_t block_size;        /* preferred I/O size (logical sector at least 512) */
  /* Ranges unused by every filesystem found (free clusters, swap, pagefile
   * contents), normalized.  Reads there return zeroes without touching the
   * source; extents report them as holes.  Empty with --all-blocks. */
  struct p2v_extent_list unused;
  char *table_type;           /* "gpt", "msdos", or NULL (none or unreadable) */
  struct p2v_partition *partitions;
  size_t npartitions;
};

struct p2v_disk_options {
  bool all_blocks;            /* do not read filesystems: everything is data */
};

/* Open path read-only (regular file or block device), read its partition
 * table and filesystems to learn what is unused.  A filesystem that cannot
 * be read is a warning (its space counts as used), never an error.
 * Returns NULL with one clear error reported if the disk cannot be opened. */
struct p2v_disk *p2v_disk_open(const char *path, const struct p2v_disk_options *options);
void p2v_disk_close(struct p2v_disk *disk);

/* Open every path as above (a server's exports); NULL with one error if
 * any cannot be opened or two would get the same export name. */
struct p2v_disk **p2v_disks_open(char *const *paths, size_t n,
                                 const struct p2v_disk_options *options);
void p2v_disks_close(struct p2v_disk **disks, size_t n);

/* Read count bytes at offset; unused ranges read as zeroes.  Bounds are the
 * caller's job (offset + count <= size).  Thread-safe. */
int p2v_disk_pread(struct p2v_disk *disk, void *buf, size_t count, uint64_t offset);

/* Report [offset, offset+count) as consecutive, maximal data/hole ranges,
 * merging the source's own holes with the unused ranges.  Covers the whole
 * range unless fn stops it.  Thread-safe. */
int p2v_disk_extents(struct p2v_disk *disk, uint64_t offset, uint64_t count,
                     p2v_extent_fn fn, void *opaque);

#endif
