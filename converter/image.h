/* One interface for everything the copy engine reads from or writes to:
 * NBD sources (libnbd), raw files, qcow2, VMDK.  The copy loop is written
 * once, against these ops.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_IMAGE_H
#define P2V_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disk.h"          /* p2v_extent_fn: (opaque, offset, length, hole) */

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

/* Why opening a source failed, so the command can pick its exit code. */
enum p2v_open_failure {
  P2V_OPEN_FAILED,         /* anything else */
  P2V_OPEN_UNREACHABLE,    /* no server there (refused, unreachable, no socket) */
  P2V_OPEN_NO_EXPORT,      /* the server has no export of that name */
  P2V_OPEN_TLS,            /* TLS required, refused, or its handshake failed */
};

/* Connect to an NBD URI (nbd://, nbds://, nbd+unix://, nbds+unix://; libnbd's
 * query parameters such as tls-psk-file) asking for base:allocation.
 * Read-only: the image has no pwrite or zero.  NULL with one error
 * reported and *why set. */
struct p2v_image *p2v_nbd_open(const char *uri, enum p2v_open_failure *why);

/* Dial-in (docs/dial-in.md): the converter listens, the source's agent or
 * live image dials in and serves NBD on each connection it opens. */
struct p2v_dialin;
struct p2v_dialin_options {
  const char *address;     /* "ADDR:PORT" to listen on */
  unsigned wait_seconds;   /* for the first connection; 0: forever */
  /* TLS, as the converter (the NBD client) does it over the dialled
   * socket; all NULL: plain. */
  const char *tls_psk_file;
  const char *tls_certificates;   /* directory with ca-cert.pem, client-cert.pem, client-key.pem */
};
/* Listen and wait for the first connection; NULL with one error reported
 * and *why set (P2V_OPEN_UNREACHABLE: nobody dialled in time).  The handle
 * keeps o: it must outlive the handle. */
struct p2v_dialin *p2v_dialin_listen(const struct p2v_dialin_options *o,
                                     enum p2v_open_failure *why);
/* The "ADDR:PORT" it listens on (the port the kernel picked for ":0"). */
const char *p2v_dialin_address(const struct p2v_dialin *d);
/* The disk exports offered (never the "p2v:" ones), in the order served. */
size_t p2v_dialin_exports(struct p2v_dialin *d, const char *const **names);
/* The survey JSON the source sent (bounded by P2V_SURVEY_MAX_JSON_BYTES),
 * NUL-terminated, owned by d; NULL if it offers none. */
const char *p2v_dialin_survey(struct p2v_dialin *d, size_t *len);
/* How many connections the source keeps open (the most seen waiting at
 * once): the copy should not ask for more. */
unsigned p2v_dialin_connections(struct p2v_dialin *d);
/* A source image of one export; its reopen accepts another dialled
 * connection.  NULL with one error reported and *why set. */
struct p2v_image *p2v_dialin_open(struct p2v_dialin *d, const char *export_name,
                                  enum p2v_open_failure *why);
/* Tell the source everything is copied (it opens P2V_EXPORT_DONE); 0 or -1 reported. */
int p2v_dialin_done(struct p2v_dialin *d);
/* Close the listener; images opened from d must be closed first. */
void p2v_dialin_close(struct p2v_dialin *d);

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

#endif
