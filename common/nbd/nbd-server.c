/* Serving clients: one connection (nbd_client lifetime, buffered input,
 * handshake timeouts) and the accept loop with one thread per client.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "nbd-internal.h"

#define DEFAULT_MAX_CLIENTS 16
#define ACCEPT_POLL_MS      200

/* ---- Input and output for one client ---- */

static int64_t ms_until(const struct timespec *t)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t) (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

/* How long the next wait for input may last; -1: no limit. */
static int wait_limit_ms(const struct nbd_client *c)
{
  if (!c->handshaking)
    return -1;
  int64_t left = ms_until(&c->deadline);
  if (left <= 0)
    return 0;
  return left < NBD_HANDSHAKE_SILENCE_MS ? (int) left : NBD_HANDSHAKE_SILENCE_MS;
}

/* A dialled session before the converter's first byte: wait as long as it
 * takes (it may sit in the converter's accept queue), checking for a stop.
 * 0 when input is ready (the handshake limits start now), -1 to hang up. */
static int wait_first_byte(struct nbd_client *c)
{
  for (;;) {
    if (atomic_load(c->idle_stop)) {
      p2v_debug("%s: closing a dialled connection the converter never used", c->peer);
      return -1;
    }
    int r = c->conn->ops->wait(c->conn, NBD_DIALLED_IDLE_POLL_MS);
    if (r == -1) {
      p2v_debug("%s: wait failed: %m", c->peer);
      return -1;
    }
    if (r == 1)
      break;
  }
  c->idle_stop = NULL;
  clock_gettime(CLOCK_MONOTONIC, &c->deadline);
  c->deadline.tv_sec += NBD_HANDSHAKE_TOTAL_MS / 1000;
  return 0;
}

static int recv_some(struct nbd_client *c, void *buf, size_t len)
{
  if (c->idle_stop && wait_first_byte(c) == -1)
    return -1;
  ssize_t n = p2v_conn_recv(c->conn, buf, len, wait_limit_ms(c));
  if (n > 0) {
    c->spoke = true;
    return (int) n;
  }
  if (n == 0)
    p2v_debug("%s: connection closed by client", c->peer);
  else if (errno == ETIMEDOUT)
    p2v_warning("%s: client stalled during the handshake; disconnecting", c->peer);
  else
    p2v_debug("%s: receive failed: %m", c->peer);
  return -1;
}

int nbd_recv_exact(struct nbd_client *c, void *buf, size_t len)
{
  unsigned char *p = buf;
  while (len > 0) {
    if (c->in_pos < c->in_len) {
      size_t n = c->in_len - c->in_pos;
      if (n > len)
        n = len;
      memcpy(p, c->in + c->in_pos, n);
      c->in_pos += n;
      p += n;
      len -= n;
      continue;
    }
    if (len >= sizeof c->in) {             /* big reads skip the buffer */
      int n = recv_some(c, p, len);
      if (n == -1)
        return -1;
      p += n;
      len -= (size_t) n;
      continue;
    }
    int n = recv_some(c, c->in, sizeof c->in);
    if (n == -1)
      return -1;
    c->in_pos = 0;
    c->in_len = (size_t) n;
  }
  return 0;
}

int nbd_recv_discard(struct nbd_client *c, uint64_t len)
{
  while (len > 0) {
    size_t n = len < NBD_BUF_DATA ? (size_t) len : NBD_BUF_DATA;
    if (nbd_recv_exact(c, c->buf + NBD_BUF_HEADROOM, n) == -1)
      return -1;
    len -= n;
  }
  return 0;
}

int nbd_send(struct nbd_client *c, const void *buf, size_t len, bool more)
{
  if (p2v_conn_send(c->conn, buf, len, more) == -1) {
    p2v_debug("%s: send failed: %m", c->peer);
    return -1;
  }
  return 0;
}

/* ---- One connection ---- */

int p2v_nbd_session_init(struct p2v_nbd_server *server)
{
  unsigned char bits[P2V_SESSION_HEX / 2];
  size_t got = 0;
  while (got < sizeof bits) {
    ssize_t n = getrandom(bits + got, sizeof bits - got, 0);
    if (n == -1 && errno == EINTR)
      continue;
    if (n <= 0) {
      p2v_error("cannot make a session token: getrandom: %m");
      return -1;
    }
    got += (size_t) n;
  }
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < sizeof bits; i++) {
    server->session[2 * i] = hex[bits[i] >> 4];
    server->session[2 * i + 1] = hex[bits[i] & 15];
  }
  server->session[P2V_SESSION_HEX] = '\0';
  return 0;
}

