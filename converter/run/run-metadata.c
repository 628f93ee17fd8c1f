/* run's metadata phase: the VM's description from the survey (CPUs,
 * memory, NICs and their MACs) and the guest (firmware, OS), written as
 * libvirt XML (kvm) or .vmx (vmware, vmdk); and the package phase, last:
 * the OVA (vmware, vmdk-stream) of disks already verified and
 * boot-tested, which then replaces them.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "report/report.h"
#include "run/run.h"
#include "survey.h"
#include "vm/vm.h"

#define DEFAULT_VCPUS  2
#define DEFAULT_MEMORY (UINT64_C(2) << 30)

static bool physical_nic(const struct p2v_survey_nic *nic)
{
  return !nic->is_virtual && nic->mac;
}

/* The description run_metadata and the boot test share; arrays owned by
 * the caller's buffers. */
int run_describe_vm(struct run *run, struct run_vm *v)
{
  *v = (struct run_vm) { .disks = calloc(run->ndisks, sizeof *v->disks) };
  if (!v->disks) {
    p2v_error("out of memory");
    return -1;
  }
  struct p2v_vm_disk *disks = v->disks;
  struct p2v_vm_nic *nics = v->nics;
  const size_t max_nics = RUN_MAX_NICS;
  const struct p2v_survey *s = run->survey;
  unsigned vcpus = run->vcpus;
  if (!vcpus && s && s->cpus.threads != P2V_SURVEY_UNKNOWN && s->cpus.threads > 0)
    vcpus = s->cpus.threads > 512 ? 512 : (unsigned) s->cpus.threads;
  if (!vcpus && s && s->cpus.cores != P2V_SURVEY_UNKNOWN && s->cpus.cores > 0)
    vcpus = s->cpus.cores > 512 ? 512 : (unsigned) s->cpus.cores;
  uint64_t memory = run->memory;
  if (!memory && s && s->memory_bytes != P2V_SURVEY_UNKNOWN && s->memory_bytes >= (64u << 20))
    memory = s->memory_bytes;

  for (size_t i = 0; i < run->ndisks; i++) {
    struct stat st;
    disks[i] = (struct p2v_vm_disk) {
      .path = run->disks[i].output_name, .format = run->format,
      .virtual_size = run->disks[i].size,
      .file_size = stat(run->disks[i].output, &st) == 0 ? (uint64_t) st.st_size : 0,
    };
  }
  size_t nnics = 0;
  for (size_t i = 0; s && i < s->nnics && nnics < max_nics; i++)
    if (physical_nic(&s->nics[i]))
      nics[nnics++] = (struct p2v_vm_nic) { s->nics[i].mac, s->nics[i].name };
  if (nnics == 0 && max_nics > 0)    /* one NIC, with the MAC the conversion pinned */
    nics[nnics++] = (struct p2v_vm_nic) { run->vm_mac[0] ? run->vm_mac : NULL, NULL };

  const char *host = s && s->hostname ? s->hostname : run->guest.hostname;
  snprintf(v->description, sizeof v->description, "%s, from p2v of host %s",
           run->guest.product_name ? run->guest.product_name : "unknown OS",
           host ? host : "unknown");
  v->vm = (struct p2v_vm) {
    .name = run->name, .target = run->target,
    .disk_bus = run->hardware.disk_bus, .nic_model = run->hardware.nic_model,
    .rtc = run->hardware.rtc,
    .vcpus = vcpus ? vcpus : DEFAULT_VCPUS,
    .memory_bytes = memory ? memory : DEFAULT_MEMORY,
    .uefi = run->guest.uefi, .os_type = run->guest.type, .osinfo = run->guest.osinfo,
    .description = v->description, .disks = disks, .ndisks = run->ndisks,
    .nics = nics, .nnics = nnics,
  };
  return 0;
}

