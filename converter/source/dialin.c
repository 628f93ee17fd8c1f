/* Dial-in (docs/dial-in.md): the converter listens, the source dials in
 * and is the NBD server on every connection it opens; we run libnbd over
 * the accepted sockets.  Each handle uses one dialled connection: the
 * first lists the exports and reads p2v:survey, each disk image (and each
 * of its reopens) takes another, and the last opens p2v:done.
 *
 * The dialler is not trusted: every wait is bounded, export names must be
 * safe file names, the survey is bounded and strictly parsed, and a
 * connection that was closed while it waited in the accept queue is
 * skipped.  The first connection binds us to its source's session token
 * (announced in every export description); every later connection must
 * show the same token before we read anything from it, others are told
 * P2V_EXPORT_BUSY and closed, so two sources are never mixed.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libnbd.h>

#include "cleanup.h"
#include "clock.h"
#include "source/source.h"
#include "log.h"
#include "nbd-server.h"
#include "survey.h"

#define MAX_EXPORTS       64
#define MAX_NAME          200     /* bytes in a disk export name (a file name) */
#define MAX_POOL          64      /* accepted connections kept for later */
#define MAX_SKIPS         32      /* stale connections skipped in one go */
#define HANDSHAKE_MS      30000   /* a connected source answers within this */
#define NEXT_WAIT_MS      120000  /* for a redial: the source backs off 10 s at most */
#define REOPEN_WAIT_MS    30000
#define SETTLE_QUIET_MS   500     /* after the first: the rest arrive together */
#define SETTLE_MAX_MS     2000
#define SURVEY_PIECE      (64 * 1024)
#define BUSY_REPLY_MS     5000    /* for a refused source to take note */
#define MAX_FOREIGN       16      /* other sessions remembered (one warning each) */
#define PEER_SIZE         (NI_MAXHOST + NI_MAXSERV + 8)

struct dialin_export {
  struct p2v_dialin *d;
  char *name;
};

struct p2v_dialin {
  int listen_fd;
  char address[128];
  const struct p2v_dialin_options *o;
  char *tls_username;               /* the first name in the PSK file */
  int pool[MAX_POOL];               /* accepted, not used yet, oldest first */
  size_t npool;
  unsigned peak;                    /* most connections seen at once */
  struct dialin_export exports[MAX_EXPORTS];
  const char *names[MAX_EXPORTS];
  size_t nexports;
  bool has_survey, has_done;
  char *survey;
  size_t survey_len;
  /* The session we are bound to (by the first connection). */
  bool bound;
  char session[P2V_SESSION_HEX + 1];
  unsigned announced;               /* connections it says it keeps; 0: not said */
  char foreign[MAX_FOREIGN][P2V_SESSION_HEX + 1];   /* refused, warned about */
  size_t nforeign;
  bool warned_untokened, warned_unproven;
};

/* ---- accepting ---- */

/* A pooled connection the source has closed or reset meanwhile. */
static bool is_stale(int fd)
{
  struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };
  return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Take every connection waiting in the accept queue into the pool. */
static void drain_backlog(struct p2v_dialin *d)
{
  for (;;) {
    int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd == -1)
      break;
    if (d->npool == MAX_POOL) {
      p2v_debug("more than %d connections from the source waiting; closing one", MAX_POOL);
      close(fd);
      continue;
    }
    d->pool[d->npool++] = fd;
  }
  /* Called when no handle is open (between disks) this counts them all;
   * connections already closed by the source do not count. */
  unsigned live = 0;
  for (size_t i = 0; i < d->npool; i++)
    live += !is_stale(d->pool[i]);
  if (live > d->peak)
    d->peak = live;
}

/* The next live dialled connection, waiting up to wait_ms (-1: for ever).
 * -1 if none came (nothing reported). */
static int next_socket(struct p2v_dialin *d, int wait_ms)
{
  int64_t deadline = wait_ms < 0 ? INT64_MAX : p2v_now_ms() + wait_ms;
  for (;;) {
    drain_backlog(d);
    while (d->npool > 0) {
      int fd = d->pool[0];
      memmove(d->pool, d->pool + 1, --d->npool * sizeof d->pool[0]);
      if (!is_stale(fd)) {
        int flags = fcntl(fd, F_GETFL);
        if (flags != -1)
          (void) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
        /* Requests are small: Nagle would hold them back (libnbd sets
         * this only on sockets it connects itself). */
        int one = 1;
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return fd;
      }
      p2v_debug("skipping a connection the source closed while it waited");
      close(fd);
    }
    int64_t left = deadline - p2v_now_ms();
    if (left <= 0)
      return -1;
    struct pollfd pfd = { .fd = d->listen_fd, .events = POLLIN };
    int r = poll(&pfd, 1, left > 1000 ? 1000 : (int) left);
    if (r == -1 && errno != EINTR) {
      p2v_error("cannot wait for the source on %s: %m", d->address);
      return -1;
    }
  }
}

