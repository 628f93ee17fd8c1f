/* Opening a guest: overlays, appliance, inspection, mounts.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "guest/guest-internal.h"
#include "log.h"

static void free_strv(char **v)
{
  for (size_t i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
}

/* Keep s (owned) as one of info's strings; "unknown" when NULL or empty. */
static const char *keep(struct p2v_guest *gg, size_t slot, char *s)
{
  if (!s || !*s || strcmp(s, "unknown") == 0) {
    free(s);
    return "unknown";
  }
  gg->strings[slot] = s;
  return s;
}

static int cmp_mountpoint(const void *a, const void *b)
{
  /* pairs (mountpoint, device): shorter mountpoints first, "/" before "/boot" */
  const char *const *x = a, *const *y = b;
  size_t lx = strlen(x[0]), ly = strlen(y[0]);
  return lx < ly ? -1 : lx > ly ? 1 : strcmp(x[0], y[0]);
}

static int mount_all(struct p2v_guest *gg, const char *root)
{
  char **mps = guestfs_inspect_get_mountpoints(gg->g, root);
  if (!mps) {
    p2v_guest_error(gg->g, "cannot list the guest's mount points");
    return -1;
  }
  size_t n = 0;
  while (mps[2 * n])
    n++;
  qsort(mps, n, 2 * sizeof *mps, cmp_mountpoint);
  int r = 0;
  for (size_t i = 0; i < n; i++) {
    if (guestfs_mount(gg->g, mps[2 * i + 1], mps[2 * i]) == -1) {
      if (strcmp(mps[2 * i], "/") == 0) {
        p2v_guest_error(gg->g, "cannot mount the guest's root filesystem");
        r = -1;
        break;
      }
      p2v_warning("cannot mount %s on %s in the guest: %s", mps[2 * i + 1], mps[2 * i],
                  guestfs_last_error(gg->g));
    }
  }
  free_strv(mps);
  return r;
}

