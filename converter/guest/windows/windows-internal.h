/* Private to guest/windows/: converting a Windows guest offline, on the
 * overlays, so it boots on the target's virtual hardware
 * (docs/conversion.md, "Windows").  The hives are downloaded from the
 * guest, edited here with hivex (registry.c is the only file that includes
 * hivex.h), and uploaded back; files go in through libguestfs.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_GUEST_WINDOWS_INTERNAL_H
#define P2V_GUEST_WINDOWS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest/guest-internal.h"
#include "windows-catalog.h"     /* common/drivers: INF packages */

/* ---- registry.c: one hive file on the host, through hivex ----
 * Key paths are relative to the hive's root, '\'-separated, matched
 * ignoring case as Windows does ("ControlSet002\\Services\\viostor").
 * Value names too; "" is the key's default value.  Every function that
 * can fail reports one p2v_error line naming the hive file and the key. */
struct gw_hive;

/* Open a local copy of a hive; WRITE: edits allowed, kept until commit. */
struct gw_hive *gw_hive_open(const char *local_path, bool write);
/* Write the edits back to the local file (hivex_commit).  0 or -1. */
int gw_hive_commit(struct gw_hive *h);
void gw_hive_close(struct gw_hive *h);
/* Edits that changed the hive since it was opened: setting a value to
 * what it already holds, or deleting what is absent, is none.  Lets a
 * caller record a change only when there was one, and skip the upload. */
unsigned long gw_hive_edits(const struct gw_hive *h);

/* Lookups: 1 found, 0 absent (key or value), -1 error (wrong type too). */
int gw_reg_key_exists(struct gw_hive *h, const char *key);
int gw_reg_get_dword(struct gw_hive *h, const char *key, const char *name, uint32_t *value);
/* REG_SZ or REG_EXPAND_SZ, decoded from UTF-16LE to UTF-8; caller frees. */
int gw_reg_get_string(struct gw_hive *h, const char *key, const char *name, char **value);
/* REG_MULTI_SZ: a NULL-terminated vector; caller frees each and it. */
int gw_reg_get_multi_string(struct gw_hive *h, const char *key, const char *name,
                            char ***values);
/* The type of a value (hive_type numbers: 1 REG_SZ, 4 REG_DWORD, 7
 * REG_MULTI_SZ...), to choose a reader without an error line. */
int gw_reg_get_type(struct gw_hive *h, const char *key, const char *name, uint32_t *type);
/* REG_BINARY or any type, raw bytes; caller frees. */
int gw_reg_get_binary(struct gw_hive *h, const char *key, const char *name,
                      uint8_t **data, size_t *size);
/* The names of KEY's subkeys (NULL-terminated; caller frees each and it):
 * 1, 0 when KEY is absent, -1 error. */
int gw_reg_subkeys(struct gw_hive *h, const char *key, char ***names);

/* Edits create missing keys on the way and replace a value of the same
 * name (whatever its type), keeping the key's other values.  0 or -1. */
int gw_reg_set_dword(struct gw_hive *h, const char *key, const char *name, uint32_t value);
int gw_reg_set_string(struct gw_hive *h, const char *key, const char *name,
                      const char *value);                       /* REG_SZ */
int gw_reg_set_expand_string(struct gw_hive *h, const char *key, const char *name,
                             const char *value);                /* REG_EXPAND_SZ */
int gw_reg_set_multi_string(struct gw_hive *h, const char *key, const char *name,
                            const char *const *values);         /* REG_MULTI_SZ, NULL-terminated */
int gw_reg_set_binary(struct gw_hive *h, const char *key, const char *name, uint32_t type,
                      const uint8_t *data, size_t size);
/* Remove one value (absent: not an error).  0 or -1. */
int gw_reg_delete_value(struct gw_hive *h, const char *key, const char *name);
/* Remove a key and everything under it (absent: not an error).  0 or -1. */
int gw_reg_delete_key(struct gw_hive *h, const char *key);

