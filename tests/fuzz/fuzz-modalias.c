/* libFuzzer harness: modules.alias lines and the alias matcher, and the
 * lspci/survey device reader.  Input: a modules.alias text; each pattern
 * is matched against devices made from the input bytes.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linux.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(enum p2v_log_level level, const char *message) { }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  p2v_log_set_sink(quiet);
  struct pci_device devs[2] = {
    { .vendor = 0x8086, .device = 0x10d3, .class_code = 0x020000 },
    { .vendor = 0x1000, .device = 0x005b, .subvendor = 0x1028, .subdevice = 0x1f2d,
      .class_code = 0x010400, .has_subsystem = true },
  };
  if (size >= 8) {             /* a device from the input too */
    devs[0].vendor = (uint16_t)(data[0] << 8 | data[1]);
    devs[0].device = (uint16_t)(data[2] << 8 | data[3]);
    devs[0].class_code = (uint32_t)(data[4] << 16 | data[5] << 8 | data[6]);
  }
  const char *p = (const char *)data, *end = p + size;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *eol = nl ? nl : end;
    const char *pat, *mod;
    size_t plen, mlen;
    if (lx_alias_parse_line(p, (size_t)(eol - p), &pat, &plen, &mod, &mlen)) {
      char *pattern = strndup(pat, plen);
      if (pattern) {
        for (size_t i = 0; i < 2; i++)
          (void)lx_alias_match(pattern, &devs[i]);
        (void)lx_alias_specificity(pattern);
      }
      free(pattern);
    }
    p = eol + 1;
  }
  return 0;
}
