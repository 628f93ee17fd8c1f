/* p2v-drivers add --image IN --from SOURCE (--devices D | --module NAME...) --out OUT:
 * appends one cpio archive to the initramfs with the modules (and their
 * dependencies and firmware) and depmod's fresh indexes (modules.dep,
 * modules.dep.bin, modules.alias.bin ...) covering old and new modules.
 * The kernel unpacks concatenated archives in order, so the new files
 * replace the old ones.  On an ISO image, the initramfs inside it is
 * extended that way and the image rewritten (linux-iso.c).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "commands.h"
#include "file-io.h"
#include "linux.h"
#include "log.h"

struct add {
  const struct lx_catalog *img, *src;
  struct lx_strv modules;      /* names to add */
  struct lx_strv wanted;       /* source paths (no usr/) to copy */
  struct lx_strv what;         /* for each wanted path, what it is: "module e1000e" */
  struct lx_strv found;        /* of those, the ones seen */
  struct lx_strv dirs;         /* paths the image has or the segment made */
  struct lx_buf seg;
};

static const char *strip_usr(const char *p) { return strncmp(p, "usr/", 4) ? p : p + 4; }

/* A directory entry only for what neither the image nor the segment has:
 * the kernel replaces an entry of another type, so "lib" over a merged-/usr
 * image's lib -> usr/lib symlink would hide every module the image has. */
static int add_dirs(struct add *a, const char *path)
{
  for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
    CLEANUP_FREE char *dir = strndup(path, (size_t)(s - path));
    if (!dir)
      return -1;
    if (lx_strv_has(&a->dirs, dir))
      continue;
    if (lx_strv_add(&a->dirs, dir, strlen(dir)) == -1 ||
        lx_cpio_add(&a->seg, dir, S_IFDIR | 0755, NULL, 0) == -1)
      return -1;
  }
  return 0;
}

static int add_file(struct add *a, const char *path, const void *data, size_t size)
{
  if (add_dirs(a, path) == -1)
    return -1;
  return lx_cpio_add(&a->seg, path, S_IFREG | 0644, data, size);
}

static bool want(void *ctx, const char *path)
{
  struct add *a = ctx;
  return lx_strv_has(&a->wanted, strip_usr(path));
}

static int visit(void *ctx, const struct lx_file *f)
{
  struct add *a = ctx;
  const char *p = strip_usr(f->path);
  if (!f->data || !S_ISREG(f->mode) || lx_strv_has(&a->found, p))
    return 0;
  if (lx_strv_add(&a->found, p, strlen(p)) == -1)
    return -1;
  return add_file(a, p, f->data, f->size);
}

static bool want_none(void *ctx, const char *path)
{
  (void)ctx; (void)path;
  return false;
}

static int note_image_path(void *ctx, const struct lx_file *f)
{
  struct add *a = ctx;
  return lx_strv_add(&a->dirs, f->path, strlen(f->path));
}

/* depmod's outputs, modules.dep.bin and the rest, into the segment. */
static int emit(void *ctx, const char *path, const void *data, size_t size)
{
  return add_file(ctx, path, data, size);
}

/* Does the image's own driver for a device lack a dependency, or every
 * firmware file it may load?  The same test as check's (linux-check.c). */
static bool image_driver_incomplete(const struct lx_catalog *img, const char *module)
{
  struct lx_strv set = { 0 }, missing = { 0 };
  bool fw_listed = false, fw_present = false;
  lx_catalog_closure(img, module, &set, &missing);
  for (size_t i = 0; i < set.count; i++) {
    const struct lx_module *m = &img->modules[lx_catalog_find(img, set.items[i])];
    for (size_t j = 0; j < m->firmware.count; j++) {
      fw_listed = true;
      fw_present |= lx_catalog_has_firmware(img, m->firmware.items[j]);
    }
  }
  bool incomplete = missing.count > 0 || (fw_listed && !fw_present);
  lx_strv_clear(&set);
  lx_strv_clear(&missing);
  return incomplete;
}

/* The module to add for a device, or NULL when the image drives it fully
 * or SOURCE knows no driver for it.  A module the image has but cannot
 * load (a dependency or all its firmware missing) is completed. */
static const char *device_root(const struct add *a, const struct pci_device *dev)
{
  size_t hits[8], n = lx_catalog_match(a->img, dev, hits, 8);
  for (size_t j = 0; j < n; j++) {
    const struct lx_module *m = &a->img->modules[hits[j]];
    if (m->have_ko)
      return image_driver_incomplete(a->img, m->name) ? m->name : NULL;
  }
  if (lx_catalog_match(a->src, dev, hits, 1) == 0)
    return NULL;
  return a->src->modules[hits[0]].name;
}