/* ---- one libnbd handle over a dialled socket ---- */

/* Why a handshake failed: the connection went away (skip it), or a real
 * failure that was reported. */
enum hs_result { HS_OK, HS_STALE, HS_FAILED, HS_FOREIGN };

static bool msg_has(const char *needle)
{
  const char *msg = nbd_get_error();
  return msg && strcasestr(msg, needle) != NULL;
}

/* libnbd's last error says the connection itself went away (closed or
 * reset by the other side), as opposed to a refusal or a protocol error. */
static bool went_away(void)
{
  int err = nbd_get_errno();
  return err == ECONNRESET || err == EPIPE || err == ENOTCONN || msg_has("disconnected") ||
         msg_has("end of file") || msg_has("closed");
}

static bool is_tls_failure(void)
{
  return msg_has("tls") || msg_has("psk") || msg_has("certificate") || msg_has("x509") ||
         msg_has("gnutls") || msg_has("handshake");
}

/* Run the libnbd state machine until done(h) (or *flag, a completion
 * callback's mark, when done is NULL) or the deadline.  0; -1 failed
 * (libnbd's error set); -2 timed out. */
static int run_until(struct nbd_handle *h, int (*done)(struct nbd_handle *), const int *flag,
                     int64_t deadline)
{
  for (;;) {
    if (done ? done(h) == 1 : *flag != 0)
      return 0;
    if (nbd_aio_is_dead(h) == 1 || nbd_aio_is_closed(h) == 1)
      return -1;
    int64_t left = deadline - p2v_now_ms();
    if (left <= 0) {
      errno = ETIMEDOUT;
      return -2;
    }
    if (nbd_poll(h, left > 1000 ? 1000 : (int) left) == -1)
      return -1;
  }
}

/* Completion: *state becomes 1, or -1 - errno if the command failed. */
static int completed(void *opaque, int *error)
{
  int *state = opaque;
  *state = *error ? -*error - 1 : 1;
  return 1;
}

static enum hs_result report_failure(struct p2v_dialin *d, int r, const char *what,
                                     enum p2v_open_failure *why)
{
  int err = nbd_get_errno();
  *why = P2V_OPEN_FAILED;
  if (r == -2) {
    p2v_error("the source that dialled in did not answer within %d s while %s; "
              "is it a p2v agent or live image?", HANDSHAKE_MS / 1000, what);
    return HS_FAILED;
  }
  bool tls = d->o->tls_psk_file || d->o->tls_certificates;
  if (!tls && (err == ENOTSUP || msg_has("tls"))) {
    p2v_error("the source that dialled in requires TLS (%s); give the key it uses with "
              "--tls-psk FILE or --tls-certificates DIR", p2v_nbd_message());
    *why = P2V_OPEN_TLS;
    return HS_FAILED;
  }
  if (tls && is_tls_failure()) {
    p2v_error("TLS with the source that dialled in failed while %s: %s; check that both "
              "sides use the same key (or certificates)", what, p2v_nbd_message());
    *why = P2V_OPEN_TLS;
    return HS_FAILED;
  }
  if (went_away()) {
    p2v_debug("a dialled connection went away while %s: %s", what, p2v_nbd_message());
    return HS_STALE;
  }
  if (msg_has("opt_go") || msg_has("export") || err == ENOENT) {
    p2v_error("the source that dialled in refused to open the export while %s: %s",
              what, p2v_nbd_message());
    *why = P2V_OPEN_NO_EXPORT;
    return HS_FAILED;
  }
  p2v_error("the source that dialled in failed while %s: %s", what, p2v_nbd_message());
  return HS_FAILED;
}

/* ---- the session a connection belongs to ---- */


/* Constant time, so that timing says nothing about how much matched. */
static bool same_token(const char *a, const char *b)
{
  unsigned char diff = 0;
  for (size_t i = 0; i < P2V_SESSION_HEX; i++)
    diff |= (unsigned char) (a[i] ^ b[i]);
  return diff == 0;
}

