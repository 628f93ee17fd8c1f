/* VMDK streamOptimized writer (ESXi import, OVF/OVA): deflate-compressed
 * grains in increasing LBA order, each behind a grain marker; after the
 * grains of each 32 MiB a grain table behind its marker; at the end the
 * grain directory, a footer (the header again, with the directory's
 * place) and the end-of-stream marker.
 *
 *   0           header, gdOffset = GD_AT_END (written by finish)
 *   1 .. 20     embedded descriptor
 *   128         grain marker + zlib data, padded to a sector; ...
 *               GT marker (num_sectors 4) + grain table, after its grains
 *               ... (grain tables with no grain are not written: GD entry 0)
 *   end-k-3     GD marker (num_sectors k) + grain directory (k sectors)
 *   end-3       footer marker (num_sectors 1)
 *   end-2       footer: header with the real gdOffset
 *   end-1       end-of-stream marker (all zero)
 *
 * Threads compress in pwrite, outside the lock.  Layout order is kept by a
 * frontier: the first grain not yet placed.  A covered range (compressed
 * grains, or a zero range) that starts at the frontier is placed at once:
 * under the lock it gets its file offsets and fills the current grain
 * table; the bytes are written after the lock is dropped, so several
 * threads write at once into disjoint places.  A range that arrives early
 * waits in a min-heap until the frontier reaches it; the engine bounds
 * how far ahead it runs, and so the memory held there.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "cleanup.h"
#include "image/deflate-probe.h"
#include "is-zero.h"
#include "log.h"
#include "image/vmdk-format.h"

/* zlib level 1: on disk contents it costs a few percent of size against
 * level 6 and runs several times faster. */
#define DEFLATE_LEVEL 1

/* Grains covered by one pwrite or zero call, waiting to be placed. */
struct pending {
  uint64_t first, end;           /* grains [first, end) */
  unsigned char *data;           /* markers + compressed grains back to back; NULL: all zero */
  uint32_t *sectors;             /* [end-first]: sectors each grain takes in data (0: zero grain) */
};

/* One write to do after the lock: len bytes of ptr at byte offset. */
struct segment {
  uint64_t offset;
  const void *ptr;
  size_t len;
};

/* Work a thread collects under the lock and does after it. */
struct work {
  struct segment *seg;
  size_t nseg, segcap;
  void **owned;                  /* freed once every segment is written */
  size_t nowned, ownedcap;
};

struct vmdk_stream {
  struct p2v_image img;          /* first: ops get it back by a cast */
  char *path;
  int fd;
  struct vmdk_layout l;

  pthread_mutex_t zlock;         /* guards zfree */
  struct compressor **zfree;     /* idle compressors, reused across calls */
  size_t nzfree, zcap;

  pthread_mutex_t lock;          /* guards everything below */
  uint64_t frontier;             /* grains below it are placed */
  uint64_t next_sector;          /* end of what is placed in the file */
  uint32_t gt[VMDK_GTES_PER_GT]; /* table of the frontier's 32 MiB, little-endian */
  bool gt_used;                  /* it has a grain */
  uint32_t *gd;                  /* [num_gts], little-endian; 0: no table */
  struct pending **heap;         /* early arrivals, min-heap on first */
  size_t nheap, heapcap;
  int err;                       /* errno of the first failure (reported): refuse more work */
};

#define OVERHEAD_SECTORS VMDK_GRAIN_SECTORS   /* header + descriptor, padded to a grain */

/* Remember the first failure (errno says which); keeps errno. */
static void set_failed(struct vmdk_stream *s)
{
  int e = errno;
  pthread_mutex_lock(&s->lock);
  if (s->err == 0)
    s->err = e ? e : EIO;
  pthread_mutex_unlock(&s->lock);
  errno = e;
}

static void pending_free(struct pending *p)
{
  if (p) {
    free(p->data);
    free(p->sectors);
    free(p);
  }
}

/* ---- work lists ---- */

static int work_add_segment(struct work *w, uint64_t offset, const void *ptr, size_t len)
{
  if (len == 0)
    return 0;
  /* Adjacent pieces of one buffer become one write. */
  if (w->nseg > 0) {
    struct segment *last = &w->seg[w->nseg - 1];
    if (last->offset + last->len == offset &&
        (const unsigned char *) last->ptr + last->len == (const unsigned char *) ptr) {
      last->len += len;
      return 0;
    }
  }
  if (w->nseg == w->segcap) {
    size_t cap = w->segcap ? w->segcap * 2 : 8;
    struct segment *v = reallocarray(w->seg, cap, sizeof *v);
    if (!v)
      return -1;
    w->seg = v;
    w->segcap = cap;
  }
  w->seg[w->nseg++] = (struct segment) { offset, ptr, len };
  return 0;
}

