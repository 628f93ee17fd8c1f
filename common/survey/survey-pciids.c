/* Names for PCI devices: the class name from the PCI base class codes
 * (always), better class, vendor and device names from the pci.ids
 * database when the machine has one.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "survey-internal.h"

/* The base classes the PCI Code and ID Assignment specification defines. */
static const char *base_class_name(unsigned base)
{
  static const char *const names[] = {
    "Unclassified device", "Mass storage controller", "Network controller",
    "Display controller", "Multimedia controller", "Memory controller", "Bridge",
    "Communication controller", "Generic system peripheral", "Input device controller",
    "Docking station", "Processor", "Serial bus controller", "Wireless controller",
    "Intelligent controller", "Satellite communications controller",
    "Encryption controller", "Signal processing controller", "Processing accelerators",
    "Non-essential instrumentation",
  };
  if (base < sizeof names / sizeof *names)
    return names[base];
  return base == 0x40 ? "Coprocessor" : base == 0xff ? "Unassigned class" : NULL;
}

/* Exactly n hex digits at s, followed by white space; -1 otherwise. */
static long hex_field(const char *s, size_t n)
{
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
      c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return s[n] == ' ' || s[n] == '\t' ? v : -1;
}

static long id_of(const char *hex)
{
  return hex ? strtol(hex, NULL, 16) : -1;
}

static void set_name(char **field, const char *name)
{
  char *copy = survey_clean(name);
  if (copy) {
    free(*field);
    *field = copy;
  }
}

/* One pass over pci.ids: "vvvv  vendor", "\tdddd  device", later
 * "C cc  class" and "\tss  subclass"; deeper levels are skipped. */
static void read_pci_ids(struct p2v_survey *s, FILE *fp)
{
  CLEANUP_FREE char *line = NULL;
  size_t size = 0;
  long vendor = -1, base = -1;
  bool classes = false;
  ssize_t len;
  while ((len = getline(&line, &size, fp)) != -1) {
    line[strcspn(line, "\n")] = '\0';
    if (line[0] == '#' || line[0] == '\0' || (line[0] == '\t' && line[1] == '\t'))
      continue;
    if (strncmp(line, "C ", 2) == 0) {
      classes = true;
      vendor = -1;
      base = hex_field(line + 2, 2);
      for (size_t i = 0; base >= 0 && i < s->npci_devices; i++)
        if (id_of(s->pci_devices[i].class_code) >> 16 == base)
          set_name(&s->pci_devices[i].class_name, line + 6);
    } else if (line[0] != '\t' && !classes) {
      vendor = hex_field(line, 4);
      for (size_t i = 0; vendor >= 0 && i < s->npci_devices; i++)
        if (id_of(s->pci_devices[i].ids.vendor_id) == vendor)
          set_name(&s->pci_devices[i].vendor_name, line + 6);
    } else if (line[0] == '\t' && classes && base >= 0) {
      long sub = hex_field(line + 1, 2);
      for (size_t i = 0; sub >= 0 && i < s->npci_devices; i++)
        if (id_of(s->pci_devices[i].class_code) >> 8 == (base << 8 | sub))
          set_name(&s->pci_devices[i].class_name, line + 5);
    } else if (line[0] == '\t' && vendor >= 0) {
      long device = hex_field(line + 1, 4);
      for (size_t i = 0; device >= 0 && i < s->npci_devices; i++)
        if (id_of(s->pci_devices[i].ids.vendor_id) == vendor &&
            id_of(s->pci_devices[i].ids.device_id) == device)
          set_name(&s->pci_devices[i].device_name, line + 7);
    }
  }
}

void survey_pci_names(struct p2v_survey *s)
{
  for (size_t i = 0; i < s->npci_devices; i++) {
    const char *name = base_class_name((unsigned)(id_of(s->pci_devices[i].class_code) >> 16));
    if (name && !s->pci_devices[i].class_name)
      s->pci_devices[i].class_name = strdup(name);
  }
  static const char *const paths[] = {
    "/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids", NULL,
  };
  for (size_t i = 0; s->npci_devices && paths[i]; i++) {
    FILE *fp = fopen(paths[i], "re");
    if (fp) {
      CLEANUP_FCLOSE FILE *f = fp;
      read_pci_ids(s, f);
      return;
    }
  }
}
