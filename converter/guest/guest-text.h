/* Pure text work on the guest's configuration files (no libguestfs), so
 * it can be fuzzed: disk names, table files (fstab, crypttab), kernel
 * command lines, shell-variable files (/etc/default/grub), network
 * configuration names, module lists.  Everything here takes untrusted
 * text (the guest's files) and returns NULL/-1 only when out of memory.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_GUEST_TEXT_H
#define P2V_GUEST_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* A growable string; s is NUL-terminated once anything was added. */
struct gl_buf { char *s; size_t len, cap; };
int gl_buf_add(struct gl_buf *b, const char *s, size_t n);     /* -1 reported */
int gl_buf_printf(struct gl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A disk name we rewrite: /dev/sdX[N], hdX, vdX, xvdX (X: a-z, aa-zz),
 * /dev/cciss/cCdD[pN], /dev/nvmeCnS[pN].  0 with the disk's index (letter,
 * D, C) and the partition (0: whole disk), or -1. */
int gt_parse_disk_name(const char *spec, size_t *disk, unsigned *part);

/* Maps a device spec to its replacement (caller frees), NULL: unchanged. */
typedef char *(*gt_map_fn)(void *opaque, const char *spec);
/* Told of each replacement: the old spec, the new one, and the line's
 * label (fstab: the mount point; crypttab: the mapping).  -1 stops. */
typedef int (*gt_report_fn)(void *opaque, const char *spec, const char *repl,
                            const char *label);

/* The text with field FIELD (0-based, blank-separated, comments skipped)
 * of each line mapped; *changed says if any was.  NULL: out of memory or
 * report failed. */
char *gt_rewrite_table(const char *text, size_t field, gt_map_fn map, void *mopaque,
                       gt_report_fn report, void *ropaque, bool *changed);
/* root= and resume= values mapped in a kernel command line. */
char *gt_rewrite_cmdline(const char *cmdline, gt_map_fn map, void *opaque, bool *changed);
/* cmdline without its console= arguments, then ARGS. */
char *gt_cmdline_with(const char *cmdline, const char *args);

/* Shell-variable files: VAR's value without its quotes (caller frees),
 * NULL when unset (or out of memory); set replaces VAR's line or appends
 * VAR="value"; *text is replaced. */
char *gt_var_get(const char *text, const char *var);
int gt_var_set(char **text, const char *var, const char *value);

/* Network interface names a configuration uses (no lo, bridges, bonds,
 * VLANs, tunnels); at most GT_MAX_NICS, each at most 15 bytes. */
#define GT_MAX_NICS 32
struct gt_names { char *v[GT_MAX_NICS]; size_t n; };
void gt_names_add(struct gt_names *ns, const char *s, size_t len);
void gt_names_clear(struct gt_names *ns);
/* The word after KEY at the start of each line ("iface ", "DEVICE="...). */
void gt_scan_key(struct gt_names *ns, const char *text, const char *key);
/* netplan YAML: the keys one level under "ethernets:". */
void gt_scan_netplan(struct gt_names *ns, const char *text);

/* Is module NAME (underscores) in a modules.dep / modules.builtin text
 * (file names may spell it with '-')? */
bool gt_has_module(const char *list, const char *name);
/* Is NAME a line of its own (up to blanks or '#') in a module list? */
bool gt_list_has(const char *list, const char *name);

#endif
