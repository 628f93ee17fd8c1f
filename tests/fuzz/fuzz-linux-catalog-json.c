/* libFuzzer harness: the kernel catalog JSON the live image reads
 * (common/drivers/linux/catalog-json.c), then a match of two devices
 * against what it loaded.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stddef.h>
#include <stdint.h>

#include "linux.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(enum p2v_log_level level, const char *message) { }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  p2v_log_set_sink(quiet);
  struct lx_catalog cat;
  if (lx_catalog_from_json("fuzz", (const char *)data, size, &cat) == -1)
    return 0;
  struct pci_device devs[2] = {
    { .vendor = 0x8086, .device = 0x100e, .class_code = 0x020000 },
    { .vendor = 0x8086, .device = 0x2922, .class_code = 0x010601, .subvendor = 0x1af4,
      .subdevice = 0x1100, .has_subsystem = true },
  };
  size_t out[4];
  for (size_t i = 0; i < 2; i++) {
    size_t n = lx_catalog_match(&cat, &devs[i], out, 4);
    for (size_t j = 0; j < n; j++)
      if (out[j] >= cat.nmodules)
        __builtin_trap();
  }
  (void)lx_catalog_find(&cat, "e1000");
  lx_catalog_clear(&cat);
  return 0;
}
