/* What stops a Windows conversion before anything is written (one line
 * each), and what is only worth a warning.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "log.h"
#include "guest/windows/steps-internal.h"

/* ntfs-3g.probe's exit codes (ntfs-3g's NTFS_VOLUME_*). */
#define NTFS_PROBE_HIBERNATED 14
#define NTFS_PROBE_UNCLEAN    15

int gw_check_ntfs_state(struct p2v_guest *gg)
{
  int r = guestfs_ntfs_3g_probe(gg->g, 1, gg->info.root);
  if (r == NTFS_PROBE_UNCLEAN) {
    p2v_error("the source's Windows volume %s is dirty (not shut down cleanly): start "
              "Windows, shut it down fully (shutdown /s /t 0) and migrate again",
              gg->info.root);
    return -1;
  }
  if (r == -1)                 /* no ntfs-3g.probe: the other checks still run */
    p2v_debug("ntfs-3g probe of %s: %s", gg->info.root, guestfs_last_error(gg->g));
  else if (r != 0 && r != NTFS_PROBE_HIBERNATED)   /* hibernation: said below */
    p2v_debug("ntfs-3g probe of %s: %d", gg->info.root, r);
  return 0;
}

int gw_check_hibernated(struct p2v_guest *gg)
{
  CLEANUP_FREE char *path = guestfs_case_sensitive_path(gg->g, "/hiberfil.sys");
  if (!path || guestfs_is_file(gg->g, path) != 1)
    return 0;
  size_t n = 0;
  CLEANUP_FREE char *head = guestfs_pread(gg->g, path, 4, 0, &n);
  if (head && n == 4 && strncasecmp(head, "hibr", 4) == 0) {
    p2v_error("the source's Windows is hibernated (%s holds a hibernation image): "
              "resume it, shut it down fully (shutdown /s /t 0) and migrate again",
              path + 1);
    return -1;
  }
  return 0;
}

int gw_check_control_set(const struct gw_system *sys)
{
  if (sys->current != sys->default_set) {
    p2v_error("the source's registry boots ControlSet%03u but its default is ControlSet%03u "
              "(Select\\Current differs from Select\\Default): boot Windows once normally, "
              "shut it down and migrate again", sys->current, sys->default_set);
    return -1;
  }
  return 0;
}

static const char *const ldm_guids[] = {
  "5808C8AA-7E8F-42E0-85D2-E1E90434CFB3",      /* LDM metadata */
  "AF9B60A0-1431-4F62-BC68-3311714A69AD",      /* LDM data */
  NULL
};

/* One partition: BitLocker (-FVE-FS- at byte 3) or a dynamic-disk type. */
static int check_partition(struct p2v_guest *gg, const char *dev, const char *part,
                           const char *parttype)
{
  int num = guestfs_part_to_partnum(gg->g, part);
  if (num < 1)
    return 0;
  if (strcmp(parttype, "msdos") == 0 && guestfs_part_get_mbr_id(gg->g, dev, num) == 0x42) {
    p2v_error("the source's system disk %s is a dynamic disk (partition %d has type 0x42): "
              "convert it to a basic disk on the source first", dev, num);
    return -1;
  }
  if (strcmp(parttype, "gpt") == 0) {
    CLEANUP_FREE char *guid = guestfs_part_get_gpt_type(gg->g, dev, num);
    for (size_t i = 0; guid && ldm_guids[i]; i++)
      if (strcasecmp(guid, ldm_guids[i]) == 0) {
        p2v_error("the source's system disk %s is a dynamic disk (partition %d is an LDM "
                  "partition): convert it to a basic disk on the source first", dev, num);
        return -1;
      }
  }
  size_t n = 0;
  CLEANUP_FREE char *sig = guestfs_pread_device(gg->g, part, 8, 3, &n);
  if (sig && n == 8 && memcmp(sig, "-FVE-FS-", 8) == 0) {
    p2v_error("the source's system disk %s is encrypted with BitLocker (partition %d): "
              "decrypt it on the source first (manage-bde -off C:)", dev, num);
    return -1;
  }
  return 0;
}

/* Every partition of the disk holding the Windows volume and of the
 * first disk (the one the firmware boots). */
