/* Disk source: a regular file (disk image) or a Linux block device, opened
 * read-only.  Regular files report their holes with SEEK_DATA/SEEK_HOLE.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#endif

#include "cleanup.h"
#include "disk-internal.h"
#include "file-io.h"
#include "log.h"

struct file_source {
  int fd;
  char *path;                 /* for messages */
};

int p2v_read_exact(int fd, void *buf, size_t count, uint64_t offset)
{
  ssize_t r = p2v_pread_full(fd, buf, count, offset);
  if (r == -1)
    return -1;
  if ((size_t) r < count) {
    errno = EIO;              /* past the end: the disk shrank? */
    return -1;
  }
  return 0;
}

static int file_pread(void *handle, void *buf, size_t count, uint64_t offset)
{
  struct file_source *h = handle;
  if (p2v_read_exact(h->fd, buf, count, offset) == -1) {
    p2v_error("cannot read %s at offset %" PRIu64 ": %m", h->path, offset);
    return -1;
  }
  return 0;
}

/* lseek(SEEK_DATA/SEEK_HOLE) moves the shared file position, but only
 * pread is used on this fd, so concurrent callers do not disturb reads. */
static int file_extents(void *handle, uint64_t offset, uint64_t count,
                        p2v_extent_fn fn, void *opaque)
{
  struct file_source *h = handle;
  uint64_t end = offset + count;

  while (offset < end) {
    off_t data = lseek(h->fd, (off_t) offset, SEEK_DATA);
    if (data == -1) {
      if (errno == ENXIO)     /* no data after offset: a hole to the end */
        return fn(opaque, offset, end - offset, true);
      if (errno == EINVAL || errno == EOPNOTSUPP)   /* no hole support */
        return fn(opaque, offset, end - offset, false);
      p2v_error("cannot find data in %s at offset %" PRIu64 ": %m", h->path, offset);
      return -1;
    }
    if ((uint64_t) data > offset) {
      uint64_t n = (uint64_t) data < end ? (uint64_t) data - offset : end - offset;
      if (fn(opaque, offset, n, true) == -1)
        return -1;
      offset += n;
      continue;
    }
    off_t hole = lseek(h->fd, (off_t) offset, SEEK_HOLE);
    if (hole == -1) {
      p2v_error("cannot find holes in %s at offset %" PRIu64 ": %m", h->path, offset);
      return -1;
    }
    uint64_t n = (uint64_t) hole > offset && (uint64_t) hole < end
      ? (uint64_t) hole - offset : end - offset;
    if (fn(opaque, offset, n, false) == -1)
      return -1;
    offset += n;
  }
  return 0;
}

static void file_close(void *handle)
{
  struct file_source *h = handle;
  close(h->fd);
  free(h->path);
  free(h);
}

static const struct p2v_disk_source_ops file_ops = {
  .kind = "file", .pread = file_pread, .extents = file_extents, .close = file_close,
};
static const struct p2v_disk_source_ops block_ops = {
  .kind = "block device", .pread = file_pread, .extents = NULL, .close = file_close,
};

int p2v_disk_source_file_fd(const struct p2v_disk *disk)
{
  if (disk->ops != &file_ops && disk->ops != &block_ops)
    return -1;
  return ((struct file_source *) disk->handle)->fd;
}

/* "4.0 GiB": one decimal, binary units. */
static void format_size(uint64_t size, char *buf, size_t len)
{
  static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
  double v = (double) size;
  size_t u = 0;
  if (size < 1024) {
    snprintf(buf, len, "%" PRIu64 " bytes", size);
    return;
  }
  while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
    v /= 1024;
    u++;
  }
  snprintf(buf, len, "%.1f %s", v, units[u]);
}

/* One line of a sysfs attribute without trailing blanks, or "" if absent. */
static void read_sysfs(const char *dev, const char *attr, char *buf, size_t len)
{
  char path[512];
  snprintf(path, sizeof path, "/sys/block/%s/device/%s", dev, attr);
  buf[0] = '\0';
  CLEANUP_FCLOSE FILE *fp = fopen(path, "re");
  if (!fp || !fgets(buf, (int) len, fp)) {
    buf[0] = '\0';
    return;
  }
  size_t n = strlen(buf);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
    buf[--n] = '\0';
}

static char *describe(const char *name, bool block, uint64_t size)
{
  char sz[64], vendor[128] = "", model[128] = "", *out = NULL;
  format_size(size, sz, sizeof sz);
  if (!block) {
    if (asprintf(&out, "disk image, %s", sz) == -1)
      return NULL;
    return out;
  }
  read_sysfs(name, "vendor", vendor, sizeof vendor);
  read_sysfs(name, "model", model, sizeof model);
  const char *sep = vendor[0] && model[0] ? " " : "";
  if (!vendor[0] && !model[0])
    snprintf(model, sizeof model, "disk %s", name);
  if (asprintf(&out, "%s%s%s, %s", vendor, sep, model, sz) == -1)
    return NULL;
  return out;
}

int p2v_disk_source_file_open(struct p2v_disk *disk, const char *path)
{
  CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  struct stat st;
  uint64_t size;
  uint32_t sector = 512;
  bool block;

  if (fd == -1) {
    p2v_error("cannot open disk %s: %m", path);
    return -1;
  }
  if (fstat(fd, &st) == -1) {
    p2v_error("cannot open disk %s: %m", path);
    return -1;
  }
  if (S_ISDIR(st.st_mode)) {
    p2v_error("cannot open disk %s: it is a directory — give a disk image or block device", path);
    return -1;
  }
  block = S_ISBLK(st.st_mode);
  if (!block && !S_ISREG(st.st_mode)) {
    p2v_error("cannot open disk %s: it is neither a disk image nor a block device", path);
    return -1;
  }
  if (block) {
#ifdef BLKGETSIZE64
    int ssz;
    if (ioctl(fd, BLKGETSIZE64, &size) == -1) {
      p2v_error("cannot open disk %s: cannot get its size: %m", path);
      return -1;
    }
    if (ioctl(fd, BLKSSZGET, &ssz) == 0 && ssz >= 512 && ssz <= 65536)
      sector = (uint32_t) ssz;
#else
    p2v_error("cannot open disk %s: block devices are not supported here", path);
    return -1;
#endif
  }
  else
    size = (uint64_t) st.st_size;
  if (size == 0) {
    p2v_error("cannot open disk %s: it is empty (0 bytes)", path);
    return -1;
  }

  CLEANUP_FREE char *copy = strdup(path);
  struct file_source *h = calloc(1, sizeof *h);
  if (!copy || !h || !(h->path = strdup(path))) {
    free(h);
    p2v_error("cannot open disk %s: %m", path);
    return -1;
  }
  const char *base = basename(copy);
  disk->export_name = strdup(base);
  disk->description = describe(base, block, size);
  if (!disk->export_name || !disk->description) {
    free(h->path);
    free(h);
    p2v_error("cannot open disk %s: %m", path);
    return -1;
  }
  h->fd = fd;
  fd = -1;                    /* owned by the source now */
  disk->ops = block ? &block_ops : &file_ops;
  disk->handle = h;
  disk->size = size;
  disk->block_size = sector;
  return 0;
}
