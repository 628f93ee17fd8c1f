/* The hardware check at boot: every PCI storage or network controller that
 * no driver claimed, with the module the kernel catalog says it needs,
 * whether this image has that module and which of its firmware is missing.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "linux.h"
#include "live.h"
#include "log.h"

/* A "0x8086" style sysfs attribute; false if unreadable or malformed. */
static bool read_hex(const char *dir, const char *name, unsigned long max, unsigned long *out)
{
  char path[PATH_MAX], buf[32];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
    return false;
  CLEANUP_FCLOSE FILE *f = fopen(path, "re");
  if (!f || !fgets(buf, sizeof buf, f))
    return false;
  char *end;
  unsigned long v = strtoul(buf, &end, 16);
  if (end == buf || (*end && *end != '\n') || v > max)
    return false;
  *out = v;
  return true;
}

static bool exists(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool exists(const char *fmt, ...)
{
  char path[PATH_MAX];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(path, sizeof path, fmt, ap);
  va_end(ap);
  return n > 0 && n < (int)sizeof path && access(path, F_OK) == 0;
}

/* The module file in the image, as the catalog names it or with another
 * compression (an image may store them differently from the package). */
static bool module_in_image(const struct live_roots *roots, const char *kver,
                            const struct lx_module *m)
{
  if (!m->relpath)
    return false;
  if (exists("%s/%s/%s", roots->modules, kver, m->relpath))
    return true;
  const char *ko = strstr(m->relpath, ".ko");
  if (!ko)
    return false;
  int stem = (int)(ko - m->relpath);
  static const char *const exts[] = { ".ko", ".ko.xz", ".ko.zst", ".ko.gz" };
  for (size_t i = 0; i < 4; i++)
    if (exists("%s/%s/%.*s%s", roots->modules, kver, stem, m->relpath, exts[i]))
      return true;
  return false;
}

static bool firmware_present(const struct live_roots *roots, const char *fw)
{
  return exists("%s/%s", roots->firmware, fw) || exists("%s/%s.xz", roots->firmware, fw) ||
    exists("%s/%s.zst", roots->firmware, fw);
}

static int add_missing_firmware(struct live_hw_finding *f, const char *fw)
{
  char **grown = realloc(f->missing_firmware, (f->nmissing_firmware + 1) * sizeof *grown);
  if (!grown)
    return -1;
  f->missing_firmware = grown;
  if (!(grown[f->nmissing_firmware] = strdup(fw)))
    return -1;
  f->nmissing_firmware++;
  return 0;
}

/* Fill in the module side of a finding from the catalog. */
static int explain(const struct live_roots *roots, const struct lx_catalog *cat,
                   struct live_hw_finding *f)
{
  size_t match[4];
  if (lx_catalog_match(cat, &f->dev, match, 4) == 0)
    return 0;
  const struct lx_module *m = &cat->modules[match[0]];
  if (!(f->module = strdup(m->name)))
    return -1;
  f->module_in_image = module_in_image(roots, cat->kver, m);
  for (size_t i = 0; i < m->firmware.count; i++)
    if (!firmware_present(roots, m->firmware.items[i]) &&
        add_missing_firmware(f, m->firmware.items[i]) == -1)
      return -1;
  return 0;
}

static int compare_slots(const void *a, const void *b)
{
  return strcmp(((const struct live_hw_finding *)a)->slot, ((const struct live_hw_finding *)b)->slot);
}

int live_hwcheck_run(const struct live_roots *roots, struct live_hwcheck *hw)
{
  memset(hw, 0, sizeof *hw);
  struct lx_catalog cat;
  if (access(roots->catalog, F_OK) != 0)
    p2v_warning("no kernel catalog at %s: missing drivers cannot be named", roots->catalog);
  else if (!(hw->have_catalog = lx_catalog_load_json(roots->catalog, &cat) == 0))
    p2v_warning("without a usable kernel catalog, missing drivers cannot be named");
  else if (!(hw->kernel = strdup(cat.kver)))
    goto oom;

  char dirpath[PATH_MAX];
  snprintf(dirpath, sizeof dirpath, "%s/bus/pci/devices", roots->sysfs);
  DIR *dir = opendir(dirpath);
  if (!dir) {
    p2v_warning("cannot list PCI devices in %s: %m", dirpath);
    goto done;
  }
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof hw->findings->slot)
      continue;
    char dev[PATH_MAX];
    if (snprintf(dev, sizeof dev, "%s/%s", dirpath, e->d_name) >= (int)sizeof dev)
      continue;
    unsigned long cls, vendor, device, sv = 0, sd = 0;
    if (!read_hex(dev, "class", 0xffffff, &cls) || !read_hex(dev, "vendor", 0xffff, &vendor) ||
        !read_hex(dev, "device", 0xffff, &device))
      continue;
    unsigned base = (unsigned)(cls >> 16);
    if (base != 0x01 && base != 0x02)
      continue;
    if (base == 0x01)
      hw->nstorage++;
    else
      hw->nnetwork++;
    if (exists("%s/driver", dev))
      continue;
    struct live_hw_finding *grown = realloc(hw->findings, (hw->nfindings + 1) * sizeof *grown);
    if (!grown) {
      closedir(dir);
      goto oom;
    }
    hw->findings = grown;
    struct live_hw_finding *f = &hw->findings[hw->nfindings++];
    memset(f, 0, sizeof *f);
    memcpy(f->slot, e->d_name, strlen(e->d_name) + 1);      /* length checked above */
    memcpy(f->dev.slot, e->d_name, strlen(e->d_name) + 1);
    f->dev.vendor = (uint16_t)vendor;
    f->dev.device = (uint16_t)device;
    f->dev.class_code = (uint32_t)cls;
    f->dev.has_subsystem = read_hex(dev, "subsystem_vendor", 0xffff, &sv) &&
      read_hex(dev, "subsystem_device", 0xffff, &sd);
    f->dev.subvendor = (uint16_t)sv;
    f->dev.subdevice = (uint16_t)sd;
    if (hw->have_catalog && explain(roots, &cat, f) == -1) {
      closedir(dir);
      goto oom;
    }
  }
  closedir(dir);
  if (hw->nfindings > 1)
    qsort(hw->findings, hw->nfindings, sizeof *hw->findings, compare_slots);