static int work_own(struct work *w, void *ptr)
{
  if (w->nowned == w->ownedcap) {
    size_t cap = w->ownedcap ? w->ownedcap * 2 : 8;
    void **v = reallocarray(w->owned, cap, sizeof *v);
    if (!v)
      return -1;
    w->owned = v;
    w->ownedcap = cap;
  }
  w->owned[w->nowned++] = ptr;
  return 0;
}

static void work_free(struct work *w)
{
  for (size_t i = 0; i < w->nowned; i++)
    pending_free(w->owned[i]);
  free(w->owned);
  free(w->seg);
}

static int work_write(struct vmdk_stream *s, const struct work *w)
{
  for (size_t i = 0; i < w->nseg; i++)
    if (vmdk_pwrite_all(s->fd, s->path, w->seg[i].ptr, w->seg[i].len, w->seg[i].offset) == -1)
      return -1;
  return 0;
}

/* ---- the heap of early arrivals ---- */

static int heap_push(struct vmdk_stream *s, struct pending *p)
{
  if (s->nheap == s->heapcap) {
    size_t cap = s->heapcap ? s->heapcap * 2 : 16;
    struct pending **v = reallocarray(s->heap, cap, sizeof *v);
    if (!v)
      return -1;
    s->heap = v;
    s->heapcap = cap;
  }
  size_t i = s->nheap++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (s->heap[parent]->first <= p->first)
      break;
    s->heap[i] = s->heap[parent];
    i = parent;
  }
  s->heap[i] = p;
  return 0;
}

static struct pending *heap_pop(struct vmdk_stream *s)
{
  struct pending *top = s->heap[0];
  struct pending *last = s->heap[--s->nheap];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= s->nheap)
      break;
    if (c + 1 < s->nheap && s->heap[c + 1]->first < s->heap[c]->first)
      c++;
    if (last->first <= s->heap[c]->first)
      break;
    s->heap[i] = s->heap[c];
    i = c;
  }
  if (s->nheap > 0)
    s->heap[i] = last;
  return top;
}

/* ---- placing, under the lock ---- */

/* Reserve sectors at the end of what is placed.  -1 reported. */
static int reserve(struct vmdk_stream *s, uint64_t sectors, uint64_t *at)
{
  if (s->next_sector > VMDK_MAX_FILE_SECTORS - sectors) {
    p2v_error("cannot write %s: the file would grow past the 2 TiB a vmdk can address",
              s->path);
    errno = EFBIG;
    return -1;
  }
  *at = s->next_sector;
  s->next_sector += sectors;
  return 0;
}

/* The frontier's grain table is complete: place it (marker + table) if
 * it has a grain.  -1 reported. */
static int emit_gt(struct vmdk_stream *s, struct work *w)
{
  uint64_t index = (s->frontier - 1) / VMDK_GTES_PER_GT;
  if (s->gt_used) {
    /* Carried as a pending with data, so work_free frees it. */
    struct pending *p = calloc(1, sizeof *p);
    unsigned char *buf = malloc(VMDK_SECTOR + VMDK_GT_BYTES);
    if (!p || !buf || work_own(w, p) == -1) {
      free(p);
      free(buf);
      p2v_error("%s: out of memory", s->path);
      return -1;
    }
    p->data = buf;
    struct vmdk_meta_marker m = {
      .num_sectors = htole64(VMDK_GT_SECTORS), .type = htole32(VMDK_MARKER_GT),
    };
    memcpy(buf, &m, sizeof m);
    memcpy(buf + VMDK_SECTOR, s->gt, VMDK_GT_BYTES);
    uint64_t at;
    if (reserve(s, 1 + VMDK_GT_SECTORS, &at) == -1)
      return -1;
    s->gd[index] = htole32((uint32_t) (at + 1));
    if (work_add_segment(w, at * VMDK_SECTOR, buf, VMDK_SECTOR + VMDK_GT_BYTES) == -1) {
      p2v_error("%s: out of memory", s->path);
      return -1;
    }
    memset(s->gt, 0, sizeof s->gt);
    s->gt_used = false;
  }
  return 0;
}

