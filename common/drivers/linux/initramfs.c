/* Initramfs images: one or more newc cpio archives back to back, each
 * plain or compressed (early microcode first, plain; then the main one,
 * compressed; then whatever `p2v-drivers add` appended, plain).  The kernel
 * unpacks them in order, later files replacing earlier ones.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>

#include "buf.h"
#include "cleanup.h"
#include "linux.h"
#include "log.h"

#define NEWC_HEADER 110
#define TRAILER "TRAILER!!!"

static size_t align4(size_t n) { return (n + 3) & ~(size_t)3; }

static bool is_newc(const unsigned char *p, size_t avail)
{
  return avail >= 6 && (!memcmp(p, "070701", 6) || !memcmp(p, "070702", 6));
}

static bool hex8(const unsigned char *p, uint32_t *out)
{
  uint32_t v = 0;
  for (int i = 0; i < 8; i++) {
    unsigned c = p[i];
    unsigned d = c >= '0' && c <= '9' ? c - '0'
               : c >= 'a' && c <= 'f' ? c - 'a' + 10
               : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 16;
    if (d > 15)
      return false;
    v = v << 4 | d;
  }
  *out = v;
  return true;
}

/* One newc archive from off; *end is just past its trailer (aligned).
 * With visit NULL only checks that it is well formed. */
static int walk_newc(const char *what, const unsigned char *d, size_t size, size_t off,
                     size_t *end, lx_want_fn want, lx_visit_fn visit, void *ctx)
{
  for (;;) {
    if (off > size || size - off < NEWC_HEADER || !is_newc(d + off, size - off)) {
      if (visit)
        p2v_error("%s: corrupt cpio archive at byte %zu", what, off);
      return -1;
    }
    const unsigned char *h = d + off;
    uint32_t mode, filesize, namesize;
    if (!hex8(h + 14, &mode) || !hex8(h + 54, &filesize) || !hex8(h + 94, &namesize) ||
        namesize == 0 || namesize > 4096 || namesize > size - off - NEWC_HEADER) {
      if (visit)
        p2v_error("%s: corrupt cpio header at byte %zu", what, off);
      return -1;
    }
    const char *name = (const char *)h + NEWC_HEADER;
    size_t data_off = align4(off + NEWC_HEADER + namesize);
    if (name[namesize - 1] != '\0' || data_off > size || filesize > size - data_off) {
      if (visit)
        p2v_error("%s: corrupt cpio entry at byte %zu", what, off);
      return -1;
    }
    off = align4(data_off + filesize);
    if (!strcmp(name, TRAILER)) {
      *end = off < size ? off : size;
      return 0;
    }
    if (!visit)
      continue;
    while (name[0] == '.' && name[1] == '/')
      name += 2;
    while (name[0] == '/')
      name++;
    if (name[0] == '\0' || !strcmp(name, "."))
      continue;
    struct lx_file f = { .path = name, .size = filesize, .mode = mode };
    if (S_ISLNK(mode) || (S_ISREG(mode) && want && want(ctx, name)))
      f.data = d + data_off;
    if (visit(ctx, &f) == -1)
      return -1;
  }
}

/* Where a compressed segment starting at off ends: at the next offset
 * where a whole, well-formed cpio archive starts, or the end of data. */
static size_t compressed_end(const unsigned char *d, size_t size, size_t off)
{
  size_t p = off + 1;
  while (p < size) {
    const unsigned char *m = memmem(d + p, size - p, "07070", 5);
    if (!m)
      break;
    size_t at = (size_t)(m - d), end;
    if (walk_newc("", d, size, at, &end, NULL, NULL, NULL) == 0)
      return at;
    p = at + 1;
  }
  return size;
}

static int walk_segments(const char *what, const unsigned char *d, size_t size, int depth,
                         lx_want_fn want, lx_visit_fn visit, void *ctx)
{
  size_t off = 0;
  int segments = 0;
  while (off < size) {
    while (off < size && d[off] == 0)
      off++;
    if (off >= size)
      break;
    size_t end;
    if (is_newc(d + off, size - off)) {
      if (walk_newc(what, d, size, off, &end, want, visit, ctx) == -1)
        return -1;
    } else if (depth > 0) {
      p2v_error("%s: data after a compressed cpio archive is not a cpio archive", what);
      return -1;
    } else {
      end = compressed_end(d, size, off);
      CLEANUP_FREE unsigned char *plain = NULL;
      size_t plen;
      /* Zero padding before the next archive upsets some decompressors
       * (zstd); trim it, though a stream may itself end in zeros. */
      size_t clen = end - off;
      while (clen > 1 && end < size && d[off + clen - 1] == 0)
        clen--;
      if (clen != end - off && lx_decompress(NULL, d + off, clen, LX_MAX_IMAGE_BYTES,
                                             &plain, &plen) == 0) {
        /* done */
      } else if (lx_decompress(what, d + off, end - off, LX_MAX_IMAGE_BYTES,
                               &plain, &plen) == -1) {
        return -1;
      }
      if (!is_newc(plain, plen)) {
        p2v_error("%s: not an initramfs (no cpio archive%s)", what,
                  segments ? " after the first" : "");
        return -1;
      }
      if (walk_segments(what, plain, plen, depth + 1, want, visit, ctx) == -1)
        return -1;
    }
    off = end;
    segments++;
  }
  if (segments == 0) {
    p2v_error("%s: empty initramfs", what);
    return -1;
  }
  return 0;
}

