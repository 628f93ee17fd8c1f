/* Serving clients: one connection (nbd_client lifetime, buffered input,
 * the handshake deadline) and the accept loop with one thread per client.
 *
 * A listener keeps clients in two kinds of slot (docs/p2v-agent.md,
 * "Limits"): MAX_HANDSHAKES for the handshake, which has a deadline; while
 * they are all taken, new clients wait in the kernel's accept queue, in
 * order, so clients that trickle or stall delay the others by one
 * deadline per MAX_HANDSHAKES of them but cannot keep them out.  And
 * max_clients for sessions, taken at NBD_OPT_GO: when every one is taken,
 * the session idle the longest is dropped if it has been idle for the idle
 * timeout, else the new client is told why in its GO reply.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "clock.h"
#include "log.h"
#include "nbd-internal.h"
#include "net-platform.h"

#define DEFAULT_MAX_CLIENTS 16
/* Concurrent handshakes: a converter opens its connections one after
 * another, so a few would do; more let that many stalling clients come
 * and go without delaying anyone (each costs a thread and its buffer). */
#define MAX_HANDSHAKES      16
#define ACCEPT_POLL_MS      200
/* At most one log line of each kind (refused, dropped, waiting, stalled)
 * this often, so a flood of clients cannot flood the log. */
#define LOG_INTERVAL_MS     10000

/* ---- Input and output for one client ---- */

static int64_t ms_until(int64_t deadline_ms)
{
  return deadline_ms - p2v_now_ms();
}

/* The handshake ends handshake_ms from now, whatever arrives meanwhile. */
static void start_deadline(struct nbd_client *c)
{
  c->deadline_ms = p2v_now_ms() + (int64_t) c->handshake_ms;
}

int nbd_handshake_ms_left(const struct nbd_client *c)
{
  int64_t left = ms_until(c->deadline_ms);
  return left < 1 ? 1 : left > INT_MAX ? INT_MAX : (int) left;
}

/* How long the next wait for input may last; -1: no limit. */
static int wait_limit_ms(const struct nbd_client *c)
{
  if (!c->handshaking)
    return -1;
  int64_t left = ms_until(c->deadline_ms);
  return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int) left;
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
  start_deadline(c);
  return 0;
}

static void report_stalled(struct nbd_client *c);

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
    report_stalled(c);
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
  if (!c->handshaking)
    nbd_note_activity(c);                 /* a long reply is no idleness */
  return 0;
}

/* ---- One connection ---- */

