/* guest/windows/drivers.c: the registry edits of a Windows conversion on
 * hives built at test time (hivexregedit --merge into minimal-hive) and
 * checked with hivexget and hivexregedit --export: a 2008 R2 shaped
 * SYSTEM (Current=2: an edit of ControlSet001 is a bug this catches, and
 * no DriverDatabase: CriticalDeviceDatabase) and a 2022 shaped one
 * (DriverDatabase).  The boot driver comes from the virtio-win viostor
 * INF template in ../shared/testdata, parsed by common/drivers.  Every
 * function applied twice changes and records nothing the second time:
 * the exported hives and the files are identical.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "hive-test.h"

#include "guest/windows/windows-internal.h"

/* ".reg" hex(7) text of a REG_MULTI_SZ of ASCII strings. */
static char *hex7(const char *const *v)
{
  size_t cap = 16;
  for (size_t i = 0; v[i]; i++)
    cap += 6 * (strlen(v[i]) + 1);
  char *out = malloc(cap + 8);
  if (!out)
    exit(1);
  char *p = out + sprintf(out, "hex(7):");
  for (size_t i = 0; v[i]; i++) {
    for (const char *c = v[i]; *c; c++)
      p += sprintf(p, "%02x,00,", (unsigned char)*c);
    p += sprintf(p, "00,00,");
  }
  sprintf(p, "00,00");
  return out;
}

/* ---- the hives ---- */

#define NETCLASS "{4d36e972-e325-11ce-bfc1-08002be10318}"
#define GUID_A "{11111111-AAAA-4BBB-8CCC-000000000001}"
#define GUID_B "{11111111-AAAA-4BBB-8CCC-000000000002}"
#define GUID_C "{11111111-AAAA-4BBB-8CCC-000000000003}"
#define GUID_D "{11111111-AAAA-4BBB-8CCC-000000000004}"
#define GUID_E "{11111111-AAAA-4BBB-8CCC-000000000005}"

