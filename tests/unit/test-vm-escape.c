/* Unit test for the escaping helpers of the VM metadata writers
 * (converter/vm-util.c): XML entities and bytes XML cannot carry, VMware's
 * |XX escape, text escaping for people, UTF-8 validation, MAC syntax, the
 * OS name table, random UUIDs.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm-internal.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

static void check_xml(const char *in, const char *want)
{
  char *got = p2v_xml_escape(in);
  CHECK(got);
  if (strcmp(got, want) != 0) {
    fprintf(stderr, "xml escape: got '%s', want '%s'\n", got, want);
    exit(1);
  }
  free(got);
}

static void check_vmx(const char *in, const char *want)
{
  char *got = p2v_vmx_escape(in);
  CHECK(got);
  if (strcmp(got, want) != 0) {
    fprintf(stderr, "vmx escape: got '%s', want '%s'\n", got, want);
    exit(1);
  }
  free(got);
}

static void check_text(const char *in, bool keep_newlines, const char *want)
{
  char *got = NULL;
  size_t len;
  FILE *fp = open_memstream(&got, &len);
  CHECK(fp);
  p2v_text_escape(fp, in, keep_newlines);
  CHECK(fclose(fp) == 0);
  if (strcmp(got, want) != 0) {
    fprintf(stderr, "text escape: got '%s', want '%s'\n", got, want);
    exit(1);
  }
  free(got);
}

int main(void)
{
  check_xml("", "");
  check_xml("plain web01", "plain web01");
  check_xml("a&b<c>'d\"e", "a&amp;b&lt;c&gt;&apos;d&quot;e");
  check_xml("&amp;", "&amp;amp;");
  check_xml("tab\there\nnl\rcr", "tab&#9;here&#10;nl&#13;cr");
  check_xml("bell\x07 esc\x1b del\x7f", "bell? esc? del?");
  check_xml("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  check_xml("bad \xff\xfe end", "bad ?? end");
  check_xml("overlong \xc0\xaf", "overlong ??");
  check_xml("surrogate \xed\xa0\x80", "surrogate ???");
  check_xml("cut \xe2\x82", "cut ??");

  check_vmx("web01", "web01");
  check_vmx("say \"hi\" | bye", "say |22hi|22 |7C bye");
  check_vmx("two\nlines\t", "two|0Alines|09");
  check_vmx("caf\xc3\xa9", "caf\xc3\xa9");

  check_text("fine text", false, "fine text");
  check_text("esc\x1b[2J", false, "esc\\x1b[2J");
  check_text("a\nb", false, "a\\x0ab");
  check_text("a\nb", true, "a\nb");
  check_text("back\\slash", false, "back\\\\slash");
  check_text("bad \xff", false, "bad \\xff");

  CHECK(p2v_utf8_seq_len((const unsigned char *) "a") == 1);
  CHECK(p2v_utf8_seq_len((const unsigned char *) "\xc3\xa9") == 2);
  CHECK(p2v_utf8_seq_len((const unsigned char *) "\xf4\x90\x80\x80") == 0);   /* > U+10FFFF */

  CHECK(p2v_mac_valid("52:54:00:ab:CD:ef"));
  CHECK(!p2v_mac_valid("52:54:00:ab:CD"));
  CHECK(!p2v_mac_valid("52-54-00-ab-cd-ef"));
  CHECK(!p2v_mac_valid("52:54:00:ab:cd:eg"));
  CHECK(!p2v_mac_valid("52:54:00:ab:cd:ef:"));
  CHECK(!p2v_mac_valid(NULL));

  struct p2v_vm vm = { .os_type = "linux", .osinfo = "debian12" };
  struct p2v_os_names os;
  p2v_vm_os_names(&vm, &os);
  CHECK(strcmp(os.vmx, "debian11-64") == 0 && os.cim == 96);
  vm.osinfo = "debian10";
  p2v_vm_os_names(&vm, &os);
  CHECK(strcmp(os.vim, "debian10_64Guest") == 0);
  vm.osinfo = "unknown";
  p2v_vm_os_names(&vm, &os);
  CHECK(strcmp(os.vmx, "otherlinux-64") == 0);
  vm.os_type = "windows";
  vm.osinfo = "win2k19";
  p2v_vm_os_names(&vm, &os);
  CHECK(strcmp(os.vmx, "windows2019srv-64") == 0);

  char a[37], b[37];
  CHECK(p2v_uuid_generate(a) == 0 && p2v_uuid_generate(b) == 0);
  CHECK(strlen(a) == 36 && a[14] == '4' && strchr("89ab", a[19]) && strcmp(a, b) != 0);

  printf("ok\n");
  return 0;
}
