/* Converting a Windows guest so it boots on the target's virtual
 * hardware: the converter entry of the guest table.  Preflight downloads
 * the SYSTEM and SOFTWARE hives, refuses what cannot be converted and
 * picks the VM's devices, writing nothing; convert copies the drivers in,
 * edits the hives (drivers.c, firstboot.c) and uploads them back.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "log.h"
#include "guest/windows/steps-internal.h"

char *gw_guest_path(struct p2v_guest *gg, const struct gw_plan *plan, const char *rel)
{
  CLEANUP_FREE char *want = NULL;
  if (asprintf(&want, "%s/%s", plan->systemroot, rel) < 0)
    return NULL;
  /* Resolve the longest prefix that exists; keep the rest as written. */
  size_t len = strlen(want);
  for (;;) {
    char saved = want[len];
    want[len] = '\0';
    char *found = guestfs_case_sensitive_path(gg->g, want);
    want[len] = saved;
    if (found && guestfs_exists(gg->g, found) == 1) {
      char *out;
      if (asprintf(&out, "%s%s", found, want + len) < 0)
        out = NULL;
      free(found);
      return out;
    }
    free(found);
    while (len > 0 && want[len - 1] != '/')
      len--;
    if (len <= 1)
      return strdup(want);
    len--;                       /* drop the '/' */
  }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st; (void) flag; (void) ftw;
  return remove(path);
}

