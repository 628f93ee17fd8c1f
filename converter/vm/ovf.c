/* OVF descriptor and OVA package for VMware (docs/p2v-convert.md,
 * "Metadata, report and boot test").  Choices, and why:
 *  - OVF 1.0 (DMTF DSP0243 1.x namespaces): what vSphere and ovftool
 *    export by default and every VMware importer reads; the rasd/vssd
 *    elements inside each item follow the CIM schema's (alphabetical)
 *    order, which strict importers check.
 *  - VirtualSystemType vmx-19 (see vmx.c), one controller of the VM's
 *    bus: VirtualSCSI (pvscsi, the default) or lsilogicsas (ResourceType
 *    6), or SATA (ResourceType 20, vmware.sata.ahci, as ovftool writes
 *    it); disks as streamOptimized VMDK; NICs VmxNet3 (the default),
 *    E1000e or E1000 on "VM Network" with the kept MAC in rasd:Address, firmware=efi as a
 *    vmw:Config entry when the source booted with UEFI.
 *  - OVA: a tar whose first member is the .ovf, then the disks in
 *    References order, then the .mf manifest with "SHA256(name)= hex"
 *    lines (vSphere 6.5 and later read SHA-256 manifests).  Each disk is
 *    read once: hashed while it is archived.  libarchive's "restricted
 *    pax" writer emits plain ustar headers, adding a pax size record only
 *    for a member of 8 GiB or more, which ustar cannot describe.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "vm/vm-internal.h"

#define VMDK_STREAM_URL "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"
#define OVA_MEMBER_MAX 100           /* the ustar name field */