/* ---- system.c: facts read from the SYSTEM and SOFTWARE hives ---- */
struct gw_system {
  unsigned current;            /* Select\Current */
  unsigned default_set;        /* Select\Default */
  char control_set[32];        /* "ControlSet002": the only set ever written */
  bool has_driver_database;    /* SYSTEM\DriverDatabase (2012 and later) */
  unsigned major, minor, build;   /* SOFTWARE\Microsoft\Windows NT\CurrentVersion */
  char *product_name;          /* "Windows Server 2008 R2 Standard" */
  char *system_root;           /* "C:\Windows" as the guest spells it */
  bool real_time_is_universal; /* TimeZoneInformation\RealTimeIsUniversal=1 */
  bool fast_startup;           /* Session Manager\Power\HiberbootEnabled=1 */
};
int gw_system_read(struct gw_hive *system, struct gw_hive *software, struct gw_system *out);
void gw_system_clear(struct gw_system *s);

/* ---- drivers.c: boot drivers and the driver store (registry + files) ---- */

/* What the VM's devices will be, chosen in preflight from the drivers
 * found; the VM metadata and the boot test follow it. */
struct gw_device_plan {
  enum p2v_disk_bus disk_bus;
  enum p2v_nic_model nic_model;
  const char *boot_driver;     /* service made boot-start: "viostor", "vioscsi",
                                  "storahci", "msahci", "LSI_SAS", "pvscsi" */
  const struct win_package *boot_package;    /* the INF package for it, NULL when in-box */
  const struct inf_model *boot_model;
  bool drivers_from_catalog;   /* virtio-win (or VMware) packages are copied in */
};

/* ---- drivers.c: the registry edits of a conversion ----
 * Each writes only into sys->control_set (the one Select\Current boots),
 * records every change in CHANGES (area "registry", file
 * "HKLM\SYSTEM\ControlSet00N\..." or "HKLM\SOFTWARE\..."), and is
 * idempotent: run again on its own output it changes and records nothing.
 * Each returns 0, or -1 with one error reported.  docs/conversion.md,
 * "Windows: registry changes", says which keys and why. */

/* Where the driver packages go in the guest, for DevicePath and pnputil. */
#define GW_DRIVER_STORE_DIR "%SystemRoot%\\Drivers\\VirtIO"

/* a: the boot disk's driver from an INF: Services\<MODEL->service> with
 * Type, Start=0 (boot), Group, ErrorControl from the INF's AddService
 * section and ImagePath System32\drivers\<MODEL->service_binary>,
 * StartOverride removed; then the device registered for boot, for every
 * hardware ID of PKG's models installing that service:
 * Control\CriticalDeviceDatabase\pci#ven_...  without SYSTEM\DriverDatabase
 * (2008 R2), DriverDatabase\{DriverInfFiles,DeviceIds,DriverPackages} with
 * it (2012 and later).  The .sys itself is the caller's to copy. */
int gw_register_boot_driver(struct gw_hive *system, const struct gw_system *sys,
                            const struct win_package *pkg, const struct inf_model *model,
                            struct p2v_changes *changes);
/* b: an in-box driver made boot-start (Start=0, StartOverride removed):
 * "storahci", "msahci", "LSI_SAS"...  A guest without Services\SERVICE is
 * an error (the caller picked a driver this Windows does not have). */
int gw_make_boot_start(struct gw_hive *system, const struct gw_system *sys,
                       const char *service, struct p2v_changes *changes);
/* c: DIR (GW_DRIVER_STORE_DIR) added once to SOFTWARE's
 * Microsoft\Windows\CurrentVersion DevicePath, so Plug and Play finds
 * the packages for devices that appear at boot. */
int gw_extend_device_path(struct gw_hive *software, const char *dir,
                          struct p2v_changes *changes);
/* d: the "windows:NAME" lines of the vendor agents list (AGENTS_FILE; NULL:
 * the installed list; p2v_guest_vendor_agents_each reads it) whose service
 * is in the guest and not already disabled: Start=4, each recorded with
 * its vendor.  NAME may hold shell
 * wildcards; matching ignores case. */
int gw_disable_vendor_services(struct gw_hive *system, const struct gw_system *sys,
                               const char *agents_file, struct p2v_changes *changes);

