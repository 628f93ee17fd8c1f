/* The converted machine's description and what is written from it: libvirt
 * domain XML, VMware .vmx, OVF and OVA; and the boot test that starts it
 * in qemu (docs/p2v-convert.md).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_VM_H
#define P2V_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest.h"

struct p2v_vm_disk {
  const char *path;            /* output image, as written in the metadata (relative to the out dir) */
  const char *format;          /* "qcow2", "raw", "vmdk", "vmdk-stream" */
  uint64_t virtual_size;
  uint64_t file_size;          /* bytes of the image file (OVF ovf:size); 0: stat the file */
  uint64_t used_bytes;         /* data in the disk (OVF ovf:populatedSize); 0: unknown */
};

struct p2v_vm_nic {
  const char *mac;             /* "52:54:00:12:34:56"; NULL: let the hypervisor pick */
  const char *source_name;     /* the source's interface name, for the record */
};

struct p2v_vm {
  const char *name;
  enum p2v_target target;      /* KVM: virtio disks and NICs; VMware: pvscsi, vmxnet3 */
  unsigned vcpus;
  uint64_t memory_bytes;
  bool uefi;
  const char *os_type;         /* "linux", "windows" */
  const char *osinfo;          /* "debian12"; "unknown" */
  const char *description;     /* "Debian GNU/Linux 12 from p2v of host web01" */
  const struct p2v_vm_disk *disks;
  size_t ndisks;
  const struct p2v_vm_nic *nics;
  size_t nnics;
};

/* Each writes PATH (relative to out_dir unless absolute) as PATH.tmp and
 * renames it when complete; 0, or -1 with one error reported and nothing
 * left behind.  Bad input (no name, a disk format the target cannot use,
 * a malformed MAC) is an error, never guessed around.
 * Disk formats: libvirt qcow2, raw or vmdk (disks by absolute path);
 * vmx vmdk (monolithicSparse); ovf and ova vmdk-stream.  vmx and ovf name
 * the disks relative to out_dir (they sit beside the metadata). */
int p2v_vm_write_libvirt(const struct p2v_vm *vm, const char *out_dir, const char *path);
int p2v_vm_write_vmx(const struct p2v_vm *vm, const char *out_dir, const char *path);
int p2v_vm_write_ovf(const struct p2v_vm *vm, const char *out_dir, const char *path);
/* OVA: a tar (libarchive, ustar) of the OVF, the disks (which must be
 * vmdk-stream) and a manifest of SHA-256 sums, in the order OVF requires;
 * each disk is read once, hashed while it is archived. */
int p2v_vm_write_ova(const struct p2v_vm *vm, const char *out_dir, const char *path);

struct p2v_boot_test_options {
  const struct p2v_vm *vm;
  const char *out_dir;         /* the disks' directory; the screenshot goes here */
  unsigned timeout_seconds;    /* give up after this (default 600) */
  const char *marker;          /* text on the serial console meaning "booted";
                                  NULL: a login prompt ("login:") */
};
struct p2v_boot_test_result {
  bool passed;
  bool used_kvm;               /* false: TCG */
  double seconds;              /* from qemu start to the marker (or to giving up) */
  char *console_tail;          /* the serial console's last lines */
  char *screenshot;            /* PNG path (QMP screendump), NULL if none */
  char *reason;                /* why it failed; NULL when it passed */
  char **warnings;             /* "[FAILED] ..." lines the guest printed (systemd's failed
                                  units), cleaned, each once, at most P2V_BOOT_TEST_MAX_WARNINGS */
  size_t nwarnings;
};
#define P2V_BOOT_TEST_MAX_WARNINGS 32
/* Boot the VM headless in qemu on a throwaway overlay of each disk (the
 * output is never written); KVM if a probe guest proves it runs, else
 * TCG (said once; P2V_BOOT_TEST_ACCEL=tcg|kvm skips the probe).  The
 * screenshot is out_dir/boot-test.png; overlays and logs live in a folder
 * under $TMPDIR, removed at the end.  0 when the test ran (passed or not,
 * see r; r->reason says why not), -1 when it could not run (reported:
 * missing disk, qemu-img or qemu failing to start, no OVMF for UEFI). */
int p2v_boot_test(const struct p2v_boot_test_options *o, struct p2v_boot_test_result *r);
void p2v_boot_test_result_clear(struct p2v_boot_test_result *r);

#endif
