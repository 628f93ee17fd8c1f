/* Unit test for the VMDK writers (converter/vmdk-*.c): geometry and
 * descriptor, option errors, contract violations (misaligned, twice,
 * never), zero grains left unallocated, out-of-order stream arrivals, and
 * write errors (a file size limit stands in for a full disk).  The
 * shell test test-vmdk-writer.sh checks whole images against qemu-img.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image.h"
#include "log.h"
#include "image/vmdk-format.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

#define G VMDK_GRAIN_BYTES

static char last_error[4096];
static int nerrors;

static void capture(enum p2v_log_level level, const char *message)
{
  if (level == P2V_LOG_ERROR) {
    snprintf(last_error, sizeof last_error, "%s", message);
    nerrors++;
  }
}

static void reset_errors(void)
{
  last_error[0] = 0;
  nerrors = 0;
}

static char dir[] = "/tmp/test-vmdk.XXXXXX";

static char *path_of(const char *name)
{
  static char buf[256];
  snprintf(buf, sizeof buf, "%s/%s", dir, name);
  unlink(buf);
  return buf;
}

static struct p2v_image *create(bool stream, const char *name, uint64_t size)
{
  struct p2v_sink_options o = { .size = size };
  return stream ? p2v_vmdk_stream_create(path_of(name), &o)
                : p2v_vmdk_create(path_of(name), &o);
}

static uint64_t file_size(const char *name)
{
  char p[256];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", dir, name);
  CHECK(stat(p, &st) == 0);
  return (uint64_t) st.st_size;
}

static void fill_random(unsigned char *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    p[i] = (unsigned char) (lrand48() >> 7);
}

static void test_geometry(void)
{
  uint64_t c;
  uint32_t h, s;
  vmdk_geometry(2097152, "ide", &c, &h, &s);               /* 1 GiB */
  CHECK(c == 2080 && h == 16 && s == 63);
  vmdk_geometry(20971520, "ide", &c, &h, &s);              /* 10 GiB: capped */
  CHECK(c == 16383 && h == 16);
  vmdk_geometry(20971520, "lsilogic", &c, &h, &s);         /* SCSI: not capped */
  CHECK(c == 1305 && h == 255 && s == 63);
  vmdk_geometry(UINT64_C(4294967295), "pvscsi", &c, &h, &s);
  CHECK(c == 267349);
  vmdk_geometry(1, "buslogic", &c, &h, &s);                /* never 0 */
  CHECK(c == 1);
}

static void test_options(void)
{
  struct vmdk_layout l;
  struct p2v_sink_options o = { .size = 0 };
  reset_errors();
  CHECK(vmdk_layout_init(&l, "x.vmdk", "monolithicSparse", &o) == -1);
  CHECK(strstr(last_error, "x.vmdk") && strstr(last_error, "empty"));
  o.size = VMDK_MAX_CAPACITY + 1;
  CHECK(vmdk_layout_init(&l, "x.vmdk", "streamOptimized", &o) == -1);
  CHECK(strstr(last_error, "2 TiB"));
  o.size = VMDK_MAX_CAPACITY;                              /* the largest allowed */
  CHECK(vmdk_layout_init(&l, "x.vmdk", "streamOptimized", &o) == 0);
  CHECK(l.capacity == VMDK_MAX_FILE_SECTORS && l.num_gts == 65536 && l.gd_sectors == 512);
  o.size = 1000;                                           /* rounds up to sectors */
  o.adapter_type = "scsi";
  CHECK(vmdk_layout_init(&l, "x.vmdk", "monolithicSparse", &o) == -1);
  CHECK(strstr(last_error, "unknown vmdk adapter type scsi"));
  o.adapter_type = NULL;
  CHECK(vmdk_layout_init(&l, "/a/b/disk 1.vmdk", "monolithicSparse", &o) == 0);
  CHECK(l.capacity == 2 && l.grains == 1 && l.num_gts == 1 && l.gd_sectors == 1);
  CHECK(strcmp(l.adapter_type, "lsilogic") == 0);
  CHECK(l.cid != 0 && l.cid != UINT32_MAX);

  char desc[VMDK_DESC_SECTORS * VMDK_SECTOR];
  CHECK(vmdk_descriptor(desc, sizeof desc, &l, "monolithicSparse", "/a/b/disk 1.vmdk") == 0);
  CHECK(strcmp(l.extent_name, "disk 1.vmdk") == 0);
  CHECK(strstr(desc, "\nRW 2 SPARSE \"disk 1.vmdk\"\n"));
  CHECK(strstr(desc, "\ncreateType=\"monolithicSparse\"\n"));
  CHECK(strstr(desc, "\nparentCID=ffffffff\n"));
  CHECK(strstr(desc, "\nddb.adapterType = \"lsilogic\"\n"));
  char cid[32];
  snprintf(cid, sizeof cid, "\nCID=%08x\n", (unsigned) l.cid);
  CHECK(strstr(desc, cid));
  CHECK(desc[sizeof desc - 1] == 0);
  reset_errors();
  CHECK(vmdk_layout_init(&l, "/a/b\"c.vmdk", "monolithicSparse", &o) == -1);
  CHECK(strstr(last_error, "quotes"));
  /* Written under a partial name, the descriptor names the final file. */
  o.final_path = "/out/final.vmdk";
  CHECK(vmdk_layout_init(&l, "/out/final.vmdk.part", "monolithicSparse", &o) == 0);
  CHECK(vmdk_descriptor(desc, sizeof desc, &l, "monolithicSparse", "/out/final.vmdk.part") == 0);
  CHECK(strstr(desc, "\nRW 2 SPARSE \"final.vmdk\"\n"));
  o.final_path = NULL;
  /* Creating fails on such a name before the file exists. */
  struct p2v_sink_options o2 = { .size = 1 << 20 };
  char bad[300];
  snprintf(bad, sizeof bad, "%s/bad\"name.vmdk", dir);
  CHECK(p2v_vmdk_create(bad, &o2) == NULL);
  CHECK(access(bad, F_OK) == -1);
}

