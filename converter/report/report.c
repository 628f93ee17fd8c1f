/* The migration report: one json-c document built as `run` goes; the text
 * report is printed from that same document, so the two cannot disagree.
 * Strings from the guest are untrusted: JSON gets them with invalid UTF-8
 * replaced, text with control characters escaped (p2v_text_escape).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "human-size.h"
#include "log.h"
#include "report/report.h"
#include "vm/vm.h"

struct p2v_report {
  json_object *root;
  json_object *phases, *disks, *changes, *verification, *files;
  bool failed;                 /* an allocation failed: say so when writing */
};

/* A JSON string of s with invalid UTF-8 bytes as '?' (json-c escapes
 * control characters itself); JSON null for NULL. */
static json_object *jstr(struct p2v_report *r, const char *s)
{
  if (!s)
    return NULL;
  size_t len = strlen(s);
  CLEANUP_FREE char *copy = malloc(len + 1);
  if (!copy) {
    r->failed = true;
    return NULL;
  }
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *) s; *p; ) {
    size_t n = p2v_utf8_seq_len(p);
    if (n == 0) {
      copy[o++] = '?';
      p++;
    } else {
      memcpy(copy + o, p, n);
      o += n;
      p += n;
    }
  }
  copy[o] = 0;
  json_object *j = json_object_new_string_len(copy, (int) o);
  if (!j)
    r->failed = true;
  return j;
}

static void add(struct p2v_report *r, json_object *obj, const char *key, json_object *v)
{
  if (json_object_object_add(obj, key, v) != 0) {
    json_object_put(v);
    r->failed = true;
  }
}

static void add_str(struct p2v_report *r, json_object *obj, const char *key, const char *s)
{
  add(r, obj, key, jstr(r, s));
}

static json_object *new_array_in(struct p2v_report *r, const char *key)
{
  json_object *a = json_object_new_array();
  if (!a) {
    r->failed = true;
    return NULL;
  }
  json_object_get(a);                  /* r keeps its own reference */
  add(r, r->root, key, a);
  return a;
}

static void append(struct p2v_report *r, json_object *array, json_object *v)
{
  if (!array || !v || json_object_array_add(array, v) != 0) {
    json_object_put(v);
    r->failed = true;
  }
}

static json_object *new_object(struct p2v_report *r)
{
  json_object *o = json_object_new_object();
  if (!o)
    r->failed = true;
  return o;
}

struct p2v_report *p2v_report_new(const char *source, const char *target, const char *name)
{
  struct p2v_report *r = calloc(1, sizeof *r);
  if (!r || !(r->root = json_object_new_object())) {
    p2v_error("cannot start the report: out of memory");
    free(r);
    return NULL;
  }
  char started[32];
  time_t now = time(NULL);
  struct tm tm;
  strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
  add(r, r->root, "report_version", json_object_new_int(1));
  add_str(r, r->root, "name", name);
  add_str(r, r->root, "source", source);
  add_str(r, r->root, "target", target);
  add_str(r, r->root, "started", started);
  r->disks = new_array_in(r, "disks");
  r->changes = new_array_in(r, "changes");
  r->phases = new_array_in(r, "phases");
  r->verification = new_array_in(r, "verification");
  r->files = new_array_in(r, "files");
  if (r->failed) {
    p2v_error("cannot start the report: out of memory");
    p2v_report_free(r);
    return NULL;
  }
  return r;
}

void p2v_report_free(struct p2v_report *r)
{
  if (!r)
    return;
  json_object_put(r->disks);
  json_object_put(r->changes);
  json_object_put(r->phases);
  json_object_put(r->verification);
  json_object_put(r->files);
  json_object_put(r->root);
  free(r);
}

