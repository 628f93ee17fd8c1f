/* p2v-drivers check --image IMAGE --devices DEVICES [--catalog SOURCE] [--json]:
 * for each PCI device, the module that drives it and whether the image
 * has that module, its dependencies and its firmware.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cleanup.h"
#include "commands.h"
#include "linux.h"
#include "log.h"

#define MAX_CANDIDATES 8

struct reference {
  const char *source;          /* --catalog, or the host's modules for the image's kernel */
  bool tried;
  bool loaded;
  struct lx_catalog cat;
};

/* The reference catalog, loaded the first time the image lacks a driver. */
static const struct lx_catalog *reference(struct reference *ref, const char *kver)
{
  if (!ref->tried) {
    ref->tried = true;
    CLEANUP_FREE char *host = NULL;
    if (!ref->source && asprintf(&host, "/lib/modules/%s", kver) >= 0 &&
        access(host, F_OK) == 0)
      ref->source = host;
    if (ref->source) {
      ref->loaded = lx_catalog_load(ref->source, &ref->cat) == 0;
      if (!ref->loaded)
        p2v_warning("cannot use %s to name the missing modules", ref->source);
    }
    if (ref->source == host)
      ref->source = ref->loaded ? strdup(host) : NULL;
  }
  return ref->loaded ? &ref->cat : NULL;
}

struct row {
  const struct pci_device *dev;
  const char *module;          /* NULL: unknown */
  bool in_image;
  struct lx_strv missing_deps, fw_present, fw_missing;
  bool blocker;
};

static void describe(struct row *r, const struct lx_catalog *img, struct reference *ref)
{
  size_t hits[MAX_CANDIDATES];
  size_t n = lx_catalog_match(img, r->dev, hits, MAX_CANDIDATES);
  /* Prefer a candidate the image really has. */
  for (size_t i = 0; i < n; i++)
    if (img->modules[hits[i]].have_ko) {
      const struct lx_module *m = &img->modules[hits[i]];
      struct lx_strv set = { 0 };
      r->module = m->name;
      r->in_image = true;
      lx_catalog_closure(img, m->name, &set, &r->missing_deps);
      for (size_t j = 0; j < set.count; j++) {
        const struct lx_module *dm = &img->modules[lx_catalog_find(img, set.items[j])];
        for (size_t k = 0; k < dm->firmware.count; k++) {
          const char *fw = dm->firmware.items[k];
          struct lx_strv *into = lx_catalog_has_firmware(img, fw) ? &r->fw_present
                                                                   : &r->fw_missing;
          if (!lx_strv_has(into, fw))
            lx_strv_add(into, fw, strlen(fw));
        }
      }
      lx_strv_clear(&set);
      /* Firmware lists name alternatives (one per chip revision): only
       * none of them at all is sure to fail. */
      bool no_firmware = r->fw_missing.count > 0 && r->fw_present.count == 0;
      r->blocker = pci_device_is_boot_critical(r->dev) &&
                   (r->missing_deps.count > 0 || no_firmware);
      return;
    }
  if (n > 0)
    r->module = img->modules[hits[0]].name;   /* named by the image's modules.alias */
  r->blocker = pci_device_is_boot_critical(r->dev);
  if (!r->module && r->blocker) {
    const struct lx_catalog *rc = reference(ref, img->kver);
    if (rc && lx_catalog_match(rc, r->dev, hits, 1) == 1)
      r->module = rc->modules[hits[0]].name;
  }
}

/* "add module e1000e (package linux-image-...) and firmware x (package y)" */
static void report_blocker(const struct row *r, const struct lx_catalog *img,
                           const struct reference *ref)
{
  char what[160];
  snprintf(what, sizeof what, "%s %s controller %04x:%04x", r->dev->slot,
           pci_class_kind(r->dev->class_code), r->dev->vendor, r->dev->device);
  if (!r->module) {
    p2v_error("missing driver for %s: no catalog knows this device%s", what,
              ref->loaded ? "" : "; name a kernel package with --catalog to learn which module");
    return;
  }
  if (!r->in_image) {
    const struct lx_catalog *rc = ref->loaded ? &ref->cat : NULL;
    const char *package = rc && rc->package ? rc->package : NULL;
    struct lx_strv fw = { 0 };
    if (rc) {
      ssize_t i = lx_catalog_find(rc, r->module);
      if (i >= 0)
        fw = rc->modules[i].firmware;
    }
    char fwtext[512] = "";
    if (fw.count)
      snprintf(fwtext, sizeof fwtext, " and firmware %s%s (package %s)", fw.items[0],
               fw.count > 1 ? " or another it lists" : "", lx_firmware_package(fw.items[0]));
    p2v_error("missing driver for %s: add module %s (%s %s)%s", what, r->module,
              package ? "package" : "kernel", package ? package : img->kver, fwtext);
    return;
  }
  if (r->missing_deps.count) {
    p2v_error("incomplete driver for %s: module %s needs module %s, which the image lacks",
              what, r->module, r->missing_deps.items[0]);
    return;
  }
  p2v_error("missing firmware for %s: module %s needs firmware %s (package %s)", what,
            r->module, r->fw_missing.items[0], lx_firmware_package(r->fw_missing.items[0]));
}

