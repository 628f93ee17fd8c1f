/* Private header of the disk module, sectioned by the file defining each symbol.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_DISK_INTERNAL_H
#define P2V_DISK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "disk.h"
#include "extent-list.h"

/* source-file.c: regular files and Linux block devices.  Fills ops,
 * handle, size, block_size, export_name and description of disk; returns
 * 0, or -1 with one clear error reported. */
int p2v_disk_source_file_open(struct p2v_disk *disk, const char *path);
/* The read-only descriptor under a file source (for the probe child), or
 * -1 if disk has another kind of source. */
int p2v_disk_source_file_fd(const struct p2v_disk *disk);

/* probe-result.c: what the probe child learns, and its wire format. */
struct p2v_probe_result {
  char *table_type;                   /* "gpt", "msdos", or NULL */
  struct p2v_partition *partitions;
  size_t npartitions;
  struct p2v_extent_list unused;      /* normalized once decoded */
  char **warnings;                    /* to report in the parent */
  size_t nwarnings;
};

#define P2V_PROBE_MAX_PARTITIONS 1024
#define P2V_PROBE_MAX_STRING     1024
#define P2V_PROBE_MAX_WARNINGS   64
#define P2V_PROBE_MAX_EXTENTS    (64u * 1024 * 1024)

void p2v_probe_result_clear(struct p2v_probe_result *result);
int p2v_probe_result_add_partition(struct p2v_probe_result *result,
                                   const struct p2v_partition *part);
int p2v_probe_result_add_warning(struct p2v_probe_result *result, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
/* Serialize result to fd (the pipe).  0, or -1 with errno set. */
int p2v_probe_result_write(int fd, const struct p2v_probe_result *result);
/* Parse and validate what a child sent: every range inside [0, disk_size),
 * counts and string sizes capped.  0, or -1 with *why set to a static
 * reason (nothing logged: the caller decides what to say). */
int p2v_probe_result_decode(const uint8_t *buf, size_t len, uint64_t disk_size,
                            struct p2v_probe_result *result, const char **why);

/* sandbox.c: run fn in a forked child that cannot write (see the comment
 * there and docs/allocation.md).  The child sees input_fd (if >= 0) as
 * input_fd' and the write end of a pipe as result_fd; it has no other
 * descriptors but stdin/stdout on /dev/null and stderr.  The parent collects
 * what the child writes, up to max_bytes, waiting at most timeout_seconds.
 * Returns 0 when the child exited with status 0; -1 with why set (crash,
 * timeout, too much output, setup failure) otherwise.  *out is malloc'd
 * (also on failure; may be NULL). */
typedef int (*p2v_sandbox_fn)(void *opaque, int input_fd, int result_fd);
int p2v_sandbox_run(p2v_sandbox_fn fn, void *opaque, int input_fd,
                    unsigned timeout_seconds, size_t max_bytes,
                    uint8_t **out, size_t *out_len, char *why, size_t why_size);
/* Install the write-blocking filter in the calling process (the child).
 * writable_fd may be written besides stderr.  0, or -1 with errno set. */
int p2v_sandbox_install_filter(int writable_fd);

/* probe.c: partition table and filesystems, run in the sandbox. */
struct p2v_probe_input {
  const char *path;                   /* for libparted, which opens by name */
  int fd;                             /* our read-only descriptor of it */
  uint64_t size;
  uint32_t sector_size;
};
int p2v_probe_run(const struct p2v_probe_input *input, struct p2v_probe_result *result);
/* Probe the disk in the sandbox and fill disk->unused, table_type and
 * partitions.  Never fails: when the child cannot tell, everything is
 * used and a warning says so. */
void p2v_disk_read_allocation(struct p2v_disk *disk);

/* fs-*.c: filesystem readers, tried in the order of p2v_filesystems. */
struct p2v_fs_input {
  int fd;                             /* disk, read-only */
  const char *disk_path;
  uint64_t offset, length;            /* the partition, bytes */
};
struct p2v_fs_output {
  const char *fs_name;                /* finer name ("ext3"), or NULL: the reader's */
  char *label;                        /* malloc'd, or NULL */
  uint64_t used_bytes;
  struct p2v_extent_list *unused;     /* add ranges relative to the disk */
};
struct p2v_filesystem {
  const char *name;
  /* Cheap signature check: true if this reader should scan. */
  bool (*probe)(const struct p2v_fs_input *in);
  /* 0, or -1 with a reason in why (the partition then counts as used). */
  int (*scan)(const struct p2v_fs_input *in, struct p2v_fs_output *out,
              char *why, size_t why_size);
};
extern const struct p2v_filesystem p2v_fs_ntfs, p2v_fs_ext, p2v_fs_swap;
/* fs.c */
extern const struct p2v_filesystem *const p2v_filesystems[];
/* Read exactly count bytes at offset of a read-only fd; 0, or -1 with errno
 * set (EIO on a short read). */
int p2v_read_exact(int fd, void *buf, size_t count, uint64_t offset);

#endif
