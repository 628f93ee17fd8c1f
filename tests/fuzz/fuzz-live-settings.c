/* libFuzzer harness: p2v-live's settings parser (the kernel command line
 * and qemu's fw_cfg file are outside input).  Whatever it accepts must
 * dump, and the dump (its set values) must parse again to the same dump.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "live.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(enum p2v_log_level level, const char *message) { }

static char *dump(const struct live_settings *s)
{
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f)
    return NULL;
  live_settings_dump(s, f);
  fclose(f);
  return text;
}

/* The dump without empty values (unset) and with a made-up key where the
 * PSK's is hidden, so that it parses again. */
static char *reparseable(const char *dump_text)
{
  char *out = malloc(strlen(dump_text) + 64), *o = out;
  if (!out)
    return NULL;
  for (const char *line = dump_text; *line;) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    const char *hidden = memchr(line, '(', len);
    if (len && line[len - 1] == '=') {
      /* unset */
    } else if (hidden && !strncmp(line, "p2v.tls_psk=", 12)) {
      memcpy(o, line, (size_t)(hidden - line));
      o += hidden - line;
      memcpy(o, "00 ", 3);
      o += 3;
    } else {
      memcpy(o, line, len);
      o += len;
      *o++ = ' ';
    }
    line += len + (nl ? 1 : 0);
  }
  *o = '\0';
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  p2v_log_set_sink(quiet);
  struct live_settings s;
  live_settings_init(&s);
  if (live_settings_parse(&s, (const char *)data, size, "fuzz") == 0) {
    (void)live_settings_check(&s);
    char *first = dump(&s);
    char *again_text = first ? reparseable(first) : NULL;
    struct live_settings again;
    live_settings_init(&again);
    if (again_text) {
      if (live_settings_parse(&again, again_text, strlen(again_text), "dump") != 0)
        abort();
      char *second = dump(&again);
      if (!second || strcmp(first, second) != 0)
        abort();
      free(second);
    }
    free(again_text);
    free(first);
    live_settings_clear(&again);
  }
  live_settings_clear(&s);
  return 0;
}
