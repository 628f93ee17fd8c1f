/* Files and commands in the guest, for the Linux conversion steps.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "guest/guest-internal.h"
#include "log.h"

bool gl_exists(struct p2v_guest *gg, const char *path)
{
  return guestfs_exists(gg->g, path) > 0;
}

const char *gl_first(struct p2v_guest *gg, const char *const *paths)
{
  for (size_t i = 0; paths[i]; i++)
    if (gl_exists(gg, paths[i]))
      return paths[i];
  return NULL;
}

int gl_read(struct p2v_guest *gg, const char *path, char **text)
{
  *text = NULL;
  if (guestfs_is_file_opts(gg->g, path, GUESTFS_IS_FILE_OPTS_FOLLOWSYMLINKS, 1, -1) <= 0)
    return 0;
  size_t size;
  char *s = guestfs_read_file(gg->g, path, &size);
  if (!s) {
    CLEANUP_FREE char *what = NULL;
    if (asprintf(&what, "cannot read %s in the guest", path) < 0)
      what = NULL;
    p2v_guest_error(gg->g, what ? what : path);
    return -1;
  }
  /* Text files only: a NUL inside ends the text. */
  *text = s;
  return 0;
}

int gl_write(struct p2v_guest *gg, const char *path, const char *text)
{
  CLEANUP_FREE char *tmp = NULL;
  if (asprintf(&tmp, "%s.p2v-tmp", path) < 0) {
    p2v_error("cannot write %s in the guest: out of memory", path);
    return -1;
  }
  guestfs_h *g = gg->g;
  if (guestfs_write(g, tmp, text, strlen(text)) == -1)
    goto err;
  /* Keep the mode and owner of the file it replaces. */
  struct guestfs_statns *st = guestfs_exists(g, path) > 0 ? guestfs_statns(g, path) : NULL;
  if (st) {
    int r = guestfs_chmod(g, (int)(st->st_mode & 07777), tmp);
    if (r == 0)
      r = guestfs_chown(g, (int)st->st_uid, (int)st->st_gid, tmp);
    guestfs_free_statns(st);
    if (r == -1)
      goto err;
  }
  if (guestfs_mv(g, tmp, path) == -1)
    goto err;
  return 0;
err:;
  CLEANUP_FREE char *what = NULL;
  if (asprintf(&what, "cannot write %s in the guest", path) < 0)
    what = NULL;
  p2v_guest_error(g, what ? what : path);
  guestfs_rm_f(g, tmp);
  return -1;
}

char *gl_sh(struct p2v_guest *gg, const char *what, const char *cmd)
{
  CLEANUP_FREE char *full = NULL;
  if (asprintf(&full, "PATH=/usr/sbin:/usr/bin:/sbin:/bin; export PATH; %s", cmd) < 0) {
    p2v_error("%s failed in the guest: out of memory", what);
    return NULL;
  }
  p2v_debug("in the guest: %s", cmd);
  char *out = guestfs_sh(gg->g, full);
  if (!out) {
    CLEANUP_FREE char *msg = NULL;
    if (asprintf(&msg, "%s failed in the guest", what) < 0)
      msg = NULL;
    p2v_guest_error(gg->g, msg ? msg : what);
  }
  return out;
}
