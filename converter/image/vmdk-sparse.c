/* VMDK monolithicSparse writer (VMware Workstation, Fusion, qemu): one
 * file, grains appended in arrival order, grain tables preallocated.
 *
 * File layout, in sectors (all fixed at create time but the grains):
 *
 *   0                 header (written last, by finish)
 *   1 .. 20           embedded descriptor
 *   rgd               redundant grain directory       gd_sectors
 *   rgt               redundant grain tables          num_gts * 4
 *   gd                grain directory                 gd_sectors
 *   gt                grain tables                    num_gts * 4
 *   overhead          (rounded up to a grain) first grain, then the rest
 *
 * Holes and zero grains stay unallocated (grain table entry 0).  Each
 * grain table is kept in memory only while its 32 MiB of disk is being
 * written: once every byte it maps has been covered (by pwrite or zero),
 * it is written out and freed, so memory follows the engine's window, not
 * the disk size.  Tables that never get a grain are never written; the
 * preallocated area reads as zeroes (a hole in the file).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "is-zero.h"
#include "log.h"
#include "image/vmdk-format.h"

struct vmdk_sparse {
  struct p2v_image img;          /* first: ops get it back by a cast */
  char *path;
  int fd;
  struct vmdk_layout l;
  uint64_t rgd, rgt, gd, gt;     /* sectors, see the layout above */
  uint64_t overhead;             /* sectors before the first grain */

  pthread_mutex_t lock;          /* guards everything below */
  uint64_t next_sector;          /* where the next grain goes */
  uint32_t **tables;             /* [num_gts]: little-endian entries; NULL until
                                  * its first grain, and again once written */
  uint32_t *covered;             /* [num_gts]: bytes of its span covered so far */
  int err;                       /* errno of the first failure (reported): refuse more work */
};

/* Tables that became complete under the lock, written after it. */
struct done_tables {
  struct { uint64_t index; uint32_t *table; } *v;
  size_t n, cap;
};

static void done_tables_free(struct done_tables *d)
{
  for (size_t i = 0; i < d->n; i++)
    free(d->v[i].table);
  free(d->v);
}

static uint64_t gt_span(const struct vmdk_sparse *s, uint64_t index)
{
  uint64_t start = index * VMDK_GT_SPAN_BYTES;
  uint64_t left = s->l.size - start;
  return left < VMDK_GT_SPAN_BYTES ? left : VMDK_GT_SPAN_BYTES;
}

/* Under the lock: count [offset, offset+count) as covered; tables whose
 * span is now complete move to *done.  -1 reported. */
static int cover(struct vmdk_sparse *s, uint64_t offset, uint64_t count,
                 struct done_tables *done)
{
  uint64_t end = offset + count;
  while (offset < end) {
    uint64_t index = offset / VMDK_GT_SPAN_BYTES;
    uint64_t span_end = (index + 1) * VMDK_GT_SPAN_BYTES;
    uint64_t n = (end < span_end ? end : span_end) - offset;
    uint64_t span = gt_span(s, index);
    if (s->covered[index] + n > span) {
      p2v_error("%s: bytes at offset %" PRIu64 " were written twice (a bug in the caller)",
                s->path, offset);
      errno = EINVAL;
      return -1;
    }
    s->covered[index] += (uint32_t) n;     /* <= 32 MiB: fits */
    if (s->covered[index] == span && s->tables[index]) {
      if (done->n == done->cap) {
        size_t cap = done->cap ? done->cap * 2 : 4;
        void *v = reallocarray(done->v, cap, sizeof *done->v);
        if (!v) {
          p2v_error("%s: out of memory", s->path);
          return -1;
        }
        done->v = v;
        done->cap = cap;
      }
      done->v[done->n].index = index;
      done->v[done->n].table = s->tables[index];
      done->n++;
      s->tables[index] = NULL;
    }
    offset += n;
  }
  return 0;
}

/* Write one grain table to both copies. */
static int write_table(struct vmdk_sparse *s, uint64_t index, const uint32_t *table)
{
  uint64_t off = index * VMDK_GT_SECTORS;
  if (vmdk_pwrite_all(s->fd, s->path, table, VMDK_GT_BYTES, (s->gt + off) * VMDK_SECTOR) == -1 ||
      vmdk_pwrite_all(s->fd, s->path, table, VMDK_GT_BYTES, (s->rgt + off) * VMDK_SECTOR) == -1)
    return -1;
  return 0;
}

static int write_done(struct vmdk_sparse *s, struct done_tables *done)
{
  int ret = 0;
  for (size_t i = 0; i < done->n && ret == 0; i++)
    ret = write_table(s, done->v[i].index, done->v[i].table);
  return ret;
}

/* Under the lock: remember the first failure (errno says which). */
static void failed_locked(struct vmdk_sparse *s)
{
  if (s->err == 0)
    s->err = errno ? errno : EIO;
}

/* After a failure outside the lock; keeps errno for the caller. */
static void set_failed(struct vmdk_sparse *s)
{
  int e = errno;
  pthread_mutex_lock(&s->lock);
  failed_locked(s);
  pthread_mutex_unlock(&s->lock);
  errno = e;
}

