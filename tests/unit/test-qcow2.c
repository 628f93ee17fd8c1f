/* Unit test for the qcow2 writer's contract checks: options, alignment,
 * bounds, double and missing coverage, use after an error, the header.
 * (Image contents are checked against qemu-img in test-qcow2-writer.sh.)
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/image.h"
#include "log.h"
#include "image/qcow2-format.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

static char dir[] = "/tmp/test-qcow2.XXXXXX";
static char path[256];
static int counter;
static int errors;

static void count_errors(enum p2v_log_level level, const char *message)
{
  if (level == P2V_LOG_ERROR) errors++;
}

static struct p2v_image *create(uint64_t size, uint32_t cluster_size, bool compress)
{
  snprintf(path, sizeof path, "%s/%d.qcow2", dir, counter++);
  struct p2v_sink_options o = { .size = size, .cluster_size = cluster_size, .compress = compress };
  return p2v_qcow2_create(path, &o);
}

static void read_header(struct qcow2_header *h)
{
  int fd = open(path, O_RDONLY);
  CHECK(fd >= 0);
  CHECK(pread(fd, h, sizeof *h, 0) == (ssize_t) sizeof *h);
  close(fd);
}

int main(void)
{
  static unsigned char buf[2 * 65536];
  struct p2v_image *img;
  struct qcow2_header h;

  p2v_log_init("test-qcow2");
  p2v_log_set_sink(count_errors);
  CHECK(mkdtemp(dir));
  memset(buf, 0xa5, sizeof buf);

  /* Bad cluster sizes and a size qemu could not open. */
  errors = 0;
  CHECK(create(1 << 20, 1000, false) == NULL);
  CHECK(create(1 << 20, 256, false) == NULL);
  CHECK(create(1 << 20, 4 << 20, false) == NULL);
  CHECK(create(UINT64_C(1) << 40, 512, false) == NULL);
  CHECK(create(UINT64_MAX, 0, false) == NULL);
  CHECK(errors == 5);

  /* An existing file is never overwritten. */
  img = create(65536, 0, false);
  CHECK(img && img->alignment == 65536 && img->size == 65536);
  CHECK(img->ops->pread == NULL && strcmp(img->ops->format, "qcow2") == 0);
  img->ops->close(img);
  counter--;
  CHECK(create(65536, 0, false) == NULL);
  counter++;

  /* Misaligned and out-of-range requests fail, and so does everything
   * after them. */
  for (int compress = 0; compress <= 1; compress++) {
    img = create(3 * 65536 + 512, 0, compress);
    CHECK(img);
    errors = 0;
    CHECK(img->ops->pwrite(img, buf, 4096, 0) == -1);
    CHECK(errors == 1);
    CHECK(img->ops->zero(img, 65536, 65536) == -1);     /* quiet: already failed */
    CHECK(img->ops->finish(img) == -1);
    CHECK(errors == 1);
    img->ops->close(img);

    img = create(3 * 65536 + 512, 0, compress);
    CHECK(img->ops->pwrite(img, buf, 65536, 4 * 65536) == -1);
    img->ops->close(img);
    img = create(3 * 65536 + 512, 0, compress);
    CHECK(img->ops->zero(img, UINT64_MAX - 65535, 65536) == -1);
    img->ops->close(img);

    /* The short last cluster is fine; covering it again once its L2
     * table is complete is not (coverage is counted per table, so a
     * repeat is caught when the table overflows, or at finish). */
    img = create(3 * 65536 + 512, 0, compress);
    CHECK(img->ops->pwrite(img, buf, 512, 3 * 65536) == 0);
    CHECK(img->ops->pwrite(img, buf, 65536, 65536) == 0);
    CHECK(img->ops->zero(img, 0, 65536) == 0);
    CHECK(img->ops->zero(img, 2 * 65536, 65536) == 0);
    errors = 0;
    CHECK(img->ops->zero(img, 3 * 65536, 512) == -1);
    CHECK(errors == 1);
    img->ops->close(img);

    /* Writing the same data cluster twice is caught. */
    img = create(4 * 65536, 0, compress);
    CHECK(img->ops->pwrite(img, buf, 65536, 0) == 0);
    CHECK(img->ops->pwrite(img, buf, 65536, 0) == -1);
    img->ops->close(img);

    /* finish with part of the disk never written fails. */
    img = create(4 * 65536, 0, compress);
    CHECK(img->ops->pwrite(img, buf, 2 * 65536, 0) == 0);
    CHECK(img->ops->zero(img, 2 * 65536, 65536) == 0);
    errors = 0;
    CHECK(img->ops->finish(img) == -1);
    CHECK(errors == 1);
    img->ops->close(img);

    /* A complete one, and its header. */
    img = create(4 * 65536 - 100, 0, compress);
    CHECK(img->ops->zero(img, 0, 65536) == 0);
    CHECK(img->ops->pwrite(img, buf, 2 * 65536, 65536) == 0);
    CHECK(img->ops->pwrite(img, buf, 65536 - 100, 3 * 65536) == 0);
    CHECK(img->ops->finish(img) == 0);
    CHECK(img->ops->pwrite(img, buf, 65536, 0) == -1);   /* after finish */
    img->ops->close(img);
    read_header(&h);
    CHECK(be32toh(h.magic) == QCOW2_MAGIC);
    CHECK(be32toh(h.version) == 3);
    CHECK(be32toh(h.cluster_bits) == 16);
    CHECK(be64toh(h.size) == 4 * 65536);                 /* rounded up to 512 */
    CHECK(be32toh(h.l1_size) == 1);
    CHECK(be32toh(h.refcount_order) == 4);
    CHECK(be32toh(h.header_length) == 112);
    CHECK(h.incompatible_features == 0 && h.compatible_features == 0 &&
          h.autoclear_features == 0 && h.compression_type == 0);
  }

  /* A full disk (here the file size limit): -1 with errno kept, for the
   * first failing call and for those refused after it; one error line. */
  for (int compress = 0; compress <= 1; compress++) {
    struct rlimit old, lim;
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, SIG_IGN);
    img = create(64 * 65536, 0, compress);
    CHECK(img);
    lim = old;
    lim.rlim_cur = 4 * 65536;
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    errors = 0;
    int ret = 0;
    uint64_t x = 88172645463325252u;       /* xorshift: incompressible */
    for (int i = 0; i < 16 && ret == 0; i++) {
      for (size_t j = 0; j < sizeof buf; j++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        buf[j] = (unsigned char) x;
      }
      ret = img->ops->pwrite(img, buf, 2 * 65536, (uint64_t) i * 2 * 65536);
    }
    CHECK(ret == -1 && errno == EFBIG);
    errno = 0;
    CHECK(img->ops->zero(img, 32 * 65536, 65536) == -1 && errno == EFBIG);
    CHECK(img->ops->finish(img) == -1 && errno == EFBIG);
    CHECK(errors == 1);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    img->ops->close(img);
  }
  memset(buf, 0xa5, sizeof buf);

  /* An empty disk: nothing to write, still a valid image. */
  img = create(0, 0, false);
  CHECK(img && img->ops->finish(img) == 0);
  img->ops->close(img);
  read_header(&h);
  CHECK(be32toh(h.magic) == QCOW2_MAGIC && h.size == 0 && h.l1_size == 0);

  /* Nothing is left behind but the files. */
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  return 0;
}
