/* guest/windows/firstboot.c: the first-boot service's registration on a
 * SYSTEM hive built at test time (Current=2, so an edit of ControlSet001
 * is a bug this catches), checked with hivexget and hivexregedit
 * --export; registered again: nothing changed or recorded, the hive
 * byte-identical; an earlier, different registration updated in place
 * (one key, its values once each).  Script names: one error line each.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "hive-test.h"

#include "guest/windows/windows-internal.h"

#define KEY "ControlSet002\\Services\\p2v-firstboot"
#define EXE "C:\\Program Files\\p2v\\p2v-firstboot.exe"

static const char system_reg[] =
  "[\\Select]\n\"Current\"=dword:00000002\n\"Default\"=dword:00000002\n\n"
  "[\\ControlSet001]\n\n[\\ControlSet001\\Services]\n\n"
  "[\\ControlSet002]\n\n[\\ControlSet002\\Services]\n\n"
  "[\\ControlSet002\\Services\\Tcpip]\n\"Start\"=dword:00000001\n";

/* Register on HIVE; commit when it changed.  The changes recorded. */
static struct p2v_changes register_once(const char *hive, const char *exe)
{
  struct p2v_changes changes = { 0 };
  struct gw_system sys = { .current = 2, .default_set = 2, .control_set = "ControlSet002",
                           .system_root = (char *)"C:\\Windows" };
  struct gw_hive *h = gw_hive_open(hive, true);
  CHECK(h);
  if (!h)
    return changes;
  CHECK(gw_firstboot_register(h, &sys, exe, &changes) == 0);
  if (gw_hive_edits(h) > 0)
    CHECK(gw_hive_commit(h) == 0);
  gw_hive_close(h);
  return changes;
}

static void check_values(const char *hive, const char *image_path)
{
  char *v;
  CHECK_STR(v = ht_get(hive, KEY, "Type"), "16");
  free(v);
  CHECK_STR(v = ht_get(hive, KEY, "Start"), "2");
  free(v);
  CHECK_STR(v = ht_get(hive, KEY, "ErrorControl"), "1");
  free(v);
  CHECK_STR(v = ht_get(hive, KEY, "ImagePath"), image_path);
  free(v);
  CHECK_STR(v = ht_get(hive, KEY, "ObjectName"), "LocalSystem");
  free(v);
  CHECK_STR(v = ht_get(hive, KEY, "DisplayName"), "p2v first boot");
  free(v);
  char *reg = ht_export(hive, KEY);
  CHECK(reg);
  if (reg) {
    CHECK(ht_count_lines_starting(reg, "[") == 1);        /* no subkey, no second entry */
    CHECK(ht_count_lines_starting(reg, "\"") == 7);       /* each value once */
    CHECK(ht_count_lines_starting(reg, "\"ImagePath\"=hex(2):") == 1);  /* REG_EXPAND_SZ */
    CHECK(ht_count_lines_starting(reg, "\"Description\"=") == 1);
  }
  free(reg);
  CHECK((v = ht_get(hive, "ControlSet001\\Services\\p2v-firstboot", "Type")) == NULL);
  free(v);
  CHECK_STR(v = ht_get(hive, "ControlSet002\\Services\\Tcpip", "Start"), "1");
  free(v);
}

static void test_register(void)
{
  char *hive = ht_make_hive("SYSTEM", system_reg);
  struct p2v_changes c = register_once(hive, EXE);
  CHECK(c.n == 1);
  if (c.n == 1) {
    CHECK_STR(c.items[0].area, "firstboot");
    CHECK_STR(c.items[0].file, "HKLM\\SYSTEM\\" KEY);
    CHECK_STR(c.items[0].description, "service p2v-firstboot registered: automatic start, "
              "LocalSystem, ImagePath \"" EXE "\"");
  }
  p2v_changes_clear(&c);
  check_values(hive, "\"" EXE "\"");

  /* A second conversion: the same registration, nothing changes. */
  size_t size1, size2;
  char *before = ht_read_file(hive, &size1);
  c = register_once(hive, EXE);
  CHECK(c.n == 0);
  p2v_changes_clear(&c);
  char *after = ht_read_file(hive, &size2);
  CHECK(before && after && size1 == size2 && memcmp(before, after, size1) == 0);
  free(before);
  free(after);

  /* An earlier registration that differs (another drive): updated. */
  c = register_once(hive, "D:\\Program Files\\p2v\\p2v-firstboot.exe");
  CHECK(c.n == 1);
  if (c.n == 1)
    CHECK(strstr(c.items[0].description, "service p2v-firstboot updated: ") ==
          c.items[0].description);
  p2v_changes_clear(&c);
  check_values(hive, "\"D:\\Program Files\\p2v\\p2v-firstboot.exe\"");
  free(hive);
}

static void test_script_names(void)
{
  struct gw_firstboot *fb = gw_firstboot_new();
  CHECK(fb);
  if (!fb)
    return;
  static const char *const bad[] = { "", "two words", "a/b", "..\\x", "x.cmd",
                                     "abcdefghijklmnopqrstuvwxyz0123456", NULL };
  for (size_t i = 0; bad[i]; i++) {
    ht_log_reset();
    CHECK(gw_firstboot_add(fb, bad[i], "echo") == -1);
    CHECK(ht_log.errors == 1);
  }
  ht_log_reset();
  CHECK(gw_firstboot_add(fb, "drivers", "pnputil /add-driver x.inf\n") == 0);
  CHECK(gw_firstboot_add(fb, "net_0-1", "netsh") == 0);
  CHECK(ht_log.errors == 0);
  gw_firstboot_free(fb);
}

int main(void)
{
  ht_setup();
  test_register();
  test_script_names();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
