/* One interface for everything the copy engine reads from or writes to:
 * NBD sources (libnbd), raw files, qcow2, VMDK.  The copy loop is written
 * once, against these ops.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_IMAGE_H
#define P2V_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "extent-list.h"   /* p2v_extent_fn: (opaque, offset, length, hole) */

struct p2v_image;

/* Completion of an asynchronous read: err is 0 or an errno. */
typedef void (*p2v_done_fn)(void *opaque, int err);

struct p2v_image_ops {
  const char *format;      /* "nbd", "raw", "qcow2", "vmdk", "vmdk-stream" */

  /* Read exactly count bytes at offset.  Sources only; NULL for sinks
   * that cannot be read back.  0, or -1 with an error reported. */
  int (*pread)(struct p2v_image *img, void *buf, size_t count, uint64_t offset);

  /* Write exactly count bytes at offset.  Sinks only (NULL for sources: a
   * source is never written).  Thread-safe: the copy engine calls it from
   * several threads at once and in any order; offset and count are
   * multiples of `alignment` except at the end of the disk.  A writer that
   * compresses does so in the calling thread, so all cores compress at
   * once.  A writer whose format must be laid out in order (VMDK
   * streamOptimized) keeps early arrivals until the gap before them is
   * filled; the engine bounds how far ahead it runs.  0, or -1 reported
   * with errno kept (ENOSPC/EDQUOT: the engine says "disk full").
   *
   * Contract for every sink: between create and finish, the engine covers
   * every byte of the disk exactly once, by pwrite or by zero. */
  int (*pwrite)(struct p2v_image *img, const void *buf, size_t count, uint64_t offset);

  /* Mark [offset, offset+count) as reading zeroes (a hole, or data that
   * read as all zeroes).  On a new sparse sink this writes nothing.  Same
   * alignment and threading rules as pwrite.  Sinks only. */
  int (*zero)(struct p2v_image *img, uint64_t offset, uint64_t count);

  /* Sources, optional (NULL: the engine uses pread).  Start reading count
   * bytes at offset into buf and return at once; done(opaque, err) runs
   * later, in the thread that makes a later call on img (poll, extents,
   * aio_pread), with err 0 or an errno.  A source image is used by one
   * thread at a time.  0, or -1 reported (done is then never called). */
  int (*aio_pread)(struct p2v_image *img, void *buf, size_t count, uint64_t offset,
                   p2v_done_fn done, void *opaque);

  /* Every source op fails with errno ENOTCONN (also passed to done) when
   * the connection to the source is lost; the source has then said so in
   * one line, naming itself, and a retry is pointless. */

  /* Sources with aio_pread: wait up to timeout_ms for replies and run
   * their done callbacks.  1 something happened, 0 timed out, -1 the
   * connection is lost (reported). */
  int (*poll)(struct p2v_image *img, int timeout_ms);

  /* Sources, optional: another independent handle on the same source (a
   * new connection) for reading in parallel; only when can_multi_conn.
   * NULL with an error reported. */
  struct p2v_image *(*reopen)(struct p2v_image *img);

  /* Sources, optional: make calls blocked on img (and later ones) fail
   * promptly, e.g. a stalled server.  Thread-safe, from any thread. */
  void (*cancel)(struct p2v_image *img);

  /* Data/hole ranges, as p2v_disk_extents.  NULL: all data. */
  int (*extents)(struct p2v_image *img, uint64_t offset, uint64_t count,
                 p2v_extent_fn fn, void *opaque);

  /* Make everything written durable and the file complete (tables,
   * footers, end-of-stream marker, fsync).  Called once, after the last
   * write; the image is not complete before it returns 0. */
  int (*finish)(struct p2v_image *img);

  /* Free everything; after a failed or missing finish the file is left
   * as it is (the caller removes or renames it). */
  void (*close)(struct p2v_image *img);
};

struct p2v_image {
  const struct p2v_image_ops *ops;
  uint64_t size;           /* virtual size, bytes */
  uint32_t alignment;      /* writes are multiples of this (cluster/grain size); 1: any */
  bool can_multi_conn;     /* sources: the engine may open more connections */
  bool retried;            /* sources: the caller retries failed reads and block
                              status and reports the last failure, so a failure
                              the server answers is not reported as an error
                              (a lost connection always is) */
};

/* Options of the writers (p2v-convert copy -O FORMAT). */
struct p2v_sink_options {
  uint64_t size;           /* virtual size of the disk */
  uint32_t cluster_size;   /* qcow2 cluster size; 0: 64 KiB */
  bool compress;           /* qcow2: compressed clusters */
  const char *adapter_type;/* vmdk: "lsilogic" (default), "ide", "buslogic", "pvscsi" */
  const char *final_path;  /* the name the file gets once complete, when it is
                              written under a partial name (vmdk names itself
                              in its descriptor); NULL: the path created */
};

/* Limits callers check before creating a writer (the format headers
 * inside image/ hold the rest). */
/* Cluster sizes qemu opens: 512 bytes .. 2 MiB. */
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_DEFAULT_CLUSTER_SIZE (UINT32_C(64) * 1024)
/* Grain and table offsets are u32 sectors, so nothing in a VMDK file can
 * start at or beyond 2 TiB, and VMware's hosted sparse disks stop there. */
#define VMDK_MAX_FILE_SECTORS  UINT64_C(0xffffffff)
#define VMDK_MAX_CAPACITY      (VMDK_MAX_FILE_SECTORS * 512u)

/* Each writer creates path (which must not exist: the caller handles
 * --force and partial names).  NULL with an error reported. */
struct p2v_image *p2v_raw_create(const char *path, const struct p2v_sink_options *o);
struct p2v_image *p2v_qcow2_create(const char *path, const struct p2v_sink_options *o);
/* 0 if a qcow2 image of this virtual size opens in qemu with this
 * cluster size (0: the default, 64 KiB); else -1 with one error line on
 * what, naming the --cluster-size that would do. */
int p2v_qcow2_check_size(const char *what, uint64_t size, uint32_t cluster_size);
struct p2v_image *p2v_vmdk_create(const char *path, const struct p2v_sink_options *o);
struct p2v_image *p2v_vmdk_stream_create(const char *path, const struct p2v_sink_options *o);

/* Bytes of L2 tables one image keeps in memory before it writes the least
 * recently used one out early (default 32 MiB).  Applies to images created
 * afterwards; tests make it tiny to exercise the early writes. */
void p2v_qcow2_set_l2_cache_limit(size_t bytes);

/* The output formats (p2v-convert -O FORMAT) and their writers. */
struct p2v_format {
  const char *name;
  const char *extensions[3];     /* that imply it, for OUTPUT without -O */
  const char *extension;         /* given to outputs named after an export */
  struct p2v_image *(*create)(const char *path, const struct p2v_sink_options *o);
};
/* The format called name; NULL (nothing reported) if none. */
const struct p2v_format *p2v_format_find(const char *name);
/* The format a file name's extension implies; NULL (nothing reported) if none. */
const struct p2v_format *p2v_format_for_path(const char *path);
/* The writer of format created at path (NULL with an error reported). */
struct p2v_image *p2v_sink_create(const char *format, const char *path,
                                  const struct p2v_sink_options *o);
#endif
