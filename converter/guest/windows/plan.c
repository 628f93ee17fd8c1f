/* The VM's disk controller and NIC for a Windows guest, from the driver
 * packages found (virtio-win for KVM, VMware's for pvscsi/vmxnet3) or the
 * drivers Windows has in the box; and copying the chosen packages in.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "guest/windows/steps-internal.h"

#define VIRTIO_WIN_DEFAULT "/usr/share/virtio-win"

/* The virtio-win folder for the guest's release (client and server share
 * NT versions; InstallationType tells them apart). */
static const struct win_os_version *guest_os(const struct gw_system *sys, bool server)
{
  const char *dir;
  if (sys->major == 6)
    dir = sys->minor <= 1 ? (server ? "2k8R2" : "w7")
        : sys->minor == 2 ? (server ? "2k12" : "w8") : (server ? "2k12R2" : "w8.1");
  else if (server)
    dir = sys->build >= 26100 ? "2k25" : sys->build >= 20348 ? "2k22"
        : sys->build >= 17763 ? "2k19" : "2k16";
  else
    dir = sys->build >= 22000 ? "w11" : "w10";
  return win_os_by_dir(dir);
}

struct pci_want {
  uint16_t vendor, device, subvendor, subdevice;
  uint32_t class_code;
};
/* Transitional and modern virtio devices, as QEMU presents them. */
static const struct pci_want virtio_blk[] = {
  { 0x1af4, 0x1001, 0x1af4, 0x0002, 0x010000 }, { 0x1af4, 0x1042, 0x1af4, 0x1100, 0x010000 }, { 0 } };
static const struct pci_want virtio_scsi[] = {
  { 0x1af4, 0x1004, 0x1af4, 0x0008, 0x010000 }, { 0x1af4, 0x1048, 0x1af4, 0x1100, 0x010000 }, { 0 } };
static const struct pci_want virtio_net[] = {
  { 0x1af4, 0x1000, 0x1af4, 0x0001, 0x020000 }, { 0x1af4, 0x1041, 0x1af4, 0x1100, 0x020000 }, { 0 } };
static const struct pci_want vmw_pvscsi[] = { { 0x15ad, 0x07c0, 0x15ad, 0x07c0, 0x010700 }, { 0 } };
static const struct pci_want vmw_vmxnet3[] = { { 0x15ad, 0x07b0, 0x15ad, 0x07b0, 0x020000 }, { 0 } };

/* A package of the catalog that drives one of WANT, with its files
 * present (and a service, for a boot driver); .package NULL when none. */
static struct win_match find_driver(const struct gw_plan *plan, const struct pci_want *want,
                                    bool boot)
{
  struct win_match none = { 0 };
  if (!plan->have_catalog)
    return none;
  for (size_t i = 0; want[i].vendor; i++) {
    struct pci_device d = { .vendor = want[i].vendor, .device = want[i].device,
                            .subvendor = want[i].subvendor, .subdevice = want[i].subdevice,
                            .class_code = want[i].class_code, .has_subsystem = true };
    struct win_match m = win_match_device(&plan->cat, &d, plan->os, plan->inf_os.arch);
    if (!m.package)
      continue;
    if (!m.package->files_present) {
      p2v_warning("%s: %s lacks files it installs; not used", plan->drivers_source,
                  m.package->inf_path);
      continue;
    }
    if (boot && (!m.model || !m.model->service)) {
      p2v_warning("%s: %s installs no service; cannot start the boot disk with it",
                  plan->drivers_source, m.package->inf_path);
      continue;
    }
    return m;
  }
  return none;
}

const char *gw_package_name(const struct win_package *p, char *buf, size_t len)
{
  if (p->layout_driver) {
    snprintf(buf, len, "%s", p->layout_driver);
  } else {
    const char *base = strrchr(p->inf_path, '/');
    base = base ? base + 1 : p->inf_path;
    size_t n = strlen(base);
    if (n > 4 && strcasecmp(base + n - 4, ".inf") == 0)
      n -= 4;
    snprintf(buf, len, "%.*s", (int) n, base);
  }
  for (char *c = buf; *c; c++)
    if (!isalnum((unsigned char) *c) && *c != '-' && *c != '_' && *c != '.')
      *c = '_';
  return buf;
}

/* Is the virtio-win folder OS usable for the guest's release: the same
 * kind (client "w*", server "2k*") and not newer. */
