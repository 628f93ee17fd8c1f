/* The boot loader: grub's settings (/etc/default/grub) name the root by
 * UUID, carry the serial console, and grub.cfg is regenerated with the
 * guest's own grub-mkconfig.  grub-install is not run again: the boot code
 * already in the MBR or ESP finds its files by UUID.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "guest/guest-internal.h"
#include "log.h"

#define SERIAL_ARGS "console=tty0 console=ttyS0,115200"
#define SERIAL_COMMAND "serial --speed=115200 --unit=0 --word=8 --parity=no --stop=1"

/* Does grub.cfg name a physical disk on a kernel line? */
static const char *names_physical_disk(const char *cfg)
{
  static const char *const bad[] = { "=/dev/sd", "=/dev/hd", "=/dev/cciss/", "=/dev/nvme",
                                     "=/dev/xvd", NULL };
  for (size_t i = 0; bad[i]; i++) {
    const char *p = strstr(cfg, bad[i]);
    if (p)
      return p + 1;
  }
  return NULL;
}

static int regenerate(struct p2v_guest *gg, const struct p2v_convert_options *o,
                      struct p2v_changes *changes)
{
  static const char *const cfgs[] = { "/boot/grub/grub.cfg", "/boot/grub2/grub.cfg", NULL };
  const char *cfg = gl_first(gg, cfgs);
  /* Older RHEL/SUSE on UEFI keep the real one on the ESP. */
  char **efi = cfg ? NULL : guestfs_glob_expand(gg->g, "/boot/efi/EFI/*/grub.cfg");
  CLEANUP_FREE char *efi_cfg = efi && efi[0] ? strdup(efi[0]) : NULL;
  for (size_t i = 0; efi && efi[i]; i++)
    free(efi[i]);
  free(efi);
  if (!cfg)
    cfg = efi_cfg;
  if (!cfg) {
    p2v_warning("the guest has grub settings but no grub.cfg; grub.cfg not regenerated");
    return 0;
  }
  static const char *const tools[] = { "/usr/sbin/update-grub", "/usr/sbin/grub2-mkconfig",
                                       "/usr/sbin/grub-mkconfig", "/sbin/grub2-mkconfig",
                                       "/sbin/grub-mkconfig", NULL };
  const char *tool = gl_first(gg, tools);
  if (!tool) {
    p2v_error("the guest has %s but no grub-mkconfig to regenerate it: install grub's "
              "tools on the source first", cfg);
    return -1;
  }
  CLEANUP_FREE char *cmd = NULL, *out = NULL, *text = NULL;
  if (strstr(tool, "update-grub"))
    cmd = strdup(tool);
  else if (asprintf(&cmd, "%s -o %s", tool, cfg) < 0)
    cmd = NULL;
  if (!cmd) {
    p2v_error("cannot regenerate grub.cfg: out of memory");
    return -1;
  }
  out = gl_sh(gg, "regenerating grub.cfg", cmd);
  if (!out || gl_read(gg, cfg, &text) == -1)
    return -1;
  const char *bad;
  if (text && (bad = names_physical_disk(text)) != NULL) {
    p2v_error("the regenerated %s still names %.*s: check the guest's grub settings",
              cfg, (int)strcspn(bad, " \n"), bad);
    return -1;
  }
  if (text && o->serial_console && !strstr(text, "console=ttyS0")) {
    p2v_error("the regenerated %s has no console=ttyS0: check the guest's grub settings", cfg);
    return -1;
  }
  return p2v_changes_add(changes, "bootloader", cfg, "regenerated with %s", tool);
}

/* Boot Loader Specification entries (Fedora, RHEL 8+): their options
 * come from grubenv or the entries, not from grub.cfg; grubby edits them. */
static int update_bls(struct p2v_guest *gg, const struct p2v_convert_options *o,
                      struct p2v_changes *changes)
{
  if (!o->serial_console || !gl_exists(gg, "/boot/loader/entries"))
    return 0;
  static const char *const grubby[] = { "/usr/sbin/grubby", "/sbin/grubby", NULL };
  if (!gl_first(gg, grubby)) {
    p2v_warning("the guest boots with BLS entries but has no grubby; the serial console "
                "is not on their command line");
    return 0;
  }
  CLEANUP_FREE char *out = gl_sh(gg, "grubby", "grubby --update-kernel=ALL --args='" SERIAL_ARGS "'");
  if (!out)
    return -1;
  return p2v_changes_add(changes, "console", "/boot/loader/entries",
                         "added " SERIAL_ARGS " to every entry (grubby)");
}

int gl_convert_bootloader(struct p2v_guest *gg, const struct p2v_convert_options *o,
                          struct p2v_changes *changes)
{
  static const char path[] = "/etc/default/grub";
  CLEANUP_FREE char *text = NULL;
  if (gl_read(gg, path, &text) == -1)
    return -1;
  if (!text) {
    p2v_warning("the guest has no %s (not grub 2): check that its boot loader finds the "
                "root filesystem by UUID, the converter did not change it", path);
    return 0;
  }
  CLEANUP_FREE char *disable = gt_var_get(text, "GRUB_DISABLE_LINUX_UUID");
  if (disable && strcmp(disable, "false") != 0) {
    if (gt_var_set(&text, "GRUB_DISABLE_LINUX_UUID", "false") == -1 ||
        p2v_changes_add(changes, "bootloader", path,
                        "GRUB_DISABLE_LINUX_UUID=%s -> false (root= by UUID)", disable) == -1)
      return -1;
  }
  static const char *const vars[] = { "GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT", NULL };
  for (size_t i = 0; vars[i]; i++) {
    CLEANUP_FREE char *v = gt_var_get(text, vars[i]);
    bool changed = false;
    CLEANUP_FREE char *nv = v ? gl_rewrite_cmdline(gg, gl_disk_bus(o), v, &changed) : NULL;
    if (v && !nv)
      return -1;
    if (changed && (gt_var_set(&text, vars[i], nv) == -1 ||
                    p2v_changes_add(changes, "bootloader", path, "%s: \"%s\" -> \"%s\"",
                                    vars[i], v, nv) == -1))
      return -1;
  }
  if (o->serial_console) {
    CLEANUP_FREE char *v = gt_var_get(text, "GRUB_CMDLINE_LINUX");
    CLEANUP_FREE char *nv = gt_cmdline_with(v ? v : "", SERIAL_ARGS);
    if (!nv || gt_var_set(&text, "GRUB_CMDLINE_LINUX", nv) == -1 ||
        gt_var_set(&text, "GRUB_TERMINAL", "console serial") == -1 ||
        gt_var_set(&text, "GRUB_SERIAL_COMMAND", SERIAL_COMMAND) == -1 ||
        p2v_changes_add(changes, "console", path, "kernel command line: %s; grub menu on the "
                        "serial port too (GRUB_TERMINAL=\"console serial\")", SERIAL_ARGS) == -1)
      return -1;
  }
  if (gl_write(gg, path, text) == -1)
    return -1;
  if (update_bls(gg, o, changes) == -1)
    return -1;
  return regenerate(gg, o, changes);
}
