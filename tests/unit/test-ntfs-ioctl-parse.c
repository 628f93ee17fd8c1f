/* Unit test of common/disk/ntfs-ioctl-parse.c with buffers built byte by
 * byte from the documented layouts of VOLUME_BITMAP_BUFFER,
 * RETRIEVAL_POINTERS_BUFFER and DRIVE_LAYOUT_INFORMATION_EX (x64): full
 * and partial bitmaps, first and last bits, sizes not a multiple of 8,
 * ERROR_MORE_DATA continuations, sparse runs, MBR and GPT tables, and
 * truncated or lying buffers refused with one reason.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntfs-ioctl-parse.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

#define MiB (UINT64_C(1) << 20)
#define CL 4096u                          /* cluster size of the test volumes */
#define VOL_OFF MiB                       /* where they start on the disk */

static void put32(uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}

static const struct p2v_volume_geometry geometry20 = {
  .cluster_size = CL, .volume_offset = VOL_OFF, .volume_length = 20 * CL,
};

/* The list holds exactly these cluster runs {lcn, n}, in disk bytes. */
static void check_clusters(struct p2v_extent_list *list, const uint64_t (*runs)[2], size_t n)
{
  p2v_extent_list_normalize(list);
  if (list->count != n) {
    fprintf(stderr, "got %zu ranges:", list->count);
    for (size_t i = 0; i < list->count; i++)
      fprintf(stderr, " [%llu+%llu]", (unsigned long long) ((list->items[i].offset - VOL_OFF) / CL),
              (unsigned long long) (list->items[i].length / CL));
    fprintf(stderr, "\n");
  }
  CHECK(list->count == n);
  for (size_t i = 0; i < n; i++) {
    CHECK(list->items[i].offset == VOL_OFF + runs[i][0] * CL);
    CHECK(list->items[i].length == runs[i][1] * CL);
  }
}

/* A bitmap buffer: header then bytes. */
static size_t bitmap(uint8_t *buf, uint64_t start, uint64_t size, const uint8_t *bits, size_t n)
{
  put64(buf, start);
  put64(buf + 8, size);
  if (n > 0)
    memcpy(buf + 16, bits, n);
  return 16 + n;
}

static void test_bitmap_full(void)
{
  /* 20 clusters: 0 used, 1-7 free, 8-15 used, 16-18 free, 19 used; the
   * last byte's spare bits (clusters "20-23") are clear and must be
   * ignored, not read as free clusters past the volume. */
  uint8_t buf[64];
  const uint8_t bits[] = { 0x01, 0xff, 0x08 };
  size_t len = bitmap(buf, 0, 20, bits, 3);
  struct p2v_bitmap_walk walk = { .geometry = geometry20 };
  struct p2v_extent_list out = P2V_EXTENT_LIST_INIT;
  const char *why = NULL;
  CHECK(p2v_volume_bitmap_feed(&walk, buf, len, false, &out, &why) == 0);
  CHECK(walk.done && walk.next_lcn == 20 && walk.free_clusters == 10);
  check_clusters(&out, (const uint64_t[][2]) { { 1, 7 }, { 16, 3 } }, 2);
  p2v_extent_list_clear(&out);

  /* First and last bits free: runs touch both ends of the volume. */
  const uint8_t ends[] = { 0xfe, 0xff, 0x07 };
  len = bitmap(buf, 0, 20, ends, 3);
  walk = (struct p2v_bitmap_walk) { .geometry = geometry20 };
  CHECK(p2v_volume_bitmap_feed(&walk, buf, len, false, &out, &why) == 0);
  check_clusters(&out, (const uint64_t[][2]) { { 0, 1 }, { 19, 1 } }, 2);
  p2v_extent_list_clear(&out);

  /* All free: one range, the whole volume; all used: none. */
  const uint8_t zero[] = { 0, 0, 0 }, ones[] = { 0xff, 0xff, 0xff };
  len = bitmap(buf, 0, 20, zero, 3);
  walk = (struct p2v_bitmap_walk) { .geometry = geometry20 };
  CHECK(p2v_volume_bitmap_feed(&walk, buf, len, false, &out, &why) == 0);
  check_clusters(&out, (const uint64_t[][2]) { { 0, 20 } }, 1);
  p2v_extent_list_clear(&out);
  len = bitmap(buf, 0, 20, ones, 3);
  walk = (struct p2v_bitmap_walk) { .geometry = geometry20 };
  CHECK(p2v_volume_bitmap_feed(&walk, buf, len, false, &out, &why) == 0);
  CHECK(out.count == 0 && walk.free_clusters == 0);

  /* The memory bound: two ranges at most; the third run is counted, not added. */
  const uint8_t three[] = { 0xfa, 0xfe, 0x0f };     /* free: 0, 2, 8 */
  len = bitmap(buf, 0, 20, three, 3);
  walk = (struct p2v_bitmap_walk) { .geometry = geometry20, .max_ranges = 2 };
  CHECK(p2v_volume_bitmap_feed(&walk, buf, len, false, &out, &why) == 0);
  CHECK(walk.free_clusters == 2 && walk.dropped_clusters == 1);
  check_clusters(&out, (const uint64_t[][2]) { { 0, 1 }, { 2, 1 } }, 2);
  p2v_extent_list_clear(&out);

  /* Every truncation of the full buffer is refused, out untouched. */
  len = bitmap(buf, 0, 20, bits, 3);
  for (size_t cut = 0; cut < len; cut++) {
    walk = (struct p2v_bitmap_walk) { .geometry = geometry20 };
    why = NULL;
    CHECK(p2v_volume_bitmap_feed(&walk, buf, cut, false, &out, &why) == -1);
    CHECK(why != NULL && out.count == 0 && !walk.done);
  }
}