done:
  if (hw->have_catalog)
    lx_catalog_clear(&cat);
  return 0;
oom:
  p2v_error("out of memory");
  if (hw->have_catalog)
    lx_catalog_clear(&cat);
  live_hwcheck_clear(hw);
  return -1;
}

const char *live_hw_kind(const struct live_hw_finding *f)
{
  return (f->dev.class_code >> 16) == 0x02 ? "network" : "storage";
}

void live_hwcheck_print(const struct live_hwcheck *hw, FILE *fp)
{
  fprintf(fp, "hardware check: %u storage and %u network controller(s), %zu without a driver\n",
          hw->nstorage, hw->nnetwork, hw->nfindings);
  for (size_t i = 0; i < hw->nfindings; i++) {
    const struct live_hw_finding *f = &hw->findings[i];
    fprintf(fp, "  %s %s controller %04x:%04x has no driver: ", f->slot, live_hw_kind(f),
            f->dev.vendor, f->dev.device);
    if (f->module)
      fprintf(fp, "needs module %s (%s)\n", f->module,
              f->module_in_image ? "in this image, but it did not load"
              : "not in this image: add it with p2v-drivers add");
    else if (hw->have_catalog)
      fprintf(fp, "no module of kernel %s knows this device\n", hw->kernel);
    else
      fprintf(fp, "the module is unknown (no kernel catalog)\n");
    for (size_t j = 0; j < f->nmissing_firmware; j++)
      fprintf(fp, "    missing firmware %s (package %s)\n", f->missing_firmware[j],
              lx_firmware_package(f->missing_firmware[j]));
  }
}

void live_hwcheck_clear(struct live_hwcheck *hw)
{
  for (size_t i = 0; i < hw->nfindings; i++) {
    free(hw->findings[i].module);
    for (size_t j = 0; j < hw->findings[i].nmissing_firmware; j++)
      free(hw->findings[i].missing_firmware[j]);
    free(hw->findings[i].missing_firmware);
  }
  free(hw->findings);
  free(hw->kernel);
  memset(hw, 0, sizeof *hw);
}
