/* p2v-convert run: the one loop over the phases.  Each phase is timed
 * into the report; a failure keeps its kind and the run's first error in
 * struct run; a stop signal is acted on between phases.  The table of
 * phases is in run-command.c; what a failure means to the caller (an
 * exit code) is cli/'s (exit-codes.c).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "report/report.h"
#include "run/run.h"

void run_note_error(struct run *run, const char *message)
{
  if (!run->first_error[0])
    snprintf(run->first_error, sizeof run->first_error, "%s", message);
}

void run_ensure_report(struct run *run)
{
  if (run->report)
    return;
  const char *target = run->target == P2V_TARGET_VMWARE ? "vmware" : "kvm";
  run->report = p2v_report_new(run->source ? run->source : run->listen, target,
                               run->name ? run->name : "unnamed");
  for (size_t i = 0; i < run->npending; i++) {
    struct run_pending_phase *p = &run->pending[i];
    if (run->report)
      p2v_report_phase(run->report, p->phase, p->seconds, p->ok, p->reason);
    free(p->reason);
  }
  run->npending = 0;
}

/* Into the report, or kept until the report is made (the VM's name,
 * which it carries, may only be known after inspection). */
static void record_phase(struct run *run, const char *phase, double seconds, bool ok)
{
  const char *reason = NULL;
  if (!ok)
    reason = run->first_error[0] ? run->first_error : "failed";
  if (run->report) {
    p2v_report_phase(run->report, phase, seconds, ok, reason);
    return;
  }
  if (run->npending < sizeof run->pending / sizeof run->pending[0])
    run->pending[run->npending++] = (struct run_pending_phase) {
      phase, seconds, ok, reason ? strdup(reason) : NULL };
}

static enum run_failure fail(struct run *run, const char *phase, enum run_failure f)
{
  run->failure = f;
  run->failed_phase = phase;
  return f;
}

/* A stop signal that came during a phase which still ended well: the run
 * stops there, with the phase named (libguestfs's qemu, in our process
 * group, got the Ctrl-C too, so a long call ends soon). */
static enum run_failure check_stop(struct run *run, const char *phase)
{
  int signo = run->stop_signal ? *run->stop_signal : 0;
  if (!signo)
    return RUN_OK;
  run->signo = signo;
  p2v_error("interrupted by %s after the %s phase", signo == SIGINT ? "SIGINT" : "SIGTERM",
            phase);
  return fail(run, phase, RUN_INTERRUPTED);
}

enum run_failure run_phases(struct run *run, const struct run_phase *phases, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    const struct run_phase *p = &phases[i];
    if (p->wanted && !p->wanted(run))
      continue;
    double start = p2v_now_s();
    enum run_failure f = p->run(run);
    record_phase(run, p->name, p2v_now_s() - start, f == RUN_OK);
    if (f != RUN_OK)
      return fail(run, p->name, f);
    if ((f = check_stop(run, p->name)) != RUN_OK)
      return f;
  }
  return RUN_OK;
}

enum run_failure run_open_failure(enum p2v_open_failure why)
{
  switch (why) {
  case P2V_OPEN_UNREACHABLE: return RUN_UNREACHABLE;
  case P2V_OPEN_NO_EXPORT: return RUN_NO_EXPORT;
  case P2V_OPEN_TLS: return RUN_TLS_FAILED;
  case P2V_OPEN_FAILED: break;
  }
  return RUN_FAILED;
}

enum run_failure run_copy_failure(enum copy_result result)
{
  switch (result) {
  case COPY_OK: return RUN_OK;
  case COPY_READ_ERROR: return RUN_READ_ERROR;
  case COPY_DISK_FULL: return RUN_DISK_FULL;
  case COPY_STALLED: return RUN_STALLED;
  case COPY_INTERRUPTED: return RUN_INTERRUPTED;
  case COPY_WRITE_ERROR:
  case COPY_FAILED: break;
  }
  return RUN_FAILED;
}
