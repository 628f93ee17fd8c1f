/* Unit test for the migration report (converter/report.c): build one with
 * every section, write it, parse report.json back with json-c and check
 * the fields; report.txt has the changes grouped by area, the disks'
 * figures, the boot test's console and warnings, and guest strings with control
 * characters escaped; no temporary files are left.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <dirent.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "report/report.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

static json_object *get(json_object *o, const char *key)
{
  json_object *v = NULL;
  CHECK(json_object_object_get_ex(o, key, &v));
  return v;
}

static const char *str(json_object *o, const char *key)
{
  return json_object_get_string(get(o, key));
}

static char *slurp(const char *path)
{
  FILE *fp = fopen(path, "r");
  CHECK(fp);
  static char buf[65536];
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  buf[n] = 0;
  fclose(fp);
  return buf;
}

int main(void)
{
  char dir[] = "/tmp/test-report.XXXXXX";
  CHECK(mkdtemp(dir));

  struct p2v_report *r = p2v_report_new("nbd://127.0.0.1:10809/sda", "kvm", "web01");
  CHECK(r);
  /* A hostile hostname: escape sequence, newline, invalid UTF-8. */
  struct p2v_guest_info info = {
    .type = "linux", .distro = "debian", .product_name = "Debian GNU/Linux 12 (bookworm)",
    .arch = "x86_64", .hostname = "web01\x1b[2J\nFAKE LINE \xff", .root = "/dev/sda1",
    .major = 12, .minor = 5, .uefi = true, .osinfo = "debian12",
  };
  p2v_report_guest(r, &info);
  p2v_report_phase(r, "inspect", 14.25, true, NULL);
  p2v_report_phase(r, "copy", 60.5, false, "the source failed a read");
  struct copy_stats st = { .size = 8ull << 30, .bytes_read = 3ull << 30, .bytes_written = 3ull << 30,
                           .holes_skipped = 5ull << 30, .zero_detected = 1 << 20, .seconds = 30,
                           .connections = 4, .requests = 16 };
  p2v_report_disk(r, "sda", "web01-sda.qcow2", "qcow2", &st);
