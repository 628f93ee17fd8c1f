/* Disk names in the guest's configuration (fstab, crypttab, resume,
 * grub's device.map): /dev/sda1 and its kind name a controller the VM
 * does not have, so they become UUID= (or the name the VM's disk bus
 * gives it when the filesystem has no UUID: vdX on virtio-blk, sdX on
 * virtio-scsi and pvscsi).  Disk N of the source (sdX, hdX, vdX, xvdX
 * letter N, cciss c0dN, nvmeN) is the Nth disk given to the appliance.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "guest/guest-internal.h"
#include "log.h"

enum p2v_disk_bus gl_disk_bus(const struct p2v_convert_options *o)
{
  if (o->target == P2V_TARGET_VMWARE)
    return P2V_DISK_BUS_PVSCSI;
  return o->block_driver == P2V_DISK_BUS_VIRTIO_SCSI ? P2V_DISK_BUS_VIRTIO_SCSI
                                                     : P2V_DISK_BUS_VIRTIO_BLK;
}

char *gl_device_spec(struct p2v_guest *gg, enum p2v_disk_bus bus, const char *spec)
{
  size_t disk;
  unsigned part;
  if (gt_parse_disk_name(spec, &disk, &part) == -1 || disk >= gg->ndisks)
    return NULL;
  CLEANUP_FREE char *dev = NULL;
  if (asprintf(&dev, "%s%.0u", gg->devices[disk], part) < 0)
    return NULL;
  char *uuid = guestfs_vfs_uuid(gg->g, dev);
  char *r = NULL;
  if (uuid && *uuid) {
    if (asprintf(&r, "UUID=%s", uuid) < 0)
      r = NULL;
  } else {
    /* No UUID (no filesystem, or one without): the name the VM's
     * controller gives it.  Letters past z are left alone. */
    if (disk < 26 && asprintf(&r, "/dev/%s%c%.0u", bus == P2V_DISK_BUS_VIRTIO_BLK ? "vd" : "sd",
                              (char)('a' + disk), part) < 0)
      r = NULL;
  }
  free(uuid);
  return r;
}

struct map_ctx {
  struct p2v_guest *gg;
  enum p2v_disk_bus bus;
  struct p2v_changes *changes;
  const char *area, *path;
};

static char *map_spec(void *opaque, const char *spec)
{
  struct map_ctx *m = opaque;
  return gl_device_spec(m->gg, m->bus, spec);
}

static int report_change(void *opaque, const char *spec, const char *repl, const char *label)
{
  struct map_ctx *m = opaque;
  return p2v_changes_add(m->changes, m->area, m->path, "%s -> %s (%s)", spec, repl, label);
}

char *gl_rewrite_cmdline(struct p2v_guest *gg, enum p2v_disk_bus bus, const char *cmdline,
                         bool *changed)
{
  struct map_ctx m = { .gg = gg, .bus = bus };
  return gt_rewrite_cmdline(cmdline, map_spec, &m, changed);
}

/* Rewrite field FIELD (0-based) of every line of a table file. */
static int rewrite_table(struct p2v_guest *gg, const struct p2v_convert_options *o,
                         struct p2v_changes *changes, const char *path, size_t field,
                         const char *area)
{
  CLEANUP_FREE char *text = NULL;
  if (gl_read(gg, path, &text) == -1)
    return -1;
  if (!text)
    return 0;
  struct map_ctx m = { .gg = gg, .bus = gl_disk_bus(o), .changes = changes, .area = area,
                       .path = path };
  bool changed;
  CLEANUP_FREE char *out = gt_rewrite_table(text, field, map_spec, &m, report_change, &m,
                                            &changed);
  if (!out)
    return -1;
  return changed ? gl_write(gg, path, out) : 0;
}

/* RESUME=/dev/sda2 in initramfs-tools' resume file. */
static int rewrite_resume(struct p2v_guest *gg, const struct p2v_convert_options *o,
                          struct p2v_changes *changes)
{
  static const char path[] = "/etc/initramfs-tools/conf.d/resume";
  CLEANUP_FREE char *text = NULL;
  if (gl_read(gg, path, &text) == -1)
    return -1;
  if (!text)
    return 0;
  struct gl_buf out = { 0 };
  bool changed = false;
  int r = -1;
  for (char *line = text, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    CLEANUP_FREE char *repl = NULL;
    if (strncmp(line, "RESUME=", 7) == 0)
      repl = gl_device_spec(gg, gl_disk_bus(o), line + 7);
    if (repl) {
      if (gl_buf_printf(&out, "RESUME=%s\n", repl) == -1 ||
          p2v_changes_add(changes, "fstab", path, "%s -> %s (resume)", line + 7, repl) == -1)
        goto out;
      changed = true;
    } else if (gl_buf_printf(&out, "%s\n", line) == -1) {
      goto out;
    }
  }
  r = changed ? gl_write(gg, path, out.s) : 0;
out:
  free(out.s);
  return r;
}

int gl_convert_devices(struct p2v_guest *gg, const struct p2v_convert_options *o,
                       struct p2v_changes *changes)
{
  if (rewrite_table(gg, o, changes, "/etc/fstab", 0, "fstab") == -1 ||
      rewrite_table(gg, o, changes, "/etc/crypttab", 1, "fstab") == -1 ||
      rewrite_resume(gg, o, changes) == -1)
    return -1;
  /* grub's BIOS-disk map names the physical disks; grub finds its disks by
   * UUID without it. */
  static const char *const maps[] = { "/boot/grub/device.map", "/boot/grub2/device.map", NULL };
  for (size_t i = 0; maps[i]; i++) {
    if (!gl_exists(gg, maps[i]))
      continue;
    if (guestfs_rm_f(gg->g, maps[i]) == -1) {
      p2v_guest_error(gg->g, "cannot remove grub's device.map in the guest");
      return -1;
    }
    if (p2v_changes_add(changes, "bootloader", maps[i],
                        "removed (it names the physical disks)") == -1)
      return -1;
  }
  return 0;
}
