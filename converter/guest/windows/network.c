/* Static IPv4 addresses of the source, re-applied at first boot: Windows
 * keys them by the adapter's GUID, and the VM's NIC is a new adapter, so
 * a script finds the adapter with the same MAC and sets them again
 * (PowerShell on 2012 and later, netsh on 2008 R2).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "log.h"
#include "guest/windows/steps-internal.h"
#include "survey.h"

/* The adapter an interface's addresses go to: its MAC. */
struct target {
  const struct gw_static_ip *ip;
  char mac[18];                /* "52:54:00:12:34:56", or "" when not known */
};

static void copy_mac(struct target *t, const char *mac)
{
  snprintf(t->mac, sizeof t->mac, "%s", mac);
  for (char *c = t->mac; *c; c++)
    if (*c == '-')
      *c = ':';
}

static bool is_ipv4(const char *s)
{
  struct in_addr a;
  return s && inet_pton(AF_INET, s, &a) == 1 && strcmp(s, "0.0.0.0") != 0;
}

static int mask_prefix(const char *mask)
{
  struct in_addr a;
  if (!mask || inet_pton(AF_INET, mask, &a) != 1)
    return -1;
  uint32_t m = ntohl(a.s_addr);
  int n = 0;
  while (m & 0x80000000u) {
    n++;
    m <<= 1;
  }
  return m ? -1 : n;
}

/* The survey's NIC holding the interface's first address. */
static bool mac_from_survey_address(const struct p2v_survey *sv, struct target *t)
{
  for (size_t i = 0; sv && i < sv->nnics; i++)
    for (size_t a = 0; a < sv->nics[i].naddresses; a++)
      if (sv->nics[i].mac && !sv->nics[i].addresses[a].ipv6 &&
          strcmp(sv->nics[i].addresses[a].address, t->ip->addresses[0]) == 0) {
        copy_mac(t, sv->nics[i].mac);
        return true;
      }
  return false;
}

/* The adapter's PCI device as the registry names it ("pci\ven_8086&dev_10d3"):
 * the one survey NIC with that vendor and device gives the MAC. */
static bool mac_from_pci_id(const struct p2v_survey *sv, struct target *t)
{
  const char *id = t->ip->pci_id;
  const char *ven = id ? strcasestr(id, "VEN_") : NULL;
  const char *dev = id ? strcasestr(id, "DEV_") : NULL;
  if (!sv || !ven || !dev)
    return false;
  const struct p2v_survey_nic *match = NULL;
  size_t n = 0;
  for (size_t k = 0; k < sv->nnics; k++) {
    const struct p2v_survey_nic *nic = &sv->nics[k];
    if (nic->mac && nic->pci.vendor_id && nic->pci.device_id &&
        strncasecmp(nic->pci.vendor_id, ven + 4, 4) == 0 &&
        strncasecmp(nic->pci.device_id, dev + 4, 4) == 0) {
      match = nic;
      n++;
    }
  }
  if (n != 1)
    return false;
  copy_mac(t, match->mac);
  return true;
}

static int script_powershell(struct gl_buf *b, const struct target *t)
{
  const struct gw_static_ip *s = t->ip;
  char mac[18];
  snprintf(mac, sizeof mac, "%s", t->mac);
  for (char *c = mac; *c; c++)
    if (*c == ':')
      *c = '-';
  gl_buf_printf(b, "powershell -NoProfile -ExecutionPolicy Bypass -Command \""
                "$a = Get-NetAdapter | Where-Object { $_.MacAddress -eq '%s' }; "
                "if (-not $a) { exit 1 }; "
                "Set-NetIPInterface -InterfaceIndex $a.ifIndex -Dhcp Disabled; "
                "Remove-NetIPAddress -InterfaceIndex $a.ifIndex -AddressFamily IPv4 "
                "-Confirm:$false -ErrorAction SilentlyContinue; "
                "Remove-NetRoute -InterfaceIndex $a.ifIndex -AddressFamily IPv4 "
                "-Confirm:$false -ErrorAction SilentlyContinue", mac);
  for (size_t i = 0; s->addresses[i]; i++) {
    int prefix = mask_prefix(s->masks[i] ? s->masks[i] : s->masks[0]);
    if (!is_ipv4(s->addresses[i]) || prefix < 0)
      continue;
    gl_buf_printf(b, "; New-NetIPAddress -InterfaceIndex $a.ifIndex -IPAddress %s "
                  "-PrefixLength %d", s->addresses[i], prefix);
    if (i == 0 && s->gateways[0] && is_ipv4(s->gateways[0]))
      gl_buf_printf(b, " -DefaultGateway %s", s->gateways[0]);
  }
  for (size_t i = 0; s->dns[i]; i++)
    if (is_ipv4(s->dns[i]))
      gl_buf_printf(b, "%s%s", i == 0 ? "; Set-DnsClientServerAddress -InterfaceIndex "
                    "$a.ifIndex -ServerAddresses " : ",", s->dns[i]);
  return gl_buf_printf(b, "\"\nexit /b %%ERRORLEVEL%%\n");
}

