/* qcow2 version 3 writer: a sparse image, written once, in any order, from
 * many threads (the p2v_image sink contract in image.h).
 *
 * Layout.  Host space is handed out by one append-only allocator under
 * q->lock: cluster 0 (the header), then data clusters, compressed data,
 * L2 tables and refcount blocks interleaved in the order they are needed,
 * then at finish the last L2 tables, the L1 table, the last refcount blocks
 * and the refcount table.  Data is written outside the lock, straight from
 * the caller's buffer, to the range reserved for it; adjacent clusters of
 * one request are reserved together and written with one pwrite.
 *
 * Memory.  An L2 table lives in memory only while its part of the disk is
 * being written: it is written out as soon as every cluster it maps has
 * been covered by pwrite or zero (the engine works roughly in order, so
 * only a few tables are live).  A table with no data is never written at
 * all.  If the live tables grow past a limit (32 MiB: a disk written in a
 * random order), the least recently used one is written early and later
 * entries of it go straight to the file, 8 bytes at a time.  Refcounts are
 * streamed the same way: the allocator only moves forward, so once it has
 * passed a refcount block's range the block is final and is written out.
 * What stays in memory for the whole run is 32 bytes per L2 table (8 per
 * 512 MiB of disk at 64 KiB clusters) and 8 bytes per refcount block.
 *
 * Compression (--compress).  Each cluster is deflated (raw deflate, 4 KiB
 * window, as qemu does) in the calling thread; clusters that do not fit in
 * cluster_size - 1 bytes are stored as normal clusters.  Compressed data
 * is packed at byte granularity, one cluster after another, and may cross
 * host cluster boundaries; a host cluster's refcount is the number of
 * compressed clusters that touch it (this is how qemu counts them, so
 * `qemu-img check` sees neither leaks nor errors).
 *
 * Crash safety.  The header is written last, after an fdatasync of
 * everything else: an interrupted write leaves a file without the qcow2
 * magic, which nothing mistakes for a finished image.  The caller still
 * writes to OUTPUT.part and renames it to OUTPUT only after finish.
 *
 * Unallocated clusters read as zeroes (there is never a backing file), so
 * zero() and all-zero clusters in pwrite() allocate nothing.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cleanup.h"
#include "file-io.h"
#include "image/deflate-probe.h"
#include "image/image.h"
#include "is-zero.h"
#include "log.h"
#include "image/qcow2-format.h"

#define NONE UINT32_MAX
/* zlib level: 1 costs less CPU than qemu's default (6) -- 10 to 40 % less
 * on our test data, more on very repetitive data -- for about 1 % more
 * output. */
#define DEFLATE_LEVEL 1
#define COMPRESS_BATCH (UINT64_C(4) * 1024 * 1024)

static _Atomic size_t l2_cache_limit = 32 * 1024 * 1024;

void p2v_qcow2_set_l2_cache_limit(size_t bytes) { l2_cache_limit = bytes; }

struct l2_slot {
  uint64_t *entries;        /* live table, on-disk (big-endian) entries, or NULL */
  uint32_t covered;         /* guest clusters covered by pwrite/zero so far */
  uint32_t prev, next;      /* LRU list of live tables, head = least recent */
};

/* Per-call compression state, reused through a free list: zlib's state is
 * a few hundred KiB and costly to set up for every cluster. */
struct zctx {
  z_stream z;
  unsigned char *out;       /* compressed clusters of one request, packed */
  size_t out_size;
  unsigned char *pad;       /* the last, partial cluster padded to full size */
  struct cl {                  /* per cluster of the request */
    uint32_t kind, len;       /* CL_*, compressed length */
    size_t pos;               /* compressed: offset in out */
    uint64_t host;            /* data, compressed: where it goes */
  } *cl;
  size_t cl_size;
  struct zctx *next;
};
enum { CL_ZERO, CL_DATA, CL_COMPRESSED };

struct qcow2 {
  struct p2v_image img;     /* first: the ops get a pointer to this */
  char *path;
  int fd;
  uint32_t cluster_bits;
  uint64_t cluster_size;
  uint32_t l2_entries;      /* entries per L2 table */
  uint64_t clusters;        /* guest clusters */
  uint32_t l1_size;
  bool compress;
  uint32_t csize_shift;     /* x of the compressed descriptor */

  pthread_mutex_t lock;     /* everything below */
  bool failed;              /* an error was reported: finish must fail */
  bool finished;
  uint64_t covered;         /* guest clusters covered */
  uint64_t *l1;             /* host offset of each L2 table, 0: none yet */
  struct l2_slot *l2;
  uint32_t lru_head, lru_tail;
  size_t live, live_max;
  uint64_t next_free;       /* allocator: first free host byte */
  uint64_t rc_entries;      /* refcounts per refcount block */
  uint64_t rc_base;         /* first refcount block not yet written */
  uint16_t **rc_live;       /* blocks rc_base, rc_base+1, ...; NULL: all zero */
  size_t rc_nlive;
  bool rc_defer;            /* finishing: keep completed blocks in memory */
  uint64_t *reftable;       /* host offsets of the written refcount blocks */
  size_t reftable_len, reftable_cap;

