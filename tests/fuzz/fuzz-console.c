/* libFuzzer harness: what the boot test and the metadata writers do with
 * bytes from the guest (its serial console, its product name, hostname).
 * Input: any bytes.  Checked, not just run: the cleaned console tail is
 * valid UTF-8 with no control characters but newline and tab, and so is
 * a "[FAILED]" line found in it (which starts so); the XML
 * escape leaves no raw markup or control bytes; the .vmx escape leaves no
 * '"' or control bytes.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "check/check.h"
#include "vm/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(enum p2v_log_level level, const char *message) { (void) level; (void) message; }

/* Valid UTF-8 with no control byte except those allowed. */
static void check_clean(const char *s, const char *allowed)
{
  const unsigned char *p = (const unsigned char *) s;
  while (*p) {
    size_t n = p2v_utf8_seq_len(p);
    if (n == 0 || ((*p < 0x20 || *p == 0x7f) && !strchr(allowed, *p)))
      abort();
    p += n;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  p2v_log_set_sink(quiet);
  char *tail = p2v_console_clean((const char *) data, size, 40);
  if (tail) {
    check_clean(tail, "\n\t");
    free(tail);
  }
  char *failed = p2v_console_failed_line((const char *) data, size);
  if (failed) {
    check_clean(failed, "\n\t");
    if (strncmp(failed, "[FAILED]", 8) != 0)
      abort();
    free(failed);
  }

  char *s = strndup((const char *) data, size);     /* up to the first NUL, as C strings are */
  if (!s)
    return 0;
  char *xml = p2v_xml_escape(s);
  if (xml) {
    check_clean(xml, "");
    if (strpbrk(xml, "<>\"'"))
      abort();
    free(xml);
  }
  char *vmx = p2v_vmx_escape(s);
  if (vmx) {
    if (strchr(vmx, '"'))
      abort();
    for (const unsigned char *p = (const unsigned char *) vmx; *p; p++)
      if (*p < 0x20 || *p == 0x7f)
        abort();
    free(vmx);
  }
  char *text = NULL;
  size_t len;
  FILE *fp = open_memstream(&text, &len);
  if (fp) {
    p2v_text_escape(fp, s, true);
    fclose(fp);
    if (text)
      check_clean(text, "\n\t");
    free(text);
  }
  free(s);
  return 0;
}
