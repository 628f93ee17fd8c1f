/* net-platform.h over Winsock 2 (the Windows agent).  Winsock reports
 * errors through WSAGetLastError, not errno: every failing call here maps
 * it to errno (set_errno_from_wsa), the one error path the callers know.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "net-platform.h"      /* winsock2.h before windows.h */

#include <errno.h>
#include <limits.h>
#include <windows.h>
#include <mstcpip.h>
#include <bcrypt.h>

#include "log.h"

/* Winsock's error in errno; returns -1 for the caller to pass on. */
static int set_errno_from_wsa(void)
{
  int wsa = WSAGetLastError();
  switch (wsa) {
  case WSAEINTR: errno = EINTR; break;
  case WSAEWOULDBLOCK: case WSAEINPROGRESS: errno = EINPROGRESS; break;
  case WSAEADDRINUSE: errno = EADDRINUSE; break;
  case WSAEADDRNOTAVAIL: errno = EADDRNOTAVAIL; break;
  case WSAECONNREFUSED: errno = ECONNREFUSED; break;
  case WSAECONNRESET: errno = ECONNRESET; break;
  case WSAECONNABORTED: errno = ECONNABORTED; break;
  case WSAETIMEDOUT: errno = ETIMEDOUT; break;
  case WSAENETUNREACH: errno = ENETUNREACH; break;
  case WSAEHOSTUNREACH: errno = EHOSTUNREACH; break;
  case WSAEACCES: errno = EACCES; break;
  case WSAEMFILE: errno = EMFILE; break;
  case WSAENOBUFS: errno = ENOBUFS; break;
  case WSAENOTCONN: case WSAESHUTDOWN: errno = EPIPE; break;
  case WSAEAFNOSUPPORT: errno = EAFNOSUPPORT; break;
  default: errno = EIO; break;
  }
  return -1;
}

static INIT_ONCE startup_once = INIT_ONCE_STATIC_INIT;
static int startup_error;

static BOOL CALLBACK startup(PINIT_ONCE once, PVOID param, PVOID *context)
{
  WSADATA data;
  startup_error = WSAStartup(MAKEWORD(2, 2), &data);
  return TRUE;
}

int p2v_sock_startup(void)
{
  InitOnceExecuteOnce(&startup_once, startup, NULL, NULL);
  if (startup_error != 0) {
    p2v_error("cannot start Winsock 2.2 (WSAStartup error %d)", startup_error);
    return -1;
  }
  return 0;
}

int p2v_sock_open(int family, int type, int protocol, bool nonblocking)
{
  /* WSA_FLAG_NO_HANDLE_INHERIT: like SOCK_CLOEXEC (Windows 7 SP1 and later). */
  SOCKET s = WSASocketW(family, type, protocol, NULL, 0,
                        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET)
    return set_errno_from_wsa();
  if (nonblocking) {
    u_long on = 1;
    if (ioctlsocket(s, FIONBIO, &on) == SOCKET_ERROR) {
      set_errno_from_wsa();
      closesocket(s);
      return -1;
    }
  }
  return (int) s;
}

void p2v_sock_close(int fd) { closesocket((SOCKET) fd); }

/* shutdown alone does not wake a thread blocked in recv on Windows (it
 * does on Linux): cancel its pending I/O too, so the recv fails at once. */
void p2v_sock_shutdown(int fd)
{
  shutdown((SOCKET) fd, SD_BOTH);
  CancelIoEx((HANDLE) (SOCKET) fd, NULL);
}

void p2v_sock_set_int(int fd, int level, int name, int value)
{
  (void) setsockopt((SOCKET) fd, level, name, (const char *) &value, sizeof value);
}

int p2v_sock_bind_listen(int fd, const struct sockaddr *addr, socklen_t len, int backlog)
{
  /* Windows' SO_REUSEADDR lets another program steal the port: exclusive. */
  p2v_sock_set_int(fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, 1);
  if (bind((SOCKET) fd, addr, len) == SOCKET_ERROR ||
      listen((SOCKET) fd, backlog) == SOCKET_ERROR)
    return set_errno_from_wsa();
  return 0;
}

int p2v_sock_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
  if (connect((SOCKET) fd, addr, len) == SOCKET_ERROR)
    return set_errno_from_wsa();
  return 0;
}