static void test_bitmap_more_data(void)
{
  /* ERROR_MORE_DATA: one byte (clusters 0-7: 4-7 free), then the rest from
   * LCN 8 (8-11 free, 12-16 used, 17-19 free).  4-11 is one range. */
  uint8_t buf[64];
  struct p2v_bitmap_walk walk = { .geometry = geometry20 };
  struct p2v_extent_list out = P2V_EXTENT_LIST_INIT;
  const char *why = NULL;
  size_t len = bitmap(buf, 0, 20, (const uint8_t[]) { 0x0f }, 1);
  CHECK(p2v_volume_bitmap_feed(&walk, buf, len, true, &out, &why) == 0);
  CHECK(!walk.done && walk.next_lcn == 8);
  len = bitmap(buf, 8, 12, (const uint8_t[]) { 0xf0, 0x01 }, 2);
  CHECK(p2v_volume_bitmap_feed(&walk, buf, len, false, &out, &why) == 0);
  CHECK(walk.done && walk.next_lcn == 20 && walk.free_clusters == 11);
  CHECK(out.count == 2);        /* merged on the way in, no normalize needed */
  check_clusters(&out, (const uint64_t[][2]) { { 4, 8 }, { 17, 3 } }, 2);
  p2v_extent_list_clear(&out);

  /* Lies: the continuation starts elsewhere; "more data" with no byte, or
   * with every byte already there; a feed after the end. */
  walk = (struct p2v_bitmap_walk) { .geometry = geometry20 };
  len = bitmap(buf, 0, 20, (const uint8_t[]) { 0x0f }, 1);
  CHECK(p2v_volume_bitmap_feed(&walk, buf, len, true, &out, &why) == 0);
  len = bitmap(buf, 0, 20, (const uint8_t[]) { 0x0f, 0, 0 }, 3);
  CHECK(p2v_volume_bitmap_feed(&walk, buf, len, false, &out, &why) == -1);
  CHECK(!strcmp(why, "the volume bitmap starts at another cluster than asked for"));
  p2v_extent_list_clear(&out);

  walk = (struct p2v_bitmap_walk) { .geometry = geometry20 };
  len = bitmap(buf, 0, 20, NULL, 0);
  CHECK(p2v_volume_bitmap_feed(&walk, buf, len, true, &out, &why) == -1);
  len = bitmap(buf, 0, 20, (const uint8_t[]) { 0, 0, 0 }, 3);
  CHECK(p2v_volume_bitmap_feed(&walk, buf, len, true, &out, &why) == -1);
  CHECK(!strcmp(why, "a partial volume bitmap (more data) makes no progress or holds it all"));
  CHECK(p2v_volume_bitmap_feed(&walk, buf, len, false, &out, &why) == 0);
  CHECK(p2v_volume_bitmap_feed(&walk, buf, len, false, &out, &why) == -1);
  CHECK(!strcmp(why, "the bitmap was already complete"));
  p2v_extent_list_clear(&out);
}

