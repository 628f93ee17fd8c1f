/* The migration report: one JSON document (json-c) built as `run` goes,
 * written as report.json and as plain text report.txt.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_REPORT_H
#define P2V_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "copy/copy.h"
#include "guest/guest.h"
#include "check/check.h"
#include "vm/vm.h"

struct p2v_report;

struct p2v_report *p2v_report_new(const char *source, const char *target, const char *name);
void p2v_report_free(struct p2v_report *r);

/* A phase of the run ("preflight", "inspect", "convert", "copy", "metadata",
 * "verify", "boot-test", "package") and how long it took; ok false with a reason
 * when it failed. */
void p2v_report_phase(struct p2v_report *r, const char *phase, double seconds,
                      bool ok, const char *reason);
void p2v_report_guest(struct p2v_report *r, const struct p2v_guest_info *info);
void p2v_report_disk(struct p2v_report *r, const char *export_name, const char *output,
                     const char *format, const struct copy_stats *stats);
void p2v_report_changes(struct p2v_report *r, const struct p2v_changes *changes);
/* A verification ("disk sda: output equals converted overlay", passed). */
void p2v_report_verify(struct p2v_report *r, const char *what, bool passed, const char *detail);
void p2v_report_file(struct p2v_report *r, const char *kind, const char *path);  /* "libvirt", "ova" ... */
/* The VM's disk bus and NIC model ("virtio-scsi", "e1000e"). */
void p2v_report_vm_hardware(struct p2v_report *r, const char *disk_bus, const char *nic_model);
void p2v_report_boot_test(struct p2v_report *r, const struct p2v_boot_test_result *b);
/* The outcome: "converted", or the failure that ended the run. */
void p2v_report_result(struct p2v_report *r, bool ok, const char *message);

/* Write DIR/report.json and DIR/report.txt (each via a temporary name);
 * 0 or -1 reported. */
int p2v_report_write(const struct p2v_report *r, const char *out_dir);
/* The JSON document (for --json on stdout), owned by r. */
const char *p2v_report_json(const struct p2v_report *r);

#endif
