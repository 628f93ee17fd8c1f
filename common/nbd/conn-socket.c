/* struct p2v_conn over a plain (POSIX) TCP or Unix socket.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"

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
  struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
  int r;
  /* Restarting after EINTR may stretch the limit a little; fine here. */
  while ((r = poll(&pfd, 1, timeout_ms)) == -1 && errno == EINTR)
    ;
  return r > 0 ? 1 : r;
}

static ssize_t socket_recv(struct p2v_conn *conn, void *buf, size_t len, int timeout_ms)
{
  struct socket_conn *s = (struct socket_conn *) conn;
  for (;;) {
    if (timeout_ms >= 0) {
      int r = socket_wait(conn, timeout_ms);
      if (r == -1)
        return -1;
      if (r == 0) {
        errno = ETIMEDOUT;
        return -1;
      }
    }
    ssize_t n = recv(s->fd, buf, len, 0);
    if (n == -1 && errno == EINTR)
      continue;
    return n;
  }
}

static int socket_send(struct p2v_conn *conn, const void *buf, size_t len, bool more)
{
  struct socket_conn *s = (struct socket_conn *) conn;
  const char *p = buf;
  /* MSG_NOSIGNAL: a vanished client is an error return, not SIGPIPE. */
  int flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0);
  while (len > 0) {
    ssize_t n = send(s->fd, p, len, flags);
    if (n == -1) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += n;
    len -= (size_t) n;
  }
  return 0;
}

static void socket_close(struct p2v_conn *conn)
{
  struct socket_conn *s = (struct socket_conn *) conn;
  close(s->fd);
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
    close(fd);
    return NULL;
  }
  s->conn.ops = &socket_ops;
  s->fd = fd;
  /* Replies are written whole (header and data in one send), so Nagle
   * would only add latency.  Fails harmlessly on non-TCP sockets. */
  int one = 1;
  (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  /* A peer that vanished (keepalive) or stopped reading our replies for
   * this long (send timeout) must not hold a client slot for ever. */
  (void) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  int idle = KEEPALIVE_IDLE_S, intvl = KEEPALIVE_INTVL_S, count = KEEPALIVE_COUNT;
  unsigned user_timeout_ms = SEND_STALL_SECONDS * 1000;
  (void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  (void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
  (void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  (void) setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
  struct timeval stall = { .tv_sec = SEND_STALL_SECONDS };
  (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &stall, sizeof stall);
  return &s->conn;
}

int p2v_conn_socket_fd(const struct p2v_conn *conn)
{
  if (conn->ops != &socket_ops)
    return -1;
  return ((const struct socket_conn *) conn)->fd;
}
