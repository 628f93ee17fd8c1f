/* Linux swap: everything after the header page is unused (its contents
 * are not needed in the VM; the kernel does not read them at swapon).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk-internal.h"

/* Version 1 header ("SWAPSPACE2" at the end of the first page):
 *   1024  u32 version           1
 *   1028  u32 last_page
 *   1032  u32 nr_badpages
 *   1036  u8  uuid[16]
 *   1052  char volume_name[16]  label
 * The page size is that of the machine that ran mkswap. */
#define LABEL_OFFSET 1052
#define LABEL_SIZE   16

static const uint32_t page_sizes[] = { 4096, 8192, 16384, 65536 };

static uint32_t find_page_size(const struct p2v_fs_input *in)
{
  for (size_t i = 0; i < sizeof page_sizes / sizeof page_sizes[0]; i++) {
    char sig[10];
    uint32_t ps = page_sizes[i];
    if (in->length < 2 * (uint64_t) ps)
      break;
    if (p2v_read_exact(in->fd, sig, sizeof sig, in->offset + ps - sizeof sig) == 0 &&
        memcmp(sig, "SWAPSPACE2", sizeof sig) == 0)
      return ps;
  }
  return 0;
}

static bool swap_probe(const struct p2v_fs_input *in)
{
  return find_page_size(in) != 0;
}

static int swap_scan(const struct p2v_fs_input *in, struct p2v_fs_output *out,
                     char *why, size_t why_size)
{
  uint32_t ps = find_page_size(in);
  unsigned char header[LABEL_OFFSET + LABEL_SIZE];

  if (ps == 0) {
    snprintf(why, why_size, "the swap signature went away");
    return -1;
  }
  if (p2v_read_exact(in->fd, header, sizeof header, in->offset) == -1) {
    snprintf(why, why_size, "cannot read the header: %m");
    return -1;
  }
  if (header[LABEL_OFFSET] != '\0') {
    out->label = strndup((const char *) header + LABEL_OFFSET, LABEL_SIZE);
    if (!out->label) {
      snprintf(why, why_size, "%m");
      return -1;
    }
  }
  out->used_bytes = ps;
  if (p2v_extent_list_add(out->unused, in->offset + ps, in->length - ps) == -1) {
    snprintf(why, why_size, "%m");
    return -1;
  }
  return 0;
}

const struct p2v_filesystem p2v_fs_swap = {
  .name = "linux-swap", .probe = swap_probe, .scan = swap_scan,
};
