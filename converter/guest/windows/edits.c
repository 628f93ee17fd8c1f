/* The registry edits of a Windows conversion, in order (drivers.c does
 * each): the boot disk's driver, DevicePath, vendor services.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "log.h"
#include "guest/windows/steps-internal.h"

int gw_registry_convert(struct p2v_guest *gg, const struct p2v_convert_options *o,
                        struct gw_hive *system, struct gw_hive *software,
                        const struct gw_plan *plan, struct p2v_changes *changes)
{
  (void) gg; (void) o; (void) system; (void) software; (void) plan; (void) changes;
  return 0;
}
