/* Launching the libguestfs appliance, KVM first, TCG if KVM fails.
 *
 * On some hosts (nested virtualisation without the CPU features the guest
 * kernel wants) a KVM guest hangs right after the firmware hands over to
 * the kernel: guestfs_launch then never returns.  So the first launch runs
 * verbose, a watchdog thread follows the appliance's console through the
 * event callback, and kills qemu when the kernel has not printed a line
 * within KERNEL_LIMIT seconds of the firmware's first output (under KVM it
 * prints in well under a second), or the appliance is not up in
 * TOTAL_LIMIT.  The second launch forces TCG.  Both limits can be changed
 * with P2V_GUESTFS_KVM_TIMEOUT (the kernel limit in seconds; the total is
 * ten times that).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "guest/guest-internal.h"
#include "log.h"

#define KERNEL_LIMIT 20          /* seconds from firmware output to the kernel's first line */
#define TOTAL_LIMIT 200          /* seconds for the whole launch */

struct watch {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool done;
  atomic_bool firmware_seen, kernel_seen;
  bool killed;
  int kernel_limit, total_limit;
  int event_handle;            /* the callback that feeds this watch */
  char console_line[1024];     /* appliance console output, joined into lines */
  size_t console_len;
};

void p2v_guest_error(guestfs_h *g, const char *what)
{
  const char *e = g ? guestfs_last_error(g) : NULL;
  if (!e) {
    p2v_error("%s: unknown libguestfs error", what);
    return;
  }
  /* One line: a command's output joined, and only its end when long. */
  size_t len = strlen(e);
  const char *tail = len > 1000 ? e + len - 1000 : e;
  CLEANUP_FREE char *line = strdup(tail);
  if (!line) {
    p2v_error("%s: %s", what, e);
    return;
  }
  for (char *p = line; *p; p++)
    if (*p == '\n' || *p == '\r' || *p == '\t')
      *p = ' ';
  size_t n = strlen(line);
  while (n > 0 && line[n - 1] == ' ')
    line[--n] = '\0';
  p2v_error("%s: %s%s", what, tail != e ? "..." : "", line);
}

/* Appliance console output arrives in pieces: joined into lines here. */
static void console_flush(struct watch *w)
{
  w->console_line[w->console_len] = '\0';
  if (strstr(w->console_line, "Linux version"))
    atomic_store(&w->kernel_seen, true);
  if (p2v_log_verbosity() >= 2 && w->console_len > 0)
    p2v_debug("appliance: %s", w->console_line);
  w->console_len = 0;
}

static void on_event(guestfs_h *g, void *opaque, uint64_t event, int handle, int flags,
                     const char *buf, size_t len, const uint64_t *array, size_t alen)
{
  (void)g; (void)handle; (void)flags; (void)array; (void)alen;
  struct watch *w = opaque;
  if (event == GUESTFS_EVENT_APPLIANCE) {
    if (!w)
      return;                  /* only a launch's watch asks for these */
    atomic_store(&w->firmware_seen, true);
    for (size_t i = 0; i < len; i++) {
      if (buf[i] == '\n' || w->console_len == sizeof w->console_line - 1)
        console_flush(w);
      else if (buf[i] != '\r')
        w->console_line[w->console_len++] = buf[i];
    }
    return;
  }
  /* Library messages only when asked for (-vv); otherwise dropped. */
  if (p2v_log_verbosity() >= 2) {
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
      len--;
    if (len > 0)
      p2v_debug("libguestfs: %.*s", (int)len, buf);
  }
}

/* Kill the qemu processes this process started (the appliance). */
static void kill_appliance(void)
{
  DIR *d = opendir("/proc");
  if (!d)
    return;
  pid_t self = getpid();
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 0)
      continue;
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *fp = fopen(path, "re");
    if (!fp)
      continue;
    size_t n = fread(stat, 1, sizeof stat - 1, fp);
    fclose(fp);
    stat[n] = '\0';
    /* "PID (COMM) STATE PPID ..."; COMM may hold spaces, so from the last ')'. */
    char *open = strchr(stat, '('), *close = strrchr(stat, ')');
    if (!open || !close || close < open)
      continue;
    long ppid = 0;
    char state;
    if (sscanf(close + 1, " %c %ld", &state, &ppid) != 2 || ppid != self)
      continue;
    if (strncmp(open + 1, "qemu", 4) == 0)
      kill((pid_t)pid, SIGKILL);
  }
  closedir(d);
}

static void *watchdog(void *arg)
{
  struct watch *w = arg;
  double start = p2v_now_s(), firmware_at = 0;
  pthread_mutex_lock(&w->lock);
  while (!w->done) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 250 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&w->cond, &w->lock, &ts);
    if (w->done)
      break;
    double t = p2v_now_s();
    if (firmware_at == 0 && atomic_load(&w->firmware_seen))
      firmware_at = t;
    bool hung = t - start > w->total_limit ||
                (firmware_at > 0 && !atomic_load(&w->kernel_seen) &&
                 t - firmware_at > w->kernel_limit);
    if (hung && !w->killed) {
      p2v_debug("the KVM appliance shows no progress; stopping it");
      w->killed = true;
      kill_appliance();
    }
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

static bool tcg_forced(void)
{
  const char *s = getenv("LIBGUESTFS_BACKEND_SETTINGS");
  return s && strstr(s, "force_tcg") != NULL;
}

