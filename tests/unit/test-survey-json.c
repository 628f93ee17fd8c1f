/* Unit test for the survey's JSON (common/survey/survey-json.c and
 * survey-parse.c): good documents round-trip exactly, bad ones fail with
 * exactly one error line naming the field.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "survey.h"

#define CHECK(cond) \
  do { if (!(cond)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)

/* Messages are caught here so the test can compare them. */
static char last_message[4096];
static int nmessages;

static void catch_message(enum p2v_log_level level, const char *message)
{
  snprintf(last_message, sizeof last_message, "%s", message);
  nmessages++;
}

/* A small but complete document: every member, some null. */
static const char good[] =
  "{ \"schema_version\": 1, \"hostname\": \"web01\","
  "  \"os\": { \"family\": \"linux\", \"id\": \"debian\", \"name\": \"Debian GNU/Linux\","
  "            \"version\": \"12\", \"kernel\": \"6.1.0-18-amd64\", \"arch\": \"x86_64\" },"
  "  \"firmware\": \"uefi\", \"secure_boot\": null,"
  "  \"cpus\": { \"model\": \"Intel(R) Xeon(R) CPU E5-2620 v3\", \"sockets\": 2, \"cores\": 12, \"threads\": 24 },"
  "  \"memory_bytes\": 34359738368,"
  "  \"disks\": [ { \"name\": \"sda\", \"path\": \"/dev/sda\", \"model\": \"ST1000NM0033\","
  "      \"vendor\": \"ATA\", \"serial\": \"Z1W0A1B2\", \"bus\": \"ata\", \"size_bytes\": 1000204886016,"
  "      \"logical_sector_size\": 512, \"physical_sector_size\": 4096, \"rotational\": true,"
  "      \"removable\": false, \"table_type\": \"gpt\","
  "      \"partitions\": ["
  "        { \"number\": 1, \"offset\": 1048576, \"length\": 536870912, \"filesystem\": \"vfat\","
  "          \"label\": \"EFI\", \"used_bytes\": 6291456 },"
  "        { \"number\": 2, \"offset\": 537919488, \"length\": 999666966528, \"filesystem\": \"ext4\","
  "          \"label\": null, \"used_bytes\": null } ],"
  "      \"used_bytes\": 999673257984 },"
  "    { \"name\": \"disk.img\", \"path\": \"./disk.img\", \"model\": null, \"vendor\": null,"
  "      \"serial\": null, \"bus\": \"file\", \"size_bytes\": 1048576, \"logical_sector_size\": null,"
  "      \"physical_sector_size\": null, \"rotational\": null, \"removable\": null,"
  "      \"table_type\": null, \"partitions\": null, \"used_bytes\": 1048576 } ],"
  "  \"nics\": [ { \"name\": \"eth0\", \"mac\": \"52:54:00:12:34:56\", \"driver\": \"e1000e\","
  "      \"virtual\": false, \"pci_slot\": \"0000:00:19.0\", \"vendor_id\": \"8086\","
  "      \"device_id\": \"153a\", \"subsystem_vendor_id\": \"17aa\", \"subsystem_device_id\": \"3098\","
  "      \"link_up\": true, \"speed_mbps\": 1000, \"mtu\": 1500,"
  "      \"addresses\": [ { \"family\": \"ipv4\", \"address\": \"192.0.2.7\", \"prefix\": 24 },"
  "                     { \"family\": \"ipv6\", \"address\": \"fe80::1\", \"prefix\": 64 } ] } ],"
  "  \"pci_devices\": [ { \"slot\": \"0000:00:19.0\", \"class_code\": \"020000\","
  "      \"class_name\": \"Ethernet controller\", \"vendor_id\": \"8086\", \"device_id\": \"153a\","
  "      \"subsystem_vendor_id\": \"17aa\", \"subsystem_device_id\": \"3098\","
  "      \"vendor_name\": \"Intel Corporation\", \"device_name\": null, \"driver\": \"e1000e\" } ] }";

