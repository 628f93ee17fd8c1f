/* The copy engine: reads a source image and writes a sink image, skipping
 * what the source says reads as zeroes and writing data that turns out
 * all zero as zero ranges too.
 *
 * The disk is cut into chunks (256 KiB by default, a multiple of the sink's
 * alignment, ending on multiples of that size), except that a range the
 * source already said is a hole becomes one chunk of up to 1 GiB: an empty
 * 20 TiB disk is some 20000 chunks, not 80 million.  Chunks are numbered
 * and handed out in increasing order, and never more than `window` past
 * the oldest chunk not yet written, so memory is bounded (window x chunk
 * size: hole chunks need no buffer) and a sink that must lay data out in
 * order (VMDK streamOptimized) buffers at most a window.  Each chunk sits
 * in slot index % window, which the window rule keeps unique.
 *
 *   connection threads (one per NBD connection)     writer threads
 *   claim chunk -> extents (cached ahead)           take the lowest ready
 *     -> aio reads of the data ranges, several        chunk -> zero-detect
 *        chunks in flight -> chunk ready  ------->      -> sink pwrite/zero
 *
 * The calling thread is the monitor: progress, signals, stall detection.
 * One mutex guards the chunk states; counters are atomics.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "copy/copy.h"
#include "is-zero.h"
#include "log.h"

#define READ_SIZE      (256 * 1024)        /* one NBD read: small enough to show progress on slow links */
#define EXTENTS_AHEAD  (64 * 1024 * 1024)  /* one block-status query covers many chunks */
#define MAX_EXTENTS_AHEAD (2048ULL * 1024 * 1024)  /* ... up to this over long holes */
#define MAX_HOLE_CHUNK (1024U * 1024 * 1024)  /* one chunk for a long hole, at most */
#define MAX_ATTEMPTS   P2V_SOURCE_MAX_ATTEMPTS
#define MAX_WINDOW_BYTES (160 * 1024 * 1024)
#define TICK_MS        200

enum run_state { RUN_WAITING, RUN_READING, RUN_RETRY, RUN_DONE };
enum chunk_state { CHUNK_FREE, CHUNK_PLANNING, CHUNK_READING, CHUNK_READY, CHUNK_WRITING, CHUNK_DONE };

struct chunk;
struct conn;

/* A piece of a chunk: a range to leave zero, or one read. */
struct run {
  uint64_t offset;
  uint32_t length;
  bool hole;
  enum run_state state;
  unsigned attempts;
  double started;                /* current attempt (monotonic seconds) */
  double retry_at;
  struct chunk *chunk;
  struct run *next_retry;
};

struct chunk {
  uint64_t index, offset;
  uint32_t length;               /* at most chunk_size; MAX_HOLE_CHUNK for a hole */
  enum chunk_state state;
  unsigned pending;              /* reads not finished, +1 while issuing */
  struct conn *conn;
  struct run *runs;
  size_t nruns, runs_cap;
  char *buf;                     /* chunk_size bytes, data at offset - chunk offset */
  double started;
};

struct extent { uint64_t offset, length; bool hole; };

struct conn {
  struct engine *e;
  unsigned id;                   /* 1-based, for messages */
  struct p2v_image *src;
  pthread_t thread;
  bool running;
  /* Touched only by this thread (callbacks run in it too). */
  unsigned chunks_reading, reads_in_flight;
  struct run *retries;
  struct extent *ext;            /* cached extents covering [ext_start, ext_end) */
  size_t next, ext_cap;
  uint64_t ext_start, ext_end;
  uint64_t ahead;                /* length of the next block-status query */
  bool cache_failed;             /* cache_extent ran out of memory (reported) */
  /* A block-status query in progress, for the stall message (e->lock). */
  bool querying;
  uint64_t q_offset, q_length;
  double q_started;
};

struct writer {
  struct engine *e;
  pthread_t thread;
  bool running;
  struct chunk *current;         /* being written (e->lock) */
};

struct engine {
  pthread_mutex_t lock;
  pthread_cond_t window_cond;    /* a slot was freed, or stop */
  pthread_cond_t ready_cond;     /* a chunk is ready to write, or stop */
  struct p2v_image *sink;
  uint64_t size;
  uint32_t chunk_size, align, zero_block;
  unsigned requests, window;
  struct chunk *slots;
  uint64_t next_chunk;           /* index of the next chunk to hand out */
  uint64_t next_offset;          /* where it starts: all handed out at size */
  uint64_t oldest;               /* lowest chunk index not written */
  struct conn *conns;
  unsigned nconns;
  struct writer *writers;
  unsigned nwriters;
  bool stop;
  enum copy_result result;
  double stall_timeout;
  /* Atomics. */
  uint64_t last_progress_ns, done_bytes;
  uint64_t bytes_read, bytes_written, holes_skipped, zero_detected;
};

