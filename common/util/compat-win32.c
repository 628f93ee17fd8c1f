/* See compat-win32.h.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "compat-win32.h"

void *reallocarray(void *ptr, size_t n, size_t size)
{
  if (size && n > SIZE_MAX / size) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(ptr, n * size);
}
