/* VMDK hosted sparse extents (monolithicSparse) and stream-optimized
 * compressed extents (streamOptimized): the on-disk records, and the
 * helpers vmdk-sparse.c and vmdk-stream.c share (vmdk-common.c).
 * Reference: VMware "Virtual Disk Format 5.0" technical note.
 * Everything on disk is little-endian; offsets and sizes are in 512-byte
 * sectors unless a name says bytes.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_VMDK_FORMAT_H
#define P2V_VMDK_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/image.h"

#define VMDK_SECTOR            512u
#define VMDK_MAGIC             0x564d444bu   /* "KDMV" read as a little-endian u32 */
#define VMDK_GRAIN_SECTORS     128u          /* 64 KiB grains, as VMware writes them */
#define VMDK_GRAIN_BYTES       (VMDK_GRAIN_SECTORS * VMDK_SECTOR)
#define VMDK_GTES_PER_GT       512u          /* fixed by the format */
#define VMDK_GT_SECTORS        (VMDK_GTES_PER_GT * 4u / VMDK_SECTOR)   /* 4 */
#define VMDK_GT_BYTES          (VMDK_GT_SECTORS * VMDK_SECTOR)         /* 2 KiB */
/* Bytes of virtual disk one grain table maps: 32 MiB. */
#define VMDK_GT_SPAN_BYTES     ((uint64_t) VMDK_GTES_PER_GT * VMDK_GRAIN_BYTES)
#define VMDK_DESC_OFFSET       1u            /* embedded descriptor: sector 1 */
#define VMDK_DESC_SECTORS      20u           /* 10 KiB, what VMware and qemu reserve */

/* VMDK_MAX_FILE_SECTORS, VMDK_MAX_CAPACITY: in image.h. */

/* SparseExtentHeader.flags */
#define VMDK_FLAG_NL_DETECT    (1u << 0)     /* valid newline-detection bytes */
#define VMDK_FLAG_RGD          (1u << 1)     /* redundant grain directory/tables */
#define VMDK_FLAG_COMPRESSED   (1u << 16)    /* grains are deflate-compressed */
#define VMDK_FLAG_MARKERS      (1u << 17)    /* grains and metadata carry markers */

#define VMDK_COMPRESS_NONE     0
#define VMDK_COMPRESS_DEFLATE  1             /* zlib (RFC 1950) streams */

#define VMDK_GD_AT_END         UINT64_MAX    /* stream header: see the footer */

/* SparseExtentHeader: sector 0 of the extent (and, for streamOptimized,
 * the footer copy in the second-to-last sector). */
struct vmdk_header {
  uint32_t magic;                /*   0: VMDK_MAGIC */
  uint32_t version;              /*   4: 1 hosted sparse, 3 stream-optimized */
  uint32_t flags;                /*   8: VMDK_FLAG_* */
  uint64_t capacity;             /*  12: virtual disk size, sectors */
  uint64_t grain_size;           /*  20: sectors per grain */
  uint64_t descriptor_offset;    /*  28: embedded descriptor, sector */
  uint64_t descriptor_size;      /*  36: sectors */
  uint32_t num_gtes_per_gt;      /*  44: 512 */
  uint64_t rgd_offset;           /*  48: redundant grain directory, sector (0: none) */
  uint64_t gd_offset;            /*  56: grain directory, sector (or VMDK_GD_AT_END) */
  uint64_t overhead;             /*  64: sectors before the first grain */
  uint8_t  unclean_shutdown;     /*  72: 0 */
  uint8_t  single_end_line_char; /*  73: '\n' */
  uint8_t  non_end_line_char;    /*  74: ' ' */
  uint8_t  double_end_line_char1;/*  75: '\r' */
  uint8_t  double_end_line_char2;/*  76: '\n' */
  uint16_t compress_algorithm;   /*  77: VMDK_COMPRESS_* */
  uint8_t  pad[433];             /*  79: zeroes, to 512 */
} __attribute__((packed));
_Static_assert(sizeof(struct vmdk_header) == 512, "SparseExtentHeader is one sector");

