/* Writing the survey as JSON (docs/survey.md).  Every member is always
 * written; unknown values are null.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

#include <json-c/json.h>

#include "log.h"
#include "survey.h"

/* Add key; on failure drop value and remember it, so builders can stay flat
 * and check once at the end. */
static void add(struct json_object *obj, const char *key, struct json_object *value, bool *ok)
{
  if (json_object_object_add(obj, key, value) != 0) {
    json_object_put(value);
    *ok = false;
  }
}

static struct json_object *string_or_null(const char *s)
{
  return s ? json_object_new_string(s) : NULL;
}

/* Values above INT64_MAX cannot be read back (P2V_SURVEY_UNKNOWN among
 * them), so they are written as null: the round trip stays exact. */
static struct json_object *uint_or_null(uint64_t v)
{
  return v <= INT64_MAX ? json_object_new_int64((int64_t)v) : NULL;
}

static struct json_object *tristate(enum p2v_tristate t)
{
  return t == P2V_YES || t == P2V_NO ? json_object_new_boolean(t == P2V_YES) : NULL;
}

static void add_pci_ids(struct json_object *obj, const struct p2v_survey_pci_ids *ids, bool *ok)
{
  add(obj, "vendor_id", string_or_null(ids->vendor_id), ok);
  add(obj, "device_id", string_or_null(ids->device_id), ok);
  add(obj, "subsystem_vendor_id", string_or_null(ids->subsystem_vendor_id), ok);
  add(obj, "subsystem_device_id", string_or_null(ids->subsystem_device_id), ok);
}

static struct json_object *os_json(const struct p2v_survey_os *os, bool *ok)
{
  struct json_object *obj = json_object_new_object();
  if (!obj) {
    *ok = false;
    return NULL;
  }
  add(obj, "family", string_or_null(p2v_survey_os_family_name(os->family)), ok);
  add(obj, "id", string_or_null(os->id), ok);
  add(obj, "name", string_or_null(os->name), ok);
  add(obj, "version", string_or_null(os->version), ok);
  add(obj, "kernel", string_or_null(os->kernel), ok);
  add(obj, "arch", string_or_null(os->arch), ok);
  return obj;
}

static struct json_object *cpus_json(const struct p2v_survey_cpus *cpus, bool *ok)
{
  struct json_object *obj = json_object_new_object();
  if (!obj) {
    *ok = false;
    return NULL;
  }
  add(obj, "model", string_or_null(cpus->model), ok);
  add(obj, "sockets", uint_or_null(cpus->sockets), ok);
  add(obj, "cores", uint_or_null(cpus->cores), ok);
  add(obj, "threads", uint_or_null(cpus->threads), ok);
  return obj;
}

static struct json_object *partition_json(const struct p2v_survey_partition *p, bool *ok)
{
  struct json_object *obj = json_object_new_object();
  if (!obj) {
    *ok = false;
    return NULL;
  }
  add(obj, "number", uint_or_null(p->number), ok);
  add(obj, "offset", uint_or_null(p->offset), ok);
  add(obj, "length", uint_or_null(p->length), ok);
  add(obj, "filesystem", string_or_null(p->filesystem), ok);
  add(obj, "label", string_or_null(p->label), ok);
  add(obj, "used_bytes", uint_or_null(p->used_bytes), ok);
  return obj;
}

static struct json_object *disk_json(const struct p2v_survey_disk *d, bool *ok)
{
  struct json_object *obj = json_object_new_object();
  if (!obj) {
    *ok = false;
    return NULL;
  }
  add(obj, "name", string_or_null(d->name), ok);
  add(obj, "path", string_or_null(d->path), ok);
  add(obj, "model", string_or_null(d->model), ok);
  add(obj, "vendor", string_or_null(d->vendor), ok);
  add(obj, "serial", string_or_null(d->serial), ok);
  add(obj, "bus", string_or_null(d->bus), ok);
  add(obj, "size_bytes", uint_or_null(d->size_bytes), ok);
  add(obj, "logical_sector_size", uint_or_null(d->logical_sector_size), ok);
  add(obj, "physical_sector_size", uint_or_null(d->physical_sector_size), ok);
  add(obj, "rotational", tristate(d->rotational), ok);
  add(obj, "removable", tristate(d->removable), ok);
  add(obj, "table_type", string_or_null(d->table_type), ok);
  struct json_object *parts = NULL;
  if (d->partitions_known) {
    parts = json_object_new_array_ext((int)d->npartitions);
    if (!parts)
      *ok = false;
    for (size_t i = 0; parts && i < d->npartitions; i++)
      if (json_object_array_add(parts, partition_json(&d->partitions[i], ok)) != 0)
        *ok = false;
  }
  add(obj, "partitions", parts, ok);
  add(obj, "used_bytes", uint_or_null(d->used_bytes), ok);
  return obj;
}

static struct json_object *nic_json(const struct p2v_survey_nic *n, bool *ok)
{
  struct json_object *obj = json_object_new_object();
  if (!obj) {
    *ok = false;
    return NULL;
  }
  add(obj, "name", string_or_null(n->name), ok);
  add(obj, "mac", string_or_null(n->mac), ok);
  add(obj, "driver", string_or_null(n->driver), ok);
  add(obj, "virtual", json_object_new_boolean(n->is_virtual), ok);
  add(obj, "pci_slot", string_or_null(n->pci_slot), ok);
  add_pci_ids(obj, &n->pci, ok);
  add(obj, "link_up", tristate(n->link_up), ok);
  add(obj, "speed_mbps", uint_or_null(n->speed_mbps), ok);
  add(obj, "mtu", uint_or_null(n->mtu), ok);
  struct json_object *addrs = json_object_new_array_ext((int)n->naddresses);
  if (!addrs)
    *ok = false;
  for (size_t i = 0; addrs && i < n->naddresses; i++) {
    struct json_object *a = json_object_new_object();
    if (!a) {
      *ok = false;
      break;
    }
    add(a, "family", json_object_new_string(n->addresses[i].ipv6 ? "ipv6" : "ipv4"), ok);
    add(a, "address", string_or_null(n->addresses[i].address), ok);
    add(a, "prefix", uint_or_null(n->addresses[i].prefix), ok);
    if (json_object_array_add(addrs, a) != 0)
      *ok = false;
  }
  add(obj, "addresses", addrs, ok);
  return obj;
}

