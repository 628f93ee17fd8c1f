/* Disk source on Windows: an image file or a device (\\.\PhysicalDriveN,
 * \\.\C:), opened read-only, always: GENERIC_READ only, sharing read and
 * write with the running system that owns the disk.  Reads are ReadFile
 * at an explicit offset (OVERLAPPED), so threads need no shared position;
 * a device is read in whole sectors, as Windows requires of raw disks.
 * No holes are reported here (every block is data): free clusters come
 * from volume-win32.c through the disk view (disk-view.c).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <windows.h>
#include <winioctl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk-internal.h"
#include "human-size.h"
#include "log.h"

#define MAX_READ_CHUNK (1u << 30)   /* ReadFile takes a DWORD count */

struct win_source {
  HANDLE handle;
  char *path;                 /* for messages */
  bool device;                /* reads in whole sectors */
  uint32_t sector;
};

/* Exactly count bytes at offset, as the handle allows (aligned for devices). */
static int read_at(HANDLE handle, void *buf, size_t count, uint64_t offset)
{
  unsigned char *p = buf;
  while (count > 0) {
    DWORD want = count > MAX_READ_CHUNK ? MAX_READ_CHUNK : (DWORD) count, got = 0;
    OVERLAPPED ov = { .Offset = (DWORD) offset, .OffsetHigh = (DWORD) (offset >> 32) };
    if (!ReadFile(handle, p, want, &got, &ov))
      return -1;
    if (got == 0) {
      SetLastError(ERROR_HANDLE_EOF);     /* past the end: the disk shrank? */
      return -1;
    }
    p += got;
    offset += got;
    count -= got;
  }
  return 0;
}

/* A device read not on sector boundaries: through an aligned bounce buffer. */
static int read_unaligned(struct win_source *h, void *buf, size_t count, uint64_t offset)
{
  uint64_t start = offset - offset % h->sector;
  uint64_t end = offset + count;
  end += (h->sector - end % h->sector) % h->sector;
  size_t span = (size_t) (end - start);
  unsigned char *bounce = _aligned_malloc(span, h->sector);
  if (!bounce) {
    SetLastError(ERROR_NOT_ENOUGH_MEMORY);
    return -1;
  }
  int r = read_at(h->handle, bounce, span, start);
  if (r == 0)
    memcpy(buf, bounce + (offset - start), count);
  _aligned_free(bounce);
  return r;
}

static int win_pread(void *handle, void *buf, size_t count, uint64_t offset)
{
  struct win_source *h = handle;
  bool aligned = !h->device || (offset % h->sector == 0 && count % h->sector == 0 &&
                                (uintptr_t) buf % h->sector == 0);
  int r = aligned ? read_at(h->handle, buf, count, offset)
                  : read_unaligned(h, buf, count, offset);
  if (r == -1) {
    char why[320];
    p2v_win32_message(GetLastError(), why, sizeof why);
    p2v_error("cannot read %s at offset %" PRIu64 ": %s", h->path, offset, why);
    return -1;
  }
  return 0;
}

static void win_close(void *handle)
{
  struct win_source *h = handle;
  CloseHandle(h->handle);
  free(h->path);
  free(h);
}

static const struct p2v_disk_source_ops file_ops = {
  .kind = "file", .pread = win_pread, .extents = NULL, .close = win_close,
};
static const struct p2v_disk_source_ops device_ops = {
  .kind = "block device", .pread = win_pread, .extents = NULL, .close = win_close,
};

int p2v_disk_source_file_fd(const struct p2v_disk *disk)
{
  return -1;                  /* no descriptor for the (Linux-only) probe */
}

/* \\.\PhysicalDrive0, \\.\C: and the like, and a VSS shadow copy
 * (\\?\GLOBALROOT\Device\HarddiskVolumeShadowCopyN): a device, sized by ioctl. */
static bool is_device_path(const char *path)
{
  return !strncmp(path, "\\\\.\\", 4) || !strncmp(path, "//./", 4) ||
         !strncasecmp(path, "\\\\?\\GLOBALROOT\\", 15);
}

static int device_size(HANDLE handle, uint64_t *size, uint32_t *sector)
{
  GET_LENGTH_INFORMATION length;
  DWORD returned;
  if (!DeviceIoControl(handle, IOCTL_DISK_GET_LENGTH_INFO, NULL, 0, &length, sizeof length,
                       &returned, NULL))
    return -1;
  *size = (uint64_t) length.Length.QuadPart;
  DISK_GEOMETRY geometry;
  if (DeviceIoControl(handle, IOCTL_DISK_GET_DRIVE_GEOMETRY, NULL, 0, &geometry,
                      sizeof geometry, &returned, NULL) &&
      geometry.BytesPerSector >= 512 && geometry.BytesPerSector <= 65536 &&
      (geometry.BytesPerSector & (geometry.BytesPerSector - 1)) == 0)
    *sector = geometry.BytesPerSector;
  return 0;
}

/* The last part of path, after '\' or '/' (C:\images\disk.img: disk.img). */
static const char *base_name(const char *path)
{
  const char *base = path;
  for (const char *p = path; *p; p++)
    if (*p == '\\' || *p == '/' || (*p == ':' && p == path + 1))
      base = p + 1;
  return *base ? base : path;
}

int p2v_disk_source_file_open(struct p2v_disk *disk, const char *path)
{
  char why[320];
  bool device = is_device_path(path);
  if (!device) {
    DWORD attributes = GetFileAttributesA(path);
    if (attributes != INVALID_FILE_ATTRIBUTES && (attributes & FILE_ATTRIBUTE_DIRECTORY)) {
      p2v_error("cannot open disk %s: it is a directory — give a disk image or "
                "\\\\.\\PhysicalDriveN", path);
      return -1;
    }
  }
  /* Read-only, always; the system may go on writing (a live source). */
  HANDLE handle = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                              OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
  if (handle == INVALID_HANDLE_VALUE) {
    p2v_win32_message(GetLastError(), why, sizeof why);
    p2v_error("cannot open disk %s: %s", path, why);
    return -1;
  }
  uint64_t size = 0;
  uint32_t sector = 512;
  LARGE_INTEGER file_size;
  int r = device ? device_size(handle, &size, &sector)
                 : GetFileSizeEx(handle, &file_size) ? 0 : -1;
  if (r == -1) {
    p2v_win32_message(GetLastError(), why, sizeof why);
    p2v_error("cannot open disk %s: cannot get its size: %s", path, why);
    CloseHandle(handle);
    return -1;
  }
  if (!device)
    size = (uint64_t) file_size.QuadPart;
  if (size == 0) {
    p2v_error("cannot open disk %s: it is empty (0 bytes)", path);
    CloseHandle(handle);
    return -1;
  }
  struct win_source *h = calloc(1, sizeof *h);
  char human[P2V_HUMAN_SIZE_MAX];
  p2v_human_size(human, sizeof human, size);
  if (!h || !(h->path = strdup(path)) || !(disk->export_name = strdup(base_name(path))) ||
      asprintf(&disk->description, "%s, %s", device ? "disk" : "disk image", human) == -1) {
    disk->description = NULL;
    if (h)
      free(h->path);
    free(h);
    CloseHandle(handle);
    p2v_error("cannot open disk %s: out of memory", path);
    return -1;
  }
  h->handle = handle;
  h->device = device;
  h->sector = sector;
  disk->ops = device ? &device_ops : &file_ops;
  disk->handle = h;
  disk->size = size;
  disk->block_size = sector;
  return 0;
}