/* Move the frontier past one grain; emit its table at a table's end. */
static int advance(struct vmdk_stream *s, struct work *w)
{
  s->frontier++;
  if (s->frontier % VMDK_GTES_PER_GT == 0 || s->frontier == s->l.grains)
    return emit_gt(s, w);
  return 0;
}

/* Place p, which starts at the frontier.  p becomes owned by w. */
static int place(struct vmdk_stream *s, struct pending *p, struct work *w)
{
  if (work_own(w, p) == -1) {
    pending_free(p);
    p2v_error("%s: out of memory", s->path);
    return -1;
  }
  if (!p->data) {
    /* A zero range: only tables to close.  Whole tables inside it have
     * no grain and need no step each. */
    while (s->frontier < p->end) {
      uint64_t table_end = (s->frontier / VMDK_GTES_PER_GT + 1) * VMDK_GTES_PER_GT;
      if (table_end > s->l.grains)
        table_end = s->l.grains;
      if (p->end < table_end) {
        s->frontier = p->end;
        break;
      }
      s->frontier = table_end - 1;
      if (advance(s, w) == -1)
        return -1;
    }
    return 0;
  }
  size_t pos = 0;
  for (uint64_t g = p->first; g < p->end; g++) {
    uint32_t n = p->sectors[g - p->first];
    if (n > 0) {
      uint64_t at;
      if (reserve(s, n, &at) == -1)
        return -1;
      s->gt[g % VMDK_GTES_PER_GT] = htole32((uint32_t) at);
      s->gt_used = true;
      if (work_add_segment(w, at * VMDK_SECTOR, p->data + pos, (size_t) n * VMDK_SECTOR) == -1) {
        p2v_error("%s: out of memory", s->path);
        return -1;
      }
      pos += (size_t) n * VMDK_SECTOR;
    }
    if (advance(s, w) == -1)
      return -1;
  }
  return 0;
}

/* Take p (covering grains from p->first): place it and whatever waited
 * for it, or keep it for later.  Collects the writes in w. */
static int submit(struct vmdk_stream *s, struct pending *p, struct work *w)
{
  if (s->err) {
    /* Reported once already; repeating it for every call is noise. */
    pending_free(p);
    p2v_debug("%s: refusing to write after an earlier failure", s->path);
    errno = s->err;
    return -1;
  }
  if (p->first < s->frontier) {
    p2v_error("%s: grain %" PRIu64 " was written twice (a bug in the caller)",
              s->path, p->first);
    pending_free(p);
    errno = EINVAL;
    return -1;
  }
  if (p->first > s->frontier) {
    if (heap_push(s, p) == -1) {
      pending_free(p);
      p2v_error("%s: out of memory", s->path);
      return -1;
    }
    return 0;
  }
  if (place(s, p, w) == -1)
    return -1;
  while (s->nheap > 0 && s->heap[0]->first <= s->frontier) {
    struct pending *next = heap_pop(s);
    if (next->first < s->frontier) {
      p2v_error("%s: grains from %" PRIu64 " were written twice (a bug in the caller)",
                s->path, next->first);
      pending_free(next);
      errno = EINVAL;
      return -1;
    }
    if (place(s, next, w) == -1)
      return -1;
  }
  return 0;
}

/* Submit p and do the resulting writes.  0, or -1 reported. */
static int submit_and_write(struct vmdk_stream *s, struct pending *p)
{
  struct work w = { 0 };
  pthread_mutex_lock(&s->lock);
  int r = submit(s, p, &w);
  int e = errno;
  if (r == -1 && s->err == 0)
    s->err = e ? e : EIO;
  pthread_mutex_unlock(&s->lock);
  if (r == 0)
    r = work_write(s, &w);
  e = errno;
  work_free(&w);
  errno = e;
  if (r == -1)
    set_failed(s);
  return r;
}

/* ---- compression, outside the lock ---- */

/* A thread's compressors: fast deflate, and stored blocks (level 0) for
 * grains a probe finds incompressible (compressed files, encrypted data),
 * where deflate would spend its time to gain nothing. */
struct compressor {
  z_stream fast, stored;
};

static void compressor_free(struct compressor *c)
{
  if (c) {
    deflateEnd(&c->fast);
    deflateEnd(&c->stored);
    free(c);
  }
}

