/* Which disks the live image serves: every whole disk of the machine but
 * its own boot medium (the ISO 9660 volume P2V_LIVE, on a CD or a USB
 * stick) and devices that are not disks (optical, loop, RAM, zram, ...).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "live.h"
#include "log.h"

#define VOLUME_ID "P2V_LIVE"

static bool not_a_disk(const char *name)
{
  static const char *const prefixes[] = {
    "loop", "ram", "zram", "sr", "fd", "dm-", "md", "nbd", NULL,
  };
  for (size_t i = 0; prefixes[i]; i++)
    if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
      return true;
  return false;
}

bool live_is_boot_medium(const char *path)
{
  /* The primary volume descriptor: sector 16 of 2048 bytes, "\1CD001",
   * the volume identifier at byte 40, 32 characters padded with spaces. */
  CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
  unsigned char pvd[72];
  if (fd == -1 || pread(fd, pvd, sizeof pvd, 16 * 2048) != (ssize_t)sizeof pvd)
    return false;
  if (pvd[0] != 1 || memcmp(pvd + 1, "CD001", 5) != 0)
    return false;
  size_t n = strlen(VOLUME_ID);
  if (memcmp(pvd + 40, VOLUME_ID, n) != 0)
    return false;
  for (size_t i = 40 + n; i < 72; i++)
    if (pvd[i] != ' ' && pvd[i] != '\0')
      return false;
  return true;
}

static int compare_names(const void *a, const void *b)
{
  return strverscmp(*(char *const *)a, *(char *const *)b);
}

static bool wanted(const char *name, char *const *names, size_t nnames)
{
  if (nnames == 0)
    return true;
  for (size_t i = 0; i < nnames; i++)
    if (!strcmp(names[i], name))
      return true;
  return false;
}

int live_disks_find(const struct live_roots *roots, char *const *names, size_t nnames,
                    char ***paths_out, size_t *npaths_out)
{
  char dirpath[PATH_MAX];
  snprintf(dirpath, sizeof dirpath, "%s/block", roots->sysfs);
  DIR *dir = opendir(dirpath);
  if (!dir) {
    p2v_error("cannot list disks in %s: %m", dirpath);
    return -1;
  }
  char **found = NULL;          /* sysfs names, "cciss!c0d0" */
  size_t nfound = 0;
  struct dirent *e;
  int r = -1;
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] == '.' || not_a_disk(e->d_name))
      continue;
    char size[32] = "";
    char attr[PATH_MAX];
    if (snprintf(attr, sizeof attr, "%s/%s/size", dirpath, e->d_name) >= (int)sizeof attr)
      continue;
    CLEANUP_FCLOSE FILE *f = fopen(attr, "re");
    if (!f || !fgets(size, sizeof size, f) || atoll(size) == 0)
      continue;                /* empty card reader, drive without a medium */
    char **grown = realloc(found, (nfound + 1) * sizeof *grown);
    if (!grown || !(grown[nfound] = strdup(e->d_name))) {
      if (grown)
        found = grown;
      p2v_error("out of memory");
      goto out;
    }
    found = grown;
    nfound++;
  }
  if (nfound > 1)
    qsort(found, nfound, sizeof *found, compare_names);

  /* Every name asked for must be here. */
  for (size_t i = 0; i < nnames; i++) {
    bool here = false;
    for (size_t j = 0; j < nfound && !here; j++)
      here = !strcmp(found[j], names[i]);
    if (!here) {
      p2v_error("p2v.disks names %s, which this machine does not have (see the survey "
                "for its disks)", names[i]);
      goto out;
    }
  }

  char **paths = calloc(nfound ? nfound : 1, sizeof *paths);
  size_t npaths = 0;
  if (!paths) {
    p2v_error("out of memory");
    goto out;
  }
  for (size_t i = 0; i < nfound; i++) {
    if (!wanted(found[i], names, nnames))
      continue;
    char *path;
    if (asprintf(&path, "%s/%s", roots->dev, found[i]) == -1) {
      p2v_error("out of memory");
      for (size_t j = 0; j < npaths; j++)
        free(paths[j]);
      free(paths);
      goto out;
    }
    for (char *p = path + strlen(roots->dev); *p; p++)
      if (*p == '!')
        *p = '/';
    if (live_is_boot_medium(path)) {
      live_say("%s is this image's boot medium (%s): not served", found[i], VOLUME_ID);
      free(path);
      continue;
    }
    paths[npaths++] = path;
  }
  *paths_out = paths;
  *npaths_out = npaths;
  r = 0;
out:
  closedir(dir);
  for (size_t i = 0; i < nfound; i++)
    free(found[i]);
  free(found);
  return r;
}
