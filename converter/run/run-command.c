/* p2v-convert run: migrate a whole machine.  The table of phases (run by
 * run-phases.c, each timed into the report); whatever fails, the report
 * is written (with the phase that failed) and the failure kind says why
 * (cli/ makes it an exit code).
 *
 *   preflight ─▶ inspect ─▶ convert ─▶ copy ─▶ metadata ─▶ verify ─▶ boot-test ─▶ package
 *   (seconds)    (overlays backed by the source; nothing big written yet)
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "report/report.h"
#include "run/run.h"
#include "survey.h"

/* ---- messages: one line per failure, the first kept for the report ---- */

static void log_sink(void *data, enum p2v_log_level level, const char *message)
{
  static const char *const prefix[] = { "", "warning: ", "", "debug: " };
  struct run *run = data;
  if (level == P2V_LOG_ERROR) {
    if (run->first_error[0] && p2v_log_verbosity() < 1)
      return;
    run_note_error(run, message);
  }
  fprintf(stderr, "%s: %s%s\n", p2v_program_name(), prefix[level], message);
}

/* What run is doing now, one line per phase, in log_sink's format: a
 * migration takes minutes, so a person at a terminal (or -v) sees where
 * it is.  Not otherwise: a script sees one line when it fails. */
static void __attribute__((format(printf, 1, 2))) announce(const char *fmt, ...)
{
  if (!isatty(STDERR_FILENO) && p2v_log_verbosity() < 1)
    return;
  char message[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: %s\n", p2v_program_name(), message);
}

/* ---- the VM's name ---- */

/* Letters, digits, '.', '_' and '-' (file names and VM names); at most 64. */
static char *clean_name(const char *s)
{
  if (!s || !*s || !strcmp(s, "unknown"))
    return NULL;
  char *n = strndup(s, 64);
  if (!n)
    return NULL;
  for (char *p = n; *p; p++)
    if (!isalnum((unsigned char) *p) && *p != '.' && *p != '_' && *p != '-')
      *p = '_';
  return n;
}

/* A disk image's extension at the end of name (".raw"), or NULL. */
static const char *image_extension(const char *name)
{
  static const char *const exts[] = {
    ".img", ".raw", ".qcow2", ".qcow", ".vmdk", ".vhd", ".vhdx", ".vdi", ".dd", NULL,
  };
  const char *dot = strrchr(name, '.');
  if (!dot || dot == name)
    return NULL;
  for (size_t i = 0; exts[i]; i++)
    if (!strcasecmp(dot, exts[i]))
      return dot;
  return NULL;
}

/* clean_name of export_name without its image extension ("disk.raw" ->
 * "disk"); "disk" for the default export. */
static char *stem_of(const char *export_name)
{
  CLEANUP_FREE char *safe = clean_name(export_name);
  if (!safe)
    return strdup("disk");
  const char *ext = image_extension(safe);
  return ext ? strndup(safe, (size_t) (ext - safe)) : strdup(safe);
}

char *run_disk_stem(const char *const *export_names, size_t n, size_t i)
{
  char *stem = stem_of(export_names[i]);
  for (size_t j = 0; stem && j < n; j++) {
    if (j == i)
      continue;
    CLEANUP_FREE char *other = stem_of(export_names[j]);
    if (!other || !strcmp(stem, other)) {     /* a clash: the extension stays */
      free(stem);
      CLEANUP_FREE char *safe = clean_name(export_names[i]);
      return strdup(safe ? safe : "disk");
    }
  }
  return stem;
}

/* ---- phases ---- */

static enum run_failure make_work_dir(struct run *run);

/* The guest's strings outlive the guest handle (report, metadata). */
static void keep_guest_info(struct run *run, const struct p2v_guest_info *info)
{
  const char *fields[] = { info->type, info->distro, info->product_name, info->arch,
                           info->hostname, info->root, info->osinfo };
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    run->guest_strings[i] = strdup(fields[i] ? fields[i] : "unknown");
  run->guest = *info;
  run->guest.type = run->guest_strings[0];
  run->guest.distro = run->guest_strings[1];
  run->guest.product_name = run->guest_strings[2];
  run->guest.arch = run->guest_strings[3];
  run->guest.hostname = run->guest_strings[4];
  run->guest.root = run->guest_strings[5];
  run->guest.osinfo = run->guest_strings[6];
}

static enum run_failure guest_failure(enum p2v_guest_failure why)
{
  return why == P2V_GUEST_NO_OS || why == P2V_GUEST_UNSUPPORTED ? RUN_NO_OS : RUN_CONVERT_FAILED;
}

/* Overlays backed by the source, served to qemu; the guest found on them
 * and a converter for it (guest.h), kept open for the convert phase. */
static enum run_failure phase_inspect(struct run *run)
{
  enum run_failure f = make_work_dir(run);
  if (f != RUN_OK)
    return f;
  if (run_serve_start(run) == -1 || run_choose_vm_mac(run) == -1)
    return RUN_FAILED;
  announce("inspecting and converting the guest on overlays (nothing is copied before this succeeds)");
  struct p2v_guest_disk *gd = calloc(run->ndisks, sizeof *gd);
  if (!gd) {
    p2v_error("out of memory");
    return RUN_FAILED;
  }
  for (size_t i = 0; i < run->ndisks; i++) {
    struct run_disk *d = &run->disks[i];
    CLEANUP_FREE char *safe = clean_name(d->export_name);
    if (asprintf(&d->overlay, "%s/%zu-%s.qcow2", run->work_dir, i, safe ? safe : "disk") == -1) {
      free(gd);
      p2v_error("out of memory");
      return RUN_FAILED;
    }
    /* size 0: the overlay takes its backing file's size (libguestfs needs -1
     * with a backing file). */
    gd[i] = (struct p2v_guest_disk) { d->local_uri, d->overlay };
  }

  enum p2v_guest_failure why = P2V_GUEST_FAILED;
  run->guest_handle = p2v_guest_open(gd, run->ndisks, &why);
  free(gd);
  if (!run->guest_handle)
    return guest_failure(why);
  const struct p2v_guest_info *info = p2v_guest_info(run->guest_handle);
  keep_guest_info(run, info);
  if (!run->name)
    run->name = run->name_buf = clean_name(info->hostname);
  if (!run->name)
    run->name = "vm";
  run_ensure_report(run);
  if (run->report)
    p2v_report_guest(run->report, &run->guest);
  return RUN_OK;
}

/* The guest converter's preflight, convert and post-convert, on the
 * overlays; the guest handle is closed here (its changes flushed). */
static enum run_failure phase_convert(struct run *run)
{
  struct p2v_convert_options o = {
    .target = run->target, .survey = run->survey, .keep_mac = true, .serial_console = true,
    .vm_mac = run->vm_mac[0] ? run->vm_mac : NULL, .drivers_source = run->drivers_source,
    .block_driver = run->block_driver, .require_drivers = run->require_drivers,
  };
  enum p2v_guest_failure why = P2V_GUEST_FAILED;
  int r = p2v_guest_convert(run->guest_handle, &o, &run->changes, &why);
  if (r == 0)
    run->hardware = *p2v_guest_hardware(run->guest_handle);
  if (p2v_guest_close(run->guest_handle) == -1 && r == 0)
    r = -1, why = P2V_GUEST_FAILED;
  run->guest_handle = NULL;
  if (run->report)
    p2v_report_changes(run->report, &run->changes);
  return r == 0 ? RUN_OK : guest_failure(why);
}

/* Output names; refuse existing ones unless --force.  RUN_OK or failure. */
static enum run_failure plan_outputs(struct run *run)
{
  const char *ext = !strcmp(run->format, "qcow2") ? "qcow2"
                  : !strcmp(run->format, "raw") ? "raw" : "vmdk";
  CLEANUP_FREE const char **exports = calloc(run->ndisks + 1, sizeof *exports);
  if (!exports) {
    p2v_error("out of memory");
    return RUN_FAILED;
  }
  for (size_t i = 0; i < run->ndisks; i++)
    exports[i] = run->disks[i].export_name;
  for (size_t i = 0; i < run->ndisks; i++) {
    struct run_disk *d = &run->disks[i];
    if (d->output)
      continue;                  /* planned before inspection */
    CLEANUP_FREE char *stem = run_disk_stem(exports, run->ndisks, i);
    if (!stem || asprintf(&d->output_name, "%s-%s.%s", run->name, stem, ext) == -1 ||
        asprintf(&d->output, "%s/%s", run->out_dir, d->output_name) == -1) {
      p2v_error("out of memory");
      return RUN_FAILED;
    }
    for (size_t j = 0; j < i; j++)
      if (!strcmp(run->disks[j].output, d->output)) {
        p2v_error("exports %s and %s would both be written to %s",
                  run->disks[j].label, d->label, d->output);
        return RUN_BAD_USAGE;
      }
  }
  const char *meta[3] = { "xml" };
  if (run_writes_ova(run)) {
    meta[0] = "ova";
    meta[1] = run->keep_disks ? "ovf" : NULL;
  } else if (run->target == P2V_TARGET_VMWARE)
    meta[0] = "vmx";
  struct stat st;
  for (size_t i = 0; i < run->ndisks + 3; i++) {
    CLEANUP_FREE char *path = NULL;
    if (i < run->ndisks)
      path = strdup(run->disks[i].output);
    else if (meta[i - run->ndisks] &&
             asprintf(&path, "%s/%s.%s", run->out_dir, run->name, meta[i - run->ndisks]) == -1)
      path = NULL;
    if (!path)
      continue;
    if (lstat(path, &st) == 0 && !run->force) {
      p2v_error("output %s exists; use --force to replace it", path);
      return RUN_OUTPUT_EXISTS;
    }
  }
  return RUN_OK;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st; (void) flag; (void) ftw;
  return remove(path);
}

static void remove_tree(const char *path)
{
  if (path)
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* DIR (created if missing), DIR/.p2v-work (must not exist without
 * --force) and a short directory for Unix sockets.  RUN_OK or failure. */
static enum run_failure make_dirs(struct run *run)
{
  if (mkdir(run->out_dir, 0755) == -1 && errno != EEXIST) {
    p2v_error("cannot create output directory %s: %m", run->out_dir);
    return RUN_FAILED;
  }
  struct stat st;
  if (stat(run->out_dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
    p2v_error("--out %s is not a directory", run->out_dir);
    return RUN_BAD_USAGE;
  }
  if (asprintf(&run->work_dir, "%s/.p2v-work", run->out_dir) == -1) {
    p2v_error("out of memory");
    return RUN_FAILED;
  }
  if (lstat(run->work_dir, &st) == 0) {
    if (!run->force) {
      p2v_error("%s exists (another run in this directory, or one that was stopped); "
                "remove it or use --force", run->work_dir);
      char *w = run->work_dir;
      run->work_dir = NULL;        /* not ours to remove */
      free(w);
      return RUN_OUTPUT_EXISTS;
    }
    remove_tree(run->work_dir);
  }
  char tmpl[] = "/tmp/p2v-run.XXXXXX";
  if (!mkdtemp(tmpl) || !(run->socket_dir = strdup(tmpl))) {
    p2v_error("cannot create a directory in /tmp: %m");
    return RUN_FAILED;
  }
  return RUN_OK;
}

static enum run_failure make_work_dir(struct run *run)
{
  if (mkdir(run->work_dir, 0700) == -1) {
    p2v_error("cannot create %s: %m", run->work_dir);
    return RUN_FAILED;
  }
  return RUN_OK;
}

/* SIGINT/SIGTERM outside the copy: noted here and acted on at the next
 * phase boundary (run_phases); a second one ends the process at once.
 * During the copy they are blocked and the engine waits for them itself
 * (run-copy.c).  A handler can only reach a global: the run holds a
 * pointer to it. */
static volatile sig_atomic_t stop_signal;

static void note_signal(int signo)
{
  stop_signal = signo;
}

static void catch_stop_signals(void)
{
  struct sigaction sa = { .sa_handler = note_signal, .sa_flags = SA_RESETHAND };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

static void release(struct run *run)
{
  if (run->guest_handle)
    p2v_guest_close(run->guest_handle);   /* stopped between inspect and convert */
  run_serve_stop(run);
  for (size_t i = 0; i < run->ndisks; i++) {
    struct run_disk *d = &run->disks[i];
    if (d->source)
      d->source->ops->close(d->source);
    free(d->export_name);
    free(d->uri);
    free(d->local_uri);
    free(d->overlay);
    free(d->output);
    free(d->output_name);
    p2v_extent_list_clear(&d->changed);
    pthread_mutex_destroy(&d->digest_lock);
  }
  free(run->disks);
  if (run->dialin)
    p2v_dialin_close(run->dialin);
  if (run->work_dir && !run->keep_work)
    remove_tree(run->work_dir);
  else if (run->work_dir)
    fprintf(stderr, "%s: overlays kept in %s\n", p2v_program_name(), run->work_dir);
  if (run->socket_dir)
    remove_tree(run->socket_dir);
  free(run->work_dir);
  free(run->socket_dir);
  free(run->survey_json);
  p2v_survey_free(run->survey);
  p2v_changes_clear(&run->changes);
  for (size_t i = 0; i < sizeof run->guest_strings / sizeof run->guest_strings[0]; i++)
    free(run->guest_strings[i]);
  free(run->name_buf);
  for (size_t i = 0; i < run->npending; i++)
    free(run->pending[i].reason);
  if (run->report)
    p2v_report_free(run->report);
}

/* Write the report (whatever happened), print the outcome, free. */
static struct run_outcome finish(struct run *run)
{
  run_ensure_report(run);
  if (run->report) {
    if (run->failure == RUN_OK)
      p2v_report_result(run->report, true, "converted");
    else
      p2v_report_result(run->report, false, run->first_error[0] ? run->first_error : "failed");
    if (p2v_report_write(run->report, run->out_dir) == -1 && run->failure == RUN_OK)
      run->failure = RUN_FAILED;
    if (run->json) {
      const char *json = p2v_report_json(run->report);
      if (json)
        printf("%s\n", json);
    }
  }
  if (run->failure == RUN_OK && !run->json)
    printf("converted %s: %zu disk%s, %s/%s.%s, report in %s/report.txt\n", run->name,
           run->ndisks, run->ndisks == 1 ? "" : "s", run->out_dir, run->name,
           run->target == P2V_TARGET_KVM ? "xml"
           : !strcmp(run->format, "vmdk-stream") ? "ova" : "vmx", run->out_dir);
  struct run_outcome outcome = { run->failure, run->signo, run->first_error[0] != '\0' };
  release(run);
  return outcome;
}

/* ---- the phases, in order ---- */

static enum run_failure phase_preflight(struct run *run)
{
  announce("checking the source, its survey and the space in %s", run->out_dir);
  enum run_failure f = run_preflight(run);
  if (f == RUN_OK && !run->name && run->survey)
    run->name = run->name_buf = clean_name(run->survey->hostname);
  /* Existing outputs: refused now if the name is known already. */
  if (f == RUN_OK && run->name)
    f = plan_outputs(run);
  return f;
}

static enum run_failure phase_copy(struct run *run)
{
  enum run_failure f = plan_outputs(run);
  if (f != RUN_OK)
    return f;
  announce("copying %zu disk%s with the conversion's changes", run->ndisks,
           run->ndisks == 1 ? "" : "s");
  return run_copy(run);
}

static enum run_failure phase_metadata(struct run *run)
{
  announce("writing the VM's description");
  return run_metadata(run);
}

static enum run_failure phase_verify(struct run *run)
{
  if (run->verify != RUN_VERIFY_NONE)
    announce("verifying the output%s", run->ndisks == 1 ? "" : "s");
  return run_verify(run);
}

static bool boot_test_wanted(const struct run *run)
{
  return run->boot_test;
}

static enum run_failure phase_boot_test(struct run *run)
{
  bool windows = run->guest.type && !strcmp(run->guest.type, "windows");
  announce("boot test: starting %s in qemu, waiting for %s on its serial console (at most %u s)",
           run->name, windows ? "'" P2V_BOOT_MARKER_WINDOWS "'" : "its login prompt",
           run->boot_timeout);
  return run_boot_test(run);
}

/* The OVA, of verified disks only: the last phase. */
static enum run_failure phase_package(struct run *run)
{
  announce("packing the OVA");
  return run_package(run);
}

/* Inspection and conversion work on overlays, before any bulk copy: a
 * guest that cannot be converted stops the run in minutes. */
static const struct run_phase run_phase_table[] = {
  { "preflight", phase_preflight, NULL },
  { "inspect",   phase_inspect,   NULL },
  { "convert",   phase_convert,   NULL },
  { "copy",      phase_copy,      NULL },
  { "metadata",  phase_metadata,  NULL },
  { "verify",    phase_verify,    NULL },
  { "boot-test", phase_boot_test, boot_test_wanted },
  { "package",   phase_package,   run_writes_ova },
};

struct run_outcome run_pipeline(const struct run *options)
{
  struct run run = *options;     /* its state is filled in and released here */
  run.stop_signal = &stop_signal;
  p2v_log_set_sink_data(log_sink, &run);
  p2v_nbd_set_connect_timeout(run.connect_timeout);
  signal(SIGPIPE, SIG_IGN);
  if (!getenv("LIBGUESTFS_CACHEDIR") && access("/var/tmp", W_OK) == 0)
    setenv("LIBGUESTFS_CACHEDIR", "/var/tmp", 0);

  catch_stop_signals();
  run_digest_init();

  if ((run.failure = make_dirs(&run)) == RUN_OK &&
      run_phases(&run, run_phase_table, sizeof run_phase_table / sizeof run_phase_table[0])
      == RUN_OK && run.dialin)
    p2v_dialin_done(run.dialin);
  struct run_outcome outcome = finish(&run);
  p2v_log_set_sink(NULL);        /* run is gone */
  return outcome;
}
