/* Unit test of the file source and the disk view (common/disk/disk.c):
 * holes of a sparse file, unused ranges read as zeroes and merged into the
 * extents, clear errors for things that are not disks.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk.h"
#include "log.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

#define MiB (1024 * 1024)

static char last_error[2048];
static int nerrors;
static void sink(enum p2v_log_level level, const char *message)
{
  if (level == P2V_LOG_ERROR) {
    snprintf(last_error, sizeof last_error, "%s", message);
    nerrors++;
  }
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

static int stop_at_second(void *opaque, uint64_t offset, uint64_t length, bool hole)
{
  static int calls;
  return ++calls >= 2 ? -1 : 0;
}

/* Runs must cover the range with no gap, alternate (maximal), be non-empty. */
static void check_runs(const struct runs *rs, uint64_t offset, uint64_t count)
{
  uint64_t pos = offset;
  for (size_t i = 0; i < rs->n; i++) {
    CHECK(rs->r[i].offset == pos);
    CHECK(rs->r[i].length > 0);
    if (i > 0)
      CHECK(rs->r[i].hole != rs->r[i - 1].hole);
    pos += rs->r[i].length;
  }
  CHECK(pos == offset + count);
}

static void expect_open_error(const char *path, const char *needle)
{
  struct p2v_disk_options opts = { .all_blocks = true };
  nerrors = 0;
  CHECK(p2v_disk_open(path, &opts) == NULL);
  if (nerrors != 1 || !strstr(last_error, needle)) {
    fprintf(stderr, "open %s: got %d errors, last \"%s\", wanted \"%s\"\n",
            path, nerrors, last_error, needle);
    exit(1);
  }
}

