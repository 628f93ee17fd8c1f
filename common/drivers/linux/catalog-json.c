/* A kernel's module catalog read back from `p2v-drivers list --linux SOURCE
 * --json` (the live image carries its kernel's as a file).  The file is
 * input like any other: types checked, sizes capped, first problem reported.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cleanup.h"
#include "file-io.h"
#include "linux.h"
#include "log.h"

#define MAX_MODULES 65536
#define MAX_LIST 8192             /* aliases, depends or firmware of one module */
#define MAX_STRING 4096

static int bad(const char *source, const char *what)
{
  p2v_error("%s: not a kernel catalog (p2v-drivers list --json): %s", source, what);
  return -1;
}

static const char *get_string(struct json_object *obj, const char *key, bool nullable)
{
  struct json_object *v;
  if (!json_object_object_get_ex(obj, key, &v))
    return NULL;
  if (!v)
    return nullable ? "" : NULL;
  if (!json_object_is_type(v, json_type_string) ||
      json_object_get_string_len(v) > MAX_STRING ||
      json_object_get_string_len(v) != (int)strlen(json_object_get_string(v)))
    return NULL;
  return json_object_get_string(v);
}

/* An array of strings into v; missing means empty. */
static int get_list(struct json_object *obj, const char *key, struct lx_strv *v)
{
  struct json_object *arr;
  if (!json_object_object_get_ex(obj, key, &arr) || !arr)
    return 0;
  if (!json_object_is_type(arr, json_type_array) || json_object_array_length(arr) > MAX_LIST)
    return -1;
  for (size_t i = 0; i < json_object_array_length(arr); i++) {
    struct json_object *e = json_object_array_get_idx(arr, i);
    if (!json_object_is_type(e, json_type_string) ||
        json_object_get_string_len(e) > MAX_STRING)
      return -1;
    const char *s = json_object_get_string(e);
    if (lx_strv_add(v, s, strlen(s)) == -1)
      return -1;
  }
  return 0;
}

static int read_module(struct json_object *o, const char *kver, struct lx_module *m)
{
  const char *name = get_string(o, "name", false);
  const char *path = get_string(o, "path", true);
  struct json_object *present;
  if (!name || !name[0] || !path)
    return -1;
  if (!(m->name = strdup(name)) || !(m->kver = strdup(kver)) ||
      (path[0] && !(m->relpath = strdup(path))))
    return -1;
  if (json_object_object_get_ex(o, "present", &present))
    m->have_ko = json_object_get_boolean(present);
  if (get_list(o, "depends", &m->depends) == -1 || get_list(o, "firmware", &m->firmware) == -1 ||
      get_list(o, "aliases", &m->aliases) == -1)
    return -1;
  return 0;
}

static int flatten_aliases(struct lx_catalog *cat)
{
  size_t total = 0;
  for (size_t i = 0; i < cat->nmodules; i++)
    total += cat->modules[i].aliases.count;
  if (total && !(cat->aliases = calloc(total, sizeof *cat->aliases)))
    return -1;
  for (size_t i = 0; i < cat->nmodules; i++) {
    const struct lx_strv *al = &cat->modules[i].aliases;
    for (size_t j = 0; j < al->count; j++)
      cat->aliases[cat->naliases++] = (struct lx_alias){ al->items[j], i };
  }
  return 0;
}

int lx_catalog_from_json(const char *source, const char *text, size_t len,
                         struct lx_catalog *cat)
{
  memset(cat, 0, sizeof *cat);
  if (len > LX_MAX_CATALOG_JSON)
    return bad(source, "larger than 64 MiB");
  if (memchr(text, '\0', len))
    return bad(source, "a NUL byte in the text");
  struct json_tokener *tok = json_tokener_new_ex(8);
  if (!tok) {
    p2v_error("out of memory");
    return -1;
  }
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
  struct json_object *root = json_tokener_parse_ex(tok, text, (int)len);
  bool parsed = json_tokener_get_error(tok) == json_tokener_success;
  json_tokener_free(tok);
  int r = -1;
  struct json_object *mods;
  const char *kver = parsed ? get_string(root, "kernel", false) : NULL;
  if (!parsed) {
    bad(source, "not valid JSON");
    goto out;
  }
  if (!json_object_is_type(root, json_type_object) || !kver || !kver[0] ||
      !json_object_object_get_ex(root, "modules", &mods) ||
      !json_object_is_type(mods, json_type_array)) {
    bad(source, "expected an object with \"kernel\" and \"modules\"");
    goto out;
  }
  size_t n = json_object_array_length(mods);
  if (n == 0 || n > MAX_MODULES) {
    bad(source, n ? "too many modules" : "no modules");
    goto out;
  }
  const char *package = get_string(root, "package", true);
  if (!(cat->source = strdup(source)) || !(cat->kver = strdup(kver)) ||
      (package && package[0] && !(cat->package = strdup(package))) ||
      !(cat->modules = calloc(n, sizeof *cat->modules))) {
    p2v_error("out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    struct json_object *o = json_object_array_get_idx(mods, i);
    cat->nmodules = i + 1;
    if (!json_object_is_type(o, json_type_object) ||
        read_module(o, kver, &cat->modules[i]) == -1) {
      char what[64];
      snprintf(what, sizeof what, "modules[%zu] is not a module", i);
      bad(source, what);
      goto out;
    }
  }
  if (flatten_aliases(cat) == -1) {
    p2v_error("out of memory");
    goto out;
  }
  r = 0;
out:
  json_object_put(root);
  if (r == -1)
    lx_catalog_clear(cat);
  return r;
}

int lx_catalog_load_json(const char *path, struct lx_catalog *cat)
{
  memset(cat, 0, sizeof *cat);
  CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd == -1 || fstat(fd, &st) == -1) {
    p2v_error("cannot open the kernel catalog %s: %m", path);
    return -1;
  }
  if (!S_ISREG(st.st_mode) || st.st_size > LX_MAX_CATALOG_JSON)
    return bad(path, "not a regular file of at most 64 MiB");
  size_t size = (size_t)st.st_size;
  CLEANUP_FREE char *text = malloc(size + 1);
  if (!text) {
    p2v_error("out of memory");
    return -1;
  }
  ssize_t n = p2v_read_full(fd, text, size);
  if (n < (ssize_t)size) {
    p2v_error("cannot read the kernel catalog %s: %s", path, n < 0 ? strerror(errno) : "truncated");
    return -1;
  }
  return lx_catalog_from_json(path, text, size, cat);
}
