/* The NBD server against a real client (libnbd): list, info, reads with
 * and without structured replies, hole chunks, block status, refused
 * writes, bad ranges, many clients at once, the client limit, the
 * p2v:survey and p2v:done exports, counters, and the dialer.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <libnbd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "nbd-server.h"
#include "test-nbd-memdisk.h"

#define CHECK(cond) do { if (!(cond)) { \
      fprintf(stderr, "%s:%d: check failed: %s (libnbd: %s)\n", __FILE__, __LINE__, \
              #cond, nbd_get_error() ? nbd_get_error() : "-"); exit(1); } } while (0)

static struct p2v_nbd_server server;
static volatile sig_atomic_t stop;
static int port;

/* The last message through the log, for the TLS rule. */
static char last_log[512];
static enum p2v_log_level last_level;
static void catch_log(enum p2v_log_level level, const char *message)
{
  last_level = level;
  snprintf(last_log, sizeof last_log, "%s", message);
}

/* p2v_net_require_tls: loopback always passes; elsewhere only a verified
 * peer, or insecure with a warning; a refusal is one error line. */
static void test_require_tls(void)
{
  p2v_log_set_sink(catch_log);
  last_log[0] = '\0';
  CHECK(p2v_net_require_tls("127.0.0.1:1", P2V_NET_CLEAR, NULL, "serve disks on", "fix") == 0);
  CHECK(p2v_net_require_tls("[::1]:1", P2V_NET_TLS_UNVERIFIED, NULL, "serve disks on", "fix") == 0);
  CHECK(!last_log[0]);
  CHECK(p2v_net_require_tls("192.0.2.1:1", P2V_NET_TLS_VERIFIED, NULL, "serve disks on", "x") == 0);
  CHECK(!last_log[0]);
  CHECK(p2v_net_require_tls("192.0.2.1:1", P2V_NET_CLEAR, NULL, "serve disks to", "add TLS") == -1);
  CHECK(last_level == P2V_LOG_ERROR &&
        !strcmp(last_log, "refusing to serve disks to 192.0.2.1:1 in clear text: add TLS"));
  CHECK(p2v_net_require_tls("0.0.0.0:1", P2V_NET_TLS_UNVERIFIED, NULL, "serve disks on", "f") == -1);
  CHECK(!strcmp(last_log, "refusing to serve disks on 0.0.0.0:1 without verifying the client: f"));
  CHECK(p2v_net_require_tls("192.0.2.1:1", P2V_NET_CLEAR, "--insecure", "a", "b") == 0);
  CHECK(last_level == P2V_LOG_WARNING &&
        !strcmp(last_log, "disks cross 192.0.2.1:1 in clear text (--insecure)"));
  CHECK(p2v_net_require_tls("192.0.2.1:1", P2V_NET_TLS_UNVERIFIED, "p2v.insecure=1", "a", "b") == 0);
  CHECK(last_level == P2V_LOG_WARNING &&
        !strcmp(last_log, "disks cross 192.0.2.1:1 to any TLS client, none verified (p2v.insecure=1)"));
  p2v_log_set_sink(NULL);
}

static void *listener_thread(void *arg)
{
  int fd = *(int *) arg;
  CHECK(p2v_nbd_serve_listener(&server, fd, &stop) == 0);
  return NULL;
}

static struct nbd_handle *open_handle(const char *export, bool structured)
{
  struct nbd_handle *h = nbd_create();
  CHECK(h);
  CHECK(nbd_set_export_name(h, export) == 0);
  CHECK(nbd_set_request_structured_replies(h, structured) == 0);
  if (structured)
    CHECK(nbd_add_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 0);
  return h;
}

static struct nbd_handle *connect_handle(const char *export, bool structured)
{
  struct nbd_handle *h = open_handle(export, structured);
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  CHECK(nbd_connect_tcp(h, "127.0.0.1", portstr) == 0);
  return h;
}

static void check_range(struct nbd_handle *h, uint64_t offset, size_t count, uint32_t flags)
{
  unsigned char *buf = malloc(count);
  CHECK(buf);
  memset(buf, 0xaa, count);
  CHECK(nbd_pread(h, buf, count, offset, flags) == 0);
  for (size_t i = 0; i < count; i++) {
    if (buf[i] != memdisk_expected(offset + i)) {
      fprintf(stderr, "byte %" PRIu64 ": got %u, want %u\n", offset + i, buf[i],
              memdisk_expected(offset + i));
      exit(1);
    }
  }
  free(buf);
}

