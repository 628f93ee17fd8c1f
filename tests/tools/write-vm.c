/* write-vm: build a struct p2v_vm from the command line and call one VM
 * metadata writer or the boot test, so shell tests can check them against
 * virt-xml-validate, xmllint, tar, qemu-img, sha256sum and qemu.
 *
 *   write-vm libvirt|vmx|ovf|ova OUT_DIR FILE [VM OPTIONS]
 *   write-vm boot-test OUT_DIR [VM OPTIONS] [--marker TEXT] [--timeout S]
 *
 * VM OPTIONS: --name NAME, --target kvm|vmware (kvm), --vcpus N (2),
 * --memory MIB (1024), --uefi, --os-type linux|windows, --osinfo ID,
 * --description TEXT, --disk PATH:FORMAT[:VIRTUAL_SIZE[:USED]] (repeat),
 * --disk-bus virtio-blk|virtio-scsi|sata|lsi-sas|pvscsi,
 * --nic-model virtio|e1000|e1000e|vmxnet3 (default: the target's),
 * --nic MAC or --nic - (no MAC) (repeat).  PATH is relative to OUT_DIR.
 * The boot test prints its result as a report's JSON on stdout (the
 * report's boot_test object) and exits 0 whenever the test ran.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "report/report.h"
#include "vm/vm.h"

#define MAX_ITEMS 32

static _Noreturn void usage(void)
{
  fputs("usage: write-vm libvirt|vmx|ovf|ova OUT_DIR FILE [OPTIONS]\n"
        "       write-vm boot-test OUT_DIR [OPTIONS] [--marker TEXT] [--timeout S]\n", stderr);
  exit(2);
}

int main(int argc, char **argv)
{
  static struct p2v_vm_disk disks[MAX_ITEMS];
  static struct p2v_vm_nic nics[MAX_ITEMS];
  struct p2v_vm vm = { .name = "p2v-test", .target = P2V_TARGET_KVM, .vcpus = 2,
                       .memory_bytes = 1024ull << 20, .os_type = "linux",
                       .osinfo = "unknown", .disks = disks, .nics = nics };
  const char *marker = NULL;
  unsigned timeout = 0;
  enum { OPT_UEFI = 256, OPT_OS_TYPE, OPT_OSINFO, OPT_DESC, OPT_MARKER, OPT_TIMEOUT,
         OPT_DISK_BUS, OPT_NIC_MODEL };
  static const struct option opts[] = {
    { "name", required_argument, NULL, 'n' },
    { "target", required_argument, NULL, 't' },
    { "vcpus", required_argument, NULL, 'c' },
    { "memory", required_argument, NULL, 'm' },
    { "disk", required_argument, NULL, 'd' },
    { "nic", required_argument, NULL, 'N' },
    { "uefi", no_argument, NULL, OPT_UEFI },
    { "os-type", required_argument, NULL, OPT_OS_TYPE },
    { "osinfo", required_argument, NULL, OPT_OSINFO },
    { "description", required_argument, NULL, OPT_DESC },
    { "marker", required_argument, NULL, OPT_MARKER },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "disk-bus", required_argument, NULL, OPT_DISK_BUS },
    { "nic-model", required_argument, NULL, OPT_NIC_MODEL },
    { NULL, 0, NULL, 0 },
  };

  p2v_log_init(argv[0]);
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'n': vm.name = optarg; break;
    case 't':
      if (strcmp(optarg, "kvm") == 0) vm.target = P2V_TARGET_KVM;
      else if (strcmp(optarg, "vmware") == 0) vm.target = P2V_TARGET_VMWARE;
      else usage();
      break;
    case 'c': vm.vcpus = (unsigned) strtoul(optarg, NULL, 10); break;
    case 'm': vm.memory_bytes = strtoull(optarg, NULL, 10) << 20; break;
    case 'd': {
      if (vm.ndisks == MAX_ITEMS) usage();
      struct p2v_vm_disk *d = &disks[vm.ndisks++];
      d->path = strtok(optarg, ":");
      d->format = strtok(NULL, ":");
      const char *size = strtok(NULL, ":");
      const char *used = strtok(NULL, ":");
      if (!d->path || !d->format) usage();
      d->virtual_size = size ? strtoull(size, NULL, 10) : 0;
      d->used_bytes = used ? strtoull(used, NULL, 10) : 0;
      break;
    }
    case 'N':
      if (vm.nnics == MAX_ITEMS) usage();
      nics[vm.nnics].mac = strcmp(optarg, "-") == 0 ? NULL : optarg;
      nics[vm.nnics++].source_name = "eth";
      break;
    case OPT_UEFI: vm.uefi = true; break;
    case OPT_OS_TYPE: vm.os_type = optarg; break;
    case OPT_OSINFO: vm.osinfo = optarg; break;
    case OPT_DESC: vm.description = optarg; break;
    case OPT_MARKER: marker = optarg; break;
    case OPT_TIMEOUT: timeout = (unsigned) strtoul(optarg, NULL, 10); break;
    case OPT_DISK_BUS:
      for (vm.disk_bus = P2V_DISK_BUS_PVSCSI; vm.disk_bus > P2V_DISK_BUS_DEFAULT; vm.disk_bus--)
        if (strcmp(optarg, p2v_disk_bus_name(vm.disk_bus)) == 0)
          break;
      if (vm.disk_bus == P2V_DISK_BUS_DEFAULT) usage();
      break;
    case OPT_NIC_MODEL:
      for (vm.nic_model = P2V_NIC_VMXNET3; vm.nic_model > P2V_NIC_DEFAULT; vm.nic_model--)
        if (strcmp(optarg, p2v_nic_model_name(vm.nic_model)) == 0)
          break;
      if (vm.nic_model == P2V_NIC_DEFAULT) usage();
      break;
    default: usage();
    }
  }
  if (argc - optind < 2)
    usage();
  const char *kind = argv[optind], *out_dir = argv[optind + 1];

  if (strcmp(kind, "boot-test") == 0) {
    struct p2v_boot_test_options o = { .vm = &vm, .out_dir = out_dir,
                                       .timeout_seconds = timeout, .marker = marker };
    struct p2v_boot_test_result r;
    if (p2v_boot_test(&o, &r) == -1)
      return 1;
    struct p2v_report *rep = p2v_report_new("write-vm", "boot-test", vm.name);
    if (!rep)
      return 1;
    p2v_report_boot_test(rep, &r);
    puts(p2v_report_json(rep));
    p2v_report_free(rep);
    p2v_boot_test_result_clear(&r);
    return 0;
  }

  if (argc - optind != 3)
    usage();
  const char *file = argv[optind + 2];
  int r;
  if (strcmp(kind, "libvirt") == 0) r = p2v_vm_write_libvirt(&vm, out_dir, file);
  else if (strcmp(kind, "vmx") == 0) r = p2v_vm_write_vmx(&vm, out_dir, file);
  else if (strcmp(kind, "ovf") == 0) r = p2v_vm_write_ovf(&vm, out_dir, file);
  else if (strcmp(kind, "ova") == 0) r = p2v_vm_write_ova(&vm, out_dir, file);
  else usage();
  return r == 0 ? 0 : 1;
}
