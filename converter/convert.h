/* p2v-convert's private header, sectioned by the file that defines each
 * symbol.  The image interface (sources, sinks) is in image.h.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_CONVERT_H
#define P2V_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* Exit codes of p2v-convert (docs/p2v-convert.md lists them). */
enum {
  EXIT_OK = 0,
  EXIT_FAILURE_OTHER = 1,        /* anything not below, e.g. an output write error */
  EXIT_USAGE = 2,                /* bad command line */
  EXIT_UNREACHABLE = 3,          /* nothing serves at the source URI */
  EXIT_NO_EXPORT = 4,            /* the server has no such export */
  EXIT_TLS = 5,                  /* TLS required, refused or failed */
  EXIT_OUTPUT_EXISTS = 6,        /* OUTPUT (or OUTPUT.part) exists, no --force */
  EXIT_DISK_FULL = 7,            /* ENOSPC or EDQUOT writing the output */
  EXIT_READ_ERROR = 8,           /* the source failed a read after retries */
  EXIT_STALLED = 9,              /* no progress for --stall-timeout seconds */
  EXIT_INTERRUPTED = 130,        /* SIGINT; SIGTERM gives 143 */
};

/* copy-command.c */
int convert_copy(int argc, char **argv);

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

/* copy-engine.c */
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

/* summary.c */
struct summary {
  const char *source, *output, *format;
  const struct copy_stats *stats;
};
void summary_print_text(const struct summary *s);
int summary_print_json(const struct summary *s);


#endif
