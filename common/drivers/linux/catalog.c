/* A kernel's module catalog once loaded (linux-catalog-load.c from a
 * package or tree, linux-catalog-json.c from kernel-catalog.json): lookups,
 * matching devices, dependency closures.  Kept apart from the loaders so
 * a program that only reads the JSON (p2v-live) links no archive code.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "linux.h"
#include "log.h"

void lx_module_clear(struct lx_module *m)
{
  free(m->name);
  free(m->relpath);
  free(m->kver);
  lx_strv_clear(&m->depends);
  lx_strv_clear(&m->firmware);
  lx_strv_clear(&m->aliases);
}

void lx_catalog_clear(struct lx_catalog *cat)
{
  for (size_t i = 0; i < cat->nmodules; i++)
    lx_module_clear(&cat->modules[i]);
  free(cat->modules);
  free(cat->aliases);          /* patterns belong to the modules */
  lx_strv_clear(&cat->firmware);
  free(cat->source);
  free(cat->package);
  free(cat->kver);
  memset(cat, 0, sizeof *cat);
}

ssize_t lx_catalog_find_in(const struct lx_catalog *cat, const char *name, const char *kver)
{
  for (size_t i = 0; i < cat->nmodules; i++)
    if (!strcmp(cat->modules[i].name, name) && (!kver || !strcmp(cat->modules[i].kver, kver)))
      return (ssize_t)i;
  return -1;
}

ssize_t lx_catalog_find(const struct lx_catalog *cat, const char *name)
{
  CLEANUP_FREE char *norm = strdup(name);
  if (!norm)
    return -1;
  for (char *c = norm; *c; c++)
    if (*c == '-')
      *c = '_';
  return lx_catalog_find_in(cat, norm, NULL);
}

size_t lx_catalog_match(const struct lx_catalog *cat, const struct pci_device *d,
                        size_t *out, size_t max)
{
  size_t n = 0;
  int score[64];
  if (max > 64)
    max = 64;
  for (size_t i = 0; i < cat->naliases; i++) {
    const struct lx_alias *a = &cat->aliases[i];
    if (!lx_alias_match(a->pattern, d))
      continue;
    int s = lx_alias_specificity(a->pattern);
    size_t j;
    for (j = 0; j < n && out[j] != a->module; j++)
      ;
    if (j < n) {               /* seen: keep its best score */
      if (s <= score[j])
        continue;
      memmove(out + j, out + j + 1, (n - j - 1) * sizeof *out);
      memmove(score + j, score + j + 1, (n - j - 1) * sizeof *score);
      n--;
    } else if (n == max) {
      if (s <= score[n - 1])
        continue;
      n--;
    }
    size_t k = n;              /* insertion keeps best first */
    while (k > 0 && score[k - 1] < s) {
      out[k] = out[k - 1];
      score[k] = score[k - 1];
      k--;
    }
    out[k] = a->module;
    score[k] = s;
    n++;
  }
  return n;
}

bool lx_catalog_has_firmware(const struct lx_catalog *cat, const char *fw)
{
  return lx_strv_has(&cat->firmware, fw);
}

int lx_catalog_closure(const struct lx_catalog *cat, const char *name,
                       struct lx_strv *set, struct lx_strv *missing)
{
  if (lx_strv_has(set, name) || lx_strv_has(missing, name))
    return 0;
  ssize_t i = lx_catalog_find(cat, name);
  if (i == -1 || !cat->modules[i].have_ko)
    return lx_strv_add(missing, name, strlen(name));
  if (lx_strv_add(set, cat->modules[i].name, strlen(cat->modules[i].name)) == -1)
    return -1;
  const struct lx_strv *deps = &cat->modules[i].depends;
  for (size_t j = 0; j < deps->count; j++)
    if (lx_catalog_closure(cat, deps->items[j], set, missing) == -1)
      return -1;
  return 0;
}

const char *lx_firmware_package(const char *fw)
{
  /* Debian's split of linux-firmware, by the firmware's folder or prefix. */
  static const struct { const char *prefix, *package; } table[] = {
    { "bnx2x/", "firmware-bnx2x" }, { "bnx2/", "firmware-bnx2" },
    { "qlogic/", "firmware-qlogic" }, { "ql2", "firmware-qlogic" },
    { "qed/", "firmware-qlogic" }, { "rtl_nic/", "firmware-realtek" },
    { "rtlwifi/", "firmware-realtek" }, { "iwlwifi-", "firmware-iwlwifi" },
    { "amdgpu/", "firmware-amd-graphics" }, { "radeon/", "firmware-amd-graphics" },
    { "cxgb4/", "firmware-misc-nonfree" }, { "mellanox/", "firmware-misc-nonfree" },
    { "i915/", "firmware-misc-nonfree" }, { "nvidia/", "firmware-misc-nonfree" },
    { "brcm/", "firmware-brcm80211" }, { "ath", "firmware-atheros" },
    { "libertas/", "firmware-libertas" }, { "netronome/", "firmware-netronome" },
    { "liquidio/", "firmware-misc-nonfree" }, { "myri10ge", "firmware-myricom" },
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (!strncmp(fw, table[i].prefix, strlen(table[i].prefix)))
      return table[i].package;
  return "firmware-misc-nonfree or firmware-linux-nonfree";
}
