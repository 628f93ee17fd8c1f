/* Private to the GnuTLS code in common/nbd: loaded credentials.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_TLS_INTERNAL_H
#define P2V_TLS_INTERNAL_H

#include <gnutls/gnutls.h>

#include "nbd-server.h"

#define P2V_PSK_MAX_USERS 1024
#define P2V_PSK_MAX_KEY   256        /* bytes */

struct p2v_psk_entry {
  char *user;
  unsigned char *key;
  size_t key_len;
};

struct p2v_tls {
  gnutls_certificate_credentials_t x509;       /* NULL: no certificate */
  gnutls_psk_server_credentials_t psk_cred;    /* NULL: no PSK */
  struct p2v_psk_entry *psk;
  size_t npsk;
  gnutls_priority_t priority;
  bool verify_peer;
};

#endif
