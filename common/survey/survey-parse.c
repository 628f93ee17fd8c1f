/* Reading a survey from untrusted JSON (it arrives over the network): every
 * member is checked for type and range, sizes are capped, and the first
 * problem is reported as one line naming the field, e.g.
 *   survey: disks[2].size_bytes: expected a non-negative integer
 * Unknown members are ignored, so a newer writer's additions do no harm.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "log.h"
#include "survey.h"

/* The deepest document is root/disks[]/{}/partitions[]/{}; leave room for
 * unknown members but stop hostile nesting early. */
#define MAX_DEPTH 16

/* A field's name for messages: "disks[2].size_bytes".  Keys are ours and
 * nesting is fixed, so names never come near the size. */
struct where {
  char text[128];
};

static const struct where top = { "" };

static struct where child(const struct where *parent, const char *key)
{
  struct where w;
  if (snprintf(w.text, sizeof w.text, "%s%s%s", parent->text,
               parent->text[0] ? "." : "", key) >= (int)sizeof w.text)
    abort();
  return w;
}

static struct where element(const struct where *parent, size_t i)
{
  struct where w;
  if (snprintf(w.text, sizeof w.text, "%s[%zu]", parent->text, i) >= (int)sizeof w.text)
    abort();
  return w;
}

/* Report the problem with member key of w (key NULL: with w itself). */
static int bad(const struct where *w, const char *key, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
static int bad(const struct where *w, const char *key, const char *fmt, ...)
{
  char message[256];
  struct where named = key ? child(w, key) : *w;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  p2v_error("survey: %s: %s", named.text, message);
  return -1;
}

static int out_of_memory(void)
{
  p2v_error("survey: out of memory reading the document");
  return -1;
}

/* Every member of version 1 is required, though many may be null.  All
 * getters below take the object, its name and the member's key. */
static int member(struct json_object *obj, const struct where *w, const char *key,
                  struct json_object **out)
{
  if (!json_object_object_get_ex(obj, key, out))
    return bad(w, key, "missing");
  return 0;
}

static int get_object(struct json_object *obj, const struct where *w, const char *key,
                      struct json_object **out)
{
  if (member(obj, w, key, out) == -1)
    return -1;
  if (!json_object_is_type(*out, json_type_object))
    return bad(w, key, "expected an object");
  return 0;
}

/* A non-negative integer that fits int64 (what every JSON reader can
 * hold), at most max. */
static int get_uint(struct json_object *obj, const struct where *w, const char *key,
                    bool nullable, uint64_t max, uint64_t *out)
{
  struct json_object *v;
  if (member(obj, w, key, &v) == -1)
    return -1;
  if (!v && nullable) {
    *out = P2V_SURVEY_UNKNOWN;
    return 0;
  }
  if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
      json_object_get_uint64(v) > INT64_MAX)
    return bad(w, key, "expected a non-negative integer%s", nullable ? " or null" : "");
  uint64_t n = json_object_get_uint64(v);
  if (n > max)
    return bad(w, key, "%" PRIu64 " is out of range (at most %" PRIu64 ")", n, max);
  *out = n;
  return 0;
}

static int get_tristate(struct json_object *obj, const struct where *w, const char *key,
                        enum p2v_tristate *out)
{
  struct json_object *v;
  if (member(obj, w, key, &v) == -1)
    return -1;
  if (!v) {
    *out = P2V_UNKNOWN;
    return 0;
  }
  if (!json_object_is_type(v, json_type_boolean))
    return bad(w, key, "expected true, false or null");
  *out = json_object_get_boolean(v) ? P2V_YES : P2V_NO;
  return 0;
}

static int get_bool(struct json_object *obj, const struct where *w, const char *key, bool *out)
{
  struct json_object *v;
  if (member(obj, w, key, &v) == -1)
    return -1;
  if (!json_object_is_type(v, json_type_boolean))
    return bad(w, key, "expected true or false");
  *out = json_object_get_boolean(v);
  return 0;
}

