/* The text work on guest configuration files (converter/guest-text.h):
 * disk names, fstab and command-line rewriting, grub variables, network
 * names from ifupdown and netplan, module lists.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/guest-text.h"

static int failures;

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); failures++; } } while (0)

static bool name_is(const char *spec, size_t disk, unsigned part)
{
  size_t d;
  unsigned p;
  return gt_parse_disk_name(spec, &d, &p) == 0 && d == disk && p == part;
}

static char *map(void *opaque, const char *spec)
{
  (void)opaque;
  size_t d;
  unsigned p;
  char *r;
  if (gt_parse_disk_name(spec, &d, &p) == -1 || asprintf(&r, "UUID=%zu-%u", d, p) < 0)
    return NULL;
  return r;
}

static char labels[256];
static int report(void *opaque, const char *spec, const char *repl, const char *label)
{
  (void)opaque; (void)spec; (void)repl;
  strncat(labels, label, sizeof labels - strlen(labels) - 2);
  strcat(labels, ",");
  return 0;
}

int main(void)
{
  CHECK(name_is("/dev/sda1", 0, 1));
  CHECK(name_is("/dev/sdb", 1, 0));
  CHECK(name_is("/dev/sdaa3", 26, 3));
  CHECK(name_is("/dev/hdc2", 2, 2));
  CHECK(name_is("/dev/xvda1", 0, 1));
  CHECK(name_is("/dev/vdb12", 1, 12));
  CHECK(name_is("/dev/cciss/c0d1p2", 1, 2));
  CHECK(name_is("/dev/cciss/c0d0", 0, 0));
  CHECK(name_is("/dev/nvme1n1p3", 1, 3));
  CHECK(name_is("/dev/nvme0n1", 0, 0));
  size_t d;
  unsigned p;
  CHECK(gt_parse_disk_name("/dev/mapper/vg-root", &d, &p) == -1);
  CHECK(gt_parse_disk_name("/dev/sda1x", &d, &p) == -1);
  CHECK(gt_parse_disk_name("/dev/sd", &d, &p) == -1);
  CHECK(gt_parse_disk_name("/dev/sda0", &d, &p) == -1);
  CHECK(gt_parse_disk_name("/dev/nvme0n1p", &d, &p) == -1);
  CHECK(gt_parse_disk_name("UUID=abc", &d, &p) == -1);

  bool changed;
  const char *fstab = "# comment /dev/sda1\n/dev/sda1  /  ext4 defaults 0 1\n"
                      "LABEL=x /data ext4 defaults\n/dev/sdb2\tnone\tswap sw\n  \n";
  char *out = gt_rewrite_table(fstab, 0, map, NULL, report, NULL, &changed);
  CHECK(out && changed);
  CHECK(out && !strcmp(out, "# comment /dev/sda1\nUUID=0-1  /  ext4 defaults 0 1\n"
                            "LABEL=x /data ext4 defaults\nUUID=1-2\tnone\tswap sw\n  \n"));
  CHECK(!strcmp(labels, "/,none,"));
  free(out);
  labels[0] = '\0';
  out = gt_rewrite_table("cryptroot /dev/sda3 none luks", 1, map, NULL, report, NULL, &changed);
  CHECK(out && !strcmp(out, "cryptroot UUID=0-3 none luks") && !strcmp(labels, "cryptroot,"));
  free(out);
  out = gt_rewrite_table("UUID=1 / ext4\n", 0, map, NULL, report, NULL, &changed);
  CHECK(out && !changed && !strcmp(out, "UUID=1 / ext4\n"));
  free(out);

  out = gt_rewrite_cmdline("ro root=/dev/sda1  resume=/dev/sdb1 noroot=/dev/sda2", map, NULL, &changed);
  CHECK(out && changed && !strcmp(out, "ro root=UUID=0-1  resume=UUID=1-1 noroot=/dev/sda2"));
  free(out);
  out = gt_cmdline_with("quiet console=tty1  splash", "console=ttyS0,115200");
  CHECK(out && !strcmp(out, "quiet splash console=ttyS0,115200"));
  free(out);
  out = gt_cmdline_with("", "console=ttyS0");
  CHECK(out && !strcmp(out, "console=ttyS0"));
  free(out);

  char *grub = strdup("GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"quiet\"\n#GRUB_TERMINAL=console\n");
  char *v = gt_var_get(grub, "GRUB_CMDLINE_LINUX");
  CHECK(v && !strcmp(v, "quiet"));
  free(v);
  CHECK(gt_var_get(grub, "GRUB_TERMINAL") == NULL);      /* commented out */
  CHECK(gt_var_set(&grub, "GRUB_CMDLINE_LINUX", "quiet console=ttyS0") == 0);
  CHECK(gt_var_set(&grub, "GRUB_TERMINAL", "console serial") == 0);
  CHECK(!strcmp(grub, "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"quiet console=ttyS0\"\n"
                      "#GRUB_TERMINAL=console\nGRUB_TERMINAL=\"console serial\"\n"));
  free(grub);
  v = gt_var_get("X='a b'\n", "X");
  CHECK(v && !strcmp(v, "a b"));
  free(v);

  struct gt_names ns = { 0 };
  gt_scan_key(&ns, "auto lo\niface lo inet loopback\niface enp2s0 inet static\n"
                   "iface br0 inet dhcp\niface eth0.10 inet manual\n  iface eno1 inet6 auto\n",
              "iface ");
  CHECK(ns.n == 2 && !strcmp(ns.v[0], "enp2s0") && !strcmp(ns.v[1], "eno1"));
  gt_names_clear(&ns);
  gt_scan_netplan(&ns, "network:\n  ethernets:\n    eno1:\n      dhcp4: true\n"
                       "    enp3s0:\n      addresses: [192.0.2.7/24]\n  bridges:\n    br1:\n"
                       "      interfaces: [eno1]\n");
  CHECK(ns.n == 2 && !strcmp(ns.v[0], "eno1") && !strcmp(ns.v[1], "enp3s0"));
  gt_names_clear(&ns);
  gt_scan_key(&ns, "DEVICE=\"eth1\"\n", "DEVICE=");
  CHECK(ns.n == 1 && !strcmp(ns.v[0], "eth1"));
  gt_names_clear(&ns);

  const char *dep = "kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko.xz\n"
                    "kernel/drivers/scsi/vmw_pvscsi.ko:\nkernel/drivers/x/mpt-spi.ko:\n";
  CHECK(gt_has_module(dep, "virtio_blk"));
  CHECK(gt_has_module(dep, "virtio"));
  CHECK(!gt_has_module(dep, "virtio_pci"));
  CHECK(gt_has_module(dep, "mpt_spi"));
  CHECK(gt_list_has("# x\nata_piix\nvirtio_blk # p2v\n", "virtio_blk"));
  CHECK(!gt_list_has("# virtio_blk\nvirtio_blkx\n", "virtio_blk"));

  if (failures)
    fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
