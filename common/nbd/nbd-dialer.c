/* Dial-in (docs/dial-in.md): this side dials the converter and is the NBD
 * server on every connection it opens.  Keeps a few sessions open at once
 * (one per connection the converter may read with), dials again when one
 * ends, backs off while the converter cannot be reached, and stops when the
 * converter opens P2V_EXPORT_DONE.
 *
 * A dialled session sits in the converter's accept queue until the
 * converter wants another connection, which may be hours later (a long
 * copy of another disk).  So until the converter's first byte such a
 * session has no handshake time limit; it only ends when the converter
 * closes it, TCP keepalive finds the converter gone, or we stop.  From the
 * first byte on, the usual handshake limits apply.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "nbd-internal.h"
#include "net-platform.h"

#define MAX_CONNECTIONS   64
#define BACKOFF_MIN_MS    1000
#define BACKOFF_MAX_MS    10000
#define DIAL_TIMEOUT_MS   10000
#define LOOP_WAIT_MS      200
/* A converter that vanished without closing (power loss, a cut network)
 * is noticed by keepalive after about idle + interval * count seconds. */
#define KEEPALIVE_IDLE_S  30
#define KEEPALIVE_INTVL_S 10
#define KEEPALIVE_COUNT   6

struct dialer {
  struct p2v_nbd_server server;   /* the caller's, with counters always set */
  pthread_mutex_t lock;
  pthread_cond_t changed;         /* a session ended */
  unsigned active;
  unsigned ended_silent;          /* sessions that ended before the converter spoke */
  unsigned ended_used;            /* sessions the converter used */
  int *fds;                       /* sockets of active sessions, -1 free */
  unsigned max;
  atomic_bool idle_stop;          /* end sessions the converter never used */
};

struct session_arg {
  struct dialer *d;
  int fd;
  unsigned slot;
};

static void *session_thread(void *arg)
{
  struct session_arg a = *(struct session_arg *) arg;
  free(arg);

  char peer[NI_MAXHOST + NI_MAXSERV + 8];
  nbd_describe_peer(a.fd, peer, sizeof peer);
  bool spoke = false;
  struct p2v_conn *conn = p2v_conn_socket_new(a.fd);
  if (conn)
    spoke = nbd_serve_conn(&a.d->server, &conn, peer, &a.d->idle_stop);

  /* Leave the registry before the fd is closed (see the listener). */
  pthread_mutex_lock(&a.d->lock);
  a.d->fds[a.slot] = -1;
  pthread_mutex_unlock(&a.d->lock);
  p2v_conn_close(conn);

  pthread_mutex_lock(&a.d->lock);
  a.d->active--;
  if (spoke)
    a.d->ended_used++;
  else
    a.d->ended_silent++;
  pthread_cond_broadcast(&a.d->changed);
  pthread_mutex_unlock(&a.d->lock);
  return NULL;
}

static void set_keepalive(int fd)
{
  p2v_sock_keepalive(fd, KEEPALIVE_IDLE_S, KEEPALIVE_INTVL_S, KEEPALIVE_COUNT, 0);
}

/* Start a session thread for fd (the caller checked there is a free slot).
 * 0, or -1 reported (fd closed). */
static int start_session(struct dialer *d, int fd)
{
  set_keepalive(fd);
  pthread_mutex_lock(&d->lock);
  unsigned slot = 0;
  while (slot < d->max && d->fds[slot] != -1)
    slot++;
  struct session_arg *a = malloc(sizeof *a);
  int err = ENOMEM;
  if (a && slot < d->max) {
    *a = (struct session_arg) { d, fd, slot };
    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    err = pthread_create(&thread, &attr, session_thread, a);
    pthread_attr_destroy(&attr);
  }
  if (err == 0) {
    d->fds[slot] = fd;
    d->active++;
  }
  pthread_mutex_unlock(&d->lock);
  if (err != 0) {
    errno = err;
    p2v_error("cannot start a thread for a connection to the converter: %m");
    free(a);
    p2v_sock_close(fd);
    return -1;
  }
  return 0;
}

/* Wait until a session ends or ms pass (lock held). */
static void wait_changed(struct dialer *d, int64_t ms)
{
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  t.tv_sec += ms / 1000;
  t.tv_nsec += (ms % 1000) * 1000000;
  if (t.tv_nsec >= 1000000000) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000;
  }
  pthread_cond_timedwait(&d->changed, &d->lock, &t);
}

/* The end: on done, unused sessions go and the ones in use finish; on
 * stop, every socket is shut down.  Returns with no session left. */
