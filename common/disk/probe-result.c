/* What the probe child found, and the byte format it sends to the parent.
 *
 * Format (all integers little-endian):
 *   "P2VPRB1\n"
 *   records, each a tag byte:
 *     'T' u16 len, bytes                      partition table type (once)
 *     'P' u32 number, u64 offset, u64 length, u64 used,
 *         u16 len, filesystem bytes, u16 len, label bytes    (len 0: none)
 *     'U' u64 offset, u64 length              an unused range
 *     'W' u16 len, bytes                      a warning for the parent to log
 *     'E' u64 partitions, u64 ranges          end; counts must match
 * The parent trusts none of it: see p2v_probe_result_decode.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk-internal.h"
#include "file-io.h"

static const char magic[8] = "P2VPRB1\n";

void p2v_probe_result_clear(struct p2v_probe_result *result)
{
  for (size_t i = 0; i < result->npartitions; i++) {
    free(result->partitions[i].filesystem);
    free(result->partitions[i].label);
  }
  free(result->partitions);
  for (size_t i = 0; i < result->nwarnings; i++)
    free(result->warnings[i]);
  free(result->warnings);
  free(result->table_type);
  p2v_extent_list_clear(&result->unused);
  result->partitions = NULL;
  result->npartitions = 0;
  result->warnings = NULL;
  result->nwarnings = 0;
  result->table_type = NULL;
}

/* Takes ownership of part's strings, also on failure. */
int p2v_probe_result_add_partition(struct p2v_probe_result *result,
                                   const struct p2v_partition *part)
{
  struct p2v_partition *n = NULL;
  if (result->npartitions < P2V_PROBE_MAX_PARTITIONS)
    n = reallocarray(result->partitions, result->npartitions + 1, sizeof *n);
  if (!n) {
    free(part->filesystem);
    free(part->label);
    errno = ENOMEM;
    return -1;
  }
  result->partitions = n;
  n[result->npartitions++] = *part;
  return 0;
}

int p2v_probe_result_add_warning(struct p2v_probe_result *result, const char *fmt, ...)
{
  char *msg, **n = NULL;
  va_list ap;
  int r;

  if (result->nwarnings >= P2V_PROBE_MAX_WARNINGS)
    return 0;
  va_start(ap, fmt);
  r = vasprintf(&msg, fmt, ap);
  va_end(ap);
  if (r == -1)
    return -1;
  n = reallocarray(result->warnings, result->nwarnings + 1, sizeof *n);
  if (!n) {
    free(msg);
    return -1;
  }
  result->warnings = n;
  n[result->nwarnings++] = msg;
  return 0;
}

/* Encoding: a buffer flushed to the fd as it fills. */
struct writer {
  int fd;
  uint8_t buf[65536];
  size_t len;
  int error;
};

static void flush(struct writer *w)
{
  if (!w->error && p2v_write_full(w->fd, w->buf, w->len) == -1)
    w->error = errno;
  w->len = 0;
}

static void put(struct writer *w, const void *p, size_t n)
{
  const uint8_t *b = p;
  while (n > 0) {
    if (w->len == sizeof w->buf)
      flush(w);
    size_t k = sizeof w->buf - w->len < n ? sizeof w->buf - w->len : n;
    memcpy(w->buf + w->len, b, k);
    w->len += k;
    b += k;
    n -= k;
  }
}

static void put_u8(struct writer *w, uint8_t v) { put(w, &v, 1); }

static void put_uint(struct writer *w, uint64_t v, size_t bytes)
{
  uint8_t b[8];
  for (size_t i = 0; i < bytes; i++)
    b[i] = (uint8_t) (v >> (8 * i));
  put(w, b, bytes);
}

static void put_string(struct writer *w, const char *s)
{
  size_t n = s ? strlen(s) : 0;
  if (n > P2V_PROBE_MAX_STRING)
    n = P2V_PROBE_MAX_STRING;
  put_uint(w, n, 2);
  put(w, s, n);
}

