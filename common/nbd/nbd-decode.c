/* Pure NBD message decoders: see nbd-decode.h.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

#include "nbd-decode.h"

int nbd_decode_option_header(const unsigned char *buf, size_t len,
                             struct nbd_option_header *out)
{
  if (len < NBD_OPTION_HEADER_SIZE || nbd_get64(buf) != NBD_IHAVEOPT)
    return -1;
  out->option = nbd_get32(buf + 8);
  out->length = nbd_get32(buf + 12);
  return 0;
}

int nbd_decode_request(const unsigned char *buf, size_t len, struct nbd_request *out)
{
  if (len < NBD_REQUEST_SIZE || nbd_get32(buf) != NBD_REQUEST_MAGIC)
    return -1;
  out->flags = nbd_get16(buf + 4);
  out->type = nbd_get16(buf + 6);
  out->cookie = nbd_get64(buf + 8);
  out->offset = nbd_get64(buf + 16);
  out->length = nbd_get32(buf + 24);
  return 0;
}

/* Read a u32-length-prefixed string at *pos, leaving *pos after it. */
static int take_string(const unsigned char *buf, size_t len, size_t *pos,
                       const char **str, uint32_t *str_len)
{
  if (len - *pos < 4)
    return -1;
  uint32_t n = nbd_get32(buf + *pos);
  *pos += 4;
  if (n > NBD_MAX_STRING || n > len - *pos)
    return -1;
  *str = (const char *) buf + *pos;
  *str_len = n;
  *pos += n;
  return 0;
}

int nbd_decode_info_request(const unsigned char *buf, size_t len,
                            struct nbd_info_request *out)
{
  size_t pos = 0;
  if (take_string(buf, len, &pos, &out->name, &out->name_len) == -1)
    return -1;
  if (len - pos < 2)
    return -1;
  out->ninfos = nbd_get16(buf + pos);
  pos += 2;
  /* The list must fill the rest exactly. */
  if ((size_t) out->ninfos * 2 != len - pos)
    return -1;
  out->infos = buf + pos;
  return 0;
}

int nbd_decode_meta_request(const unsigned char *buf, size_t len,
                            struct nbd_meta_request *out)
{
  size_t pos = 0;
  if (take_string(buf, len, &pos, &out->name, &out->name_len) == -1)
    return -1;
  if (len - pos < 4)
    return -1;
  out->nqueries = nbd_get32(buf + pos);
  pos += 4;
  out->queries = buf + pos;
  out->end = buf + len;
  /* Walk the queries once now, so iteration cannot fail later. */
  for (uint32_t i = 0; i < out->nqueries; i++) {
    const char *q;
    uint32_t qlen;
    if (take_string(buf, len, &pos, &q, &qlen) == -1)
      return -1;
  }
  return pos == len ? 0 : -1;
}

int nbd_meta_next_query(const struct nbd_meta_request *req, size_t *pos,
                        const char **query, uint32_t *query_len)
{
  size_t len = (size_t) (req->end - req->queries);
  if (*pos >= len)
    return 0;
  return take_string(req->queries, len, pos, query, query_len) == 0 ? 1 : 0;
}

uint32_t nbd_validate_request(const struct nbd_request *req, uint64_t export_size,
                              uint32_t max_length, bool structured, bool meta)
{
  uint16_t allowed = 0;

  switch (req->type) {
  case NBD_CMD_READ:
    allowed = NBD_CMD_FLAG_FUA | (structured ? NBD_CMD_FLAG_DF : 0);
    break;
  case NBD_CMD_BLOCK_STATUS:
    if (!structured || !meta)
      return NBD_EINVAL;
    allowed = NBD_CMD_FLAG_REQ_ONE;
    break;
  case NBD_CMD_WRITE:
  case NBD_CMD_TRIM:
  case NBD_CMD_WRITE_ZEROES:
  case NBD_CMD_CACHE:
    /* Read-only export: refused whatever the range (payload handled by
     * the caller before this). */
    return NBD_EPERM;
  case NBD_CMD_FLUSH:
    allowed = 0;
    break;
  case NBD_CMD_DISC:
    return 0;
  default:
    return NBD_EINVAL;
  }
  if (req->flags & ~allowed)
    return NBD_EINVAL;
  if (req->type == NBD_CMD_FLUSH)
    return 0;
  if (req->length == 0)
    return NBD_EINVAL;
  if (req->type == NBD_CMD_READ && req->length > max_length)
    return NBD_EINVAL;
  if (!nbd_range_ok(req->offset, req->length, export_size))
    return NBD_EINVAL;
  return 0;
}

void nbd_encode_option_reply(unsigned char *buf, uint32_t option, uint32_t type,
                             uint32_t length)
{
  nbd_put64(buf, NBD_REP_MAGIC);
  nbd_put32(buf + 8, option);
  nbd_put32(buf + 12, type);
  nbd_put32(buf + 16, length);
}

void nbd_encode_simple_reply(unsigned char *buf, uint32_t error, uint64_t cookie)
{
  nbd_put32(buf, NBD_SIMPLE_REPLY_MAGIC);
  nbd_put32(buf + 4, error);
  nbd_put64(buf + 8, cookie);
}

void nbd_encode_chunk_header(unsigned char *buf, uint16_t flags, uint16_t type,
                             uint64_t cookie, uint32_t length)
{
  nbd_put32(buf, NBD_STRUCTURED_REPLY_MAGIC);
  nbd_put16(buf + 4, flags);
  nbd_put16(buf + 6, type);
  nbd_put64(buf + 8, cookie);
  nbd_put32(buf + 16, length);
}