void p2v_report_phase(struct p2v_report *r, const char *phase, double seconds,
                      bool ok, const char *reason)
{
  json_object *o = new_object(r);
  if (!o)
    return;
  add_str(r, o, "phase", phase);
  add(r, o, "seconds", json_object_new_double(seconds));
  add(r, o, "ok", json_object_new_boolean(ok));
  if (reason)
    add_str(r, o, "reason", reason);
  append(r, r->phases, o);
}

void p2v_report_guest(struct p2v_report *r, const struct p2v_guest_info *info)
{
  json_object *o = new_object(r);
  if (!o)
    return;
  add_str(r, o, "type", info->type);
  add_str(r, o, "distro", info->distro);
  add_str(r, o, "product_name", info->product_name);
  add_str(r, o, "arch", info->arch);
  add_str(r, o, "hostname", info->hostname);
  add_str(r, o, "root", info->root);
  add(r, o, "major", json_object_new_int(info->major));
  add(r, o, "minor", json_object_new_int(info->minor));
  add(r, o, "uefi", json_object_new_boolean(info->uefi));
  add_str(r, o, "osinfo", info->osinfo);
  add(r, r->root, "guest", o);
}

void p2v_report_vm_hardware(struct p2v_report *r, const char *disk_bus, const char *nic_model)
{
  json_object *o = new_object(r);
  if (!o)
    return;
  add_str(r, o, "disk_bus", disk_bus);
  add_str(r, o, "nic_model", nic_model);
  add(r, r->root, "vm_hardware", o);
}

void p2v_report_disk(struct p2v_report *r, const char *export_name, const char *output,
                     const char *format, const struct copy_stats *st)
{
  json_object *o = new_object(r);
  if (!o)
    return;
  add_str(r, o, "export", export_name);
  add_str(r, o, "output", output);
  add_str(r, o, "format", format);
  if (st) {
    add(r, o, "size", json_object_new_int64((int64_t) st->size));
    add(r, o, "bytes_read", json_object_new_int64((int64_t) st->bytes_read));
    add(r, o, "bytes_written", json_object_new_int64((int64_t) st->bytes_written));
    add(r, o, "holes_skipped", json_object_new_int64((int64_t) st->holes_skipped));
    add(r, o, "zero_detected", json_object_new_int64((int64_t) st->zero_detected));
    add(r, o, "seconds", json_object_new_double(st->seconds));
    add(r, o, "mb_per_second",
        json_object_new_double(st->seconds > 0 ? (double) st->size / st->seconds / 1e6 : 0));
    add(r, o, "connections", json_object_new_int((int) st->connections));
  }
  append(r, r->disks, o);
}

void p2v_report_changes(struct p2v_report *r, const struct p2v_changes *changes)
{
  for (size_t i = 0; changes && i < changes->n; i++) {
    const struct p2v_change *c = &changes->items[i];
    json_object *o = new_object(r);
    if (!o)
      return;
    add_str(r, o, "area", c->area);
    add(r, o, "file", jstr(r, c->file));
    add_str(r, o, "description", c->description);
    append(r, r->changes, o);
  }
}

void p2v_report_verify(struct p2v_report *r, const char *what, bool passed, const char *detail)
{
  json_object *o = new_object(r);
  if (!o)
    return;
  add_str(r, o, "what", what);
  add(r, o, "passed", json_object_new_boolean(passed));
  if (detail)
    add_str(r, o, "detail", detail);
  append(r, r->verification, o);
}

void p2v_report_file(struct p2v_report *r, const char *kind, const char *path)
{
  json_object *o = new_object(r);
  if (!o)
    return;
  add_str(r, o, "kind", kind);
  add_str(r, o, "path", path);
  append(r, r->files, o);
}

