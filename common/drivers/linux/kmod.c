/* The .modinfo section of a kernel module: NUL-separated "key=value"
 * strings (alias=, firmware=, depends=) in an ELF file, itself maybe
 * compressed.  Every offset and size from the file is checked.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>
#include <string.h>

#include <archive.h>

#include "cleanup.h"
#include "linux.h"
#include "log.h"

int lx_decompress(const char *what, const unsigned char *data, size_t size, size_t max,
                  unsigned char **out, size_t *outlen)
{
  struct archive *a = archive_read_new();
  if (!a) {
    if (what)
      p2v_error("%s: out of memory", what);
    return -1;
  }
  archive_read_support_filter_all(a);
  archive_read_support_format_raw(a);
  struct archive_entry *e;
  unsigned char *buf = NULL;
  size_t len = 0, cap = 0;
  int r = -1;
  if (archive_read_open_memory(a, data, size) != ARCHIVE_OK ||
      archive_read_next_header(a, &e) != ARCHIVE_OK) {
    if (what)
      p2v_error("%s: cannot decompress: %s", what, archive_error_string(a));
    goto out;
  }
  for (;;) {
    if (cap - len < 65536) {
      size_t ncap = cap ? cap * 2 : 1u << 20;
      if (ncap > max + 65536) {
        if (cap >= max + 65536) {
          if (what)
      p2v_error("%s: more than %zu bytes when decompressed", what, max);
          goto out;
        }
        ncap = max + 65536;
      }
      unsigned char *grown = realloc(buf, ncap);
      if (!grown) {
        if (what)
      p2v_error("%s: out of memory", what);
        goto out;
      }
      buf = grown;
      cap = ncap;
    }
    la_ssize_t n = archive_read_data(a, buf + len, cap - len);
    if (n < 0) {
      if (what)
      p2v_error("%s: cannot decompress: %s", what, archive_error_string(a));
      goto out;
    }
    if (n == 0)
      break;
    len += (size_t)n;
    if (len > max) {
      if (what)
      p2v_error("%s: more than %zu bytes when decompressed", what, max);
      goto out;
    }
  }
  *out = buf;
  *outlen = len;
  buf = NULL;
  r = 0;
out:
  free(buf);
  archive_read_free(a);
  return r;
}

static uint64_t get(const unsigned char *p, size_t n, bool be)
{
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v |= (uint64_t)p[be ? n - 1 - i : i] << (8 * i);
  return v;
}

/* Find .modinfo: its offset and size, both inside the file. */
static int find_modinfo(const char *path, const unsigned char *d, size_t size,
                        size_t *off, size_t *len)
{
  if (size < 0x34 || memcmp(d, "\177ELF", 4) != 0) {
    p2v_error("%s: not an ELF file", path);
    return -1;
  }
  bool is64 = d[4] == 2, be = d[5] == 2;
  if ((d[4] != 1 && d[4] != 2) || (d[5] != 1 && d[5] != 2) || (is64 && size < 0x40)) {
    p2v_error("%s: unknown ELF class or byte order", path);
    return -1;
  }
  uint64_t shoff = is64 ? get(d + 0x28, 8, be) : get(d + 0x20, 4, be);
  uint64_t shentsize = get(d + (is64 ? 0x3a : 0x2e), 2, be);
  uint64_t shnum = get(d + (is64 ? 0x3c : 0x30), 2, be);
  uint64_t shstrndx = get(d + (is64 ? 0x3e : 0x32), 2, be);
  if (shentsize < (is64 ? 0x40u : 0x28u) || shstrndx >= shnum ||
      shoff > size || shnum > (size - shoff) / shentsize) {
    p2v_error("%s: corrupt ELF section table", path);
    return -1;
  }
  uint64_t str_off, str_size;
  const unsigned char *sh = d + shoff + shstrndx * shentsize;
  str_off = is64 ? get(sh + 0x18, 8, be) : get(sh + 0x10, 4, be);
  str_size = is64 ? get(sh + 0x20, 8, be) : get(sh + 0x14, 4, be);
  if (str_off > size || str_size > size - str_off) {
    p2v_error("%s: corrupt ELF section name table", path);
    return -1;
  }
  for (uint64_t i = 0; i < shnum; i++) {
    sh = d + shoff + i * shentsize;
    uint64_t name = get(sh, 4, be);
    static const char want[] = ".modinfo";
    if (name >= str_size || str_size - name < sizeof want ||
        memcmp(d + str_off + name, want, sizeof want) != 0)
      continue;
    uint64_t o = is64 ? get(sh + 0x18, 8, be) : get(sh + 0x10, 4, be);
    uint64_t n = is64 ? get(sh + 0x20, 8, be) : get(sh + 0x14, 4, be);
    if (o > size || n > size - o) {
      p2v_error("%s: .modinfo lies outside the file", path);
      return -1;
    }
    *off = (size_t)o;
    *len = (size_t)n;
    return 0;
  }
  *off = *len = 0;             /* a module without modinfo: nothing to say */
  return 0;
}