static struct compressor *get_compressor(struct vmdk_stream *s)
{
  struct compressor *c = NULL;
  pthread_mutex_lock(&s->zlock);
  if (s->nzfree > 0)
    c = s->zfree[--s->nzfree];
  pthread_mutex_unlock(&s->zlock);
  if (c)
    return c;
  c = calloc(1, sizeof *c);
  if (!c) {
    p2v_error("%s: out of memory", s->path);
    return NULL;
  }
  if (deflateInit(&c->fast, DEFLATE_LEVEL) != Z_OK) {
    p2v_error("%s: cannot start zlib: %s", s->path, c->fast.msg ? c->fast.msg : "out of memory");
    free(c);
    return NULL;
  }
  if (deflateInit(&c->stored, Z_NO_COMPRESSION) != Z_OK) {
    p2v_error("%s: cannot start zlib: %s", s->path, c->stored.msg ? c->stored.msg : "out of memory");
    deflateEnd(&c->fast);
    free(c);
    return NULL;
  }
  return c;
}

static void put_compressor(struct vmdk_stream *s, struct compressor *c)
{
  pthread_mutex_lock(&s->zlock);
  if (s->nzfree == s->zcap) {
    size_t cap = s->zcap ? s->zcap * 2 : 4;
    struct compressor **v = reallocarray(s->zfree, cap, sizeof *v);
    if (!v) {
      pthread_mutex_unlock(&s->zlock);
      compressor_free(c);
      return;
    }
    s->zfree = v;
    s->zcap = cap;
  }
  s->zfree[s->nzfree++] = c;
  pthread_mutex_unlock(&s->zlock);
}

/* Deflate len bytes of in into out (whole zlib stream); the size, or 0. */
static size_t deflate_all(z_stream *z, const unsigned char *in, size_t len,
                          unsigned char *out, size_t outsize)
{
  if (deflateReset(z) != Z_OK)
    return 0;
  z->next_in = (unsigned char *) in;        /* zlib's API is not const */
  z->avail_in = (uInt) len;
  z->next_out = out;
  z->avail_out = (uInt) outsize;
  if (deflate(z, Z_FINISH) != Z_STREAM_END)
    return 0;
  return z->total_out;
}

/* Compress one grain (a whole grain of input) behind its marker at out.
 * Returns the sectors used, 0 on error (reported). */
static uint32_t compress_grain(struct vmdk_stream *s, struct compressor *c,
                               const unsigned char *in, uint64_t grain,
                               unsigned char *out, size_t outsize)
{
  z_stream *z = deflate_is_pointless(&c->fast, in, VMDK_GRAIN_BYTES) ? &c->stored : &c->fast;
  size_t csize = deflate_all(z, in, VMDK_GRAIN_BYTES, out + sizeof (struct vmdk_grain_marker),
                             outsize - sizeof (struct vmdk_grain_marker));
  if (csize == 0) {
    p2v_error("%s: zlib cannot compress grain %" PRIu64 ": %s", s->path, grain,
              z->msg ? z->msg : "unexpected state");
    return 0;
  }
  struct vmdk_grain_marker m = {
    .lba = htole64(grain * VMDK_GRAIN_SECTORS), .size = htole32((uint32_t) csize),
  };
  memcpy(out, &m, sizeof m);
  size_t used = sizeof m + csize;
  size_t padded = (used + VMDK_SECTOR - 1) / VMDK_SECTOR * VMDK_SECTOR;
  memset(out + used, 0, padded - used);
  return (uint32_t) (padded / VMDK_SECTOR);
}

