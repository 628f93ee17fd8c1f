/* Which driver package Windows would install for a PCI device, ranked the
 * way Windows ranks the device's own ID list (most specific first):
 *   VEN&DEV&SUBSYS&REV  VEN&DEV&SUBSYS  VEN&DEV&REV  VEN&DEV  VEN&DEV&CC
 *   VEN&CC  VEN  CC
 * Surveys carry no revision, so &REV_xx is taken to match (documented).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "windows-catalog.h"

static bool hex_value(const char *s, size_t n, uint32_t *out)
{
  uint32_t v = 0;
  if (n == 0 || n > 8)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0)
      return false;
    v = v << 4 | (uint32_t) d;
  }
  *out = v;
  return true;
}

int win_id_specificity(const char *id, const struct pci_device *d)
{
  if (strncmp(id, "PCI\\", 4) != 0)
    return 0;
  bool ven = false, dev = false, subsys = false, rev = false, cc = false;
  const char *p = id + 4;
  while (*p) {
    size_t n = strcspn(p, "&");
    const char *us = memchr(p, '_', n);
    if (!us)
      return 0;
    size_t klen = us - p, vlen = n - klen - 1;
    uint32_t v;
    if (!hex_value(us + 1, vlen, &v))
      return 0;
    if (klen == 3 && !strncmp(p, "VEN", 3) && vlen == 4 && !ven) {
      if (v != d->vendor)
        return 0;
      ven = true;
    } else if (klen == 3 && !strncmp(p, "DEV", 3) && vlen == 4 && !dev) {
      if (v != d->device)
        return 0;
      dev = true;
    } else if (klen == 6 && !strncmp(p, "SUBSYS", 6) && vlen == 8 && !subsys) {
      if (!d->has_subsystem || v != ((uint32_t) d->subdevice << 16 | d->subvendor))
        return 0;
      subsys = true;
    } else if (klen == 3 && !strncmp(p, "REV", 3) && vlen == 2 && !rev) {
      rev = true;              /* unknown revision: assumed to match */
    } else if (klen == 2 && !strncmp(p, "CC", 2) && (vlen == 4 || vlen == 6) && !cc) {
      if (v != (vlen == 4 ? d->class_code >> 8 : d->class_code))
        return 0;
      cc = true;
    } else
      return 0;
    p += n + (p[n] == '&');
  }
  if (ven && dev && subsys && !cc)
    return rev ? 9 : 8;
  if (ven && dev && !subsys && !cc)
    return rev ? 7 : 6;
  if (ven && dev && cc && !subsys && !rev)
    return 5;
  if (ven && cc && !dev && !subsys && !rev)
    return 4;
  if (ven && !dev && !subsys && !rev && !cc)
    return 2;
  if (cc && !ven && !dev && !subsys && !rev)
    return 1;
  return 0;
}

static int compare_version(const struct win_os_version *a, const struct win_os_version *b)
{
  if (a->major != b->major)
    return a->major < b->major ? -1 : 1;
  if (a->minor != b->minor)
    return a->minor < b->minor ? -1 : 1;
  return (a->build > b->build) - (a->build < b->build);
}

/* 3: virtio-win folder for exactly the target; 2: not in that layout;
 * 1: folder for an older Windows; 0: folder for a newer one (unusable). */
static int layout_fit(const struct win_package *p, const struct win_os_version *target,
                      const char *arch)
{
  if (!p->layout_os)
    return 2;
  if (p->layout_arch && strcmp(p->layout_arch, arch) != 0)
    return 0;
  const struct win_os_version *v = win_os_by_dir(p->layout_os);
  if (!v || !target)
    return 2;
  if (v == target)
    return 3;
  return compare_version(v, target) <= 0 ? 1 : 0;
}

struct win_match win_match_device(const struct win_catalog *cat, const struct pci_device *d,
                                  const struct win_os_version *target, const char *arch)
{
  struct win_match best = { 0 };
  int best_fit = 0;
  const struct win_os_version *best_os = NULL;

  for (size_t i = 0; i < cat->npackages; i++) {
    const struct win_package *p = &cat->packages[i];
    int fit = layout_fit(p, target, arch);
    if (fit == 0)
      continue;
    const struct win_os_version *pos = p->layout_os ? win_os_by_dir(p->layout_os) : NULL;
    for (size_t m = 0; m < p->driver.nmodels; m++) {
      const struct inf_model *model = &p->driver.models[m];
      for (size_t k = 0; k < model->nids; k++) {
        int s = win_id_specificity(model->ids[k], d);
        if (s == 0)
          continue;
        bool better = s > best.specificity ||
          (s == best.specificity && fit > best_fit) ||
          (s == best.specificity && fit == best_fit && pos && best_os &&
           compare_version(pos, best_os) > 0);
        if (better) {
          best = (struct win_match) { p, model, model->ids[k], s };
          best_fit = fit;
          best_os = pos;
        }
      }
    }
  }
  return best;
}
