/* An NBD export read with libnbd, as a source image: pread, aio_pread +
 * poll, extents (base:allocation), reopen (multi-conn), cancel.  Never
 * writes: the ops have no pwrite or zero, and the handle is never asked to.
 * The handle comes from a URI (p2v_nbd_open) or from a dialled-in socket
 * (dialin.c); reopen asks the same origin for another one.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libnbd.h>

#include "cleanup.h"
#include "clock.h"
#include "source/source.h"
#include "log.h"

struct nbd_source {
  struct p2v_image img;          /* first: the image is the source */
  struct nbd_handle *nbd;
  char *name;                    /* URI or export name, for messages and reconnect */
  nbd_reconnect_fn reconnect;
  void *opaque;
  int fd;                        /* the socket, for cancel */
  bool have_allocation;          /* server answers base:allocation */
  bool cancelled;                /* cancel() cut the connection (atomic) */
  bool lost_reported;            /* "went away" said once for this handle */
};

static const struct p2v_image_ops nbd_ops;

/* An errno that means the connection is gone (or going: ESHUTDOWN is a
 * server shutting down), not a request the server refused. */
static bool connection_errno(int err)
{
  return err == ENOTCONN || err == ESHUTDOWN || err == ECONNRESET || err == EPIPE ||
         err == ECONNABORTED || err == ETIMEDOUT;
}

/* The source went away: one line naming it and what to do, in place of
 * libnbd's state-machine text ("invalid state: DEAD ...").  Nothing when
 * our own cancel() cut it: whoever cancelled has said why.  Sets errno to
 * ENOTCONN, which callers take as "lost, reported, do not retry". */
static void report_lost(struct nbd_source *s)
{
  if (!__atomic_load_n(&s->cancelled, __ATOMIC_ACQUIRE) && !s->lost_reported) {
    s->lost_reported = true;
    p2v_error("the source %s went away (the connection closed); check that the source is "
              "still running and the network to it is up, then run the command again",
              s->name);
  }
  errno = ENOTCONN;
}

/* A libnbd call on s failed: report it (what, at offset) and set errno.
 * A server's answer to a request the caller retries (img.retried) is only
 * a debug message: the caller reports the last failure. */
static void report_failure(struct nbd_source *s, const char *what, uint64_t offset)
{
  int err = nbd_get_errno();
  if (connection_errno(err) || nbd_aio_is_dead(s->nbd) == 1 || nbd_aio_is_closed(s->nbd) == 1) {
    report_lost(s);
    return;
  }
  if (s->img.retried)
    p2v_debug("%s at offset %llu from %s: %s", what, (unsigned long long) offset, s->name,
              p2v_nbd_message());
  else
    p2v_error("%s at offset %llu from %s: %s", what, (unsigned long long) offset, s->name,
              p2v_nbd_message());
  errno = err ? err : EIO;
}

const char *p2v_nbd_message(void)
{
  const char *msg = nbd_get_error();
  if (!msg)
    return "unknown libnbd error";
  const char *colon = strstr(msg, ": ");
  if (colon && !strncmp(msg, "nbd_", 4) && !memchr(msg, ' ', colon - msg))
    return colon + 2;
  return msg;
}

static bool contains(const char *haystack, const char *needle)
{
  return haystack && strcasestr(haystack, needle) != NULL;
}

/* Turn libnbd's failure into one line and a reason.  libnbd gives an
 * errno and a message; the handshake phase only shows in the message. */
static enum p2v_open_failure report_open_failure(const char *uri)
{
  const char *full = nbd_get_error();
  const char *msg = p2v_nbd_message();
  int err = nbd_get_errno();

