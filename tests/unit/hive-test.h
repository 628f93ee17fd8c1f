/* Helpers of the Windows registry unit tests: hives built at test time
 * from $P2V_SHARED_DIR/testdata/windows/minimal-hive with
 * `hivexregedit --merge`, and checked with hivexget and
 * `hivexregedit --export` (tools nobody here wrote).  Error lines are
 * captured so a test can assert there is exactly one.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_TEST_HIVE_TEST_H
#define P2V_TEST_HIVE_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

#define HT_UNUSED __attribute__((unused))

static int failures;

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); failures++; } } while (0)
#define CHECK_STR(got, want) do {                                             \
    const char *g_ = (got), *w_ = (want);                                     \
    if (!g_ || strcmp(g_, w_) != 0) {                                         \
      fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
              #got, g_ ? g_ : "(null)", w_);                                  \
      failures++;                                                             \
    } } while (0)

static char ht_dir[512];

/* ---- error lines ---- */
static struct { int errors; char last[1024]; } ht_log;

static void ht_sink(void *data, enum p2v_log_level level, const char *message)
{
  (void)data;
  if (level == P2V_LOG_ERROR) {
    ht_log.errors++;
    snprintf(ht_log.last, sizeof ht_log.last, "%s", message);
  }
}

static HT_UNUSED void ht_log_reset(void)
{
  ht_log.errors = 0;
  ht_log.last[0] = '\0';
}

/* ---- running the peer tools ---- */

/* Run ARGV; its stdout into *OUT (caller frees; NULL: discarded).  The
 * exit status, or -1 when it could not run. */
static int ht_run(const char *const argv[], char **out)
{
  int p[2];
  if (pipe(p) == -1)
    return -1;
  pid_t pid = fork();
  if (pid == -1)
    return -1;
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0)
      dup2(devnull, 2);
    execvp(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(p[1]);
  size_t len = 0, cap = 4096;
  char *buf = malloc(cap);
  ssize_t n;
  while (buf && (n = read(p[0], buf + len, cap - len - 1)) > 0) {
    len += (size_t)n;
    if (cap - len < 2) {
      char *b = realloc(buf, cap *= 2);
      if (!b)
        free(buf);
      buf = b;
    }
  }
  close(p[0]);
  int status;
  if (waitpid(pid, &status, 0) == -1 || !buf) {
    free(buf);
    return -1;
  }
  buf[len] = '\0';
  if (out)
    *out = buf;
  else
    free(buf);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* hivexget HIVE KEY [NAME], trailing newline cut; NULL when it fails. */
static HT_UNUSED char *ht_get(const char *hive, const char *key, const char *name)
{
  char *out = NULL;
  const char *argv[] = { "hivexget", hive, key, name, NULL };
  if (ht_run(argv, &out) != 0) {
    free(out);
    return NULL;
  }
  size_t n = strlen(out);
  if (n && out[n - 1] == '\n')
    out[n - 1] = '\0';
  return out;
}

/* hivexregedit --export HIVE KEY: the .reg text of KEY and below. */
static HT_UNUSED char *ht_export(const char *hive, const char *key)
{
  char *out = NULL;
  const char *argv[] = { "hivexregedit", "--export", hive, key, NULL };
  if (ht_run(argv, &out) != 0) {
    free(out);
    return NULL;
  }
  return out;
}

/* Does TEXT have LINE as one whole line? */
static HT_UNUSED bool ht_has_line(const char *text, const char *line)
{
  size_t n = strlen(line);
  for (const char *p = text; p && (p = strstr(p, line)); p++)
    if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\r' || p[n] == '\0'))
      return true;
  return false;
}

static HT_UNUSED int ht_count_lines_starting(const char *text, const char *prefix)
{
  int count = 0;
  size_t n = strlen(prefix);
  for (const char *p = text; p && *p; ) {
    if (strncmp(p, prefix, n) == 0)
      count++;
    p = strchr(p, '\n');
    if (p)
      p++;
  }
  return count;
}

/* ---- building hives ---- */

static HT_UNUSED char *ht_read_file(const char *path, size_t *size)
{
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return NULL;
  char *buf = NULL;
  size_t len = 0, cap = 0, n;
  char chunk[65536];
  while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
    if (len + n + 1 > cap) {
      cap = (len + n + 1) * 2;
      char *b = realloc(buf, cap);
      if (!b) {
        free(buf);
        fclose(fp);
        return NULL;
      }
      buf = b;
    }
    memcpy(buf + len, chunk, n);
    len += n;
  }
  fclose(fp);
  if (!buf && !(buf = calloc(1, 1)))
    return NULL;
  buf[len] = '\0';
  if (size)
    *size = len;
  return buf;
}

