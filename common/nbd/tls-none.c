/* TLS where the build has none: the Windows agent until its SChannel
 * transport exists (issue 13).  Loading credentials fails with one line,
 * so the agent refuses any --tls option, and with no credentials a client's
 * NBD_OPT_STARTTLS is answered NBD_REP_ERR_POLICY by the handshake.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stddef.h>

#include "conn.h"
#include "log.h"
#include "nbd-server.h"

struct p2v_tls *p2v_tls_load(const struct p2v_tls_options *options)
{
  p2v_error("TLS is not available in this build (the Windows agent has no TLS yet: "
            "SChannel is to come); serve on 127.0.0.1, or with --insecure on a trusted network");
  return NULL;
}

void p2v_tls_free(struct p2v_tls *tls) { }

struct p2v_conn *p2v_conn_tls_new(struct p2v_tls *tls, struct p2v_conn *conn, int timeout_ms)
{
  p2v_warning("TLS is not available in this build; refusing STARTTLS");
  return NULL;
}