static void windows_free_plan(void *p)
{
  struct gw_plan *plan = p;
  if (!plan)
    return;
  if (plan->tmpdir)
    nftw(plan->tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(plan->tmpdir);
  free(plan->system_local);
  free(plan->software_local);
  free(plan->system_guest);
  free(plan->software_guest);
  free(plan->systemroot);
  free(plan->packages);
  if (plan->have_catalog)
    win_catalog_clear(&plan->cat);
  gw_system_clear(&plan->sys);
  gw_firstboot_free(plan->fb);
  free(plan);
}

/* 64-bit Windows 7 / Server 2008 R2 (NT 6.1) and later. */
static int windows_match(const struct p2v_guest_info *info)
{
  if (strcmp(info->type, "windows") != 0)
    return 0;
  if (strcmp(info->arch, "x86_64") != 0) {
    p2v_error("the source runs %s for %s: only 64-bit (x86_64) Windows can be converted",
              info->product_name, info->arch);
    return -1;
  }
  if (info->major < 6 || (info->major == 6 && info->minor < 1)) {
    p2v_error("the source runs %s (Windows NT %d.%d): Windows older than 7 and Server "
              "2008 R2 cannot be converted; upgrade it on the source first",
              info->product_name, info->major, info->minor);
    return -1;
  }
  return 1;
}

/* The hive at SYSTEMROOT/System32/config/NAME: its guest path, and a
 * copy downloaded to the plan's private folder. */
static int download_hive(struct p2v_guest *gg, struct gw_plan *plan, const char *name,
                         char **guest_path, char **local_path)
{
  CLEANUP_FREE char *rel = NULL;
  if (asprintf(&rel, "System32/config/%s", name) < 0 ||
      !(*guest_path = gw_guest_path(gg, plan, rel)) ||
      asprintf(local_path, "%s/%s", plan->tmpdir, name) < 0) {
    p2v_error("cannot read the guest's registry: out of memory");
    return -1;
  }
  if (guestfs_is_file(gg->g, *guest_path) != 1) {
    p2v_error("the guest has no %s hive at %s: not a Windows system root", name, *guest_path);
    return -1;
  }
  if (guestfs_download(gg->g, *guest_path, *local_path) == -1) {
    CLEANUP_FREE char *what = NULL;
    if (asprintf(&what, "cannot download the guest's %s hive", name) < 0)
      what = NULL;
    p2v_guest_error(gg->g, what ? what : "cannot download a hive");
    return -1;
  }
  return 0;
}

/* Mount the Windows volume on / (read-only for the checks). */
static int mount_root(struct p2v_guest *gg, bool write)
{
  guestfs_umount_all(gg->g);
  int r = write ? guestfs_mount(gg->g, gg->info.root, "/")
                : guestfs_mount_ro(gg->g, gg->info.root, "/");
  if (r == -1) {
    p2v_guest_error(gg->g, write ? "cannot mount the guest's Windows volume for writing"
                                 : "cannot mount the guest's Windows volume");
    return -1;
  }
  return 0;
}

/* The system root, the release's kind and the two hives, downloaded. */
static int read_guest(struct p2v_guest *gg, struct gw_plan *plan)
{
  CLEANUP_FREE char *root = guestfs_inspect_get_windows_systemroot(gg->g, gg->info.root);
  if (!root) {
    p2v_guest_error(gg->g, "cannot find the guest's Windows folder");
    return -1;
  }
  CLEANUP_FREE char *variant = guestfs_inspect_get_product_variant(gg->g, gg->info.root);
  plan->server = variant && strcasecmp(variant, "server") == 0;
  if (!(plan->systemroot = strdup(root))) {
    p2v_error("cannot check the guest: out of memory");
    return -1;
  }
  if (download_hive(gg, plan, "SYSTEM", &plan->system_guest, &plan->system_local) == -1 ||
      download_hive(gg, plan, "SOFTWARE", &plan->software_guest, &plan->software_local) == -1)
    return -1;
  return 0;
}

/* The facts of the hives, then the refusals and warnings. */
static int check_guest(struct p2v_guest *gg, struct gw_plan *plan)
{
  struct gw_hive *system = gw_hive_open(plan->system_local, false);
  struct gw_hive *software = system ? gw_hive_open(plan->software_local, false) : NULL;
  int r = software ? gw_system_read(system, software, &plan->sys) : -1;
  if (r == 0 && (gw_check_control_set(&plan->sys) == -1 || gw_check_system_disk(gg) == -1 ||
                 gw_check_free_space(gg) == -1))
    r = -1;
  if (r == 0)
    gw_warn_risks(gg, system, software, &plan->sys);
  if (software)
    gw_hive_close(software);
  if (system)
    gw_hive_close(system);
  return r;
}

static int windows_preflight(struct p2v_guest *gg, const struct p2v_convert_options *o,
                             void **plan_out)
{
  struct gw_plan *plan = calloc(1, sizeof *plan);
  if (!plan) {
    p2v_error("cannot check the guest: out of memory");
    return -1;
  }
  const char *tmp = getenv("TMPDIR");
  if (asprintf(&plan->tmpdir, "%s/p2v-windows.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0 ||
      !mkdtemp(plan->tmpdir)) {
    p2v_error("cannot create a private folder for the guest's hives: %m");
    free(plan->tmpdir);
    plan->tmpdir = NULL;
    goto err;
  }
  /* The NTFS probe needs the volume unmounted; nothing is mounted yet. */
  if (gw_check_ntfs_state(gg) == -1 || mount_root(gg, false) == -1 ||
      gw_check_hibernated(gg) == -1 || read_guest(gg, plan) == -1 ||
      check_guest(gg, plan) == -1 || gw_plan_devices(gg, o, plan) == -1)
    goto err;
  if (!(plan->fb = gw_firstboot_new()) || gw_firstboot_preflight(plan->fb, o) == -1)
    goto err;
  *plan_out = plan;
  p2v_info("converting %s (%s) for %s: boot disk driver %s, %s", gg->info.product_name,
           plan->sys.control_set, o->target == P2V_TARGET_KVM ? "KVM" : "VMware",
           plan->dev.boot_driver,
           plan->dev.drivers_from_catalog ? "driver packages copied in" : "in-box drivers only");
  return 0;
err:
  windows_free_plan(plan);
  return -1;
}

/* The first-boot script that installs every copied package with pnputil
 * (the boot driver is already in place; this adds the rest to the driver
 * store and binds them to their devices). */
static int add_pnputil_script(const struct gw_plan *plan, struct gw_firstboot *fb)
{
  if (plan->npackages == 0)
    return 0;
  struct gl_buf b = { 0 };
  char name[64];
  for (size_t i = 0; i < plan->npackages; i++) {
    gw_package_name(plan->packages[i], name, sizeof name);
    /* pnputil /add-driver exists from Windows 10; -i -a before. */
    if (plan->sys.major >= 10)
      gl_buf_printf(&b, "pnputil /add-driver \"%%SystemRoot%%\\Drivers\\VirtIO\\%s\\*.inf\" "
                    "/install\n", name);
    else
      gl_buf_printf(&b, "pnputil -i -a \"%%SystemRoot%%\\Drivers\\VirtIO\\%s\\*.inf\"\n", name);
  }
  gl_buf_printf(&b, "exit /b 0\n");
  int r = b.s ? gw_firstboot_add(fb, "pnputil", b.s) : -1;
  free(b.s);
  return r;
}

static int upload_hive(struct p2v_guest *gg, const char *local, const char *guest_path)
{
  if (guestfs_upload(gg->g, local, guest_path) == -1) {
    p2v_guest_error(gg->g, "cannot write a registry hive back into the guest");
    return -1;
  }
  return 0;
}

static int windows_convert(struct p2v_guest *gg, const struct p2v_convert_options *o, void *p,
                           struct p2v_changes *changes)
{
  struct gw_plan *plan = p;
  struct gw_hive *system = NULL, *software = NULL;
  struct gw_firstboot *fb = plan->fb;
  int r = -1;
  if (mount_root(gg, true) == -1)
    goto out;
  if (gw_copy_drivers(gg, plan, changes) == -1)
    goto out;
  if (!(system = gw_hive_open(plan->system_local, true)) ||
      !(software = gw_hive_open(plan->software_local, true)))
    goto out;
  /* pnputil first: a NIC's driver must be bound before its address is set. */
  if (gw_registry_convert(gg, o, system, software, plan, changes) == -1 ||
      add_pnputil_script(plan, fb) == -1 ||
      gw_convert_static_ips(gg, o, system, plan, fb, changes) == -1 ||
      gw_firstboot_install(gg, system, &plan->sys, fb, changes) == -1)
    goto out;
  if (gw_hive_commit(system) == -1 || gw_hive_commit(software) == -1 ||
      upload_hive(gg, plan->system_local, plan->system_guest) == -1 ||
      upload_hive(gg, plan->software_local, plan->software_guest) == -1)
    goto out;
  if (gg->info.uefi && gw_convert_uefi(gg, changes) == -1)
    goto out;
  gg->hardware.disk_bus = plan->dev.disk_bus;
  gg->hardware.nic_model = plan->dev.nic_model;
  gg->hardware.rtc = plan->sys.real_time_is_universal ? P2V_RTC_UTC : P2V_RTC_LOCALTIME;
  r = 0;
out:
  if (software)
    gw_hive_close(software);
  if (system)
    gw_hive_close(system);
  return r;
}

const struct p2v_guest_converter p2v_guest_converter_windows = {
  .name = "Windows",
  .match = windows_match,
  .preflight = windows_preflight,
  .convert = windows_convert,
  .post_convert = NULL,
  .free_plan = windows_free_plan,
};
