/* The boot test: start the converted VM in qemu, headless, on throwaway
 * qcow2 overlays of its disks (the output is never written), watch the
 * serial console for a marker, take a screenshot over QMP, stop qemu.
 *
 * Hardware follows the VM's disk bus and NIC model (p2v_vm_disk_bus,
 * p2v_vm_nic_model): virtio-blk, virtio-scsi, SATA (AHCI), LSI Logic SAS
 * (mptsas1068) or pvscsi; virtio-net, e1000, e1000e or vmxnet3 — qemu
 * emulates VMware's devices too; UEFI boots OVMF with a copy of its
 * variable store.  The marker awaited on the serial console (COM1) is a
 * login prompt for Linux and the first-boot service's start line for
 * Windows, which has no text console of its own.  The guest's network is
 * user-mode with restrict=on: it reaches nothing.  Memory is capped at 2 GiB and CPUs at
 * 2: enough to reach a login prompt without starving the host.
 *
 * KVM: on some hosts /dev/kvm opens but guests hang (a boot sector runs,
 * a kernel does not).  Before the first boot a probe guest runs under KVM
 * for at most 10 s (kvm_probe); only if it finishes is KVM used.
 * Otherwise TCG, said once.  P2V_BOOT_TEST_ACCEL=tcg|kvm skips the probe.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "command.h"
#include "log.h"
#include "check/check.h"
#include "qemu/qemu.h"

#define QEMU "qemu-system-x86_64"
#define QEMU_IMG "qemu-img"
#define OVMF_CODE "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define OVMF_VARS "/usr/share/OVMF/OVMF_VARS_4M.fd"
#define MAX_MEMORY_MIB 2048
#define MAX_CPUS 2
#define PROBE_SECONDS 10
#define TAIL_LINES 40
#define KEEP_BYTES (64 * 1024)   /* of console output, for the marker and the tail */

/* ---- an argv built with printf-style pieces ---- */

struct args {
  char **v;
  size_t n, cap;
  bool failed;
  const char *work;            /* qemu_args: the overlays' folder */
};

static void arg(struct args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(struct args *a, const char *fmt, ...)
{
  if (a->failed)
    return;
  if (a->n + 2 > a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 32;
    char **v = realloc(a->v, cap * sizeof *v);
    if (!v) {
      a->failed = true;
      return;
    }
    a->v = v;
    a->cap = cap;
  }
  va_list ap;
  va_start(ap, fmt);
  int r = vasprintf(&a->v[a->n], fmt, ap);
  va_end(ap);
  if (r == -1) {
    a->failed = true;
    return;
  }
  a->v[++a->n] = NULL;
}

static void args_clear(struct args *a)
{
  for (size_t i = 0; i < a->n; i++)
    free(a->v[i]);
  free(a->v);
  memset(a, 0, sizeof *a);
}

/* ---- processes ---- */

/* Start argv with stdin /dev/null and stdout+stderr into log; the child
 * dies with us and has no signals blocked (the copy engine blocks SIGINT
 * and SIGTERM in every thread).  -1 reported. */
static pid_t spawn(char **argv, const char *log)
{
  int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = -1;
  if (logfd == -1 || nullfd == -1) {
    p2v_error("cannot start %s: %s: %m", argv[0], logfd == -1 ? log : "/dev/null");
    goto out;
  }
  pid = fork();
  if (pid == -1) {
    p2v_error("cannot start %s: fork: %m", argv[0]);
    goto out;
  }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (dup2(nullfd, 0) == -1 || dup2(logfd, 1) == -1 || dup2(logfd, 2) == -1)
      _exit(126);
    execvp(argv[0], argv);
    _exit(127);
  }
out:
  if (logfd >= 0)
    close(logfd);
  if (nullfd >= 0)
    close(nullfd);
  return pid;
}

