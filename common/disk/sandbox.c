/* A child process that cannot write: the allocation reader runs here.
 *
 * Why: libparted opens a device O_RDWR whenever it can (as root, always),
 * and the filesystem libraries are large C parsers fed with whatever is on
 * the disk.  The source must never be written, and a corrupt or hostile
 * filesystem must not crash or hang the agent.  So the probe runs in a
 * forked child which, before touching the disk, installs a seccomp filter:
 *
 *  - open/openat/open_by_handle_at asking for write access (or O_CREAT,
 *    O_TRUNC) fail with EROFS, creat always: libparted then falls back to
 *    O_RDONLY, exactly as it does on a read-only medium;
 *  - write-like calls (write, pwrite, writev, ...) fail with EROFS on every
 *    descriptor except 2 (stderr) and 3 (the result pipe): the child has
 *    only those two, the disk (4) and /dev/null (0, 1) open;
 *  - calls that change files by name (truncate, rename, unlink, chmod,
 *    xattrs, ...) and fd-to-fd copies fail with EROFS; mount, swapon,
 *    ptrace, process_vm_writev, pidfd_getfd, io_uring (whose requests
 *    seccomp cannot see) fail with EPERM/ENOSYS;
 *  - ioctl is allowed only for a short list of read-only requests (sizes,
 *    geometry, SCSI address, terminal queries), so no SG_IO/BLKDISCARD/
 *    BLKRRPART can reach the device.  libseccomp cannot express "request
 *    not in list" in one filter, so this is a second stacked filter whose
 *    default is ENOTTY and which allows every other system call by number.
 *
 * Memory calls (mmap, mprotect, madvise, ...) and signals stay allowed, so
 * AddressSanitizer works in the child; the child ends with _exit, so no
 * atexit handler (LeakSanitizer's ptrace-based check) runs there.
 *
 * The parent reads the pipe with a deadline and a size cap and kills the
 * child on either; it trusts nothing the child says (probe-result.c).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/hdreg.h>
#include <scsi/scsi.h>
#include <termios.h>

#include "cleanup.h"
#include "clock.h"
#include "disk-internal.h"
#include "log.h"

#define RESULT_FD 3
#define INPUT_FD  4

static int deny(scmp_filter_ctx ctx, int err, const char *name, unsigned n,
                const struct scmp_arg_cmp *cmp)
{
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR)
    return 0;                 /* not on this architecture */
  return seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(err), nr, n, cmp);
}

/* Filter 1: default allow; deny writing. */
static int add_write_rules(scmp_filter_ctx ctx)
{
  static const char *const by_name[] = {
    "creat", "truncate", "ftruncate", "fallocate", "rename", "renameat",
    "renameat2", "unlink", "unlinkat", "mkdir", "mkdirat", "rmdir", "link",
    "linkat", "symlink", "symlinkat", "mknod", "mknodat", "chmod", "fchmod",
    "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "utime",
    "utimes", "utimensat", "futimesat", "setxattr", "lsetxattr", "fsetxattr",
    "removexattr", "lremovexattr", "fremovexattr", "sendfile",
    "copy_file_range", "splice", "tee", "acct", "swapon", "swapoff",
  };
  static const char *const privileged[] = {
    "mount", "umount2", "pivot_root", "reboot", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module",
    "ptrace", "process_vm_writev", "pidfd_getfd", "fsopen", "fsmount",
    "fsconfig", "move_mount", "open_tree", "mount_setattr", "quotactl",
    "bpf", "syslog",
  };
  static const char *const fd_writes[] = {
    "write", "pwrite64", "writev", "pwritev", "pwritev2",
  };
  static const struct { const char *name; unsigned flags_arg; } opens[] = {
    { "open", 1 }, { "openat", 2 }, { "open_by_handle_at", 2 },
  };
  int r;

  for (size_t i = 0; i < sizeof by_name / sizeof by_name[0]; i++)
    if ((r = deny(ctx, EROFS, by_name[i], 0, NULL)) < 0)
      return r;
  for (size_t i = 0; i < sizeof privileged / sizeof privileged[0]; i++)
    if ((r = deny(ctx, EPERM, privileged[i], 0, NULL)) < 0)
      return r;
  /* io_uring requests bypass seccomp; openat2's flags sit behind a pointer.
   * ENOSYS makes callers fall back to the plain calls filtered here. */
  if ((r = deny(ctx, ENOSYS, "io_uring_setup", 0, NULL)) < 0 ||
      (r = deny(ctx, ENOSYS, "openat2", 0, NULL)) < 0)
    return r;

  for (size_t i = 0; i < sizeof opens / sizeof opens[0]; i++) {
    const struct { scmp_datum_t mask, value; } bad[] = {
      { O_ACCMODE, O_WRONLY }, { O_ACCMODE, O_RDWR }, { O_ACCMODE, O_ACCMODE },
      { O_CREAT, O_CREAT }, { O_TRUNC, O_TRUNC },
    };
    for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
      struct scmp_arg_cmp cmp = {
        opens[i].flags_arg, SCMP_CMP_MASKED_EQ, bad[j].mask, bad[j].value,
      };
      if ((r = deny(ctx, EROFS, opens[i].name, 1, &cmp)) < 0)
        return r;
    }
  }

  /* Only fds 2 and 3 are writable: deny fd < 2 and fd > 3. */
  for (size_t i = 0; i < sizeof fd_writes / sizeof fd_writes[0]; i++) {
    struct scmp_arg_cmp low = SCMP_A0(SCMP_CMP_LT, 2, 0);
    struct scmp_arg_cmp high = SCMP_A0(SCMP_CMP_GT, RESULT_FD, 0);
    if ((r = deny(ctx, EROFS, fd_writes[i], 1, &low)) < 0 ||
        (r = deny(ctx, EROFS, fd_writes[i], 1, &high)) < 0)
      return r;
  }
  return 0;
}

