/* Registry hives on the host, through hivex: the only file that includes
 * hivex.h.  A hive comes from the guest, so its content is hostile: every
 * length is checked, strings are decoded from UTF-16LE with bounds (odd
 * lengths, a missing NUL, lone surrogates), and values larger than
 * GW_REG_MAX_VALUE are refused rather than allocated.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hivex.h>

#include "cleanup.h"
#include "guest/windows/windows-internal.h"
#include "log.h"

/* No value the conversion reads or writes is anywhere near this
 * (DevicePath, a MULTI_SZ of hardware IDs); hivex writes at most about
 * 1 MB in one value. */
#define GW_REG_MAX_VALUE   (512u << 10)
/* Windows' own limits: 255 characters a key name, 512 levels. */
#define GW_REG_MAX_NAME    255
#define GW_REG_MAX_DEPTH   512

struct gw_hive {
  hive_h *h;
  char *path;
  bool write;
  unsigned long edits;         /* edits that changed the hive since open */
  unsigned long committed;     /* edits at the last commit */
};

static const char *type_name(uint32_t t)
{
  static const char *const names[] = {
    "REG_NONE", "REG_SZ", "REG_EXPAND_SZ", "REG_BINARY", "REG_DWORD",
    "REG_DWORD_BIG_ENDIAN", "REG_LINK", "REG_MULTI_SZ", "REG_RESOURCE_LIST",
    "REG_FULL_RESOURCE_DESCRIPTOR", "REG_RESOURCE_REQUIREMENTS_LIST", "REG_QWORD",
  };
  return t < sizeof names / sizeof names[0] ? names[t] : "an unknown type";
}

/* "cannot WHAT KEY[ value NAME] in the registry hive PATH: DETAIL" */
static void __attribute__((format(printf, 5, 6)))
reg_error(const struct gw_hive *hv, const char *what, const char *key, const char *name,
          const char *fmt, ...)
{
  CLEANUP_FREE char *detail = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&detail, fmt, ap) < 0)
    detail = NULL;
  va_end(ap);
  if (name)
    p2v_error("cannot %s %s value \"%s\" in the registry hive %s: %s", what,
              *key ? key : "(root)", name, hv->path, detail ? detail : "out of memory");
  else
    p2v_error("cannot %s %s in the registry hive %s: %s", what, *key ? key : "(root)",
              hv->path, detail ? detail : "out of memory");
}

/* ---- UTF-16LE <-> UTF-8 ---- */

