/* libFuzzer harness: the converter's reader of survey JSON from the network.
 * What it accepts must write back, read again and write the same.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "survey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(enum p2v_log_level level, const char *message) { }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static FILE *null_out;
  if (!null_out) {
    p2v_log_set_sink(quiet);
    null_out = fopen("/dev/null", "w");
  }
  struct p2v_survey *s = p2v_survey_from_json((const char *)data, size);
  if (!s)
    return 0;
  char *first = p2v_survey_to_json(s, false);
  struct p2v_survey *again = first ? p2v_survey_from_json(first, strlen(first)) : NULL;
  char *second = again ? p2v_survey_to_json(again, false) : NULL;
  if (!second || strcmp(first, second) != 0)
    abort();
  if (null_out)
    p2v_survey_print_text(again, null_out);
  free(second);
  free(first);
  p2v_survey_free(again);
  p2v_survey_free(s);
  return 0;
}
