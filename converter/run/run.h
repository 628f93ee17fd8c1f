/* p2v-convert run: the private header of run-*.c, sectioned by the file
 * that defines each symbol.  The phases, in order (docs/hacking.md):
 * preflight, inspect, convert, copy, metadata, verify, boot-test, package
 * (the OVA, vmdk-stream only).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef P2V_RUN_H
#define P2V_RUN_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check/check.h"
#include "copy/copy.h"
#include "extent-list.h"
#include "guest/guest.h"
#include "image/image.h"
#include "qemu/qemu.h"
#include "source/source.h"
#include "vm/vm.h"

/* Exit codes of p2v-convert (docs/p2v-convert.md lists them).  The run
 * and copy jobs return them until they return failure kinds that cli/
 * maps (issue 11's phase table). */
enum {
  EXIT_OK = 0,
  EXIT_FAILURE_OTHER = 1,        /* anything not below, e.g. an output write error */
  EXIT_USAGE = 2,                /* bad command line */
  EXIT_UNREACHABLE = 3,          /* nothing serves at the source URI */
  EXIT_NO_EXPORT = 4,            /* the server has no such export */
  EXIT_TLS = 5,                  /* TLS required, refused or failed */
  EXIT_OUTPUT_EXISTS = 6,        /* OUTPUT (or OUTPUT.part) exists, no --force */
  EXIT_DISK_FULL = 7,            /* ENOSPC or EDQUOT writing the output */
  EXIT_READ_ERROR = 8,           /* the source failed a read after retries */
  EXIT_STALLED = 9,              /* no progress for --stall-timeout seconds */
  /* run (and copy's free-space check, 10) */
  EXIT_PREFLIGHT = 10,           /* preflight failed: space, format limits, survey, an unreadable export */
  EXIT_NO_SPACE = EXIT_PREFLIGHT, /* copy: too little free space for the output, found before writing */
  EXIT_NO_OS = 11,               /* no operating system found, or one that cannot be converted */
  EXIT_CONVERT = 12,             /* inspection or conversion of the guest failed */
  EXIT_VERIFY = 13,              /* an output differs from its converted overlay */
  EXIT_BOOT_TEST = 14,           /* the boot test ran and did not reach the login prompt */
  EXIT_INTERRUPTED = 130,        /* SIGINT; SIGTERM gives 143 */
};

/* copy-job.c, shared with run: the exit code (enum above) of a copy that
 * ended with r, and of a source that could not be opened. */
int copy_exit_code(enum copy_result r, int signo);
int copy_open_exit_code(enum p2v_open_failure why);

/* copy-job.c: p2v-convert copy once its command line is parsed (cli/). */
struct copy_args {
  const char *source, *output, *format;
  const char *listen, *tls_psk, *tls_certificates;
  unsigned wait;
  bool compress, force, json;
  bool insecure;                     /* --listen off loopback without TLS */
  unsigned connections, requests, threads;
  unsigned connect_timeout;      /* UINT_MAX: the stall timeout */
  uint32_t chunk_size, cluster_size;
  enum progress_mode progress;
  int progress_fd;
  double stall_timeout;
};
/* The exit code. */
int copy_job(const struct copy_args *a);

struct p2v_survey;
struct p2v_report;
struct p2v_disk;

enum run_verify { RUN_VERIFY_QUICK, RUN_VERIFY_FULL, RUN_VERIFY_NONE };

struct run_disk {
  char *export_name;           /* may be "" (a server's default export) */
  const char *label;           /* export_name, or "default export", for messages */
  char *uri;                   /* the source export (--source), or NULL (dial-in) */
  struct p2v_image *source;    /* first connection, kept for the whole run */
  uint64_t size;
  uint64_t used_bytes;         /* not reported as reading zero (block status) */
  char *local_uri;             /* the same export on our private Unix socket, for qemu */
  char *overlay;               /* WORK/EXPORT.qcow2 */
  char *output;                /* DIR/NAME-EXPORT.EXT */
  char *output_name;           /* NAME-EXPORT.EXT (metadata refers to it) */
  struct p2v_extent_list changed;   /* ranges the conversion wrote in the overlay */
  struct copy_stats stats;
  bool copied;
  struct run_digest read_digest;    /* of what the copy read */
  pthread_mutex_t digest_lock;
};