/* An EFI system partition on any disk, and an EFI boot loader in it. */
static bool detect_uefi(struct p2v_guest *gg, bool windows)
{
  char **parts = guestfs_list_partitions(gg->g);
  bool esp = false;
  for (size_t i = 0; parts && parts[i] && !esp; i++) {
    CLEANUP_FREE char *dev = guestfs_part_to_dev(gg->g, parts[i]);
    int num = guestfs_part_to_partnum(gg->g, parts[i]);
    CLEANUP_FREE char *type = dev ? guestfs_part_get_parttype(gg->g, dev) : NULL;
    if (!type || num < 1)
      continue;
    if (strcmp(type, "gpt") == 0) {
      CLEANUP_FREE char *guid = guestfs_part_get_gpt_type(gg->g, dev, num);
      esp = guid && strcasecmp(guid, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B") == 0;
    } else if (strcmp(type, "msdos") == 0) {
      esp = guestfs_part_get_mbr_id(gg->g, dev, num) == 0xef;
    }
  }
  free_strv(parts);
  if (!esp || windows)
    return esp;
  /* Linux: the ESP mounted in the guest with a loader in it. */
  static const char *const loaders[] = { "/boot/efi/EFI", "/boot/EFI", "/efi/EFI", NULL };
  return gl_first(gg, loaders) != NULL;
}

static int inspect(struct p2v_guest *gg, enum p2v_guest_failure *why)
{
  guestfs_h *g = gg->g;
  char **roots = guestfs_inspect_os(g);
  if (!roots) {
    p2v_guest_error(g, "cannot inspect the source disks");
    return -1;
  }
  size_t n = 0;
  while (roots[n])
    n++;
  if (n == 0) {
    free_strv(roots);
    *why = P2V_GUEST_NO_OS;
    p2v_error("no operating system found on the source disks: check that every disk "
              "of the machine is exported and that the root filesystem is not encrypted");
    return -1;
  }
  if (n > 1) {
    /* A multi-boot machine: which one to convert is not ours to guess. */
    struct gl_buf b = { 0 };
    for (size_t i = 0; i < n; i++) {
      CLEANUP_FREE char *p = guestfs_inspect_get_product_name(g, roots[i]);
      gl_buf_printf(&b, "%s%s on %s", i ? ", " : "", p ? p : "unknown", roots[i]);
    }
    *why = P2V_GUEST_UNSUPPORTED;
    p2v_error("the source disks hold %zu operating systems (%s): converting a "
              "multi-boot machine is not supported; export only the disks of one",
              n, b.s ? b.s : "");
    free(b.s);
    free_strv(roots);
    return -1;
  }

  const char *root = roots[0];
  struct p2v_guest_info *info = &gg->info;
  info->root = keep(gg, 0, strdup(root));
  info->type = keep(gg, 1, guestfs_inspect_get_type(g, root));
  info->distro = keep(gg, 2, guestfs_inspect_get_distro(g, root));
  info->product_name = keep(gg, 3, guestfs_inspect_get_product_name(g, root));
  info->arch = keep(gg, 4, guestfs_inspect_get_arch(g, root));
  info->hostname = keep(gg, 5, guestfs_inspect_get_hostname(g, root));
  info->osinfo = keep(gg, 6, guestfs_inspect_get_osinfo(g, root));
  info->major = guestfs_inspect_get_major_version(g, root);
  info->minor = guestfs_inspect_get_minor_version(g, root);
  if (info->major < 0) info->major = 0;
  if (info->minor < 0) info->minor = 0;
  free_strv(roots);

  /* Debian's product name is just its version ("12.5"): say whose. */
  if (!isalpha((unsigned char)info->product_name[0]) && strcmp(info->distro, "unknown") != 0) {
    char *name;
    if (asprintf(&name, "%s %s", info->distro, info->product_name) >= 0) {
      free(gg->strings[3]);
      info->product_name = keep(gg, 3, name);
    }
  }
  bool windows = strcmp(info->type, "windows") == 0;
  if (!windows && mount_all(gg, info->root) == -1)
    return -1;
  info->uefi = detect_uefi(gg, windows);

  /* Which converter takes it; none: refused here, before anything is written. */
  gg->converter = p2v_guest_find_converter(info, why);
  return gg->converter ? 0 : -1;
}

struct p2v_guest *p2v_guest_open(const struct p2v_guest_disk *disks, size_t ndisks,
                                 enum p2v_guest_failure *why)
{
  *why = P2V_GUEST_FAILED;
  if (ndisks == 0) {
    p2v_error("no source disks to inspect");
    return NULL;
  }
  struct p2v_guest *gg = calloc(1, sizeof *gg);
  if (!gg) {
    p2v_error("cannot inspect the source: out of memory");
    return NULL;
  }
  gg->info = (struct p2v_guest_info){ .type = "unknown", .distro = "unknown",
    .product_name = "unknown", .arch = "unknown", .hostname = "unknown",
    .root = "unknown", .osinfo = "unknown" };
  gg->ndisks = ndisks;
  gg->g = p2v_guest_launch(disks, ndisks);
  if (!gg->g)
    goto err;
  gg->devices = guestfs_list_devices(gg->g);
  if (!gg->devices) {
    p2v_guest_error(gg->g, "cannot list the source disks in the appliance");
    goto err;
  }
  if (inspect(gg, why) == -1)
    goto err;
  p2v_info("found %s (%s %s, %s) on %s", gg->info.product_name, gg->info.distro,
           gg->info.arch, gg->info.uefi ? "UEFI" : "BIOS", gg->info.root);
  return gg;
err:
  if (gg->g) {
    guestfs_shutdown(gg->g);
    guestfs_close(gg->g);
    gg->g = NULL;
  }
  p2v_guest_close(gg);
  return NULL;
}

const struct p2v_guest_info *p2v_guest_info(const struct p2v_guest *g)
{
  return &g->info;
}

const struct p2v_guest_hardware *p2v_guest_hardware(const struct p2v_guest *g)
{
  return &g->hardware;
}

int p2v_guest_close(struct p2v_guest *gg)
{
  if (!gg)
    return 0;
  int r = 0;
  if (gg->g) {
    if (guestfs_umount_all(gg->g) == -1 || guestfs_sync(gg->g) == -1 ||
        guestfs_shutdown(gg->g) == -1) {
      p2v_guest_error(gg->g, "cannot write the conversion to the overlays");
      r = -1;
    }
    guestfs_close(gg->g);
  }
  free_strv(gg->devices);
  for (size_t i = 0; i < sizeof gg->strings / sizeof gg->strings[0]; i++)
    free(gg->strings[i]);
  free(gg);
  return r;
}
