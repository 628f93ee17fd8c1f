/* Unit test of common/disk/disk-view.c: a whole disk assembled from a
 * disk image (partition table and gaps) and separate volume files with
 * different bytes (the partitions), with holes where a synthetic NTFS
 * bitmap and a page file's retrieval pointers say so, through the same
 * p2v_disk_pread/p2v_disk_extents calls the NBD server makes.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk-view.h"
#include "log.h"
#include "ntfs-ioctl-parse.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

#define MiB (UINT64_C(1) << 20)
#define DISK_SIZE (8 * MiB)
#define CL 4096u

static char last_error[2048];
static int nerrors;
static void sink(enum p2v_log_level level, const char *message)
{
  if (level == P2V_LOG_ERROR) {
    snprintf(last_error, sizeof last_error, "%s", message);
    nerrors++;
  }
}

/* Distinct bytes per file: seed ^ position, never all zero. */
static void fill(uint8_t *buf, size_t n, uint8_t seed)
{
  for (size_t i = 0; i < n; i++)
    buf[i] = (uint8_t) (seed ^ (i % 251) ^ (i >> 12)) | 1;
}

static void write_file(const char *path, const uint8_t *buf, size_t n)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, buf, n) == (ssize_t) n);
  CHECK(close(fd) == 0);
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
  uint64_t h = UINT64_C(14695981039346656037);
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * UINT64_C(1099511628211);
  return h;
}

struct run { uint64_t offset, length; bool hole; };
struct runs { struct run r[64]; size_t n; };

static int collect(void *opaque, uint64_t offset, uint64_t length, bool hole)
{
  struct runs *rs = opaque;
  CHECK(rs->n < 64);
  rs->r[rs->n++] = (struct run) { offset, length, hole };
  return 0;
}

static void put64(uint8_t *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}