static char *system_2008r2_reg(void)
{
  const char *ips[] = { "192.168.1.10", "10.0.0.5", NULL };
  const char *masks[] = { "255.255.255.0", "255.0.0.0", NULL };
  const char *gw[] = { "192.168.1.1", NULL };
  const char *zero[] = { "0.0.0.0", NULL };
  const char *evil[] = { "1.2.3.4 & del /q C:\\*", NULL };
  const char *decoy[] = { "172.16.0.9", NULL };
  char *h_ips = hex7(ips), *h_masks = hex7(masks), *h_gw = hex7(gw), *h_zero = hex7(zero),
    *h_evil = hex7(evil), *h_decoy = hex7(decoy);
  char *reg;
  if (asprintf(&reg,
    "[\\Select]\n\"Current\"=dword:00000002\n\"Default\"=dword:00000002\n"
    "\"LastKnownGood\"=dword:00000001\n\n"
    /* ControlSet001: the decoy a writer of the wrong set would hit */
    "[\\ControlSet001]\n\n[\\ControlSet001\\Services]\n\n"
    "[\\ControlSet001\\Services\\msahci]\n\"Start\"=dword:00000003\n\n"
    "[\\ControlSet001\\Services\\dcstor64]\n\"Start\"=dword:00000002\n\n"
    "[\\ControlSet001\\Services\\Tcpip]\n\n[\\ControlSet001\\Services\\Tcpip\\Parameters]\n\n"
    "[\\ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces]\n\n"
    "[\\ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces\\" GUID_E "]\n"
    "\"EnableDHCP\"=dword:00000000\n\"IPAddress\"=%s\n\"SubnetMask\"=%s\n\n"
    "[\\ControlSet002]\n\n[\\ControlSet002\\Control]\n\n"
    "[\\ControlSet002\\Control\\Class]\n\n[\\ControlSet002\\Control\\Class\\" NETCLASS "]\n\n"
    "[\\ControlSet002\\Control\\Class\\" NETCLASS "\\0000]\n"
    "\"NetCfgInstanceId\"=\"" GUID_B "\"\n\"DriverDesc\"=\"WAN Miniport\"\n\n"
    "[\\ControlSet002\\Control\\Class\\" NETCLASS "\\0007]\n"
    "\"NetCfgInstanceId\"=\"" GUID_A "\"\n\"DriverDesc\"=\"Intel(R) PRO/1000 MT\"\n"
    "\"MatchingDeviceId\"=\"pci\\\\ven_8086&dev_10d3\"\n\"NetworkAddress\"=\"00-11-22-AA-BB-CC\"\n\n"
    "[\\ControlSet002\\Control\\Class\\" NETCLASS "\\Properties]\n\n"
    "[\\ControlSet002\\Services]\n\n"
    "[\\ControlSet002\\Services\\msahci]\n\"Start\"=dword:00000003\n\"Type\"=dword:00000001\n\n"
    "[\\ControlSet002\\Services\\LSI_SAS]\n\"Start\"=dword:00000003\n\n"
    "[\\ControlSet002\\Services\\LSI_SAS\\StartOverride]\n\"0\"=dword:00000003\n\n"
    "[\\ControlSet002\\Services\\dcstor64]\n\"Start\"=dword:00000002\n\"Type\"=dword:00000010\n\n"
    "[\\ControlSet002\\Services\\CQMGHOST]\n\"Start\"=dword:00000002\n\n"
    "[\\ControlSet002\\Services\\Server Administrator]\n\"Start\"=dword:00000003\n\n"
    "[\\ControlSet002\\Services\\AMS]\n\"Start\"=dword:00000004\n\n"
    "[\\ControlSet002\\Services\\omsad]\n\"Start\"=dword:00000000\n\n"
    "[\\ControlSet002\\Services\\SepMasterService]\n\"Start\"=dword:00000002\n\n"
    "[\\ControlSet002\\Services\\McShield]\n\"Start\"=dword:00000004\n\n"
    "[\\ControlSet002\\Services\\Tcpip]\n\n[\\ControlSet002\\Services\\Tcpip\\Parameters]\n\n"
    "[\\ControlSet002\\Services\\Tcpip\\Parameters\\Interfaces]\n\n"
    "[\\ControlSet002\\Services\\Tcpip\\Parameters\\Interfaces\\" GUID_A "]\n"
    "\"EnableDHCP\"=dword:00000000\n\"IPAddress\"=%s\n\"SubnetMask\"=%s\n\"DefaultGateway\"=%s\n"
    "\"NameServer\"=\"192.168.1.2,8.8.8.8\"\n\n"
    "[\\ControlSet002\\Services\\Tcpip\\Parameters\\Interfaces\\" GUID_B "]\n"
    "\"EnableDHCP\"=dword:00000001\n\"IPAddress\"=%s\n\"SubnetMask\"=%s\n\n"
    "[\\ControlSet002\\Services\\Tcpip\\Parameters\\Interfaces\\" GUID_C "]\n"
    "\"EnableDHCP\"=dword:00000000\n\"IPAddress\"=%s\n\"SubnetMask\"=%s\n\n"
    "[\\ControlSet002\\Services\\Tcpip\\Parameters\\Interfaces\\" GUID_D "]\n"
    "\"EnableDHCP\"=dword:00000000\n\"IPAddress\"=%s\n\"SubnetMask\"=%s\n\n",
    h_decoy, h_masks, h_ips, h_masks, h_gw, h_ips, h_masks, h_zero, h_masks, h_evil,
    h_masks) < 0)
    exit(1);
  free(h_ips); free(h_masks); free(h_gw); free(h_zero); free(h_evil); free(h_decoy);
  return reg;
}