/* good with the first occurrence of from replaced by to. */
static char *edit(const char *from, const char *to)
{
  const char *at = strstr(good, from);
  if (!at) {
    fprintf(stderr, "test bug: '%s' is not in the document\n", from);
    exit(1);
  }
  size_t head = (size_t)(at - good);
  char *out = malloc(sizeof good + strlen(to));
  CHECK(out);
  memcpy(out, good, head);
  strcpy(out + head, to);
  strcat(out, at + strlen(from));
  return out;
}

/* text (len bytes) must be rejected with exactly this one error line. */
static void expect_error_n(int line, const char *text, size_t len, const char *expected)
{
  nmessages = 0;
  last_message[0] = '\0';
  struct p2v_survey *s = p2v_survey_from_json(text, len);
  if (s || nmessages != 1 || strcmp(last_message, expected) != 0) {
    fprintf(stderr, "line %d: expected one error \"%s\"\n  got %s, %d messages, last \"%s\"\n",
            line, expected, s ? "a survey" : "NULL", nmessages, last_message);
    exit(1);
  }
}
#define expect_error(text, expected) expect_error_n(__LINE__, text, strlen(text), expected)

/* good, edited, must be rejected. */
#define expect_edit_error(from, to, expected)                   \
  do {                                                          \
    char *doc_ = edit(from, to);                                \
    expect_error_n(__LINE__, doc_, strlen(doc_), expected);     \
    free(doc_);                                                 \
  } while (0)

/* Parse, write, parse, write: both writings the same, no messages. */
static char *round_trip(const char *text, size_t len)
{
  nmessages = 0;
  struct p2v_survey *s = p2v_survey_from_json(text, len);
  if (!s) {
    fprintf(stderr, "round trip: rejected: %s\n", last_message);
    exit(1);
  }
  char *first = p2v_survey_to_json(s, true);
  CHECK(first);
  struct p2v_survey *again = p2v_survey_from_json(first, strlen(first));
  CHECK(again);
  char *second = p2v_survey_to_json(again, true);
  CHECK(second);
  CHECK(strcmp(first, second) == 0);
  char *plain = p2v_survey_to_json(again, false);
  CHECK(plain && !strchr(plain, '\n'));
  free(plain);
  free(second);
  p2v_survey_free(again);
  p2v_survey_free(s);
  CHECK(nmessages == 0);
  return first;
}

static void test_good(void)
{
  struct p2v_survey *s = p2v_survey_from_json(good, strlen(good));
  CHECK(s);
  CHECK(s->schema_version == 1 && strcmp(s->hostname, "web01") == 0);
  CHECK(s->os.family == P2V_OS_LINUX && strcmp(s->os.kernel, "6.1.0-18-amd64") == 0);
  CHECK(s->firmware == P2V_FIRMWARE_UEFI && s->secure_boot == P2V_UNKNOWN);
  CHECK(s->cpus.sockets == 2 && s->cpus.cores == 12 && s->cpus.threads == 24);
  CHECK(s->memory_bytes == 34359738368ULL);
  CHECK(s->ndisks == 2);
  const struct p2v_survey_disk *d = &s->disks[0];
  CHECK(d->size_bytes == 1000204886016ULL && d->rotational == P2V_YES && d->removable == P2V_NO);
  CHECK(d->partitions_known && d->npartitions == 2);
  CHECK(d->partitions[0].used_bytes == 6291456 && strcmp(d->partitions[0].label, "EFI") == 0);
  CHECK(d->partitions[1].used_bytes == P2V_SURVEY_UNKNOWN && d->partitions[1].label == NULL);
  CHECK(!s->disks[1].partitions_known && s->disks[1].logical_sector_size == P2V_SURVEY_UNKNOWN);
  CHECK(s->disks[1].rotational == P2V_UNKNOWN);
  CHECK(s->nnics == 1 && s->nics[0].naddresses == 2 && s->nics[0].addresses[1].ipv6);
  CHECK(s->nics[0].addresses[1].prefix == 64 && s->nics[0].speed_mbps == 1000);
  CHECK(s->npci_devices == 1 && strcmp(s->pci_devices[0].class_code, "020000") == 0);
  CHECK(s->pci_devices[0].device_name == NULL);

  /* The text summary names the host and every disk. */
  char *text = NULL;
  size_t size = 0;
  FILE *fp = open_memstream(&text, &size);
  CHECK(fp);
  p2v_survey_print_text(s, fp);
  CHECK(fclose(fp) == 0);
  CHECK(strstr(text, "web01") && strstr(text, "/dev/sda") && strstr(text, "./disk.img"));
  CHECK(strstr(text, "EFI") && strstr(text, "192.0.2.7/24"));
  free(text);
  p2v_survey_free(s);

  free(round_trip(good, strlen(good)));

  /* Unknown members (a newer minor writer) are ignored, also deep ones. */
  char *doc = edit("\"hostname\"", "\"future\": {\"a\": [1, 2, {\"b\": null}]}, \"hostname\"");
  char *json = round_trip(doc, strlen(doc));
  CHECK(!strstr(json, "future"));
  free(json);
  free(doc);

  /* Empty arrays and the largest integer readers can hold. */
  doc = edit("\"memory_bytes\": 34359738368", "\"memory_bytes\": 9223372036854775807");
  free(round_trip(doc, strlen(doc)));
  free(doc);
}

