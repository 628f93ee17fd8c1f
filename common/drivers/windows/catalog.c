/* A catalog of Windows driver packages: every INF in a source, parsed for
 * one OS version and architecture, with its virtio-win folder if any.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "log.h"
#include "windows-catalog.h"

struct loader {
  const char *source;
  const struct inf_os *os;
  struct win_catalog *cat;
  size_t infs_seen;
};

/* ".../<driver>/<os>/<arch>/name.inf" with a known os and arch folder. */
static int set_layout(struct win_package *p)
{
  const char *comp[3] = { NULL, NULL, NULL };
  size_t len[3] = { 0, 0, 0 };
  const char *end = strrchr(p->inf_path, '/');
  for (int i = 2; i >= 0 && end; i--) {
    const char *start = end;
    while (start > p->inf_path && start[-1] != '/')
      start--;
    comp[i] = start;
    len[i] = end - start;
    end = start > p->inf_path ? start - 1 : NULL;
  }
  if (!comp[0])
    return 0;
  char os[32], arch[32];
  if (len[1] >= sizeof os || len[2] >= sizeof arch)
    return 0;
  memcpy(os, comp[1], len[1]);
  os[len[1]] = '\0';
  memcpy(arch, comp[2], len[2]);
  arch[len[2]] = '\0';
  const struct win_os_version *v = win_os_by_dir(os);
  const char *a = win_arch_lookup(arch);
  if (!v || !a)
    return 0;
  if (!(p->layout_driver = strndup(comp[0], len[0])) ||
      !(p->layout_os = strdup(v->dir)) || !(p->layout_arch = strdup(a)))
    return -1;
  return 0;
}

static void package_clear(struct win_package *p)
{
  free(p->inf_path);
  free(p->layout_driver);
  free(p->layout_os);
  free(p->layout_arch);
  inf_driver_clear(&p->driver);
}

static int add_inf(const char *path, const uint8_t *data, size_t size, void *opaque)
{
  struct loader *ld = opaque;
  struct win_catalog *cat = ld->cat;
  char err[256];

  ld->infs_seen++;
  struct inf_parse_options opts = { .arch = ld->os->arch };
  struct inf_file *inf = inf_parse(data, size, &opts, err, sizeof err);
  if (!inf) {
    p2v_warning("%s: %s: %s; skipped", ld->source, path, err);
    return 0;
  }
  struct win_package p = { 0 };
  int r = -1;
  if (!(p.inf_path = strdup(path)) || set_layout(&p) < 0 ||
      inf_driver_load(inf, ld->os, &p.driver) < 0)
    goto out;
  if (p.layout_arch && strcmp(p.layout_arch, ld->os->arch) != 0) {
    p2v_debug("%s: %s: for %s, not %s", ld->source, path, p.layout_arch, ld->os->arch);
    r = 0;
    goto out;
  }
  struct win_package *pk = realloc(cat->packages, (cat->npackages + 1) * sizeof *pk);
  if (!pk)
    goto out;
  cat->packages = pk;
  pk[cat->npackages++] = p;
  memset(&p, 0, sizeof p);
  r = 0;
out:
  if (r < 0)
    p2v_error("%s: %s: out of memory", ld->source, path);
  package_clear(&p);
  inf_free(inf);
  return r;
}

static int add_file(const char *path, void *opaque)
{
  struct loader *ld = opaque;
  struct win_catalog *cat = ld->cat;
  if (cat->nfiles % 256 == 0) {
    char **f = realloc(cat->files, (cat->nfiles + 256) * sizeof *f);
    if (!f)
      goto oom;
    cat->files = f;
  }
  char *lower = strdup(path);
  if (!lower)
    goto oom;
  for (char *p = lower; *p; p++)
    *p = (char) tolower((unsigned char) *p);
  cat->files[cat->nfiles++] = lower;
  return 0;
oom:
  p2v_error("%s: out of memory", ld->source);
  return -1;
}

static int compare_paths(const void *a, const void *b)
{
  return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Is every .sys the package copies in the INF's own folder?  (Source
 * disk subfolders are rare in driver packages and not looked at.) */
static bool files_present(const struct win_catalog *cat, const struct win_package *p)
{
  const char *slash = strrchr(p->inf_path, '/');
  size_t dirlen = slash ? (size_t) (slash - p->inf_path + 1) : 0;
  for (size_t i = 0; i < p->driver.nmodels; i++)
    for (size_t k = 0; k < p->driver.models[i].nfiles; k++) {
      CLEANUP_FREE char *want = NULL;
      if (asprintf(&want, "%.*s%s", (int) dirlen, p->inf_path, p->driver.models[i].files[k]) < 0)
        return false;
      for (char *c = want; *c; c++)
        *c = (char) tolower((unsigned char) *c);
      if (!cat->nfiles || !bsearch(&want, cat->files, cat->nfiles, sizeof *cat->files, compare_paths))
        return false;
    }
  return true;
}

int win_catalog_load(const char *source, const struct inf_os *os, struct win_catalog *cat)
{
  memset(cat, 0, sizeof *cat);
  struct loader ld = { source, os, cat, 0 };
  if (win_source_walk(source, add_inf, add_file, &ld) < 0) {
    win_catalog_clear(cat);
    return -1;
  }
  if (ld.infs_seen == 0) {
    p2v_error("%s: no INF files found; not a Windows driver source", source);
    win_catalog_clear(cat);
    return -1;
  }
  if (cat->nfiles)
    qsort(cat->files, cat->nfiles, sizeof *cat->files, compare_paths);
  for (size_t i = 0; i < cat->npackages; i++)
    cat->packages[i].files_present = files_present(cat, &cat->packages[i]);
  return 0;
}

void win_catalog_clear(struct win_catalog *cat)
{
  for (size_t i = 0; i < cat->npackages; i++)
    package_clear(&cat->packages[i]);
  free(cat->packages);
  for (size_t i = 0; i < cat->nfiles; i++)
    free(cat->files[i]);
  free(cat->files);
  memset(cat, 0, sizeof *cat);
}