/* One warning per other session (token NULL: a dialler with none). */
static void warn_foreign(struct p2v_dialin *d, const char *peer, const char *token)
{
  if (!token) {
    if (!d->warned_untokened)
      p2v_warning("refused a connection from %s that announces no p2v session: it is not "
                  "a p2v source of this version", peer);
    else
      p2v_debug("refused another connection from %s without a p2v session", peer);
    d->warned_untokened = true;
    return;
  }
  for (size_t i = 0; i < d->nforeign; i++)
    if (same_token(d->foreign[i], token)) {
      p2v_debug("refused another connection of the other session from %s", peer);
      return;
    }
  if (d->nforeign == MAX_FOREIGN) {
    p2v_debug("refused a connection of yet another session from %s", peer);
    return;
  }
  memcpy(d->foreign[d->nforeign++], token, P2V_SESSION_HEX + 1);
  p2v_warning("refused a second source that dialled in from %s (another session); give "
              "each source its own --listen port", peer);
}

/* Tell the other source that we are busy (it says so once and backs off),
 * then close.  Takes h. */
static void refuse_busy(struct nbd_handle *h)
{
  int finished = 0;
  nbd_completion_callback done = { .callback = completed, .user_data = &finished };
  if (nbd_set_export_name(h, P2V_EXPORT_BUSY) != -1 && nbd_aio_opt_info(h, done) != -1)
    (void) run_until(h, NULL, &finished, p2v_now_ms() + BUSY_REPLY_MS);
  nbd_close(h);                     /* before &finished goes out of scope */
}

/* A connection that failed before it showed a session, once we are bound:
 * it cannot be our source's (its sessions answer), so it must not end
 * the copy; skip it, saying so once. */
static enum hs_result unproven_failure(struct p2v_dialin *d, int r, const char *peer)
{
  if (r != -2 && went_away()) {
    p2v_debug("a dialled connection went away before it showed its session: %s",
              p2v_nbd_message());
    return HS_STALE;
  }
  char msg[200];
  snprintf(msg, sizeof msg, "%s", r == -2 ? "no answer" : p2v_nbd_message());
  if (!d->warned_unproven)
    p2v_warning("refused a connection from %s that failed before it showed its session "
                "(%s); it is not the source this converter copies", peer, msg);
  else
    p2v_debug("refused a connection from %s: %s", peer, msg);
  d->warned_unproven = true;
  return HS_FOREIGN;
}

/* On *hp (opt mode): is this our source?  Every p2v source has
 * P2V_EXPORT_DONE; its description carries the session token.  HS_OK;
 * HS_FOREIGN (refused, *hp taken); HS_STALE/HS_FAILED (*hp NULL if it had
 * to be closed). */
static enum hs_result check_session(struct p2v_dialin *d, struct nbd_handle **hp,
                                    const char *peer)
{
  struct nbd_handle *h = *hp;
  int finished = 0;
  nbd_completion_callback done = { .callback = completed, .user_data = &finished };
  int r = nbd_set_export_name(h, P2V_EXPORT_DONE) == -1 ? -1 : nbd_aio_opt_info(h, done);
  if (r == 0)
    r = run_until(h, NULL, &finished, p2v_now_ms() + HANDSHAKE_MS);
  if (r != 0) {
    enum hs_result res = unproven_failure(d, r, peer);
    nbd_close(h);
    *hp = NULL;
    return res;
  }
  char token[P2V_SESSION_HEX + 1];
  unsigned connections;
  CLEANUP_FREE char *description = finished > 0 ? nbd_get_export_description(h) : NULL;
  bool has_token = description &&
                   p2v_nbd_session_parse(description, token, &connections) == 0;
  if (has_token && same_token(token, d->session))
    return HS_OK;
  warn_foreign(d, peer, has_token ? token : NULL);
  refuse_busy(h);
  *hp = NULL;
  return HS_FOREIGN;
}

/* On *hp (opt mode, our source): open export.  HS_OK, or HS_STALE /
 * HS_FAILED (reported) with *hp NULL. */
