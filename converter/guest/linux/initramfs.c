/* The initramfs: the target's drivers go into the guest's own initramfs
 * configuration (so later kernel updates keep them), the image of every
 * kernel that has them is rebuilt with the guest's own tool, and each
 * image is checked for the disk driver afterwards.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "guest/guest-internal.h"
#include "log.h"

/* initramfs-tools: one module per line in /etc/initramfs-tools/modules. */
static int config_initramfs_tools(struct p2v_guest *gg, const struct gl_plan *plan,
                                  struct p2v_changes *changes)
{
  static const char path[] = "/etc/initramfs-tools/modules";
  CLEANUP_FREE char *text = NULL;
  if (gl_read(gg, path, &text) == -1)
    return -1;
  struct gl_buf b = { 0 };
  struct gl_buf added = { 0 };
  int r = -1;
  if (gl_buf_add(&b, text ? text : "", text ? strlen(text) : 0) == -1)
    goto out;
  if (b.len > 0 && b.s[b.len - 1] != '\n' && gl_buf_add(&b, "\n", 1) == -1)
    goto out;
  for (size_t i = 0; i < plan->ndrivers; i++) {
    bool present = text && gt_list_has(text, plan->drivers[i]);
    if (present)
      continue;
    if (added.len == 0 && gl_buf_add(&b, "# the virtual machine's drivers (p2v)\n", 38) == -1)
      goto out;
    if (gl_buf_printf(&b, "%s\n", plan->drivers[i]) == -1 ||
        gl_buf_printf(&added, "%s%s", added.len ? " " : "", plan->drivers[i]) == -1)
      goto out;
  }
  r = 0;
  if (added.len > 0 && (gl_write(gg, path, b.s) == -1 ||
                        p2v_changes_add(changes, "initramfs", path, "added %s", added.s) == -1))
    r = -1;
out:
  free(b.s);
  free(added.s);
  return r;
}

/* dracut and mkinitrd (which is dracut on anything recent): a conf.d file. */
static int config_dracut(struct p2v_guest *gg, const struct gl_plan *plan,
                         struct p2v_changes *changes)
{
  static const char path[] = "/etc/dracut.conf.d/90-p2v.conf";
  struct gl_buf b = { 0 }, list = { 0 };
  int r = -1;
  for (size_t i = 0; i < plan->ndrivers; i++)
    if (gl_buf_printf(&list, "%s%s", i ? " " : "", plan->drivers[i]) == -1)
      goto out;
  if (gl_buf_printf(&b, "# the virtual machine's drivers (p2v)\nadd_drivers+=\" %s \"\n",
                    list.s) == -1)
    goto out;
  if (!gl_exists(gg, "/etc/dracut.conf.d") && guestfs_mkdir_p(gg->g, "/etc/dracut.conf.d") == -1) {
    p2v_guest_error(gg->g, "cannot create /etc/dracut.conf.d in the guest");
    goto out;
  }
  if (gl_write(gg, path, b.s) == -1 ||
      p2v_changes_add(changes, "initramfs", path, "add_drivers: %s", list.s) == -1)
    goto out;
  r = 0;
out:
  free(b.s);
  free(list.s);
  return r;
}

/* The initramfs image of kernel VERSION (the existing one, or the
 * distribution's usual name). */
static char *image_path(struct p2v_guest *gg, const struct gl_plan *plan, const char *version)
{
  char *forms[3] = { NULL };
  if (asprintf(&forms[0], "/boot/initrd.img-%s", version) < 0 ||      /* Debian */
      asprintf(&forms[1], "/boot/initramfs-%s.img", version) < 0 ||   /* RHEL, Fedora */
      asprintf(&forms[2], "/boot/initrd-%s", version) < 0) {          /* SUSE */
    for (size_t i = 0; i < 3; i++) free(forms[i]);
    return NULL;
  }
  size_t pick = plan->tool == GL_INITRAMFS_TOOLS ? 0 : 1;
  for (size_t i = 0; i < 3; i++)
    if (gl_exists(gg, forms[i])) {
      pick = i;
      break;
    }
  for (size_t i = 0; i < 3; i++)
    if (i != pick) free(forms[i]);
  return forms[pick];
}

