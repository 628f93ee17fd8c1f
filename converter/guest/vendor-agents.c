/* The list of hardware-vendor agents to disable (data/vendor-agents),
 * read once for both guest converters: plain lines name Linux units,
 * "windows:NAME" lines Windows services; "# vendor" says whose.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "guest/guest-internal.h"
#include "log.h"

#define WINDOWS_PREFIX "windows:"

/* share/p2v/vendor-agents next to the binary (installed, or the build
 * tree, where CMake copies it), then the usual prefixes. */
static char *default_path(void)
{
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *p;
    if (asprintf(&p, "%s/../share/p2v/vendor-agents", dirname(exe)) >= 0) {
      if (access(p, R_OK) == 0)
        return p;
      free(p);
    }
  }
  static const char *const fixed[] = { "/usr/local/share/p2v/vendor-agents",
                                       "/usr/share/p2v/vendor-agents", NULL };
  for (size_t i = 0; fixed[i]; i++)
    if (access(fixed[i], R_OK) == 0)
      return strdup(fixed[i]);
  return NULL;
}

int p2v_guest_vendor_agents_each(const char *file, bool windows,
                                 int (*fn)(const char *name, const char *vendor, void *opaque),
                                 void *opaque)
{
  CLEANUP_FREE char *found = file ? NULL : default_path();
  const char *path = file ? file : found;
  if (!path) {
    p2v_error("cannot find the list of vendor agents (share/p2v/vendor-agents beside the "
              "binary): reinstall p2v");
    return -1;
  }
  CLEANUP_FCLOSE FILE *fp = fopen(path, "re");
  if (!fp) {
    p2v_error("cannot open the list of vendor agents %s: %m", path);
    return -1;
  }
  char line[512];
  while (fgets(line, sizeof line, fp)) {
    char *p = line + strspn(line, " \t");
    if (*p == '#' || *p == '\n' || *p == '\r' || *p == '\0')
      continue;
    bool windows_line = strncmp(p, WINDOWS_PREFIX, strlen(WINDOWS_PREFIX)) == 0;
    if (windows_line != windows)
      continue;
    if (windows_line)
      p += strlen(WINDOWS_PREFIX);
    size_t n = strcspn(p, " \t#\r\n");
    char *comment = strchr(p + n, '#');
    p[n] = '\0';
    const char *vendor = "hardware vendor agent";
    if (comment) {
      comment++;
      comment += strspn(comment, " \t");
      comment[strcspn(comment, "\r\n")] = '\0';
      if (*comment)
        vendor = comment;
    }
    if (fn(p, vendor, opaque) == -1)
      return -1;
  }
  if (ferror(fp)) {
    p2v_error("cannot read the list of vendor agents %s: %m", path);
    return -1;
  }
  return 0;
}