/* Under the lock: refuse work after a failure.  The failure was reported
 * once already; every later call repeating it would only be noise. */
static int check_failed(struct vmdk_sparse *s)
{
  if (s->err) {
    p2v_debug("%s: refusing to write after an earlier failure", s->path);
    errno = s->err;
    return -1;
  }
  return 0;
}

/* Under the lock: give grains [first, first+n) consecutive places in the
 * file; *sector gets the first.  -1 reported. */
static int allocate(struct vmdk_sparse *s, uint64_t first, uint64_t n, uint64_t *sector)
{
  uint64_t need = n * VMDK_GRAIN_SECTORS;
  if (s->next_sector > VMDK_MAX_FILE_SECTORS - need) {
    p2v_error("cannot write %s: the file would grow past the 2 TiB a vmdk can address",
              s->path);
    errno = EFBIG;
    return -1;
  }
  *sector = s->next_sector;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t g = first + i;
    uint64_t index = g / VMDK_GTES_PER_GT;
    if (!s->tables[index]) {
      s->tables[index] = calloc(VMDK_GTES_PER_GT, sizeof (uint32_t));
      if (!s->tables[index]) {
        p2v_error("%s: out of memory", s->path);
        return -1;
      }
    }
    s->tables[index][g % VMDK_GTES_PER_GT] =
      htole32((uint32_t) (s->next_sector + i * VMDK_GRAIN_SECTORS));
  }
  s->next_sector += need;
  return 0;
}

/* Record [offset, offset+count) as covered (under the lock), then write
 * the grain tables that became complete (outside it).  check_first: fail
 * at once if the image has already failed. */
static int cover_and_write(struct vmdk_sparse *s, uint64_t offset, uint64_t count,
                           bool check_first)
{
  struct done_tables done = { 0 };
  pthread_mutex_lock(&s->lock);
  int r = check_first ? check_failed(s) : 0;
  if (r == 0)
    r = cover(s, offset, count, &done);
  if (r == -1)
    failed_locked(s);
  pthread_mutex_unlock(&s->lock);
  if (r == 0)
    r = write_done(s, &done);
  int e = errno;
  done_tables_free(&done);
  errno = e;
  if (r == -1)
    set_failed(s);
  return r;
}

static int sparse_pwrite(struct p2v_image *img, const void *buf, size_t count, uint64_t offset)
{
  struct vmdk_sparse *s = (struct vmdk_sparse *) img;
  const unsigned char *data = buf;
  if (vmdk_check_range(s->path, s->l.size, offset, count) == -1)
    return -1;

  /* Runs of grains holding data are allocated together and written with
   * one pwrite, from the caller's buffer, outside the lock; all-zero
   * grains stay holes. */
  size_t pos = 0;
  while (pos < count) {
    size_t n = count - pos < VMDK_GRAIN_BYTES ? count - pos : VMDK_GRAIN_BYTES;
    if (p2v_is_zero(data + pos, n)) {
      pos += n;
      continue;
    }
    size_t run = n;
    while (pos + run < count) {
      size_t m = count - pos - run < VMDK_GRAIN_BYTES ? count - pos - run : VMDK_GRAIN_BYTES;
      if (p2v_is_zero(data + pos + run, m))
        break;
      run += m;
    }
    uint64_t first = (offset + pos) / VMDK_GRAIN_BYTES;
    uint64_t ngrains = (run + VMDK_GRAIN_BYTES - 1) / VMDK_GRAIN_BYTES;
    uint64_t sector;
    pthread_mutex_lock(&s->lock);
    int r = check_failed(s);
    if (r == 0)
      r = allocate(s, first, ngrains, &sector);
    if (r == -1)
      failed_locked(s);
    int e = errno;
    pthread_mutex_unlock(&s->lock);
    if (r == -1) {
      errno = e;
      return -1;
    }
    if (vmdk_pwrite_all(s->fd, s->path, data + pos, run, sector * VMDK_SECTOR) == -1) {
      set_failed(s);
      return -1;
    }
    pos += run;
  }
  return cover_and_write(s, offset, count, false);
}

static int sparse_zero(struct p2v_image *img, uint64_t offset, uint64_t count)
{
  struct vmdk_sparse *s = (struct vmdk_sparse *) img;
  if (vmdk_check_range(s->path, s->l.size, offset, count) == -1)
    return -1;
  return cover_and_write(s, offset, count, true);
}

