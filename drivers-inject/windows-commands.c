/* p2v-drivers list --windows and check --windows.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "log.h"
#include "windows-catalog.h"

struct win_options {
  const char *source, *devices, *os_name, *arch_name;
  const struct win_os_version *os;
  const char *arch;
  bool json;
};

static int parse_options(int argc, char **argv, bool check, struct win_options *o)
{
  enum { OPT_WINDOWS = 256, OPT_DEVICES, OPT_OS, OPT_ARCH, OPT_JSON };
  static const struct option longopts[] = {
    { "windows", required_argument, NULL, OPT_WINDOWS },
    { "devices", required_argument, NULL, OPT_DEVICES },
    { "os", required_argument, NULL, OPT_OS },
    { "arch", required_argument, NULL, OPT_ARCH },
    { "json", no_argument, NULL, OPT_JSON },
    { "verbose", no_argument, NULL, 'v' },
    { NULL, 0, NULL, 0 },
  };
  const char *cmd = check ? "check" : "list";
  int c, verbose = 0;

  memset(o, 0, sizeof *o);
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+v", longopts, NULL)) != -1) {
    switch (c) {
    case OPT_WINDOWS: o->source = optarg; break;
    case OPT_DEVICES: o->devices = optarg; break;
    case OPT_OS: o->os_name = optarg; break;
    case OPT_ARCH: o->arch_name = optarg; break;
    case OPT_JSON: o->json = true; break;
    case 'v': verbose++; break;
    default:
      p2v_error("%s --windows: unknown or incomplete option '%s'; see 'p2v-drivers --help'",
                cmd, argv[optind - 1]);
      return -1;
    }
  }
  p2v_log_set_verbosity(verbose);
  if (optind < argc) {
    p2v_error("%s --windows: unexpected argument '%s'", cmd, argv[optind]);
    return -1;
  }
  if (!o->source || !*o->source) {
    p2v_error("%s --windows: SOURCE is missing", cmd);
    return -1;
  }
  if (check && (!o->devices || !o->os_name || !o->arch_name)) {
    p2v_error("check --windows needs --devices SURVEY, --os VERSION and --arch ARCH");
    return -1;
  }
  if (o->os_name && !(o->os = win_os_lookup(o->os_name))) {
    p2v_error("unknown Windows version '%s'; use one of %s", o->os_name, win_os_help());
    return -1;
  }
  o->arch = win_arch_lookup(o->arch_name ? o->arch_name : "amd64");
  if (!o->arch) {
    p2v_error("unknown architecture '%s'; use amd64, x86 or arm64", o->arch_name);
    return -1;
  }
  return 0;
}

/* Without --os every decoration applies: list what the source has. */
static struct inf_os target_os(const struct win_options *o)
{
  if (o->os)
    return (struct inf_os) { o->arch, o->os->major, o->os->minor, o->os->build };
  return (struct inf_os) { o->arch, 0xffff, 0xffff, 0x7fffffff };
}

static json_object *json_str(const char *s)
{
  return s ? json_object_new_string(s) : NULL;
}

static json_object *json_int_or_null(int v)
{
  return v >= 0 ? json_object_new_int(v) : NULL;
}

static json_object *json_strings(char **v, size_t n)
{
  json_object *a = json_object_new_array();
  for (size_t i = 0; a && i < n; i++)
    json_object_array_add(a, json_object_new_string(v[i]));
  return a;
}

static json_object *model_json(const struct inf_model *m)
{
  json_object *j = json_object_new_object();
  json_object_object_add(j, "description", json_str(m->description));
  json_object_object_add(j, "install_section", json_str(m->install_section));
  json_object_object_add(j, "hardware_id", json_str(m->nids ? m->ids[0] : NULL));
  json_object_object_add(j, "compatible_ids",
                         json_strings(m->ids + (m->nids ? 1 : 0), m->nids ? m->nids - 1 : 0));
  json_object_object_add(j, "service", json_str(m->service));
  json_object_object_add(j, "service_type", json_int_or_null(m->service_type));
  json_object_object_add(j, "start_type", json_int_or_null(m->start_type));
  json_object_object_add(j, "load_order_group", json_str(m->load_order_group));
  json_object_object_add(j, "files", json_strings(m->files, m->nfiles));
  return j;
}