static bool stopping(struct engine *e)
{
  return __atomic_load_n(&e->stop, __ATOMIC_ACQUIRE);
}

/* Seconds from then to now, 0 when then is later: another thread may
 * stamp a time after this one read the clock. */
static double seconds_between(double then, double now)
{
  return now > then ? now - then : 0;
}

static void progressed(struct engine *e)
{
  __atomic_store_n(&e->last_progress_ns, p2v_now_ns(), __ATOMIC_RELAXED);
}

/* Seconds since the last progress.  The stamp is read before the clock,
 * and a stamp newer than the clock reading (a worker progressed in
 * between) is no idle time: never a difference that wraps. */
static double idle_seconds(struct engine *e)
{
  uint64_t last = __atomic_load_n(&e->last_progress_ns, __ATOMIC_ACQUIRE);
  uint64_t now = p2v_now_ns();
  return now > last ? (double) (now - last) / 1e9 : 0;
}

/* All chunks handed out (e->lock). */
static bool all_claimed(struct engine *e)
{
  return e->next_offset >= e->size;
}

/* All chunks written (e->lock). */
static bool all_written(struct engine *e)
{
  return all_claimed(e) && e->oldest == e->next_chunk;
}

/* One retry policy for everything asked of the source (reads and block
 * status): an error the server answers is tried again after 0.5, 1 and
 * 2 s; a lost connection (ENOTCONN: the source has said so) is not, nor
 * is anything once the copy stops.  True with *backoff set: try again. */
static bool retry_after(struct engine *e, unsigned attempts, int err, double *backoff)
{
  if (stopping(e))
    return false;
  *backoff = p2v_source_retry_delay(attempts, err);
  return *backoff >= 0;
}

double p2v_source_retry_delay(unsigned attempts, int err)
{
  if (err == ENOTCONN || attempts == 0 || attempts >= MAX_ATTEMPTS)
    return -1;
  return 0.5 * (double) (1u << (attempts - 1));
}

/* Stop everything.  True for the first caller only: it alone reports, so
 * one failure gives one line.  Call with e->lock held. */
static bool fail_locked(struct engine *e, enum copy_result result)
{
  if (e->stop)
    return false;
  __atomic_store_n(&e->stop, true, __ATOMIC_RELEASE);
  e->result = result;
  pthread_cond_broadcast(&e->window_cond);
  pthread_cond_broadcast(&e->ready_cond);
  return true;
}

static bool fail(struct engine *e, enum copy_result result)
{
  pthread_mutex_lock(&e->lock);
  bool first = fail_locked(e, result);
  pthread_mutex_unlock(&e->lock);
  return first;
}

static struct chunk *slot(struct engine *e, uint64_t index)
{
  return &e->slots[index % e->window];
}

/* ---- connection threads ---- */

static int add_run(struct chunk *k, uint64_t offset, uint64_t length, bool hole)
{
  if (k->nruns > 0) {
    struct run *last = &k->runs[k->nruns - 1];
    if (hole && last->hole && last->offset + last->length == offset) {
      last->length += (uint32_t) length;
      return 0;
    }
  }
  if (k->nruns == k->runs_cap) {
    size_t cap = k->runs_cap ? k->runs_cap * 2 : 16;
    struct run *runs = realloc(k->runs, cap * sizeof *runs);
    if (!runs) {
      p2v_error("out of memory");
      return -1;
    }
    k->runs = runs;
    k->runs_cap = cap;
  }
  k->runs[k->nruns++] = (struct run) {
    .offset = offset, .length = (uint32_t) length, .hole = hole, .chunk = k,
  };
  return 0;
}

static int cache_extent(void *opaque, uint64_t offset, uint64_t length, bool hole)
{
  struct conn *c = opaque;
  if (c->next > 0) {
    struct extent *last = &c->ext[c->next - 1];
    if (last->hole == hole && last->offset + last->length == offset) {
      last->length += length;
      c->ext_end = offset + length;
      return 0;
    }
  }
  if (c->next == c->ext_cap) {
    size_t cap = c->ext_cap ? c->ext_cap * 2 : 64;
    struct extent *ext = realloc(c->ext, cap * sizeof *ext);
    if (!ext) {
      p2v_error("out of memory");
      c->cache_failed = true;
      return -1;
    }
    c->ext = ext;
    c->ext_cap = cap;
  }
  c->ext[c->next++] = (struct extent) { offset, length, hole };
  c->ext_end = offset + length;
  return 0;
}