static int stream_pwrite(struct p2v_image *img, const void *buf, size_t count, uint64_t offset)
{
  struct vmdk_stream *s = (struct vmdk_stream *) img;
  const unsigned char *data = buf;
  if (vmdk_check_range(s->path, s->l.size, offset, count) == -1)
    return -1;
  if (count == 0)
    return 0;

  uint64_t first = offset / VMDK_GRAIN_BYTES;
  uint64_t ngrains = (count + VMDK_GRAIN_BYTES - 1) / VMDK_GRAIN_BYTES;
  /* Room for one grain at worst: marker, zlib's bound, padding. */
  size_t slot = (sizeof (struct vmdk_grain_marker) + compressBound(VMDK_GRAIN_BYTES)
                 + VMDK_SECTOR - 1) / VMDK_SECTOR * VMDK_SECTOR;

  struct pending *p = calloc(1, sizeof *p);
  if (!p) {
    p2v_error("%s: out of memory", s->path);
    return -1;
  }
  p->first = first;
  p->end = first + ngrains;
  p->sectors = calloc(ngrains, sizeof *p->sectors);
  if (!p->sectors || ngrains > SIZE_MAX / slot ||
      !(p->data = malloc(ngrains * slot))) {
    p2v_error("%s: out of memory", s->path);
    pending_free(p);
    return -1;
  }

  struct compressor *z = NULL;
  CLEANUP_FREE unsigned char *tail = NULL;
  size_t pos = 0;
  for (uint64_t i = 0; i < ngrains; i++) {
    size_t at = (size_t) i * VMDK_GRAIN_BYTES;
    size_t n = count - at < VMDK_GRAIN_BYTES ? count - at : VMDK_GRAIN_BYTES;
    const unsigned char *in = data + at;
    if (p2v_is_zero(in, n))
      continue;                             /* stays unallocated */
    if (n < VMDK_GRAIN_BYTES) {
      /* The disk's last grain, short: readers expect a whole grain. */
      tail = calloc(1, VMDK_GRAIN_BYTES);
      if (!tail) {
        p2v_error("%s: out of memory", s->path);
        goto err;
      }
      memcpy(tail, in, n);
      in = tail;
    }
    if (!z && !(z = get_compressor(s)))
      goto err;
    uint32_t sectors = compress_grain(s, z, in, first + i, p->data + pos, slot);
    if (sectors == 0)
      goto err;
    p->sectors[i] = sectors;
    pos += (size_t) sectors * VMDK_SECTOR;
  }
  if (z)
    put_compressor(s, z);
  z = NULL;

  if (pos == 0) {
    /* All zero: the same as zero(). */
    free(p->data);
    free(p->sectors);
    p->data = NULL;
    p->sectors = NULL;
  }
  else {
    /* Early arrivals wait in memory: give back the unused slack. */
    unsigned char *shrunk = realloc(p->data, pos);
    if (shrunk)
      p->data = shrunk;
  }
  return submit_and_write(s, p);

 err:
  compressor_free(z);
  int e = errno;
  pending_free(p);
  errno = e;
  set_failed(s);
  return -1;
}

static int stream_zero(struct p2v_image *img, uint64_t offset, uint64_t count)
{
  struct vmdk_stream *s = (struct vmdk_stream *) img;
  if (vmdk_check_range(s->path, s->l.size, offset, count) == -1)
    return -1;
  if (count == 0)
    return 0;
  struct pending *p = calloc(1, sizeof *p);
  if (!p) {
    p2v_error("%s: out of memory", s->path);
    return -1;
  }
  p->first = offset / VMDK_GRAIN_BYTES;
  p->end = p->first + (count + VMDK_GRAIN_BYTES - 1) / VMDK_GRAIN_BYTES;
  return submit_and_write(s, p);
}

