/* Unit test for drivers-inject/inf-*.c and windows-match.c: INF syntax,
 * encodings, decorations, services, limits, hardware ID ranking.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inf-parse.h"
#include "log.h"
#include "windows-catalog.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)
#define STREQ(a, b) ((a) && !strcmp((a), (b)))

static struct inf_file *parse(const char *text, const char *arch)
{
  char err[256];
  struct inf_parse_options o = { .arch = arch };
  struct inf_file *inf = inf_parse((const uint8_t *) text, strlen(text), &o, err, sizeof err);
  if (!inf)
    fprintf(stderr, "parse error: %s\n", err);
  return inf;
}

static void test_syntax(void)
{
  struct inf_file *inf = parse(
    "junk before any section\n"
    "[Version]\r\n"
    "Class = \"SCSI;Adapter\" ; comment\n"
    "Provider=%Mfg%\n"
    "[a]\n"
    "k = one, \"two, \"\"2\"\"\", %%lit%%, %Nope%, long \\\n"
    "   continued\n"
    "bare.sys,,,2\n"
    "path = $ARCH$\\x\n"
    "[A]\n"
    "second = merged\n"
    "[Strings]\n"
    "Mfg = \"Generic\"\n"
    "[Strings.0409]\n"
    "mfg = \"US English\"\n", "amd64");
  CHECK(inf);
  CHECK(STREQ(inf_section_value(inf_find_section(inf, "version"), "class"), "SCSI;Adapter"));
  CHECK(STREQ(inf_section_value(inf_find_section(inf, "Version"), "Provider"), "US English"));
  const struct inf_section *a = inf_find_section(inf, "a");
  CHECK(a && a->nlines == 4);
  const struct inf_line *l = &a->lines[0];
  CHECK(STREQ(l->key, "k") && l->nfields == 5);
  CHECK(STREQ(l->fields[0], "one"));
  CHECK(STREQ(l->fields[1], "two, \"2\""));
  CHECK(STREQ(l->fields[2], "%lit%"));
  CHECK(STREQ(l->fields[3], "%Nope%"));        /* unknown: kept */
  CHECK(STREQ(l->fields[4], "long    continued"));
  CHECK(a->lines[1].key == NULL && a->lines[1].nfields == 4 && STREQ(a->lines[1].fields[0], "bare.sys"));
  CHECK(STREQ(inf_section_value(a, "path"), "amd64\\x"));
  CHECK(STREQ(inf_section_value(a, "second"), "merged"));   /* [a] + [A] */
  inf_free(inf);
}

static void test_encodings(void)
{
  const char *ascii = "[Version]\nClass=Caf\xe9\n";         /* ANSI Latin-1 */
  size_t n;
  char *s = inf_text_to_utf8((const uint8_t *) ascii, strlen(ascii), &n);
  CHECK(s && strstr(s, "Caf\xc3\xa9"));
  free(s);

  /* UTF-16LE with BOM, CRLF and a character outside Latin-1. */
  const char *src = "[Version]\r\nClass=\xe2\x82\xac\r\n";   /* euro sign */
  uint8_t buf[128];
  size_t len = 0;
  buf[len++] = 0xff, buf[len++] = 0xfe;
  for (const char *p = src; *p; p++) {
    if ((unsigned char) *p == 0xe2) {             /* U+20AC */
      buf[len++] = 0xac, buf[len++] = 0x20;
      p += 2;
      continue;
    }
    buf[len++] = (uint8_t) *p, buf[len++] = 0;
  }
  char err[128];
  struct inf_file *inf = inf_parse(buf, len, NULL, err, sizeof err);
  CHECK(inf);
  CHECK(STREQ(inf_section_value(inf_find_section(inf, "Version"), "Class"), "\xe2\x82\xac"));
  inf_free(inf);
  /* Odd byte count and lone surrogates do not crash. */
  uint8_t odd[] = { 0xff, 0xfe, '[', 0, 0x00, 0xd8, 'x' };
  inf = inf_parse(odd, sizeof odd, NULL, err, sizeof err);
  inf_free(inf);
}