int nbd_check_server(const struct p2v_nbd_server *server)
{
  size_t plen = strlen(P2V_EXPORT_PREFIX);
  for (size_t i = 0; i < server->ndisks; i++) {
    const struct p2v_disk *disk = server->disks[i];
    if (disk->export_name && !strncmp(disk->export_name, P2V_EXPORT_PREFIX, plen)) {
      p2v_error("cannot serve %s as export '%s': names starting with '%s' are reserved "
                "for the survey and the end of a dial-in; give the file another name",
                disk->path, disk->export_name, P2V_EXPORT_PREFIX);
      return -1;
    }
  }
  return 0;
}

void nbd_describe_peer(int fd, char *out, size_t size)
{
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char host[NI_MAXHOST], port[NI_MAXSERV];
  if (getpeername(fd, (struct sockaddr *) &ss, &sl) == 0 &&
      (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) &&
      getnameinfo((struct sockaddr *) &ss, sl, host, sizeof host, port, sizeof port,
                  NI_NUMERICHOST | NI_NUMERICSERV) == 0)
    snprintf(out, size, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
  else
    snprintf(out, size, "client on fd %d", fd);
}

bool nbd_serve_conn(const struct p2v_nbd_server *server, struct p2v_conn **connp,
                    const char *peer, const atomic_bool *idle_stop)
{
  struct nbd_client *c = calloc(1, sizeof *c);
  CLEANUP_FREE unsigned char *buf = malloc(NBD_BUF_HEADROOM + NBD_BUF_DATA);
  if (!c || !buf) {
    p2v_warning("%s: out of memory; disconnecting", peer);
    free(c);
    return false;
  }
  struct p2v_nbd_counters *counters = server->counters;
  if (counters)
    atomic_fetch_add(&counters->clients, 1);
  c->server = server;
  c->conn = *connp;
  c->peer = peer;
  c->buf = buf;
  c->handshaking = true;
  c->idle_stop = idle_stop;
  c->meta_id = SIZE_MAX;
  clock_gettime(CLOCK_MONOTONIC, &c->deadline);
  c->deadline.tv_sec += NBD_HANDSHAKE_TOTAL_MS / 1000;

  p2v_debug("%s: connected", peer);
  if (nbd_handshake(c) == 0) {
    p2v_debug("%s: serving export '%s'", peer, c->export.name);
    if (c->export.kind == NBD_EXPORT_DONE && counters)
      atomic_store(&counters->converter_done, true);
    nbd_transmission(c);
  }
  *connp = c->conn;                       /* TLS may have been layered on it */
  bool spoke = c->spoke && !c->refused_busy;
  free(c);
  if (counters)
    atomic_fetch_sub(&counters->clients, 1);
  return spoke;
}

void p2v_nbd_serve_connection(const struct p2v_nbd_server *server, int fd)
{
  char peer[NI_MAXHOST + NI_MAXSERV + 8];
  nbd_describe_peer(fd, peer, sizeof peer);
  if (nbd_check_server(server) == -1) {
    close(fd);
    return;
  }
  struct p2v_conn *conn = p2v_conn_socket_new(fd);
  if (!conn)
    return;
  nbd_serve_conn(server, &conn, peer, NULL);
  p2v_conn_close(conn);
}

/* ---- The accept loop ---- */

/* Shared by the listener and its client threads; lives on the listener's
 * stack, which outlives every client (the listener waits for them). */
struct listener {
  const struct p2v_nbd_server *server;
  pthread_mutex_t lock;
  pthread_cond_t gone;                  /* signalled when a client leaves */
  unsigned active;
  int *fds;                             /* sockets of active clients, -1 free */
  unsigned max;
};

struct client_arg {
  struct listener *l;
  int fd;
  unsigned slot;
};

static void *client_thread(void *arg)
{
  struct client_arg a = *(struct client_arg *) arg;
  free(arg);

  char peer[NI_MAXHOST + NI_MAXSERV + 8];
  nbd_describe_peer(a.fd, peer, sizeof peer);
  struct p2v_conn *conn = p2v_conn_socket_new(a.fd);
  if (conn)
    nbd_serve_conn(a.l->server, &conn, peer, NULL);

  /* Leave the registry before the fd is closed, so the listener never
   * shuts down a number that has been reused. */
  pthread_mutex_lock(&a.l->lock);
  a.l->fds[a.slot] = -1;
  pthread_mutex_unlock(&a.l->lock);
  p2v_conn_close(conn);

  pthread_mutex_lock(&a.l->lock);
  a.l->active--;
  pthread_cond_broadcast(&a.l->gone);
  pthread_mutex_unlock(&a.l->lock);
  return NULL;
}

/* Start a detached thread for fd, or refuse it if all slots are busy. */
static void start_client(struct listener *l, int fd)
{
  pthread_mutex_lock(&l->lock);
  unsigned slot = 0;
  while (slot < l->max && l->fds[slot] != -1)
    slot++;
  if (slot == l->max) {
    pthread_mutex_unlock(&l->lock);
    p2v_warning("too many clients (%u); refusing a new connection", l->max);
    close(fd);
    return;
  }
  struct client_arg *a = malloc(sizeof *a);
  pthread_attr_t attr;
  pthread_t thread;
  int err = ENOMEM;
  if (a) {
    *a = (struct client_arg) { l, fd, slot };
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    err = pthread_create(&thread, &attr, client_thread, a);
    pthread_attr_destroy(&attr);
  }
  if (err == 0) {
    l->fds[slot] = fd;
    l->active++;
  }
  pthread_mutex_unlock(&l->lock);
  if (err != 0) {
    errno = err;
    p2v_warning("cannot start a thread for a new client: %m");
    free(a);
    close(fd);
  }
}

/* On stop: shut every client socket down (their threads then see end of
 * stream and finish), and wait until all are gone, so that nothing uses
 * the disks once we return. */
static void stop_clients(struct listener *l)
{
  pthread_mutex_lock(&l->lock);
  for (unsigned i = 0; i < l->max; i++)
    if (l->fds[i] != -1)
      shutdown(l->fds[i], SHUT_RDWR);
  while (l->active > 0) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += 10;
    if (pthread_cond_timedwait(&l->gone, &l->lock, &t) == ETIMEDOUT)
      p2v_warning("waiting for %u clients to finish", l->active);
  }
  pthread_mutex_unlock(&l->lock);
}

