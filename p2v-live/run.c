/* The job of the live image, in order: hardware check, network, disks,
 * survey, then serve (listen or dial) with progress on the console, or a
 * shell.  Problems that stop it are said in large text and recorded in
 * the survey; every wait is bounded and announced.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "disk.h"
#include "file-io.h"
#include "human-size.h"
#include "live.h"
#include "log.h"
#include "nbd-server.h"
#include "survey.h"

#define PROGRESS_INTERVAL_S 2
#define PROBLEM_POWEROFF_S 10
#define SURVEY_COPY "/run/p2v/survey.json"

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig) { stop_requested = 1; }

static void install_signal_handlers(void)
{
  struct sigaction sa = { .sa_handler = on_stop_signal };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

/* A problem that stops the job: big on every console, then power off
 * (p2v.auto=1, after a pause to read it) or wait for Enter.  On a host
 * (not PID 1) nothing waits. */
static int stop_with_problem(const struct live_options *o, const char *headline,
                             const char *const *lines)
{
  live_banner(headline, lines);
  if (!o->pid1)
    return LIVE_EXIT_ERROR;
  if (o->settings.unattended) {
    live_say("p2v.auto=1: powering off in %d seconds", PROBLEM_POWEROFF_S);
    sleep(PROBLEM_POWEROFF_S);
    return LIVE_EXIT_ERROR;
  }
  live_say("Press Enter to power off, or type shell and Enter for a shell.");
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    if (strncmp(line, "shell", 5) != 0)
      break;
    const char *sh[] = { "sh", NULL };
    live_run(sh, UINT32_MAX);
    live_say("Press Enter to power off, or type shell and Enter for a shell.");
  }
  return LIVE_EXIT_ERROR;
}

/* ---- the survey and the hardware check's findings in it ---- */

static int hex_string(char **out, unsigned digits, unsigned value)
{
  return asprintf(out, "%0*x", (int)digits, value) < 0 ? -1 : 0;
}

static int add_findings(struct p2v_survey *s, const struct live_hwcheck *hw)
{
  if (!hw->nfindings)
    return 0;
  s->missing_drivers = calloc(hw->nfindings, sizeof *s->missing_drivers);
  if (!s->missing_drivers)
    return -1;
  for (size_t i = 0; i < hw->nfindings; i++) {
    const struct live_hw_finding *f = &hw->findings[i];
    struct p2v_survey_missing_driver *m = &s->missing_drivers[s->nmissing_drivers++];
    if (!(m->slot = strdup(f->slot)) || hex_string(&m->class_code, 6, f->dev.class_code) ||
        hex_string(&m->vendor_id, 4, f->dev.vendor) || hex_string(&m->device_id, 4, f->dev.device) ||
        (f->module && !(m->module = strdup(f->module))))
      return -1;
    m->module_in_image = !f->module ? P2V_UNKNOWN : f->module_in_image ? P2V_YES : P2V_NO;
    if (f->nmissing_firmware &&
        !(m->missing_firmware = calloc(f->nmissing_firmware, sizeof *m->missing_firmware)))
      return -1;
    for (size_t j = 0; j < f->nmissing_firmware; j++) {
      if (!(m->missing_firmware[j] = strdup(f->missing_firmware[j])))
        return -1;
      m->nmissing_firmware++;
    }
    char message[256];
    snprintf(message, sizeof message, "%s %s controller %04x:%04x has no driver%s%s",
             f->slot, live_hw_kind(f), f->dev.vendor, f->dev.device,
             f->module ? ": needs module " : "", f->module ? f->module : "");
    if (p2v_survey_add_problem(s, "missing-driver", message) == -1)
      return -1;
  }
  return 0;
}

/* Keep a copy for someone at a shell, and for a converter that never came. */
static void save_survey(const struct live_options *o, const char *json)
{
  if (!o->pid1)
    return;
  mkdir("/run/p2v", 0755);
  p2v_write_file_atomic(SURVEY_COPY, json, strlen(json));
}

/* ---- progress on the console ---- */

struct progress {
  pthread_t thread;
  struct p2v_nbd_server *server;
  const struct live_options *o;
  volatile sig_atomic_t quit;
  bool done_said;
};

