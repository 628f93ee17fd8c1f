/* The VM's disk controller and NIC: DEFAULT resolved to the target's
 * own, names for messages and the report, and the combinations a target
 * cannot have.  KVM is not given VMware's LSI Logic SAS, pvscsi or
 * vmxnet3 (qemu builds such as RHEL's leave them out, and a guest with
 * their drivers has virtio or SATA and e1000e anyway); VMware has no
 * virtio device at all.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stddef.h>
#include <string.h>

#include "log.h"
#include "vm/vm-internal.h"

enum p2v_disk_bus p2v_vm_disk_bus(const struct p2v_vm *vm)
{
  if (vm->disk_bus != P2V_DISK_BUS_DEFAULT)
    return vm->disk_bus;
  return vm->target == P2V_TARGET_VMWARE ? P2V_DISK_BUS_PVSCSI : P2V_DISK_BUS_VIRTIO_BLK;
}

enum p2v_nic_model p2v_vm_nic_model(const struct p2v_vm *vm)
{
  if (vm->nic_model != P2V_NIC_DEFAULT)
    return vm->nic_model;
  return vm->target == P2V_TARGET_VMWARE ? P2V_NIC_VMXNET3 : P2V_NIC_VIRTIO;
}

bool p2v_vm_rtc_localtime(const struct p2v_vm *vm)
{
  if (vm->rtc != P2V_RTC_DEFAULT)
    return vm->rtc == P2V_RTC_LOCALTIME;
  return vm->os_type && strcmp(vm->os_type, "windows") == 0;
}

const char *p2v_disk_bus_name(enum p2v_disk_bus bus)
{
  switch (bus) {
  case P2V_DISK_BUS_VIRTIO_BLK: return "virtio-blk";
  case P2V_DISK_BUS_VIRTIO_SCSI: return "virtio-scsi";
  case P2V_DISK_BUS_SATA: return "sata";
  case P2V_DISK_BUS_LSI_SAS: return "lsi-sas";
  case P2V_DISK_BUS_PVSCSI: return "pvscsi";
  case P2V_DISK_BUS_DEFAULT: break;
  }
  return "default";
}

const char *p2v_nic_model_name(enum p2v_nic_model model)
{
  switch (model) {
  case P2V_NIC_VIRTIO: return "virtio";
  case P2V_NIC_E1000: return "e1000";
  case P2V_NIC_E1000E: return "e1000e";
  case P2V_NIC_VMXNET3: return "vmxnet3";
  case P2V_NIC_DEFAULT: break;
  }
  return "default";
}

static bool bus_fits(enum p2v_target target, enum p2v_disk_bus bus)
{
  switch (bus) {
  case P2V_DISK_BUS_VIRTIO_BLK:
  case P2V_DISK_BUS_VIRTIO_SCSI: return target == P2V_TARGET_KVM;
  case P2V_DISK_BUS_LSI_SAS:
  case P2V_DISK_BUS_PVSCSI: return target == P2V_TARGET_VMWARE;
  case P2V_DISK_BUS_SATA: return true;
  case P2V_DISK_BUS_DEFAULT: break;
  }
  return false;
}

static bool nic_fits(enum p2v_target target, enum p2v_nic_model model)
{
  switch (model) {
  case P2V_NIC_VIRTIO: return target == P2V_TARGET_KVM;
  case P2V_NIC_VMXNET3: return target == P2V_TARGET_VMWARE;
  case P2V_NIC_E1000:
  case P2V_NIC_E1000E: return true;
  case P2V_NIC_DEFAULT: break;
  }
  return false;
}

int p2v_vm_check_hardware(const struct p2v_vm *vm)
{
  bool kvm = vm->target == P2V_TARGET_KVM;
  const char *target = kvm ? "KVM" : "VMware";
  enum p2v_disk_bus bus = p2v_vm_disk_bus(vm);
  enum p2v_nic_model nic = p2v_vm_nic_model(vm);
  if (!bus_fits(vm->target, bus)) {
    p2v_error("VM %s: a %s VM cannot have a %s disk controller: use %s", vm->name, target,
              p2v_disk_bus_name(bus), kvm ? "virtio-blk, virtio-scsi or sata"
                                          : "lsi-sas, pvscsi or sata");
    return -1;
  }
  if (vm->nnics > 0 && !nic_fits(vm->target, nic)) {
    p2v_error("VM %s: a %s VM cannot have a %s NIC: use %s", vm->name, target,
              p2v_nic_model_name(nic), kvm ? "virtio, e1000 or e1000e"
                                           : "e1000, e1000e or vmxnet3");
    return -1;
  }
  return 0;
}
