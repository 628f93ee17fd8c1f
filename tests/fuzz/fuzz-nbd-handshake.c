/* Fuzz the whole NBD server: the input is everything a client sends
 * (handshake, options, requests), fed over a socketpair to
 * p2v_nbd_serve_connection serving made-up disks, a survey (p2v:survey)
 * and p2v:done, while the replies are read and thrown away.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "nbd-server.h"
#include "../unit/test-nbd-memdisk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct p2v_nbd_server server;

struct serve_arg { int fd; };

static void *serve_thread(void *arg)
{
  p2v_nbd_serve_connection(&server, ((struct serve_arg *) arg)->fd);
  return NULL;
}

static void quiet(enum p2v_log_level level, const char *message) { }

static void setup(void)
{
  static struct p2v_disk *disks[2];
  p2v_log_set_sink(quiet);
  disks[0] = memdisk_new("sda", "fuzz disk");
  disks[1] = memdisk_new("sdb", NULL);
  /* Small, so that reads stay quick; still has a hole and unused space. */
  disks[0]->size = 4 * MIB;
  disks[1]->size = 41 * MIB;
  server.disks = disks;
  server.ndisks = 2;
  server.tls_mode = P2V_TLS_OFF;
  static const char survey[] = "{\"schema_version\": 1}\n";
  static _Atomic uint64_t bytes_served[2];
  static struct p2v_nbd_counters counters = { .bytes_served = bytes_served };
  server.survey_json = survey;
  server.survey_len = sizeof survey - 1;
  server.counters = &counters;
  /* Fixed, so that runs repeat; descriptions carry it (docs/dial-in.md). */
  memcpy(server.session, "0123456789abcdef0123456789abcdef", P2V_SESSION_HEX + 1);
  server.session_connections = 4;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static bool ready;
  if (!ready) {
    setup();
    ready = true;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
    abort();
  struct serve_arg arg = { sv[0] };
  pthread_t t;
  if (pthread_create(&t, NULL, serve_thread, &arg) != 0)
    abort();

  /* Write the input and read the replies together, so neither side can
   * block the other on a full socket buffer. */
  fcntl(sv[1], F_SETFL, O_NONBLOCK);
  size_t sent = 0;
  bool write_open = true;
  static unsigned char sink[65536];
  for (;;) {
    if (write_open && sent == size) {
      shutdown(sv[1], SHUT_WR);          /* end of input: the server sees EOF */
      write_open = false;
    }
    struct pollfd pfd = { .fd = sv[1], .events = POLLIN | (write_open ? POLLOUT : 0) };
    if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
      abort();
    if (pfd.revents & POLLOUT) {
      ssize_t n = send(sv[1], data + sent, size - sent, MSG_NOSIGNAL);
      if (n > 0)
        sent += (size_t) n;
      else if (n == -1 && errno != EAGAIN)
        write_open = false;              /* server hung up early */
    }
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = recv(sv[1], sink, sizeof sink, 0);
      if (n == 0 || (n == -1 && errno != EAGAIN))
        break;
    }
  }
  close(sv[1]);
  pthread_join(t, NULL);
  return 0;
}