int p2v_probe_result_write(int fd, const struct p2v_probe_result *result)
{
  static struct writer w;     /* 64 KiB: not on the stack */

  w.fd = fd;
  w.len = 0;
  w.error = 0;
  put(&w, magic, sizeof magic);
  if (result->table_type) {
    put_u8(&w, 'T');
    put_string(&w, result->table_type);
  }
  for (size_t i = 0; i < result->npartitions; i++) {
    const struct p2v_partition *p = &result->partitions[i];
    put_u8(&w, 'P');
    put_uint(&w, p->number, 4);
    put_uint(&w, p->offset, 8);
    put_uint(&w, p->length, 8);
    put_uint(&w, p->used_bytes, 8);
    put_string(&w, p->filesystem);
    put_string(&w, p->label);
  }
  for (size_t i = 0; i < result->unused.count; i++) {
    put_u8(&w, 'U');
    put_uint(&w, result->unused.items[i].offset, 8);
    put_uint(&w, result->unused.items[i].length, 8);
  }
  for (size_t i = 0; i < result->nwarnings; i++) {
    put_u8(&w, 'W');
    put_string(&w, result->warnings[i]);
  }
  put_u8(&w, 'E');
  put_uint(&w, result->npartitions, 8);
  put_uint(&w, result->unused.count, 8);
  flush(&w);
  if (w.error) {
    errno = w.error;
    return -1;
  }
  return 0;
}

/* Decoding: every read is bounds-checked. */
struct reader {
  const uint8_t *p;
  size_t left;
};

static int get_uint(struct reader *r, size_t bytes, uint64_t *v)
{
  if (r->left < bytes)
    return -1;
  *v = 0;
  for (size_t i = 0; i < bytes; i++)
    *v |= (uint64_t) r->p[i] << (8 * i);
  r->p += bytes;
  r->left -= bytes;
  return 0;
}

/* A string, or NULL for length 0.  Control characters become '?', so a
 * label cannot move the cursor of whoever reads the log. */
static int get_string(struct reader *r, char **out)
{
  uint64_t n;
  *out = NULL;
  if (get_uint(r, 2, &n) == -1 || n > P2V_PROBE_MAX_STRING || n > r->left)
    return -1;
  if (n == 0)
    return 0;
  char *s = malloc(n + 1);
  if (!s)
    return -1;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = r->p[i];
    s[i] = (char) (c < 0x20 || c == 0x7f ? '?' : c);
  }
  s[n] = '\0';
  r->p += n;
  r->left -= n;
  *out = s;
  return 0;
}

