/* The subprocess runner (POSIX): fork, exec, a poll loop over the two
 * output pipes and the deadline, then SIGTERM, grace, SIGKILL.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "command.h"
#include "file-io.h"
#include "log.h"

#define DEFAULT_MAX_STDOUT (64u << 20)
#define DEFAULT_MAX_STDERR (64u << 10)

struct p2v_command {
  struct p2v_buf out, err;
  int wait_status;
  bool timed_out;
  unsigned timeout_ms;
};

/* The child: never returns.  Its exec error goes to report_fd. */
static void child(const char *const argv[], const struct p2v_command_options *o,
                  int out_fd, int err_fd, int report_fd)
{
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);   /* the copy engine blocks SIGINT/SIGTERM */
  if (!o->inherit_stdio) {
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull == -1 || dup2(devnull, 0) == -1 || dup2(out_fd, 1) == -1 ||
        dup2(err_fd, 2) == -1) {
      int e = errno;
      p2v_write_full(report_fd, &e, sizeof e);
      _exit(126);
    }
  }
  if (o->env)
    execvpe(argv[0], (char *const *) argv, o->env);
  else
    execvp(argv[0], (char *const *) argv);
  int e = errno;
  p2v_write_full(report_fd, &e, sizeof e);
  _exit(127);
}

/* Reap pid, waiting at most until deadline_ms (0: for ever); false if
 * it is still running then. */
static bool reap(pid_t pid, int64_t deadline_ms, int *status)
{
  for (;;) {
    pid_t r = waitpid(pid, status, deadline_ms ? WNOHANG : 0);
    if (r == pid)
      return true;
    if (r == -1 && errno != EINTR) {
      *status = 0;
      return true;                  /* not ours any more: nothing to wait for */
    }
    if (r == 0) {
      if (p2v_now_ms() >= deadline_ms)
        return false;
      usleep(10 * 1000);
    }
  }
}

static void stop(pid_t pid, int *status)
{
  kill(pid, SIGTERM);
  if (!reap(pid, p2v_now_ms() + P2V_COMMAND_GRACE_MS, status)) {
    kill(pid, SIGKILL);
    reap(pid, 0, status);
  }
}

/* Read what is there on fd into b (only its end kept past keep_tail, if
 * nonzero).  0 at end of file, 1 more to come, -1 with errno. */
static int take(int fd, struct p2v_buf *b, size_t keep_tail)
{
  char chunk[65536];
  ssize_t n = read(fd, chunk, sizeof chunk);
  if (n == -1)
    return errno == EINTR || errno == EAGAIN ? 1 : -1;
  if (n == 0)
    return 0;
  if (p2v_buf_append(b, chunk, (size_t) n) == -1)
    return -1;
  if (keep_tail && b->len > keep_tail)
    p2v_buf_drop_front(b, b->len - keep_tail);
  return 1;
}

/* Collect both pipes until both close, the deadline (0: none) passes or
 * stdout grows past max_out.  0; 1 timed out; 2 over max_out; -1 errno. */
static int collect(struct p2v_command *c, int out_fd, int err_fd, int64_t deadline_ms,
                   size_t max_out, size_t max_err)
{
  struct pollfd pfd[2] = { { out_fd, POLLIN, 0 }, { err_fd, POLLIN, 0 } };
  struct p2v_buf *bufs[2] = { &c->out, &c->err };
  int open_fds = 2;
  while (open_fds > 0) {
    int wait = -1;
    if (deadline_ms) {
      int64_t left = deadline_ms - p2v_now_ms();
      if (left <= 0)
        return 1;
      wait = left > INT32_MAX ? INT32_MAX : (int) left;
    }
    int r = poll(pfd, 2, wait);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    for (int i = 0; i < 2; i++) {
      if (pfd[i].fd < 0 || !pfd[i].revents)
        continue;
      int t = take(pfd[i].fd, bufs[i], i == 1 ? max_err : 0);
      if (t == -1)
        return -1;
      if (t == 0) {
        pfd[i].fd = -1;
        open_fds--;
      }
    }
    if (c->out.len > max_out)
      return 2;
  }
  return 0;
}