static const char *base_name(const char *path)
{
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

static int check_disks(const struct p2v_vm *vm)
{
  for (size_t i = 0; i < vm->ndisks; i++) {
    if (strcmp(vm->disks[i].format, "vmdk-stream") != 0) {
      p2v_error("VM %s: disk %s is %s, but OVF and OVA need streamOptimized VMDK disks "
                "(-O vmdk-stream)", vm->name, vm->disks[i].path, vm->disks[i].format);
      return -1;
    }
  }
  return 0;
}

/* One virtual hardware item; NULL fields are left out, the rest come in
 * the CIM schema's order. */
struct item {
  const char *address, *address_on_parent, *allocation_units, *automatic_allocation,
    *connection, *description, *element_name, *host_resource, *parent,
    *resource_subtype, *virtual_quantity;
  unsigned instance_id, resource_type;
};

static void put_item(FILE *fp, const struct item *it)
{
  fputs("      <Item>\n", fp);
#define F(tag, v) if (v) fprintf(fp, "        <rasd:" tag ">%s</rasd:" tag ">\n", v)
  F("Address", it->address);
  F("AddressOnParent", it->address_on_parent);
  F("AllocationUnits", it->allocation_units);
  F("AutomaticAllocation", it->automatic_allocation);
  F("Connection", it->connection);
  F("Description", it->description);
  F("ElementName", it->element_name);
  F("HostResource", it->host_resource);
  fprintf(fp, "        <rasd:InstanceID>%u</rasd:InstanceID>\n", it->instance_id);
  F("Parent", it->parent);
  F("ResourceSubType", it->resource_subtype);
  fprintf(fp, "        <rasd:ResourceType>%u</rasd:ResourceType>\n", it->resource_type);
  F("VirtualQuantity", it->virtual_quantity);
#undef F
  fputs("      </Item>\n", fp);
}

static int build(const struct p2v_vm *vm, const uint64_t *sizes, bool for_ova, FILE *fp)
{
  struct p2v_os_names os;
  p2v_vm_os_names(vm, &os);
  CLEANUP_FREE char *name = p2v_xml_escape(vm->name);
  CLEANUP_FREE char *desc = p2v_xml_escape(vm->description ? vm->description : "");
  if (!name || !desc)
    return -1;

  fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\"\n"
        "          xmlns:cim=\"http://schemas.dmtf.org/wbem/wscim/1/common\"\n"
        "          xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\"\n"
        "          xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData\"\n"
        "          xmlns:vmw=\"http://www.vmware.com/schema/ovf\"\n"
        "          xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData\"\n"
        "          xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
        "  <References>\n", fp);
  for (size_t i = 0; i < vm->ndisks; i++) {
    const char *href = for_ova ? base_name(vm->disks[i].path) : vm->disks[i].path;
    CLEANUP_FREE char *ehref = p2v_xml_escape(href);
    if (!ehref)
      return -1;
    fprintf(fp, "    <File ovf:href=\"%s\" ovf:id=\"file%zu\" ovf:size=\"%" PRIu64 "\"/>\n",
            ehref, i + 1, sizes[i]);
  }
  fputs("  </References>\n"
        "  <DiskSection>\n"
        "    <Info>Virtual disk information</Info>\n", fp);
  for (size_t i = 0; i < vm->ndisks; i++) {
    const struct p2v_vm_disk *d = &vm->disks[i];
    fprintf(fp, "    <Disk ovf:capacity=\"%" PRIu64 "\" ovf:capacityAllocationUnits=\"byte\""
                " ovf:diskId=\"vmdisk%zu\" ovf:fileRef=\"file%zu\" ovf:format=\"%s\"",
            d->virtual_size, i + 1, i + 1, VMDK_STREAM_URL);
    if (d->used_bytes)
      fprintf(fp, " ovf:populatedSize=\"%" PRIu64 "\"", d->used_bytes);
    fputs("/>\n", fp);
  }
  fputs("  </DiskSection>\n", fp);
  if (vm->nnics)
    fputs("  <NetworkSection>\n"
          "    <Info>The list of logical networks</Info>\n"
          "    <Network ovf:name=\"VM Network\">\n"
          "      <Description>The VM Network network</Description>\n"
          "    </Network>\n"
          "  </NetworkSection>\n", fp);
  fprintf(fp, "  <VirtualSystem ovf:id=\"%s\">\n"
              "    <Info>A virtual machine</Info>\n"
              "    <Name>%s</Name>\n"
              "    <OperatingSystemSection ovf:id=\"%u\" vmw:osType=\"%s\">\n"
              "      <Info>The kind of installed guest operating system</Info>\n",
          name, name, os.cim, os.vim);
  if (*desc)
    fprintf(fp, "      <Description>%s</Description>\n", desc);
  fprintf(fp, "    </OperatingSystemSection>\n"
              "    <VirtualHardwareSection>\n"
              "      <Info>Virtual hardware requirements</Info>\n"
              "      <System>\n"
              "        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>\n"
              "        <vssd:InstanceID>0</vssd:InstanceID>\n"
              "        <vssd:VirtualSystemIdentifier>%s</vssd:VirtualSystemIdentifier>\n"
              "        <vssd:VirtualSystemType>vmx-19</vssd:VirtualSystemType>\n"
              "      </System>\n", name);

  char quantity[32], element[64];
  unsigned id = 1;
  snprintf(quantity, sizeof quantity, "%u", vm->vcpus);
  snprintf(element, sizeof element, "%u virtual CPU(s)", vm->vcpus);
  put_item(fp, &(struct item) { .allocation_units = "hertz * 10^6",
                                .description = "Number of Virtual CPUs",
                                .element_name = element, .instance_id = id++,
                                .resource_type = 3, .virtual_quantity = quantity });
  unsigned long long mib = (vm->memory_bytes + (4u << 20) - 1) / (4u << 20) * 4;
  snprintf(quantity, sizeof quantity, "%llu", mib);
  snprintf(element, sizeof element, "%llu MB of memory", mib);
  put_item(fp, &(struct item) { .allocation_units = "byte * 2^20",
                                .description = "Memory Size",
                                .element_name = element, .instance_id = id++,
                                .resource_type = 4, .virtual_quantity = quantity });
  enum p2v_disk_bus bus = p2v_vm_disk_bus(vm);
  bool sata = bus == P2V_DISK_BUS_SATA;
  unsigned ctrl_id = id++;
  if (sata)
    put_item(fp, &(struct item) { .address = "0", .description = "SATA Controller (AHCI)",
                                  .element_name = "SATA Controller 0", .instance_id = ctrl_id,
                                  .resource_subtype = "vmware.sata.ahci", .resource_type = 20 });
  else
    put_item(fp, &(struct item) { .address = "0", .description = "SCSI Controller",
                                  .element_name = "SCSI Controller 0", .instance_id = ctrl_id,
                                  .resource_subtype = bus == P2V_DISK_BUS_LSI_SAS
                                                      ? "lsilogicsas" : "VirtualSCSI",
                                  .resource_type = 6 });
  char parent[16];
  snprintf(parent, sizeof parent, "%u", ctrl_id);
  for (size_t i = 0; i < vm->ndisks; i++) {
    char unit[24], resource[48];
    /* SCSI unit 7 is the controller's; SATA ports are all the disks'. */
    snprintf(unit, sizeof unit, "%zu", sata || i < 7 ? i : i + 1);
    snprintf(element, sizeof element, "Hard Disk %zu", i + 1);
    snprintf(resource, sizeof resource, "ovf:/disk/vmdisk%zu", i + 1);
    put_item(fp, &(struct item) { .address_on_parent = unit, .element_name = element,
                                  .host_resource = resource, .instance_id = id++,
                                  .parent = parent, .resource_type = 17 });
  }
  enum p2v_nic_model model = p2v_vm_nic_model(vm);
  const char *nic = model == P2V_NIC_E1000 ? "E1000" : model == P2V_NIC_E1000E ? "E1000e" : "VmxNet3";
  char nic_desc[64];
  snprintf(nic_desc, sizeof nic_desc, "%s ethernet adapter on \"VM Network\"", nic);
  for (size_t i = 0; i < vm->nnics; i++) {
    char slot[24];
    snprintf(slot, sizeof slot, "%zu", i);
    snprintf(element, sizeof element, "Network adapter %zu", i + 1);
    put_item(fp, &(struct item) { .address = vm->nics[i].mac, .address_on_parent = slot,
                                  .automatic_allocation = "true", .connection = "VM Network",
                                  .description = nic_desc,
                                  .element_name = element, .instance_id = id++,
                                  .resource_subtype = nic, .resource_type = 10 });
  }
  if (vm->uefi)
    fputs("      <vmw:Config ovf:required=\"false\" vmw:key=\"firmware\" vmw:value=\"efi\"/>\n", fp);
  fputs("    </VirtualHardwareSection>\n"
        "  </VirtualSystem>\n"
        "</Envelope>\n", fp);
  return 0;
}