#define S(text) ((char[]) { text })   /* struct p2v_change holds char * */
  struct p2v_change items[] = {
    { S("fstab"), S("/etc/fstab"), S("/dev/sda1 -> UUID=1234 (/)") },
    { S("bootloader"), S("/etc/default/grub"), S("root=/dev/sda1 -> root=UUID=1234") },
    { S("fstab"), S("/etc/fstab"), S("/dev/sda2 -> UUID=5678 (swap)") },
    { S("services"), NULL, S("disabled hp-health") },
  };
  struct p2v_changes changes = { items, sizeof items / sizeof items[0] };
  p2v_report_changes(r, &changes);
  p2v_report_verify(r, "disk sda: output equals converted overlay", true, "qemu-img compare");
  struct p2v_boot_test_result b = { .passed = true, .used_kvm = false, .seconds = 35.5,
                                    .marker = S("login:"),
                                    .console_tail = S("Debian GNU/Linux 12 web01 ttyS0\n\nweb01 login:"),
                                    .screenshot = S("/out/boot-test.png"),
                                    .warnings = (char *[]) { S("[FAILED] Failed to start networking.service") },
                                    .nwarnings = 1 };
  p2v_report_boot_test(r, &b);
  p2v_report_vm_hardware(r, "virtio-scsi", "virtio");
  p2v_report_file(r, "libvirt", "/out/web01.xml");
  p2v_report_result(r, true, "converted");
  CHECK(p2v_report_write(r, dir) == 0);
  CHECK(strstr(p2v_report_json(r), "\"web01\""));
  p2v_report_free(r);

  char path[256];
  snprintf(path, sizeof path, "%s/report.json", dir);
  json_object *root = json_object_from_file(path);
  CHECK(root);
  CHECK(strcmp(str(root, "name"), "web01") == 0);
  CHECK(strcmp(str(root, "target"), "kvm") == 0);
  CHECK(strcmp(str(root, "source"), "nbd://127.0.0.1:10809/sda") == 0);
  json_object *guest = get(root, "guest");
  CHECK(strcmp(str(guest, "osinfo"), "debian12") == 0);
  CHECK(json_object_get_boolean(get(guest, "uefi")));
  CHECK(json_object_get_int(get(guest, "major")) == 12);
  /* Invalid UTF-8 replaced; the rest kept (json-c escapes control characters). */
  CHECK(strcmp(str(guest, "hostname"), "web01\x1b[2J\nFAKE LINE ?") == 0);
  json_object *disks = get(root, "disks");
  CHECK(json_object_array_length(disks) == 1);
  json_object *d = json_object_array_get_idx(disks, 0);
  CHECK(json_object_get_int64(get(d, "bytes_read")) == (int64_t) (3ull << 30));
  CHECK(json_object_get_int64(get(d, "holes_skipped")) == (int64_t) (5ull << 30));
  CHECK(json_object_get_double(get(d, "seconds")) == 30);
  json_object *ch = get(root, "changes");
  CHECK(json_object_array_length(ch) == 4);
  CHECK(strcmp(str(json_object_array_get_idx(ch, 1), "area"), "bootloader") == 0);
  CHECK(json_object_is_type(get(json_object_array_get_idx(ch, 3), "file"), json_type_null));
  json_object *phases = get(root, "phases");
  CHECK(json_object_array_length(phases) == 2);
  CHECK(!json_object_get_boolean(get(json_object_array_get_idx(phases, 1), "ok")));
  CHECK(strcmp(str(json_object_array_get_idx(phases, 1), "reason"), "the source failed a read") == 0);
  json_object *bt = get(root, "boot_test");
  CHECK(json_object_get_boolean(get(bt, "passed")));
  CHECK(strcmp(str(bt, "accelerator"), "tcg") == 0);
  CHECK(strcmp(str(bt, "marker"), "login:") == 0);
  CHECK(strcmp(str(get(root, "vm_hardware"), "disk_bus"), "virtio-scsi") == 0);
  CHECK(strstr(str(bt, "console_tail"), "web01 login:"));
  CHECK(json_object_array_length(get(bt, "warnings")) == 1);
  CHECK(strcmp(json_object_get_string(json_object_array_get_idx(get(bt, "warnings"), 0)),
               "[FAILED] Failed to start networking.service") == 0);
  CHECK(json_object_get_boolean(get(get(root, "result"), "ok")));
  CHECK(strcmp(str(json_object_array_get_idx(get(root, "files"), 0), "kind"), "libvirt") == 0);
  CHECK(json_object_get_boolean(get(json_object_array_get_idx(get(root, "verification"), 0), "passed")));
  json_object_put(root);

  snprintf(path, sizeof path, "%s/report.txt", dir);
  const char *text = slurp(path);
  CHECK(strstr(text, "result:   OK: converted"));
  CHECK(strstr(text, "Changes made to the guest (4)"));
  /* Grouped: both fstab changes under one [fstab], before [bootloader]. */
  const char *fstab = strstr(text, "  [fstab]\n");
  const char *boot = strstr(text, "  [bootloader]\n");
  CHECK(fstab && boot && fstab < boot);
  CHECK(strstr(fstab, "/etc/fstab: /dev/sda1 -> UUID=1234 (/)\n    /etc/fstab: /dev/sda2 -> UUID=5678 (swap)\n"));
  CHECK(strstr(text, "    disabled hp-health\n"));
  CHECK(strstr(text, "  copy          60.5 s  FAILED: the source failed a read\n"));
  CHECK(strstr(text, "bytes read       3.0 GiB (3221225472 bytes)"));
  CHECK(strstr(text, "30.00 s, 286.3 MB/s"));
  CHECK(strstr(text, "    | web01 login:"));
  CHECK(strstr(text, "  VM devices:       disk bus virtio-scsi, NIC virtio\n"));
  CHECK(strstr(text, "passed after 35.5 s, with 1 warning (failures the guest reported)\n"
                    "  warning: [FAILED] Failed to start networking.service\n"
                    "  awaited on the serial console: login:\n"));
  /* (The invalid byte became '?' in the JSON the text is printed from.) */
  CHECK(strstr(text, "hostname:         web01\\x1b[2J\\x0aFAKE LINE ?\n"));
  CHECK(!strstr(text, "\x1b"));
  CHECK(strstr(text, "libvirt: /out/web01.xml"));

  /* Only the two reports: no temporary names left. */
  DIR *dp = opendir(dir);
  CHECK(dp);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(dp))) {
    if (e->d_name[0] == '.')
      continue;
    CHECK(strcmp(e->d_name, "report.json") == 0 || strcmp(e->d_name, "report.txt") == 0);
    n++;
  }
  closedir(dp);
  CHECK(n == 2);

  /* A report that could not be written: one error, -1. */
  r = p2v_report_new("s", "vmware", "x");
  CHECK(r);
  p2v_report_result(r, false, "stopped");
  CHECK(p2v_report_write(r, "/nonexistent-dir") == -1);
  p2v_report_free(r);

  snprintf(path, sizeof path, "%s/report.json", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/report.txt", dir);
  unlink(path);
  rmdir(dir);
  printf("ok\n");
  return 0;
}
