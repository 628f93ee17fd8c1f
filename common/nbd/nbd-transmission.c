/* The transmission phase: read-only requests, served in order.  Reads are
 * sent from one reusable buffer with the reply header placed just before
 * the data, so each piece goes out in a single send.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "nbd-internal.h"

/* Holes shorter than this inside a read are sent as zeroes: a hole chunk
 * saves nothing then, and fewer chunks means fewer sends. */
#define SMALL_HOLE 4096

static int send_simple(struct nbd_client *c, uint64_t cookie, uint32_t error)
{
  unsigned char hdr[NBD_SIMPLE_REPLY_SIZE];
  nbd_encode_simple_reply(hdr, error, cookie);
  return nbd_send(c, hdr, sizeof hdr, false);
}

/* Final error chunk of a structured reply; with_offset: ERROR_OFFSET. */
static int send_error_chunk(struct nbd_client *c, uint64_t cookie, uint32_t error,
                            bool with_offset, uint64_t offset)
{
  unsigned char b[NBD_CHUNK_HEADER_SIZE + 14];
  uint32_t len = with_offset ? 14 : 6;
  nbd_encode_chunk_header(b, NBD_REPLY_FLAG_DONE,
                          with_offset ? NBD_REPLY_TYPE_ERROR_OFFSET : NBD_REPLY_TYPE_ERROR,
                          cookie, len);
  nbd_put32(b + NBD_CHUNK_HEADER_SIZE, error);
  nbd_put16(b + NBD_CHUNK_HEADER_SIZE + 4, 0);          /* no message */
  if (with_offset)
    nbd_put64(b + NBD_CHUNK_HEADER_SIZE + 6, offset);
  return nbd_send(c, b, NBD_CHUNK_HEADER_SIZE + len, false);
}

static int send_error(struct nbd_client *c, const struct nbd_request *req, uint32_t error)
{
  bool chunked = c->structured &&
    (req->type == NBD_CMD_READ || req->type == NBD_CMD_BLOCK_STATUS);
  if (chunked)
    return send_error_chunk(c, req->cookie, error, false, 0);
  return send_simple(c, req->cookie, error);
}

/* ---- The export's contents ---- */

static int export_pread(struct nbd_client *c, void *buf, size_t count, uint64_t offset)
{
  switch (c->export.kind) {
  case NBD_EXPORT_DISK:
    return p2v_disk_pread(c->export.disk, buf, count, offset);
  case NBD_EXPORT_SURVEY:        /* ranges were checked against its size */
    memcpy(buf, c->server->survey_json + offset, count);
    return 0;
  case NBD_EXPORT_DONE:          /* empty: no read gets this far */
    break;
  }
  return -1;
}

static void count_served(struct nbd_client *c, uint64_t bytes)
{
  struct p2v_nbd_counters *counters = c->server->counters;
  if (counters && counters->bytes_served && c->export.kind == NBD_EXPORT_DISK)
    atomic_fetch_add(&counters->bytes_served[c->export.id], bytes);
}

/* ---- Gathering extents in bounded batches ---- */

static int collect_extent(void *opaque, uint64_t offset, uint64_t length, bool hole)
{
  struct nbd_client *c = opaque;
  /* Trust but verify: extents must be consecutive and inside the range. */
  if (offset != c->ext_pos || length == 0 || length > c->ext_end - offset) {
    if (offset == c->ext_pos && length > 0 && offset < c->ext_end)
      length = c->ext_end - offset;           /* overshoot: clip */
    else {
      c->ext_bad = true;
      return -1;
    }
  }
  if (c->n_ext > 0 && c->ext[c->n_ext - 1].hole == hole)
    c->ext[c->n_ext - 1].length += length;
  else
    c->ext[c->n_ext++] = (struct nbd_extent) { offset, length, hole };
  c->ext_pos = offset + length;
  if (c->n_ext == c->ext_max || c->ext_pos == c->ext_end) {
    c->ext_stopped = true;                    /* batch full: stop the walk */
    return -1;
  }
  return 0;
}

/* Fill c->ext with up to max extents from [offset, end).  0, or -1 (the
 * disk failed). */
static int gather_extents(struct nbd_client *c, uint64_t offset, uint64_t end, size_t max)
{
  c->n_ext = 0;
  c->ext_max = max;
  c->ext_pos = offset;
  c->ext_end = end;
  c->ext_stopped = c->ext_bad = false;
  int r;
  if (c->export.kind == NBD_EXPORT_DISK)
    r = p2v_disk_extents(c->export.disk, offset, end - offset, collect_extent, c);
  else                                        /* the survey: all data */
    r = collect_extent(c, offset, end - offset, false);
  if (c->ext_bad) {
    p2v_warning("%s: disk %s reported inconsistent extents", c->peer, c->export.name);
    return -1;
  }
  if (r == -1 && !c->ext_stopped)
    return -1;
  if (c->n_ext == 0) {
    /* Nothing reported (should not happen): call it data. */
    c->ext[0] = (struct nbd_extent) { offset, end - offset, false };
    c->n_ext = 1;
  }
  return 0;
}

