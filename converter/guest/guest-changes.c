/* The list of changes made to a guest, for the report.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/guest.h"
#include "log.h"

int p2v_changes_add(struct p2v_changes *c, const char *area, const char *file,
                    const char *fmt, ...)
{
  struct p2v_change ch = { 0 };
  va_list ap;
  va_start(ap, fmt);
  int r = vasprintf(&ch.description, fmt, ap);
  va_end(ap);
  if (r < 0)
    ch.description = NULL;
  ch.area = strdup(area);
  ch.file = file ? strdup(file) : NULL;
  struct p2v_change *items = realloc(c->items, (c->n + 1) * sizeof *items);
  if (!ch.description || !ch.area || (file && !ch.file) || !items) {
    free(ch.description);
    free(ch.area);
    free(ch.file);
    if (items)
      c->items = items;
    p2v_error("cannot record a change to the guest: out of memory");
    return -1;
  }
  c->items = items;
  c->items[c->n++] = ch;
  p2v_info("%s: %s%s%s", area, file ? file : "", file ? ": " : "", ch.description);
  return 0;
}

void p2v_changes_clear(struct p2v_changes *c)
{
  for (size_t i = 0; i < c->n; i++) {
    free(c->items[i].area);
    free(c->items[i].file);
    free(c->items[i].description);
  }
  free(c->items);
  c->items = NULL;
  c->n = 0;
}