static void finish_sessions(struct dialer *d, volatile sig_atomic_t *stop)
{
  atomic_store(&d->idle_stop, true);
  pthread_mutex_lock(&d->lock);
  bool shut = false;
  int64_t warned = p2v_now_ms();
  while (d->active > 0) {
    if (*stop && !shut) {
      for (unsigned i = 0; i < d->max; i++)
        if (d->fds[i] != -1)
          p2v_sock_shutdown(d->fds[i]);
      shut = true;
    }
    wait_changed(d, LOOP_WAIT_MS);
    if (p2v_now_ms() - warned >= 10000) {
      p2v_warning("waiting for %u connection(s) to the converter to finish", d->active);
      warned = p2v_now_ms();
    }
  }
  pthread_mutex_unlock(&d->lock);
}

int p2v_nbd_serve_dialer(const struct p2v_nbd_server *server, const char *address,
                         unsigned connections, volatile sig_atomic_t *stop)
{
  if (nbd_check_server(server) == -1)
    return -1;
  if (connections == 0)
    connections = 1;
  if (connections > MAX_CONNECTIONS)
    connections = MAX_CONNECTIONS;

  struct p2v_nbd_counters own_counters = { 0 };
  struct dialer d = { .server = *server, .max = connections };
  if (!d.server.counters)
    d.server.counters = &own_counters;
  /* Every dialled session announces the token (the converter binds to
   * it) and how many sessions we keep (it never asks for more). */
  if (!d.server.session[0] && p2v_nbd_session_init(&d.server) == -1)
    return -1;
  d.server.session_connections = connections;
  struct p2v_nbd_counters *counters = d.server.counters;
  atomic_store(&counters->converter_done, false);   /* done means: during this call */
  atomic_store(&counters->converter_busy, 0);
  d.fds = malloc(d.max * sizeof *d.fds);
  if (!d.fds) {
    p2v_error("cannot allocate the connection table: %m");
    return -1;
  }
  for (unsigned i = 0; i < d.max; i++)
    d.fds[i] = -1;
  atomic_init(&d.idle_stop, false);
  pthread_mutex_init(&d.lock, NULL);
  pthread_cond_init(&d.changed, NULL);

  int ret = -1;
  bool outage = false, busy = false;
  int backoff = BACKOFF_MIN_MS;
  int64_t next_dial = 0;
  for (;;) {
    if (*stop)
      break;
    if (atomic_load(&counters->converter_done)) {
      ret = 0;
      break;
    }
    pthread_mutex_lock(&d.lock);
    unsigned active = d.active, silent = d.ended_silent, used = d.ended_used;
    d.ended_silent = d.ended_used = 0;
    pthread_mutex_unlock(&d.lock);

    /* A converter bound to another source refuses every session it
     * takes: say so once, and back off as for unused sessions (a busy
     * refusal does not count as used). */
    if (atomic_exchange(&counters->converter_busy, 0) > 0) {
      if (!busy)
        p2v_warning("the converter at %s is busy with another source; start a converter "
                    "of its own for this one (trying again every %d s)", address,
                    BACKOFF_MAX_MS / 1000);
      busy = true;
      backoff = BACKOFF_MAX_MS;
    }
    /* A converter that took a session and used it is alive: dial again at
     * once.  One that closed sessions unused (going away, or busy
     * elsewhere) is not hammered: back off. */
    if (used > 0) {
      if (busy)
        p2v_info("the converter at %s takes this source now", address);
      busy = false;
      backoff = BACKOFF_MIN_MS;
    }
    if (silent > 0 && used == 0) {
      p2v_debug("%u connection(s) closed by the converter unused; dialling again in %d ms",
                silent, backoff);
      next_dial = p2v_now_ms() + backoff;
      backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }

    if (active < connections && p2v_now_ms() >= next_dial) {
      char why[256];
      int fd = nbd_net_dial(address, DIAL_TIMEOUT_MS, stop, &counters->converter_done,
                            why, sizeof why);
      if (fd == -1) {
        if (*stop || atomic_load(&counters->converter_done))
          continue;
        if (!outage)
          p2v_warning("cannot reach the converter at %s (%s); trying again until it "
                      "answers", address, why);
        outage = true;
        busy = false;                    /* a new converter may say it again */
        next_dial = p2v_now_ms() + backoff;
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        continue;
      }
      if (outage)
        p2v_info("reached the converter at %s", address);
      else
        p2v_debug("connected to the converter at %s", address);
      outage = false;
      if (start_session(&d, fd) == -1)
        break;
      continue;                          /* the others at once */
    }

    pthread_mutex_lock(&d.lock);
    int64_t wait = LOOP_WAIT_MS;
    if (active < connections && next_dial - p2v_now_ms() < wait)
      wait = next_dial - p2v_now_ms() > 0 ? next_dial - p2v_now_ms() : 0;
    if (d.ended_silent == 0 && d.ended_used == 0 && wait > 0)
      wait_changed(&d, wait);
    pthread_mutex_unlock(&d.lock);
  }

  finish_sessions(&d, stop);
  pthread_cond_destroy(&d.changed);
  pthread_mutex_destroy(&d.lock);
  free(d.fds);
  return ret;
}