  pthread_mutex_t zlock;
  struct zctx *zfree;
  atomic_bool reported;     /* an error was reported: stay quiet after it */
  atomic_int first_errno;   /* its errno, given again to refused calls */
};

static inline struct qcow2 *to_q(struct p2v_image *img) { return (struct qcow2 *) img; }

/* The first error of an image is reported; those that follow from it
 * (other threads' writes failing on the same full disk) are not, so the
 * user sees one line. */
__attribute__((format(printf, 2, 3)))
static void q_error(struct qcow2 *q, const char *fmt, ...)
{
  if (atomic_exchange(&q->reported, true)) return;
  atomic_store(&q->first_errno, errno);
  va_list ap;
  va_start(ap, fmt);
  p2v_vlog(P2V_LOG_ERROR, fmt, ap);
  va_end(ap);
}

static int write_full(struct qcow2 *q, const void *buf, size_t count, uint64_t offset)
{
  if (p2v_pwrite_full(q->fd, buf, count, offset) == -1) {
    q_error(q, "write %s at offset %" PRIu64 ": %m", q->path, offset);
    return -1;
  }
  return 0;
}

/* Data written: start putting it on disk now, so finish's fsync finds
 * little left and dirty pages do not pile up in the page cache (they count
 * against the copy's memory in a cgroup).  Only a hint: errors surface at
 * the fsync. */
static void start_writeback(struct qcow2 *q, uint64_t offset, uint64_t count)
{
  (void) sync_file_range(q->fd, (off_t) offset, (off_t) count, SYNC_FILE_RANGE_WRITE);
}

/* ---- refcounts (lock held) ---- */

static uint16_t *rc_block(struct qcow2 *q, uint64_t block)
{
  uint64_t i = block - q->rc_base;
  if (i >= q->rc_nlive) {
    uint16_t **v = reallocarray(q->rc_live, i + 1, sizeof *v);
    if (!v) goto nomem;
    memset(v + q->rc_nlive, 0, (i + 1 - q->rc_nlive) * sizeof *v);
    q->rc_live = v;
    q->rc_nlive = i + 1;
  }
  if (!q->rc_live[i] && !(q->rc_live[i] = calloc(q->rc_entries, sizeof (uint16_t))))
    goto nomem;
  return q->rc_live[i];
 nomem:
  q_error(q, "%s: out of memory for refcounts", q->path);
  return NULL;
}

/* One more reference to every host cluster in [start, end). */
static int rc_ref(struct qcow2 *q, uint64_t start, uint64_t end)
{
  for (uint64_t c = start >> q->cluster_bits; c <= (end - 1) >> q->cluster_bits; c++) {
    uint16_t *b = rc_block(q, c / q->rc_entries);
    if (!b) return -1;
    uint16_t *r = &b[c % q->rc_entries];
    if (*r == UINT16_MAX) {      /* the compressed allocator avoids this */
      q_error(q, "%s: refcount overflow at host cluster %" PRIu64, q->path, c);
      return -1;
    }
    (*r)++;
  }
  return 0;
}

static int rc_write_block(struct qcow2 *q, uint16_t *b, uint64_t offset)
{
  for (uint64_t i = 0; i < q->rc_entries; i++)
    b[i] = htobe16(b[i]);
  return write_full(q, b, q->cluster_size, offset);
}

static int reftable_push(struct qcow2 *q, uint64_t offset)
{
  if (q->reftable_len == q->reftable_cap) {
    size_t c = q->reftable_cap ? q->reftable_cap * 2 : 64;
    uint64_t *v = reallocarray(q->reftable, c, sizeof *v);
    if (!v) { q_error(q, "%s: out of memory for refcounts", q->path); return -1; }
    q->reftable = v; q->reftable_cap = c;
  }
  q->reftable[q->reftable_len++] = offset;
  return 0;
}

/* Reserve bytes at the end of the file: cluster-aligned for whole
 * clusters, or packed right after the previous compressed data. */
static int reserve(struct qcow2 *q, uint64_t bytes, bool packed, uint64_t *offset)
{
  uint64_t start = q->next_free;
  uint64_t mask = q->cluster_size - 1;
  if (packed && (start & mask)) {
    /* Keep every refcount below 2^16 by leaving a crowded cluster. */
    uint16_t *b = rc_block(q, (start >> q->cluster_bits) / q->rc_entries);
    if (!b) return -1;
    if (b[(start >> q->cluster_bits) % q->rc_entries] >= UINT16_MAX - 1)
      start = (start | mask) + 1;
  }
  else
    start = (start + mask) & ~mask;
  if (bytes == 0) {
    *offset = start;
    return 0;
  }
  if (bytes > QCOW2_MAX_HOST_OFFSET - start) {
    q_error(q, "%s: image file would grow past the qcow2 limit of 64 PiB", q->path);
    return -1;
  }
  if (rc_ref(q, start, start + bytes) == -1) return -1;
  q->next_free = start + bytes;
  *offset = start;
  return 0;
}

