/* write-image: write a raw reference file through one of the image sinks,
 * the way the copy engine would, so shell tests can check each writer
 * against qemu-img without an NBD server in the loop.
 *
 *   write-image FORMAT OUTPUT REFERENCE.raw [--threads N] [--shuffle]
 *               [--seed N] [--compress] [--cluster-size N]
 *               [--request-size N] [--adapter-type TYPE]
 *               [--l2-cache BYTES] [--no-finish]
 *
 * FORMAT is raw, qcow2, vmdk or vmdk-stream.  Every byte of the disk is
 * covered exactly once: the reference's data ranges (SEEK_DATA/SEEK_HOLE,
 * widened to the sink's alignment) are cut into requests of --request-size
 * bytes (default 1 MiB, rounded up to the alignment); inside a request,
 * runs of all-zero alignment units go to zero() and the rest to pwrite();
 * holes go to zero().  --shuffle issues the requests in a random order
 * (seeded, the seed is printed); --threads N issues them from N threads.
 * --l2-cache sets the qcow2 writer's in-memory L2 limit (tiny values
 * exercise its early table writes); --no-finish stops before finish(), as
 * a crash would.  Exit status 0 only if every call and finish() succeeded.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "image/image.h"
#include "is-zero.h"
#include "log.h"

typedef struct p2v_image *(*create_fn)(const char *, const struct p2v_sink_options *);

static create_fn find_writer(const char *format)
{
  if (strcmp(format, "qcow2") == 0) return p2v_qcow2_create;
  if (strcmp(format, "raw") == 0) return p2v_raw_create;
  if (strcmp(format, "vmdk") == 0) return p2v_vmdk_create;
  if (strcmp(format, "vmdk-stream") == 0) return p2v_vmdk_stream_create;
  return NULL;
}

/* One request: a range that is either read and written or zeroed. */
struct request {
  uint64_t offset, length;
  bool hole;
};

struct job {
  struct p2v_image *img;
  int fd;                            /* the reference */
  const char *reference;
  uint32_t alignment;
  size_t request_size;
  struct request *requests;
  size_t nrequests;
  atomic_size_t next;                /* index of the next request to take */
  atomic_bool failed;
  atomic_uint_fast64_t bytes_written, bytes_zeroed;
};

static int read_full(int fd, void *buf, size_t count, uint64_t offset)
{
  unsigned char *p = buf;
  while (count > 0) {
    ssize_t r = pread(fd, p, count, (off_t) offset);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r == 0) errno = EIO;
      return -1;
    }
    p += r; count -= (size_t) r; offset += (uint64_t) r;
  }
  return 0;
}

/* Data request: zero() for runs of all-zero alignment units, pwrite() for
 * the rest, each run as one call. */
static int do_data(struct job *job, unsigned char *buf, const struct request *r)
{
  if (read_full(job->fd, buf, r->length, r->offset) == -1) {
    p2v_error("read %s at %" PRIu64 ": %m", job->reference, r->offset);
    return -1;
  }
  uint64_t unit = job->alignment;
  uint64_t pos = 0;
  while (pos < r->length) {
    uint64_t n = r->length - pos < unit ? r->length - pos : unit;
    bool zero = p2v_is_zero(buf + pos, n);
    uint64_t end = pos + n;
    while (end < r->length) {
      uint64_t m = r->length - end < unit ? r->length - end : unit;
      if (p2v_is_zero(buf + end, m) != zero) break;
      end += m;
    }
    int ret;
    if (zero) {
      ret = job->img->ops->zero(job->img, r->offset + pos, end - pos);
      atomic_fetch_add(&job->bytes_zeroed, end - pos);
    }
    else {
      ret = job->img->ops->pwrite(job->img, buf + pos, end - pos, r->offset + pos);
      atomic_fetch_add(&job->bytes_written, end - pos);
    }
    if (ret == -1) return -1;
    pos = end;
  }
  return 0;
}

static void *worker(void *opaque)
{
  struct job *job = opaque;
  CLEANUP_FREE unsigned char *buf = malloc(job->request_size);
  if (!buf) {
    p2v_error("malloc: %m");
    atomic_store(&job->failed, true);
    return NULL;
  }
  for (;;) {
    if (atomic_load(&job->failed)) break;
    size_t i = atomic_fetch_add(&job->next, 1);
    if (i >= job->nrequests) break;
    const struct request *r = &job->requests[i];
    int ret;
    if (r->hole) {
      ret = job->img->ops->zero(job->img, r->offset, r->length);
      atomic_fetch_add(&job->bytes_zeroed, r->length);
    }
    else
      ret = do_data(job, buf, r);
    if (ret == -1) atomic_store(&job->failed, true);
  }
  return NULL;
}

