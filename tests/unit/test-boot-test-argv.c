/* Unit test for the boot test's qemu command line and marker
 * (converter/check/boot-test.c), without booting: each disk bus gets its
 * controller and disk devices, each NIC model its device; a bus the target
 * cannot have is refused; Linux waits for "login:", Windows for the
 * first-boot service's line, an explicit marker wins.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "log.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

static struct p2v_vm_disk disks[9];
static struct p2v_vm_nic nics[1] = { { "52:54:00:12:34:56", "eth0" } };

static struct p2v_vm make_vm(enum p2v_target target, enum p2v_disk_bus bus,
                             enum p2v_nic_model nic, size_t ndisks)
{
  for (size_t i = 0; i < ndisks; i++)
    disks[i] = (struct p2v_vm_disk) { "d.qcow2", "qcow2", 1 << 20, 0, 0 };
  return (struct p2v_vm) { .name = "t", .target = target, .disk_bus = bus, .nic_model = nic,
                           .vcpus = 1, .memory_bytes = 512 << 20, .os_type = "linux",
                           .disks = disks, .ndisks = ndisks, .nics = nics, .nnics = 1 };
}

/* The argv, one argument a line, for strstr. */
static char *joined(const struct p2v_vm *vm)
{
  char **argv = p2v_boot_test_argv(vm, "/w", false);
  CHECK(argv);
  size_t len = 1;
  for (size_t i = 0; argv[i]; i++)
    len += strlen(argv[i]) + 1;
  char *s = calloc(1, len);
  CHECK(s);
  for (size_t i = 0; argv[i]; i++)
    strcat(strcat(s, argv[i]), "\n");
  p2v_boot_test_argv_free(argv);
  return s;
}

static void expect(const struct p2v_vm *vm, const char *const *want, const char *const *not)
{
  char *s = joined(vm);
  for (size_t i = 0; want[i]; i++)
    if (!strstr(s, want[i])) {
      fprintf(stderr, "bus %s, NIC %s: '%s' missing from:\n%s", p2v_disk_bus_name(vm->disk_bus),
              p2v_nic_model_name(vm->nic_model), want[i], s);
      exit(1);
    }
  for (size_t i = 0; not && not[i]; i++)
    if (strstr(s, not[i])) {
      fprintf(stderr, "bus %s: '%s' should not be in:\n%s", p2v_disk_bus_name(vm->disk_bus),
              not[i], s);
      exit(1);
    }
  free(s);
}

#define L(...) (const char *const[]) { __VA_ARGS__, NULL }