/* The live image's optional findings: absent in documents without them
 * (old ones stay valid and unchanged), read, written and checked when there. */
static void test_findings(void)
{
  char *json = round_trip(good, strlen(good));
  CHECK(!strstr(json, "problems") && !strstr(json, "missing_drivers"));
  free(json);

  char *doc = edit("\"hostname\"",
    "\"problems\": [ { \"code\": \"no-network-link\", \"message\": \"no network interface has a link\" },"
    "  { \"code\": \"missing-driver\", \"message\": \"0000:00:03.0 network controller 8086:100e has no driver\" } ],"
    "\"missing_drivers\": [ { \"slot\": \"0000:00:03.0\", \"class_code\": \"020000\","
    "  \"vendor_id\": \"8086\", \"device_id\": \"100e\", \"module\": \"e1000\","
    "  \"module_in_image\": false, \"missing_firmware\": [ \"e100/d101m_ucode.bin\" ] },"
    "  { \"slot\": \"0000:00:05.0\", \"class_code\": \"010400\", \"vendor_id\": \"1000\","
    "  \"device_id\": \"9999\", \"module\": null, \"module_in_image\": null, \"missing_firmware\": [] } ],"
    "\"hostname\"");
  struct p2v_survey *s = p2v_survey_from_json(doc, strlen(doc));
  CHECK(s && s->nproblems == 2 && s->nmissing_drivers == 2);
  CHECK(!strcmp(s->problems[0].code, "no-network-link"));
  CHECK(!strcmp(s->missing_drivers[0].module, "e1000"));
  CHECK(s->missing_drivers[0].module_in_image == P2V_NO);
  CHECK(s->missing_drivers[0].nmissing_firmware == 1);
  CHECK(!s->missing_drivers[1].module && s->missing_drivers[1].module_in_image == P2V_UNKNOWN);
  CHECK(p2v_survey_add_problem(s, "no-disk", "no disk is visible") == 0 && s->nproblems == 3);
  json = p2v_survey_to_json(s, false);
  CHECK(json && strstr(json, "\"code\":\"no-disk\"") && strstr(json, "\"module_in_image\":false"));
  free(json);
  p2v_survey_free(s);
  free(round_trip(doc, strlen(doc)));
  free(doc);

  expect_edit_error("\"hostname\"", "\"problems\": {}, \"hostname\"",
                    "survey: problems: expected an array");
  expect_edit_error("\"hostname\"", "\"problems\": [ { \"code\": \"x\" } ], \"hostname\"",
                    "survey: problems[0].message: missing");
  expect_edit_error("\"hostname\"",
    "\"missing_drivers\": [ { \"slot\": \"s\", \"class_code\": \"02\", \"vendor_id\": \"8086\","
    " \"device_id\": \"100e\", \"module\": null, \"module_in_image\": null, \"missing_firmware\": [] } ],"
    " \"hostname\"", "survey: missing_drivers[0].class_code: expected 6 lower-case hex digits");
  expect_edit_error("\"hostname\"",
    "\"missing_drivers\": [ { \"slot\": \"s\", \"class_code\": \"020000\", \"vendor_id\": \"8086\","
    " \"device_id\": \"100e\", \"module\": null, \"module_in_image\": null, \"missing_firmware\": [ 3 ] } ],"
    " \"hostname\"", "survey: missing_drivers[0].missing_firmware[0]: expected a string");
}