/* The last non-empty line of a log file, for error messages ("" if none). */
static void last_line(const char *log, char *buf, size_t len)
{
  buf[0] = 0;
  CLEANUP_FCLOSE FILE *fp = fopen(log, "re");
  char line[512];
  while (fp && fgets(line, sizeof line, fp)) {
    line[strcspn(line, "\r\n")] = 0;
    if (*line)
      snprintf(buf, len, "%s", line);
  }
}

/* Run argv to completion; -1 reported with its last line of output. */
static int run(char **argv)
{
  struct p2v_command_options o = { .install_hint = "install it (Debian packages qemu-utils, qemu-system-x86)" };
  struct p2v_command *c = p2v_command_run((const char *const *) argv, &o);
  if (!c)
    return -1;
  int r = p2v_command_status(c) == 0 ? 0 : -1;
  CLEANUP_FREE char *msg = r == -1 ? p2v_command_last_error_line(c) : NULL;
  if (r == -1)
    p2v_error("%s failed: %s", argv[0], msg && *msg ? msg : "no message");
  p2v_command_free(c);
  return r;
}

/* Wait up to seconds for pid; true with *status if it exited. */
static bool wait_for(pid_t pid, double seconds, int *status)
{
  double end = p2v_now_s() + seconds;
  for (;;) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid)
      return true;
    if (r == -1 && errno != EINTR)
      return true;                   /* already gone */
    if (p2v_now_s() >= end)
      return false;
    usleep(20 * 1000);
  }
}

static void kill_and_reap(pid_t pid)
{
  int status;
  kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
    ;
}

/* ---- KVM or TCG ---- */

/* A boot sector that makes qemu exit with status (1 << 1) | 1 = 3:
 *   mov dx, 0xf4 ; mov al, 1 ; out dx, al ; hlt ; jmp $-1 */
static const unsigned char probe_code[] = {
  0xba, 0xf4, 0x00, 0xb0, 0x01, 0xee, 0xf4, 0xeb, 0xfd,
};

/* A kernel from /boot to probe with, or NULL. */
static char *probe_kernel(void)
{
  glob_t g;
  char *k = NULL;
  if (glob("/boot/vmlinuz-*", 0, NULL, &g) == 0) {
    for (size_t i = g.gl_pathc; i > 0 && !k; i--)      /* the newest sorts last */
      if (access(g.gl_pathv[i - 1], R_OK) == 0)
        k = strdup(g.gl_pathv[i - 1]);
    globfree(&g);
  }
  return k;
}

/* Does KVM run a guest here?  Best probe: a kernel from /boot, booted with
 * no root so it panics and (-no-reboot) qemu exits: long mode, paging,
 * APIC and timers all ran.  Without one, a boot sector that exits through
 * isa-debug-exit (proves less: real mode only). */
static bool kvm_probe(const char *work)
{
  if (access("/dev/kvm", R_OK | W_OK) == -1)
    return false;
  CLEANUP_FREE char *kernel = probe_kernel();
  CLEANUP_FREE char *img = NULL;
  CLEANUP_FREE char *log = NULL;
  CLEANUP_FREE char *serial = NULL;
  if (asprintf(&img, "%s/kvm-probe.img", work) == -1 || asprintf(&log, "%s/kvm-probe.log", work) == -1 ||
      asprintf(&serial, "%s/kvm-probe.serial", work) == -1)
    return false;
  struct args a = { 0 };
  arg(&a, QEMU);
  arg(&a, "-no-user-config");
  arg(&a, "-nodefaults");
  arg(&a, "-display");
  arg(&a, "none");
  arg(&a, "-accel");
  arg(&a, "kvm");
  arg(&a, "-machine");
  arg(&a, "pc");
  arg(&a, "-m");
  arg(&a, "256");
  if (kernel) {
    arg(&a, "-kernel");
    arg(&a, "%s", kernel);
    arg(&a, "-append");
    arg(&a, "console=ttyS0 panic=-1 loglevel=4");
    arg(&a, "-serial");
    arg(&a, "file:%s", serial);
    arg(&a, "-no-reboot");
  } else {
    unsigned char sector[512] = { 0 };
    memcpy(sector, probe_code, sizeof probe_code);
    sector[510] = 0x55;
    sector[511] = 0xaa;
    CLEANUP_CLOSE int fd = open(img, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1 || write(fd, sector, sizeof sector) != (ssize_t) sizeof sector) {
      args_clear(&a);
      return false;
    }
    arg(&a, "-drive");
    arg(&a, "file=%s,format=raw,if=ide", img);
    arg(&a, "-device");
    arg(&a, "isa-debug-exit,iobase=0xf4,iosize=0x04");
  }
  pid_t pid = a.failed ? -1 : spawn(a.v, log);
  args_clear(&a);
  if (pid == -1)
    return false;
  int status = 0;
  if (!wait_for(pid, PROBE_SECONDS, &status)) {
    kill_and_reap(pid);
    return false;
  }
  if (!kernel)
    return WIFEXITED(status) && WEXITSTATUS(status) == 3;
  char buf[4096] = "";
  CLEANUP_FCLOSE FILE *fp = fopen(serial, "re");
  size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
  buf[n] = 0;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 && strstr(buf, "Linux version");
}

