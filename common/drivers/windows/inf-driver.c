/* What an INF installs on one Windows version and architecture:
 * [Manufacturer] -> decorated models section -> model lines (IDs) ->
 * install section (.NTamd64 / .NT / plain) -> .Services -> AddService ->
 * service install section; CopyFiles -> .sys files.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inf-parse.h"
#include "log.h"

#define SPSVCINST_ASSOCSERVICE 0x2
/* Many models may share huge CopyFiles/Services sections: cap the lines
 * visited for one INF so hostile input stays linear, and files per model. */
#define MAX_WORK 4000000
#define MAX_FILES_PER_MODEL 64

static bool parse_uint(const char *s, unsigned long *out)
{
  char *end;
  if (!s || !*s)
    return false;
  errno = 0;
  unsigned long v = strtoul(s, &end, 0);
  while (isspace((unsigned char) *end))
    end++;
  if (errno || *end || s[0] == '-')
    return false;
  *out = v;
  return true;
}

static int parse_int_or_minus1(const char *s)
{
  unsigned long v;
  return parse_uint(s, &v) && v <= 0x7fffffff ? (int) v : -1;
}

/* "NT" [arch] ["." major ["." minor ["." product ["." suite ["." build]]]]] */
bool inf_decoration_matches(const char *decoration, const struct inf_os *os, uint64_t *rank)
{
  if (strncasecmp(decoration, "NT", 2) != 0)
    return false;
  const char *p = decoration + 2;
  size_t archlen = strcspn(p, ".");
  /* Undecorated or "NT" alone: 32-bit x86 only, as on Windows. */
  const char *want = archlen ? os->arch : "x86";
  if (archlen ? strlen(want) != archlen || strncasecmp(p, want, archlen) != 0
              : strcasecmp(os->arch, "x86") != 0)
    return false;
  p += archlen;

  unsigned long part[5] = { 0 };
  for (int i = 0; i < 5 && *p == '.'; i++) {
    p++;
    size_t n = strcspn(p, ".");
    if (n) {
      char num[16];
      if (n >= sizeof num)
        return false;
      memcpy(num, p, n);
      num[n] = '\0';
      if (!parse_uint(num, &part[i]))
        return false;
    }
    p += n;
  }
  if (*p)
    return false;
  unsigned long major = part[0], minor = part[1], build = part[4];
  /* part[2] product type, part[3] suite mask: not known for a target. */
  if (major != os->major ? major > os->major
      : minor != os->minor ? minor > os->minor : build > os->build)
    return false;
  if (major > 0xffff || minor > 0xffff || build > 0x7fffffff)
    return false;
  *rank = (uint64_t) major << 48 | (uint64_t) minor << 32 | (uint64_t) build << 1
    | (archlen != 0);
  return true;
}

static int dup_value(const struct inf_section *s, const char *key, char **out)
{
  const char *v = inf_section_value(s, key);
  *out = v ? strdup(v) : NULL;
  return v && !*out ? -1 : 0;
}

static const char *basename_of(const char *path)
{
  const char *b = path;
  for (const char *p = path; *p; p++)
    if (*p == '\\' || *p == '/')
      b = p + 1;
  return b;
}

static bool ends_with_sys(const char *name)
{
  size_t n = strlen(name);
  return n > 4 && !strcasecmp(name + n - 4, ".sys");
}

/* The install section Windows picks: NAME.NT<arch>, NAME.NT, NAME. */
static const struct inf_section *find_install(const struct inf_file *inf, const char *name,
                                              const struct inf_os *os)
{
  char buf[512];
  const struct inf_section *s;
  snprintf(buf, sizeof buf, "%s.NT%s", name, os->arch);
  if ((s = inf_find_section(inf, buf)))
    return s;
  snprintf(buf, sizeof buf, "%s.NT", name);
  if ((s = inf_find_section(inf, buf)))
    return s;
  return inf_find_section(inf, name);
}