/* e: an interface with a static IPv4 configuration
 * (Tcpip\Parameters\Interfaces\{GUID} with EnableDHCP=0), and the network
 * adapter it belongs to (Control\Class\{4d36e972-...}\NNNN whose
 * NetCfgInstanceId is GUID), as far as the registry tells. */
struct gw_static_ip {
  char *guid;                  /* "{...}" as the hive spells it */
  char **addresses;            /* IPAddress, NULL-terminated, never NULL */
  char **masks;                /* SubnetMask, in step with addresses */
  char **gateways;             /* DefaultGateway (may be empty) */
  char **dns;                  /* NameServer split at ',' and ' ' (may be empty) */
  char *adapter;               /* the adapter's DriverDesc, or NULL */
  char *adapter_key;           /* "0007" under the class key, or NULL */
  char *pci_id;                /* DeviceInstanceID or MatchingDeviceId ("pci\ven_8086&dev_10d3"), or NULL */
  char *mac;                   /* NetworkAddress (an override) as "aa:bb:cc:dd:ee:ff", or NULL */
};
struct gw_static_ips {
  struct gw_static_ip *items;
  size_t n;
};
int gw_read_static_ips(struct gw_hive *system, const struct gw_system *sys,
                       struct gw_static_ips *out);
void gw_static_ips_clear(struct gw_static_ips *ips);

/* f: what the registry tells for the warnings. */
struct gw_findings {
  unsigned group_policies;     /* GPOs applied to the machine (Group Policy\History...) */
  char *domain;                /* the Active Directory domain joined, or NULL */
  char **antivirus;            /* "Symantec Endpoint Protection (SepMasterService)", NULL-terminated,
                                  never NULL: services of known antivirus not disabled */
};
int gw_read_findings(struct gw_hive *system, struct gw_hive *software,
                     const struct gw_system *sys, struct gw_findings *out);
void gw_findings_clear(struct gw_findings *f);

/* ---- firstboot.c: the first-boot service and its scripts ----
 * p2v-firstboot.exe (firstboot/) is copied to
 * C:\Program Files\p2v\p2v-firstboot.exe and registered as the service
 * "p2v-firstboot" (auto start) in the current control set; scripts go to
 * C:\Program Files\p2v\firstboot\NNNN-NAME.cmd and run once, in order. */
struct gw_firstboot;           /* scripts collected during convert */
struct gw_firstboot *gw_firstboot_new(void);
/* Find p2v-firstboot.exe on the host (o->firstboot_exe, else share/p2v/
 * beside the binary): call in preflight, so a build without mingw-w64
 * refuses a Windows guest with one line before anything is written.
 * gw_firstboot_install looks in share/p2v/ itself when this was not
 * called.  0 or -1. */
int gw_firstboot_preflight(struct gw_firstboot *fb, const struct p2v_convert_options *o);
/* Add a script run at first boot (CMD text, CRLF added); NAME is a short
 * word for the file name and the log.  0 or -1. */
int gw_firstboot_add(struct gw_firstboot *fb, const char *name, const char *cmd);
/* Copy the service and the scripts into the guest (numbered after any
 * scripts an earlier conversion left; the same script still waiting is
 * not added twice) and register the service in SYSTEM's current control
 * set (area "firstboot"; an earlier conversion's identical exe and
 * registration are left as they are and not recorded).  The caller
 * commits the hive.  Nothing to do when no script was added.  0 or -1. */
int gw_firstboot_install(struct p2v_guest *gg, struct gw_hive *system,
                         const struct gw_system *sys, struct gw_firstboot *fb,
                         struct p2v_changes *changes);
/* The registration alone (install's last step, tested on its own):
 * Services\p2v-firstboot in sys->control_set, ImagePath EXE_WINDOWS
 * ("C:\Program Files\p2v\p2v-firstboot.exe") quoted, recorded only when
 * something changed.  0 or -1. */
int gw_firstboot_register(struct gw_hive *system, const struct gw_system *sys,
                          const char *exe_windows, struct p2v_changes *changes);
void gw_firstboot_free(struct gw_firstboot *fb);

#endif