int p2v_sock_connect_result(int fd)
{
  int err = 0, len = sizeof err;
  if (getsockopt((SOCKET) fd, SOL_SOCKET, SO_ERROR, (char *) &err, &len) == SOCKET_ERROR)
    return set_errno_from_wsa(), errno;
  if (err == 0)
    return 0;
  WSASetLastError(err);
  set_errno_from_wsa();
  return errno;
}

int p2v_sock_set_blocking(int fd)
{
  u_long off = 0;
  if (ioctlsocket((SOCKET) fd, FIONBIO, &off) == SOCKET_ERROR)
    return set_errno_from_wsa();
  return 0;
}

int p2v_sock_wait(int fd, bool for_write, int timeout_ms)
{
  WSAPOLLFD pfd = { .fd = (SOCKET) fd, .events = for_write ? POLLWRNORM : POLLRDNORM };
  int r = WSAPoll(&pfd, 1, timeout_ms);
  if (r == SOCKET_ERROR)
    return set_errno_from_wsa();
  return r > 0 ? 1 : 0;
}

void p2v_sock_pause(int ms) { Sleep((DWORD) ms); }

int p2v_sock_accept(int listen_fd)
{
  SOCKET s = accept((SOCKET) listen_fd, NULL, NULL);
  if (s == INVALID_SOCKET)
    return set_errno_from_wsa();
  /* Sockets are inheritable by default: not into children we might start. */
  SetHandleInformation((HANDLE) s, HANDLE_FLAG_INHERIT, 0);
  return (int) s;
}

ssize_t p2v_sock_recv(int fd, void *buf, size_t len)
{
  int n = recv((SOCKET) fd, buf, len > INT_MAX ? INT_MAX : (int) len, 0);
  if (n == SOCKET_ERROR) {
    set_errno_from_wsa();
    /* A shut down or reset connection is the end of it, as on Linux. */
    return errno == ECONNRESET || errno == ECONNABORTED || errno == EPIPE ? 0 : -1;
  }
  return n;
}

/* No SIGPIPE on Windows, and no MSG_MORE: the callers coalesce reply
 * headers and data into one send where it matters. */
int p2v_sock_send_all(int fd, const void *buf, size_t len, bool more)
{
  const char *p = buf;
  while (len > 0) {
    int chunk = len > INT_MAX ? INT_MAX : (int) len;
    int n = send((SOCKET) fd, p, chunk, 0);
    if (n == SOCKET_ERROR)
      return set_errno_from_wsa();
    p += n;
    len -= (size_t) n;
  }
  return 0;
}

void p2v_sock_keepalive(int fd, int idle_s, int intvl_s, int count, int stall_s)
{
  /* SIO_KEEPALIVE_VALS sets time and interval (Windows' probe count is
   * fixed at 10); SO_SNDTIMEO bounds a send to a peer that stopped reading. */
  struct tcp_keepalive ka = { .onoff = 1, .keepalivetime = (ULONG) idle_s * 1000,
                              .keepaliveinterval = (ULONG) intvl_s * 1000 };
  DWORD returned;
  (void) WSAIoctl((SOCKET) fd, SIO_KEEPALIVE_VALS, &ka, sizeof ka, NULL, 0, &returned,
                  NULL, NULL);
  if (stall_s > 0)
    p2v_sock_set_int(fd, SOL_SOCKET, SO_SNDTIMEO, stall_s * 1000);
}

int p2v_sock_name(int fd, bool peer, struct sockaddr_storage *ss, socklen_t *len)
{
  int r = peer ? getpeername((SOCKET) fd, (struct sockaddr *) ss, len)
               : getsockname((SOCKET) fd, (struct sockaddr *) ss, len);
  return r == SOCKET_ERROR ? set_errno_from_wsa() : 0;
}

int p2v_random_bytes(void *buf, size_t len)
{
  if (len > ULONG_MAX ||
      !BCRYPT_SUCCESS(BCryptGenRandom(NULL, buf, (ULONG) len, BCRYPT_USE_SYSTEM_PREFERRED_RNG))) {
    errno = EIO;
    return -1;
  }
  return 0;
}
