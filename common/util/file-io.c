/* Whole reads and writes, and atomic file replacement.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "file-io.h"
#include "log.h"

/* offset < 0: read(), else pread() at offset. */
static ssize_t read_loop(int fd, void *buf, size_t count, int64_t offset)
{
  unsigned char *p = buf;
  size_t done = 0;
  while (done < count) {
    ssize_t r = offset < 0 ? read(fd, p + done, count - done)
                           : pread(fd, p + done, count - done, (off_t) (offset + (int64_t) done));
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    if (r == 0)
      break;
    done += (size_t) r;
  }
  return (ssize_t) done;
}

static int write_loop(int fd, const void *buf, size_t count, int64_t offset)
{
  const unsigned char *p = buf;
  size_t done = 0;
  while (done < count) {
    ssize_t r = offset < 0 ? write(fd, p + done, count - done)
                           : pwrite(fd, p + done, count - done, (off_t) (offset + (int64_t) done));
    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0) {
      if (r == 0)
        errno = ENOSPC;          /* a zero-byte write means no room */
      return -1;
    }
    done += (size_t) r;
  }
  return 0;
}

static bool offset_ok(uint64_t offset, size_t count)
{
  if (offset > INT64_MAX || count > INT64_MAX - offset) {
    errno = EINVAL;
    return false;
  }
  return true;
}

ssize_t p2v_read_full(int fd, void *buf, size_t count)
{
  return read_loop(fd, buf, count, -1);
}

ssize_t p2v_pread_full(int fd, void *buf, size_t count, uint64_t offset)
{
  return offset_ok(offset, count) ? read_loop(fd, buf, count, (int64_t) offset) : -1;
}

int p2v_write_full(int fd, const void *buf, size_t count)
{
  return write_loop(fd, buf, count, -1);
}

int p2v_pwrite_full(int fd, const void *buf, size_t count, uint64_t offset)
{
  return offset_ok(offset, count) ? write_loop(fd, buf, count, (int64_t) offset) : -1;
}

int p2v_commit_file(const char *tmp, const char *path)
{
  if (rename(tmp, path) == -1) {
    p2v_error("cannot rename %s to %s: %m", tmp, path);
    unlink(tmp);
    return -1;
  }
  CLEANUP_FREE char *copy = strdup(path);
  if (copy) {
    CLEANUP_CLOSE int dir = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0)
      fsync(dir);
  }
  return 0;
}

/* exclusive: tmp must not exist (never clobber what someone else made). */
static int write_via(const char *path, const char *tmp, const void *data, size_t len,
                     bool exclusive)
{
  int fd = open(tmp, O_WRONLY | O_CREAT | (exclusive ? O_EXCL : O_TRUNC) | O_CLOEXEC, 0644);
  if (fd == -1) {
    p2v_error("cannot create %s: %m", tmp);
    return -1;
  }
  if (p2v_write_full(fd, data, len) == -1) {
    p2v_error("cannot write %s: %m", tmp);
    goto fail;
  }
  if (fsync(fd) == -1) {
    p2v_error("cannot write %s: fsync: %m", tmp);
    goto fail;
  }
  if (close(fd) == -1) {
    fd = -1;
    p2v_error("cannot write %s: %m", tmp);
    goto fail;
  }
  return p2v_commit_file(tmp, path);

fail:
  if (fd >= 0)
    close(fd);
  unlink(tmp);
  return -1;
}

int p2v_write_file_atomic(const char *path, const void *data, size_t len)
{
  CLEANUP_FREE char *tmp = NULL;
  if (asprintf(&tmp, "%s.tmp", path) == -1) {
    p2v_error("cannot write %s: %m", path);
    return -1;
  }
  return write_via(path, tmp, data, len, false);
}

int p2v_write_file_via(const char *path, const char *tmp, const void *data, size_t len)
{
  return write_via(path, tmp, data, len, true);
}