static int add_request(struct request **v, size_t *n, size_t *cap,
                       uint64_t offset, uint64_t length, bool hole)
{
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 64;
    struct request *nv = reallocarray(*v, c, sizeof **v);
    if (!nv) { p2v_error("realloc: %m"); return -1; }
    *v = nv; *cap = c;
  }
  (*v)[(*n)++] = (struct request) { offset, length, hole };
  return 0;
}

/* Next data range at or after pos, widened to the alignment: [*start,*end).
 * false when there is no more data. */
static bool next_data(int fd, uint64_t pos, uint64_t size, uint64_t align,
                      uint64_t *start, uint64_t *end)
{
  off_t d = lseek(fd, (off_t) pos, SEEK_DATA);
  if (d == -1 || (uint64_t) d >= size) return false;   /* ENXIO: no more data */
  off_t h = lseek(fd, d, SEEK_HOLE);
  if (h == -1 || (uint64_t) h > size) h = (off_t) size;
  *start = (uint64_t) d / align * align;
  *end = ((uint64_t) h + align - 1) / align * align;
  if (*end > size) *end = size;
  return true;
}

static int plan(struct job *job, uint64_t size)
{
  struct request *v = NULL;
  size_t n = 0, cap = 0;
  uint64_t pos = 0;
  const uint64_t hole_piece = UINT64_C(1) << 30;   /* split big holes too */

  while (pos < size) {
    uint64_t start, end;
    if (!next_data(job->fd, pos, size, job->alignment, &start, &end))
      start = end = size;
    if (start < pos) start = pos;                  /* widened into done range */
    /* Merge data ranges that touch after widening. */
    uint64_t s2, e2;
    while (end < size && next_data(job->fd, end, size, job->alignment, &s2, &e2) &&
           s2 <= end)
      end = e2;
    for (uint64_t h = pos; h < start; ) {
      uint64_t len = start - h < hole_piece ? start - h : hole_piece;
      if (add_request(&v, &n, &cap, h, len, true) == -1) goto err;
      h += len;
    }
    for (uint64_t d = start; d < end; ) {
      uint64_t len = end - d < job->request_size ? end - d : job->request_size;
      if (add_request(&v, &n, &cap, d, len, false) == -1) goto err;
      d += len;
    }
    pos = end > pos ? end : size;
  }
  job->requests = v;
  job->nrequests = n;
  return 0;
 err:
  free(v);
  return -1;
}

static int parse_u64(const char *opt, const char *s, uint64_t *out)
{
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || end == s || *s == '-') goto bad;
  uint64_t mul = 1;
  if (*end == 'k' || *end == 'K') { mul = 1024; end++; }
  else if (*end == 'm' || *end == 'M') { mul = 1024 * 1024; end++; }
  if (*end || v > UINT64_MAX / mul) goto bad;
  *out = v * mul;
  return 0;
 bad:
  p2v_error("%s: not a number: %s", opt, s);
  return -1;
}

static void usage(void)
{
  fprintf(stderr,
          "usage: write-image FORMAT OUTPUT REFERENCE [--threads N] [--shuffle] [--seed N]\n"
          "                   [--compress] [--cluster-size N] [--request-size N]\n"
          "                   [--adapter-type TYPE] [--l2-cache BYTES] [--no-finish]\n"
          "FORMAT: raw, qcow2, vmdk, vmdk-stream\n");
}

