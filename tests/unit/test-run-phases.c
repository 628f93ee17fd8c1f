/* Unit test for run's phase loop (converter/run/run-phases.c), with fake
 * phases and no libguestfs: each phase is timed into the report (also
 * those that ended before the report was made), a failure stops the loop
 * with its kind, its phase and the run's first error as the reason, an
 * unwanted phase is skipped, and a stop signal noted during a phase that
 * still succeeded stops the loop before the next one, naming the phase.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "report/report.h"
#include "run/run.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

static volatile sig_atomic_t stop;
static char ran[64];             /* one letter per phase that ran */

static void note(const char *letter)
{
  strncat(ran, letter, sizeof ran - strlen(ran) - 1);
}

static enum run_failure phase_a(struct run *run)
{
  (void) run;
  note("a");
  return RUN_OK;
}

/* Names the VM: the report is made here, with phase a recorded before. */
static enum run_failure phase_b(struct run *run)
{
  note("b");
  run->name = "vm1";
  run_ensure_report(run);
  return RUN_OK;
}

static enum run_failure phase_signal(struct run *run)
{
  (void) run;
  note("s");
  stop = SIGTERM;               /* as the handler would, during the phase */
  return RUN_OK;
}

static enum run_failure phase_fail(struct run *run)
{
  (void) run;
  note("f");
  p2v_error("the guest has no initramfs tool");
  p2v_error("a consequence, not the reason");
  return RUN_CONVERT_FAILED;
}

static enum run_failure phase_never(struct run *run)
{
  (void) run;
  note("n");
  return RUN_OK;
}

static bool not_wanted(const struct run *run)
{
  (void) run;
  return false;
}

static void sink(void *data, enum p2v_log_level level, const char *message)
{
  if (level == P2V_LOG_ERROR)
    run_note_error(data, message);
}

/* The report's phases as "name:ok,name:failed(reason)" */
static void phases_of(struct run *run, char *out, size_t len)
{
  json_object *root = json_tokener_parse(p2v_report_json(run->report)), *phases;
  CHECK(root && json_object_object_get_ex(root, "phases", &phases));
  out[0] = '\0';
  for (size_t i = 0; i < json_object_array_length(phases); i++) {
    json_object *p = json_object_array_get_idx(phases, i), *name, *ok, *reason;
    CHECK(json_object_object_get_ex(p, "phase", &name) && json_object_object_get_ex(p, "ok", &ok));
    size_t n = strlen(out);
    snprintf(out + n, len - n, "%s%s:%s", i ? "," : "", json_object_get_string(name),
             json_object_get_boolean(ok) ? "ok" : "failed");
    if (json_object_object_get_ex(p, "reason", &reason) && !json_object_is_type(reason, json_type_null)) {
      n = strlen(out);
      snprintf(out + n, len - n, "(%s)", json_object_get_string(reason));
    }
  }
  json_object_put(root);
}

static void clear(struct run *run)
{
  if (run->report)
    p2v_report_free(run->report);
  for (size_t i = 0; i < run->npending; i++)
    free(run->pending[i].reason);
  *run = (struct run) { .source = "nbd://127.0.0.1/", .stop_signal = &stop };
  stop = 0;
  ran[0] = '\0';
}

int main(void)
{
  struct run run = { 0 };
  char got[1024];
  clear(&run);
  p2v_log_set_sink_data(sink, &run);

  /* A failure: kind, phase, first error as the reason; the rest not run. */
  const struct run_phase failing[] = {
    { "preflight", phase_a, NULL },
    { "inspect", phase_b, NULL },
    { "skipped", phase_never, not_wanted },
    { "convert", phase_fail, NULL },
    { "copy", phase_never, NULL },
  };
  CHECK(run_phases(&run, failing, 5) == RUN_CONVERT_FAILED);
  CHECK(run.failure == RUN_CONVERT_FAILED);
  CHECK(!strcmp(run.failed_phase, "convert"));
  CHECK(!strcmp(ran, "abf"));
  phases_of(&run, got, sizeof got);
  fprintf(stderr, "failing: %s\n", got);
  CHECK(!strcmp(got, "preflight:ok,inspect:ok,convert:failed(the guest has no initramfs tool)"));

  /* A stop signal during "copy", which still succeeded: nothing after it. */
  clear(&run);
  const struct run_phase interrupted[] = {
    { "preflight", phase_a, NULL },
    { "inspect", phase_b, NULL },
    { "copy", phase_signal, NULL },
    { "metadata", phase_never, NULL },
  };
  CHECK(run_phases(&run, interrupted, 4) == RUN_INTERRUPTED);
  CHECK(run.signo == SIGTERM);
  CHECK(!strcmp(run.failed_phase, "copy"));
  CHECK(!strcmp(ran, "abs"));
  CHECK(!strcmp(run.first_error, "interrupted by SIGTERM after the copy phase"));
  phases_of(&run, got, sizeof got);
  fprintf(stderr, "interrupted: %s\n", got);
  CHECK(!strcmp(got, "preflight:ok,inspect:ok,copy:ok"));

  /* All well: every wanted phase once, in order; a failure before the
   * report exists is kept until it is made. */
  clear(&run);
  const struct run_phase fine[] = {
    { "preflight", phase_a, NULL },
    { "boot-test", phase_never, not_wanted },
    { "inspect", phase_b, NULL },
  };
  CHECK(run_phases(&run, fine, 3) == RUN_OK && run.failure == RUN_OK && !run.failed_phase);
  CHECK(!strcmp(ran, "ab"));
  phases_of(&run, got, sizeof got);
  CHECK(!strcmp(got, "preflight:ok,inspect:ok"));

  clear(&run);
  const struct run_phase early[] = { { "preflight", phase_fail, NULL } };
  CHECK(run_phases(&run, early, 1) == RUN_CONVERT_FAILED && !run.report);
  run.name = "vm2";
  run_ensure_report(&run);
  phases_of(&run, got, sizeof got);
  CHECK(!strcmp(got, "preflight:failed(the guest has no initramfs tool)"));

  clear(&run);
  p2v_log_set_sink(NULL);
  return 0;
}
