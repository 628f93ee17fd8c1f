/* Test tool: inspect and convert the guest on NBD sources through
 * converter/guest.h, as `p2v-convert run` does, and print what was found
 * and changed.
 *   guest-convert [-v] [--target kvm|vmware] [--block-driver virtio-scsi]
 *                 [--inspect-only] [--survey FILE] URI:OVERLAY...
 * After a conversion it prints "hardware: BUS NIC" (the VM's devices).
 * Exit 0; 1 on failure; 2 no OS; 3 unsupported; 4 cannot convert.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/guest.h"
#include "log.h"
#include "survey.h"

static struct p2v_survey *read_survey(const char *path)
{
  FILE *fp = fopen(path, "re");
  if (!fp) {
    p2v_error("cannot open %s: %m", path);
    return NULL;
  }
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  return p2v_survey_from_json(buf, n);
}

int main(int argc, char **argv)
{
  p2v_log_init("guest-convert");
  struct p2v_convert_options o = { .target = P2V_TARGET_KVM, .keep_mac = true,
                                   .serial_console = true };
  bool inspect_only = false;
  struct p2v_survey *survey = NULL;
  int verbosity = 0, i;
  for (i = 1; i < argc && argv[i][0] == '-'; i++) {
    if (strcmp(argv[i], "-v") == 0)
      verbosity++;
    else if (strcmp(argv[i], "--inspect-only") == 0)
      inspect_only = true;
    else if (strcmp(argv[i], "--target") == 0 && i + 1 < argc)
      o.target = strcmp(argv[++i], "vmware") == 0 ? P2V_TARGET_VMWARE : P2V_TARGET_KVM;
    else if (strcmp(argv[i], "--block-driver") == 0 && i + 1 < argc)
      o.block_driver = strcmp(argv[++i], "virtio-scsi") == 0 ? P2V_DISK_BUS_VIRTIO_SCSI
                                                             : P2V_DISK_BUS_VIRTIO_BLK;
    else if (strcmp(argv[i], "--survey") == 0 && i + 1 < argc) {
      if (!(survey = read_survey(argv[++i])))
        return 1;
    } else if (strcmp(argv[i], "--vendor-agents") == 0 && i + 1 < argc)
      o.vendor_agents_file = argv[++i];
    else {
      p2v_error("unknown option %s", argv[i]);
      return 1;
    }
  }
  p2v_log_set_verbosity(verbosity);
  o.survey = survey;
  size_t ndisks = (size_t)(argc - i);
  if (ndisks == 0) {
    p2v_error("usage: guest-convert [-v] [--target kvm|vmware] [--inspect-only] URI:OVERLAY...");
    return 1;
  }
  struct p2v_guest_disk *disks = calloc(ndisks, sizeof *disks);
  if (!disks)
    return 1;
  for (size_t d = 0; d < ndisks; d++) {
    char *arg = argv[i + (int)d];
    char *sep = strrchr(arg, ':');   /* the overlay path has no ':' */
    if (!sep) {
      p2v_error("expected URI:OVERLAY, got %s", arg);
      return 1;
    }
    *sep = '\0';
    disks[d].source_uri = arg;
    disks[d].overlay_path = sep + 1;
  }
  static const int codes[] = { [P2V_GUEST_FAILED] = 1, [P2V_GUEST_NO_OS] = 2,
                               [P2V_GUEST_UNSUPPORTED] = 3, [P2V_GUEST_CANNOT_CONVERT] = 4 };
  enum p2v_guest_failure why;
  struct p2v_guest *g = p2v_guest_open(disks, ndisks, &why);
  if (!g) {
    free(disks);
    p2v_survey_free(survey);
    return codes[why];
  }
  const struct p2v_guest_info *info = p2v_guest_info(g);
  printf("type: %s\ndistro: %s\nproduct: %s\narch: %s\nhostname: %s\nroot: %s\n"
         "version: %d.%d\nuefi: %s\nosinfo: %s\n", info->type, info->distro,
         info->product_name, info->arch, info->hostname, info->root, info->major,
         info->minor, info->uefi ? "yes" : "no", info->osinfo);
  int status = 0;
  if (!inspect_only) {
    struct p2v_changes changes = { 0 };
    if (p2v_guest_convert(g, &o, &changes, &why) == -1)
      status = codes[why];
    else
      printf("hardware: %s %s\n", p2v_disk_bus_name(p2v_guest_hardware(g)->disk_bus),
             p2v_nic_model_name(p2v_guest_hardware(g)->nic_model));
    for (size_t c = 0; c < changes.n; c++)
      printf("change: %s: %s%s%s\n", changes.items[c].area,
             changes.items[c].file ? changes.items[c].file : "",
             changes.items[c].file ? ": " : "", changes.items[c].description);
    p2v_changes_clear(&changes);
  }
  if (p2v_guest_close(g) == -1 && status == 0)
    status = 1;
  free(disks);
  p2v_survey_free(survey);
  return status;
}
