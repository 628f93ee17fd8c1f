/* What the monolithicSparse and streamOptimized writers share: option
 * checks, the embedded descriptor VMware reads, the header, file I/O.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "file-io.h"
#include "log.h"
#include "image/vmdk-format.h"

/* ddb.adapterType values VMware products write; the first is the default
 * (LSI Logic parallel SCSI: what Workstation and ESXi pick for most
 * guests, and a driver every Windows since 2003 ships). */
static const char *const adapter_types[] = {
  "lsilogic", "ide", "buslogic", "lsisas1068", "pvscsi", "legacyESX",
};

static const char *find_adapter_type(const char *name)
{
  if (!name || !*name)
    return adapter_types[0];
  for (size_t i = 0; i < sizeof adapter_types / sizeof adapter_types[0]; i++)
    if (strcmp(name, adapter_types[i]) == 0)
      return adapter_types[i];
  return NULL;
}

static uint32_t random_cid(void)
{
  uint32_t cid = 0;
  /* ffffffff means "no parent" and would read as parentCID; 0 looks unset. */
  while (cid == 0 || cid == UINT32_MAX) {
    if (getrandom(&cid, sizeof cid, 0) != (ssize_t) sizeof cid) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      cid ^= (uint32_t) ts.tv_nsec ^ ((uint32_t) ts.tv_sec << 7) ^ (uint32_t) getpid();
    }
  }
  return cid;
}

int vmdk_layout_init(struct vmdk_layout *l, const char *path, const char *create_type,
                     const struct p2v_sink_options *o)
{
  memset(l, 0, sizeof *l);
  if (o->size == 0) {
    /* A capacity of 0 is how a descriptor-only file is told apart from an
     * extent; readers (qemu, VMware) then refuse the file. */
    p2v_error("cannot write %s: a %s vmdk cannot hold an empty (0 byte) disk",
              path, create_type);
    return -1;
  }
  if (o->size > VMDK_MAX_CAPACITY) {
    p2v_error("cannot write %s: the disk is %" PRIu64 " bytes, more than the "
              "2 TiB a %s vmdk can hold (use qcow2 or raw)",
              path, o->size, create_type);
    return -1;
  }
  l->adapter_type = find_adapter_type(o->adapter_type);
  if (!l->adapter_type) {
    p2v_error("unknown vmdk adapter type %s (lsilogic, ide, buslogic, lsisas1068, "
              "pvscsi, legacyESX)", o->adapter_type);
    return -1;
  }
  /* The descriptor names the file as it will be called once complete,
   * not the partial name it is written under. */
  const char *name = o->final_path ? o->final_path : path;
  const char *base = strrchr(name, '/');
  base = base ? base + 1 : name;
  /* The extent line quotes the name; readers stop at a quote or newline. */
  if (!*base || strpbrk(base, "\"\r\n") || strlen(base) >= sizeof l->extent_name) {
    p2v_error("cannot write %s: a vmdk file name must not be empty, longer than %zu "
              "bytes, or contain quotes or newlines", name, sizeof l->extent_name - 1);
    return -1;
  }
  strcpy(l->extent_name, base);
  l->size = o->size;
  l->capacity = (o->size + VMDK_SECTOR - 1) / VMDK_SECTOR;    /* no overflow: size capped */
  l->grains = (l->capacity + VMDK_GRAIN_SECTORS - 1) / VMDK_GRAIN_SECTORS;
  l->num_gts = (l->grains + VMDK_GTES_PER_GT - 1) / VMDK_GTES_PER_GT;
  l->gd_sectors = (l->num_gts * 4 + VMDK_SECTOR - 1) / VMDK_SECTOR;
  l->cid = random_cid();

  /* Fail on a descriptor that does not fit now, not after copying the disk. */
  CLEANUP_FREE char *desc = malloc(VMDK_DESC_SECTORS * VMDK_SECTOR);
  if (!desc) {
    p2v_error("%s: out of memory", path);
    return -1;
  }
  return vmdk_descriptor(desc, VMDK_DESC_SECTORS * VMDK_SECTOR, l, create_type, path);
}

void vmdk_geometry(uint64_t capacity, const char *adapter_type,
                   uint64_t *cylinders, uint32_t *heads, uint32_t *sectors)
{
  /* VMware's BIOS geometry: IDE disks get 16 heads and at most 16383
   * cylinders (the ATA limit); SCSI disks get 255 heads and as many
   * cylinders as fit, uncapped.  A disk smaller than one cylinder still
   * says 1, never 0. */
  bool ide = strcmp(adapter_type, "ide") == 0;
  *heads = ide ? 16 : 255;
  *sectors = 63;
  uint64_t c = capacity / (*heads * (uint64_t) *sectors);
  if (ide && c > 16383)
    c = 16383;
  if (c == 0)
    c = 1;
  *cylinders = c;
}

