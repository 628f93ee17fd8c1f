/* Facts about the Windows installation, read from its SYSTEM and SOFTWARE
 * hives: which control set boots (the only one the conversion writes),
 * the version (which drivers, which way to register them), the clock and
 * Fast Startup.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "guest/windows/windows-internal.h"
#include "log.h"

#define CURRENT_VERSION_KEY "Microsoft\\Windows NT\\CurrentVersion"

/* Select\NAME: a control set number, 1 to 999 (ControlSet001...). */
static int read_select(struct gw_hive *system, const char *name, unsigned *out)
{
  uint32_t v;
  int r = gw_reg_get_dword(system, "Select", name, &v);
  if (r == -1)
    return -1;
  if (r == 0) {
    p2v_error("cannot find Select\\%s in the SYSTEM hive: not a Windows SYSTEM hive, "
              "or a damaged one", name);
    return -1;
  }
  if (v < 1 || v > 999) {
    p2v_error("cannot use Select\\%s=%u of the SYSTEM hive: not a control set number",
              name, v);
    return -1;
  }
  *out = v;
  return 0;
}

/* A decimal number at the start of S (no sign, at most 9 digits); -1 when none. */
static long leading_number(const char *s, const char **end)
{
  long v = 0;
  size_t n = 0;
  while (s[n] >= '0' && s[n] <= '9' && n < 9)
    v = v * 10 + (s[n++] - '0');
  if (end)
    *end = s + n;
  return n ? v : -1;
}

/* A value that is 1 when set: a REG_DWORD, or the REG_QWORD some guides
 * tell people to use for RealTimeIsUniversal. */
static int read_flag(struct gw_hive *h, const char *key, const char *name, bool *flag)
{
  CLEANUP_FREE uint8_t *d = NULL;
  size_t len;
  int r = gw_reg_get_binary(h, key, name, &d, &len);
  if (r <= 0) {
    *flag = false;
    return r;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < len && i < 8; i++)
    v |= (uint64_t)d[i] << (8 * i);
  *flag = (len == 4 || len == 8) && v == 1;
  return 1;
}

static int read_version(struct gw_hive *software, struct gw_system *out)
{
  const char *k = CURRENT_VERSION_KEY;
  if (gw_reg_key_exists(software, k) != 1) {
    p2v_error("cannot find %s in the SOFTWARE hive: not a Windows SOFTWARE hive, "
              "or a damaged one", k);
    return -1;
  }
  if (gw_reg_get_string(software, k, "ProductName", &out->product_name) == -1 ||
      gw_reg_get_string(software, k, "SystemRoot", &out->system_root) == -1)
    return -1;
  /* Windows 10 and later keep "6.3" in CurrentVersion for old programs;
   * the real numbers are DWORDs beside it. */
  uint32_t major, minor;
  int rmaj = gw_reg_get_dword(software, k, "CurrentMajorVersionNumber", &major);
  int rmin = gw_reg_get_dword(software, k, "CurrentMinorVersionNumber", &minor);
  if (rmaj == -1 || rmin == -1)
    return -1;
  if (rmaj == 1 && rmin == 1) {
    out->major = major;
    out->minor = minor;
  } else {
    CLEANUP_FREE char *version = NULL;
    if (gw_reg_get_string(software, k, "CurrentVersion", &version) == -1)
      return -1;
    const char *dot;
    long ma = version ? leading_number(version, &dot) : -1;
    long mi = ma >= 0 && *dot == '.' ? leading_number(dot + 1, NULL) : -1;
    if (ma < 0 || mi < 0) {
      p2v_error("cannot read the Windows version from %s\\CurrentVersion in the SOFTWARE "
                "hive: \"%s\" is not MAJOR.MINOR", k, version ? version : "(absent)");
      return -1;
    }
    out->major = (unsigned)ma;
    out->minor = (unsigned)mi;
  }
  CLEANUP_FREE char *build = NULL;
  if (gw_reg_get_string(software, k, "CurrentBuildNumber", &build) == -1)
    return -1;
  if (!build && gw_reg_get_string(software, k, "CurrentBuild", &build) == -1)
    return -1;
  long b = build ? leading_number(build, NULL) : -1;
  out->build = b >= 0 ? (unsigned)b : 0;
  return 0;
}

int gw_system_read(struct gw_hive *system, struct gw_hive *software, struct gw_system *out)
{
  memset(out, 0, sizeof *out);
  if (read_select(system, "Current", &out->current) == -1 ||
      read_select(system, "Default", &out->default_set) == -1)
    goto fail;
  snprintf(out->control_set, sizeof out->control_set, "ControlSet%03u", out->current);
  int r = gw_reg_key_exists(system, out->control_set);
  if (r == -1)
    goto fail;
  if (r == 0) {
    p2v_error("cannot find %s in the SYSTEM hive, which Select\\Current names: "
              "a damaged registry", out->control_set);
    goto fail;
  }
  r = gw_reg_key_exists(system, "DriverDatabase");
  if (r == -1)
    goto fail;
  out->has_driver_database = r == 1;

  char key[128];
  snprintf(key, sizeof key, "%s\\Control\\TimeZoneInformation", out->control_set);
  if (read_flag(system, key, "RealTimeIsUniversal", &out->real_time_is_universal) == -1)
    goto fail;
  snprintf(key, sizeof key, "%s\\Control\\Session Manager\\Power", out->control_set);
  if (read_flag(system, key, "HiberbootEnabled", &out->fast_startup) == -1)
    goto fail;

  if (software && read_version(software, out) == -1)
    goto fail;
  return 0;
fail:
  gw_system_clear(out);
  return -1;
}

void gw_system_clear(struct gw_system *s)
{
  free(s->product_name);
  free(s->system_root);
  memset(s, 0, sizeof *s);
}
