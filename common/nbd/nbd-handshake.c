/* The fixed newstyle handshake: greeting, then options until the client
 * picks an export (NBD_OPT_GO or NBD_OPT_EXPORT_NAME) or leaves.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "nbd-internal.h"

size_t nbd_export_count(const struct p2v_nbd_server *server)
{
  return server->ndisks + (server->survey_json ? 1 : 0) + 1;
}

void nbd_export_get(const struct p2v_nbd_server *server, size_t id, struct nbd_export *out)
{
  *out = (struct nbd_export) { .id = id, .block_size = 4096 };
  if (id < server->ndisks) {
    struct p2v_disk *disk = server->disks[id];
    out->kind = NBD_EXPORT_DISK;
    out->name = disk->export_name;
    out->description = disk->description;
    out->size = disk->size;
    out->block_size = disk->block_size;
    out->disk = disk;
  }
  else if (id == server->ndisks && server->survey_json) {
    out->kind = NBD_EXPORT_SURVEY;
    out->name = P2V_EXPORT_SURVEY;
    out->description = "survey of the source machine (JSON, docs/survey.md)";
    out->size = server->survey_len;
  }
  else {
    out->kind = NBD_EXPORT_DONE;
    out->name = P2V_EXPORT_DONE;
    out->description = "empty; opening it tells the source that everything is copied";
  }
}

bool nbd_find_export(const struct p2v_nbd_server *server, const char *name,
                     size_t name_len, struct nbd_export *out)
{
  if (name_len == 0) {
    if (server->ndisks == 0)
      return false;
    nbd_export_get(server, 0, out);
    return true;
  }
  size_t n = nbd_export_count(server);
  for (size_t id = 0; id < n; id++) {
    nbd_export_get(server, id, out);
    if (out->name && strlen(out->name) == name_len && memcmp(out->name, name, name_len) == 0)
      return true;
  }
  return false;
}

uint16_t nbd_transmission_flags(const struct nbd_client *c)
{
  uint16_t flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY | NBD_FLAG_SEND_FLUSH |
                   NBD_FLAG_CAN_MULTI_CONN;
  /* DF only makes sense with structured replies (the spec forbids it
   * otherwise). */
  if (c->structured)
    flags |= NBD_FLAG_SEND_DF;
  return flags;
}

/* Send one option reply: header, then data (may be NULL when len is 0). */
static int reply(struct nbd_client *c, uint32_t option, uint32_t type,
                 const void *data, size_t len)
{
  unsigned char hdr[NBD_OPTION_REPLY_SIZE];
  nbd_encode_option_reply(hdr, option, type, (uint32_t) len);
  if (nbd_send(c, hdr, sizeof hdr, len > 0) == -1)
    return -1;
  if (len > 0 && nbd_send(c, data, len, false) == -1)
    return -1;
  return 0;
}

/* An NBD_REP_INFO reply: u16 type then body. */
static int reply_info(struct nbd_client *c, uint32_t option, uint16_t type,
                      const void *body, size_t len)
{
  unsigned char hdr[NBD_OPTION_REPLY_SIZE + 2];
  nbd_encode_option_reply(hdr, option, NBD_REP_INFO, (uint32_t) (len + 2));
  nbd_put16(hdr + NBD_OPTION_REPLY_SIZE, type);
  if (nbd_send(c, hdr, sizeof hdr, len > 0) == -1)
    return -1;
  if (len > 0 && nbd_send(c, body, len, false) == -1)
    return -1;
  return 0;
}

/* Description and names are bounded so that every reply stays within
 * what the spec allows for strings. */
static size_t bounded_strlen(const char *s)
{
  return s ? strnlen(s, NBD_MAX_STRING) : 0;
}

/* The description as sent: the session's machine part first (when the
 * server has one), then the human text.  Bounded like every string. */
