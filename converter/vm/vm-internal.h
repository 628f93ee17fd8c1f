/* Helpers the VM metadata writers (libvirt.c, vmx.c, ovf.c) share; what
 * the report and the boot test use too is in vm.h.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_VM_INTERNAL_H
#define P2V_VM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "vm/vm.h"

/* ---- vm-util.c ---- */

/* How the guest's OS is named by each target: VMware's .vmx guestOS,
 * vSphere's guest id (OVF vmw:osType), the CIM OsType number (OVF ovf:id),
 * from the libosinfo short id and os_type. */
struct p2v_os_names {
  const char *vmx;             /* "debian10-64" */
  const char *vim;             /* "debian10_64Guest" */
  unsigned cim;                /* 96 (Debian 64-Bit) */
};
void p2v_vm_os_names(const struct p2v_vm *vm, struct p2v_os_names *names);

/* Print a text file of vm into fp (ctx: the writer's own); -1 reported. */
typedef int (*p2v_vm_emit_fn)(const struct p2v_vm *vm, const void *ctx, FILE *fp);
/* What emit prints, written to path with p2v_write_file_atomic; -1 reported. */
int p2v_vm_write_text(const struct p2v_vm *vm, const char *path, p2v_vm_emit_fn emit,
                      const void *ctx);

/* ---- ovf.c ---- */

/* The OVF descriptor in memory (malloc'd *out, *len); sizes[i] is disk i's
 * file size.  -1 reported. */
int p2v_vm_ovf_build(const struct p2v_vm *vm, const uint64_t *sizes, bool for_ova,
                     char **out, size_t *len);


#endif
