/* How much an output will take and how much room there is, before the
 * first byte is written: the used bytes of a source from block status,
 * and the free space of a folder's filesystem.  Shared by copy and run's
 * preflight.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <sys/statvfs.h>

#include "copy/copy.h"
#include "log.h"

/* Block status asks for this much per request (the most the protocol's
 * 32-bit length allows, in whole MiB); the server may answer less. */
#define STEP (UINT64_C(0xfff00000))

struct used_count {
  uint64_t granularity;
  uint64_t used;
  uint64_t counted_end;          /* rounded end of the last data counted */
  uint64_t position;             /* end of the last extent seen */
};

static int count_extent(void *opaque, uint64_t offset, uint64_t length, bool hole)
{
  struct used_count *c = opaque;
  c->position = offset + length;
  if (hole || length == 0)
    return 0;
  /* Whole units of the output: a cluster with one byte of data takes a
   * cluster; a unit shared with the previous extent counts once. */
  uint64_t g = c->granularity;
  uint64_t start = offset / g * g;
  uint64_t end = offset + length;
  end = end % g ? end - end % g + g : end;
  if (start < c->counted_end)
    start = c->counted_end;
  if (end > start)
    c->used += end - start;
  if (end > c->counted_end)
    c->counted_end = end;
  return 0;
}

/* Block status over [off, off + len), retried as the copy retries it:
 * a server's passing error must not cost the space check.  0, or -1
 * reported (by the source, for the last attempt). */
static int used_extents(struct p2v_image *img, uint64_t off, uint64_t len,
                        struct used_count *c)
{
  bool was_retried = img->retried;
  int r;
  for (unsigned attempts = 1;; attempts++) {
    /* Quiet about failures we try again; loud about the last one. */
    img->retried = attempts < P2V_SOURCE_MAX_ATTEMPTS;
    r = img->ops->extents(img, off, len, count_extent, c);
    if (r == 0)
      break;
    double delay = p2v_source_retry_delay(attempts, errno);
    if (delay < 0)
      break;
    struct timespec t = { (time_t) delay, (long) ((delay - (double) (time_t) delay) * 1e9) };
    while (nanosleep(&t, &t) == -1 && errno == EINTR)
      ;
  }
  img->retried = was_retried;
  return r;
}

int p2v_image_used_bytes(struct p2v_image *img, const char *label, uint64_t granularity,
                         struct watchdog *w, uint64_t *used)
{
  struct used_count c = { .granularity = granularity ? granularity : 1 };
  for (uint64_t off = 0; off < img->size; off = c.position) {
    uint64_t len = img->size - off < STEP ? img->size - off : STEP;
    watchdog_step(w, "block status at offset %llu of %s", (unsigned long long) off, label);
    if (!img->ops->extents)
      count_extent(&c, off, len, false);
    else if (used_extents(img, off, len, &c) == -1)
      return -1;
    if (c.position <= off) {
      p2v_error("%s: block status made no progress at %llu", label, (unsigned long long) off);
      return -1;
    }
  }
  *used = c.used;
  return 0;
}

int p2v_free_space(const char *dir, uint64_t *avail)
{
  struct statvfs sv;
  if (statvfs(dir, &sv) == -1) {
    p2v_error("cannot check the free space in %s: %m", dir);
    return -1;
  }
  *avail = (uint64_t) sv.f_bavail * sv.f_frsize;
  return 0;
}
