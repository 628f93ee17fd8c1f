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

#define NET_CLASS "Control\\Class\\{4D36E972-E325-11CE-BFC1-08002BE10318}"

struct static_if {
  char *guid;
  char **ips, **masks, **gateways;   /* NULL-terminated */
  char *dns;                   /* "a,b" or NULL */
  char mac[18];                /* "52:54:00:12:34:56", or "" when not known */
};

static void free_strv(char **v)
{
  for (size_t i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
}

static void static_if_clear(struct static_if *s)
{
  free(s->guid);
  free_strv(s->ips);
  free_strv(s->masks);
  free_strv(s->gateways);
  free(s->dns);
}

/* Only what an address can hold goes into a script. */
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

/* Interfaces\{GUID} with EnableDHCP=0 and an address: 1, 0 not static, -1 error. */
static int read_interface(struct gw_hive *system, const char *cs, const char *guid,
                          struct static_if *s)
{
  CLEANUP_FREE char *key = NULL;
  if (asprintf(&key, "%s\\Services\\Tcpip\\Parameters\\Interfaces\\%s", cs, guid) < 0)
    return -1;
  uint32_t dhcp = 1;
  int r = gw_reg_get_dword(system, key, "EnableDHCP", &dhcp);
  if (r <= 0 || dhcp != 0)
    return r < 0 ? -1 : 0;
  memset(s, 0, sizeof *s);
  if (gw_reg_get_multi_string(system, key, "IPAddress", &s->ips) != 1 || !s->ips ||
      !is_ipv4(s->ips[0]) ||
      gw_reg_get_multi_string(system, key, "SubnetMask", &s->masks) != 1 || !s->masks) {
    static_if_clear(s);
    return 0;
  }
  gw_reg_get_multi_string(system, key, "DefaultGateway", &s->gateways);
  if (gw_reg_get_string(system, key, "NameServer", &s->dns) == 1 && s->dns) {
    for (char *c = s->dns; *c; c++)
      if (*c == ' ')
        *c = ',';
    if (!*s->dns) {
      free(s->dns);
      s->dns = NULL;
    }
  }
  s->guid = strdup(guid);
  return s->guid ? 1 : -1;
}

static void copy_mac(struct static_if *s, const char *mac)
{
  snprintf(s->mac, sizeof s->mac, "%s", mac);
  for (char *c = s->mac; *c; c++)
    if (*c == '-')
      *c = ':';
}

/* The survey's NIC holding the interface's address. */
static bool mac_from_survey_address(const struct p2v_survey *sv, struct static_if *s)
{
  for (size_t i = 0; sv && i < sv->nnics; i++)
    for (size_t a = 0; a < sv->nics[i].naddresses; a++)
      if (sv->nics[i].mac && !sv->nics[i].addresses[a].ipv6 &&
          strcmp(sv->nics[i].addresses[a].address, s->ips[0]) == 0) {
        copy_mac(s, sv->nics[i].mac);
        return true;
      }
  return false;
}

/* The adapter's class key names the GUID (NetCfgInstanceId) and the PCI
 * device (DeviceInstanceID, or MatchingDeviceId on 2008 R2); the one
 * survey NIC with that vendor and device gives the MAC. */
static bool mac_from_registry(struct gw_hive *system, const char *cs,
                              const struct p2v_survey *sv, struct static_if *s)
{
  CLEANUP_FREE char *class = NULL;
  char **subs = NULL;
  if (!sv || asprintf(&class, "%s\\" NET_CLASS, cs) < 0 ||
      gw_reg_subkeys(system, class, &subs) != 1)
    return false;
  bool found = false;
  for (size_t i = 0; subs && subs[i] && !found; i++) {
    CLEANUP_FREE char *key = NULL, *id = NULL, *dev = NULL;
    if (asprintf(&key, "%s\\%s", class, subs[i]) < 0 ||
        gw_reg_get_string(system, key, "NetCfgInstanceId", &id) != 1 || !id ||
        strcasecmp(id, s->guid) != 0)
      continue;
    if (gw_reg_get_string(system, key, "DeviceInstanceID", &dev) != 1 &&
        gw_reg_get_string(system, key, "MatchingDeviceId", &dev) != 1)
      break;
    const char *ven = dev ? strcasestr(dev, "VEN_") : NULL;
    const char *did = dev ? strcasestr(dev, "DEV_") : NULL;
    if (!ven || !did)
      break;
    const struct p2v_survey_nic *match = NULL;
    size_t n = 0;
    for (size_t k = 0; k < sv->nnics; k++) {
      const struct p2v_survey_nic *nic = &sv->nics[k];
      if (nic->mac && nic->pci.vendor_id && nic->pci.device_id &&
          strncasecmp(nic->pci.vendor_id, ven + 4, 4) == 0 &&
          strncasecmp(nic->pci.device_id, did + 4, 4) == 0) {
        match = nic;
        n++;
      }
    }
    if (n == 1) {
      copy_mac(s, match->mac);
      found = true;
    }
    break;
  }
  free_strv(subs);
  return found;
}

static int script_powershell(struct gl_buf *b, const struct static_if *s)
{
  char mac[18];
  snprintf(mac, sizeof mac, "%s", s->mac);
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
  for (size_t i = 0; s->ips[i]; i++) {
    int prefix = mask_prefix(s->masks[i] ? s->masks[i] : s->masks[0]);
    if (!is_ipv4(s->ips[i]) || prefix < 0)
      continue;
    gl_buf_printf(b, "; New-NetIPAddress -InterfaceIndex $a.ifIndex -IPAddress %s "
                  "-PrefixLength %d", s->ips[i], prefix);
    if (i == 0 && s->gateways && is_ipv4(s->gateways[0]))
      gl_buf_printf(b, " -DefaultGateway %s", s->gateways[0]);
  }
  if (s->dns)
    gl_buf_printf(b, "; Set-DnsClientServerAddress -InterfaceIndex $a.ifIndex "
                  "-ServerAddresses %s", s->dns);
  return gl_buf_printf(b, "\"\nexit /b %%ERRORLEVEL%%\n");
}

static int script_netsh(struct gl_buf *b, const struct static_if *s)
{
  /* wmic ends its lines with CR CR LF: the second for strips the CR. */
  gl_buf_printf(b, "set P2V_IF=\n"
                "for /f \"tokens=2 delims==\" %%%%i in ('wmic nic where "
                "\"MACAddress='%s'\" get NetConnectionID /value ^| find \"=\"') do "
                "for /f \"delims=\" %%%%j in (\"%%%%i\") do set \"P2V_IF=%%%%j\"\n"
                "if not defined P2V_IF exit /b 1\n", s->mac);
  for (size_t i = 0; s->ips[i]; i++) {
    const char *mask = s->masks[i] ? s->masks[i] : s->masks[0];
    if (!is_ipv4(s->ips[i]) || mask_prefix(mask) < 0)
      continue;
    if (i == 0)
      gl_buf_printf(b, "netsh interface ipv4 set address name=\"%%P2V_IF%%\" static %s %s%s%s\n",
                    s->ips[i], mask, s->gateways && is_ipv4(s->gateways[0]) ? " " : "",
                    s->gateways && is_ipv4(s->gateways[0]) ? s->gateways[0] : "");
    else
      gl_buf_printf(b, "netsh interface ipv4 add address name=\"%%P2V_IF%%\" %s %s\n",
                    s->ips[i], mask);
  }
  if (s->dns) {
    CLEANUP_FREE char *dns = strdup(s->dns);
    char *save = NULL;
    int n = 0;
    for (char *d = dns ? strtok_r(dns, ",", &save) : NULL; d; d = strtok_r(NULL, ",", &save))
      if (is_ipv4(d))
        gl_buf_printf(b, n++ ? "netsh interface ipv4 add dnsservers name=\"%%P2V_IF%%\" %s\n"
                             : "netsh interface ipv4 set dnsservers name=\"%%P2V_IF%%\" "
                               "static %s primary\n", d);
  }
  return gl_buf_printf(b, "exit /b 0\n");
}

/* Only addresses and commas in the DNS list (it goes into a script). */
static void sanitize_dns(struct static_if *s)
{
  if (s->dns && strspn(s->dns, "0123456789.,") != strlen(s->dns)) {
    p2v_warning("interface %s: DNS servers '%s' are not IPv4 addresses; not re-applied",
                s->guid, s->dns);
    free(s->dns);
    s->dns = NULL;
  }
}

int gw_convert_static_ips(struct p2v_guest *gg, const struct p2v_convert_options *o,
                          struct gw_hive *system, const struct gw_plan *plan,
                          struct gw_firstboot *fb, struct p2v_changes *changes)
{
  (void) gg;
  const char *cs = plan->sys.control_set;
  CLEANUP_FREE char *key = NULL;
  char **guids = NULL;
  if (asprintf(&key, "%s\\Services\\Tcpip\\Parameters\\Interfaces", cs) < 0)
    return -1;
  int r = gw_reg_subkeys(system, key, &guids);
  if (r <= 0)
    return r;
  struct static_if ifs[16];
  size_t n = 0;
  for (size_t i = 0; guids[i] && n < 16 && r >= 0; i++) {
    r = read_interface(system, cs, guids[i], &ifs[n]);
    if (r == 1)
      n++;
  }
  free_strv(guids);
  if (r < 0) {
    for (size_t i = 0; i < n; i++)
      static_if_clear(&ifs[i]);
    return -1;
  }
  r = 0;
  for (size_t i = 0; i < n && r == 0; i++) {
    struct static_if *s = &ifs[i];
    sanitize_dns(s);
    const char *how = "survey";
    if (!mac_from_survey_address(o->survey, s)) {
      how = "registry";
      if (!mac_from_registry(system, cs, o->survey, s)) {
        how = "the VM's one NIC";
        if (n == 1 && o->vm_mac)
          copy_mac(s, o->vm_mac);
      }
    }
    if (!s->mac[0]) {
      p2v_warning("static address %s of interface %s cannot be matched to a NIC of the VM "
                  "(no survey names its MAC): set it by hand after the first boot",
                  s->ips[0], s->guid);
      continue;
    }
    struct gl_buf b = { 0 };
    bool ps = plan->sys.major > 6 || (plan->sys.major == 6 && plan->sys.minor >= 2);
    if (ps)
      script_powershell(&b, s);
    else
      script_netsh(&b, s);
    char name[32];
    snprintf(name, sizeof name, "static-ip-%zu", i + 1);
    r = b.s ? gw_firstboot_add(fb, name, b.s) : -1;
    free(b.s);
    if (r == 0)
      r = p2v_changes_add(changes, "network", NULL, "static address %s (interface %s) "
                          "re-applied at first boot to the adapter with MAC %s (from the %s), "
                          "by %s", s->ips[0], s->guid, s->mac, how, ps ? "PowerShell" : "netsh");
  }
  for (size_t i = 0; i < n; i++)
    static_if_clear(&ifs[i]);
  return r;
}
