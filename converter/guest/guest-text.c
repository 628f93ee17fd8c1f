/* Pure text work on the guest's configuration files (guest-text.h).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "guest/guest-text.h"
#include "log.h"

int gl_buf_add(struct gl_buf *b, const char *s, size_t n)
{
  char *p = n < SIZE_MAX - 1 - b->len ? p2v_grow(b->s, &b->cap, b->len + n + 1, 1) : NULL;
  if (!p) {
    p2v_error("cannot edit a guest file: out of memory");
    return -1;
  }
  b->s = p;
  if (n)
    memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
  return 0;
}

int gl_buf_printf(struct gl_buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  CLEANUP_FREE char *s = NULL;
  int r = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (r < 0) {
    s = NULL;
    p2v_error("cannot edit a guest file: out of memory");
    return -1;
  }
  return gl_buf_add(b, s, (size_t)r);
}

static bool digit(char c) { return c >= '0' && c <= '9'; }
static bool lower(char c) { return c >= 'a' && c <= 'z'; }

/* A decimal number of at most 6 digits; NULL if none. */
static const char *number(const char *p, unsigned long *n)
{
  size_t i = 0;
  *n = 0;
  while (digit(p[i]) && i < 6)
    *n = *n * 10 + (unsigned long)(p[i++] - '0');
  return i == 0 || digit(p[i]) ? NULL : p + i;
}

int gt_parse_disk_name(const char *spec, size_t *disk, unsigned *part)
{
  const char *p;
  unsigned long idx = 0, n;
  if (strncmp(spec, "/dev/cciss/c", 12) == 0) {
    if (!(p = number(spec + 12, &n)) || *p++ != 'd' || !(p = number(p, &idx)))
      return -1;
    if (*p == 'p' && digit(p[1])) p++;
    else if (*p) return -1;
  } else if (strncmp(spec, "/dev/nvme", 9) == 0) {
    if (!(p = number(spec + 9, &idx)) || *p++ != 'n' || !(p = number(p, &n)))
      return -1;
    if (*p == 'p' && digit(p[1])) p++;
    else if (*p) return -1;
  } else {
    static const char *const prefixes[] = { "/dev/sd", "/dev/hd", "/dev/vd", "/dev/xvd", NULL };
    size_t i;
    for (i = 0; prefixes[i]; i++)
      if (strncmp(spec, prefixes[i], strlen(prefixes[i])) == 0)
        break;
    if (!prefixes[i])
      return -1;
    p = spec + strlen(prefixes[i]);
    if (!lower(*p))
      return -1;
    /* a..z, then aa..zz (sdaa is the 27th disk) */
    idx = (unsigned long)(*p++ - 'a');
    if (lower(*p))
      idx = (idx + 1) * 26 + (unsigned long)(*p++ - 'a');
  }
  n = 0;
  if (*p && (!(p = number(p, &n)) || *p || n == 0 || n > 256))
    return -1;
  *disk = idx;
  *part = (unsigned)n;
  return 0;
}

/* The word starting at p (up to blanks, a newline or the end). */
static size_t word(const char *p) { return strcspn(p, " \t\n"); }

