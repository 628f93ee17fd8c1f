/* libFuzzer harness: the INF parser and what the catalog reads from it.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stddef.h>
#include <stdint.h>

#include "inf-parse.h"
#include "log.h"
#include "windows-catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(enum p2v_log_level level, const char *message) { }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  p2v_log_set_sink(quiet);
  char err[256];
  struct inf_parse_options opts = { .arch = "amd64" };
  struct inf_file *inf = inf_parse(data, size, &opts, err, sizeof err);
  if (!inf)
    return 0;
  static const struct inf_os targets[] = {
    { "amd64", 10, 0, 17763 }, { "x86", 6, 1, 7601 }, { "arm64", 0xffff, 0xffff, 0x7fffffff },
  };
  struct pci_device dev = { .vendor = 0x1af4, .device = 0x1001, .subvendor = 0x1af4,
                            .subdevice = 0x0002, .has_subsystem = true, .class_code = 0x010000 };
  for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
    struct inf_driver drv;
    if (inf_driver_load(inf, &targets[t], &drv) < 0)
      continue;
    for (size_t m = 0; m < drv.nmodels; m++)
      for (size_t k = 0; k < drv.models[m].nids; k++)
        (void) win_id_specificity(drv.models[m].ids[k], &dev);
    inf_driver_clear(&drv);
  }
  inf_free(inf);
  return 0;
}
