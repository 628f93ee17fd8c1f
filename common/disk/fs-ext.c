/* ext2/3/4 with libext2fs: blocks free in the block bitmaps are unused.
 * Opened without EXT2_FLAG_RW through the unix io manager at the
 * partition offset ("offset=N"), inside the sandbox.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ext2fs/ext2fs.h>
#include <et/com_err.h>

#include "disk-internal.h"

/* Superblock at byte 1024; s_magic (0xEF53, le16) at byte 56 of it. */
static bool ext_probe(const struct p2v_fs_input *in)
{
  unsigned char magic[2];
  return in->length >= 2048 &&
    p2v_read_exact(in->fd, magic, sizeof magic, in->offset + 1024 + 56) == 0 &&
    magic[0] == 0x53 && magic[1] == 0xEF;
}

/* ext2, ext3 or ext4 from the raw superblock's feature words, so a
 * filesystem libext2fs refuses is still named right in the warning:
 *   0x5c compat (0x4 has_journal), 0x60 incompat (0x40 extents, 0x80 64bit,
 *   0x200 flex_bg), 0x64 ro_compat (0x8 huge_file). */
static const char *ext_name(const struct p2v_fs_input *in)
{
  unsigned char f[12];
  if (p2v_read_exact(in->fd, f, sizeof f, in->offset + 1024 + 0x5c) == -1)
    return NULL;
  uint32_t compat = f[0] | f[1] << 8 | (uint32_t) f[2] << 16 | (uint32_t) f[3] << 24;
  uint32_t incompat = f[4] | f[5] << 8 | (uint32_t) f[6] << 16 | (uint32_t) f[7] << 24;
  uint32_t ro_compat = f[8] | f[9] << 8 | (uint32_t) f[10] << 16 | (uint32_t) f[11] << 24;
  if ((incompat & (0x40 | 0x80 | 0x200)) || (ro_compat & 0x8))
    return "ext4";
  return compat & 0x4 ? "ext3" : "ext2";
}

/* Free runs of the block bitmap. */
static int scan_bitmap(ext2_filsys fs, const struct p2v_fs_input *in,
                       struct p2v_fs_output *out, char *why, size_t why_size)
{
  uint64_t bs = EXT2_BLOCK_SIZE(fs->super);
  blk64_t first = fs->super->s_first_data_block;
  blk64_t last = ext2fs_blocks_count(fs->super) - 1;
  blk64_t start = first, free_total = 0;

  while (start <= last) {
    blk64_t zero, set;
    errcode_t e = ext2fs_find_first_zero_block_bitmap2(fs->block_map, start, last, &zero);
    if (e == ENOENT)
      break;
    if (e) {
      snprintf(why, why_size, "cannot search the block bitmap: %s", error_message(e));
      return -1;
    }
    e = ext2fs_find_first_set_block_bitmap2(fs->block_map, zero, last, &set);
    if (e == ENOENT)
      set = last + 1;
    else if (e) {
      snprintf(why, why_size, "cannot search the block bitmap: %s", error_message(e));
      return -1;
    }
    if (p2v_extent_list_add(out->unused, in->offset + zero * bs, (set - zero) * bs) == -1) {
      snprintf(why, why_size, "%m");
      return -1;
    }
    free_total += set - zero;
    start = set;
  }
  out->used_bytes = (ext2fs_blocks_count(fs->super) - free_total) * bs;
  return 0;
}

static int ext_scan(const struct p2v_fs_input *in, struct p2v_fs_output *out,
                    char *why, size_t why_size)
{
  char options[64];
  ext2_filsys fs = NULL;
  errcode_t e;
  int ret = -1;

  initialize_ext2_error_table();
  out->fs_name = ext_name(in);
  snprintf(options, sizeof options, "offset=%" PRIu64, in->offset);
  e = ext2fs_open2(in->disk_path, options, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs);
  if (e) {
    snprintf(why, why_size, "%s", error_message(e));
    return -1;
  }
  /* A journal to replay may allocate blocks the bitmap calls free. */
  if (ext2fs_has_feature_journal_needs_recovery(fs->super)) {
    snprintf(why, why_size, "the journal needs recovery (not cleanly unmounted)");
    goto out;
  }
  if (ext2fs_has_feature_bigalloc(fs->super)) {
    snprintf(why, why_size, "bigalloc is not supported yet");
    goto out;
  }
  if (ext2fs_blocks_count(fs->super) > in->length / EXT2_BLOCK_SIZE(fs->super)) {
    snprintf(why, why_size, "the filesystem is larger than its partition");
    goto out;
  }
  if ((e = ext2fs_read_block_bitmap(fs))) {
    snprintf(why, why_size, "cannot read the block bitmaps: %s", error_message(e));
    goto out;
  }
  if (scan_bitmap(fs, in, out, why, why_size) == -1)
    goto out;
  if (fs->super->s_volume_name[0] &&
      !(out->label = strndup((const char *) fs->super->s_volume_name,
                             sizeof fs->super->s_volume_name))) {
    snprintf(why, why_size, "%m");
    goto out;
  }
  ret = 0;
out:
  ext2fs_close_free(&fs);
  return ret;
}

const struct p2v_filesystem p2v_fs_ext = {
  .name = "ext", .probe = ext_probe, .scan = ext_scan,
};
