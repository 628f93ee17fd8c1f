/* serve --snapshot: the volumes are snapshotted (snapshot.h) and their
 * shadow copies served instead, one export per volume named after it; and
 * a listener stops once the converter has said it has everything
 * (p2v:done) and hung up, so the snapshot is not kept longer than needed.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "disk.h"
#include "log.h"
#include "nbd-server.h"
#include "snapshot.h"

#define DONE_POLL_US 100000

/* "C:" and "C:\" give "C", "C:\data\" "C-data": letters, digits, '.',
 * '_' and '-', each run of anything else one '-', none at either end. */
static char *volume_export_name(const char *volume)
{
  size_t len = strlen(volume);
  char *name = malloc(len + 1), *out = name;
  if (!name)
    return NULL;
  for (const char *p = volume; *p; p++) {
    bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                (*p >= '0' && *p <= '9') || *p == '.' || *p == '_';
    if (keep)
      *out++ = *p;
    else if (out > name && out[-1] != '-')
      *out++ = '-';
  }
  while (out > name && out[-1] == '-')
    out--;
  *out = '\0';
  return name;
}

static void names_free(char **names, size_t n)
{
  if (!names)
    return;
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

/* One export name per volume, checked unique; NULL with one usage error. */
static char **export_names(char *const *volumes, size_t n)
{
  char **names = calloc(n ? n : 1, sizeof *names);
  if (!names) {
    p2v_error("out of memory");
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    if (!(names[i] = volume_export_name(volumes[i]))) {
      p2v_error("out of memory");
      goto fail;
    }
    if (!names[i][0]) {
      usage_error("serve", "'%s' is not a volume: give drive letters (C: D:) or mount points",
                  volumes[i]);
      goto fail;
    }
    for (size_t j = 0; j < i; j++) {
      if (!strcmp(names[i], names[j])) {
        usage_error("serve", "%s and %s would both be served as export '%s': name each volume "
                    "once", volumes[j], volumes[i], names[i]);
        goto fail;
      }
    }
  }
  return names;
fail:
  names_free(names, n);
  return NULL;
}

/* Each shadow copy as a disk named names[i] (taken from names). */
static struct p2v_disk **open_devices(const struct agent_snapshot *snapshot,
                                      char *const *volumes, char **names, size_t n,
                                      const struct p2v_disk_options *options)
{
  struct p2v_disk **disks = calloc(n ? n : 1, sizeof *disks);
  if (!disks) {
    p2v_error("out of memory");
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    const char *device = agent_snapshot_device(snapshot, i);
    if (!(disks[i] = p2v_disk_open(device, options))) {
      p2v_disks_close(disks, n);
      return NULL;
    }
    free(disks[i]->export_name);           /* the device's name means nothing to people */
    disks[i]->export_name = names[i];
    names[i] = NULL;
    p2v_info("export '%s': the snapshot of %s (%s, %s)", disks[i]->export_name, volumes[i],
             device, disks[i]->description);
  }
  return disks;
}

struct p2v_disk **agent_snapshot_disks_open(char *const *volumes, size_t n,
                                            const struct p2v_disk_options *options,
                                            struct agent_snapshot **snapshot)
{
  struct p2v_disk **disks = NULL;
  char **names = export_names(volumes, n);      /* a bad name before any snapshot */
  if (names && (*snapshot = agent_snapshot_create(volumes, n)) &&
      !(disks = open_devices(*snapshot, volumes, names, n, options))) {
    agent_snapshot_release(*snapshot, false);
    *snapshot = NULL;
  }
  names_free(names, n);
  return disks;
}

struct agent_done_watch {
  pthread_t thread;
  const struct p2v_nbd_counters *counters;
  volatile sig_atomic_t *stop;
  atomic_bool quit;
};

static void *watch_main(void *opaque)
{
  struct agent_done_watch *w = opaque;
  while (!atomic_load(&w->quit) && !*w->stop) {
    if (atomic_load(&w->counters->converter_done) && atomic_load(&w->counters->clients) == 0) {
      fprintf(stderr, "%s: the converter has everything; releasing the snapshot\n",
              p2v_program_name());
      *w->stop = 1;
      break;
    }
    usleep(DONE_POLL_US);
  }
  return NULL;
}

struct agent_done_watch *agent_done_watch_start(const struct p2v_nbd_counters *counters,
                                                volatile sig_atomic_t *stop)
{
  struct agent_done_watch *w = calloc(1, sizeof *w);
  if (!w) {
    p2v_error("out of memory");
    return NULL;
  }
  w->counters = counters;
  w->stop = stop;
  atomic_init(&w->quit, false);
  int err = pthread_create(&w->thread, NULL, watch_main, w);
  if (err) {
    p2v_error("cannot start a thread: %s", strerror(err));
    free(w);
    return NULL;
  }
  return w;
}

void agent_done_watch_stop(struct agent_done_watch *w)
{
  if (!w)
    return;
  atomic_store(&w->quit, true);
  pthread_join(w->thread, NULL);
  free(w);
}