/* The cached extent holding offset, which the cache covers. */
static size_t find_extent(struct conn *c, uint64_t offset)
{
  size_t lo = 0, hi = c->next;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (c->ext[mid].offset <= offset)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

/* Forget the extents that end at or before offset, which the cache
 * covers: chunks only move forward, and the cache stays short. */
static void drop_extents_before(struct conn *c, uint64_t offset)
{
  size_t i = find_extent(c, offset);
  if (i == 0)
    return;
  memmove(c->ext, c->ext + i, (c->next - i) * sizeof *c->ext);
  c->next -= i;
  c->ext_start = c->ext[0].offset;
}

/* Wait until the monotonic time `until` (or the copy stops), taking in
 * the replies of reads in flight meanwhile.  0, or -1 when the
 * connection is lost (reported). */
static int wait_until(struct conn *c, double until)
{
  for (;;) {
    double left = until - p2v_now_s();
    if (left <= 0 || stopping(c->e))
      return 0;
    int ms = left * 1000 < TICK_MS ? (int) (left * 1000) + 1 : TICK_MS;
    if (c->reads_in_flight > 0 && c->src->ops->poll) {
      if (c->src->ops->poll(c->src, ms) == -1)
        return -1;
    } else
      usleep((useconds_t) ms * 1000);
  }
}

/* Ask the source for the extents of [start, start+length) into the
 * cache, retried as reads are.  0, or -1 reported (or the copy stops). */
static int query_extents(struct conn *c, uint64_t start, uint64_t length)
{
  struct engine *e = c->e;
  for (unsigned attempts = 1;; attempts++) {
    size_t cached = c->next;
    uint64_t cached_end = c->ext_end;
    pthread_mutex_lock(&e->lock);
    c->querying = true;
    c->q_offset = start;
    c->q_length = length;
    c->q_started = p2v_now_s();
    pthread_mutex_unlock(&e->lock);
    errno = 0;
    int r = c->src->ops->extents(c->src, start, length, cache_extent, c);
    int err = errno ? errno : EIO;
    pthread_mutex_lock(&e->lock);
    c->querying = false;
    pthread_mutex_unlock(&e->lock);
    if (r == 0)
      return 0;
    if (c->cache_failed)
      return -1;
    /* Forget a partial answer: the retry asks for all of it again. */
    c->next = cached;
    c->ext_end = cached_end;
    if (cached > 0)
      c->ext[cached - 1].length = cached_end - c->ext[cached - 1].offset;

    double backoff;
    if (!retry_after(e, attempts, err, &backoff)) {
      if (err != ENOTCONN && !stopping(e) && fail(e, COPY_READ_ERROR))
        p2v_error("source block status error at offset %llu length %llu (connection %u), "
                  "%u attempts: %s", (unsigned long long) start, (unsigned long long) length,
                  c->id, attempts, strerror(err));
      return -1;
    }
    p2v_info("block status at offset %llu length %llu on connection %u failed: %s; "
             "retrying in %.1f s", (unsigned long long) start, (unsigned long long) length,
             c->id, strerror(err), backoff);
    progressed(e);               /* the source answered: not a stall */
    if (wait_until(c, p2v_now_s() + backoff) == -1 || stopping(e))
      return -1;
  }
}

/* Make the cache cover [offset, end), asking the source ahead: further
 * ahead while it answers nothing but hole, so a huge empty disk takes
 * few queries. */
static int fill_extents(struct conn *c, uint64_t offset, uint64_t end)
{
  struct engine *e = c->e;
  if (offset < c->ext_start || offset >= c->ext_end) {
    c->next = 0;
    c->ext_start = c->ext_end = offset;
  } else
    drop_extents_before(c, offset);
  while (c->ext_end < end) {
    uint64_t start = c->ext_end;
    uint64_t length = e->size - start < c->ahead ? e->size - start : c->ahead;
    if (!c->src->ops->extents) {
      if (cache_extent(c, start, length, false) == -1)
        return -1;
      continue;
    }
    if (query_extents(c, start, length) == -1)
      return -1;
    if (c->ext_end <= start) {
      if (fail(e, COPY_READ_ERROR))
        p2v_error("the source answered no extents at offset %llu", (unsigned long long) start);
      return -1;
    }
    struct extent *last = &c->ext[c->next - 1];
    bool all_hole = last->hole && last->offset <= start && c->ext_end >= start + length;
    if (!all_hole)
      c->ahead = EXTENTS_AHEAD;
    else if (c->ahead < MAX_EXTENTS_AHEAD)
      c->ahead *= 2;
    progressed(e);               /* an answer, however large the hole */
  }
  return 0;
}

static uint64_t round_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }
static uint64_t round_down(uint64_t x, uint64_t a) { return x / a * a; }

