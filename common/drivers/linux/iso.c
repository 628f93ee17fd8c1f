/* p2v-drivers add on an ISO image: the initramfs inside it, extended by
 * the new segment, replaces the old one in a copy of the image written by
 * xorriso, which replays the boot setup it finds (El Torito BIOS and EFI
 * entries, isohybrid MBR, GPT, appended partitions).  Dates come from the
 * input's volume descriptor (or SOURCE_DATE_EPOCH), so the same input gives
 * the same bytes.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "command.h"
#include "file-io.h"
#include "linux.h"
#include "log.h"

extern char **environ;

/* ISO 9660 primary volume descriptor (sector 16): "\1CD001"; the volume
 * modification date at byte 830, "YYYYMMDDHHMMSScc" then the offset from
 * GMT in 15 minute steps. */
#define PVD_OFFSET (16 * 2048)
#define PVD_MTIME 830

static long long iso_epoch(const char *iso)
{
  const char *env = getenv("SOURCE_DATE_EPOCH");
  char *end;
  if (env && *env) {
    long long v = strtoll(env, &end, 10);
    if (!*end && v >= 0)
      return v;
  }
  const long long fallback = 315532800;     /* 1980-01-01, the earliest FAT date */
  unsigned char pvd[PVD_MTIME + 17];
  CLEANUP_CLOSE int fd = open(iso, O_RDONLY | O_CLOEXEC);
  if (fd == -1 || pread(fd, pvd, sizeof pvd, PVD_OFFSET) != (ssize_t)sizeof pvd ||
      memcmp(pvd, "\1CD001", 6) != 0)
    return fallback;
  struct tm tm = { 0 };
  int f[6], widths[6] = { 4, 2, 2, 2, 2, 2 };
  const unsigned char *p = pvd + PVD_MTIME;
  for (int i = 0; i < 6; i++) {
    f[i] = 0;
    for (int j = 0; j < widths[i]; j++, p++) {
      if (*p < '0' || *p > '9')
        return fallback;
      f[i] = f[i] * 10 + (*p - '0');
    }
  }
  if (f[0] < 1980 || f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 ||
      f[4] > 59 || f[5] > 60)
    return fallback;
  tm.tm_year = f[0] - 1900;
  tm.tm_mon = f[1] - 1;
  tm.tm_mday = f[2];
  tm.tm_hour = f[3];
  tm.tm_min = f[4];
  tm.tm_sec = f[5];
  long long t = (long long)timegm(&tm) - (long long)(signed char)pvd[PVD_MTIME + 16] * 15 * 60;
  return t < 0 ? fallback : t;
}

/* The old initramfs, padding to 4 bytes, the new segment: one file. */
static int write_initramfs(const char *path, const unsigned char *old, size_t old_len,
                           const struct lx_buf *seg, long long epoch)
{
  CLEANUP_CLOSE int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  static const unsigned char zeros[4];
  size_t pad = (4 - old_len % 4) % 4;
  struct timespec times[2] = { { .tv_sec = (time_t)epoch }, { .tv_sec = (time_t)epoch } };
  if (fd == -1 || p2v_write_full(fd, old, old_len) == -1 || p2v_write_full(fd, zeros, pad) == -1 ||
      p2v_write_full(fd, seg->data, seg->len) == -1 || futimens(fd, times) == -1) {
    p2v_error("%s: cannot write: %m", path);
    return -1;
  }
  return 0;
}

/* xorriso's first FAILURE/SORRY/FATAL line, else its last line (of
 * stderr, where its messages go, else of stdout). */
