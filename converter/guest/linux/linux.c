/* Converting a Linux guest so it boots on the target's virtual hardware:
 * a preflight that writes nothing, then the steps in the order that lets
 * the last one (the initramfs) pick up what the others wrote.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "guest/guest-internal.h"
#include "log.h"

/* The disk drivers the VM's disk bus needs (all of the first group),
 * then the ones worth having when the kernel has them. */
struct target_drivers {
  const char *name;
  const char *required[4];     /* all of these */
  const char *wanted[6];
};
static const struct target_drivers kvm_drivers = {
  "KVM", { "virtio_blk", "virtio_pci", NULL }, { "virtio_scsi", "virtio_net", "virtio_console", "virtio_rng", NULL }
};
/* --block-driver virtio-scsi: the disks are sdX, so sd_mod too. */
static const struct target_drivers kvm_scsi_drivers = {
  "KVM virtio-scsi", { "virtio_scsi", "virtio_pci", "sd_mod", NULL },
  { "virtio_blk", "virtio_net", "virtio_console", "virtio_rng", NULL }
};
static const struct target_drivers vmware_drivers = {
  "VMware", { "vmw_pvscsi", NULL, NULL }, { "vmxnet3", "mptspi", "ahci", "vmw_vmci", "sd_mod", NULL }
};

static const struct target_drivers *drivers_for(const struct p2v_convert_options *o)
{
  switch (gl_disk_bus(o)) {
  case P2V_DISK_BUS_VIRTIO_SCSI: return &kvm_scsi_drivers;
  case P2V_DISK_BUS_PVSCSI: return &vmware_drivers;
  default: return &kvm_drivers;
  }
}

static int cmp_version(const void *a, const void *b)
{
  return strverscmp(*(char *const *)b, *(char *const *)a);   /* newest first */
}

void gl_plan_free(struct gl_plan *plan)
{
  for (size_t i = 0; i < plan->nkernels; i++)
    free(plan->kernels[i]);
  free(plan->kernels);
  plan->kernels = NULL;
  plan->nkernels = 0;
}

int gl_preflight(struct p2v_guest *gg, const struct p2v_convert_options *o, struct gl_plan *plan)
{
  const struct target_drivers *td = drivers_for(o);
  memset(plan, 0, sizeof *plan);

  static const char *const itools[] = { "/usr/sbin/update-initramfs", "/sbin/update-initramfs", NULL };
  static const char *const dracut[] = { "/usr/bin/dracut", "/usr/sbin/dracut", "/sbin/dracut", NULL };
  static const char *const mkinitrd[] = { "/sbin/mkinitrd", "/usr/sbin/mkinitrd", "/usr/bin/mkinitrd", NULL };
  if ((plan->tool_path = gl_first(gg, itools)) != NULL && gl_exists(gg, "/etc/initramfs-tools"))
    plan->tool = GL_INITRAMFS_TOOLS;
  else if ((plan->tool_path = gl_first(gg, dracut)) != NULL)
    plan->tool = GL_DRACUT;
  else if ((plan->tool_path = gl_first(gg, mkinitrd)) != NULL)
    plan->tool = GL_MKINITRD;
  else {
    p2v_error("the guest has no initramfs tool (update-initramfs, dracut or mkinitrd): "
              "install initramfs-tools or dracut on the source first");
    return -1;
  }

  const char *moddir = gl_exists(gg, "/lib/modules") ? "/lib/modules" : "/usr/lib/modules";
  char **vers = guestfs_ls(gg->g, moddir);
  if (!vers) {
    p2v_guest_error(gg->g, "cannot list the guest's kernels in /lib/modules");
    return -1;
  }
  size_t n = 0;
  while (vers[n]) n++;
  qsort(vers, n, sizeof *vers, cmp_version);
  plan->kernels = calloc(n + 1, sizeof *plan->kernels);
  if (!plan->kernels) {
    p2v_error("cannot check the guest's kernels: out of memory");
    goto err;
  }
  bool wanted_ok[6] = { true, true, true, true, true, true };
  const char *missing = NULL, *newest = n ? vers[0] : NULL;
  for (size_t i = 0; i < n; i++) {
    /* Only kernels that are installed (have an image in /boot). */
    CLEANUP_FREE char *image = NULL, *image2 = NULL, *dep = NULL, *builtin = NULL;
    CLEANUP_FREE char *depp = NULL, *builtinp = NULL;
    /* /lib/modules/V/vmlinuz: Arch (whose /boot name has no version), Fedora */
    if (asprintf(&image, "/boot/vmlinuz-%s", vers[i]) < 0 ||
        asprintf(&image2, "%s/%s/vmlinuz", moddir, vers[i]) < 0 ||
        asprintf(&depp, "%s/%s/modules.dep", moddir, vers[i]) < 0 ||
        asprintf(&builtinp, "%s/%s/modules.builtin", moddir, vers[i]) < 0) {
      p2v_error("cannot check the guest's kernels: out of memory");
      goto err;
    }
    if (!gl_exists(gg, image) && !gl_exists(gg, image2)) {
      p2v_debug("kernel %s: no %s, not installed", vers[i], image);
      if (newest == vers[i])
        newest = i + 1 < n ? vers[i + 1] : NULL;
      continue;
    }
    if (gl_read(gg, depp, &dep) == -1 || gl_read(gg, builtinp, &builtin) == -1)
      goto err;
    const char *lack = NULL;
    for (size_t d = 0; td->required[d] && !lack; d++)
      if (!gt_has_module(dep, td->required[d]) && !gt_has_module(builtin, td->required[d]))
        lack = td->required[d];
    if (lack) {
      if (vers[i] == newest)
        missing = lack;          /* the error below says it */
      else
        p2v_warning("kernel %s in the guest has no %s driver; it will not boot on %s",
                    vers[i], lack, td->name);
      continue;
    }
    for (size_t d = 0; td->wanted[d]; d++)
      if (!gt_has_module(dep, td->wanted[d]) && !gt_has_module(builtin, td->wanted[d]))
        wanted_ok[d] = false;
    plan->kernels[plan->nkernels] = strdup(vers[i]);
    if (!plan->kernels[plan->nkernels++]) {
      p2v_error("cannot check the guest's kernels: out of memory");
      goto err;
    }
  }
  if (!newest) {
    p2v_error("the guest has no installed kernel under %s: install one on the source first",
              moddir);
    goto err;
  }
  if (missing || plan->nkernels == 0) {
    p2v_error("the guest's default kernel %s has no %s driver for %s disks: install a "
              "kernel with it on the source first (e.g. the distribution's generic kernel)",
              newest, missing ? missing : td->required[0], td->name);
    goto err;
  }
  for (size_t d = 0; td->required[d]; d++)
    plan->drivers[plan->ndrivers++] = td->required[d];
  plan->nrequired = plan->ndrivers;
  for (size_t d = 0; td->wanted[d]; d++)
    if (wanted_ok[d])
      plan->drivers[plan->ndrivers++] = td->wanted[d];
  for (size_t i = 0; vers[i]; i++) free(vers[i]);
  free(vers);
  return 0;
err:
  for (size_t i = 0; vers[i]; i++) free(vers[i]);
  free(vers);
  gl_plan_free(plan);
  return -1;
}