/* Start the child: its pid, or -1 reported (not found: one line). */
static pid_t start(const char *const argv[], const struct p2v_command_options *o,
                   int out_fd, int err_fd)
{
  int report[2];
  if (pipe2(report, O_CLOEXEC) == -1) {
    p2v_error("cannot run %s: %m", argv[0]);
    return -1;
  }
  pid_t pid = fork();
  if (pid == 0)
    child(argv, o, out_fd, err_fd, report[1]);
  close(report[1]);
  if (pid == -1) {
    p2v_error("cannot run %s: fork: %m", argv[0]);
    close(report[0]);
    return -1;
  }
  int e = 0;
  ssize_t n = p2v_read_full(report[0], &e, sizeof e);
  close(report[0]);
  if (n != (ssize_t) sizeof e)
    return pid;                     /* exec'd: the pipe closed */
  int status;
  reap(pid, 0, &status);
  if (e == ENOENT)
    p2v_error("cannot run %s: command not found%s%s", argv[0],
              o->install_hint ? "; " : "", o->install_hint ? o->install_hint : "");
  else
    p2v_error("cannot run %s: %s", argv[0], strerror(e));
  return -1;
}

struct p2v_command *p2v_command_run(const char *const argv[],
                                    const struct p2v_command_options *opts)
{
  static const struct p2v_command_options defaults;
  const struct p2v_command_options *o = opts ? opts : &defaults;
  size_t max_out = o->max_stdout ? o->max_stdout : DEFAULT_MAX_STDOUT;
  size_t max_err = o->max_stderr ? o->max_stderr : DEFAULT_MAX_STDERR;
  struct p2v_command *c = calloc(1, sizeof *c);
  int po[2] = { -1, -1 }, pe[2] = { -1, -1 };
  if (!c || (!o->inherit_stdio && (pipe2(po, O_CLOEXEC) == -1 || pipe2(pe, O_CLOEXEC) == -1)) ||
      p2v_buf_append(&c->out, "", 0) == -1 || p2v_buf_append(&c->err, "", 0) == -1) {
    p2v_error("cannot run %s: %m", argv[0]);
    goto fail;
  }
  c->timeout_ms = o->timeout_ms;
  int64_t deadline = o->timeout_ms ? p2v_now_ms() + o->timeout_ms : 0;
  pid_t pid = start(argv, o, po[1], pe[1]);
  if (pid == -1)
    goto fail;
  int got = 0;
  if (!o->inherit_stdio) {
    close(po[1]);
    close(pe[1]);
    po[1] = pe[1] = -1;
    got = collect(c, po[0], pe[0], deadline, max_out, max_err);
  }
  int e = errno;
  if (got == 0 && !reap(pid, deadline, &c->wait_status))
    got = 1;
  if (got != 0)
    stop(pid, &c->wait_status);
  if (got == -1) {
    errno = e;
    p2v_error("cannot read the output of %s: %m", argv[0]);
    goto fail;
  }
  if (got == 2) {
    p2v_error("cannot run %s: its output is larger than %zu bytes", argv[0], max_out);
    goto fail;
  }
  c->timed_out = got == 1;
  for (int i = 0; i < 2; i++) {
    if (po[i] >= 0) close(po[i]);
    if (pe[i] >= 0) close(pe[i]);
  }
  return c;

fail:
  for (int i = 0; i < 2; i++) {
    if (po[i] >= 0) close(po[i]);
    if (pe[i] >= 0) close(pe[i]);
  }
  p2v_command_free(c);
  return NULL;
}

int p2v_command_status(const struct p2v_command *c)
{
  if (c->timed_out || !WIFEXITED(c->wait_status))
    return -1;
  return WEXITSTATUS(c->wait_status);
}

int p2v_command_signal(const struct p2v_command *c)
{
  return WIFSIGNALED(c->wait_status) ? WTERMSIG(c->wait_status) : 0;
}

bool p2v_command_timed_out(const struct p2v_command *c)
{
  return c->timed_out;
}

const char *p2v_command_stdout(const struct p2v_command *c, size_t *len)
{
  if (len)
    *len = c->out.len;
  return c->out.data;
}

const char *p2v_command_stderr(const struct p2v_command *c, size_t *len)
{
  if (len)
    *len = c->err.len;
  return c->err.data;
}

char *p2v_command_last_error_line(const struct p2v_command *c)
{
  const char *s = c->err.data;
  size_t end = c->err.len;
  while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\r'))
    end--;
  size_t begin = end;
  while (begin > 0 && s[begin - 1] != '\n')
    begin--;
  return strndup(s + begin, end - begin);
}

const char *p2v_command_ending(const struct p2v_command *c, char *buf, size_t len)
{
  if (c->timed_out)
    snprintf(buf, len, "did not finish within %u s and was stopped",
             (c->timeout_ms + 999) / 1000);
  else if (WIFSIGNALED(c->wait_status))
    snprintf(buf, len, "was killed by signal %d", WTERMSIG(c->wait_status));
  else
    snprintf(buf, len, "exited with status %d", WEXITSTATUS(c->wait_status));
  return buf;
}

void p2v_command_free(struct p2v_command *c)
{
  if (!c)
    return;
  p2v_buf_free(&c->out);
  p2v_buf_free(&c->err);
  free(c);
}
