/* The files of a driver source: a folder (walked without following
 * symlinks), or any archive libarchive reads (.zip, ISO 9660, tar).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "log.h"
#include "windows-catalog.h"

struct walk {
  const char *source;
  win_inf_fn inf_fn;
  win_file_fn file_fn;
  void *opaque;
  size_t entries, infs;
};

static bool is_inf(const char *path)
{
  size_t n = strlen(path);
  return n > 4 && !strcasecmp(path + n - 4, ".inf");
}

/* Count and bound what a source may hold; 1 = skip this file. */
static int admit(struct walk *w, const char *path, bool inf)
{
  if (++w->entries > WIN_MAX_FILES) {
    p2v_error("%s: more than %d files; not a driver source", w->source, WIN_MAX_FILES);
    return -1;
  }
  if (inf && ++w->infs > WIN_MAX_INFS) {
    p2v_error("%s: more than %d INF files; point at a smaller folder", w->source, WIN_MAX_INFS);
    return -1;
  }
  return 0;
}

static int deliver(struct walk *w, const char *path, const uint8_t *data, size_t size)
{
  if (size > INF_MAX_SIZE) {
    p2v_warning("%s: %s: larger than %u bytes; skipped", w->source, path, INF_MAX_SIZE);
    return 0;
  }
  return w->inf_fn(path, data, size, w->opaque);
}

/* Read everything a reader gives into a growing buffer, stopping just
 * past INF_MAX_SIZE (deliver() reports such a file as too large).  The
 * same for files in folders and entries in archives.  0, or -1 with
 * errno (ENOMEM when out of memory). */
static int read_capped(ssize_t (*read_fn)(void *ctx, void *buf, size_t len), void *ctx,
                       uint8_t **data, size_t *size)
{
  struct p2v_buf b = P2V_BUF_INIT;
  while (b.len <= INF_MAX_SIZE) {
    if (p2v_buf_reserve(&b, 65536) == -1) {
      p2v_buf_free(&b);
      errno = ENOMEM;
      return -1;
    }
    ssize_t r = read_fn(ctx, b.data + b.len, b.cap - b.len - 1);
    if (r < 0) {
      p2v_buf_free(&b);
      return -1;
    }
    if (r == 0)
      break;
    b.len += (size_t) r;
  }
  *size = b.len;
  *data = (uint8_t *) p2v_buf_steal(&b);
  if (!*data) {
    errno = ENOMEM;
    return -1;
  }
  return 0;
}

/* ---- folders ---- */

static ssize_t read_from_fd(void *ctx, void *buf, size_t len)
{
  return read(*(int *) ctx, buf, len);
}

static int read_small_file(int dirfd, const char *name, uint8_t **data, size_t *size)
{
  CLEANUP_CLOSE int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -1;
  return read_capped(read_from_fd, &fd, data, size);
}

static int walk_dir(struct walk *w, int fd, const char *rel, int depth)
{
  if (depth > WIN_MAX_DEPTH) {
    p2v_warning("%s: %s: deeper than %d folders; skipped", w->source, rel, WIN_MAX_DEPTH);
    close(fd);
    return 0;
  }
  DIR *dir = fdopendir(fd);
  if (!dir) {
    close(fd);
    p2v_error("%s: cannot read folder %s: %m", w->source, *rel ? rel : ".");
    return -1;
  }
  int r = 0, dfd = dirfd(dir);
  struct dirent *e;
  while (r == 0 && (e = readdir(dir))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    CLEANUP_FREE char *path = NULL;
    if (asprintf(&path, "%s%s%s", rel, *rel ? "/" : "", e->d_name) < 0) {
      p2v_error("%s: out of memory", w->source);
      r = -1;
      break;
    }
    struct stat st;
    if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      int sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        p2v_error("%s: cannot open folder %s: %m", w->source, path);
        r = -1;
      } else
        r = walk_dir(w, sub, path, depth + 1);
      continue;
    }
    if (!S_ISREG(st.st_mode))
      continue;
    bool inf = is_inf(e->d_name);
    if ((r = admit(w, path, inf)) != 0)
      break;
    if (!inf) {
      r = w->file_fn(path, w->opaque);
      continue;
    }
    CLEANUP_FREE uint8_t *data = NULL;
    size_t size;
    if (read_small_file(dfd, e->d_name, &data, &size) < 0) {
      p2v_error("%s: cannot read %s: %m", w->source, path);
      r = -1;
      break;
    }
    r = deliver(w, path, data, size);
  }
  closedir(dir);
  return r;
}