/* Filter 2: ioctl only for read-only requests. */
static int add_ioctl_rules(scmp_filter_ctx ctx)
{
  static const unsigned long allowed[] = {
    BLKGETSIZE, BLKGETSIZE64, BLKSSZGET, BLKPBSZGET, BLKBSZGET, BLKIOMIN,
    BLKIOOPT, BLKALIGNOFF, BLKRAGET, BLKROGET, BLKDISCARDZEROES,
    HDIO_GETGEO, FIGETBSZ, FIONREAD, TCGETS, TIOCGWINSZ,
    /* libparted gives up on a SCSI disk (sd*: SATA, IDE through libata,
     * USB, SAS) whose address it cannot read; the request only reads. */
    SCSI_IOCTL_GET_IDLUN,
  };
  int ioctl_nr = seccomp_syscall_resolve_name("ioctl");
  int r;

  for (int nr = 0; nr < 1024; nr++) {
    if (nr == ioctl_nr)
      continue;
    char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (!name)
      continue;
    free(name);
    if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) < 0)
      return r;
  }
  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
    /* The kernel reads the request as 32 bits. */
    if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, ioctl_nr, 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu,
                                      (scmp_datum_t) (unsigned) allowed[i]))) < 0)
      return r;
  }
  return 0;
}

int p2v_sandbox_install_filter(int writable_fd)
{
  scmp_filter_ctx writes = NULL, ioctls = NULL;
  int r = -ENOMEM;

  if (writable_fd != RESULT_FD) {
    errno = EINVAL;
    return -1;
  }
  writes = seccomp_init(SCMP_ACT_ALLOW);
  ioctls = seccomp_init(SCMP_ACT_ERRNO(ENOTTY));
  if (writes && ioctls &&
      (r = add_write_rules(writes)) == 0 &&
      (r = add_ioctl_rules(ioctls)) == 0 &&
      (r = seccomp_load(writes)) == 0)
    r = seccomp_load(ioctls);
  seccomp_release(writes);
  seccomp_release(ioctls);
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return 0;
}

/* In the child: make the fd table exactly 0,1 (/dev/null), 2, RESULT_FD,
 * INPUT_FD (if any), so nothing else the parent had open is reachable. */
static int arrange_fds(int result_fd, int input_fd)
{
  int devnull = open("/dev/null", O_RDWR);
  int r = fcntl(result_fd, F_DUPFD, 10);
  int i = input_fd >= 0 ? fcntl(input_fd, F_DUPFD, 10) : -1;

  if (devnull < 0 || r < 0 || (input_fd >= 0 && i < 0))
    return -1;
  if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(r, RESULT_FD) < 0 ||
      (i >= 0 && dup2(i, INPUT_FD) < 0))
    return -1;
  return close_range(i >= 0 ? INPUT_FD + 1 : RESULT_FD + 1, ~0U, 0);
}