static json_object *package_json(const struct win_package *p)
{
  json_object *j = json_object_new_object();
  const struct inf_version *v = &p->driver.version;
  json_object_object_add(j, "inf", json_str(p->inf_path));
  json_object *layout = NULL;
  if (p->layout_os) {
    layout = json_object_new_object();
    json_object_object_add(layout, "driver", json_str(p->layout_driver));
    json_object_object_add(layout, "os", json_str(p->layout_os));
    json_object_object_add(layout, "arch", json_str(p->layout_arch));
  }
  json_object_object_add(j, "virtio_win", layout);
  json_object_object_add(j, "class", json_str(v->class_name));
  json_object_object_add(j, "class_guid", json_str(v->class_guid));
  json_object_object_add(j, "provider", json_str(v->provider));
  json_object_object_add(j, "driver_ver", json_str(v->driver_ver));
  json_object_object_add(j, "catalog_file", json_str(v->catalog_file));
  json_object_object_add(j, "files_present", json_object_new_boolean(p->files_present));
  json_object *models = json_object_new_array();
  for (size_t i = 0; i < p->driver.nmodels; i++)
    json_object_array_add(models, model_json(&p->driver.models[i]));
  json_object_object_add(j, "models", models);
  return j;
}

static int print_json(json_object *j)
{
  const char *s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
  if (!s) {
    p2v_error("out of memory");
    return -1;
  }
  puts(s);
  return 0;
}

static void join_files(const struct inf_model *m, char *buf, size_t len)
{
  size_t n = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < m->nfiles && n < len; i++)
    n += snprintf(buf + n, len - n, "%s%s", i ? "," : "", m->files[i]);
  if (!m->nfiles)
    snprintf(buf, len, "-");
}

static void start_text(int v, char *buf, size_t len)
{
  if (v < 0)
    snprintf(buf, len, "-");
  else
    snprintf(buf, len, "%d", v);
}

static bool package_listed(const struct win_package *p, const struct win_options *o)
{
  /* With --os, only that Windows' virtio-win folders (and non-layout INFs). */
  return !o->os || !p->layout_os || !strcmp(p->layout_os, o->os->dir);
}

int windows_list_command(int argc, char **argv)
{
  struct win_options o;
  if (parse_options(argc, argv, false, &o) < 0)
    return DRIVERS_EXIT_USAGE;
  struct inf_os os = target_os(&o);
  struct win_catalog cat;
  if (win_catalog_load(o.source, &os, &cat) < 0)
    return DRIVERS_EXIT_ERROR;

  int r = DRIVERS_EXIT_OK;
  if (o.json) {
    json_object *j = json_object_new_object();
    json_object_object_add(j, "source", json_str(o.source));
    json_object_object_add(j, "os", json_str(o.os ? o.os->dir : NULL));
    json_object_object_add(j, "arch", json_str(o.arch));
    json_object *pkgs = json_object_new_array();
    for (size_t i = 0; i < cat.npackages; i++)
      if (package_listed(&cat.packages[i], &o))
        json_object_array_add(pkgs, package_json(&cat.packages[i]));
    json_object_object_add(j, "packages", pkgs);
    if (print_json(j) < 0)
      r = DRIVERS_EXIT_ERROR;
    json_object_put(j);
  } else {
    printf("%-46s %-10s %-5s %-16s %-14s %-20s %s\n",
           "ID", "SERVICE", "START", "GROUP", "CLASS", "FILES", "PACKAGE");
    for (size_t i = 0; i < cat.npackages; i++) {
      const struct win_package *p = &cat.packages[i];
      if (!package_listed(p, &o))
        continue;
      for (size_t m = 0; m < p->driver.nmodels; m++) {
        const struct inf_model *md = &p->driver.models[m];
        char files[256], start[16];
        join_files(md, files, sizeof files);
        start_text(md->start_type, start, sizeof start);
        for (size_t k = 0; k < md->nids; k++)
          printf("%-46s %-10s %-5s %-16s %-14s %-20s %s%s\n", md->ids[k],
                 md->service ? md->service : "-", start,
                 md->load_order_group ? md->load_order_group : "-",
                 p->driver.version.class_name ? p->driver.version.class_name : "-",
                 files, p->inf_path, p->files_present ? "" : " (files missing)");
      }
    }
  }
  win_catalog_clear(&cat);
  return r;
}

static bool is_storage(const struct pci_device *d)
{
  return (d->class_code >> 16) == 0x01;
}

/* The one line that says what to add for a storage controller. */
static void report_blocker(const struct win_options *o, const struct pci_device *d,
                           const struct win_match *m)
{
  const char *slot = d->slot[0] ? d->slot : "?";
  if (m->package)
    p2v_error("blocker: storage controller %s (%04x:%04x): %s lists it but its %s "
              "is not beside it in %s; add the driver files next to the INF",
              slot, d->vendor, d->device, m->package->inf_path,
              m->model->nfiles ? m->model->files[0] : ".sys files", o->source);
  else
    p2v_error("blocker: storage controller %s (%04x:%04x) has no driver for %s %s in %s; "
              "add a driver package whose INF lists PCI\\VEN_%04X&DEV_%04X "
              "(virtio-win layout: <driver>/%s/%s/) or Windows will not boot (0x7B)",
              slot, d->vendor, d->device, o->os->dir, o->arch, o->source,
              d->vendor, d->device, o->os->dir, o->arch);
}