/* Linux on x86_64, of a family whose boot loader and initramfs tools
 * the steps know. */
static int linux_match(const struct p2v_guest_info *info)
{
  if (strcmp(info->type, "linux") != 0)
    return 0;
  if (strcmp(info->arch, "x86_64") != 0) {
    p2v_error("the source runs %s for %s: only x86_64 guests can be converted",
              info->product_name, info->arch);
    return -1;
  }
  static const char *const families[] = {
    "debian", "ubuntu", "linuxmint", "kalilinux", "rhel", "centos", "rocky", "almalinux",
    "oraclelinux", "fedora", "scientificlinux", "circle", "opensuse", "sles", "suse-based",
    "archlinux", "altlinux", NULL
  };
  bool known = false;
  for (size_t i = 0; families[i] && !known; i++)
    known = strcmp(info->distro, families[i]) == 0;
  if (!known) {
    p2v_error("the source runs %s, a Linux distribution p2v does not know (%s): "
              "its boot loader and initramfs cannot be converted safely",
              info->product_name, info->distro);
    return -1;
  }
  return 1;
}

static int linux_preflight(struct p2v_guest *gg, const struct p2v_convert_options *o,
                           void **plan_out)
{
  struct gl_plan *plan = malloc(sizeof *plan);
  if (!plan) {
    p2v_error("cannot check the guest: out of memory");
    return -1;
  }
  if (gl_preflight(gg, o, plan) == -1) {
    free(plan);
    return -1;
  }
  *plan_out = plan;
  p2v_info("converting %s for %s: %zu kernel(s), initramfs by %s", gg->info.product_name,
           drivers_for(o)->name, plan->nkernels, plan->tool_path);
  return 0;
}

/* In the order that lets the initramfs (post-convert) pick up what the
 * others wrote. */
static int linux_convert(struct p2v_guest *gg, const struct p2v_convert_options *o, void *plan,
                         struct p2v_changes *changes)
{
  (void) plan;
  gg->hardware = (struct p2v_guest_hardware) {
    .disk_bus = gl_disk_bus(o),
    .nic_model = o->target == P2V_TARGET_KVM ? P2V_NIC_VIRTIO : P2V_NIC_VMXNET3,
  };
  if (gl_convert_devices(gg, o, changes) == -1 ||
      gl_convert_network(gg, o, changes) == -1 ||
      gl_disable_vendor_agents(gg, o, changes) == -1 ||
      gl_convert_console(gg, o, changes) == -1 ||
      gl_convert_bootloader(gg, o, changes) == -1)
    return -1;
  return 0;
}

static int linux_post_convert(struct p2v_guest *gg, const struct p2v_convert_options *o,
                              void *plan, struct p2v_changes *changes)
{
  (void) o;
  return gl_convert_initramfs(gg, plan, changes);
}

static void linux_free_plan(void *plan)
{
  if (plan)
    gl_plan_free(plan);
  free(plan);
}

const struct p2v_guest_converter p2v_guest_converter_linux = {
  .name = "Linux",
  .match = linux_match,
  .preflight = linux_preflight,
  .convert = linux_convert,
  .post_convert = linux_post_convert,
  .free_plan = linux_free_plan,
};