static enum hs_result go(struct p2v_dialin *d, struct nbd_handle **hp, const char *export,
                         enum p2v_open_failure *why)
{
  struct nbd_handle *h = *hp;
  int finished = 0;
  nbd_completion_callback done = { .callback = completed, .user_data = &finished };
  int r = nbd_set_export_name(h, export) == -1 ? -1 : nbd_aio_opt_go(h, done);
  if (r == 0)
    r = run_until(h, NULL, &finished, p2v_now_ms() + HANDSHAKE_MS);
  enum hs_result res = HS_OK;
  if (r == 0 && (finished < 0 || nbd_aio_is_ready(h) != 1)) {
    p2v_error("the source that dialled in refused to open export %s: %s", export,
              finished < 0 ? strerror(-finished - 1) : "no reply");
    *why = P2V_OPEN_NO_EXPORT;
    res = HS_FAILED;
  }
  else if (r != 0) {
    char what[300];
    snprintf(what, sizeof what, "opening export %s", export);
    res = report_failure(d, r, what, why);
  }
  if (res != HS_OK) {
    nbd_close(h);
    *hp = NULL;
  }
  return res;
}

/* A handle on fd (taken): opt mode (export NULL) or in transmission on
 * export, after checking that the connection is our source's (once bound).
 * NULL with *res saying why (HS_FAILED reported). */
static struct nbd_handle *handshake(struct p2v_dialin *d, int fd, const char *export,
                                    enum hs_result *res, enum p2v_open_failure *why)
{
  struct nbd_handle *h = nbd_create();
  if (!h) {
    p2v_error("cannot create an NBD handle: %s", p2v_nbd_message());
    close(fd);
    *res = HS_FAILED;
    *why = P2V_OPEN_FAILED;
    return NULL;
  }
  const struct p2v_dialin_options *o = d->o;
  /* Opt mode always: nothing is read before the session is checked. */
  int ok = nbd_set_handle_name(h, "p2v-convert") != -1 &&
           nbd_add_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) != -1 &&
           nbd_set_opt_mode(h, true) != -1 && nbd_set_full_info(h, true) != -1;
  if (ok && o->tls_psk_file)
    ok = nbd_set_tls(h, LIBNBD_TLS_REQUIRE) != -1 &&
         nbd_set_tls_psk_file(h, o->tls_psk_file) != -1 &&
         (!d->tls_username || nbd_set_tls_username(h, d->tls_username) != -1);
  else if (ok && o->tls_certificates)
    ok = nbd_set_tls(h, LIBNBD_TLS_REQUIRE) != -1 &&
         nbd_set_tls_certificates(h, o->tls_certificates) != -1 &&
         nbd_set_tls_verify_peer(h, true) != -1;
  if (!ok) {
    p2v_error("cannot set up the NBD handle: %s", p2v_nbd_message());
    close(fd);
    nbd_close(h);
    *res = HS_FAILED;
    *why = P2V_OPEN_FAILED;
    return NULL;
  }
  char peer[PEER_SIZE];
  if (p2v_net_peer_address(fd, peer, sizeof peer) == -1)
    snprintf(peer, sizeof peer, "an unknown address");
  if (nbd_aio_connect_socket(h, fd) == -1) {    /* fd is libnbd's from here */
    p2v_error("cannot start NBD on a dialled connection: %s", p2v_nbd_message());
    nbd_close(h);
    *res = HS_FAILED;
    *why = P2V_OPEN_FAILED;
    return NULL;
  }
  int r = run_until(h, nbd_aio_is_negotiating, NULL, p2v_now_ms() + HANDSHAKE_MS);
  if (r != 0) {
    *res = d->bound ? unproven_failure(d, r, peer) : report_failure(d, r, "negotiating", why);
    nbd_close(h);
    return NULL;
  }
  *res = HS_OK;
  if (d->bound)
    *res = check_session(d, &h, peer);
  if (*res == HS_OK && export)
    *res = go(d, &h, export, why);
  return *res == HS_OK ? h : NULL;
}

/* Another dialled connection, in transmission on export (opt mode when
 * NULL).  Stale connections are skipped.  NULL reported. */