static const char software_2008r2[] =
  "[\\Microsoft]\n\n[\\Microsoft\\Windows]\n\n[\\Microsoft\\Windows\\CurrentVersion]\n"
  "\"DevicePath\"=hex(2):25,00,53,00,79,00,73,00,74,00,65,00,6d,00,52,00,6f,00,6f,00,74,00,"
  "25,00,5c,00,69,00,6e,00,66,00,00,00\n\n"           /* %SystemRoot%\inf */
  "[\\Microsoft\\Windows\\CurrentVersion\\Group Policy]\n\n"
  "[\\Microsoft\\Windows\\CurrentVersion\\Group Policy\\State]\n\n"
  "[\\Microsoft\\Windows\\CurrentVersion\\Group Policy\\State\\Machine]\n"
  "\"Distinguished-Name\"=\"CN=SRV1,OU=Servers,DC=corp,DC=example,DC=com\"\n\n"
  "[\\Microsoft\\Windows\\CurrentVersion\\Group Policy\\State\\Machine\\GPO-List]\n\n"
  "[\\Microsoft\\Windows\\CurrentVersion\\Group Policy\\State\\Machine\\GPO-List\\0]\n"
  "\"GPOName\"=\"Default Domain Policy\"\n\n"
  "[\\Microsoft\\Windows\\CurrentVersion\\Group Policy\\State\\Machine\\GPO-List\\1]\n"
  "\"GPOName\"=\"Local Group Policy\"\n\n";

static const char system_2022[] =
  "[\\Select]\n\"Current\"=dword:00000001\n\"Default\"=dword:00000001\n\n"
  "[\\ControlSet001]\n\n[\\ControlSet001\\Services]\n\n"
  "[\\ControlSet001\\Services\\storahci]\n\"Start\"=dword:00000003\n\n"
  "[\\ControlSet001\\Services\\storahci\\StartOverride]\n\"0\"=dword:00000003\n\n"
  "[\\ControlSet001\\Services\\viostor]\n\"Start\"=dword:00000003\n\n"
  "[\\ControlSet001\\Services\\viostor\\StartOverride]\n\"0\"=dword:00000003\n\n"
  "[\\DriverDatabase]\n\n[\\DriverDatabase\\DriverPackages]\n\n"
  "[\\DriverDatabase\\DeviceIds]\n\n[\\DriverDatabase\\DriverInfFiles]\n\n";

static const char software_2022[] =
  "[\\Microsoft]\n\n[\\Microsoft\\Windows]\n\n[\\Microsoft\\Windows\\CurrentVersion]\n\n";

/* ---- the driver package: viostor's INF template, stamped ---- */

struct package {
  struct win_package pkg;
  struct inf_file *inf;
};

static int load_viostor(const struct inf_os *os, struct package *out)
{
  memset(out, 0, sizeof *out);
  char path[4096];
  const char *shared = getenv("P2V_SHARED_DIR");
  snprintf(path, sizeof path, "%s/testdata/inf/viostor.inx", shared ? shared : "../shared");
  size_t size;
  char *text = ht_read_file(path, &size);
  if (!text) {
    fprintf(stderr, "cannot read %s\n", path);
    return -1;
  }
  /* What the vendor's build tool does to the template. */
  for (char *p; (p = strstr(text, "_INX_SUBSYS_VENDOR_ID")); )
    memmove(p + 4, p + 21, strlen(p + 21) + 1), memcpy(p, "1AF4", 4);
  char err[256];
  struct inf_parse_options opts = { .arch = "amd64" };
  out->inf = inf_parse((const uint8_t *)text, strlen(text), &opts, err, sizeof err);
  free(text);
  if (!out->inf || inf_driver_load(out->inf, os, &out->pkg.driver) == -1) {
    fprintf(stderr, "cannot parse %s: %s\n", path, out->inf ? "" : err);
    return -1;
  }
  out->pkg.inf_path = (char *)"viostor/2k8R2/amd64/viostor.inf";
  return out->pkg.driver.nmodels >= 2 ? 0 : -1;
}

static void free_package(struct package *p)
{
  inf_driver_clear(&p->pkg.driver);
  inf_free(p->inf);
}

/* ---- helpers ---- */

static struct gw_hive *open_rw(const char *path)
{
  struct gw_hive *h = gw_hive_open(path, true);
  if (!h) {
    fprintf(stderr, "cannot open %s\n", path);
    exit(1);
  }
  return h;
}

/* Every change names a key of the current control set (or a SOFTWARE or
 * DriverDatabase key), never another set. */
