/* p2v-drivers list --linux SOURCE [--json]: the catalog of a kernel
 * package, modules tree, tarball, initramfs or ISO.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <getopt.h>
#include <stdio.h>

#include <json-c/json.h>

#include "commands.h"
#include "linux.h"
#include "log.h"

static struct json_object *strv_json(const struct lx_strv *v)
{
  struct json_object *a = json_object_new_array();
  for (size_t i = 0; i < v->count; i++)
    json_object_array_add(a, json_object_new_string(v->items[i]));
  return a;
}

int linux_list_command(int argc, char **argv)
{
  static const struct option opts[] = {
    { "linux", required_argument, NULL, 'l' },
    { "json", no_argument, NULL, 'j' },
    { NULL, 0, NULL, 0 },
  };
  const char *source = NULL;
  bool json = false;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'l': source = optarg; break;
    case 'j': json = true; break;
    default: return DRIVERS_EXIT_USAGE;
    }
  }
  if (!source || optind != argc) {
    p2v_error("list: usage: p2v-drivers list --linux SOURCE [--json]");
    return DRIVERS_EXIT_USAGE;
  }
  struct lx_catalog cat;
  if (lx_catalog_load(source, &cat) == -1)
    return DRIVERS_EXIT_ERROR;
  if (json) {
    struct json_object *root = json_object_new_object(), *mods = json_object_new_array();
    json_object_object_add(root, "source", json_object_new_string(cat.source));
    json_object_object_add(root, "package", cat.package ? json_object_new_string(cat.package) : NULL);
    json_object_object_add(root, "kernel", json_object_new_string(cat.kver));
    for (size_t i = 0; i < cat.nmodules; i++) {
      const struct lx_module *m = &cat.modules[i];
      struct json_object *o = json_object_new_object();
      json_object_object_add(o, "name", json_object_new_string(m->name));
      json_object_object_add(o, "path", m->relpath ? json_object_new_string(m->relpath) : NULL);
      json_object_object_add(o, "present", json_object_new_boolean(m->have_ko));
      json_object_object_add(o, "depends", strv_json(&m->depends));
      json_object_object_add(o, "firmware", strv_json(&m->firmware));
      json_object_object_add(o, "aliases", strv_json(&m->aliases));
      json_object_array_add(mods, o);
    }
    json_object_object_add(root, "modules", mods);
    puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
  } else {
    printf("# %s: kernel %s, %zu modules, %zu aliases\n", cat.source, cat.kver, cat.nmodules,
           cat.naliases);
    for (size_t i = 0; i < cat.naliases; i++)
      printf("alias %s %s\n", cat.aliases[i].pattern, cat.modules[cat.aliases[i].module].name);
  }
  lx_catalog_clear(&cat);
  return DRIVERS_EXIT_OK;
}
