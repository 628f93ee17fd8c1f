/* libFuzzer harness: the parent's decoder of what the probe child sends.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stddef.h>
#include <stdint.h>

#include "disk-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct p2v_probe_result result;
  const char *why;
  if (p2v_probe_result_decode(data, size, UINT64_C(1) << 40, &result, &why) == 0)
    p2v_probe_result_clear(&result);
  return 0;
}