static void test_bitmap_lies(void)
{
  uint8_t buf[64];
  struct p2v_extent_list out = P2V_EXTENT_LIST_INIT;
  const char *why;
  const uint8_t zero[8] = { 0 };
  struct p2v_bitmap_walk walk = { .geometry = geometry20 };

  /* A size past the volume (21 clusters on a 20-cluster volume). */
  size_t len = bitmap(buf, 0, 21, zero, 3);
  CHECK(p2v_volume_bitmap_feed(&walk, buf, len, false, &out, &why) == -1);
  CHECK(!strcmp(why, "the volume bitmap covers clusters past the end of the volume"));
  /* Negative LCN and size; sizes whose sum overflows. */
  len = bitmap(buf, UINT64_MAX, 20, zero, 3);
  CHECK(p2v_volume_bitmap_feed(&walk, buf, len, false, &out, &why) == -1);
  CHECK(!strcmp(why, "the volume bitmap has a negative starting cluster or size"));
  len = bitmap(buf, 0, (uint64_t) INT64_MAX, zero, 3);
  CHECK(p2v_volume_bitmap_feed(&walk, buf, len, false, &out, &why) == -1);
  /* A bad cluster size from the caller. */
  walk.geometry.cluster_size = 3000;
  len = bitmap(buf, 0, 20, zero, 3);
  CHECK(p2v_volume_bitmap_feed(&walk, buf, len, false, &out, &why) == -1);
  CHECK(strstr(why, "cluster size") != NULL);
  CHECK(out.count == 0);
}

/* A retrieval buffer: count, starting VCN, runs {next_vcn, lcn}. */
static size_t retrieval(uint8_t *buf, uint32_t count, uint64_t start,
                        const int64_t (*runs)[2], size_t n)
{
  memset(buf, 0xcc, 16);        /* padding is not read */
  put32(buf, count);
  put64(buf + 8, start);
  for (size_t i = 0; i < n; i++) {
    put64(buf + 16 + 16 * i, (uint64_t) runs[i][0]);
    put64(buf + 24 + 16 * i, (uint64_t) runs[i][1]);
  }
  return 16 + 16 * n;
}