static void check_changes_in(const struct p2v_changes *c, const char *control_set)
{
  char want[64];
  snprintf(want, sizeof want, "HKLM\\SYSTEM\\%s\\", control_set);
  for (size_t i = 0; i < c->n; i++) {
    const char *f = c->items[i].file;
    CHECK(strcmp(c->items[i].area, "registry") == 0);
    bool ok = f && (strncmp(f, want, strlen(want)) == 0 ||
                    strncmp(f, "HKLM\\SYSTEM\\DriverDatabase\\", 27) == 0 ||
                    strncmp(f, "HKLM\\SOFTWARE\\", 14) == 0);
    if (!ok)
      fprintf(stderr, "change outside %s: %s\n", control_set, f ? f : "(null)");
    CHECK(ok);
  }
}

static bool has_change(const struct p2v_changes *c, const char *file, const char *text)
{
  for (size_t i = 0; i < c->n; i++)
    if (c->items[i].file && strcmp(c->items[i].file, file) == 0 &&
        strstr(c->items[i].description, text))
      return true;
  return false;
}

static void check_value(const char *hive, const char *key, const char *name, const char *want)
{
  char *got = ht_get(hive, key, name);
  if (!got || strcmp(got, want) != 0) {
    fprintf(stderr, "hivexget %s '%s' '%s': \"%s\", expected \"%s\"\n", hive, key, name,
            got ? got : "(fails)", want);
    failures++;
  }
  free(got);
}

static void check_absent(const char *hive, const char *key, const char *name)
{
  char *got = ht_get(hive, key, name);
  if (got) {
    fprintf(stderr, "hivexget %s '%s' '%s': \"%s\", expected nothing\n", hive, key,
            name ? name : "", got);
    failures++;
  }
  free(got);
}

static char *agents_file(void)
{
  static char path[4096];
  const char *src = getenv("P2V_SOURCE_DIR");
  snprintf(path, sizeof path, "%s/data/vendor-agents", src ? src : ".");
  return path;
}

/* The edits of a conversion (a to d), as the orchestrator calls them;
 * then commit.  0 or -1. */
static int convert(const char *system_path, const char *software_path,
                   const struct package *viostor, const char *inbox, struct p2v_changes *changes)
{
  struct gw_hive *sys_h = open_rw(system_path), *soft_h = open_rw(software_path);
  struct gw_system sys;
  int r = gw_system_read(sys_h, NULL, &sys);
  if (r == 0) {
    r = gw_register_boot_driver(sys_h, &sys, &viostor->pkg, &viostor->pkg.driver.models[0],
                                changes);
    if (r == 0)
      r = gw_make_boot_start(sys_h, &sys, inbox, changes);
    if (r == 0)
      r = gw_extend_device_path(soft_h, GW_DRIVER_STORE_DIR, changes);
    if (r == 0)
      r = gw_disable_vendor_services(sys_h, &sys, agents_file(), changes);
    if (r == 0)
      r = gw_hive_commit(sys_h);
    if (r == 0)
      r = gw_hive_commit(soft_h);
  }
  gw_system_clear(&sys);
  gw_hive_close(sys_h);
  gw_hive_close(soft_h);
  return r;
}

/* Applied again: nothing changes, nothing is recorded, the files stay. */
static void check_idempotent(const char *system_path, const char *software_path,
                             const struct package *viostor, const char *inbox)
{
  size_t s0, w0, s1, w1;
  char *sys_before = ht_read_file(system_path, &s0), *soft_before = ht_read_file(software_path, &w0);
  char *exp_before = ht_export(system_path, "\\");
  struct p2v_changes again = { 0 };
  CHECK(convert(system_path, software_path, viostor, inbox, &again) == 0);
  for (size_t i = 0; i < again.n; i++)
    fprintf(stderr, "recorded again: %s: %s\n", again.items[i].file, again.items[i].description);
  CHECK(again.n == 0);
  p2v_changes_clear(&again);
  char *sys_after = ht_read_file(system_path, &s1), *soft_after = ht_read_file(software_path, &w1);
  char *exp_after = ht_export(system_path, "\\");
  CHECK(exp_before && exp_after && strcmp(exp_before, exp_after) == 0);
  CHECK(sys_before && sys_after && s0 == s1 && memcmp(sys_before, sys_after, s0) == 0);
  CHECK(soft_before && soft_after && w0 == w1 && memcmp(soft_before, soft_after, w0) == 0);
  free(sys_before); free(soft_before); free(sys_after); free(soft_after);
  free(exp_before); free(exp_after);
}

