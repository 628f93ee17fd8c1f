/* The sockets under common/nbd: one small API over POSIX sockets
 * (net-posix.c) and Winsock (net-win32.c), so the protocol code is the
 * same on both.  A socket is an int on both sides: a Winsock SOCKET is a
 * kernel handle, and Windows keeps handle values within 32 bits (for
 * 32-bit processes sharing them).  Errors are -1 with errno set, Winsock's
 * WSAGetLastError mapped to the nearest errno value.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_NET_PLATFORM_H
#define P2V_NET_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#endif

/* Once per process before any other call (WSAStartup; nothing on POSIX).
 * 0, or -1 reported. */
int p2v_sock_startup(void);
/* A new socket, not inherited by child processes; nonblocking if asked. */
int p2v_sock_open(int family, int type, int protocol, bool nonblocking);
void p2v_sock_close(int fd);
/* Both directions: a thread blocked in recv on fd sees end of stream. */
void p2v_sock_shutdown(int fd);
/* setsockopt with an int value; failures are harmless and ignored. */
void p2v_sock_set_int(int fd, int level, int name, int value);
int p2v_sock_bind_listen(int fd, const struct sockaddr *addr, socklen_t len, int backlog);
/* connect: on a nonblocking socket, -1 with errno EINPROGRESS while it goes on. */
int p2v_sock_connect(int fd, const struct sockaddr *addr, socklen_t len);
/* The result of a nonblocking connect: 0, or an errno value. */
int p2v_sock_connect_result(int fd);
int p2v_sock_set_blocking(int fd);
/* Wait until fd is readable (or writable, for_write), at most timeout_ms
 * (-1: no limit): 1 ready, 0 timed out, -1 with errno. */
int p2v_sock_wait(int fd, bool for_write, int timeout_ms);
/* Sleep ms without a socket (do not spin after a failed accept). */
void p2v_sock_pause(int ms);
/* A new client, not inherited by child processes: fd, or -1 with errno. */
int p2v_sock_accept(int listen_fd);
/* One recv: bytes, 0 at end of stream, -1 with errno (EINTR retried). */
ssize_t p2v_sock_recv(int fd, void *buf, size_t len);
/* Send all len bytes without SIGPIPE; more: more data follows at once.
 * 0, or -1 with errno. */
int p2v_sock_send_all(int fd, const void *buf, size_t len, bool more);
/* TCP keepalive (probes after idle_s of silence, intvl_s apart, count of
 * them) and, where the platform has it, a limit on unacknowledged sends. */
void p2v_sock_keepalive(int fd, int idle_s, int intvl_s, int count, int stall_s);
/* getsockname (peer false) or getpeername: 0, or -1. */
int p2v_sock_name(int fd, bool peer, struct sockaddr_storage *ss, socklen_t *len);
/* len random bytes from the system: 0, or -1 with errno. */
int p2v_random_bytes(void *buf, size_t len);

#endif
