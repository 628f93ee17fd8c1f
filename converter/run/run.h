/* p2v-convert run: the private header of run-*.c, sectioned by the file
 * that defines each symbol.  The phases, in order (docs/hacking.md):
 * preflight, inspect, convert, copy, metadata, verify, boot-test, package
 * (the OVA, vmdk-stream only); the table is in run-command.c, the loop
 * over it in run-phases.c.
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

/* How a phase or a job ended.  run/ and the copy job say what went
 * wrong, never an exit code: cli/ maps each kind to the documented code
 * (docs/p2v-convert.md). */
enum run_failure {
  RUN_OK = 0,
  RUN_FAILED,                  /* anything not below, e.g. an output write error */
  RUN_BAD_USAGE,               /* e.g. two exports written to one file */
  RUN_UNREACHABLE,             /* the source does not answer (in time) */
  RUN_NO_EXPORT,
  RUN_TLS_FAILED,
  RUN_OUTPUT_EXISTS,
  RUN_DISK_FULL,
  RUN_READ_ERROR,
  RUN_STALLED,
  RUN_PREFLIGHT_FAILED,        /* space, format limits, survey, an unreadable export */
  RUN_NO_SPACE,                /* copy: too little free space, found before writing */
  RUN_NO_OS,                   /* no OS, or no guest converter for it */
  RUN_CONVERT_FAILED,
  RUN_VERIFY_FAILED,
  RUN_BOOT_TEST_FAILED,
  RUN_INTERRUPTED,             /* by the outcome's signo */
};

/* How a job (run_pipeline, copy_job) ended, for cli/ to turn into an
 * exit code. */
struct run_outcome {
  enum run_failure failure;
  int signo;                   /* RUN_INTERRUPTED: SIGINT or SIGTERM */
  bool error_printed;          /* at least one error line was shown */
};

struct copy_state;
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
  struct copy_state *state;      /* copy_job's own (messages, signal); set there */
};
struct run_outcome copy_job(const struct copy_args *a);

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
  const char *drivers_source;   /* --drivers: virtio-win folder, ISO or zip; NULL: none */
  enum p2v_disk_bus block_driver;    /* --block-driver (KVM); DEFAULT: virtio-blk */
  bool require_drivers;         /* --require-drivers */

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
  struct p2v_guest *guest_handle;   /* open from inspect to the end of convert */
  struct p2v_guest_hardware hardware;   /* the disk bus and NIC the conversion prepared
                                           the guest for: the metadata and boot test use it */
  struct p2v_report *report;   /* made once the VM's name is known */

  /* how it ends: the first failure, its first error message, its phase */
  enum run_failure failure;
  char first_error[1024];
  const char *failed_phase;
  int signo;                   /* RUN_INTERRUPTED: SIGINT or SIGTERM */
  /* Set by the pipeline's signal handler; the loop checks it between phases. */
  volatile sig_atomic_t *stop_signal;
  /* Phases that ended before the report was made (run_ensure_report). */
  struct run_pending_phase {
    const char *phase;
    double seconds;
    bool ok;
    char *reason;
  } pending[8];
  size_t npending;
};

/* run-command.c */
/* The phases, once the command line (cli/) filled run's options. */
struct run_outcome run_pipeline(const struct run *options);

/* run-phases.c: the loop over the phases. */
struct run_phase {
  const char *name;            /* in the report: "preflight", "copy" ... */
  enum run_failure (*run)(struct run *run);
  bool (*wanted)(const struct run *run);   /* NULL: always */
};
/* Run each wanted phase in order, timing each into the report, until one
 * fails or a stop signal came (checked between phases).  Returns RUN_OK
 * or the failure, also kept in run->failure with run->failed_phase. */
enum run_failure run_phases(struct run *run, const struct run_phase *phases, size_t n);
/* Keep the first error of the run (the log sink calls this). */
void run_note_error(struct run *run, const char *message);
/* Make the report, once, with the phases recorded so far. */
void run_ensure_report(struct run *run);
/* Monotonic seconds, for durations. */
double run_now(void);
/* The failure kind of an open or a copy that failed (also the copy
 * job's). */
enum run_failure run_open_failure(enum p2v_open_failure why);
enum run_failure run_copy_failure(enum copy_result result);

/* run-command.c: the part of disk i's output name taken from its export
 * name (of n): cleaned, without an image file's extension ("disk.raw" ->
 * "disk") unless another export's name would then be the same, when the
 * extension stays; "disk" for the default export.  NULL: no memory. */
char *run_disk_stem(const char *const *export_names, size_t n, size_t i);

/* run-preflight.c: connect, list exports, read each first sector, read
 * the survey, count used bytes, check space and format limits.
 * RUN_OK, or a failure with one error reported. */
enum run_failure run_preflight(struct run *run);
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
 * RUN_OK, or a failure with one error reported. */
enum run_failure run_copy(struct run *run);

/* run-metadata.c: libvirt XML, or .vmx, or (OVA, --keep-disks) the OVF.
 * RUN_OK or failure. */
enum run_failure run_metadata(struct run *run);
/* Does run end with an OVA (vmware, vmdk-stream)? */
bool run_writes_ova(const struct run *run);
/* The last phase for an OVA: pack the verified disks into NAME.ova (via
 * a temporary name), then remove the disks unless --keep-disks.  RUN_OK
 * or failure. */
enum run_failure run_package(struct run *run);
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

/* run-verify.c: --verify and --boot-test.  RUN_OK or failure. */
enum run_failure run_verify(struct run *run);
enum run_failure run_boot_test(struct run *run);

#endif
