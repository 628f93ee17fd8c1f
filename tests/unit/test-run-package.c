/* Unit test for run's metadata and package phases with an OVA
 * (converter/run/run-metadata.c), on a fake streamOptimized disk and no
 * conversion: without --keep-disks the OVA is left alone (no OVF is
 * written, the loose disk is removed once the OVA is complete); with
 * --keep-disks the OVF and the disk stay beside the OVA, which holds the
 * disk byte for byte.  test-run-vmware.sh runs the whole pipeline once,
 * with --keep-disks.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "report/report.h"
#include "run/run.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

static const char disk_bytes[] = "KDMV a stand-in for a streamOptimized disk\n";

/* The names in DIR, sorted, joined by spaces. */
static void listing(const char *dir, char *out, size_t size)
{
  struct dirent **names;
  int n = scandir(dir, &names, NULL, alphasort);
  CHECK(n >= 0);
  out[0] = '\0';
  for (int i = 0; i < n; i++) {
    if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
      strncat(out, names[i]->d_name, size - strlen(out) - 1);
      strncat(out, " ", size - strlen(out) - 1);
    }
    free(names[i]);
  }
  free(names);
}

/* Does the OVA (a ustar archive) hold a member NAME whose bytes are
 * disk_bytes?  Walks the 512-byte headers. */
static bool ova_holds_disk(const char *ova, const char *name)
{
  FILE *fp = fopen(ova, "rb");
  CHECK(fp);
  unsigned char hdr[512];
  bool found = false;
  while (!found && fread(hdr, 1, sizeof hdr, fp) == sizeof hdr && hdr[0]) {
    char sizefield[13] = { 0 };
    memcpy(sizefield, hdr + 124, 12);
    long size = strtol(sizefield, NULL, 8);
    CHECK(size >= 0 && size < (1 << 20));
    char *data = malloc((size_t) size + 1);
    CHECK(data);
    CHECK(fread(data, 1, (size_t) size, fp) == (size_t) size);
    found = strncmp((const char *) hdr, name, 100) == 0 &&
            (size_t) size == sizeof disk_bytes - 1 && memcmp(data, disk_bytes, (size_t) size) == 0;
    free(data);
    CHECK(fseek(fp, (512 - size % 512) % 512, SEEK_CUR) == 0);
  }
  fclose(fp);
  return found;
}

/* run_metadata then run_package for one disk in a new DIR; the listing of
 * DIR after. */
static void metadata_and_package(bool keep_disks, char *dir, char *out, size_t size)
{
  CHECK(mkdtemp(dir));
  char export_name[] = "sda", output_name[] = "web01-sda.vmdk";
  struct run_disk disk = { .export_name = export_name, .label = export_name, .size = 1 << 20,
                           .output_name = output_name };
  CHECK(asprintf(&disk.output, "%s/%s", dir, disk.output_name) > 0);
  FILE *fp = fopen(disk.output, "wb");
  CHECK(fp && fputs(disk_bytes, fp) >= 0 && fclose(fp) == 0);

  struct run run = {
    .out_dir = dir, .target = P2V_TARGET_VMWARE, .format = "vmdk-stream", .name = "web01",
    .keep_disks = keep_disks, .disks = &disk, .ndisks = 1,
    .guest = { .type = "linux", .osinfo = "debian12", .product_name = "Debian 12" },
    .hardware = { .disk_bus = P2V_DISK_BUS_PVSCSI, .nic_model = P2V_NIC_VMXNET3 },
    .vm_mac = "00:50:56:00:00:01",
  };
  run.report = p2v_report_new("nbd://127.0.0.1", "vmware", "web01");
  CHECK(run.report);
  CHECK(run_metadata(&run) == RUN_OK);
  CHECK(run_package(&run) == RUN_OK);
  listing(dir, out, size);
  if (keep_disks) {
    char ova[512];
    snprintf(ova, sizeof ova, "%s/web01.ova", dir);
    CHECK(ova_holds_disk(ova, "web01-sda.vmdk"));
  }
  p2v_report_free(run.report);
  free(disk.output);
}

static void remove_dir(const char *dir)
{
  struct dirent **names;
  int n = scandir(dir, &names, NULL, NULL);
  for (int i = 0; i < n; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
    if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, ".."))
      unlink(path);
    free(names[i]);
  }
  free(names);
  rmdir(dir);
}

int main(void)
{
  p2v_log_init("test-run-package");
  const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  char dir[512], got[1024];

  /* The default: the OVA alone, no OVF, the loose disk removed. */
  snprintf(dir, sizeof dir, "%s/p2v-package.XXXXXX", tmp);
  metadata_and_package(false, dir, got, sizeof got);
  if (strcmp(got, "web01.ova ") != 0) {
    fprintf(stderr, "without --keep-disks: %s\n", got);
    return 1;
  }
  remove_dir(dir);
  printf("PASS: without --keep-disks, the OVA alone\n");

  /* --keep-disks: the OVF and the disk beside the OVA that holds it. */
  snprintf(dir, sizeof dir, "%s/p2v-package.XXXXXX", tmp);
  metadata_and_package(true, dir, got, sizeof got);
  if (strcmp(got, "web01-sda.vmdk web01.ova web01.ovf ") != 0) {
    fprintf(stderr, "with --keep-disks: %s\n", got);
    return 1;
  }
  remove_dir(dir);
  printf("PASS: --keep-disks: web01-sda.vmdk, web01.ova (holding it) and web01.ovf\n");
  return 0;
}