/* ---- list and info ---- */

static int list_cb(void *opaque, const char *name, const char *description)
{
  char *out = opaque;
  strcat(out, name);
  strcat(out, "=");
  strcat(out, description);
  strcat(out, ";");
  return 0;
}

static void test_list_info(void)
{
  struct nbd_handle *h = open_handle("", true);
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  CHECK(nbd_set_opt_mode(h, true) == 0);
  CHECK(nbd_set_full_info(h, true) == 0);
  CHECK(nbd_connect_tcp(h, "127.0.0.1", portstr) == 0);
  char names[512] = "";
  CHECK(nbd_opt_list(h, (nbd_list_callback) { .callback = list_cb, .user_data = names }) == 4);
  CHECK(strncmp(names, "sda=test disk one;sdb=;p2v:survey=survey ", 41) == 0);
  CHECK(strstr(names, ";p2v:done=empty; ") != NULL);

  CHECK(nbd_set_export_name(h, "sdb") == 0);
  CHECK(nbd_opt_info(h) == 0);
  CHECK(nbd_get_size(h) == (int64_t) (64 * MIB));
  CHECK(nbd_is_read_only(h) == 1);
  CHECK(nbd_can_multi_conn(h) == 1);
  CHECK(nbd_can_flush(h) == 1);
  CHECK(nbd_can_trim(h) == 0);
  CHECK(nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM) == 32 * MIB);
  CHECK(nbd_get_block_size(h, LIBNBD_SIZE_PREFERRED) == 4096);

  CHECK(nbd_set_export_name(h, "") == 0);
  CHECK(nbd_opt_info(h) == 0);
  char *name = nbd_get_canonical_export_name(h);
  char *desc = nbd_get_export_description(h);
  CHECK(name && strcmp(name, "sda") == 0);
  CHECK(desc && strcmp(desc, "test disk one") == 0);
  free(name);
  free(desc);

  CHECK(nbd_set_export_name(h, "nosuch") == 0);
  CHECK(nbd_opt_info(h) == -1);

  CHECK(nbd_set_export_name(h, "sda") == 0);
  CHECK(nbd_opt_go(h) == 0);
  CHECK(nbd_can_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1);
  CHECK(nbd_can_df(h) == 1);
  nbd_close(h);

  /* Unknown export at GO: the connection fails. */
  h = open_handle("nosuch", true);
  snprintf(portstr, sizeof portstr, "%d", port);
  CHECK(nbd_connect_tcp(h, "127.0.0.1", portstr) == -1);
  nbd_close(h);
}

/* ---- reads ---- */

struct chunks { unsigned data, holes; uint64_t bytes; };

static int chunk_cb(void *opaque, const void *sub, size_t count, uint64_t offset,
                    unsigned status, int *error)
{
  struct chunks *c = opaque;
  const unsigned char *p = sub;
  if (status == LIBNBD_READ_HOLE)
    c->holes++;
  else if (status == LIBNBD_READ_DATA)
    c->data++;
  c->bytes += count;
  for (size_t i = 0; i < count; i++)
    CHECK(p[i] == memdisk_expected(offset + i));
  return 0;
}

static void test_reads(void)
{
  struct nbd_handle *h = connect_handle("sda", true);
  check_range(h, 0, 4096, 0);
  check_range(h, 12345, 1, 0);
  check_range(h, MIB - 100, 200, 0);               /* data into hole */
  check_range(h, 0, 8 * MIB, 0);                   /* many pieces and chunks */
  check_range(h, 39 * MIB, 3 * MIB, 0);            /* unused range */
  check_range(h, 0, 32 * MIB, 0);                  /* the largest request */
  check_range(h, 64 * MIB - 4096, 4096, 0);        /* the very end */

  /* Hole chunks: [1M,2M) source hole, [40M,41M) unused. */
  unsigned char *buf = malloc(4 * MIB);
  CHECK(buf);
  struct chunks c = { 0 };
  CHECK(nbd_pread_structured(h, buf, 2 * MIB, MIB / 2,
                             (nbd_chunk_callback) { .callback = chunk_cb, .user_data = &c },
                             0) == 0);
  CHECK(c.holes == 1 && c.data == 2 && c.bytes == 2 * MIB);
  memset(&c, 0, sizeof c);
  CHECK(nbd_pread_structured(h, buf, 2 * MIB, 39 * MIB + MIB / 2,
                             (nbd_chunk_callback) { .callback = chunk_cb, .user_data = &c },
                             0) == 0);
  CHECK(c.holes == 1 && c.data == 2);
  memset(&c, 0, sizeof c);                         /* small hole sent as data */
  CHECK(nbd_pread_structured(h, buf, 8192, 3 * MIB - 4096,
                             (nbd_chunk_callback) { .callback = chunk_cb, .user_data = &c },
                             0) == 0);
  CHECK(c.holes == 0 && c.data == 1);
  memset(&c, 0, sizeof c);                         /* DF: one chunk */
  CHECK(nbd_pread_structured(h, buf, 2 * MIB, MIB / 2,
                             (nbd_chunk_callback) { .callback = chunk_cb, .user_data = &c },
                             LIBNBD_CMD_FLAG_DF) == 0);
  CHECK(c.holes == 0 && c.data == 1);
  free(buf);
  nbd_close(h);

  /* Simple replies. */
  h = connect_handle("sdb", false);
  CHECK(nbd_get_structured_replies_negotiated(h) == 0);
  check_range(h, 0, 3 * MIB, 0);
  check_range(h, 39 * MIB, 3 * MIB, 0);
  check_range(h, 0, 32 * MIB, 0);
  nbd_close(h);
}