/* Queue a source path to copy, with the line to print once it is copied;
 * firmware shared by two modules is queued once. */
static int want_path(struct add *a, const char *path, const char *what)
{
  if (lx_strv_has(&a->wanted, path))
    return 0;
  return lx_strv_add(&a->wanted, path, strlen(path)) == -1 ||
         lx_strv_add(&a->what, what, strlen(what)) == -1 ? -1 : 0;
}

/* The firmware files of module m that the image lacks and SOURCE has. */
static int plan_firmware(struct add *a, const struct lx_module *m)
{
  for (size_t j = 0; j < m->firmware.count; j++) {
    const char *fw = m->firmware.items[j];
    if (lx_catalog_has_firmware(a->img, fw))
      continue;
    if (!lx_catalog_has_firmware(a->src, fw)) {
      p2v_warning("firmware %s for module %s is not in %s (package %s)", fw, m->name,
                  a->src->source, lx_firmware_package(fw));
      continue;
    }
    static const char *const exts[] = { "", ".xz", ".zst" };
    for (size_t k = 0; k < 3; k++) {
      CLEANUP_FREE char *fp = NULL, *what = NULL;
      if (asprintf(&fp, "lib/firmware/%s%s", fw, exts[k]) < 0 ||
          asprintf(&what, "firmware %s%s (for module %s)", fw, exts[k], m->name) < 0 ||
          want_path(a, fp, what) == -1)
        return -1;
    }
  }
  return 0;
}

/* One module of a root's closure: its .ko unless the image has it, then
 * the firmware the image lacks.  root: the module it was pulled in for. */
static int plan_module(struct add *a, const char *name, const char *root)
{
  const struct lx_module *m = &a->src->modules[lx_catalog_find(a->src, name)];
  ssize_t in_img = lx_catalog_find(a->img, m->name);
  if (in_img < 0 || !a->img->modules[in_img].have_ko) {
    CLEANUP_FREE char *path = NULL, *what = NULL;
    int r = strcmp(m->name, root) == 0
      ? asprintf(&what, "module %s", m->name)
      : asprintf(&what, "dependency %s (of module %s)", m->name, root);
    if (r < 0 || asprintf(&path, "lib/modules/%s/%s", a->src->kver, m->relpath) < 0 ||
        want_path(a, path, what) == -1)
      return -1;
  }                            /* else already there: depmod indexes it again */
  return plan_firmware(a, m);
}

/* Which modules to add: the named ones, or for each device the image
 * cannot drive (no module, or one missing a dependency or its firmware)
 * the best match; with dependencies.  Then their firmware. */
static int plan(struct add *a, const struct pci_device_list *devs, const struct lx_strv *named)
{
  struct lx_strv roots = { 0 }, missing = { 0 };
  int r = -1;
  for (size_t i = 0; i < named->count; i++)
    if (lx_strv_add(&roots, named->items[i], strlen(named->items[i])) == -1)
      goto out;
  for (size_t i = 0; devs && i < devs->count; i++) {
    const char *root = device_root(a, &devs->items[i]);
    if (root && !lx_strv_has(&roots, root) && lx_strv_add(&roots, root, strlen(root)) == -1)
      goto out;
  }
  for (size_t i = 0; i < roots.count; i++) {
    if (lx_catalog_find(a->src, roots.items[i]) < 0) {
      p2v_error("%s: no module %s in this kernel package", a->src->source, roots.items[i]);
      goto out;
    }
    size_t first = a->modules.count;
    if (lx_catalog_closure(a->src, roots.items[i], &a->modules, &missing) == -1)
      goto out;
    if (missing.count) {
      p2v_error("%s: module %s is needed but missing", a->src->source, missing.items[0]);
      goto out;
    }
    for (size_t j = first; j < a->modules.count; j++)
      if (plan_module(a, a->modules.items[j], roots.items[i]) == -1)
        goto out;
  }
  r = 0;
out:
  lx_strv_clear(&roots);
  lx_strv_clear(&missing);
  return r;
}

/* One line per file copied into the segment: "added module ahci". */
static void print_added(const struct add *a)
{
  for (size_t i = 0; i < a->wanted.count; i++)
    if (lx_strv_has(&a->found, a->wanted.items[i]))
      printf("added %s\n", a->what.items[i]);
}