int p2v_vm_ovf_build(const struct p2v_vm *vm, const uint64_t *sizes, bool for_ova,
                     char **out, size_t *len)
{
  *out = NULL;
  FILE *fp = open_memstream(out, len);
  if (!fp) {
    p2v_error("cannot build the OVF descriptor: %m");
    return -1;
  }
  int r = build(vm, sizes, for_ova, fp);
  if (fclose(fp) == EOF && r == 0) {
    p2v_error("cannot build the OVF descriptor: %m");
    r = -1;
  }
  if (r == -1) {
    free(*out);
    *out = NULL;
  }
  return r;
}

int p2v_vm_write_ovf(const struct p2v_vm *vm, const char *out_dir, const char *path)
{
  if (p2v_vm_check(vm) == -1 || check_disks(vm) == -1)
    return -1;
  CLEANUP_FREE char *file = p2v_vm_path(out_dir, path);
  CLEANUP_FREE uint64_t *sizes = calloc(vm->ndisks, sizeof *sizes);
  if (!file || !sizes) {
    p2v_error("cannot write the OVF of %s: %m", vm->name);
    return -1;
  }
  for (size_t i = 0; i < vm->ndisks; i++) {
    sizes[i] = vm->disks[i].file_size;
    if (sizes[i] == 0) {
      CLEANUP_FREE char *disk = p2v_vm_path(out_dir, vm->disks[i].path);
      struct stat st;
      if (!disk)
        return -1;
      if (stat(disk, &st) == -1) {
        p2v_error("cannot read the size of disk %s for the OVF: %m", disk);
        return -1;
      }
      sizes[i] = (uint64_t) st.st_size;
    }
  }
  CLEANUP_FREE char *buf = NULL;
  size_t len;
  if (p2v_vm_ovf_build(vm, sizes, false, &buf, &len) == -1)
    return -1;
  return p2v_write_file_atomic(file, buf, len);
}

/* ---- OVA ---- */

struct ova {
  struct archive *a;
  const char *tmp;             /* for messages */
  time_t now;
  FILE *manifest;              /* "SHA256(name)= hex" lines, in memory */
};