/* Write out refcount blocks the allocator has gone past. */
static int rc_retire(struct qcow2 *q)
{
  while (!q->rc_defer &&
         q->next_free >= (q->rc_base + 1) * q->rc_entries * q->cluster_size) {
    uint64_t offset;
    if (reserve(q, q->cluster_size, false, &offset) == -1) return -1;
    uint16_t *b = rc_block(q, q->rc_base);   /* block rc_base: index 0 */
    if (!b || rc_write_block(q, b, offset) == -1 || reftable_push(q, offset) == -1)
      return -1;
    free(b);
    memmove(q->rc_live, q->rc_live + 1, (q->rc_nlive - 1) * sizeof *q->rc_live);
    q->rc_nlive--;
    q->rc_base++;
  }
  return 0;
}

static int alloc_host(struct qcow2 *q, uint64_t bytes, bool packed, uint64_t *offset)
{
  if (reserve(q, bytes, packed, offset) == -1) return -1;
  return rc_retire(q);
}

/* ---- L2 tables (lock held) ---- */

static void lru_unlink(struct qcow2 *q, uint32_t i)
{
  struct l2_slot *s = &q->l2[i];
  if (s->prev != NONE) q->l2[s->prev].next = s->next; else q->lru_head = s->next;
  if (s->next != NONE) q->l2[s->next].prev = s->prev; else q->lru_tail = s->prev;
  s->prev = s->next = NONE;
}

static void lru_append(struct qcow2 *q, uint32_t i)
{
  struct l2_slot *s = &q->l2[i];
  s->prev = q->lru_tail;
  s->next = NONE;
  if (q->lru_tail != NONE) q->l2[q->lru_tail].next = i; else q->lru_head = i;
  q->lru_tail = i;
}

/* Write live table i to the file and drop it from memory. */
static int l2_flush(struct qcow2 *q, uint32_t i)
{
  struct l2_slot *s = &q->l2[i];
  if (q->l1[i] == 0 && alloc_host(q, q->cluster_size, false, &q->l1[i]) == -1)
    return -1;
  if (write_full(q, s->entries, q->cluster_size, q->l1[i]) == -1)
    return -1;
  lru_unlink(q, i);
  free(s->entries);
  s->entries = NULL;
  q->live--;
  return 0;
}

static int l2_set(struct qcow2 *q, uint64_t cluster, uint64_t entry)
{
  uint32_t i = (uint32_t) (cluster / q->l2_entries);
  uint32_t j = (uint32_t) (cluster % q->l2_entries);
  struct l2_slot *s = &q->l2[i];
  uint64_t be = htobe64(entry);

  if (!s->entries) {
    if (q->l1[i])            /* written early: patch the entry in the file */
      return write_full(q, &be, sizeof be, q->l1[i] + (uint64_t) j * sizeof be);
    if (q->live >= q->live_max && l2_flush(q, q->lru_head) == -1)
      return -1;
    if (!(s->entries = calloc(q->l2_entries, sizeof (uint64_t)))) {
      q_error(q, "%s: out of memory for L2 tables", q->path);
      return -1;
    }
    q->live++;
    lru_append(q, i);
  }
  else if (q->lru_tail != i) {
    lru_unlink(q, i);
    lru_append(q, i);
  }
  if (s->entries[j]) {
    q_error(q, "%s: guest offset %" PRIu64 " written twice", q->path,
              cluster << q->cluster_bits);
    return -1;
  }
  s->entries[j] = be;
  return 0;
}

/* Guest clusters [first, first+n) are covered; write out the L2 tables
 * this completes. */
static int cover(struct qcow2 *q, uint64_t first, uint64_t n)
{
  while (n > 0) {
    uint32_t i = (uint32_t) (first / q->l2_entries);
    uint64_t in_table = q->l2_entries - first % q->l2_entries;
    if (in_table > n) in_table = n;
    uint64_t span = q->clusters - (uint64_t) i * q->l2_entries;
    if (span > q->l2_entries) span = q->l2_entries;
    struct l2_slot *s = &q->l2[i];
    if (s->covered + in_table > span) {
      q_error(q, "%s: part of guest range %" PRIu64 "..%" PRIu64 " written twice", q->path,
                first << q->cluster_bits, (first + in_table) << q->cluster_bits);
      return -1;
    }
    s->covered += (uint32_t) in_table;
    if (s->covered == span && s->entries && l2_flush(q, i) == -1)
      return -1;
    q->covered += in_table;
    first += in_table;
    n -= in_table;
  }
  return 0;
}

/* Map guest clusters [first, first+n) to consecutive host clusters from
 * host on, and cover them. */
