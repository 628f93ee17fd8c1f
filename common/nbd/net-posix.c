/* net-platform.h over POSIX sockets (Linux).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>

#include "net-platform.h"

int p2v_sock_startup(void) { return 0; }

int p2v_sock_open(int family, int type, int protocol, bool nonblocking)
{
  return socket(family, type | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), protocol);
}

void p2v_sock_close(int fd) { close(fd); }

void p2v_sock_shutdown(int fd) { shutdown(fd, SHUT_RDWR); }

void p2v_sock_set_int(int fd, int level, int name, int value)
{
  (void) setsockopt(fd, level, name, &value, sizeof value);
}

int p2v_sock_bind_listen(int fd, const struct sockaddr *addr, socklen_t len, int backlog)
{
  return bind(fd, addr, len) == 0 && listen(fd, backlog) == 0 ? 0 : -1;
}

int p2v_sock_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
  return connect(fd, addr, len);
}

int p2v_sock_connect_result(int fd)
{
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
    return errno;
  return err;
}

int p2v_sock_set_blocking(int fd)
{
  int flags = fcntl(fd, F_GETFL);
  if (flags == -1 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == -1)
    return -1;
  return 0;
}

int p2v_sock_wait(int fd, bool for_write, int timeout_ms)
{
  struct pollfd pfd = { .fd = fd, .events = for_write ? POLLOUT : POLLIN };
  int r;
  /* Restarting after EINTR may stretch the limit a little; fine here. */
  while ((r = poll(&pfd, 1, timeout_ms)) == -1 && errno == EINTR)
    ;
  return r > 0 ? 1 : r;
}

void p2v_sock_pause(int ms) { poll(NULL, 0, ms); }

int p2v_sock_accept(int listen_fd)
{
  return accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
}

ssize_t p2v_sock_recv(int fd, void *buf, size_t len)
{
  ssize_t n;
  while ((n = recv(fd, buf, len, 0)) == -1 && errno == EINTR)
    ;
  return n;
}

int p2v_sock_send_all(int fd, const void *buf, size_t len, bool more)
{
  const char *p = buf;
  /* MSG_NOSIGNAL: a vanished client is an error return, not SIGPIPE. */
  int flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0);
  while (len > 0) {
    ssize_t n = send(fd, p, len, flags);
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

void p2v_sock_keepalive(int fd, int idle_s, int intvl_s, int count, int stall_s)
{
  p2v_sock_set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  p2v_sock_set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle_s);
  p2v_sock_set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, intvl_s);
  p2v_sock_set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, count);
  if (stall_s > 0) {
    /* TCP_USER_TIMEOUT ends a connection whose data or probes stay
     * unanswered; SO_SNDTIMEO a send blocked on a peer that stopped reading. */
    p2v_sock_set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, stall_s * 1000);
    struct timeval stall = { .tv_sec = stall_s };
    (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &stall, sizeof stall);
  }
}

int p2v_sock_name(int fd, bool peer, struct sockaddr_storage *ss, socklen_t *len)
{
  return peer ? getpeername(fd, (struct sockaddr *) ss, len)
              : getsockname(fd, (struct sockaddr *) ss, len);
}

int p2v_random_bytes(void *buf, size_t len)
{
  unsigned char *p = buf;
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    if (n == -1 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t) n;
  }
  return 0;
}