/* Cut chunk k into hole runs and reads.  A hole shorter than the sink's
 * alignment cannot be written as zero on its own, so its block is read. */
static int plan_chunk(struct conn *c, struct chunk *k)
{
  struct engine *e = c->e;
  uint64_t end = k->offset + k->length;
  uint64_t data_start = k->offset;   /* start of data not yet emitted */

  if (fill_extents(c, k->offset, end) == -1)
    return -1;
  k->nruns = 0;

  /* Emit [data_start, upto) as reads of at most READ_SIZE, split on
   * absolute READ_SIZE boundaries. */
#define EMIT_DATA(upto) do {                                             \
    while (data_start < (upto)) {                                        \
      uint64_t stop_at = round_down(data_start, READ_SIZE) + READ_SIZE;  \
      if (stop_at > (upto)) stop_at = (upto);                            \
      if (add_run(k, data_start, stop_at - data_start, false) == -1)     \
        return -1;                                                       \
      data_start = stop_at;                                              \
    }                                                                    \
  } while (0)

  for (size_t i = find_extent(c, k->offset); i < c->next && c->ext[i].offset < end; i++) {
    struct extent *x = &c->ext[i];
    uint64_t s = x->offset > k->offset ? x->offset : k->offset;
    uint64_t t = x->offset + x->length < end ? x->offset + x->length : end;
    if (s >= t || !x->hole)
      continue;
    uint64_t hs = round_up(s, e->align);
    uint64_t ht = t == e->size ? t : round_down(t, e->align);
    if (hs >= ht)
      continue;
    EMIT_DATA(hs);
    if (add_run(k, hs, ht - hs, true) == -1)
      return -1;
    data_start = ht;
  }
  EMIT_DATA(end);
#undef EMIT_DATA
  return 0;
}

static void chunk_read(struct chunk *k)
{
  /* Once READY a writer may finish the chunk and another connection
   * reuse its slot: k is not ours after the unlock. */
  struct conn *c = k->conn;
  c->chunks_reading--;
  pthread_mutex_lock(&c->e->lock);
  k->state = CHUNK_READY;
  pthread_cond_signal(&c->e->ready_cond);
  pthread_mutex_unlock(&c->e->lock);
}

static void read_done(void *opaque, int err);

static int issue_read(struct conn *c, struct run *r)
{
  struct chunk *k = r->chunk;
  char *buf = k->buf + (r->offset - k->offset);

  r->attempts++;
  pthread_mutex_lock(&c->e->lock);     /* the monitor looks at reads in flight */
  r->started = p2v_now_s();
  r->state = RUN_READING;
  pthread_mutex_unlock(&c->e->lock);
  c->reads_in_flight++;
  if (c->src->ops->aio_pread) {
    if (c->src->ops->aio_pread(c->src, buf, r->length, r->offset, read_done, r) == -1) {
      c->reads_in_flight--;
      pthread_mutex_lock(&c->e->lock);
      r->state = RUN_DONE;
      pthread_mutex_unlock(&c->e->lock);
      return -1;
    }
    return 0;
  }
  int err = 0;
  if (c->src->ops->pread(c->src, buf, r->length, r->offset) == -1)
    err = errno ? errno : EIO;
  read_done(r, err);
  return 0;
}

static void read_done(void *opaque, int err)
{
  struct run *r = opaque;
  struct chunk *k = r->chunk;
  struct conn *c = k->conn;
  struct engine *e = c->e;

  c->reads_in_flight--;
  double backoff;
  if (err && !stopping(e)) {
    if (retry_after(e, r->attempts, err, &backoff)) {
      p2v_info("read at offset %llu length %u on connection %u failed: %s; retrying in %.1f s",
               (unsigned long long) r->offset, r->length, c->id, strerror(err), backoff);
      pthread_mutex_lock(&e->lock);
      r->state = RUN_RETRY;
      pthread_mutex_unlock(&e->lock);
      r->retry_at = p2v_now_s() + backoff;
      r->next_retry = c->retries;
      c->retries = r;
      progressed(e);             /* the source answered: not a stall */
      return;
    }
    if (err == ENOTCONN)
      fail(e, COPY_READ_ERROR);  /* the source said it went away */
    else if (fail(e, COPY_READ_ERROR))
      p2v_error("source read error at offset %llu length %u (connection %u), %u attempts: %s",
                (unsigned long long) r->offset, r->length, c->id, r->attempts, strerror(err));
  }
  pthread_mutex_lock(&e->lock);
  r->state = RUN_DONE;
  pthread_mutex_unlock(&e->lock);
  if (!err) {
    __atomic_fetch_add(&e->bytes_read, r->length, __ATOMIC_RELAXED);
    progressed(e);
  }
  if (--k->pending == 0 && !stopping(e))
    chunk_read(k);
}