static void child(p2v_sandbox_fn fn, void *opaque, int result_fd, int input_fd)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_DFL);
  if (arrange_fds(result_fd, input_fd) == -1)
    _exit(124);
  /* Never run the probe without its guard. */
  if (p2v_sandbox_install_filter(RESULT_FD) == -1)
    _exit(125);
  _exit(fn(opaque, input_fd >= 0 ? INPUT_FD : -1, RESULT_FD) == 0 ? 0 : 1);
}

static void set_why(char *why, size_t size, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
static void set_why(char *why, size_t size, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, size, fmt, ap);
  va_end(ap);
}

/* Read the child's output until EOF, the deadline or the cap. */
static int collect(int fd, double deadline, size_t max_bytes, uint8_t **out,
                   size_t *len, char *why, size_t why_size)
{
  size_t cap = 0;
  for (;;) {
    double left = deadline - p2v_now_s();
    if (left <= 0) {
      set_why(why, why_size, "it took longer than the time limit");
      return -1;
    }
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int p = poll(&pfd, 1, (int) (left * 1000) + 1);
    if (p == -1 && errno == EINTR)
      continue;
    if (p == -1) {
      set_why(why, why_size, "poll: %m");
      return -1;
    }
    if (p == 0)
      continue;
    if (*len == cap) {
      if (cap >= max_bytes) {
        set_why(why, why_size, "it sent more than %zu bytes", max_bytes);
        return -1;
      }
      size_t ncap = cap ? cap * 2 : 65536;
      if (ncap > max_bytes)
        ncap = max_bytes;
      uint8_t *n = realloc(*out, ncap);
      if (!n) {
        set_why(why, why_size, "%m");
        return -1;
      }
      *out = n;
      cap = ncap;
    }
    ssize_t r = read(fd, *out + *len, cap - *len);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1) {
      set_why(why, why_size, "read: %m");
      return -1;
    }
    if (r == 0)
      return 0;
    *len += (size_t) r;
  }
}

int p2v_sandbox_run(p2v_sandbox_fn fn, void *opaque, int input_fd,
                    unsigned timeout_seconds, size_t max_bytes,
                    uint8_t **out, size_t *out_len, char *why, size_t why_size)
{
  int fds[2];
  double deadline = p2v_now_s() + timeout_seconds;
  int status, ok;
  pid_t pid;

  *out = NULL;
  *out_len = 0;
  if (pipe2(fds, O_CLOEXEC) == -1) {
    set_why(why, why_size, "pipe: %m");
    return -1;
  }
  fflush(stderr);
  pid = fork();
  if (pid == -1) {
    set_why(why, why_size, "fork: %m");
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    close(fds[0]);
    child(fn, opaque, fds[1], input_fd);
  }
  close(fds[1]);
  ok = collect(fds[0], deadline, max_bytes, out, out_len, why, why_size) == 0;
  close(fds[0]);

  /* The child has closed its end; give it until the deadline to exit. */
  if (!ok)
    kill(pid, SIGKILL);
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid)
      break;
    if (w == -1 && errno != EINTR) {
      set_why(why, why_size, "waitpid: %m");
      return -1;
    }
    if (ok && p2v_now_s() >= deadline) {
      set_why(why, why_size, "it took longer than the time limit");
      ok = 0;
      kill(pid, SIGKILL);
    }
    usleep(5000);
  }
  if (!ok)
    return -1;
  if (WIFSIGNALED(status)) {
    set_why(why, why_size, "the reader crashed (%s)", strsignal(WTERMSIG(status)));
    return -1;
  }
  if (WEXITSTATUS(status) == 124 || WEXITSTATUS(status) == 125) {
    set_why(why, why_size, "the read-only sandbox could not be set up");
    return -1;
  }
  if (WEXITSTATUS(status) != 0) {
    set_why(why, why_size, "the reader failed (exit status %d)", WEXITSTATUS(status));
    return -1;
  }
  return 0;
}
