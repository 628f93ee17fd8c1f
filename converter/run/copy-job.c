/* p2v-convert copy SOURCE -o OUTPUT, and copy --listen ADDR:PORT -o DIR
 * (the source dials in and offers its disks and survey, docs/dial-in.md):
 * the job around the copy engine, once cli/copy-command.c parsed the
 * command line.  Every output is written as
 * NAME.part and renamed to NAME only once complete (the sink's finish
 * succeeded), so a file named NAME is always complete; on failure NAME.part
 * is removed (there is no resume yet).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "human-size.h"
#include "file-io.h"
#include "log.h"
#include "run/run.h"

/* ---- one error line per failure ---- */

/* The job's own state, reached by the log sink: which messages to show,
 * and the signal that stopped a copy. */
struct copy_state {
  struct progress *progress;   /* the bar to clear before a message */
  bool in_copy;                /* a copy_image() is running */
  bool copy_error_printed;     /* during this copy */
  bool any_error_printed;      /* during this command */
  /* During the space estimate the first error is held, not printed: a
   * stall is then shown, any other failure becomes a warning (the copy
   * goes on without the check; its engine retries what failed). */
  pthread_mutex_t held_lock;
  bool holding;
  char held_error[512];
  int signo;                   /* RUN_INTERRUPTED: SIGINT or SIGTERM */
};

/* During one copy, errors after the first are consequences of it (other
 * threads failing as the copy stops), so only the first is shown unless
 * -v.  Outside a copy (between disks with --listen, waiting for the next
 * dial) every error is shown: each is a failure of its own. */
static void log_sink(void *data, enum p2v_log_level level, const char *message)
{
  static const char *const prefix[] = { "", "warning: ", "", "debug: " };
  struct copy_state *l = data;
  if (level == P2V_LOG_ERROR) {
    pthread_mutex_lock(&l->held_lock);
    bool held = l->holding;
    if (held && !l->held_error[0])
      snprintf(l->held_error, sizeof l->held_error, "%s", message);
    pthread_mutex_unlock(&l->held_lock);
    if (held)
      return;
  }
  if (level == P2V_LOG_ERROR) {
    if (l->in_copy && l->copy_error_printed && p2v_log_verbosity() < 1)
      return;
    if (l->in_copy)
      l->copy_error_printed = true;
    l->any_error_printed = true;
  }
  progress_clear_line(l->progress);
  fprintf(stderr, "%s: %s%s\n", p2v_program_name(), prefix[level], message);
}

/* Around one copy_image(): the bar to clear, and whether errors are of
 * that copy. */
static void copy_log_set(struct copy_state *l, struct progress *progress, bool in_copy)
{
  l->progress = progress;
  l->in_copy = in_copy;
  l->copy_error_printed = false;
}

/* Start (clearing the held error) or stop holding errors back; the
 * watchdog's thread may be logging meanwhile. */
static void copy_log_hold(struct copy_state *l, bool hold)
{
  pthread_mutex_lock(&l->held_lock);
  if (hold)
    l->held_error[0] = '\0';
  l->holding = hold;
  pthread_mutex_unlock(&l->held_lock);
}

/* The format asked for, or implied by the output's extension. */
static const struct p2v_format *pick_format(const struct copy_args *a)
{
  if (a->format) {
    const struct p2v_format *f = p2v_format_find(a->format);
    if (!f)
      p2v_error("unknown format '%s'; -O takes qcow2, vmdk, vmdk-stream or raw", a->format);
    return f;
  }
  const struct p2v_format *f = p2v_format_for_path(a->output);
  if (!f)
    p2v_error("cannot tell the format from the name %s; add -O qcow2, vmdk, vmdk-stream or raw",
              a->output);
  return f;
}

/* ---- the output file ---- */

/* Refuse to overwrite without --force; with it, only a leftover .part is
 * removed now (output itself is replaced by the final rename).  RUN_OK,
 * or the failure with the error reported. */
