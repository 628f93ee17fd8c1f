/* UEFI Windows guests: the VM's firmware has no boot entry for Windows
 * (those lived in the old machine's NVRAM), so it starts the removable
 * media path \EFI\Boot\bootx64.efi; when the ESP lacks it, the Windows
 * boot manager is copied there (as virt-v2v does).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "log.h"
#include "guest/windows/steps-internal.h"

#define ESP_GUID "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

/* The first EFI system partition, or NULL. */
static char *find_esp(struct p2v_guest *gg)
{
  char **parts = guestfs_list_partitions(gg->g);
  char *esp = NULL;
  for (size_t i = 0; parts && parts[i]; i++) {
    CLEANUP_FREE char *dev = guestfs_part_to_dev(gg->g, parts[i]);
    int num = guestfs_part_to_partnum(gg->g, parts[i]);
    CLEANUP_FREE char *type = dev ? guestfs_part_get_parttype(gg->g, dev) : NULL;
    bool is_esp = false;
    if (type && num > 0 && strcmp(type, "gpt") == 0) {
      CLEANUP_FREE char *guid = guestfs_part_get_gpt_type(gg->g, dev, num);
      is_esp = guid && strcasecmp(guid, ESP_GUID) == 0;
    } else if (type && num > 0 && strcmp(type, "msdos") == 0) {
      is_esp = guestfs_part_get_mbr_id(gg->g, dev, num) == 0xef;
    }
    if (is_esp && !esp)
      esp = strdup(parts[i]);
  }
  for (size_t i = 0; parts && parts[i]; i++)
    free(parts[i]);
  free(parts);
  return esp;
}

static int fix_fallback(struct p2v_guest *gg, const char *esp, struct p2v_changes *changes)
{
  CLEANUP_FREE char *fallback = guestfs_case_sensitive_path(gg->g, "/EFI/Boot/bootx64.efi");
  if (fallback && guestfs_is_file(gg->g, fallback) == 1) {
    p2v_debug("%s: %s present", esp, fallback);
    return 0;
  }
  CLEANUP_FREE char *mgr = guestfs_case_sensitive_path(gg->g, "/EFI/Microsoft/Boot/bootmgfw.efi");
  if (!mgr || guestfs_is_file(gg->g, mgr) != 1) {
    p2v_error("the guest's EFI system partition %s has neither \\EFI\\Boot\\bootx64.efi nor "
              "\\EFI\\Microsoft\\Boot\\bootmgfw.efi: the VM could not boot it; repair the "
              "boot files on the source (bcdboot C:\\Windows /f UEFI)", esp);
    return -1;
  }
  CLEANUP_FREE char *dir = guestfs_case_sensitive_path(gg->g, "/EFI/Boot");
  CLEANUP_FREE char *target = NULL;
  if (!dir || asprintf(&target, "%s/bootx64.efi", dir) < 0) {
    p2v_guest_error(gg->g, "cannot find \\EFI\\Boot on the guest's EFI system partition");
    return -1;
  }
  if (guestfs_mkdir_p(gg->g, dir) == -1 || guestfs_cp(gg->g, mgr, target) == -1) {
    p2v_guest_error(gg->g, "cannot copy the Windows boot manager to \\EFI\\Boot\\bootx64.efi");
    return -1;
  }
  return p2v_changes_add(changes, "bootloader", target, "fallback boot loader: copy of %s "
                         "on the EFI system partition %s (the VM has no boot entries)", mgr, esp);
}

int gw_convert_uefi(struct p2v_guest *gg, struct p2v_changes *changes)
{
  CLEANUP_FREE char *esp = find_esp(gg);
  if (!esp) {
    p2v_warning("the guest boots with UEFI but no EFI system partition was found");
    return 0;
  }
  guestfs_umount_all(gg->g);
  if (guestfs_mount(gg->g, esp, "/") == -1) {
    p2v_guest_error(gg->g, "cannot mount the guest's EFI system partition");
    return -1;
  }
  int r = fix_fallback(gg, esp, changes);
  guestfs_umount_all(gg->g);
  return r;
}
