/* Listening and dialling TCP addresses written "ADDR:PORT", "[v6]:PORT",
 * ":PORT" or "PORT" (the last two mean 127.0.0.1).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "nbd-internal.h"
#include "net-platform.h"

#define LISTEN_BACKLOG 64

/* Split address into host and port.  0, or -1 if malformed. */
static int split_address(const char *address, char *host, size_t host_size,
                         char *port, size_t port_size)
{
  const char *colon;
  const char *h = address;
  size_t hlen;

  if (address[0] == '[') {
    const char *close = strchr(address, ']');
    if (!close || close[1] != ':')
      return -1;
    h = address + 1;
    hlen = (size_t) (close - h);
    colon = close + 1;
  }
  else if ((colon = strrchr(address, ':')) != NULL) {
    if (strchr(address, ':') != colon)     /* bare IPv6 needs brackets */
      return -1;
    hlen = (size_t) (colon - address);
  }
  else {                                   /* just a port */
    colon = address - 1;
    hlen = 0;
  }
  const char *p = colon + 1;
  if (*p == '\0' || strlen(p) >= port_size || hlen >= host_size)
    return -1;
  /* Numeric ports only, in range: getaddrinfo would take a service name
   * and quietly wrap 99999 round to another port.  Port 0: any free port. */
  if (strspn(p, "0123456789") != strlen(p) || strlen(p) > 5 || atoi(p) > 65535)
    return -1;
  if (hlen == 0)
    snprintf(host, host_size, "127.0.0.1");
  else {
    memcpy(host, h, hlen);
    host[hlen] = '\0';
  }
  snprintf(port, port_size, "%s", p);
  return 0;
}

static int check_address(const char *address, const char *what,
                         char *host, size_t host_size, char *port, size_t port_size)
{
  if (split_address(address, host, host_size, port, port_size) == -1) {
    p2v_error("cannot %s %s: the address must be ADDR:PORT, [IPV6]:PORT or :PORT "
              "with PORT from 0 to 65535", what, address);
    return -1;
  }
  return 0;
}

int p2v_net_check_address(const char *address, const char *what)
{
  char host[NI_MAXHOST], port[NI_MAXSERV];
  return check_address(address, what, host, sizeof host, port, sizeof port);
}

static struct addrinfo *resolve(const char *address, bool passive, const char *what)
{
  char host[NI_MAXHOST], port[NI_MAXSERV];
  if (check_address(address, what, host, sizeof host, port, sizeof port) == -1)
    return NULL;
  struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  struct addrinfo *res;
  int err = getaddrinfo(host, port, &hints, &res);
  if (err != 0) {
    p2v_error("cannot %s %s: %s", what, address, gai_strerror(err));
    return NULL;
  }
  return res;
}

/* A socket on the first of the resolved addresses for which it works:
 * bound and listening, or connected.  -1 with errno from the last try. */
static int open_first(struct addrinfo *res, bool listening)
{
  int err = EADDRNOTAVAIL;
  for (struct addrinfo *a = res; a; a = a->ai_next) {
    int fd = p2v_sock_open(a->ai_family, a->ai_socktype, a->ai_protocol, false);
    if (fd == -1) {
      err = errno;
      continue;
    }
#ifndef _WIN32
    /* POSIX: rebind at once after a restart.  (Windows' SO_REUSEADDR
     * would let another program take the port; net-win32.c binds
     * exclusively instead.) */
    if (listening)
      p2v_sock_set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
#endif
    if (listening ? p2v_sock_bind_listen(fd, a->ai_addr, (socklen_t) a->ai_addrlen,
                                         LISTEN_BACKLOG) == 0
                  : p2v_sock_connect(fd, a->ai_addr, (socklen_t) a->ai_addrlen) == 0)
      return fd;
    err = errno;
    p2v_sock_close(fd);
  }
  errno = err;
  return -1;
}

int p2v_net_listen(const char *address)
{
  struct addrinfo *res = resolve(address, true, "listen on");
  if (!res)
    return -1;
  int fd = open_first(res, true);
  int err = errno;
  freeaddrinfo(res);
  errno = err;
  if (fd == -1)
    p2v_error("cannot listen on %s: %m", address);
  return fd;
}

int p2v_net_connect(const char *address)
{
  struct addrinfo *res = resolve(address, false, "connect to");
  if (!res)
    return -1;
  int fd = open_first(res, false);
  int err = errno;
  freeaddrinfo(res);
  errno = err;
  if (fd == -1) {
    p2v_error("cannot connect to %s: %m", address);
    return -1;
  }
  p2v_sock_set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  return fd;
}

/* ---- dialling quietly, for the dialer's retries ---- */

#define DIAL_POLL_MS 200

/* Non-blocking connect to one address, waiting at most timeout_ms and
 * giving up early on *stop.  fd (blocking again), or -1 with errno. */