char *gt_rewrite_table(const char *text, size_t field, gt_map_fn map, void *mopaque,
                       gt_report_fn report, void *ropaque, bool *changed)
{
  struct gl_buf out = { 0 };
  *changed = false;
  if (gl_buf_add(&out, "", 0) == -1)
    return NULL;
  for (const char *line = text; *line; ) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
    /* Find the field, before any comment. */
    const char *q = line, *fs = NULL, *label = NULL;
    size_t f = 0, fl = 0, ll = 0;
    for (;;) {
      q += strspn(q, " \t");
      if (*q == '\0' || *q == '\n' || *q == '#')
        break;
      size_t wl = word(q);
      if (f == field) {
        fs = q;
        fl = wl;
      }
      if (f == (field == 0 ? 1 : 0)) {
        label = q;
        ll = wl;
      }
      q += wl;
      if (++f > field && f > 1)
        break;
    }
    CLEANUP_FREE char *spec = fs ? strndup(fs, fl) : NULL;
    CLEANUP_FREE char *lab = label ? strndup(label, ll) : strdup("");
    CLEANUP_FREE char *repl = spec ? map(mopaque, spec) : NULL;
    if (!repl) {
      if (gl_buf_add(&out, line, len) == -1)
        goto err;
    } else {
      if (gl_buf_add(&out, line, (size_t)(fs - line)) == -1 ||
          gl_buf_add(&out, repl, strlen(repl)) == -1 ||
          gl_buf_add(&out, fs + fl, len - (size_t)(fs + fl - line)) == -1)
        goto err;
      if (report && report(ropaque, spec, repl, lab ? lab : "") == -1)
        goto err;
      *changed = true;
    }
    line += len;
  }
  return out.s;
err:
  free(out.s);
  return NULL;
}

char *gt_rewrite_cmdline(const char *cmdline, gt_map_fn map, void *opaque, bool *changed)
{
  struct gl_buf b = { 0 };
  const char *p = cmdline;
  *changed = false;
  if (gl_buf_add(&b, "", 0) == -1)
    return NULL;
  while (*p) {
    size_t sp = strspn(p, " \t\n");
    if (gl_buf_add(&b, p, sp) == -1)
      goto err;
    p += sp;
    size_t n = word(p);
    if (n == 0)
      break;
    CLEANUP_FREE char *tok = strndup(p, n);
    if (!tok)
      goto err;
    char *eq = strchr(tok, '=');
    CLEANUP_FREE char *repl = NULL;
    if (eq && (strncmp(tok, "root=", 5) == 0 || strncmp(tok, "resume=", 7) == 0))
      repl = map(opaque, eq + 1);
    if (repl) {
      *eq = '\0';
      if (gl_buf_printf(&b, "%s=%s", tok, repl) == -1)
        goto err;
      *changed = true;
    } else if (gl_buf_add(&b, p, n) == -1) {
      goto err;
    }
    p += n;
  }
  return b.s;
err:
  free(b.s);
  return NULL;
}

char *gt_cmdline_with(const char *cmdline, const char *args)
{
  struct gl_buf b = { 0 };
  if (gl_buf_add(&b, "", 0) == -1)
    return NULL;
  for (const char *p = cmdline; *p; ) {
    p += strspn(p, " \t\n");
    size_t n = word(p);
    if (n == 0)
      break;
    if (strncmp(p, "console=", 8) != 0 &&
        gl_buf_printf(&b, "%s%.*s", b.len ? " " : "", (int)n, p) == -1)
      goto err;
    p += n;
  }
  if (gl_buf_printf(&b, "%s%s", b.len ? " " : "", args) == -1)
    goto err;
  return b.s;
err:
  free(b.s);
  return NULL;
}

/* The start of VAR's line, or NULL. */
static const char *find_var(const char *text, const char *var)
{
  size_t n = strlen(var);
  for (const char *line = text; line && *line; ) {
    const char *p = line + strspn(line, " \t");
    if (strncmp(p, var, n) == 0 && p[n] == '=')
      return line;
    line = strchr(line, '\n');
    if (line) line++;
  }
  return NULL;
}

char *gt_var_get(const char *text, const char *var)
{
  const char *line = find_var(text, var);
  if (!line)
    return NULL;
  const char *v = strchr(line, '=') + 1;
  size_t len = strcspn(v, "\n");
  while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
    len--;
  if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0]) {
    v++;
    len -= 2;
  }
  return strndup(v, len);
}