/* ---- block status ---- */

struct extents { uint32_t e[64]; size_t n; };

static int extent_cb(void *opaque, const char *context, uint64_t offset,
                     uint32_t *entries, size_t nr, int *error)
{
  struct extents *x = opaque;
  CHECK(strcmp(context, LIBNBD_CONTEXT_BASE_ALLOCATION) == 0);
  for (size_t i = 0; i < nr && x->n < 64; i++)
    x->e[x->n++] = entries[i];
  return 0;
}

static void test_block_status(void)
{
  struct nbd_handle *h = connect_handle("sda", true);
  struct extents x = { .n = 0 };
  CHECK(nbd_block_status(h, 64 * MIB, 0,
                         (nbd_extent_callback) { .callback = extent_cb, .user_data = &x },
                         0) == 0);
  const uint32_t want[] = {
    1 * MIB, 0,  1 * MIB, 3,  1 * MIB, 0,  1024, 3,  37 * MIB - 1024, 0,
    1 * MIB, 3,  19 * MIB, 0,  4 * MIB, 3,
  };
  CHECK(x.n == sizeof want / sizeof want[0]);
  for (size_t i = 0; i < x.n; i++)
    CHECK(x.e[i] == want[i]);

  x.n = 0;
  CHECK(nbd_block_status(h, 8 * MIB, MIB / 2,
                         (nbd_extent_callback) { .callback = extent_cb, .user_data = &x },
                         LIBNBD_CMD_FLAG_REQ_ONE) == 0);
  CHECK(x.n == 2 && x.e[0] == MIB / 2 && x.e[1] == 0);
  nbd_close(h);
}

/* ---- what the server must refuse ---- */

static void test_refusals(void)
{
  struct nbd_handle *h = open_handle("sda", true);
  CHECK(nbd_set_strict_mode(h, 0) == 0);           /* let libnbd send bad requests */
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  CHECK(nbd_connect_tcp(h, "127.0.0.1", portstr) == 0);

  char buf[65536] = { 1 };
  CHECK(nbd_pwrite(h, buf, sizeof buf, 0, 0) == -1);
  CHECK(nbd_get_errno() == EPERM);
  CHECK(nbd_trim(h, 4096, 0, 0) == -1 && nbd_get_errno() == EPERM);
  CHECK(nbd_zero(h, 4096, 0, 0) == -1 && nbd_get_errno() == EPERM);
  CHECK(nbd_pread(h, buf, 512, 64 * MIB, 0) == -1 && nbd_get_errno() == EINVAL);
  CHECK(nbd_pread(h, buf, 512, 64 * MIB - 256, 0) == -1 && nbd_get_errno() == EINVAL);
  CHECK(nbd_pread(h, buf, 512, UINT64_MAX - 100, 0) == -1 && nbd_get_errno() == EINVAL);
  CHECK(nbd_flush(h, 0) == 0);
  /* Still in step after all that. */
  check_range(h, 5 * MIB, 1000, 0);
  nbd_close(h);
}

/* ---- p2v:survey and p2v:done ---- */

static const char survey_text[] = "{\"schema_version\": 1, \"hostname\": \"test\"}\n";
static struct p2v_nbd_counters counters;
static _Atomic uint64_t bytes_served[2];