static int dial_one(const struct addrinfo *a, int timeout_ms, volatile sig_atomic_t *stop,
                    const atomic_bool *also_stop)
{
  int fd = p2v_sock_open(a->ai_family, a->ai_socktype, a->ai_protocol, true);
  if (fd == -1)
    return -1;
  int err = 0;
  if (p2v_sock_connect(fd, a->ai_addr, (socklen_t) a->ai_addrlen) == -1) {
    err = errno;
    while (err == EINPROGRESS || err == EINTR) {
      bool stopping = *stop || (also_stop && atomic_load(also_stop));
      if (stopping || timeout_ms <= 0) {
        err = stopping ? EINTR : ETIMEDOUT;
        break;
      }
      int wait = timeout_ms < DIAL_POLL_MS ? timeout_ms : DIAL_POLL_MS;
      int r = p2v_sock_wait(fd, true, wait);
      timeout_ms -= wait;
      if (r == -1) {
        err = errno;
        break;
      }
      if (r > 0) {
        err = p2v_sock_connect_result(fd);
        break;
      }
    }
  }
  if (err == 0 && p2v_sock_set_blocking(fd) == -1)
    err = errno;
  if (err != 0) {
    p2v_sock_close(fd);
    errno = err;
    return -1;
  }
  p2v_sock_set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  return fd;
}

int nbd_net_dial(const char *address, int timeout_ms, volatile sig_atomic_t *stop,
                 const atomic_bool *also_stop, char *why, size_t why_size)
{
  char host[NI_MAXHOST], port[NI_MAXSERV];
  if (split_address(address, host, sizeof host, port, sizeof port) == -1) {
    snprintf(why, why_size, "malformed address");
    return -1;
  }
  struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
  struct addrinfo *res;
  int gerr = getaddrinfo(host, port, &hints, &res);
  if (gerr != 0) {                         /* DNS may come back: a retry reason */
    snprintf(why, why_size, "%s", gai_strerror(gerr));
    return -1;
  }
  int fd = -1, err = EADDRNOTAVAIL;
  for (struct addrinfo *a = res; a && fd == -1 && !*stop; a = a->ai_next) {
    fd = dial_one(a, timeout_ms, stop, also_stop);
    if (fd == -1)
      err = errno;
  }
  freeaddrinfo(res);
  if (fd == -1)
    snprintf(why, why_size, "%s", strerror(err));
  return fd;
}

static bool addr_is_loopback(const struct sockaddr *sa, socklen_t len)
{
  /* Copied out: sockaddr itself is less aligned than its variants. */
  if (sa->sa_family == AF_INET && (size_t) len >= sizeof (struct sockaddr_in)) {
    struct sockaddr_in in;
    memcpy(&in, sa, sizeof in);
    return (ntohl(in.sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6 && (size_t) len >= sizeof (struct sockaddr_in6)) {
    struct sockaddr_in6 in6;
    memcpy(&in6, sa, sizeof in6);
    if (IN6_IS_ADDR_LOOPBACK(&in6.sin6_addr))
      return true;
    return IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr) && in6.sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

bool p2v_net_is_loopback(const char *address)
{
  char host[NI_MAXHOST], port[NI_MAXSERV];
  if (split_address(address, host, sizeof host, port, sizeof port) == -1)
    return false;
  /* Numeric only: a name could resolve differently later. "localhost" is
   * the one name we accept as loopback. */
  if (strcmp(host, "localhost") == 0)
    return true;
  struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                            .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
  struct addrinfo *res;
  if (getaddrinfo(host, port, &hints, &res) != 0)
    return false;
  bool all = true;
  for (struct addrinfo *a = res; a; a = a->ai_next)
    all = all && addr_is_loopback(a->ai_addr, (socklen_t) a->ai_addrlen);
  freeaddrinfo(res);
  return all;
}

int p2v_net_require_tls(const char *address, enum p2v_net_guard guard, const char *insecure,
                        const char *what, const char *fix)
{
  if (guard == P2V_NET_TLS_VERIFIED || p2v_net_is_loopback(address))
    return 0;
  const char *how = guard == P2V_NET_CLEAR ? "in clear text" : "without verifying the client";
  if (!insecure) {
    p2v_error("refusing to %s %s %s: %s", what, address, how, fix);
    return -1;
  }
  if (guard == P2V_NET_CLEAR)
    p2v_warning("disks cross %s in clear text (%s)", address, insecure);
  else
    p2v_warning("disks cross %s to any TLS client, none verified (%s)", address, insecure);
  return 0;
}

/* "ADDR:PORT" ("[v6]:PORT") of one end of a TCP socket, from
 * getsockname or getpeername; -1 if unknown or not TCP/IP. */
static int socket_address(int fd, bool peer, char *buf, size_t size)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char host[NI_MAXHOST], port[NI_MAXSERV];
  if (p2v_sock_name(fd, peer, &ss, &len) == -1 || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
      getnameinfo((struct sockaddr *) &ss, len, host, sizeof host, port, sizeof port,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return -1;
  snprintf(buf, size, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
  return 0;
}

int p2v_net_local_address(int fd, char *buf, size_t size)
{
  return socket_address(fd, false, buf, size);
}

int p2v_net_peer_address(int fd, char *buf, size_t size)
{
  return socket_address(fd, true, buf, size);
}
