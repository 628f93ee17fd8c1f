/* The survey model: names and freeing.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "survey-internal.h"

const char *p2v_survey_firmware_name(enum p2v_firmware firmware)
{
  switch (firmware) {
  case P2V_FIRMWARE_BIOS: return "bios";
  case P2V_FIRMWARE_UEFI: return "uefi";
  default: return NULL;
  }
}

const char *p2v_survey_os_family_name(enum p2v_os_family family)
{
  switch (family) {
  case P2V_OS_LINUX: return "linux";
  case P2V_OS_WINDOWS: return "windows";
  default: return NULL;
  }
}

static void free_pci_ids(struct p2v_survey_pci_ids *ids)
{
  free(ids->vendor_id);
  free(ids->device_id);
  free(ids->subsystem_vendor_id);
  free(ids->subsystem_device_id);
}

void survey_clear_disk(struct p2v_survey_disk *disk)
{
  free(disk->name);
  free(disk->path);
  free(disk->model);
  free(disk->vendor);
  free(disk->serial);
  free(disk->bus);
  free(disk->table_type);
  for (size_t i = 0; i < disk->npartitions; i++) {
    free(disk->partitions[i].filesystem);
    free(disk->partitions[i].label);
  }
  free(disk->partitions);
  memset(disk, 0, sizeof *disk);
}

static void free_nic(struct p2v_survey_nic *nic)
{
  free(nic->name);
  free(nic->mac);
  free(nic->driver);
  free(nic->pci_slot);
  free_pci_ids(&nic->pci);
  for (size_t i = 0; i < nic->naddresses; i++)
    free(nic->addresses[i].address);
  free(nic->addresses);
}

static void free_pci_device(struct p2v_survey_pci_device *dev)
{
  free(dev->slot);
  free(dev->class_code);
  free(dev->class_name);
  free_pci_ids(&dev->ids);
  free(dev->vendor_name);
  free(dev->device_name);
  free(dev->driver);
}

static void free_missing_driver(struct p2v_survey_missing_driver *m)
{
  free(m->slot);
  free(m->class_code);
  free(m->vendor_id);
  free(m->device_id);
  free(m->module);
  for (size_t i = 0; i < m->nmissing_firmware; i++)
    free(m->missing_firmware[i]);
  free(m->missing_firmware);
}

int p2v_survey_add_problem(struct p2v_survey *survey, const char *code, const char *message)
{
  struct p2v_survey_problem *grown =
    realloc(survey->problems, (survey->nproblems + 1) * sizeof *grown);
  if (!grown)
    return -1;
  survey->problems = grown;
  char *c = strdup(code), *m = strdup(message);
  if (!c || !m) {
    free(c);
    free(m);
    return -1;
  }
  grown[survey->nproblems++] = (struct p2v_survey_problem){ c, m };
  return 0;
}

/* Also frees half-built surveys: arrays are zeroed when allocated and their
 * counts set at once. */
void p2v_survey_free(struct p2v_survey *survey)
{
  if (!survey)
    return;
  free(survey->hostname);
  free(survey->os.id);
  free(survey->os.name);
  free(survey->os.version);
  free(survey->os.kernel);
  free(survey->os.arch);
  free(survey->cpus.model);
  for (size_t i = 0; i < survey->ndisks; i++)
    survey_clear_disk(&survey->disks[i]);
  free(survey->disks);
  for (size_t i = 0; i < survey->nnics; i++)
    free_nic(&survey->nics[i]);
  free(survey->nics);
  for (size_t i = 0; i < survey->npci_devices; i++)
    free_pci_device(&survey->pci_devices[i]);
  free(survey->pci_devices);
  for (size_t i = 0; i < survey->nproblems; i++) {
    free(survey->problems[i].code);
    free(survey->problems[i].message);
  }
  free(survey->problems);
  for (size_t i = 0; i < survey->nmissing_drivers; i++)
    free_missing_driver(&survey->missing_drivers[i]);
  free(survey->missing_drivers);
  free(survey);
}