int gw_check_system_disk(struct p2v_guest *gg)
{
  CLEANUP_FREE char *rootdev = guestfs_part_to_dev(gg->g, gg->info.root);
  const char *disks[2] = { rootdev, gg->ndisks > 0 ? gg->devices[0] : NULL };
  char **parts = guestfs_list_partitions(gg->g);
  if (!parts) {
    p2v_guest_error(gg->g, "cannot list the source's partitions");
    return -1;
  }
  int r = 0;
  for (size_t d = 0; d < 2 && r == 0; d++) {
    if (!disks[d] || (d == 1 && disks[0] && strcmp(disks[0], disks[1]) == 0))
      continue;
    CLEANUP_FREE char *type = guestfs_part_get_parttype(gg->g, disks[d]);
    if (!type)
      continue;
    for (size_t i = 0; parts[i] && r == 0; i++) {
      CLEANUP_FREE char *dev = guestfs_part_to_dev(gg->g, parts[i]);
      if (dev && strcmp(dev, disks[d]) == 0)
        r = check_partition(gg, dev, parts[i], type);
    }
  }
  for (size_t i = 0; parts[i]; i++)
    free(parts[i]);
  free(parts);
  return r;
}

int gw_check_free_space(struct p2v_guest *gg)
{
  struct guestfs_statvfs *st = guestfs_statvfs(gg->g, "/");
  if (!st) {
    p2v_guest_error(gg->g, "cannot read the free space of the guest's Windows volume");
    return -1;
  }
  uint64_t unit = st->frsize > 0 ? (uint64_t) st->frsize : (uint64_t) st->bsize;
  uint64_t avail = (uint64_t) st->bavail * unit;
  guestfs_free_statvfs(st);
  if (avail < GW_MIN_FREE_BYTES) {
    p2v_error("the source's Windows volume has %llu MiB free, the conversion needs %llu MiB: "
              "free some space on C: first", (unsigned long long) (avail >> 20),
              (unsigned long long) (GW_MIN_FREE_BYTES >> 20));
    return -1;
  }
  return 0;
}

/* Security products among the installed applications (the registry's
 * findings name only the services drivers.c knows). */
static const char *const antivirus[] = {
  "virus", "symantec", "mcafee", "sophos", "kaspersky", "trend micro", "eset ",
  "crowdstrike", "sentinelone", "carbon black", "bitdefender", "endpoint protection",
  "avast", "norton", NULL
};

static bool has_antivirus_app(struct p2v_guest *gg, char *name, size_t len)
{
  struct guestfs_application2_list *apps =
    guestfs_inspect_list_applications2(gg->g, gg->info.root);
  bool found = false;
  for (size_t i = 0; apps && i < apps->len && !found; i++) {
    const char *n = apps->val[i].app2_display_name;
    if (!n || !*n)
      n = apps->val[i].app2_name;
    for (size_t k = 0; n && antivirus[k] && !found; k++)
      if (strcasestr(n, antivirus[k])) {
        snprintf(name, len, "%s", n);
        found = true;
      }
  }
  if (apps)
    guestfs_free_application2_list(apps);
  return found;
}

void gw_warn_risks(struct p2v_guest *gg, struct gw_hive *system, struct gw_hive *software,
                   const struct gw_system *sys)
{
  if (sys->fast_startup)
    p2v_warning("Fast Startup is on in the source (HiberbootEnabled=1): if the source was "
                "shut down with it, the copy holds a half-hibernated Windows; turn it off "
                "(powercfg /h off) before the final migration");
  struct gw_findings f = { 0 };
  if (gw_read_findings(system, software, sys, &f) == -1)
    return;
  if (f.group_policies > 0)
    p2v_warning("the source has %u group policies applied%s%s: a policy may undo changes "
                "of the conversion (drivers, services, network) at the first boot",
                f.group_policies, f.domain ? " from the domain " : "", f.domain ? f.domain : "");
  char av[256];
  if (f.antivirus && f.antivirus[0])
    snprintf(av, sizeof av, "%s", f.antivirus[0]);
  if ((f.antivirus && f.antivirus[0]) || has_antivirus_app(gg, av, sizeof av))
    p2v_warning("the source has antivirus software (%s): it may block the first-boot "
                "driver installation; check its log if drivers are missing", av);
  gw_findings_clear(&f);
}
