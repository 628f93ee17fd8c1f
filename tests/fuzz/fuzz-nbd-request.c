/* Fuzz the pure NBD decoders: option headers, requests, NBD_OPT_GO/INFO
 * and meta-context payloads, and request validation.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nbd-decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct nbd_option_header opt;
  struct nbd_request req;
  struct nbd_info_request info;
  struct nbd_meta_request meta;
  volatile unsigned sink = 0;

  if (nbd_decode_option_header(data, size, &opt) == 0)
    sink += opt.option + opt.length;
  if (nbd_decode_request(data, size, &req) == 0) {
    for (int structured = 0; structured < 2; structured++)
      for (int m = 0; m < 2; m++)
        sink += nbd_validate_request(&req, UINT64_C(1) << 30, 32u << 20, structured, m);
  }
  if (nbd_decode_info_request(data, size, &info) == 0) {
    /* Touch every byte the decoder says is there. */
    for (uint32_t i = 0; i < info.name_len; i++)
      sink += (unsigned char) info.name[i];
    for (uint16_t i = 0; i < info.ninfos; i++)
      sink += nbd_get16(info.infos + 2 * i);
  }
  if (nbd_decode_meta_request(data, size, &meta) == 0) {
    size_t pos = 0;
    const char *q;
    uint32_t qlen, count = 0;
    while (nbd_meta_next_query(&meta, &pos, &q, &qlen) == 1) {
      for (uint32_t i = 0; i < qlen; i++)
        sink += (unsigned char) q[i];
      count++;
    }
    if (count != meta.nqueries)
      __builtin_trap();            /* decoder and iterator disagree */
  }
  (void) sink;
  return 0;
}
