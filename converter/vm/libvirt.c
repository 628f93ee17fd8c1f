/* libvirt domain XML for the KVM target (docs/p2v-convert.md, "Metadata,
 * report and boot test").  Choices, and why:
 *  - machine: q35 with UEFI (OVMF needs it for Secure Boot variables and
 *    is tested there); pc (i440fx) with BIOS, because an old physical
 *    server's kernel may know only legacy virtio, which q35's PCIe slots
 *    do not offer.
 *  - firmware: <os firmware='efi'> lets libvirt pick the OVMF build and
 *    create the variable store; Secure Boot off, since whether the source
 *    enforced it is not known and an unsigned loader must still boot.
 *  - cpu host-model: the guest keeps the host CPU's features (it must not
 *    run slower than on its old hardware) and stays migratable.
 *  - clock: utc for Linux, localtime for Windows (whose RTC is local)
 *    unless it was converted with RealTimeIsUniversal=1.
 *  - disks on the VM's bus: virtio-blk (vdX) by default, virtio-scsi (one
 *    virtio-scsi controller, sdX) or SATA (sdX, libvirt adds the AHCI
 *    controller); NICs virtio by default, or e1000/e1000e, on network
 *    'default' with the source's MAC; serial console on a pty, VNC on
 *    127.0.0.1 only.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"
#include "vm/vm-internal.h"

/* vda .. vdz, vdaa .. (sda .. for SCSI and SATA): the kernel's and
 * libvirt's naming. */
static void disk_target(char *buf, size_t len, const char *prefix, size_t i)
{
  char rev[8];
  size_t n = 0;
  i++;
  while (i > 0 && n < sizeof rev) {
    i--;
    rev[n++] = (char) ('a' + i % 26);
    i /= 26;
  }
  size_t o = snprintf(buf, len, "%s", prefix);
  while (n > 0 && o + 1 < len)
    buf[o++] = rev[--n];
  buf[o] = 0;
}

/* The disk formats a running qemu can use.  Not streamOptimized VMDK:
 * qemu reads it but cannot write to it in place. */
static const char *qemu_format(const char *format)
{
  if (strcmp(format, "qcow2") == 0 || strcmp(format, "raw") == 0)
    return format;
  if (strcmp(format, "vmdk") == 0)
    return "vmdk";
  return NULL;
}

/* The disk's bus attribute and name prefix for the VM's controller. */
static void disk_bus(const struct p2v_vm *vm, const char **bus, const char **prefix)
{
  switch (p2v_vm_disk_bus(vm)) {
  case P2V_DISK_BUS_VIRTIO_SCSI: *bus = "scsi"; *prefix = "sd"; break;
  case P2V_DISK_BUS_SATA: *bus = "sata"; *prefix = "sd"; break;
  default: *bus = "virtio"; *prefix = "vd"; break;    /* p2v_vm_check refused the rest */
  }
}

static const char *nic_model(const struct p2v_vm *vm)
{
  switch (p2v_vm_nic_model(vm)) {
  case P2V_NIC_E1000: return "e1000";
  case P2V_NIC_E1000E: return "e1000e";
  default: return "virtio";
  }
}