static void say_done(struct progress *p)
{
  enum live_after after = live_settings_after(&p->o->settings);
  bool dial = p->o->settings.mode == LIVE_MODE_DIAL;
  const char *lines[] = {
    "The converter has received every disk.",
    "",
    after == LIVE_AFTER_POWEROFF ? "p2v.after=poweroff: this machine powers off now."
      : dial ? "p2v.after=wait: nothing more is sent."
             : "The disks stay served (p2v.after=wait).",
    after == LIVE_AFTER_POWEROFF ? "" : p->o->pid1 ? "To power off now: press Enter here."
      : dial ? "" : "Stop this program (Ctrl-C) to finish.",
    NULL,
  };
  live_banner("ALL DISKS COPIED", lines);
}

static void *progress_main(void *opaque)
{
  struct progress *p = opaque;
  struct p2v_nbd_counters *c = p->server->counters;
  uint64_t last[LIVE_MAX_DISKS + 1] = { 0 };
  unsigned last_clients = 0;
  while (!p->quit && !stop_requested) {
    for (int i = 0; i < PROGRESS_INTERVAL_S * 10 && !p->quit && !stop_requested; i++)
      usleep(100 * 1000);
    bool changed = atomic_load(&c->clients) != last_clients;
    last_clients = atomic_load(&c->clients);
    for (size_t d = 0; d < p->server->ndisks && d < LIVE_MAX_DISKS; d++)
      changed |= atomic_load(&c->bytes_served[d]) != last[d];
    if (changed) {
      for (size_t d = 0; d < p->server->ndisks && d < LIVE_MAX_DISKS; d++) {
        const struct p2v_disk *disk = p->server->disks[d];
        uint64_t sent = atomic_load(&c->bytes_served[d]);
        last[d] = sent;
        char a[32], b[32];
        p2v_human_size(a, sizeof a, sent);
        p2v_human_size(b, sizeof b, disk->size);
        unsigned pct = disk->size ? (unsigned)(sent >= disk->size ? 100 : sent * 100 / disk->size) : 100;
        live_say("  %-10s %10s of %10s sent (%3u%%)  %u connection(s)", disk->export_name, a, b,
                 pct, last_clients);
      }
    }
    if (atomic_load(&c->converter_done) && !p->done_said) {
      p->done_said = true;
      say_done(p);
      if (live_settings_after(&p->o->settings) == LIVE_AFTER_POWEROFF)
        stop_requested = 1;
    }
  }
  return NULL;
}

/* After "done" with p2v.after=wait in the image: Enter powers off. */
static void *enter_main(void *opaque)
{
  char line[64];
  if (fgets(line, sizeof line, stdin))
    stop_requested = 1;
  return NULL;
}

/* ---- serving ---- */

/* The PSK as a psktool file in a private folder: the TLS code reads files. */
static char *write_psk_file(const char *psk, char *dir)
{
  if (!mkdtemp(dir)) {
    p2v_error("cannot create a folder for the TLS key in %s: %m", dir);
    return NULL;
  }
  char *path;
  if (asprintf(&path, "%s/keys.psk", dir) < 0) {
    p2v_error("out of memory");
    return NULL;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f || fprintf(f, "%s\n", psk) < 0 || fclose(f) != 0) {
    p2v_error("cannot write the TLS key file %s: %m", path);
    if (!f && fd >= 0)
      close(fd);
    free(path);
    return NULL;
  }
  return path;
}

/* Where the disks go: the converter's address (dial), or where we listen. */
static void job_address(const struct live_options *o, char *buf, size_t size)
{
  const struct live_settings *s = &o->settings;
  if (s->mode == LIVE_MODE_DIAL)
    snprintf(buf, size, strchr(s->server, ':') && s->server[0] != '[' ? "[%s]:%u" : "%s:%u",
             s->server, s->port);
  else if (o->listen)
    snprintf(buf, size, "%s", o->listen);
  else
    snprintf(buf, size, "0.0.0.0:%u", s->port);
}

/* The rule every program here follows (p2v_net_require_tls): off loopback
 * (and the image is always on a real network) disks travel only with TLS
 * required, or p2v.insecure=1.  0, or -1 said in large text. */