static void test_driver(void)
{
  struct inf_file *inf = parse(
    "[Version]\nClass=SCSIAdapter\nClassGuid={4D36E97B-E325-11CE-BFC1-08002BE10318}\n"
    "DriverVer=01/02/2024,100.1\nCatalogFile=x.cat\n"
    "[Manufacturer]\n%V% = M, NTamd64.10.0...16299, NTamd64.6.3, NTx86\n"
    "[M.NTamd64.10.0...16299]\n%D% = new_inst, PCI\\VEN_1AF4&DEV_1001&SUBSYS_00021AF4, PCI\\CC_0100\n"
    "[M.NTamd64.6.3]\n%D% = old_inst, PCI\\VEN_1AF4&DEV_1001\n"
    "[M.NTx86]\n%D% = x86_inst, PCI\\VEN_1AF4&DEV_1001\n"
    "[new_inst]\nCopyFiles = @other.sys\n"
    "[new_inst.NTamd64]\nCopyFiles = files, @extra.SYS\n"
    "[files]\nx.sys,,,2\nx.dll\n"
    "[new_inst.NTamd64.Services]\nAddService = helper, 0, helper_svc\n"
    "AddService = xsvc, %ASSOC%, svc\n"
    "[svc]\nServiceType=%KD%\nStartType=0 ; boot\nErrorControl=0x1\nLoadOrderGroup = SCSI miniport\n"
    "ServiceBinary = %12%\\x.sys\n"
    "[Strings]\nV=Vendor\nD=\"Disk\"\nASSOC=0x00000002\nKD=1\n", "amd64");
  CHECK(inf);
  struct inf_driver drv;
  struct inf_os w2k19 = { "amd64", 10, 0, 17763 };
  CHECK(inf_driver_load(inf, &w2k19, &drv) == 0);
  CHECK(STREQ(drv.version.class_name, "SCSIAdapter"));
  CHECK(STREQ(drv.version.driver_ver, "01/02/2024,100.1"));
  CHECK(drv.nmodels == 1);
  const struct inf_model *m = &drv.models[0];
  CHECK(STREQ(m->description, "Disk") && STREQ(m->install_section, "new_inst.NTamd64"));
  CHECK(m->nids == 2 && STREQ(m->ids[1], "PCI\\CC_0100"));
  CHECK(STREQ(m->service, "xsvc") && m->service_type == 1 && m->start_type == 0);
  CHECK(m->error_control == 1);
  CHECK(STREQ(m->load_order_group, "SCSI miniport") && STREQ(m->service_binary, "x.sys"));
  CHECK(m->nfiles == 2 && STREQ(m->files[0], "x.sys") && STREQ(m->files[1], "extra.SYS"));
  inf_driver_clear(&drv);

  /* Windows 8.1 (6.3): the 6.3 section; Windows 7: nothing for amd64. */
  struct inf_os w81 = { "amd64", 6, 3, 9600 }, w7 = { "amd64", 6, 1, 7601 };
  CHECK(inf_driver_load(inf, &w81, &drv) == 0);
  CHECK(drv.nmodels == 1 && STREQ(drv.models[0].install_section, "old_inst"));
  CHECK(drv.models[0].service == NULL && drv.models[0].start_type == -1 &&
        drv.models[0].error_control == -1);
  inf_driver_clear(&drv);
  CHECK(inf_driver_load(inf, &w7, &drv) == 0 && drv.nmodels == 0);
  inf_driver_clear(&drv);
  struct inf_os x86 = { "x86", 6, 1, 7601 };
  CHECK(inf_driver_load(inf, &x86, &drv) == 0 && drv.nmodels == 1);
  inf_driver_clear(&drv);
  inf_free(inf);

  uint64_t r1, r2;
  CHECK(inf_decoration_matches("NTamd64.10.0...16299", &w2k19, &r1));
  CHECK(inf_decoration_matches("ntAMD64", &w2k19, &r2) && r2 < r1);
  CHECK(!inf_decoration_matches("NTamd64.10.0...20348", &w2k19, &r1));
  CHECK(!inf_decoration_matches("NTarm64", &w2k19, &r1));
  CHECK(!inf_decoration_matches("NT", &w2k19, &r1));
  CHECK(!inf_decoration_matches("NTamd64.x", &w2k19, &r1));
}