static const char *export_description(const struct nbd_client *c,
                                      const struct nbd_export *export,
                                      char *buf, size_t size)
{
  const struct p2v_nbd_server *server = c->server;
  if (!server->session[0])
    return export->description;
  int n = snprintf(buf, size, "%s%s", P2V_SESSION_KEY, server->session);
  if (server->session_connections && n > 0 && (size_t) n < size)
    n += snprintf(buf + n, size - (size_t) n, " connections=%u",
                  server->session_connections);
  if (export->description && export->description[0] && n > 0 && (size_t) n < size)
    snprintf(buf + n, size - (size_t) n, "; %s", export->description);
  return buf;
}

static bool is_lower_hex(char ch)
{
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

int p2v_nbd_session_parse(const char *description, char *token, unsigned *connections)
{
  size_t klen = strlen(P2V_SESSION_KEY);
  if (!description || strncmp(description, P2V_SESSION_KEY, klen) != 0)
    return -1;
  const char *p = description + klen;
  for (size_t i = 0; i < P2V_SESSION_HEX; i++)
    if (!is_lower_hex(p[i]))
      return -1;
  const char *end = p + P2V_SESSION_HEX;
  unsigned n = 0;
  static const char conn_key[] = " connections=";
  if (strncmp(end, conn_key, sizeof conn_key - 1) == 0) {
    const char *q = end + sizeof conn_key - 1;
    size_t digits = 0;
    while (q[digits] >= '0' && q[digits] <= '9' && digits < 5)
      n = n * 10 + (unsigned) (q[digits++] - '0');
    if (digits == 0 || (q[0] == '0' && digits > 1) || n > P2V_SESSION_CONNECTIONS_MAX)
      return -1;
    end = q + digits;
  }
  if (*end != '\0' && strncmp(end, "; ", 2) != 0)
    return -1;
  memcpy(token, p, P2V_SESSION_HEX);
  token[P2V_SESSION_HEX] = '\0';
  *connections = n;
  return 0;
}

static uint32_t preferred_block_size(const struct nbd_export *export)
{
  uint32_t b = export->block_size;
  /* A power of two; at least a page, since smaller reads only cost more
   * requests (the source's sector size is no limit for us). */
  if (b < 4096 || b > NBD_MAX_REQUEST || (b & (b - 1)) != 0)
    b = 4096;
  return b;
}

static int send_export_info(struct nbd_client *c, uint32_t option,
                            const struct nbd_export *export)
{
  unsigned char body[12];
  nbd_put64(body, export->size);
  nbd_put16(body + 8, nbd_transmission_flags(c));
  return reply_info(c, option, NBD_INFO_EXPORT, body, 10);
}

static int send_block_size(struct nbd_client *c, uint32_t option,
                           const struct nbd_export *export)
{
  unsigned char body[12];
  nbd_put32(body, 1);                     /* any byte range can be read */
  nbd_put32(body + 4, preferred_block_size(export));
  nbd_put32(body + 8, NBD_MAX_REQUEST);
  return reply_info(c, option, NBD_INFO_BLOCK_SIZE, body, 12);
}

/* The converter we dialled is busy with another source (it asked for
 * P2V_EXPORT_BUSY): say we understood, count it for the dialer (which
 * says so once and backs off) and hang up.  The session counts as unused. */
static int refused_busy(struct nbd_client *c, uint32_t option)
{
  static const char msg[] = "understood: the converter is busy with another source";
  c->refused_busy = true;
  if (c->server->counters)
    atomic_fetch_add(&c->server->counters->converter_busy, 1);
  p2v_debug("%s: the converter is busy with another source", c->peer);
  (void) reply(c, option, NBD_REP_ERR_POLICY, msg, sizeof msg - 1);
  return -1;
}

/* NBD_OPT_INFO and NBD_OPT_GO.  Returns 1 to enter transmission (GO
 * succeeded), 0 to go on negotiating, -1 to hang up. */
static int opt_info_go(struct nbd_client *c, uint32_t option,
                       const unsigned char *data, uint32_t len)
{
  struct nbd_info_request req;
  if (nbd_decode_info_request(data, len, &req) == -1)
    return reply(c, option, NBD_REP_ERR_INVALID, NULL, 0);
  if (req.name_len == strlen(P2V_EXPORT_BUSY) &&
      memcmp(req.name, P2V_EXPORT_BUSY, req.name_len) == 0)
    return refused_busy(c, option);
  struct nbd_export export;
  if (!nbd_find_export(c->server, req.name, req.name_len, &export)) {
    p2v_debug("%s: unknown export '%.*s'", c->peer, (int) req.name_len, req.name);
    return reply(c, option, NBD_REP_ERR_UNKNOWN, NULL, 0);
  }
  char why[160];
  if (option == NBD_OPT_GO && nbd_claim_session(c, why, sizeof why) == -1)
    return reply(c, option, NBD_REP_ERR_SHUTDOWN, why, strlen(why));   /* server full */
  if (send_export_info(c, option, &export) == -1)
    return -1;
  char desc_buf[NBD_MAX_STRING + 1];
  const char *description = export_description(c, &export, desc_buf, sizeof desc_buf);
  bool sent_name = false, sent_description = false;
  for (uint16_t i = 0; i < req.ninfos; i++) {
    uint16_t type = nbd_get16(req.infos + 2 * i);
    int r = 0;
    if (type == NBD_INFO_NAME && !sent_name) {
      sent_name = true;
      r = reply_info(c, option, NBD_INFO_NAME, export.name,
                     bounded_strlen(export.name));
    }
    else if (type == NBD_INFO_DESCRIPTION && !sent_description && description) {
      sent_description = true;
      r = reply_info(c, option, NBD_INFO_DESCRIPTION, description,
                     bounded_strlen(description));
    }
    /* NBD_INFO_EXPORT was sent already, NBD_INFO_BLOCK_SIZE always is,
     * and unknown types are ignored as the spec says. */
    if (r == -1)
      return -1;
  }
  if (send_block_size(c, option, &export) == -1 ||
      reply(c, option, NBD_REP_ACK, NULL, 0) == -1)
    return -1;
  if (option == NBD_OPT_INFO)
    return 0;
  c->export = export;
  c->meta = c->structured && c->meta_id == export.id;
  return 1;
}

static int opt_list(struct nbd_client *c, uint32_t len)
{
  if (len != 0)
    return reply(c, NBD_OPT_LIST, NBD_REP_ERR_INVALID, NULL, 0);
  size_t n = nbd_export_count(c->server);
  for (size_t id = 0; id < n; id++) {
    struct nbd_export export;
    nbd_export_get(c->server, id, &export);
    char desc_buf[NBD_MAX_STRING + 1];
    const char *description = export_description(c, &export, desc_buf, sizeof desc_buf);
    size_t nlen = bounded_strlen(export.name);
    size_t dlen = bounded_strlen(description);
    unsigned char body[4 + 2 * NBD_MAX_STRING];
    nbd_put32(body, (uint32_t) nlen);
    if (nlen)
      memcpy(body + 4, export.name, nlen);
    if (dlen)
      memcpy(body + 4 + nlen, description, dlen);
    if (reply(c, NBD_OPT_LIST, NBD_REP_SERVER, body, 4 + nlen + dlen) == -1)
      return -1;
  }
  return reply(c, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
}

static bool is_query(const char *q, uint32_t qlen, const char *s)
{
  return strlen(s) == qlen && memcmp(q, s, qlen) == 0;
}

static int reply_meta_allocation(struct nbd_client *c, uint32_t option)
{
  unsigned char body[4 + sizeof NBD_META_BASE_ALLOCATION - 1];
  nbd_put32(body, NBD_META_ID_ALLOCATION);
  memcpy(body + 4, NBD_META_BASE_ALLOCATION, sizeof NBD_META_BASE_ALLOCATION - 1);
  return reply(c, option, NBD_REP_META_CONTEXT, body, sizeof body);
}

/* NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT: base:allocation
 * is the only context. */
static int opt_meta(struct nbd_client *c, uint32_t option,
                    const unsigned char *data, uint32_t len)
{
  bool set = option == NBD_OPT_SET_META_CONTEXT;
  struct nbd_meta_request req;

  if (set && !c->structured)
    return reply(c, option, NBD_REP_ERR_INVALID, NULL, 0);
  if (nbd_decode_meta_request(data, len, &req) == -1)
    return reply(c, option, NBD_REP_ERR_INVALID, NULL, 0);
  struct nbd_export export;
  if (!nbd_find_export(c->server, req.name, req.name_len, &export))
    return reply(c, option, NBD_REP_ERR_UNKNOWN, NULL, 0);

  bool match = !set && req.nqueries == 0;   /* LIST with no query: all */
  size_t pos = 0;
  const char *q;
  uint32_t qlen;
  while (nbd_meta_next_query(&req, &pos, &q, &qlen) == 1) {
    if (is_query(q, qlen, NBD_META_BASE_ALLOCATION) ||
        (!set && is_query(q, qlen, "base:")))
      match = true;
  }
  if (set)                                  /* SET replaces earlier choices */
    c->meta_id = match ? export.id : SIZE_MAX;
  if (match && reply_meta_allocation(c, option) == -1)
    return -1;
  return reply(c, option, NBD_REP_ACK, NULL, 0);
}

/* NBD_OPT_STARTTLS: switch the connection to TLS and forget everything
 * negotiated in plain text (CVE-2021-3716 was a server that did not). */
static int opt_starttls(struct nbd_client *c, uint32_t len)
{
  if (len != 0 || c->tls_active)
    return reply(c, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID, NULL, 0);
  if (!c->server->tls || c->server->tls_mode == P2V_TLS_OFF)
    return reply(c, NBD_OPT_STARTTLS, NBD_REP_ERR_POLICY, NULL, 0);
  if (reply(c, NBD_OPT_STARTTLS, NBD_REP_ACK, NULL, 0) == -1)
    return -1;
  /* Plain-text bytes already buffered would be taken as if they came
   * over TLS: a client must wait for our reply, so this is an attack or
   * a broken client. */
  if (c->in_pos != c->in_len) {
    p2v_warning("%s: client sent data before the TLS handshake; disconnecting", c->peer);
    return -1;
  }
  struct p2v_conn *tls = p2v_conn_tls_new(c->server->tls, c->conn,
                                          nbd_handshake_ms_left(c));
  if (!tls)
    return -1;
  c->conn = tls;
  c->tls_active = true;
  c->structured = false;
  c->meta_id = SIZE_MAX;
  return 0;
}

/* NBD_OPT_EXPORT_NAME: no way to say no except hanging up. */
static int opt_export_name(struct nbd_client *c, const unsigned char *data, uint32_t len)
{
  struct nbd_export export;
  if (!nbd_find_export(c->server, (const char *) data, len, &export)) {
    p2v_debug("%s: unknown export '%.*s'", c->peer, (int) len, (const char *) data);
    return -1;
  }
  char why[160];
  if (nbd_claim_session(c, why, sizeof why) == -1)
    return -1;                            /* server full: logged there */
  unsigned char body[10 + NBD_EXPORT_NAME_REPLY_ZEROES] = { 0 };
  nbd_put64(body, export.size);
  nbd_put16(body + 8, nbd_transmission_flags(c));
  size_t n = c->no_zeroes ? 10 : sizeof body;
  if (nbd_send(c, body, n, false) == -1)
    return -1;
  c->export = export;
  c->meta = c->structured && c->meta_id == export.id;
  return 1;
}

/* One option: 1 enter transmission, 0 go on, -1 hang up. */
static int handle_option(struct nbd_client *c, uint32_t option,
                         const unsigned char *data, uint32_t len)
{
  bool tls_needed = c->server->tls_mode == P2V_TLS_REQUIRE && !c->tls_active;

  if (tls_needed && option != NBD_OPT_STARTTLS && option != NBD_OPT_ABORT) {
    if (option == NBD_OPT_EXPORT_NAME) {
      p2v_debug("%s: plain-text NBD_OPT_EXPORT_NAME while TLS is required", c->peer);
      return -1;
    }
    return reply(c, option, NBD_REP_ERR_TLS_REQD, NULL, 0);
  }

  switch (option) {
  case NBD_OPT_EXPORT_NAME:
    return opt_export_name(c, data, len);
  case NBD_OPT_ABORT:
    (void) reply(c, option, NBD_REP_ACK, NULL, 0);   /* client may be gone */
    return -1;
  case NBD_OPT_LIST:
    return opt_list(c, len);
  case NBD_OPT_STARTTLS:
    return opt_starttls(c, len);
  case NBD_OPT_INFO:
  case NBD_OPT_GO:
    return opt_info_go(c, option, data, len);
  case NBD_OPT_STRUCTURED_REPLY:
    if (len != 0)
      return reply(c, option, NBD_REP_ERR_INVALID, NULL, 0);
    c->structured = true;
    return reply(c, option, NBD_REP_ACK, NULL, 0);
  case NBD_OPT_LIST_META_CONTEXT:
  case NBD_OPT_SET_META_CONTEXT:
    return opt_meta(c, option, data, len);
  default:
    return reply(c, option, NBD_REP_ERR_UNSUP, NULL, 0);
  }
}

int nbd_handshake(struct nbd_client *c)
{
  unsigned char greeting[NBD_GREETING_SIZE];
  nbd_put64(greeting, NBD_MAGIC);
  nbd_put64(greeting + 8, NBD_IHAVEOPT);
  nbd_put16(greeting + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
  if (nbd_send(c, greeting, sizeof greeting, false) == -1)
    return -1;

  unsigned char flags_buf[4];
  if (nbd_recv_exact(c, flags_buf, 4) == -1)
    return -1;
  uint32_t client_flags = nbd_get32(flags_buf);
  if ((client_flags & ~NBD_CLIENT_FLAGS_KNOWN) ||
      !(client_flags & NBD_FLAG_C_FIXED_NEWSTYLE)) {
    p2v_warning("%s: unsupported client flags 0x%x; disconnecting", c->peer, client_flags);
    return -1;
  }
  c->no_zeroes = client_flags & NBD_FLAG_C_NO_ZEROES;

  for (;;) {
    unsigned char hdr[NBD_OPTION_HEADER_SIZE];
    struct nbd_option_header opt;
    if (nbd_recv_exact(c, hdr, sizeof hdr) == -1)
      return -1;
    if (nbd_decode_option_header(hdr, sizeof hdr, &opt) == -1) {
      p2v_warning("%s: bad option magic; disconnecting", c->peer);
      return -1;
    }
    if (opt.length > NBD_MAX_OPTION) {
      if (opt.option == NBD_OPT_EXPORT_NAME || opt.length > NBD_MAX_OPTION_DISCARD) {
        p2v_warning("%s: option %u is too long (%u bytes); disconnecting",
                    c->peer, opt.option, opt.length);
        return -1;
      }
      if (nbd_recv_discard(c, opt.length) == -1 ||
          reply(c, opt.option, NBD_REP_ERR_TOO_BIG, NULL, 0) == -1)
        return -1;
      continue;
    }
    unsigned char *data = c->buf + NBD_BUF_HEADROOM;
    if (nbd_recv_exact(c, data, opt.length) == -1)
      return -1;
    p2v_debug("%s: option %u, %u bytes", c->peer, opt.option, opt.length);
    int r = handle_option(c, opt.option, data, opt.length);
    if (r != 0)
      return r == 1 ? 0 : -1;
  }
}
