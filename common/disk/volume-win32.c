/* The Windows ioctls behind volume-win32.h.  Each answer goes straight to
 * the pure parser (ntfs-ioctl-parse.c), which checks it; this file only
 * asks, grows buffers and words errors.  Not exercised under wine (it has
 * none of these ioctls); see docs/allocation.md.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <windows.h>
#include <winioctl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "volume-win32.h"

#define BITMAP_CHUNK   (1u << 20)   /* 8 M clusters per call: 32 GiB at 4 KiB */
#define RUNS_CHUNK     (64u << 10)  /* 4095 runs per call */
#define MAX_FREE_RANGES (16u << 20)  /* 256 MiB of ranges; beyond, free runs are sent */
#define LAYOUT_MAX     (P2V_LAYOUT_HEADER + P2V_LAYOUT_MAX_PARTITIONS * P2V_LAYOUT_ENTRY)

static HANDLE open_read(const char *path, DWORD access)
{
  return CreateFileA(path, access, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                     NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
}

int p2v_win32_drive_layout(const char *disk_path, uint64_t disk_size,
                           struct p2v_drive_layout *layout)
{
  char why[320];
  const char *reason;
  HANDLE disk = open_read(disk_path, GENERIC_READ);
  if (disk == INVALID_HANDLE_VALUE) {
    p2v_win32_message(GetLastError(), why, sizeof why);
    p2v_error("cannot open disk %s: %s", disk_path, why);
    return -1;
  }
  /* The buffer must hold every entry: grow until it does (128 entries on
   * a GPT disk at most, but the parser's cap bounds us anyway). */
  DWORD size = P2V_LAYOUT_HEADER + 16 * P2V_LAYOUT_ENTRY, returned = 0;
  uint8_t *buf = NULL;
  int r = -1;
  for (;;) {
    uint8_t *grown = realloc(buf, size);
    if (!grown) {
      p2v_error("cannot read the partition table of %s: out of memory", disk_path);
      goto out;
    }
    buf = grown;
    if (DeviceIoControl(disk, IOCTL_DISK_GET_DRIVE_LAYOUT_EX, NULL, 0, buf, size,
                        &returned, NULL))
      break;
    DWORD err = GetLastError();
    if ((err != ERROR_INSUFFICIENT_BUFFER && err != ERROR_MORE_DATA) || size >= LAYOUT_MAX) {
      p2v_win32_message(err, why, sizeof why);
      p2v_error("cannot read the partition table of %s: %s", disk_path, why);
      goto out;
    }
    size = size * 2 > LAYOUT_MAX ? LAYOUT_MAX : size * 2;
  }
  if (p2v_drive_layout_parse(buf, returned, disk_size, layout, &reason) == -1) {
    p2v_error("cannot read the partition table of %s: %s", disk_path, reason);
    goto out;
  }
  r = 0;
out:
  free(buf);
  CloseHandle(disk);
  return r;
}

/* Free clusters of the open volume, in pieces of BITMAP_CHUNK. */
static int volume_bitmap(HANDLE volume, const char *path, const struct p2v_volume_geometry *g,
                         struct p2v_extent_list *out)
{
  struct p2v_bitmap_walk walk = { .geometry = *g, .max_ranges = MAX_FREE_RANGES };
  uint8_t *buf = malloc(BITMAP_CHUNK);
  if (!buf) {
    p2v_error("cannot read the cluster bitmap of %s: out of memory", path);
    return -1;
  }
  int r = 0;
  while (!walk.done && r == 0) {
    STARTING_LCN_INPUT_BUFFER in = { .StartingLcn.QuadPart = (LONGLONG) walk.next_lcn };
    DWORD returned = 0;
    bool more = false;
    if (!DeviceIoControl(volume, FSCTL_GET_VOLUME_BITMAP, &in, sizeof in, buf, BITMAP_CHUNK,
                         &returned, NULL)) {
      DWORD err = GetLastError();
      if (err != ERROR_MORE_DATA) {
        char why[320];
        p2v_win32_message(err, why, sizeof why);
        p2v_error("cannot read the cluster bitmap of %s: %s", path, why);
        r = -1;
        break;
      }
      more = true;
    }
    const char *reason;
    if (p2v_volume_bitmap_feed(&walk, buf, returned, more, out, &reason) == -1) {
      p2v_error("cannot read the cluster bitmap of %s: %s", path, reason);
      r = -1;
    }
  }
  if (r == 0 && walk.dropped_clusters > 0)
    p2v_warning("%s: free space too fragmented to list whole: %" PRIu64 " free clusters "
                "will be sent", path, walk.dropped_clusters);
  free(buf);
  return r;
}

/* The runs of one file at the volume's root; a file that is not there
 * (no page file, hibernation off) adds nothing. */
static int file_runs(const char *volume_path, const char *name,
                     const struct p2v_volume_geometry *g, struct p2v_extent_list *out)
{
  char path[MAX_PATH + 64];
  snprintf(path, sizeof path, "%s\\%s", volume_path, name);
  HANDLE file = open_read(path, FILE_READ_ATTRIBUTES);
  if (file == INVALID_HANDLE_VALUE) {
    DWORD err = GetLastError();
    if (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND)
      return 0;
    char why[320];
    p2v_win32_message(err, why, sizeof why);
    p2v_warning("cannot open %s to leave out its contents: %s; it will be sent", path, why);
    return 0;
  }
  struct p2v_retrieval_walk walk = { .geometry = *g };
  struct p2v_extent_list runs = P2V_EXTENT_LIST_INIT;
  uint8_t *buf = malloc(RUNS_CHUNK);
  int r = buf ? 0 : -1;
  while (r == 0 && !walk.done) {
    STARTING_VCN_INPUT_BUFFER in = { .StartingVcn.QuadPart = (LONGLONG) walk.next_vcn };
    DWORD returned = 0;
    bool more = false;
    if (!DeviceIoControl(file, FSCTL_GET_RETRIEVAL_POINTERS, &in, sizeof in, buf, RUNS_CHUNK,
                         &returned, NULL)) {
      DWORD err = GetLastError();
      if (err == ERROR_HANDLE_EOF)          /* no clusters at all (resident, empty) */
        break;
      if (err != ERROR_MORE_DATA) {
        char why[320];
        p2v_win32_message(err, why, sizeof why);
        p2v_warning("cannot read where %s lies: %s; it will be sent", path, why);
        r = -1;
        break;
      }
      more = true;
    }
    const char *reason;
    if (p2v_retrieval_pointers_feed(&walk, buf, returned, more, &runs, &reason) == -1) {
      p2v_warning("cannot read where %s lies: %s; it will be sent", path, reason);
      r = -1;
    }
  }
  /* All or nothing: half a file's runs would be as right, but say less. */
  for (size_t i = 0; r == 0 && i < runs.count; i++)
    if (p2v_extent_list_add(out, runs.items[i].offset, runs.items[i].length) == -1)
      r = -1;
  if (r == 0)
    p2v_debug("%s: %" PRIu64 " clusters left out", path, walk.clusters);
  p2v_extent_list_clear(&runs);
  free(buf);
  CloseHandle(file);
  return 0;                   /* a page file we cannot place is merely sent */
}

int p2v_win32_volume_unused(const char *volume_path, uint64_t volume_offset,
                            struct p2v_extent_list *out)
{
  char why[320];
  HANDLE volume = open_read(volume_path, GENERIC_READ);
  if (volume == INVALID_HANDLE_VALUE) {
    p2v_win32_message(GetLastError(), why, sizeof why);
    p2v_error("cannot open volume %s: %s", volume_path, why);
    return -1;
  }
  NTFS_VOLUME_DATA_BUFFER data;
  DWORD returned = 0;
  struct p2v_extent_list unused = P2V_EXTENT_LIST_INIT;
  int r = -1;
  if (!DeviceIoControl(volume, FSCTL_GET_NTFS_VOLUME_DATA, NULL, 0, &data, sizeof data,
                       &returned, NULL) || returned < sizeof data) {
    p2v_win32_message(GetLastError(), why, sizeof why);
    p2v_error("cannot read volume %s as NTFS: %s", volume_path, why);
    goto out;
  }
  if (data.TotalClusters.QuadPart <= 0 || data.BytesPerCluster == 0 ||
      (uint64_t) data.TotalClusters.QuadPart > UINT64_MAX / data.BytesPerCluster) {
    p2v_error("cannot read volume %s as NTFS: it reports %" PRId64 " clusters of %lu bytes",
              volume_path, (int64_t) data.TotalClusters.QuadPart,
              (unsigned long) data.BytesPerCluster);
    goto out;
  }
  struct p2v_volume_geometry g = {
    .cluster_size = data.BytesPerCluster, .volume_offset = volume_offset,
    .volume_length = (uint64_t) data.TotalClusters.QuadPart * data.BytesPerCluster,
  };
  /* Gathered apart, so a failure half way leaves out as it was. */
  if (volume_bitmap(volume, volume_path, &g, &unused) == -1)
    goto out;
  static const char *const skipped[] = { "pagefile.sys", "hiberfil.sys", "swapfile.sys" };
  for (size_t i = 0; i < sizeof skipped / sizeof skipped[0]; i++)
    file_runs(volume_path, skipped[i], &g, &unused);
  r = 0;
  for (size_t i = 0; r == 0 && i < unused.count; i++)
    r = p2v_extent_list_add(out, unused.items[i].offset, unused.items[i].length);
out:
  p2v_extent_list_clear(&unused);
  CloseHandle(volume);
  return r;
}
