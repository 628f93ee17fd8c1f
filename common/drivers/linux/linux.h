/* p2v-drivers, Linux side: private declarations by the file that defines them.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_DRIVERS_LINUX_H
#define P2V_DRIVERS_LINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "drivers.h"

/* Caps on hostile input. */
#define LX_MAX_FILE_BYTES  (512u << 20)   /* one member read into memory */
#define LX_MAX_IMAGE_BYTES (2048u << 20)  /* an initramfs, decompressed */

/* A growable array of strings (owned). */
struct lx_strv {
  char **items;
  size_t count;
};
int lx_strv_add(struct lx_strv *v, const char *s, size_t len);
bool lx_strv_has(const struct lx_strv *v, const char *s);
void lx_strv_clear(struct lx_strv *v);

/* ---- linux-alias.c: modalias strings and modules.alias patterns ---- */
/* "pci:v00008086d000010D3sv...": the device's modalias; sv/sd are 0 when
 * unknown (then matching treats them as wildcards). */
void lx_pci_modalias(const struct pci_device *d, char *buf, size_t len);
/* Does a modules.alias pattern match the device?  fnmatch semantics as
 * kmod; a "pci:" pattern is matched field by field so that unknown
 * subsystem ids match anything. */
bool lx_alias_match(const char *pattern, const struct pci_device *d);
/* How specific a pattern is (fewer wildcards: higher); picks the best module. */
int lx_alias_specificity(const char *pattern);
/* Parse one "alias PATTERN MODULE" line; false if it is not one. */
bool lx_alias_parse_line(const char *line, size_t len, const char **pattern, size_t *plen,
                         const char **module, size_t *mlen);

/* ---- linux-kmod.c: .modinfo of a kernel module (.ko, .ko.xz, .ko.zst, .ko.gz) ---- */
struct lx_modinfo {
  struct lx_strv aliases, firmware, depends;
};
/* data is the file as stored (maybe compressed).  -1 with an error naming path. */
int lx_modinfo_read(const char *path, const unsigned char *data, size_t size,
                    struct lx_modinfo *mi);
void lx_modinfo_clear(struct lx_modinfo *mi);
/* "e1000e" from ".../e1000e.ko.xz"; '-' becomes '_' as kmod does.  NULL if not a module. */
char *lx_module_name(const char *path);
/* Decompress a whole buffer whatever its filter (gzip, xz, zstd, ...);
 * -1 with an error naming what (none when what is NULL). */
int lx_decompress(const char *what, const unsigned char *data, size_t size, size_t max,
                  unsigned char **out, size_t *outlen);

/* ---- linux-source.c: walk the files of a directory, .deb, tarball,
 * initramfs or ISO (the initramfs inside it) ---- */
struct lx_file {
  const char *path;            /* "lib/modules/6.1.0-1-amd64/kernel/...": no "./" or "/" */
  const unsigned char *data;   /* NULL unless want() said yes */
  size_t size;
  mode_t mode;                 /* S_IFREG, S_IFLNK (data: the target), S_IFDIR ... */
};
typedef bool (*lx_want_fn)(void *ctx, const char *path);
typedef int (*lx_visit_fn)(void *ctx, const struct lx_file *f);   /* -1 stops */
enum lx_source_kind { LX_SRC_DIR, LX_SRC_DEB, LX_SRC_TAR, LX_SRC_INITRAMFS, LX_SRC_ISO };
/* Detect the kind of SOURCE; -1 with an error if unreadable or unknown. */
int lx_source_kind(const char *path, enum lx_source_kind *kind);
int lx_source_walk(const char *path, lx_want_fn want, lx_visit_fn visit, void *ctx);
const char *lx_source_kind_name(enum lx_source_kind kind);

/* ---- linux-initramfs.c: initramfs images (concatenated newc cpio
 * archives, each maybe compressed) and writing a newc segment ---- */
int lx_initramfs_walk(const char *what, const unsigned char *data, size_t size,
                      lx_want_fn want, lx_visit_fn visit, void *ctx);