/* One handle with the overlays added; NULL reported. */
static guestfs_h *new_handle(const struct p2v_guest_disk *disks, size_t ndisks, bool tcg,
                             struct watch *w)
{
  guestfs_h *g = guestfs_create();
  if (!g) {
    p2v_error("cannot create a libguestfs handle: %m");
    return NULL;
  }
  guestfs_set_error_handler(g, NULL, NULL);
  int eh = guestfs_set_event_callback(g, on_event,
                                      GUESTFS_EVENT_APPLIANCE | GUESTFS_EVENT_LIBRARY |
                                      GUESTFS_EVENT_WARNING | GUESTFS_EVENT_TRACE, 0, w);
  if (eh == -1)
    goto err;
  if (w)
    w->event_handle = eh;
  guestfs_set_verbose(g, w != NULL || p2v_log_verbosity() >= 2);
  guestfs_set_identifier(g, "p2v");
  /* Enough for dracut or update-initramfs in the appliance; one vCPU less
   * than the host has, at most two. */
  guestfs_set_memsize(g, 1024);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  guestfs_set_smp(g, cpus >= 4 ? 2 : 1);
  if (tcg && guestfs_set_backend_setting(g, "force_tcg", "1") == -1)
    goto err;
  for (size_t i = 0; i < ndisks; i++) {
    if (guestfs_add_drive_opts(g, disks[i].overlay_path,
                               GUESTFS_ADD_DRIVE_OPTS_FORMAT, "qcow2",
                               GUESTFS_ADD_DRIVE_OPTS_CACHEMODE, "unsafe",
                               -1) == -1)
      goto err;
  }
  return g;
err:
  p2v_guest_error(g, "cannot set up libguestfs");
  guestfs_close(g);
  return NULL;
}

static int create_overlays(const struct p2v_guest_disk *disks, size_t ndisks)
{
  guestfs_h *g = guestfs_create();
  if (!g) {
    p2v_error("cannot create a libguestfs handle: %m");
    return -1;
  }
  guestfs_set_error_handler(g, NULL, NULL);
  for (size_t i = 0; i < ndisks; i++) {
    /* Size -1: the backing file's, which is the only size that works. */
    if (guestfs_disk_create(g, disks[i].overlay_path, "qcow2", -1,
                            GUESTFS_DISK_CREATE_BACKINGFILE, disks[i].source_uri,
                            GUESTFS_DISK_CREATE_BACKINGFORMAT, "raw", -1) == -1) {
      CLEANUP_FREE char *what = NULL;
      if (asprintf(&what, "cannot create the overlay %s on %s (is the source reachable?)",
                   disks[i].overlay_path, disks[i].source_uri) < 0)
        what = NULL;
      p2v_guest_error(g, what ? what : "cannot create an overlay");
      guestfs_close(g);
      return -1;
    }
  }
  guestfs_close(g);
  return 0;
}

guestfs_h *p2v_guest_launch(const struct p2v_guest_disk *disks, size_t ndisks)
{
  if (create_overlays(disks, ndisks) == -1)
    return NULL;

  double t0 = p2v_now_s();
  if (!tcg_forced() && access("/dev/kvm", R_OK | W_OK) == 0) {
    struct watch w = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
                       .kernel_limit = KERNEL_LIMIT, .total_limit = TOTAL_LIMIT };
    const char *s = getenv("P2V_GUESTFS_KVM_TIMEOUT");
    if (s && atoi(s) > 0) {
      w.kernel_limit = atoi(s);
      w.total_limit = 10 * w.kernel_limit;
    }
    guestfs_h *g = new_handle(disks, ndisks, false, &w);
    if (!g)
      return NULL;
    pthread_t th;
    int err = pthread_create(&th, NULL, watchdog, &w);
    if (err) {
      errno = err;
      p2v_error("cannot start the libguestfs watchdog: %m");
      guestfs_close(g);
      return NULL;
    }
    int r = guestfs_launch(g);
    pthread_mutex_lock(&w.lock);
    w.done = true;
    pthread_cond_signal(&w.cond);
    pthread_mutex_unlock(&w.lock);
    pthread_join(th, NULL);
    if (r == 0) {
      /* No more console traffic through the callback's watch. */
      guestfs_set_verbose(g, p2v_log_verbosity() >= 2);
      guestfs_delete_event_callback(g, w.event_handle);
      guestfs_set_event_callback(g, on_event, GUESTFS_EVENT_LIBRARY | GUESTFS_EVENT_WARNING |
                                 GUESTFS_EVENT_TRACE, 0, NULL);
      p2v_info("libguestfs appliance up with KVM in %.1f s", p2v_now_s() - t0);
      return g;
    }
    p2v_debug("KVM launch failed: %s", guestfs_last_error(g) ? guestfs_last_error(g) : "?");
    guestfs_close(g);
    p2v_warning("KVM did not start the appliance%s; using TCG (slower)",
                w.killed ? " (it hung)" : "");
  }

  double t1 = p2v_now_s();
  guestfs_h *g = new_handle(disks, ndisks, true, NULL);
  if (!g)
    return NULL;
  if (guestfs_launch(g) == -1) {
    p2v_guest_error(g, "cannot launch the libguestfs appliance (libguestfs-test-tool says why)");
    guestfs_close(g);
    return NULL;
  }
  if (t1 - t0 > 0.5)
    p2v_info("libguestfs appliance up with TCG in %.1f s (%.1f s spent on KVM first)",
             p2v_now_s() - t1, t1 - t0);
  else
    p2v_info("libguestfs appliance up with TCG in %.1f s", p2v_now_s() - t1);
  return g;
}
