/* A byte-stream connection to one NBD client, behind a small ops struct so
 * that plain sockets, GnuTLS, and later Winsock or SChannel slot in without
 * touching the protocol code.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_CONN_H
#define P2V_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct p2v_conn;

struct p2v_conn_ops {
  const char *kind;                      /* "socket", "tls" */
  /* Receive up to len (> 0) bytes, waiting at most timeout_ms (-1: no
   * limit).  Returns bytes received, 0 at end of stream, or -1 with errno
   * set (ETIMEDOUT when the wait ran out).  Never NULL. */
  ssize_t (*recv)(struct p2v_conn *conn, void *buf, size_t len, int timeout_ms);
  /* Send all len bytes; more: more data follows at once (the transport
   * may hold it back to fill packets).  0, or -1 with errno set. */
  int (*send)(struct p2v_conn *conn, const void *buf, size_t len, bool more);
  /* Wait until input is ready, at most timeout_ms (-1: no limit): 1
   * ready, 0 timed out, -1 error with errno set.  Never NULL. */
  int (*wait)(struct p2v_conn *conn, int timeout_ms);
  /* Say goodbye politely if the transport has a way (TLS close_notify),
   * then free everything, including the transport below.  Never NULL. */
  void (*close)(struct p2v_conn *conn);
};

struct p2v_conn {
  const struct p2v_conn_ops *ops;
};

/* A plain socket connection; takes ownership of fd (closed by close).
 * NULL with an error reported if out of memory (fd is closed then too). */
struct p2v_conn *p2v_conn_socket_new(int fd);
/* The socket under a socket connection, e.g. to shut it down from another
 * thread.  -1 for other kinds. */
int p2v_conn_socket_fd(const struct p2v_conn *conn);

struct p2v_tls;
/* Run the TLS server handshake over conn (which must hold no buffered
 * input) and return a TLS connection layered on it; the TLS connection
 * owns conn from then on.  On failure NULL with a warning reported, and
 * conn still belongs to the caller.  timeout_ms bounds each wait. */
struct p2v_conn *p2v_conn_tls_new(struct p2v_tls *tls, struct p2v_conn *conn,
                                  int timeout_ms);

static inline ssize_t p2v_conn_recv(struct p2v_conn *conn, void *buf, size_t len,
                                    int timeout_ms)
{
  return conn->ops->recv(conn, buf, len, timeout_ms);
}
static inline int p2v_conn_send(struct p2v_conn *conn, const void *buf, size_t len,
                                bool more)
{
  return conn->ops->send(conn, buf, len, more);
}
static inline void p2v_conn_close(struct p2v_conn *conn)
{
  if (conn)
    conn->ops->close(conn);
}

#endif