/* ---- 2008 R2: Current=2, CriticalDeviceDatabase ---- */

static void test_2008r2(void)
{
  char *reg = system_2008r2_reg();
  char *sysp = ht_make_hive("r2-SYSTEM", reg), *softp = ht_make_hive("r2-SOFTWARE", software_2008r2);
  free(reg);
  struct inf_os os = { "amd64", 6, 1, 7601 };
  struct package viostor;
  CHECK(load_viostor(&os, &viostor) == 0);
  if (failures)
    return;
  char *before_cs1 = ht_export(sysp, "ControlSet001");

  struct p2v_changes changes = { 0 };
  ht_log_reset();
  CHECK(convert(sysp, softp, &viostor, "msahci", &changes) == 0);
  CHECK(ht_log.errors == 0);
  check_changes_in(&changes, "ControlSet002");

  /* a: the service from the INF's AddService section */
  const char *svc = "ControlSet002\\Services\\viostor";
  check_value(sysp, svc, "Type", "1");
  check_value(sysp, svc, "Start", "0");
  check_value(sysp, svc, "ErrorControl", "1");
  check_value(sysp, svc, "Group", "SCSI miniport");
  check_value(sysp, svc, "ImagePath", "System32\\drivers\\viostor.sys");
  char *e = ht_export(sysp, svc);
  CHECK(e && ht_count_lines_starting(e, "\"ImagePath\"=hex(2):") == 1);   /* REG_EXPAND_SZ */
  free(e);
  /* ... and the device IDs of both models, and their VEN&DEV forms */
  static const char *const cdb[] = {
    "pci#ven_1af4&dev_1001&subsys_00021af4&rev_00", "pci#ven_1af4&dev_1001",
    "pci#ven_1af4&dev_1042&subsys_11001af4&rev_01", "pci#ven_1af4&dev_1042",
  };
  for (size_t i = 0; i < 4; i++) {
    char key[256];
    snprintf(key, sizeof key, "ControlSet002\\Control\\CriticalDeviceDatabase\\%s", cdb[i]);
    check_value(sysp, key, "Service", "viostor");
    check_value(sysp, key, "ClassGUID", "{4D36E97B-E325-11CE-BFC1-08002BE10318}");
  }
  e = ht_export(sysp, "ControlSet002\\Control\\CriticalDeviceDatabase");
  CHECK(e && ht_count_lines_starting(e, "[\\ControlSet002\\Control\\CriticalDeviceDatabase\\") == 4);
  free(e);
  check_absent(sysp, "DriverDatabase", NULL);
  CHECK(has_change(&changes, "HKLM\\SYSTEM\\ControlSet002\\Services\\viostor",
                   "ImagePath=System32\\drivers\\viostor.sys"));

  /* b: msahci boot-start; LSI_SAS with its StartOverride */
  check_value(sysp, "ControlSet002\\Services\\msahci", "Start", "0");
  CHECK(has_change(&changes, "HKLM\\SYSTEM\\ControlSet002\\Services\\msahci", "Start=0 (was 3)"));
  struct gw_hive *h = open_rw(sysp);
  struct gw_system sys;
  CHECK(gw_system_read(h, NULL, &sys) == 0);
  struct p2v_changes more = { 0 };
  CHECK(gw_make_boot_start(h, &sys, "LSI_SAS", &more) == 0);
  CHECK(more.n == 2);
  ht_log_reset();
  CHECK(gw_make_boot_start(h, &sys, "storahci", &more) == -1);    /* not on 2008 R2 */
  CHECK(ht_log.errors == 1 && strstr(ht_log.last, "storahci") &&
        strstr(ht_log.last, "ControlSet002"));
  CHECK(more.n == 2);
  CHECK(gw_hive_commit(h) == 0);
  gw_hive_close(h);
  check_value(sysp, "ControlSet002\\Services\\LSI_SAS", "Start", "0");
  check_absent(sysp, "ControlSet002\\Services\\LSI_SAS\\StartOverride", NULL);
  CHECK(has_change(&more, "HKLM\\SYSTEM\\ControlSet002\\Services\\LSI_SAS\\StartOverride",
                   "removed"));
  p2v_changes_clear(&more);

  /* c: DevicePath extended once */
  check_value(softp, "Microsoft\\Windows\\CurrentVersion", "DevicePath",
              "%SystemRoot%\\inf;%SystemRoot%\\Drivers\\VirtIO");

  /* d: vendor services, from the real data/vendor-agents */
  check_value(sysp, "ControlSet002\\Services\\dcstor64", "Start", "4");
  check_value(sysp, "ControlSet002\\Services\\CQMGHOST", "Start", "4");      /* case */
  check_value(sysp, "ControlSet002\\Services\\Server Administrator", "Start", "4");
  check_value(sysp, "ControlSet002\\Services\\omsad", "Start", "0");   /* boot start: kept */
  check_value(sysp, "ControlSet002\\Services\\SepMasterService", "Start", "2");
  CHECK(has_change(&changes, "HKLM\\SYSTEM\\ControlSet002\\Services\\dcstor64",
                   "disabled dcstor64 (Dell OpenManage DSM SA Data Manager): Start=4 (was 2)"));
  CHECK(!has_change(&changes, "HKLM\\SYSTEM\\ControlSet002\\Services\\AMS", ""));  /* was 4 */

  /* ControlSet001 is exactly as it was. */
  char *after_cs1 = ht_export(sysp, "ControlSet001");
  CHECK(before_cs1 && after_cs1 && strcmp(before_cs1, after_cs1) == 0);
  free(before_cs1);
  free(after_cs1);
  p2v_changes_clear(&changes);

  check_idempotent(sysp, softp, &viostor, "msahci");
  char *dp = ht_get(softp, "Microsoft\\Windows\\CurrentVersion", "DevicePath");
  CHECK(dp && strstr(dp, "VirtIO") && strstr(dp, "VirtIO") == strrchr(dp, 'V'));   /* once */
  free(dp);
  free_package(&viostor);
  free(sysp);
  free(softp);
}