static int add_header(struct ova *o, const char *name, uint64_t size)
{
  struct archive_entry *e = archive_entry_new();
  if (!e) {
    p2v_error("cannot write %s: out of memory", o->tmp);
    return -1;
  }
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, (la_int64_t) size);
  archive_entry_set_mtime(e, o->now, 0);
  int r = archive_write_header(o->a, e);
  archive_entry_free(e);
  if (r != ARCHIVE_OK) {
    p2v_error("cannot write %s: %s: %s", o->tmp, name, archive_error_string(o->a));
    return -1;
  }
  return 0;
}

static int add_data(struct ova *o, const char *name, const void *buf, size_t len)
{
  la_ssize_t w = archive_write_data(o->a, buf, len);
  if (w < 0 || (size_t) w != len) {
    p2v_error("cannot write %s: %s: %s", o->tmp, name,
              w < 0 ? archive_error_string(o->a) : "short write");
    return -1;
  }
  return 0;
}

static int add_hash(struct ova *o, const char *name, gnutls_hash_hd_t h)
{
  unsigned char digest[32];
  gnutls_hash_deinit(h, digest);
  fprintf(o->manifest, "SHA256(%s)= ", name);
  for (size_t i = 0; i < sizeof digest; i++)
    fprintf(o->manifest, "%02x", digest[i]);
  fputc('\n', o->manifest);
  return 0;
}

static int add_memory(struct ova *o, const char *name, const char *buf, size_t len, bool hash)
{
  if (add_header(o, name, len) == -1 || add_data(o, name, buf, len) == -1)
    return -1;
  if (hash) {
    gnutls_hash_hd_t h;
    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
      p2v_error("cannot hash %s: SHA-256 unavailable", name);
      return -1;
    }
    gnutls_hash(h, buf, len);
    add_hash(o, name, h);
  }
  return 0;
}

static int add_file(struct ova *o, const char *name, const char *path, int fd, uint64_t size)
{
  enum { BUF = 1 << 20 };
  CLEANUP_FREE char *buf = malloc(BUF);
  gnutls_hash_hd_t h;
  if (!buf) {
    p2v_error("cannot write %s: out of memory", o->tmp);
    return -1;
  }
  if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
    p2v_error("cannot hash %s: SHA-256 unavailable", path);
    return -1;
  }
  if (add_header(o, name, size) == -1)
    goto fail;
  uint64_t done = 0;
  while (done < size) {
    size_t want = size - done < BUF ? (size_t) (size - done) : BUF;
    ssize_t r = pread(fd, buf, want, (off_t) done);
    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0) {
      if (r == 0)
        p2v_error("cannot read disk %s: it shrank while the OVA was written", path);
      else
        p2v_error("cannot read disk %s: %m", path);
      goto fail;
    }
    gnutls_hash(h, buf, (size_t) r);
    if (add_data(o, name, buf, (size_t) r) == -1)
      goto fail;
    done += (uint64_t) r;
  }
  return add_hash(o, name, h);

fail:
  gnutls_hash_deinit(h, NULL);
  return -1;
}

/* NAME.ova -> NAME.EXT (the members' names inside the OVA). */
static char *member_name(const char *ova_path, const char *ext)
{
  const char *base = base_name(ova_path);
  size_t len = strlen(base);
  if (len > 4 && strcmp(base + len - 4, ".ova") == 0)
    len -= 4;
  char *r;
  if (asprintf(&r, "%.*s%s", (int) len, base, ext) == -1) {
    p2v_error("cannot write %s: %m", ova_path);
    return NULL;
  }
  return r;
}