static void report_xorriso(struct p2v_command *c)
{
  char pick[512] = "";
  for (int stream = 0; stream < 2 && !pick[0]; stream++) {
    const char *text = stream == 0 ? p2v_command_stderr(c, NULL) : p2v_command_stdout(c, NULL);
    for (const char *line = text; *line; ) {
      size_t len = strcspn(line, "\n");
      if (len)
        snprintf(pick, sizeof pick, "%.*s", (int)(len < sizeof pick ? len : sizeof pick - 1), line);
      if (memmem(line, len, "FAILURE", 7) || memmem(line, len, "SORRY", 5) ||
          memmem(line, len, "FATAL", 5))
        break;
      line += len + (line[len] == '\n');
    }
  }
  if (pick[0])
    p2v_error("cannot write the ISO image with xorriso: %s", pick);
  else {
    char ending[64];
    p2v_error("cannot write the ISO image with xorriso: it %s",
              p2v_command_ending(c, ending, sizeof ending));
  }
}

static int run_xorriso(char **argv, long long epoch)
{
  /* environ with SOURCE_DATE_EPOCH set to our epoch. */
  size_t n = 0;
  while (environ[n])
    n++;
  CLEANUP_FREE char **env = calloc(n + 2, sizeof *env);
  CLEANUP_FREE char *sde = NULL;
  if (!env || asprintf(&sde, "SOURCE_DATE_EPOCH=%lld", epoch) < 0) {
    p2v_error("out of memory");
    return -1;
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "SOURCE_DATE_EPOCH=", 18) != 0)
      env[k++] = environ[i];
  env[k++] = sde;

  struct p2v_command_options o = { .env = env, .install_hint = "install it (apt-get install xorriso)" };
  struct p2v_command *c = p2v_command_run((const char *const *)argv, &o);
  if (!c)
    return -1;
  int r = p2v_command_status(c) == 0 ? 0 : -1;
  if (r == -1)
    report_xorriso(c);
  p2v_command_free(c);
  return r;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
  (void)st; (void)type; (void)ftw;
  remove(path);
  return 0;
}

int lx_iso_add_segment(const char *iso, const char *out, const struct lx_buf *seg)
{
  CLEANUP_FREE unsigned char *old = NULL;
  CLEANUP_FREE char *found = NULL, *tmp = NULL, *initrd = NULL, *image = NULL,
                    *target = NULL;
  size_t old_len;
  if (lx_iso_find_initramfs(iso, &old, &old_len, &found) == -1)
    return -1;
  /* The work folder sits beside OUT, so the finished image is renamed,
   * never copied, into place. */
  if (asprintf(&tmp, "%s.tmpXXXXXX", out) < 0 ||
      asprintf(&target, "/%s", found + (found[0] == '/')) < 0) {
    p2v_error("out of memory");
    return -1;
  }
  if (!mkdtemp(tmp)) {
    p2v_error("%s: cannot create a temporary folder beside it: %m", out);
    return -1;
  }
  int r = -1;
  long long epoch = iso_epoch(iso);
  if (asprintf(&initrd, "%s/initrd", tmp) < 0 || asprintf(&image, "%s/image.iso", tmp) < 0) {
    p2v_error("out of memory");
    goto out;
  }
  if (write_initramfs(initrd, old, old_len, seg, epoch) == -1)
    goto out;
  p2v_info("%s: replacing %s", iso, target);
  char *argv[] = {
    (char *)"xorriso", (char *)"-abort_on", (char *)"FAILURE",
    (char *)"-return_with", (char *)"SORRY", (char *)"32",
    (char *)"-indev", (char *)iso, (char *)"-outdev", image,
    (char *)"-boot_image", (char *)"any", (char *)"replay",
    (char *)"-map", initrd, target,
    (char *)"-chown", (char *)"0", target, (char *)"--", (char *)"-chgrp", (char *)"0", target, (char *)"--",
    (char *)"-chmod", (char *)"0644", target, (char *)"--",
    (char *)"-commit", NULL,
  };
  if (run_xorriso(argv, epoch) == -1)
    goto out;
  if (chmod(image, 0644) == -1 || rename(image, out) == -1) {
    p2v_error("%s: cannot write: %m", out);
    goto out;
  }
  r = 0;
out:
  nftw(tmp, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
  return r;
}
