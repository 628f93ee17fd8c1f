/* NTFS with libntfs-3g: free clusters from $Bitmap, and the data runs of
 * pagefile.sys, hiberfil.sys and swapfile.sys, are unused.  The volume is
 * mounted read-only through a device whose every read goes through our
 * read-only fd at the partition offset, and whose writes fail.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>

#include <ntfs-3g/types.h>
#include <ntfs-3g/attrib.h>
#include <ntfs-3g/device.h>
#include <ntfs-3g/dir.h>
#include <ntfs-3g/inode.h>
#include <ntfs-3g/logfile.h>
#include <ntfs-3g/logging.h>
#include <ntfs-3g/volume.h>

#include "disk-internal.h"
#include "log.h"

/* Boot sector: OEM id "NTFS    " at byte 3. */
static bool ntfs_probe(const struct p2v_fs_input *in)
{
  char oem[8];
  return in->length >= 4096 &&
    p2v_read_exact(in->fd, oem, sizeof oem, in->offset + 3) == 0 &&
    memcmp(oem, "NTFS    ", sizeof oem) == 0;
}

/* The partition as an ntfs_device. */
struct part_dev {
  const struct p2v_fs_input *in;
  uint64_t position;
};

static int pd_open(struct ntfs_device *dev, int flags)
{
  if ((flags & O_ACCMODE) != O_RDONLY) {
    errno = EROFS;
    return -1;
  }
  ((struct part_dev *) dev->d_private)->position = 0;
  NDevSetOpen(dev);
  NDevSetReadOnly(dev);
  return 0;
}

static int pd_close(struct ntfs_device *dev)
{
  NDevClearOpen(dev);
  return 0;
}

static s64 pd_pread(struct ntfs_device *dev, void *buf, s64 count, s64 offset)
{
  struct part_dev *pd = dev->d_private;
  uint64_t len = pd->in->length;
  if (count < 0 || offset < 0) {
    errno = EINVAL;
    return -1;
  }
  if ((uint64_t) offset >= len)
    return 0;
  if ((uint64_t) count > len - (uint64_t) offset)
    count = (s64) (len - (uint64_t) offset);
  if (p2v_read_exact(pd->in->fd, buf, (size_t) count, pd->in->offset + (uint64_t) offset) == -1)
    return -1;
  return count;
}

static s64 pd_seek(struct ntfs_device *dev, s64 offset, int whence)
{
  struct part_dev *pd = dev->d_private;
  s64 base = whence == SEEK_SET ? 0
    : whence == SEEK_CUR ? (s64) pd->position
    : whence == SEEK_END ? (s64) pd->in->length : -1;
  if (base < 0 || base + offset < 0) {
    errno = EINVAL;
    return -1;
  }
  pd->position = (uint64_t) (base + offset);
  return (s64) pd->position;
}

static s64 pd_read(struct ntfs_device *dev, void *buf, s64 count)
{
  struct part_dev *pd = dev->d_private;
  s64 r = pd_pread(dev, buf, count, (s64) pd->position);
  if (r > 0)
    pd->position += (uint64_t) r;
  return r;
}

static s64 pd_write(struct ntfs_device *dev, const void *buf, s64 count)
{
  errno = EROFS;
  return -1;
}

static s64 pd_pwrite(struct ntfs_device *dev, const void *buf, s64 count, s64 offset)
{
  errno = EROFS;
  return -1;
}

static int pd_sync(struct ntfs_device *dev) { return 0; }

static int pd_stat(struct ntfs_device *dev, struct stat *st)
{
  memset(st, 0, sizeof *st);
  st->st_mode = S_IFREG | 0444;
  st->st_size = (off_t) ((struct part_dev *) dev->d_private)->in->length;
  return 0;
}

