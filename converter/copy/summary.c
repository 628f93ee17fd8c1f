/* What a copy did, for people (text) and programs (--json), on stdout.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>

#include <json-c/json.h>

#include "copy/copy.h"
#include "human-size.h"
#include "log.h"

static double rate(uint64_t bytes, double seconds)
{
  return seconds > 0 ? (double) bytes / seconds : 0;
}

void summary_print_text(const struct summary *s)
{
  const struct copy_stats *st = s->stats;
  char b[32];
  printf("copied %s to %s (%s)\n", s->source, s->output, s->format);
#define LINE(label, value)                                                       \
  do {                                                                           \
    p2v_human_size(b, sizeof b, value);                                                   \
    printf("  %-17s %10s  (%llu bytes)\n", label, b, (unsigned long long) (value)); \
  } while (0)
  LINE("virtual size", st->size);
  LINE("bytes read", st->bytes_read);
  LINE("bytes written", st->bytes_written);
  LINE("holes skipped", st->holes_skipped);
  LINE("zeroes detected", st->zero_detected);
#undef LINE
  printf("  %-17s %10.2f s\n", "time", st->seconds);
  printf("  %-17s %10.1f MB/s of disk, %.1f MB/s read\n", "throughput",
         rate(st->size, st->seconds) / 1e6, rate(st->bytes_read, st->seconds) / 1e6);
  printf("  %-17s %u x %u chunks in flight\n", "connections", st->connections, st->requests);
}

int summary_print_json(const struct summary *s)
{
  const struct copy_stats *st = s->stats;
  json_object *o = json_object_new_object();
  if (!o) {
    p2v_error("out of memory");
    return -1;
  }
  json_object_object_add(o, "source", json_object_new_string(s->source));
  json_object_object_add(o, "output", json_object_new_string(s->output));
  json_object_object_add(o, "format", json_object_new_string(s->format));
  json_object_object_add(o, "virtual_size", json_object_new_int64((int64_t) st->size));
  json_object_object_add(o, "bytes_read", json_object_new_int64((int64_t) st->bytes_read));
  json_object_object_add(o, "bytes_written", json_object_new_int64((int64_t) st->bytes_written));
  json_object_object_add(o, "holes_skipped", json_object_new_int64((int64_t) st->holes_skipped));
  json_object_object_add(o, "zero_bytes_detected",
                         json_object_new_int64((int64_t) st->zero_detected));
  json_object_object_add(o, "seconds", json_object_new_double(st->seconds));
  json_object_object_add(o, "throughput", json_object_new_double(rate(st->size, st->seconds)));
  json_object_object_add(o, "read_rate", json_object_new_double(rate(st->bytes_read, st->seconds)));
  json_object_object_add(o, "connections", json_object_new_int((int) st->connections));
  json_object_object_add(o, "requests", json_object_new_int((int) st->requests));
  puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(o);
  return 0;
}
