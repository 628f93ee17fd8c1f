/* The PCI devices to check: a survey JSON document (read strictly by
 * p2v_survey_from_json) or the text of `lspci -nn` or `lspci -n -mm`,
 * told apart by the first non-blank character ('{' is JSON).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "drivers.h"
#include "log.h"
#include "survey.h"

/* Far more than any lspci output or survey; stops a wrong file early. */
#define MAX_DEVICES_BYTES (16u << 20)
#define MAX_DEVICES       4096

static char *read_all(const char *path, size_t *len)
{
  FILE *fp = strcmp(path, "-") ? fopen(path, "rb") : stdin;
  if (!fp) {
    p2v_error("%s: cannot open devices file: %m", path);
    return NULL;
  }
  struct p2v_buf b = P2V_BUF_INIT;
  bool ok = true;
  for (;;) {
    if (b.len > MAX_DEVICES_BYTES) {
      p2v_error("%s: devices file is larger than %u bytes", path, MAX_DEVICES_BYTES);
      ok = false;
      break;
    }
    if (p2v_buf_reserve(&b, 65536) == -1) {
      p2v_error("%s: out of memory", path);
      ok = false;
      break;
    }
    size_t got = fread(b.data + b.len, 1, 65536, fp);
    if (got == 0)
      break;
    b.len += got;
  }
  if (ok && ferror(fp)) {
    p2v_error("%s: cannot read devices file: %m", path);
    ok = false;
  }
  if (fp != stdin)
    fclose(fp);
  if (!ok) {
    p2v_buf_free(&b);
    return NULL;
  }
  b.data[b.len] = '\0';
  *len = b.len;
  return p2v_buf_steal(&b);
}

/* Exactly ndigits hex digits from s (len bytes), nothing else. */
static bool parse_hex(const char *s, size_t len, size_t ndigits, uint32_t *out)
{
  if (len != ndigits)
    return false;
  uint32_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (!isxdigit((unsigned char)s[i]))
      return false;
    v = v * 16 + (uint32_t)(isdigit((unsigned char)s[i]) ? s[i] - '0'
                                                         : tolower((unsigned char)s[i]) - 'a' + 10);
  }
  *out = v;
  return true;
}

static int push(struct pci_device_list *list, const struct pci_device *d)
{
  if (list->count >= MAX_DEVICES) {
    p2v_error("more than %d PCI devices: not a device list", MAX_DEVICES);
    return -1;
  }
  struct pci_device *items = realloc(list->items, (list->count + 1) * sizeof *items);
  if (!items) {
    p2v_error("out of memory");
    return -1;
  }
  list->items = items;
  list->items[list->count++] = *d;
  return 0;
}

