/* Unit test of the probe child's wire format (common/disk/probe-result.c):
 * a round trip, then every kind of bad input is refused.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk-internal.h"
#include "log.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

#define DISK (1u << 30)

/* Serialize through a pipe, as the child does. */
static size_t encode(const struct p2v_probe_result *r, uint8_t *buf, size_t size)
{
  int fds[2];
  CHECK(pipe(fds) == 0);
  CHECK(p2v_probe_result_write(fds[1], r) == 0);
  close(fds[1]);
  ssize_t n = read(fds[0], buf, size);
  CHECK(n > 0 && (size_t) n < size);
  close(fds[0]);
  return (size_t) n;
}

static void expect_bad(const uint8_t *buf, size_t len, const char *needle)
{
  struct p2v_probe_result r;
  const char *why = NULL;
  if (p2v_probe_result_decode(buf, len, DISK, &r, &why) != -1 || !strstr(why, needle)) {
    fprintf(stderr, "decode: expected failure \"%s\", got \"%s\"\n", needle, why ? why : "success");
    exit(1);
  }
}

static void add_partition(struct p2v_probe_result *r, unsigned num, uint64_t off, uint64_t len,
                          const char *fs, const char *label)
{
  struct p2v_partition p = {
    .number = num, .offset = off, .length = len, .used_bytes = len / 2,
    .filesystem = fs ? strdup(fs) : NULL, .label = label ? strdup(label) : NULL,
  };
  CHECK(p2v_probe_result_add_partition(r, &p) == 0);
}

int main(void)
{
  static uint8_t buf[65536], bad[65536];
  struct p2v_probe_result in = { .unused = P2V_EXTENT_LIST_INIT }, out;
  const char *why = NULL;

  p2v_log_init("test-disk-probe-result");
  in.table_type = strdup("gpt");
  add_partition(&in, 1, 1 << 20, 100 << 20, "ntfs", "WIN\x1b[2J");
  add_partition(&in, 2, 101 << 20, 50 << 20, NULL, NULL);
  CHECK(p2v_extent_list_add(&in.unused, 2 << 20, 4096) == 0);
  CHECK(p2v_extent_list_add(&in.unused, 10 << 20, 1 << 20) == 0);
  CHECK(p2v_extent_list_add(&in.unused, 120 << 20, 1 << 20) == 0);
  CHECK(p2v_probe_result_add_warning(&in, "something odd on partition %d", 3) == 0);
  size_t len = encode(&in, buf, sizeof buf);

  CHECK(p2v_probe_result_decode(buf, len, DISK, &out, &why) == 0);
  CHECK(strcmp(out.table_type, "gpt") == 0);
  CHECK(out.npartitions == 2);
  CHECK(out.partitions[0].number == 1 && out.partitions[0].offset == 1 << 20);
  CHECK(strcmp(out.partitions[0].filesystem, "ntfs") == 0);
  CHECK(strcmp(out.partitions[0].label, "WIN?[2J") == 0);   /* no escape codes */
  CHECK(out.partitions[1].filesystem == NULL && out.partitions[1].label == NULL);
  CHECK(out.unused.count == 3 && p2v_extent_list_total(&out.unused) == 4096 + (2 << 20));
  CHECK(out.nwarnings == 1 && strcmp(out.warnings[0], "something odd on partition 3") == 0);
  p2v_probe_result_clear(&out);

  /* Every truncation is refused (no end record). */
  for (size_t n = 0; n < len; n++)
    expect_bad(buf, n, n < 8 ? "bad header" : "");
  /* Bytes after the end. */
  memcpy(bad, buf, len);
  bad[len] = 'E';
  expect_bad(bad, len + 1, "after the end");
  /* A disk smaller than the partitions. */
  CHECK(p2v_probe_result_decode(buf, len, 100 << 20, &out, &why) == -1);
  CHECK(strstr(why, "outside the disk"));

  /* An unused range outside every partition (the partition table). */
  struct p2v_probe_result r2 = { .unused = P2V_EXTENT_LIST_INIT };
  add_partition(&r2, 1, 1 << 20, 100 << 20, "ntfs", NULL);
  CHECK(p2v_extent_list_add(&r2.unused, 0, 4096) == 0);
  len = encode(&r2, bad, sizeof bad);
  expect_bad(bad, len, "outside every partition");
  p2v_probe_result_clear(&r2);

  /* A range running past its partition's end. */
  r2 = (struct p2v_probe_result) { .unused = P2V_EXTENT_LIST_INIT };
  add_partition(&r2, 1, 1 << 20, 1 << 20, "ntfs", NULL);
  CHECK(p2v_extent_list_add(&r2.unused, (2 << 20) - 4096, 8192) == 0);
  len = encode(&r2, bad, sizeof bad);
  expect_bad(bad, len, "outside every partition");
  p2v_probe_result_clear(&r2);

  /* Overlapping partitions. */
  r2 = (struct p2v_probe_result) { .unused = P2V_EXTENT_LIST_INIT };
  add_partition(&r2, 1, 1 << 20, 10 << 20, "ntfs", NULL);
  add_partition(&r2, 2, 5 << 20, 10 << 20, "ntfs", NULL);
  len = encode(&r2, bad, sizeof bad);
  expect_bad(bad, len, "overlap");
  p2v_probe_result_clear(&r2);

  /* Counts that do not match, unknown tags, oversized strings. */
  len = encode(&in, bad, sizeof bad);
  bad[len - 16] ^= 1;
  expect_bad(bad, len, "counts");
  len = encode(&in, bad, sizeof bad);
  bad[8] = 'Z';
  expect_bad(bad, len, "unknown record");
  memcpy(bad, "P2VPRB1\nT\xff\xff", 11);
  expect_bad(bad, 11, "bad table type");

  p2v_probe_result_clear(&in);
  printf("PASS: test-disk-probe-result\n");
  return 0;
}
