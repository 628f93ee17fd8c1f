/* Unit test of the probe sandbox (common/disk/sandbox.c): inside it the
 * source cannot be opened for writing (EROFS, so libparted falls back to
 * read-only), written, truncated or renamed; a child that hangs, crashes
 * or floods is stopped; the source's bytes and mtime stay the same.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#include <parted/parted.h>

#include "disk-internal.h"
#include "log.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

static char path[256], other[256];

/* In the sandbox: every write path must fail, reads must work.  Reports
 * "ok", or the first thing that went wrong, on the result pipe. */
static int try_writes(void *opaque, int input_fd, int result_fd)
{
  char msg[512] = "ok";
  char buf[16];
  int fd;

#define EXPECT_FAIL(expr, err) \
  do { errno = 0; long r_ = (long) (expr); \
    if (r_ != -1 || errno != (err)) { \
      snprintf(msg, sizeof msg, "%s: got %ld errno %d (%s)", #expr, r_, errno, strerror(errno)); \
      goto out; } } while (0)

  EXPECT_FAIL(open(path, O_RDWR), EROFS);
  EXPECT_FAIL(open(path, O_WRONLY | O_APPEND), EROFS);
  EXPECT_FAIL(open(path, O_RDONLY | O_TRUNC), EROFS);
  EXPECT_FAIL(openat(AT_FDCWD, path, O_RDWR | O_CLOEXEC), EROFS);
  EXPECT_FAIL(open(other, O_WRONLY | O_CREAT, 0644), EROFS);
  EXPECT_FAIL(creat(other, 0644), EROFS);
  EXPECT_FAIL(truncate(path, 0), EROFS);
  EXPECT_FAIL(unlink(path), EROFS);
  EXPECT_FAIL(rename(path, other), EROFS);
  EXPECT_FAIL(chmod(path, 0600), EROFS);
  EXPECT_FAIL(pwrite(input_fd, "x", 1, 0), EROFS);
  EXPECT_FAIL(write(1, "x", 1), EROFS);
  EXPECT_FAIL(ioctl(input_fd, BLKFLSBUF), ENOTTY);
  EXPECT_FAIL(ioctl(input_fd, BLKDISCARD, (uint64_t[2]) { 0, 512 }), ENOTTY);
  if (fopen(path, "r+") != NULL || errno != EROFS) {
    snprintf(msg, sizeof msg, "fopen r+ did not fail with EROFS");
    goto out;
  }

  /* Reading still works, by fd and by name. */
  if (pread(input_fd, buf, 4, 0) != 4 || memcmp(buf, "P2V!", 4) != 0) {
    snprintf(msg, sizeof msg, "pread of the input failed: %m");
    goto out;
  }
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read(fd, buf, 4) != 4) {
    snprintf(msg, sizeof msg, "read-only open failed: %m");
    goto out;
  }
  close(fd);

  /* libparted asks for O_RDWR, is told EROFS, and opens read-only. */
  PedDevice *dev = ped_device_get(path);
  if (!dev || !ped_device_open(dev) || !dev->read_only) {
    snprintf(msg, sizeof msg, "libparted did not fall back to read-only");
    goto out;
  }
  ped_device_close(dev);
  ped_device_destroy(dev);
out:
  return write(result_fd, msg, strlen(msg)) == (ssize_t) strlen(msg) ? 0 : -1;
}

static PedExceptionOption quiet(PedException *ex)
{
  return (ex->options & PED_EXCEPTION_OK) ? PED_EXCEPTION_OK : PED_EXCEPTION_CANCEL;
}

static int hang(void *opaque, int input_fd, int result_fd) { sleep(30); return 0; }
static int crash(void *opaque, int input_fd, int result_fd) { kill(getpid(), SIGKILL); return 0; }
static int fail(void *opaque, int input_fd, int result_fd) { return -1; }
static int flood(void *opaque, int input_fd, int result_fd)
{
  static char block[65536];
  for (;;)
    if (write(result_fd, block, sizeof block) == -1)
      return -1;
}

static void run(p2v_sandbox_fn fn, int fd, unsigned timeout, size_t max, int expect,
                const char *why_needle, const char *out_expected)
{
  uint8_t *out;
  size_t len;
  char why[256] = "";
  int r = p2v_sandbox_run(fn, NULL, fd, timeout, max, &out, &len, why, sizeof why);
  if (r != expect || (why_needle && !strstr(why, why_needle)) ||
      (out_expected && (len != strlen(out_expected) || memcmp(out, out_expected, len) != 0))) {
    fprintf(stderr, "sandbox run: got %d, why \"%s\", output \"%.*s\"\n", r, why,
            out ? (int) len : 0, out ? (const char *) out : "");
    exit(1);
  }
  free(out);
}

int main(void)
{
  char dir[] = "/tmp/p2v-test-disk-sandbox.XXXXXX";
  struct stat before, after;
  char content[4096] = "P2V!";

  p2v_log_init("test-disk-sandbox");
  ped_exception_set_handler(quiet);
  CHECK(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/disk.img", dir);
  snprintf(other, sizeof other, "%s/other", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0 && write(fd, content, sizeof content) == sizeof content && close(fd) == 0);
  /* An mtime in the past, so a rewrite in this second would show. */
  CHECK(utimensat(AT_FDCWD, path, (struct timespec[2]) { { 1000000000, 0 }, { 1000000000, 0 } }, 0) == 0);
  CHECK(stat(path, &before) == 0);

  fd = open(path, O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  run(try_writes, fd, 60, 4096, 0, NULL, "ok");

  time_t t0 = time(NULL);
  run(hang, fd, 1, 4096, -1, "time limit", NULL);
  CHECK(time(NULL) - t0 < 10);
  run(crash, fd, 60, 4096, -1, "crashed", NULL);
  run(fail, fd, 60, 4096, -1, "exit status 1", NULL);
  run(flood, fd, 60, 1 << 20, -1, "more than", NULL);
  close(fd);

  /* The source is as it was. */
  CHECK(stat(path, &after) == 0);
  CHECK(after.st_size == before.st_size);
  CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
        after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
  char check[sizeof content];
  fd = open(path, O_RDONLY);
  CHECK(fd >= 0 && read(fd, check, sizeof check) == sizeof check);
  CHECK(memcmp(check, content, sizeof content) == 0);
  close(fd);
  CHECK(access(other, F_OK) == -1);

  unlink(path);
  rmdir(dir);
  printf("PASS: test-disk-sandbox\n");
  return 0;
}