static struct nbd_handle *dialled_handle(struct p2v_dialin *d, const char *export,
                                         int wait_ms, enum p2v_open_failure *why)
{
  /* Connections of other sources do not count as skips (a flood of them
   * must not fail the copy), but they share one deadline with ours. */
  int64_t deadline = p2v_now_ms() + wait_ms;
  for (int skips = 0; skips < MAX_SKIPS; ) {
    /* Checked here too: pooled connections are returned without waiting,
     * and a steady stream of refused ones must not keep us past it. */
    int64_t left = deadline - p2v_now_ms();
    int fd = left > 0 ? next_socket(d, (int) left) : -1;
    if (fd == -1) {
      p2v_error("the source did not dial in again within %d s (to open %s); is it still "
                "running?", wait_ms / 1000, export ? export : "the export list");
      *why = P2V_OPEN_UNREACHABLE;
      return NULL;
    }
    enum hs_result res;
    struct nbd_handle *h = handshake(d, fd, export, &res, why);
    if (h)
      return h;
    if (res == HS_FAILED)
      return NULL;
    if (res == HS_STALE)
      skips++;
  }
  p2v_error("%d connections from the source in a row were closed before use; "
            "is the source stopping?", MAX_SKIPS);
  *why = P2V_OPEN_UNREACHABLE;
  return NULL;
}

/* ---- listing and the survey ---- */

