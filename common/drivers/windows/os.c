/* Windows versions as virtio-win names its folders, and the NT version
 * numbers INF decorations compare against.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "windows-catalog.h"

static const struct win_os_version versions[] = {
  { "w7",     6, 1, 7601,  "Windows 7" },
  { "2k8R2",  6, 1, 7601,  "Windows Server 2008 R2" },
  { "w8",     6, 2, 9200,  "Windows 8" },
  { "2k12",   6, 2, 9200,  "Windows Server 2012" },
  { "w8.1",   6, 3, 9600,  "Windows 8.1" },
  { "2k12R2", 6, 3, 9600,  "Windows Server 2012 R2" },
  { "w10",    10, 0, 10240, "Windows 10" },
  { "2k16",   10, 0, 14393, "Windows Server 2016" },
  { "2k19",   10, 0, 17763, "Windows Server 2019" },
  { "2k22",   10, 0, 20348, "Windows Server 2022" },
  { "w11",    10, 0, 22000, "Windows 11" },
  { "2k25",   10, 0, 26100, "Windows Server 2025" },
};
#define NVERSIONS (sizeof versions / sizeof versions[0])

/* Other spellings -> folder.  Bare NT numbers mean the client release. */
static const struct { const char *alias, *dir; } aliases[] = {
  { "7", "w7" }, { "win7", "w7" }, { "6.1", "w7" },
  { "2008r2", "2k8R2" }, { "2k8r2", "2k8R2" },
  { "8", "w8" }, { "win8", "w8" }, { "6.2", "w8" },
  { "2012", "2k12" },
  { "8.1", "w8.1" }, { "win8.1", "w8.1" }, { "w81", "w8.1" }, { "6.3", "w8.1" },
  { "2012r2", "2k12R2" },
  { "10", "w10" }, { "win10", "w10" }, { "10.0", "w10" },
  { "2016", "2k16" }, { "2019", "2k19" }, { "2022", "2k22" }, { "2025", "2k25" },
  { "11", "w11" }, { "win11", "w11" },
};

const struct win_os_version *win_os_by_dir(const char *dir)
{
  for (size_t i = 0; i < NVERSIONS; i++)
    if (!strcasecmp(versions[i].dir, dir))
      return &versions[i];
  return NULL;
}

const struct win_os_version *win_os_lookup(const char *version)
{
  const struct win_os_version *v = win_os_by_dir(version);
  if (v)
    return v;
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
    if (!strcasecmp(aliases[i].alias, version))
      return win_os_by_dir(aliases[i].dir);
  /* "10.0.17763": the exact build names the release. */
  unsigned major, minor, build;
  char extra;
  if (sscanf(version, "%u.%u.%u%c", &major, &minor, &build, &extra) == 3)
    for (size_t i = 0; i < NVERSIONS; i++)
      if (versions[i].major == major && versions[i].minor == minor &&
          versions[i].build == build)
        return &versions[i];
  return NULL;
}

const char *win_arch_lookup(const char *arch)
{
  static const struct { const char *alias, *arch; } arches[] = {
    { "amd64", "amd64" }, { "x64", "amd64" }, { "x86_64", "amd64" },
    { "x86", "x86" }, { "i386", "x86" }, { "i686", "x86" },
    { "arm64", "arm64" }, { "aarch64", "arm64" },
  };
  for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++)
    if (!strcasecmp(arches[i].alias, arch))
      return arches[i].arch;
  return NULL;
}

const char *win_os_help(void)
{
  return "w7, 2k8R2, w8, 2k12, w8.1, 2k12R2, w10, 2k16, 2k19, 2k22, w11, 2k25 "
         "(or 2019, win10, 6.3, 10.0.17763 ...)";
}