/* "00:1f.2" or "0000:00:1f.2" into the long form. */
static bool set_slot(struct pci_device *d, const char *s, size_t len)
{
  unsigned dom = 0, bus, dev, fn;
  char tail;
  CLEANUP_FREE char *copy = strndup(s, len);
  if (!copy)
    return false;
  if (sscanf(copy, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &tail) != 4) {
    dom = 0;
    if (sscanf(copy, "%x:%x.%x%c", &bus, &dev, &fn, &tail) != 3)
      return false;
  }
  if (dom > 0xffff || bus > 0xff || dev > 0x1f || fn > 7)
    return false;
  snprintf(d->slot, sizeof d->slot, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
  return true;
}

static int from_survey(const char *path, const char *text, size_t len,
                       struct pci_device_list *list)
{
  struct p2v_survey *s = p2v_survey_from_json(text, len);
  if (!s)
    return -1;                 /* already said which field is bad */
  int r = 0;
  for (size_t i = 0; i < s->npci_devices && r == 0; i++) {
    const struct p2v_survey_pci_device *p = &s->pci_devices[i];
    struct pci_device d = { 0 };
    uint32_t v, dv, cc, sv, sd;
    if (!set_slot(&d, p->slot, strlen(p->slot)) ||
        !parse_hex(p->ids.vendor_id, strlen(p->ids.vendor_id), 4, &v) ||
        !parse_hex(p->ids.device_id, strlen(p->ids.device_id), 4, &dv) ||
        !parse_hex(p->class_code, strlen(p->class_code), 6, &cc)) {
      p2v_error("%s: pci_devices[%zu]: bad slot, ids or class code", path, i);
      r = -1;
      break;
    }
    d.vendor = (uint16_t)v;
    d.device = (uint16_t)dv;
    d.class_code = cc;
    if (p->ids.subsystem_vendor_id && p->ids.subsystem_device_id &&
        parse_hex(p->ids.subsystem_vendor_id, strlen(p->ids.subsystem_vendor_id), 4, &sv) &&
        parse_hex(p->ids.subsystem_device_id, strlen(p->ids.subsystem_device_id), 4, &sd)) {
      d.subvendor = (uint16_t)sv;
      d.subdevice = (uint16_t)sd;
      d.has_subsystem = true;
    }
    if (p->vendor_name || p->device_name) {
      if (asprintf(&d.description, "%s %s", p->vendor_name ? p->vendor_name : "",
                   p->device_name ? p->device_name : "") < 0)
        d.description = NULL;
    }
    d.bound_driver = p->driver ? strdup(p->driver) : NULL;
    if (push(list, &d) == -1) {
      free(d.description);
      free(d.bound_driver);
      r = -1;
    }
  }
  p2v_survey_free(s);
  if (r == 0 && list->count == 0) {
    p2v_error("%s: the survey lists no PCI devices", path);
    r = -1;
  }
  return r;
}

/* The last "[xxxx]" (ndigits hex) in line[0..len) that ends before 'end'
 * with "]" + after; returns the position of '[' or NULL. */
static const char *find_bracket_hex(const char *line, const char *end, size_t ndigits,
                                    bool want_colon_pair, uint32_t *a, uint32_t *b)
{
  const char *found = NULL;
  for (const char *p = line; p < end; p++) {
    if (*p != '[')
      continue;
    const char *q = memchr(p, ']', (size_t)(end - p));
    if (!q)
      break;
    size_t n = (size_t)(q - p - 1);
    if (want_colon_pair) {
      if (n == 9 && p[5] == ':' && parse_hex(p + 1, 4, 4, a) && parse_hex(p + 6, 4, 4, b))
        found = p;
    } else if (parse_hex(p + 1, n, ndigits, a) && q + 1 < end && q[1] == ':') {
      return p;                /* the class is the first "[cccc]:" */
    }
  }
  return found;
}

/* `lspci -nn`: SLOT CLASS NAME [cccc]: NAMES [vvvv:dddd] (rev xx) (prog-if pp [..]) */
static bool parse_nn(const char *line, size_t len, struct pci_device *d)
{
  const char *end = line + len;
  const char *sp = memchr(line, ' ', len);
  if (!sp || !set_slot(d, line, (size_t)(sp - line)))
    return false;
  uint32_t cls, v, dv, unused;
  const char *c = find_bracket_hex(sp, end, 4, false, &cls, &unused);
  if (!c)
    return false;
  const char *ids = find_bracket_hex(c, end, 0, true, &v, &dv);
  if (!ids)
    return false;
  uint32_t progif = 0;
  const char *pi = memmem(ids, (size_t)(end - ids), "(prog-if ", 9);
  if (pi && (size_t)(end - pi) >= 11)
    parse_hex(pi + 9, 2, 2, &progif);
  d->class_code = cls << 8 | progif;
  d->vendor = (uint16_t)v;
  d->device = (uint16_t)dv;
  const char *names = c + 8;   /* "[cccc]: " */
  if (names < ids) {
    size_t n = (size_t)(ids - names);
    while (n > 0 && names[n - 1] == ' ')
      n--;
    d->description = strndup(names, n);
  }
  return true;
}

/* One quoted field of `lspci -mm`; "" allowed.  *p advances past it. */
static bool quoted(const char **p, const char *end, const char **s, size_t *n)
{
  while (*p < end && **p == ' ')
    (*p)++;
  if (*p >= end || **p != '"')
    return false;
  const char *q = memchr(*p + 1, '"', (size_t)(end - *p - 1));
  if (!q)
    return false;
  *s = *p + 1;
  *n = (size_t)(q - *s);
  *p = q + 1;
  return true;
}

/* A field of `lspci -n -mm` ("8086") or `lspci -nn -mm` ("Intel [8086]"). */
static bool mm_hex(const char *s, size_t n, size_t ndigits, uint32_t *out)
{
  if (parse_hex(s, n, ndigits, out))
    return true;
  return n >= ndigits + 2 && s[n - 1] == ']' && s[n - ndigits - 2] == '[' &&
         parse_hex(s + n - ndigits - 1, ndigits, ndigits, out);
}

/* `lspci -n -mm`: SLOT "cccc" "vvvv" "dddd" [-rXX] [-pXX] ["svvv" "sddd"] */
static bool parse_mm(const char *line, size_t len, struct pci_device *d)
{
  const char *end = line + len, *p;
  const char *sp = memchr(line, ' ', len);
  if (!sp || !set_slot(d, line, (size_t)(sp - line)))
    return false;
  p = sp;
  const char *s;
  size_t n;
  uint32_t cls, v, dv, progif = 0;
  if (!quoted(&p, end, &s, &n) || !mm_hex(s, n, 4, &cls) ||
      !quoted(&p, end, &s, &n) || !mm_hex(s, n, 4, &v) ||
      !quoted(&p, end, &s, &n) || !mm_hex(s, n, 4, &dv))
    return false;
  for (;;) {
    while (p < end && *p == ' ')
      p++;
    if (p + 1 < end && p[0] == '-' && (p[1] == 'r' || p[1] == 'p')) {
      const char *opt = p;
      while (p < end && *p != ' ')
        p++;
      if (opt[1] == 'p' && !parse_hex(opt + 2, (size_t)(p - opt - 2), 2, &progif))
        return false;
      continue;
    }
    break;
  }
  const char *s2;
  size_t n2;
  uint32_t sv, sd;
  if (quoted(&p, end, &s, &n) && quoted(&p, end, &s2, &n2) &&
      mm_hex(s, n, 4, &sv) && mm_hex(s2, n2, 4, &sd)) {
    d->subvendor = (uint16_t)sv;
    d->subdevice = (uint16_t)sd;
    d->has_subsystem = true;
  }
  d->class_code = cls << 8 | progif;
  d->vendor = (uint16_t)v;
  d->device = (uint16_t)dv;
  return true;
}

static int from_lspci(const char *path, const char *text, size_t len,
                      struct pci_device_list *list)
{
  size_t lineno = 0;
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *eol = nl ? nl : end;
    size_t n = (size_t)(eol - p);
    lineno++;
    if (n > 0 && p[n - 1] == '\r')
      n--;
    bool blank = true;
    for (size_t i = 0; i < n; i++)
      if (!isspace((unsigned char)p[i]))
        blank = false;
    if (blank) {
      /* skip */
    } else if (p[0] == ' ' || p[0] == '\t') {
      /* `lspci -v` detail line: keep the bound driver, ignore the rest. */
      static const char key[] = "Kernel driver in use: ";
      const char *k = memmem(p, n, key, sizeof key - 1);
      if (k && list->count > 0 && !list->items[list->count - 1].bound_driver) {
        const char *v = k + sizeof key - 1;
        list->items[list->count - 1].bound_driver = strndup(v, (size_t)(p + n - v));
      }
    } else {
      struct pci_device d = { 0 };
      bool ok = memchr(p, '"', n) ? parse_mm(p, n, &d) : parse_nn(p, n, &d);
      if (!ok) {
        free(d.description);
        p2v_error("%s: line %zu: not lspci -nn or lspci -n -mm output: %.*s",
                  path, lineno, (int)(n > 80 ? 80 : n), p);
        return -1;
      }
      if (push(list, &d) == -1) {
        free(d.description);
        return -1;
      }
    }
    p = nl ? nl + 1 : end;
  }
  if (list->count == 0) {
    p2v_error("%s: no PCI devices in the file (expected a survey or lspci -nn output)", path);
    return -1;
  }
  return 0;
}