/* ---- NBD_CMD_READ ---- */

/* Send [offset, offset+length) as data: simple reply, or one chunk (DF)
 * of which the header is already in hdr/hdr_len.  Pieces are read before
 * each is sent; a failure after the first piece went out leaves the
 * stream broken, so we hang up (-1). */
static int send_data_stream(struct nbd_client *c, const struct nbd_request *req,
                            const unsigned char *hdr, size_t hdr_len)
{
  unsigned char *data = c->buf + NBD_BUF_HEADROOM;
  uint64_t done = 0;
  while (done < req->length) {
    size_t n = req->length - done < NBD_BUF_DATA ? req->length - done : NBD_BUF_DATA;
    if (export_pread(c, data, n, req->offset + done) == -1) {
      if (done > 0)
        return -1;
      return send_error(c, req, NBD_EIO);
    }
    unsigned char *start = data;
    size_t len = n;
    if (done == 0) {
      start -= hdr_len;
      memcpy(start, hdr, hdr_len);
      len += hdr_len;
    }
    done += n;
    if (nbd_send(c, start, len, done < req->length) == -1)
      return -1;
    count_served(c, n);
  }
  return 0;
}

static int read_simple(struct nbd_client *c, const struct nbd_request *req)
{
  unsigned char hdr[NBD_SIMPLE_REPLY_SIZE];
  nbd_encode_simple_reply(hdr, 0, req->cookie);
  return send_data_stream(c, req, hdr, sizeof hdr);
}

static int read_one_chunk(struct nbd_client *c, const struct nbd_request *req)
{
  unsigned char hdr[NBD_CHUNK_HEADER_SIZE + 8];
  nbd_encode_chunk_header(hdr, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA,
                          req->cookie, req->length + 8);
  nbd_put64(hdr + NBD_CHUNK_HEADER_SIZE, req->offset);
  return send_data_stream(c, req, hdr, sizeof hdr);
}

/* One extent as chunks; done marks the last chunk of the reply.  Returns
 * 0, 1 if an error chunk ended the reply, -1 to hang up. */
static int send_extent_chunks(struct nbd_client *c, uint64_t cookie,
                              const struct nbd_extent *e, bool done)
{
  if (e->hole) {
    unsigned char b[NBD_CHUNK_HEADER_SIZE + 12];
    nbd_encode_chunk_header(b, done ? NBD_REPLY_FLAG_DONE : 0,
                            NBD_REPLY_TYPE_OFFSET_HOLE, cookie, 12);
    nbd_put64(b + NBD_CHUNK_HEADER_SIZE, e->offset);
    nbd_put32(b + NBD_CHUNK_HEADER_SIZE + 8, (uint32_t) e->length);
    if (nbd_send(c, b, sizeof b, !done) == -1)
      return -1;
    count_served(c, e->length);
    return 0;
  }
  unsigned char *data = c->buf + NBD_BUF_HEADROOM;
  uint64_t pos = e->offset, end = e->offset + e->length;
  while (pos < end) {
    size_t n = end - pos < NBD_BUF_DATA ? end - pos : NBD_BUF_DATA;
    if (export_pread(c, data, n, pos) == -1) {
      if (send_error_chunk(c, cookie, NBD_EIO, true, pos) == -1)
        return -1;
      return 1;
    }
    bool last = done && pos + n == end;
    unsigned char *hdr = data - (NBD_CHUNK_HEADER_SIZE + 8);
    nbd_encode_chunk_header(hdr, last ? NBD_REPLY_FLAG_DONE : 0,
                            NBD_REPLY_TYPE_OFFSET_DATA, cookie, (uint32_t) n + 8);
    nbd_put64(hdr + NBD_CHUNK_HEADER_SIZE, pos);
    if (nbd_send(c, hdr, n + NBD_CHUNK_HEADER_SIZE + 8, !last) == -1)
      return -1;
    count_served(c, n);
    pos += n;
  }
  return 0;
}

/* Structured read: data chunks for data, hole chunks for holes.  The
 * last extent is held back until we know it is the last (DONE flag). */
