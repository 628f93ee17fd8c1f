/* kmod's indexes for the final module set: lay out every module of the
 * new image (the image's own and the added ones) in a private temporary
 * directory, run depmod there and hand back each modules.* file it wrote
 * (modules.dep.bin, modules.alias.bin ...: modprobe and udev read those,
 * not the text lists).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "command.h"
#include "linux.h"
#include "log.h"

extern char **environ;

/* depmod's inputs: copied when present, created empty when not (depmod
 * warns without modules.builtin); not handed back, they are not its output. */
static const char *const inputs[] = { "modules.order", "modules.builtin",
                                      "modules.builtin.modinfo" };

static bool is_input(const char *name)
{
  for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
    if (!strcmp(name, inputs[i]))
      return true;
  return false;
}

struct layout {
  const char *tmp;             /* the temporary directory */
  const char *prefix;          /* "lib/modules/KVER/" */
  size_t prefix_len;
  const struct lx_strv *added; /* source paths to take from SOURCE (no usr/) */
  bool from_source;            /* walking SOURCE, not the image */
};

static const char *strip_usr(const char *p) { return strncmp(p, "usr/", 4) ? p : p + 4; }

/* REST of "lib/modules/KVER/REST", or NULL. */
static const char *under_kver(const struct layout *l, const char *path)
{
  path = strip_usr(path);
  if (strncmp(path, l->prefix, l->prefix_len) != 0 || path[l->prefix_len] == '\0')
    return NULL;
  return path + l->prefix_len;
}

/* A path from a hostile archive must stay inside the directory. */
static bool safe_relpath(const char *rest)
{
  for (const char *s = rest; *s;) {
    size_t n = strcspn(s, "/");
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
      return false;
    s += n;
    if (*s == '/')
      s++;
  }
  return *rest != '\0';
}

static bool want(void *ctx, const char *path)
{
  const struct layout *l = ctx;
  const char *rest = under_kver(l, path);
  if (!rest)
    return false;
  if (l->from_source)
    return lx_strv_has(l->added, strip_usr(path)) || is_input(rest);
  CLEANUP_FREE char *name = lx_module_name(rest);
  return name || is_input(rest);
}

/* Write DATA at TMP/lib/modules/KVER/REST, making directories; with
 * excl, an existing file is kept (the image's own list wins). */
static int put_file(const struct layout *l, const char *rest, const void *data, size_t size,
                    bool excl)
{
  CLEANUP_FREE char *path = NULL;
  if (asprintf(&path, "%s/%s%s", l->tmp, l->prefix, rest) < 0) {
    p2v_error("out of memory");
    return -1;
  }
  for (char *s = strchr(path + strlen(l->tmp) + 1, '/'); s; s = strchr(s + 1, '/')) {
    *s = '\0';
    int e = mkdir(path, 0700) == -1 && errno != EEXIST;
    *s = '/';
    if (e) {
      p2v_error("%s: cannot create directory: %m", path);
      return -1;
    }
  }
  CLEANUP_CLOSE int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
                              (excl ? O_EXCL : O_TRUNC), 0600);
  if (fd == -1 && excl && errno == EEXIST)
    return 0;
  if (fd == -1) {
    p2v_error("%s: cannot create: %m", path);
    return -1;
  }
  const unsigned char *p = data;
  while (size > 0) {
    ssize_t n = write(fd, p, size);
    if (n <= 0) {
      p2v_error("%s: cannot write: %m", path);
      return -1;
    }
    p += n;
    size -= (size_t)n;
  }
  return 0;
}

static int visit(void *ctx, const struct lx_file *f)
{
  const struct layout *l = ctx;
  const char *rest = under_kver(l, f->path);
  if (!rest || !f->data || !S_ISREG(f->mode))
    return 0;
  if (!safe_relpath(rest)) {
    p2v_error("%s: unsafe path in the archive", f->path);
    return -1;
  }
  /* Later segments of an initramfs replace earlier files: truncate.  From
   * SOURCE, the lists only fill in what the image lacks. */
  return put_file(l, rest, f->data, f->size, l->from_source && is_input(rest));
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
  (void)st;
  (void)type;
  (void)ftw;
  remove(path);
  return 0;
}

/* One line: depmod's first error, else its first line, else how it ended. */
static void report_depmod(const struct p2v_command *c)
{
  char first[512] = "";
  for (const char *line = p2v_command_stderr(c, NULL); *line; ) {
    size_t len = strcspn(line, "\n");
    bool error = memmem(line, len, "ERROR", 5) != NULL;
    if (!first[0] || (error && !strstr(first, "ERROR")))
      snprintf(first, sizeof first, "%.*s", (int)(len < sizeof first ? len : sizeof first - 1), line);
    line += len + (line[len] == '\n');
  }
  char ending[64];
  p2v_error("cannot index modules with depmod: %s",
            first[0] ? first : p2v_command_ending(c, ending, sizeof ending));
}

