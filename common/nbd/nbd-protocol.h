/* NBD wire protocol: constants and on-the-wire layouts (fixed newstyle,
 * structured replies, base:allocation).  Learned from the NBD protocol
 * document (NetworkBlockDevice/nbd doc/proto.md).  Everything on the wire
 * is big-endian; use the helpers below, never cast a buffer to a struct.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_NBD_PROTOCOL_H
#define P2V_NBD_PROTOCOL_H

#include <stdint.h>

/* ---- Greeting (server -> client), 18 bytes ----
 *  0  u64  NBD_MAGIC ("NBDMAGIC")
 *  8  u64  NBD_IHAVEOPT ("IHAVEOPT")
 * 16  u16  handshake flags
 * Then client -> server, 4 bytes:
 *  0  u32  client flags */
#define NBD_MAGIC        UINT64_C(0x4e42444d41474943)
#define NBD_IHAVEOPT     UINT64_C(0x49484156454f5054)
#define NBD_GREETING_SIZE 18

#define NBD_FLAG_FIXED_NEWSTYLE  (1u << 0)
#define NBD_FLAG_NO_ZEROES       (1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE NBD_FLAG_FIXED_NEWSTYLE
#define NBD_FLAG_C_NO_ZEROES      NBD_FLAG_NO_ZEROES
#define NBD_CLIENT_FLAGS_KNOWN   (NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)

/* ---- Option request (client -> server), 16-byte header + data ----
 *  0  u64  NBD_IHAVEOPT
 *  8  u32  option
 * 12  u32  length of data that follows */
#define NBD_OPTION_HEADER_SIZE 16

#define NBD_OPT_EXPORT_NAME        1
#define NBD_OPT_ABORT              2
#define NBD_OPT_LIST               3
#define NBD_OPT_PEEK_EXPORT        4
#define NBD_OPT_STARTTLS           5
#define NBD_OPT_INFO               6
#define NBD_OPT_GO                 7
#define NBD_OPT_STRUCTURED_REPLY   8
#define NBD_OPT_LIST_META_CONTEXT  9
#define NBD_OPT_SET_META_CONTEXT  10
#define NBD_OPT_EXTENDED_HEADERS  11

/* ---- Option reply (server -> client), 20-byte header + data ----
 *  0  u64  NBD_REP_MAGIC
 *  8  u32  option being answered
 * 12  u32  reply type
 * 16  u32  length of data that follows */
#define NBD_REP_MAGIC      UINT64_C(0x0003e889045565a9)
#define NBD_OPTION_REPLY_SIZE 20

#define NBD_REP_ACK            1
#define NBD_REP_SERVER         2   /* u32 name length, name, description */
#define NBD_REP_INFO           3   /* u16 info type, data */
#define NBD_REP_META_CONTEXT   4   /* u32 context id, name */
#define NBD_REP_ERR(n)         (UINT32_C(0x80000000) | (n))
#define NBD_REP_ERR_UNSUP          NBD_REP_ERR(1)
#define NBD_REP_ERR_POLICY         NBD_REP_ERR(2)
#define NBD_REP_ERR_INVALID        NBD_REP_ERR(3)
#define NBD_REP_ERR_PLATFORM       NBD_REP_ERR(4)
#define NBD_REP_ERR_TLS_REQD       NBD_REP_ERR(5)
#define NBD_REP_ERR_UNKNOWN        NBD_REP_ERR(6)
#define NBD_REP_ERR_SHUTDOWN       NBD_REP_ERR(7)
#define NBD_REP_ERR_BLOCK_SIZE_REQD NBD_REP_ERR(8)
#define NBD_REP_ERR_TOO_BIG        NBD_REP_ERR(9)

/* NBD_REP_INFO payloads (after the u16 type):
 *  EXPORT:      u64 size, u16 transmission flags        (12 bytes in all)
 *  NAME:        name (no length, no NUL)
 *  DESCRIPTION: text
 *  BLOCK_SIZE:  u32 minimum, u32 preferred, u32 maximum (14 bytes in all) */
#define NBD_INFO_EXPORT       0
#define NBD_INFO_NAME         1
#define NBD_INFO_DESCRIPTION  2
#define NBD_INFO_BLOCK_SIZE   3

/* NBD_OPT_INFO / NBD_OPT_GO data:
 *  0    u32  name length N
 *  4    N    name
 *  4+N  u16  number of info requests R
 *  6+N  R x u16 info types
 * NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT data:
 *  0    u32  export name length N
 *  4    N    export name
 *  4+N  u32  number of queries Q
 *  8+N  Q x (u32 length L, L bytes query) */

/* Reply to NBD_OPT_EXPORT_NAME: u64 size, u16 flags, 124 zero bytes
 * (omitted when the client set NBD_FLAG_C_NO_ZEROES). */
#define NBD_EXPORT_NAME_REPLY_ZEROES 124