/* Misaligned, out of range, twice, never: each an error, not a bad file. */
static void test_contract(bool stream)
{
  static unsigned char buf[2 * G];
  fill_random(buf, sizeof buf);
  uint64_t size = 10 * G + 1000;

  struct p2v_image *img = create(stream, "c.vmdk", size);
  CHECK(img && img->size == size && img->alignment == G);
  CHECK(strcmp(img->ops->format, stream ? "vmdk-stream" : "vmdk") == 0);
  reset_errors();
  errno = 0;
  CHECK(img->ops->pwrite(img, buf, G, 512) == -1 && errno == EINVAL);   /* misaligned */
  CHECK(strstr(last_error, "c.vmdk") && strstr(last_error, "aligned"));
  CHECK(img->ops->pwrite(img, buf, 1000, 0) == -1);                     /* short, not at end */
  CHECK(img->ops->zero(img, 10 * G, 2 * G) == -1);                      /* past the end */
  /* Those were refused without harm: the image is still usable. */
  CHECK(img->ops->pwrite(img, buf, 2 * G, 0) == 0);
  CHECK(img->ops->zero(img, 2 * G, 4 * G) == 0);
  CHECK(img->ops->pwrite(img, buf, 1000, 10 * G) == 0);                 /* short at the end */
  reset_errors();
  CHECK(img->ops->finish(img) == -1);                                   /* 6G..10G never */
  CHECK(strstr(last_error, "never written"));
  img->ops->close(img);

  img = create(stream, "c.vmdk", size);
  CHECK(img->ops->zero(img, 0, size) == 0);
  reset_errors();
  CHECK(img->ops->pwrite(img, buf, G, 3 * G) == -1);                    /* twice */
  CHECK(strstr(last_error, "twice"));
  img->ops->close(img);
}

/* pwrite of all-zero grains allocates nothing. */
static void test_zero_grains(bool stream)
{
  static unsigned char buf[4 * G];
  memset(buf, 0, sizeof buf);
  struct p2v_image *img = create(stream, "z.vmdk", 4 * G);
  CHECK(img->ops->pwrite(img, buf, 4 * G, 0) == 0);
  CHECK(img->ops->finish(img) == 0);
  img->ops->close(img);
  /* Sparse: header, descriptor, tables, padded to one grain.  Stream: the
   * same grain of overhead, then GD marker, GD, footer marker, footer, EOS. */
  CHECK(file_size("z.vmdk") == (stream ? G + 5 * VMDK_SECTOR : G));
}

/* Stream: grains arriving last-first still land first-first; checked by
 * reading the grain markers back. */