static int map_data(struct qcow2 *q, uint64_t first, uint64_t n, uint64_t host)
{
  for (uint64_t k = 0; k < n; k++)
    if (l2_set(q, first + k, (host + (k << q->cluster_bits)) | QCOW2_OFLAG_COPIED) == -1)
      return -1;
  return cover(q, first, n);
}

/* ---- the ops ---- */

/* Requests are whole clusters, except the last one of the disk. */
static int check_request(struct qcow2 *q, const char *op, uint64_t offset, uint64_t count)
{
  uint64_t size = q->img.size;
  errno = EINVAL;                   /* for the engine, if this fails */
  if (offset > size || count > size - offset) {
    q_error(q, "%s: %s of %" PRIu64 " bytes at %" PRIu64 " is beyond the disk size %" PRIu64,
              q->path, op, count, offset, size);
    return -1;
  }
  if ((offset & (q->cluster_size - 1)) ||
      ((count & (q->cluster_size - 1)) && offset + count != size)) {
    q_error(q, "%s: %s of %" PRIu64 " bytes at %" PRIu64 " is not aligned to the "
              "cluster size %" PRIu64, q->path, op, count, offset, q->cluster_size);
    return -1;
  }
  return 0;
}

static int fail_locked(struct qcow2 *q)
{
  q->failed = true;
  pthread_mutex_unlock(&q->lock);
  return -1;
}

static int begin_locked(struct qcow2 *q, const char *op)
{
  pthread_mutex_lock(&q->lock);
  if (q->failed || q->finished) {
    q_error(q, "%s: %s after %s", q->path, op, q->failed ? "an earlier error" : "finish");
    pthread_mutex_unlock(&q->lock);
    /* The engine tells a full disk from other errors by errno. */
    int e = atomic_load(&q->first_errno);
    errno = e ? e : EIO;
    return -1;
  }
  return 0;
}

static int mark_failed(struct qcow2 *q)
{
  pthread_mutex_lock(&q->lock);
  q->failed = true;
  pthread_mutex_unlock(&q->lock);
  return -1;
}

static int q_zero(struct p2v_image *img, uint64_t offset, uint64_t count)
{
  struct qcow2 *q = to_q(img);
  if (check_request(q, "zero", offset, count) == -1) return mark_failed(q);
  if (count == 0) return 0;
  if (begin_locked(q, "zero") == -1) return -1;
  uint64_t n = ((count - 1) >> q->cluster_bits) + 1;
  if (cover(q, offset >> q->cluster_bits, n) == -1) return fail_locked(q);
  pthread_mutex_unlock(&q->lock);
  return 0;
}

static int pwrite_plain(struct qcow2 *q, const unsigned char *buf, uint64_t count, uint64_t offset)
{
  uint64_t first = offset >> q->cluster_bits;
  uint64_t n = ((count - 1) >> q->cluster_bits) + 1;
  uint64_t k = 0;

  while (k < n) {
    /* A run of all-zero or all-data clusters. */
    uint64_t len0 = count - (k << q->cluster_bits);
    bool zero = p2v_is_zero(buf + (k << q->cluster_bits), len0 < q->cluster_size ? len0 : q->cluster_size);
    uint64_t run = 1;
    while (k + run < n) {
      uint64_t pos = (k + run) << q->cluster_bits;
      uint64_t len = count - pos < q->cluster_size ? count - pos : q->cluster_size;
      if (p2v_is_zero(buf + pos, len) != zero) break;
      run++;
    }
    uint64_t host = 0;
    if (begin_locked(q, "write") == -1) return -1;
    if (zero ? cover(q, first + k, run) == -1
        : (alloc_host(q, run << q->cluster_bits, false, &host) == -1 ||
           map_data(q, first + k, run, host) == -1))
      return fail_locked(q);
    pthread_mutex_unlock(&q->lock);

    if (!zero) {
      uint64_t pos = k << q->cluster_bits;
      uint64_t bytes = run << q->cluster_bits;
      if (bytes > count - pos) bytes = count - pos;
      if (write_full(q, buf + pos, bytes, host) == -1) return mark_failed(q);
      start_writeback(q, host, bytes);
    }
    k += run;
  }
  return 0;
}

static struct zctx *zctx_get(struct qcow2 *q, size_t nclusters)
{
  pthread_mutex_lock(&q->zlock);
  struct zctx *z = q->zfree;
  if (z) q->zfree = z->next;
  pthread_mutex_unlock(&q->zlock);

