/* copy/: the copy engine and what it needs around it (progress, the
 * watchdog before the copy, the space estimate, the contents digest),
 * sectioned by the file that defines each symbol.  The image interface
 * (sources, sinks) is in image/image.h.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_COPY_H
#define P2V_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/image.h"

/* progress.c: a terminal bar or a JSON line stream, from the same state. */
enum progress_mode { PROGRESS_AUTO, PROGRESS_BAR, PROGRESS_JSON, PROGRESS_NONE };
struct progress;
struct progress *progress_new(enum progress_mode mode, int fd);
/* Called often (every 200 ms); prints at its own pace. */
void progress_update(struct progress *p, uint64_t done, uint64_t total);
/* The last update (done == total on success) and end of the bar's line. */
void progress_end(struct progress *p, uint64_t done, uint64_t total);
/* Before printing a message: clear the bar's line so text does not mix. */
void progress_clear_line(struct progress *p);
void progress_free(struct progress *p);

/* engine.c */
/* The one retry policy for requests to a source (reads, block status):
 * seconds to wait before trying again after `attempts` failed tries with
 * errno err, or -1: give up (a lost connection, or the last attempt). */
#define P2V_SOURCE_MAX_ATTEMPTS 4      /* first try + 3 retries */
double p2v_source_retry_delay(unsigned attempts, int err);

struct copy_options {
  unsigned connections;          /* wanted; fewer if the source has no multi-conn */
  unsigned requests;             /* chunks being read per connection */
  unsigned writers;              /* threads writing to the sink (and compressing) */
  uint32_t chunk_size;           /* rounded up to the sink's alignment */
  double stall_timeout;          /* seconds without progress; 0: never */
  struct progress *progress;     /* may be NULL */
};

struct copy_stats {
  uint64_t size;                 /* virtual size */
  uint64_t bytes_read;           /* from the source */
  uint64_t bytes_written;        /* given to the sink's pwrite */
  uint64_t holes_skipped;        /* reported as zero by the source, never read */
  uint64_t zero_detected;        /* read, found all zero, written as zero */
  double seconds;
  unsigned connections;          /* used */
  unsigned requests;             /* used per connection */
};

enum copy_result {
  COPY_OK,
  COPY_READ_ERROR,               /* reported */
  COPY_WRITE_ERROR,              /* reported by the sink */
  COPY_DISK_FULL,                /* reported by the sink */
  COPY_STALLED,                  /* reported */
  COPY_INTERRUPTED,              /* not reported: the caller says so */
  COPY_FAILED,                   /* reported (setup: memory, threads) */
};

/* Copy all of source into sink (not finished: the caller calls finish).
 * SIGINT and SIGTERM must be blocked in every thread: the engine waits
 * for them itself and stops cleanly; *signo says which one came. */
enum copy_result copy_image(struct p2v_image *source, struct p2v_image *sink,
                            const struct copy_options *o, struct copy_stats *stats,
                            int *signo);

/* watchdog.c: a deadline on the requests made before the copy (which
 * the engine's stall timeout does not cover).  If a step gets no reply
 * within seconds, one line names it ("the source at SOURCE stopped
 * answering: no reply to STEP within N s") and img is cancelled, so the
 * blocked call fails.  NULL (no deadline) when seconds is 0 or img cannot
 * be cancelled; every call takes NULL. */
struct watchdog;
struct watchdog *watchdog_start(struct p2v_image *img, unsigned seconds, const char *source);
/* The next step ("the first-sector read of export sda"): the time starts again. */
void watchdog_step(struct watchdog *w, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
/* Stop and free; true if it fired (the stall is reported). */
bool watchdog_stop(struct watchdog *w);

/* space.c, shared by the copy command and run's preflight */
/* The bytes of img not reported as reading zero (block status), counted
 * in whole units of granularity (the output's cluster; 1: exact); each
 * request is a step of w.  0, or -1 reported. */
int p2v_image_used_bytes(struct p2v_image *img, const char *label, uint64_t granularity,
                         struct watchdog *w, uint64_t *used);
/* Bytes an unprivileged writer may still use in dir's filesystem
 * (statvfs).  0, or -1 reported. */
int p2v_free_space(const char *dir, uint64_t *avail);


/* The digest of a disk's contents (digest.c): a sum, over every
 * 4-byte word, of its value times r^(word index), modulo 2^61-1, for two
 * random r.  Zero bytes add nothing, so holes and zeroes need no
 * reading; pieces may be added in any order and any size, so the reads
 * of the copy and the read-back of the output give the same digest. */
#define RUN_DIGEST_LANES 2
struct run_digest {
  uint64_t sum[RUN_DIGEST_LANES];
};

/* digest.c */
void run_digest_init(void);    /* pick the random points, once per run */
void run_digest_add(struct run_digest *d, const void *buf, size_t count, uint64_t offset);
void run_digest_merge(struct run_digest *into, const struct run_digest *from);
bool run_digest_equal(const struct run_digest *a, const struct run_digest *b);
/* Digest of an image read through img (extents skip holes); 0 or -1. */
int run_digest_image(struct p2v_image *img, struct run_digest *d);

/* summary.c */
struct summary {
  const char *source, *output, *format;
  const struct copy_stats *stats;
};
void summary_print_text(const struct summary *s);
int summary_print_json(const struct summary *s);

#endif
