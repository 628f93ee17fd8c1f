/* Loading a kernel's module catalog (lx_catalog_load) from a package, tree,
 * initramfs or ISO: which module each modules.alias pattern
 * loads, what each module depends on and which firmware files it asks for.
 * The .ko files' own .modinfo is the first source (a .deb ships no
 * modules.alias or modules.dep: depmod makes them at install time);
 * modules.alias and modules.dep fill in modules whose .ko is absent.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "linux.h"
#include "log.h"

struct text_file {
  char *kver;
  char *text;
  size_t len;
};

struct build {
  struct lx_catalog *cat;
  struct text_file alias_files[8], dep_files[8];
  size_t nalias_files, ndep_files;
};

/* "lib/modules/VER/REST" (or under usr/): VER and REST, else false. */
static bool split_modules_path(const char *path, char **kver, const char **rest)
{
  if (!strncmp(path, "usr/", 4))
    path += 4;
  if (strncmp(path, "lib/modules/", 12) != 0)
    return false;
  const char *v = path + 12, *slash = strchr(v, '/');
  if (!slash || slash == v || slash[1] == '\0')
    return false;
  *kver = strndup(v, (size_t)(slash - v));
  *rest = slash + 1;
  return *kver != NULL;
}

static const char *firmware_name(const char *path)
{
  if (!strncmp(path, "usr/", 4))
    path += 4;
  if (strncmp(path, "lib/firmware/", 13) != 0 || path[13] == '\0')
    return NULL;
  return path + 13;
}

static int add_firmware(struct lx_catalog *cat, const char *fw)
{
  size_t n = strlen(fw);
  static const char *const exts[] = { ".xz", ".zst" };
  for (size_t i = 0; i < 2; i++) {
    size_t e = strlen(exts[i]);
    if (n > e && !strcmp(fw + n - e, exts[i]))
      n -= e;
  }
  return lx_strv_add(&cat->firmware, fw, n);
}

static ssize_t new_module(struct lx_catalog *cat, const char *name, const char *kver)
{
  struct lx_module *m = realloc(cat->modules, (cat->nmodules + 1) * sizeof *m);
  if (!m) {
    p2v_error("out of memory");
    return -1;
  }
  cat->modules = m;
  m = &cat->modules[cat->nmodules];
  memset(m, 0, sizeof *m);
  m->name = strdup(name);
  m->kver = strdup(kver);
  if (!m->name || !m->kver) {
    free(m->name);
    free(m->kver);
    p2v_error("out of memory");
    return -1;
  }
  return (ssize_t)cat->nmodules++;
}

static bool want(void *ctx, const char *path)
{
  CLEANUP_FREE char *kver = NULL;
  const char *rest;
  if (!split_modules_path(path, &kver, &rest))
    return false;
  CLEANUP_FREE char *name = lx_module_name(rest);
  return name || !strcmp(rest, "modules.alias") || !strcmp(rest, "modules.dep");
}

static int keep_text(struct text_file *files, size_t *n, char *kver, const struct lx_file *f)
{
  if (*n >= 8) {
    free(kver);
    return 0;                  /* more kernels than anyone ships at once */
  }
  char *text = malloc(f->size + 1);
  if (!text) {
    free(kver);
    p2v_error("out of memory");
    return -1;
  }
  memcpy(text, f->data, f->size);
  text[f->size] = '\0';
  files[*n] = (struct text_file){ kver, text, f->size };
  (*n)++;
  return 0;
}

static int visit(void *ctx, const struct lx_file *f)
{
  struct build *b = ctx;
  const char *fw = firmware_name(f->path);
  if (fw && (S_ISREG(f->mode) || S_ISLNK(f->mode)))
    return add_firmware(b->cat, fw);
  char *kver;
  const char *rest;
  if (!f->data || !S_ISREG(f->mode) || !split_modules_path(f->path, &kver, &rest))
    return 0;
  if (!strcmp(rest, "modules.alias"))
    return keep_text(b->alias_files, &b->nalias_files, kver, f);
  if (!strcmp(rest, "modules.dep"))
    return keep_text(b->dep_files, &b->ndep_files, kver, f);
  CLEANUP_FREE char *owned_kver = kver;
  CLEANUP_FREE char *name = lx_module_name(rest);
  if (!name)
    return 0;
  struct lx_modinfo mi;
  if (lx_modinfo_read(f->path, f->data, f->size, &mi) == -1)
    return -1;
  ssize_t i = lx_catalog_find_in(b->cat, name, kver);
  if (i == -1)
    i = new_module(b->cat, name, kver);
  if (i == -1) {
    lx_modinfo_clear(&mi);
    return -1;
  }
  struct lx_module *m = &b->cat->modules[i];
  free(m->relpath);
  m->relpath = strdup(rest);
  m->have_ko = true;
  lx_strv_clear(&m->aliases);
  lx_strv_clear(&m->firmware);
  lx_strv_clear(&m->depends);
  m->aliases = mi.aliases;
  m->firmware = mi.firmware;
  m->depends = mi.depends;
  return m->relpath ? 0 : -1;
}

