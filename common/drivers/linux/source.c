/* Walking the files of a kernel source or image, whatever its container:
 * a directory, a Debian package (the `ar` member data.tar.*), a tarball,
 * an initramfs, or an ISO (the initramfs inside it).  File contents are
 * read only when the caller wants them.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "cleanup.h"
#include "linux.h"
#include "log.h"

const char *lx_source_kind_name(enum lx_source_kind kind)
{
  static const char *const names[] = { "directory", "Debian package", "archive",
                                       "initramfs", "ISO image" };
  return names[kind];
}

static int read_file(const char *path, size_t max, unsigned char **data, size_t *size)
{
  CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd == -1 || fstat(fd, &st) == -1) {
    p2v_error("%s: cannot open: %m", path);
    return -1;
  }
  if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
    p2v_error("%s: not a regular file of at most %zu bytes", path, max);
    return -1;
  }
  unsigned char *buf = malloc(st.st_size ? (size_t)st.st_size : 1);
  if (!buf) {
    p2v_error("%s: out of memory", path);
    return -1;
  }
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
    if (n <= 0) {
      if (n == 0)
        errno = EIO;
      p2v_error("%s: cannot read: %m", path);
      free(buf);
      return -1;
    }
    got += (size_t)n;
  }
  *data = buf;
  *size = got;
  return 0;
}

int lx_source_kind(const char *path, enum lx_source_kind *kind)
{
  struct stat st;
  if (stat(path, &st) == -1) {
    p2v_error("%s: %m", path);
    return -1;
  }
  if (S_ISDIR(st.st_mode)) {
    *kind = LX_SRC_DIR;
    return 0;
  }
  CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
  unsigned char head[8] = { 0 }, cd[5] = { 0 };
  if (fd == -1 || pread(fd, head, sizeof head, 0) < 0) {
    p2v_error("%s: cannot read: %m", path);
    return -1;
  }
  if (!memcmp(head, "!<arch>\n", 8)) {
    *kind = LX_SRC_DEB;
    return 0;
  }
  if (!memcmp(head, "07070", 5)) {
    *kind = LX_SRC_INITRAMFS;
    return 0;
  }
  if (pread(fd, cd, sizeof cd, 32769) == (ssize_t)sizeof cd && !memcmp(cd, "CD001", 5)) {
    *kind = LX_SRC_ISO;
    return 0;
  }
  /* Compressed: a cpio inside is an initramfs, anything else an archive. */
  struct archive *a = archive_read_new();
  struct archive_entry *e;
  int r = -1;
  if (!a) {
    p2v_error("%s: out of memory", path);
    return -1;
  }
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  if (archive_read_open_filename(a, path, 65536) == ARCHIVE_OK &&
      archive_read_next_header(a, &e) == ARCHIVE_OK) {
    *kind = (archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_CPIO
      ? LX_SRC_INITRAMFS : LX_SRC_TAR;
    r = 0;
  } else {
    p2v_error("%s: not a directory, Debian package, tarball, initramfs or ISO image (%s)",
              path, archive_error_string(a) ? archive_error_string(a) : "unknown format");
  }
  archive_read_free(a);
  return r;
}