static void test_limits(void)
{
  char err[256];
  /* Too many fields, an over-long line, too many sections: errors, not crashes. */
  size_t n = 2 * INF_MAX_FIELDS + 64;
  char *s = malloc(n);
  CHECK(s);
  strcpy(s, "[a]\nk=");
  size_t len = strlen(s);
  while (len + 2 < n)
    s[len++] = ',';
  s[len] = '\0';
  CHECK(!inf_parse((uint8_t *) s, len, NULL, err, sizeof err));
  CHECK(strstr(err, "values on one line"));
  free(s);

  s = malloc(INF_MAX_LINE + 64);
  CHECK(s);
  strcpy(s, "[a]\nk=");
  len = strlen(s);
  memset(s + len, 'x', INF_MAX_LINE + 1);
  len += INF_MAX_LINE + 1;
  CHECK(!inf_parse((uint8_t *) s, len, NULL, err, sizeof err) && strstr(err, "line 2: line longer"));
  free(s);

  /* Substitution cannot blow up: 1000 x %big% where big is 60 KiB. */
  size_t cap = 200000;
  s = malloc(cap);
  CHECK(s);
  len = (size_t) sprintf(s, "[a]\nk=");
  for (int i = 0; i < 1000; i++)
    len += (size_t) sprintf(s + len, "%%b%%");
  len += (size_t) sprintf(s + len, "\n[Strings]\nb=");
  memset(s + len, 'y', 60000);
  len += 60000;
  CHECK(!inf_parse((uint8_t *) s, len, NULL, err, sizeof err) && strstr(err, "after %strings%"));
  free(s);

  CHECK(!inf_parse((const uint8_t *) "[a", 2, NULL, err, sizeof err));
  CHECK(!strcmp(err, "line 1: section name without ']'"));
}

static void test_ids(void)
{
  struct pci_device d = { .vendor = 0x1af4, .device = 0x1001, .subvendor = 0x1af4,
                          .subdevice = 0x0002, .has_subsystem = true, .class_code = 0x010000 };
  CHECK(win_id_specificity("PCI\\VEN_1AF4&DEV_1001&SUBSYS_00021AF4&REV_00", &d) == 9);
  CHECK(win_id_specificity("PCI\\VEN_1AF4&DEV_1001&SUBSYS_00021AF4", &d) == 8);
  CHECK(win_id_specificity("PCI\\VEN_1AF4&DEV_1001&REV_01", &d) == 7);
  CHECK(win_id_specificity("PCI\\VEN_1AF4&DEV_1001", &d) == 6);
  CHECK(win_id_specificity("PCI\\VEN_1AF4&DEV_1001&CC_0100", &d) == 5);
  CHECK(win_id_specificity("PCI\\VEN_1AF4&CC_010000", &d) == 4);
  CHECK(win_id_specificity("PCI\\VEN_1AF4", &d) == 2);
  CHECK(win_id_specificity("PCI\\CC_0100", &d) == 1);
  CHECK(win_id_specificity("PCI\\VEN_1AF4&DEV_1042", &d) == 0);
  CHECK(win_id_specificity("PCI\\VEN_1AF4&DEV_1001&SUBSYS_0002_INX_SUBSYS_VENDOR_ID", &d) == 0);
  CHECK(win_id_specificity("PCI\\VEN_1AF4&DEV_1001&SUBSYS_11001AF4", &d) == 0);
  CHECK(win_id_specificity("ACPI\\QEMU0002", &d) == 0);
  CHECK(win_id_specificity("PCI\\VEN_1AF4&VEN_1AF4", &d) == 0);
  CHECK(win_id_specificity("PCI\\", &d) == 0);
  CHECK(win_id_specificity("PCI\\&&", &d) == 0);

  CHECK(win_os_lookup("2019") == win_os_by_dir("2k19"));
  CHECK(win_os_lookup("6.3") == win_os_by_dir("w8.1"));
  CHECK(win_os_lookup("10.0.20348") == win_os_by_dir("2k22"));
  CHECK(win_os_lookup("WIN10") == win_os_by_dir("w10"));
  CHECK(!win_os_lookup("vista") && !win_os_lookup("10.0.1"));
  CHECK(STREQ(win_arch_lookup("x86_64"), "amd64") && !win_arch_lookup("sparc"));
}

static void quiet(enum p2v_log_level level, const char *message) { }

int main(void)
{
  p2v_log_init("test-inf-parse");
  p2v_log_set_sink(quiet);
  test_syntax();
  test_encodings();
  test_driver();
  test_limits();
  test_ids();
  return 0;
}