static void test_stream_order(void)
{
  enum { N = 1100 };                       /* spans three grain tables */
  static unsigned char buf[G];
  struct p2v_image *img = create(true, "o.vmdk", (uint64_t) N * G);
  for (int i = N - 1; i >= 0; i--) {
    if (i % 7 == 3) {
      CHECK(img->ops->zero(img, (uint64_t) i * G, G) == 0);
      continue;
    }
    memset(buf, 0, sizeof buf);
    buf[i % G] = (unsigned char) (i | 1);
    CHECK(img->ops->pwrite(img, buf, G, (uint64_t) i * G) == 0);
  }
  CHECK(img->ops->finish(img) == 0);
  img->ops->close(img);

  char p[256];
  snprintf(p, sizeof p, "%s/o.vmdk", dir);
  int fd = open(p, O_RDONLY);
  CHECK(fd >= 0);
  uint64_t pos = (uint64_t) VMDK_GRAIN_SECTORS * VMDK_SECTOR, end = file_size("o.vmdk");
  int64_t last = -1;
  int grains = 0, tables = 0;
  for (;;) {
    unsigned char sector[VMDK_SECTOR];
    CHECK(pread(fd, sector, sizeof sector, (off_t) pos) == (ssize_t) sizeof sector);
    struct vmdk_grain_marker gm;
    memcpy(&gm, sector, sizeof gm);
    if (le32toh(gm.size) != 0) {
      int64_t lba = (int64_t) le64toh(gm.lba);
      CHECK(lba > last && lba % VMDK_GRAIN_SECTORS == 0);
      CHECK((lba / VMDK_GRAIN_SECTORS) % 7 != 3);
      last = lba;
      grains++;
      pos += (sizeof gm + le32toh(gm.size) + VMDK_SECTOR - 1) / VMDK_SECTOR * VMDK_SECTOR;
      continue;
    }
    struct vmdk_meta_marker mm;
    memcpy(&mm, sector, sizeof mm);
    if (le32toh(mm.type) == VMDK_MARKER_GT) {
      tables++;
      pos += (1 + le64toh(mm.num_sectors)) * VMDK_SECTOR;
      continue;
    }
    CHECK(le32toh(mm.type) == VMDK_MARKER_GD);
    break;
  }
  close(fd);
  CHECK(grains == N - (N + 3) / 7 && tables == 3);
  CHECK(end > pos);
}

/* A write that fails (here: past a file size limit) is reported once,
 * naming the file, with errno kept; later calls fail quietly with the
 * same errno. */
static void test_write_error(bool stream)
{
  static unsigned char buf[G];
  struct rlimit old, lim;
  CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
  struct p2v_image *img = create(stream, "full.vmdk", 64 * G);
  lim = old;
  lim.rlim_cur = 8 * G;
  CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
  reset_errors();
  int failed_at = -1;
  for (int i = 0; i < 64; i++) {
    fill_random(buf, sizeof buf);
    if (img->ops->pwrite(img, buf, G, (uint64_t) i * G) == -1) {
      failed_at = i;
      break;
    }
  }
  CHECK(failed_at > 0);
  CHECK(errno == EFBIG);
  CHECK(nerrors == 1 && strstr(last_error, "full.vmdk") && strstr(last_error, "File too large"));
  errno = 0;
  CHECK(img->ops->pwrite(img, buf, G, 63 * G) == -1 && errno == EFBIG);
  CHECK(img->ops->zero(img, 62 * G, G) == -1 && errno == EFBIG);
  CHECK(nerrors == 1);
  CHECK(img->ops->finish(img) == -1 && errno == EFBIG);
  CHECK(strstr(last_error, "earlier write failed"));
  img->ops->close(img);
  CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
}

int main(void)
{
  p2v_log_init("test-vmdk");
  p2v_log_set_sink(capture);
  signal(SIGXFSZ, SIG_IGN);                /* get EFBIG, not a signal */
  srand48(1);
  CHECK(mkdtemp(dir) != NULL);

  test_geometry();
  test_options();
  for (int stream = 0; stream <= 1; stream++) {
    test_contract(stream);
    test_zero_grains(stream);
    test_write_error(stream);
  }
  test_stream_order();

  const char *names[] = { "c.vmdk", "z.vmdk", "o.vmdk", "full.vmdk" };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    unlink(path_of(names[i]));
  rmdir(dir);
  printf("test-vmdk: ok\n");
  return 0;
}
