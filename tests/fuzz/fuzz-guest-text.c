/* libFuzzer harness: the text work on a guest's configuration files
 * (converter/guest-text.h): disk names, fstab/crypttab rewriting, kernel
 * command lines, /etc/default/grub variables, network names, module lists.
 * Input: any file from a guest.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/guest-text.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(enum p2v_log_level level, const char *message) { (void)level; (void)message; }

static char *map(void *opaque, const char *spec)
{
  (void)opaque;
  size_t disk;
  unsigned part;
  if (gt_parse_disk_name(spec, &disk, &part) == -1)
    return NULL;
  char *r;
  if (asprintf(&r, "UUID=%zu-%u", disk, part) < 0)
    return NULL;
  return r;
}

static int report(void *opaque, const char *spec, const char *repl, const char *label)
{
  (void)spec; (void)repl; (void)label;
  ++*(size_t *)opaque;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  p2v_log_set_sink(quiet);
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';

  bool changed;
  size_t n = 0;
  for (size_t field = 0; field < 2; field++)
    free(gt_rewrite_table(text, field, map, NULL, report, &n, &changed));
  free(gt_rewrite_cmdline(text, map, NULL, &changed));
  free(gt_cmdline_with(text, "console=ttyS0"));

  char *copy = strdup(text);
  free(gt_var_get(text, "GRUB_CMDLINE_LINUX"));
  if (copy && gt_var_set(&copy, "GRUB_CMDLINE_LINUX", "root=UUID=1") == 0) {
    char *v = gt_var_get(copy, "GRUB_CMDLINE_LINUX");
    if (!v || strcmp(v, "root=UUID=1") != 0)
      abort();                 /* what was set reads back */
    free(v);
  }
  free(copy);

  struct gt_names ns = { 0 };
  gt_scan_key(&ns, text, "iface ");
  gt_scan_key(&ns, text, "DEVICE=");
  gt_scan_netplan(&ns, text);
  for (size_t i = 0; i < ns.n; i++)
    if (strlen(ns.v[i]) > 15)
      abort();
  gt_names_clear(&ns);

  (void)gt_has_module(text, "virtio_blk");
  (void)gt_list_has(text, "virtio_blk");
  /* each line as a disk name */
  for (char *line = text, *nl; line; line = nl ? nl + 1 : NULL) {
    nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    size_t disk;
    unsigned part;
    if (gt_parse_disk_name(line, &disk, &part) == 0 && part > 256)
      abort();
  }
  free(text);
  return 0;
}