static int check_clear_text(const struct live_options *o)
{
  const struct live_settings *s = &o->settings;
  char address[300];
  job_address(o, address, sizeof address);
  if (p2v_net_require_tls(address, s->tls == LIVE_TLS_REQUIRE ? P2V_NET_TLS_VERIFIED
                                                               : P2V_NET_CLEAR,
                          s->insecure ? "p2v.insecure=1" : NULL,
                          s->mode == LIVE_MODE_DIAL ? "serve disks to" : "serve disks on",
                          "set p2v.tls=require and p2v.tls_psk=USER:HEXKEY, or "
                          "p2v.insecure=1 on a trusted network") == 0)
    return 0;
  const char *lines[] = {
    "The disks would cross the network unencrypted.",
    "Set p2v.tls=require and p2v.tls_psk=USER:HEXKEY (p2v-convert: --tls-psk),",
    "or p2v.insecure=1 on a trusted network, then reboot.",
    NULL,
  };
  stop_with_problem(o, "CLEAR TEXT REFUSED", lines);
  return -1;
}

static int serve(struct live_options *o, struct p2v_nbd_server *server)
{
  const struct live_settings *s = &o->settings;
  int status = LIVE_EXIT_ERROR;
  struct progress p = { .server = server, .o = o };
  if (pthread_create(&p.thread, NULL, progress_main, &p) != 0) {
    p2v_error("cannot start the progress display: %m");
    return LIVE_EXIT_ERROR;
  }
  char address[300];
  job_address(o, address, sizeof address);
  if (s->mode == LIVE_MODE_DIAL) {
    live_say("dialling the converter at %s with %u connection(s)%s", address, s->connections,
             s->tls != LIVE_TLS_OFF ? " (TLS)" : "");
    int r = p2v_nbd_serve_dialer(server, address, s->connections, &stop_requested);
    status = r == 0 || atomic_load(&server->counters->converter_done) ? LIVE_EXIT_OK
                                                                      : LIVE_EXIT_ERROR;
    /* Let the progress thread say "done" before deciding what follows. */
    for (int i = 0; i < 30 && r == 0 && !p.done_said; i++)
      usleep(100 * 1000);
    if (r == 0 && live_settings_after(s) == LIVE_AFTER_WAIT && o->pid1) {
      live_say("Press Enter to power off.");
      char line[64];
      if (!fgets(line, sizeof line, stdin))
        pause();
    }
  } else {
    int fd = p2v_net_listen(address);
    if (fd >= 0) {
      char bound[320];
      if (p2v_net_local_address(fd, bound, sizeof bound) == -1)
        snprintf(bound, sizeof bound, "%s", address);
      live_say("serving %zu disk(s) on %s%s; point p2v-convert at nbd://ADDRESS:%s/", server->ndisks,
               bound, s->tls == LIVE_TLS_REQUIRE ? " (TLS required)" : "", strrchr(bound, ':') + 1);
      pthread_t enter;
      bool enter_started = o->pid1 && live_settings_after(s) == LIVE_AFTER_WAIT &&
        pthread_create(&enter, NULL, enter_main, NULL) == 0;
      int r = p2v_nbd_serve_listener(server, fd, &stop_requested);
      close(fd);
      if (enter_started)
        pthread_detach(enter);
      status = r == 0 ? LIVE_EXIT_OK : LIVE_EXIT_ERROR;
    }
  }
  p.quit = 1;
  pthread_join(p.thread, NULL);
  return status;
}

#define MAX_BANNER_FINDINGS 4
#define BANNER_LINE 68

/* A banner line; a line too long is cut, as the banner cuts it anyway. */
static void __attribute__((format(printf, 2, 3)))
banner_line(char out[BANNER_LINE], const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out, BANNER_LINE, fmt, ap);
  va_end(ap);
}

/* One short line per controller of this PCI base class without a driver,
 * for a banner that must say on its own what is wrong. */
static size_t finding_lines(const struct live_hwcheck *hw, unsigned base,
                            char out[][BANNER_LINE])
{
  size_t n = 0;
  for (size_t i = 0; i < hw->nfindings && n < MAX_BANNER_FINDINGS; i++) {
    const struct live_hw_finding *f = &hw->findings[i];
    if (f->dev.class_code >> 16 != base)
      continue;
    if (f->module)
      banner_line(out[n++], "%s %04x:%04x needs module %s (%s)", f->slot,
                  f->dev.vendor, f->dev.device, f->module,
                  f->module_in_image ? "did not load" : "not in this image");
    else
      banner_line(out[n++], "%s %04x:%04x has no driver (no module known)",
                  f->slot, f->dev.vendor, f->dev.device);
  }
  return n;
}

