/* Surveying network interfaces on Linux: /sys/class/net for the link,
 * getifaddrs for addresses.  Loopback is left out.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "survey-internal.h"

/* sysfs writes hardware addresses as lower-case hex bytes and colons; a
 * tunnel may have none, or an IPv4 address in that place. */
static char *read_mac(const char *name)
{
  char *mac = survey_read("/sys/class/net/%s/address", name);
  if (!mac)
    return NULL;
  size_t len = strlen(mac);
  bool ok = len >= 2 && len <= 95 && (len + 1) % 3 == 0;
  for (size_t i = 0; ok && i < len; i++)
    ok = i % 3 == 2 ? mac[i] == ':' : strchr("0123456789abcdef", mac[i]) != NULL;
  if (!ok) {
    free(mac);
    return NULL;
  }
  return mac;
}

/* The PCI function a NIC sits on: the nearest folder above its device
 * (virtio NICs sit on a virtio device on the PCI function) whose
 * subsystem is pci. */
static void find_pci(struct p2v_survey_nic *nic)
{
  char path[PATH_MAX], real[PATH_MAX];
  snprintf(path, sizeof path, "/sys/class/net/%s/device", nic->name);
  if (!realpath(path, real))
    return;
  while (strncmp(real, "/sys/devices/", 13) == 0) {
    char *subsystem = survey_link_name("%s/subsystem", real);
    bool is_pci = subsystem && strcmp(subsystem, "pci") == 0;
    free(subsystem);
    if (is_pci) {
      nic->pci_slot = survey_clean(strrchr(real, '/') + 1);
      nic->pci.vendor_id = survey_read_hex(4, "%s/vendor", real);
      nic->pci.device_id = survey_read_hex(4, "%s/device", real);
      nic->pci.subsystem_vendor_id = survey_read_hex(4, "%s/subsystem_vendor", real);
      nic->pci.subsystem_device_id = survey_read_hex(4, "%s/subsystem_device", real);
      return;
    }
    *strrchr(real, '/') = '\0';
  }
}

/* carrier says whether the link is up, but only while the interface is
 * administratively up; operstate covers the rest. */
static enum p2v_tristate link_state(const char *name)
{
  uint64_t carrier = survey_read_uint("/sys/class/net/%s/carrier", name);
  if (carrier != P2V_SURVEY_UNKNOWN)
    return carrier ? P2V_YES : P2V_NO;
  char *state = survey_read("/sys/class/net/%s/operstate", name);
  enum p2v_tristate t = !state ? P2V_UNKNOWN :
    strcmp(state, "up") == 0 ? P2V_YES :
    strcmp(state, "down") == 0 || strcmp(state, "lowerlayerdown") == 0 ? P2V_NO : P2V_UNKNOWN;
  free(state);
  return t;
}

static unsigned prefix_length(const struct sockaddr *mask)
{
  const unsigned char *bytes;
  size_t n;
  if (!mask)
    return 0;
  if (mask->sa_family == AF_INET) {
    bytes = (const unsigned char *)&((const struct sockaddr_in *)(const void *)mask)->sin_addr;
    n = 4;
  } else if (mask->sa_family == AF_INET6) {
    bytes = (const unsigned char *)&((const struct sockaddr_in6 *)(const void *)mask)->sin6_addr;
    n = 16;
  } else
    return 0;
  unsigned bits = 0;
  for (size_t i = 0; i < n; i++)
    bits += (unsigned)__builtin_popcount(bytes[i]);
  return bits;
}

/* Addresses of the interface; IPv4 labels ("eth0:1") belong to eth0. */
static void add_addresses(struct p2v_survey_nic *nic, const struct ifaddrs *list)
{
  size_t capacity = 0, len = strlen(nic->name);
  for (const struct ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next) {
    if (!ifa->ifa_addr || strncmp(ifa->ifa_name, nic->name, len) != 0 ||
        (ifa->ifa_name[len] != '\0' && ifa->ifa_name[len] != ':'))
      continue;
    int family = ifa->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6)
      continue;
    const void *addr = family == AF_INET
      ? (const void *)&((const struct sockaddr_in *)(const void *)ifa->ifa_addr)->sin_addr
      : (const void *)&((const struct sockaddr_in6 *)(const void *)ifa->ifa_addr)->sin6_addr;
    char text[INET6_ADDRSTRLEN];
    if (!inet_ntop(family, addr, text, sizeof text) || nic->naddresses >= P2V_SURVEY_MAX_ITEMS ||
        survey_grow((void **)&nic->addresses, &capacity, nic->naddresses, sizeof *nic->addresses) == -1)
      continue;
    struct p2v_survey_address *a = &nic->addresses[nic->naddresses];
    if (!(a->address = strdup(text)))
      continue;
    a->ipv6 = family == AF_INET6;
    a->prefix = prefix_length(ifa->ifa_netmask);
    nic->naddresses++;
  }
}

static void describe(struct p2v_survey_nic *nic, const struct ifaddrs *addrs)
{
  nic->mac = read_mac(nic->name);
  nic->driver = survey_link_name("/sys/class/net/%s/device/driver", nic->name);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "/sys/class/net/%s/device", nic->name);
  nic->is_virtual = access(path, F_OK) != 0;
  find_pci(nic);
  nic->link_up = link_state(nic->name);
  /* speed: Mb/s, or -1 (or its 32-bit form) when the driver does not know */
  uint64_t speed = survey_read_uint("/sys/class/net/%s/speed", nic->name);
  nic->speed_mbps = speed > 0 && speed < UINT32_MAX ? speed : P2V_SURVEY_UNKNOWN;
  nic->mtu = survey_read_uint("/sys/class/net/%s/mtu", nic->name);
  add_addresses(nic, addrs);
}

/* In ifindex order, as "ip link" lists them. */
static int compare_nics(const void *a, const void *b)
{
  uint64_t ia = survey_read_uint("/sys/class/net/%s/ifindex", ((const struct p2v_survey_nic *)a)->name);
  uint64_t ib = survey_read_uint("/sys/class/net/%s/ifindex", ((const struct p2v_survey_nic *)b)->name);
  return ia < ib ? -1 : ia > ib;
}

void survey_linux_nics(struct p2v_survey *s)
{
  DIR *dir = opendir("/sys/class/net");
  if (!dir) {
    p2v_warning("survey: cannot list /sys/class/net, no network interfaces are listed: %m");
    return;
  }
  struct ifaddrs *addrs = NULL;
  if (getifaddrs(&addrs) == -1) {
    p2v_warning("survey: cannot list network addresses: %m");
    addrs = NULL;
  }
  size_t capacity = 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] == '.' ||
        survey_read_uint("/sys/class/net/%s/type", e->d_name) == ARPHRD_LOOPBACK)
      continue;
    if (s->nnics >= P2V_SURVEY_MAX_ITEMS ||
        survey_grow((void **)&s->nics, &capacity, s->nnics, sizeof *s->nics) == -1)
      break;
    struct p2v_survey_nic *nic = &s->nics[s->nnics];
    if (!(nic->name = survey_clean(e->d_name)))
      continue;
    s->nnics++;
    describe(nic, addrs);
  }
  closedir(dir);
  if (addrs)
    freeifaddrs(addrs);
  if (s->nnics)
    qsort(s->nics, s->nnics, sizeof *s->nics, compare_nics);
}
