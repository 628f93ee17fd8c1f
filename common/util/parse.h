/* Parsers for what people type in options and settings: whole numbers,
 * sizes ("64K", "1.5G", "2T"), a name from a table.  Strict: no sign, no
 * space, no trailing junk, no overflow.  The p2v_option_* forms report one
 * error line in one wording:
 *   --connections: "0" is not a number from 1 to 64
 *   --cluster-size: "abc" is not a size (e.g. 64K, 2M)
 *   --memory: "1M" is not a size from 64M to 1P
 *   --progress: "fast" is not one of bar, json, none
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_PARSE_H
#define P2V_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Decimal digits only, up to UINT64_MAX: 0, or -1 (nothing reported). */
int p2v_parse_u64(const char *text, uint64_t *out);
/* Digits, an optional fraction, and a binary unit K, M, G, T, P or E
 * (any case, optionally followed by "B" or "iB"); a bare number is bytes.
 * A fraction needs a unit and must come to whole bytes ("1.5K" yes,
 * "0.1K" no).  0, or -1 (nothing reported). */
int p2v_parse_size(const char *text, uint64_t *out);
/* The index of text in names (NULL-terminated), or -1. */
int p2v_parse_choice(const char *text, const char *const names[]);

/* The same for an option: 0, or -1 with the error in why (one line). */
#define P2V_OPTION_WHY_MAX 256
int p2v_option_why_uint(const char *option, const char *arg, unsigned min, unsigned max,
                        unsigned *out, char *why, size_t why_len);
int p2v_option_why_size(const char *option, const char *arg, uint64_t min, uint64_t max,
                        const char *examples, uint64_t *out, char *why, size_t why_len);
int p2v_option_why_choice(const char *option, const char *arg, const char *const names[],
                          int *out, char *why, size_t why_len);

/* The same, the error reported (p2v_error).  examples: "64K, 2M". */
int p2v_option_uint(const char *option, const char *arg, unsigned min, unsigned max,
                    unsigned *out);
int p2v_option_size(const char *option, const char *arg, uint64_t min, uint64_t max,
                    const char *examples, uint64_t *out);
int p2v_option_choice(const char *option, const char *arg, const char *const names[],
                      int *out);

#endif
