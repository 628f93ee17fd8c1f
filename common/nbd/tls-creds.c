/* Loading TLS credentials (X.509 files, a psktool-style PSK file) once,
 * up front, with one clear error line for whatever is wrong.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "tls-internal.h"

/* Fail early with the OS's reason (GnuTLS would only say "error reading
 * file"). */
static int check_readable(const char *path, const char *what)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd == -1) {
    p2v_error("cannot read %s %s: %m", what, path);
    return -1;
  }
  close(fd);
  return 0;
}

static int hex_value(int ch)
{
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Parse "username:hexkey" into an entry.  0, or -1 if malformed. */
static int parse_psk_line(char *line, struct p2v_psk_entry *e)
{
  char *colon = strchr(line, ':');
  if (!colon || colon == line)
    return -1;
  *colon = '\0';
  const char *hex = colon + 1;
  size_t n = strlen(hex);
  if (n == 0 || n % 2 != 0 || n / 2 > P2V_PSK_MAX_KEY)
    return -1;
  unsigned char *key = malloc(n / 2);
  char *user = strdup(line);
  if (!key || !user) {
    free(key);
    free(user);
    return -1;
  }
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      free(key);
      free(user);
      return -1;
    }
    key[i] = (unsigned char) (hi << 4 | lo);
  }
  e->user = user;
  e->key = key;
  e->key_len = n / 2;
  return 0;
}

static int load_psk_file(struct p2v_tls *tls, const char *path)
{
  CLEANUP_FCLOSE FILE *fp = fopen(path, "re");
  if (!fp) {
    p2v_error("cannot read TLS PSK file %s: %m", path);
    return -1;
  }
  CLEANUP_FREE char *line = NULL;
  size_t size = 0;
  ssize_t len;
  unsigned lineno = 0;
  while ((len = getline(&line, &size, fp)) != -1) {
    lineno++;
    while (len > 0 && isspace((unsigned char) line[len - 1]))
      line[--len] = '\0';
    if (len == 0 || line[0] == '#')
      continue;
    if (tls->npsk == P2V_PSK_MAX_USERS) {
      p2v_error("cannot read TLS PSK file %s: more than %d users", path, P2V_PSK_MAX_USERS);
      return -1;
    }
    struct p2v_psk_entry *grown = realloc(tls->psk, (tls->npsk + 1) * sizeof *grown);
    if (!grown) {
      p2v_error("cannot read TLS PSK file %s: %m", path);
      return -1;
    }
    tls->psk = grown;
    if (parse_psk_line(line, &tls->psk[tls->npsk]) == -1) {
      p2v_error("cannot read TLS PSK file %s: line %u is not USERNAME:HEXKEY "
                "(as psktool writes)", path, lineno);
      return -1;
    }
    tls->npsk++;
  }
  if (ferror(fp)) {
    p2v_error("cannot read TLS PSK file %s: %m", path);
    return -1;
  }
  if (tls->npsk == 0) {
    p2v_error("cannot use TLS PSK file %s: it holds no keys", path);
    return -1;
  }
  return 0;
}

/* GnuTLS asks for the key of the user a client names. */
static int psk_lookup(gnutls_session_t session, const char *user, gnutls_datum_t *key)
{
  const struct p2v_tls *tls = gnutls_session_get_ptr(session);
  for (size_t i = 0; i < tls->npsk; i++) {
    if (strcmp(tls->psk[i].user, user) == 0) {
      key->data = gnutls_malloc(tls->psk[i].key_len);
      if (!key->data)
        return -1;
      memcpy(key->data, tls->psk[i].key, tls->psk[i].key_len);
      key->size = (unsigned) tls->psk[i].key_len;
      return 0;
    }
  }
  p2v_warning("TLS client named an unknown PSK user '%.64s'", user);
  return -1;
}