int main(void)
{
  char dir[] = "/tmp/p2v-test-disk-file.XXXXXX";
  char path[256], empty[256];
  struct p2v_disk_options opts = { .all_blocks = true };
  unsigned char *buf = malloc(8 * MiB);

  p2v_log_init("test-disk-file");
  p2v_log_set_sink(sink);
  CHECK(buf && mkdtemp(dir));
  snprintf(path, sizeof path, "%s/disk.img", dir);
  snprintf(empty, sizeof empty, "%s/empty.img", dir);

  /* An 8 MiB sparse file: data at [1, 2) MiB and [5, 6) MiB, 0xAA bytes. */
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(ftruncate(fd, 8 * MiB) == 0);
  memset(buf, 0xAA, MiB);
  CHECK(pwrite(fd, buf, MiB, 1 * MiB) == MiB);
  CHECK(pwrite(fd, buf, MiB, 5 * MiB) == MiB);
  CHECK(fsync(fd) == 0);
  CHECK(close(fd) == 0);
  CHECK(close(open(empty, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == 0);

  struct p2v_disk *disk = p2v_disk_open(path, &opts);
  CHECK(disk != NULL);
  CHECK(disk->size == 8 * MiB);
  CHECK(disk->block_size == 512);
  CHECK(strcmp(disk->export_name, "disk.img") == 0);
  CHECK(strcmp(disk->description, "disk image, 8.0 MiB") == 0);

  /* The source's own holes.  Skip if this filesystem does not keep them. */
  struct runs rs = { .n = 0 };
  CHECK(p2v_disk_extents(disk, 0, 8 * MiB, collect, &rs) == 0);
  check_runs(&rs, 0, 8 * MiB);
  bool sparse = rs.n > 1;
  if (sparse) {
    CHECK(rs.n == 5);
    CHECK(rs.r[0].hole && rs.r[0].length == 1 * MiB);
    CHECK(!rs.r[1].hole && rs.r[1].offset == 1 * MiB && rs.r[1].length == MiB);
    CHECK(rs.r[2].hole && rs.r[2].length == 3 * MiB);
    CHECK(!rs.r[3].hole && rs.r[3].offset == 5 * MiB && rs.r[3].length == MiB);
    CHECK(rs.r[4].hole && rs.r[4].length == 2 * MiB);
  }
  else
    fprintf(stderr, "note: %s keeps no holes; hole checks skipped\n", dir);

  /* A sub-range starting inside data and ending inside a hole. */
  rs.n = 0;
  CHECK(p2v_disk_extents(disk, 1 * MiB + 512, 2 * MiB, collect, &rs) == 0);
  check_runs(&rs, 1 * MiB + 512, 2 * MiB);
  if (sparse)
    CHECK(rs.n == 2 && !rs.r[0].hole && rs.r[0].length == MiB - 512);

  /* Unused ranges: [1.5, 2) MiB inside data, [2, 3) MiB over a hole
   * (joins the hole), and [5 MiB + 4096, 5 MiB + 8192). */
  CHECK(p2v_extent_list_add(&disk->unused, 1 * MiB + MiB / 2, MiB / 2) == 0);
  CHECK(p2v_extent_list_add(&disk->unused, 2 * MiB, MiB) == 0);
  CHECK(p2v_extent_list_add(&disk->unused, 5 * MiB + 4096, 4096) == 0);
  p2v_extent_list_normalize(&disk->unused);

  rs.n = 0;
  CHECK(p2v_disk_extents(disk, 0, 8 * MiB, collect, &rs) == 0);
  check_runs(&rs, 0, 8 * MiB);
  if (sparse) {
    /* hole 0-1, data 1-1.5, hole 1.5-5, data 5-5+4k, hole +4k, data to 6, hole */
    CHECK(rs.n == 7);
    CHECK(!rs.r[1].hole && rs.r[1].length == MiB / 2);
    CHECK(rs.r[2].hole && rs.r[2].offset == 1 * MiB + MiB / 2 && rs.r[2].length == 3 * MiB + MiB / 2);
    CHECK(rs.r[4].hole && rs.r[4].offset == 5 * MiB + 4096 && rs.r[4].length == 4096);
  }

  /* An fn that stops: the error comes back. */
  CHECK(p2v_disk_extents(disk, 0, 8 * MiB, stop_at_second, &rs) == -1);

  /* Reads: unused ranges are zeroes, the rest is the file. */
  CHECK(p2v_disk_pread(disk, buf, 8 * MiB, 0) == 0);
  for (uint64_t i = 0; i < 8 * MiB; i++) {
    bool data = (i >= 1 * MiB && i < 1 * MiB + MiB / 2) ||
                (i >= 5 * MiB && i < 6 * MiB && !(i >= 5 * MiB + 4096 && i < 5 * MiB + 8192));
    if (buf[i] != (data ? 0xAA : 0)) {
      fprintf(stderr, "byte %llu is %#x\n", (unsigned long long) i, buf[i]);
      exit(1);
    }
  }
  /* An unaligned read across an unused boundary. */
  CHECK(p2v_disk_pread(disk, buf, 100, 5 * MiB + 4096 - 50) == 0);
  for (int i = 0; i < 100; i++)
    CHECK(buf[i] == (i < 50 ? 0xAA : 0));
  p2v_disk_close(disk);

  /* The allocation reader on a whole-disk Linux swap made by hand: the
   * header page is data, the rest (full of stale bytes here) is unused. */
  char swap[256];
  snprintf(swap, sizeof swap, "%s/swap.img", dir);
  memset(buf, 0x55, 8 * MiB);
  memset(buf, 0, 4096);
  memcpy(buf + 1024, "\x01\x00\x00\x00", 4);          /* version 1 */
  memcpy(buf + 1052, "myswap", 6);                    /* label */
  memcpy(buf + 4096 - 10, "SWAPSPACE2", 10);
  fd = open(swap, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0 && write(fd, buf, 8 * MiB) == 8 * MiB && close(fd) == 0);
  struct p2v_disk_options probe = { .all_blocks = false };
  nerrors = 0;
  disk = p2v_disk_open(swap, &probe);
  CHECK(disk != NULL && nerrors == 0);
  CHECK(disk->table_type == NULL);
  CHECK(disk->npartitions == 1);
  CHECK(disk->partitions[0].number == 0 && disk->partitions[0].offset == 0);
  CHECK(strcmp(disk->partitions[0].filesystem, "linux-swap") == 0);
  CHECK(strcmp(disk->partitions[0].label, "myswap") == 0);
  CHECK(disk->partitions[0].used_bytes == 4096);
  CHECK(p2v_extent_list_total(&disk->unused) == 8 * MiB - 4096);
  rs.n = 0;
  CHECK(p2v_disk_extents(disk, 0, 8 * MiB, collect, &rs) == 0);
  CHECK(rs.n == 2 && !rs.r[0].hole && rs.r[0].length == 4096 && rs.r[1].hole);
  CHECK(p2v_disk_pread(disk, buf, 8192, 0) == 0);
  CHECK(memcmp(buf + 4086, "SWAPSPACE2", 10) == 0 && buf[4096] == 0 && buf[8191] == 0);
  p2v_disk_close(disk);

  /* --all-blocks: the same disk, nothing unused. */
  disk = p2v_disk_open(swap, &opts);
  CHECK(disk != NULL && disk->unused.count == 0 && disk->npartitions == 0);
  CHECK(p2v_disk_pread(disk, buf, 8192, 0) == 0 && buf[4096] == 0x55);
  p2v_disk_close(disk);
  unlink(swap);

  /* Errors: one clear line each. */
  char missing[300], dirpath[300];
  snprintf(missing, sizeof missing, "%s/nonexistent", dir);
  snprintf(dirpath, sizeof dirpath, "%s", dir);
  expect_open_error(missing, "cannot open disk");
  expect_open_error(missing, "No such file or directory");
  expect_open_error(dirpath, "it is a directory");
  expect_open_error(empty, "it is empty");
  expect_open_error("/dev/null", "neither a disk image nor a block device");

  unlink(path);
  unlink(empty);
  rmdir(dir);
  free(buf);
  printf("PASS: test-disk-file\n");
  return 0;
}