static int script_netsh(struct gl_buf *b, const struct target *t)
{
  const struct gw_static_ip *s = t->ip;
  /* wmic ends its lines with CR CR LF: the second for strips the CR. */
  gl_buf_printf(b, "set P2V_IF=\n"
                "for /f \"tokens=2 delims==\" %%%%i in ('wmic nic where "
                "\"MACAddress='%s'\" get NetConnectionID /value ^| find \"=\"') do "
                "for /f \"delims=\" %%%%j in (\"%%%%i\") do set \"P2V_IF=%%%%j\"\n"
                "if not defined P2V_IF exit /b 1\n", t->mac);
  for (size_t i = 0; s->addresses[i]; i++) {
    const char *mask = s->masks[i] ? s->masks[i] : s->masks[0];
    if (!is_ipv4(s->addresses[i]) || mask_prefix(mask) < 0)
      continue;
    if (i == 0)
      gl_buf_printf(b, "netsh interface ipv4 set address name=\"%%P2V_IF%%\" static %s %s%s%s\n",
                    s->addresses[i], mask, s->gateways[0] && is_ipv4(s->gateways[0]) ? " " : "",
                    s->gateways[0] && is_ipv4(s->gateways[0]) ? s->gateways[0] : "");
    else
      gl_buf_printf(b, "netsh interface ipv4 add address name=\"%%P2V_IF%%\" %s %s\n",
                    s->addresses[i], mask);
  }
  int n = 0;
  for (size_t i = 0; s->dns[i]; i++)
    if (is_ipv4(s->dns[i]))
      gl_buf_printf(b, n++ ? "netsh interface ipv4 add dnsservers name=\"%%P2V_IF%%\" %s\n"
                           : "netsh interface ipv4 set dnsservers name=\"%%P2V_IF%%\" "
                             "static %s primary\n", s->dns[i]);
  return gl_buf_printf(b, "exit /b 0\n");
}

int gw_convert_static_ips(struct p2v_guest *gg, const struct p2v_convert_options *o,
                          struct gw_hive *system, const struct gw_plan *plan,
                          struct gw_firstboot *fb, struct p2v_changes *changes)
{
  (void) gg;
  struct gw_static_ips ips = { 0 };
  if (gw_read_static_ips(system, &plan->sys, &ips) == -1)
    return -1;
  int r = 0;
  bool ps = plan->sys.major > 6 || (plan->sys.major == 6 && plan->sys.minor >= 2);
  for (size_t i = 0; i < ips.n && r == 0; i++) {
    struct target t = { &ips.items[i], "" };
    if (!t.ip->addresses[0] || !t.ip->masks[0])
      continue;
    const char *how = "survey";
    if (!mac_from_survey_address(o->survey, &t)) {
      how = "adapter's NetworkAddress";
      if (t.ip->mac)
        copy_mac(&t, t.ip->mac);
      else if ((how = "registry's PCI ID and the survey", !mac_from_pci_id(o->survey, &t)) &&
               ips.n == 1 && o->vm_mac) {
        how = "VM's one NIC";
        copy_mac(&t, o->vm_mac);
      }
    }
    if (!t.mac[0]) {
      p2v_warning("static address %s of interface %s cannot be matched to a NIC of the VM "
                  "(no survey names its MAC): set it by hand after the first boot",
                  t.ip->addresses[0], t.ip->guid);
      continue;
    }
    struct gl_buf b = { 0 };
    if (ps)
      script_powershell(&b, &t);
    else
      script_netsh(&b, &t);
    char name[32];
    snprintf(name, sizeof name, "static-ip-%zu", i + 1);
    r = b.s ? gw_firstboot_add(fb, name, b.s) : -1;
    free(b.s);
    if (r == 0)
      r = p2v_changes_add(changes, "network", NULL, "static address %s (interface %s%s%s) "
                          "re-applied at first boot to the adapter with MAC %s (from the %s) "
                          "by %s", t.ip->addresses[0], t.ip->guid, t.ip->adapter ? ", " : "",
                          t.ip->adapter ? t.ip->adapter : "", t.mac, how,
                          ps ? "PowerShell" : "netsh");
  }
  gw_static_ips_clear(&ips);
  return r;
}