/* streamOptimized: every compressed grain starts with this, at a sector
 * boundary; the zlib stream follows at byte 12 and the whole is padded
 * with zeroes to the next sector. */
struct vmdk_grain_marker {
  uint64_t lba;                  /*   0: first virtual sector of the grain */
  uint32_t size;                 /*   8: bytes of compressed data (never 0) */
} __attribute__((packed));       /*  12: data */
_Static_assert(sizeof(struct vmdk_grain_marker) == 12, "grain marker is 12 bytes");

/* streamOptimized: a sector announcing metadata (size 0 tells it from a
 * grain marker).  num_sectors of the metadata follow it. */
struct vmdk_meta_marker {
  uint64_t num_sectors;          /*   0: sectors of metadata that follow */
  uint32_t size;                 /*   8: 0 */
  uint32_t type;                 /*  12: VMDK_MARKER_* */
  uint8_t  pad[496];             /*  16: zeroes, to 512 */
} __attribute__((packed));
_Static_assert(sizeof(struct vmdk_meta_marker) == 512, "metadata marker is one sector");

enum {
  VMDK_MARKER_EOS    = 0,        /* end of stream: num_sectors 0, last sector of the file */
  VMDK_MARKER_GT     = 1,        /* a grain table (4 sectors) follows */
  VMDK_MARKER_GD     = 2,        /* the grain directory follows */
  VMDK_MARKER_FOOTER = 3,        /* the footer (a vmdk_header, 1 sector) follows */
};

/* ---- vmdk-common.c ---- */

/* Everything both writers decide at create time from the options. */
struct vmdk_layout {
  uint64_t size;                 /* virtual size, bytes, as asked */
  uint64_t capacity;             /* sectors (size rounded up) */
  uint64_t grains;               /* grains covering the capacity */
  uint64_t num_gts;              /* grain tables (= grain directory entries) */
  uint64_t gd_sectors;           /* sectors of one grain directory */
  const char *adapter_type;      /* validated, static string */
  uint32_t cid;                  /* content ID written to the descriptor */
  char extent_name[256];         /* file name the extent line names (final name) */
};

/* Validate o (size, adapter type, file name, descriptor fits) for a writer
 * of create_type and fill l.
 * -1 with an error naming path. */
int vmdk_layout_init(struct vmdk_layout *l, const char *path, const char *create_type,
                     const struct p2v_sink_options *o);

/* The embedded descriptor: fills buf (VMDK_DESC_SECTORS sectors, zero
 * padded).  -1 with an error if it does not fit. */
int vmdk_descriptor(char *buf, size_t bufsize, const struct vmdk_layout *l,
                    const char *create_type, const char *path);

/* Cylinders/heads/sectors VMware puts in ddb.geometry for this adapter. */
void vmdk_geometry(uint64_t capacity, const char *adapter_type,
                   uint64_t *cylinders, uint32_t *heads, uint32_t *sectors);

/* A header with magic, newline bytes and little-endian fields set. */
void vmdk_header_init(struct vmdk_header *h, uint32_t version, uint32_t flags,
                      uint64_t capacity, uint64_t rgd_offset, uint64_t gd_offset,
                      uint64_t overhead, uint16_t compress_algorithm);

/* Create path exclusively (it must not exist).  -1 reported. */
int vmdk_open_output(const char *path);

/* Write all count bytes at offset (bytes); a short write is ENOSPC.
 * -1 with an error naming path. */
int vmdk_pwrite_all(int fd, const char *path, const void *buf, size_t count, uint64_t offset);

/* Set the file length, fsync.  -1 reported. */
int vmdk_truncate(int fd, const char *path, uint64_t length);
int vmdk_fsync(int fd, const char *path);


/* Check a pwrite/zero range: inside the disk, grain-aligned except at its
 * end.  -1 reported (a bug in the caller). */
int vmdk_check_range(const char *path, uint64_t size, uint64_t offset, uint64_t count);

#endif