/* Append one newc entry (regular file, directory or symlink) to a buffer. */
struct lx_buf {
  unsigned char *data;
  size_t len, cap;
};
int lx_buf_append(struct lx_buf *b, const void *data, size_t len);
int lx_cpio_add(struct lx_buf *b, const char *path, mode_t mode, const void *data, size_t size);
int lx_cpio_finish(struct lx_buf *b);
/* ISO 9660: the initramfs inside it, read into memory; its path in *found. */
int lx_iso_find_initramfs(const char *iso, unsigned char **data, size_t *size, char **found);

/* ---- linux-iso.c: OUT = ISO with its initramfs extended by SEG (a newc
 * archive), boot setup kept, written by xorriso beside OUT then renamed ---- */
int lx_iso_add_segment(const char *iso, const char *out, const struct lx_buf *seg);

/* ---- linux-catalog.c: modules, aliases, deps and firmware of a kernel ---- */
struct lx_module {
  char *name;                  /* "e1000e" */
  char *relpath;               /* "kernel/drivers/net/.../e1000e.ko.xz", under lib/modules/VER/ */
  char *kver;
  struct lx_strv depends, firmware, aliases;
  bool have_ko;                /* the .ko itself is in the source */
};
struct lx_alias {
  char *pattern;
  size_t module;               /* index into modules */
};
struct lx_catalog {
  char *source;                /* the path it came from */
  char *package;               /* "linux-image-6.1.0-18-amd64" (from a .deb name), or NULL */
  char *kver;                  /* the kernel version with most modules */
  struct lx_module *modules;
  size_t nmodules;
  struct lx_alias *aliases;
  size_t naliases;
  struct lx_strv firmware;     /* "e1000e/foo.bin", compression suffix removed */
};
/* -1 with one error; an empty catalog (no modules) is an error too. */
int lx_catalog_load(const char *source, struct lx_catalog *cat);
void lx_catalog_clear(struct lx_catalog *cat);
void lx_module_clear(struct lx_module *m);
/* Index of the module, or -1. */
ssize_t lx_catalog_find(const struct lx_catalog *cat, const char *name);
/* Index of the module NAME exactly (no '-' to '_'), of kernel KVER
 * (NULL: any), or -1. */
ssize_t lx_catalog_find_in(const struct lx_catalog *cat, const char *name, const char *kver);
/* The modules whose aliases match the device, best first; count returned. */
size_t lx_catalog_match(const struct lx_catalog *cat, const struct pci_device *d,
                        size_t *out, size_t max);
bool lx_catalog_has_firmware(const struct lx_catalog *cat, const char *fw);
/* Add name and its dependencies (transitively) to set; missing ones into missing. */
int lx_catalog_closure(const struct lx_catalog *cat, const char *name,
                       struct lx_strv *set, struct lx_strv *missing);
/* A guess at the Debian package that ships a firmware file. */
const char *lx_firmware_package(const char *fw);

/* ---- linux-catalog-json.c: a catalog read back from `list --json` (the
 * live image's kernel-catalog.json); firmware files are not in it ---- */
#define LX_MAX_CATALOG_JSON (64u << 20)
/* -1 with one error naming the file. */
int lx_catalog_load_json(const char *path, struct lx_catalog *cat);
int lx_catalog_from_json(const char *source, const char *text, size_t len,
                         struct lx_catalog *cat);

/* ---- linux-depmod.c: kmod's indexes for the final module set ---- */
typedef int (*lx_emit_fn)(void *ctx, const char *path, const void *data, size_t size);
/* Lay out the modules of initramfs IMAGE for kernel KVER plus the source
 * paths ADDED ("lib/modules/KVER/...", others ignored) of SOURCE in a
 * temporary directory, run depmod there and emit each modules.* file it
 * writes as "lib/modules/KVER/modules.dep.bin" ...  -1 with one error. */
int lx_depmod(const char *image, const char *source, const char *kver,
              const struct lx_strv *added, lx_emit_fn emit, void *ctx);

#endif
