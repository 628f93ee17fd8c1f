/* The source of run's copy: the original disk with the conversion's
 * changes laid over it.  Unchanged ranges are read from the source (all
 * connections, asynchronously: the bulk of the disk streams once);
 * ranges the conversion wrote are read from the overlay's own clusters
 * (qemu-nbd with the backing cut off).  So the output equals the
 * converted overlay with no second pass, in any output format.  Every
 * byte read also goes into the disk's digest (copy/digest.c), which
 * verification compares with a read-back of the output.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "run/run.h"

struct patched {
  struct p2v_image img;          /* first: the image is the source */
  struct run_disk *disk;
  const char *overlay_uri;       /* owned by the caller */
  struct p2v_image *src;         /* a connection of our own to the source */
  struct p2v_image *_Atomic ov;  /* the overlay, opened at the first changed read */
  struct run_digest digest;      /* of this connection's reads; merged at close */
};

static const struct p2v_image_ops patched_ops;

static struct p2v_image *patched_new(struct run_disk *disk, const char *overlay_uri,
                                     struct p2v_image *src)
{
  struct patched *p = calloc(1, sizeof *p);
  if (!p) {
    p2v_error("out of memory");
    src->ops->close(src);
    return NULL;
  }
  p->disk = disk;
  p->overlay_uri = overlay_uri;
  p->src = src;
  p->img.ops = &patched_ops;
  p->img.size = src->size;
  p->img.alignment = 1;
  p->img.can_multi_conn = src->can_multi_conn;
  return &p->img;
}

struct p2v_image *run_patched_open(struct run_disk *disk, const char *overlay_uri)
{
  if (!disk->source->ops->reopen) {
    p2v_error("source of %s cannot open another connection", disk->label);
    return NULL;
  }
  struct p2v_image *src = disk->source->ops->reopen(disk->source);
  if (!src)
    return NULL;
  return patched_new(disk, overlay_uri, src);
}

static struct p2v_image *patched_reopen(struct p2v_image *img)
{
  struct patched *p = (struct patched *) img;
  struct p2v_image *src = p->src->ops->reopen(p->src);
  return src ? patched_new(p->disk, p->overlay_uri, src) : NULL;
}

static struct p2v_image *overlay(struct patched *p)
{
  if (!p->ov) {
    enum p2v_open_failure why;
    p->ov = p2v_nbd_open(p->overlay_uri, &why);
    if (p->ov && p->ov->size < p->img.size) {
      p2v_error("the overlay of %s is smaller than the source", p->disk->label);
      p->ov->ops->close(p->ov);
      p->ov = NULL;
    }
  }
  return p->ov;
}

static bool touches_changes(const struct patched *p, uint64_t offset, size_t count)
{
  uint64_t run;
  bool changed = p2v_extent_list_lookup(&p->disk->changed, offset, &run);
  return changed || run < count;
}

/* Synchronous: each piece from where it lives now. */
static int read_pieces(struct patched *p, unsigned char *buf, size_t count, uint64_t offset)
{
  while (count > 0) {
    uint64_t run;
    bool changed = p2v_extent_list_lookup(&p->disk->changed, offset, &run);
    size_t n = run < count ? (size_t) run : count;
    struct p2v_image *from = changed ? overlay(p) : p->src;
    if (!from)
      return -1;
    from->retried = p->img.retried;      /* whoever retries us, retries this */
    if (from->ops->pread(from, buf, n, offset) == -1)
      return -1;
    buf += n;
    offset += n;
    count -= n;
  }
  return 0;
}

static int patched_pread(struct p2v_image *img, void *buf, size_t count, uint64_t offset)
{
  struct patched *p = (struct patched *) img;
  if (read_pieces(p, buf, count, offset) == -1)
    return -1;
  run_digest_add(&p->digest, buf, count, offset);
  return 0;
}

struct completion {
  struct patched *p;
  void *buf;
  size_t count;
  uint64_t offset;
  p2v_done_fn done;
  void *opaque;
};

static void source_read_done(void *opaque, int err)
{
  struct completion c = *(struct completion *) opaque;
  free(opaque);
  if (!err)
    run_digest_add(&c.p->digest, c.buf, c.count, c.offset);
  c.done(c.opaque, err);
}

static int patched_aio_pread(struct p2v_image *img, void *buf, size_t count, uint64_t offset,
                             p2v_done_fn done, void *opaque)
{
  struct patched *p = (struct patched *) img;
  /* A read that touches the changes (a few MiB in a whole disk) is done
   * at once; the engine accepts done() before aio_pread returns, as its
   * own synchronous path does. */
  if (touches_changes(p, offset, count) || !p->src->ops->aio_pread) {
    int err = 0;
    if (patched_pread(img, buf, count, offset) == -1)
      err = errno ? errno : EIO;
    done(opaque, err);
    return 0;
  }
  struct completion *c = malloc(sizeof *c);
  if (!c) {
    p2v_error("out of memory");
    return -1;
  }
  *c = (struct completion) { p, buf, count, offset, done, opaque };
  if (p->src->ops->aio_pread(p->src, buf, count, offset, source_read_done, c) == -1) {
    free(c);
    return -1;
  }
  return 0;
}

static int patched_poll(struct p2v_image *img, int timeout_ms)
{
  struct patched *p = (struct patched *) img;
  return p->src->ops->poll(p->src, timeout_ms);
}

struct extents_state {
  struct patched *p;
  p2v_extent_fn fn;
  void *opaque;
};

/* A changed range is data, whatever the source says there. */
static int split_extent(void *opaque, uint64_t offset, uint64_t length, bool hole)
{
  struct extents_state *st = opaque;
  if (!hole)
    return st->fn(st->opaque, offset, length, false);
  while (length > 0) {
    uint64_t run;
    bool changed = p2v_extent_list_lookup(&st->p->disk->changed, offset, &run);
    uint64_t n = run < length ? run : length;
    if (st->fn(st->opaque, offset, n, !changed) == -1)
      return -1;
    offset += n;
    length -= n;
  }
  return 0;
}

static int patched_extents(struct p2v_image *img, uint64_t offset, uint64_t count,
                           p2v_extent_fn fn, void *opaque)
{
  struct patched *p = (struct patched *) img;
  if (!p->src->ops->extents)
    return fn(opaque, offset, count, false);
  struct extents_state st = { p, fn, opaque };
  p->src->retried = img->retried;
  return p->src->ops->extents(p->src, offset, count, split_extent, &st);
}

static void patched_cancel(struct p2v_image *img)
{
  struct patched *p = (struct patched *) img;
  if (p->src->ops->cancel)
    p->src->ops->cancel(p->src);
  struct p2v_image *ov = p->ov;
  if (ov && ov->ops->cancel)
    ov->ops->cancel(ov);
}

static void patched_close(struct p2v_image *img)
{
  struct patched *p = (struct patched *) img;
  if (!p)
    return;
  pthread_mutex_lock(&p->disk->digest_lock);
  run_digest_merge(&p->disk->read_digest, &p->digest);
  pthread_mutex_unlock(&p->disk->digest_lock);
  if (p->ov)
    p->ov->ops->close(p->ov);
  p->src->ops->close(p->src);
  free(p);
}

static const struct p2v_image_ops patched_ops = {
  .format = "nbd",
  .pread = patched_pread,
  .aio_pread = patched_aio_pread,
  .poll = patched_poll,
  .reopen = patched_reopen,
  .cancel = patched_cancel,
  .extents = patched_extents,
  .close = patched_close,
};