struct run {
  /* options */
  const char *source;          /* --source URI */
  const char *listen;          /* --listen ADDR:PORT */
  const char *tls_psk_file, *tls_certificates;
  bool insecure;               /* --insecure: --listen off loopback without TLS */
  const char *out_dir;
  enum p2v_target target;
  const char *format;          /* qcow2, raw, vmdk, vmdk-stream */
  const char *name;            /* --name, else from the survey or the guest */
  char *name_buf;              /* owns name when it was made here */
  bool boot_test, json, force, keep_work;
  bool keep_disks;             /* --keep-disks: the OVA's disks and OVF stay beside it */
  unsigned vcpus;              /* 0: survey or default */
  uint64_t memory;             /* 0: survey or default */
  enum run_verify verify;
  unsigned boot_timeout;
  unsigned connections;
  unsigned dialin_wait;         /* seconds for the source to dial in; 0: forever */
  unsigned connect_timeout;     /* connect, handshake, requests before the copy; 0: never */
  uint32_t cluster_size;        /* qcow2; 0: 64 KiB */

  /* state */
  struct run_disk *disks;
  size_t ndisks;
  char *survey_json;           /* the source's, NUL-terminated; NULL if none */
  struct p2v_survey *survey;
  struct p2v_dialin *dialin;
  struct p2v_dialin_options dialin_options;
  char *work_dir;              /* DIR/.p2v-work */
  char *socket_dir;            /* short temp dir holding our Unix sockets */
  struct run_server *server;   /* the sources served to qemu */
  struct p2v_changes changes;
  struct p2v_guest_info guest; /* copied strings owned by guest_strings */
  char *guest_strings[9];
  char vm_mac[18];             /* the VM's only NIC's MAC ("" when it has several) */
  struct p2v_report *report;
  const char *failed_phase;
};

/* run-command.c */
/* The phases, once the command line (cli/) filled run's options; the
 * exit code. */
int run_pipeline(const struct run *options);
double run_now(void);
/* Record a phase (timed from start) in the report. */
void run_phase(struct run *run, const char *phase, double start, bool ok, const char *reason);

/* run-command.c: the part of disk i's output name taken from its export
 * name (of n): cleaned, without an image file's extension ("disk.raw" ->
 * "disk") unless another export's name would then be the same, when the
 * extension stays; "disk" for the default export.  NULL: no memory. */
char *run_disk_stem(const char *const *export_names, size_t n, size_t i);

/* run-preflight.c: connect, list exports, read each first sector, read
 * the survey, count used bytes, check space and format limits.
 * 0, or an exit code with one error reported. */
int run_preflight(struct run *run);
/* "nbd://h:p/EXPORT?q" from the --source URI and an export name. */
char *run_export_uri(const char *base, const char *export_name);

/* run-serve.c: serve every source disk read-only on a private Unix
 * socket, so qemu (libguestfs, qemu-img) reads through our NBD client
 * whatever the source is (TLS, dial-in).  0 or -1 reported. */
struct run_server;
int run_serve_start(struct run *run);
void run_serve_stop(struct run *run);

/* patched-source.c: the source of the copy.  Reads the original
 * source for unchanged ranges and the overlay's clusters (overlay_uri,
 * backing cut off) for the ranges the conversion changed; every read
 * goes into disk->read_digest.  Owns nothing of disk.  NULL reported. */
struct p2v_image *run_patched_open(struct run_disk *disk, const char *overlay_uri);

/* run-copy.c: copy every disk (OUTPUT.part, renamed when complete).
 * 0, or an exit code with one error reported. */
int run_copy(struct run *run);

/* run-metadata.c: libvirt XML, or .vmx, or (OVA, --keep-disks) the OVF.
 * 0 or exit code. */
int run_metadata(struct run *run);
/* Does run end with an OVA (vmware, vmdk-stream)? */
bool run_writes_ova(const struct run *run);
/* The last phase for an OVA: pack the verified disks into NAME.ova (via
 * a temporary name), then remove the disks unless --keep-disks.  0 or
 * exit code. */
int run_package(struct run *run);
/* The VM as run describes it (survey + guest + outputs), for the
 * metadata and the boot test. */
#define RUN_MAX_NICS 16
struct run_vm {
  struct p2v_vm vm;
  struct p2v_vm_disk *disks;           /* run->ndisks entries */
  struct p2v_vm_nic nics[RUN_MAX_NICS];
  char description[512];
};
/* 0, or -1 reported (out of memory); run_vm_clear frees what it holds. */
int run_describe_vm(struct run *run, struct run_vm *v);
void run_vm_clear(struct run_vm *v);
/* Choose run->vm_mac: the survey's MAC when it saw exactly one physical
 * NIC, a new random one (52:54:00 for KVM, VMware's static range for
 * VMware) when it saw none, "" when several.  0 or -1 reported. */
int run_choose_vm_mac(struct run *run);

/* run-verify.c: --verify and --boot-test.  0 or exit code. */
int run_verify(struct run *run);
int run_boot_test(struct run *run);

#endif