static int sparse_finish(struct p2v_image *img)
{
  struct vmdk_sparse *s = (struct vmdk_sparse *) img;
  pthread_mutex_lock(&s->lock);
  int failed = s->err;
  pthread_mutex_unlock(&s->lock);
  if (failed) {
    p2v_error("cannot finish %s: an earlier write failed", s->path);
    errno = failed;
    return -1;
  }

  for (uint64_t i = 0; i < s->l.num_gts; i++) {
    if (s->covered[i] != gt_span(s, i)) {
      p2v_error("%s: bytes from offset %" PRIu64 " were never written (a bug in the caller)",
                s->path, i * VMDK_GT_SPAN_BYTES);
      errno = EINVAL;
      return -1;
    }
  }

  /* Both directories point at every table: they are all preallocated. */
  size_t gd_bytes = (size_t) s->l.gd_sectors * VMDK_SECTOR;
  CLEANUP_FREE uint32_t *gd = calloc(1, gd_bytes);
  CLEANUP_FREE uint32_t *rgd = calloc(1, gd_bytes);
  CLEANUP_FREE char *desc = malloc(VMDK_DESC_SECTORS * VMDK_SECTOR);
  if (!gd || !rgd || !desc) {
    p2v_error("%s: out of memory", s->path);
    return -1;
  }
  for (uint64_t i = 0; i < s->l.num_gts; i++) {
    gd[i] = htole32((uint32_t) (s->gt + i * VMDK_GT_SECTORS));
    rgd[i] = htole32((uint32_t) (s->rgt + i * VMDK_GT_SECTORS));
  }
  if (vmdk_descriptor(desc, VMDK_DESC_SECTORS * VMDK_SECTOR, &s->l,
                      "monolithicSparse", s->path) == -1)
    return -1;

  struct vmdk_header h;
  vmdk_header_init(&h, 1, VMDK_FLAG_NL_DETECT | VMDK_FLAG_RGD, s->l.capacity,
                   s->rgd, s->gd, s->overhead, VMDK_COMPRESS_NONE);

  /* The header goes last, after everything it points to is on disk, so a
   * crash never leaves a file that opens as a vmdk with missing tables. */
  if (vmdk_pwrite_all(s->fd, s->path, gd, gd_bytes, s->gd * VMDK_SECTOR) == -1 ||
      vmdk_pwrite_all(s->fd, s->path, rgd, gd_bytes, s->rgd * VMDK_SECTOR) == -1 ||
      vmdk_pwrite_all(s->fd, s->path, desc, VMDK_DESC_SECTORS * VMDK_SECTOR,
                      VMDK_DESC_OFFSET * VMDK_SECTOR) == -1 ||
      /* The last grain may be short (disk end): the file covers it whole. */
      vmdk_truncate(s->fd, s->path, s->next_sector * VMDK_SECTOR) == -1 ||
      vmdk_fsync(s->fd, s->path) == -1 ||
      vmdk_pwrite_all(s->fd, s->path, &h, sizeof h, 0) == -1 ||
      vmdk_fsync(s->fd, s->path) == -1) {
    set_failed(s);
    return -1;
  }
  return 0;
}

static void sparse_close(struct p2v_image *img)
{
  struct vmdk_sparse *s = (struct vmdk_sparse *) img;
  if (!s)
    return;
  if (s->tables)
    for (uint64_t i = 0; i < s->l.num_gts; i++)
      free(s->tables[i]);
  free(s->tables);
  free(s->covered);
  if (s->fd >= 0)
    close(s->fd);
  pthread_mutex_destroy(&s->lock);
  free(s->path);
  free(s);
}

static const struct p2v_image_ops sparse_ops = {
  .format = "vmdk",
  .pwrite = sparse_pwrite,
  .zero = sparse_zero,
  .finish = sparse_finish,
  .close = sparse_close,
};

struct p2v_image *p2v_vmdk_create(const char *path, const struct p2v_sink_options *o)
{
  struct vmdk_layout l;
  if (vmdk_layout_init(&l, path, "monolithicSparse", o) == -1)
    return NULL;

  struct vmdk_sparse *s = calloc(1, sizeof *s);
  if (!s) {
    p2v_error("%s: out of memory", path);
    return NULL;
  }
  s->fd = -1;
  pthread_mutex_init(&s->lock, NULL);
  s->l = l;
  s->path = strdup(path);
  s->tables = calloc(l.num_gts, sizeof *s->tables);
  s->covered = calloc(l.num_gts, sizeof *s->covered);
  if (!s->path || !s->tables || !s->covered) {
    p2v_error("%s: out of memory", path);
    sparse_close(&s->img);
    return NULL;
  }

  uint64_t gts_sectors = l.num_gts * VMDK_GT_SECTORS;     /* <= 2^16 * 4: no overflow */
  s->rgd = VMDK_DESC_OFFSET + VMDK_DESC_SECTORS;
  s->rgt = s->rgd + l.gd_sectors;
  s->gd = s->rgt + gts_sectors;
  s->gt = s->gd + l.gd_sectors;
  s->overhead = (s->gt + gts_sectors + VMDK_GRAIN_SECTORS - 1) / VMDK_GRAIN_SECTORS
                * VMDK_GRAIN_SECTORS;
  s->next_sector = s->overhead;

  s->fd = vmdk_open_output(path);
  if (s->fd == -1) {
    sparse_close(&s->img);
    return NULL;
  }

  s->img.ops = &sparse_ops;
  s->img.size = l.size;
  s->img.alignment = VMDK_GRAIN_BYTES;
  s->img.can_multi_conn = false;
  return &s->img;
}
