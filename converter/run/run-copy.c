/* run's copy phase: every disk through the copy engine, from the patched
 * source (run-patched-source.c: the original source plus the overlay's
 * changed clusters) into DIR/NAME-EXPORT.EXT, written as .part and
 * renamed when complete, as `copy` does.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "human-size.h"
#include "log.h"
#include "report/report.h"
#include "run/run.h"

static enum run_failure copy_disk(struct run *run, struct run_disk *d, size_t index)
{
  CLEANUP_FREE char *sock = NULL, *part = NULL;
  if (asprintf(&sock, "%s/overlay-%zu.sock", run->socket_dir, index) == -1 ||
      asprintf(&part, "%s.part", d->output) == -1) {
    p2v_error("out of memory");
    return RUN_FAILED;
  }
  if (run_overlay_changes(d->overlay, &d->changed) == -1)
    return RUN_CONVERT_FAILED;
  char changed[32];
  p2v_human_size(changed, sizeof changed, p2v_extent_list_total(&d->changed));
  p2v_info("%s: the conversion changed %s in %zu ranges", d->label, changed,
           d->changed.count);

  pid_t qemu_nbd = 0;
  CLEANUP_FREE char *ov_uri = NULL;
  if (d->changed.count &&
      !(ov_uri = run_qemu_nbd_start(d->overlay, "qcow2", true, sock, &qemu_nbd)))
    return RUN_CONVERT_FAILED;

  unlink(part);                  /* a leftover of an interrupted run */
  enum run_failure code = RUN_OK;
  struct p2v_image *src = run_patched_open(d, ov_uri ? ov_uri : "nbd+unix:///?socket=/nonexistent");
  struct p2v_sink_options so = { .size = d->size, .final_path = d->output,
                                 .cluster_size = run->cluster_size,
                                 .adapter_type = run->target == P2V_TARGET_VMWARE ? "pvscsi" : NULL };
  struct p2v_image *sink = src ? p2v_sink_create(run->format, part, &so) : NULL;
  if (!src || !sink) {
    code = !src ? RUN_READ_ERROR
         : errno == ENOSPC || errno == EDQUOT ? RUN_DISK_FULL : RUN_FAILED;
    if (src)
      src->ops->close(src);
    goto out;
  }
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  struct progress *progress = progress_new(run->json ? PROGRESS_NONE : PROGRESS_AUTO,
                                           STDERR_FILENO);
  /* A dialled-in source keeps a few connections open; ndisks of them
   * stay with the first images (held for the local server). */
  unsigned connections = run->connections;
  if (run->dialin) {
    unsigned total = p2v_dialin_connections(run->dialin);
    unsigned spare = total > run->ndisks ? total - (unsigned) run->ndisks : 1;
    if (connections > spare)
      connections = spare;
  }
  struct copy_options co = {
    .connections = connections, .requests = 16,
    .writers = cpus > 0 ? (unsigned) (cpus > 16 ? 16 : cpus) : 1,
    .stall_timeout = 60, .progress = progress,
  };
  int signo = 0;
  double t = p2v_now_s();
  enum copy_result result = copy_image(src, sink, &co, &d->stats, &signo);
  src->ops->close(src);          /* merges the digest of its reads */
  if (result == COPY_OK && sink->ops->finish(sink) == -1)
    result = errno == ENOSPC || errno == EDQUOT ? COPY_DISK_FULL : COPY_WRITE_ERROR;
  sink->ops->close(sink);
  if (result == COPY_OK && rename(part, d->output) == -1) {
    p2v_error("cannot rename %s to %s: %m", part, d->output);
    result = COPY_WRITE_ERROR;
  }
  d->stats.seconds = p2v_now_s() - t;
  if (result == COPY_OK)
    progress_end(progress, d->stats.size, d->stats.size);
  else
    progress_clear_line(progress);
  progress_free(progress);
  code = run_copy_failure(result);
  if (result == COPY_INTERRUPTED)
    run->signo = signo ? signo : SIGINT;
  if (result == COPY_INTERRUPTED)
    p2v_error("interrupted by %s during the copy of %s", signo == SIGTERM ? "SIGTERM" : "SIGINT",
              d->label);
  if (code == 0) {
    d->copied = true;
    p2v_report_disk(run->report, d->export_name, d->output_name, run->format, &d->stats);
    CLEANUP_CLOSE int dir = open(run->out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0)
      fsync(dir);
  }
out:
  if (code != 0)
    unlink(part);
  if (qemu_nbd)
    run_qemu_nbd_stop(qemu_nbd, sock);
  return code;
}

enum run_failure run_copy(struct run *run)
{
  enum run_failure code = RUN_OK;
  /* The engine waits for the stop signals itself (and its threads
   * inherit the mask); one that came during the copy stays pending and
   * reaches run's handler once unblocked. */
  sigset_t stop_signals, old_mask;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);
  for (size_t i = 0; i < run->ndisks && code == 0; i++)
    code = copy_disk(run, &run->disks[i], i);
  pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
  return code;
}