static int add_value(struct lx_modinfo *mi, const char *s, size_t n)
{
  struct lx_strv *v = NULL;
  size_t k = 0;
  if (n > 6 && !memcmp(s, "alias=", 6)) {
    v = &mi->aliases;
    k = 6;
  } else if (n > 9 && !memcmp(s, "firmware=", 9)) {
    v = &mi->firmware;
    k = 9;
  } else if (n > 8 && !memcmp(s, "depends=", 8)) {
    /* "depends=a,b": module names as written, '-' kept (kmod normalises). */
    const char *p = s + 8, *end = s + n;
    while (p < end) {
      const char *comma = memchr(p, ',', (size_t)(end - p));
      const char *e = comma ? comma : end;
      if (e > p) {
        CLEANUP_FREE char *dep = strndup(p, (size_t)(e - p));
        if (!dep || lx_strv_add(&mi->depends, dep, strlen(dep)) == -1)
          return -1;
        for (char *c = mi->depends.items[mi->depends.count - 1]; *c; c++)
          if (*c == '-')
            *c = '_';
      }
      p = e + 1;
    }
    return 0;
  }
  if (!v || lx_strv_has(v, s + k))
    return 0;
  return lx_strv_add(v, s + k, n - k);
}

int lx_modinfo_read(const char *path, const unsigned char *data, size_t size,
                    struct lx_modinfo *mi)
{
  memset(mi, 0, sizeof *mi);
  CLEANUP_FREE unsigned char *plain = NULL;
  if (size >= 4 && memcmp(data, "\177ELF", 4) != 0) {
    size_t plen;
    if (lx_decompress(path, data, size, LX_MAX_FILE_BYTES, &plain, &plen) == -1)
      return -1;
    data = plain;
    size = plen;
  }
  size_t off, len;
  if (find_modinfo(path, data, size, &off, &len) == -1)
    return -1;
  const char *p = (const char *)data + off, *end = p + len;
  while (p < end) {
    const char *nul = memchr(p, '\0', (size_t)(end - p));
    const char *e = nul ? nul : end;
    /* Values are strings; a copy keeps the add_value compare NUL-safe. */
    if (e > p) {
      CLEANUP_FREE char *s = strndup(p, (size_t)(e - p));
      if (!s || add_value(mi, s, strlen(s)) == -1) {
        lx_modinfo_clear(mi);
        return -1;
      }
    }
    p = e + 1;
  }
  return 0;
}

void lx_modinfo_clear(struct lx_modinfo *mi)
{
  lx_strv_clear(&mi->aliases);
  lx_strv_clear(&mi->firmware);
  lx_strv_clear(&mi->depends);
}

char *lx_module_name(const char *path)
{
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  static const char *const exts[] = { ".ko", ".ko.xz", ".ko.zst", ".ko.gz" };
  size_t n = strlen(base);
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
    size_t e = strlen(exts[i]);
    if (n > e && !strcmp(base + n - e, exts[i])) {
      char *name = strndup(base, n - e);
      for (char *c = name; c && *c; c++)
        if (*c == '-')
          *c = '_';
      return name;
    }
  }
  return NULL;
}