static void test_not_json(void)
{
  expect_error("", "survey: not valid JSON: the document is empty");
  expect_error("   ", "survey: not valid JSON: the document is truncated");
  expect_error("[1, 2]", "survey: expected a JSON object at the top level");
  expect_error("\"survey\"", "survey: expected a JSON object at the top level");
  expect_error("null", "survey: expected a JSON object at the top level");
  expect_error("{\"schema_version\": 1,}", "survey: not valid JSON: unexpected character at offset 21");
  expect_error("{} {}", "survey: not valid JSON: unexpected character at offset 3");
  expect_error("{\"a\": \"\xff\"}", "survey: not valid JSON: invalid utf-8 string at offset 7");
  expect_error_n(__LINE__, "{\"a\"\0: 1}", 9, "survey: not valid JSON: NUL byte at offset 4");

  /* Cut anywhere: the error says truncated or names the missing member,
   * never crashes.  At these points it must say truncated. */
  size_t len = strlen(good);
  expect_error_n(__LINE__, good, len - 1, "survey: not valid JSON: the document is truncated");
  expect_error_n(__LINE__, good, len / 2, "survey: not valid JSON: the document is truncated");
  for (size_t cut = 0; cut < len; cut += 7) {
    nmessages = 0;
    CHECK(p2v_survey_from_json(good, cut) == NULL && nmessages == 1);
  }

  /* Nesting deeper than any survey has. */
  char deep[200] = "{\"a\": ";
  for (int i = 0; i < 40; i++)
    strcat(deep, "[");
  expect_error(deep, "survey: not valid JSON: nesting too deep at offset 21");

  /* Larger than allowed, checked before parsing. */
  size_t big = P2V_SURVEY_MAX_JSON_BYTES + 1;
  char *huge = malloc(big);
  CHECK(huge);
  memset(huge, ' ', big);
  huge[0] = '{';
  huge[big - 1] = '}';
  expect_error_n(__LINE__, huge, big, "survey: document is 4194305 bytes, more than the 4194304 allowed");
  free(huge);

  /* Small, but too many values (json-c would spend ~100 times its size). */
  size_t nvalues = P2V_SURVEY_MAX_VALUES;
  char *values = malloc(nvalues * 2 + 16);
  CHECK(values);
  char *p = values + sprintf(values, "{\"x\": [");
  for (size_t i = 0; i < nvalues; i++)
    p += sprintf(p, "%s", i ? ",0" : "0");
  strcpy(p, "]}");
  expect_error(values, "survey: document has more than 262144 values");
  /* Commas inside strings do not count. */
  memset(values, ',', nvalues * 2);
  values[0] = '"';
  strcpy(values + nvalues * 2 - 1, "\"");
  expect_error(values, "survey: expected a JSON object at the top level");
  free(values);
}

static void test_version(void)
{
  expect_edit_error("\"schema_version\": 1,", "",
                    "survey: schema_version: missing");
  expect_edit_error("\"schema_version\": 1", "\"schema_version\": 2",
                    "survey: schema_version: version 2 is not supported (this reader knows 1)");
  expect_edit_error("\"schema_version\": 1", "\"schema_version\": \"1\"",
                    "survey: schema_version: version \"1\" is not supported (this reader knows 1)");
  expect_edit_error("\"schema_version\": 1", "\"schema_version\": 1.0",
                    "survey: schema_version: version 1.0 is not supported (this reader knows 1)");
}