static int add_file(struct inf_model *m, const char *name)
{
  name = basename_of(name);
  if (!ends_with_sys(name) || m->nfiles >= MAX_FILES_PER_MODEL)
    return 0;
  for (size_t i = 0; i < m->nfiles; i++)
    if (!strcasecmp(m->files[i], name))
      return 0;
  char **f = realloc(m->files, (m->nfiles + 1) * sizeof *f);
  if (!f)
    return -1;
  m->files = f;
  if (!(f[m->nfiles] = strdup(name)))
    return -1;
  m->nfiles++;
  return 0;
}

static int collect_files(const struct inf_file *inf, const struct inf_section *install,
                         struct inf_model *m, size_t *work)
{
  for (size_t i = 0; i < install->nlines && ++*work < MAX_WORK; i++) {
    const struct inf_line *l = &install->lines[i];
    if (!l->key || strcasecmp(l->key, "CopyFiles") != 0)
      continue;
    for (size_t k = 0; k < l->nfields; k++) {
      const char *f = l->fields[k];
      if (f[0] == '@') {
        if (add_file(m, f + 1) < 0)
          return -1;
        continue;
      }
      const struct inf_section *list = inf_find_section(inf, f);
      for (size_t j = 0; list && j < list->nlines && ++*work < MAX_WORK; j++) {
        const struct inf_line *fl = &list->lines[j];
        const char *name = fl->key ? fl->key : fl->nfields ? fl->fields[0] : NULL;
        if (name && add_file(m, name) < 0)
          return -1;
      }
    }
  }
  return 0;
}

static int collect_service(const struct inf_file *inf, const char *install_name,
                           struct inf_model *m, size_t *work)
{
  char buf[512];
  snprintf(buf, sizeof buf, "%s.Services", install_name);
  const struct inf_section *svc = inf_find_section(inf, buf);
  const struct inf_line *chosen = NULL;
  for (size_t i = 0; svc && i < svc->nlines && ++*work < MAX_WORK; i++) {
    const struct inf_line *l = &svc->lines[i];
    unsigned long flags = 0;
    if (!l->key || strcasecmp(l->key, "AddService") != 0 || l->nfields < 1 || !*l->fields[0])
      continue;
    bool assoc = l->nfields >= 2 && parse_uint(l->fields[1], &flags)
      && (flags & SPSVCINST_ASSOCSERVICE);
    if (assoc || !chosen)
      chosen = l;
    if (assoc)
      break;
  }
  if (!chosen)
    return 0;
  if (!(m->service = strdup(chosen->fields[0])))
    return -1;
  const struct inf_section *inst = chosen->nfields >= 3
    ? inf_find_section(inf, chosen->fields[2]) : NULL;
  if (!inst)
    return 0;
  m->service_type = parse_int_or_minus1(inf_section_value(inst, "ServiceType"));
  m->start_type = parse_int_or_minus1(inf_section_value(inst, "StartType"));
  m->error_control = parse_int_or_minus1(inf_section_value(inst, "ErrorControl"));
  const char *group = inf_section_value(inst, "LoadOrderGroup");
  const char *binary = inf_section_value(inst, "ServiceBinary");
  if ((group && *group && !(m->load_order_group = strdup(group))) ||
      (binary && *binary && !(m->service_binary = strdup(basename_of(binary)))))
    return -1;
  if (m->service_binary && add_file(m, m->service_binary) < 0)
    return -1;
  return 0;
}

static int add_model(const struct inf_file *inf, const struct inf_line *l,
                     const struct inf_os *os, struct inf_driver *drv, size_t *work)
{
  if (l->nfields < 2 || !*l->fields[0])
    return 0;
  struct inf_model *models = realloc(drv->models, (drv->nmodels + 1) * sizeof *models);
  if (!models)
    return -1;
  drv->models = models;
  struct inf_model *m = &models[drv->nmodels++];
  memset(m, 0, sizeof *m);
  m->service_type = m->start_type = m->error_control = -1;

  if (!(m->description = strdup(l->key ? l->key : "")))
    return -1;
  if (!(m->ids = calloc(l->nfields - 1, sizeof *m->ids)))
    return -1;
  for (size_t k = 1; k < l->nfields; k++) {
    if (!*l->fields[k])
      continue;
    char *id = strdup(l->fields[k]);
    if (!id)
      return -1;
    for (char *p = id; *p; p++)
      *p = (char) toupper((unsigned char) *p);
    m->ids[m->nids++] = id;
  }

  const struct inf_section *install = find_install(inf, l->fields[0], os);
  if (!install) {
    p2v_debug("INF line %u: no install section %s", l->lineno, l->fields[0]);
    return (m->install_section = strdup(l->fields[0])) ? 0 : -1;
  }
  if (!(m->install_section = strdup(install->name)))
    return -1;
  if (collect_service(inf, install->name, m, work) < 0 ||
      collect_files(inf, install, m, work) < 0)
    return -1;
  return 0;
}

