/* Pure decoders and encoders for NBD wire messages: no I/O, no allocation,
 * every length checked against the buffer, so they can be fuzzed alone.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_NBD_DECODE_H
#define P2V_NBD_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nbd-protocol.h"

struct nbd_option_header {
  uint32_t option;
  uint32_t length;
};

struct nbd_request {
  uint16_t flags;
  uint16_t type;
  uint64_t cookie;
  uint64_t offset;
  uint32_t length;
};

/* NBD_OPT_INFO / NBD_OPT_GO data.  Pointers point into the decoded buffer. */
struct nbd_info_request {
  const char *name;             /* not NUL-terminated */
  uint32_t name_len;
  uint16_t ninfos;
  const unsigned char *infos;   /* ninfos big-endian u16 */
};

/* NBD_OPT_{LIST,SET}_META_CONTEXT data; iterate the queries with
 * nbd_meta_next_query. */
struct nbd_meta_request {
  const char *name;
  uint32_t name_len;
  uint32_t nqueries;
  const unsigned char *queries, *end;   /* the validated query list */
};

/* All decoders return 0, or -1 when the buffer is malformed (wrong magic,
 * wrong or inconsistent lengths).  buf holds len bytes. */
int nbd_decode_option_header(const unsigned char *buf, size_t len,
                             struct nbd_option_header *out);
int nbd_decode_request(const unsigned char *buf, size_t len, struct nbd_request *out);
int nbd_decode_info_request(const unsigned char *buf, size_t len,
                            struct nbd_info_request *out);
int nbd_decode_meta_request(const unsigned char *buf, size_t len,
                            struct nbd_meta_request *out);
/* Next query of a decoded meta request: 1 with query and query_len set,
 * 0 when none is left.  *pos starts at 0. */
int nbd_meta_next_query(const struct nbd_meta_request *req, size_t *pos,
                        const char **query, uint32_t *query_len);

/* Does [offset, offset+length) lie within size bytes?  Overflow-safe. */
static inline bool nbd_range_ok(uint64_t offset, uint64_t length, uint64_t size)
{
  return offset <= size && length <= size - offset;
}

/* Check a request against the export before acting on it: the NBD error
 * to reply with, or 0.  max_length caps READ and payload lengths;
 * structured/meta say what was negotiated. */
uint32_t nbd_validate_request(const struct nbd_request *req, uint64_t export_size,
                              uint32_t max_length, bool structured, bool meta);

/* Does the payload of this request follow it on the wire? */
static inline bool nbd_request_has_payload(const struct nbd_request *req)
{
  return req->type == NBD_CMD_WRITE;
}

/* Encoders write a fixed-size header into buf (the size given by the
 * matching *_SIZE constant). */
void nbd_encode_option_reply(unsigned char *buf, uint32_t option, uint32_t type,
                             uint32_t length);
void nbd_encode_simple_reply(unsigned char *buf, uint32_t error, uint64_t cookie);
void nbd_encode_chunk_header(unsigned char *buf, uint16_t flags, uint16_t type,
                             uint64_t cookie, uint32_t length);

#endif
