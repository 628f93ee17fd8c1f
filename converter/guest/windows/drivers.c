/* The registry edits of a Windows conversion, on the SYSTEM and SOFTWARE
 * hives (docs/conversion.md, "Windows: registry changes"): the boot
 * disk's driver registered so Windows loads it at boot and binds it to
 * the new controller, an in-box driver made boot-start, DevicePath,
 * vendor agents disabled; and what the registry tells about static IP
 * configuration, group policy and antivirus.  Every edit goes into the
 * current control set only, is recorded, and is a no-op the second time.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <ctype.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "guest/windows/windows-internal.h"
#include "log.h"

#define AREA "registry"
/* Device setup classes (Windows' devguid.h). */
#define SCSI_ADAPTER_CLASS "{4D36E97B-E325-11CE-BFC1-08002BE10318}"
#define NET_CLASS          "{4d36e972-e325-11ce-bfc1-08002be10318}"
/* Bounds on hostile content: IDs one driver registers, interfaces read. */
#define MAX_BOOT_IDS       64
#define MAX_INTERFACES     256
#define MAX_ADDRESSES      64

enum { START_BOOT = 0, START_SYSTEM = 1, START_DISABLED = 4 };

static void free_strv(char **v)
{
  for (size_t i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
}

/* Record one change when the hive was edited since BEFORE:
 * file "HKLM\HIVE\KEY". */
static int __attribute__((format(printf, 6, 7)))
record(struct p2v_changes *changes, struct gw_hive *h, unsigned long before,
       const char *hive, const char *key, const char *fmt, ...)
{
  if (gw_hive_edits(h) == before)
    return 0;
  CLEANUP_FREE char *file = NULL, *desc = NULL;
  va_list ap;
  va_start(ap, fmt);
  int r = vasprintf(&desc, fmt, ap);
  va_end(ap);
  if (r < 0 || asprintf(&file, "HKLM\\%s\\%s", hive, key) < 0) {
    p2v_error("cannot record a registry change: out of memory");
    return -1;
  }
  return p2v_changes_add(changes, AREA, file, "%s", desc);
}

static char * __attribute__((format(printf, 1, 2))) key_printf(const char *fmt, ...)
{
  char *s;
  va_list ap;
  va_start(ap, fmt);
  int r = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (r < 0) {
    p2v_error("cannot build a registry key name: out of memory");
    return NULL;
  }
  return s;
}

/* A service or file name from an INF or a list: one key name, printable,
 * no separator. */
static bool plain_name(const char *s)
{
  size_t n = strlen(s);
  if (n == 0 || n > 255)
    return false;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f || *p == '\\' || *p == '/')
      return false;
  return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* ---- a: a boot-start storage driver from an INF ---- */

/* "PCI\VEN_1AF4&DEV_1001&SUBSYS_00021AF4&REV_00": letters, digits, '_'
 * and '&' after "PCI\" (the only separator). */
static bool pci_id(const char *id)
{
  if (strncasecmp(id, "PCI\\", 4) != 0 || !id[4] || strlen(id) > 200)
    return false;
  for (const char *p = id + 4; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '_' && *p != '&')
      return false;
  return true;
}

static int add_id(char **ids, size_t *n, const char *id, size_t len)
{
  for (size_t i = 0; i < *n; i++)
    if (strlen(ids[i]) == len && strncasecmp(ids[i], id, len) == 0)
      return 0;
  if (*n >= MAX_BOOT_IDS)
    return 0;
  if (!(ids[*n] = strndup(id, len)))
    return -1;
  for (char *p = ids[*n]; *p; p++)
    *p = (char)toupper((unsigned char)*p);
  (*n)++;
  return 0;
}

/* Every PCI ID of the models installing SERVICE (MODEL's first), each
 * also cut to "PCI\VEN_x&DEV_y": the device's own ID list always has
 * that one, whatever its subsystem and revision. */
static int collect_ids(const struct win_package *pkg, const struct inf_model *model,
                       const char *service, char **ids, size_t *n)
{
  size_t nmodels = pkg ? pkg->driver.nmodels : 0;
  for (size_t m = 0; m <= nmodels; m++) {
    const struct inf_model *md = m == 0 ? model : &pkg->driver.models[m - 1];
    if (m > 0 && (!md->service || strcasecmp(md->service, service) != 0))
      continue;
    for (size_t i = 0; i < md->nids; i++) {
      const char *id = md->ids[i];
      if (!pci_id(id))
        continue;
      if (add_id(ids, n, id, strlen(id)) == -1)
        return -1;
      const char *dev = strcasestr(id, "&DEV_");
      if (strncasecmp(id + 4, "VEN_", 4) == 0 && dev) {
        const char *end = strchr(dev + 1, '&');
        if (end && add_id(ids, n, id, (size_t)(end - id)) == -1)
          return -1;
      }
    }
  }
  return 0;
}

/* "{4D36E97B-E325-11CE-BFC1-08002BE10318}" into the 16 bytes of a GUID
 * in memory (the first three fields little-endian). */
static bool parse_guid(const char *s, uint8_t out[16])
{
  static const int field_len[5] = { 8, 4, 4, 4, 12 };
  if (strlen(s) != 38 || s[0] != '{' || s[37] != '}')
    return false;
  uint8_t raw[16];
  size_t r = 0;
  const char *p = s + 1;
  for (int f = 0; f < 5; f++) {
    for (int k = 0; k < field_len[f]; k += 2) {
      if (!isxdigit((unsigned char)p[k]) || !isxdigit((unsigned char)p[k + 1]))
        return false;
      char hex[3] = { p[k], p[k + 1], 0 };
      raw[r++] = (uint8_t)strtoul(hex, NULL, 16);
    }
    p += field_len[f];
    if (f < 4 && *p++ != '-')
      return false;
  }
  static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
  for (int i = 0; i < 16; i++)
    out[i] = raw[order[i]];
  return true;
}

/* 2008 R2 and older: the PnP manager looks the new device's IDs up in
 * CriticalDeviceDatabase at boot and starts the service named there. */
static int register_cdb(struct gw_hive *system, const struct gw_system *sys,
                        const char *service, const char *class_guid, char **ids, size_t n,
                        struct p2v_changes *changes)
{
  for (size_t i = 0; i < n; i++) {
    CLEANUP_FREE char *name = strdup(ids[i]);
    if (!name) {
      p2v_error("cannot register the boot driver %s: out of memory", service);
      return -1;
    }
    for (char *p = name; *p; p++)
      *p = *p == '\\' ? '#' : (char)tolower((unsigned char)*p);
    CLEANUP_FREE char *key = key_printf("%s\\Control\\CriticalDeviceDatabase\\%s",
                                        sys->control_set, name);
    if (!key)
      return -1;
    unsigned long before = gw_hive_edits(system);
    if (gw_reg_set_string(system, key, "Service", service) == -1 ||
        gw_reg_set_string(system, key, "ClassGUID", class_guid) == -1 ||
        record(changes, system, before, "SYSTEM", key,
               "%s starts at boot for the device %s (Service, ClassGUID %s)",
               service, ids[i], class_guid) == -1)
      return -1;
  }
  return 0;
}

/* 2012 and later: no CriticalDeviceDatabase; boot devices are matched
 * through DriverDatabase, so the driver is entered as a package of its own
 * (p2v-SERVICE.inf, a name no real package has) with one configuration
 * that names the service, and each ID points to it.  pnputil installs the
 * real package at first boot beside it.  Learned from virt-v2v
 * (libguestfs-common mlcustomize/inject_virtio_win.ml). */
static int register_ddb(struct gw_hive *system, const char *service, const char *class_guid,
                        char **ids, size_t n, struct p2v_changes *changes)
{
  CLEANUP_FREE char *lower = strdup(service);
  if (!lower) {
    p2v_error("cannot register the boot driver %s: out of memory", service);
    return -1;
  }
  for (char *p = lower; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  CLEANUP_FREE char *inf = key_printf("p2v-%s.inf", lower);
  CLEANUP_FREE char *package = key_printf("p2v-%s.inf_boot", lower);
  const char *config = "p2v_boot";
  CLEANUP_FREE char *inf_key = inf ? key_printf("DriverDatabase\\DriverInfFiles\\%s", inf) : NULL;
  CLEANUP_FREE char *pkg_key = package
    ? key_printf("DriverDatabase\\DriverPackages\\%s", package) : NULL;
  CLEANUP_FREE char *cfg_key = pkg_key ? key_printf("%s\\Configurations\\%s", pkg_key, config) : NULL;
  if (!cfg_key || !inf_key)
    return -1;

  const char *packages[] = { package, NULL }, *configs[] = { config, NULL };
  unsigned long before = gw_hive_edits(system);
  if (gw_reg_set_multi_string(system, inf_key, "", packages) == -1 ||
      gw_reg_set_string(system, inf_key, "Active", package) == -1 ||
      gw_reg_set_multi_string(system, inf_key, "Configurations", configs) == -1 ||
      record(changes, system, before, "SYSTEM", inf_key,
             "driver package %s for the boot driver %s", package, service) == -1)
    return -1;

  /* Version: flags, the setup class, then date and version left zero; the
   * kernel's PnP code of 2016 and later wants the value present. */
  uint8_t version[48] = { 0x00, 0xff, 0x09, 0x00 };
  if (!parse_guid(class_guid, version + 8)) {
    p2v_error("cannot register the boot driver %s: class GUID %s is not a GUID", service,
              class_guid);
    return -1;
  }
  before = gw_hive_edits(system);
  if (gw_reg_set_binary(system, pkg_key, "Version", 3, version, sizeof version) == -1 ||
      gw_reg_set_dword(system, cfg_key, "ConfigFlags", 0) == -1 ||
      gw_reg_set_string(system, cfg_key, "Service", service) == -1 ||
      record(changes, system, before, "SYSTEM", pkg_key,
             "configuration %s: service %s, class %s", config, service, class_guid) == -1)
    return -1;

  /* The rank Windows gives a boot-critical inbox match. */
  static const uint8_t rank[4] = { 0x01, 0xff, 0x00, 0x00 };
  for (size_t i = 0; i < n; i++) {
    CLEANUP_FREE char *id_key = key_printf("DriverDatabase\\DeviceIds\\%s", ids[i]);
    CLEANUP_FREE char *desc_key = key_printf("%s\\Descriptors\\%s", pkg_key, ids[i]);
    if (!id_key || !desc_key)
      return -1;
    before = gw_hive_edits(system);
    if (gw_reg_set_binary(system, id_key, inf, 3, rank, sizeof rank) == -1 ||
        gw_reg_set_string(system, desc_key, "Configuration", config) == -1 ||
        record(changes, system, before, "SYSTEM", id_key,
               "the device %s matches %s (%s)", ids[i], inf, service) == -1)
      return -1;
  }
  return 0;
}

/* Start=0 and no StartOverride (Windows 8 and later keep per-profile
 * start types there, which win over Start): both recorded. */
static int set_boot_start(struct gw_hive *system, const char *svc_key, const char *service,
                          struct p2v_changes *changes)
{
  uint32_t old = 0;
  int had = gw_reg_get_dword(system, svc_key, "Start", &old);
  if (had == -1)
    return -1;
  unsigned long before = gw_hive_edits(system);
  if (gw_reg_set_dword(system, svc_key, "Start", START_BOOT) == -1)
    return -1;
  char was[32] = "absent";
  if (had == 1)
    snprintf(was, sizeof was, "%u", old);
  if (record(changes, system, before, "SYSTEM", svc_key, "%s made boot-start: Start=0 (was %s)",
             service, was) == -1)
    return -1;
  CLEANUP_FREE char *override = key_printf("%s\\StartOverride", svc_key);
  if (!override)
    return -1;
  before = gw_hive_edits(system);
  if (gw_reg_delete_key(system, override) == -1 ||
      record(changes, system, before, "SYSTEM", override,
             "removed, so Start=0 of %s holds", service) == -1)
    return -1;
  return 0;
}

/* Services\<service> as the INF's AddService section says, boot-start. */
static int write_service(struct gw_hive *system, const struct gw_system *sys,
                         const struct inf_model *model, const char *inf,
                         struct p2v_changes *changes)
{
  const char *service = model->service;
  CLEANUP_FREE char *svc_key = key_printf("%s\\Services\\%s", sys->control_set, service);
  CLEANUP_FREE char *image = key_printf("System32\\drivers\\%s", model->service_binary);
  if (!svc_key || !image)
    return -1;
  unsigned long before = gw_hive_edits(system);
  if (gw_reg_set_dword(system, svc_key, "Type", (uint32_t)model->service_type) == -1 ||
      gw_reg_set_dword(system, svc_key, "ErrorControl", (uint32_t)model->error_control) == -1 ||
      (model->load_order_group &&
       gw_reg_set_string(system, svc_key, "Group", model->load_order_group) == -1) ||
      gw_reg_set_expand_string(system, svc_key, "ImagePath", image) == -1 ||
      record(changes, system, before, "SYSTEM", svc_key,
             "boot driver %s from %s: Type=%d ErrorControl=%d%s%s ImagePath=%s", service, inf,
             model->service_type, model->error_control,
             model->load_order_group ? " Group=" : "",
             model->load_order_group ? model->load_order_group : "", image) == -1)
    return -1;
  return set_boot_start(system, svc_key, service, changes);
}

int gw_register_boot_driver(struct gw_hive *system, const struct gw_system *sys,
                            const struct win_package *pkg, const struct inf_model *model,
                            struct p2v_changes *changes)
{
  const char *inf = pkg && pkg->inf_path ? pkg->inf_path : "the driver's INF";
  const char *service = model->service;
  if (!service || !plain_name(service)) {
    p2v_error("cannot register the boot driver of %s: it installs no usable service "
              "(AddService with flag 0x2): pick another driver package", inf);
    return -1;
  }
  if (!model->service_binary || !plain_name(model->service_binary) ||
      model->service_type < 0 || model->error_control < 0) {
    p2v_error("cannot register the boot driver %s of %s: its AddService section lacks "
              "ServiceBinary, ServiceType or ErrorControl: pick another driver package",
              service, inf);
    return -1;
  }
  if (model->load_order_group && !plain_name(model->load_order_group)) {
    p2v_error("cannot register the boot driver %s of %s: LoadOrderGroup \"%s\" is not a name",
              service, inf, model->load_order_group);
    return -1;
  }
  const char *class_guid = pkg && pkg->driver.version.class_guid
    ? pkg->driver.version.class_guid : SCSI_ADAPTER_CLASS;
  uint8_t guid[16];
  if (!parse_guid(class_guid, guid)) {
    p2v_error("cannot register the boot driver %s of %s: ClassGuid %s is not a GUID",
              service, inf, class_guid);
    return -1;
  }

  /* The IDs first: a package that names no device is refused before
   * anything is written. */
  char *ids[MAX_BOOT_IDS] = { NULL };
  size_t n = 0;
  if (collect_ids(pkg, model, service, ids, &n) == -1) {
    p2v_error("cannot register the boot driver %s: out of memory", service);
    goto fail;
  }
  if (n == 0) {
    p2v_error("cannot register the boot driver %s of %s: its models name no PCI device",
              service, inf);
    goto fail;
  }
  int r = write_service(system, sys, model, inf, changes);
  if (r == 0 && sys->has_driver_database)
    r = register_ddb(system, service, class_guid, ids, n, changes);
  else if (r == 0)
    r = register_cdb(system, sys, service, class_guid, ids, n, changes);
  for (size_t i = 0; i < n; i++)
    free(ids[i]);
  return r;
fail:
  for (size_t i = 0; i < n; i++)
    free(ids[i]);
  return -1;
}

/* ---- b: an in-box driver made boot-start ---- */

int gw_make_boot_start(struct gw_hive *system, const struct gw_system *sys,
                       const char *service, struct p2v_changes *changes)
{
  if (!plain_name(service)) {
    p2v_error("cannot make \"%s\" boot-start: not a service name", service);
    return -1;
  }
  CLEANUP_FREE char *svc_key = key_printf("%s\\Services\\%s", sys->control_set, service);
  if (!svc_key)
    return -1;
  int r = gw_reg_key_exists(system, svc_key);
  if (r == -1)
    return -1;
  if (r == 0) {
    p2v_error("cannot make the in-box driver %s boot-start: this Windows has no "
              "HKLM\\SYSTEM\\%s (supply a driver package with --drivers)", service, svc_key);
    return -1;
  }
  return set_boot_start(system, svc_key, service, changes);
}

/* ---- c: DevicePath ---- */

#define CURRENT_VERSION "Microsoft\\Windows\\CurrentVersion"

/* Is DIR one of the ';'-separated entries of PATH (ignoring case and a
 * trailing backslash)? */
static bool path_has(const char *path, const char *dir)
{
  size_t dn = strlen(dir);
  while (dn && dir[dn - 1] == '\\')
    dn--;
  for (const char *p = path; *p; ) {
    size_t n = strcspn(p, ";");
    size_t en = n;
    while (en && p[en - 1] == '\\')
      en--;
    if (en == dn && strncasecmp(p, dir, dn) == 0)
      return true;
    p += n;
    if (*p == ';')
      p++;
  }
  return false;
}

int gw_extend_device_path(struct gw_hive *software, const char *dir, struct p2v_changes *changes)
{
  if (!*dir || strchr(dir, ';')) {
    p2v_error("cannot add \"%s\" to DevicePath: not one folder", dir);
    return -1;
  }
  uint32_t type;
  int r = gw_reg_get_type(software, CURRENT_VERSION, "DevicePath", &type);
  if (r == -1)
    return -1;
  CLEANUP_FREE char *old = NULL;
  if (r == 1 && (type == 1 || type == 2) &&
      gw_reg_get_string(software, CURRENT_VERSION, "DevicePath", &old) == -1)
    return -1;
  if (r == 1 && !old)
    p2v_warning("DevicePath in the SOFTWARE hive is not a string (type %u): replaced", type);
  if (old && path_has(old, dir))
    return 0;
  /* Windows' own default when the value is missing: %SystemRoot%\inf. */
  const char *base = old && *old ? old : "%SystemRoot%\\inf";
  size_t bn = strlen(base);
  CLEANUP_FREE char *value = key_printf("%s%s%s", base, base[bn - 1] == ';' ? "" : ";", dir);
  if (!value)
    return -1;
  unsigned long before = gw_hive_edits(software);
  if (gw_reg_set_expand_string(software, CURRENT_VERSION, "DevicePath", value) == -1)
    return -1;
  return record(changes, software, before, "SOFTWARE", CURRENT_VERSION,
                "DevicePath: %s added, so Plug and Play finds its drivers", dir);
}

/* ---- d: vendor agents disabled ---- */

struct agent {
  char *pattern;
  char *vendor;
};

struct agent_list {
  struct agent *v;
  size_t n;
};

/* One "windows:NAME  # vendor" line of the list, kept when NAME is plain. */
static int add_agent(const char *name, const char *vendor, void *opaque)
{
  struct agent_list *l = opaque;
  if (!plain_name(name))
    return 0;
  struct agent *a = realloc(l->v, (l->n + 1) * sizeof *a);
  if (!a)
    goto oom;
  l->v = a;
  a[l->n].pattern = strdup(name);
  a[l->n].vendor = strdup(vendor);
  l->n++;
  if (!a[l->n - 1].pattern || !a[l->n - 1].vendor)
    goto oom;
  return 0;
oom:
  p2v_error("cannot read the list of vendor agents: out of memory");
  return -1;
}

static void free_agents(struct agent *a, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    free(a[i].pattern);
    free(a[i].vendor);
  }
  free(a);
}

static int disable_service(struct gw_hive *system, const struct gw_system *sys,
                           const char *name, const char *vendor, struct p2v_changes *changes)
{
  CLEANUP_FREE char *key = key_printf("%s\\Services\\%s", sys->control_set, name);
  if (!key)
    return -1;
  uint32_t start = 0;
  int r = gw_reg_get_dword(system, key, "Start", &start);
  if (r == -1)
    return -1;
  if (r == 1 && start == START_DISABLED)
    return 0;
  /* A boot or system driver may be what the disk needs: left alone. */
  if (r == 1 && (start == START_BOOT || start == START_SYSTEM)) {
    p2v_warning("not disabling %s (%s): it starts with the kernel (Start=%u)", name, vendor,
                start);
    return 0;
  }
  unsigned long before = gw_hive_edits(system);
  if (gw_reg_set_dword(system, key, "Start", START_DISABLED) == -1)
    return -1;
  char was[32] = "absent";
  if (r == 1)
    snprintf(was, sizeof was, "%u", start);
  return record(changes, system, before, "SYSTEM", key, "disabled %s (%s): Start=4 (was %s)",
                name, vendor, was);
}

int gw_disable_vendor_services(struct gw_hive *system, const struct gw_system *sys,
                               const char *agents_file, struct p2v_changes *changes)
{
  struct agent_list list = { NULL, 0 };
  if (p2v_guest_vendor_agents_each(agents_file, true, add_agent, &list) == -1) {
    free_agents(list.v, list.n);
    return -1;
  }
  struct agent *agents = list.v;
  size_t nagents = list.n;
  CLEANUP_FREE char *services_key = key_printf("%s\\Services", sys->control_set);
  char **services = NULL;
  int r = services_key ? gw_reg_subkeys(system, services_key, &services) : -1;
  if (r == 1) {
    for (size_t s = 0; services[s] && r != -1; s++)
      for (size_t a = 0; a < nagents && r != -1; a++)
        if (fnmatch(agents[a].pattern, services[s], FNM_CASEFOLD) == 0) {
          if (disable_service(system, sys, services[s], agents[a].vendor, changes) == -1)
            r = -1;
          break;
        }
  }
  free_strv(services);
  free_agents(agents, nagents);
  return r == -1 ? -1 : 0;
}

/* ---- e: static IP configuration ---- */

#define INTERFACES_KEY "%s\\Services\\Tcpip\\Parameters\\Interfaces"

static int push(char ***v, size_t *n, const char *s)
{
  char **nv = realloc(*v, (*n + 2) * sizeof *nv);
  if (!nv)
    return -1;
  *v = nv;
  if (!(nv[*n] = strdup(s)))
    return -1;
  nv[++*n] = NULL;
  return 0;
}

static bool ipv4(const char *s)
{
  struct in_addr a;
  return inet_pton(AF_INET, s, &a) == 1;
}

/* NAME of KEY as a list of IPv4 addresses: a REG_MULTI_SZ, or a REG_SZ
 * split at ',' and ' ' (NameServer).  What is not an address (hostile, or
 * empty, or 0.0.0.0 when SKIP_ZERO) is left out: these go into scripts.
 * *OUT is never NULL on success. */
static int read_addresses(struct gw_hive *h, const char *key, const char *name, bool skip_zero,
                          char ***out)
{
  size_t n = 0;
  if (!(*out = calloc(1, sizeof **out)))
    goto oom;
  uint32_t type;
  int r = gw_reg_get_type(h, key, name, &type);
  if (r <= 0)
    return r;
  char **raw = NULL;
  if (type == 7) {
    if (gw_reg_get_multi_string(h, key, name, &raw) == -1)
      return -1;
  } else if (type == 1 || type == 2) {
    CLEANUP_FREE char *s = NULL;
    if (gw_reg_get_string(h, key, name, &s) == -1)
      return -1;
    size_t rn = 0;
    char *save = NULL;
    for (char *tok = strtok_r(s, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
      if (rn < MAX_ADDRESSES && push(&raw, &rn, tok) == -1) {
        free_strv(raw);
        goto oom;
      }
  } else {
    p2v_warning("%s\\%s is of type %u, not a list of addresses: ignored", key, name, type);
    return 0;
  }
  for (size_t i = 0; raw && raw[i] && n < MAX_ADDRESSES; i++) {
    if (!ipv4(raw[i])) {
      if (*raw[i])
        p2v_warning("%s\\%s: \"%s\" is not an IPv4 address: ignored", key, name, raw[i]);
      continue;
    }
    if (skip_zero && strcmp(raw[i], "0.0.0.0") == 0)
      continue;
    if (push(out, &n, raw[i]) == -1) {
      free_strv(raw);
      goto oom;
    }
  }
  free_strv(raw);
  return 1;
oom:
  p2v_error("cannot read %s\\%s: out of memory", key, name);
  return -1;
}

/* NetworkAddress "001122AABBCC" (dashes or colons allowed) as "00:11:22:aa:bb:cc". */
static char *normalize_mac(const char *s)
{
  char hex[13];
  size_t n = 0;
  for (const char *p = s; *p; p++) {
    if (*p == '-' || *p == ':')
      continue;
    if (!isxdigit((unsigned char)*p) || n == 12)
      return NULL;
    hex[n++] = (char)tolower((unsigned char)*p);
  }
  if (n != 12)
    return NULL;
  char *mac = malloc(18);
  if (mac)
    snprintf(mac, 18, "%.2s:%.2s:%.2s:%.2s:%.2s:%.2s", hex, hex + 2, hex + 4, hex + 6,
             hex + 8, hex + 10);
  return mac;
}

/* Optional string: its value, or NULL when absent or not a string. */
static int opt_string(struct gw_hive *h, const char *key, const char *name, char **out)
{
  *out = NULL;
  uint32_t type;
  int r = gw_reg_get_type(h, key, name, &type);
  if (r <= 0 || (type != 1 && type != 2))
    return r == -1 ? -1 : 0;
  return gw_reg_get_string(h, key, name, out) == -1 ? -1 : 0;
}

/* The network adapter whose NetCfgInstanceId is ip->guid. */
static int map_adapter(struct gw_hive *system, const struct gw_system *sys,
                       struct gw_static_ip *ip)
{
  CLEANUP_FREE char *class_key = key_printf("%s\\Control\\Class\\%s", sys->control_set,
                                            NET_CLASS);
  if (!class_key)
    return -1;
  char **subs = NULL;
  int r = gw_reg_subkeys(system, class_key, &subs);
  if (r <= 0)
    return r;
  for (size_t i = 0; subs[i] && r != -1; i++) {
    /* 0000, 0001...; "Properties" and the like are not adapters. */
    if (strspn(subs[i], "0123456789") != strlen(subs[i]))
      continue;
    CLEANUP_FREE char *key = key_printf("%s\\%s", class_key, subs[i]);
    CLEANUP_FREE char *id = NULL;
    if (!key || opt_string(system, key, "NetCfgInstanceId", &id) == -1) {
      r = -1;
      break;
    }
    if (!id || strcasecmp(id, ip->guid) != 0)
      continue;
    CLEANUP_FREE char *mac = NULL;
    if (!(ip->adapter_key = strdup(subs[i])) ||
        opt_string(system, key, "DriverDesc", &ip->adapter) == -1 ||
        opt_string(system, key, "DeviceInstanceID", &ip->pci_id) == -1 ||
        (!ip->pci_id && opt_string(system, key, "MatchingDeviceId", &ip->pci_id) == -1) ||
        opt_string(system, key, "NetworkAddress", &mac) == -1) {
      r = -1;
      break;
    }
    if (mac && *mac && !(ip->mac = normalize_mac(mac)))
      p2v_warning("%s\\NetworkAddress \"%s\" is not a MAC address: ignored", key, mac);
    break;
  }
  free_strv(subs);
  return r == -1 ? -1 : 0;
}

static void static_ip_clear(struct gw_static_ip *ip)
{
  free(ip->guid);
  free_strv(ip->addresses);
  free_strv(ip->masks);
  free_strv(ip->gateways);
  free_strv(ip->dns);
  free(ip->adapter);
  free(ip->adapter_key);
  free(ip->pci_id);
  free(ip->mac);
  memset(ip, 0, sizeof *ip);
}

/* One interface: 1 static (filled in), 0 not, -1 error. */
static int read_interface(struct gw_hive *system, const struct gw_system *sys,
                          const char *ifaces, const char *guid, struct gw_static_ip *ip)
{
  CLEANUP_FREE char *key = key_printf("%s\\%s", ifaces, guid);
  if (!key)
    return -1;
  uint32_t type, dhcp;
  int r = gw_reg_get_type(system, key, "EnableDHCP", &type);
  if (r <= 0 || type != 4)
    return r == -1 ? -1 : 0;
  if (gw_reg_get_dword(system, key, "EnableDHCP", &dhcp) == -1)
    return -1;
  if (dhcp != 0)
    return 0;
  if (!(ip->guid = strdup(guid)) ||
      read_addresses(system, key, "IPAddress", true, &ip->addresses) == -1 ||
      read_addresses(system, key, "SubnetMask", false, &ip->masks) == -1 ||
      read_addresses(system, key, "DefaultGateway", true, &ip->gateways) == -1 ||
      read_addresses(system, key, "NameServer", true, &ip->dns) == -1)
    return -1;
  /* The masks in step with the addresses, else the interface is of no use. */
  size_t na = 0, nm = 0;
  while (ip->addresses && ip->addresses[na])
    na++;
  while (ip->masks && ip->masks[nm])
    nm++;
  if (na == 0)
    return 0;
  if (nm < na) {
    p2v_warning("%s: %zu addresses but %zu subnet masks: not kept", key, na, nm);
    return 0;
  }
  return map_adapter(system, sys, ip) == -1 ? -1 : 1;
}

int gw_read_static_ips(struct gw_hive *system, const struct gw_system *sys,
                       struct gw_static_ips *out)
{
  memset(out, 0, sizeof *out);
  CLEANUP_FREE char *ifaces = key_printf(INTERFACES_KEY, sys->control_set);
  if (!ifaces)
    return -1;
  char **guids = NULL;
  int r = gw_reg_subkeys(system, ifaces, &guids);
  if (r <= 0)
    return r;
  for (size_t i = 0; guids[i] && i < MAX_INTERFACES && r != -1; i++) {
    struct gw_static_ip ip = { 0 };
    int s = read_interface(system, sys, ifaces, guids[i], &ip);
    if (s == 1) {
      struct gw_static_ip *items = realloc(out->items, (out->n + 1) * sizeof *items);
      if (!items) {
        p2v_error("cannot read the static IP configuration: out of memory");
        s = -1;
      } else {
        out->items = items;
        out->items[out->n++] = ip;
        continue;
      }
    }
    static_ip_clear(&ip);
    if (s == -1)
      r = -1;
  }
  free_strv(guids);
  if (r == -1) {
    gw_static_ips_clear(out);
    return -1;
  }
  return 0;
}

void gw_static_ips_clear(struct gw_static_ips *ips)
{
  for (size_t i = 0; i < ips->n; i++)
    static_ip_clear(&ips->items[i]);
  free(ips->items);
  ips->items = NULL;
  ips->n = 0;
}

/* ---- f: group policy and antivirus ---- */

#define GPO_LIST "Microsoft\\Windows\\CurrentVersion\\Group Policy\\State\\Machine\\GPO-List"
#define GP_MACHINE "Microsoft\\Windows\\CurrentVersion\\Group Policy\\State\\Machine"

/* Services of antivirus products: their filter drivers and self-protection
 * may stop the first-boot work or take the new hardware for an attack. */
static const struct { const char *pattern, *product; } antivirus[] = {
  { "SepMasterService", "Symantec Endpoint Protection" },
  { "SmcService", "Symantec Endpoint Protection" },
  { "McShield", "McAfee VirusScan" },
  { "mfemms", "McAfee/Trellix Endpoint Security" },
  { "ekrn", "ESET" },
  { "CSFalconService", "CrowdStrike Falcon" },
  { "SentinelAgent", "SentinelOne" },
  { "SAVService", "Sophos Anti-Virus" },
  { "Sophos*", "Sophos" },
  { "ntrtscan", "Trend Micro Apex One / OfficeScan" },
  { "ds_agent", "Trend Micro Deep Security" },
  { "AVP*", "Kaspersky" },
  { "klnagent", "Kaspersky Security Center agent" },
  { "CylanceSvc", "Cylance" },
  { "CbDefense", "VMware Carbon Black" },
  { "xagt", "Trellix/FireEye Endpoint Security" },
  { "cyserver", "Palo Alto Cortex XDR" },
  { "EPSecurityService", "Bitdefender" },
  { "MsSense", "Microsoft Defender for Endpoint" },
};

/* "CN=host,OU=Servers,DC=example,DC=com" -> "example.com" (NULL: none). */
static char *domain_of_dn(const char *dn)
{
  char *out = calloc(1, strlen(dn) + 1);
  if (!out)
    return NULL;
  for (const char *p = dn; *p; ) {
    size_t n = strcspn(p, ",");
    if (n > 3 && strncasecmp(p, "DC=", 3) == 0) {
      if (*out)
        strcat(out, ".");
      strncat(out, p + 3, n - 3);
    }
    p += n;
    if (*p == ',')
      p++;
  }
  if (!*out) {
    free(out);
    return NULL;
  }
  return out;
}

static int count_gpos(struct gw_hive *software, unsigned *count)
{
  *count = 0;
  char **list = NULL;
  int r = gw_reg_subkeys(software, GPO_LIST, &list);
  if (r <= 0)
    return r;
  for (size_t i = 0; list[i]; i++) {
    CLEANUP_FREE char *key = key_printf("%s\\%s", GPO_LIST, list[i]);
    CLEANUP_FREE char *name = NULL;
    if (!key || opt_string(software, key, "GPOName", &name) == -1) {
      free_strv(list);
      return -1;
    }
    /* The local policy is on every machine. */
    if (!name || strcasecmp(name, "Local Group Policy") != 0)
      (*count)++;
  }
  free_strv(list);
  return 0;
}

int gw_read_findings(struct gw_hive *system, struct gw_hive *software,
                     const struct gw_system *sys, struct gw_findings *out)
{
  memset(out, 0, sizeof *out);
  size_t nav = 0;
  if (!(out->antivirus = calloc(1, sizeof *out->antivirus))) {
    p2v_error("cannot read the guest's services: out of memory");
    return -1;
  }
  CLEANUP_FREE char *dn = NULL;
  CLEANUP_FREE char *services_key = key_printf("%s\\Services", sys->control_set);
  char **services = NULL;
  if (software && (count_gpos(software, &out->group_policies) == -1 ||
                   opt_string(software, GP_MACHINE, "Distinguished-Name", &dn) == -1))
    goto fail;
  if (dn)
    out->domain = domain_of_dn(dn);

  int r = services_key ? gw_reg_subkeys(system, services_key, &services) : -1;
  for (size_t s = 0; r == 1 && services[s]; s++) {
    for (size_t a = 0; a < sizeof antivirus / sizeof antivirus[0]; a++) {
      if (fnmatch(antivirus[a].pattern, services[s], FNM_CASEFOLD) != 0)
        continue;
      /* A disabled one does no harm. */
      CLEANUP_FREE char *key = key_printf("%s\\%s", services_key, services[s]);
      uint32_t type = 0, start = 0;
      int sr = key ? gw_reg_get_type(system, key, "Start", &type) : -1;
      if (sr == 1 && type == 4) {
        sr = gw_reg_get_dword(system, key, "Start", &start);
        if (sr == 1 && start == START_DISABLED)
          break;
      }
      CLEANUP_FREE char *what = NULL;
      if (sr == -1 || asprintf(&what, "%s (%s)", antivirus[a].product, services[s]) < 0 ||
          push(&out->antivirus, &nav, what) == -1)
        r = -1;
      break;
    }
  }
  free_strv(services);
  if (r == -1)
    goto fail;
  return 0;
fail:
  gw_findings_clear(out);
  return -1;
}

void gw_findings_clear(struct gw_findings *f)
{
  free(f->domain);
  free_strv(f->antivirus);
  memset(f, 0, sizeof *f);
}