static size_t put_utf8(char *out, uint32_t c)
{
  if (c < 0x80) {
    out[0] = (char)c;
    return 1;
  }
  if (c < 0x800) {
    out[0] = (char)(0xC0 | (c >> 6));
    out[1] = (char)(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = (char)(0xE0 | (c >> 12));
    out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[2] = (char)(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (c >> 18));
  out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
  out[3] = (char)(0x80 | (c & 0x3F));
  return 4;
}

static uint16_t unit_at(const uint8_t *p, size_t i)
{
  return (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
}

/* NUNITS UTF-16LE code units at P, up to (not including) the first NUL
 * unit, as UTF-8; lone surrogates become U+FFFD.  *USED: units consumed,
 * the NUL included when there is one.  NULL on out of memory. */
static char *utf16le_to_utf8(const uint8_t *p, size_t nunits, size_t *used)
{
  /* Each unit gives at most 3 bytes (a pair: 4 bytes for 2 units). */
  char *out = malloc(3 * nunits + 1);
  if (!out)
    return NULL;
  size_t o = 0, i = 0;
  while (i < nunits) {
    uint32_t c = unit_at(p, i++);
    if (c == 0)
      break;
    if (c >= 0xD800 && c <= 0xDBFF && i < nunits) {
      uint32_t lo = unit_at(p, i);
      if (lo >= 0xDC00 && lo <= 0xDFFF) {
        c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
        i++;
      } else {
        c = 0xFFFD;
      }
    } else if (c >= 0xD800 && c <= 0xDFFF) {
      c = 0xFFFD;
    }
    o += put_utf8(out + o, c);
  }
  out[o] = '\0';
  if (used)
    *used = i;
  return out;
}

/* One code point from UTF-8 at S (advancing it); -1 when not valid
 * (overlong, surrogate, beyond U+10FFFF, truncated). */
static int32_t next_utf8(const unsigned char **s)
{
  const unsigned char *p = *s;
  uint32_t c = p[0];
  size_t n;
  uint32_t min;
  if (c < 0x80) {
    *s = p + 1;
    return (int32_t)c;
  } else if ((c & 0xE0) == 0xC0) {
    n = 1; c &= 0x1F; min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 2; c &= 0x0F; min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 3; c &= 0x07; min = 0x10000;
  } else {
    return -1;
  }
  for (size_t k = 1; k <= n; k++) {
    if ((p[k] & 0xC0) != 0x80)
      return -1;               /* also stops at the NUL */
    c = (c << 6) | (p[k] & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
    return -1;
  *s = p + n + 1;
  return (int32_t)c;
}

/* Append S as UTF-16LE with its NUL to BUF (grown; *LEN bytes used).
 * -1: not valid UTF-8 (errno EILSEQ) or out of memory. */
static int append_utf16le(uint8_t **buf, size_t *len, const char *s)
{
  size_t n = strlen(s);
  /* At most one unit per byte, plus the NUL. */
  if (n > GW_REG_MAX_VALUE / 2 || *len + 2 * (n + 1) > GW_REG_MAX_VALUE) {
    errno = E2BIG;
    return -1;
  }
  uint8_t *b = realloc(*buf, *len + 2 * (n + 1));
  if (!b)
    return -1;
  *buf = b;
  const unsigned char *p = (const unsigned char *)s;
  size_t o = *len;
  while (*p) {
    int32_t c = next_utf8(&p);
    if (c < 0) {
      errno = EILSEQ;
      return -1;
    }
    if (c >= 0x10000) {
      uint32_t v = (uint32_t)c - 0x10000;
      uint16_t hi = (uint16_t)(0xD800 + (v >> 10)), lo = (uint16_t)(0xDC00 + (v & 0x3FF));
      b[o++] = hi & 0xFF; b[o++] = hi >> 8;
      b[o++] = lo & 0xFF; b[o++] = lo >> 8;
    } else {
      b[o++] = (uint8_t)(c & 0xFF); b[o++] = (uint8_t)(c >> 8);
    }
  }
  b[o++] = 0; b[o++] = 0;
  *len = o;
  return 0;
}

/* ---- the hive ---- */

struct gw_hive *gw_hive_open(const char *local_path, bool write)
{
  struct gw_hive *hv = calloc(1, sizeof *hv);
  if (!hv || !(hv->path = strdup(local_path))) {
    free(hv);
    p2v_error("cannot open the registry hive %s: out of memory", local_path);
    return NULL;
  }
  hv->write = write;
  errno = 0;
  hv->h = hivex_open(local_path, write ? HIVEX_OPEN_WRITE : 0);
  if (!hv->h) {
    if (errno == ENOTSUP || errno == EINVAL || errno == 0)
      p2v_error("cannot open the registry hive %s: not a valid Windows registry hive "
                "(corrupt, or not a hive at all)", local_path);
    else
      p2v_error("cannot open the registry hive %s: %m", local_path);
    free(hv->path);
    free(hv);
    return NULL;
  }
  return hv;
}

unsigned long gw_hive_edits(const struct gw_hive *hv)
{
  return hv->edits;
}

/* Written next to the file, then renamed over it: a failed commit leaves
 * the previous content.  Nothing changed since the last commit: no write
 * (hivex would bump the sequence numbers, and a second conversion must
 * leave the hive as it found it). */
int gw_hive_commit(struct gw_hive *hv)
{
  if (!hv->write) {
    p2v_error("cannot write the registry hive %s: it was opened read-only", hv->path);
    return -1;
  }
  if (hv->edits == hv->committed)
    return 0;
  CLEANUP_FREE char *tmp = NULL;
  if (asprintf(&tmp, "%s.p2v-tmp", hv->path) < 0) {
    p2v_error("cannot write the registry hive %s: out of memory", hv->path);
    return -1;
  }
  if (hivex_commit(hv->h, tmp, 0) == -1) {
    p2v_error("cannot write the registry hive %s: %m", tmp);
    unlink(tmp);
    return -1;
  }
  if (rename(tmp, hv->path) == -1) {
    p2v_error("cannot replace the registry hive %s: %m", hv->path);
    unlink(tmp);
    return -1;
  }
  hv->committed = hv->edits;
  return 0;
}

void gw_hive_close(struct gw_hive *hv)
{
  if (!hv)
    return;
  hivex_close(hv->h);
  free(hv->path);
  free(hv);
}

/* ---- keys ---- */

/* The next '\'-separated component of *P (empty ones skipped) into NAME;
 * 0 at the end, -1 when longer than a key name can be. */
static int next_component(const char **p, char name[GW_REG_MAX_NAME + 1])
{
  while (**p == '\\')
    (*p)++;
  size_t n = strcspn(*p, "\\");
  if (n == 0)
    return 0;
  if (n > GW_REG_MAX_NAME)
    return -1;
  memcpy(name, *p, n);
  name[n] = '\0';
  *p += n;
  return 1;
}

/* The child NAME of NODE (ignoring case, as hivex matches): 1 and *CHILD,
 * 0 absent, -1 error reported. */
static int child(struct gw_hive *hv, hive_node_h node, const char *name, const char *key,
                 hive_node_h *out)
{
  errno = 0;
  hive_node_h c = hivex_node_get_child(hv->h, node, name);
  if (c == 0) {
    if (errno == 0)
      return 0;
    reg_error(hv, "read", key, NULL, "%m");
    return -1;
  }
  *out = c;
  return 1;
}

/* Walk KEY from the root; CREATE adds missing keys.  1 with *NODE, 0 absent
 * (only without CREATE), -1 reported. */
static int walk(struct gw_hive *hv, const char *key, bool create, hive_node_h *node)
{
  hive_node_h n = hivex_root(hv->h);
  if (n == 0) {
    reg_error(hv, "read", key, NULL, "no root key: %m");
    return -1;
  }
  const char *p = key;
  char name[GW_REG_MAX_NAME + 1];
  unsigned depth = 0;
  int r;
  while ((r = next_component(&p, name)) == 1) {
    if (++depth > GW_REG_MAX_DEPTH) {
      reg_error(hv, create ? "create" : "read", key, NULL, "more than %d levels",
                GW_REG_MAX_DEPTH);
      return -1;
    }
    hive_node_h c;
    int found = child(hv, n, name, key, &c);
    if (found == -1)
      return -1;
    if (found == 0) {
      if (!create)
        return 0;
      c = hivex_node_add_child(hv->h, n, name);
      if (c == 0) {
        reg_error(hv, "create", key, NULL, "%m");
        return -1;
      }
      hv->edits++;
    }
    n = c;
  }
  if (r == -1) {
    reg_error(hv, create ? "create" : "read", key, NULL,
              "a key name is longer than %d characters", GW_REG_MAX_NAME);
    return -1;
  }
  *node = n;
  return 1;
}

int gw_reg_key_exists(struct gw_hive *hv, const char *key)
{
  hive_node_h n;
  return walk(hv, key, false, &n);
}

int gw_reg_subkeys(struct gw_hive *hv, const char *key, char ***names)
{
  *names = NULL;
  hive_node_h n;
  int r = walk(hv, key, false, &n);
  if (r <= 0)
    return r;
  CLEANUP_FREE hive_node_h *children = hivex_node_children(hv->h, n);
  if (!children) {
    reg_error(hv, "list the keys under", key, NULL, "%m");
    return -1;
  }
  size_t count = 0;
  while (children[count])
    count++;
  char **v = calloc(count + 1, sizeof *v);
  if (!v) {
    reg_error(hv, "list the keys under", key, NULL, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < count; i++) {
    v[i] = hivex_node_name(hv->h, children[i]);
    if (!v[i]) {
      reg_error(hv, "list the keys under", key, NULL, "%m");
      for (size_t k = 0; k < i; k++)
        free(v[k]);
      free(v);
      return -1;
    }
  }
  *names = v;
  return 1;
}

/* ---- reading values ---- */

/* The raw data of KEY\NAME: 1 with *DATA (NUL-padded by 2 bytes past
 * *SIZE, for the decoders' comfort), *TYPE; 0 absent; -1 reported. */
/* KEY\NAME's value handle, type and length: 1 found, 0 absent, -1 reported. */
static int find_value(struct gw_hive *hv, const char *key, const char *name, hive_value_h *v,
                      hive_type *t, size_t *len)
{
  hive_node_h n;
  int r = walk(hv, key, false, &n);
  if (r <= 0)
    return r;
  errno = 0;
  *v = hivex_node_get_value(hv->h, n, name);
  if (*v == 0) {
    if (errno == 0)
      return 0;
    reg_error(hv, "read", key, name, "%m");
    return -1;
  }
  if (hivex_value_type(hv->h, *v, t, len) == -1) {
    reg_error(hv, "read", key, name, "%m");
    return -1;
  }
  return 1;
}

static int get_raw_named(struct gw_hive *hv, const char *key, const char *name, uint32_t *type,
                         uint8_t **data, size_t *size, char **stored_name)
{
  hive_value_h v;
  hive_type t;
  size_t len;
  int r = find_value(hv, key, name, &v, &t, &len);
  if (r <= 0)
    return r;
  if (len > GW_REG_MAX_VALUE) {
    reg_error(hv, "read", key, name, "%zu bytes, more than the %u this reads", len,
              GW_REG_MAX_VALUE);
    return -1;
  }
  CLEANUP_FREE char *raw = hivex_value_value(hv->h, v, &t, &len);
  if (!raw) {
    reg_error(hv, "read", key, name, "%m");
    return -1;
  }
  if (len > GW_REG_MAX_VALUE) {
    reg_error(hv, "read", key, name, "%zu bytes, more than the %u this reads", len,
              GW_REG_MAX_VALUE);
    return -1;
  }
  uint8_t *copy = calloc(1, len + 2);
  if (!copy) {
    reg_error(hv, "read", key, name, "out of memory");
    return -1;
  }
  memcpy(copy, raw, len);
  if (stored_name && !(*stored_name = hivex_value_key(hv->h, v))) {
    free(copy);
    reg_error(hv, "read", key, name, "%m");
    return -1;
  }
  *type = (uint32_t)t;
  *data = copy;
  *size = len;
  return 1;
}

static int get_raw(struct gw_hive *hv, const char *key, const char *name, uint32_t *type,
                   uint8_t **data, size_t *size)
{
  return get_raw_named(hv, key, name, type, data, size, NULL);
}

int gw_reg_get_type(struct gw_hive *hv, const char *key, const char *name, uint32_t *type)
{
  hive_value_h v;
  hive_type t;
  size_t len;
  int r = find_value(hv, key, name, &v, &t, &len);
  if (r == 1)
    *type = (uint32_t)t;
  return r;
}

int gw_reg_get_binary(struct gw_hive *hv, const char *key, const char *name, uint8_t **data,
                      size_t *size)
{
  uint32_t t;
  *data = NULL;
  *size = 0;
  return get_raw(hv, key, name, &t, data, size);
}

int gw_reg_get_dword(struct gw_hive *hv, const char *key, const char *name, uint32_t *value)
{
  uint32_t t;
  CLEANUP_FREE uint8_t *d = NULL;
  size_t len;
  int r = get_raw(hv, key, name, &t, &d, &len);
  if (r <= 0)
    return r;
  if (t != hive_t_REG_DWORD && t != hive_t_REG_DWORD_BIG_ENDIAN) {
    reg_error(hv, "read", key, name, "it is %s, not REG_DWORD", type_name(t));
    return -1;
  }
  if (len != 4) {
    reg_error(hv, "read", key, name, "a REG_DWORD of %zu bytes, not 4", len);
    return -1;
  }
  if (t == hive_t_REG_DWORD)
    *value = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
  else
    *value = (uint32_t)d[3] | (uint32_t)d[2] << 8 | (uint32_t)d[1] << 16 | (uint32_t)d[0] << 24;
  return 1;
}

int gw_reg_get_string(struct gw_hive *hv, const char *key, const char *name, char **value)
{
  *value = NULL;
  uint32_t t;
  CLEANUP_FREE uint8_t *d = NULL;
  size_t len;
  int r = get_raw(hv, key, name, &t, &d, &len);
  if (r <= 0)
    return r;
  if (t != hive_t_REG_SZ && t != hive_t_REG_EXPAND_SZ) {
    reg_error(hv, "read", key, name, "it is %s, not a string", type_name(t));
    return -1;
  }
  /* An odd last byte is dropped; no NUL: the string ends with the data. */
  *value = utf16le_to_utf8(d, len / 2, NULL);
  if (!*value) {
    reg_error(hv, "read", key, name, "out of memory");
    return -1;
  }
  return 1;
}

int gw_reg_get_multi_string(struct gw_hive *hv, const char *key, const char *name,
                            char ***values)
{
  *values = NULL;
  uint32_t t;
  CLEANUP_FREE uint8_t *d = NULL;
  size_t len;
  int r = get_raw(hv, key, name, &t, &d, &len);
  if (r <= 0)
    return r;
  if (t != hive_t_REG_MULTI_SZ) {
    reg_error(hv, "read", key, name, "it is %s, not REG_MULTI_SZ", type_name(t));
    return -1;
  }
  size_t nunits = len / 2;
  /* At most one string per two units (one character and its NUL). */
  char **v = calloc(nunits / 2 + 2, sizeof *v);
  if (!v) {
    reg_error(hv, "read", key, name, "out of memory");
    return -1;
  }
  size_t count = 0, pos = 0;
  while (pos < nunits) {
    if (unit_at(d, pos) == 0)
      break;                   /* an empty string ends the list */
    size_t used;
    char *s = utf16le_to_utf8(d + 2 * pos, nunits - pos, &used);
    if (!s) {
      for (size_t k = 0; k < count; k++)
        free(v[k]);
      free(v);
      reg_error(hv, "read", key, name, "out of memory");
      return -1;
    }
    v[count++] = s;
    pos += used;
  }
  *values = v;
  return 1;
}

/* ---- writing values ---- */

static int writable(struct gw_hive *hv, const char *key, const char *name)
{
  if (hv->write)
    return 0;
  reg_error(hv, "change", key, name, "the hive was opened read-only");
  return -1;
}

/* Set KEY\NAME to TYPE and DATA, creating KEY; a value already holding
 * exactly that type and data is left alone (no edit counted). */
static int set_raw(struct gw_hive *hv, const char *key, const char *name, uint32_t type,
                   const uint8_t *data, size_t size)
{
  if (writable(hv, key, name) == -1)
    return -1;
  if (size > GW_REG_MAX_VALUE) {
    reg_error(hv, "set", key, name, "%zu bytes, more than the %u this writes", size,
              GW_REG_MAX_VALUE);
    return -1;
  }
  if (strlen(name) > 16383) {
    reg_error(hv, "set", key, name, "the value name is too long");
    return -1;
  }
  uint32_t old_type;
  CLEANUP_FREE uint8_t *old = NULL;
  CLEANUP_FREE char *old_name = NULL;
  size_t old_size;
  int r = get_raw_named(hv, key, name, &old_type, &old, &old_size, &old_name);
  if (r == -1)
    return -1;
  if (r == 1 && old_type == type && old_size == size && memcmp(old, data, size) == 0)
    return 0;
  hive_node_h n;
  if (walk(hv, key, true, &n) == -1)
    return -1;
  /* A value replaced keeps the name as the hive spells it, as Windows does. */
  hive_set_value v = {
    .key = old_name ? old_name : (char *)name, .t = (hive_type)type, .len = size,
    .value = (char *)data,
  };
  if (hivex_node_set_value(hv->h, n, &v, 0) == -1) {
    reg_error(hv, "set", key, name, "%m");
    return -1;
  }
  hv->edits++;
  return 0;
}

int gw_reg_set_binary(struct gw_hive *hv, const char *key, const char *name, uint32_t type,
                      const uint8_t *data, size_t size)
{
  return set_raw(hv, key, name, type, data, size);
}

int gw_reg_set_dword(struct gw_hive *hv, const char *key, const char *name, uint32_t value)
{
  uint8_t d[4] = { value & 0xFF, (value >> 8) & 0xFF, (value >> 16) & 0xFF, value >> 24 };
  return set_raw(hv, key, name, hive_t_REG_DWORD, d, sizeof d);
}

static int set_string_type(struct gw_hive *hv, const char *key, const char *name,
                           const char *value, uint32_t type)
{
  CLEANUP_FREE uint8_t *buf = NULL;
  size_t len = 0;
  if (append_utf16le(&buf, &len, value) == -1) {
    reg_error(hv, "set", key, name, errno == EILSEQ ? "the text is not valid UTF-8" : "%m");
    return -1;
  }
  return set_raw(hv, key, name, type, buf, len);
}

int gw_reg_set_string(struct gw_hive *hv, const char *key, const char *name, const char *value)
{
  return set_string_type(hv, key, name, value, hive_t_REG_SZ);
}

int gw_reg_set_expand_string(struct gw_hive *hv, const char *key, const char *name,
                             const char *value)
{
  return set_string_type(hv, key, name, value, hive_t_REG_EXPAND_SZ);
}

/* Each string with its NUL, then the empty string that ends the list;
 * an empty string inside would end the list early, so it is refused. */
int gw_reg_set_multi_string(struct gw_hive *hv, const char *key, const char *name,
                            const char *const *values)
{
  CLEANUP_FREE uint8_t *buf = NULL;
  size_t len = 0;
  for (size_t i = 0; values[i]; i++) {
    if (!*values[i]) {
      reg_error(hv, "set", key, name, "an empty string cannot be in a REG_MULTI_SZ");
      return -1;
    }
    if (append_utf16le(&buf, &len, values[i]) == -1) {
      reg_error(hv, "set", key, name, errno == EILSEQ ? "the text is not valid UTF-8" : "%m");
      return -1;
    }
  }
  if (append_utf16le(&buf, &len, "") == -1) {
    reg_error(hv, "set", key, name, "%m");
    return -1;
  }
  return set_raw(hv, key, name, hive_t_REG_MULTI_SZ, buf, len);
}

/* hivex has no call to remove one value: the key's values are set again
 * without it. */
int gw_reg_delete_value(struct gw_hive *hv, const char *key, const char *name)
{
  if (writable(hv, key, name) == -1)
    return -1;
  hive_node_h n;
  int r = walk(hv, key, false, &n);
  if (r <= 0)
    return r;
  CLEANUP_FREE hive_value_h *vals = hivex_node_values(hv->h, n);
  if (!vals) {
    reg_error(hv, "delete", key, name, "%m");
    return -1;
  }
  size_t count = 0;
  while (vals[count])
    count++;
  hive_set_value *keep = calloc(count + 1, sizeof *keep);
  if (!keep) {
    reg_error(hv, "delete", key, name, "out of memory");
    return -1;
  }
  size_t nkeep = 0;
  bool found = false;
  int ret = -1;
  for (size_t i = 0; i < count; i++) {
    hive_set_value *k = &keep[nkeep];
    k->key = hivex_value_key(hv->h, vals[i]);
    if (!k->key)
      goto out;
    if (strcasecmp(k->key, name) == 0) {
      free(k->key);
      k->key = NULL;
      found = true;
      continue;
    }
    hive_type t;
    k->value = hivex_value_value(hv->h, vals[i], &t, &k->len);
    k->t = t;
    nkeep++;
    if (!k->value)
      goto out;
  }
  if (!found) {
    ret = 0;
    goto out;
  }
  if (hivex_node_set_values(hv->h, n, nkeep, keep, 0) == -1)
    goto out;
  hv->edits++;
  ret = 0;
out:
  if (ret == -1)
    reg_error(hv, "delete", key, name, "%m");
  for (size_t i = 0; i <= count; i++) {
    free(keep[i].key);
    free(keep[i].value);
  }
  free(keep);
  return ret;
}

int gw_reg_delete_key(struct gw_hive *hv, const char *key)
{
  if (writable(hv, key, NULL) == -1)
    return -1;
  hive_node_h n;
  int r = walk(hv, key, false, &n);
  if (r <= 0)
    return r;
  if (n == hivex_root(hv->h)) {
    reg_error(hv, "delete", key, NULL, "the root key cannot be deleted");
    return -1;
  }
  if (hivex_node_delete_child(hv->h, n) == -1) {
    reg_error(hv, "delete", key, NULL, "%m");
    return -1;
  }
  hv->edits++;
  return 0;
}
