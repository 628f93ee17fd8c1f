/* The read-only NBD server: fixed newstyle handshake, structured replies,
 * base:allocation, TLS (X.509 and PSK), many clients at once.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_NBD_SERVER_H
#define P2V_NBD_SERVER_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disk.h"

enum p2v_tls_mode { P2V_TLS_OFF, P2V_TLS_ON, P2V_TLS_REQUIRE };

struct p2v_tls_options {
  enum p2v_tls_mode mode;
  const char *cert_file;      /* X.509 server certificate (PEM) */
  const char *key_file;       /* its private key (PEM) */
  const char *ca_file;        /* CA to verify client certificates */
  bool verify_peer;           /* require and verify a client certificate */
  const char *psk_file;       /* "username:hexkey" lines, as nbdkit's psktool writes */
};

struct p2v_tls;               /* loaded credentials, shared by all clients */

/* Load and check the TLS files; NULL with one clear error if any is bad. */
struct p2v_tls *p2v_tls_load(const struct p2v_tls_options *options);
void p2v_tls_free(struct p2v_tls *tls);

/* Exports every server offers besides its disks (docs/dial-in.md).  Disk
 * export names never start with "p2v:". */
#define P2V_EXPORT_PREFIX "p2v:"
#define P2V_EXPORT_SURVEY "p2v:survey"  /* the survey JSON as a read-only byte export */
#define P2V_EXPORT_DONE   "p2v:done"    /* empty; a client opening it says "I have everything" */
/* Not an export: a converter asking for it (NBD_OPT_INFO or NBD_OPT_GO)
 * says "I am busy with another source"; the reply is an error. */
#define P2V_EXPORT_BUSY   "p2v:busy"

/* The session token: 128 random bits as lowercase hex, made once per
 * server, announced as the start of every export's description:
 *   "p2v-session=<32 hex>[ connections=<N>][; human description]"
 * so that a converter taking dialled connections can tell its source's
 * from any other's (docs/dial-in.md). */
#define P2V_SESSION_HEX   32
#define P2V_SESSION_KEY   "p2v-session="
#define P2V_SESSION_CONNECTIONS_MAX 1000

/* What the server has done so far, for a console or a progress line.
 * Written by the serving threads, read by any thread. */
struct p2v_nbd_counters {
  _Atomic uint64_t *bytes_served;   /* per disk (ndisks entries): data and holes replied */
  atomic_uint clients;              /* sessions being served now */
  atomic_bool converter_done;       /* a client opened P2V_EXPORT_DONE */
  atomic_uint converter_busy;       /* clients that asked for P2V_EXPORT_BUSY */
};

struct p2v_nbd_server {
  struct p2v_disk **disks;    /* one export each, named disk->export_name */
  size_t ndisks;
  struct p2v_tls *tls;        /* NULL when mode is P2V_TLS_OFF */
  enum p2v_tls_mode tls_mode;
  unsigned max_clients;       /* sessions (clients past NBD_OPT_GO) at once; 0: default (16) */
  /* A listener's limits (docs/p2v-agent.md, "Limits"); 0: the default.
   * Clients in the handshake have a few slots of their own, the oldest
   * giving way to a new one, and a deadline; a full server drops a session
   * idle for idle_timeout_ms to make room, or refuses the new client with
   * NBD_REP_ERR_SHUTDOWN and a message. */
  unsigned handshake_timeout_ms;  /* default 10 s */
  unsigned idle_timeout_ms;       /* default 5 min */
  const char *survey_json;    /* served as P2V_EXPORT_SURVEY; NULL: no such export */
  size_t survey_len;
  struct p2v_nbd_counters *counters;  /* NULL: not counted */
  char session[P2V_SESSION_HEX + 1];  /* p2v_nbd_session_init; "": none announced */
  unsigned session_connections;       /* announced with it; 0: not said (a listener) */
};

/* Give the server its session token (getrandom).  0, or -1 reported. */
int p2v_nbd_session_init(struct p2v_nbd_server *server);

/* Parse the machine part of an export description: 0 with token (33
 * bytes) and *connections (0 if not said) set, -1 if it is not in the
 * format above.  Strict: anything else is -1. */
int p2v_nbd_session_parse(const char *description, char *token, unsigned *connections);

/* Serve one client on a connected socket (either side may have dialled).
 * Takes ownership of fd.  Returns when the client leaves; a misbehaving
 * client is disconnected, never crashes the server. */
void p2v_nbd_serve_connection(const struct p2v_nbd_server *server, int fd);

/* Accept clients on listen_fd, each on its own thread, until *stop becomes
 * non-zero (poll with a short timeout, so a signal handler can set it).
 * Returns 0, or -1 reported. */
int p2v_nbd_serve_listener(const struct p2v_nbd_server *server, int listen_fd,
                           volatile sig_atomic_t *stop);

/* Dial-in: keep up to `connections` sessions open to the converter listening
 * at address (HOST:PORT), serving one NBD session on each (this side is the
 * NBD server); dial again when one ends; while the converter is unreachable,
 * retry with back-off and say so once per outage.  Returns 0 when the
 * converter opened P2V_EXPORT_DONE, -1 when *stop became non-zero or on a
 * fatal error (reported). */
int p2v_nbd_serve_dialer(const struct p2v_nbd_server *server, const char *address,
                         unsigned connections, volatile sig_atomic_t *stop);

/* "ADDR:PORT", "[v6]:PORT", or ":PORT"/"PORT" (127.0.0.1).  Returns a
 * listening socket, or -1 with a clear error (e.g. port in use). */
int p2v_net_listen(const char *address);
/* The numeric "ADDR:PORT" a socket is bound to (the port the kernel
 * picked for ":0"); -1 if unknown. */
int p2v_net_local_address(int fd, char *buf, size_t size);
/* The numeric "ADDR:PORT" of a TCP socket's peer; -1 if unknown. */
int p2v_net_peer_address(int fd, char *buf, size_t size);
/* Connect to "HOST:PORT"; -1 with a clear error. */
int p2v_net_connect(const char *address);
/* Check the syntax of an address without resolving it; -1 with a clear
 * error ("cannot WHAT ADDRESS: ...") if it is malformed. */
int p2v_net_check_address(const char *address, const char *what);
/* True if the address given to p2v_net_listen is a loopback address. */
bool p2v_net_is_loopback(const char *address);

/* How a connection that carries disks is protected. */
enum p2v_net_guard {
  P2V_NET_CLEAR,            /* no TLS, or TLS only offered (--tls=on) */
  P2V_NET_TLS_UNVERIFIED,   /* TLS required, but any client gets in (X.509 without
                             * client certificates) */
  P2V_NET_TLS_VERIFIED,     /* TLS required and the peer proves itself (PSK, or a
                             * client certificate signed by the CA) */
};

/* The one rule for disks on a network (docs/p2v-agent.md "Clear text"):
 * across a non-loopback address they travel only with P2V_NET_TLS_VERIFIED,
 * or when the user said so: insecure names the option given ("--insecure",
 * "p2v.insecure=1"), NULL if none, and one warning line is printed.  what
 * says what crosses where ("serve disks on", "receive disks on"), fix what
 * to add.  Returns 0, or -1 with one error line. */
int p2v_net_require_tls(const char *address, enum p2v_net_guard guard, const char *insecure,
                        const char *what, const char *fix);

#endif
