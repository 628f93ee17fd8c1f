/* source/: what the copy reads from, always read-only: an NBD export
 * (libnbd, nbd-source.c) and the disks of a source that dials in
 * (dialin.c, docs/dial-in.md).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_SOURCE_H
#define P2V_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/image.h"

/* Why opening a source failed, so the command can pick its exit code. */
enum p2v_open_failure {
  P2V_OPEN_FAILED,         /* anything else */
  P2V_OPEN_UNREACHABLE,    /* no server there (refused, unreachable, no socket) */
  P2V_OPEN_NO_EXPORT,      /* the server has no export of that name */
  P2V_OPEN_TLS,            /* TLS required, refused, or its handshake failed */
};

/* Connect to an NBD URI (nbd://, nbds://, nbd+unix://, nbds+unix://; libnbd's
 * query parameters such as tls-psk-file) asking for base:allocation.
 * Read-only: the image has no pwrite or zero.  NULL with one error
 * reported and *why set. */
struct p2v_image *p2v_nbd_open(const char *uri, enum p2v_open_failure *why);

/* Dial-in (docs/dial-in.md): the converter listens, the source's agent or
 * live image dials in and serves NBD on each connection it opens. */
struct p2v_dialin;
struct p2v_dialin_options {
  const char *address;     /* "ADDR:PORT" to listen on */
  unsigned wait_seconds;   /* for the first connection; 0: forever */
  /* TLS, as the converter (the NBD client) does it over the dialled
   * socket; all NULL: plain. */
  const char *tls_psk_file;
  const char *tls_certificates;   /* directory with ca-cert.pem, client-cert.pem, client-key.pem */
};
/* Listen and wait for the first connection; NULL with one error reported
 * and *why set (P2V_OPEN_UNREACHABLE: nobody dialled in time).  The handle
 * keeps o: it must outlive the handle. */
struct p2v_dialin *p2v_dialin_listen(const struct p2v_dialin_options *o,
                                     enum p2v_open_failure *why);
/* The "ADDR:PORT" it listens on (the port the kernel picked for ":0"). */
const char *p2v_dialin_address(const struct p2v_dialin *d);
/* The disk exports offered (never the "p2v:" ones), in the order served. */
size_t p2v_dialin_exports(struct p2v_dialin *d, const char *const **names);
/* The survey JSON the source sent (bounded by P2V_SURVEY_MAX_JSON_BYTES),
 * NUL-terminated, owned by d; NULL if it offers none. */
const char *p2v_dialin_survey(struct p2v_dialin *d, size_t *len);
/* How many connections the source keeps open (the most seen waiting at
 * once): the copy should not ask for more. */
unsigned p2v_dialin_connections(struct p2v_dialin *d);
/* A source image of one export; its reopen accepts another dialled
 * connection.  NULL with one error reported and *why set. */
struct p2v_image *p2v_dialin_open(struct p2v_dialin *d, const char *export_name,
                                  enum p2v_open_failure *why);
/* Tell the source everything is copied (it opens P2V_EXPORT_DONE); 0 or -1 reported. */
int p2v_dialin_done(struct p2v_dialin *d);
/* Close the listener; images opened from d must be closed first. */
void p2v_dialin_close(struct p2v_dialin *d);

/* nbd-source.c: one source image over a libnbd handle, whatever made it. */
struct nbd_handle;
/* Another handle on the same export (for reopen): name is the URI or
 * export name given to nbd_source_new.  NULL with the error reported. */
typedef struct nbd_handle *(*nbd_reconnect_fn)(void *opaque, const char *name,
                                               enum p2v_open_failure *why);
/* Wrap a handle that is in transmission (base:allocation asked for) as a
 * source image; takes nbd (closed on failure).  reconnect NULL: no
 * reopen.  NULL with the error reported. */
struct p2v_image *nbd_source_new(struct nbd_handle *nbd, const char *name,
                                 nbd_reconnect_fn reconnect, void *opaque);
/* libnbd's last error without its "nbd_connect_uri: " style prefix. */
const char *p2v_nbd_message(void);
/* The deadline of every connect and handshake (--connect-timeout), set
 * once before the first: 0 waits for ever (the default). */
void p2v_nbd_set_connect_timeout(unsigned seconds);
/* The monotonic time a handshake starting now must end by; 0: none. */
double p2v_nbd_handshake_deadline(void);
/* Connect h (set up by the caller; in opt mode it stops at the option
 * phase) to uri, asynchronously, by deadline (0: none).  0, or -1 with
 * one error reported (naming the stalled step on timeout: the greeting,
 * the handshake, the export's opening) and *why set. */
int p2v_nbd_connect(struct nbd_handle *h, const char *uri, double deadline,
                    enum p2v_open_failure *why);
/* Run h's handshake (a connect, or an option started with nbd_aio_opt_*)
 * until it is done or deadline passes.  0, or -1 reported, *why set. */
int p2v_nbd_handshake_wait(struct nbd_handle *h, const char *uri, double deadline,
                           enum p2v_open_failure *why);

#endif