/* OUT = IN + padding + segment, through a temporary file and rename. */
static int write_image(const char *in, const char *out, const struct lx_buf *seg)
{
  CLEANUP_FREE char *tmp = NULL;
  if (asprintf(&tmp, "%s.tmpXXXXXX", out) < 0)
    return -1;
  CLEANUP_CLOSE int ifd = open(in, O_RDONLY | O_CLOEXEC);
  CLEANUP_CLOSE int fd = ifd == -1 ? -1 : mkstemp(tmp);
  if (fd == -1) {
    p2v_error("%s: cannot create: %m", ifd == -1 ? in : out);
    return -1;
  }
  unsigned char buf[65536];
  size_t total = 0;
  ssize_t n;
  bool ok = true;
  while (ok && (n = p2v_read_full(ifd, buf, sizeof buf)) > 0) {
    ok = p2v_write_full(fd, buf, (size_t)n) == 0;
    total += (size_t)n;
  }
  static const unsigned char zeros[4];
  size_t pad = (4 - total % 4) % 4;
  ok = ok && n == 0 && p2v_write_full(fd, zeros, pad) == 0 &&
       p2v_write_full(fd, seg->data, seg->len) == 0 && fchmod(fd, 0644) == 0 && fsync(fd) == 0;
  if (!ok) {
    p2v_error("%s: cannot write: %m", out);
    unlink(tmp);
    return -1;
  }
  return p2v_commit_file(tmp, out);
}

int linux_add_command(int argc, char **argv)
{
  static const struct option opts[] = {
    { "image", required_argument, NULL, 'i' },
    { "from", required_argument, NULL, 'f' },
    { "devices", required_argument, NULL, 'd' },
    { "module", required_argument, NULL, 'm' },
    { "out", required_argument, NULL, 'o' },
    { NULL, 0, NULL, 0 },
  };
  const char *image = NULL, *from = NULL, *devices = NULL, *out = NULL;
  struct lx_strv named = { 0 };
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'i': image = optarg; break;
    case 'f': from = optarg; break;
    case 'd': devices = optarg; break;
    case 'm':
      if (lx_strv_add(&named, optarg, strlen(optarg)) == -1)
        return DRIVERS_EXIT_ERROR;
      break;
    case 'o': out = optarg; break;
    default: lx_strv_clear(&named); return DRIVERS_EXIT_USAGE;
    }
  }
  if (!image || !from || !out || optind != argc || (!devices && named.count == 0)) {
    p2v_error("add: usage: p2v-drivers add --image IN --from SOURCE "
              "(--devices DEVICES | --module NAME...) --out OUT");
    lx_strv_clear(&named);
    return DRIVERS_EXIT_USAGE;
  }
  int r = DRIVERS_EXIT_ERROR;
  enum lx_source_kind kind;
  struct pci_device_list devs = { 0 };
  struct lx_catalog img = { 0 }, src = { 0 };
  struct add a = { .img = &img, .src = &src };
  if (lx_source_kind(image, &kind) == -1)
    goto out;
  if (kind != LX_SRC_INITRAMFS && kind != LX_SRC_ISO) {
    p2v_error("%s: adding drivers to this %s is not supported; give an initramfs or "
              "an ISO image", image, lx_source_kind_name(kind));
    goto out;
  }
  if ((devices && pci_devices_load(devices, &devs) == -1) ||
      lx_catalog_load(image, &img) == -1 || lx_catalog_load(from, &src) == -1)
    goto out;
  if (strcmp(img.kver, src.kver) != 0) {
    p2v_error("%s has modules for kernel %s but %s runs kernel %s; use the matching package",
              from, src.kver, image, img.kver);
    goto out;
  }
  if (plan(&a, devices ? &devs : NULL, &named) == -1 ||
      lx_source_walk(image, want_none, note_image_path, &a) == -1)
    goto out;
  if (a.wanted.count == 0) {
    p2v_info("%s already has every module needed", image);
  } else if (lx_source_walk(from, want, visit, &a) == -1) {
    goto out;
  }
  if (lx_depmod(image, from, img.kver, &a.wanted, emit, &a) == -1 ||
      lx_cpio_finish(&a.seg) == -1 ||
      (kind == LX_SRC_ISO ? lx_iso_add_segment(image, out, &a.seg)
                          : write_image(image, out, &a.seg)) == -1)
    goto out;
  print_added(&a);
  r = DRIVERS_EXIT_OK;
out:
  lx_strv_clear(&named);
  lx_strv_clear(&a.modules);
  lx_strv_clear(&a.wanted);
  lx_strv_clear(&a.what);
  lx_strv_clear(&a.found);
  lx_strv_clear(&a.dirs);
  free(a.seg.data);
  lx_catalog_clear(&img);
  lx_catalog_clear(&src);
  pci_devices_clear(&devs);
  return r;
}