int p2v_vm_write_ova(const struct p2v_vm *vm, const char *out_dir, const char *path)
{
  if (p2v_vm_check(vm) == -1 || check_disks(vm) == -1)
    return -1;
  CLEANUP_FREE char *file = p2v_vm_path(out_dir, path);
  CLEANUP_FREE char *tmp = NULL;
  CLEANUP_FREE char *ovf_name = member_name(path, ".ovf");
  CLEANUP_FREE char *mf_name = member_name(path, ".mf");
  CLEANUP_FREE uint64_t *sizes = calloc(vm->ndisks, sizeof *sizes);
  CLEANUP_FREE int *fds = malloc(vm->ndisks * sizeof *fds);
  CLEANUP_FREE char *ovf = NULL;
  CLEANUP_FREE char *mf = NULL;
  size_t ovf_len, mf_len;
  struct ova o = { .now = time(NULL) };
  int fd = -1, ret = -1;
  size_t nopen = 0;

  if (!file || !ovf_name || !mf_name || !sizes || !fds || asprintf(&tmp, "%s.tmp", file) == -1) {
    p2v_error("cannot write the OVA of %s: %m", vm->name);
    return -1;
  }
  o.tmp = tmp;

  /* Open every disk first: a missing one fails before anything is created. */
  for (; nopen < vm->ndisks; nopen++) {
    const char *dp = vm->disks[nopen].path;
    CLEANUP_FREE char *disk = p2v_vm_path(out_dir, dp);
    if (!disk)
      goto out;
    const char *name = base_name(dp);
    if (strlen(name) > OVA_MEMBER_MAX || strcmp(name, ovf_name) == 0 || strcmp(name, mf_name) == 0) {
      p2v_error("disk name %s cannot go into an OVA: names must be at most %d bytes and "
                "differ from the .ovf and .mf", name, OVA_MEMBER_MAX);
      goto out;
    }
    for (size_t j = 0; j < nopen; j++) {
      if (strcmp(name, base_name(vm->disks[j].path)) == 0) {
        p2v_error("disks %s and %s have the same name: an OVA needs distinct names",
                  vm->disks[j].path, dp);
        goto out;
      }
    }
    fds[nopen] = open(disk, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fds[nopen] == -1 || fstat(fds[nopen], &st) == -1) {
      p2v_error("cannot open disk %s for the OVA: %m", disk);
      if (fds[nopen] >= 0)
        close(fds[nopen]);
      goto out;
    }
    sizes[nopen] = (uint64_t) st.st_size;
  }
  if (strlen(ovf_name) > OVA_MEMBER_MAX) {
    p2v_error("OVA name %s is too long: at most %d bytes", ovf_name, OVA_MEMBER_MAX);
    goto out;
  }
  if (p2v_vm_ovf_build(vm, sizes, true, &ovf, &ovf_len) == -1)
    goto out;

  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd == -1) {
    p2v_error("cannot create %s: %m", tmp);
    goto out;
  }
  o.manifest = open_memstream(&mf, &mf_len);
  o.a = archive_write_new();
  if (!o.manifest || !o.a ||
      archive_write_set_format_pax_restricted(o.a) != ARCHIVE_OK ||
      archive_write_open_fd(o.a, fd) != ARCHIVE_OK) {
    p2v_error("cannot write %s: %s", tmp, o.a ? archive_error_string(o.a) : "out of memory");
    goto out;
  }
  if (add_memory(&o, ovf_name, ovf, ovf_len, true) == -1)
    goto out;
  for (size_t i = 0; i < vm->ndisks; i++) {
    CLEANUP_FREE char *disk = p2v_vm_path(out_dir, vm->disks[i].path);
    if (!disk || add_file(&o, base_name(vm->disks[i].path), disk, fds[i], sizes[i]) == -1)
      goto out;
  }
  if (fclose(o.manifest) == EOF) {
    o.manifest = NULL;
    p2v_error("cannot build the OVA manifest: %m");
    goto out;
  }
  o.manifest = NULL;
  if (add_memory(&o, mf_name, mf, mf_len, false) == -1)
    goto out;
  if (archive_write_close(o.a) != ARCHIVE_OK) {
    p2v_error("cannot write %s: %s", tmp, archive_error_string(o.a));
    goto out;
  }
  if (fsync(fd) == -1 || close(fd) == -1) {
    fd = -1;
    p2v_error("cannot write %s: %m", tmp);
    goto out;
  }
  fd = -1;
  ret = p2v_commit_file(tmp, file);

out:
  if (o.a)
    archive_write_free(o.a);
  if (o.manifest)
    fclose(o.manifest);
  if (fd >= 0)
    close(fd);
  if (ret == -1 && tmp)
    unlink(tmp);
  for (size_t i = 0; i < nopen; i++)
    close(fds[i]);
  return ret;
}