  if (!z) {
    z = calloc(1, sizeof *z);
    if (!z) goto nomem;
    if (deflateInit2(&z->z, DEFLATE_LEVEL, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
      free(z);
      q_error(q, "%s: cannot initialize zlib", q->path);
      return NULL;
    }
    if (!(z->pad = malloc(q->cluster_size))) goto nomem_z;
  }
  size_t need = nclusters * q->cluster_size;
  if (z->out_size < need) {
    free(z->out);
    if (!(z->out = malloc(need))) { z->out_size = 0; goto nomem_z; }
    z->out_size = need;
  }
  if (z->cl_size < nclusters) {
    free(z->cl);
    if (!(z->cl = calloc(nclusters, sizeof *z->cl))) { z->cl_size = 0; goto nomem_z; }
    z->cl_size = nclusters;
  }
  return z;
 nomem_z:
  pthread_mutex_lock(&q->zlock);
  z->next = q->zfree;
  q->zfree = z;
  pthread_mutex_unlock(&q->zlock);
 nomem:
  q_error(q, "%s: out of memory for compression", q->path);
  return NULL;
}

static void zctx_put(struct qcow2 *q, struct zctx *z)
{
  pthread_mutex_lock(&q->zlock);
  z->next = q->zfree;
  q->zfree = z;
  pthread_mutex_unlock(&q->zlock);
}

static void zctx_free(struct zctx *z)
{
  deflateEnd(&z->z);
  free(z->out);
  free(z->pad);
  free(z->cl);
  free(z);
}

/* Compress every cluster of a batch into z->out; those that do not
 * shrink are written as normal clusters. */
static int pwrite_compressed_batch(struct qcow2 *q, const unsigned char *buf, uint64_t count,
                                   uint64_t offset)
{
  uint64_t first = offset >> q->cluster_bits;
  uint64_t n = ((count - 1) >> q->cluster_bits) + 1;
  struct zctx *z = zctx_get(q, (size_t) n);
  if (!z) return mark_failed(q);

  size_t packed = 0;
  for (uint64_t k = 0; k < n; k++) {
    uint64_t pos = k << q->cluster_bits;
    uint64_t len = count - pos < q->cluster_size ? count - pos : q->cluster_size;
    const unsigned char *src = buf + pos;
    struct cl *c = &z->cl[k];
    if (p2v_is_zero(src, len)) { c->kind = CL_ZERO; continue; }
    if (len < q->cluster_size) {      /* qemu inflates whole clusters */
      memcpy(z->pad, src, len);
      memset(z->pad + len, 0, q->cluster_size - len);
      src = z->pad;
    }
    /* Random or already compressed data is stored plain at once, as
     * deflate would not shrink it (qemu finds that out the slow way). */
    if (deflate_is_pointless(&z->z, src, q->cluster_size)) {
      c->kind = CL_DATA;
      continue;
    }
    deflateReset(&z->z);
    z->z.next_in = (unsigned char *) src;
    z->z.avail_in = (uInt) q->cluster_size;
    z->z.next_out = z->out + packed;
    z->z.avail_out = (uInt) q->cluster_size - 1;
    int r = deflate(&z->z, Z_FINISH);
    if (r == Z_STREAM_END) {
      c->kind = CL_COMPRESSED;
      c->pos = packed;
      c->len = (uint32_t) (q->cluster_size - 1 - z->z.avail_out);
      packed += c->len;
    }
    else if (r == Z_OK || r == Z_BUF_ERROR)   /* did not fit: keep it plain */
      c->kind = CL_DATA;
    else {
      q_error(q, "%s: deflate failed (%d)", q->path, r);
      zctx_put(q, z);
      return mark_failed(q);
    }
  }

  /* Plain clusters first (cluster aligned), then the packed data, so the
   * next request's compressed data continues where this one ends. */
  if (begin_locked(q, "write") == -1) { zctx_put(q, z); return -1; }
  for (uint64_t k = 0; k < n; ) {
    uint64_t run = 1;
    while (k + run < n && z->cl[k + run].kind == z->cl[k].kind) run++;
    if (z->cl[k].kind == CL_DATA) {
      if (alloc_host(q, run << q->cluster_bits, false, &z->cl[k].host) == -1 ||
          map_data(q, first + k, run, z->cl[k].host) == -1)
        goto err_locked;
    }
    else if (z->cl[k].kind == CL_ZERO && cover(q, first + k, run) == -1)
      goto err_locked;
    k += run;
  }
  for (uint64_t k = 0; k < n; k++) {
    struct cl *c = &z->cl[k];
    if (c->kind != CL_COMPRESSED) continue;
    /* Each compressed cluster is its own reference to the host clusters
     * it touches, so they are reserved one by one (consecutively, unless
     * the allocator leaves a crowded cluster). */
    if (reserve(q, c->len, true, &c->host) == -1) goto err_locked;
    if (c->host >= (UINT64_C(1) << q->csize_shift)) {
      q_error(q, "%s: compressed data past the qcow2 limit for this cluster size", q->path);
      goto err_locked;
    }
    uint64_t sectors = (c->host + c->len + QCOW2_COMPRESSED_SECTOR - 1) / QCOW2_COMPRESSED_SECTOR -
      c->host / QCOW2_COMPRESSED_SECTOR;
    uint64_t entry = QCOW2_OFLAG_COMPRESSED | ((sectors - 1) << q->csize_shift) | c->host;
    if (l2_set(q, first + k, entry) == -1 || cover(q, first + k, 1) == -1)
      goto err_locked;
  }
  /* Refcount blocks completed by the packed data. */
  if (rc_retire(q) == -1) goto err_locked;
  pthread_mutex_unlock(&q->lock);

  /* The writes, outside the lock: runs of plain clusters from the
   * caller's buffer, and the packed data in as few pieces as it landed. */
  int ret = 0;
  uint64_t seg_host = 0, seg_len = 0;
  size_t seg_pos = 0;
  for (uint64_t k = 0; k < n && ret == 0; ) {
    struct cl *c = &z->cl[k];
    if (c->kind == CL_DATA) {
      uint64_t run = 1;
      while (k + run < n && z->cl[k + run].kind == CL_DATA) run++;
      uint64_t pos = k << q->cluster_bits;
      uint64_t bytes = run << q->cluster_bits;
      if (bytes > count - pos) bytes = count - pos;
      ret = write_full(q, buf + pos, bytes, c->host);
      if (ret == 0) start_writeback(q, c->host, bytes);
      k += run;
      continue;
    }
    if (c->kind == CL_COMPRESSED) {
      if (seg_len && c->host != seg_host + seg_len) {
        ret = write_full(q, z->out + seg_pos, seg_len, seg_host);
        if (ret == 0) start_writeback(q, seg_host, seg_len);
        seg_len = 0;
      }
      if (!seg_len) { seg_host = c->host; seg_pos = c->pos; }
      seg_len += c->len;
    }
    k++;
  }
  if (ret == 0 && seg_len) {
    ret = write_full(q, z->out + seg_pos, seg_len, seg_host);
    if (ret == 0) start_writeback(q, seg_host, seg_len);
  }
  zctx_put(q, z);
  return ret == 0 ? 0 : mark_failed(q);

 err_locked:
  zctx_put(q, z);
  return fail_locked(q);
}

/* Batches of at most 4 MiB bound the buffers of each thread, whatever the
 * request size. */
static int pwrite_compressed(struct qcow2 *q, const unsigned char *buf, uint64_t count,
                             uint64_t offset)
{
  uint64_t batch = q->cluster_size < COMPRESS_BATCH ? COMPRESS_BATCH : q->cluster_size;
  for (uint64_t pos = 0; pos < count; pos += batch) {
    uint64_t len = count - pos < batch ? count - pos : batch;
    if (pwrite_compressed_batch(q, buf + pos, len, offset + pos) == -1)
      return -1;
  }
  return 0;
}

static int q_pwrite(struct p2v_image *img, const void *buf, size_t count, uint64_t offset)
{
  struct qcow2 *q = to_q(img);
  if (check_request(q, "write", offset, count) == -1) return mark_failed(q);
  if (count == 0) return 0;
  if (q->compress) return pwrite_compressed(q, buf, count, offset);
  return pwrite_plain(q, buf, count, offset);
}

/* ---- size limits (qemu's: an L1 table of 32 MiB, a refcount table of
 * 8 MiB; both reach about cs^2 * 2^19 bytes) ---- */

static uint64_t l1_entries(uint64_t size, uint64_t cs)
{
  uint64_t clusters = size / cs + (size % cs != 0);
  uint64_t l2_entries = cs / sizeof (uint64_t);
  return clusters / l2_entries + (clusters % l2_entries != 0);
}

static bool l1_fits(uint64_t size, uint64_t cs)
{
  return l1_entries(size, cs) * sizeof (uint64_t) <= QCOW2_MAX_L1_BYTES;
}

/* A refcount table for a file of host_bytes (plus its own blocks). */
static bool reftable_fits(uint64_t host_bytes, uint64_t cs)
{
  uint64_t clusters = host_bytes / cs + 2;
  uint64_t per_block = cs * 8 / (1u << QCOW2_REFCOUNT_ORDER);
  uint64_t blocks = clusters / per_block + 2;
  uint64_t table = (blocks * sizeof (uint64_t) + cs - 1) / cs * cs;
  return table <= QCOW2_MAX_REFTABLE_BYTES;
}

/* "512", "64K", "2M": as --cluster-size takes it. */
static void cluster_size_text(char *buf, size_t len, uint64_t cs)
{
  if (cs % (UINT64_C(1) << 20) == 0)
    snprintf(buf, len, "%" PRIu64 "M", cs >> 20);
  else if (cs % 1024 == 0)
    snprintf(buf, len, "%" PRIu64 "K", cs >> 10);
  else
    snprintf(buf, len, "%" PRIu64, cs);
}

/* What to do when bytes do not fit cluster size cs: the smallest larger
 * cluster size that holds them (as a virtual size and as a file). */
static void cluster_advice(char *buf, size_t len, uint64_t bytes, uint64_t cs)
{
  for (uint64_t c = cs * 2; c <= (UINT64_C(1) << QCOW2_MAX_CLUSTER_BITS); c *= 2)
    if (l1_fits(bytes, c) && reftable_fits(bytes, c)) {
      char text[16];
      cluster_size_text(text, sizeof text, c);
      snprintf(buf, len, "use --cluster-size %s", text);
      return;
    }
  snprintf(buf, len, "no qcow2 cluster size holds it: use raw");
}

int p2v_qcow2_check_size(const char *what, uint64_t size, uint32_t cluster_size)
{
  uint64_t cs = cluster_size ? cluster_size : QCOW2_DEFAULT_CLUSTER_SIZE;
  if (l1_fits(size, cs))
    return 0;
  char advice[64];
  cluster_advice(advice, sizeof advice, size, cs);
  p2v_error("%s: virtual size %" PRIu64 " is too large for %" PRIu64 "-byte qcow2 clusters; %s",
            what, size, cs, advice);
  return -1;
}

static int q_finish_locked(struct qcow2 *q)
{
  if (q->covered != q->clusters) {
    q_error(q, "%s: only %" PRIu64 " of %" PRIu64 " clusters were written or zeroed",
              q->path, q->covered, q->clusters);
    return -1;
  }
  /* Every table is complete by now and so already written; this only
   * guards against a miscount. */
  while (q->lru_head != NONE)
    if (l2_flush(q, q->lru_head) == -1) return -1;

  /* L1 table (none for an empty disk: qemu would count its cluster as
   * leaked). */
  uint64_t l1_bytes = (uint64_t) q->l1_size * sizeof (uint64_t);
  uint64_t l1_alloc = (l1_bytes + q->cluster_size - 1) & ~(q->cluster_size - 1);
  uint64_t l1_offset = 0;
  if (l1_alloc) {
    if (alloc_host(q, l1_alloc, false, &l1_offset) == -1) return -1;
    CLEANUP_FREE uint64_t *l1 = calloc(1, l1_alloc);
    if (!l1) { q_error(q, "%s: out of memory for the L1 table", q->path); return -1; }
    for (uint32_t i = 0; i < q->l1_size; i++)
      l1[i] = q->l1[i] ? htobe64(q->l1[i] | QCOW2_OFLAG_COPIED) : 0;
    if (write_full(q, l1, l1_alloc, l1_offset) == -1) return -1;
  }

  /* The last refcount blocks and the refcount table, which count
   * themselves: grow the estimate until it covers its own clusters. */
  q->rc_defer = true;
  uint64_t cs = q->cluster_size;
  uint64_t used = (q->next_free + cs - 1) >> q->cluster_bits;
  uint64_t nblocks = q->rc_base, blocks_new = 0, table_clusters = 0;
  for (;;) {
    uint64_t total = used + blocks_new + table_clusters;
    uint64_t nb = (total + q->rc_entries - 1) / q->rc_entries;
    uint64_t tc = (nb * sizeof (uint64_t) + cs - 1) / cs;
    if (nb == nblocks && tc == table_clusters && nb - q->rc_base == blocks_new) break;
    nblocks = nb;
    blocks_new = nb - q->rc_base;
    table_clusters = tc;
  }
  if (table_clusters * cs > QCOW2_MAX_REFTABLE_BYTES) {
    char advice[64];
    cluster_advice(advice, sizeof advice, q->next_free + q->next_free / 64, cs);
    q_error(q, "%s: the refcount table would exceed qemu's limit for %" PRIu64 "-byte "
            "clusters; %s", q->path, cs, advice);
    return -1;
  }
  uint64_t blocks_offset, table_offset;
  if (reserve(q, blocks_new * cs, false, &blocks_offset) == -1 ||
      reserve(q, table_clusters * cs, false, &table_offset) == -1)
    return -1;
  for (uint64_t b = 0; b < blocks_new; b++) {
    uint16_t *blk = rc_block(q, q->rc_base + b);
    if (!blk || rc_write_block(q, blk, blocks_offset + b * cs) == -1 ||
        reftable_push(q, blocks_offset + b * cs) == -1)
      return -1;
  }
  if (q->rc_nlive > blocks_new) {   /* cannot happen: the loop above covers all */
    q_error(q, "%s: internal error: refcount blocks miscounted", q->path);
    return -1;
  }
  {
    CLEANUP_FREE uint64_t *t = calloc(table_clusters, cs);
    if (!t) { q_error(q, "%s: out of memory for the refcount table", q->path); return -1; }
    for (size_t i = 0; i < q->reftable_len; i++)
      t[i] = htobe64(q->reftable[i]);
    if (write_full(q, t, table_clusters * cs, table_offset) == -1) return -1;
  }
  if (ftruncate(q->fd, (off_t) q->next_free) == -1 || fdatasync(q->fd) == -1) {
    q_error(q, "cannot complete %s: %m", q->path);
    return -1;
  }

  /* The header last: until it is there, the file is not a qcow2 image. */
  struct {
    struct qcow2_header h;
    struct qcow2_header_extension end;
  } __attribute__((packed)) hdr = {
    .h = {
      .magic = htobe32(QCOW2_MAGIC),
      .version = htobe32(QCOW2_VERSION),
      .cluster_bits = htobe32(q->cluster_bits),
      /* qemu counts in 512-byte sectors and would drop a partial last
       * one; the bytes past the end read as zeroes. */
      .size = htobe64((q->img.size + 511) & ~UINT64_C(511)),
      .l1_size = htobe32(q->l1_size),
      .l1_table_offset = htobe64(l1_offset),
      .refcount_table_offset = htobe64(table_offset),
      .refcount_table_clusters = htobe32((uint32_t) table_clusters),
      .refcount_order = htobe32(QCOW2_REFCOUNT_ORDER),
      .header_length = htobe32(QCOW2_HEADER_LENGTH),
      .compression_type = QCOW2_COMPRESSION_ZLIB,
    },
  };
  if (write_full(q, &hdr, sizeof hdr, 0) == -1) return -1;
  if (fsync(q->fd) == -1) {
    q_error(q, "%s: fsync: %m", q->path);
    return -1;
  }
  return 0;
}

static int q_finish(struct p2v_image *img)
{
  struct qcow2 *q = to_q(img);
  if (begin_locked(q, "finish") == -1) return -1;
  int r = q_finish_locked(q);
  if (r == -1) return fail_locked(q);
  q->finished = true;
  pthread_mutex_unlock(&q->lock);
  return 0;
}

static void q_close(struct p2v_image *img)
{
  struct qcow2 *q = to_q(img);
  if (!q) return;
  if (q->fd >= 0) close(q->fd);
  if (q->l2)
    for (uint32_t i = 0; i < q->l1_size; i++)
      free(q->l2[i].entries);
  free(q->l2);
  free(q->l1);
  for (size_t i = 0; i < q->rc_nlive; i++)
    free(q->rc_live[i]);
  free(q->rc_live);
  free(q->reftable);
  while (q->zfree) {
    struct zctx *z = q->zfree;
    q->zfree = z->next;
    zctx_free(z);
  }
  pthread_mutex_destroy(&q->lock);
  pthread_mutex_destroy(&q->zlock);
  free(q->path);
  free(q);
}

static const struct p2v_image_ops qcow2_ops = {
  .format = "qcow2",
  .pwrite = q_pwrite,
  .zero = q_zero,
  .finish = q_finish,
  .close = q_close,
};

struct p2v_image *p2v_qcow2_create(const char *path, const struct p2v_sink_options *o)
{
  uint64_t cs = o->cluster_size ? o->cluster_size : QCOW2_DEFAULT_CLUSTER_SIZE;
  if (cs < (UINT64_C(1) << QCOW2_MIN_CLUSTER_BITS) ||
      cs > (UINT64_C(1) << QCOW2_MAX_CLUSTER_BITS) || (cs & (cs - 1))) {
    p2v_error("%s: qcow2 cluster size %" PRIu64 " is not a power of two from 512 to 2M",
              path, cs);
    return NULL;
  }
  if (p2v_qcow2_check_size(path, o->size, (uint32_t) cs) == -1)
    return NULL;
  uint32_t bits = (uint32_t) __builtin_ctzll(cs);
  uint64_t clusters = o->size / cs + (o->size % cs != 0);
  uint64_t l2_entries = cs / sizeof (uint64_t);
  uint64_t l1_size = l1_entries(o->size, cs);

