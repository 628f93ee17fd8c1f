/* Test tool: install the first-boot service into an NTFS image through
 * guest/windows/firstboot.c, as a Windows conversion does, ROUNDS times
 * (each round a conversion: fresh script list, the hive opened,
 * edited and committed), and print each change as "AREA|FILE|TEXT".
 *   firstboot-install [--exe FILE] [--control-set NAME] [--mkdir DIR]...
 *                     [--write PATH=TEXT]... IMAGE HIVE ROUND...
 *   firstboot-install [--exe FILE] --preflight-only   (finding the exe only)
 * IMAGE: a raw image holding one NTFS filesystem (no partition table),
 * mounted as C:.  HIVE: a SYSTEM hive file on the host.  Each ROUND is
 * "NAME=CMD,NAME=CMD..." (the scripts that conversion adds).  --mkdir and
 * --write prepare the image first.  Exit 0, or 1 with the error said.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/windows/windows-internal.h"
#include "log.h"

static int one_round(struct p2v_guest *gg, const char *hive_path, struct gw_system *sys,
                     const char *exe, char *round)
{
  struct p2v_convert_options o = { .firstboot_exe = exe };
  struct p2v_changes changes = { 0 };
  struct gw_firstboot *fb = gw_firstboot_new();
  struct gw_hive *hive = NULL;
  int r = -1;
  if (!fb || gw_firstboot_preflight(fb, &o) == -1)
    goto out;
  for (char *save = NULL, *item = strtok_r(round, ",", &save); item;
       item = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(item, '=');
    if (!eq) {
      p2v_error("expected NAME=CMD, got %s", item);
      goto out;
    }
    *eq = '\0';
    if (gw_firstboot_add(fb, item, eq + 1) == -1)
      goto out;
  }
  if (!(hive = gw_hive_open(hive_path, true)) ||
      gw_firstboot_install(gg, hive, sys, fb, &changes) == -1 || gw_hive_commit(hive) == -1)
    goto out;
  for (size_t i = 0; i < changes.n; i++)
    printf("%s|%s|%s\n", changes.items[i].area, changes.items[i].file ? changes.items[i].file : "",
           changes.items[i].description);
  printf("--\n");
  r = 0;
out:
  gw_hive_close(hive);
  gw_firstboot_free(fb);
  p2v_changes_clear(&changes);
  return r;
}

int main(int argc, char **argv)
{
  p2v_log_init("firstboot-install");
  const char *exe = NULL;
  struct gw_system sys = { .current = 2, .default_set = 2, .control_set = "ControlSet002",
                           .system_root = (char *)"C:\\Windows" };
  guestfs_h *g = guestfs_create();
  if (!g)
    return 1;
  const char *mkdirs[16], *writes[16];
  size_t nmkdirs = 0, nwrites = 0;
  bool preflight_only = false;
  int i;
  for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    if (strcmp(argv[i], "--exe") == 0 && i + 1 < argc)
      exe = argv[++i];
    else if (strcmp(argv[i], "--control-set") == 0 && i + 1 < argc)
      snprintf(sys.control_set, sizeof sys.control_set, "%s", argv[++i]);
    else if (strcmp(argv[i], "--preflight-only") == 0)
      preflight_only = true;
    else if (strcmp(argv[i], "--mkdir") == 0 && i + 1 < argc && nmkdirs < 16)
      mkdirs[nmkdirs++] = argv[++i];
    else if (strcmp(argv[i], "--write") == 0 && i + 1 < argc && nwrites < 16)
      writes[nwrites++] = argv[++i];
    else {
      p2v_error("unknown option %s", argv[i]);
      return 1;
    }
  }
  if (preflight_only) {
    struct p2v_convert_options o = { .firstboot_exe = exe };
    struct gw_firstboot *fb = gw_firstboot_new();
    int r = fb ? gw_firstboot_preflight(fb, &o) : -1;
    gw_firstboot_free(fb);
    guestfs_close(g);
    return r == 0 ? 0 : 1;
  }
  if (argc - i < 3) {
    p2v_error("usage: firstboot-install [OPTIONS] IMAGE HIVE ROUND...");
    return 1;
  }
  const char *image = argv[i], *hive = argv[i + 1];
  if (guestfs_add_drive_opts(g, image, GUESTFS_ADD_DRIVE_OPTS_FORMAT, "raw", -1) == -1 ||
      guestfs_launch(g) == -1 || guestfs_mount(g, "/dev/sda", "/") == -1) {
    p2v_error("cannot open %s: %s", image, guestfs_last_error(g));
    return 1;
  }
  for (size_t k = 0; k < nmkdirs; k++)
    if (guestfs_mkdir_p(g, mkdirs[k]) == -1)
      return 1;
  for (size_t k = 0; k < nwrites; k++) {
    char *eq = strchr(writes[k], '=');
    if (!eq)
      return 1;
    *eq = '\0';
    if (guestfs_write(g, writes[k], eq + 1, strlen(eq + 1)) == -1)
      return 1;
  }
  struct p2v_guest gg = { .g = g };
  int status = 0;
  for (int r = i + 2; r < argc && status == 0; r++)
    if (one_round(&gg, hive, &sys, exe, argv[r]) == -1)
      status = 1;
  if (guestfs_shutdown(g) == -1)
    status = 1;
  guestfs_close(g);
  return status;
}