/* ---- archives ---- */

static ssize_t read_from_archive(void *ctx, void *buf, size_t len)
{
  return archive_read_data(ctx, buf, len);
}

static int read_entry(struct archive *a, uint8_t **data, size_t *size)
{
  return read_capped(read_from_archive, a, data, size);
}

/* SOURCE opened as a .zip, ISO, tar or 7z archive; NULL reported. */
static struct archive *open_archive(const char *source)
{
  struct archive *a = archive_read_new();
  if (!a) {
    p2v_error("%s: out of memory", source);
    return NULL;
  }
  /* Not format_all: its "empty" format would take any short file. */
  archive_read_support_format_zip(a);
  archive_read_support_format_iso9660(a);
  archive_read_support_format_tar(a);
  archive_read_support_format_7zip(a);
  archive_read_support_filter_all(a);
  if (archive_read_open_filename(a, source, 65536) != ARCHIVE_OK) {
    p2v_error("%s: not a folder, .zip or ISO image: %s", source, archive_error_string(a));
    archive_read_free(a);
    return NULL;
  }
  return a;
}

static int walk_archive(struct walk *w)
{
  struct archive *a = open_archive(w->source);
  if (!a)
    return -1;
  int r = 0;
  struct archive_entry *e;
  for (;;) {
    int s = archive_read_next_header(a, &e);
    if (s == ARCHIVE_EOF) {
      if (w->entries == 0) {
        p2v_error("%s: no files in it: an empty or truncated archive", w->source);
        r = -1;
      }
      break;
    }
    if (s != ARCHIVE_OK && s != ARCHIVE_WARN) {
      p2v_error("%s: broken archive: %s", w->source, archive_error_string(a));
      r = -1;
      break;
    }
    if (archive_entry_filetype(e) != AE_IFREG)
      continue;
    const char *path = archive_entry_pathname(e);
    if (!path)
      continue;
    while (path[0] == '.' && path[1] == '/')
      path += 2;
    while (path[0] == '/')
      path++;
    bool inf = is_inf(path);
    if ((r = admit(w, path, inf)) != 0)
      break;
    if (!inf) {
      if ((r = w->file_fn(path, w->opaque)) != 0)
        break;
      continue;
    }
    CLEANUP_FREE uint8_t *data = NULL;
    size_t size;
    if (read_entry(a, &data, &size) < 0) {
      p2v_error("%s: broken archive: %s: %s", w->source, path,
                archive_error_string(a) ? archive_error_string(a) : "out of memory");
      r = -1;
      break;
    }
    if ((r = deliver(w, path, data, size)) != 0)
      break;
  }
  archive_read_free(a);
  return r;
}

int win_source_walk(const char *source, win_inf_fn inf_fn, win_file_fn file_fn, void *opaque)
{
  struct walk w = { source, inf_fn, file_fn, opaque, 0, 0 };
  struct stat st;
  if (stat(source, &st) < 0) {
    p2v_error("%s: %m", source);
    return -1;
  }
  if (S_ISDIR(st.st_mode)) {
    int fd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      p2v_error("%s: cannot open folder: %m", source);
      return -1;
    }
    return walk_dir(&w, fd, "", 0);
  }
  return walk_archive(&w);
}

/* ---- extracting chosen files (the converter copies packages out) ---- */

struct extract {
  const char *source, *dest;
  win_want_fn want;
  void *opaque;
};