static int build(const struct p2v_vm *vm, const void *ctx, FILE *fp)
{
  const char *abs_dir = ctx;   /* the output folder, absolute: libvirt wants full paths */
  bool windows = vm->os_type && strcmp(vm->os_type, "windows") == 0;
  CLEANUP_FREE char *name = p2v_xml_escape(vm->name);
  CLEANUP_FREE char *desc = p2v_xml_escape(vm->description ? vm->description : "");
  char uuid[37];
  if (!name || !desc || p2v_uuid_generate(uuid) == -1)
    return -1;
  unsigned long long kib = (vm->memory_bytes + 1023) / 1024;

  fprintf(fp, "<domain type='kvm'>\n"
              "  <name>%s</name>\n"
              "  <uuid>%s</uuid>\n", name, uuid);
  if (*desc)
    fprintf(fp, "  <description>%s</description>\n", desc);
  fprintf(fp, "  <memory unit='KiB'>%llu</memory>\n"
              "  <currentMemory unit='KiB'>%llu</currentMemory>\n"
              "  <vcpu placement='static'>%u</vcpu>\n", kib, kib, vm->vcpus);
  if (vm->uefi)
    fputs("  <os firmware='efi'>\n"
          "    <type arch='x86_64' machine='q35'>hvm</type>\n"
          "    <firmware>\n"
          "      <feature enabled='no' name='secure-boot'/>\n"
          "    </firmware>\n", fp);
  else
    fputs("  <os>\n"
          "    <type arch='x86_64' machine='pc'>hvm</type>\n", fp);
  fputs("    <boot dev='hd'/>\n"
        "  </os>\n"
        "  <features>\n"
        "    <acpi/>\n"
        "    <apic/>\n", fp);
  if (windows)
    fputs("    <hyperv mode='custom'>\n"
          "      <relaxed state='on'/>\n"
          "      <vapic state='on'/>\n"
          "      <spinlocks state='on' retries='8191'/>\n"
          "    </hyperv>\n", fp);
  fprintf(fp, "  </features>\n"
              "  <cpu mode='host-model' check='partial'/>\n"
              "  <clock offset='%s'>\n"
              "    <timer name='rtc' tickpolicy='catchup'/>\n"
              "    <timer name='pit' tickpolicy='delay'/>\n"
              "    <timer name='hpet' present='no'/>\n",
          p2v_vm_rtc_localtime(vm) ? "localtime" : "utc");
  if (windows)
    fputs("    <timer name='hypervclock' present='yes'/>\n", fp);
  fputs("  </clock>\n"
        "  <on_poweroff>destroy</on_poweroff>\n"
        "  <on_reboot>restart</on_reboot>\n"
        "  <on_crash>destroy</on_crash>\n"
        "  <devices>\n", fp);

  const char *bus, *prefix;
  disk_bus(vm, &bus, &prefix);
  if (p2v_vm_disk_bus(vm) == P2V_DISK_BUS_VIRTIO_SCSI)
    fputs("    <controller type='scsi' index='0' model='virtio-scsi'/>\n", fp);
  for (size_t i = 0; i < vm->ndisks; i++) {
    const struct p2v_vm_disk *d = &vm->disks[i];
    const char *format = qemu_format(d->format);
    if (!format) {
      p2v_error("VM %s: disk %s is %s, which a KVM guest cannot run on: use qcow2, "
                "raw or vmdk (-O)", vm->name, d->path, d->format);
      return -1;
    }
    CLEANUP_FREE char *path = p2v_vm_path(abs_dir, d->path);
    CLEANUP_FREE char *epath = path ? p2v_xml_escape(path) : NULL;
    if (!epath)
      return -1;
    char target[16];
    disk_target(target, sizeof target, prefix, i);
    fprintf(fp, "    <disk type='file' device='disk'>\n"
                "      <driver name='qemu' type='%s' discard='unmap'/>\n"
                "      <source file='%s'/>\n"
                "      <target dev='%s' bus='%s'/>\n"
                "    </disk>\n", format, epath, target, bus);
  }
  for (size_t i = 0; i < vm->nnics; i++) {
    fputs("    <interface type='network'>\n", fp);
    if (vm->nics[i].mac)
      fprintf(fp, "      <mac address='%s'/>\n", vm->nics[i].mac);   /* checked: hex and ':' */
    fprintf(fp, "      <source network='default'/>\n"
                "      <model type='%s'/>\n"
                "    </interface>\n", nic_model(vm));
  }
  fputs("    <serial type='pty'>\n"
        "      <target port='0'/>\n"
        "    </serial>\n"
        "    <console type='pty'>\n"
        "      <target type='serial' port='0'/>\n"
        "    </console>\n"
        "    <channel type='unix'>\n"
        "      <target type='virtio' name='org.qemu.guest_agent.0'/>\n"
        "    </channel>\n"
        "    <input type='tablet' bus='usb'/>\n"
        "    <graphics type='vnc' autoport='yes' listen='127.0.0.1'>\n"
        "      <listen type='address' address='127.0.0.1'/>\n"
        "    </graphics>\n"
        "    <video>\n"
        "      <model type='vga'/>\n"
        "    </video>\n"
        "    <memballoon model='virtio'/>\n"
        "    <rng model='virtio'>\n"
        "      <backend model='random'>/dev/urandom</backend>\n"
        "    </rng>\n"
        "  </devices>\n"
        "</domain>\n", fp);
  return 0;
}

int p2v_vm_write_libvirt(const struct p2v_vm *vm, const char *out_dir, const char *path)
{
  if (p2v_vm_check(vm) == -1)
    return -1;
  char abs_dir[PATH_MAX];
  if (!realpath(out_dir && *out_dir ? out_dir : ".", abs_dir)) {
    p2v_error("cannot resolve the output folder %s: %m", out_dir);
    return -1;
  }
  CLEANUP_FREE char *file = p2v_vm_path(out_dir, path);
  if (!file)
    return -1;
  return p2v_vm_write_text(vm, file, build, abs_dir);
}