int gt_var_set(char **text, const char *var, const char *value)
{
  struct gl_buf b = { 0 };
  const char *line = find_var(*text, var);
  int r;
  if (line) {
    const char *end = line + strcspn(line, "\n");
    r = gl_buf_add(&b, *text, (size_t)(line - *text)) == 0 &&
        gl_buf_printf(&b, "%s=\"%s\"", var, value) == 0 &&
        gl_buf_add(&b, end, strlen(end)) == 0 ? 0 : -1;
  } else {
    size_t len = strlen(*text);
    r = gl_buf_add(&b, *text, len) == 0 &&
        (len == 0 || (*text)[len - 1] == '\n' || gl_buf_add(&b, "\n", 1) == 0) &&
        gl_buf_printf(&b, "%s=\"%s\"\n", var, value) == 0 ? 0 : -1;
  }
  if (r == -1) {
    free(b.s);
    return -1;
  }
  free(*text);
  *text = b.s;
  return 0;
}

static bool virtual_name(const char *s)
{
  static const char *const prefixes[] = { "lo", "br", "bond", "virbr", "docker", "veth", "tun",
                                          "tap", "wg", "team", "vlan", "dummy", "ppp", "vnet",
                                          "cni", "flannel", NULL };
  for (size_t i = 0; prefixes[i]; i++)
    if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0)
      return true;
  return strchr(s, '.') || strchr(s, ':');
}

void gt_names_add(struct gt_names *ns, const char *s, size_t len)
{
  if (len == 0 || len > 15 || ns->n == GT_MAX_NICS)
    return;
  for (size_t i = 0; i < len; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.' && s[i] != ':')
      return;
  char *name = strndup(s, len);
  if (!name)
    return;
  if (virtual_name(name)) {
    free(name);
    return;
  }
  for (size_t i = 0; i < ns->n; i++)
    if (strcmp(ns->v[i], name) == 0) {
      free(name);
      return;
    }
  ns->v[ns->n++] = name;
}

void gt_names_clear(struct gt_names *ns)
{
  for (size_t i = 0; i < ns->n; i++)
    free(ns->v[i]);
  ns->n = 0;
}

void gt_scan_key(struct gt_names *ns, const char *text, const char *key)
{
  size_t kl = strlen(key);
  for (const char *line = text; line && *line; ) {
    const char *p = line + strspn(line, " \t");
    if (strncmp(p, key, kl) == 0) {
      p += kl;
      p += strspn(p, " \t\"'");
      gt_names_add(ns, p, strcspn(p, " \t\n\"'"));
    }
    line = strchr(line, '\n');
    if (line) line++;
  }
}

void gt_scan_netplan(struct gt_names *ns, const char *text)
{
  long eth_indent = -1, child = -1;
  for (const char *line = text; line && *line; ) {
    size_t ind = strspn(line, " ");
    const char *p = line + ind;
    size_t len = strcspn(p, "\n");
    if (len > 0 && *p != '#') {
      if (eth_indent >= 0 && (long)ind <= eth_indent)
        eth_indent = child = -1;
      if (strncmp(p, "ethernets:", 10) == 0) {
        eth_indent = (long)ind;
      } else if (eth_indent >= 0) {
        if (child < 0)
          child = (long)ind;
        if ((long)ind == child) {
          size_t n = strcspn(p, ":\n");
          if (p[n] == ':')
            gt_names_add(ns, p, n);
        }
      }
    }
    line = strchr(line, '\n');
    if (line) line++;
  }
}

bool gt_has_module(const char *list, const char *name)
{
  if (!list)
    return false;
  size_t n = strlen(name);
  for (const char *p = list; (p = strchr(p, '/')) != NULL; p++) {
    size_t i;
    for (i = 0; i < n; i++) {
      char c = p[1 + i];
      if (c == '-') c = '_';
      if (c != name[i])
        break;
    }
    if (i == n && strncmp(p + 1 + n, ".ko", 3) == 0)
      return true;
  }
  return false;
}

bool gt_list_has(const char *list, const char *name)
{
  size_t nl = strlen(name);
  for (const char *line = list; line && *line; ) {
    line += strspn(line, " \t");
    size_t n = strcspn(line, " \t\n#");
    if (n == nl && strncmp(line, name, n) == 0)
      return true;
    line = strchr(line, '\n');
    if (line) line++;
  }
  return false;
}