/* e and f on the 2008 R2 hives. */
static void test_static_ips_and_findings(void)
{
  char *reg = system_2008r2_reg();
  char *sysp = ht_make_hive("ip-SYSTEM", reg), *softp = ht_make_hive("ip-SOFTWARE", software_2008r2);
  free(reg);
  struct gw_hive *h = gw_hive_open(sysp, false), *soft = gw_hive_open(softp, false);
  CHECK(h && soft);
  if (!h || !soft)
    return;
  struct gw_system sys;
  CHECK(gw_system_read(h, NULL, &sys) == 0);
  struct gw_static_ips ips;
  ht_log_reset();
  CHECK(gw_read_static_ips(h, &sys, &ips) == 0);
  CHECK(ht_log.errors == 0);
  CHECK(ips.n == 1);           /* A; not B (DHCP), C (0.0.0.0), D (not an address), E (set 1) */
  if (ips.n >= 1) {
    const struct gw_static_ip *ip = &ips.items[0];
    CHECK_STR(ip->guid, GUID_A);
    CHECK(ip->addresses[0] && ip->addresses[1] && !ip->addresses[2]);
    CHECK_STR(ip->addresses[0], "192.168.1.10");
    CHECK_STR(ip->addresses[1], "10.0.0.5");
    CHECK_STR(ip->masks[0], "255.255.255.0");
    CHECK_STR(ip->masks[1], "255.0.0.0");
    CHECK(ip->gateways[0] && !ip->gateways[1]);
    CHECK_STR(ip->gateways[0], "192.168.1.1");
    CHECK(ip->dns[0] && ip->dns[1] && !ip->dns[2]);
    CHECK_STR(ip->dns[0], "192.168.1.2");
    CHECK_STR(ip->dns[1], "8.8.8.8");
    CHECK_STR(ip->adapter, "Intel(R) PRO/1000 MT");
    CHECK_STR(ip->adapter_key, "0007");
    CHECK_STR(ip->pci_id, "pci\\ven_8086&dev_10d3");
    CHECK_STR(ip->mac, "00:11:22:aa:bb:cc");
  }
  gw_static_ips_clear(&ips);

  struct gw_findings f;
  CHECK(gw_read_findings(h, soft, &sys, &f) == 0);
  CHECK(f.group_policies == 1);         /* the local policy does not count */
  CHECK_STR(f.domain, "corp.example.com");
  CHECK(f.antivirus && f.antivirus[0] && !f.antivirus[1]);   /* McShield is disabled */
  if (f.antivirus && f.antivirus[0])
    CHECK_STR(f.antivirus[0], "Symantec Endpoint Protection (SepMasterService)");
  gw_findings_clear(&f);
  gw_system_clear(&sys);
  gw_hive_close(h);
  gw_hive_close(soft);

  /* The 2022 hives: nothing of the kind. */
  char *sys22 = ht_make_hive("f22-SYSTEM", system_2022), *soft22 = ht_make_hive("f22-SOFTWARE", software_2022);
  h = gw_hive_open(sys22, false);
  soft = gw_hive_open(soft22, false);
  CHECK(h && soft && gw_system_read(h, NULL, &sys) == 0);
  CHECK(gw_read_static_ips(h, &sys, &ips) == 0 && ips.n == 0);
  CHECK(gw_read_findings(h, soft, &sys, &f) == 0 && f.group_policies == 0 && !f.domain &&
        f.antivirus && !f.antivirus[0]);
  gw_findings_clear(&f);
  gw_system_clear(&sys);
  gw_hive_close(h);
  gw_hive_close(soft);
  free(sys22);
  free(soft22);
  free(sysp);
  free(softp);
}