/* Every entry of an open libarchive reader. */
static int walk_archive(const char *what, struct archive *a, lx_want_fn want,
                        lx_visit_fn visit, void *ctx)
{
  struct archive_entry *e;
  int st;
  while ((st = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    const char *name = archive_entry_pathname(e);
    if (!name)
      continue;
    while (name[0] == '.' && name[1] == '/')
      name += 2;
    while (name[0] == '/')
      name++;
    if (name[0] == '\0')
      continue;
    struct lx_file f = { .path = name, .mode = archive_entry_mode(e) };
    CLEANUP_FREE unsigned char *buf = NULL;
    if (archive_entry_filetype(e) == AE_IFLNK) {
      const char *target = archive_entry_symlink(e);
      f.data = (const unsigned char *)(target ? target : "");
      f.size = strlen((const char *)f.data);
    } else if (archive_entry_filetype(e) == AE_IFREG) {
      la_int64_t n = archive_entry_size(e);
      if (n < 0 || (uint64_t)n > LX_MAX_FILE_BYTES) {
        p2v_error("%s: %s: implausible size", what, name);
        return -1;
      }
      f.size = (size_t)n;
      if (want && want(ctx, name)) {
        buf = malloc(f.size ? f.size : 1);
        if (!buf) {
          p2v_error("%s: out of memory", what);
          return -1;
        }
        la_ssize_t got = archive_read_data(a, buf, f.size);
        if (got < 0 || (size_t)got != f.size) {
          p2v_error("%s: %s: cannot read: %s", what, name,
                    got < 0 ? archive_error_string(a) : "truncated archive");
          return -1;
        }
        f.data = buf;
      }
    }
    if (visit(ctx, &f) == -1)
      return -1;
  }
  if (st != ARCHIVE_EOF) {
    p2v_error("%s: broken archive: %s", what, archive_error_string(a));
    return -1;
  }
  return 0;
}

static int walk_tar_memory(const char *what, const unsigned char *data, size_t size,
                           lx_want_fn want, lx_visit_fn visit, void *ctx)
{
  struct archive *a = archive_read_new();
  if (!a) {
    p2v_error("%s: out of memory", what);
    return -1;
  }
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  int r;
  if (archive_read_open_memory(a, data, size) != ARCHIVE_OK) {
    p2v_error("%s: broken archive: %s", what, archive_error_string(a));
    r = -1;
  } else {
    r = walk_archive(what, a, want, visit, ctx);
  }
  archive_read_free(a);
  return r;
}

/* A .deb is an `ar` archive; the files are in its data.tar.{xz,zst,gz} member. */
static int walk_deb(const char *path, lx_want_fn want, lx_visit_fn visit, void *ctx)
{
  struct archive *a = archive_read_new();
  if (!a) {
    p2v_error("%s: out of memory", path);
    return -1;
  }
  archive_read_support_format_ar(a);
  int r = -1, st;
  struct archive_entry *e;
  if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
    p2v_error("%s: cannot read Debian package: %s", path, archive_error_string(a));
    goto out;
  }
  while ((st = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    const char *name = archive_entry_pathname(e);
    if (!name || strncmp(name, "data.tar", 8) != 0)
      continue;
    la_int64_t n = archive_entry_size(e);
    if (n <= 0 || (uint64_t)n > LX_MAX_FILE_BYTES) {
      p2v_error("%s: %s: implausible size", path, name);
      goto out;
    }
    CLEANUP_FREE unsigned char *buf = malloc((size_t)n);
    if (!buf) {
      p2v_error("%s: out of memory", path);
      goto out;
    }
    la_ssize_t got = archive_read_data(a, buf, (size_t)n);
    if (got != n) {
      p2v_error("%s: %s: cannot read: %s", path, name,
                got < 0 ? archive_error_string(a) : "truncated package");
      goto out;
    }
    r = walk_tar_memory(path, buf, (size_t)n, want, visit, ctx);
    goto out;
  }
  p2v_error("%s: broken Debian package: %s", path,
            st == ARCHIVE_EOF ? "no data.tar member" : archive_error_string(a));
out:
  archive_read_free(a);
  return r;
}

static int walk_tarball(const char *path, lx_want_fn want, lx_visit_fn visit, void *ctx)
{
  struct archive *a = archive_read_new();
  if (!a) {
    p2v_error("%s: out of memory", path);
    return -1;
  }
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  int r;
  if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
    p2v_error("%s: cannot read archive: %s", path, archive_error_string(a));
    r = -1;
  } else {
    r = walk_archive(path, a, want, visit, ctx);
  }
  archive_read_free(a);
  return r;
}

