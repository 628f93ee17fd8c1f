/* Surveying disks on Linux: what sysfs says about the device, and what the
 * disk module finds in its partition table and filesystems.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cleanup.h"
#include "disk.h"
#include "log.h"
#include "survey-internal.h"

/* Kernel block devices that are not disks of the machine: virtual, RAM
 * based, assembled from other disks, our own NBD, optical and floppy. */
static bool skipped_by_default(const char *name)
{
  static const char *const prefixes[] = { "loop", "ram", "zram", "dm-", "md", "nbd", "sr", "fd", NULL };
  for (size_t i = 0; prefixes[i]; i++)
    if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
      return true;
  return false;
}

/* The bus from the device's place in sysfs: the path of a SATA disk runs
 * through ".../ata1/host0/target0:0:0/...", of an NVMe one through
 * ".../nvme/nvme0/...".  The first match in this order wins (USB disks are
 * SCSI too, virtio-scsi disks are virtio too). */
static char *bus_from_path(const char *real)
{
  static const struct { const char *segment, *bus; } rules[] = {
    { "usb", "usb" }, { "ata", "ata" }, { "nvme", "nvme" }, { "mmc", "mmc" },
    { "host", "scsi" }, { "virtio", "virtio" }, { "vbd-", "xen" }, { NULL, NULL },
  };
  for (size_t r = 0; rules[r].segment; r++)
    for (const char *p = strchr(real, '/'); p; p = strchr(p + 1, '/'))
      if (strncmp(p + 1, rules[r].segment, strlen(rules[r].segment)) == 0)
        return strdup(rules[r].bus);
  return NULL;
}

/* The unit serial number VPD page (SCSI, SATA through libata): a 4-byte
 * header whose last byte is the length, then ASCII. */
static char *serial_from_vpd(const char *devdir)
{
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/device/vpd_pg80", devdir) >= (int) sizeof path)
    return NULL;
  CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
  unsigned char buf[260];
  ssize_t n = fd == -1 ? -1 : read(fd, buf, sizeof buf);
  if (n < 4 || buf[1] != 0x80 || buf[3] > n - 4)
    return NULL;
  return survey_clean_n((const char *)buf + 4, buf[3]);
}

/* What sysfs knows about the disk whose folder is devdir
 * (/sys/devices/.../block/sda; a partition's folder when given one). */
static void from_sysfs(struct p2v_survey_disk *d, const char *devdir)
{
  char parent[PATH_MAX + 16];
  const char *dev = devdir;
  /* A partition keeps device and queue attributes in its disk's folder. */
  snprintf(parent, sizeof parent, "%s/partition", devdir);
  if (access(parent, F_OK) == 0) {
    snprintf(parent, sizeof parent, "%s", devdir);
    *strrchr(parent, '/') = '\0';
    dev = parent;
  }
  d->bus = bus_from_path(dev);
  d->model = survey_read("%s/device/model", dev);
  /* SCSI vendor strings ("ATA", "SEAGATE"); virtio puts its PCI id there. */
  d->vendor = survey_read("%s/device/vendor", dev);
  if (d->vendor && strncmp(d->vendor, "0x", 2) == 0) {
    free(d->vendor);
    d->vendor = NULL;
  }
  d->serial = survey_read("%s/device/serial", dev);
  if (!d->serial)
    d->serial = survey_read("%s/serial", dev);        /* virtio-blk */
  if (!d->serial)
    d->serial = serial_from_vpd(dev);
  d->logical_sector_size = survey_read_uint("%s/queue/logical_block_size", dev);
  d->physical_sector_size = survey_read_uint("%s/queue/physical_block_size", dev);
  uint64_t v = survey_read_uint("%s/queue/rotational", dev);
  d->rotational = v == P2V_SURVEY_UNKNOWN ? P2V_UNKNOWN : v ? P2V_YES : P2V_NO;
  v = survey_read_uint("%s/removable", dev);
  d->removable = v == P2V_SURVEY_UNKNOWN ? P2V_UNKNOWN : v ? P2V_YES : P2V_NO;
  v = survey_read_uint("%s/size", devdir);            /* in 512-byte units, always */
  if (v != P2V_SURVEY_UNKNOWN && v <= INT64_MAX / 512)
    d->size_bytes = v * 512;
}

/* Partitions and usage, from the disk module (which reads filesystems in a
 * sandboxed child), or from the disk the caller opened already.  A disk
 * that cannot be opened keeps partitions unknown and counts as fully used. */
