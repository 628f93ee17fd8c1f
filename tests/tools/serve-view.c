/* Serve one disk view over NBD on a loopback address, as the Windows agent
 * will serve a physical disk from its volumes' shadow copies:
 *   serve-view ADDR:PORT DISK CLUSTER NUMBER:OFFSET:LENGTH:VOLUME[:BITMAP]...
 * BITMAP is a recorded FSCTL_GET_VOLUME_BITMAP answer (one buffer) whose
 * free clusters become holes.  Runs until SIGTERM/SIGINT.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk-view.h"
#include "log.h"
#include "nbd-server.h"
#include "ntfs-ioctl-parse.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { stop = 1; }

static int map_volume(struct p2v_disk_view *view, char *spec, uint64_t cluster)
{
  unsigned number;
  uint64_t offset, length;
  int used = 0;
  if (sscanf(spec, "%u:%" SCNu64 ":%" SCNu64 ":%n", &number, &offset, &length, &used) != 3 ||
      used == 0) {
    p2v_error("bad volume %s: give NUMBER:OFFSET:LENGTH:VOLUME[:BITMAP]", spec);
    return -1;
  }
  char *volume = spec + used, *bitmap = strchr(volume, ':');
  if (bitmap)
    *bitmap++ = '\0';
  if (p2v_disk_view_add_volume(view, number, offset, length, volume) == -1)
    return -1;
  if (!bitmap)
    return 0;
  static uint8_t buf[1 << 20];
  FILE *fp = fopen(bitmap, "rb");
  if (!fp) {
    p2v_error("cannot open %s: %m", bitmap);
    return -1;
  }
  size_t len = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  struct p2v_bitmap_walk walk = {
    .geometry = { .cluster_size = cluster, .volume_offset = offset, .volume_length = length },
  };
  struct p2v_extent_list unused = P2V_EXTENT_LIST_INIT;
  const char *why;
  int r = p2v_volume_bitmap_feed(&walk, buf, len, false, &unused, &why);
  if (r == -1)
    p2v_error("cannot read the bitmap %s: %s", bitmap, why);
  else
    r = p2v_disk_view_add_unused(view, &unused);
  p2v_extent_list_clear(&unused);
  return r;
}

int main(int argc, char **argv)
{
  if (argc < 5) {
    fprintf(stderr, "usage: serve-view ADDR:PORT DISK CLUSTER NUMBER:OFFSET:LENGTH:VOLUME[:BITMAP]...\n");
    return 2;
  }
  struct p2v_disk_view *view = p2v_disk_view_new(argv[2]);
  if (!view)
    return 1;
  uint64_t cluster = strtoull(argv[3], NULL, 10);
  for (int i = 4; i < argc; i++)
    if (map_volume(view, argv[i], cluster) == -1) {
      p2v_disk_view_free(view);
      return 1;
    }
  struct p2v_disk *disk = p2v_disk_view_finish(view);
  if (!disk)
    return 1;
  struct sigaction sa = { .sa_handler = on_signal };
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int fd = p2v_net_listen(argv[1]);
  struct p2v_nbd_server server = { .disks = &disk, .ndisks = 1 };
  int r = fd == -1 ? -1 : p2v_nbd_serve_listener(&server, fd, &stop);
  p2v_disk_close(disk);
  return r == 0 ? 0 : 1;
}