static int start_chunk(struct conn *c, struct chunk *k)
{
  if (plan_chunk(c, k) == -1)
    return -1;
  pthread_mutex_lock(&c->e->lock);
  k->state = CHUNK_READING;      /* runs planned: the monitor may look */
  pthread_mutex_unlock(&c->e->lock);
  c->chunks_reading++;
  k->pending = 1;                /* guard: replies may arrive while issuing */
  for (size_t i = 0; i < k->nruns; i++) {
    if (k->runs[i].hole)
      continue;
    k->pending++;
    if (issue_read(c, &k->runs[i]) == -1)
      return -1;
  }
  if (--k->pending == 0)
    chunk_read(k);
  return 0;
}

/* Where the chunk starting at offset ends: at the next multiple of the
 * chunk size, or, when c's cache shows a hole there, at the hole's end
 * (aligned, at most MAX_HOLE_CHUNK on).  The cache is c's own; called by
 * c with e->lock held. */
static uint64_t chunk_end(struct engine *e, struct conn *c, uint64_t offset)
{
  uint64_t end = round_down(offset, e->chunk_size) + e->chunk_size;
  if (end > e->size)
    end = e->size;
  if (offset < c->ext_start || offset >= c->ext_end)
    return end;
  struct extent *x = &c->ext[find_extent(c, offset)];
  if (!x->hole)
    return end;
  uint64_t hole_end = x->offset + x->length;
  if (hole_end - offset > MAX_HOLE_CHUNK)
    hole_end = offset + MAX_HOLE_CHUNK;
  if (hole_end != e->size)
    hole_end = round_down(hole_end, e->align);
  return hole_end > end ? hole_end : end;
}

/* The next chunk for connection c, or NULL when none may start now. */
static struct chunk *claim(struct engine *e, struct conn *c)
{
  struct chunk *k = NULL;
  pthread_mutex_lock(&e->lock);
  if (!e->stop && !all_claimed(e) && e->next_chunk < e->oldest + e->window) {
    uint64_t i = e->next_chunk++;
    k = slot(e, i);
    k->index = i;
    k->offset = e->next_offset;
    e->next_offset = chunk_end(e, c, k->offset);
    k->length = (uint32_t) (e->next_offset - k->offset);
    k->state = CHUNK_PLANNING;
    k->conn = c;
    k->started = p2v_now_s();
  }
  pthread_mutex_unlock(&e->lock);
  return k;
}

static int reissue_due_retries(struct conn *c, double *next_due)
{
  double now = p2v_now_s();
  struct run **p = &c->retries;
  *next_due = 0;
  while (*p) {
    struct run *r = *p;
    if (r->retry_at <= now) {
      *p = r->next_retry;
      if (issue_read(c, r) == -1)
        return -1;
      continue;
    }
    if (*next_due == 0 || r->retry_at < *next_due)
      *next_due = r->retry_at;
    p = &r->next_retry;
  }
  return 0;
}

static void *conn_main(void *arg)
{
  struct conn *c = arg;
  struct engine *e = c->e;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);

  while (!stopping(e)) {
    double next_due;
    if (reissue_due_retries(c, &next_due) == -1)
      goto failed;
    while (c->chunks_reading < e->requests) {
      struct chunk *k = claim(e, c);
      if (!k)
        break;
      if (start_chunk(c, k) == -1)
        goto failed;
    }
    if (c->chunks_reading == 0) {
      pthread_mutex_lock(&e->lock);
      bool finished = all_claimed(e);
      if (!finished && !e->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&e->window_cond, &e->lock, &ts);
      }
      pthread_mutex_unlock(&e->lock);
      if (finished)
        break;
      continue;
    }
    int timeout = TICK_MS;
    if (next_due > 0) {
      int until = (int) ((next_due - p2v_now_s()) * 1000) + 1;
      if (until < timeout)
        timeout = until < 1 ? 1 : until;
    }
    if (c->reads_in_flight > 0 && c->src->ops->poll) {
      if (c->src->ops->poll(c->src, timeout) == -1)
        goto failed;
    } else
      usleep((useconds_t) timeout * 1000);
  }
  goto out;

failed:
  fail(e, COPY_READ_ERROR);      /* the source reported it */
out:
  /* Replies may still be due into the chunk buffers: end the connection
   * and let libnbd fail them (it calls read_done with ENOTCONN). */
  if (c->reads_in_flight > 0 && c->src->ops->poll) {
    if (c->src->ops->cancel)
      c->src->ops->cancel(c->src);
    while (c->reads_in_flight > 0 && c->src->ops->poll(c->src, TICK_MS) != -1)
      ;
  }
  pthread_mutex_lock(&e->lock);
  c->running = false;
  pthread_mutex_unlock(&e->lock);
  return NULL;
}