/* A disk export name we may use as a file name in the output folder. */
static bool is_safe_name(const char *name)
{
  size_t len = strlen(name);
  if (len == 0 || len > MAX_NAME || name[0] == '.' || strchr(name, '/'))
    return false;
  for (const unsigned char *p = (const unsigned char *) name; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      return false;
  return true;
}

/* A name as it may be printed: control characters as '?', cut short. */
static void printable(const char *name, char *out, size_t size)
{
  size_t i = 0;
  for (const unsigned char *p = (const unsigned char *) name; *p && i + 4 < size; p++)
    out[i++] = *p < 0x20 || *p == 0x7f ? '?' : (char) *p;
  if (name[i] && i + 4 >= size) {
    memcpy(out + i, "...", 3);
    i += 3;
  }
  out[i] = '\0';
}

struct list_state {
  struct p2v_dialin *d;
  bool too_many, bad, duplicate;
  char bad_name[80];
  /* The session every export announces: all must say the same. */
  size_t listed, with_token;
  bool token_differs;
  char token[P2V_SESSION_HEX + 1];
  unsigned connections;
};

static void list_session(struct list_state *st, const char *description)
{
  char token[P2V_SESSION_HEX + 1];
  unsigned connections;
  st->listed++;
  if (p2v_nbd_session_parse(description, token, &connections) == -1)
    return;
  if (st->with_token++ == 0) {
    memcpy(st->token, token, sizeof token);
    st->connections = connections;
  }
  else if (!same_token(st->token, token) || st->connections != connections)
    st->token_differs = true;
}

static int list_export(void *opaque, const char *name, const char *description)
{
  struct list_state *st = opaque;
  struct p2v_dialin *d = st->d;
  list_session(st, description);
  if (!strcmp(name, P2V_EXPORT_SURVEY)) {
    d->has_survey = true;
    return 0;
  }
  if (!strcmp(name, P2V_EXPORT_DONE)) {
    d->has_done = true;
    return 0;
  }
  if (!strncmp(name, P2V_EXPORT_PREFIX, strlen(P2V_EXPORT_PREFIX)))
    return 0;                      /* reserved for later versions */
  if (st->too_many || st->bad || st->duplicate)
    return 0;
  if (!is_safe_name(name)) {
    st->bad = true;
    printable(name, st->bad_name, sizeof st->bad_name);
    return 0;
  }
  for (size_t i = 0; i < d->nexports; i++)
    if (!strcmp(d->exports[i].name, name)) {
      st->duplicate = true;
      printable(name, st->bad_name, sizeof st->bad_name);
      return 0;
    }
  if (d->nexports == MAX_EXPORTS) {
    st->too_many = true;
    return 0;
  }
  char *copy = strdup(name);
  if (!copy)
    return -1;
  d->exports[d->nexports] = (struct dialin_export) { d, copy };
  d->names[d->nexports] = copy;
  d->nexports++;
  return 0;
}

/* On *hp (opt mode): list the exports and check them.  0, or -1
 * reported (with the handle closed and *hp NULL if the list is still in
 * flight: its callbacks point at our stack). */
static int read_list(struct p2v_dialin *d, struct nbd_handle **hp, enum p2v_open_failure *why)
{
  struct nbd_handle *h = *hp;
  struct list_state st = { .d = d };
  int finished = 0;
  nbd_list_callback cb = { .callback = list_export, .user_data = &st };
  nbd_completion_callback done = { .callback = completed, .user_data = &finished };
  int r = nbd_aio_opt_list(h, cb, done);
  if (r == 0)
    r = run_until(h, NULL, &finished, p2v_now_ms() + HANDSHAKE_MS);
  if (r != 0) {
    report_failure(d, r, "listing its exports", why);
    if (finished == 0) {
      nbd_close(h);
      *hp = NULL;
    }
    return -1;
  }
  *why = P2V_OPEN_FAILED;
  bool tls = d->o->tls_psk_file || d->o->tls_certificates;
  if (finished == -1 - ENOTSUP && !tls) {
    /* NBD_REP_ERR_TLS_REQD: libnbd says ENOTSUP. */
    p2v_error("the source that dialled in requires TLS; give the key it uses with "
              "--tls-psk FILE or --tls-certificates DIR");
    *why = P2V_OPEN_TLS;
    return -1;
  }
  if (finished < 0 || nbd_aio_is_negotiating(h) != 1) {
    p2v_error("the source that dialled in cannot list its exports: %s", p2v_nbd_message());
    return -1;
  }
  if (st.bad) {
    p2v_error("the source offers an export named '%s', which is not a safe file name; "
              "refusing it (names must not be empty, start with '.', contain '/' or "
              "control characters, or be longer than %d bytes)", st.bad_name, MAX_NAME);
    return -1;
  }
  if (st.duplicate) {
    p2v_error("the source offers export '%s' twice; refusing it", st.bad_name);
    return -1;
  }
  if (st.too_many) {
    p2v_error("the source offers more than %d disks; refusing it", MAX_EXPORTS);
    return -1;
  }
  if (d->nexports == 0) {
    p2v_error("the source that dialled in offers no disk");
    return -1;
  }
  if (st.with_token == 0 || st.with_token != st.listed || st.token_differs) {
    p2v_error("the source that dialled in does not announce one p2v session for all its "
              "exports: it is not a p2v source of this version; update it to this "
              "version of p2v");
    return -1;
  }
  /* Bound: from now on only connections with this token are used. */
  memcpy(d->session, st.token, sizeof d->session);
  d->announced = st.connections;
  return 0;
}

/* Open p2v:survey on *hp (opt mode), read it whole and check it.  0, or
 * -1 reported.  A read still in flight when it fails (timeout) points at
 * our buffer and stack: then the handle is closed here and *hp is NULL. */
static int read_survey(struct p2v_dialin *d, struct nbd_handle **hp, enum p2v_open_failure *why)
{
  struct nbd_handle *h = *hp;
  if (nbd_set_export_name(h, P2V_EXPORT_SURVEY) == -1) {
    p2v_error("cannot ask for the survey: %s", p2v_nbd_message());
    return -1;
  }
  int finished = 0;
  nbd_completion_callback done = { .callback = completed, .user_data = &finished };
  int r = nbd_aio_opt_go(h, done);
  if (r == 0)
    r = run_until(h, NULL, &finished, p2v_now_ms() + HANDSHAKE_MS);
  if (r == 0 && (finished < 0 || nbd_aio_is_ready(h) != 1)) {
    p2v_error("the source that dialled in lists %s but does not open it (%s)",
              P2V_EXPORT_SURVEY, finished < 0 ? strerror(-finished - 1) : "no reply");
    return -1;
  }
  if (r != 0) {
    report_failure(d, r, "opening its survey", why);
    if (finished == 0) {
      nbd_close(h);
      *hp = NULL;
    }
    return -1;
  }
  *why = P2V_OPEN_FAILED;
  int64_t size = nbd_get_size(h);
  if (size < 0 || (uint64_t) size > P2V_SURVEY_MAX_JSON_BYTES) {
    p2v_error("the source's survey is %lld bytes, more than the %u allowed; refusing it",
              (long long) size, P2V_SURVEY_MAX_JSON_BYTES);
    return -1;
  }
  char *text = malloc((size_t) size + 1);
  if (!text) {
    p2v_error("out of memory");
    return -1;
  }
  int64_t max = nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM);
  size_t piece = max >= 512 && max < SURVEY_PIECE ? (size_t) max : SURVEY_PIECE;
  int64_t deadline = p2v_now_ms() + HANDSHAKE_MS;
  for (size_t pos = 0; pos < (size_t) size; ) {
    size_t n = (size_t) size - pos < piece ? (size_t) size - pos : piece;
    int state = 0;
    nbd_completion_callback cb = { .callback = completed, .user_data = &state };
    r = nbd_aio_pread(h, text + pos, n, pos, cb, 0) == -1 ? -1 : 0;
    if (r == 0)
      r = run_until(h, NULL, &state, deadline);
    if (r == 0 && state < 0)
      p2v_error("the source failed to send its survey: %s", strerror(-state - 1));
    else if (r != 0)
      report_failure(d, r, "sending its survey", why);
    if (r != 0 || state < 0) {
      if (state == 0) {           /* still in flight */
        nbd_close(h);
        *hp = NULL;
      }
      free(text);
      return -1;
    }
    pos += n;
  }
  text[size] = '\0';
  /* Strictly parsed: one line naming the bad field if it is not valid. */
  struct p2v_survey *survey = p2v_survey_from_json(text, (size_t) size);
  if (!survey) {
    free(text);
    return -1;
  }
  p2v_survey_free(survey);
  d->survey = text;
  d->survey_len = (size_t) size;
  return 0;
}