static enum run_failure check_output(const char *output, const char *part, bool force)
{
  struct stat st;
  if (lstat(output, &st) == 0) {
    if (!force) {
      p2v_error("output %s exists; use --force to replace it", output);
      return RUN_OUTPUT_EXISTS;
    }
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
      p2v_error("output %s exists and is not a regular file; not replacing it", output);
      return RUN_OUTPUT_EXISTS;
    }
  }
  if (lstat(part, &st) == 0) {
    if (!force) {
      p2v_error("%s exists (another copy running, or one that was stopped); "
                "remove it or use --force", part);
      return RUN_OUTPUT_EXISTS;
    }
    if (unlink(part) == -1) {
      p2v_error("cannot remove %s: %m", part);
      return RUN_FAILED;
    }
  }
  return RUN_OK;
}

/* Copy source (closed here) into output, written as part and renamed
 * once complete, and print the summary.  start: when the copy began, for
 * the summary's time.  RUN_OK or the failure. */
static enum run_failure copy_one(const struct copy_args *a, const struct p2v_format *format,
                    struct p2v_image *source, const char *source_name,
                    const char *output, const char *part, unsigned connections,
                    double start)
{
  /* From here on there is a file to clean up: the engine waits for the
   * stop signals itself (a signal that comes earlier stays pending until
   * it does), and every thread it starts inherits the mask.  Before, the
   * default action is right: a Ctrl-C during a slow connect just ends. */
  sigset_t stop_signals, old_mask;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);

  struct p2v_sink_options sink_options = { .size = source->size, .compress = a->compress,
                                           .cluster_size = a->cluster_size,
                                           .final_path = output };
  struct p2v_image *sink = format->create(part, &sink_options);
  if (!sink) {
    int err = errno;
    source->ops->close(source);
    return err == ENOSPC || err == EDQUOT ? RUN_DISK_FULL
         : err == EEXIST ? RUN_OUTPUT_EXISTS : RUN_FAILED;
  }

  struct progress *progress = progress_new(a->progress, a->progress_fd);
  copy_log_set(a->state, progress, true);

  struct copy_options options = {
    .connections = connections, .requests = a->requests, .writers = a->threads,
    .chunk_size = a->chunk_size, .stall_timeout = a->stall_timeout, .progress = progress,
  };
  struct copy_stats stats;
  int signo = 0;
  enum copy_result result = copy_image(source, sink, &options, &stats, &signo);
  source->ops->close(source);

  if (result == COPY_OK && sink->ops->finish(sink) == -1)
    result = errno == ENOSPC || errno == EDQUOT ? COPY_DISK_FULL : COPY_WRITE_ERROR;
  sink->ops->close(sink);
  if (result == COPY_OK && p2v_commit_file(part, output) == -1)
    result = COPY_WRITE_ERROR;
  stats.seconds = p2v_now_s() - start;

  if (result != COPY_OK) {
    progress_clear_line(progress);
    unlink(part);
  } else
    progress_end(progress, stats.size, stats.size);
  copy_log_set(a->state, NULL, false);
  progress_free(progress);

  enum run_failure status = run_copy_failure(result);
  if (result == COPY_INTERRUPTED)
    a->state->signo = signo ? signo : SIGINT;
  if (result == COPY_OK) {
    struct summary s = { source_name, output, format->name, &stats };
    if (a->json ? summary_print_json(&s) == -1 : (summary_print_text(&s), false))
      status = RUN_FAILED;
    fflush(stdout);
  }
  /* Between copies (--listen) a Ctrl-C ends the command at once again;
   * every output so far is complete. */
  if (status == RUN_OK)
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
  return status;
}

/* The unit the output allocates in: a data extent takes whole units. */
static uint64_t allocation_unit(const struct copy_args *a, const struct p2v_format *format)
{
  if (!strcmp(format->name, "qcow2"))
    return a->cluster_size ? a->cluster_size : QCOW2_DEFAULT_CLUSTER_SIZE;
  if (!strcmp(format->name, "raw"))
    return 4096;
  return 64 * 1024;              /* a VMDK grain */
}

/* Before the first byte is written: the format can hold the disk (qcow2
 * with its cluster size), and there is room for the source's used bytes
 * (block status, in the output's allocation units) plus its metadata,
 * where output goes.  RUN_OK go on; else the failure, reported.
 * Compressed outputs may need much less: for them a shortfall is a
 * warning. */