/* ---- writer threads ---- */

struct pending_range {           /* consecutive output of one kind */
  bool active, zero;
  uint64_t start, length;
};

static int flush_range(struct engine *e, struct chunk *k, struct pending_range *p)
{
  if (!p->active)
    return 0;
  p->active = false;
  if (p->zero)
    return e->sink->ops->zero(e->sink, p->start, p->length);
  if (e->sink->ops->pwrite(e->sink, k->buf + (p->start - k->offset), p->length, p->start) == -1)
    return -1;
  __atomic_fetch_add(&e->bytes_written, p->length, __ATOMIC_RELAXED);
  return 0;
}

static int add_range(struct engine *e, struct chunk *k, struct pending_range *p,
                     bool zero, uint64_t start, uint64_t length)
{
  if (p->active && p->zero == zero && p->start + p->length == start) {
    p->length += length;
    return 0;
  }
  if (flush_range(e, k, p) == -1)
    return -1;
  *p = (struct pending_range) { true, zero, start, length };
  return 0;
}

static int write_chunk(struct engine *e, struct chunk *k)
{
  struct pending_range p = { 0 };
  uint64_t holes = 0, zeroes = 0;

  for (size_t i = 0; i < k->nruns; i++) {
    struct run *r = &k->runs[i];
    uint64_t end = r->offset + r->length;
    if (r->hole) {
      holes += r->length;
      if (add_range(e, k, &p, true, r->offset, r->length) == -1)
        return -1;
      continue;
    }
    /* Zero-detect in blocks of zero_block on absolute boundaries, so the
     * zero ranges given to the sink stay aligned. */
    for (uint64_t off = r->offset; off < end;) {
      uint64_t stop_at = round_down(off, e->zero_block) + e->zero_block;
      if (stop_at > end)
        stop_at = end;
      bool zero = p2v_is_zero(k->buf + (off - k->offset), stop_at - off);
      if (zero)
        zeroes += stop_at - off;
      if (add_range(e, k, &p, zero, off, stop_at - off) == -1)
        return -1;
      off = stop_at;
    }
  }
  if (flush_range(e, k, &p) == -1)
    return -1;
  __atomic_fetch_add(&e->holes_skipped, holes, __ATOMIC_RELAXED);
  __atomic_fetch_add(&e->zero_detected, zeroes, __ATOMIC_RELAXED);
  return 0;
}

static struct chunk *lowest_ready(struct engine *e)
{
  for (uint64_t i = e->oldest; i < e->next_chunk; i++) {
    struct chunk *k = slot(e, i);
    if (k->state == CHUNK_READY)
      return k;
  }
  return NULL;
}

static void *writer_main(void *arg)
{
  struct writer *w = arg;
  struct engine *e = w->e;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);

  pthread_mutex_lock(&e->lock);
  for (;;) {
    struct chunk *k = NULL;
    while (!e->stop && !all_written(e) && !(k = lowest_ready(e)))
      pthread_cond_wait(&e->ready_cond, &e->lock);
    if (!k)
      break;
    k->state = CHUNK_WRITING;
    k->started = p2v_now_s();
    w->current = k;
    pthread_mutex_unlock(&e->lock);

    errno = 0;
    int r = write_chunk(e, k);
    int err = errno;

    pthread_mutex_lock(&e->lock);
    w->current = NULL;
    if (r == -1) {
      /* The sink reported it; errno tells disk full from the rest. */
      fail_locked(e, err == ENOSPC || err == EDQUOT ? COPY_DISK_FULL : COPY_WRITE_ERROR);
      break;
    }
    k->state = CHUNK_DONE;
    __atomic_fetch_add(&e->done_bytes, k->length, __ATOMIC_RELAXED);
    progressed(e);
    while (e->oldest < e->next_chunk && slot(e, e->oldest)->state == CHUNK_DONE) {
      slot(e, e->oldest)->state = CHUNK_FREE;
      e->oldest++;
    }
    if (all_written(e))
      pthread_cond_broadcast(&e->ready_cond);   /* all written: wake the others to leave */
    pthread_cond_broadcast(&e->window_cond);
  }
  w->running = false;
  pthread_mutex_unlock(&e->lock);
  return NULL;
}

/* ---- the monitor (calling thread) ---- */

