/* The network of the live image: interfaces up, a bounded wait for a link,
 * then DHCP (busybox udhcpc with our script), a static address (busybox
 * ip) or nothing.  Only ever run as PID 1 in the image.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "file-io.h"
#include "live.h"
#include "log.h"

#define LINK_WAIT_S 15
#define DHCP_TIMEOUT_S 40
#define MAX_IFACES 32
#define UDHCPC_SCRIPT "/usr/share/p2v/udhcpc.script"

struct ifaces {
  char names[MAX_IFACES][16];
  size_t n;
};

/* Interfaces with hardware behind them (not lo, bridges or tunnels). */
static void list_interfaces(const struct live_roots *roots, const char *only, struct ifaces *out)
{
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/class/net", roots->sysfs);
  out->n = 0;
  DIR *dir = opendir(path);
  if (!dir)
    return;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL && out->n < MAX_IFACES) {
    if (e->d_name[0] == '.' || strlen(e->d_name) >= 16 || !strcmp(e->d_name, "lo"))
      continue;
    if (only && strcmp(e->d_name, only) != 0)
      continue;
    char dev[PATH_MAX];
    if (snprintf(dev, sizeof dev, "%s/%s/device", path, e->d_name) >= (int)sizeof dev)
      continue;
    if (!only && access(dev, F_OK) != 0)
      continue;
    memcpy(out->names[out->n++], e->d_name, strlen(e->d_name) + 1);   /* < 16, checked */
  }
  closedir(dir);
}

static bool has_link(const struct live_roots *roots, const char *name)
{
  char path[PATH_MAX], buf[8] = "";
  snprintf(path, sizeof path, "%s/class/net/%s/carrier", roots->sysfs, name);
  CLEANUP_FCLOSE FILE *f = fopen(path, "re");
  return f && fgets(buf, sizeof buf, f) && buf[0] == '1';
}

static int write_resolv_conf(const char *dns)
{
  char text[128];
  int n = snprintf(text, sizeof text, "nameserver %s\n", dns);
  if (n < 0 || (size_t)n >= sizeof text) {
    p2v_error("cannot write /etc/resolv.conf: the DNS server address %s is too long", dns);
    return -1;
  }
  return p2v_write_file_atomic("/etc/resolv.conf", text, (size_t)n);
}

static int configure_static(const struct live_settings *s, const char *iface)
{
  const char *addr[] = { "ip", "addr", "add", s->ip, "dev", iface, NULL };
  if (live_run(addr, 10) != 0) {
    p2v_error("cannot set address %s on %s (ip addr add failed)", s->ip, iface);
    return -1;
  }
  if (s->gateway) {
    const char *route[] = { "ip", "route", "add", "default", "via", s->gateway, NULL };
    if (live_run(route, 10) != 0) {
      p2v_error("cannot add the default route via %s: is it in %s?", s->gateway, s->ip);
      return -1;
    }
  }
  if (s->dns && write_resolv_conf(s->dns) == -1)
    return -1;
  live_say("network: %s on %s%s%s", s->ip, iface, s->gateway ? ", gateway " : "",
           s->gateway ? s->gateway : "");
  return 0;
}

static int configure_dhcp(const char *iface)
{
  live_say("network: asking for an address by DHCP on %s (at most %d seconds)", iface,
           DHCP_TIMEOUT_S);
  /* -n: give up rather than retry forever; -q: exit once bound; -f: stay
   * in the foreground so the time limit holds. */
  const char *argv[] = { "udhcpc", "-f", "-q", "-n", "-t", "6", "-T", "3", "-A", "3",
                         "-i", iface, "-s", UDHCPC_SCRIPT, NULL };
  if (live_run(argv, DHCP_TIMEOUT_S) != 0) {
    p2v_error("no DHCP answer on %s: check the DHCP server, or boot with p2v.net=static "
              "p2v.ip=ADDRESS/PREFIX p2v.gateway=GATEWAY", iface);
    return -1;
  }
  return 0;
}

int live_network_setup(const struct live_roots *roots, const struct live_settings *s)
{
  struct ifaces ifs;
  list_interfaces(roots, s->interface, &ifs);
  if (ifs.n == 0) {
    if (s->interface)
      p2v_error("p2v.interface=%s: this machine has no such network interface", s->interface);
    return 0;
  }
  for (size_t i = 0; i < ifs.n; i++) {
    const char *up[] = { "ip", "link", "set", "dev", ifs.names[i], "up", NULL };
    if (live_run(up, 10) != 0)
      p2v_warning("cannot bring %s up", ifs.names[i]);
  }
  char names[MAX_IFACES * 17] = "";
  for (size_t i = 0; i < ifs.n; i++) {
    strcat(names, i ? ", " : "");
    strcat(names, ifs.names[i]);
  }
  live_say("network: waiting up to %d seconds for a link on %s", LINK_WAIT_S, names);
  int links = 0;
  const char *first = NULL;
  for (int tenth = 0; tenth <= LINK_WAIT_S * 10 && links == 0; tenth++) {
    for (size_t i = 0; i < ifs.n; i++)
      if (has_link(roots, ifs.names[i])) {
        links++;
        if (!first)
          first = ifs.names[i];
      }
    if (links == 0)
      usleep(100 * 1000);
  }
  if (links == 0)
    return 0;
  live_say("network: link up on %s", first);
  if (s->net == LIVE_NET_NONE)
    return links;
  if (s->net == LIVE_NET_STATIC)
    return configure_static(s, first) == -1 ? -1 : links;
  return configure_dhcp(first) == -1 ? -1 : links;
}