static bool os_fits(const struct win_os_version *os, const struct win_os_version *guest)
{
  if (!os)
    return false;
  bool server = strncasecmp(os->dir, "2k", 2) == 0;
  bool guest_server = strncasecmp(guest->dir, "2k", 2) == 0;
  if (server != guest_server)
    return false;
  if (os->major != guest->major)
    return os->major < guest->major;
  if (os->minor != guest->minor)
    return os->minor < guest->minor;
  return os->build <= guest->build;
}

/* Every package for the guest's release: per driver folder the one for
 * exactly its release, else the newest older one that fits; packages
 * outside the virtio-win layout when they have models for it. */
static int choose_packages(struct gw_plan *plan)
{
  plan->packages = calloc(plan->cat.npackages + 1, sizeof *plan->packages);
  if (!plan->packages) {
    p2v_error("cannot choose driver packages: out of memory");
    return -1;
  }
  for (size_t i = 0; i < plan->cat.npackages; i++) {
    const struct win_package *p = &plan->cat.packages[i];
    if (p->driver.nmodels == 0 || !p->files_present)
      continue;
    if (!p->layout_driver) {
      plan->packages[plan->npackages++] = p;
      continue;
    }
    const struct win_os_version *os = win_os_by_dir(p->layout_os);
    if (!os_fits(os, plan->os))
      continue;
    /* Keep only the best per driver folder. */
    size_t k;
    for (k = 0; k < plan->npackages; k++) {
      const struct win_package *q = plan->packages[k];
      if (q->layout_driver && strcasecmp(q->layout_driver, p->layout_driver) == 0)
        break;
    }
    if (k == plan->npackages) {
      plan->packages[plan->npackages++] = p;
      continue;
    }
    const struct win_os_version *qos = win_os_by_dir(plan->packages[k]->layout_os);
    if (qos && os_fits(qos, os) && qos != os)
      plan->packages[k] = p;     /* p's folder is newer, still fitting */
  }
  return 0;
}

static int load_catalog(const struct p2v_convert_options *o, struct gw_plan *plan)
{
  plan->drivers_source = o->drivers_source;
  if (!plan->drivers_source && o->target == P2V_TARGET_KVM &&
      access(VIRTIO_WIN_DEFAULT, R_OK) == 0)
    plan->drivers_source = VIRTIO_WIN_DEFAULT;
  if (!plan->drivers_source)
    return 0;
  if (win_catalog_load(plan->drivers_source, &plan->inf_os, &plan->cat) == -1)
    return -1;
  plan->have_catalog = true;
  return choose_packages(plan);
}

/* The in-box fallback: SATA (AHCI) and Intel NIC. */
static int fall_back(const struct p2v_convert_options *o, struct gw_plan *plan, const char *why)
{
  bool old = plan->sys.major == 6 && plan->sys.minor <= 1;
  if (o->require_drivers) {
    p2v_error("%s, and --require-drivers refuses emulated devices: point --drivers at a "
              "virtio-win folder or ISO with drivers for %s (%s)", why, plan->os->name,
              plan->inf_os.arch);
    return -1;
  }
  p2v_warning("%s: the VM gets a SATA disk and an %s NIC (emulated, slower); point "
              "--drivers at virtio-win for %s to use virtio", why, old ? "e1000" : "e1000e",
              plan->os->name);
  plan->dev.disk_bus = P2V_DISK_BUS_SATA;
  plan->dev.nic_model = old ? P2V_NIC_E1000 : P2V_NIC_E1000E;
  plan->dev.boot_driver = old ? "msahci" : "storahci";
  plan->dev.boot_package = NULL;
  plan->dev.boot_model = NULL;
  return 0;
}