static bool use_kvm(const char *work)
{
  static int decided = -1;             /* once per process */
  if (decided >= 0)
    return decided;
  const char *force = getenv("P2V_BOOT_TEST_ACCEL");
  if (force && strcmp(force, "tcg") == 0)
    decided = 0;
  else if (force && strcmp(force, "kvm") == 0)
    decided = 1;
  else {
    decided = kvm_probe(work);
    if (!decided)
      p2v_warning("KVM cannot run guests here (no /dev/kvm, or a probe guest did not "
                  "run within %d s): the boot test uses TCG, which is slower", PROBE_SECONDS);
  }
  return decided;
}

/* ---- the console ---- */

struct console {
  int fd;
  char *buf;                   /* the last KEEP_BYTES or so of output */
  size_t len;
  size_t scanned;              /* buf[0..scanned) searched for failure lines */
  char *failed[P2V_BOOT_TEST_MAX_WARNINGS];
  size_t nfailed;
};

char *p2v_console_failed_line(const char *line, size_t len)
{
  static const char tag[] = "[FAILED]";
  CLEANUP_FREE char *clean = p2v_console_clean(line, len, 1);
  if (!clean)
    return NULL;
  const char *p = clean + strspn(clean, " \t");
  if (strncmp(p, tag, sizeof tag - 1) != 0 || !p[sizeof tag - 1])
    return NULL;
  return strdup(p);
}

/* Record the failure lines among the complete lines not yet searched
 * (each different line once): they are scanned as they arrive, since the
 * buffer keeps only the end of the output. */
static void console_scan(struct console *c)
{
  const char *p = c->buf + c->scanned, *end = c->buf + c->len, *nl;
  while ((nl = memchr(p, '\n', (size_t) (end - p))) != NULL) {
    char *failed = c->nfailed < P2V_BOOT_TEST_MAX_WARNINGS
                   ? p2v_console_failed_line(p, (size_t) (nl - p)) : NULL;
    for (size_t i = 0; failed && i < c->nfailed; i++)
      if (strcmp(c->failed[i], failed) == 0) {
        free(failed);
        failed = NULL;
      }
    if (failed)
      c->failed[c->nfailed++] = failed;
    p = nl + 1;
  }
  c->scanned = (size_t) (p - c->buf);
}