/* Say which request has waited longest.  Called with e->lock held. */
static void report_stall(struct engine *e, double idle)
{
  double oldest = 0, now = p2v_now_s();
  char what[256] = "nothing in flight";

  for (unsigned i = 0; i < e->nconns; i++) {
    struct conn *c = &e->conns[i];
    if (c->querying && (oldest == 0 || c->q_started < oldest)) {
      oldest = c->q_started;
      snprintf(what, sizeof what, "block status of %llu bytes at offset %llu on connection %u",
               (unsigned long long) c->q_length, (unsigned long long) c->q_offset, c->id);
    }
  }
  for (uint64_t i = e->oldest; i < e->next_chunk; i++) {
    struct chunk *k = slot(e, i);
    if (k->state != CHUNK_READING)
      continue;
    for (size_t j = 0; j < k->nruns; j++) {
      struct run *r = &k->runs[j];
      if (r->state == RUN_READING && (oldest == 0 || r->started < oldest)) {
        oldest = r->started;
        snprintf(what, sizeof what, "read of %u bytes at offset %llu on connection %u",
                 r->length, (unsigned long long) r->offset, k->conn->id);
      }
    }
  }
  for (unsigned i = 0; i < e->nwriters; i++) {
    struct chunk *k = e->writers[i].current;
    if (k && (oldest == 0 || k->started < oldest)) {
      oldest = k->started;
      snprintf(what, sizeof what, "write of %u bytes at offset %llu to the output",
               k->length, (unsigned long long) k->offset);
    }
  }
  p2v_error("copy stalled: no progress for %.0f s; waiting %.0f s for %s "
            "(raise --stall-timeout for slow links)",
            idle, oldest ? seconds_between(oldest, now) : idle, what);
}

static void cancel_sources(struct engine *e)
{
  for (unsigned i = 0; i < e->nconns; i++)
    if (e->conns[i].src->ops->cancel)
      e->conns[i].src->ops->cancel(e->conns[i].src);
}

static bool threads_running(struct engine *e)
{
  pthread_mutex_lock(&e->lock);
  bool any = false;
  for (unsigned i = 0; i < e->nconns; i++)
    any |= e->conns[i].running;
  for (unsigned i = 0; i < e->nwriters; i++)
    any |= e->writers[i].running;
  pthread_mutex_unlock(&e->lock);
  return any;
}

static void monitor(struct engine *e, const struct copy_options *o, int *signo)
{
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  bool cancelled = false;

  while (threads_running(e)) {
    /* Short: the end of the copy is noticed within a tick. */
    struct timespec tick = { 0, 25 * 1000000L };
    int sig = sigtimedwait(&stop_signals, NULL, &tick);
    if (sig > 0) {
      *signo = sig;
      if (fail(e, COPY_INTERRUPTED))
        p2v_error("copy interrupted by %s; the partial output is removed",
                  sig == SIGINT ? "SIGINT (Ctrl-C)" : "SIGTERM");
    }
    if (o->progress)
      progress_update(o->progress, __atomic_load_n(&e->done_bytes, __ATOMIC_RELAXED), e->size);
    double idle = idle_seconds(e);
    if (!stopping(e) && e->stall_timeout > 0 && idle > e->stall_timeout) {
      pthread_mutex_lock(&e->lock);
      if (fail_locked(e, COPY_STALLED))
        report_stall(e, idle);
      pthread_mutex_unlock(&e->lock);
    }
    /* Wake threads blocked in the source (a stalled server, say). */
    if (stopping(e) && !cancelled) {
      cancel_sources(e);
      cancelled = true;
    }
  }
}

/* ---- setup ---- */

static int open_connections(struct engine *e, struct p2v_image *source, unsigned wanted)
{
  unsigned n = wanted;
  if (n > 1 && !(source->can_multi_conn && source->ops->reopen)) {
    p2v_info("the source does not allow multi-conn: using one connection");
    n = 1;
  }
  e->conns = calloc(n, sizeof *e->conns);
  if (!e->conns) {
    p2v_error("out of memory");
    return -1;
  }
  e->conns[0].src = source;
  e->nconns = 1;
  for (unsigned i = 1; i < n; i++) {
    struct p2v_image *img = source->ops->reopen(source);
    if (!img)
      return -1;
    e->conns[e->nconns++].src = img;
  }
  for (unsigned i = 0; i < e->nconns; i++) {
    e->conns[i].e = e;
    e->conns[i].id = i + 1;
    e->conns[i].ahead = EXTENTS_AHEAD;
    e->conns[i].src->retried = true;   /* retry_after() decides, and reports */
  }
  return 0;
}