static enum run_failure check_space(const struct copy_args *a, const struct p2v_format *format,
                       struct p2v_image *source, const char *source_name, const char *label,
                       const char *output)
{
  /* A format limit first: it needs no counting. */
  if (!strcmp(format->name, "qcow2") &&
      p2v_qcow2_check_size(output, source->size, a->cluster_size) == -1)
    return RUN_FAILED;

  copy_log_hold(a->state, true);
  struct watchdog *w = watchdog_start(source, a->connect_timeout, source_name);
  uint64_t used = 0;
  int r = p2v_image_used_bytes(source, label, allocation_unit(a, format), w, &used);
  bool stalled = watchdog_stop(w);
  copy_log_hold(a->state, false);
  const char *held_error = a->state->held_error;
  if (stalled) {
    p2v_error("%s", held_error);
    return RUN_UNREACHABLE;
  }
  if (r == -1) {
    p2v_warning("cannot tell how much of %s is used (%s); copying without checking the free "
                "space first", label, held_error[0] ? held_error : "block status failed");
    return RUN_OK;
  }

  CLEANUP_FREE char *copy = strdup(output);
  if (!copy) {
    p2v_error("out of memory");
    return RUN_FAILED;
  }
  const char *dir = dirname(copy);
  uint64_t avail;
  if (p2v_free_space(dir, &avail) == -1)
    return RUN_FAILED;
  /* Tables, headers and grain directories: a little over 1 % at worst
   * for clustered data, plus a few clusters. */
  uint64_t need = used + used / 64 + (UINT64_C(1) << 20);
  char hn[P2V_HUMAN_SIZE_MAX], hu[P2V_HUMAN_SIZE_MAX], ha[P2V_HUMAN_SIZE_MAX];
  p2v_human_size(hn, sizeof hn, need);
  p2v_human_size(hu, sizeof hu, used);
  p2v_human_size(ha, sizeof ha, avail);
  if (avail >= need) {
    p2v_info("space in %s: need %s, %s free", dir, hn, ha);
    return RUN_OK;
  }
  if (a->compress || !strcmp(format->name, "vmdk-stream")) {
    p2v_warning("%s may not fit in %s: %s of used data uncompressed, %s free; copying "
                "since compression may make it fit", output, dir, hu, ha);
    return RUN_OK;
  }
  p2v_error("not enough space in %s for %s: need %s (%s of used data in the source, plus "
            "metadata), %s free; free space or write the output elsewhere",
            dir, output, hn, hu, ha);
  return RUN_NO_SPACE;
}

/* copy SOURCE -o OUTPUT */
static enum run_failure copy_uri(const struct copy_args *a, const struct p2v_format *format)
{
  CLEANUP_FREE char *part = NULL;
  if (asprintf(&part, "%s.part", a->output) == -1) {
    p2v_error("out of memory");
    return RUN_FAILED;
  }
  enum run_failure r = check_output(a->output, part, a->force);
  if (r != RUN_OK)
    return r;

  double start = p2v_now_s();
  enum p2v_open_failure why;
  struct p2v_image *source = p2v_nbd_open(a->source, &why);
  if (!source)
    return run_open_failure(why);
  if ((r = check_space(a, format, source, a->source, "the export", a->output)) != 0) {
    source->ops->close(source);
    return r;
  }
  return copy_one(a, format, source, a->source, a->output, part, a->connections, start);
}

/* DIR exists as a folder, or is made.  0, or -1 reported. */
static int make_output_dir(const char *dir)
{
  struct stat st;
  if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
    p2v_error("cannot create the output folder %s: %m", dir);
    return -1;
  }
  if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
    p2v_error("output %s is not a folder; with --listen, -o names the folder to write into",
              dir);
    return -1;
  }
  return 0;
}

struct output_name {
  char *path, *part;
};

static void free_output_names(struct output_name *o, size_t n)
{
  for (size_t i = 0; o && i < n; i++) {
    free(o[i].path);
    free(o[i].part);
  }
  free(o);
}