  struct qcow2 *q = calloc(1, sizeof *q);
  if (!q) { p2v_error("%s: %m", path); return NULL; }
  q->fd = -1;
  pthread_mutex_init(&q->lock, NULL);
  pthread_mutex_init(&q->zlock, NULL);
  q->img.ops = &qcow2_ops;
  q->img.size = o->size;
  q->img.alignment = (uint32_t) cs;
  q->cluster_bits = bits;
  q->cluster_size = cs;
  q->l2_entries = (uint32_t) l2_entries;
  q->clusters = clusters;
  q->l1_size = (uint32_t) l1_size;
  q->compress = o->compress;
  q->csize_shift = 62 - (bits - 8);
  q->lru_head = q->lru_tail = NONE;
  q->live_max = l2_cache_limit / cs;
  if (q->live_max < 1) q->live_max = 1;
  q->rc_entries = cs * 8 / (1u << QCOW2_REFCOUNT_ORDER);

  if (!(q->path = strdup(path)) ||
      !(q->l1 = calloc(l1_size ? l1_size : 1, sizeof *q->l1)) ||
      !(q->l2 = calloc(l1_size ? l1_size : 1, sizeof *q->l2))) {
    p2v_error("%s: %m", path);
    goto err;
  }
  for (uint64_t i = 0; i < l1_size; i++)
    q->l2[i].prev = q->l2[i].next = NONE;

  q->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (q->fd == -1) {
    p2v_error("cannot create %s: %m", path);
    goto err;
  }
  /* Cluster 0 is the header's, written at finish. */
  uint64_t header;
  if (reserve(q, cs, false, &header) == -1) goto err;
  return &q->img;

 err:
  q_close(&q->img);
  return NULL;
}