/* ---- the API ---- */

/* How many connections our source keeps: what it announced caps what we
 * counted, since the count includes any other source's connections. */
static unsigned source_connections(const struct p2v_dialin *d)
{
  unsigned n = d->peak ? d->peak : 1;
  return d->announced && n > d->announced ? d->announced : n;
}

/* The first user name in a psktool file ("name:hexkey" lines), so that
 * libnbd picks that key. */
static char *psk_username(const char *file)
{
  CLEANUP_FCLOSE FILE *fp = fopen(file, "re");
  if (!fp) {
    p2v_error("cannot open the PSK file %s: %m", file);
    return NULL;
  }
  char line[4096];
  if (!fgets(line, sizeof line, fp) || !strchr(line, ':') || line[0] == ':') {
    p2v_error("%s is not a PSK file (lines 'name:hexkey', as psktool writes)", file);
    return NULL;
  }
  *strchr(line, ':') = '\0';
  char *name = strdup(line);
  if (!name)
    p2v_error("out of memory");
  return name;
}

struct p2v_dialin *p2v_dialin_listen(const struct p2v_dialin_options *o,
                                     enum p2v_open_failure *why)
{
  *why = P2V_OPEN_FAILED;
  struct p2v_dialin *d = calloc(1, sizeof *d);
  if (!d) {
    p2v_error("out of memory");
    return NULL;
  }
  d->o = o;
  d->listen_fd = -1;
  if (o->tls_certificates) {
    /* libnbd checks a server certificate only against the host name it
     * connected to, and an accepted socket has none: the source's
     * certificate would go unchecked. */
    p2v_error("--tls-certificates cannot be checked for a source that dials in (libnbd "
              "verifies X.509 only against a host name it connected to); use --tls-psk FILE");
    *why = P2V_OPEN_TLS;
    goto fail;
  }
  if (o->tls_psk_file && !(d->tls_username = psk_username(o->tls_psk_file)))
    goto fail;
  if ((d->listen_fd = p2v_net_listen(o->address)) == -1)
    goto fail;
  /* drain_backlog takes what is there and never waits. */
  int flags = fcntl(d->listen_fd, F_GETFL);
  if (flags == -1 || fcntl(d->listen_fd, F_SETFL, flags | O_NONBLOCK) == -1) {
    p2v_error("cannot set up the listening socket: %m");
    goto fail;
  }
  if (p2v_net_local_address(d->listen_fd, d->address, sizeof d->address) == -1)
    snprintf(d->address, sizeof d->address, "%s", o->address);
  fprintf(stderr, "%s: listening on %s; waiting for the source to dial in\n",
          p2v_program_name(), d->address);

