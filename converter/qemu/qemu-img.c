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
#include "command.h"
#include "log.h"
#include "qemu/qemu.h"

#define MAX_OUTPUT (64u << 20)   /* a map of a fragmented 2 TiB overlay fits */

int run_command(const char *const argv[], char **out, char **err)
{
  struct p2v_command_options o = { .max_stdout = MAX_OUTPUT, .max_stderr = 16384 };
  struct p2v_command *c = p2v_command_run(argv, &o);
  if (!c)
    return -1;
  int status = p2v_command_status(c);
  if (status == -1)
    status = 128 + p2v_command_signal(c);
  if (out && !(*out = strdup(p2v_command_stdout(c, NULL))))
    status = -1;
  if (err && !(*err = p2v_command_last_error_line(c)))
    status = -1;
  if (status == -1)
    p2v_error("reading the output of %s: %m", argv[0]);
  p2v_command_free(c);
  return status;
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