static struct json_object *strv_json(const struct lx_strv *v)
{
  struct json_object *a = json_object_new_array();
  for (size_t i = 0; i < v->count; i++)
    json_object_array_add(a, json_object_new_string(v->items[i]));
  return a;
}

static void print_rows(const struct row *rows, size_t n, const struct lx_catalog *img, bool json)
{
  if (json) {
    struct json_object *root = json_object_new_object(), *arr = json_object_new_array();
    json_object_object_add(root, "image", json_object_new_string(img->source));
    json_object_object_add(root, "kernel", json_object_new_string(img->kver));
    for (size_t i = 0; i < n; i++) {
      const struct row *r = &rows[i];
      char id[16], cls[8];
      snprintf(id, sizeof id, "%04x:%04x", r->dev->vendor, r->dev->device);
      snprintf(cls, sizeof cls, "%06x", r->dev->class_code);
      struct json_object *o = json_object_new_object();
      json_object_object_add(o, "slot", json_object_new_string(r->dev->slot));
      json_object_object_add(o, "class_code", json_object_new_string(cls));
      json_object_object_add(o, "class", json_object_new_string(pci_class_kind(r->dev->class_code)));
      json_object_object_add(o, "id", json_object_new_string(id));
      json_object_object_add(o, "module", r->module ? json_object_new_string(r->module) : NULL);
      json_object_object_add(o, "in_image", json_object_new_boolean(r->in_image));
      json_object_object_add(o, "missing_dependencies", strv_json(&r->missing_deps));
      json_object_object_add(o, "firmware_present", strv_json(&r->fw_present));
      json_object_object_add(o, "firmware_missing", strv_json(&r->fw_missing));
      json_object_object_add(o, "blocker", json_object_new_boolean(r->blocker));
      json_object_array_add(arr, o);
    }
    json_object_object_add(root, "devices", arr);
    puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
    return;
  }
  printf("%-13s %-13s %-9s %-18s %-8s %s\n", "SLOT", "CLASS", "ID", "MODULE", "IN IMAGE",
         "FIRMWARE");
  for (size_t i = 0; i < n; i++) {
    const struct row *r = &rows[i];
    const char *fw = r->fw_missing.count == 0 ? (r->fw_present.count ? "yes" : "-")
                   : r->fw_present.count ? "partial" : "missing";
    printf("%-13s %-13s %04x:%04x %-18s %-8s %s%s\n", r->dev->slot,
           pci_class_kind(r->dev->class_code), r->dev->vendor, r->dev->device,
           r->module ? r->module : "unknown",
           r->in_image ? (r->missing_deps.count ? "partial" : "yes") : "no", fw,
           r->blocker ? "  BLOCKER" : "");
  }
}

int linux_check_command(int argc, char **argv)
{
  static const struct option opts[] = {
    { "image", required_argument, NULL, 'i' },
    { "devices", required_argument, NULL, 'd' },
    { "catalog", required_argument, NULL, 'c' },
    { "json", no_argument, NULL, 'j' },
    { NULL, 0, NULL, 0 },
  };
  const char *image = NULL, *devices = NULL;
  struct reference ref = { 0 };
  bool json = false;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'i': image = optarg; break;
    case 'd': devices = optarg; break;
    case 'c': ref.source = optarg; break;
    case 'j': json = true; break;
    default: return DRIVERS_EXIT_USAGE;
    }
  }
  if (!image || !devices || optind != argc) {
    p2v_error("check: usage: p2v-drivers check --image IMAGE --devices DEVICES "
              "[--catalog SOURCE] [--json]");
    return DRIVERS_EXIT_USAGE;
  }
  const char *catalog_arg = ref.source;
  struct pci_device_list list;
  if (pci_devices_load(devices, &list) == -1)
    return DRIVERS_EXIT_ERROR;
  struct lx_catalog img;
  if (lx_catalog_load(image, &img) == -1) {
    pci_devices_clear(&list);
    return DRIVERS_EXIT_ERROR;
  }
  struct row *rows = calloc(list.count, sizeof *rows);
  if (!rows) {
    p2v_error("out of memory");
    return DRIVERS_EXIT_ERROR;
  }
  size_t blockers = 0;
  for (size_t i = 0; i < list.count; i++) {
    rows[i].dev = &list.items[i];
    describe(&rows[i], &img, &ref);
    blockers += rows[i].blocker;
  }
  print_rows(rows, list.count, &img, json);
  fflush(stdout);
  for (size_t i = 0; i < list.count; i++) {
    if (rows[i].blocker)
      report_blocker(&rows[i], &img, &ref);
    lx_strv_clear(&rows[i].missing_deps);
    lx_strv_clear(&rows[i].fw_present);
    lx_strv_clear(&rows[i].fw_missing);
  }
  free(rows);
  if (ref.loaded)
    lx_catalog_clear(&ref.cat);
  if (ref.source != catalog_arg)
    free((char *)ref.source);
  lx_catalog_clear(&img);
  pci_devices_clear(&list);
  return blockers ? DRIVERS_EXIT_BLOCKERS : DRIVERS_EXIT_OK;
}
