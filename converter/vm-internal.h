/* Helpers shared by the VM metadata writers (vm-*.c), the report and the
 * boot test, sectioned by the file that defines them.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_VM_INTERNAL_H
#define P2V_VM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "vm.h"

/* ---- vm-util.c ---- */

/* Length of the valid UTF-8 sequence at s (1-4), 0 if s does not start
 * one (overlong forms, surrogates and code points past U+10FFFF are
 * invalid). */
size_t p2v_utf8_seq_len(const unsigned char *s);

/* Text for an XML attribute or element: & < > ' " become entities; bytes
 * XML 1.0 cannot carry even escaped (control characters other than tab,
 * newline, carriage return; invalid UTF-8) become '?'.  Malloc'd; NULL on
 * no memory (reported). */
char *p2v_xml_escape(const char *s);

/* A .vmx value (inside double quotes): '"', '|', and control characters
 * become |XX (VMware's own hex escape).  Malloc'd; NULL reported. */
char *p2v_vmx_escape(const char *s);

/* Print s for a person: control characters (except newline when
 * keep_newlines) become \xNN, invalid UTF-8 bytes too, so a string from
 * the guest cannot move the cursor or forge lines. */
void p2v_text_escape(FILE *fp, const char *s, bool keep_newlines);

/* "52:54:00:AB:cd:ef": six colon-separated hex pairs. */
bool p2v_mac_valid(const char *mac);

/* A random (version 4) UUID, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx";
 * -1 reported. */
int p2v_uuid_generate(char out[37]);

/* How the guest's OS is named by each target: VMware's .vmx guestOS,
 * vSphere's guest id (OVF vmw:osType), the CIM OsType number (OVF ovf:id),
 * from the libosinfo short id and os_type. */
struct p2v_os_names {
  const char *vmx;             /* "debian10-64" */
  const char *vim;             /* "debian10_64Guest" */
  unsigned cim;                /* 96 (Debian 64-Bit) */
};
void p2v_vm_os_names(const struct p2v_vm *vm, struct p2v_os_names *names);

/* Checks every writer does first: a name, CPUs, memory, at least one
 * disk, valid MACs.  -1 reported. */
int p2v_vm_check(const struct p2v_vm *vm);

/* PATH resolved against out_dir (malloc'd; NULL reported). */
char *p2v_vm_path(const char *out_dir, const char *path);

/* Write len bytes to path as PATH.tmp, fsync, rename, sync the folder.
 * -1 reported, PATH.tmp removed. */
int p2v_write_file_atomic(const char *path, const char *data, size_t len);

/* Print a text file of vm into fp (ctx: the writer's own); -1 reported. */
typedef int (*p2v_vm_emit_fn)(const struct p2v_vm *vm, const void *ctx, FILE *fp);
/* What emit prints, written to path with p2v_write_file_atomic; -1 reported. */
int p2v_vm_write_text(const struct p2v_vm *vm, const char *path, p2v_vm_emit_fn emit,
                      const void *ctx);

/* Rename tmp to path and sync the folder; -1 reported (tmp removed). */
int p2v_commit_file(const char *tmp, const char *path);

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

/* ---- boot-test.c ---- */

/* The last max_lines lines of a guest's serial console output, for
 * people: terminal escape sequences, carriage returns and NULs removed,
 * other control bytes and invalid UTF-8 as '?', trailing blank lines
 * dropped.  Malloc'd; NULL on no memory (not reported). */
char *p2v_console_clean(const char *buf, size_t len, unsigned max_lines);
/* One console line (len bytes, no newline) that reports a failure the
 * way systemd does ("[FAILED] Failed to start networking.service ..."):
 * the line cleaned as above from its "[FAILED]" on, malloc'd; NULL when
 * the line is no such report (or on no memory). */
char *p2v_console_failed_line(const char *line, size_t len);

/* ---- vm-ovf.c ---- */

/* The OVF descriptor in memory (malloc'd *out, *len); sizes[i] is disk i's
 * file size.  -1 reported. */
int p2v_vm_ovf_build(const struct p2v_vm *vm, const uint64_t *sizes, bool for_ova,
                     char **out, size_t *len);

#endif