static void test_types(void)
{
  expect_edit_error("\"size_bytes\": 1000204886016", "\"size_bytes\": -1",
                    "survey: disks[0].size_bytes: expected a non-negative integer");
  expect_edit_error("\"size_bytes\": 1048576", "\"size_bytes\": \"1048576\"",
                    "survey: disks[1].size_bytes: expected a non-negative integer");
  expect_edit_error("\"size_bytes\": 1048576", "\"size_bytes\": 1.5",
                    "survey: disks[1].size_bytes: expected a non-negative integer");
  expect_edit_error("\"size_bytes\": 1048576", "\"size_bytes\": null",
                    "survey: disks[1].size_bytes: expected a non-negative integer");
  expect_edit_error("\"size_bytes\": 1048576", "\"size_bytes\": 9223372036854775808",
                    "survey: disks[1].size_bytes: expected a non-negative integer");
  expect_edit_error("\"size_bytes\": 1048576", "\"size_bytes\": 99999999999999999999999",
                    "survey: disks[1].size_bytes: expected a non-negative integer");
  expect_edit_error("\"memory_bytes\": 34359738368", "\"memory_bytes\": true",
                    "survey: memory_bytes: expected a non-negative integer or null");
  expect_edit_error("\"threads\": 24", "\"threads\": -24",
                    "survey: cpus.threads: expected a non-negative integer or null");
  expect_edit_error("\"hostname\": \"web01\"", "\"hostname\": 5",
                    "survey: hostname: expected a string or null");
  expect_edit_error("\"name\": \"sda\"", "\"name\": null",
                    "survey: disks[0].name: expected a string");
  expect_edit_error("\"hostname\": \"web01\"", "\"hostname\": \"\\u001b[31mweb01\"",
                    "survey: hostname: contains a control character");
  expect_edit_error("\"label\": \"EFI\"", "\"label\": \"E\\u0000FI\"",
                    "survey: disks[0].partitions[0].label: contains a control character");
  expect_edit_error("\"rotational\": true", "\"rotational\": 1",
                    "survey: disks[0].rotational: expected true, false or null");
  expect_edit_error("\"virtual\": false", "\"virtual\": null",
                    "survey: nics[0].virtual: expected true or false");
  expect_edit_error("\"firmware\": \"uefi\"", "\"firmware\": \"efi\"",
                    "survey: firmware: expected \"bios\", \"uefi\" or null");
  expect_edit_error("\"family\": \"linux\"", "\"family\": \"LINUX\"",
                    "survey: os.family: expected \"linux\", \"windows\" or null");
  expect_edit_error("\"os\": {", "\"os\": null, \"x\": {",
                    "survey: os: expected an object");
  expect_edit_error("\"cpus\": {", "\"cpus\": 4, \"x\": {",
                    "survey: cpus: expected an object");
  expect_edit_error("\"disks\": [", "\"disks\": {}, \"x\": [",
                    "survey: disks: expected an array");
  expect_edit_error("\"partitions\": null", "\"partitions\": 0",
                    "survey: disks[1].partitions: expected an array or null");
  expect_edit_error("\"used_bytes\": 1048576 } ]", "\"used_bytes\": 1048576 }, 3 ]",
                    "survey: disks[2]: expected an object");
  expect_edit_error("\"kernel\": \"6.1.0-18-amd64\", ", "",
                    "survey: os.kernel: missing");
}