static json_object *device_json(const struct pci_device *d, const struct win_match *m,
                                bool blocker)
{
  char hex[16];
  json_object *j = json_object_new_object();
  json_object_object_add(j, "slot", json_str(d->slot[0] ? d->slot : NULL));
  snprintf(hex, sizeof hex, "%06x", d->class_code);
  json_object_object_add(j, "class_code", json_str(hex));
  json_object_object_add(j, "kind", json_str(pci_class_kind(d->class_code)));
  snprintf(hex, sizeof hex, "%04x", d->vendor);
  json_object_object_add(j, "vendor_id", json_str(hex));
  snprintf(hex, sizeof hex, "%04x", d->device);
  json_object_object_add(j, "device_id", json_str(hex));
  json_object_object_add(j, "inf", json_str(m->package ? m->package->inf_path : NULL));
  json_object_object_add(j, "matched_id", json_str(m->id));
  json_object_object_add(j, "service", json_str(m->model ? m->model->service : NULL));
  json_object_object_add(j, "start_type", json_int_or_null(m->model ? m->model->start_type : -1));
  json_object_object_add(j, "load_order_group",
                         json_str(m->model ? m->model->load_order_group : NULL));
  json_object_object_add(j, "files_present",
                         m->package ? json_object_new_boolean(m->package->files_present) : NULL);
  json_object_object_add(j, "blocker", json_object_new_boolean(blocker));
  return j;
}

int windows_check_command(int argc, char **argv)
{
  struct win_options o;
  if (parse_options(argc, argv, true, &o) < 0)
    return DRIVERS_EXIT_USAGE;
  struct pci_device_list devs = { 0 };
  if (pci_devices_load(o.devices, &devs) < 0)
    return DRIVERS_EXIT_ERROR;
  struct inf_os os = target_os(&o);
  struct win_catalog cat;
  if (win_catalog_load(o.source, &os, &cat) < 0) {
    pci_devices_clear(&devs);
    return DRIVERS_EXIT_ERROR;
  }

  json_object *j = NULL, *arr = NULL;
  if (o.json) {
    j = json_object_new_object();
    json_object_object_add(j, "source", json_str(o.source));
    json_object_object_add(j, "os", json_str(o.os->dir));
    json_object_object_add(j, "arch", json_str(o.arch));
    arr = json_object_new_array();
    json_object_object_add(j, "devices", arr);
  } else
    printf("%-14s %-10s %-10s %-40s %s\n", "SLOT", "CLASS", "ID", "PACKAGE", "SERVICE");

  size_t blockers = 0;
  for (size_t i = 0; i < devs.count; i++) {
    const struct pci_device *d = &devs.items[i];
    struct win_match m = win_match_device(&cat, d, o.os, o.arch);
    bool blocker = is_storage(d) && (!m.package || !m.package->files_present);
    if (blocker) {
      report_blocker(&o, d, &m);
      blockers++;
    }
    if (o.json) {
      json_object_array_add(arr, device_json(d, &m, blocker));
      continue;
    }
    char id[16], service[128];
    snprintf(id, sizeof id, "%04x:%04x", d->vendor, d->device);
    if (m.model && m.model->service && m.model->start_type >= 0)
      snprintf(service, sizeof service, "%s (start %d%s%s)", m.model->service,
               m.model->start_type, m.model->load_order_group ? ", " : "",
               m.model->load_order_group ? m.model->load_order_group : "");
    else if (m.model && m.model->service)
      snprintf(service, sizeof service, "%s", m.model->service);
    else
      snprintf(service, sizeof service, "none");
    printf("%-14s %-10s %-10s %-40s %s%s\n", d->slot[0] ? d->slot : "?",
           pci_class_kind(d->class_code), id, m.package ? m.package->inf_path : "none",
           service, blocker ? "  BLOCKER" : "");
  }
  int r = blockers ? DRIVERS_EXIT_BLOCKERS : DRIVERS_EXIT_OK;
  if (j) {
    json_object_object_add(j, "blockers", json_object_new_int((int) blockers));
    if (print_json(j) < 0)
      r = DRIVERS_EXIT_ERROR;
    json_object_put(j);
  }
  win_catalog_clear(&cat);
  pci_devices_clear(&devs);
  return r;
}