int main(int argc, char *argv[])
{
  const char *positional[3];
  int npos = 0;
  uint64_t threads = 1, cluster_size = 0, request_size = 1024 * 1024, seed = 0;
  uint64_t l2_cache = 0;
  bool shuffle = false, compress = false, have_seed = false, no_finish = false;
  const char *adapter_type = NULL;

  p2v_log_init(argv[0]);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    bool has_value = strcmp(a, "--threads") == 0 || strcmp(a, "--cluster-size") == 0 ||
      strcmp(a, "--request-size") == 0 || strcmp(a, "--seed") == 0 ||
      strcmp(a, "--adapter-type") == 0 || strcmp(a, "--l2-cache") == 0;
    if (has_value && i + 1 >= argc) { usage(); return 2; }
    if (strcmp(a, "--threads") == 0) { if (parse_u64(a, argv[++i], &threads)) return 2; }
    else if (strcmp(a, "--cluster-size") == 0) { if (parse_u64(a, argv[++i], &cluster_size)) return 2; }
    else if (strcmp(a, "--request-size") == 0) { if (parse_u64(a, argv[++i], &request_size)) return 2; }
    else if (strcmp(a, "--seed") == 0) { if (parse_u64(a, argv[++i], &seed)) return 2; have_seed = true; }
    else if (strcmp(a, "--adapter-type") == 0) adapter_type = argv[++i];
    else if (strcmp(a, "--l2-cache") == 0) { if (parse_u64(a, argv[++i], &l2_cache)) return 2; }
    else if (strcmp(a, "--no-finish") == 0) no_finish = true;
    else if (strcmp(a, "--shuffle") == 0) shuffle = true;
    else if (strcmp(a, "--compress") == 0) compress = true;
    else if (a[0] == '-' && a[1] == '-') { usage(); return 2; }
    else if (npos < 3) positional[npos++] = a;
    else { usage(); return 2; }
  }
  if (npos != 3 || threads < 1 || threads > 256 || cluster_size > UINT32_MAX ||
      request_size < 1 || request_size > (UINT64_C(1) << 30)) {
    usage();
    return 2;
  }
  const char *format = positional[0], *output = positional[1], *reference = positional[2];

  if (l2_cache)
    p2v_qcow2_set_l2_cache_limit((size_t) l2_cache);
  create_fn create = find_writer(format);
  if (!create) {
    p2v_error("unknown format %s (raw, qcow2, vmdk, vmdk-stream)", format);
    return 2;
  }

  CLEANUP_CLOSE int fd = open(reference, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd == -1 || fstat(fd, &st) == -1) {
    p2v_error("open %s: %m", reference);
    return 1;
  }

  struct p2v_sink_options o = {
    .size = (uint64_t) st.st_size, .cluster_size = (uint32_t) cluster_size,
    .compress = compress, .adapter_type = adapter_type,
  };
  struct p2v_image *img = create(output, &o);
  if (!img) return 1;

  struct job job = { .img = img, .fd = fd, .reference = reference };
  job.alignment = img->alignment ? img->alignment : 1;
  /* Requests are whole multiples of the alignment (the last may be short). */
  job.request_size = (size_t) ((request_size + job.alignment - 1) / job.alignment * job.alignment);
  if (img->size != o.size) {
    p2v_error("%s writer reports size %" PRIu64 ", expected %" PRIu64, format, img->size, o.size);
    img->ops->close(img);
    return 1;
  }
  if (plan(&job, o.size) == -1) { img->ops->close(img); return 1; }

  if (shuffle) {
    if (!have_seed) seed = (uint64_t) time(NULL) ^ (uint64_t) getpid();
    printf("write-image: shuffle seed %" PRIu64 "\n", seed);
    fflush(stdout);
    srand48((long) seed);
    for (size_t i = job.nrequests; i > 1; i--) {
      size_t j = (size_t) (drand48() * (double) i);
      if (j >= i) j = i - 1;
      struct request t = job.requests[i - 1];
      job.requests[i - 1] = job.requests[j];
      job.requests[j] = t;
    }
  }

  pthread_t tids[256];
  size_t started = 0;
  for (; started < threads; started++) {
    int err = pthread_create(&tids[started], NULL, worker, &job);
    if (err) {
      errno = err;
      p2v_error("pthread_create: %m");
      atomic_store(&job.failed, true);
      break;
    }
  }
  for (size_t i = 0; i < started; i++)
    pthread_join(tids[i], NULL);

  int status = 0;
  if (atomic_load(&job.failed) || started == 0)
    status = 1;
  else if (!no_finish && img->ops->finish(img) == -1)
    status = 1;
  img->ops->close(img);
  free(job.requests);
  if (status == 0 && getenv("WRITE_IMAGE_VERBOSE"))
    fprintf(stderr, "write-image: %zu requests, %" PRIu64 " bytes written, %" PRIu64 " zeroed\n",
            job.nrequests, (uint64_t) atomic_load(&job.bytes_written),
            (uint64_t) atomic_load(&job.bytes_zeroed));
  return status;
}
