/* The converted machine's description and what is written from it: libvirt
 * domain XML, VMware .vmx, OVF and OVA (docs/p2v-convert.md); and the
 * text and file helpers the report and the boot test share with them.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_VM_H
#define P2V_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "file-io.h"   /* p2v_write_file_atomic, p2v_commit_file: callers of vm.h use them */

/* The hypervisor the machine is converted for. */
enum p2v_target { P2V_TARGET_KVM, P2V_TARGET_VMWARE };

/* The VM's disk controller and NIC.  DEFAULT is the target's own
 * (KVM: virtio-blk and virtio-net; VMware: pvscsi and vmxnet3); the
 * others are chosen by the guest conversion, e.g. SATA and e1000e for a
 * Windows guest without virtio drivers, LSI Logic SAS for one on VMware. */
enum p2v_disk_bus {
  P2V_DISK_BUS_DEFAULT, P2V_DISK_BUS_VIRTIO_BLK, P2V_DISK_BUS_VIRTIO_SCSI,
  P2V_DISK_BUS_SATA, P2V_DISK_BUS_LSI_SAS, P2V_DISK_BUS_PVSCSI,
};
enum p2v_nic_model {
  P2V_NIC_DEFAULT, P2V_NIC_VIRTIO, P2V_NIC_E1000, P2V_NIC_E1000E, P2V_NIC_VMXNET3,
};

/* What the guest keeps in its real-time clock.  DEFAULT: local time for
 * Windows (its default), UTC otherwise; a Windows guest converted with
 * RealTimeIsUniversal=1 says UTC. */
enum p2v_rtc { P2V_RTC_DEFAULT, P2V_RTC_UTC, P2V_RTC_LOCALTIME };

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
  enum p2v_target target;
  enum p2v_disk_bus disk_bus;  /* DEFAULT: the target's (KVM virtio-blk, VMware pvscsi) */
  enum p2v_nic_model nic_model;      /* DEFAULT: the target's (KVM virtio, VMware vmxnet3) */
  enum p2v_rtc rtc;                  /* DEFAULT: local time for Windows, else UTC */
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

/* ---- hardware.c: the disk controller and NIC a VM gets ---- */

/* vm's disk bus and NIC model with DEFAULT resolved to the target's own. */
enum p2v_disk_bus p2v_vm_disk_bus(const struct p2v_vm *vm);
enum p2v_nic_model p2v_vm_nic_model(const struct p2v_vm *vm);
/* Does the VM's RTC run in local time (DEFAULT resolved)? */
bool p2v_vm_rtc_localtime(const struct p2v_vm *vm);
/* "virtio-blk", "virtio-scsi", "sata", "lsi-sas", "pvscsi"; "default" */
const char *p2v_disk_bus_name(enum p2v_disk_bus bus);
/* "virtio", "e1000", "e1000e", "vmxnet3"; "default" */
const char *p2v_nic_model_name(enum p2v_nic_model model);
/* The target can have this disk bus and NIC (KVM: virtio-blk,
 * virtio-scsi or SATA, virtio, e1000 or e1000e; VMware: LSI Logic SAS,
 * pvscsi or SATA, e1000, e1000e or vmxnet3).  -1 reported (one line);
 * p2v_vm_check calls it. */
int p2v_vm_check_hardware(const struct p2v_vm *vm);

/* ---- vm-util.c: text and files, shared with report/ and check/ ---- */

/* Length of the valid UTF-8 sequence at s (1-4), 0 if s does not start
 * one (overlong forms, surrogates and code points past U+10FFFF are
 * invalid). */
size_t p2v_utf8_seq_len(const unsigned char *s);

/* Text for an XML attribute or element: & < > ' " become entities; bytes
 * XML 1.0 cannot carry even escaped (control characters other than tab,
 * newline, carriage return; invalid UTF-8) become '?'.  Malloc'd; NULL on
 * no memory (reported). */
char *p2v_xml_escape(const char *s);

/* A .vmx value (inside double quotes): '"', '|', and control characters
 * become |XX (VMware's own hex escape).  Malloc'd; NULL reported. */
char *p2v_vmx_escape(const char *s);

/* Print s for a person: control characters (except newline when
 * keep_newlines) become \xNN, invalid UTF-8 bytes too, so a string from
 * the guest cannot move the cursor or forge lines. */
void p2v_text_escape(FILE *fp, const char *s, bool keep_newlines);

/* "52:54:00:AB:cd:ef": six colon-separated hex pairs. */
bool p2v_mac_valid(const char *mac);

/* A random (version 4) UUID, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx";
 * -1 reported. */
int p2v_uuid_generate(char out[37]);

/* Checks every writer does first: a name, CPUs, memory, at least one
 * disk, valid MACs.  -1 reported. */
int p2v_vm_check(const struct p2v_vm *vm);

/* PATH resolved against out_dir (malloc'd; NULL reported). */
char *p2v_vm_path(const char *out_dir, const char *path);

#endif