  /* The first connection may be no source at all but a port probe (a
   * script checking that we listen) that closes at once: if every
   * connection that came is closed once they have settled, wait again for
   * the source, within what is left of --wait, not a redial's 30 s. */
  int64_t wait_end = o->wait_seconds ? p2v_now_ms() + (int64_t) o->wait_seconds * 1000 : -1;
  for (;;) {
    int64_t left = wait_end < 0 ? 0 : wait_end - p2v_now_ms();
    int fd = wait_end >= 0 && left <= 0 ? -1 : next_socket(d, wait_end < 0 ? -1 : (int) left);
    if (fd == -1) {
      p2v_error("nobody dialled in to %s within %u s; start the source with "
                "'p2v-agent serve --connect %s DISK...'", d->address, o->wait_seconds,
                d->address);
      *why = P2V_OPEN_UNREACHABLE;
      goto fail;
    }
    /* Back in front of the queue; then let the rest arrive (the source
     * dials all its connections at once), so we know how many it keeps. */
    memmove(d->pool + 1, d->pool, d->npool * sizeof d->pool[0]);
    d->pool[0] = fd;
    d->npool++;
    int64_t start = p2v_now_ms(), last = start;
    size_t seen = d->npool;
    while (p2v_now_ms() - last < SETTLE_QUIET_MS && p2v_now_ms() - start < SETTLE_MAX_MS) {
      poll(NULL, 0, 50);
      drain_backlog(d);
      if (d->npool != seen) {
        seen = d->npool;
        last = p2v_now_ms();
      }
    }
    size_t live = 0;
    for (size_t i = 0; i < d->npool; i++) {
      if (is_stale(d->pool[i]))
        close(d->pool[i]);
      else
        d->pool[live++] = d->pool[i];
    }
    if (live > 0) {
      d->npool = live;
      break;
    }
    p2v_debug("every connection so far was closed before use (a port probe?); "
              "waiting for the source");
    d->npool = 0;
    d->peak = 0;
  }

  struct nbd_handle *h = dialled_handle(d, NULL, REOPEN_WAIT_MS, why);
  if (!h)
    goto fail;
  int r = read_list(d, &h, why);
  if (r == 0 && d->has_survey && h)
    r = read_survey(d, &h, why);
  if (h) {
    nbd_shutdown(h, 0);
    nbd_close(h);
  }
  if (r == -1)
    goto fail;
  d->bound = true;
  p2v_info("the source offers %zu disk(s)%s; it keeps %u connection(s) open",
           d->nexports, d->has_survey ? " and a survey" : "", source_connections(d));
  return d;

fail:
  p2v_dialin_close(d);
  return NULL;
}

const char *p2v_dialin_address(const struct p2v_dialin *d)
{
  return d->address;
}

size_t p2v_dialin_exports(struct p2v_dialin *d, const char *const **names)
{
  *names = d->names;
  return d->nexports;
}

const char *p2v_dialin_survey(struct p2v_dialin *d, size_t *len)
{
  *len = d->survey_len;
  return d->survey;
}

unsigned p2v_dialin_connections(struct p2v_dialin *d)
{
  drain_backlog(d);
  return source_connections(d);
}

/* nbd_reconnect_fn: another dialled connection on the same export. */
static struct nbd_handle *dialin_reconnect(void *opaque, const char *name,
                                           enum p2v_open_failure *why)
{
  struct dialin_export *e = opaque;
  return dialled_handle(e->d, e->name, REOPEN_WAIT_MS, why);
}

struct p2v_image *p2v_dialin_open(struct p2v_dialin *d, const char *export_name,
                                  enum p2v_open_failure *why)
{
  struct dialin_export *e = NULL;
  for (size_t i = 0; i < d->nexports; i++)
    if (!strcmp(d->exports[i].name, export_name))
      e = &d->exports[i];
  if (!e) {
    p2v_error("the source offers no export '%s'", export_name);
    *why = P2V_OPEN_NO_EXPORT;
    return NULL;
  }
  struct nbd_handle *h = dialled_handle(d, e->name, NEXT_WAIT_MS, why);
  if (!h)
    return NULL;
  struct p2v_image *img = nbd_source_new(h, e->name, dialin_reconnect, e);
  if (!img)
    *why = P2V_OPEN_FAILED;
  return img;
}

int p2v_dialin_done(struct p2v_dialin *d)
{
  if (!d->has_done) {
    p2v_warning("the source does not offer %s: it will not learn that the copy is "
                "complete", P2V_EXPORT_DONE);
    return 0;
  }
  enum p2v_open_failure why;
  struct nbd_handle *h = dialled_handle(d, P2V_EXPORT_DONE, NEXT_WAIT_MS, &why);
  if (!h)
    return -1;
  nbd_shutdown(h, 0);
  nbd_close(h);
  return 0;
}

void p2v_dialin_close(struct p2v_dialin *d)
{
  if (!d)
    return;
  for (size_t i = 0; i < d->npool; i++)
    close(d->pool[i]);
  if (d->listen_fd >= 0)
    close(d->listen_fd);
  for (size_t i = 0; i < d->nexports; i++)
    free(d->exports[i].name);
  free(d->tls_username);
  free(d->survey);
  free(d);
}