int run_choose_vm_mac(struct run *run)
{
  const struct p2v_survey *s = run->survey;
  size_t n = 0;
  const char *mac = NULL;
  for (size_t i = 0; s && i < s->nnics; i++)
    if (physical_nic(&s->nics[i]) && n++ == 0)
      mac = s->nics[i].mac;
  run->vm_mac[0] = '\0';
  if (n == 1 && strlen(mac) < sizeof run->vm_mac)
    snprintf(run->vm_mac, sizeof run->vm_mac, "%s", mac);
  if (n != 0)
    return 0;
  unsigned char r[3];
  if (getrandom(r, sizeof r, 0) != (ssize_t) sizeof r) {
    p2v_error("cannot choose a MAC address for the VM: getrandom: %m");
    return -1;
  }
  if (run->target == P2V_TARGET_VMWARE)   /* 00:50:56:00:00:00-3f:ff:ff, VMware's static range */
    snprintf(run->vm_mac, sizeof run->vm_mac, "00:50:56:%02x:%02x:%02x", r[0] & 0x3f, r[1], r[2]);
  else
    snprintf(run->vm_mac, sizeof run->vm_mac, "52:54:00:%02x:%02x:%02x", r[0], r[1], r[2]);
  return 0;
}

void run_vm_clear(struct run_vm *v)
{
  free(v->disks);
  v->disks = NULL;
}

static int write_one(struct run *run, const struct p2v_vm *vm, const char *ext, const char *kind,
                     int (*writer)(const struct p2v_vm *, const char *, const char *))
{
  CLEANUP_FREE char *file = NULL;   /* relative to the output directory */
  if (asprintf(&file, "%s.%s", run->name, ext) == -1) {
    p2v_error("out of memory");
    return -1;
  }
  if (writer(vm, run->out_dir, file) == -1)
    return -1;
  p2v_report_file(run->report, kind, file);
  return 0;
}

enum run_failure run_metadata(struct run *run)
{
  struct run_vm v;
  if (run_describe_vm(run, &v) == -1)
    return RUN_FAILED;
  const struct p2v_vm vm = v.vm;
  p2v_report_vm_hardware(run->report, p2v_disk_bus_name(p2v_vm_disk_bus(&vm)),
                         p2v_nic_model_name(p2v_vm_nic_model(&vm)));
  int r;
  if (run->target == P2V_TARGET_KVM)
    r = write_one(run, &vm, "xml", "libvirt", p2v_vm_write_libvirt);
  else if (run_writes_ova(run)) {
    /* streamOptimized (the default): what OVF and OVA carry, for ESXi
     * and Workstation to import; a .vmx cannot run such a disk.  The
     * OVA comes last (run_package), once its disks are verified. */
    r = run->keep_disks ? write_one(run, &vm, "ovf", "ovf", p2v_vm_write_ovf) : 0;
  } else
    /* monolithicSparse (-O vmdk): a .vmx that Workstation opens as is. */
    r = write_one(run, &vm, "vmx", "vmx", p2v_vm_write_vmx);
  run_vm_clear(&v);
  return r == 0 ? RUN_OK : RUN_FAILED;
}

bool run_writes_ova(const struct run *run)
{
  return run->target == P2V_TARGET_VMWARE && run->format && !strcmp(run->format, "vmdk-stream");
}

/* The OVA holds each disk: the loose copies are duplicates nobody asked
 * for.  Removed only after the OVA is complete and synced. */
static int remove_loose_disks(struct run *run)
{
  int r = 0;
  for (size_t i = 0; i < run->ndisks; i++)
    if (unlink(run->disks[i].output) == -1 && errno != ENOENT) {
      p2v_error("cannot remove %s (the OVA holds it): %m", run->disks[i].output);
      r = -1;
    }
  return r;
}

enum run_failure run_package(struct run *run)
{
  struct run_vm v;
  if (run_describe_vm(run, &v) == -1)
    return RUN_FAILED;
  const struct p2v_vm vm = v.vm;
  int r = write_one(run, &vm, "ova", "ova", p2v_vm_write_ova);
  run_vm_clear(&v);
  if (r == 0 && !run->keep_disks)
    r = remove_loose_disks(run);
  return r == 0 ? RUN_OK : RUN_FAILED;
}
