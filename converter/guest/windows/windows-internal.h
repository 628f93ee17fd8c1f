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

/* Lookups: 1 found, 0 absent (key or value), -1 error (wrong type too). */
int gw_reg_key_exists(struct gw_hive *h, const char *key);
int gw_reg_get_dword(struct gw_hive *h, const char *key, const char *name, uint32_t *value);
/* REG_SZ or REG_EXPAND_SZ, decoded from UTF-16LE to UTF-8; caller frees. */
int gw_reg_get_string(struct gw_hive *h, const char *key, const char *name, char **value);
/* REG_MULTI_SZ: a NULL-terminated vector; caller frees each and it. */
int gw_reg_get_multi_string(struct gw_hive *h, const char *key, const char *name,
                            char ***values);
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
 * set (replacing an earlier registration).  The caller commits the hive.
 * Nothing to do when no script was added.  0 or -1. */
int gw_firstboot_install(struct p2v_guest *gg, struct gw_hive *system,
                         const struct gw_system *sys, struct gw_firstboot *fb,
                         struct p2v_changes *changes);
void gw_firstboot_free(struct gw_firstboot *fb);

#endif
