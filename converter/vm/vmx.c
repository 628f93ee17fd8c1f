/* VMware .vmx for Workstation and ESXi (docs/p2v-convert.md, "Metadata,
 * report and boot test").  Choices, and why:
 *  - virtualHW.version 19: runs on every VMware host still supported
 *    (ESXi 7.0 U2 and later, Workstation 16.2 and later, Fusion 12.2) and
 *    has everything used here (EFI, pvscsi, vmxnet3).
 *  - disks on one controller of the VM's bus: pvscsi (the default) or LSI
 *    Logic SAS (scsi0:0..15, unit 7 is the controller's), or SATA
 *    (sata0:0..29), as monolithicSparse VMDK (-O vmdk): what Workstation
 *    runs and what ESXi's vmkfstools -i imports.  streamOptimized disks are
 *    for OVF/OVA only.
 *  - NICs vmxnet3 (the default), e1000e or e1000.  A kept MAC is written
 *    as a static address.  VMware accepts static addresses only in
 *    00:50:56:00:00:00-00:50:56:3f:ff:ff unless
 *    ethernetN.checkMACAddress is FALSE; the source's MAC is kept
 *    anyway (the guest's network setup and licences may be bound to it),
 *    so outside that range checkMACAddress = "FALSE" is written too.
 *  - values are quoted; '"', '|' and control characters use VMware's |XX
 *    hex escape; the file says .encoding = "UTF-8".
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "log.h"
#include "vm/vm-internal.h"

#define VMX_HW_VERSION 19
#define SCSI_MAX_DISKS 15            /* units 0-6, 8-15 */
#define SATA_MAX_DISKS 30            /* ports 0-29 */

static bool in_vmware_static_range(const char *mac)
{
  /* 00:50:56:00:00:00 - 00:50:56:3F:FF:FF */
  if (strncasecmp(mac, "00:50:56:", 9) != 0)
    return false;
  unsigned v = (unsigned) strtoul(mac + 9, NULL, 16);
  return v <= 0x3f;
}

static void kv(FILE *fp, const char *key, const char *escaped_value)
{
  fprintf(fp, "%s = \"%s\"\n", key, escaped_value);
}

static int build(const struct p2v_vm *vm, const void *ctx, FILE *fp)
{
  struct p2v_os_names os;
  p2v_vm_os_names(vm, &os);
  CLEANUP_FREE char *name = p2v_vmx_escape(vm->name);
  CLEANUP_FREE char *desc = p2v_vmx_escape(vm->description ? vm->description : "");
  if (!name || !desc)
    return -1;
  enum p2v_disk_bus bus = p2v_vm_disk_bus(vm);
  bool sata = bus == P2V_DISK_BUS_SATA;
  const char *ctrl = sata ? "sata0" : "scsi0";
  size_t max_disks = sata ? SATA_MAX_DISKS : SCSI_MAX_DISKS;
  if (vm->ndisks > max_disks) {
    p2v_error("VM %s has %zu disks: a .vmx from p2v holds %zu at most (one %s controller)",
              vm->name, vm->ndisks, max_disks, p2v_disk_bus_name(bus));
    return -1;
  }
  /* VMware wants memory in MiB, a multiple of 4. */
  unsigned long long mib = (vm->memory_bytes + (4u << 20) - 1) / (4u << 20) * 4;
  char num[32];

  kv(fp, ".encoding", "UTF-8");
  kv(fp, "config.version", "8");
  snprintf(num, sizeof num, "%d", VMX_HW_VERSION);
  kv(fp, "virtualHW.version", num);
  kv(fp, "displayName", name);
  if (*desc)
    kv(fp, "annotation", desc);
  kv(fp, "guestOS", os.vmx);
  snprintf(num, sizeof num, "%llu", mib);
  kv(fp, "memsize", num);
  snprintf(num, sizeof num, "%u", vm->vcpus);
  kv(fp, "numvcpus", num);
  if (vm->uefi)
    kv(fp, "firmware", "efi");
  /* The PCI(e) bridges VMware itself creates; pvscsi and vmxnet3 sit behind them. */
  kv(fp, "pciBridge0.present", "TRUE");
  for (int b = 4; b <= 7; b++) {
    char key[64];
    snprintf(key, sizeof key, "pciBridge%d.present", b);
    kv(fp, key, "TRUE");
    snprintf(key, sizeof key, "pciBridge%d.virtualDev", b);
    kv(fp, key, "pcieRootPort");
    snprintf(key, sizeof key, "pciBridge%d.functions", b);
    kv(fp, key, "8");
  }
  kv(fp, "vmci0.present", "TRUE");
  kv(fp, "floppy0.present", "FALSE");
  kv(fp, "tools.syncTime", "FALSE");

  if (sata) {
    kv(fp, "sata0.present", "TRUE");
  } else {
    kv(fp, "scsi0.present", "TRUE");
    kv(fp, "scsi0.virtualDev", bus == P2V_DISK_BUS_LSI_SAS ? "lsisas1068" : "pvscsi");
  }
  for (size_t i = 0; i < vm->ndisks; i++) {
    const struct p2v_vm_disk *d = &vm->disks[i];
    if (strcmp(d->format, "vmdk") != 0) {
      p2v_error("VM %s: disk %s is %s, but a .vmx needs monolithicSparse VMDK disks "
                "(-O vmdk); streamOptimized disks go into the OVF/OVA",
                vm->name, d->path, d->format);
      return -1;
    }
    unsigned unit = sata || i < 7 ? (unsigned) i : (unsigned) i + 1;
    CLEANUP_FREE char *file = p2v_vmx_escape(d->path);
    if (!file)
      return -1;
    char key[64];
    snprintf(key, sizeof key, "%s:%u.present", ctrl, unit);
    kv(fp, key, "TRUE");
    snprintf(key, sizeof key, "%s:%u.fileName", ctrl, unit);
    kv(fp, key, file);
  }
  enum p2v_nic_model model = p2v_vm_nic_model(vm);
  const char *nic = model == P2V_NIC_E1000 ? "e1000" : model == P2V_NIC_E1000E ? "e1000e" : "vmxnet3";
  for (size_t i = 0; i < vm->nnics; i++) {
    char key[64];
#define NIC_KEY(suffix) (snprintf(key, sizeof key, "ethernet%zu." suffix, i), key)
    kv(fp, NIC_KEY("present"), "TRUE");
    kv(fp, NIC_KEY("virtualDev"), nic);
    kv(fp, NIC_KEY("connectionType"), "bridged");     /* Workstation */
    kv(fp, NIC_KEY("networkName"), "VM Network");     /* ESXi */
    const char *mac = vm->nics[i].mac;
    if (mac) {
      kv(fp, NIC_KEY("addressType"), "static");
      kv(fp, NIC_KEY("address"), mac);                 /* checked: hex and ':' */
      if (!in_vmware_static_range(mac))
        kv(fp, NIC_KEY("checkMACAddress"), "FALSE");
    } else {
      kv(fp, NIC_KEY("addressType"), "generated");
    }
#undef NIC_KEY
  }
  return 0;
}

int p2v_vm_write_vmx(const struct p2v_vm *vm, const char *out_dir, const char *path)
{
  if (p2v_vm_check(vm) == -1)
    return -1;
  CLEANUP_FREE char *file = p2v_vm_path(out_dir, path);
  if (!file)
    return -1;
  return p2v_vm_write_text(vm, file, build, NULL);
}
