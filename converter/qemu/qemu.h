/* qemu/: the qemu tools the run drives: qemu-img (map of an overlay's
 * own clusters), qemu-nbd, a subprocess runner (qemu-img.c); and qemu's
 * JSON monitor (qmp.c).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_QEMU_H
#define P2V_QEMU_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "extent-list.h"

/* qemu-img.c: the ranges the conversion wrote in an overlay (qemu-img
 * map with the backing file cut off), and a read-only NBD view of the
 * overlay's own clusters (qemu-nbd).  0 or -1 reported. */
int run_overlay_changes(const char *overlay, struct p2v_extent_list *changed);
/* Start qemu-nbd on image (its backing cut off when no_backing) on a Unix
 * socket in dir; returns the NBD URI or NULL reported; *pid for stop. */
char *run_qemu_nbd_start(const char *image, const char *format, bool no_backing,
                         const char *socket_path, pid_t *pid);
void run_qemu_nbd_stop(pid_t pid, const char *socket_path);
/* Run argv, stdout into *out (NUL-terminated, if out) and stderr's last
 * line into *err (if err).  Returns the exit status, or -1 reported. */
int run_command(const char *const argv[], char **out, char **err);

/* ---- qmp.c: qemu's JSON monitor ---- */

struct qmp;
struct json_object;
/* Connect to qemu's QMP socket at path (retrying until qemu, process pid,
 * creates it, within timeout seconds), read the greeting, negotiate
 * capabilities.  NULL: reported, or (not reported) qemu exited first. */
struct qmp *p2v_qmp_connect(const char *path, pid_t pid, double timeout);
/* Run command with args (may be NULL); *ret (if not NULL) gets the
 * "return" value (the caller puts it).  Events are skipped.  -1 reported. */
int p2v_qmp_command(struct qmp *q, const char *command, struct json_object *args,
                    double timeout, struct json_object **ret);
/* Ask qemu to quit; no answer awaited, nothing reported (the caller
 * waits for qemu to exit and kills it if it does not). */
void p2v_qmp_quit(struct qmp *q);
void p2v_qmp_close(struct qmp *q);

#endif