/* Problems found so far, for the survey. */
struct findings {
  bool no_disk, no_link;
  bool reported;               /* a banner said why we stop */
};

/* disks: the disks being served (already probed); NULL: every disk of the
 * machine (when stopping on a problem, for the record). */
static int build_survey(const struct live_options *o, const struct live_hwcheck *hw,
                        const struct findings *fi, struct p2v_disk *const *disks,
                        size_t ndisks, char **json)
{
  struct p2v_survey *s = disks ? p2v_survey_collect_disks(disks, ndisks)
                               : p2v_survey_collect(NULL, 0);
  if (!s)
    return -1;
  /* The running system is this image, not the machine's own: its OS and
   * host name would mislead (the converter inspects the disks instead). */
  free(s->hostname);
  free(s->os.id);
  free(s->os.name);
  free(s->os.version);
  free(s->os.kernel);
  free(s->os.arch);
  s->hostname = NULL;
  memset(&s->os, 0, sizeof s->os);
  int r = -1;
  if (add_findings(s, hw) == -1 ||
      (fi->no_disk && p2v_survey_add_problem(s, "no-disk", "no disk is visible") == -1) ||
      (fi->no_link && p2v_survey_add_problem(s, "no-network-link",
                                             "no network interface has a link") == -1)) {
    p2v_error("out of memory");
    goto out;
  }
  if (!(*json = p2v_survey_to_json(s, true)))
    goto out;
  save_survey(o, *json);
  r = 0;
out:
  p2v_survey_free(s);
  return r;
}

static int run_shell(void)
{
  live_say("p2v.mode=shell: a shell follows; leave it (exit) to power off.");
  const char *sh[] = { "sh", NULL };
  live_run(sh, UINT32_MAX);
  return LIVE_EXIT_OK;
}