/* Is every required driver in the image (or built into the kernel)? */
static int verify(struct p2v_guest *gg, const struct gl_plan *plan, const char *version,
                  const char *image)
{
  CLEANUP_FREE char *cmd = NULL, *list = NULL, *builtin = NULL, *bpath = NULL;
  const char *lister = plan->tool == GL_INITRAMFS_TOOLS ? "lsinitramfs" : "lsinitrd";
  if (asprintf(&cmd, "%s '%s' | sed -n 's|.*/\\([^/]*\\)\\.ko\\(\\.[a-z]*\\)\\{0,1\\}$|\\1|p' "
               "| tr - _ | sort -u", lister, image) < 0 ||
      asprintf(&bpath, "/lib/modules/%s/modules.builtin", version) < 0) {
    p2v_error("cannot check the initramfs: out of memory");
    return -1;
  }
  list = gl_sh(gg, "listing the new initramfs", cmd);
  if (!list || gl_read(gg, bpath, &builtin) == -1)
    return -1;
  /* The first plan->drivers are the required ones, those the VM cannot
   * boot without: the disk driver, its bus, the SCSI disk driver. */
  for (size_t i = 0; i < plan->nrequired; i++) {
    const char *d = plan->drivers[i];
    bool found = false;
    size_t n = strlen(d);
    for (const char *p = list; p && *p && !found; ) {
      found = strncmp(p, d, n) == 0 && (p[n] == '\n' || p[n] == '\0');
      p = strchr(p, '\n');
      if (p) p++;
    }
    CLEANUP_FREE char *needle = NULL;
    if (!found && builtin && asprintf(&needle, "/%s.ko", d) > 0)
      found = strstr(builtin, needle) != NULL;
    if (!found) {
      p2v_error("the rebuilt initramfs %s has no %s driver: check the guest's initramfs "
                "configuration", image, d);
      return -1;
    }
  }
  return 0;
}

int gl_convert_initramfs(struct p2v_guest *gg, const struct gl_plan *plan,
                         struct p2v_changes *changes)
{
  if ((plan->tool == GL_INITRAMFS_TOOLS ? config_initramfs_tools(gg, plan, changes)
                                        : config_dracut(gg, plan, changes)) == -1)
    return -1;
  struct gl_buf with = { 0 };
  for (size_t i = 0; i < plan->ndrivers; i++)
    if (gl_buf_printf(&with, " --with=%s", plan->drivers[i]) == -1) {
      free(with.s);
      return -1;
    }
  int r = -1;
  for (size_t k = 0; k < plan->nkernels; k++) {
    const char *v = plan->kernels[k];
    CLEANUP_FREE char *image = image_path(gg, plan, v);
    CLEANUP_FREE char *cmd = NULL, *out = NULL;
    if (!image)
      goto out;
    bool exists = gl_exists(gg, image);
    int n;
    switch (plan->tool) {
    case GL_INITRAMFS_TOOLS:
      n = asprintf(&cmd, "update-initramfs %s -k '%s'", exists ? "-u" : "-c", v);
      break;
    case GL_DRACUT:
      n = asprintf(&cmd, "dracut -f '%s' '%s'", image, v);
      break;
    default:
      n = asprintf(&cmd, "mkinitrd -f%s '%s' '%s'", with.s, image, v);
      break;
    }
    if (n < 0) {
      cmd = NULL;
      p2v_error("cannot rebuild the initramfs: out of memory");
      goto out;
    }
    p2v_info("rebuilding the initramfs of %s in the guest", v);
    out = gl_sh(gg, "rebuilding the initramfs", cmd);
    if (!out || verify(gg, plan, v, image) == -1)
      goto out;
    if (p2v_changes_add(changes, "initramfs", image, "%s for kernel %s with %s",
                        exists ? "rebuilt" : "created", v, plan->tool_path) == -1)
      goto out;
  }
  r = 0;
out:
  free(with.s);
  return r;
}