/* copy --listen ADDR:PORT -O FORMAT -o DIR */
static enum run_failure copy_dialin(const struct copy_args *a, const struct p2v_format *format)
{
  if (make_output_dir(a->output) == -1)
    return RUN_FAILED;
  struct p2v_dialin_options options = {
    .address = a->listen, .wait_seconds = a->wait,
    .tls_psk_file = a->tls_psk, .tls_certificates = a->tls_certificates,
  };
  enum p2v_open_failure why;
  struct p2v_dialin *d = p2v_dialin_listen(&options, &why);
  if (!d)
    return run_open_failure(why);

  enum run_failure status = RUN_FAILED;
  const char *const *names;
  size_t n = p2v_dialin_exports(d, &names);
  size_t survey_len;
  const char *survey = p2v_dialin_survey(d, &survey_len);
  /* Every output is checked before anything is written. */
  struct output_name *out = calloc(n + 1, sizeof *out);
  if (!out) {
    p2v_error("out of memory");
    goto done;
  }
  for (size_t i = 0; i <= n; i++) {
    int r = i < n ? asprintf(&out[i].path, "%s/%s%s", a->output, names[i], format->extension)
                  : asprintf(&out[i].path, "%s/survey.json", a->output);
    if (r == -1 || asprintf(&out[i].part, "%s.part", out[i].path) == -1) {
      out[i].path = out[i].part = NULL;
      p2v_error("out of memory");
      goto done;
    }
    if (i == n && !survey)
      break;
    if ((status = check_output(out[i].path, out[i].part, a->force)) != 0)
      goto done;
    status = RUN_FAILED;
  }
  if (survey && p2v_write_file_via(out[n].path, out[n].part, survey, survey_len) == -1)
    goto done;

  unsigned connections = p2v_dialin_connections(d);
  if (connections > a->connections)
    connections = a->connections;
  for (size_t i = 0; i < n; i++) {
    double start = p2v_now_s();
    struct p2v_image *source = p2v_dialin_open(d, names[i], &why);
    if (!source) {
      status = run_open_failure(why);
      goto done;
    }
    CLEANUP_FREE char *label = NULL;
    if (asprintf(&label, "export %s", names[i]) == -1) {
      p2v_error("out of memory");
      source->ops->close(source);
      status = RUN_FAILED;
      goto done;
    }
    if ((status = check_space(a, format, source, p2v_dialin_address(d), label,
                              out[i].path)) != 0) {
      source->ops->close(source);
      goto done;
    }
    if ((status = copy_one(a, format, source, names[i], out[i].path, out[i].part,
                           connections, start)) != RUN_OK)
      goto done;
  }
  status = p2v_dialin_done(d) == 0 ? RUN_OK : RUN_FAILED;

done:
  free_output_names(out, n + 1);
  p2v_dialin_close(d);
  return status;
}

struct run_outcome copy_job(const struct copy_args *a_)
{
  struct copy_state state = { .held_lock = PTHREAD_MUTEX_INITIALIZER };
  struct copy_args a = *a_;
  a.state = &state;
  struct run_outcome outcome = { RUN_BAD_USAGE, 0, true };
  const struct p2v_format *format = pick_format(&a);
  if (!format)
    return outcome;
  if (a.compress && strcmp(format->name, "qcow2") != 0) {
    p2v_error("--compress is for qcow2 (vmdk-stream always compresses)");
    return outcome;
  }
  if (a.cluster_size && strcmp(format->name, "qcow2") != 0) {
    p2v_error("--cluster-size is for qcow2 (VMDK grains are 64 KiB)");
    return outcome;
  }
  p2v_nbd_set_connect_timeout(a.connect_timeout);

  signal(SIGPIPE, SIG_IGN);
  p2v_log_set_sink_data(log_sink, &state);
  outcome.failure = a.listen ? copy_dialin(&a, format) : copy_uri(&a, format);
  outcome.signo = state.signo;
  outcome.error_printed = state.any_error_printed;
  p2v_log_set_sink(NULL);        /* state is gone */
  return outcome;
}
