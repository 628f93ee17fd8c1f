/* run's checks of its own result.
 *
 * --verify=quick (default): each output is read back through qemu
 * (qemu-nbd, so the format is decoded by a reader we did not write) and
 * its digest (copy/digest.c) compared with the digest of everything the
 * copy read; and every range the conversion changed is compared byte for
 * byte with the overlay.  Together: the output holds exactly what was
 * read, and what was read there is the converted overlay.  It reads the
 * output once, locally, and never the source again.
 * --verify=full: qemu-img compare of each output with its overlay, which
 * reads the whole source again through the overlay's backing file: a
 * second network transfer of every used byte.
 * --boot-test: p2v_boot_test on the finished VM.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "human-size.h"
#include "log.h"
#include "report/report.h"
#include "run/run.h"
#include "vm/vm.h"

#define COMPARE_BUF (4u << 20)

static const char *qemu_format(const char *format)
{
  return !strncmp(format, "vmdk", 4) ? "vmdk" : format;
}

/* Changed ranges: output against overlay.  1 equal, 0 differ, -1 error. */
static int compare_changes(struct run_disk *d, struct p2v_image *out, struct p2v_image *ov,
                           char *detail, size_t detail_len)
{
  CLEANUP_FREE unsigned char *a = malloc(COMPARE_BUF);
  CLEANUP_FREE unsigned char *b = malloc(COMPARE_BUF);
  if (!a || !b) {
    p2v_error("out of memory");
    return -1;
  }
  for (size_t i = 0; i < d->changed.count; i++) {
    uint64_t off = d->changed.items[i].offset, end = off + d->changed.items[i].length;
    while (off < end) {
      size_t n = end - off < COMPARE_BUF ? (size_t) (end - off) : COMPARE_BUF;
      if (out->ops->pread(out, a, n, off) == -1 || ov->ops->pread(ov, b, n, off) == -1)
        return -1;
      if (memcmp(a, b, n) != 0) {
        size_t j = 0;
        while (a[j] == b[j])
          j++;
        snprintf(detail, detail_len, "differs from the converted overlay at offset %llu",
                 (unsigned long long) (off + j));
        return 0;
      }
      off += n;
    }
  }
  return 1;
}

static int verify_quick(struct run *run, struct run_disk *d, size_t index)
{
  CLEANUP_FREE char *osock = NULL, *vsock = NULL, *what = NULL;
  if (asprintf(&osock, "%s/output-%zu.sock", run->socket_dir, index) == -1 ||
      asprintf(&vsock, "%s/overlay-%zu.sock", run->socket_dir, index) == -1 ||
      asprintf(&what, "disk %s: %s", d->label, d->output_name) == -1) {
    p2v_error("out of memory");
    return -1;
  }
  pid_t opid = 0, vpid = 0;
  struct p2v_image *out = NULL, *ov = NULL;
  enum p2v_open_failure why;
  char detail[256] = "";
  int ok = -1;
  double t = run_now();
  CLEANUP_FREE char *ouri = run_qemu_nbd_start(d->output, qemu_format(run->format), false,
                                               osock, &opid);
  if (!ouri || !(out = p2v_nbd_open(ouri, &why)))
    goto out;
  struct run_digest written;
  if (run_digest_image(out, &written) == -1)
    goto out;
  if (!run_digest_equal(&written, &d->read_digest)) {
    snprintf(detail, sizeof detail, "the output read back does not hold what the copy read "
             "(digests differ)");
    ok = 0;
    goto out;
  }
  ok = 1;
  if (d->changed.count) {
    CLEANUP_FREE char *vuri = run_qemu_nbd_start(d->overlay, "qcow2", true, vsock, &vpid);
    if (!vuri || !(ov = p2v_nbd_open(vuri, &why)))
      ok = -1;
    else
      ok = compare_changes(d, out, ov, detail, sizeof detail);
  }
  if (ok == 1) {
    char changed[32];
    p2v_human_size(changed, sizeof changed, p2v_extent_list_total(&d->changed));
    snprintf(detail, sizeof detail, "quick: read back through qemu-nbd, digest equals the "
             "copy's reads; %s changed by the conversion equal the overlay (%.1f s)",
             changed, run_now() - t);
  }
out:
  if (ok == -1 && !detail[0])
    snprintf(detail, sizeof detail, "could not be read back");
  if (ok != 1)
    p2v_error("verification of %s failed: %s", what, detail);
  p2v_report_verify(run->report, what, ok == 1, detail);
  if (ov)
    ov->ops->close(ov);
  if (out)
    out->ops->close(out);
  if (vpid)
    run_qemu_nbd_stop(vpid, vsock);
  if (opid)
    run_qemu_nbd_stop(opid, osock);
  return ok == 1 ? 0 : -1;
}

static int verify_full(struct run *run, struct run_disk *d)
{
  CLEANUP_FREE char *what = NULL, *out = NULL, *err = NULL;
  if (asprintf(&what, "disk %s: %s", d->label, d->output_name) == -1) {
    p2v_error("out of memory");
    return -1;
  }
  double t = run_now();
  const char *argv[] = { "qemu-img", "compare", "-f", qemu_format(run->format),
                   "-F", "qcow2", d->output, d->overlay, NULL };
  int status = run_command(argv, &out, &err);
  char detail[512];
  if (status == 0)
    snprintf(detail, sizeof detail, "full: qemu-img compare with the converted overlay "
             "(source read again): identical (%.1f s)", run_now() - t);
  else {
    char *nl = out ? strchr(out, '\n') : NULL;
    if (nl)
      *nl = '\0';
    snprintf(detail, sizeof detail, "qemu-img compare: %s",
             status == 1 && out && *out ? out : err && *err ? err : "failed");
    p2v_error("verification of %s failed: %s", what, detail);
  }
  p2v_report_verify(run->report, what, status == 0, detail);
  return status == 0 ? 0 : -1;
}

enum run_failure run_verify(struct run *run)
{
  if (run->verify == RUN_VERIFY_NONE) {
    p2v_report_verify(run->report, "outputs", true, "not verified (--verify=none)");
    return RUN_OK;
  }
  enum run_failure r = RUN_OK;
  for (size_t i = 0; i < run->ndisks; i++)
    if ((run->verify == RUN_VERIFY_FULL ? verify_full(run, &run->disks[i])
                                        : verify_quick(run, &run->disks[i], i)) == -1)
      r = RUN_VERIFY_FAILED;
  return r;
}

enum run_failure run_boot_test(struct run *run)
{
  struct run_vm v;
  if (run_describe_vm(run, &v) == -1)
    return RUN_FAILED;
  struct p2v_boot_test_options o = {
    .vm = &v.vm, .out_dir = run->out_dir, .timeout_seconds = run->boot_timeout,
  };
  struct p2v_boot_test_result b = { 0 };
  int r = p2v_boot_test(&o, &b);
  if (r == 0) {
    p2v_report_boot_test(run->report, &b);
    for (size_t i = 0; i < b.nwarnings; i++)
      p2v_warning("boot test of %s: the guest reported %s", run->name, b.warnings[i]);
    if (!b.passed)
      p2v_error("boot test of %s failed: %s", run->name, b.reason ? b.reason : "no marker");
  }
  bool ok = r == 0 && b.passed;
  p2v_boot_test_result_clear(&b);
  run_vm_clear(&v);
  return ok ? RUN_OK : RUN_BOOT_TEST_FAILED;
}
