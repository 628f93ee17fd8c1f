/* cli/: p2v-convert's command lines (copy, run), their usage texts and
 * the copy summary; the jobs themselves are in run/.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_CLI_H
#define P2V_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "run/run.h"

/* copy-command.c: p2v-convert copy; the exit code. */
int convert_copy(int argc, char **argv);
/* run-command.c: p2v-convert run; the exit code. */
int convert_run(int argc, char **argv);

/* options.c, shared by both commands */
/* copy --listen and run --listen: the source's disks arrive on address,
 * which off loopback needs TLS (a PSK) or --insecure (docs/dial-in.md).
 * psk_option names the command's PSK option.  0, or -1 reported. */
int convert_check_listen_tls(const char *address, bool tls, bool insecure,
                             const char *psk_option);
/* An option's number from min to max into *out; -1 with one error line. */
int convert_parse_unsigned(const char *option, const char *arg, unsigned min, unsigned max,
                           unsigned *out);
/* --cluster-size: "65536", "64K", "2M"; a power of two from 512 to 2M.
 * 0, or -1 with one error. */
int convert_parse_cluster_size(const char *arg, uint32_t *out);

#endif
