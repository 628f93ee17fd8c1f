/* qcow2 version 3 on-disk layout, as much of it as the writer produces.
 * Source: qemu's docs/interop/qcow2.txt.  Every number on disk is big
 * endian; the structs below hold on-disk bytes (fill them with htobe*()).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_QCOW2_FORMAT_H
#define P2V_QCOW2_FORMAT_H

#include <stdint.h>

#include "image/image.h"

#define QCOW2_MAGIC            UINT32_C(0x514649fb)   /* "QFI\xfb" */
#define QCOW2_VERSION          3
#define QCOW2_REFCOUNT_ORDER   4                      /* 16-bit refcounts */
#define QCOW2_HEADER_LENGTH    112                    /* v3 + compression_type, padded to 8 */
#define QCOW2_COMPRESSION_ZLIB 0                      /* raw deflate, 4 KiB window */

/* Cluster size limits: in image.h. */

/* qemu's implementation limits: images past them do not open. */
#define QCOW2_MAX_L1_BYTES       (UINT64_C(32) * 1024 * 1024)
#define QCOW2_MAX_REFTABLE_BYTES (UINT64_C(8) * 1024 * 1024)

/* L1 and standard L2 entries: bits 9-55 hold a cluster-aligned host offset. */
#define QCOW2_OFFSET_MASK       UINT64_C(0x00fffffffffffe00)
#define QCOW2_MAX_HOST_OFFSET   (UINT64_C(1) << 56)
#define QCOW2_OFLAG_COPIED      (UINT64_C(1) << 63)    /* refcount is exactly 1 */
#define QCOW2_OFLAG_COMPRESSED  (UINT64_C(1) << 62)
#define QCOW2_OFLAG_ZERO        UINT64_C(1)            /* v3: reads as zeroes (unused here) */

/* Compressed L2 entry, with x = 62 - (cluster_bits - 8):
 *   bits 0 .. x-1   host byte offset of the compressed data (any alignment)
 *   bits x .. 61    number of 512-byte sectors it occupies, minus one,
 *                   counted from the sector holding the first byte. */
#define QCOW2_COMPRESSED_SECTOR 512

/* The header, at file offset 0. */
struct qcow2_header {
  uint32_t magic;                   /*   0: QCOW2_MAGIC */
  uint32_t version;                 /*   4: 3 */
  uint64_t backing_file_offset;     /*   8: 0, no backing file */
  uint32_t backing_file_size;       /*  16 */
  uint32_t cluster_bits;            /*  20: log2(cluster size) */
  uint64_t size;                    /*  24: virtual size, bytes */
  uint32_t crypt_method;            /*  32: 0, none */
  uint32_t l1_size;                 /*  36: L1 entries */
  uint64_t l1_table_offset;         /*  40: cluster aligned */
  uint64_t refcount_table_offset;   /*  48: cluster aligned */
  uint32_t refcount_table_clusters; /*  56 */
  uint32_t nb_snapshots;            /*  60: 0 */
  uint64_t snapshots_offset;        /*  64: 0 */
  /* version 3 */
  uint64_t incompatible_features;   /*  72: bit 0 dirty, 1 corrupt, 2 data file,
                                               3 compression type, 4 extended L2 */
  uint64_t compatible_features;     /*  80: bit 0 lazy refcounts */
  uint64_t autoclear_features;      /*  88: bit 0 bitmaps, 1 raw data file */
  uint32_t refcount_order;          /*  96: refcount bits = 1 << order */
  uint32_t header_length;           /* 100: QCOW2_HEADER_LENGTH */
  uint8_t  compression_type;        /* 104: QCOW2_COMPRESSION_ZLIB */
  uint8_t  padding[7];              /* 105: zero, pads to a multiple of 8 */
} __attribute__((packed));

/* Header extensions follow the header, each padded to 8 bytes; a type 0
 * extension of length 0 ends the list. */
struct qcow2_header_extension {
  uint32_t type;                    /*   0: 0 = end of extensions */
  uint32_t length;                  /*   4: bytes of data that follow */
} __attribute__((packed));

_Static_assert(sizeof(struct qcow2_header) == QCOW2_HEADER_LENGTH, "qcow2 header layout");
_Static_assert(sizeof(struct qcow2_header_extension) == 8, "qcow2 extension layout");

#endif