/* ---- 2022: DriverDatabase ---- */

static void test_2022(void)
{
  char *sysp = ht_make_hive("22-SYSTEM", system_2022), *softp = ht_make_hive("22-SOFTWARE", software_2022);
  struct inf_os os = { "amd64", 10, 0, 20348 };
  struct package viostor;
  CHECK(load_viostor(&os, &viostor) == 0);
  if (failures)
    return;
  struct p2v_changes changes = { 0 };
  ht_log_reset();
  CHECK(convert(sysp, softp, &viostor, "storahci", &changes) == 0);
  CHECK(ht_log.errors == 0);
  check_changes_in(&changes, "ControlSet001");

  const char *svc = "ControlSet001\\Services\\viostor";
  check_value(sysp, svc, "Start", "0");
  check_value(sysp, svc, "ImagePath", "System32\\drivers\\viostor.sys");
  check_absent(sysp, "ControlSet001\\Services\\viostor\\StartOverride", NULL);
  check_value(sysp, "ControlSet001\\Services\\storahci", "Start", "0");
  check_absent(sysp, "ControlSet001\\Services\\storahci\\StartOverride", NULL);
  check_absent(sysp, "ControlSet001\\Control\\CriticalDeviceDatabase", NULL);

  const char *inf = "DriverDatabase\\DriverInfFiles\\p2v-viostor.inf";
  check_value(sysp, inf, "@", "p2v-viostor.inf_boot\n");      /* REG_MULTI_SZ */
  check_value(sysp, inf, "Active", "p2v-viostor.inf_boot");
  check_value(sysp, inf, "Configurations", "p2v_boot\n");
  const char *pkg = "DriverDatabase\\DriverPackages\\p2v-viostor.inf_boot";
  char *e = ht_export(sysp, pkg);
  CHECK(e && ht_has_line(e, "\"Version\"=hex(3):00,ff,09,00,00,00,00,00,7b,e9,36,4d,25,e3,ce,11,"
                            "bf,c1,08,00,2b,e1,03,18,00,00,00,00,00,00,00,00,00,00,00,00,00,00,"
                            "00,00,00,00,00,00,00,00,00,00"));
  free(e);
  check_value(sysp, "DriverDatabase\\DriverPackages\\p2v-viostor.inf_boot\\Configurations\\p2v_boot",
              "Service", "viostor");
  check_value(sysp, "DriverDatabase\\DriverPackages\\p2v-viostor.inf_boot\\Configurations\\p2v_boot",
              "ConfigFlags", "0");
  static const char *const ids[] = {
    "PCI\\VEN_1AF4&DEV_1001&SUBSYS_00021AF4&REV_00", "PCI\\VEN_1AF4&DEV_1001",
    "PCI\\VEN_1AF4&DEV_1042&SUBSYS_11001AF4&REV_01", "PCI\\VEN_1AF4&DEV_1042",
  };
  for (size_t i = 0; i < 4; i++) {
    char key[256];
    snprintf(key, sizeof key, "DriverDatabase\\DeviceIds\\%s", ids[i]);
    e = ht_export(sysp, key);
    CHECK(e && ht_has_line(e, "\"p2v-viostor.inf\"=hex(3):01,ff,00,00"));
    free(e);
    snprintf(key, sizeof key, "%s\\Descriptors\\%s", pkg, ids[i]);
    check_value(sysp, key, "Configuration", "p2v_boot");
  }
  /* DevicePath absent: Windows' default, then ours. */
  check_value(softp, "Microsoft\\Windows\\CurrentVersion", "DevicePath",
              "%SystemRoot%\\inf;%SystemRoot%\\Drivers\\VirtIO");
  p2v_changes_clear(&changes);
  check_idempotent(sysp, softp, &viostor, "storahci");
  free_package(&viostor);
  free(sysp);
  free(softp);
}