static int load_x509(struct p2v_tls *tls, const struct p2v_tls_options *o)
{
  int r;
  if (!o->key_file) {
    p2v_error("TLS certificate %s given without its private key", o->cert_file);
    return -1;
  }
  if (check_readable(o->cert_file, "TLS certificate") == -1 ||
      check_readable(o->key_file, "TLS private key") == -1 ||
      (o->ca_file && check_readable(o->ca_file, "TLS CA certificate") == -1))
    return -1;
  if ((r = gnutls_certificate_allocate_credentials(&tls->x509)) < 0) {
    p2v_error("cannot set up TLS: %s", gnutls_strerror(r));
    return -1;
  }
  r = gnutls_certificate_set_x509_key_file(tls->x509, o->cert_file, o->key_file,
                                           GNUTLS_X509_FMT_PEM);
  if (r < 0) {
    p2v_error("cannot load TLS certificate %s with key %s: %s",
              o->cert_file, o->key_file, gnutls_strerror(r));
    return -1;
  }
  if (o->ca_file) {
    r = gnutls_certificate_set_x509_trust_file(tls->x509, o->ca_file, GNUTLS_X509_FMT_PEM);
    if (r <= 0) {
      p2v_error("cannot load TLS CA certificate %s: %s", o->ca_file,
                r == 0 ? "no certificate in it" : gnutls_strerror(r));
      return -1;
    }
  }
  gnutls_certificate_set_known_dh_params(tls->x509, GNUTLS_SEC_PARAM_MEDIUM);
  return 0;
}

struct p2v_tls *p2v_tls_load(const struct p2v_tls_options *o)
{
  if (!o->cert_file && !o->psk_file) {
    p2v_error("TLS needs a certificate and key, or a PSK file");
    return NULL;
  }
  if (o->verify_peer && (!o->cert_file || !o->ca_file)) {
    p2v_error("verifying TLS clients needs a server certificate and a CA certificate");
    return NULL;
  }
  struct p2v_tls *tls = calloc(1, sizeof *tls);
  if (!tls) {
    p2v_error("cannot set up TLS: %m");
    return NULL;
  }
  tls->verify_peer = o->verify_peer;
  int r;
  if (o->cert_file && load_x509(tls, o) == -1)
    goto fail;
  if (o->psk_file) {
    if (load_psk_file(tls, o->psk_file) == -1)
      goto fail;
    if ((r = gnutls_psk_allocate_server_credentials(&tls->psk_cred)) < 0) {
      p2v_error("cannot set up TLS: %s", gnutls_strerror(r));
      goto fail;
    }
    gnutls_psk_set_server_credentials_function(tls->psk_cred, psk_lookup);
    gnutls_psk_set_server_known_dh_params(tls->psk_cred, GNUTLS_SEC_PARAM_MEDIUM);
  }
  /* TLS 1.2 and 1.3 only; the PSK key exchanges are not in NORMAL. */
  const char *err_pos = NULL;
  r = gnutls_priority_init(&tls->priority,
                           "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"
                           "+ECDHE-PSK:+DHE-PSK:+PSK", &err_pos);
  if (r < 0) {
    p2v_error("cannot set up TLS priorities: %s", gnutls_strerror(r));
    goto fail;
  }
  return tls;

fail:
  p2v_tls_free(tls);
  return NULL;
}

void p2v_tls_free(struct p2v_tls *tls)
{
  if (!tls)
    return;
  if (tls->x509)
    gnutls_certificate_free_credentials(tls->x509);
  if (tls->psk_cred)
    gnutls_psk_free_server_credentials(tls->psk_cred);
  if (tls->priority)
    gnutls_priority_deinit(tls->priority);
  for (size_t i = 0; i < tls->npsk; i++) {
    free(tls->psk[i].user);
    if (tls->psk[i].key)
      memset(tls->psk[i].key, 0, tls->psk[i].key_len);   /* do not leave keys about */
    free(tls->psk[i].key);
  }
  free(tls->psk);
  free(tls);
}