static void from_disk_module(struct p2v_survey_disk *d, struct p2v_disk *opened)
{
  struct p2v_disk *disk = opened;
  if (!disk) {
    /* Try an open first, so a disk we may not read is one warning here
     * rather than an error line from the disk module. */
    CLEANUP_CLOSE int fd = open(d->path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
      p2v_warning("survey: %s: cannot open, its partitions are unknown: %m", d->path);
      return;
    }
    disk = p2v_disk_open(d->path, &(struct p2v_disk_options){ 0 });
    if (!disk) {
      p2v_warning("survey: %s: cannot read, its partitions are unknown", d->path);
      return;
    }
  }
  if (disk->size <= INT64_MAX)
    d->size_bytes = disk->size;
  d->table_type = survey_clean(disk->table_type);
  size_t n = disk->npartitions;
  if (n > P2V_SURVEY_MAX_ITEMS) {
    p2v_warning("survey: %s: only the first %d of %zu partitions are listed",
                d->path, P2V_SURVEY_MAX_ITEMS, n);
    n = P2V_SURVEY_MAX_ITEMS;
  }
  d->partitions = n ? calloc(n, sizeof *d->partitions) : NULL;
  if (n && !d->partitions) {
    if (!opened)
      p2v_disk_close(disk);
    return;
  }
  d->partitions_known = true;
  uint64_t used = 0;
  for (size_t i = 0; i < n; i++) {
    const struct p2v_partition *src = &disk->partitions[i];
    /* Beyond what JSON readers hold: no real table says this. */
    if (src->offset > INT64_MAX || src->length > INT64_MAX)
      continue;
    struct p2v_survey_partition *p = &d->partitions[d->npartitions++];
    p->number = src->number;
    p->offset = src->offset;
    p->length = src->length;
    p->filesystem = survey_clean(src->filesystem);
    p->label = survey_clean(src->label);
    p->used_bytes = src->used_bytes <= src->length ? src->used_bytes : P2V_SURVEY_UNKNOWN;
    used += p->used_bytes != P2V_SURVEY_UNKNOWN ? p->used_bytes : src->length;
    if (used > d->size_bytes)
      used = d->size_bytes;
  }
  /* No partitions: a filesystem may fill the whole disk. */
  if (n == 0) {
    uint64_t unused = p2v_extent_list_total(&disk->unused);
    used = unused < d->size_bytes ? d->size_bytes - unused : 0;
  }
  d->used_bytes = used;
  if (!opened)
    p2v_disk_close(disk);
}

/* Describe the disk or image at path; false if it cannot even be found. */
static bool describe(struct p2v_survey_disk *d, const char *path, struct p2v_disk *opened)
{
  struct stat st;
  if (stat(path, &st) == -1) {
    p2v_warning("survey: %s: left out: %m", path);
    return false;
  }
  if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) {
    p2v_warning("survey: %s: left out: not a block device or a file", path);
    return false;
  }
  d->logical_sector_size = d->physical_sector_size = P2V_SURVEY_UNKNOWN;
  d->rotational = d->removable = P2V_UNKNOWN;
  d->path = survey_clean(path);
  const char *slash = strrchr(path, '/');
  if (S_ISBLK(st.st_mode)) {
    char link[64], real[PATH_MAX];
    snprintf(link, sizeof link, "/sys/dev/block/%u:%u", major(st.st_rdev), minor(st.st_rdev));
    if (realpath(link, real)) {
      slash = strrchr(real, '/');
      d->name = survey_clean(slash + 1);
      from_sysfs(d, real);
    }
  } else if (S_ISREG(st.st_mode)) {
    d->bus = strdup("file");
    d->size_bytes = (uint64_t)st.st_size;
  }
  if (!d->name)
    d->name = survey_clean(slash ? slash + 1 : path);
  if (!d->path || !d->name) {
    p2v_warning("survey: %s: left out: the name is not usable", path);
    survey_clear_disk(d);
    return false;
  }
  d->used_bytes = d->size_bytes;                      /* until known better */
  from_disk_module(d, opened);
  return true;
}

static int compare_names(const void *a, const void *b)
{
  return strverscmp(*(char *const *)a, *(char *const *)b);
}

/* /dev paths of the machine's disks, in name order (sda, sdb, ..., sdaa). */
static char **list_system_disks(size_t *n)
{
  *n = 0;
  DIR *dir = opendir("/sys/block");
  if (!dir) {
    p2v_warning("survey: cannot list /sys/block, no disks are listed: %m");
    return NULL;
  }
  char **names = NULL;
  size_t capacity = 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] == '.' || skipped_by_default(e->d_name))
      continue;
    /* Empty card readers and drives without a medium. */
    if (survey_read_uint("/sys/block/%s/size", e->d_name) == 0)
      continue;
    if (*n >= P2V_SURVEY_MAX_ITEMS ||
        survey_grow((void **)&names, &capacity, *n, sizeof *names) == -1)
      break;
    /* "cciss!c0d0" in sysfs is /dev/cciss/c0d0. */
    if (asprintf(&names[*n], "/dev/%s", e->d_name) == -1)
      break;
    for (char *p = names[*n]; *p; p++)
      if (*p == '!')
        *p = '/';
    ++*n;
  }
  closedir(dir);
  if (*n)
    qsort(names, *n, sizeof *names, compare_names);
  return names;
}

void survey_linux_disks(struct p2v_survey *s, const char *const *paths,
                        struct p2v_disk *const *opened, size_t n)
{
  char **owned = NULL;
  size_t nowned = 0;
  if (n == 0) {
    owned = list_system_disks(&nowned);
    paths = (const char *const *)owned;
    n = nowned;
  }
  if (n > P2V_SURVEY_MAX_ITEMS) {
    p2v_warning("survey: only the first %d of %zu disks are listed", P2V_SURVEY_MAX_ITEMS, n);
    n = P2V_SURVEY_MAX_ITEMS;
  }
  s->disks = n ? calloc(n, sizeof *s->disks) : NULL;
  for (size_t i = 0; s->disks && i < n; i++)
    if (describe(&s->disks[s->ndisks], paths[i], opened ? opened[i] : NULL))
      s->ndisks++;
  for (size_t i = 0; i < nowned; i++)
    free(owned[i]);
  free(owned);
}