static void test_ranges(void)
{
  expect_edit_error("\"number\": 1,", "\"number\": 4294967296,",
                    "survey: disks[0].partitions[0].number: 4294967296 is out of range (at most 4294967295)");
  expect_edit_error("\"used_bytes\": 1048576 }", "\"used_bytes\": 1048577 }",
                    "survey: disks[1].used_bytes: larger than size_bytes");
  expect_edit_error("\"prefix\": 24", "\"prefix\": 33",
                    "survey: nics[0].addresses[0].prefix: 33 is out of range (at most 32)");
  expect_edit_error("\"192.0.2.7\"", "\"192.0.2.300\"",
                    "survey: nics[0].addresses[0].address: not an IPv4 address");
  expect_edit_error("\"fe80::1\"", "\"192.0.2.8\"",
                    "survey: nics[0].addresses[1].address: not an IPv6 address");
  expect_edit_error("\"family\": \"ipv4\"", "\"family\": null",
                    "survey: nics[0].addresses[0].family: expected \"ipv4\" or \"ipv6\"");
  expect_edit_error("\"52:54:00:12:34:56\"", "\"52:54:00:12:34:5G\"",
                    "survey: nics[0].mac: expected a MAC address like \"52:54:00:12:34:56\" or null");
  expect_edit_error("\"52:54:00:12:34:56\"", "\"52:54:00:12:34:\"",
                    "survey: nics[0].mac: expected a MAC address like \"52:54:00:12:34:56\" or null");
  expect_edit_error("\"Ethernet controller\", \"vendor_id\": \"8086\", \"device_id\": \"153a\"",
                    "\"Ethernet controller\", \"vendor_id\": \"8086\", \"device_id\": \"153A\"",
                    "survey: pci_devices[0].device_id: expected 4 lower-case hex digits");
  expect_edit_error("\"class_code\": \"020000\"", "\"class_code\": \"0200\"",
                    "survey: pci_devices[0].class_code: expected 6 lower-case hex digits");
  expect_edit_error("\"vendor_id\": \"8086\",", "\"vendor_id\": \"80861\",",
                    "survey: nics[0].vendor_id: expected 4 lower-case hex digits or null");

  /* A string just over the limit. */
  char *label = malloc(P2V_SURVEY_MAX_STRING + 8);
  CHECK(label);
  label[0] = '"';
  memset(label + 1, 'x', P2V_SURVEY_MAX_STRING + 1);
  strcpy(label + P2V_SURVEY_MAX_STRING + 2, "\"");
  char *doc = edit("\"web01\"", label);
  expect_error_n(__LINE__, doc, strlen(doc), "survey: hostname: longer than 4096 bytes");
  free(doc);
  free(label);

  /* Arrays: 4096 entries are fine (checked as a count), 4097 are not. */
  size_t n = P2V_SURVEY_MAX_ITEMS + 1;
  char *many = malloc(n * 3 + 16);
  CHECK(many);
  char *p = many + sprintf(many, "\"nics\": [");
  for (size_t i = 0; i < n; i++)
    p += sprintf(p, i ? ",0" : "0");
  strcpy(p, "], \"x\": [");
  doc = edit("\"nics\": [", many);
  expect_error_n(__LINE__, doc, strlen(doc), "survey: nics: more than 4096 entries");
  free(doc);
  free(many);
}

/* A survey of this machine with a file as its disk survives the trip. */
static void test_collect(void)
{
  char path[] = "/tmp/test-survey-json.XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  CHECK(ftruncate(fd, 4 << 20) == 0);
  close(fd);
  const char *disks[] = { path };
  struct p2v_survey *s = p2v_survey_collect(disks, 1);
  unlink(path);
  CHECK(s && s->ndisks == 1 && s->disks[0].size_bytes == 4 << 20);
  CHECK(strcmp(s->disks[0].bus, "file") == 0);
  char *json = p2v_survey_to_json(s, false);
  CHECK(json);
  char *again = round_trip(json, strlen(json));
  char *pretty = p2v_survey_to_json(s, true);
  CHECK(strcmp(again, pretty) == 0);
  free(pretty);
  free(again);
  free(json);
  p2v_survey_free(s);
}

int main(void)
{
  p2v_log_init("test-survey-json");
  p2v_log_set_sink(catch_message);
  test_good();
  test_findings();
  test_not_json();
  test_version();
  test_types();
  test_ranges();
  test_collect();
  printf("test-survey-json: all passed\n");
  return 0;
}