int lx_initramfs_walk(const char *what, const unsigned char *data, size_t size,
                      lx_want_fn want, lx_visit_fn visit, void *ctx)
{
  return walk_segments(what, data, size, 0, want, visit, ctx);
}

int lx_buf_append(struct lx_buf *b, const void *data, size_t len)
{
  unsigned char *grown = len <= SIZE_MAX - b->len ? p2v_grow(b->data, &b->cap, b->len + len, 1) : NULL;
  if (!grown) {
    p2v_error("out of memory");
    return -1;
  }
  b->data = grown;
  if (len)
    memcpy(b->data + b->len, data, len);
  b->len += len;
  return 0;
}

static int pad4(struct lx_buf *b)
{
  static const unsigned char zeros[4];
  return lx_buf_append(b, zeros, align4(b->len) - b->len);
}

int lx_cpio_add(struct lx_buf *b, const char *path, mode_t mode, const void *data, size_t size)
{
  /* Inode numbers high enough not to meet the image's own; nlink 1, so
   * the kernel never treats two entries as hard links of each other. */
  static uint32_t ino = 0x70000000;
  char header[NEWC_HEADER + 1];
  size_t namesize = strlen(path) + 1;
  if (size > UINT32_MAX || namesize > 4096) {
    p2v_error("%s: too large for a cpio archive", path);
    return -1;
  }
  snprintf(header, sizeof header,
           "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
           ino++, (unsigned)mode, 0u, 0u, S_ISDIR(mode) ? 2u : 1u, 0u, (unsigned)size,
           0u, 0u, 0u, 0u, (unsigned)namesize, 0u);
  if (lx_buf_append(b, header, NEWC_HEADER) == -1 ||
      lx_buf_append(b, path, namesize) == -1 || pad4(b) == -1 ||
      lx_buf_append(b, data, size) == -1 || pad4(b) == -1)
    return -1;
  return 0;
}

int lx_cpio_finish(struct lx_buf *b)
{
  return lx_cpio_add(b, TRAILER, 0, NULL, 0);
}

static bool initrd_name(const char *path)
{
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  return !strncmp(base, "initrd", 6) || !strncmp(base, "initramfs", 9);
}

int lx_iso_find_initramfs(const char *iso, unsigned char **data, size_t *size, char **found)
{
  struct archive *a = archive_read_new();
  if (!a) {
    p2v_error("%s: out of memory", iso);
    return -1;
  }
  archive_read_support_format_iso9660(a);
  int r = -1;
  struct archive_entry *e;
  if (archive_read_open_filename(a, iso, 65536) != ARCHIVE_OK) {
    p2v_error("%s: cannot read ISO image: %s", iso, archive_error_string(a));
    goto out;
  }
  int st;
  while ((st = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    const char *path = archive_entry_pathname(e);
    if (!path || archive_entry_filetype(e) != AE_IFREG || !initrd_name(path))
      continue;
    la_int64_t n = archive_entry_size(e);
    if (n <= 0 || (uint64_t)n > LX_MAX_FILE_BYTES) {
      p2v_error("%s: %s: implausible initramfs size", iso, path);
      goto out;
    }
    unsigned char *buf = malloc((size_t)n);
    if (!buf) {
      p2v_error("%s: out of memory", iso);
      goto out;
    }
    la_ssize_t got = archive_read_data(a, buf, (size_t)n);
    if (got != n) {
      p2v_error("%s: %s: cannot read: %s", iso, path,
                got < 0 ? archive_error_string(a) : "short read");
      free(buf);
      goto out;
    }
    *data = buf;
    *size = (size_t)n;
    *found = strdup(path);
    r = 0;
    goto out;
  }
  if (st != ARCHIVE_EOF)
    p2v_error("%s: cannot read ISO image: %s", iso, archive_error_string(a));
  else
    p2v_error("%s: no initramfs (initrd*, initramfs*) in the ISO image", iso);
out:
  archive_read_free(a);
  return r;
}
