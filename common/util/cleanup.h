/* Scope cleanup that cannot leak (GCC/clang cleanup attribute).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_CLEANUP_H
#define P2V_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>

static inline void p2v_cleanup_free(void *ptr) { free(*(void **)ptr); }
static inline void p2v_cleanup_close(int *fd)
{
  if (*fd >= 0) {
    int saved_errno = errno;
    close(*fd);
    errno = saved_errno;
  }
}
static inline void p2v_cleanup_fclose(FILE **fp)
{
  if (*fp) {
    int saved_errno = errno;
    fclose(*fp);
    errno = saved_errno;
  }
}

/* "unused": a variable that exists only to be cleaned up (it owns a
 * pointer used under another name) is not a mistake; clang would warn. */
#define CLEANUP_FREE   __attribute__((cleanup(p2v_cleanup_free), unused))
#define CLEANUP_CLOSE  __attribute__((cleanup(p2v_cleanup_close), unused))
#define CLEANUP_FCLOSE __attribute__((cleanup(p2v_cleanup_fclose), unused))

#endif