/* Read what the guest wrote since last time; true once marker is seen. */
static bool console_poll(struct console *c, const char *path, const char *marker)
{
  if (c->fd < 0)
    c->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (c->fd < 0)
    return false;
  size_t mlen = strlen(marker);
  bool found = false;
  char chunk[8192];
  ssize_t n;
  while ((n = read(c->fd, chunk, sizeof chunk)) > 0) {
    size_t old = c->len;
    if (c->len + (size_t) n > 2 * KEEP_BYTES) {
      size_t drop = c->len + (size_t) n - KEEP_BYTES;
      if (drop > c->len)
        drop = c->len;
      memmove(c->buf, c->buf + drop, c->len - drop);
      c->len -= drop;
      c->scanned = c->scanned > drop ? c->scanned - drop : 0;
      old -= drop < old ? drop : old;
    }
    memcpy(c->buf + c->len, chunk, (size_t) n);
    c->len += (size_t) n;
    console_scan(c);
    /* Search the new bytes, with enough before them for a marker split across reads. */
    size_t from = old >= mlen ? old - mlen + 1 : 0;
    if (mlen && memmem(c->buf + from, c->len - from, marker, mlen))
      found = true;
  }
  return found;
}

char *p2v_console_clean(const char *buf, size_t len, unsigned max_lines)
{
  char *out = malloc(len + 1);
  if (!out)
    return NULL;
  size_t o = 0;
  const unsigned char *s = (const unsigned char *) buf, *end = s + len;
  while (s < end) {
    if (*s == 0x1b) {                        /* ESC [ params final, or ESC x */
      s++;
      if (s < end && *s == '[') {
        s++;
        while (s < end && !(*s >= 0x40 && *s <= 0x7e))
          s++;
      }
      if (s < end)
        s++;
      continue;
    }
    if (*s == '\r' || *s == 0) {
      s++;
      continue;
    }
    unsigned char tmp[5] = { 0 };
    size_t avail = (size_t) (end - s) < 4 ? (size_t) (end - s) : 4;
    memcpy(tmp, s, avail);
    size_t n = p2v_utf8_seq_len(tmp);
    if (n == 0 || (*s < 0x20 && *s != '\n' && *s != '\t') || *s == 0x7f) {
      out[o++] = '?';
      s++;
      continue;
    }
    memcpy(out + o, s, n);
    o += n;
    s += n;
  }
  while (o > 0 && (out[o - 1] == '\n' || out[o - 1] == ' '))
    o--;
  out[o] = 0;
  size_t lines = 0, start = o;
  while (start > 0) {
    if (out[start - 1] == '\n' && ++lines == max_lines)
      break;
    start--;
  }
  memmove(out, out + start, o - start + 1);
  return out;
}

/* ---- the test ---- */

static const char *qemu_format(const char *format)
{
  if (strcmp(format, "vmdk-stream") == 0)
    return "vmdk";
  return format;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st; (void) flag; (void) ftw;
  remove(path);
  return 0;
}

/* Disk i on the VM's bus; a new controller (id ctrlN) before every
 * ports-th disk (AHCI has 6 ports, mptsas1068 8 targets). */
static void disk_args(struct args *a, const struct p2v_vm *vm, size_t i)
{
  const char *boot = i == 0 ? ",bootindex=1" : "";
  size_t ports = 0;
  const char *controller = NULL;
  switch (p2v_vm_disk_bus(vm)) {
  case P2V_DISK_BUS_VIRTIO_SCSI: controller = "virtio-scsi-pci"; ports = 256; break;
  case P2V_DISK_BUS_SATA:        controller = "ahci"; ports = 6; break;
  case P2V_DISK_BUS_LSI_SAS:     controller = "mptsas1068"; ports = 8; break;
  case P2V_DISK_BUS_PVSCSI:      controller = "pvscsi"; ports = 64; break;
  default: break;
  }
  arg(a, "-drive");
  arg(a, "file=%s/disk%zu.qcow2,format=qcow2,if=none,id=disk%zu", a->work, i, i);
  if (!controller) {
    arg(a, "-device");
    arg(a, "virtio-blk-pci,drive=disk%zu%s", i, boot);
    return;
  }
  size_t c = i / ports, port = i % ports;
  if (port == 0) {
    arg(a, "-device");
    arg(a, "%s,id=ctrl%zu", controller, c);
  }
  arg(a, "-device");
  if (p2v_vm_disk_bus(vm) == P2V_DISK_BUS_SATA)
    arg(a, "ide-hd,bus=ctrl%zu.%zu,drive=disk%zu%s", c, port, i, boot);
  else
    arg(a, "scsi-hd,bus=ctrl%zu.0,scsi-id=%zu,drive=disk%zu%s", c, port, i, boot);
}

