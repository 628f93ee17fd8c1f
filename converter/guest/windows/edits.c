/* The registry edits of a Windows conversion, in order (drivers.c does
 * each): the boot disk's driver made boot-start and registered for its
 * device, DevicePath for the copied packages, vendor services disabled.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "guest/windows/steps-internal.h"
#include "log.h"

int gw_registry_convert(struct p2v_guest *gg, const struct p2v_convert_options *o,
                        struct gw_hive *system, struct gw_hive *software,
                        const struct gw_plan *plan, struct p2v_changes *changes)
{
  (void) gg;
  const struct gw_device_plan *dev = &plan->dev;
  int r = dev->boot_package
            ? gw_register_boot_driver(system, &plan->sys, dev->boot_package, dev->boot_model,
                                      changes)
            : gw_make_boot_start(system, &plan->sys, dev->boot_driver, changes);
  if (r == 0 && plan->npackages > 0)
    r = gw_extend_device_path(software, GW_DRIVER_STORE_DIR, changes);
  if (r == 0)
    r = gw_disable_vendor_services(system, &plan->sys, o->vendor_agents_file, changes);
  return r;
}
