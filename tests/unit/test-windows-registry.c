/* guest/windows/registry.c and system.c on hives built at test time from
 * minimal-hive with hivexregedit, checked with hivexget and
 * hivexregedit --export: every value type both ways, paths ignoring case,
 * nested keys created, a value replaced by one of another type, deletes,
 * hostile content (odd lengths, no NUL, lone surrogates, huge values), a
 * corrupt hive refused with one line, and the facts gw_system_read takes
 * from a 2008 R2 shaped (Current=2) and a 2022 shaped hive pair.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "hive-test.h"

#include "guest/windows/windows-internal.h"

#define FOO "ControlSet002\\Services\\Foo"

static const char base_reg[] =
  "[\\Select]\n\"Current\"=dword:00000002\n\"Default\"=dword:00000002\n\n"
  "[\\ControlSet002]\n\n[\\ControlSet002\\Services]\n\n"
  "[\\ControlSet002\\Services\\Foo]\n"
  "\"Keep\"=dword:00000007\n"
  /* "Grüße" as REG_SZ written by hivexregedit */
  "\"Text\"=hex(1):47,00,72,00,fc,00,df,00,65,00,00,00\n"
  "@=\"default\"\n"
  /* hostile: odd length, no NUL, a lone high surrogate, a short DWORD */
  "\"Odd\"=hex(1):41,00,42\n"
  "\"NoNul\"=hex(1):41,00,42,00\n"
  "\"Lone\"=hex(1):00,d8,41,00,00,00\n"
  "\"ShortDword\"=hex(4):01,02,03\n"
  "\"MultiNoEnd\"=hex(7):61,00,00,00,62,00\n"
  "\"MultiEmptyInside\"=hex(7):61,00,00,00,00,00,62,00,00,00,00,00\n";