/* Run depmod -b TMP -C TMP/depmod.d KVER. */
static int run_depmod(const char *tmp, const char *kver)
{
  static const char *const candidates[] = { "/usr/sbin/depmod", "/sbin/depmod",
                                            "/usr/bin/depmod", "/bin/depmod" };
  const char *depmod = NULL;
  for (size_t i = 0; !depmod && i < sizeof candidates / sizeof candidates[0]; i++)
    if (access(candidates[i], X_OK) == 0)
      depmod = candidates[i];
  if (!depmod) {
    p2v_error("cannot index modules: depmod not found; install kmod (apt-get install kmod)");
    return -1;
  }
  CLEANUP_FREE char *conf = NULL;
  if (asprintf(&conf, "%s/depmod.d", tmp) < 0) {
    p2v_error("out of memory");
    return -1;
  }
  /* An empty configuration: the host's depmod.d says nothing about the image. */
  if (mkdir(conf, 0700) == -1) {
    p2v_error("%s: cannot create directory: %m", conf);
    return -1;
  }
  const char *argv[] = { depmod, "-b", tmp, "-C", conf, kver, NULL };
  struct p2v_command *c = p2v_command_run(argv, NULL);
  if (!c)
    return -1;
  int r = p2v_command_status(c) == 0 ? 0 : -1;
  if (r == -1)
    report_depmod(c);
  p2v_command_free(c);
  return r;
}

static int read_whole(const char *path, unsigned char **data, size_t *size)
{
  CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  if (fd == -1 || fstat(fd, &st) == -1) {
    p2v_error("%s: cannot read: %m", path);
    return -1;
  }
  if (st.st_size < 0 || (uint64_t)st.st_size > LX_MAX_FILE_BYTES) {
    p2v_error("%s: too large", path);
    return -1;
  }
  size_t n = (size_t)st.st_size, got = 0;
  unsigned char *buf = malloc(n ? n : 1);
  if (!buf) {
    p2v_error("out of memory");
    return -1;
  }
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0) {
      p2v_error("%s: cannot read: %m", path);
      free(buf);
      return -1;
    }
    got += (size_t)r;
  }
  *data = buf;
  *size = n;
  return 0;
}

/* Hand back TMP/lib/modules/KVER/modules.* except depmod's inputs, sorted. */
static int emit_outputs(const struct layout *l, lx_emit_fn emit, void *ctx)
{
  CLEANUP_FREE char *dir = NULL;
  if (asprintf(&dir, "%s/%s", l->tmp, l->prefix) < 0) {
    p2v_error("out of memory");
    return -1;
  }
  struct dirent **ents = NULL;
  int n = scandir(dir, &ents, NULL, alphasort);
  if (n < 0) {
    p2v_error("%s: cannot list: %m", dir);
    return -1;
  }
  int r = 0;
  bool have_dep_bin = false;
  for (int i = 0; i < n; i++) {
    const char *name = ents[i]->d_name;
    if (r == 0 && !strncmp(name, "modules.", 8) && !is_input(name)) {
      CLEANUP_FREE char *src = NULL, *dst = NULL;
      CLEANUP_FREE unsigned char *data = NULL;
      size_t size;
      struct stat st;
      if (asprintf(&src, "%s%s", dir, name) < 0 || asprintf(&dst, "%s%s", l->prefix, name) < 0) {
        p2v_error("out of memory");
        r = -1;
      } else if (lstat(src, &st) == 0 && S_ISREG(st.st_mode)) {
        have_dep_bin |= !strcmp(name, "modules.dep.bin");
        r = read_whole(src, &data, &size) == -1 || emit(ctx, dst, data, size) == -1 ? -1 : 0;
      }
    }
    free(ents[i]);
  }
  free(ents);
  if (r == 0 && !have_dep_bin) {
    p2v_error("cannot index modules with depmod: it wrote no %smodules.dep.bin", l->prefix);
    r = -1;
  }
  return r;
}

int lx_depmod(const char *image, const char *source, const char *kver,
              const struct lx_strv *added, lx_emit_fn emit, void *ctx)
{
  const char *base = getenv("TMPDIR");
  CLEANUP_FREE char *tmp = NULL, *prefix = NULL, *usr = NULL, *usr_lib = NULL, *usr_mod = NULL;
  if (asprintf(&tmp, "%s/p2v-depmod-XXXXXX", base && *base ? base : "/tmp") < 0 ||
      asprintf(&prefix, "lib/modules/%s/", kver) < 0) {
    p2v_error("out of memory");
    return -1;
  }
  if (strchr(kver, '/') || !strcmp(kver, ".") || !strcmp(kver, "..")) {
    p2v_error("%s: bad kernel version %s", image, kver);
    return -1;
  }
  if (!mkdtemp(tmp)) {
    p2v_error("%s: cannot create temporary directory: %m", tmp);
    return -1;
  }
  struct layout l = { .tmp = tmp, .prefix = prefix, .prefix_len = strlen(prefix),
                      .added = added };
  int r = -1;
  if (lx_source_walk(image, want, visit, &l) == -1)
    goto out;
  l.from_source = true;
  if (lx_source_walk(source, want, visit, &l) == -1)
    goto out;
  for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
    if (put_file(&l, inputs[i], "", 0, true) == -1)
      goto out;
  /* A kmod built for a merged /usr looks in usr/lib/modules. */
  if (asprintf(&usr, "%s/usr", tmp) < 0 || asprintf(&usr_lib, "%s/usr/lib", tmp) < 0 ||
      asprintf(&usr_mod, "%s/usr/lib/modules", tmp) < 0) {
    p2v_error("out of memory");
    goto out;
  }
  if (mkdir(usr, 0700) == -1 || mkdir(usr_lib, 0700) == -1 ||
      symlink("../../lib/modules", usr_mod) == -1) {
    p2v_error("%s: cannot create: %m", usr_mod);
    goto out;
  }
  if (run_depmod(tmp, kver) == -1 || emit_outputs(&l, emit, ctx) == -1)
    goto out;
  r = 0;
out:
  nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return r;
}