static HT_UNUSED int ht_write_file(const char *path, const void *data, size_t size)
{
  FILE *fp = fopen(path, "wb");
  if (!fp)
    return -1;
  int r = fwrite(data, 1, size, fp) == size ? 0 : -1;
  if (fclose(fp) != 0)
    r = -1;
  return r;
}

/* $P2V_SHARED_DIR/testdata/windows/minimal-hive (default: beside the source tree). */
static const char *ht_minimal_hive(void)
{
  static char path[4096];
  const char *shared = getenv("P2V_SHARED_DIR");
  const char *src = getenv("P2V_SOURCE_DIR");
  if (shared)
    snprintf(path, sizeof path, "%s/testdata/windows/minimal-hive", shared);
  else
    snprintf(path, sizeof path, "%s/../shared/testdata/windows/minimal-hive", src ? src : ".");
  return path;
}

static void ht_cleanup(void)
{
  if (ht_dir[0]) {
    const char *argv[] = { "rm", "-rf", ht_dir, NULL };
    ht_run(argv, NULL);
  }
}

/* The scratch folder, the log sink, and skip (77) when a peer tool is missing. */
static void ht_setup(void)
{
  p2v_log_init("test");
  p2v_log_set_sink_data(ht_sink, NULL);
  const char *which[] = { "sh", "-c", "command -v hivexget && command -v hivexregedit", NULL };
  if (ht_run(which, NULL) != 0) {
    fprintf(stderr, "SKIP: hivexget or hivexregedit is not installed\n");
    exit(77);
  }
  if (access(ht_minimal_hive(), R_OK) != 0) {
    fprintf(stderr, "cannot read %s: %s\n", ht_minimal_hive(), strerror(errno));
    exit(1);
  }
  const char *tmp = getenv("TMPDIR");
  snprintf(ht_dir, sizeof ht_dir, "%s/p2v-hive.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(ht_dir)) {
    perror("mkdtemp");
    exit(1);
  }
  atexit(ht_cleanup);
}

/* A fresh hive NAME in the scratch folder: minimal-hive with REG (the
 * text of a .reg file after its header line; sections apart by blank
 * lines, every parent key listed) merged in.  Its path (caller frees). */
static char *ht_make_hive(const char *name, const char *reg)
{
  char *path, *regpath;
  if (asprintf(&path, "%s/%s", ht_dir, name) < 0 || asprintf(&regpath, "%s/%s.reg", ht_dir, name) < 0)
    exit(1);
  size_t size;
  char *base = ht_read_file(ht_minimal_hive(), &size);
  if (!base || ht_write_file(path, base, size) == -1) {
    fprintf(stderr, "cannot copy the minimal hive to %s\n", path);
    exit(1);
  }
  free(base);
  char *text;
  if (asprintf(&text, "Windows Registry Editor Version 5.00\n\n%s\n", reg) < 0 ||
      ht_write_file(regpath, text, strlen(text)) == -1)
    exit(1);
  free(text);
  const char *argv[] = { "hivexregedit", "--merge", path, regpath, NULL };
  if (ht_run(argv, NULL) != 0) {
    fprintf(stderr, "hivexregedit --merge %s %s failed\n", path, regpath);
    exit(1);
  }
  free(regpath);
  return path;
}

#endif