/* A string without control characters (they would reach terminals and
 * logs); valid UTF-8 is the tokener's job. */
static int get_string(struct json_object *obj, const struct where *w, const char *key,
                      bool nullable, char **out)
{
  struct json_object *v;
  *out = NULL;
  if (member(obj, w, key, &v) == -1)
    return -1;
  if (!v && nullable)
    return 0;
  if (!json_object_is_type(v, json_type_string))
    return bad(w, key, "expected a string%s", nullable ? " or null" : "");
  const char *s = json_object_get_string(v);
  size_t len = (size_t)json_object_get_string_len(v);
  if (len > P2V_SURVEY_MAX_STRING)
    return bad(w, key, "longer than %d bytes", P2V_SURVEY_MAX_STRING);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      return bad(w, key, "contains a control character");
  if (!(*out = strdup(s)))
    return out_of_memory();
  return 0;
}

/* One of a fixed set of strings, or null: *out is its index in choices,
 * whose entry 0 (unused) stands for null. */
static int get_choice(struct json_object *obj, const struct where *w, const char *key,
                      const char *const *choices, const char *expected, int *out)
{
  struct json_object *v;
  if (member(obj, w, key, &v) == -1)
    return -1;
  *out = 0;
  if (!v)
    return 0;
  if (json_object_is_type(v, json_type_string))
    for (int i = 1; choices[i]; i++)
      if (strcmp(json_object_get_string(v), choices[i]) == 0) {
        *out = i;
        return 0;
      }
  return bad(w, key, "expected %s", expected);
}