/* nftw has no user pointer: one walk at a time (a single-threaded tool). */
static struct {
  size_t root_len;
  const char *prefix;          /* "lib/modules/VER/" when the root is a modules dir */
  lx_want_fn want;
  lx_visit_fn visit;
  void *ctx;
} dir_walk;

static int dir_entry(const char *fpath, const struct stat *st, int type, struct FTW *ftw)
{
  if (ftw->level == 0)
    return 0;
  const char *rel = fpath + dir_walk.root_len;
  while (*rel == '/')
    rel++;
  CLEANUP_FREE char *path = NULL;
  if (asprintf(&path, "%s%s", dir_walk.prefix, rel) < 0) {
    p2v_error("out of memory");
    return -1;
  }
  struct lx_file f = { .path = path, .size = (size_t)st->st_size, .mode = st->st_mode };
  CLEANUP_FREE unsigned char *buf = NULL;
  char target[PATH_MAX];
  if (type == FTW_SL) {
    ssize_t n = readlink(fpath, target, sizeof target - 1);
    if (n < 0)
      return 0;
    target[n] = '\0';
    f.data = (const unsigned char *)target;
    f.size = (size_t)n;
  } else if (type == FTW_F && S_ISREG(st->st_mode) && dir_walk.want &&
             dir_walk.want(dir_walk.ctx, path)) {
    if (read_file(fpath, LX_MAX_FILE_BYTES, &buf, &f.size) == -1)
      return -1;
    f.data = buf;
  } else if (type == FTW_DNR) {
    p2v_error("%s: cannot read directory", fpath);
    return -1;
  }
  return dir_walk.visit(dir_walk.ctx, &f) == -1 ? -1 : 0;
}

static int walk_dir(const char *path, lx_want_fn want, lx_visit_fn visit, void *ctx)
{
  /* A modules directory itself (lib/modules/VER) is named by its version. */
  CLEANUP_FREE char *prefix = NULL, *probe1 = NULL, *probe2 = NULL;
  if (asprintf(&probe1, "%s/kernel", path) < 0 || asprintf(&probe2, "%s/modules.dep", path) < 0)
    return -1;
  if (access(probe1, F_OK) == 0 || access(probe2, F_OK) == 0) {
    CLEANUP_FREE char *copy = strdup(path);
    if (!copy)
      return -1;
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
      copy[--n] = '\0';
    const char *base = strrchr(copy, '/');
    if (asprintf(&prefix, "lib/modules/%s/", base ? base + 1 : copy) < 0)
      return -1;
  }
  dir_walk.root_len = strlen(path);
  dir_walk.prefix = prefix ? prefix : "";
  dir_walk.want = want;
  dir_walk.visit = visit;
  dir_walk.ctx = ctx;
  if (nftw(path, dir_entry, 32, FTW_PHYS) != 0) {
    if (errno)
      p2v_error("%s: cannot walk directory: %m", path);
    return -1;
  }
  return 0;
}

int lx_source_walk(const char *path, lx_want_fn want, lx_visit_fn visit, void *ctx)
{
  enum lx_source_kind kind;
  if (lx_source_kind(path, &kind) == -1)
    return -1;
  CLEANUP_FREE unsigned char *data = NULL;
  CLEANUP_FREE char *found = NULL;
  size_t size;
  switch (kind) {
  case LX_SRC_DIR:
    return walk_dir(path, want, visit, ctx);
  case LX_SRC_DEB:
    return walk_deb(path, want, visit, ctx);
  case LX_SRC_TAR:
    return walk_tarball(path, want, visit, ctx);
  case LX_SRC_INITRAMFS:
    if (read_file(path, LX_MAX_FILE_BYTES, &data, &size) == -1)
      return -1;
    return lx_initramfs_walk(path, data, size, want, visit, ctx);
  case LX_SRC_ISO:
    if (lx_iso_find_initramfs(path, &data, &size, &found) == -1)
      return -1;
    p2v_info("%s: using the initramfs %s", path, found);
    return lx_initramfs_walk(path, data, size, want, visit, ctx);
  }
  return -1;
}
