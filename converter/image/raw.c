/* The raw writer: a sparse file of the disk's size.  Data is written where
 * it belongs; zero ranges are left as holes, which a new file already is
 * (the engine covers each byte once, so nothing there was written before).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image.h"
#include "file-io.h"
#include "log.h"

/* Written ranges whose writeback was started but not waited for. */
#define WRITEBACK_SLOTS 64
#define WRITEBACK_MAX   (32 * 1024 * 1024)

struct raw_sink {
  struct p2v_image img;          /* first: the image is the sink */
  int fd;
  char *path;
  pthread_mutex_t lock;          /* guards the writeback ring */
  struct { uint64_t offset, length; } ring[WRITEBACK_SLOTS];
  unsigned head, count;
  uint64_t pending;              /* bytes in the ring */
};

static const struct p2v_image_ops raw_ops;

struct p2v_image *p2v_raw_create(const char *path, const struct p2v_sink_options *o)
{
  struct raw_sink *r = calloc(1, sizeof *r);
  if (!r || !(r->path = strdup(path))) {
    p2v_error("out of memory");
    free(r);
    return NULL;
  }
  r->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (r->fd == -1) {
    p2v_error("cannot create %s: %m", path);
    goto fail;
  }
  if (ftruncate(r->fd, (off_t) o->size) == -1) {
    p2v_error("cannot set the size of %s to %llu bytes: %m", path,
              (unsigned long long) o->size);
    close(r->fd);
    unlink(path);                /* we created it a moment ago */
    goto fail;
  }
  pthread_mutex_init(&r->lock, NULL);
  r->img.ops = &raw_ops;
  r->img.size = o->size;
  r->img.alignment = 1;
  return &r->img;

fail:
  free(r->path);
  free(r);
  return NULL;
}

/* Start writeback of what was just written, and wait for the oldest
 * ranges once more than WRITEBACK_MAX is under way: gigabytes of dirty
 * pages would otherwise pile up until the kernel throttles every writer
 * and finish's fsync waits for all of it.  Hints only: errors show up in
 * fsync. */
static void writeback(struct raw_sink *r, uint64_t offset, uint64_t length)
{
  sync_file_range(r->fd, (off_t) offset, (off_t) length, SYNC_FILE_RANGE_WRITE);

  uint64_t wait_offset = 0, wait_length = 0;
  pthread_mutex_lock(&r->lock);
  if (r->count == WRITEBACK_SLOTS || r->pending + length > WRITEBACK_MAX) {
    if (r->count > 0) {
      wait_offset = r->ring[r->head].offset;
      wait_length = r->ring[r->head].length;
      r->head = (r->head + 1) % WRITEBACK_SLOTS;
      r->count--;
      r->pending -= wait_length;
    }
  }
  unsigned tail = (r->head + r->count) % WRITEBACK_SLOTS;
  r->ring[tail].offset = offset;
  r->ring[tail].length = length;
  r->count++;
  r->pending += length;
  pthread_mutex_unlock(&r->lock);

  if (wait_length)
    sync_file_range(r->fd, (off_t) wait_offset, (off_t) wait_length,
                    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                    SYNC_FILE_RANGE_WAIT_AFTER);
}

static int raw_pwrite(struct p2v_image *img, const void *buf, size_t count, uint64_t offset)
{
  struct raw_sink *r = (struct raw_sink *) img;
  if (p2v_pwrite_full(r->fd, buf, count, offset) == -1) {
    p2v_error("write to %s at offset %llu: %m", r->path, (unsigned long long) offset);
    return -1;
  }
  writeback(r, offset, count);
  return 0;
}

static int raw_zero(struct p2v_image *img, uint64_t offset, uint64_t count)
{
  return 0;                      /* still a hole in the new file */
}

static int raw_finish(struct p2v_image *img)
{
  struct raw_sink *r = (struct raw_sink *) img;
  if (fsync(r->fd) == -1) {
    p2v_error("cannot flush %s to disk: %m", r->path);
    return -1;
  }
  return 0;
}

static void raw_close(struct p2v_image *img)
{
  struct raw_sink *r = (struct raw_sink *) img;
  if (!r)
    return;
  close(r->fd);
  pthread_mutex_destroy(&r->lock);
  free(r->path);
  free(r);
}

static const struct p2v_image_ops raw_ops = {
  .format = "raw",
  .pwrite = raw_pwrite,
  .zero = raw_zero,
  .finish = raw_finish,
  .close = raw_close,
};
