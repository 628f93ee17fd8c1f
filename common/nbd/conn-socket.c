/* struct p2v_conn over a plain TCP or Unix socket (POSIX or Winsock,
 * through net-platform.h).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdlib.h>

#include "conn.h"
#include "log.h"
#include "net-platform.h"

#define SEND_STALL_SECONDS 120
/* A peer that vanished (power loss, a cut cable) frees its slot within
 * about two minutes: keepalive probes after 30 s of silence, 10 s apart,
 * and TCP_USER_TIMEOUT ends it when data or probes stay unanswered for
 * SEND_STALL_SECONDS (without it, unacknowledged replies are retried for
 * some 15 minutes and keepalive never starts). */
#define KEEPALIVE_IDLE_S   30
#define KEEPALIVE_INTVL_S  10
#define KEEPALIVE_COUNT    6

struct socket_conn {
  struct p2v_conn conn;          /* first: the generic part */
  int fd;
};

static int socket_wait(struct p2v_conn *conn, int timeout_ms)
{
  struct socket_conn *s = (struct socket_conn *) conn;
  return p2v_sock_wait(s->fd, false, timeout_ms);
}

static ssize_t socket_recv(struct p2v_conn *conn, void *buf, size_t len, int timeout_ms)
{
  struct socket_conn *s = (struct socket_conn *) conn;
  if (timeout_ms >= 0) {
    int r = socket_wait(conn, timeout_ms);
    if (r == -1)
      return -1;
    if (r == 0) {
      errno = ETIMEDOUT;
      return -1;
    }
  }
  return p2v_sock_recv(s->fd, buf, len);
}

static int socket_send(struct p2v_conn *conn, const void *buf, size_t len, bool more)
{
  struct socket_conn *s = (struct socket_conn *) conn;
  return p2v_sock_send_all(s->fd, buf, len, more);
}

static void socket_close(struct p2v_conn *conn)
{
  struct socket_conn *s = (struct socket_conn *) conn;
  p2v_sock_close(s->fd);
  free(s);
}

static const struct p2v_conn_ops socket_ops = {
  .kind = "socket",
  .recv = socket_recv,
  .send = socket_send,
  .wait = socket_wait,
  .close = socket_close,
};

struct p2v_conn *p2v_conn_socket_new(int fd)
{
  struct socket_conn *s = calloc(1, sizeof *s);
  if (!s) {
    p2v_error("cannot allocate a connection: %m");
    p2v_sock_close(fd);
    return NULL;
  }
  s->conn.ops = &socket_ops;
  s->fd = fd;
  /* Replies are written whole (header and data in one send), so Nagle
   * would only add latency.  Fails harmlessly on non-TCP sockets. */
  p2v_sock_set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  /* A peer that vanished (keepalive) or stopped reading our replies for
   * this long (send timeout) must not hold a client slot for ever. */
  p2v_sock_keepalive(fd, KEEPALIVE_IDLE_S, KEEPALIVE_INTVL_S, KEEPALIVE_COUNT,
                     SEND_STALL_SECONDS);
  return &s->conn;
}

int p2v_conn_socket_fd(const struct p2v_conn *conn)
{
  if (conn->ops != &socket_ops)
    return -1;
  return ((const struct socket_conn *) conn)->fd;
}