static int compare_partitions(const void *a, const void *b)
{
  const struct p2v_partition *x = *(struct p2v_partition *const *) a;
  const struct p2v_partition *y = *(struct p2v_partition *const *) b;
  return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Every unused range must lie inside one partition, and partitions must
 * not overlap: garbage from the child can then never hide a partition
 * table, a boot loader gap or another partition. */
static int check_ranges(const struct p2v_probe_result *res, const char **why)
{
  const struct p2v_partition **sorted = calloc(res->npartitions + 1, sizeof *sorted);
  int ret = -1;

  if (!sorted) {
    *why = "out of memory";
    return -1;
  }
  for (size_t i = 0; i < res->npartitions; i++)
    sorted[i] = &res->partitions[i];
  qsort(sorted, res->npartitions, sizeof *sorted, compare_partitions);
  for (size_t i = 1; i < res->npartitions; i++)
    if (sorted[i]->offset < sorted[i - 1]->offset + sorted[i - 1]->length) {
      *why = "partitions overlap";
      goto out;
    }
  for (size_t i = 0; i < res->unused.count; i++) {
    const struct p2v_extent *e = &res->unused.items[i];
    size_t lo = 0, hi = res->npartitions;
    while (lo < hi) {           /* last partition starting at or before e */
      size_t mid = lo + (hi - lo) / 2;
      if (sorted[mid]->offset <= e->offset)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo == 0 ||
        e->offset + e->length > sorted[lo - 1]->offset + sorted[lo - 1]->length) {
      *why = "an unused range lies outside every partition";
      goto out;
    }
  }
  ret = 0;
out:
  free(sorted);
  return ret;
}

static int decode(struct reader *r, uint64_t disk_size,
                  struct p2v_probe_result *res, const char **why)
{
  uint64_t tag;

  if (r->left < sizeof magic || memcmp(r->p, magic, sizeof magic) != 0) {
    *why = "bad header";
    return -1;
  }
  r->p += sizeof magic;
  r->left -= sizeof magic;

  for (;;) {
    if (get_uint(r, 1, &tag) == -1) {
      *why = "truncated (no end record)";
      return -1;
    }
    switch (tag) {
    case 'T':
      if (res->table_type) {
        *why = "two partition table types";
        return -1;
      }
      if (get_string(r, &res->table_type) == -1) {
        *why = "bad table type";
        return -1;
      }
      break;
    case 'P': {
      uint64_t num, off, len, used;
      struct p2v_partition p = { 0 };
      if (get_uint(r, 4, &num) == -1 || get_uint(r, 8, &off) == -1 ||
          get_uint(r, 8, &len) == -1 || get_uint(r, 8, &used) == -1) {
        *why = "truncated partition";
        return -1;
      }
      if (len == 0 || off > disk_size || len > disk_size - off ||
          (used != UINT64_MAX && used > len)) {
        *why = "partition outside the disk";
        return -1;
      }
      p.number = (unsigned) num;
      p.offset = off;
      p.length = len;
      p.used_bytes = used;
      if (get_string(r, &p.filesystem) == -1 || get_string(r, &p.label) == -1) {
        free(p.filesystem);
        *why = "bad partition name";
        return -1;
      }
      if (p2v_probe_result_add_partition(res, &p) == -1) {
        *why = "too many partitions";
        return -1;
      }
      break;
    }
    case 'U': {
      uint64_t off, len;
      if (get_uint(r, 8, &off) == -1 || get_uint(r, 8, &len) == -1) {
        *why = "truncated range";
        return -1;
      }
      if (len == 0 || off > disk_size || len > disk_size - off) {
        *why = "unused range outside the disk";
        return -1;
      }
      if (res->unused.count >= P2V_PROBE_MAX_EXTENTS) {
        *why = "too many unused ranges";
        return -1;
      }
      if (p2v_extent_list_add(&res->unused, off, len) == -1) {
        *why = "out of memory";
        return -1;
      }
      break;
    }
    case 'W': {
      char *w = NULL;
      if (get_string(r, &w) == -1 || !w) {
        *why = "bad warning";
        return -1;
      }
      int ok = p2v_probe_result_add_warning(res, "%s", w);
      free(w);
      if (ok == -1) {
        *why = "out of memory";
        return -1;
      }
      break;
    }
    case 'E': {
      uint64_t np, nu;
      if (get_uint(r, 8, &np) == -1 || get_uint(r, 8, &nu) == -1) {
        *why = "truncated end record";
        return -1;
      }
      if (r->left != 0) {
        *why = "bytes after the end record";
        return -1;
      }
      /* The child sends a normalized list, so counts survive merging. */
      if (np != res->npartitions || nu != res->unused.count) {
        *why = "counts do not match";
        return -1;
      }
      p2v_extent_list_normalize(&res->unused);
      return check_ranges(res, why);
    }
    default:
      *why = "unknown record";
      return -1;
    }
  }
}

int p2v_probe_result_decode(const uint8_t *buf, size_t len, uint64_t disk_size,
                            struct p2v_probe_result *result, const char **why)
{
  struct reader r = { buf, len };
  *result = (struct p2v_probe_result) { .unused = P2V_EXTENT_LIST_INIT };
  if (decode(&r, disk_size, result, why) == -1) {
    p2v_probe_result_clear(result);
    return -1;
  }
  return 0;
}
