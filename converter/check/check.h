/* check/: checks of the converted machine: the boot test that starts it
 * in qemu (boot-test.c, docs/p2v-convert.md) and its console's text.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_CHECK_H
#define P2V_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "vm/vm.h"

struct p2v_boot_test_options {
  const struct p2v_vm *vm;
  const char *out_dir;         /* the disks' directory; the screenshot goes here */
  unsigned timeout_seconds;    /* give up after this (default 600) */
  const char *marker;          /* text on the serial console meaning "booted";
                                  NULL: p2v_boot_test_marker's choice */
};
/* The markers awaited when the options give none: a Linux guest's login
 * prompt; for Windows (os_type "windows"), the line p2v's first-boot
 * service prints on COM1 when it starts. */
#define P2V_BOOT_MARKER_LINUX "login:"
#define P2V_BOOT_MARKER_WINDOWS "p2v-firstboot: started"
const char *p2v_boot_test_marker(const struct p2v_boot_test_options *o);
struct p2v_boot_test_result {
  bool passed;
  bool used_kvm;               /* false: TCG */
  char *marker;                /* the text awaited on the serial console */
  double seconds;              /* from qemu start to the marker (or to giving up) */
  char *console_tail;          /* the serial console's last lines */
  char *screenshot;            /* PNG path (QMP screendump), NULL if none */
  char *reason;                /* why it failed; NULL when it passed */
  char **warnings;             /* "[FAILED] ..." lines the guest printed (systemd's failed
                                  units), cleaned, each once, at most P2V_BOOT_TEST_MAX_WARNINGS */
  size_t nwarnings;
};
#define P2V_BOOT_TEST_MAX_WARNINGS 32
/* Boot the VM headless in qemu on a throwaway overlay of each disk (the
 * output is never written); KVM if a probe guest proves it runs, else
 * TCG (said once; P2V_BOOT_TEST_ACCEL=tcg|kvm skips the probe).  The
 * screenshot is out_dir/boot-test.png; overlays and logs live in a folder
 * under $TMPDIR, removed at the end.  0 when the test ran (passed or not,
 * see r; r->reason says why not), -1 when it could not run (reported:
 * missing disk, qemu-img or qemu failing to start, no OVMF for UEFI). */
int p2v_boot_test(const struct p2v_boot_test_options *o, struct p2v_boot_test_result *r);
void p2v_boot_test_result_clear(struct p2v_boot_test_result *r);

/* The qemu command line the boot test runs for vm, with its overlays
 * WORK/disk0.qcow2 ... and KVM or TCG: disks and NICs on the VM's bus and
 * model.  NULL-terminated, malloc'd; NULL reported (a VM p2v_vm_check
 * refuses, no memory).  Free with p2v_boot_test_argv_free. */
char **p2v_boot_test_argv(const struct p2v_vm *vm, const char *work, bool kvm);
void p2v_boot_test_argv_free(char **argv);

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

#endif