static const char *nic_device(const struct p2v_vm *vm)
{
  switch (p2v_vm_nic_model(vm)) {
  case P2V_NIC_E1000: return "e1000";
  case P2V_NIC_E1000E: return "e1000e";
  case P2V_NIC_VMXNET3: return "vmxnet3";
  default: return "virtio-net-pci";
  }
}

/* The qemu command line for vm on the overlays in work. */
static void qemu_args(struct args *a, const struct p2v_vm *vm, const char *work, bool kvm)
{
  unsigned long long mib = vm->memory_bytes >> 20;
  if (mib > MAX_MEMORY_MIB)
    mib = MAX_MEMORY_MIB;
  if (mib < 64)
    mib = 64;
  arg(a, QEMU);
  arg(a, "-no-user-config");
  arg(a, "-nodefaults");
  arg(a, "-name");
  arg(a, "p2v-boot-test");
  arg(a, "-accel");
  arg(a, kvm ? "kvm" : "tcg");
  arg(a, "-machine");
  arg(a, vm->uefi ? "q35" : "pc");
  arg(a, "-cpu");
  arg(a, kvm ? "host" : "max");       /* max: x86-64-v2/v3 guests need more than qemu64 */
  arg(a, "-smp");
  arg(a, "%u", vm->vcpus < MAX_CPUS ? vm->vcpus : MAX_CPUS);
  arg(a, "-m");
  arg(a, "%llu", mib);
  arg(a, "-rtc");              /* as the VM metadata says: Windows keeps local time */
  arg(a, p2v_vm_rtc_localtime(vm) ? "base=localtime" : "base=utc");
  arg(a, "-display");
  arg(a, "none");
  arg(a, "-vga");
  arg(a, "std");
  arg(a, "-chardev");
  arg(a, "file,id=serial0,path=%s/console.log", work);
  arg(a, "-serial");
  arg(a, "chardev:serial0");
  arg(a, "-qmp");
  arg(a, "unix:%s/qmp.sock,server=on,wait=off", work);
  if (vm->uefi) {
    arg(a, "-drive");
    arg(a, "if=pflash,format=raw,unit=0,readonly=on,file=%s", OVMF_CODE);
    arg(a, "-drive");
    arg(a, "if=pflash,format=raw,unit=1,file=%s/OVMF_VARS.fd", work);
  }
  a->work = work;
  for (size_t i = 0; i < vm->ndisks; i++)
    disk_args(a, vm, i);
  for (size_t i = 0; i < vm->nnics; i++) {
    arg(a, "-nic");
    if (vm->nics[i].mac)
      arg(a, "user,restrict=on,model=%s,mac=%s", nic_device(vm), vm->nics[i].mac);
    else
      arg(a, "user,restrict=on,model=%s", nic_device(vm));
  }
}

char **p2v_boot_test_argv(const struct p2v_vm *vm, const char *work, bool kvm)
{
  struct args a = { 0 };
  if (p2v_vm_check(vm) == -1)
    return NULL;
  qemu_args(&a, vm, work, kvm);
  if (a.failed) {
    args_clear(&a);
    p2v_error("cannot prepare the boot test: out of memory");
    return NULL;
  }
  return a.v;
}

void p2v_boot_test_argv_free(char **argv)
{
  for (size_t i = 0; argv && argv[i]; i++)
    free(argv[i]);
  free(argv);
}

const char *p2v_boot_test_marker(const struct p2v_boot_test_options *o)
{
  if (o->marker && *o->marker)
    return o->marker;
  const char *os = o->vm->os_type;
  return os && strcmp(os, "windows") == 0 ? P2V_BOOT_MARKER_WINDOWS : P2V_BOOT_MARKER_LINUX;
}

