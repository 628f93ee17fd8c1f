/* Surveying PCI devices on Linux from /sys/bus/pci/devices, in slot order
 * (what lspci lists).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "survey-internal.h"

#define PCI_DIR "/sys/bus/pci/devices"

static int compare_slots(const void *a, const void *b)
{
  return strcmp(((const struct p2v_survey_pci_device *)a)->slot,
                ((const struct p2v_survey_pci_device *)b)->slot);
}

/* False if the device lacks what every PCI device has. */
static bool describe(struct p2v_survey_pci_device *p, const char *slot)
{
  p->class_code = survey_read_hex(6, PCI_DIR "/%s/class", slot);
  p->ids.vendor_id = survey_read_hex(4, PCI_DIR "/%s/vendor", slot);
  p->ids.device_id = survey_read_hex(4, PCI_DIR "/%s/device", slot);
  p->slot = survey_clean(slot);
  if (!p->class_code || !p->ids.vendor_id || !p->ids.device_id || !p->slot) {
    p2v_warning("survey: PCI device %s: cannot read its class and ids, left out", slot);
    free(p->class_code);
    free(p->ids.vendor_id);
    free(p->ids.device_id);
    free(p->slot);
    memset(p, 0, sizeof *p);
    return false;
  }
  p->ids.subsystem_vendor_id = survey_read_hex(4, PCI_DIR "/%s/subsystem_vendor", slot);
  p->ids.subsystem_device_id = survey_read_hex(4, PCI_DIR "/%s/subsystem_device", slot);
  p->driver = survey_link_name(PCI_DIR "/%s/driver", slot);
  return true;
}

void survey_linux_pci(struct p2v_survey *s)
{
  DIR *dir = opendir(PCI_DIR);
  if (!dir)
    return;                       /* no PCI bus (some VMs, other platforms) */
  size_t capacity = 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    if (s->npci_devices >= P2V_SURVEY_MAX_ITEMS ||
        survey_grow((void **)&s->pci_devices, &capacity, s->npci_devices,
                    sizeof *s->pci_devices) == -1)
      break;
    if (describe(&s->pci_devices[s->npci_devices], e->d_name))
      s->npci_devices++;
  }
  closedir(dir);
  if (s->npci_devices)
    qsort(s->pci_devices, s->npci_devices, sizeof *s->pci_devices, compare_slots);
}