/* DEST/lower(PATH), its folders created; NULL with the error reported. */
static char *extract_target(const struct extract *x, const char *path)
{
  char *out;
  if (strstr(path, "..") || asprintf(&out, "%s/%s", x->dest, path) < 0) {
    p2v_error("%s: cannot extract %s: bad name or out of memory", x->source, path);
    return NULL;
  }
  for (char *p = out + strlen(x->dest) + 1; *p; p++) {
    *p = (char) tolower((unsigned char) *p);
    if (*p == '/') {
      *p = '\0';
      int r = mkdir(out, 0700);
      *p = '/';
      if (r < 0 && errno != EEXIST) {
        p2v_error("%s: cannot create a folder for %s: %m", x->dest, path);
        free(out);
        return NULL;
      }
    }
  }
  return out;
}

/* Copy what READ_FN gives to OUT, at most WIN_MAX_EXTRACT bytes. */
static int extract_stream(const struct extract *x, const char *path, const char *out,
                          ssize_t (*read_fn)(void *ctx, void *buf, size_t len), void *ctx)
{
  CLEANUP_CLOSE int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    p2v_error("%s: cannot create %s: %m", x->dest, out);
    return -1;
  }
  char buf[65536];
  size_t total = 0;
  for (;;) {
    ssize_t n = read_fn(ctx, buf, sizeof buf);
    if (n < 0) {
      p2v_error("%s: cannot read %s", x->source, path);
      return -1;
    }
    if (n == 0)
      return 0;
    total += n;
    if (total > WIN_MAX_EXTRACT) {
      p2v_error("%s: %s is larger than %u bytes; not a driver file", x->source, path,
                WIN_MAX_EXTRACT);
      return -1;
    }
    if (write(fd, buf, n) != n) {
      p2v_error("%s: cannot write %s: %m", x->dest, out);
      return -1;
    }
  }
}

static int extract_folder_file(const char *path, void *opaque)
{
  const struct extract *x = opaque;
  if (!x->want(path, x->opaque))
    return 0;
  CLEANUP_FREE char *out = extract_target(x, path), *in = NULL;
  if (!out)
    return -1;
  if (asprintf(&in, "%s/%s", x->source, path) < 0) {
    p2v_error("%s: out of memory", x->source);
    return -1;
  }
  CLEANUP_CLOSE int fd = open(in, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    p2v_error("%s: cannot open %s: %m", x->source, path);
    return -1;
  }
  return extract_stream(x, path, out, read_from_fd, &fd);
}

static int extract_folder_inf(const char *path, const uint8_t *data, size_t size, void *opaque)
{
  (void) data; (void) size;
  return extract_folder_file(path, opaque);
}

static int extract_archive(struct extract *x)
{
  struct archive *a = open_archive(x->source);
  if (!a)
    return -1;
  int r = 0;
  size_t entries = 0;
  struct archive_entry *e;
  while (r == 0) {
    int s = archive_read_next_header(a, &e);
    if (s == ARCHIVE_EOF)
      break;
    if ((s != ARCHIVE_OK && s != ARCHIVE_WARN) || ++entries > WIN_MAX_FILES) {
      p2v_error("%s: broken archive: %s", x->source,
                archive_error_string(a) ? archive_error_string(a) : "too many files");
      r = -1;
      break;
    }
    const char *path = archive_entry_pathname(e);
    if (archive_entry_filetype(e) != AE_IFREG || !path)
      continue;
    while (path[0] == '.' && path[1] == '/')
      path += 2;
    while (path[0] == '/')
      path++;
    if (!x->want(path, x->opaque))
      continue;
    CLEANUP_FREE char *out = extract_target(x, path);
    r = out ? extract_stream(x, path, out, read_from_archive, a) : -1;
  }
  archive_read_free(a);
  return r;
}

int win_source_extract(const char *source, win_want_fn want, void *opaque, const char *dest)
{
  struct extract x = { source, dest, want, opaque };
  struct stat st;
  if (stat(source, &st) < 0) {
    p2v_error("%s: %m", source);
    return -1;
  }
  if (!S_ISDIR(st.st_mode))
    return extract_archive(&x);
  return win_source_walk(source, extract_folder_inf, extract_folder_file, &x);
}
