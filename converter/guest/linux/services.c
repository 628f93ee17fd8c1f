/* Services: hardware-vendor agents disabled (data/vendor-agents), and a
 * login on the serial console.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "guest/guest-internal.h"
#include "log.h"

static int disable_one(struct p2v_guest *gg, const char *name, const char *vendor,
                       struct p2v_changes *changes)
{
  CLEANUP_FREE char *unit = NULL;
  if (asprintf(&unit, strchr(name, '.') ? "%s" : "%s.service", name) < 0)
    return -1;
  /* systemd: the symlinks that enable it; SysV: S links become K links. */
  char *patterns[4] = { NULL };
  if (asprintf(&patterns[0], "/etc/systemd/system/*.wants/%s", unit) < 0 ||
      asprintf(&patterns[1], "/etc/rc[0-6S].d/S[0-9][0-9]%s", name) < 0 ||
      asprintf(&patterns[2], "/etc/rc.d/rc[0-6].d/S[0-9][0-9]%s", name) < 0) {
    for (size_t i = 0; i < 3; i++) free(patterns[i]);
    p2v_error("cannot disable vendor agents: out of memory");
    return -1;
  }
  int r = 0;
  for (size_t p = 0; p < 3 && r == 0; p++) {
    char **found = guestfs_glob_expand(gg->g, patterns[p]);
    if (!found) {
      p2v_guest_error(gg->g, "cannot look for vendor agents in the guest");
      r = -1;
      break;
    }
    for (size_t i = 0; found[i]; i++) {
      if (r == 0) {
        if (p == 0) {
          if (guestfs_rm(gg->g, found[i]) == -1) {
            p2v_guest_error(gg->g, "cannot disable a vendor agent in the guest");
            r = -1;
          } else {
            CLEANUP_FREE char *copy = strdup(found[i]);
            r = p2v_changes_add(changes, "services", found[i], "disabled %s (%s)",
                                copy ? basename(copy) : name, vendor);
          }
        } else {
          /* /etc/rc2.d/S01name -> /etc/rc2.d/K01name */
          CLEANUP_FREE char *k = strdup(found[i]);
          char *slash = k ? strrchr(k, '/') : NULL;
          if (!slash) {
            r = -1;
          } else {
            slash[1] = 'K';
            if (guestfs_mv(gg->g, found[i], k) == -1) {
              p2v_guest_error(gg->g, "cannot disable a vendor init script in the guest");
              r = -1;
            } else {
              r = p2v_changes_add(changes, "services", found[i], "disabled %s (%s): now %s",
                                  slash + 4, vendor, k);
            }
          }
        }
      }
      free(found[i]);
    }
    free(found);
  }
  for (size_t i = 0; i < 3; i++) free(patterns[i]);
  return r;
}

struct disable_ctx {
  struct p2v_guest *gg;
  struct p2v_changes *changes;
};

static int disable_listed(const char *name, const char *vendor, void *opaque)
{
  struct disable_ctx *c = opaque;
  /* Names are file names in the guest: no paths. */
  if (strchr(name, '/') || strstr(name, ".."))
    return 0;
  return disable_one(c->gg, name, vendor, c->changes);
}

int gl_disable_vendor_agents(struct p2v_guest *gg, const struct p2v_convert_options *o,
                             struct p2v_changes *changes)
{
  struct disable_ctx c = { gg, changes };
  return p2v_guest_vendor_agents_each(o->vendor_agents_file, false, disable_listed, &c);
}

/* systemd starts a getty on the console= device by itself; SysV init
 * needs an inittab line, and root logins there need securetty. */
int gl_convert_console(struct p2v_guest *gg, const struct p2v_convert_options *o,
                       struct p2v_changes *changes)
{
  if (!o->serial_console)
    return 0;
  CLEANUP_FREE char *inittab = NULL, *securetty = NULL;
  if (gl_read(gg, "/etc/inittab", &inittab) == -1 ||
      gl_read(gg, "/etc/securetty", &securetty) == -1)
    return -1;
  bool systemd = gl_exists(gg, "/lib/systemd/systemd") || gl_exists(gg, "/usr/lib/systemd/systemd");
  if (inittab && !systemd && !strstr(inittab, "ttyS0") && strstr(inittab, "getty")) {
    struct gl_buf b = { 0 };
    int r = gl_buf_printf(&b, "%s%sT0:23:respawn:/sbin/getty -L ttyS0 115200 vt100\n", inittab,
                          inittab[0] && inittab[strlen(inittab) - 1] != '\n' ? "\n" : "");
    if (r == 0)
      r = gl_write(gg, "/etc/inittab", b.s);
    free(b.s);
    if (r == -1 || p2v_changes_add(changes, "console", "/etc/inittab",
                                   "a getty on ttyS0 (115200 baud)") == -1)
      return -1;
  }
  if (securetty && !strstr(securetty, "ttyS0")) {
    struct gl_buf b = { 0 };
    int r = gl_buf_printf(&b, "%s%sttyS0\n", securetty,
                          securetty[0] && securetty[strlen(securetty) - 1] != '\n' ? "\n" : "");
    if (r == 0)
      r = gl_write(gg, "/etc/securetty", b.s);
    free(b.s);
    if (r == -1 || p2v_changes_add(changes, "console", "/etc/securetty",
                                   "root may log in on ttyS0") == -1)
      return -1;
  }
  return 0;
}