static void test_retrieval(void)
{
  /* VCN 0-3 at LCN 10, 4-5 sparse (LCN -1), 6-8 at LCN 2. */
  static const int64_t runs[][2] = { { 4, 10 }, { 6, -1 }, { 9, 2 } };
  uint8_t buf[128];
  struct p2v_retrieval_walk walk = { .geometry = geometry20 };
  struct p2v_extent_list out = P2V_EXTENT_LIST_INIT;
  const char *why = NULL;
  size_t len = retrieval(buf, 3, 0, runs, 3);
  CHECK(p2v_retrieval_pointers_feed(&walk, buf, len, false, &out, &why) == 0);
  CHECK(walk.done && walk.next_vcn == 9 && walk.clusters == 7);
  check_clusters(&out, (const uint64_t[][2]) { { 2, 3 }, { 10, 4 } }, 2);
  p2v_extent_list_clear(&out);

  /* ERROR_MORE_DATA after two runs; the rest from VCN 6. */
  walk = (struct p2v_retrieval_walk) { .geometry = geometry20 };
  len = retrieval(buf, 2, 0, runs, 2);
  CHECK(p2v_retrieval_pointers_feed(&walk, buf, len, true, &out, &why) == 0);
  CHECK(!walk.done && walk.next_vcn == 6);
  len = retrieval(buf, 1, 6, runs + 2, 1);
  CHECK(p2v_retrieval_pointers_feed(&walk, buf, len, false, &out, &why) == 0);
  check_clusters(&out, (const uint64_t[][2]) { { 2, 3 }, { 10, 4 } }, 2);
  p2v_extent_list_clear(&out);

  /* Every truncation refused. */
  len = retrieval(buf, 3, 0, runs, 3);
  for (size_t cut = 0; cut < len; cut++) {
    walk = (struct p2v_retrieval_walk) { .geometry = geometry20 };
    why = NULL;
    CHECK(p2v_retrieval_pointers_feed(&walk, buf, cut, false, &out, &why) == -1);
    CHECK(why != NULL && out.count == 0);
  }
  /* A count that would overflow 16 + 16 * count in 32 bits. */
  walk = (struct p2v_retrieval_walk) { .geometry = geometry20 };
  len = retrieval(buf, UINT32_MAX, 0, runs, 3);
  CHECK(p2v_retrieval_pointers_feed(&walk, buf, len, false, &out, &why) == -1);
  CHECK(!strcmp(why, "the retrieval pointers count more runs than the buffer holds"));
  len = retrieval(buf, 0x10000001u, 0, runs, 3);
  CHECK(p2v_retrieval_pointers_feed(&walk, buf, len, false, &out, &why) == -1);

  /* Runs that go backwards, or stand still; an LCN past the volume, a
   * run ending past it, a negative LCN other than -1; a start elsewhere. */
  static const int64_t back[][2] = { { 4, 10 }, { 4, 2 } };
  static const int64_t past[][2] = { { 4, 17 } };
  static const int64_t far[][2] = { { 1, 20 } };
  static const int64_t negative[][2] = { { 1, -2 } };
  const struct { const int64_t (*runs)[2]; size_t n; uint64_t start; const char *why; } lies[] = {
    { back, 2, 0, "a run of the retrieval pointers does not move forward" },
    { past, 1, 0, "a run of the retrieval pointers lies past the end of the volume" },
    { far, 1, 0, "a run of the retrieval pointers lies past the end of the volume" },
    { negative, 1, 0, "a run of the retrieval pointers lies past the end of the volume" },
    { runs, 1, 3, "the retrieval pointers start at another cluster than asked for" },
  };
  for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
    walk = (struct p2v_retrieval_walk) { .geometry = geometry20 };
    len = retrieval(buf, (uint32_t) lies[i].n, lies[i].start, lies[i].runs, lies[i].n);
    CHECK(p2v_retrieval_pointers_feed(&walk, buf, len, false, &out, &why) == -1);
    CHECK(!strcmp(why, lies[i].why));
  }
  /* "More data" with no run makes no progress. */
  walk = (struct p2v_retrieval_walk) { .geometry = geometry20 };
  len = retrieval(buf, 0, 0, NULL, 0);
  CHECK(p2v_retrieval_pointers_feed(&walk, buf, len, true, &out, &why) == -1);
  /* No run at all (an empty file): done, nothing added. */
  CHECK(p2v_retrieval_pointers_feed(&walk, buf, len, false, &out, &why) == 0 && walk.done);
  p2v_extent_list_clear(&out);
}

/* One PARTITION_INFORMATION_EX (144 bytes) at e. */
static void entry(uint8_t *e, uint32_t style, uint64_t offset, uint64_t length,
                  uint32_t number, uint8_t mbr_type, uint8_t gpt_type_first)
{
  memset(e, 0, 144);
  put32(e, style);
  put64(e + 8, offset);
  put64(e + 16, length);
  put32(e + 24, number);
  if (style == 0) {
    e[32] = mbr_type;
    e[34] = 1;                  /* RecognizedPartition */
  }
  else {
    memset(e + 32, gpt_type_first, 1);      /* PartitionType GUID */
    memset(e + 48, 0x55, 16);               /* PartitionId GUID */
    e[72] = 'E';                            /* Name[0] (UTF-16LE) */
  }
}

static size_t layout(uint8_t *buf, uint32_t style, uint32_t count)
{
  memset(buf, 0, 48);
  put32(buf, style);
  put32(buf + 4, count);
  return 48 + 144 * (size_t) count;
}