int p2v_nbd_session_init(struct p2v_nbd_server *server)
{
  unsigned char bits[P2V_SESSION_HEX / 2];
  if (p2v_random_bytes(bits, sizeof bits) == -1) {
    p2v_error("cannot make a session token: no random bytes from the system: %m");
    return -1;
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
  if (p2v_net_peer_address(fd, out, size) == -1)
    snprintf(out, size, "client on fd %d", fd);
}

/* One client from connect to hang-up; slot: its place at a listener, or
 * NULL (dialled, or p2v_nbd_serve_connection). */
static bool serve_client(const struct p2v_nbd_server *server, struct p2v_conn **connp,
                         const char *peer, const atomic_bool *idle_stop,
                         struct nbd_slot *slot)
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
  c->slot = slot;
  c->meta_id = SIZE_MAX;
  c->handshake_ms = idle_stop ? NBD_DIALLED_HANDSHAKE_MS
                  : server->handshake_timeout_ms ? (int) server->handshake_timeout_ms
                  : NBD_HANDSHAKE_TIMEOUT_MS;
  start_deadline(c);

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

bool nbd_serve_conn(const struct p2v_nbd_server *server, struct p2v_conn **connp,
                    const char *peer, const atomic_bool *idle_stop)
{
  return serve_client(server, connp, peer, idle_stop, NULL);
}

void p2v_nbd_serve_connection(const struct p2v_nbd_server *server, int fd)
{
  char peer[NI_MAXHOST + NI_MAXSERV + 8];
  nbd_describe_peer(fd, peer, sizeof peer);
  if (nbd_check_server(server) == -1) {
    p2v_sock_close(fd);
    return;
  }
  struct p2v_conn *conn = p2v_conn_socket_new(fd);
  if (!conn)
    return;
  nbd_serve_conn(server, &conn, peer, NULL);
  p2v_conn_close(conn);
}

/* ---- The accept loop ---- */

enum slot_state {
  SLOT_FREE,
  SLOT_HANDSHAKE,
  SLOT_SESSION,
  SLOT_DROPPED,                         /* shut down; its thread is leaving */
};

struct listener;

/* One client thread's place; owned by that thread until it sets it free. */
struct nbd_slot {
  struct listener *l;
  enum slot_state state;                /* l->lock */
  int fd;                               /* -1 when free */
  int64_t since_ms;                     /* accepted (monotonic) */
  _Atomic int64_t active_ms;            /* a session's last request */
  char peer[64];                        /* for the log */
};

/* A log line at most every LOG_INTERVAL_MS, saying how many were skipped. */
struct log_limit {
  bool logged;
  int64_t last_ms;
  unsigned skipped;
};

/* Shared by the listener and its client threads; lives on the listener's
 * stack, which outlives every client (the listener waits for them). */
struct listener {
  const struct p2v_nbd_server *server;
  pthread_mutex_t lock;
  pthread_cond_t gone;                  /* a client left or ended its handshake */
  unsigned active;                      /* client threads running */
  struct nbd_slot *slots;
  unsigned nslots;                      /* with room for dropped ones still leaving */
  unsigned handshakes, max_handshakes;
  unsigned sessions, max_sessions;
  int64_t idle_ms;
  struct log_limit refused_log, dropped_log, waiting_log, stalled_log;
};

struct client_arg {
  struct listener *l;
  int fd;
  struct nbd_slot *slot;
};

/* True if a line may be logged now; *skipped: lines held back before it. */
static bool log_allowed(struct log_limit *limit, unsigned *skipped)
{
  int64_t now = p2v_now_ms();
  if (limit->logged && now - limit->last_ms < LOG_INTERVAL_MS) {
    limit->skipped++;
    return false;
  }
  *skipped = limit->skipped;
  limit->skipped = 0;
  limit->logged = true;
  limit->last_ms = now;
  return true;
}

/* ", and 3 more in the last 10 s" when lines were held back. */
static void held_back(char *out, size_t size, unsigned skipped)
{
  if (skipped)
    snprintf(out, size, " (and %u more since the last such line)", skipped);
  else
    out[0] = '\0';
}

/* Shut a client down to make room (l->lock held); its thread sees end of
 * stream and leaves. */
static void drop_locked(struct listener *l, struct nbd_slot *s, const char *why,
                        const char *for_whom)
{
  if (s->state == SLOT_HANDSHAKE)
    l->handshakes--;
  else if (s->state == SLOT_SESSION)
    l->sessions--;
  s->state = SLOT_DROPPED;
  p2v_sock_shutdown(s->fd);
  unsigned skipped;
  if (log_allowed(&l->dropped_log, &skipped)) {
    char more[80];
    held_back(more, sizeof more, skipped);
    p2v_warning("%s: dropped (%s) to make room for %s%s", s->peer, why, for_whom, more);
  }
}

int nbd_claim_session(struct nbd_client *c, char *why, size_t why_size)
{
  struct nbd_slot *s = c->slot;
  if (!s)
    return 0;
  struct listener *l = s->l;
  pthread_mutex_lock(&l->lock);
  if (s->state != SLOT_HANDSHAKE) {       /* dropped meanwhile */
    pthread_mutex_unlock(&l->lock);
    snprintf(why, why_size, "%s: connection dropped to make room; try again",
             p2v_program_name());
    return -1;
  }
  if (l->sessions >= l->max_sessions) {
    int64_t now = p2v_now_ms();
    struct nbd_slot *idlest = NULL;
    for (unsigned i = 0; i < l->nslots; i++) {
      struct nbd_slot *t = &l->slots[i];
      if (t->state == SLOT_SESSION && now - atomic_load(&t->active_ms) >= l->idle_ms &&
          (!idlest || atomic_load(&t->active_ms) < atomic_load(&idlest->active_ms)))
        idlest = t;
    }
    if (idlest) {
      char idle[48];
      snprintf(idle, sizeof idle, "idle for %lld s",
               (long long) (now - atomic_load(&idlest->active_ms)) / 1000);
      drop_locked(l, idlest, idle, c->peer);
    }
  }
  if (l->sessions < l->max_sessions) {
    l->handshakes--;
    l->sessions++;
    s->state = SLOT_SESSION;
    atomic_store(&s->active_ms, p2v_now_ms());
    pthread_cond_broadcast(&l->gone);     /* a handshake slot is free */
    pthread_mutex_unlock(&l->lock);
    return 0;
  }
  snprintf(why, why_size, "%s: too many clients (%u in use); try again later",
           p2v_program_name(), l->max_sessions);
  unsigned skipped;
  if (log_allowed(&l->refused_log, &skipped)) {
    char more[80];
    held_back(more, sizeof more, skipped);
    p2v_warning("too many clients (%u in use); refused %s%s", l->max_sessions, c->peer, more);
  }
  pthread_mutex_unlock(&l->lock);
  return -1;
}

/* A client past its handshake deadline; rate-limited at a listener, where
 * clients can come and stall again and again. */
static void report_stalled(struct nbd_client *c)
{
  int seconds = (c->handshake_ms + 999) / 1000;
  if (!c->slot) {
    p2v_warning("%s: client did not finish the handshake within %d s; disconnecting",
                c->peer, seconds);
    return;
  }
  struct listener *l = c->slot->l;
  pthread_mutex_lock(&l->lock);
  unsigned skipped;
  if (log_allowed(&l->stalled_log, &skipped)) {
    char more[80];
    held_back(more, sizeof more, skipped);
    p2v_warning("%s: client did not finish the handshake within %d s; disconnecting%s",
                c->peer, seconds, more);
  }
  pthread_mutex_unlock(&l->lock);
}

void nbd_note_activity(struct nbd_client *c)
{
  if (c->slot)
    atomic_store(&c->slot->active_ms, p2v_now_ms());
}

static void *client_thread(void *arg)
{
  struct client_arg a = *(struct client_arg *) arg;
  free(arg);

  char peer[NI_MAXHOST + NI_MAXSERV + 8];
  nbd_describe_peer(a.fd, peer, sizeof peer);
  struct p2v_conn *conn = p2v_conn_socket_new(a.fd);
  if (conn)
    serve_client(a.l->server, &conn, peer, NULL, a.slot);

  /* Leave the registry before the fd is closed, so the listener never
   * shuts down a number that has been reused. */
  pthread_mutex_lock(&a.l->lock);
  if (a.slot->state == SLOT_HANDSHAKE)
    a.l->handshakes--;
  else if (a.slot->state == SLOT_SESSION)
    a.l->sessions--;
  a.slot->state = SLOT_FREE;
  a.slot->fd = -1;
  pthread_mutex_unlock(&a.l->lock);
  p2v_conn_close(conn);

  pthread_mutex_lock(&a.l->lock);
  a.l->active--;
  pthread_cond_broadcast(&a.l->gone);
  pthread_mutex_unlock(&a.l->lock);
  return NULL;
}

/* A free slot (l->lock held), if a new client may start its handshake. */
static struct nbd_slot *free_slot(struct listener *l)
{
  if (l->handshakes >= l->max_handshakes)
    return NULL;
  for (unsigned i = 0; i < l->nslots; i++)
    if (l->slots[i].state == SLOT_FREE)
      return &l->slots[i];
  return NULL;                          /* dropped sessions still leaving */
}

/* Until a new client may start its handshake, or stop: the clients that
 * came meanwhile wait in the accept queue. */
static void wait_for_room(struct listener *l, volatile sig_atomic_t *stop)
{
  pthread_mutex_lock(&l->lock);
  while (!*stop && !free_slot(l)) {
    unsigned skipped;
    if (l->handshakes >= l->max_handshakes && log_allowed(&l->waiting_log, &skipped))
      p2v_warning("%u clients in the handshake at once; new clients wait until one "
                  "is done or its deadline passes", l->handshakes);
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += ACCEPT_POLL_MS * 1000000L;
    if (t.tv_nsec >= 1000000000) {
      t.tv_sec++;
      t.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&l->gone, &l->lock, &t);
  }
  pthread_mutex_unlock(&l->lock);
}

/* Start a detached thread for fd in a handshake slot. */
static void start_client(struct listener *l, int fd)
{
  pthread_mutex_lock(&l->lock);
  struct nbd_slot *slot = free_slot(l);   /* wait_for_room found one */
  if (!slot) {
    pthread_mutex_unlock(&l->lock);
    p2v_sock_close(fd);
    return;
  }
  struct client_arg *a = malloc(sizeof *a);
  pthread_attr_t attr;
  pthread_t thread;
  int err = ENOMEM;
  if (a) {
    *a = (struct client_arg) { l, fd, slot };
    slot->l = l;
    slot->fd = fd;
    slot->state = SLOT_HANDSHAKE;
    slot->since_ms = p2v_now_ms();
    atomic_store(&slot->active_ms, slot->since_ms);
    nbd_describe_peer(fd, slot->peer, sizeof slot->peer);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    err = pthread_create(&thread, &attr, client_thread, a);
    pthread_attr_destroy(&attr);
  }
  if (err == 0) {
    l->handshakes++;
    l->active++;
  }
  else {
    slot->state = SLOT_FREE;
    slot->fd = -1;
  }
  pthread_mutex_unlock(&l->lock);
  if (err != 0) {
    errno = err;
    p2v_warning("cannot start a thread for a new client: %m");
    free(a);
    p2v_sock_close(fd);
  }
}

/* On stop: shut every client socket down (their threads then see end of
 * stream and finish), and wait until all are gone, so that nothing uses
 * the disks once we return. */
static void stop_clients(struct listener *l)
{
  pthread_mutex_lock(&l->lock);
  for (unsigned i = 0; i < l->nslots; i++)
    if (l->slots[i].fd != -1)
      p2v_sock_shutdown(l->slots[i].fd);
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
  l.max_sessions = server->max_clients ? server->max_clients : DEFAULT_MAX_CLIENTS;
  l.max_handshakes = MAX_HANDSHAKES;
  l.idle_ms = server->idle_timeout_ms ? server->idle_timeout_ms : NBD_IDLE_TIMEOUT_MS;
  /* Dropped sessions keep their slot until their thread has left (at
   * once, as their socket is shut down): room for as many again. */
  l.nslots = 2 * l.max_sessions + l.max_handshakes;
  l.slots = calloc(l.nslots, sizeof *l.slots);
  if (!l.slots) {
    p2v_error("cannot allocate the client table: %m");
    return -1;
  }
  for (unsigned i = 0; i < l.nslots; i++)
    l.slots[i].fd = -1;
  pthread_mutex_init(&l.lock, NULL);
  pthread_cond_init(&l.gone, NULL);

  int ret = 0;
  while (!*stop) {
    wait_for_room(&l, stop);
    if (*stop)
      break;
    int r = p2v_sock_wait(listen_fd, false, ACCEPT_POLL_MS);
    if (r == -1 && errno != EINTR) {
      p2v_error("cannot wait for clients: %m");
      ret = -1;
      break;
    }
    if (r <= 0 || *stop)
      continue;
    int fd = p2v_sock_accept(listen_fd);
    if (fd == -1) {
      /* Transient (client gave up, out of fds): say so and go on. */
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
        p2v_warning("cannot accept a client: %m");
      if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS)
        p2v_sock_pause(ACCEPT_POLL_MS);     /* do not spin */
      continue;
    }
    start_client(&l, fd);
  }

  stop_clients(&l);
  pthread_cond_destroy(&l.gone);
  pthread_mutex_destroy(&l.lock);
  free(l.slots);
  return ret;
}