static int pd_ioctl(struct ntfs_device *dev, unsigned long request, void *argp)
{
  struct part_dev *pd = dev->d_private;
  switch (request) {
  case BLKGETSIZE64:
    *(uint64_t *) argp = pd->in->length;
    return 0;
  case BLKGETSIZE:
    *(unsigned long *) argp = (unsigned long) (pd->in->length / 512);
    return 0;
  case BLKSSZGET:
    *(int *) argp = 512;
    return 0;
  default:
    errno = ENOTTY;
    return -1;
  }
}

static struct ntfs_device_operations part_dev_ops = {
  .open = pd_open, .close = pd_close, .seek = pd_seek, .read = pd_read,
  .write = pd_write, .pread = pd_pread, .pwrite = pd_pwrite, .sync = pd_sync,
  .stat = pd_stat, .ioctl = pd_ioctl,
};

/* Free clusters of $Bitmap as unused ranges; count the used ones. */
static int scan_bitmap(ntfs_volume *vol, const struct p2v_fs_input *in,
                       struct p2v_fs_output *out, char *why, size_t why_size)
{
  enum { CHUNK = 1 << 20 };
  uint64_t nclusters = (uint64_t) vol->nr_clusters, cs = vol->cluster_size;
  uint64_t used = 0, free_start = 0;
  bool in_free = false;
  unsigned char *buf = malloc(CHUNK);
  int ret = -1;

  if (!buf) {
    snprintf(why, why_size, "%m");
    return -1;
  }
  for (uint64_t byte = 0; byte * 8 < nclusters; byte += CHUNK) {
    s64 want = (s64) ((nclusters + 7) / 8 - byte);
    if (want > CHUNK)
      want = CHUNK;
    if (ntfs_attr_pread(vol->lcnbmp_na, (s64) byte, want, buf) != want) {
      snprintf(why, why_size, "cannot read the cluster bitmap: %m");
      goto out;
    }
    for (s64 i = 0; i < want; i++) {
      uint64_t lcn = (byte + (uint64_t) i) * 8;
      unsigned char b = buf[i];
      /* Whole bytes first: most of a bitmap is 0x00 or 0xff. */
      if ((b == 0x00 && in_free) || (b == 0xff && !in_free && lcn + 8 <= nclusters)) {
        if (b == 0xff)
          used += 8;
        continue;
      }
      for (unsigned bit = 0; bit < 8 && lcn + bit < nclusters; bit++) {
        bool is_free = !(b & (1u << bit));
        if (is_free && !in_free) {
          free_start = lcn + bit;
          in_free = true;
        }
        else if (!is_free) {
          used++;
          if (in_free) {
            if (p2v_extent_list_add(out->unused, in->offset + free_start * cs,
                                    (lcn + bit - free_start) * cs) == -1)
              goto oom;
            in_free = false;
          }
        }
      }
    }
  }
  if (in_free && p2v_extent_list_add(out->unused, in->offset + free_start * cs,
                                     (nclusters - free_start) * cs) == -1)
    goto oom;
  out->used_bytes = used * cs;
  ret = 0;
  goto out;
oom:
  snprintf(why, why_size, "%m");
out:
  free(buf);
  return ret;
}

/* The data runs of a file in the root folder whose contents the VM does
 * not need.  Missing or odd files are skipped: they only cost bandwidth. */
static int scan_throwaway(ntfs_volume *vol, const struct p2v_fs_input *in,
                          struct p2v_fs_output *out, const char *name)
{
  ntfs_inode *ni = ntfs_pathname_to_inode(vol, NULL, name);
  ntfs_attr *na = NULL;
  uint64_t cs = vol->cluster_size, total = 0;
  int ret = 0;

  if (!ni)
    return 0;
  na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
  if (!na || !NAttrNonResident(na) || ntfs_attr_map_whole_runlist(na) == -1)
    goto out;
  for (runlist_element *rl = na->rl; rl && rl->length; rl++) {
    if (rl->lcn < 0 || rl->length < 0 ||
        (uint64_t) rl->lcn + (uint64_t) rl->length > (uint64_t) vol->nr_clusters)
      continue;               /* a hole, or nonsense */
    if (p2v_extent_list_add(out->unused, in->offset + (uint64_t) rl->lcn * cs,
                            (uint64_t) rl->length * cs) == -1) {
      ret = -1;
      goto out;
    }
    total += (uint64_t) rl->length * cs;
  }
  p2v_debug("%s: %s: %" PRIu64 " bytes not sent", in->disk_path, name, total);
out:
  if (na)
    ntfs_attr_close(na);
  ntfs_inode_close(ni);
  return ret;
}