static void test_layout(void)
{
  const uint64_t disk = 1024 * MiB;
  static uint8_t buf[48 + 144 * 8];
  struct p2v_drive_layout l;
  const char *why = NULL;

  /* GPT: an ESP (type GUID starting 0x28) and a data partition, listed out of order. */
  size_t len = layout(buf, 1, 2);
  entry(buf + 48, 1, 101 * MiB, 200 * MiB, 2, 0, 0xa2);
  entry(buf + 48 + 144, 1, MiB, 100 * MiB, 1, 0, 0x28);
  CHECK(p2v_drive_layout_parse(buf, len, disk, &l, &why) == 0);
  CHECK(l.style == P2V_LAYOUT_GPT && l.count == 2);
  CHECK(l.partitions[0].number == 1 && l.partitions[0].offset == MiB &&
        l.partitions[0].length == 100 * MiB && l.partitions[0].gpt_type[0] == 0x28);
  CHECK(l.partitions[1].number == 2 && l.partitions[1].offset == 101 * MiB &&
        !l.partitions[1].container);
  p2v_drive_layout_clear(&l);
  for (size_t cut = 0; cut < len; cut++) {
    CHECK(p2v_drive_layout_parse(buf, cut, disk, &l, &why) == -1);
    CHECK(l.count == 0 && l.partitions == NULL);
  }

  /* MBR: four slots: a primary NTFS, an empty slot, an extended container
   * (number 0) and a logical NTFS inside it. */
  len = layout(buf, 0, 4);
  put32(buf + 8, 0x12345678);               /* Signature */
  entry(buf + 48, 0, MiB, 10 * MiB, 1, 0x07, 0);
  entry(buf + 48 + 144, 0, 0, 0, 0, 0x00, 0);
  entry(buf + 48 + 288, 0, 11 * MiB, 20 * MiB, 0, 0x05, 0);
  entry(buf + 48 + 432, 0, 12 * MiB, 5 * MiB, 5, 0x07, 0);
  CHECK(p2v_drive_layout_parse(buf, len, disk, &l, &why) == 0);
  CHECK(l.style == P2V_LAYOUT_MBR && l.count == 3);
  CHECK(l.partitions[0].number == 1 && l.partitions[0].mbr_type == 0x07);
  CHECK(l.partitions[1].container && l.partitions[1].offset == 11 * MiB);
  CHECK(l.partitions[2].number == 5 && !l.partitions[2].container &&
        l.partitions[2].length == 5 * MiB);
  p2v_drive_layout_clear(&l);

  /* Lies: a count the buffer cannot hold (and one that would overflow),
   * a partition past the disk, overlapping volumes, a mixed style, an
   * unknown style. */
  len = layout(buf, 0, 4);
  put32(buf + 4, 5);
  CHECK(p2v_drive_layout_parse(buf, len, disk, &l, &why) == -1);
  CHECK(!strcmp(why, "the drive layout counts more partitions than the buffer holds"));
  put32(buf + 4, UINT32_MAX);
  CHECK(p2v_drive_layout_parse(buf, sizeof buf, disk, &l, &why) == -1);
  len = layout(buf, 1, 1);
  entry(buf + 48, 1, 1000 * MiB, 25 * MiB, 1, 0, 0xa2);
  CHECK(p2v_drive_layout_parse(buf, len, disk, &l, &why) == -1);
  CHECK(!strcmp(why, "a partition lies past the end of the disk"));
  entry(buf + 48, 1, UINT64_MAX - 10, 20, 1, 0, 0xa2);
  CHECK(p2v_drive_layout_parse(buf, len, disk, &l, &why) == -1);
  len = layout(buf, 1, 2);
  entry(buf + 48, 1, MiB, 100 * MiB, 1, 0, 0xa2);
  entry(buf + 48 + 144, 1, 100 * MiB, 100 * MiB, 2, 0, 0xa2);
  CHECK(p2v_drive_layout_parse(buf, len, disk, &l, &why) == -1);
  CHECK(!strcmp(why, "two partitions of the drive layout overlap"));
  entry(buf + 48 + 144, 0, 200 * MiB, 100 * MiB, 2, 0x07, 0);
  CHECK(p2v_drive_layout_parse(buf, len, disk, &l, &why) == -1);
  CHECK(!strcmp(why, "a partition entry has another style than its table"));
  layout(buf, 7, 0);
  CHECK(p2v_drive_layout_parse(buf, 48, disk, &l, &why) == -1);

  /* RAW: no table, no partitions. */
  len = layout(buf, 2, 0);
  CHECK(p2v_drive_layout_parse(buf, len, disk, &l, &why) == 0);
  CHECK(l.style == P2V_LAYOUT_RAW && l.count == 0);
  p2v_drive_layout_clear(&l);
}

int main(void)
{
  test_bitmap_full();
  test_bitmap_more_data();
  test_bitmap_lies();
  test_retrieval();
  test_layout();
  printf("ok\n");
  return 0;
}