int p2v_nbd_serve_listener(const struct p2v_nbd_server *server, int listen_fd,
                           volatile sig_atomic_t *stop)
{
  if (nbd_check_server(server) == -1)
    return -1;
  struct listener l = { .server = server };
  l.max = server->max_clients ? server->max_clients : DEFAULT_MAX_CLIENTS;
  l.fds = malloc(l.max * sizeof *l.fds);
  if (!l.fds) {
    p2v_error("cannot allocate the client table: %m");
    return -1;
  }
  for (unsigned i = 0; i < l.max; i++)
    l.fds[i] = -1;
  pthread_mutex_init(&l.lock, NULL);
  pthread_cond_init(&l.gone, NULL);

  int ret = 0;
  while (!*stop) {
    struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
    int r = poll(&pfd, 1, ACCEPT_POLL_MS);
    if (r == -1 && errno != EINTR) {
      p2v_error("cannot wait for clients: %m");
      ret = -1;
      break;
    }
    if (r <= 0 || *stop)
      continue;
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd == -1) {
      /* Transient (client gave up, out of fds): say so and go on. */
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
        p2v_warning("cannot accept a client: %m");
      if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS)
        poll(NULL, 0, ACCEPT_POLL_MS);      /* do not spin */
      continue;
    }
    start_client(&l, fd);
  }

  stop_clients(&l);
  pthread_cond_destroy(&l.gone);
  pthread_mutex_destroy(&l.lock);
  free(l.fds);
  return ret;
}