int live_run_job(struct live_options *o)
{
  struct live_settings *s = &o->settings;
  struct live_hwcheck hw = { 0 };
  struct findings fi = { 0 };
  char **paths = NULL;
  size_t npaths = 0;
  CLEANUP_FREE char *json = NULL;
  CLEANUP_FREE char *psk_path = NULL;
  char psk_dir[] = "/tmp/p2v-live.XXXXXX";
  struct p2v_tls *tls = NULL;
  struct p2v_disk **disks = NULL;
  _Atomic uint64_t *served = NULL;
  int status = LIVE_EXIT_ERROR;

  install_signal_handlers();

  /* 1. Hardware check: seconds, before anything can hang. */
  if (live_hwcheck_run(&o->roots, &hw) == -1)
    goto out;
  {
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m) {
      live_hwcheck_print(&hw, m);
      fclose(m);
      live_say("%s", text);
    }
    free(text);
  }

  /* 2. Network: only the image's own (PID 1); a host keeps its own. */
  if (o->no_network || s->net == LIVE_NET_NONE) {
    live_say("network: left as it is (%s)", o->no_network ? "--no-network" : "p2v.net=none");
  } else if (!o->pid1) {
    live_say("network: left as it is (not running as the image's init)");
  } else {
    int links = live_network_setup(&o->roots, s);
    if (links == 0 && s->mode != LIVE_MODE_SHELL) {
      fi.no_link = true;
      char found[MAX_BANNER_FINDINGS][BANNER_LINE];
      const char *lines[MAX_BANNER_FINDINGS + 5];
      size_t n = 0;
      lines[n++] = "No network card has a link (cable, switch port, or a missing driver).";
      size_t nf = finding_lines(&hw, 0x02, found);
      for (size_t i = 0; i < nf; i++)
        lines[n++] = found[i];
      if (nf)
        lines[n++] = "Add the missing modules to the image with p2v-drivers add.";
      lines[n++] = "Plug in a cable or pick the port with p2v.interface=NAME, then reboot.";
      lines[n] = NULL;
      if (o->pid1)
        build_survey(o, &hw, &fi, NULL, 0, &json);   /* a copy in /run/p2v */
      status = stop_with_problem(o, "NO NETWORK LINK", lines);
      goto out;
    }
    if (links < 0 && s->mode != LIVE_MODE_SHELL) {
      const char *lines[] = {
        "The network could not be configured (see the message above).",
        "Fix the p2v.net, p2v.ip, p2v.gateway settings and reboot.",
        NULL,
      };
      fi.reported = true;
      status = stop_with_problem(o, "NO NETWORK", lines);
      goto out;
    }
  }

  if (s->mode == LIVE_MODE_SHELL) {
    status = run_shell();
    goto out;
  }

  /* 3. Disks. */
  if (o->ndisks) {
    if (!(paths = calloc(o->ndisks, sizeof *paths)))
      goto out;
    for (; npaths < o->ndisks; npaths++)
      if (!(paths[npaths] = strdup(o->disks[npaths])))
        goto out;
  } else if (live_disks_find(&o->roots, s->disks, s->ndisks, &paths, &npaths) == -1) {
    goto out;
  }
  if (npaths == 0) {
    fi.no_disk = true;
    char found[MAX_BANNER_FINDINGS][BANNER_LINE];
    const char *lines[MAX_BANNER_FINDINGS + 5];
    size_t n = 0;
    lines[n++] = "This machine shows no disk to copy.";
    size_t nf = finding_lines(&hw, 0x01, found);
    for (size_t i = 0; i < nf; i++)
      lines[n++] = found[i];
    if (nf) {
      lines[n++] = "Add the missing modules to the image with p2v-drivers add.";
    } else {
      lines[n++] = "Check that the disks are connected and enabled in the firmware";
      lines[n++] = "setup (RAID volumes must be defined).";
    }
    lines[n] = NULL;
    if (o->pid1)               /* a copy in /run/p2v; on a host it would list the host's disks */
      build_survey(o, &hw, &fi, NULL, 0, &json);
    status = stop_with_problem(o, "NO DISK FOUND", lines);
    goto out;
  }

  /* 4. The disks opened for serving (each probed once), then the survey. */
  if (check_clear_text(o) == -1) {
    fi.reported = true;
    status = LIVE_EXIT_ERROR;
    goto out;
  }
  if (s->tls != LIVE_TLS_OFF) {
    if (!(psk_path = write_psk_file(s->tls_psk, psk_dir)))
      goto out;
    struct p2v_tls_options to = {
      .mode = s->tls == LIVE_TLS_ON ? P2V_TLS_ON : P2V_TLS_REQUIRE, .psk_file = psk_path,
    };
    if (!(tls = p2v_tls_load(&to)))
      goto out;
  }
  struct p2v_disk_options dopts = { .all_blocks = o->all_blocks };
  if (!(disks = p2v_disks_open(paths, npaths, &dopts)))
    goto out;
  for (size_t i = 0; i < npaths; i++)
    live_say("disk %s: %s, %s", disks[i]->export_name, disks[i]->path, disks[i]->description);
  live_say("surveying this machine...");
  if (build_survey(o, &hw, &fi, disks, npaths, &json) == -1)
    goto out;
  if (!(served = calloc(npaths, sizeof *served)))
    goto out;
  struct p2v_nbd_counters counters = { .bytes_served = served };
  struct p2v_nbd_server server = {
    .disks = disks, .ndisks = npaths, .tls = tls,
    .tls_mode = s->tls == LIVE_TLS_OFF ? P2V_TLS_OFF : s->tls == LIVE_TLS_ON ? P2V_TLS_ON
                                                                              : P2V_TLS_REQUIRE,
    .survey_json = json, .survey_len = strlen(json), .counters = &counters,
  };
  /* 5. Serve until the converter has everything (or we are stopped),
   * under one session token (docs/dial-in.md). */
  if (p2v_nbd_session_init(&server) == -1)
    goto out;
  status = serve(o, &server);

out:
  if (status != LIVE_EXIT_OK && !fi.no_disk && !fi.no_link && !fi.reported && o->pid1 &&
      !stop_requested) {
    const char *lines[] = { "See the message above for what went wrong.", NULL };
    stop_with_problem(o, "P2V-LIVE STOPPED", lines);
  }
  p2v_disks_close(disks, npaths);
  free(served);
  p2v_tls_free(tls);
  if (psk_path) {
    unlink(psk_path);
    rmdir(psk_dir);
  }
  for (size_t i = 0; i < npaths; i++)
    free(paths[i]);
  free(paths);
  live_hwcheck_clear(&hw);
  return status;
}