/* Set then read every type, checked by the peer tools. */
static void test_set_and_read_every_type(void)
{
  char *path = ht_make_hive("types", base_reg);
  struct gw_hive *h = gw_hive_open(path, true);
  CHECK(h != NULL);
  if (!h)
    return;
  static const uint8_t bin[] = { 0x00, 0xff, 0x10 };
  static const uint8_t devprop[] = { 0x01, 0x02 };
  const char *multi[] = { "PCI\\VEN_1AF4&DEV_1001", "h\xc3\xa9", NULL };
  CHECK(gw_reg_set_dword(h, FOO, "Start", 0x7eadbeef) == 0);
  CHECK(gw_reg_set_string(h, FOO, "S", "h\xc3\xa9\xf0\x9d\x84\x9e") == 0);   /* hé𝄞 */
  CHECK(gw_reg_set_expand_string(h, FOO, "ImagePath", "%SystemRoot%\\x.sys") == 0);
  CHECK(gw_reg_set_multi_string(h, FOO, "Ids", multi) == 0);
  CHECK(gw_reg_set_binary(h, FOO, "Bin", 3, bin, sizeof bin) == 0);
  CHECK(gw_reg_set_binary(h, FOO, "DevProp", 0xffff0012u, devprop, sizeof devprop) == 0);
  CHECK(gw_reg_set_string(h, FOO, "", "new default") == 0);
  CHECK(gw_hive_commit(h) == 0);
  gw_hive_close(h);

  char *e = ht_export(path, FOO);
  CHECK(e != NULL);
  CHECK(ht_has_line(e, "\"Start\"=dword:7eadbeef"));
  CHECK(ht_has_line(e, "\"S\"=hex(1):68,00,e9,00,34,d8,1e,dd,00,00"));
  CHECK(ht_has_line(e, "\"ImagePath\"=hex(2):25,00,53,00,79,00,73,00,74,00,65,00,6d,00,52,00,"
                       "6f,00,6f,00,74,00,25,00,5c,00,78,00,2e,00,73,00,79,00,73,00,00,00"));
  CHECK(ht_has_line(e, "\"Bin\"=hex(3):00,ff,10"));
  CHECK(ht_has_line(e, "\"DevProp\"=hex(ffff0012):01,02"));
  CHECK(ht_has_line(e, "\"Keep\"=dword:00000007"));       /* the key's other values stay */
  CHECK(ht_count_lines_starting(e, "@=") == 1);
  free(e);
  char *s;
  CHECK_STR(s = ht_get(path, FOO, "S"), "h\xc3\xa9\xf0\x9d\x84\x9e");
  free(s);
  CHECK_STR(s = ht_get(path, FOO, "Ids"), "PCI\\VEN_1AF4&DEV_1001\nh\xc3\xa9\n");
  free(s);
  CHECK_STR(s = ht_get(path, FOO, "@"), "new default");
  free(s);
  CHECK_STR(s = ht_get(path, FOO, "Start"), "2125315823");
  free(s);

  /* And back through our reader, read-only. */
  h = gw_hive_open(path, false);
  CHECK(h != NULL);
  if (!h)
    return;
  uint32_t d = 0;
  CHECK(gw_reg_get_dword(h, FOO, "Start", &d) == 1 && d == 0x7eadbeef);
  CHECK(gw_reg_get_string(h, FOO, "S", &s) == 1);
  CHECK_STR(s, "h\xc3\xa9\xf0\x9d\x84\x9e");
  free(s);
  CHECK(gw_reg_get_string(h, FOO, "ImagePath", &s) == 1);
  CHECK_STR(s, "%SystemRoot%\\x.sys");
  free(s);
  CHECK(gw_reg_get_string(h, FOO, "Text", &s) == 1);   /* written by hivexregedit */
  CHECK_STR(s, "Gr\xc3\xbc\xc3\x9f" "e");
  free(s);
  char **v;
  CHECK(gw_reg_get_multi_string(h, FOO, "Ids", &v) == 1);
  CHECK(v && v[0] && v[1] && !v[2]);
  if (v && v[0] && v[1]) {
    CHECK_STR(v[0], "PCI\\VEN_1AF4&DEV_1001");
    CHECK_STR(v[1], "h\xc3\xa9");
  }
  for (size_t i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
  uint8_t *data;
  size_t size;
  CHECK(gw_reg_get_binary(h, FOO, "DevProp", &data, &size) == 1 && size == 2 &&
        memcmp(data, devprop, 2) == 0);
  free(data);
  CHECK(gw_reg_get_string(h, FOO, "", &s) == 1);
  CHECK_STR(s, "new default");
  free(s);
  /* Absent value, absent key: 0, no error. */
  ht_log_reset();
  CHECK(gw_reg_get_dword(h, FOO, "Nope", &d) == 0);
  CHECK(gw_reg_get_string(h, "ControlSet002\\Nope\\Deeper", "S", &s) == 0 && !s);
  CHECK(gw_reg_key_exists(h, "ControlSet001") == 0);
  CHECK(ht_log.errors == 0);
  /* Wrong type: -1 with one line naming the hive, key and value. */
  CHECK(gw_reg_get_dword(h, FOO, "S", &d) == -1);
  CHECK(ht_log.errors == 1 && strstr(ht_log.last, path) && strstr(ht_log.last, "\"S\"") &&
        strstr(ht_log.last, "not REG_DWORD"));
  /* A read-only hive is not edited. */
  ht_log_reset();
  CHECK(gw_reg_set_dword(h, FOO, "Start", 1) == -1);
  CHECK(ht_log.errors == 1 && strstr(ht_log.last, "read-only"));
  gw_hive_close(h);
  free(path);
}

/* Hostile content: decoded within bounds, or refused with one line. */
static void test_hostile_values(void)
{
  char *path = ht_make_hive("hostile", base_reg);
  struct gw_hive *h = gw_hive_open(path, false);
  CHECK(h != NULL);
  if (!h)
    return;
  char *s;
  CHECK(gw_reg_get_string(h, FOO, "Odd", &s) == 1);
  CHECK_STR(s, "A");                    /* the odd last byte dropped */
  free(s);
  CHECK(gw_reg_get_string(h, FOO, "NoNul", &s) == 1);
  CHECK_STR(s, "AB");                   /* ends with the data */
  free(s);
  CHECK(gw_reg_get_string(h, FOO, "Lone", &s) == 1);
  CHECK_STR(s, "\xef\xbf\xbd" "A");     /* U+FFFD */
  free(s);
  char **v;
  CHECK(gw_reg_get_multi_string(h, FOO, "MultiNoEnd", &v) == 1);
  CHECK(v && v[0] && v[1] && !v[2] && strcmp(v[0], "a") == 0 && strcmp(v[1], "b") == 0);
  for (size_t i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
  CHECK(gw_reg_get_multi_string(h, FOO, "MultiEmptyInside", &v) == 1);
  CHECK(v && v[0] && !v[1] && strcmp(v[0], "a") == 0);   /* an empty string ends it */
  for (size_t i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
  uint32_t d;
  ht_log_reset();
  CHECK(gw_reg_get_dword(h, FOO, "ShortDword", &d) == -1);
  CHECK(ht_log.errors == 1 && strstr(ht_log.last, "3 bytes"));
  gw_hive_close(h);

  /* A value over the limit (512 KiB) is refused, not allocated. */
  size_t n = (512u << 10) + 16;
  char *reg = malloc(64 + 3 * n);
  CHECK(reg != NULL);
  if (!reg)
    return;
  char *p = reg + sprintf(reg, "[\\Big]\n\"Huge\"=hex:");
  for (size_t i = 0; i < n; i++)
    p += sprintf(p, i ? ",%02x" : "%02x", (unsigned)(i & 0xff));
  strcpy(p, "\n");
  char *big = ht_make_hive("big", reg);
  free(reg);
  h = gw_hive_open(big, true);
  CHECK(h != NULL);
  if (h) {
    uint8_t *data = NULL;
    size_t size;
    ht_log_reset();
    CHECK(gw_reg_get_binary(h, "Big", "Huge", &data, &size) == -1 && !data);
    CHECK(ht_log.errors == 1 && strstr(ht_log.last, "more than"));
    /* Writing one is refused too. */
    uint8_t *huge = calloc(1, n);
    ht_log_reset();
    CHECK(huge && gw_reg_set_binary(h, "Big", "Other", 3, huge, n) == -1);
    CHECK(ht_log.errors == 1);
    free(huge);
    /* Invalid UTF-8 is not written. */
    ht_log_reset();
    CHECK(gw_reg_set_string(h, "Big", "Bad", "a\xc3") == -1);
    CHECK(ht_log.errors == 1 && strstr(ht_log.last, "not valid UTF-8"));
    gw_hive_close(h);
  }
  free(big);
  free(path);
}

/* Paths and names ignore case; a set through another spelling edits the
 * existing key and value rather than adding a twin. */
static void test_case_insensitive(void)
{
  char *path = ht_make_hive("case", base_reg);
  struct gw_hive *h = gw_hive_open(path, true);
  CHECK(h != NULL);
  if (!h)
    return;
  uint32_t d = 0;
  CHECK(gw_reg_get_dword(h, "controlset002\\SERVICES\\foo", "KEEP", &d) == 1 && d == 7);
  CHECK(gw_reg_key_exists(h, "\\CONTROLSET002\\services") == 1);   /* leading '\' too */
  CHECK(gw_reg_set_dword(h, "CONTROLSET002\\services\\FOO", "keep", 8) == 0);
  CHECK(gw_reg_set_dword(h, "controlset002\\Services\\fOO", "Added", 1) == 0);
  char **names;
  CHECK(gw_reg_subkeys(h, "ControlSet002\\Services", &names) == 1);
  CHECK(names && names[0] && !names[1] && strcmp(names[0], "Foo") == 0);
  for (size_t i = 0; names && names[i]; i++)
    free(names[i]);
  free(names);
  CHECK(gw_reg_subkeys(h, "ControlSet009", &names) == 0 && !names);
  CHECK(gw_hive_commit(h) == 0);
  gw_hive_close(h);
  char *e = ht_export(path, "ControlSet002");
  CHECK(e && ht_count_lines_starting(e, "[\\ControlSet002\\Services\\") == 1);
  CHECK(e && ht_has_line(e, "\"Keep\"=dword:00000008"));
  CHECK(e && ht_count_lines_starting(e, "\"Keep\"=") + ht_count_lines_starting(e, "\"keep\"=") == 1);
  CHECK(e && ht_has_line(e, "\"Added\"=dword:00000001"));
  free(e);
  free(path);
}

/* Missing keys are created on the way; a value of another type is
 * replaced; deletes of values and subtrees, absent ones no error. */
static void test_create_replace_delete(void)
{
  char *path = ht_make_hive("edit", base_reg);
  struct gw_hive *h = gw_hive_open(path, true);
  CHECK(h != NULL);
  if (!h)
    return;
  CHECK(gw_reg_set_string(h, "A\\B\\C\\D", "Deep", "x") == 0);
  CHECK(gw_reg_set_dword(h, "A\\B", "Mid", 5) == 0);
  CHECK(gw_reg_set_dword(h, FOO, "Text", 42) == 0);          /* REG_SZ -> REG_DWORD */
  CHECK(gw_reg_set_string(h, FOO, "Keep", "now text") == 0); /* REG_DWORD -> REG_SZ */
  CHECK(gw_reg_delete_value(h, FOO, "odd") == 0);            /* name ignoring case */
  ht_log_reset();
  CHECK(gw_reg_delete_value(h, FOO, "Absent") == 0);
  CHECK(gw_reg_delete_value(h, "No\\Such", "Absent") == 0);
  CHECK(gw_reg_delete_key(h, "No\\Such") == 0);
  CHECK(ht_log.errors == 0);
  CHECK(gw_reg_delete_key(h, "A\\B\\C") == 0);
  CHECK(gw_reg_delete_key(h, "") == -1 && ht_log.errors == 1);   /* not the root */
  CHECK(gw_hive_commit(h) == 0);
  gw_hive_close(h);

  char *e = ht_export(path, "A");
  CHECK(e && ht_has_line(e, "[\\A\\B]") && ht_has_line(e, "\"Mid\"=dword:00000005"));
  CHECK(e && !strstr(e, "[\\A\\B\\C"));
  free(e);
  char *s = ht_get(path, "A\\B\\C\\D", "Deep");
  CHECK(s == NULL);
  free(s);
  e = ht_export(path, FOO);
  CHECK(e && ht_has_line(e, "\"Text\"=dword:0000002a"));
  CHECK(e && ht_count_lines_starting(e, "\"Text\"=") == 1);
  CHECK(e && ht_count_lines_starting(e, "\"Keep\"=hex(1):") == 1);
  CHECK(e && ht_count_lines_starting(e, "\"Odd\"=") == 0);
  CHECK(e && ht_count_lines_starting(e, "\"NoNul\"=") == 1);  /* the others stay */
  CHECK(e && ht_count_lines_starting(e, "@=") == 1);
  free(e);
  CHECK_STR(s = ht_get(path, FOO, "Keep"), "now text");
  free(s);

  /* Nested keys on a hive built with nothing but the root. */
  char *p2 = ht_make_hive("nested", "");
  h = gw_hive_open(p2, true);
  CHECK(h && gw_reg_set_dword(h, "X\\Y\\Z", "V", 3) == 0 && gw_hive_commit(h) == 0);
  gw_hive_close(h);
  CHECK_STR(s = ht_get(p2, "X\\Y\\Z", "V"), "3");
  free(s);
  free(p2);
  free(path);
}

/* Setting what a value already holds is no edit; a commit without edits
 * leaves the file byte for byte. */
static void test_no_edit_no_write(void)
{
  char *path = ht_make_hive("same", base_reg);
  size_t size0, size1;
  char *before = ht_read_file(path, &size0);
  struct gw_hive *h = gw_hive_open(path, true);
  CHECK(h != NULL);
  if (!h)
    return;
  CHECK(gw_reg_set_dword(h, FOO, "Keep", 7) == 0);
  CHECK(gw_reg_set_string(h, FOO, "", "default") == 0);
  CHECK(gw_reg_delete_value(h, FOO, "Absent") == 0);
  CHECK(gw_hive_edits(h) == 0);
  CHECK(gw_hive_commit(h) == 0);
  gw_hive_close(h);
  char *after = ht_read_file(path, &size1);
  CHECK(before && after && size0 == size1 && memcmp(before, after, size0) == 0);
  free(before);
  free(after);
  free(path);
}

/* A corrupt hive, or none, is refused with one line naming the file. */
static void test_corrupt_refused(void)
{
  char path[600];
  snprintf(path, sizeof path, "%s/corrupt", ht_dir);
  size_t size;
  char *data = ht_read_file(ht_minimal_hive(), &size);
  CHECK(data && size >= 4096);
  if (!data)
    return;
  memcpy(data, "regX", 4);           /* the signature */
  CHECK(ht_write_file(path, data, size) == 0);
  ht_log_reset();
  CHECK(gw_hive_open(path, false) == NULL);
  CHECK(ht_log.errors == 1 && strstr(ht_log.last, path) && !strchr(ht_log.last, '\n') &&
        strstr(ht_log.last, "not a valid Windows registry hive"));
  /* Truncated to its header. */
  memcpy(data, "regf", 4);
  CHECK(ht_write_file(path, data, 512) == 0);
  ht_log_reset();
  CHECK(gw_hive_open(path, true) == NULL);
  CHECK(ht_log.errors == 1 && strstr(ht_log.last, path));
  free(data);
  ht_log_reset();
  snprintf(path, sizeof path, "%s/absent", ht_dir);
  CHECK(gw_hive_open(path, false) == NULL);
  CHECK(ht_log.errors == 1 && strstr(ht_log.last, "No such file"));
}

/* ---- gw_system_read ---- */

/* 2008 R2: Current=2, so ControlSet001 holds decoys a reader of the
 * wrong set would take. */
static const char system_2008r2[] =
  "[\\Select]\n\"Current\"=dword:00000002\n\"Default\"=dword:00000002\n"
  "\"LastKnownGood\"=dword:00000001\n\n"
  "[\\ControlSet001]\n\n[\\ControlSet001\\Control]\n\n"
  "[\\ControlSet001\\Control\\TimeZoneInformation]\n\"RealTimeIsUniversal\"=dword:00000001\n\n"
  "[\\ControlSet002]\n\n[\\ControlSet002\\Control]\n\n"
  "[\\ControlSet002\\Control\\TimeZoneInformation]\n\"RealTimeIsUniversal\"=dword:00000000\n\n";
static const char software_2008r2[] =
  "[\\Microsoft]\n\n[\\Microsoft\\Windows NT]\n\n[\\Microsoft\\Windows NT\\CurrentVersion]\n"
  "\"ProductName\"=\"Windows Server 2008 R2 Standard\"\n"
  "\"SystemRoot\"=\"C:\\\\Windows\"\n"
  "\"CurrentVersion\"=\"6.1\"\n\"CurrentBuildNumber\"=\"7601\"\n\n";
static const char system_2022[] =
  "[\\Select]\n\"Current\"=dword:00000001\n\"Default\"=dword:00000001\n\n"
  "[\\ControlSet001]\n\n[\\ControlSet001\\Control]\n\n"
  "[\\ControlSet001\\Control\\TimeZoneInformation]\n"
  "\"RealTimeIsUniversal\"=hex(b):01,00,00,00,00,00,00,00\n\n"
  "[\\ControlSet001\\Control\\Session Manager]\n\n"
  "[\\ControlSet001\\Control\\Session Manager\\Power]\n\"HiberbootEnabled\"=dword:00000001\n\n"
  "[\\DriverDatabase]\n\n[\\DriverDatabase\\DriverPackages]\n\n";
static const char software_2022[] =
  "[\\Microsoft]\n\n[\\Microsoft\\Windows NT]\n\n[\\Microsoft\\Windows NT\\CurrentVersion]\n"
  "\"ProductName\"=\"Windows Server 2022 Datacenter\"\n"
  "\"SystemRoot\"=\"C:\\\\WINDOWS\"\n"
  "\"CurrentVersion\"=\"6.3\"\n\"CurrentBuildNumber\"=\"20348\"\n"
  "\"CurrentMajorVersionNumber\"=dword:0000000a\n\"CurrentMinorVersionNumber\"=dword:00000000\n\n";

static int read_pair(const char *name, const char *sys_reg, const char *soft_reg,
                     struct gw_system *out)
{
  char sname[64], wname[64];
  snprintf(sname, sizeof sname, "%s-SYSTEM", name);
  snprintf(wname, sizeof wname, "%s-SOFTWARE", name);
  char *sp = ht_make_hive(sname, sys_reg), *wp = ht_make_hive(wname, soft_reg);
  struct gw_hive *sys = gw_hive_open(sp, false), *soft = gw_hive_open(wp, false);
  int r = sys && soft ? gw_system_read(sys, soft, out) : -1;
  gw_hive_close(sys);
  gw_hive_close(soft);
  free(sp);
  free(wp);
  return r;
}

static void test_system_read(void)
{
  struct gw_system s;
  CHECK(read_pair("r2", system_2008r2, software_2008r2, &s) == 0);
  CHECK(s.current == 2 && s.default_set == 2);
  CHECK_STR(s.control_set, "ControlSet002");
  CHECK(!s.has_driver_database);
  CHECK(s.major == 6 && s.minor == 1 && s.build == 7601);
  CHECK_STR(s.product_name, "Windows Server 2008 R2 Standard");
  CHECK_STR(s.system_root, "C:\\Windows");
  CHECK(!s.real_time_is_universal);     /* ControlSet001 says 1: not the current set */
  CHECK(!s.fast_startup);
  gw_system_clear(&s);

  CHECK(read_pair("2022", system_2022, software_2022, &s) == 0);
  CHECK_STR(s.control_set, "ControlSet001");
  CHECK(s.has_driver_database);
  CHECK(s.major == 10 && s.minor == 0 && s.build == 20348);   /* not "6.3" */
  CHECK(s.real_time_is_universal);      /* a REG_QWORD 1 */
  CHECK(s.fast_startup);
  gw_system_clear(&s);

  /* Current names a control set that is not there; no Select at all. */
  ht_log_reset();
  CHECK(read_pair("gone",
                  "[\\Select]\n\"Current\"=dword:00000005\n\"Default\"=dword:00000005\n\n",
                  software_2022, &s) == -1);
  CHECK(ht_log.errors == 1 && strstr(ht_log.last, "ControlSet005"));
  CHECK(s.product_name == NULL);
  ht_log_reset();
  CHECK(read_pair("nosel", "[\\Foo]\n\n", software_2022, &s) == -1);
  CHECK(ht_log.errors == 1 && strstr(ht_log.last, "Select\\Current"));
  ht_log_reset();
  CHECK(read_pair("badver", system_2022,
                  "[\\Microsoft]\n\n[\\Microsoft\\Windows NT]\n\n"
                  "[\\Microsoft\\Windows NT\\CurrentVersion]\n\"CurrentVersion\"=\"x\"\n\n",
                  &s) == -1);
  CHECK(ht_log.errors == 1 && strstr(ht_log.last, "MAJOR.MINOR"));
}

int main(void)
{
  ht_setup();
  test_set_and_read_every_type();
  test_hostile_values();
  test_case_insensitive();
  test_create_replace_delete();
  test_no_edit_no_write();
  test_corrupt_refused();
  test_system_read();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
