/* A growable, owning array of strings.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "linux.h"
#include "log.h"

int lx_strv_add(struct lx_strv *v, const char *s, size_t len)
{
  char *copy = strndup(s, len);
  char **items = copy ? realloc(v->items, (v->count + 1) * sizeof *items) : NULL;
  if (!items) {
    free(copy);
    p2v_error("out of memory");
    return -1;
  }
  v->items = items;
  v->items[v->count++] = copy;
  return 0;
}

bool lx_strv_has(const struct lx_strv *v, const char *s)
{
  for (size_t i = 0; i < v->count; i++)
    if (!strcmp(v->items[i], s))
      return true;
  return false;
}

void lx_strv_clear(struct lx_strv *v)
{
  for (size_t i = 0; i < v->count; i++)
    free(v->items[i]);
  free(v->items);
  v->items = NULL;
  v->count = 0;
}