  bool tls_uri = !strncmp(uri, "nbds", 4);
  if (!tls_uri && err == ENOTSUP && (contains(full, "tls") || contains(full, "opt_go"))) {
    /* NBD_REP_ERR_TLS_REQD arrives as ENOTSUP on a plain connection. */
    p2v_error("%s: the server refused a connection without TLS (%s); use nbds:// "
              "with tls-psk-file= or tls-certificates=", uri, msg);
    return P2V_OPEN_TLS;
  }
  if (contains(full, "tls") || contains(full, "psk") || contains(full, "certificate") ||
      contains(full, "x509")) {
    p2v_error("TLS with %s failed: %s; check the URI's tls-psk-file or tls-certificates "
              "and the user name", uri, msg);
    return P2V_OPEN_TLS;
  }
  if (contains(full, "opt_go") || contains(full, "export")) {
    p2v_error("%s: no such export on the server (%s); list them with: nbdinfo --list URI",
              uri, msg);
    return P2V_OPEN_NO_EXPORT;
  }
  if (contains(full, "connect") &&
      (err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH ||
       err == ETIMEDOUT || err == ENOENT || err == ECONNRESET || err == EADDRNOTAVAIL)) {
    p2v_error("cannot reach source %s: %s; is the source serving?", uri, msg);
    return P2V_OPEN_UNREACHABLE;
  }
  p2v_error("cannot open source %s: %s", uri, msg);
  return P2V_OPEN_FAILED;
}

/* ---- connect and handshake, within the connect timeout ---- */

static unsigned connect_timeout;  /* seconds; 0: wait for ever */

void p2v_nbd_set_connect_timeout(unsigned seconds)
{
  connect_timeout = seconds;
}

double p2v_nbd_handshake_deadline(void)
{
  return connect_timeout ? p2v_now_s() + connect_timeout : 0;
}

/* One line naming the step the handshake stalled in.  libnbd's state
 * name is informative only (its docs say so), so an unknown one gets the
 * general message. */
static void report_handshake_timeout(struct nbd_handle *h, const char *uri)
{
  const char *state = nbd_connection_state(h);
  if (!state)
    state = "";
  unsigned s = connect_timeout;
  if (!strncmp(state, "CONNECT", 7)) {
    p2v_error("cannot reach source %s: the connection was not answered within %u s; "
              "is the source serving, and is the port open?", uri, s);
  } else if (!strncmp(state, "MAGIC.", 6)) {
    p2v_error("the source at %s accepted the connection but sent no NBD greeting within "
              "%u s; is it an NBD server?", uri, s);
  } else if (strstr(state, "OPT_GO.") || strstr(state, "OPT_EXPORT_NAME.") ||
             strstr(state, "OPT_META_CONTEXT.")) {
    CLEANUP_FREE char *name = nbd_get_export_name(h);
    CLEANUP_FREE char *export = NULL;
    if (name && *name && asprintf(&export, "export '%s'", name) == -1)
      export = NULL;
    p2v_error("the source at %s did not open %s within %u s; check the disk behind it, "
              "or raise --connect-timeout", uri, export ? export : "its default export", s);
  } else if (strstr(state, "OPT_LIST.")) {
    p2v_error("the source at %s did not list its exports within %u s; check the server, "
              "or raise --connect-timeout", uri, s);
  } else if (strstr(state, "STARTTLS")) {
    p2v_error("the source at %s stopped answering during the TLS handshake (after the NBD "
              "greeting) and did not finish it within %u s; check the server, or raise "
              "--connect-timeout", uri, s);
  } else {
    p2v_error("the source at %s stopped answering during the NBD handshake (after the "
              "greeting) and did not finish it within %u s; check the server, or raise "
              "--connect-timeout", uri, s);
  }
}

int p2v_nbd_handshake_wait(struct nbd_handle *h, const char *uri, double deadline,
                           enum p2v_open_failure *why)
{
  while (nbd_aio_is_connecting(h) == 1) {
    int timeout_ms = -1;
    if (deadline > 0) {
      double left = deadline - p2v_now_s();
      if (left <= 0) {
        report_handshake_timeout(h, uri);
        *why = P2V_OPEN_UNREACHABLE;
        return -1;
      }
      timeout_ms = (int) (left * 1000) + 1;
    }
    if (nbd_poll(h, timeout_ms) == -1) {
      *why = report_open_failure(uri);
      return -1;
    }
  }
  if (nbd_aio_is_ready(h) != 1 && nbd_aio_is_negotiating(h) != 1) {
    *why = report_open_failure(uri);
    return -1;
  }
  return 0;
}

int p2v_nbd_connect(struct nbd_handle *h, const char *uri, double deadline,
                    enum p2v_open_failure *why)
{
  if (nbd_aio_connect_uri(h, uri) == -1) {
    *why = report_open_failure(uri);
    return -1;
  }
  return p2v_nbd_handshake_wait(h, uri, deadline, why);
}