static struct json_object *pci_device_json(const struct p2v_survey_pci_device *p, bool *ok)
{
  struct json_object *obj = json_object_new_object();
  if (!obj) {
    *ok = false;
    return NULL;
  }
  add(obj, "slot", string_or_null(p->slot), ok);
  add(obj, "class_code", string_or_null(p->class_code), ok);
  add(obj, "class_name", string_or_null(p->class_name), ok);
  add_pci_ids(obj, &p->ids, ok);
  add(obj, "vendor_name", string_or_null(p->vendor_name), ok);
  add(obj, "device_name", string_or_null(p->device_name), ok);
  add(obj, "driver", string_or_null(p->driver), ok);
  return obj;
}

static struct json_object *missing_driver_json(const struct p2v_survey_missing_driver *m, bool *ok)
{
  struct json_object *obj = json_object_new_object();
  struct json_object *fw = json_object_new_array_ext((int)m->nmissing_firmware);
  if (!obj || !fw) {
    json_object_put(obj);
    json_object_put(fw);
    *ok = false;
    return NULL;
  }
  add(obj, "slot", string_or_null(m->slot), ok);
  add(obj, "class_code", string_or_null(m->class_code), ok);
  add(obj, "vendor_id", string_or_null(m->vendor_id), ok);
  add(obj, "device_id", string_or_null(m->device_id), ok);
  add(obj, "module", string_or_null(m->module), ok);
  add(obj, "module_in_image", tristate(m->module_in_image), ok);
  for (size_t i = 0; i < m->nmissing_firmware; i++)
    if (json_object_array_add(fw, json_object_new_string(m->missing_firmware[i])) != 0)
      *ok = false;
  add(obj, "missing_firmware", fw, ok);
  return obj;
}

/* The optional arrays: present only when they have entries, so documents
 * of machines without findings stay as they were. */
static void add_findings(struct json_object *root, const struct p2v_survey *s, bool *ok)
{
  if (s->nproblems) {
    struct json_object *arr = json_object_new_array_ext((int)s->nproblems);
    for (size_t i = 0; arr && i < s->nproblems; i++) {
      struct json_object *p = json_object_new_object();
      if (!p) {
        *ok = false;
        break;
      }
      add(p, "code", string_or_null(s->problems[i].code), ok);
      add(p, "message", string_or_null(s->problems[i].message), ok);
      if (json_object_array_add(arr, p) != 0)
        *ok = false;
    }
    if (!arr)
      *ok = false;
    add(root, "problems", arr, ok);
  }
  if (s->nmissing_drivers) {
    struct json_object *arr = json_object_new_array_ext((int)s->nmissing_drivers);
    for (size_t i = 0; arr && i < s->nmissing_drivers; i++)
      if (json_object_array_add(arr, missing_driver_json(&s->missing_drivers[i], ok)) != 0)
        *ok = false;
    if (!arr)
      *ok = false;
    add(root, "missing_drivers", arr, ok);
  }
}

char *p2v_survey_to_json(const struct p2v_survey *s, bool pretty)
{
  bool ok = true;
  struct json_object *root = json_object_new_object();
  if (!root) {
    p2v_error("survey: out of memory writing JSON");
    return NULL;
  }
  add(root, "schema_version", uint_or_null(s->schema_version), &ok);
  add(root, "hostname", string_or_null(s->hostname), &ok);
  add(root, "os", os_json(&s->os, &ok), &ok);
  add(root, "firmware", string_or_null(p2v_survey_firmware_name(s->firmware)), &ok);
  add(root, "secure_boot", tristate(s->secure_boot), &ok);
  add(root, "cpus", cpus_json(&s->cpus, &ok), &ok);
  add(root, "memory_bytes", uint_or_null(s->memory_bytes), &ok);

  struct json_object *disks = json_object_new_array_ext((int)s->ndisks);
  for (size_t i = 0; disks && i < s->ndisks; i++)
    if (json_object_array_add(disks, disk_json(&s->disks[i], &ok)) != 0)
      ok = false;
  add(root, "disks", disks, &ok);
  struct json_object *nics = json_object_new_array_ext((int)s->nnics);
  for (size_t i = 0; nics && i < s->nnics; i++)
    if (json_object_array_add(nics, nic_json(&s->nics[i], &ok)) != 0)
      ok = false;
  add(root, "nics", nics, &ok);
  struct json_object *pci = json_object_new_array_ext((int)s->npci_devices);
  for (size_t i = 0; pci && i < s->npci_devices; i++)
    if (json_object_array_add(pci, pci_device_json(&s->pci_devices[i], &ok)) != 0)
      ok = false;
  add(root, "pci_devices", pci, &ok);
  add_findings(root, s, &ok);
  if (!disks || !nics || !pci)
    ok = false;

  char *text = NULL;
  if (ok) {
    int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
      (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN);
    const char *s_text = json_object_to_json_string_ext(root, flags);
    text = s_text ? strdup(s_text) : NULL;
  }
  json_object_put(root);
  if (!text)
    p2v_error("survey: out of memory writing JSON");
  return text;
}
