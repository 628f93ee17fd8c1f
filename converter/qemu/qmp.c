/* A minimal QMP client (qemu's JSON monitor protocol) for the boot test:
 * connect to the unix socket, read the greeting, negotiate capabilities,
 * then one command at a time; events arriving in between are skipped.
 * qemu is our child, but its replies are still parsed defensively: lines
 * are capped and anything that is not a JSON object is an error.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "qemu/qemu.h"

#define QMP_LINE_MAX (1 << 20)

struct qmp {
  int fd;
  struct p2v_buf in;           /* bytes received, not yet a whole line */
};

/* The next message (a JSON object), or NULL on timeout, EOF or garbage
 * (reported). */
static json_object *read_message(struct qmp *q, double deadline)
{
  for (;;) {
    char *nl = q->in.len ? memchr(q->in.data, '\n', q->in.len) : NULL;
    if (nl) {
      *nl = 0;
      json_object *msg = json_tokener_parse(q->in.data);
      p2v_buf_drop_front(&q->in, (size_t) (nl - q->in.data) + 1);
      if (!msg || !json_object_is_type(msg, json_type_object)) {
        json_object_put(msg);
        p2v_error("qemu's monitor (QMP) sent something that is not a JSON object");
        return NULL;
      }
      return msg;
    }
    if (q->in.len >= QMP_LINE_MAX) {
      p2v_error("qemu's monitor (QMP) sent a line longer than %d bytes", QMP_LINE_MAX);
      return NULL;
    }
    if (p2v_buf_reserve(&q->in, 4096) == -1) {
      p2v_error("cannot read from qemu's monitor: out of memory");
      return NULL;
    }
    double left = deadline - p2v_now_s();
    if (left <= 0) {
      p2v_error("qemu's monitor (QMP) did not answer in time");
      return NULL;
    }
    struct pollfd p = { .fd = q->fd, .events = POLLIN };
    int r = poll(&p, 1, (int) (left * 1000) + 1);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1) {
      p2v_error("cannot wait for qemu's monitor: %m");
      return NULL;
    }
    if (r == 0)
      continue;
    ssize_t n = read(q->fd, q->in.data + q->in.len, q->in.cap - q->in.len - 1);
    if (n == -1 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0)
        p2v_error("qemu's monitor (QMP) closed the connection");
      else
        p2v_error("cannot read from qemu's monitor: %m");
      return NULL;
    }
    q->in.len += (size_t) n;
  }
}

static int send_all(struct qmp *q, const char *s)
{
  size_t len = strlen(s);
  while (len > 0) {
    ssize_t n = send(q->fd, s, len, MSG_NOSIGNAL);
    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1) {
      p2v_error("cannot send to qemu's monitor: %m");
      return -1;
    }
    s += n;
    len -= (size_t) n;
  }
  return 0;
}

int p2v_qmp_command(struct qmp *q, const char *command, json_object *args,
                    double timeout, json_object **ret)
{
  if (ret)
    *ret = NULL;
  json_object *cmd = json_object_new_object();
  if (!cmd)
    goto oom;
  json_object_object_add(cmd, "execute", json_object_new_string(command));
  if (args)
    json_object_object_add(cmd, "arguments", json_object_get(args));
  /* One send for the command and its newline: qemu may close the
   * socket as soon as it has read a "quit". */
  char *line = NULL;
  const char *text = json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN);
  if (!text || asprintf(&line, "%s\n", text) == -1)
    line = NULL;
  json_object_put(cmd);
  if (!line)
    goto oom;
  int r = send_all(q, line);
  free(line);
  if (r == -1)
    return -1;

  double deadline = p2v_now_s() + timeout;
  for (;;) {
    json_object *msg = read_message(q, deadline);
    if (!msg)
      return -1;
    json_object *v;
    if (json_object_object_get_ex(msg, "return", &v)) {
      if (ret)
        *ret = json_object_get(v);
      json_object_put(msg);
      return 0;
    }
    if (json_object_object_get_ex(msg, "error", &v)) {
      json_object *desc;
      const char *d = json_object_object_get_ex(v, "desc", &desc) ? json_object_get_string(desc) : "?";
      p2v_error("qemu refused %s: %s", command, d);
      json_object_put(msg);
      return -1;
    }
    json_object_put(msg);            /* an event: not ours */
  }

oom:
  p2v_error("cannot send %s to qemu: out of memory", command);
  return -1;
}

/* Has pid exited?  (Not reaped: the caller still collects its status.) */
static bool exited(pid_t pid)
{
  siginfo_t si = { 0 };
  return waitid(P_PID, (id_t) pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

struct qmp *p2v_qmp_connect(const char *path, pid_t pid, double timeout)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof sa.sun_path) {
    p2v_error("QMP socket path %s is too long", path);
    return NULL;
  }
  strcpy(sa.sun_path, path);
  struct qmp *q = calloc(1, sizeof *q);
  if (!q) {
    p2v_error("cannot connect to qemu's monitor: out of memory");
    return NULL;
  }
  q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (q->fd == -1) {
    p2v_error("cannot connect to qemu's monitor: socket: %m");
    free(q);
    return NULL;
  }
  double deadline = p2v_now_s() + timeout;
  while (connect(q->fd, (struct sockaddr *) &sa, sizeof sa) == -1) {
    if (exited(pid)) {
      p2v_qmp_close(q);
      return NULL;                   /* not reported: the caller says why qemu stopped */
    }
    if ((errno != ENOENT && errno != ECONNREFUSED) || p2v_now_s() > deadline) {
      p2v_error("cannot connect to qemu's monitor at %s: %m", path);
      p2v_qmp_close(q);
      return NULL;
    }
    usleep(50 * 1000);
  }
  json_object *greeting = read_message(q, deadline + 5);
  json_object *v;
  bool ok = greeting && json_object_object_get_ex(greeting, "QMP", &v);
  json_object_put(greeting);
  if (!ok) {
    if (greeting)
      p2v_error("qemu's monitor at %s did not greet with QMP", path);
    p2v_qmp_close(q);
    return NULL;
  }
  if (p2v_qmp_command(q, "qmp_capabilities", NULL, 10, NULL) == -1) {
    p2v_qmp_close(q);
    return NULL;
  }
  return q;
}

void p2v_qmp_quit(struct qmp *q)
{
  static const char quit[] = "{\"execute\":\"quit\"}\n";
  if (q)
    (void) send(q->fd, quit, sizeof quit - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

void p2v_qmp_close(struct qmp *q)
{
  if (!q)
    return;
  if (q->fd >= 0)
    close(q->fd);
  p2v_buf_free(&q->in);
  free(q);
}