/* "alias PATTERN MODULE" lines, for modules whose .ko gave no aliases. */
static int merge_alias_file(struct lx_catalog *cat, const struct text_file *t)
{
  const char *p = t->text, *end = t->text + t->len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *eol = nl ? nl : end;
    const char *pat, *mod;
    size_t plen, mlen;
    if (lx_alias_parse_line(p, (size_t)(eol - p), &pat, &plen, &mod, &mlen)) {
      CLEANUP_FREE char *name = strndup(mod, mlen);
      if (!name)
        return -1;
      ssize_t i = lx_catalog_find_in(cat, name, t->kver);
      if (i == -1 && (i = new_module(cat, name, t->kver)) == -1)
        return -1;
      struct lx_module *m = &cat->modules[i];
      if (!m->have_ko && lx_strv_add(&m->aliases, pat, plen) == -1)
        return -1;
    }
    p = eol + 1;
  }
  return 0;
}

/* "kernel/x/a.ko: kernel/y/b.ko kernel/z/c.ko" lines. */
static int merge_dep_file(struct lx_catalog *cat, const struct text_file *t)
{
  const char *p = t->text, *end = t->text + t->len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *eol = nl ? nl : end;
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (colon) {
      CLEANUP_FREE char *rel = strndup(p, (size_t)(colon - p));
      CLEANUP_FREE char *name = rel ? lx_module_name(rel) : NULL;
      ssize_t i = name ? lx_catalog_find_in(cat, name, t->kver) : -1;
      if (name && i == -1 && (i = new_module(cat, name, t->kver)) == -1)
        return -1;
      struct lx_module *m = i >= 0 ? &cat->modules[i] : NULL;
      if (m && !m->have_ko) {
        if (!m->relpath && !(m->relpath = strdup(rel)))
          return -1;
        const char *q = colon + 1;
        while (q < eol) {
          while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
          const char *w = q;
          while (q < eol && *q != ' ' && *q != '\t' && *q != '\r')
            q++;
          if (q > w) {
            CLEANUP_FREE char *dep = strndup(w, (size_t)(q - w));
            CLEANUP_FREE char *dname = dep ? lx_module_name(dep) : NULL;
            if (dname && !lx_strv_has(&m->depends, dname) &&
                lx_strv_add(&m->depends, dname, strlen(dname)) == -1)
              return -1;
          }
        }
      }
    }
    p = eol + 1;
  }
  return 0;
}

/* Keep the kernel version with most modules; flatten the alias list. */
static int finish(struct lx_catalog *cat)
{
  size_t best = 0, best_count = 0;
  for (size_t i = 0; i < cat->nmodules; i++) {
    size_t count = 0;
    for (size_t j = 0; j < cat->nmodules; j++)
      count += !strcmp(cat->modules[i].kver, cat->modules[j].kver);
    if (count > best_count) {
      best = i;
      best_count = count;
    }
    if (best_count * 2 > cat->nmodules)
      break;
  }
  if (!(cat->kver = strdup(cat->modules[best].kver)))
    return -1;
  size_t kept = 0;
  for (size_t i = 0; i < cat->nmodules; i++) {
    if (strcmp(cat->modules[i].kver, cat->kver) != 0) {
      p2v_warning("%s: ignoring module %s of kernel %s (using kernel %s)", cat->source,
                  cat->modules[i].name, cat->modules[i].kver, cat->kver);
      lx_module_clear(&cat->modules[i]);
    } else {
      cat->modules[kept++] = cat->modules[i];
    }
  }
  cat->nmodules = kept;
  for (size_t i = 0; i < cat->nmodules; i++) {
    const struct lx_strv *al = &cat->modules[i].aliases;
    for (size_t j = 0; j < al->count; j++) {
      struct lx_alias *grown = realloc(cat->aliases, (cat->naliases + 1) * sizeof *grown);
      if (!grown)
        return -1;
      cat->aliases = grown;
      cat->aliases[cat->naliases++] = (struct lx_alias){ al->items[j], i };
    }
  }
  return 0;
}

int lx_catalog_load(const char *source, struct lx_catalog *cat)
{
  memset(cat, 0, sizeof *cat);
  struct build b = { .cat = cat };
  int r = -1;
  cat->source = strdup(source);
  const char *base = strrchr(source, '/');
  base = base ? base + 1 : source;
  size_t blen = strlen(base);
  if (blen > 4 && !strcmp(base + blen - 4, ".deb"))
    cat->package = strndup(base, strcspn(base, "_"));
  if (!cat->source || lx_source_walk(source, want, visit, &b) == -1)
    goto out;
  for (size_t i = 0; i < b.nalias_files; i++)
    if (merge_alias_file(cat, &b.alias_files[i]) == -1)
      goto out;
  for (size_t i = 0; i < b.ndep_files; i++)
    if (merge_dep_file(cat, &b.dep_files[i]) == -1)
      goto out;
  if (cat->nmodules == 0) {
    p2v_error("%s: no kernel modules found (no lib/modules/VERSION/*.ko or modules.alias)",
              source);
    goto out;
  }
  if (finish(cat) == -1) {
    p2v_error("out of memory");
    goto out;
  }
  r = 0;
out:
  for (size_t i = 0; i < b.nalias_files; i++) {
    free(b.alias_files[i].kver);
    free(b.alias_files[i].text);
  }
  for (size_t i = 0; i < b.ndep_files; i++) {
    free(b.dep_files[i].kver);
    free(b.dep_files[i].text);
  }
  if (r == -1)
    lx_catalog_clear(cat);
  return r;
}