/* Overlays (and the UEFI variable store copy) in work. */
static int prepare(const struct p2v_vm *vm, const char *out_dir, const char *work)
{
  for (size_t i = 0; i < vm->ndisks; i++) {
    CLEANUP_FREE char *disk = p2v_vm_path(out_dir, vm->disks[i].path);
    char abs[PATH_MAX];
    if (!disk)
      return -1;
    if (!realpath(disk, abs)) {
      p2v_error("cannot boot-test disk %s: %m", disk);
      return -1;
    }
    struct args a = { 0 };
    arg(&a, QEMU_IMG);
    arg(&a, "create");
    arg(&a, "-q");
    arg(&a, "-f");
    arg(&a, "qcow2");
    arg(&a, "-b");
    arg(&a, "%s", abs);
    arg(&a, "-F");
    arg(&a, "%s", qemu_format(vm->disks[i].format));
    arg(&a, "%s/disk%zu.qcow2", work, i);
    int r = a.failed ? -1 : run(a.v);
    if (a.failed)
      p2v_error("cannot prepare the boot test: out of memory");
    args_clear(&a);
    if (r == -1)
      return -1;
  }
  if (vm->uefi) {
    struct args a = { 0 };
    arg(&a, "cp");
    arg(&a, OVMF_VARS);
    arg(&a, "%s/OVMF_VARS.fd", work);
    if (access(OVMF_CODE, R_OK) == -1 || access(OVMF_VARS, R_OK) == -1) {
      p2v_error("cannot boot-test a UEFI guest: %s or %s is missing (Debian package ovmf)",
                OVMF_CODE, OVMF_VARS);
      args_clear(&a);
      return -1;
    }
    int r = a.failed ? -1 : run(a.v);
    args_clear(&a);
    if (r == -1)
      return -1;
  }
  return 0;
}