/* The server marks done after its reply went out: give it a moment. */
static bool wait_done(void)
{
  for (int i = 0; i < 100 && !atomic_load(&counters.converter_done); i++)
    usleep(10 * 1000);
  return atomic_load(&counters.converter_done);
}

static void test_survey_done(void)
{
  struct nbd_handle *h = connect_handle(P2V_EXPORT_SURVEY, true);
  CHECK(nbd_get_size(h) == (int64_t) strlen(survey_text));
  CHECK(nbd_is_read_only(h) == 1);
  char buf[sizeof survey_text] = "";
  CHECK(nbd_pread(h, buf, strlen(survey_text), 0, 0) == 0);
  CHECK(memcmp(buf, survey_text, strlen(survey_text)) == 0);
  CHECK(nbd_pread(h, buf, 10, 5, 0) == 0 && memcmp(buf, survey_text + 5, 10) == 0);
  CHECK(nbd_pread(h, buf, 2, strlen(survey_text) - 1, 0) == -1);   /* past the end */
  struct extents x = { .n = 0 };
  CHECK(nbd_block_status(h, strlen(survey_text), 0,
                         (nbd_extent_callback) { .callback = extent_cb, .user_data = &x },
                         0) == 0);
  CHECK(x.n == 2 && x.e[0] == strlen(survey_text) && x.e[1] == 0);   /* all data */
  nbd_close(h);
  CHECK(!atomic_load(&counters.converter_done));

  /* INFO alone on p2v:done says nothing yet. */
  h = open_handle("", true);
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  CHECK(nbd_set_opt_mode(h, true) == 0);
  CHECK(nbd_connect_tcp(h, "127.0.0.1", portstr) == 0);
  CHECK(nbd_set_export_name(h, P2V_EXPORT_DONE) == 0);
  CHECK(nbd_opt_info(h) == 0);
  CHECK(nbd_get_size(h) == 0);
  CHECK(!atomic_load(&counters.converter_done));
  CHECK(nbd_opt_go(h) == 0);                       /* INFO then GO: done */
  CHECK(nbd_pread(h, buf, 1, 0, 0) == -1);         /* empty */
  CHECK(nbd_flush(h, 0) == 0);
  nbd_close(h);
  CHECK(wait_done());
  atomic_store(&counters.converter_done, false);

  /* Plain GO, without structured replies. */
  h = connect_handle(P2V_EXPORT_DONE, false);
  nbd_close(h);
  CHECK(wait_done());
  atomic_store(&counters.converter_done, false);

  /* Disk bytes are counted, data and holes alike. */
  uint64_t before = atomic_load(&bytes_served[1]);
  h = connect_handle("sdb", true);
  check_range(h, 0, 3 * MIB, 0);
  nbd_close(h);
  CHECK(atomic_load(&bytes_served[1]) - before == 3 * MIB);
}

/* ---- the dialer: this side dials, a libnbd client on the accepted socket ---- */

struct dialer_arg {
  struct p2v_nbd_server *server;
  char address[64];
  unsigned connections;
  volatile sig_atomic_t stop;
  int result;
};

static void *dialer_thread(void *arg)
{
  struct dialer_arg *a = arg;
  a->result = p2v_nbd_serve_dialer(a->server, a->address, a->connections, &a->stop);
  return NULL;
}

static struct nbd_handle *accept_handle(int lfd, const char *export)
{
  int fd = accept(lfd, NULL, NULL);
  CHECK(fd >= 0);
  struct nbd_handle *h = open_handle(export, true);
  CHECK(nbd_connect_socket(h, fd) == 0);
  return h;
}

/* A dialled session in opt mode: the description of p2v:done, which
 * carries the session (docs/dial-in.md). */
static char *accept_description(int lfd, bool busy)
{
  int fd = accept(lfd, NULL, NULL);
  CHECK(fd >= 0);
  struct nbd_handle *h = nbd_create();
  CHECK(h && nbd_set_opt_mode(h, true) == 0 && nbd_set_full_info(h, true) == 0);
  CHECK(nbd_connect_socket(h, fd) == 0);
  CHECK(nbd_set_export_name(h, P2V_EXPORT_DONE) == 0);
  CHECK(nbd_opt_info(h) == 0);
  char *desc = nbd_get_export_description(h);
  CHECK(desc);
  /* The reserved "busy" name is no export: an error reply, then the
   * source hangs up (and backs off 10 s before it dials again). */
  if (busy) {
    CHECK(nbd_set_export_name(h, P2V_EXPORT_BUSY) == 0);
    CHECK(nbd_opt_info(h) == -1);
    CHECK(nbd_set_export_name(h, P2V_EXPORT_DONE) == 0);
    CHECK(nbd_opt_info(h) == -1);
  }
  nbd_close(h);
  return desc;
}

