/* Unit test for the copy engine's retry policy and its handling of huge
 * holes, with a scripted source (failures on chosen calls) and a sink in
 * memory: block status is retried as reads are, a lost connection is not,
 * the fourth failure ends the copy with one line, and a 4 TiB empty disk
 * takes few queries and chunks.  (Against real servers:
 * test-convert-faults.sh.)
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copy/copy.h"
#include "log.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

#define MiB (1024 * 1024ULL)

/* ---- the source: data in [1, 2) MiB and [5 MiB, +100 KiB), holes
 * elsewhere; or all hole.  Fails the first N extents or reads. ---- */

struct fake_source {
  struct p2v_image img;
  bool all_hole;
  int extents_failures, extents_errno;   /* fail this many calls, then answer */
  int read_failures;
  unsigned extents_calls, read_calls;    /* connection thread only */
};

static bool is_data(const struct fake_source *s, uint64_t offset)
{
  return !s->all_hole && ((offset >= 1 * MiB && offset < 2 * MiB) ||
                          (offset >= 5 * MiB && offset < 5 * MiB + 100 * 1024));
}

static unsigned char byte_at(uint64_t offset)
{
  return (unsigned char) (offset * 7 + 1);
}

static int src_pread(struct p2v_image *img, void *buf, size_t count, uint64_t offset)
{
  struct fake_source *s = (struct fake_source *) img;
  s->read_calls++;
  if (s->read_failures > 0) {
    s->read_failures--;
    errno = EIO;
    return -1;
  }
  unsigned char *p = buf;
  for (size_t i = 0; i < count; i++)
    p[i] = is_data(s, offset + i) ? byte_at(offset + i) : 0;
  return 0;
}

static int src_extents(struct p2v_image *img, uint64_t offset, uint64_t count,
                       p2v_extent_fn fn, void *opaque)
{
  struct fake_source *s = (struct fake_source *) img;
  s->extents_calls++;
  if (s->extents_failures > 0) {
    s->extents_failures--;
    errno = s->extents_errno;
    return -1;
  }
  if (s->all_hole)
    return fn(opaque, offset, count, true);
  uint64_t end = offset + count;
  while (offset < end) {
    bool data = is_data(s, offset);
    uint64_t run = 4096;                 /* the layout changes on 4 KiB boundaries */
    while (offset + run < end && is_data(s, offset + run) == data)
      run += 4096;
    if (offset + run > end)
      run = end - offset;
    if (fn(opaque, offset, run, !data) == -1)
      return -1;
    offset += run;
  }
  return 0;
}

static const struct p2v_image_ops source_ops = {
  .format = "fake", .pread = src_pread, .extents = src_extents,
};

/* ---- the sink: a buffer (NULL for huge disks), bytes covered ---- */

struct fake_sink {
  struct p2v_image img;
  unsigned char *buf;
  pthread_mutex_t lock;
  uint64_t covered, zero_calls;
};

static int sink_pwrite(struct p2v_image *img, const void *buf, size_t count, uint64_t offset)
{
  struct fake_sink *k = (struct fake_sink *) img;
  pthread_mutex_lock(&k->lock);
  if (k->buf)
    memcpy(k->buf + offset, buf, count);
  k->covered += count;
  pthread_mutex_unlock(&k->lock);
  return 0;
}

static int sink_zero(struct p2v_image *img, uint64_t offset, uint64_t count)
{
  struct fake_sink *k = (struct fake_sink *) img;
  pthread_mutex_lock(&k->lock);
  if (k->buf)
    memset(k->buf + offset, 0, count);
  k->covered += count;
  k->zero_calls++;
  pthread_mutex_unlock(&k->lock);
  return 0;
}

static const struct p2v_image_ops sink_ops = {
  .format = "fake", .pwrite = sink_pwrite, .zero = sink_zero,
};

/* ---- errors ---- */

static int errors;
static char last_error[512];

static void capture(enum p2v_log_level level, const char *message)
{
  if (level == P2V_LOG_ERROR) {
    errors++;
    snprintf(last_error, sizeof last_error, "%s", message);
  }
}

static enum copy_result run(struct fake_source *s, struct fake_sink *k, uint64_t size)
{
  s->img = (struct p2v_image) { .ops = &source_ops, .size = size, .alignment = 1 };
  *k = (struct fake_sink) { .img = { .ops = &sink_ops, .size = size, .alignment = 65536 },
                            .lock = PTHREAD_MUTEX_INITIALIZER };
  if (size <= 64 * MiB) {
    k->buf = malloc(size);
    CHECK(k->buf);
    memset(k->buf, 0xee, size);           /* anything not written shows */
  }
  struct copy_options o = { .connections = 1, .requests = 4, .writers = 2, .stall_timeout = 5 };
  struct copy_stats stats;
  int signo;
  errors = 0;
  last_error[0] = '\0';
  return copy_image(&s->img, &k->img, &o, &stats, &signo);
}

static void check_copy(struct fake_source *s, struct fake_sink *k, uint64_t size)
{
  CHECK(k->covered == size);
  for (uint64_t i = 0; i < size; i++)
    CHECK(k->buf[i] == (is_data(s, i) ? byte_at(i) : 0));
  free(k->buf);
}

int main(void)
{
  const uint64_t size = 8 * MiB;
  struct fake_source s;
  struct fake_sink k;

  p2v_log_init("test-copy-engine");
  p2v_log_set_sink(capture);

  /* Block status fails twice, then answers: retried, copied, no error. */
  s = (struct fake_source) { .extents_failures = 2, .extents_errno = EIO };
  CHECK(run(&s, &k, size) == COPY_OK);
  CHECK(errors == 0);
  CHECK(s.extents_calls == 3);
  check_copy(&s, &k, size);

  /* Block status always fails: 4 attempts, one line, a read error. */
  s = (struct fake_source) { .extents_failures = 1000, .extents_errno = EIO };
  CHECK(run(&s, &k, size) == COPY_READ_ERROR);
  CHECK(s.extents_calls == 4);
  CHECK(errors == 1);
  CHECK(strstr(last_error, "source block status error at offset 0 "));
  CHECK(strstr(last_error, "4 attempts: Input/output error"));
  free(k.buf);

  /* A lost connection (the source has said so): no retry, no second line. */
  s = (struct fake_source) { .extents_failures = 1000, .extents_errno = ENOTCONN };
  CHECK(run(&s, &k, size) == COPY_READ_ERROR);
  CHECK(s.extents_calls == 1);
  CHECK(errors == 0);
  free(k.buf);

  /* A read fails once: retried by the same policy, copied. */
  s = (struct fake_source) { .read_failures = 1 };
  CHECK(run(&s, &k, size) == COPY_OK);
  CHECK(errors == 0);
  check_copy(&s, &k, size);

  /* 4 TiB of hole: a few thousand block-status queries and zero ranges,
   * not 16 million chunks of 256 KiB. */
  const uint64_t huge = 4ULL << 40;
  s = (struct fake_source) { .all_hole = true };
  CHECK(run(&s, &k, huge) == COPY_OK);
  CHECK(errors == 0);
  CHECK(k.covered == huge);
  CHECK(s.read_calls == 0);
  CHECK(s.extents_calls <= 4096);
  CHECK(k.zero_calls <= 16384);
  printf("4 TiB hole: %u block-status queries, %llu zero ranges\n", s.extents_calls,
         (unsigned long long) k.zero_calls);
  return 0;
}