void p2v_report_boot_test(struct p2v_report *r, const struct p2v_boot_test_result *b)
{
  json_object *o = new_object(r);
  if (!o)
    return;
  add(r, o, "passed", json_object_new_boolean(b->passed));
  add_str(r, o, "accelerator", b->used_kvm ? "kvm" : "tcg");
  add(r, o, "seconds", json_object_new_double(b->seconds));
  add(r, o, "marker", jstr(r, b->marker));
  add(r, o, "reason", jstr(r, b->reason));
  add(r, o, "screenshot", jstr(r, b->screenshot));
  add(r, o, "console_tail", jstr(r, b->console_tail));
  json_object *w = json_object_new_array();
  if (!w)
    r->failed = true;
  for (size_t i = 0; w && i < b->nwarnings; i++)
    append(r, w, jstr(r, b->warnings[i]));
  add(r, o, "warnings", w);
  add(r, r->root, "boot_test", o);
}

void p2v_report_result(struct p2v_report *r, bool ok, const char *message)
{
  json_object *o = new_object(r);
  if (!o)
    return;
  add(r, o, "ok", json_object_new_boolean(ok));
  add_str(r, o, "message", message);
  add(r, r->root, "result", o);
}

const char *p2v_report_json(const struct p2v_report *r)
{
  return json_object_to_json_string_ext(r->root, JSON_C_TO_STRING_PRETTY |
                                        JSON_C_TO_STRING_SPACED |
                                        JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* ---- text ---- */

static const char *get_str(json_object *o, const char *key)
{
  json_object *v;
  if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

static json_object *get(json_object *o, const char *key)
{
  json_object *v;
  return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static void put(FILE *fp, const char *s)
{
  p2v_text_escape(fp, s ? s : "-", false);
}

/* before, s and after, when s is there. */
static void put_if(FILE *fp, const char *before, const char *s, const char *after)
{
  if (!s)
    return;
  fputs(before, fp);
  put(fp, s);
  fputs(after, fp);
}

static void human(FILE *fp, uint64_t bytes)
{
  char buf[P2V_HUMAN_SIZE_MAX];
  fputs(p2v_human_size(buf, sizeof buf, bytes), fp);
}

static void text_header(FILE *fp, json_object *root)
{
  json_object *result = get(root, "result");
  fputs("p2v migration report\n\n  name:     ", fp);
  put(fp, get_str(root, "name"));
  fputs("\n  source:   ", fp);
  put(fp, get_str(root, "source"));
  fputs("\n  target:   ", fp);
  put(fp, get_str(root, "target"));
  fputs("\n  started:  ", fp);
  put(fp, get_str(root, "started"));
  fputs("\n  result:   ", fp);
  if (!result)
    fputs("unfinished", fp);
  else {
    fputs(json_object_get_boolean(get(result, "ok")) ? "OK: " : "FAILED: ", fp);
    put(fp, get_str(result, "message"));
  }
  fputs("\n", fp);
}

static void text_guest(FILE *fp, json_object *g)
{
  if (!g)
    return;
  fputs("\nGuest\n  operating system: ", fp);
  put(fp, get_str(g, "product_name"));
  fputs(" (", fp);
  put(fp, get_str(g, "type"));
  fputs(", ", fp);
  put(fp, get_str(g, "distro"));
  fprintf(fp, " %d.%d, ", json_object_get_int(get(g, "major")), json_object_get_int(get(g, "minor")));
  put(fp, get_str(g, "arch"));
  fputs(", osinfo ", fp);
  put(fp, get_str(g, "osinfo"));
  fputs(")\n  hostname:         ", fp);
  put(fp, get_str(g, "hostname"));
  fputs("\n  root filesystem:  ", fp);
  put(fp, get_str(g, "root"));
  fprintf(fp, "\n  firmware:         %s\n", json_object_get_boolean(get(g, "uefi")) ? "UEFI" : "BIOS");
}

static void text_vm_hardware(FILE *fp, json_object *h)
{
  if (!h)
    return;
  fputs("  VM devices:       disk bus ", fp);
  put(fp, get_str(h, "disk_bus"));
  fputs(", NIC ", fp);
  put(fp, get_str(h, "nic_model"));
  fputs("\n", fp);
}

static void text_disks(FILE *fp, json_object *disks)
{
  size_t n = json_object_array_length(disks);
  if (n == 0)
    return;
  fputs("\nDisks\n", fp);
  for (size_t i = 0; i < n; i++) {
    json_object *d = json_object_array_get_idx(disks, i);
    fputs("  ", fp);
    put(fp, get_str(d, "export"));
    fputs(" -> ", fp);
    put(fp, get_str(d, "output"));
    fputs(" (", fp);
    put(fp, get_str(d, "format"));
    fputs(")\n", fp);
    if (!get(d, "size"))
      continue;
    static const struct { const char *key, *label; } rows[] = {
      { "size", "virtual size" }, { "bytes_read", "bytes read" },
      { "bytes_written", "bytes written" }, { "holes_skipped", "holes skipped" },
      { "zero_detected", "zeroes detected" },
    };
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
      uint64_t v = (uint64_t) json_object_get_int64(get(d, rows[k].key));
      fprintf(fp, "    %-16s ", rows[k].label);
      human(fp, v);
      fprintf(fp, " (%llu bytes)\n", (unsigned long long) v);
    }
    fprintf(fp, "    %-16s %.2f s, %.1f MB/s\n", "time",
            json_object_get_double(get(d, "seconds")),
            json_object_get_double(get(d, "mb_per_second")));
  }
}

/* Changes grouped by area, areas in order of first appearance. */
static void text_changes(FILE *fp, json_object *changes)
{
  size_t n = json_object_array_length(changes);
  fprintf(fp, "\nChanges made to the guest (%zu)\n", n);
  if (n == 0)
    fputs("  none\n", fp);
  for (size_t i = 0; i < n; i++) {
    const char *area = get_str(json_object_array_get_idx(changes, i), "area");
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++) {
      const char *prev = get_str(json_object_array_get_idx(changes, j), "area");
      seen = area && prev && strcmp(area, prev) == 0;
    }
    if (seen)
      continue;
    fputs("  [", fp);
    put(fp, area);
    fputs("]\n", fp);
    for (size_t j = i; j < n; j++) {
      json_object *c = json_object_array_get_idx(changes, j);
      const char *a = get_str(c, "area");
      if (!(a == area || (a && area && strcmp(a, area) == 0)))
        continue;
      fputs("    ", fp);
      put_if(fp, "", get_str(c, "file"), ": ");
      put(fp, get_str(c, "description"));
      fputs("\n", fp);
    }
  }
}

static void text_phases(FILE *fp, json_object *phases)
{
  size_t n = json_object_array_length(phases);
  if (n == 0)
    return;
  fputs("\nPhases\n", fp);
  for (size_t i = 0; i < n; i++) {
    json_object *p = json_object_array_get_idx(phases, i);
    const char *name = get_str(p, "phase");
    fputs("  ", fp);
    put(fp, name);
    for (size_t pad = name ? strlen(name) : 1; pad < 10; pad++)
      fputc(' ', fp);
    fprintf(fp, " %7.1f s  %s", json_object_get_double(get(p, "seconds")),
            json_object_get_boolean(get(p, "ok")) ? "ok" : "FAILED");
    put_if(fp, ": ", get_str(p, "reason"), "");
    fputs("\n", fp);
  }
}

static void text_verification(FILE *fp, json_object *v)
{
  size_t n = json_object_array_length(v);
  if (n == 0)
    return;
  fputs("\nVerification\n", fp);
  for (size_t i = 0; i < n; i++) {
    json_object *c = json_object_array_get_idx(v, i);
    fputs(json_object_get_boolean(get(c, "passed")) ? "  passed  " : "  FAILED  ", fp);
    put(fp, get_str(c, "what"));
    put_if(fp, " (", get_str(c, "detail"), ")");
    fputs("\n", fp);
  }
}

static void text_boot_test(FILE *fp, json_object *b)
{
  if (!b)
    return;
  fputs("\nBoot test (", fp);
  put(fp, get_str(b, "accelerator"));
  fprintf(fp, ")\n  %s after %.1f s", json_object_get_boolean(get(b, "passed")) ? "passed" : "FAILED",
          json_object_get_double(get(b, "seconds")));
  put_if(fp, ": ", get_str(b, "reason"), "");
  json_object *w = get(b, "warnings");
  size_t nw = w ? json_object_array_length(w) : 0;
  if (nw)
    fprintf(fp, ", with %zu warning%s (failures the guest reported)", nw, nw == 1 ? "" : "s");
  fputs("\n", fp);
  for (size_t i = 0; i < nw; i++) {
    fputs("  warning: ", fp);
    p2v_text_escape(fp, json_object_get_string(json_object_array_get_idx(w, i)), false);
    fputs("\n", fp);
  }
  put_if(fp, "  awaited on the serial console: ", get_str(b, "marker"), "\n");
  put_if(fp, "  screenshot: ", get_str(b, "screenshot"), "\n");
  const char *tail = get_str(b, "console_tail");
  if (tail && *tail) {
    fputs("  serial console, last lines:\n    | ", fp);
    for (const char *p = tail; *p; p++) {
      const char *nl = strchr(p, '\n');
      size_t len = nl ? (size_t) (nl - p) : strlen(p);
      CLEANUP_FREE char *line = strndup(p, len);
      if (line)
        p2v_text_escape(fp, line, false);
      if (!nl)
        break;
      p = nl;
      if (p[1])
        fputs("\n    | ", fp);
    }
    fputs("\n", fp);
  }
}

static void text_files(FILE *fp, json_object *files)
{
  size_t n = json_object_array_length(files);
  if (n == 0)
    return;
  fputs("\nOutput files\n", fp);
  for (size_t i = 0; i < n; i++) {
    json_object *f = json_object_array_get_idx(files, i);
    fputs("  ", fp);
    put(fp, get_str(f, "kind"));
    fputs(": ", fp);
    put(fp, get_str(f, "path"));
    fputs("\n", fp);
  }
}

static int build_text(const struct p2v_report *r, char **buf, size_t *len)
{
  FILE *fp = open_memstream(buf, len);
  if (!fp)
    return -1;
  text_header(fp, r->root);
  text_guest(fp, get(r->root, "guest"));
  text_vm_hardware(fp, get(r->root, "vm_hardware"));
  text_disks(fp, r->disks);
  text_changes(fp, r->changes);
  text_phases(fp, r->phases);
  text_verification(fp, r->verification);
  text_boot_test(fp, get(r->root, "boot_test"));
  text_files(fp, r->files);
  return fclose(fp) == EOF ? -1 : 0;
}

int p2v_report_write(const struct p2v_report *r, const char *out_dir)
{
  if (r->failed) {
    p2v_error("cannot write the report in %s: out of memory while building it", out_dir);
    return -1;
  }
  CLEANUP_FREE char *json_path = p2v_vm_path(out_dir, "report.json");
  CLEANUP_FREE char *text_path = p2v_vm_path(out_dir, "report.txt");
  CLEANUP_FREE char *text = NULL;
  size_t text_len;
  if (!json_path || !text_path)
    return -1;
  const char *json = p2v_report_json(r);
  if (!json) {
    p2v_error("cannot write %s: out of memory", json_path);
    return -1;
  }
  if (build_text(r, &text, &text_len) == -1) {
    p2v_error("cannot write %s: %m", text_path);
    return -1;
  }
  CLEANUP_FREE char *json_nl = NULL;
  if (asprintf(&json_nl, "%s\n", json) == -1) {
    p2v_error("cannot write %s: %m", json_path);
    return -1;
  }
  if (p2v_write_file_atomic(json_path, json_nl, strlen(json_nl)) == -1 ||
      p2v_write_file_atomic(text_path, text, text_len) == -1)
    return -1;
  return 0;
}