static int plan_kvm(const struct p2v_convert_options *o, struct gw_plan *plan)
{
  bool scsi = o->block_driver == P2V_DISK_BUS_VIRTIO_SCSI;
  const char *want = scsi ? "vioscsi" : "viostor";
  struct win_match disk = find_driver(plan, scsi ? virtio_scsi : virtio_blk, true);
  if (!disk.package) {
    char why[512];
    if (plan->drivers_source)
      snprintf(why, sizeof why, "%s has no %s driver for %s (%s)", plan->drivers_source, want,
               plan->os->name, plan->inf_os.arch);
    else
      snprintf(why, sizeof why, "no virtio-win drivers (no --drivers and no %s)",
               VIRTIO_WIN_DEFAULT);
    return fall_back(o, plan, why);
  }
  plan->dev.disk_bus = scsi ? P2V_DISK_BUS_VIRTIO_SCSI : P2V_DISK_BUS_VIRTIO_BLK;
  plan->dev.boot_driver = disk.model->service;
  plan->dev.boot_package = disk.package;
  plan->dev.boot_model = disk.model;
  plan->dev.drivers_from_catalog = true;
  bool old = plan->sys.major == 6 && plan->sys.minor <= 1;
  if (find_driver(plan, virtio_net, false).package)
    plan->dev.nic_model = P2V_NIC_VIRTIO;
  else {
    plan->dev.nic_model = old ? P2V_NIC_E1000 : P2V_NIC_E1000E;
    p2v_warning("%s has no netkvm driver for %s: the VM gets an %s NIC", plan->drivers_source,
                plan->os->name, old ? "e1000" : "e1000e");
  }
  return 0;
}

static int plan_vmware(struct gw_plan *plan)
{
  bool old = plan->sys.major == 6 && plan->sys.minor <= 1;
  plan->dev.disk_bus = P2V_DISK_BUS_LSI_SAS;
  plan->dev.boot_driver = "LSI_SAS";
  plan->dev.nic_model = old ? P2V_NIC_E1000 : P2V_NIC_E1000E;
  struct win_match disk = find_driver(plan, vmw_pvscsi, true);
  if (disk.package) {
    plan->dev.disk_bus = P2V_DISK_BUS_PVSCSI;
    plan->dev.boot_driver = disk.model->service;
    plan->dev.boot_package = disk.package;
    plan->dev.boot_model = disk.model;
  }
  if (find_driver(plan, vmw_vmxnet3, false).package)
    plan->dev.nic_model = P2V_NIC_VMXNET3;
  plan->dev.drivers_from_catalog = plan->npackages > 0;
  return 0;
}

int gw_plan_devices(struct p2v_guest *gg, const struct p2v_convert_options *o,
                    struct gw_plan *plan)
{
  (void) gg;
  plan->os = guest_os(&plan->sys, plan->server);
  if (!plan->os) {
    p2v_error("the source runs Windows %u.%u build %u, a release p2v does not know",
              plan->sys.major, plan->sys.minor, plan->sys.build);
    return -1;
  }
  plan->inf_os = (struct inf_os) { "amd64", plan->os->major, plan->os->minor,
                                   plan->sys.build ? plan->sys.build : plan->os->build };
  if (load_catalog(o, plan) == -1)
    return -1;
  return o->target == P2V_TARGET_KVM ? plan_kvm(o, plan) : plan_vmware(plan);
}

/* ---- copying the packages in ---- */

/* The folder of P's INF, lower case, with its trailing '/' ("" at the top). */
static char *inf_folder(const struct win_package *p)
{
  const char *slash = strrchr(p->inf_path, '/');
  char *dir = strndup(p->inf_path, slash ? (size_t) (slash - p->inf_path + 1) : 0);
  for (char *c = dir; c && *c; c++)
    *c = (char) tolower((unsigned char) *c);
  return dir;
}

/* Extract the files directly in the folders of the chosen packages. */
static bool want_file(const char *path, void *opaque)
{
  const struct gw_plan *plan = opaque;
  const char *slash = strrchr(path, '/');
  size_t dirlen = slash ? (size_t) (slash - path + 1) : 0;
  for (size_t i = 0; i <= plan->npackages; i++) {
    const struct win_package *p = i < plan->npackages ? plan->packages[i] : plan->dev.boot_package;
    if (!p)
      continue;
    CLEANUP_FREE char *dir = inf_folder(p);
    if (dir && strlen(dir) == dirlen && strncasecmp(dir, path, dirlen) == 0)
      return true;
  }
  return false;
}

static int upload(struct p2v_guest *gg, const char *local, const char *guest_path)
{
  if (guestfs_upload(gg->g, local, guest_path) == -1) {
    p2v_guest_error(gg->g, "cannot copy a driver file into the guest");
    return -1;
  }
  return 0;
}

