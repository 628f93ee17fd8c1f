/* Matching devices against modules.alias patterns, as kmod does: the
 * device's modalias string against each pattern with fnmatch(3).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "linux.h"

void lx_pci_modalias(const struct pci_device *d, char *buf, size_t len)
{
  /* The kernel's format (drivers/pci/pci-driver.c): upper-case hex. */
  snprintf(buf, len, "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X",
           (unsigned)d->vendor, (unsigned)d->device,
           (unsigned)d->subvendor, (unsigned)d->subdevice,
           (unsigned)(d->class_code >> 16) & 0xff, (unsigned)(d->class_code >> 8) & 0xff,
           (unsigned)d->class_code & 0xff);
}

bool lx_alias_match(const char *pattern, const struct pci_device *d)
{
  if (strncmp(pattern, "pci:", 4) != 0)
    return false;
  char alias[96];
  lx_pci_modalias(d, alias, sizeof alias);
  if (d->has_subsystem)
    return fnmatch(pattern, alias, 0) == 0;

  /* Subsystem ids unknown (lspci -nn gives none): whatever the pattern
   * asks between "sv" and "bc" is taken as matching.  Markers are lower
   * case and the hex digits upper case, so "sv" cannot be a number. */
  const char *sv = strstr(pattern, "sv");
  const char *bc = sv ? strstr(sv, "bc") : NULL;
  if (!bc)
    return fnmatch(pattern, alias, 0) == 0;
  size_t head = (size_t)(sv - pattern), tail = strlen(bc);
  char relaxed[512];
  if (head + 6 + tail + 1 > sizeof relaxed)
    return false;              /* no real alias is this long */
  memcpy(relaxed, pattern, head);
  memcpy(relaxed + head, "sv*sd*", 6);
  memcpy(relaxed + head + 6, bc, tail + 1);
  return fnmatch(relaxed, alias, 0) == 0;
}

int lx_alias_specificity(const char *pattern)
{
  int score = 0;
  for (const char *p = pattern; *p; p++)
    score += (*p == '*' || *p == '?' || *p == '[') ? -16 : 1;
  return score;
}

static bool is_space(char c) { return c == ' ' || c == '\t'; }

bool lx_alias_parse_line(const char *line, size_t len, const char **pattern, size_t *plen,
                         const char **module, size_t *mlen)
{
  const char *p = line, *end = line + len;
  if (len < 6 || memcmp(p, "alias", 5) != 0 || !is_space(p[5]))
    return false;
  p += 5;
  while (p < end && is_space(*p))
    p++;
  *pattern = p;
  while (p < end && !is_space(*p))
    p++;
  *plen = (size_t)(p - *pattern);
  while (p < end && is_space(*p))
    p++;
  *module = p;
  while (p < end && !is_space(*p) && *p != '\r')
    p++;
  *mlen = (size_t)(p - *module);
  return *plen > 0 && *mlen > 0;
}
