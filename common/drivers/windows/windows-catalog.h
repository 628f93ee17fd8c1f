/* Windows driver catalogs: INF packages from a folder, .zip or ISO, the
 * virtio-win layout, picking a package for a device.
 * Declarations by the file that defines them.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_WINDOWS_CATALOG_H
#define P2V_WINDOWS_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers.h"
#include "inf-parse.h"

#define WIN_MAX_INFS   4096        /* INF files in one source */
#define WIN_MAX_FILES  1000000     /* entries walked in one source */
#define WIN_MAX_DEPTH  16          /* folder depth walked */

/* ---- windows-os.c: Windows versions and architectures ---- */

struct win_os_version {
  const char *dir;             /* virtio-win folder: "2k19", "w10", ... */
  unsigned major, minor, build;
  const char *name;            /* "Windows Server 2019" */
};

/* "2019", "2k19", "10", "win10", "6.3", "10.0.17763"... NULL if unknown. */
const struct win_os_version *win_os_lookup(const char *version);
/* The table entry whose virtio-win folder is DIR (ignoring case), or NULL. */
const struct win_os_version *win_os_by_dir(const char *dir);
/* "amd64" for amd64/x64/x86_64, "x86" for x86/i386/i686, "arm64" for
 * arm64/aarch64; NULL if unknown. */
const char *win_arch_lookup(const char *arch);
/* Every accepted --os spelling, for error messages. */
const char *win_os_help(void);

/* ---- windows-source.c: the files of a folder, .zip or ISO ---- */

/* Called for each INF (DATA, SIZE; SIZE <= INF_MAX_SIZE) with its path
 * relative to the source, '/'-separated.  Return -1 to stop. */
typedef int (*win_inf_fn)(const char *path, const uint8_t *data, size_t size, void *opaque);
/* Called for every other regular file's path. */
typedef int (*win_file_fn)(const char *path, void *opaque);

/* -1 with one p2v_error line when SOURCE cannot be read. */
int win_source_walk(const char *source, win_inf_fn inf_fn, win_file_fn file_fn, void *opaque);

/* Which files to extract: PATH as the walk gives it. */
typedef bool (*win_want_fn)(const char *path, void *opaque);
#define WIN_MAX_EXTRACT (256u << 20)   /* bytes of one extracted file */
/* Copy the files of SOURCE that WANT accepts to DEST/PATH, PATH in lower
 * case (folders created).  0, or -1 with one p2v_error line. */
int win_source_extract(const char *source, win_want_fn want, void *opaque, const char *dest);

/* ---- windows-catalog.c: hardware IDs -> driver packages ---- */

struct win_package {
  char *inf_path;              /* relative to the source */
  char *layout_driver, *layout_os, *layout_arch;   /* virtio-win folders, or NULL */
  struct inf_driver driver;    /* models for the catalog's OS and arch */
  bool files_present;          /* every .sys the models copy is beside the INF */
};

struct win_catalog {
  struct win_package *packages;
  size_t npackages;
  char **files;                /* every non-INF path, lower case, sorted */
  size_t nfiles;
};

/* Read SOURCE for OS (arch and version): -1 with one error line when it
 * cannot be read or holds no INF file at all.  INF files that do not parse
 * are skipped with a warning. */
int win_catalog_load(const char *source, const struct inf_os *os, struct win_catalog *cat);
void win_catalog_clear(struct win_catalog *cat);

/* ---- windows-match.c: which package drives a PCI device ---- */

struct win_match {
  const struct win_package *package;   /* NULL: nothing matches */
  const struct inf_model *model;
  const char *id;              /* the INF ID that matched */
  int specificity;             /* higher is more specific; 0 = none */
};

/* The best package for D: most specific ID, then the virtio-win folder
 * for exactly TARGET's OS over an older one, then the newest DriverVer. */
struct win_match win_match_device(const struct win_catalog *cat, const struct pci_device *d,
                                  const struct win_os_version *target, const char *arch);
/* Specificity of INF ID against D (0: no match).  Exposed for unit tests. */
int win_id_specificity(const char *id, const struct pci_device *d);

#endif
