/* The guest converters: which one takes the inspected OS, and the order
 * its steps run in (preflight, convert, post-convert) — after virt-v2v's
 * CONVERT interface.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/guest-internal.h"
#include "log.h"

static const struct p2v_guest_converter *const converters[] = {
  &p2v_guest_converter_linux,
  &p2v_guest_converter_windows,
};
#define NCONVERTERS (sizeof converters / sizeof converters[0])

const struct p2v_guest_converter *p2v_guest_find_converter(const struct p2v_guest_info *info,
                                                           enum p2v_guest_failure *why)
{
  for (size_t i = 0; i < NCONVERTERS; i++) {
    int m = converters[i]->match(info);
    if (m == 1)
      return converters[i];
    if (m == -1) {
      *why = P2V_GUEST_UNSUPPORTED;
      return NULL;
    }
  }
  *why = P2V_GUEST_UNSUPPORTED;
  char names[128] = "";
  for (size_t i = 0; i < NCONVERTERS; i++) {
    size_t len = strlen(names);
    snprintf(names + len, sizeof names - len, "%s%s", i == 0 ? "" : " or ",
             converters[i]->name);
  }
  p2v_error("the source runs %s (%s): only %s guests can be converted",
            info->product_name, info->type, names);
  return NULL;
}

int p2v_guest_convert(struct p2v_guest *gg, const struct p2v_convert_options *o,
                      struct p2v_changes *changes, enum p2v_guest_failure *why)
{
  *why = P2V_GUEST_FAILED;
  const struct p2v_guest_converter *c = gg->converter;
  if (!c) {
    *why = P2V_GUEST_UNSUPPORTED;
    p2v_error("cannot convert %s: no converter for it", gg->info.product_name);
    return -1;
  }
  void *plan = NULL;
  if (c->preflight(gg, o, &plan) == -1) {
    *why = P2V_GUEST_CANNOT_CONVERT;
    return -1;
  }
  int r = c->convert(gg, o, plan, changes);
  if (r == 0 && c->post_convert)
    r = c->post_convert(gg, o, plan, changes);
  if (c->free_plan)
    c->free_plan(plan);
  return r;
}
