/* The source disks served again, read-only, on a private Unix socket, for
 * qemu: libguestfs's appliance and qemu-img read the source through our
 * own NBD client, so whatever reaches the source (TLS with a key only we
 * hold, a dial-in connection qemu cannot make) works the same, and qemu
 * never needs the network.  The server is common/nbd's, over disks whose
 * source is a p2v_image (a small pool of its connections).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "nbd-server.h"
#include "run/run.h"

#define POOL 4                   /* connections per disk for qemu's reads */

struct image_pool {
  struct run_disk *disk;
  pthread_mutex_t lock;
  pthread_cond_t freed;
  struct p2v_image *images[POOL];   /* [0] is disk->source, borrowed */
  bool busy[POOL];
  size_t n, max;
};

struct run_server {
  struct p2v_nbd_server nbd;
  struct p2v_disk *disks;
  struct p2v_disk **disk_ptrs;
  struct image_pool *pools;
  size_t ndisks;
  int listen_fd;
  char *socket_path;
  pthread_t thread;
  bool running;
  volatile sig_atomic_t stop;
};

static struct p2v_image *take(struct image_pool *p, size_t *slot)
{
  pthread_mutex_lock(&p->lock);
  for (;;) {
    for (size_t i = 0; i < p->n; i++)
      if (!p->busy[i]) {
        p->busy[i] = true;
        *slot = i;
        pthread_mutex_unlock(&p->lock);
        return p->images[i];
      }
    if (p->n < p->max && p->images[0]->can_multi_conn && p->images[0]->ops->reopen) {
      struct p2v_image *img = p->images[0]->ops->reopen(p->images[0]);
      if (img) {
        *slot = p->n;
        p->images[p->n] = img;
        p->busy[p->n++] = true;
        pthread_mutex_unlock(&p->lock);
        return img;
      }
      p2v_warning("%s: serving qemu on fewer connections", p->disk->label);
      p->images[0]->can_multi_conn = false;
    }
    pthread_cond_wait(&p->freed, &p->lock);
  }
}

static void give_back(struct image_pool *p, size_t slot)
{
  pthread_mutex_lock(&p->lock);
  p->busy[slot] = false;
  pthread_cond_signal(&p->freed);
  pthread_mutex_unlock(&p->lock);
}

static int pool_pread(void *handle, void *buf, size_t count, uint64_t offset)
{
  struct image_pool *p = handle;
  size_t slot;
  struct p2v_image *img = take(p, &slot);
  int r = img->ops->pread(img, buf, count, offset);
  give_back(p, slot);
  return r;
}

static int pool_extents(void *handle, uint64_t offset, uint64_t count,
                        p2v_extent_fn fn, void *opaque)
{
  struct image_pool *p = handle;
  size_t slot;
  struct p2v_image *img = take(p, &slot);
  int r = img->ops->extents ? img->ops->extents(img, offset, count, fn, opaque)
                            : fn(opaque, offset, count, false);
  give_back(p, slot);
  return r;
}

static void pool_close(void *handle)
{
  (void) handle;                 /* run_serve_stop frees the pools */
}

static const struct p2v_disk_source_ops pool_ops = {
  .kind = "NBD source",
  .pread = pool_pread,
  .extents = pool_extents,
  .close = pool_close,
};

static void *serve_thread(void *arg)
{
  struct run_server *s = arg;
  p2v_nbd_serve_listener(&s->nbd, s->listen_fd, &s->stop);
  return NULL;
}

static int listen_unix(const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof sa.sun_path) {
    p2v_error("socket path %s is too long", path);
    return -1;
  }
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1 || bind(fd, (struct sockaddr *) &sa, sizeof sa) == -1 || listen(fd, 16) == -1) {
    p2v_error("cannot listen on %s: %m", path);
    if (fd >= 0)
      close(fd);
    return -1;
  }
  return fd;
}

int run_serve_start(struct run *run)
{
  CLEANUP_FREE char *base = NULL;
  struct run_server *s = calloc(1, sizeof *s);
  if (!s)
    goto nomem;
  run->server = s;
  s->listen_fd = -1;
  s->ndisks = run->ndisks;
  s->disks = calloc(run->ndisks, sizeof *s->disks);
  s->disk_ptrs = calloc(run->ndisks, sizeof *s->disk_ptrs);
  s->pools = calloc(run->ndisks, sizeof *s->pools);
  if (!s->disks || !s->disk_ptrs || !s->pools ||
      asprintf(&s->socket_path, "%s/source.sock", run->socket_dir) == -1)
    goto nomem;

  if (asprintf(&base, "nbd+unix:///?socket=%s", s->socket_path) == -1)
    goto nomem;
  for (size_t i = 0; i < run->ndisks; i++) {
    struct run_disk *d = &run->disks[i];
    struct image_pool *p = &s->pools[i];
    p->disk = d;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    p->images[0] = d->source;
    p->n = 1;
    /* A dialled-in source keeps only a few connections open: the copy needs them. */
    p->max = run->dialin ? 1 : POOL;
    struct p2v_disk *disk = &s->disks[i];
    disk->ops = &pool_ops;
    disk->handle = p;
    disk->path = d->export_name;
    disk->export_name = d->export_name;
    disk->size = d->size;
    disk->block_size = 512;
    disk->unused = (struct p2v_extent_list) P2V_EXTENT_LIST_INIT;
    s->disk_ptrs[i] = disk;
    d->local_uri = run_export_uri(base, d->export_name);
    if (!d->local_uri)
      goto nomem;
  }
  s->nbd = (struct p2v_nbd_server) {
    .disks = s->disk_ptrs, .ndisks = s->ndisks, .tls_mode = P2V_TLS_OFF, .max_clients = 64,
  };
  s->listen_fd = listen_unix(s->socket_path);
  if (s->listen_fd == -1)
    return -1;
  /* Its threads never take SIGINT/SIGTERM: the copy engine waits for
   * them with sigwait, which needs them blocked everywhere. */
  sigset_t stop_signals, old_mask;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);
  int err = pthread_create(&s->thread, NULL, serve_thread, s);
  pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
  if (err) {
    errno = err;
    p2v_error("cannot start the local NBD server: %m");
    return -1;
  }
  s->running = true;
  return 0;

nomem:
  p2v_error("out of memory");
  return -1;
}

void run_serve_stop(struct run *run)
{
  struct run_server *s = run->server;
  if (!s)
    return;
  if (s->running) {
    s->stop = 1;
    pthread_join(s->thread, NULL);
  }
  if (s->listen_fd >= 0)
    close(s->listen_fd);
  if (s->socket_path)
    unlink(s->socket_path);
  for (size_t i = 0; s->pools && i < s->ndisks; i++) {
    struct image_pool *p = &s->pools[i];
    for (size_t j = 1; j < p->n; j++)
      p->images[j]->ops->close(p->images[j]);
    if (p->n) {
      pthread_mutex_destroy(&p->lock);
      pthread_cond_destroy(&p->freed);
    }
  }
  free(s->pools);
  free(s->disks);
  free(s->disk_ptrs);
  free(s->socket_path);
  free(s);
  run->server = NULL;
}