/* Transmission flags (u16). */
#define NBD_FLAG_HAS_FLAGS          (1u << 0)
#define NBD_FLAG_READ_ONLY          (1u << 1)
#define NBD_FLAG_SEND_FLUSH         (1u << 2)
#define NBD_FLAG_SEND_FUA           (1u << 3)
#define NBD_FLAG_ROTATIONAL         (1u << 4)
#define NBD_FLAG_SEND_TRIM          (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES  (1u << 6)
#define NBD_FLAG_SEND_DF            (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN     (1u << 8)
#define NBD_FLAG_SEND_CACHE         (1u << 10)

/* ---- Request (client -> server), 28 bytes (+ payload for WRITE) ----
 *  0  u32  NBD_REQUEST_MAGIC
 *  4  u16  command flags
 *  6  u16  command type
 *  8  u64  cookie (opaque handle, echoed in the reply)
 * 16  u64  offset
 * 24  u32  length */
#define NBD_REQUEST_MAGIC  UINT32_C(0x25609513)
#define NBD_REQUEST_SIZE   28

#define NBD_CMD_READ          0
#define NBD_CMD_WRITE         1
#define NBD_CMD_DISC          2
#define NBD_CMD_FLUSH         3
#define NBD_CMD_TRIM          4
#define NBD_CMD_CACHE         5
#define NBD_CMD_WRITE_ZEROES  6
#define NBD_CMD_BLOCK_STATUS  7

#define NBD_CMD_FLAG_FUA        (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE    (1u << 1)
#define NBD_CMD_FLAG_DF         (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE    (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO  (1u << 4)

/* ---- Simple reply (server -> client), 16 bytes (+ data for READ) ----
 *  0  u32  NBD_SIMPLE_REPLY_MAGIC
 *  4  u32  error (NBD_E*)
 *  8  u64  cookie */
#define NBD_SIMPLE_REPLY_MAGIC UINT32_C(0x67446698)
#define NBD_SIMPLE_REPLY_SIZE  16

/* ---- Structured reply chunk (server -> client), 20 bytes + payload ----
 *  0  u32  NBD_STRUCTURED_REPLY_MAGIC
 *  4  u16  flags (NBD_REPLY_FLAG_DONE on the last chunk)
 *  6  u16  type
 *  8  u64  cookie
 * 16  u32  payload length
 * Payloads:
 *  OFFSET_DATA:  u64 offset, data                          (8 + n)
 *  OFFSET_HOLE:  u64 offset, u32 hole length               (12)
 *  BLOCK_STATUS: u32 context id, n x (u32 length, u32 flags) (4 + 8n)
 *  ERROR:        u32 error, u16 message length, message    (6 + m) */
#define NBD_STRUCTURED_REPLY_MAGIC UINT32_C(0x668e33ef)
#define NBD_CHUNK_HEADER_SIZE      20

#define NBD_REPLY_FLAG_DONE  (1u << 0)

#define NBD_REPLY_TYPE_NONE          0
#define NBD_REPLY_TYPE_OFFSET_DATA   1
#define NBD_REPLY_TYPE_OFFSET_HOLE   2
#define NBD_REPLY_TYPE_BLOCK_STATUS  5
#define NBD_REPLY_TYPE_ERROR         ((1u << 15) + 1)
#define NBD_REPLY_TYPE_ERROR_OFFSET  ((1u << 15) + 2)

/* Error values on the wire (fixed by the protocol, not the host's errno). */
#define NBD_EPERM      1
#define NBD_EIO        5
#define NBD_ENOMEM    12
#define NBD_EINVAL    22
#define NBD_ENOSPC    28
#define NBD_EOVERFLOW 75
#define NBD_ENOTSUP   95
#define NBD_ESHUTDOWN 108

/* base:allocation status flags. */
#define NBD_STATE_HOLE  (1u << 0)
#define NBD_STATE_ZERO  (1u << 1)

#define NBD_META_BASE_ALLOCATION "base:allocation"

/* Strings (export names, descriptions, queries) are at most this long. */
#define NBD_MAX_STRING 4096

/* ---- Big-endian access to byte buffers (no alignment needed) ---- */
static inline uint16_t nbd_get16(const unsigned char *p)
{
  return (uint16_t) ((uint16_t) p[0] << 8 | p[1]);
}
static inline uint32_t nbd_get32(const unsigned char *p)
{
  return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}
static inline uint64_t nbd_get64(const unsigned char *p)
{
  return (uint64_t) nbd_get32(p) << 32 | nbd_get32(p + 4);
}
static inline void nbd_put16(unsigned char *p, uint16_t v)
{
  p[0] = (unsigned char) (v >> 8);
  p[1] = (unsigned char) v;
}
static inline void nbd_put32(unsigned char *p, uint32_t v)
{
  p[0] = (unsigned char) (v >> 24);
  p[1] = (unsigned char) (v >> 16);
  p[2] = (unsigned char) (v >> 8);
  p[3] = (unsigned char) v;
}
static inline void nbd_put64(unsigned char *p, uint64_t v)
{
  nbd_put32(p, (uint32_t) (v >> 32));
  nbd_put32(p + 4, (uint32_t) v);
}

#endif