static bool is_lower_hex(char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Exactly digits lower-case hex digits: "8086", "010601". */
static int get_hex(struct json_object *obj, const struct where *w, const char *key,
                   bool nullable, size_t digits, char **out)
{
  if (get_string(obj, w, key, nullable, out) == -1)
    return -1;
  if (!*out)
    return 0;
  bool ok = strlen(*out) == digits;
  for (size_t i = 0; ok && i < digits; i++)
    ok = is_lower_hex((*out)[i]);
  if (!ok)
    return bad(w, key, "expected %zu lower-case hex digits%s", digits,
               nullable ? " or null" : "");
  return 0;
}

/* Lower-case hex bytes joined by colons, 1 to 32 bytes (Ethernet has 6,
 * InfiniBand 20). */
static int get_mac(struct json_object *obj, const struct where *w, const char *key, char **out)
{
  if (get_string(obj, w, key, true, out) == -1)
    return -1;
  if (!*out)
    return 0;
  const char *s = *out;
  size_t len = strlen(s);
  bool ok = len >= 2 && len <= 32 * 3 - 1 && (len + 1) % 3 == 0;
  for (size_t i = 0; ok && i < len; i++)
    ok = i % 3 == 2 ? s[i] == ':' : is_lower_hex(s[i]);
  if (!ok)
    return bad(w, key, "expected a MAC address like \"52:54:00:12:34:56\" or null");
  return 0;
}

/* An array of at most P2V_SURVEY_MAX_ITEMS, allocated zeroed with its count
 * set at once, so that p2v_survey_free cleans up a half-filled one. */
static int get_array(struct json_object *obj, const struct where *w, const char *key,
                     bool nullable, struct json_object **arr, size_t size,
                     void **items, size_t *n)
{
  *items = NULL;
  *n = 0;
  if (member(obj, w, key, arr) == -1)
    return -1;
  if (!*arr && nullable)
    return 0;
  if (!json_object_is_type(*arr, json_type_array))
    return bad(w, key, "expected an array%s", nullable ? " or null" : "");
  size_t len = json_object_array_length(*arr);
  if (len > P2V_SURVEY_MAX_ITEMS)
    return bad(w, key, "more than %d entries", P2V_SURVEY_MAX_ITEMS);
  if (len && !(*items = calloc(len, size)))
    return out_of_memory();
  *n = len;
  return 0;
}

/* Entry i of an array of objects; *ew becomes its name "disks[2]". */
static int get_entry(struct json_object *arr, const struct where *w, const char *key,
                     size_t i, struct where *ew, struct json_object **out)
{
  struct where array = child(w, key);
  *ew = element(&array, i);
  *out = json_object_array_get_idx(arr, i);
  if (!json_object_is_type(*out, json_type_object))
    return bad(ew, NULL, "expected an object");
  return 0;
}

static const char *const firmware_names[] = { NULL, "bios", "uefi", NULL };
static const char *const family_names[] = { NULL, "linux", "windows", NULL };
static const char *const ip_families[] = { NULL, "ipv4", "ipv6", NULL };

static int read_os(struct json_object *root, struct p2v_survey_os *os)
{
  struct json_object *obj;
  struct where w = child(&top, "os");
  int family;
  if (get_object(root, &top, "os", &obj) == -1 ||
      get_choice(obj, &w, "family", family_names, "\"linux\", \"windows\" or null", &family) == -1 ||
      get_string(obj, &w, "id", true, &os->id) == -1 ||
      get_string(obj, &w, "name", true, &os->name) == -1 ||
      get_string(obj, &w, "version", true, &os->version) == -1 ||
      get_string(obj, &w, "kernel", true, &os->kernel) == -1 ||
      get_string(obj, &w, "arch", true, &os->arch) == -1)
    return -1;
  os->family = (enum p2v_os_family)family;
  return 0;
}

static int read_cpus(struct json_object *root, struct p2v_survey_cpus *cpus)
{
  struct json_object *obj;
  struct where w = child(&top, "cpus");
  return get_object(root, &top, "cpus", &obj) == -1 ||
    get_string(obj, &w, "model", true, &cpus->model) == -1 ||
    get_uint(obj, &w, "sockets", true, INT64_MAX, &cpus->sockets) == -1 ||
    get_uint(obj, &w, "cores", true, INT64_MAX, &cpus->cores) == -1 ||
    get_uint(obj, &w, "threads", true, INT64_MAX, &cpus->threads) == -1 ? -1 : 0;
}

static int read_partition(struct json_object *obj, const struct where *w,
                          struct p2v_survey_partition *p)
{
  return get_uint(obj, w, "number", false, UINT32_MAX, &p->number) == -1 ||
    get_uint(obj, w, "offset", false, INT64_MAX, &p->offset) == -1 ||
    get_uint(obj, w, "length", false, INT64_MAX, &p->length) == -1 ||
    get_string(obj, w, "filesystem", true, &p->filesystem) == -1 ||
    get_string(obj, w, "label", true, &p->label) == -1 ||
    get_uint(obj, w, "used_bytes", true, INT64_MAX, &p->used_bytes) == -1 ? -1 : 0;
}

static int read_disk(struct json_object *obj, const struct where *w, struct p2v_survey_disk *d)
{
  struct json_object *arr;
  if (get_string(obj, w, "name", false, &d->name) == -1 ||
      get_string(obj, w, "path", false, &d->path) == -1 ||
      get_string(obj, w, "model", true, &d->model) == -1 ||
      get_string(obj, w, "vendor", true, &d->vendor) == -1 ||
      get_string(obj, w, "serial", true, &d->serial) == -1 ||
      get_string(obj, w, "bus", true, &d->bus) == -1 ||
      get_uint(obj, w, "size_bytes", false, INT64_MAX, &d->size_bytes) == -1 ||
      get_uint(obj, w, "logical_sector_size", true, INT64_MAX, &d->logical_sector_size) == -1 ||
      get_uint(obj, w, "physical_sector_size", true, INT64_MAX, &d->physical_sector_size) == -1 ||
      get_tristate(obj, w, "rotational", &d->rotational) == -1 ||
      get_tristate(obj, w, "removable", &d->removable) == -1 ||
      get_string(obj, w, "table_type", true, &d->table_type) == -1 ||
      get_array(obj, w, "partitions", true, &arr, sizeof *d->partitions,
                (void **)&d->partitions, &d->npartitions) == -1)
    return -1;
  d->partitions_known = arr != NULL;
  for (size_t i = 0; i < d->npartitions; i++) {
    struct where pw;
    struct json_object *p;
    if (get_entry(arr, w, "partitions", i, &pw, &p) == -1 ||
        read_partition(p, &pw, &d->partitions[i]) == -1)
      return -1;
  }
  if (get_uint(obj, w, "used_bytes", false, INT64_MAX, &d->used_bytes) == -1)
    return -1;
  if (d->used_bytes > d->size_bytes)
    return bad(w, "used_bytes", "larger than size_bytes");
  return 0;
}

static int read_address(struct json_object *obj, const struct where *w,
                        struct p2v_survey_address *a)
{
  int family;
  if (get_choice(obj, w, "family", ip_families, "\"ipv4\" or \"ipv6\"", &family) == -1)
    return -1;
  if (family == 0)
    return bad(w, "family", "expected \"ipv4\" or \"ipv6\"");
  a->ipv6 = family == 2;
  if (get_string(obj, w, "address", false, &a->address) == -1)
    return -1;
  unsigned char buf[16];
  if (inet_pton(a->ipv6 ? AF_INET6 : AF_INET, a->address, buf) != 1)
    return bad(w, "address", "not an %s address", a->ipv6 ? "IPv6" : "IPv4");
  return get_uint(obj, w, "prefix", false, a->ipv6 ? 128 : 32, &a->prefix);
}

static int read_pci_ids(struct json_object *obj, const struct where *w, bool nullable,
                        struct p2v_survey_pci_ids *ids)
{
  return get_hex(obj, w, "vendor_id", nullable, 4, &ids->vendor_id) == -1 ||
    get_hex(obj, w, "device_id", nullable, 4, &ids->device_id) == -1 ||
    get_hex(obj, w, "subsystem_vendor_id", true, 4, &ids->subsystem_vendor_id) == -1 ||
    get_hex(obj, w, "subsystem_device_id", true, 4, &ids->subsystem_device_id) == -1 ? -1 : 0;
}

static int read_nic(struct json_object *obj, const struct where *w, struct p2v_survey_nic *n)
{
  struct json_object *arr;
  if (get_string(obj, w, "name", false, &n->name) == -1 ||
      get_mac(obj, w, "mac", &n->mac) == -1 ||
      get_string(obj, w, "driver", true, &n->driver) == -1 ||
      get_bool(obj, w, "virtual", &n->is_virtual) == -1 ||
      get_string(obj, w, "pci_slot", true, &n->pci_slot) == -1 ||
      read_pci_ids(obj, w, true, &n->pci) == -1 ||
      get_tristate(obj, w, "link_up", &n->link_up) == -1 ||
      get_uint(obj, w, "speed_mbps", true, INT64_MAX, &n->speed_mbps) == -1 ||
      get_uint(obj, w, "mtu", true, INT64_MAX, &n->mtu) == -1 ||
      get_array(obj, w, "addresses", false, &arr, sizeof *n->addresses,
                (void **)&n->addresses, &n->naddresses) == -1)
    return -1;
  for (size_t i = 0; i < n->naddresses; i++) {
    struct where aw;
    struct json_object *a;
    if (get_entry(arr, w, "addresses", i, &aw, &a) == -1 ||
        read_address(a, &aw, &n->addresses[i]) == -1)
      return -1;
  }
  return 0;
}

static int read_pci_device(struct json_object *obj, const struct where *w,
                           struct p2v_survey_pci_device *p)
{
  return get_string(obj, w, "slot", false, &p->slot) == -1 ||
    get_hex(obj, w, "class_code", false, 6, &p->class_code) == -1 ||
    get_string(obj, w, "class_name", true, &p->class_name) == -1 ||
    read_pci_ids(obj, w, false, &p->ids) == -1 ||
    get_string(obj, w, "vendor_name", true, &p->vendor_name) == -1 ||
    get_string(obj, w, "device_name", true, &p->device_name) == -1 ||
    get_string(obj, w, "driver", true, &p->driver) == -1 ? -1 : 0;
}

static int read_problem(struct json_object *obj, const struct where *w,
                        struct p2v_survey_problem *p)
{
  if (get_string(obj, w, "code", false, &p->code) == -1 ||
      get_string(obj, w, "message", false, &p->message) == -1)
    return -1;
  return 0;
}

static int read_missing_driver(struct json_object *obj, const struct where *w,
                               struct p2v_survey_missing_driver *m)
{
  struct json_object *arr;
  if (get_string(obj, w, "slot", false, &m->slot) == -1 ||
      get_hex(obj, w, "class_code", false, 6, &m->class_code) == -1 ||
      get_hex(obj, w, "vendor_id", false, 4, &m->vendor_id) == -1 ||
      get_hex(obj, w, "device_id", false, 4, &m->device_id) == -1 ||
      get_string(obj, w, "module", true, &m->module) == -1 ||
      get_tristate(obj, w, "module_in_image", &m->module_in_image) == -1 ||
      get_array(obj, w, "missing_firmware", false, &arr, sizeof *m->missing_firmware,
                (void **)&m->missing_firmware, &m->nmissing_firmware) == -1)
    return -1;
  struct where fw = child(w, "missing_firmware");
  for (size_t i = 0; i < m->nmissing_firmware; i++) {
    struct json_object *e = json_object_array_get_idx(arr, i);
    struct where ew = element(&fw, i);
    if (!json_object_is_type(e, json_type_string))
      return bad(&ew, NULL, "expected a string");
    size_t len = (size_t)json_object_get_string_len(e);
    const char *s = json_object_get_string(e);
    if (len > P2V_SURVEY_MAX_STRING)
      return bad(&ew, NULL, "longer than %d bytes", P2V_SURVEY_MAX_STRING);
    for (size_t j = 0; j < len; j++)
      if ((unsigned char)s[j] < 0x20 || s[j] == 0x7f)
        return bad(&ew, NULL, "contains a control character");
    if (!(m->missing_firmware[i] = strdup(s)))
      return out_of_memory();
  }
  return 0;
}

/* Arrays of objects at the top level: disks, nics, pci_devices. */
#define READ_ARRAY(root, key, items, n, read_one)                               \
  do {                                                                          \
    struct json_object *arr_;                                                   \
    if (get_array(root, &top, key, false, &arr_, sizeof *(items),               \
                  (void **)&(items), &(n)) == -1)                               \
      return -1;                                                                \
    for (size_t i_ = 0; i_ < (n); i_++) {                                       \
      struct where ew_;                                                         \
      struct json_object *e_;                                                   \
      if (get_entry(arr_, &top, key, i_, &ew_, &e_) == -1 ||                    \
          read_one(e_, &ew_, &(items)[i_]) == -1)                               \
        return -1;                                                              \
    }                                                                           \
  } while (0)

static int read_survey(struct json_object *root, struct p2v_survey *s)
{
  struct json_object *v;
  if (member(root, &top, "schema_version", &v) == -1)
    return -1;
  if (!json_object_is_type(v, json_type_int) ||
      json_object_get_int64(v) != P2V_SURVEY_SCHEMA_VERSION)
    return bad(&top, "schema_version",
               "version %s is not supported (this reader knows %d)",
               json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
               P2V_SURVEY_SCHEMA_VERSION);
  s->schema_version = P2V_SURVEY_SCHEMA_VERSION;

  int firmware;
  if (get_string(root, &top, "hostname", true, &s->hostname) == -1 ||
      read_os(root, &s->os) == -1 ||
      get_choice(root, &top, "firmware", firmware_names, "\"bios\", \"uefi\" or null",
                 &firmware) == -1 ||
      get_tristate(root, &top, "secure_boot", &s->secure_boot) == -1 ||
      read_cpus(root, &s->cpus) == -1 ||
      get_uint(root, &top, "memory_bytes", true, INT64_MAX, &s->memory_bytes) == -1)
    return -1;
  s->firmware = (enum p2v_firmware)firmware;
  READ_ARRAY(root, "disks", s->disks, s->ndisks, read_disk);
  READ_ARRAY(root, "nics", s->nics, s->nnics, read_nic);
  READ_ARRAY(root, "pci_devices", s->pci_devices, s->npci_devices, read_pci_device);
  /* Optional members (the live image's findings): absent means none. */
  struct json_object *unused;
  if (json_object_object_get_ex(root, "problems", &unused))
    READ_ARRAY(root, "problems", s->problems, s->nproblems, read_problem);
  if (json_object_object_get_ex(root, "missing_drivers", &unused))
    READ_ARRAY(root, "missing_drivers", s->missing_drivers, s->nmissing_drivers,
               read_missing_driver);
  return 0;
}

/* Roughly how many values the document holds: '{', '[' and ',' outside
 * strings.  json-c spends hundreds of bytes on each, so 4 MiB of "{}," could
 * take a gigabyte; real surveys hold a few thousand. */
static size_t count_values(const char *text, size_t len)
{
  size_t n = 0;
  bool in_string = false;
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_string = false;
    } else if (c == '"')
      in_string = true;
    else if (c == '{' || c == '[' || c == ',')
      n++;
  }
  return n;
}

