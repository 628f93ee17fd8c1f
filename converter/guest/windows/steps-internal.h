/* Private to guest/windows/: the orchestration's own steps (windows.c,
 * checks.c, plan.c, network.c, uefi.c), beside the agreed interface of
 * windows-internal.h (registry, system facts, boot drivers, first boot).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_GUEST_WINDOWS_STEPS_INTERNAL_H
#define P2V_GUEST_WINDOWS_STEPS_INTERNAL_H

#include "guest/windows/windows-internal.h"

#define GW_MIN_FREE_BYTES (100ull << 20)   /* free space on C: the conversion needs */

/* What preflight found, for convert (windows.c frees it). */
struct gw_plan {
  struct gw_device_plan dev;
  const struct win_os_version *os;   /* the virtio-win folder the guest's version uses */
  struct inf_os inf_os;
  const char *drivers_source;  /* the catalog's source, or NULL */
  struct win_catalog cat;
  bool have_catalog;
  const struct win_package **packages;   /* copied to Drivers\VirtIO, NULL-terminated */
  size_t npackages;
  char *tmpdir;                /* private: hives and extracted driver files */
  char *system_local, *software_local;   /* the downloaded hives */
  char *system_guest, *software_guest;   /* their paths in the guest */
  char *systemroot;            /* "/Windows", as the guest spells it */
  struct gw_system sys;
  bool server;                 /* a Server release (InstallationType) */
  struct gw_firstboot *fb;     /* the service found in preflight, scripts added in convert */
};

/* checks.c: the refusals (one p2v_error line, -1) and warnings, before
 * anything is written.  The root is not mounted for the NTFS probe; the
 * others run with it mounted read-only. */
int gw_check_ntfs_state(struct p2v_guest *gg);
int gw_check_hibernated(struct p2v_guest *gg);
int gw_check_system_disk(struct p2v_guest *gg);       /* BitLocker, dynamic disk */
int gw_check_free_space(struct p2v_guest *gg);
int gw_check_control_set(const struct gw_system *sys);
void gw_warn_risks(struct p2v_guest *gg, struct gw_hive *system, struct gw_hive *software,
                   const struct gw_system *sys);

/* plan.c: the VM's devices from the drivers found; -1 reported (a
 * refusal with --require-drivers, or an unreadable --drivers). */
int gw_plan_devices(struct p2v_guest *gg, const struct p2v_convert_options *o,
                    struct gw_plan *plan);
/* Copy the boot driver to System32\drivers and the packages to
 * %SystemRoot%\Drivers\VirtIO\<package>\; each recorded.  0 or -1. */
int gw_copy_drivers(struct p2v_guest *gg, struct gw_plan *plan, struct p2v_changes *changes);
/* The folder name a package gets under Drivers\VirtIO. */
const char *gw_package_name(const struct win_package *p, char *buf, size_t len);

/* network.c: static IPv4 addresses re-applied at first boot to the
 * adapter with the same MAC.  0 or -1. */
int gw_convert_static_ips(struct p2v_guest *gg, const struct p2v_convert_options *o,
                          struct gw_hive *system, const struct gw_plan *plan,
                          struct gw_firstboot *fb, struct p2v_changes *changes);

/* uefi.c: \EFI\Boot\bootx64.efi on the ESP (copied from the Windows boot
 * manager when missing).  0 or -1. */
int gw_convert_uefi(struct p2v_guest *gg, struct p2v_changes *changes);

/* edits.c: the registry edits of drivers.c in their order: the boot
 * driver made boot-start and registered for its device, DevicePath,
 * vendor services disabled.  0 or -1. */
int gw_registry_convert(struct p2v_guest *gg, const struct p2v_convert_options *o,
                        struct gw_hive *system, struct gw_hive *software,
                        const struct gw_plan *plan, struct p2v_changes *changes);

/* windows.c: a guest path under the system root, its components found
 * ignoring case ("System32/drivers" -> "/Windows/System32/Drivers");
 * missing trailing components are kept as written.  Caller frees. */
char *gw_guest_path(struct p2v_guest *gg, const struct gw_plan *plan, const char *rel);

#endif
