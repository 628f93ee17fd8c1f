/* Private to the guest-*.c files: the open guest and the helpers the
 * Linux conversion steps share.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_GUEST_INTERNAL_H
#define P2V_GUEST_INTERNAL_H

#include <guestfs.h>

#include "guest/guest.h"
#include "guest/guest-text.h"

struct p2v_guest_converter;

struct p2v_guest {
  guestfs_h *g;
  struct p2v_guest_info info;
  char *strings[8];            /* what info's strings point to */
  char **devices;              /* the appliance's disks, in source order */
  size_t ndisks;
  const struct p2v_guest_converter *converter;   /* the one that matched */
  struct p2v_guest_hardware hardware;           /* set by the converter's convert */
};

/* guest-table.c: the guest converters, after virt-v2v's CONVERT
 * interface.  Each entry converts one family of OS; p2v_guest_convert
 * runs preflight, convert and post_convert of the one that matched. */
struct p2v_guest_converter {
  const char *name;            /* "Linux": said in refusals */
  /* 1: this converter takes the inspected OS; 0: not its OS; -1: its OS,
   * but a kind it cannot convert (the reason reported). */
  int (*match)(const struct p2v_guest_info *info);
  /* Checks that write nothing (tools and drivers in the guest); fills
   * *plan for the steps.  0, or -1 reported. */
  int (*preflight)(struct p2v_guest *gg, const struct p2v_convert_options *o, void **plan);
  /* The changes to the guest, then what must come last (e.g. rebuild
   * the initramfs with what convert wrote; may be NULL).  0 or -1. */
  int (*convert)(struct p2v_guest *gg, const struct p2v_convert_options *o, void *plan,
                 struct p2v_changes *changes);
  int (*post_convert)(struct p2v_guest *gg, const struct p2v_convert_options *o, void *plan,
                      struct p2v_changes *changes);
  void (*free_plan)(void *plan);
};
/* The converter for the inspected OS, or NULL with one error reported
 * (the refusal) and *why set. */
const struct p2v_guest_converter *p2v_guest_find_converter(const struct p2v_guest_info *info,
                                                           enum p2v_guest_failure *why);

/* linux/linux.c, windows/windows.c */
extern const struct p2v_guest_converter p2v_guest_converter_linux;
extern const struct p2v_guest_converter p2v_guest_converter_windows;

/* guest-launch.c: add the overlays and launch, KVM first, then TCG. */
guestfs_h *p2v_guest_launch(const struct p2v_guest_disk *disks, size_t ndisks);
/* Report libguestfs's last error as "WHAT: ERROR". */
void p2v_guest_error(guestfs_h *g, const char *what);

/* linux/util.c: files in the guest, as text. */
/* 0 with *text the file's content (NUL-terminated), or NULL when the file
 * does not exist; -1 reported. */
int gl_read(struct p2v_guest *gg, const char *path, char **text);
bool gl_exists(struct p2v_guest *gg, const char *path);
int gl_write(struct p2v_guest *gg, const char *path, const char *text); /* via PATH.p2v-tmp, rename */
/* Run a shell command in the guest; its output (caller frees) or NULL with
 * the error reported as "WHAT failed in the guest: ...". */
char *gl_sh(struct p2v_guest *gg, const char *what, const char *cmd);
/* The first of the NULL-terminated paths that exists in the guest, or NULL. */
const char *gl_first(struct p2v_guest *gg, const char *const *paths);

/* linux/devices.c: the VM's disk bus for a Linux guest: KVM virtio-blk,
 * or virtio-scsi with --block-driver virtio-scsi; VMware pvscsi. */
enum p2v_disk_bus gl_disk_bus(const struct p2v_convert_options *o);
/* "/dev/sda1" -> "UUID=..." (or the name the VM's disk bus gives it,
 * vdX for virtio-blk, sdX for SCSI, when the filesystem has no UUID);
 * NULL when spec is not a disk name we rewrite.  Caller frees. */
char *gl_device_spec(struct p2v_guest *gg, enum p2v_disk_bus bus, const char *spec);
/* Rewrite every disk name in a kernel command line (root=, resume=);
 * returns a new string and sets *changed. */
char *gl_rewrite_cmdline(struct p2v_guest *gg, enum p2v_disk_bus bus, const char *cmdline,
                         bool *changed);
int gl_convert_devices(struct p2v_guest *gg, const struct p2v_convert_options *o,
                       struct p2v_changes *changes);

/* The steps, each 0 or -1 reported. */
struct gl_plan {
  enum { GL_INITRAMFS_TOOLS, GL_DRACUT, GL_MKINITRD } tool;
  const char *tool_path;
  char **kernels;              /* versions under /lib/modules with the disk driver */
  size_t nkernels;
  const char *drivers[8];      /* modules to put in the initramfs (those the kernels have) */
  size_t ndrivers;
  size_t nrequired;            /* drivers[0..nrequired): the disk's, checked in the images */
};
int gl_preflight(struct p2v_guest *gg, const struct p2v_convert_options *o, struct gl_plan *plan);
void gl_plan_free(struct gl_plan *plan);
int gl_convert_bootloader(struct p2v_guest *gg, const struct p2v_convert_options *o,
                          struct p2v_changes *changes);
int gl_convert_initramfs(struct p2v_guest *gg, const struct gl_plan *plan,
                         struct p2v_changes *changes);
int gl_convert_network(struct p2v_guest *gg, const struct p2v_convert_options *o,
                       struct p2v_changes *changes);
int gl_convert_console(struct p2v_guest *gg, const struct p2v_convert_options *o,
                       struct p2v_changes *changes);
int gl_disable_vendor_agents(struct p2v_guest *gg, const struct p2v_convert_options *o,
                             struct p2v_changes *changes);
/* linux/services.c: share/p2v/vendor-agents beside the binary, or in the
 * usual prefixes (the Windows conversion reads it too); NULL when not
 * found.  Caller frees. */
int p2v_guest_vendor_agents_each(const char *file, bool windows,
                                 int (*fn)(const char *name, const char *vendor, void *opaque),
                                 void *opaque);

#endif