static struct json_object *parse(const char *text, size_t len)
{
  if (len > P2V_SURVEY_MAX_JSON_BYTES) {
    p2v_error("survey: document is %zu bytes, more than the %u allowed",
              len, P2V_SURVEY_MAX_JSON_BYTES);
    return NULL;
  }
  /* The tokener would stop at a NUL byte and call the rest trailing data;
   * say what it really is. */
  const char *nul = memchr(text, '\0', len);
  if (nul) {
    p2v_error("survey: not valid JSON: NUL byte at offset %zu", (size_t)(nul - text));
    return NULL;
  }
  if (count_values(text, len) > P2V_SURVEY_MAX_VALUES) {
    p2v_error("survey: document has more than %d values", P2V_SURVEY_MAX_VALUES);
    return NULL;
  }
  struct json_tokener *tok = json_tokener_new_ex(MAX_DEPTH);
  if (!tok) {
    out_of_memory();
    return NULL;
  }
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  struct json_object *root = json_tokener_parse_ex(tok, text, (int)len);
  enum json_tokener_error err = json_tokener_get_error(tok);
  size_t end = json_tokener_get_parse_end(tok);
  /* A bare number or literal ("null") ends only at the next character. */
  if (err == json_tokener_continue && len) {
    root = json_tokener_parse_ex(tok, " ", 1);
    err = json_tokener_get_error(tok);
  }
  json_tokener_free(tok);
  if (err == json_tokener_continue)
    p2v_error("survey: not valid JSON: the document is %s", len ? "truncated" : "empty");
  else if (err != json_tokener_success)
    p2v_error("survey: not valid JSON: %s at offset %zu", json_tokener_error_desc(err), end);
  else if (!json_object_is_type(root, json_type_object))
    p2v_error("survey: expected a JSON object at the top level");
  else
    return root;
  json_object_put(root);
  return NULL;
}

struct p2v_survey *p2v_survey_from_json(const char *text, size_t len)
{
  struct json_object *root = parse(text, len);
  if (!root)
    return NULL;
  struct p2v_survey *s = calloc(1, sizeof *s);
  if (!s)
    out_of_memory();
  else if (read_survey(root, s) == -1) {
    p2v_survey_free(s);
    s = NULL;
  }
  json_object_put(root);
  return s;
}