/* nbd_reconnect_fn for URIs: name is the URI. */
static struct nbd_handle *uri_connect(void *opaque, const char *uri, enum p2v_open_failure *why)
{
  struct nbd_handle *nbd = nbd_create();
  if (!nbd) {
    p2v_error("cannot create an NBD handle: %s", p2v_nbd_message());
    *why = P2V_OPEN_FAILED;
    return NULL;
  }
  /* The URI comes from the person running the command, so its
   * tls-psk-file= and tls-certificates= may name local files. */
  if (nbd_set_uri_allow_local_file(nbd, true) == -1 ||
      nbd_add_meta_context(nbd, LIBNBD_CONTEXT_BASE_ALLOCATION) == -1 ||
      nbd_set_handle_name(nbd, "p2v-convert") == -1) {
    p2v_error("cannot set up the NBD handle: %s", p2v_nbd_message());
    *why = P2V_OPEN_FAILED;
    nbd_close(nbd);
    return NULL;
  }
  /* Asynchronous, so a server that accepts and then says nothing cannot
   * hold us for ever. */
  if (p2v_nbd_connect(nbd, uri, p2v_nbd_handshake_deadline(), why) == -1) {
    nbd_close(nbd);
    return NULL;
  }
  return nbd;
}

struct p2v_image *nbd_source_new(struct nbd_handle *nbd, const char *name,
                                 nbd_reconnect_fn reconnect, void *opaque)
{
  struct nbd_source *s = calloc(1, sizeof *s);
  if (!s || !(s->name = strdup(name))) {
    p2v_error("out of memory");
    goto fail;
  }
  int64_t size = nbd_get_size(nbd);
  if (size < 0) {
    p2v_error("%s: cannot get the export size: %s", name, p2v_nbd_message());
    goto fail;
  }
  s->nbd = nbd;
  s->reconnect = reconnect;
  s->opaque = opaque;
  s->fd = nbd_aio_get_fd(nbd);
  s->have_allocation = nbd_can_meta_context(nbd, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
  s->img.ops = &nbd_ops;
  s->img.size = (uint64_t) size;
  s->img.alignment = 1;
  s->img.can_multi_conn = nbd_can_multi_conn(nbd) == 1 && reconnect;
  return &s->img;

fail:
  nbd_close(nbd);
  if (s)
    free(s->name);
  free(s);
  return NULL;
}

struct p2v_image *p2v_nbd_open(const char *uri, enum p2v_open_failure *why)
{
  struct nbd_handle *nbd = uri_connect(NULL, uri, why);
  if (!nbd)
    return NULL;
  struct p2v_image *img = nbd_source_new(nbd, uri, uri_connect, NULL);
  if (!img) {
    *why = P2V_OPEN_FAILED;
    return NULL;
  }
  if (!((struct nbd_source *) img)->have_allocation)
    p2v_info("%s does not answer base:allocation: reading every block", uri);
  return img;
}

static struct p2v_image *nbd_reopen(struct p2v_image *img)
{
  struct nbd_source *first = (struct nbd_source *) img;
  enum p2v_open_failure why;
  struct nbd_handle *nbd = first->reconnect(first->opaque, first->name, &why);
  if (!nbd)
    return NULL;
  struct p2v_image *s = nbd_source_new(nbd, first->name, first->reconnect, first->opaque);
  if (!s)
    return NULL;
  if (s->size != first->img.size) {
    p2v_error("%s: size changed between connections (%llu, then %llu bytes)", first->name,
              (unsigned long long) first->img.size, (unsigned long long) s->size);
    s->ops->close(s);
    return NULL;
  }
  return s;
}

static int nbd_source_pread(struct p2v_image *img, void *buf, size_t count, uint64_t offset)
{
  struct nbd_source *s = (struct nbd_source *) img;
  if (nbd_pread(s->nbd, buf, count, offset, 0) == -1) {
    report_failure(s, "read", offset);
    return -1;
  }
  return 0;
}

struct read_completion {
  struct nbd_source *s;
  p2v_done_fn done;
  void *opaque;
};

static int read_done(void *user_data, int *error)
{
  struct read_completion *c = user_data;
  int err = *error;
  /* libnbd fails the commands in flight with ENOTCONN when the
   * connection dies (this runs inside its poll: no libnbd calls here). */
  if (connection_errno(err)) {
    report_lost(c->s);
    err = ENOTCONN;
  }
  c->done(c->opaque, err);
  return 1;                      /* retire the command: nobody waits on its cookie */
}

static int nbd_source_aio_pread(struct p2v_image *img, void *buf, size_t count,
                                uint64_t offset, p2v_done_fn done, void *opaque)
{
  struct nbd_source *s = (struct nbd_source *) img;
  struct read_completion *c = malloc(sizeof *c);
  if (!c) {
    p2v_error("out of memory");
    return -1;
  }
  *c = (struct read_completion) { s, done, opaque };
  nbd_completion_callback cb = { .callback = read_done, .user_data = c, .free = free };
  /* On failure libnbd still calls .free, never .callback. */
  if (nbd_aio_pread(s->nbd, buf, count, offset, cb, 0) == -1) {
    report_failure(s, "read", offset);
    return -1;
  }
  return 0;
}

static int nbd_source_poll(struct p2v_image *img, int timeout_ms)
{
  struct nbd_source *s = (struct nbd_source *) img;
  int r = nbd_poll(s->nbd, timeout_ms);
  if (r == -1)
    report_lost(s);              /* poll fails only when the connection does */
  return r;
}

struct extents_state {
  p2v_extent_fn fn;
  void *opaque;
  uint64_t end;                  /* of the request: replies may run past it */
  bool stopped;
};

static int extent_reply(void *user_data, const char *context, uint64_t offset,
                        uint32_t *entries, size_t nr_entries, int *error)
{
  struct extents_state *st = user_data;
  if (st->stopped || strcmp(context, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0)
    return 0;
  for (size_t i = 0; i + 1 < nr_entries; i += 2) {
    uint64_t length = entries[i];
    if (offset >= st->end || length == 0)
      break;
    if (length > st->end - offset)
      length = st->end - offset;
    /* Only "reads as zeroes" may be skipped: a hole that is not zero
     * (e.g. over a backing file) must still be read. */
    if (st->fn(st->opaque, offset, length, (entries[i + 1] & LIBNBD_STATE_ZERO) != 0) == -1) {
      st->stopped = true;
      *error = EIO;
      return -1;
    }
    offset += length;
  }
  return 0;
}

static int nbd_source_extents(struct p2v_image *img, uint64_t offset, uint64_t count,
                              p2v_extent_fn fn, void *opaque)
{
  struct nbd_source *s = (struct nbd_source *) img;
  if (!s->have_allocation)
    return fn(opaque, offset, count, false);
  /* The protocol's count is 32 bits. */
  if (count > UINT32_MAX)
    count = UINT32_MAX & ~(uint64_t) 0xfffff;
  struct extents_state st = { fn, opaque, offset + count, false };
  nbd_extent_callback cb = { .callback = extent_reply, .user_data = &st };
  if (nbd_block_status(s->nbd, count, offset, cb, 0) == -1) {
    if (st.stopped)
      return -1;                 /* fn reported it */
    report_failure(s, "block status", offset);
    return -1;
  }
  return 0;
}

static void nbd_source_cancel(struct p2v_image *img)
{
  struct nbd_source *s = (struct nbd_source *) img;
  /* shutdown(2) wakes a poll blocked inside libnbd without taking the
   * handle's lock, which that call holds. */
  __atomic_store_n(&s->cancelled, true, __ATOMIC_RELEASE);
  if (s->fd >= 0)
    shutdown(s->fd, SHUT_RDWR);
}

static void nbd_source_close(struct p2v_image *img)
{
  struct nbd_source *s = (struct nbd_source *) img;
  if (!s)
    return;
  nbd_close(s->nbd);
  free(s->name);
  free(s);
}

static const struct p2v_image_ops nbd_ops = {
  .format = "nbd",
  .pread = nbd_source_pread,
  .aio_pread = nbd_source_aio_pread,
  .poll = nbd_source_poll,
  .reopen = nbd_reopen,
  .cancel = nbd_source_cancel,
  .extents = nbd_source_extents,
  .close = nbd_source_close,
};