/* One [Manufacturer] line: "%Mfg% = Models, NTamd64, NTx86.6.1". */
static int add_manufacturer(const struct inf_file *inf, const struct inf_line *l,
                            const struct inf_os *os, struct inf_driver *drv, size_t *work)
{
  if (l->nfields < 1 || !*l->fields[0])
    return 0;
  const char *base = l->fields[0];
  const char *best = NULL;
  uint64_t best_rank = 0, rank;
  bool decorated = false;
  for (size_t k = 1; k < l->nfields; k++) {
    if (!*l->fields[k])
      continue;
    decorated = true;
    if (inf_decoration_matches(l->fields[k], os, &rank) && (!best || rank > best_rank))
      best = l->fields[k], best_rank = rank;
  }
  char name[512];
  if (best)
    snprintf(name, sizeof name, "%s.%s", base, best);
  else if (!decorated && !strcasecmp(os->arch, "x86"))
    snprintf(name, sizeof name, "%s", base);
  else
    return 0;                  /* nothing for this OS and architecture */

  const struct inf_section *models = inf_find_section(inf, name);
  for (size_t i = 0; models && i < models->nlines; i++)
    if (add_model(inf, &models->lines[i], os, drv, work) < 0)
      return -1;
  return 0;
}

int inf_driver_load(const struct inf_file *inf, const struct inf_os *os,
                    struct inf_driver *drv)
{
  memset(drv, 0, sizeof *drv);
  const struct inf_section *v = inf_find_section(inf, "Version");
  struct inf_version *ver = &drv->version;
  if (dup_value(v, "Class", &ver->class_name) < 0 ||
      dup_value(v, "ClassGuid", &ver->class_guid) < 0 ||
      dup_value(v, "Provider", &ver->provider) < 0 ||
      dup_value(v, "CatalogFile", &ver->catalog_file) < 0)
    goto oom;
  /* DriverVer = date, version: keep both as written. */
  for (size_t i = 0; v && i < v->nlines; i++) {
    const struct inf_line *l = &v->lines[i];
    if (l->key && !strcasecmp(l->key, "DriverVer") && l->nfields >= 1) {
      char buf[256];
      snprintf(buf, sizeof buf, "%s%s%s", l->fields[0], l->nfields >= 2 ? "," : "",
               l->nfields >= 2 ? l->fields[1] : "");
      if (!(ver->driver_ver = strdup(buf)))
        goto oom;
      break;
    }
  }

  const struct inf_section *mfg = inf_find_section(inf, "Manufacturer");
  size_t work = 0;
  for (size_t i = 0; mfg && i < mfg->nlines; i++)
    if (add_manufacturer(inf, &mfg->lines[i], os, drv, &work) < 0)
      goto oom;
  return 0;
oom:
  inf_driver_clear(drv);
  return -1;
}

void inf_driver_clear(struct inf_driver *drv)
{
  free(drv->version.class_name);
  free(drv->version.class_guid);
  free(drv->version.provider);
  free(drv->version.driver_ver);
  free(drv->version.catalog_file);
  for (size_t i = 0; i < drv->nmodels; i++) {
    struct inf_model *m = &drv->models[i];
    free(m->description);
    free(m->install_section);
    for (size_t k = 0; k < m->nids; k++)
      free(m->ids[k]);
    free(m->ids);
    free(m->service);
    free(m->load_order_group);
    free(m->service_binary);
    for (size_t k = 0; k < m->nfiles; k++)
      free(m->files[k]);
    free(m->files);
  }
  free(drv->models);
  memset(drv, 0, sizeof *drv);
}
