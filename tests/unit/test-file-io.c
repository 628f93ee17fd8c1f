/* Unit test for common/util/file-io.c: whole reads and writes through
 * short counts and EINTR (a socketpair with a small buffer, a reader that
 * takes little at a time, a timer that interrupts every millisecond), and
 * the atomic replacement of a file.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "file-io.h"
#include "log.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

#define SIZE (4u << 20)

static volatile sig_atomic_t ticks;
static void on_tick(int sig) { (void) sig; ticks++; }

/* Interrupt this process every millisecond, without SA_RESTART. */
static void interrupt_often(bool on)
{
  struct sigaction sa = { .sa_handler = on_tick };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = { { 0, on ? 1000 : 0 }, { 0, on ? 1000 : 0 } };
  setitimer(ITIMER_REAL, &it, NULL);
}

static unsigned char pattern(size_t i) { return (unsigned char) (i * 7 + i / 4099); }

/* A child that echoes what it reads, a few bytes at a time, slowly
 * enough that the writer meets a full socket buffer. */
static pid_t start_echo(int fd)
{
  pid_t pid = fork();
  CHECK(pid != -1);
  if (pid == 0) {
    char b[1000];
    ssize_t n;
    while ((n = read(fd, b, 1 + (size_t) rand() % sizeof b)) > 0)
      if (p2v_write_full(fd, b, (size_t) n) == -1)
        _exit(1);
    _exit(n == 0 ? 0 : 1);
  }
  return pid;
}

static void loops_through_a_socketpair(void)
{
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  int small = 4096;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  pid_t echo = start_echo(sv[1]);
  close(sv[1]);
  unsigned char *out = malloc(SIZE), *in = malloc(SIZE);
  CHECK(out && in);
  for (size_t i = 0; i < SIZE; i++)
    out[i] = pattern(i);
  /* The writer is a second child: both directions stay busy at once. */
  int w[2] = { sv[0], dup(sv[0]) };
  pid_t writer = fork();
  CHECK(writer != -1);
  if (writer == 0) {
    interrupt_often(true);
    int r = p2v_write_full(w[1], out, SIZE);
    shutdown(w[1], SHUT_WR);
    _exit(r == 0 ? 0 : 1);
  }
  close(w[1]);
  interrupt_often(true);
  ssize_t n = p2v_read_full(sv[0], in, SIZE);
  CHECK(n == (ssize_t) SIZE && memcmp(in, out, SIZE) == 0);
  /* Then end of file: a short count, not an error. */
  CHECK(p2v_read_full(sv[0], in, 10) == 0);
  interrupt_often(false);
  CHECK(ticks > 0);
  int status;
  CHECK(waitpid(writer, &status, 0) == writer && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(waitpid(echo, &status, 0) == echo && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(sv[0]);
  free(out);
  free(in);
}

static void positioned(const char *dir)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/positioned", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0);
  CHECK(p2v_pwrite_full(fd, "world", 5, 1000) == 0);
  CHECK(p2v_pwrite_full(fd, "hello", 5, 10) == 0);
  char b[16] = "";
  CHECK(p2v_pread_full(fd, b, 5, 10) == 5 && memcmp(b, "hello", 5) == 0);
  /* Past the end: what is there. */
  CHECK(p2v_pread_full(fd, b, sizeof b, 1000) == 5 && memcmp(b, "world", 5) == 0);
  CHECK(p2v_pread_full(fd, b, sizeof b, 5000) == 0);
  /* An offset no off_t holds. */
  errno = 0;
  CHECK(p2v_pwrite_full(fd, "x", 1, UINT64_MAX) == -1 && errno == EINVAL);
  CHECK(p2v_pread_full(fd, b, 1, (uint64_t) INT64_MAX + 1) == -1 && errno == EINVAL);
  close(fd);
  /* A write that cannot be whole: the error, not a short count. */
  CHECK(p2v_write_full(open("/dev/full", O_WRONLY), "x", 1) == -1 && errno == ENOSPC);
  unlink(path);
}

static int errors;
static void sink(enum p2v_log_level level, const char *message)
{
  (void) message;
  errors += level == P2V_LOG_ERROR;
}

static bool only_entry(const char *dir, const char *name)
{
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "test \"$(ls -A '%s')\" = '%s'", dir, name);
  return system(cmd) == 0;
}

static void atomic(const char *dir)
{
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/report.json", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  umask(022);
  CHECK(p2v_write_file_atomic(path, "first\n", 6) == 0);
  CHECK(p2v_write_file_atomic(path, "second\n", 7) == 0);
  char b[32] = "";
  int fd = open(path, O_RDONLY);
  CHECK(fd >= 0 && p2v_read_full(fd, b, sizeof b) == 7 && memcmp(b, "second\n", 7) == 0);
  close(fd);
  struct stat st;
  CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0644);
  CHECK(only_entry(dir, "report.json"));

  /* A write that fails (file size limit): the old file stays, no temp. */
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit old, lim = { 4, 4 };
  getrlimit(RLIMIT_FSIZE, &old);
  lim.rlim_max = old.rlim_max;
  CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
  CHECK(p2v_write_file_atomic(path, "too long\n", 9) == -1 && errors == 1);
  CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
  CHECK(only_entry(dir, "report.json"));
  fd = open(path, O_RDONLY);
  CHECK(fd >= 0 && p2v_read_full(fd, b, sizeof b) == 7 && memcmp(b, "second\n", 7) == 0);
  close(fd);

  /* A rename that fails (a folder is in the way): no temp either. */
  char blocked[4200];
  snprintf(blocked, sizeof blocked, "%s/sub", dir);
  CHECK(mkdir(blocked, 0700) == 0);
  snprintf(tmp, sizeof tmp, "%s/sub/x", dir);
  CHECK(mkdir(tmp, 0700) == 0);
  CHECK(p2v_write_file_atomic(blocked, "x", 1) == -1 && errors == 2);
  CHECK(access(tmp, F_OK) == 0);
  snprintf(tmp, sizeof tmp, "%s/sub.tmp", dir);
  CHECK(access(tmp, F_OK) == -1 && errno == ENOENT);

  /* Through a named temporary: it must not exist, and one that does is
   * left alone (another writer's). */
  char part[4200], survey[4200];
  snprintf(part, sizeof part, "%s/survey.json.part", dir);
  snprintf(survey, sizeof survey, "%s/survey.json", dir);
  CHECK(p2v_write_file_via(survey, part, "{}\n", 3) == 0);
  CHECK(access(part, F_OK) == -1 && stat(survey, &st) == 0 && st.st_size == 3);
  fd = open(part, O_WRONLY | O_CREAT, 0600);
  CHECK(fd >= 0 && p2v_write_full(fd, "theirs", 6) == 0);
  close(fd);
  CHECK(p2v_write_file_via(survey, part, "{\"x\":1}\n", 8) == -1 && errors == 3);
  CHECK(stat(part, &st) == 0 && st.st_size == 6 && stat(survey, &st) == 0 && st.st_size == 3);
  unlink(part);
  unlink(survey);

  /* A folder that does not exist: reported, nothing created. */
  snprintf(tmp, sizeof tmp, "%s/missing/report.json", dir);
  CHECK(p2v_write_file_atomic(tmp, "x", 1) == -1 && errors == 4);
}

int main(void)
{
  p2v_log_init("test-file-io");
  p2v_log_set_sink(sink);
  char dir[] = "/tmp/test-file-io.XXXXXX";
  CHECK(mkdtemp(dir));
  loops_through_a_socketpair();
  positioned(dir);
  atomic(dir);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
  return 0;
}