static int stream_finish(struct p2v_image *img)
{
  struct vmdk_stream *s = (struct vmdk_stream *) img;
  pthread_mutex_lock(&s->lock);
  int failed = s->err;
  bool complete = s->frontier == s->l.grains && s->nheap == 0;
  uint64_t frontier = s->frontier;
  pthread_mutex_unlock(&s->lock);
  if (failed) {
    p2v_error("cannot finish %s: an earlier write failed", s->path);
    errno = failed;
    return -1;
  }
  if (!complete) {
    p2v_error("%s: bytes from offset %" PRIu64 " were never written (a bug in the caller)",
              s->path, frontier * VMDK_GRAIN_BYTES);
    errno = EINVAL;
    return -1;
  }

  /* Tail: GD marker, GD, footer marker, footer, end-of-stream marker. */
  size_t gd_bytes = (size_t) s->l.gd_sectors * VMDK_SECTOR;
  size_t tail_bytes = 3 * VMDK_SECTOR + gd_bytes + VMDK_SECTOR;
  CLEANUP_FREE unsigned char *tail = calloc(1, tail_bytes);
  CLEANUP_FREE char *desc = calloc(1, VMDK_DESC_SECTORS * VMDK_SECTOR);
  if (!tail || !desc) {
    p2v_error("%s: out of memory", s->path);
    return -1;
  }
  uint64_t at = s->next_sector;
  if (at > VMDK_MAX_FILE_SECTORS - tail_bytes / VMDK_SECTOR) {
    p2v_error("cannot write %s: the file would grow past the 2 TiB a vmdk can address",
              s->path);
    return -1;
  }
  uint64_t gd_sector = at + 1;
  unsigned char *q = tail;
  struct vmdk_meta_marker m = {
    .num_sectors = htole64(s->l.gd_sectors), .type = htole32(VMDK_MARKER_GD),
  };
  memcpy(q, &m, sizeof m);
  q += VMDK_SECTOR;
  memcpy(q, s->gd, s->l.num_gts * sizeof *s->gd);
  q += gd_bytes;
  m = (struct vmdk_meta_marker) { .num_sectors = htole64(1), .type = htole32(VMDK_MARKER_FOOTER) };
  memcpy(q, &m, sizeof m);
  q += VMDK_SECTOR;
  struct vmdk_header h;
  uint32_t flags = VMDK_FLAG_NL_DETECT | VMDK_FLAG_COMPRESSED | VMDK_FLAG_MARKERS;
  vmdk_header_init(&h, 3, flags, s->l.capacity, 0, gd_sector, OVERHEAD_SECTORS,
                   VMDK_COMPRESS_DEFLATE);
  memcpy(q, &h, sizeof h);
  q += VMDK_SECTOR;
  /* The end-of-stream marker is the zeroed last sector calloc left. */

  /* The first header does not know where the directory is: a reader of
   * a stream finds it in the footer. */
  vmdk_header_init(&h, 3, flags, s->l.capacity, 0, VMDK_GD_AT_END, OVERHEAD_SECTORS,
                   VMDK_COMPRESS_DEFLATE);
  if (vmdk_descriptor(desc, VMDK_DESC_SECTORS * VMDK_SECTOR, &s->l,
                      "streamOptimized", s->path) == -1)
    return -1;

  if (vmdk_pwrite_all(s->fd, s->path, tail, tail_bytes, at * VMDK_SECTOR) == -1 ||
      vmdk_pwrite_all(s->fd, s->path, desc, VMDK_DESC_SECTORS * VMDK_SECTOR,
                      VMDK_DESC_OFFSET * VMDK_SECTOR) == -1 ||
      vmdk_fsync(s->fd, s->path) == -1 ||
      vmdk_pwrite_all(s->fd, s->path, &h, sizeof h, 0) == -1 ||
      vmdk_fsync(s->fd, s->path) == -1) {
    set_failed(s);
    return -1;
  }
  return 0;
}

static void stream_close(struct p2v_image *img)
{
  struct vmdk_stream *s = (struct vmdk_stream *) img;
  if (!s)
    return;
  for (size_t i = 0; i < s->nheap; i++)
    pending_free(s->heap[i]);
  free(s->heap);
  for (size_t i = 0; i < s->nzfree; i++)
    compressor_free(s->zfree[i]);
  free(s->zfree);
  free(s->gd);
  if (s->fd >= 0)
    close(s->fd);
  pthread_mutex_destroy(&s->lock);
  pthread_mutex_destroy(&s->zlock);
  free(s->path);
  free(s);
}

static const struct p2v_image_ops stream_ops = {
  .format = "vmdk-stream",
  .pwrite = stream_pwrite,
  .zero = stream_zero,
  .finish = stream_finish,
  .close = stream_close,
};

struct p2v_image *p2v_vmdk_stream_create(const char *path, const struct p2v_sink_options *o)
{
  struct vmdk_layout l;
  if (vmdk_layout_init(&l, path, "streamOptimized", o) == -1)
    return NULL;

  struct vmdk_stream *s = calloc(1, sizeof *s);
  if (!s) {
    p2v_error("%s: out of memory", path);
    return NULL;
  }
  s->fd = -1;
  pthread_mutex_init(&s->lock, NULL);
  pthread_mutex_init(&s->zlock, NULL);
  s->l = l;
  s->path = strdup(path);
  s->gd = calloc(l.num_gts, sizeof *s->gd);
  if (!s->path || !s->gd) {
    p2v_error("%s: out of memory", path);
    stream_close(&s->img);
    return NULL;
  }
  s->next_sector = OVERHEAD_SECTORS;

  s->fd = vmdk_open_output(path);
  if (s->fd == -1) {
    stream_close(&s->img);
    return NULL;
  }

  s->img.ops = &stream_ops;
  s->img.size = l.size;
  s->img.alignment = VMDK_GRAIN_BYTES;
  s->img.can_multi_conn = false;
  return &s->img;
}