static int read_structured(struct nbd_client *c, const struct nbd_request *req)
{
  uint64_t pos = req->offset, end = req->offset + req->length;
  struct nbd_extent pending = { 0, 0, false };
  bool have_pending = false;

  while (pos < end) {
    if (gather_extents(c, pos, end, NBD_EXTENTS_BATCH) == -1) {
      if (send_error_chunk(c, req->cookie, NBD_EIO, true, pos) == -1)
        return -1;
      return 0;
    }
    for (size_t i = 0; i < c->n_ext; i++) {
      struct nbd_extent e = c->ext[i];
      if (e.hole && e.length < SMALL_HOLE)
        e.hole = false;
      if (have_pending && pending.hole == e.hole) {
        pending.length += e.length;
        continue;
      }
      if (have_pending) {
        int r = send_extent_chunks(c, req->cookie, &pending, false);
        if (r != 0)
          return r == 1 ? 0 : -1;
      }
      pending = e;
      have_pending = true;
    }
    pos = c->ext[c->n_ext - 1].offset + c->ext[c->n_ext - 1].length;
  }
  int r = send_extent_chunks(c, req->cookie, &pending, true);
  return r == -1 ? -1 : 0;
}

static int do_read(struct nbd_client *c, const struct nbd_request *req)
{
  if (!c->structured)
    return read_simple(c, req);
  if (req->flags & NBD_CMD_FLAG_DF)
    return read_one_chunk(c, req);
  return read_structured(c, req);
}

/* ---- NBD_CMD_BLOCK_STATUS (base:allocation) ---- */

static int do_block_status(struct nbd_client *c, const struct nbd_request *req)
{
  size_t max = (req->flags & NBD_CMD_FLAG_REQ_ONE) ? 1 : NBD_MAX_DESCRIPTORS;
  uint64_t pos = req->offset, end = req->offset + req->length;
  unsigned char *b = c->buf + NBD_BUF_HEADROOM;
  unsigned char *d = b + NBD_CHUNK_HEADER_SIZE + 4;
  size_t n = 0;
  uint32_t last_flags = 0;

  while (pos < end && n < max) {
    size_t want = max - n < NBD_EXTENTS_BATCH ? max - n : NBD_EXTENTS_BATCH;
    if (gather_extents(c, pos, end, want) == -1) {
      if (n == 0)
        return send_error_chunk(c, req->cookie, NBD_EIO, false, 0);
      break;                       /* report what we have */
    }
    for (size_t i = 0; i < c->n_ext; i++) {
      uint32_t flags = c->ext[i].hole ? NBD_STATE_HOLE | NBD_STATE_ZERO : 0;
      if (n > 0 && flags == last_flags) {        /* merge across batches */
        uint32_t prev = nbd_get32(d + 8 * (n - 1));
        nbd_put32(d + 8 * (n - 1), prev + (uint32_t) c->ext[i].length);
      }
      else {
        nbd_put32(d + 8 * n, (uint32_t) c->ext[i].length);
        nbd_put32(d + 8 * n + 4, flags);
        n++;
        last_flags = flags;
      }
      if (n == max)
        break;
    }
    pos = c->ext[c->n_ext - 1].offset + c->ext[c->n_ext - 1].length;
  }
  /* Lengths fit in u32: together they never exceed the request length. */
  nbd_encode_chunk_header(b, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS,
                          req->cookie, (uint32_t) (4 + 8 * n));
  nbd_put32(b + NBD_CHUNK_HEADER_SIZE, NBD_META_ID_ALLOCATION);
  return nbd_send(c, b, NBD_CHUNK_HEADER_SIZE + 4 + 8 * n, false);
}

/* ---- The request loop ---- */

void nbd_transmission(struct nbd_client *c)
{
  c->handshaking = false;
  for (;;) {
    unsigned char hdr[NBD_REQUEST_SIZE];
    struct nbd_request req;

    if (nbd_recv_exact(c, hdr, sizeof hdr) == -1)
      return;
    nbd_note_activity(c);
    if (nbd_decode_request(hdr, sizeof hdr, &req) == -1) {
      p2v_warning("%s: bad request magic; disconnecting", c->peer);
      return;
    }
    if (nbd_request_has_payload(&req)) {
      /* Refused anyway, but the payload must be consumed to keep the
       * framing; one we would not accept is a reason to hang up. */
      if (req.length > NBD_MAX_REQUEST) {
        p2v_warning("%s: write of %u bytes is too long; disconnecting", c->peer, req.length);
        return;
      }
      if (nbd_recv_discard(c, req.length) == -1)
        return;
    }
    if (req.type == NBD_CMD_DISC) {
      p2v_debug("%s: client disconnected", c->peer);
      return;
    }
    uint32_t error = nbd_validate_request(&req, c->export.size, NBD_MAX_REQUEST,
                                          c->structured, c->meta);
    int r;
    if (error)
      r = send_error(c, &req, error);
    else if (req.type == NBD_CMD_READ)
      r = do_read(c, &req);
    else if (req.type == NBD_CMD_BLOCK_STATUS)
      r = do_block_status(c, &req);
    else                                  /* NBD_CMD_FLUSH: nothing to flush */
      r = send_simple(c, req.cookie, 0);
    if (r == -1)
      return;
  }
}