int vmdk_descriptor(char *buf, size_t bufsize, const struct vmdk_layout *l,
                    const char *create_type, const char *path)
{
  uint64_t cylinders;
  uint32_t heads, sectors;
  vmdk_geometry(l->capacity, l->adapter_type, &cylinders, &heads, &sectors);

  memset(buf, 0, bufsize);
  int n = snprintf(buf, bufsize,
                   "# Disk DescriptorFile\n"
                   "version=1\n"
                   "encoding=\"UTF-8\"\n"
                   "CID=%08" PRIx32 "\n"
                   "parentCID=ffffffff\n"
                   "createType=\"%s\"\n"
                   "\n"
                   "# Extent description\n"
                   "RW %" PRIu64 " SPARSE \"%s\"\n"
                   "\n"
                   "# The Disk Data Base\n"
                   "#DDB\n"
                   "\n"
                   "ddb.virtualHWVersion = \"4\"\n"
                   "ddb.geometry.cylinders = \"%" PRIu64 "\"\n"
                   "ddb.geometry.heads = \"%" PRIu32 "\"\n"
                   "ddb.geometry.sectors = \"%" PRIu32 "\"\n"
                   "ddb.adapterType = \"%s\"\n",
                   l->cid, create_type, l->capacity, l->extent_name,
                   cylinders, heads, sectors, l->adapter_type);
  /* Keep one NUL at the end so readers that treat it as a C string stop. */
  if (n < 0 || (size_t) n >= bufsize) {
    p2v_error("cannot write %s: the vmdk descriptor does not fit in %zu bytes "
              "(file name too long?)", path, bufsize);
    return -1;
  }
  return 0;
}

void vmdk_header_init(struct vmdk_header *h, uint32_t version, uint32_t flags,
                      uint64_t capacity, uint64_t rgd_offset, uint64_t gd_offset,
                      uint64_t overhead, uint16_t compress_algorithm)
{
  memset(h, 0, sizeof *h);
  h->magic = htole32(VMDK_MAGIC);
  h->version = htole32(version);
  h->flags = htole32(flags);
  h->capacity = htole64(capacity);
  h->grain_size = htole64(VMDK_GRAIN_SECTORS);
  h->descriptor_offset = htole64(VMDK_DESC_OFFSET);
  h->descriptor_size = htole64(VMDK_DESC_SECTORS);
  h->num_gtes_per_gt = htole32(VMDK_GTES_PER_GT);
  h->rgd_offset = htole64(rgd_offset);
  h->gd_offset = htole64(gd_offset);
  h->overhead = htole64(overhead);
  /* Readers compare these to detect files mangled by text-mode FTP. */
  h->single_end_line_char = '\n';
  h->non_end_line_char = ' ';
  h->double_end_line_char1 = '\r';
  h->double_end_line_char2 = '\n';
  h->compress_algorithm = htole16(compress_algorithm);
}

int vmdk_open_output(const char *path)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd == -1)
    p2v_error("cannot create %s: %m", path);
  return fd;
}

int vmdk_pwrite_all(int fd, const char *path, const void *buf, size_t count, uint64_t offset)
{
  if (p2v_pwrite_full(fd, buf, count, offset) == -1) {
    p2v_error("cannot write %s at offset %" PRIu64 ": %m", path, offset);
    return -1;
  }
  return 0;
}

int vmdk_truncate(int fd, const char *path, uint64_t length)
{
  if (ftruncate(fd, (off_t) length) == -1) {
    p2v_error("cannot set the length of %s to %" PRIu64 ": %m", path, length);
    return -1;
  }
  return 0;
}

int vmdk_fsync(int fd, const char *path)
{
  if (fsync(fd) == -1) {
    p2v_error("cannot flush %s to disk: %m", path);
    return -1;
  }
  return 0;
}

int vmdk_check_range(const char *path, uint64_t size, uint64_t offset, uint64_t count)
{
  if (offset > size || count > size - offset ||
      offset % VMDK_GRAIN_BYTES != 0 ||
      (count % VMDK_GRAIN_BYTES != 0 && offset + count != size)) {
    p2v_error("%s: write of %" PRIu64 " bytes at offset %" PRIu64 " is outside the "
              "disk or not aligned to the %u byte grain (a bug in the caller)",
              path, count, offset, VMDK_GRAIN_BYTES);
    errno = EINVAL;
    return -1;
  }
  return 0;
}
