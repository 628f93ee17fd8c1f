/* Windows INF files: text decoding, parsing and driver extraction.
 * Declarations by the file that defines them.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_INF_PARSE_H
#define P2V_INF_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard limits on hostile input (docs/p2v-drivers.md). */
#define INF_MAX_SIZE      (4u << 20)   /* bytes of one INF file */
#define INF_MAX_LINE      65536        /* bytes of one logical line, joined */
#define INF_MAX_SECTIONS  8192
#define INF_MAX_LINES     262144       /* lines in all sections */
#define INF_MAX_FIELDS    1024         /* comma-separated values on one line */

/* ---- inf-text.c: bytes in any INF encoding -> UTF-8 ---- */

/* UTF-16LE (with BOM, or without one when the second byte is NUL), UTF-8
 * (BOM optional) or, when not valid UTF-8, ANSI (read as Windows-1252's
 * Latin-1 subset).  NUL bytes are dropped.  Returns a malloc'd NUL-terminated
 * string and its length, or NULL on out of memory. */
char *inf_text_to_utf8(const uint8_t *data, size_t size, size_t *len_out);

/* ---- inf-parse.c: sections, lines and fields ---- */

struct inf_line {
  char *key;                   /* left of '=', or NULL when the line has none */
  char **fields;               /* right of '=' (or the whole line), split at ',' */
  size_t nfields;
  unsigned lineno;             /* physical line where the logical line starts */
};

struct inf_section {
  char *name;                  /* as written; lookups ignore case */
  struct inf_line *lines;
  size_t nlines;
};

struct inf_file {
  struct inf_section *sections;
  size_t nsections;
};

struct inf_parse_options {
  const char *arch;            /* replaces "$ARCH$" in names and values, or NULL */
};

/* Parse DATA (any encoding, see above).  Values have %strkey% replaced from
 * [Strings] (overridden by [Strings.0409]), quotes removed ("" is a quote),
 * %% turned into %; unknown %tokens% stay as written.  On error returns
 * NULL and puts "line N: what" into ERR. */
struct inf_file *inf_parse(const uint8_t *data, size_t size,
                           const struct inf_parse_options *opts,
                           char *err, size_t errlen);
void inf_free(struct inf_file *inf);

const struct inf_section *inf_find_section(const struct inf_file *inf, const char *name);
/* First field of the first line whose key is KEY (ignoring case), or NULL. */
const char *inf_section_value(const struct inf_section *s, const char *key);

/* ---- inf-driver.c: what an INF installs, for one OS version and arch ---- */

struct inf_version {
  char *class_name, *class_guid, *provider, *driver_ver, *catalog_file;
};

/* Windows version as INF decorations spell it: NTamd64.10.0...17763 */
struct inf_os {
  const char *arch;            /* "amd64", "x86", "arm64" */
  unsigned major, minor, build;
};

struct inf_model {
  char *description;
  char *install_section;       /* the decorated one actually used */
  char **ids;                  /* upper case; ids[0] the hardware ID, the rest compatible IDs */
  size_t nids;
  char *service;               /* AddService with 0x2 (SPSVCINST_ASSOCSERVICE), or NULL */
  int service_type, start_type, error_control;   /* -1 when not given */
  char *load_order_group;      /* or NULL */
  char *service_binary;        /* file name only, or NULL */
  char **files;                /* .sys files copied (CopyFiles), file names only */
  size_t nfiles;
};

struct inf_driver {
  struct inf_version version;
  struct inf_model *models;
  size_t nmodels;
};

/* The models that apply to OS (decorations chosen like Windows does: arch
 * must match, then the highest OS version not above the target's).
 * -1 only on out of memory. */
int inf_driver_load(const struct inf_file *inf, const struct inf_os *os,
                    struct inf_driver *drv);
void inf_driver_clear(struct inf_driver *drv);

/* Does DECORATION (the part after "Models." e.g. "NTamd64.10.0...16299")
 * apply to OS?  On a match, *RANK orders matches (higher is better). */
bool inf_decoration_matches(const char *decoration, const struct inf_os *os,
                            uint64_t *rank);

#endif