static void set_reason(struct p2v_boot_test_result *r, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
static void set_reason(struct p2v_boot_test_result *r, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  free(r->reason);
  if (vasprintf(&r->reason, fmt, ap) == -1)
    r->reason = NULL;
  va_end(ap);
}

/* QMP screendump into out_dir/boot-test.png (via a temporary name). */
static void screenshot(struct qmp *q, const char *out_dir, struct p2v_boot_test_result *r)
{
  char abs[PATH_MAX];
  CLEANUP_FREE char *tmp = NULL;
  CLEANUP_FREE char *png = NULL;
  if (!realpath(out_dir && *out_dir ? out_dir : ".", abs) ||
      asprintf(&tmp, "%s/boot-test.png.tmp", abs) == -1 ||
      asprintf(&png, "%s/boot-test.png", abs) == -1)
    return;
  json_object *args = json_object_new_object();
  if (!args)
    return;
  json_object_object_add(args, "filename", json_object_new_string(tmp));
  json_object_object_add(args, "format", json_object_new_string("png"));
  int rc = p2v_qmp_command(q, "screendump", args, 30, NULL);
  json_object_put(args);
  if (rc == 0 && p2v_commit_file(tmp, png) == 0) {
    r->screenshot = png;
    png = NULL;
  } else {
    unlink(tmp);
  }
}

int p2v_boot_test(const struct p2v_boot_test_options *o, struct p2v_boot_test_result *r)
{
  memset(r, 0, sizeof *r);
  const struct p2v_vm *vm = o->vm;
  const char *marker = p2v_boot_test_marker(o);
  unsigned timeout = o->timeout_seconds ? o->timeout_seconds : 600;
  if (p2v_vm_check(vm) == -1)
    return -1;

  const char *tmpdir = getenv("TMPDIR");
  CLEANUP_FREE char *work = NULL;
  if (asprintf(&work, "%s/p2v-boot-test.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp") == -1 ||
      !mkdtemp(work)) {
    p2v_error("cannot create a folder for the boot test: %m");
    return -1;
  }
  CLEANUP_FREE char *log = NULL;
  CLEANUP_FREE char *console_path = NULL;
  CLEANUP_FREE char *qmp_path = NULL;
  struct args a = { 0 };
  struct console con = { .fd = -1, .buf = malloc(2 * KEEP_BYTES + 8192) };
  struct qmp *q = NULL;
  pid_t pid = -1;
  int ret = -1;

  if (!con.buf || !(r->marker = strdup(marker)) || asprintf(&log, "%s/qemu.log", work) == -1 ||
      asprintf(&console_path, "%s/console.log", work) == -1 ||
      asprintf(&qmp_path, "%s/qmp.sock", work) == -1) {
    p2v_error("cannot prepare the boot test: out of memory");
    goto out;
  }
  if (prepare(vm, o->out_dir, work) == -1)
    goto out;
  r->used_kvm = use_kvm(work);
  qemu_args(&a, vm, work, r->used_kvm);
  if (a.failed) {
    p2v_error("cannot prepare the boot test: out of memory");
    goto out;
  }

  double start = p2v_now_s();
  pid = spawn(a.v, log);
  if (pid == -1)
    goto out;
  q = p2v_qmp_connect(qmp_path, pid, 30);
  int status;
  if (!q) {
    if (wait_for(pid, 2, &status)) {
      pid = -1;
      char msg[512];
      last_line(log, msg, sizeof msg);
      p2v_error("qemu could not start the VM for the boot test: %s", *msg ? msg : "no message");
    }
    goto out;
  }

  /* Watch the console until the marker, qemu's end, or the timeout. */
  for (;;) {
    if (console_poll(&con, console_path, marker)) {
      r->passed = true;
      break;
    }
    if (wait_for(pid, 0, &status)) {
      pid = -1;
      char msg[512];
      last_line(log, msg, sizeof msg);
      set_reason(r, "qemu stopped before the marker '%s' appeared (%s %d)%s%s", marker,
                 WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                 *msg ? ": " : "", msg);
      break;
    }
    if (p2v_now_s() - start >= timeout) {
      set_reason(r, "the marker '%s' was not seen on the serial console within %u s", marker, timeout);
      break;
    }
    usleep(100 * 1000);
  }
  r->seconds = p2v_now_s() - start;
  if (pid != -1)
    screenshot(q, o->out_dir, r);
  console_poll(&con, console_path, marker);
  r->console_tail = p2v_console_clean(con.buf, con.len, TAIL_LINES);
  if (con.nfailed && (r->warnings = calloc(con.nfailed, sizeof *r->warnings)) != NULL) {
    memcpy(r->warnings, con.failed, con.nfailed * sizeof *r->warnings);
    r->nwarnings = con.nfailed;
    con.nfailed = 0;
  }
  if (!r->console_tail || (!r->passed && !r->reason) || (con.nfailed && !r->warnings)) {
    p2v_error("cannot record the boot test's result: out of memory");
    goto out;
  }
  ret = 0;

out:
  if (pid != -1) {
    /* Ask qemu to quit, then insist. */
    p2v_qmp_quit(q);
    if (!q || !wait_for(pid, 5, &status))
      kill_and_reap(pid);
  }
  p2v_qmp_close(q);
  if (con.fd >= 0)
    close(con.fd);
  free(con.buf);
  for (size_t i = 0; i < con.nfailed; i++)
    free(con.failed[i]);
  args_clear(&a);
  nftw(work, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
  if (ret == -1)
    p2v_boot_test_result_clear(r);
  return ret;
}

void p2v_boot_test_result_clear(struct p2v_boot_test_result *r)
{
  free(r->marker);
  free(r->console_tail);
  free(r->screenshot);
  free(r->reason);
  for (size_t i = 0; i < r->nwarnings; i++)
    free(r->warnings[i]);
  free(r->warnings);
  memset(r, 0, sizeof *r);
}
