/* The filesystem readers, in the order they are tried.  Adding one: write
 * fs-NAME.c with a probe (signature check) and a scan (free ranges), and
 * list it here.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stddef.h>

#include "disk-internal.h"

const struct p2v_filesystem *const p2v_filesystems[] = {
  &p2v_fs_ntfs,
  &p2v_fs_ext,
  &p2v_fs_swap,
  NULL,
};
