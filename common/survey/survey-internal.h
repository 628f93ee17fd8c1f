/* Private to the survey: helpers the collectors share.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_SURVEY_INTERNAL_H
#define P2V_SURVEY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "survey.h"

/* survey.c: free a disk's members and zero it, for reuse. */
void survey_clear_disk(struct p2v_survey_disk *disk);

/* survey-sysfs.c */

/* A copy of s fit for the survey: surrounding white space trimmed, control
 * characters and invalid UTF-8 replaced with '?', cut to
 * P2V_SURVEY_MAX_STRING bytes.  NULL if s is NULL or ends up empty (or no
 * memory: a fact left unknown). */
char *survey_clean(const char *s);
char *survey_clean_n(const char *s, size_t n);

/* The contents of a small file (sysfs, /proc) as survey_clean makes them;
 * NULL if unreadable or empty. */
char *survey_read(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A decimal number file; P2V_SURVEY_UNKNOWN if unreadable or not one. */
uint64_t survey_read_uint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A "0x8086"-style sysfs id as exactly digits lower-case hex digits; NULL
 * if unreadable, malformed or wider. */
char *survey_read_hex(size_t digits, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last component of a symlink's target ("e1000e" for .../driver). */
char *survey_link_name(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Make room for one more item in a growing array; -1 when out of memory. */
int survey_grow(void **items, size_t *capacity, size_t count, size_t size);

/* survey-linux-disk.c, survey-linux-net.c, survey-linux-pci.c */
/* opened: NULL, or the disks of paths already opened with p2v_disk_open. */
struct p2v_disk;
void survey_linux_disks(struct p2v_survey *s, const char *const *paths,
                        struct p2v_disk *const *opened, size_t n);
void survey_linux_nics(struct p2v_survey *s);
void survey_linux_pci(struct p2v_survey *s);

/* survey-pciids.c: class names, and vendor and device names from pci.ids
 * when the machine has it. */
void survey_pci_names(struct p2v_survey *s);

#endif
