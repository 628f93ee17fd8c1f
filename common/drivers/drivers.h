/* Driver catalogs (common/drivers/, used by p2v-drivers and p2v-live):
 * the PCI devices to check and p2v-drivers' exit codes; the Linux module
 * catalogs are in linux/linux.h, the Windows INF catalogs in
 * windows/windows-catalog.h.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_DRIVERS_H
#define P2V_DRIVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes (docs/p2v-drivers.md). */
enum {
  DRIVERS_EXIT_OK = 0,
  DRIVERS_EXIT_ERROR = 1,      /* unreadable input, broken archive, empty catalog */
  DRIVERS_EXIT_USAGE = 2,      /* bad command line */
  DRIVERS_EXIT_BLOCKERS = 3,   /* check: storage/network controllers without a driver */
};

/* ---- devices.c: the PCI devices to check, from a survey JSON document or
 * the text of `lspci -nn` or `lspci -n -mm` (format detected). ---- */
struct pci_device {
  char slot[32];               /* "0000:00:1f.2", or "" if unknown */
  uint16_t vendor, device;
  uint16_t subvendor, subdevice;   /* 0 when unknown */
  uint32_t class_code;         /* 24-bit: base class, subclass, prog-if */
  bool has_subsystem;
  char *description;           /* vendor/device names when the input had them, or NULL */
  char *bound_driver;          /* from a survey, or NULL */
};

struct pci_device_list {
  struct pci_device *items;
  size_t count;
};

/* Read DEVICES (a file path, or "-" for stdin).  -1 with one clear error
 * ("DEVICES: line 3: not lspci output: ...") if nothing can be understood. */
int pci_devices_load(const char *path, struct pci_device_list *list);
void pci_devices_clear(struct pci_device_list *list);
/* Network (class 02) or storage (class 01) controller: a blocker without driver. */
bool pci_device_is_boot_critical(const struct pci_device *d);
/* "storage", "network", "display", ... from the base class. */
const char *pci_class_kind(uint32_t class_code);

#endif
