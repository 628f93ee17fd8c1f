/* The guest inside the source disks: inspected and converted with
 * libguestfs on throwaway qcow2 overlays backed by the (read-only) source,
 * before the bulk copy, so anything that would stop the migration fails
 * in minutes (docs/conversion.md).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_GUEST_H
#define P2V_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm/vm.h"          /* enum p2v_target */

struct p2v_survey;
struct p2v_changes;

/* One source disk as qemu (inside libguestfs) can read it. */
struct p2v_guest_disk {
  const char *source_uri;      /* "nbd://127.0.0.1:10809/sda", "nbd+unix:///sda?socket=..." */
  const char *overlay_path;    /* the qcow2 overlay to create (backed by source_uri,
                                  raw, the same size as the source) */
};

/* Why opening or converting failed, so `run` can pick its failure kind. */
enum p2v_guest_failure {
  P2V_GUEST_FAILED,            /* libguestfs or the appliance failed */
  P2V_GUEST_NO_OS,             /* inspection found no operating system */
  P2V_GUEST_UNSUPPORTED,       /* an OS we cannot convert (which and why said) */
  P2V_GUEST_CANNOT_CONVERT,    /* e.g. no initramfs tool, no kernel with the target's drivers */
};

/* What inspection found.  Strings are never NULL ("unknown" when not known). */
struct p2v_guest_info {
  const char *type;            /* "linux", "windows" */
  const char *distro;          /* "debian", "rhel", "ubuntu", "windows" */
  const char *product_name;    /* "Debian GNU/Linux 12 (bookworm)" */
  const char *arch;            /* "x86_64" */
  const char *hostname;
  const char *root;            /* the root filesystem's device in the appliance */
  int major, minor;
  bool uefi;                   /* boots with UEFI (an ESP and an EFI boot loader) */
  const char *osinfo;          /* libosinfo short id, e.g. "debian12"; "unknown" */
};

struct p2v_guest;

/* Create the overlays, launch libguestfs (KVM first; if the launch fails
 * or hangs, once more with TCG, saying so once), inspect.  Exactly one OS
 * is expected.  NULL with one error reported and *why set. */
struct p2v_guest *p2v_guest_open(const struct p2v_guest_disk *disks, size_t ndisks,
                                 enum p2v_guest_failure *why);
const struct p2v_guest_info *p2v_guest_info(const struct p2v_guest *g);

struct p2v_convert_options {
  enum p2v_target target;
  const struct p2v_survey *survey;   /* NICs (names, MACs, addresses); NULL if none */
  bool keep_mac;               /* the new NIC keeps the source's MAC (default true) */
  const char *vm_mac;          /* the MAC of the VM's NIC when it has exactly one, else NULL:
                                  a single configured interface is pinned to it */
  bool serial_console;         /* console=ttyS0 on the kernel command line (default true) */
  const char *vendor_agents_file;    /* data file of services to disable; NULL: built-in path */
  /* Windows (and virtio-scsi for Linux): */
  const char *drivers_source;  /* --drivers: virtio-win folder, ISO or zip; NULL: the default
                                  (/usr/share/virtio-win when present) */
  enum p2v_disk_bus block_driver;    /* --block-driver: VIRTIO_BLK (default) or VIRTIO_SCSI (KVM) */
  bool require_drivers;        /* --require-drivers: refuse rather than fall back to emulated devices */
  const char *firstboot_exe;   /* p2v-firstboot.exe to install; NULL: the built-in path */
};

/* The virtual hardware the converted guest was prepared for (after a
 * successful p2v_guest_convert): the VM metadata and the boot test use it. */
struct p2v_guest_hardware {
  enum p2v_disk_bus disk_bus;
  enum p2v_nic_model nic_model;
  enum p2v_rtc rtc;            /* Windows: from RealTimeIsUniversal; DEFAULT otherwise */
};
const struct p2v_guest_hardware *p2v_guest_hardware(const struct p2v_guest *g);

/* Convert the guest on the overlays so it boots on the target's virtual
 * hardware; every change made goes into changes.  Before anything is
 * written, checks that it can succeed (an initramfs tool and a kernel with
 * the target's disk driver).  0, or -1 with one error reported and *why set. */
int p2v_guest_convert(struct p2v_guest *g, const struct p2v_convert_options *o,
                      struct p2v_changes *changes, enum p2v_guest_failure *why);

/* Flush, shut the appliance down, free.  The overlays stay on disk. 0 or -1 reported. */
int p2v_guest_close(struct p2v_guest *g);

/* ---- the list of changes made to a guest (report.c prints it) ---- */
struct p2v_change {
  char *area;                  /* "fstab", "bootloader", "initramfs", "network", "services", "console" */
  char *file;                  /* the guest file changed, or NULL */
  char *description;           /* "/dev/sda1 -> UUID=... (/)" */
};
struct p2v_changes {
  struct p2v_change *items;
  size_t n;
};
/* Add one change (printf-style description); -1 on no memory (reported). */
int p2v_changes_add(struct p2v_changes *c, const char *area, const char *file,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void p2v_changes_clear(struct p2v_changes *c);

#endif