/* Refusals: an INF whose AddService misses what the service key needs. */
static void test_refusals(void)
{
  char *sysp = ht_make_hive("bad-SYSTEM", system_2022);
  struct gw_hive *h = open_rw(sysp);
  struct gw_system sys;
  CHECK(gw_system_read(h, NULL, &sys) == 0);
  char *ids[] = { (char *)"PCI\\VEN_1AF4&DEV_1001", NULL };
  struct inf_model m = { .ids = ids, .nids = 1, .service = (char *)"viostor", .service_type = 1,
                         .start_type = 0, .error_control = -1,
                         .service_binary = (char *)"viostor.sys" };
  struct p2v_changes changes = { 0 };
  ht_log_reset();
  CHECK(gw_register_boot_driver(h, &sys, NULL, &m, &changes) == -1);
  CHECK(ht_log.errors == 1 && strstr(ht_log.last, "ErrorControl"));
  m.error_control = 1;
  m.service = (char *)"..\\evil";
  ht_log_reset();
  CHECK(gw_register_boot_driver(h, &sys, NULL, &m, &changes) == -1);
  CHECK(ht_log.errors == 1 && strstr(ht_log.last, "no usable service"));
  m.service = (char *)"viostor";
  ids[0] = (char *)"PCI\\VEN_1AF4&DEV_1001\\..";
  ht_log_reset();
  CHECK(gw_register_boot_driver(h, &sys, NULL, &m, &changes) == -1);
  CHECK(ht_log.errors == 1 && strstr(ht_log.last, "no PCI device"));
  ht_log_reset();
  CHECK(gw_extend_device_path(h, "a;b", &changes) == -1 && ht_log.errors == 1);
  CHECK(changes.n == 0);          /* refused before anything is written */
  CHECK(gw_hive_edits(h) == 0);
  gw_system_clear(&sys);
  gw_hive_close(h);
  p2v_changes_clear(&changes);
  free(sysp);
}

int main(void)
{
  ht_setup();
  test_2008r2();
  test_static_ips_and_findings();
  test_2022();
  test_refusals();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