static void test_session_parse(void)
{
  char token[P2V_SESSION_HEX + 1];
  unsigned n = 99;
  const char *hex = "0123456789abcdef0123456789abcdef";
  char text[200];
  snprintf(text, sizeof text, "p2v-session=%s", hex);
  CHECK(p2v_nbd_session_parse(text, token, &n) == 0 && strcmp(token, hex) == 0 && n == 0);
  snprintf(text, sizeof text, "p2v-session=%s connections=4; disk image, 1 GiB", hex);
  CHECK(p2v_nbd_session_parse(text, token, &n) == 0 && strcmp(token, hex) == 0 && n == 4);
  snprintf(text, sizeof text, "p2v-session=%s; empty", hex);
  CHECK(p2v_nbd_session_parse(text, token, &n) == 0 && n == 0);
  static const char *const bad[] = {
    "", "disk image, 1 GiB", "p2v-session=", "p2v-session=0123456789abcdef",
    "p2v-session=0123456789ABCDEF0123456789abcdef",          /* upper case */
    "p2v-session=0123456789abcdef0123456789abcdeg",          /* not hex */
    "p2v-session=0123456789abcdef0123456789abcdef0",         /* too long */
    "p2v-session=0123456789abcdef0123456789abcdef connections=",
    "p2v-session=0123456789abcdef0123456789abcdef connections=04",
    "p2v-session=0123456789abcdef0123456789abcdef connections=1001",
    "p2v-session=0123456789abcdef0123456789abcdef connections=99999999999",
    "p2v-session=0123456789abcdef0123456789abcdef connections=4x",
    "p2v-session=0123456789abcdef0123456789abcdef;empty",
    " p2v-session=0123456789abcdef0123456789abcdef",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK(p2v_nbd_session_parse(bad[i], token, &n) == -1);
  CHECK(p2v_nbd_session_parse(NULL, token, &n) == -1);

  /* Made by the server: 32 lowercase hex digits, different each time. */
  struct p2v_nbd_server s1 = { 0 }, s2 = { 0 };
  CHECK(p2v_nbd_session_init(&s1) == 0 && p2v_nbd_session_init(&s2) == 0);
  CHECK(strlen(s1.session) == P2V_SESSION_HEX && strcmp(s1.session, s2.session) != 0);
  snprintf(text, sizeof text, "p2v-session=%s", s1.session);
  CHECK(p2v_nbd_session_parse(text, token, &n) == 0);
}

static void test_dialer(void)
{
  int lfd = p2v_net_listen("127.0.0.1:0");
  CHECK(lfd >= 0);
  struct dialer_arg a = { .server = &server, .connections = 3 };
  CHECK(p2v_net_local_address(lfd, a.address, sizeof a.address) == 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, dialer_thread, &a) == 0);

  /* Three sessions wait; two used at once, then more than three in all
   * (the dialer dials again as sessions end). */
  struct nbd_handle *h1 = accept_handle(lfd, "sda");
  struct nbd_handle *h2 = accept_handle(lfd, P2V_EXPORT_SURVEY);
  /* Every session announces the same token, and how many it keeps. */
  char *d1 = accept_description(lfd, false), *d2 = accept_description(lfd, false);
  char t1[P2V_SESSION_HEX + 1], t2[P2V_SESSION_HEX + 1];
  unsigned n1, n2;
  CHECK(p2v_nbd_session_parse(d1, t1, &n1) == 0 && n1 == 3);
  CHECK(p2v_nbd_session_parse(d2, t2, &n2) == 0 && n2 == 3 && strcmp(t1, t2) == 0);
  CHECK(strstr(d1, "; empty; opening it") != NULL);
  free(d1);
  free(d2);
  check_range(h1, 0, MIB, 0);
  char buf[sizeof survey_text] = "";
  CHECK(nbd_pread(h2, buf, strlen(survey_text), 0, 0) == 0);
  CHECK(memcmp(buf, survey_text, strlen(survey_text)) == 0);
  nbd_close(h1);
  nbd_close(h2);
  for (int i = 0; i < 4; i++) {
    struct nbd_handle *h = accept_handle(lfd, "sdb");
    check_range(h, 39 * MIB, 2 * MIB, 0);
    nbd_close(h);
  }
  /* A session left waiting in the accept queue long past the handshake
   * limits would still work; here: done ends the dialer with 0, and the
   * unused sessions go. */
  free(accept_description(lfd, true));
  struct nbd_handle *done = accept_handle(lfd, P2V_EXPORT_DONE);
  nbd_close(done);
  pthread_join(t, NULL);
  CHECK(a.result == 0);
  close(lfd);

  /* Nobody listening: the dialer retries until stopped, then says -1. */
  lfd = p2v_net_listen("127.0.0.1:0");
  CHECK(lfd >= 0);
  CHECK(p2v_net_local_address(lfd, a.address, sizeof a.address) == 0);
  close(lfd);
  a.stop = 0;
  CHECK(pthread_create(&t, NULL, dialer_thread, &a) == 0);
  usleep(1500 * 1000);
  a.stop = 1;
  pthread_join(t, NULL);
  CHECK(a.result == -1);

  /* A disk named like a reserved export is refused before any dial. */
  struct p2v_disk *bad = memdisk_new("p2v:evil", NULL);
  struct p2v_nbd_server bad_server = { .disks = &bad, .ndisks = 1 };
  a.server = &bad_server;
  a.stop = 0;
  CHECK(pthread_create(&t, NULL, dialer_thread, &a) == 0);
  pthread_join(t, NULL);
  CHECK(a.result == -1);
  p2v_disk_close(bad);
}

