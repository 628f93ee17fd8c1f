/* Private to common/nbd: the state of one client and the helpers the
 * handshake and transmission phases share.  Sectioned by defining file.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_NBD_INTERNAL_H
#define P2V_NBD_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "conn.h"
#include "nbd-decode.h"
#include "nbd-server.h"

/* Largest READ we serve, like nbdkit; larger ones get EINVAL. */
#define NBD_MAX_REQUEST      (32u * 1024 * 1024)
/* Largest option payload we read; larger ones are discarded (up to
 * NBD_MAX_OPTION_DISCARD) and refused, or the client is dropped. */
#define NBD_MAX_OPTION        (64u * 1024)
#define NBD_MAX_OPTION_DISCARD (1u * 1024 * 1024)
/* The handshake, TLS included, must end this long after it began (the
 * accept, or a dialled converter's first byte), however the client
 * trickles its bytes.  Like QEMU's NBD server: 10 s is some 10 round trips
 * of a 1 s satellite link (greeting, STARTTLS, the TLS handshake,
 * STRUCTURED_REPLY, SET_META_CONTEXT, GO).  p2v-agent serve
 * --handshake-timeout changes it. */
#define NBD_HANDSHAKE_TIMEOUT_MS  10000
/* A dialled session's handshake, from the converter's first byte: the
 * converter is the one we chose, and may take its 30 s per step. */
#define NBD_DIALLED_HANDSHAKE_MS 120000
/* A session may be dropped to make room for a new client once it has sent
 * no request for this long (p2v-agent serve --idle-timeout).  Only then:
 * p2v-convert run holds a connection per disk unused for hours (reads
 * through it again with --verify=full), and must not lose it for nothing.
 * Over the copy engine's longest legitimate silence per connection (it
 * fails after its stall timeout, 60 s by default). */
#define NBD_IDLE_TIMEOUT_MS      300000
/* The per-connection reply buffer: reads are sent in pieces of this size,
 * so memory per client stays bounded whatever the request length. */
#define NBD_BUF_DATA          (1u * 1024 * 1024)
#define NBD_BUF_HEADROOM      32     /* room for a reply header before data */
/* Extents gathered per call into the disk, and descriptors per reply. */
#define NBD_EXTENTS_BATCH     256
#define NBD_MAX_DESCRIPTORS   1024
/* The one meta context we offer. */
#define NBD_META_ID_ALLOCATION 1
/* A dialled session may wait in the converter's accept queue for hours
 * before the converter says anything: until then it is checked this often
 * for a stop, and the handshake limits start with the first byte. */
#define NBD_DIALLED_IDLE_POLL_MS 200

/* What a client can open: a disk, or one of the "p2v:" exports. */
enum nbd_export_kind { NBD_EXPORT_DISK, NBD_EXPORT_SURVEY, NBD_EXPORT_DONE };

struct nbd_export {
  enum nbd_export_kind kind;
  size_t id;                  /* position in the list: disks, survey, done */
  const char *name, *description;
  uint64_t size;
  uint32_t block_size;
  struct p2v_disk *disk;      /* NBD_EXPORT_DISK only */
};

struct nbd_extent {
  uint64_t offset, length;
  bool hole;
};

struct nbd_slot;                          /* nbd-server.c */

struct nbd_client {
  const struct p2v_nbd_server *server;
  struct p2v_conn *conn;
  const char *peer;                       /* for messages */

  /* Input buffering: one recv serves many small requests. */
  unsigned char in[16384];
  size_t in_pos, in_len;
  bool handshaking;                       /* timeouts apply */
  int64_t deadline_ms;                    /* end of the handshake (p2v_now_ms) */
  int handshake_ms;                       /* its length, for a dialled session */
  /* A client of a listener (NULL otherwise): the slot it holds there,
   * changed from handshake to session by nbd_claim_session. */
  struct nbd_slot *slot;
  /* Dialled and the converter has not spoken yet: wait without the
   * handshake limits until it does or this becomes true. */
  const atomic_bool *idle_stop;
  bool spoke;                             /* the peer sent at least one byte */
  bool refused_busy;                      /* it asked for P2V_EXPORT_BUSY */

  /* Negotiated state. */
  bool no_zeroes;
  bool tls_active;
  bool structured;
  size_t meta_id;                         /* export base:allocation is set for; SIZE_MAX none */
  struct nbd_export export;               /* the export in transmission */
  bool meta;                              /* base:allocation usable in transmission */

  unsigned char *buf;                     /* NBD_BUF_HEADROOM + NBD_BUF_DATA */

  /* Extent gathering (transmission). */
  struct nbd_extent ext[NBD_EXTENTS_BATCH];
  size_t n_ext, ext_max;
  uint64_t ext_pos, ext_end;
  bool ext_stopped, ext_bad;
};

/* nbd-server.c */
/* Before a client enters transmission (NBD_OPT_GO, NBD_OPT_EXPORT_NAME):
 * take a session slot, dropping a session idle for too long if there is
 * no free one.  0, or -1 with the reason for the client (and its log line,
 * rate-limited) in why. */
int nbd_claim_session(struct nbd_client *c, char *why, size_t why_size);
/* A request was served: the session is not idle. */
void nbd_note_activity(struct nbd_client *c);
/* Milliseconds left of the handshake (at least 1). */
int nbd_handshake_ms_left(const struct nbd_client *c);
/* Refuse a server whose disks take reserved names: 0, or -1 reported. */
int nbd_check_server(const struct p2v_nbd_server *server);
/* Serve one client on *connp; the caller closes *connp afterwards (TLS may
 * have replaced it).  idle_stop non-NULL: a dialled session (see
 * nbd_client.idle_stop).  Returns true if the peer used the session: it
 * sent anything, and not just to say it is busy (P2V_EXPORT_BUSY). */
bool nbd_serve_conn(const struct p2v_nbd_server *server, struct p2v_conn **connp,
                    const char *peer, const atomic_bool *idle_stop);
void nbd_describe_peer(int fd, char *out, size_t size);
/* Read exactly len bytes: 0, or -1 (end of stream, error or timeout; a
 * debug line says which). */
int nbd_recv_exact(struct nbd_client *c, void *buf, size_t len);
/* Read and throw away len bytes. */
int nbd_recv_discard(struct nbd_client *c, uint64_t len);
int nbd_send(struct nbd_client *c, const void *buf, size_t len, bool more);

/* nbd-handshake.c */
/* Negotiate; 0 with c->disk set to enter transmission, -1 to hang up. */
int nbd_handshake(struct nbd_client *c);
/* Exports in NBD_OPT_LIST order: disks, survey (if any), done. */
size_t nbd_export_count(const struct p2v_nbd_server *server);
void nbd_export_get(const struct p2v_nbd_server *server, size_t id, struct nbd_export *out);
/* Find an export by name ("" is the first disk); false if none. */
bool nbd_find_export(const struct p2v_nbd_server *server, const char *name,
                     size_t name_len, struct nbd_export *out);
uint16_t nbd_transmission_flags(const struct nbd_client *c);

/* nbd-transmission.c */
/* Serve requests until the client leaves or breaks the protocol. */
void nbd_transmission(struct nbd_client *c);

/* nbd-dialer.c uses net.c: */
/* Connect to address without reporting: fd, or -1 with a reason in why.
 * Gives up after timeout_ms, or when *stop or *also_stop (may be NULL) is set. */
int nbd_net_dial(const char *address, int timeout_ms, volatile sig_atomic_t *stop,
                 const atomic_bool *also_stop, char *why, size_t why_size);

#endif
