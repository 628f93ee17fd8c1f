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
  /* run (and copy's free-space check, 10) */
  EXIT_PREFLIGHT = 10,           /* preflight failed: space, format limits, survey, an unreadable export */
  EXIT_NO_SPACE = EXIT_PREFLIGHT, /* copy: too little free space for the output, found before writing */
  EXIT_NO_OS = 11,               /* no operating system found, or one that cannot be converted */
  EXIT_CONVERT = 12,             /* inspection or conversion of the guest failed */
  EXIT_VERIFY = 13,              /* an output differs from its converted overlay */
  EXIT_BOOT_TEST = 14,           /* the boot test ran and did not reach the login prompt */
  EXIT_INTERRUPTED = 130,        /* SIGINT; SIGTERM gives 143 */
};

/* copy-command.c */
int convert_copy(int argc, char **argv);
/* copy --listen and run --listen: the source's disks arrive on address,
 * which off loopback needs TLS (a PSK) or --insecure (docs/dial-in.md).
 * psk_option names the command's PSK option.  0, or -1 reported. */
int convert_check_listen_tls(const char *address, bool tls, bool insecure,
                             const char *psk_option);
/* An option's number from min to max into *out; -1 with one error line. */
int convert_parse_unsigned(const char *option, const char *arg, unsigned min, unsigned max,
                           unsigned *out);
/* --cluster-size: "65536", "64K", "2M"; a power of two from 512 to 2M.
 * 0, or -1 with one error. */
int convert_parse_cluster_size(const char *arg, uint32_t *out);

/* nbd-source.c: one source image over a libnbd handle, whatever made it. */
struct nbd_handle;
/* Another handle on the same export (for reopen): name is the URI or
 * export name given to nbd_source_new.  NULL with the error reported. */
typedef struct nbd_handle *(*nbd_reconnect_fn)(void *opaque, const char *name,
                                               enum p2v_open_failure *why);
/* Wrap a handle that is in transmission (base:allocation asked for) as a
 * source image; takes nbd (closed on failure).  reconnect NULL: no
 * reopen.  NULL with the error reported. */
struct p2v_image *nbd_source_new(struct nbd_handle *nbd, const char *name,
                                 nbd_reconnect_fn reconnect, void *opaque);
/* libnbd's last error without its "nbd_connect_uri: " style prefix. */
const char *p2v_nbd_message(void);
/* The deadline of every connect and handshake (--connect-timeout), set
 * once before the first: 0 waits for ever (the default). */
void p2v_nbd_set_connect_timeout(unsigned seconds);
/* The monotonic time a handshake starting now must end by; 0: none. */
double p2v_nbd_handshake_deadline(void);
/* Connect h (set up by the caller; in opt mode it stops at the option
 * phase) to uri, asynchronously, by deadline (0: none).  0, or -1 with
 * one error reported (naming the stalled step on timeout: the greeting,
 * the handshake, the export's opening) and *why set. */
int p2v_nbd_connect(struct nbd_handle *h, const char *uri, double deadline,
                    enum p2v_open_failure *why);
/* Run h's handshake (a connect, or an option started with nbd_aio_opt_*)
 * until it is done or deadline passes.  0, or -1 reported, *why set. */
int p2v_nbd_handshake_wait(struct nbd_handle *h, const char *uri, double deadline,
                           enum p2v_open_failure *why);

/* run-command.c (the rest of run is in run.h) */
int convert_run(int argc, char **argv);

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

/* copy-command.c, shared with run: the exit code (enum above) of a copy
 * that ended with r, and the writer of FORMAT ("qcow2", "vmdk",
 * "vmdk-stream", "raw") created at path (NULL with an error reported). */
int copy_exit_code(enum copy_result r, int signo);
/* The exit code of a source that could not be opened. */
int copy_open_exit_code(enum p2v_open_failure why);
struct p2v_image *copy_sink_create(const char *format, const char *path,
                                   const struct p2v_sink_options *o);

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

/* space.c, shared by copy and run's preflight */
/* The bytes of img not reported as reading zero (block status), counted
 * in whole units of granularity (the output's cluster; 1: exact); each
 * request is a step of w.  0, or -1 reported. */
int p2v_image_used_bytes(struct p2v_image *img, const char *label, uint64_t granularity,
                         struct watchdog *w, uint64_t *used);
/* Bytes an unprivileged writer may still use in dir's filesystem
 * (statvfs).  0, or -1 reported. */
int p2v_free_space(const char *dir, uint64_t *avail);

/* summary.c */
struct summary {
  const char *source, *output, *format;
  const struct copy_stats *stats;
};
void summary_print_text(const struct summary *s);
int summary_print_json(const struct summary *s);


#endif