int main(void)
{
  p2v_log_init("test-boot-test-argv");
  struct p2v_vm vm;

  vm = make_vm(P2V_TARGET_KVM, P2V_DISK_BUS_DEFAULT, P2V_NIC_DEFAULT, 2);
  expect(&vm, L("\nvirtio-blk-pci,drive=disk0,bootindex=1\n", "\nvirtio-blk-pci,drive=disk1\n",
                "file=/w/disk1.qcow2,format=qcow2,if=none,id=disk1\n",
                "\nuser,restrict=on,model=virtio-net-pci,mac=52:54:00:12:34:56\n"),
         L("scsi", "ahci"));

  vm = make_vm(P2V_TARGET_KVM, P2V_DISK_BUS_VIRTIO_SCSI, P2V_NIC_E1000E, 2);
  expect(&vm, L("\nvirtio-scsi-pci,id=ctrl0\n", "\nscsi-hd,bus=ctrl0.0,scsi-id=0,drive=disk0,bootindex=1\n",
                "\nscsi-hd,bus=ctrl0.0,scsi-id=1,drive=disk1\n", "model=e1000e,"),
         L("virtio-blk", "ctrl1"));

  /* SATA: six ports an AHCI controller, a second one for disk 7. */
  vm = make_vm(P2V_TARGET_KVM, P2V_DISK_BUS_SATA, P2V_NIC_E1000, 7);
  expect(&vm, L("\nahci,id=ctrl0\n", "\nide-hd,bus=ctrl0.0,drive=disk0,bootindex=1\n",
                "\nide-hd,bus=ctrl0.5,drive=disk5\n", "\nahci,id=ctrl1\n",
                "\nide-hd,bus=ctrl1.0,drive=disk6\n", "model=e1000,"),
         L("virtio", "scsi"));

  vm = make_vm(P2V_TARGET_VMWARE, P2V_DISK_BUS_LSI_SAS, P2V_NIC_E1000E, 1);
  expect(&vm, L("\nmptsas1068,id=ctrl0\n", "\nscsi-hd,bus=ctrl0.0,scsi-id=0,drive=disk0,bootindex=1\n",
                "model=e1000e,"), L("pvscsi", "virtio"));

  vm = make_vm(P2V_TARGET_VMWARE, P2V_DISK_BUS_DEFAULT, P2V_NIC_DEFAULT, 1);
  expect(&vm, L("\npvscsi,id=ctrl0\n", "\nscsi-hd,bus=ctrl0.0,scsi-id=0,drive=disk0,bootindex=1\n",
                "model=vmxnet3,"), L("virtio", "mptsas"));

  vm = make_vm(P2V_TARGET_VMWARE, P2V_DISK_BUS_SATA, P2V_NIC_VMXNET3, 1);
  expect(&vm, L("\nahci,id=ctrl0\n", "\nide-hd,bus=ctrl0.0,drive=disk0,bootindex=1\n",
                "model=vmxnet3,"), L("virtio", "scsi"));

  /* The RTC as the metadata says: UTC for Linux, local time for Windows
   * unless it was converted with RealTimeIsUniversal=1. */
  vm = make_vm(P2V_TARGET_KVM, P2V_DISK_BUS_DEFAULT, P2V_NIC_DEFAULT, 1);
  expect(&vm, L("\n-rtc\nbase=utc\n"), L("localtime"));
  vm.os_type = "windows";
  expect(&vm, L("\n-rtc\nbase=localtime\n"), L("base=utc"));
  vm.rtc = P2V_RTC_UTC;
  expect(&vm, L("\n-rtc\nbase=utc\n"), L("localtime"));
  vm.os_type = "linux";
  vm.rtc = P2V_RTC_LOCALTIME;
  expect(&vm, L("\n-rtc\nbase=localtime\n"), L("base=utc"));

  /* What the target cannot have is refused, not booted. */
  vm = make_vm(P2V_TARGET_VMWARE, P2V_DISK_BUS_VIRTIO_BLK, P2V_NIC_DEFAULT, 1);
  CHECK(p2v_boot_test_argv(&vm, "/w", false) == NULL);
  vm = make_vm(P2V_TARGET_KVM, P2V_DISK_BUS_DEFAULT, P2V_NIC_VMXNET3, 1);
  CHECK(p2v_boot_test_argv(&vm, "/w", false) == NULL);

  /* The marker: by OS type unless given. */
  vm = make_vm(P2V_TARGET_KVM, P2V_DISK_BUS_DEFAULT, P2V_NIC_DEFAULT, 1);
  struct p2v_boot_test_options o = { .vm = &vm };
  CHECK(strcmp(p2v_boot_test_marker(&o), "login:") == 0);
  vm.os_type = "windows";
  CHECK(strcmp(p2v_boot_test_marker(&o), "p2v-firstboot: started") == 0);
  o.marker = "";
  CHECK(strcmp(p2v_boot_test_marker(&o), "p2v-firstboot: started") == 0);
  o.marker = "READY";
  CHECK(strcmp(p2v_boot_test_marker(&o), "READY") == 0);
  vm.os_type = NULL;
  o.marker = NULL;
  CHECK(strcmp(p2v_boot_test_marker(&o), "login:") == 0);
  printf("ok\n");
  return 0;
}