/* ---- many clients ---- */

static void *reader_thread(void *arg)
{
  struct nbd_handle *h = arg;
  for (int i = 0; i < 8; i++)
    check_range(h, (uint64_t) i * 7 * MIB, 512 * 1024, 0);
  return NULL;
}

static void test_many_clients(void)
{
  struct nbd_handle *h[16];
  pthread_t t[16];
  for (int i = 0; i < 16; i++)
    h[i] = connect_handle(i % 2 ? "sda" : "sdb", i % 3 != 0);
  /* All 16 slots busy: one more is turned away. */
  struct nbd_handle *extra = open_handle("sda", true);
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  CHECK(nbd_connect_tcp(extra, "127.0.0.1", portstr) == -1);
  nbd_close(extra);

  for (int i = 0; i < 16; i++)
    CHECK(pthread_create(&t[i], NULL, reader_thread, h[i]) == 0);
  for (int i = 0; i < 16; i++) {
    pthread_join(t[i], NULL);
    nbd_close(h[i]);
  }
}

int main(int argc, char **argv)
{
  p2v_log_init(argv[0]);
  if (getenv("P2V_DEBUG"))
    p2v_log_set_verbosity(2);

  struct p2v_disk *disks[2] = { memdisk_new("sda", "test disk one"), memdisk_new("sdb", NULL) };
  server.disks = disks;
  server.ndisks = 2;
  server.tls_mode = P2V_TLS_OFF;
  server.survey_json = survey_text;
  server.survey_len = strlen(survey_text);
  counters.bytes_served = bytes_served;
  server.counters = &counters;

  int lfd = p2v_net_listen("127.0.0.1:0");
  CHECK(lfd >= 0);
  struct sockaddr_in sin;
  socklen_t sl = sizeof sin;
  CHECK(getsockname(lfd, (struct sockaddr *) &sin, &sl) == 0);
  port = ntohs(sin.sin_port);

  pthread_t lt;
  CHECK(pthread_create(&lt, NULL, listener_thread, &lfd) == 0);

  test_session_parse();
  test_list_info();
  test_reads();
  test_block_status();
  test_refusals();
  test_survey_done();
  /* Let the earlier clients' threads finish before counting slots. */
  usleep(200 * 1000);
  test_many_clients();

  /* A connection that says nothing must not stop the listener stopping. */
  int idle = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(connect(idle, (struct sockaddr *) &sin, sizeof sin) == 0);
  usleep(100 * 1000);
  stop = 1;
  pthread_join(lt, NULL);
  close(idle);
  close(lfd);

  test_dialer();

  CHECK(p2v_net_is_loopback("127.0.0.1:10809"));
  CHECK(p2v_net_is_loopback(":10809"));
  CHECK(p2v_net_is_loopback("[::1]:10809"));
  CHECK(!p2v_net_is_loopback("0.0.0.0:10809"));
  CHECK(!p2v_net_is_loopback("192.168.1.1:10809"));
  test_require_tls();

  p2v_disk_close(disks[0]);
  p2v_disk_close(disks[1]);
  printf("PASS: test-nbd-server\n");
  return 0;
}
