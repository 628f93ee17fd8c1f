/* What the conversion changed: the clusters an overlay holds itself, as
 * qemu-img map reports them with the overlay's backing file cut off, and
 * a read-only NBD view of those clusters (qemu-nbd), so the copy can take
 * them from the overlay and everything else from the source.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cleanup.h"
#include "log.h"
#include "qemu/qemu.h"

#define MAX_OUTPUT (64u << 20)   /* a map of a fragmented 2 TiB overlay fits */

static int append(char **buf, size_t *len, const char *data, size_t n)
{
  if (*len + n + 1 > MAX_OUTPUT) {
    errno = EFBIG;
    return -1;
  }
  char *p = realloc(*buf, *len + n + 1);
  if (!p)
    return -1;
  memcpy(p + *len, data, n);
  *len += n;
  p[*len] = '\0';
  *buf = p;
  return 0;
}

int run_command(const char *const argv[], char **out, char **err)
{
  int po[2], pe[2];
  if (pipe2(po, O_CLOEXEC) == -1) {
    p2v_error("cannot run %s: %m", argv[0]);
    return -1;
  }
  if (pipe2(pe, O_CLOEXEC) == -1) {
    p2v_error("cannot run %s: %m", argv[0]);
    close(po[0]);
    close(po[1]);
    return -1;
  }
  pid_t pid = fork();
  if (pid == -1) {
    p2v_error("cannot run %s: %m", argv[0]);
    close(po[0]); close(po[1]); close(pe[0]); close(pe[1]);
    return -1;
  }
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      dup2(devnull, 0);
    dup2(po[1], 1);
    dup2(pe[1], 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(argv[0], (char *const *) argv);
    dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(po[1]);
  close(pe[1]);

  char *obuf = NULL, *ebuf = NULL;
  size_t olen = 0, elen = 0;
  bool failed = false;
  struct pollfd pfd[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(pfd, 2, -1) == -1) {
      if (errno == EINTR)
        continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (pfd[i].fd < 0 || !pfd[i].revents)
        continue;
      char chunk[65536];
      ssize_t n = read(pfd[i].fd, chunk, sizeof chunk);
      if (n <= 0) {
        close(pfd[i].fd);
        pfd[i].fd = -1;
        open_fds--;
        continue;
      }
      /* stderr: keep only the end, where the reason is. */
      if (i == 1 && elen > 16384) {
        free(ebuf);
        ebuf = NULL;
        elen = 0;
      }
      if ((i == 0 ? append(&obuf, &olen, chunk, (size_t) n)
                  : append(&ebuf, &elen, chunk, (size_t) n)) == -1)
        failed = true;
    }
  }
  int status;
  while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
    ;
  if (failed) {
    p2v_error("reading the output of %s: %m", argv[0]);
    free(obuf);
    free(ebuf);
    return -1;
  }
  if (out)
    *out = obuf ? obuf : strdup("");
  else
    free(obuf);
  if (err) {
    /* The last non-empty line. */
    char *e = ebuf ? ebuf : strdup("");
    size_t n = e ? strlen(e) : 0;
    while (n > 0 && (e[n - 1] == '\n' || e[n - 1] == '\r'))
      e[--n] = '\0';
    char *nl = e ? strrchr(e, '\n') : NULL;
    *err = nl ? strdup(nl + 1) : e;
    if (nl)
      free(e);
  } else
    free(ebuf);
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* A qemu filename that opens overlay as qcow2 without its backing file,
 * so that unallocated clusters read as zero and map as not present. */
static char *no_backing_filename(const char *overlay)
{
  json_object *o = json_object_new_object(), *file = json_object_new_object();
  json_object_object_add(file, "driver", json_object_new_string("file"));
  json_object_object_add(file, "filename", json_object_new_string(overlay));
  json_object_object_add(o, "driver", json_object_new_string("qcow2"));
  json_object_object_add(o, "file", file);
  json_object_object_add(o, "backing", NULL);
  char *s = NULL;
  if (asprintf(&s, "json:%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) == -1)
    s = NULL;
  json_object_put(o);
  return s;
}

static int64_t get_int(json_object *o, const char *key)
{
  json_object *v;
  if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
    return -1;
  return json_object_get_int64(v);
}

int run_overlay_changes(const char *overlay, struct p2v_extent_list *changed)
{
  CLEANUP_FREE char *filename = no_backing_filename(overlay);
  if (!filename) {
    p2v_error("out of memory");
    return -1;
  }
  const char *argv[] = { "qemu-img", "map", "--output=json", filename, NULL };
  CLEANUP_FREE char *out = NULL, *err = NULL;
  int status = run_command(argv, &out, &err);
  if (status == -1)
    return -1;
  if (status != 0) {
    p2v_error("qemu-img map of overlay %s failed: %s", overlay, err && *err ? err : "no message");
    return -1;
  }
  json_object *map = json_tokener_parse(out);
  if (!map || !json_object_is_type(map, json_type_array)) {
    p2v_error("qemu-img map of overlay %s: output is not a JSON array", overlay);
    json_object_put(map);
    return -1;
  }
  int r = 0;
  size_t n = json_object_array_length(map);
  for (size_t i = 0; i < n && r == 0; i++) {
    json_object *e = json_object_array_get_idx(map, i), *present;
    int64_t start = get_int(e, "start"), length = get_int(e, "length");
    if (start < 0 || length < 0 || !json_object_object_get_ex(e, "present", &present)) {
      p2v_error("qemu-img map of overlay %s: entry %zu lacks start, length or present "
                "(qemu 6.2 or later is needed)", overlay, i);
      r = -1;
    } else if (json_object_get_boolean(present) && length > 0)
      r = p2v_extent_list_add(changed, (uint64_t) start, (uint64_t) length);
  }
  json_object_put(map);
  p2v_extent_list_normalize(changed);
  return r;
}

static bool socket_answers(const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof sa.sun_path)
    return false;
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1)
    return false;
  bool ok = connect(fd, (struct sockaddr *) &sa, sizeof sa) == 0;
  close(fd);
  return ok;
}

char *run_qemu_nbd_start(const char *image, const char *format, bool no_backing,
                         const char *socket_path, pid_t *pid)
{
  CLEANUP_FREE char *filename = no_backing ? no_backing_filename(image) : strdup(image);
  CLEANUP_FREE char *sockopt = NULL;
  if (!filename || asprintf(&sockopt, "--socket=%s", socket_path) == -1) {
    p2v_error("out of memory");
    return NULL;
  }
  unlink(socket_path);
  /* Our own child (not --fork: its daemon would not be ours to reap);
   * --persistent keeps serving across clients. */
  const char *argv[12];
  size_t a = 0;
  argv[a++] = "qemu-nbd";
  argv[a++] = "--read-only";
  argv[a++] = "--persistent";
  argv[a++] = "--shared=64";
  argv[a++] = sockopt;
  if (!no_backing) {
    argv[a++] = "--format";
    argv[a++] = format;
  }
  argv[a++] = filename;
  argv[a] = NULL;

  int pe[2];
  if (pipe2(pe, O_CLOEXEC) == -1) {
    p2v_error("cannot run qemu-nbd: %m");
    return NULL;
  }
  pid_t child = fork();
  if (child == -1) {
    p2v_error("cannot run qemu-nbd: %m");
    close(pe[0]);
    close(pe[1]);
    return NULL;
  }
  if (child == 0) {
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 1);
    }
    dup2(pe[1], 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(argv[0], (char *const *) argv);
    dprintf(2, "cannot run qemu-nbd: %s\n", strerror(errno));
    _exit(127);
  }
  close(pe[1]);
  fcntl(pe[0], F_SETFL, O_NONBLOCK);
  char err[1024] = "";
  size_t elen = 0;
  bool ready = false;
  for (int i = 0; i < 1000 && !ready; i++) {        /* 20 s */
    ssize_t n = read(pe[0], err + elen, sizeof err - 1 - elen);
    if (n > 0)
      elen += (size_t) n;
    int status;
    if (waitpid(child, &status, WNOHANG) == child) {
      err[elen] = '\0';
      char *nl;
      while (elen && (err[elen - 1] == '\n'))
        err[--elen] = '\0';
      nl = strrchr(err, '\n');
      p2v_error("cannot serve %s with qemu-nbd: %s", image,
                nl ? nl + 1 : *err ? err : "it exited at once");
      close(pe[0]);
      return NULL;
    }
    ready = socket_answers(socket_path);
    if (!ready) {
      struct timespec t = { 0, 20 * 1000 * 1000 };
      nanosleep(&t, NULL);
    }
  }
  close(pe[0]);
  *pid = child;
  if (!ready) {
    p2v_error("qemu-nbd serving %s did not open %s within 20 s", image, socket_path);
    run_qemu_nbd_stop(child, socket_path);
    return NULL;
  }
  char *uri = NULL;
  if (asprintf(&uri, "nbd+unix:///?socket=%s", socket_path) == -1) {
    p2v_error("out of memory");
    run_qemu_nbd_stop(*pid, socket_path);
    return NULL;
  }
  return uri;
}

void run_qemu_nbd_stop(pid_t pid, const char *socket_path)
{
  if (pid > 1 && kill(pid, SIGTERM) == 0)
    while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
      ;
  if (socket_path)
    unlink(socket_path);
}
