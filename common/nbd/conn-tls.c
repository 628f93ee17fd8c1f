/* struct p2v_conn over GnuTLS, layered on another p2v_conn (so GnuTLS
 * never touches the socket itself, and any transport can sit below).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdlib.h>

#include "conn.h"
#include "log.h"
#include "tls-internal.h"

struct tls_conn {
  struct p2v_conn conn;          /* first: the generic part */
  struct p2v_conn *inner;
  gnutls_session_t session;
  int timeout_ms;                /* for the pull function's waits */
  int last_errno;                /* errno of the last transport failure */
  bool broken;                   /* no polite goodbye possible */
  bool corked;
};

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const void *buf, size_t len)
{
  struct tls_conn *t = ptr;
  if (p2v_conn_send(t->inner, buf, len, false) == -1) {
    t->last_errno = errno;
    gnutls_transport_set_errno(t->session, errno);
    return -1;
  }
  return (ssize_t) len;
}

static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
  struct tls_conn *t = ptr;
  ssize_t n = p2v_conn_recv(t->inner, buf, len, t->timeout_ms);
  if (n == -1) {
    t->last_errno = errno;
    gnutls_transport_set_errno(t->session, errno);
  }
  return n;
}

static int tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
  struct tls_conn *t = ptr;
  int limit = ms == GNUTLS_INDEFINITE_TIMEOUT ? t->timeout_ms : (int) ms;
  return t->inner->ops->wait(t->inner, limit);
}

static int tls_wait(struct p2v_conn *conn, int timeout_ms)
{
  struct tls_conn *t = (struct tls_conn *) conn;
  if (gnutls_record_check_pending(t->session) > 0)
    return 1;
  return t->inner->ops->wait(t->inner, timeout_ms);
}

/* Map a GnuTLS failure to errno for our callers. */
static void set_errno(struct tls_conn *t, int r)
{
  t->broken = true;
  if (r == GNUTLS_E_PULL_ERROR || r == GNUTLS_E_PUSH_ERROR)
    errno = t->last_errno ? t->last_errno : EIO;
  else
    errno = ECONNRESET;
  p2v_debug("TLS: %s", gnutls_strerror(r));
}

static ssize_t tls_recv(struct p2v_conn *conn, void *buf, size_t len, int timeout_ms)
{
  struct tls_conn *t = (struct tls_conn *) conn;
  t->timeout_ms = timeout_ms;
  for (;;) {
    ssize_t r = gnutls_record_recv(t->session, buf, len);
    if (r >= 0)
      return r;
    if (r == GNUTLS_E_INTERRUPTED || r == GNUTLS_E_AGAIN)
      continue;
    if (r == GNUTLS_E_PREMATURE_TERMINATION) {  /* closed without close_notify */
      t->broken = true;
      return 0;
    }
    set_errno(t, (int) r);
    return -1;
  }
}

static int tls_send(struct p2v_conn *conn, const void *buf, size_t len, bool more)
{
  struct tls_conn *t = (struct tls_conn *) conn;
  const char *p = buf;
  /* Cork while more follows, so a header and its body share a record. */
  if (more && !t->corked) {
    gnutls_record_cork(t->session);
    t->corked = true;
  }
  while (len > 0) {
    ssize_t r = gnutls_record_send(t->session, p, len);
    if (r == GNUTLS_E_INTERRUPTED || r == GNUTLS_E_AGAIN)
      continue;
    if (r < 0) {
      set_errno(t, (int) r);
      return -1;
    }
    p += r;
    len -= (size_t) r;
  }
  if (!more && t->corked) {
    t->corked = false;
    int r;
    do
      r = gnutls_record_uncork(t->session, GNUTLS_RECORD_WAIT);
    while (r == GNUTLS_E_INTERRUPTED || r == GNUTLS_E_AGAIN);
    if (r < 0) {
      set_errno(t, r);
      return -1;
    }
  }
  return 0;
}

static void tls_close(struct p2v_conn *conn)
{
  struct tls_conn *t = (struct tls_conn *) conn;
  if (!t->broken) {
    t->timeout_ms = 1000;          /* do not hang on a client that stopped reading */
    (void) gnutls_bye(t->session, GNUTLS_SHUT_WR);
  }
  gnutls_deinit(t->session);
  p2v_conn_close(t->inner);
  free(t);
}

static const struct p2v_conn_ops tls_ops = {
  .kind = "tls",
  .recv = tls_recv,
  .send = tls_send,
  .wait = tls_wait,
  .close = tls_close,
};

struct p2v_conn *p2v_conn_tls_new(struct p2v_tls *tls, struct p2v_conn *inner,
                                  int timeout_ms)
{
  struct tls_conn *t = calloc(1, sizeof *t);
  if (!t) {
    p2v_warning("cannot start TLS: %m");
    return NULL;
  }
  t->conn.ops = &tls_ops;
  t->inner = inner;
  t->timeout_ms = timeout_ms;

  int r = gnutls_init(&t->session, GNUTLS_SERVER);
  if (r < 0) {
    p2v_warning("cannot start TLS: %s", gnutls_strerror(r));
    free(t);
    return NULL;
  }
  r = gnutls_priority_set(t->session, tls->priority);
  if (r >= 0 && tls->x509)
    r = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, tls->x509);
  if (r >= 0 && tls->psk_cred)
    r = gnutls_credentials_set(t->session, GNUTLS_CRD_PSK, tls->psk_cred);
  if (r < 0) {
    p2v_warning("cannot start TLS: %s", gnutls_strerror(r));
    goto fail;
  }
  if (tls->verify_peer) {
    /* The handshake fails without a client certificate that the CA
     * signed (no host name to check for clients). */
    gnutls_certificate_server_set_request(t->session, GNUTLS_CERT_REQUIRE);
    gnutls_session_set_verify_cert(t->session, NULL, 0);
  }
  gnutls_session_set_ptr(t->session, tls);
  gnutls_transport_set_ptr(t->session, t);
  gnutls_transport_set_push_function(t->session, tls_push);
  gnutls_transport_set_pull_function(t->session, tls_pull);
  gnutls_transport_set_pull_timeout_function(t->session, tls_pull_timeout);
  gnutls_handshake_set_timeout(t->session, (unsigned) timeout_ms);

  do
    r = gnutls_handshake(t->session);
  while (r < 0 && !gnutls_error_is_fatal(r));
  if (r < 0) {
    p2v_warning("TLS handshake with client failed: %s", gnutls_strerror(r));
    goto fail;
  }
  if (p2v_log_verbosity() >= 2) {
    char *desc = gnutls_session_get_desc(t->session);
    p2v_debug("TLS session established: %s", desc ? desc : "?");
    gnutls_free(desc);
  }
  return &t->conn;

fail:
  gnutls_deinit(t->session);
  free(t);
  return NULL;
}