/* The package's files (INF, .sys, .cat, ...) to Drivers\VirtIO\NAME. */
static int copy_package(struct p2v_guest *gg, const struct gw_plan *plan,
                        const struct win_package *p, const char *extracted,
                        struct p2v_changes *changes)
{
  char name[64];
  gw_package_name(p, name, sizeof name);
  CLEANUP_FREE char *rel = NULL, *dir = inf_folder(p), *dest = NULL;
  if (!dir || asprintf(&rel, "Drivers/VirtIO/%s", name) < 0 ||
      !(dest = gw_guest_path(gg, plan, rel))) {
    p2v_error("cannot copy drivers: out of memory");
    return -1;
  }
  if (guestfs_mkdir_p(gg->g, dest) == -1) {
    p2v_guest_error(gg->g, "cannot create the driver folder in the guest");
    return -1;
  }
  size_t dirlen = strlen(dir), copied = 0;
  CLEANUP_FREE char *inf = strdup(p->inf_path);
  for (char *c = inf; c && *c; c++)
    *c = (char) tolower((unsigned char) *c);
  /* The catalog's file list (lower case) and the INF itself. */
  for (size_t i = 0; i <= plan->cat.nfiles; i++) {
    const char *f = i < plan->cat.nfiles ? plan->cat.files[i] : inf;
    if (!f || strncmp(f, dir, dirlen) != 0 || strchr(f + dirlen, '/'))
      continue;
    CLEANUP_FREE char *local = NULL, *target = NULL;
    if (asprintf(&local, "%s/%s", extracted, f) < 0 ||
        asprintf(&target, "%s/%s", dest, f + dirlen) < 0) {
      p2v_error("cannot copy drivers: out of memory");
      return -1;
    }
    if (access(local, R_OK) != 0)
      continue;                  /* another package's folder's file: not extracted */
    if (upload(gg, local, target) == -1)
      return -1;
    copied++;
  }
  return p2v_changes_add(changes, "drivers", dest, "copied %zu files of %s (%s, %s) for "
                         "installation at first boot", copied, name, p->inf_path,
                         p->driver.version.driver_ver ? p->driver.version.driver_ver : "no DriverVer");
}

/* The boot driver's .sys into System32\drivers, so it loads at boot. */
static int copy_boot_driver(struct p2v_guest *gg, const struct gw_plan *plan,
                            const char *extracted, struct p2v_changes *changes)
{
  const struct inf_model *m = plan->dev.boot_model;
  const char *sys = m->service_binary ? m->service_binary : m->nfiles ? m->files[0] : NULL;
  if (!sys) {
    p2v_error("%s: %s names no driver file for %s", plan->drivers_source,
              plan->dev.boot_package->inf_path, plan->dev.boot_driver);
    return -1;
  }
  CLEANUP_FREE char *dir = inf_folder(plan->dev.boot_package), *local = NULL, *rel = NULL;
  CLEANUP_FREE char *target = NULL;
  if (!dir || asprintf(&local, "%s/%s%s", extracted, dir, sys) < 0 ||
      asprintf(&rel, "System32/drivers/%s", sys) < 0 ||
      !(target = gw_guest_path(gg, plan, rel))) {
    p2v_error("cannot copy drivers: out of memory");
    return -1;
  }
  for (char *c = local + strlen(extracted); *c; c++)
    *c = (char) tolower((unsigned char) *c);
  if (upload(gg, local, target) == -1)
    return -1;
  return p2v_changes_add(changes, "drivers", target, "boot disk driver %s copied from %s",
                         plan->dev.boot_driver, plan->dev.boot_package->inf_path);
}

int gw_copy_drivers(struct p2v_guest *gg, struct gw_plan *plan, struct p2v_changes *changes)
{
  if (!plan->have_catalog || (plan->npackages == 0 && !plan->dev.boot_package))
    return 0;
  CLEANUP_FREE char *extracted = NULL;
  if (asprintf(&extracted, "%s/drivers", plan->tmpdir) < 0) {
    p2v_error("cannot copy drivers: out of memory");
    return -1;
  }
  if (mkdir(extracted, 0700) != 0 && errno != EEXIST) {
    p2v_error("cannot create %s: %m", extracted);
    return -1;
  }
  if (win_source_extract(plan->drivers_source, want_file, plan, extracted) == -1)
    return -1;
  if (plan->dev.boot_package && copy_boot_driver(gg, plan, extracted, changes) == -1)
    return -1;
  for (size_t i = 0; i < plan->npackages; i++)
    if (copy_package(gg, plan, plan->packages[i], extracted, changes) == -1)
      return -1;
  return 0;
}