static void engine_release(struct engine *e, bool source_retried)
{
  if (e->nconns > 0)
    e->conns[0].src->retried = source_retried;
  for (unsigned i = 1; i < e->nconns; i++)   /* conns[0] is the caller's */
    e->conns[i].src->ops->close(e->conns[i].src);
  for (unsigned i = 0; i < e->nconns; i++)
    free(e->conns[i].ext);
  free(e->conns);
  if (e->slots)
    for (unsigned i = 0; i < e->window; i++) {
      free(e->slots[i].buf);
      free(e->slots[i].runs);
    }
  free(e->slots);
  free(e->writers);
  pthread_mutex_destroy(&e->lock);
  pthread_cond_destroy(&e->window_cond);
  pthread_cond_destroy(&e->ready_cond);
}

enum copy_result copy_image(struct p2v_image *source, struct p2v_image *sink,
                            const struct copy_options *o, struct copy_stats *stats,
                            int *signo)
{
  struct engine e = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .window_cond = PTHREAD_COND_INITIALIZER,
    .ready_cond = PTHREAD_COND_INITIALIZER,
    .sink = sink,
    .size = source->size,
    .stall_timeout = o->stall_timeout,
    .result = COPY_OK,
  };
  double start = p2v_now_s();
  bool source_retried = source->retried;   /* the caller's, given back at the end */
  *signo = 0;

  e.align = sink->alignment ? sink->alignment : 1;
  e.chunk_size = (uint32_t) round_up(o->chunk_size ? o->chunk_size : 256 * 1024, e.align);
  e.zero_block = e.align > 4096 ? e.align : 4096;
  if (e.zero_block % e.align)
    e.zero_block = e.align;

  enum copy_result result = COPY_FAILED;
  if (open_connections(&e, source, o->connections ? o->connections : 1) == -1)
    goto out;

  /* Bound memory: connections x requests chunks being read, plus one
   * being written per writer, each chunk_size bytes. */
  e.nwriters = o->writers ? o->writers : 1;
  e.requests = o->requests ? o->requests : 1;
  uint64_t max_slots = MAX_WINDOW_BYTES / e.chunk_size;
  if (max_slots < 2)
    max_slots = 2;
  if ((uint64_t) e.nconns * e.requests + e.nwriters > max_slots) {
    uint64_t r = (max_slots - e.nwriters) / e.nconns;
    e.requests = r ? (unsigned) r : 1;
    p2v_info("%u requests per connection to keep memory bounded", e.requests);
  }
  e.window = e.nconns * e.requests + e.nwriters;

  e.slots = calloc(e.window, sizeof *e.slots);
  e.writers = calloc(e.nwriters, sizeof *e.writers);
  if (!e.slots || !e.writers) {
    p2v_error("out of memory");
    goto out;
  }
  for (unsigned i = 0; i < e.window; i++)
    if (!(e.slots[i].buf = malloc(e.chunk_size))) {
      p2v_error("out of memory for %u buffers of %u bytes", e.window, e.chunk_size);
      goto out;
    }

  progressed(&e);
  unsigned started_conns = 0, started_writers = 0;
  for (unsigned i = 0; i < e.nconns; i++) {
    e.conns[i].running = true;
    if ((errno = pthread_create(&e.conns[i].thread, NULL, conn_main, &e.conns[i])) != 0) {
      e.conns[i].running = false;
      if (fail(&e, COPY_FAILED))
        p2v_error("cannot start a thread: %m");
      break;
    }
    started_conns++;
  }
  for (unsigned i = 0; i < e.nwriters && !stopping(&e); i++) {
    e.writers[i].e = &e;
    e.writers[i].running = true;
    if ((errno = pthread_create(&e.writers[i].thread, NULL, writer_main, &e.writers[i])) != 0) {
      e.writers[i].running = false;
      if (fail(&e, COPY_FAILED))
        p2v_error("cannot start a thread: %m");
      break;
    }
    started_writers++;
  }

  monitor(&e, o, signo);
  for (unsigned i = 0; i < started_conns; i++)
    pthread_join(e.conns[i].thread, NULL);
  for (unsigned i = 0; i < started_writers; i++)
    pthread_join(e.writers[i].thread, NULL);

  result = e.stop ? e.result : COPY_OK;
  if (result == COPY_OK && !all_written(&e)) {
    p2v_error("internal error: copy ended with %llu of %llu bytes written",
              (unsigned long long) e.done_bytes, (unsigned long long) e.size);
    result = COPY_FAILED;
  }

out:
  *stats = (struct copy_stats) {
    .size = e.size,
    .bytes_read = e.bytes_read,
    .bytes_written = e.bytes_written,
    .holes_skipped = e.holes_skipped,
    .zero_detected = e.zero_detected,
    .seconds = seconds_between(start, p2v_now_s()),
    .connections = e.nconns,
    .requests = e.requests,
  };
  engine_release(&e, source_retried);
  return result;
}