/* The bitmap is only the truth if Windows left nothing pending: a journal
 * to replay, a hibernated session or a chkdsk request could each allocate
 * clusters the bitmap still calls free. */
static int check_clean(ntfs_volume *vol, char *why, size_t why_size)
{
  ntfs_inode *ni;
  ntfs_attr *na;
  RESTART_PAGE_HEADER *rp = NULL;
  bool clean;

  if (vol->flags & VOLUME_IS_DIRTY) {
    snprintf(why, why_size, "the volume is marked dirty (run chkdsk in Windows first)");
    return -1;
  }
  if (ntfs_volume_check_hiberfile(vol, 0) == -1) {
    snprintf(why, why_size, "%s", errno == EPERM
             ? "Windows is hibernated or uses fast startup (shut it down fully first)"
             : "cannot read hiberfil.sys");
    return -1;
  }
  ni = ntfs_inode_open(vol, FILE_LogFile);
  if (!ni) {
    snprintf(why, why_size, "cannot open $LogFile: %m");
    return -1;
  }
  na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
  clean = na && ntfs_check_logfile(na, &rp) && ntfs_is_logfile_clean(na, rp);
  free(rp);
  if (na)
    ntfs_attr_close(na);
  ntfs_inode_close(ni);
  if (!clean) {
    snprintf(why, why_size, "the journal ($LogFile) is not clean (Windows was not shut down cleanly)");
    return -1;
  }
  return 0;
}

static int ntfs_scan(const struct p2v_fs_input *in, struct p2v_fs_output *out,
                     char *why, size_t why_size)
{
  static const char *const throwaway[] = { "pagefile.sys", "hiberfil.sys", "swapfile.sys" };
  struct part_dev pd = { .in = in };
  struct ntfs_device *dev;
  ntfs_volume *vol;
  int ret = -1;

  ntfs_log_set_handler(p2v_log_verbosity() >= 2 ? ntfs_log_handler_stderr
                                                 : ntfs_log_handler_null);
  dev = ntfs_device_alloc(in->disk_path, 0, &part_dev_ops, &pd);
  if (!dev) {
    snprintf(why, why_size, "%m");
    return -1;
  }
  vol = ntfs_device_mount(dev, NTFS_MNT_RDONLY);
  if (!vol) {
    snprintf(why, why_size, "%s", errno == EINVAL ? "the boot sector is not valid NTFS"
             : errno == EIO ? "its metadata is damaged or unreadable" : strerror(errno));
    ntfs_device_free(dev);
    return -1;
  }
  if ((uint64_t) vol->nr_clusters * vol->cluster_size > in->length) {
    snprintf(why, why_size, "the filesystem is larger than its partition");
    goto out;
  }
  if (check_clean(vol, why, why_size) == -1 ||
      scan_bitmap(vol, in, out, why, why_size) == -1)
    goto out;
  for (size_t i = 0; i < sizeof throwaway / sizeof throwaway[0]; i++)
    if (scan_throwaway(vol, in, out, throwaway[i]) == -1) {
      snprintf(why, why_size, "%m");
      goto out;
    }
  if (vol->vol_name && vol->vol_name[0] && !(out->label = strdup(vol->vol_name))) {
    snprintf(why, why_size, "%m");
    goto out;
  }
  ret = 0;
out:
  ntfs_umount(vol, FALSE);
  return ret;
}

const struct p2v_filesystem p2v_fs_ntfs = {
  .name = "ntfs", .probe = ntfs_probe, .scan = ntfs_scan,
};