int pci_devices_load(const char *path, struct pci_device_list *list)
{
  list->items = NULL;
  list->count = 0;
  size_t len;
  CLEANUP_FREE char *text = read_all(path, &len);
  if (!text)
    return -1;
  if (memchr(text, '\0', len)) {
    p2v_error("%s: binary file, expected a survey or lspci output", path);
    return -1;
  }
  size_t i = 0;
  while (i < len && isspace((unsigned char)text[i]))
    i++;
  int r = i < len && text[i] == '{' ? from_survey(path, text, len, list)
                                     : from_lspci(path, text, len, list);
  if (r == -1)
    pci_devices_clear(list);
  return r;
}

void pci_devices_clear(struct pci_device_list *list)
{
  for (size_t i = 0; i < list->count; i++) {
    free(list->items[i].description);
    free(list->items[i].bound_driver);
  }
  free(list->items);
  list->items = NULL;
  list->count = 0;
}

bool pci_device_is_boot_critical(const struct pci_device *d)
{
  uint32_t base = d->class_code >> 16;
  return base == 0x01 || base == 0x02;
}

const char *pci_class_kind(uint32_t class_code)
{
  static const char *const kinds[] = {
    "unclassified", "storage", "network", "display", "multimedia", "memory",
    "bridge", "communication", "system", "input", "docking", "processor",
    "serial-bus", "wireless", "intelligent", "satellite", "encryption",
    "signal-processing", "accelerator", "instrumentation",
  };
  uint32_t base = class_code >> 16;
  return base < sizeof kinds / sizeof kinds[0] ? kinds[base] : "other";
}