int main(void)
{
  p2v_log_set_sink(sink);
  char dir[] = "/tmp/test-disk-view.XXXXXX";
  CHECK(mkdtemp(dir));
  char disk_path[64], vol1_path[64], vol2_path[64];
  snprintf(disk_path, sizeof disk_path, "%s/disk.img", dir);
  snprintf(vol1_path, sizeof vol1_path, "%s/vol1.img", dir);
  snprintf(vol2_path, sizeof vol2_path, "%s/vol2.img", dir);

  /* The disk: 8 MiB of 'D' bytes (its stale partitions must not show);
   * partition 1 at 1 MiB (2 MiB), partition 2 at 4 MiB (3 MiB). */
  uint8_t *disk_bytes = malloc(DISK_SIZE), *vol1 = malloc(2 * MiB), *vol2 = malloc(3 * MiB);
  uint8_t *expect = malloc(DISK_SIZE), *got = malloc(DISK_SIZE);
  CHECK(disk_bytes && vol1 && vol2 && expect && got);
  fill(disk_bytes, DISK_SIZE, 0xd0);
  fill(vol1, 2 * MiB, 0xa0);
  fill(vol2, 3 * MiB, 0xb0);
  write_file(disk_path, disk_bytes, DISK_SIZE);
  write_file(vol1_path, vol1, 2 * MiB);
  write_file(vol2_path, vol2, 3 * MiB);

  struct p2v_disk_view *view = p2v_disk_view_new(disk_path);
  CHECK(view);
  CHECK(p2v_disk_view_add_volume(view, 2, 4 * MiB, 3 * MiB, vol2_path) == 0);
  CHECK(p2v_disk_view_add_volume(view, 1, 1 * MiB, 2 * MiB, vol1_path) == 0);
  /* Overlap and out-of-disk mappings are refused with one error each. */
  nerrors = 0;
  CHECK(p2v_disk_view_add_volume(view, 3, 2 * MiB, 3 * MiB, vol1_path) == -1);
  CHECK(nerrors == 1 && strstr(last_error, "overlaps partition 1"));
  CHECK(p2v_disk_view_add_volume(view, 3, 7 * MiB, 2 * MiB, vol1_path) == -1);
  CHECK(nerrors == 2 && strstr(last_error, "are not inside the disk"));

  /* Volume 1's bitmap (512 clusters, recorded buffer): clusters 100-199
   * and 510-511 free. */
  static uint8_t bitmap[16 + 64];
  put64(bitmap, 0);
  put64(bitmap + 8, 512);
  memset(bitmap + 16, 0xff, 64);
  for (unsigned c = 100; c < 200; c++)
    bitmap[16 + c / 8] &= (uint8_t) ~(1u << (c % 8));
  bitmap[16 + 63] &= 0x3f;
  struct p2v_bitmap_walk walk = {
    .geometry = { .cluster_size = CL, .volume_offset = 1 * MiB, .volume_length = 2 * MiB },
  };
  struct p2v_extent_list unused = P2V_EXTENT_LIST_INIT;
  const char *why;
  CHECK(p2v_volume_bitmap_feed(&walk, bitmap, sizeof bitmap, false, &unused, &why) == 0);
  /* Volume 2's page file: VCN 0-15 at LCN 64, 16-23 sparse. */
  uint8_t runs[16 + 32] = { 2 };
  put64(runs + 16, 16);
  put64(runs + 24, 64);
  put64(runs + 32, 24);
  put64(runs + 40, UINT64_MAX);
  struct p2v_retrieval_walk pagefile = {
    .geometry = { .cluster_size = CL, .volume_offset = 4 * MiB, .volume_length = 3 * MiB },
  };
  CHECK(p2v_retrieval_pointers_feed(&pagefile, runs, sizeof runs, false, &unused, &why) == 0);
  CHECK(p2v_disk_view_add_unused(view, &unused) == 0);
  p2v_extent_list_clear(&unused);

  /* A range in a gap (the boot loader's room) or across a volume's end is refused. */
  struct p2v_extent_list bad = P2V_EXTENT_LIST_INIT;
  CHECK(p2v_extent_list_add(&bad, 512, 4096) == 0);
  nerrors = 0;
  CHECK(p2v_disk_view_add_unused(view, &bad) == -1);
  CHECK(nerrors == 1 && strstr(last_error, "is not inside a mapped volume"));
  bad.items[0] = (struct p2v_extent) { 3 * MiB - 4096, 8192 };
  CHECK(p2v_disk_view_add_unused(view, &bad) == -1);
  p2v_extent_list_clear(&bad);
  CHECK(p2v_disk_view_set_table_type(view, "gpt") == 0);

  struct p2v_disk *disk = p2v_disk_view_finish(view);
  CHECK(disk && disk->size == DISK_SIZE && !strcmp(disk->table_type, "gpt"));
  CHECK(disk->npartitions == 2 && disk->partitions[0].number == 1 &&
        disk->partitions[1].number == 2);
  CHECK(disk->partitions[0].used_bytes == 2 * MiB - 102 * CL);
  CHECK(disk->partitions[1].used_bytes == 3 * MiB - 16 * CL);

  /* What the disk must read as: its own bytes but where volumes are
   * mapped, zeroes in the holes. */
  memcpy(expect, disk_bytes, DISK_SIZE);
  memcpy(expect + 1 * MiB, vol1, 2 * MiB);
  memcpy(expect + 4 * MiB, vol2, 3 * MiB);
  memset(expect + 1 * MiB + 100 * CL, 0, 100 * CL);
  memset(expect + 1 * MiB + 510 * CL, 0, 2 * CL);
  memset(expect + 4 * MiB + 64 * CL, 0, 16 * CL);
  CHECK(p2v_disk_pread(disk, got, DISK_SIZE, 0) == 0);
  printf("view %016llx, expected %016llx\n", (unsigned long long) fnv1a(got, DISK_SIZE),
         (unsigned long long) fnv1a(expect, DISK_SIZE));
  CHECK(memcmp(got, expect, DISK_SIZE) == 0);
  /* Reads that straddle the table/volume and volume/gap borders. */
  for (uint64_t off = MiB - 1000; off < MiB + 1000; off += 333) {
    CHECK(p2v_disk_pread(disk, got, 5000, off) == 0);
    CHECK(memcmp(got, expect + off, 5000) == 0);
  }
  CHECK(p2v_disk_pread(disk, got, 2 * MiB, 2 * MiB + 12345) == 0);
  CHECK(memcmp(got, expect + 2 * MiB + 12345, 2 * MiB) == 0);

  /* Allocation: the table and gaps are data; exactly the bitmap's free
   * clusters and the page file's runs are holes. */
  struct runs rs = { .n = 0 };
  CHECK(p2v_disk_extents(disk, 0, DISK_SIZE, collect, &rs) == 0);
  const struct run want[] = {
    { 0, 1 * MiB + 100 * CL, false },
    { 1 * MiB + 100 * CL, 100 * CL, true },
    { 1 * MiB + 200 * CL, 310 * CL, false },
    { 1 * MiB + 510 * CL, 2 * CL, true },
    { 3 * MiB, 1 * MiB + 64 * CL, false },
    { 4 * MiB + 64 * CL, 16 * CL, true },
    { 4 * MiB + 80 * CL, 4 * MiB - 80 * CL, false },
  };
  CHECK(rs.n == sizeof want / sizeof want[0]);
  for (size_t i = 0; i < rs.n; i++)
    CHECK(rs.r[i].offset == want[i].offset && rs.r[i].length == want[i].length &&
          rs.r[i].hole == want[i].hole);
  /* A window inside one hole, and one across a border. */
  rs.n = 0;
  CHECK(p2v_disk_extents(disk, 1 * MiB + 150 * CL, 10, collect, &rs) == 0);
  CHECK(rs.n == 1 && rs.r[0].hole && rs.r[0].length == 10);
  rs.n = 0;
  CHECK(p2v_disk_extents(disk, 4 * MiB - 100, 200, collect, &rs) == 0);
  CHECK(rs.n == 1 && !rs.r[0].hole && rs.r[0].offset == 4 * MiB - 100 && rs.r[0].length == 200);
  p2v_disk_close(disk);

  /* A volume file shorter than its partition: the tail comes from the
   * disk, with a warning; a volume that cannot be opened is one error. */
  view = p2v_disk_view_new(disk_path);
  CHECK(view);
  CHECK(p2v_disk_view_add_volume(view, 1, 1 * MiB, 3 * MiB, vol1_path) == 0);
  nerrors = 0;
  CHECK(p2v_disk_view_add_volume(view, 2, 5 * MiB, 1 * MiB, "/nonexistent/vol") == -1);
  CHECK(nerrors == 1 && strstr(last_error, "/nonexistent/vol"));
  disk = p2v_disk_view_finish(view);
  CHECK(disk);
  CHECK(p2v_disk_pread(disk, got, 4 * MiB, 0) == 0);
  CHECK(memcmp(got, disk_bytes, MiB) == 0);
  CHECK(memcmp(got + MiB, vol1, 2 * MiB) == 0);
  CHECK(memcmp(got + 3 * MiB, disk_bytes + 3 * MiB, MiB) == 0);
  p2v_disk_close(disk);

  /* A view abandoned half way frees everything (ASan checks). */
  view = p2v_disk_view_new(disk_path);
  CHECK(view && p2v_disk_view_add_volume(view, 1, 1 * MiB, 2 * MiB, vol1_path) == 0);
  p2v_disk_view_free(view);
  nerrors = 0;
  CHECK(p2v_disk_view_new("/nonexistent/disk") == NULL && nerrors == 1);

  unlink(disk_path);
  unlink(vol1_path);
  unlink(vol2_path);
  rmdir(dir);
  free(disk_bytes);
  free(vol1);
  free(vol2);
  free(expect);
  free(got);
  printf("ok\n");
  return 0;
}
