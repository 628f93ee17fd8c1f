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

#include "convert.h"
#include "extent-list.h"
#include "guest.h"
#include "image.h"
#include "vm.h"

struct p2v_survey;
struct p2v_report;
struct p2v_disk;

enum run_verify { RUN_VERIFY_QUICK, RUN_VERIFY_FULL, RUN_VERIFY_NONE };

/* The digest of a disk's contents (run-digest.c): a sum, over every
 * 4-byte word, of its value times r^(word index), modulo 2^61-1, for two
 * random r.  Zero bytes add nothing, so holes and zeroes need no
 * reading; pieces may be added in any order and any size, so the reads
 * of the copy and the read-back of the output give the same digest. */
#define RUN_DIGEST_LANES 2
struct run_digest {
  uint64_t sum[RUN_DIGEST_LANES];
};

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

/* run-changes.c: the ranges the conversion wrote in an overlay (qemu-img
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

/* run-patched-source.c: the source of the copy.  Reads the original
 * source for unchanged ranges and the overlay's clusters (overlay_uri,
 * backing cut off) for the ranges the conversion changed; every read
 * goes into disk->read_digest.  Owns nothing of disk.  NULL reported. */
struct p2v_image *run_patched_open(struct run_disk *disk, const char *overlay_uri);

/* run-digest.c */
void run_digest_init(void);    /* pick the random points, once per run */
void run_digest_add(struct run_digest *d, const void *buf, size_t count, uint64_t offset);
void run_digest_merge(struct run_digest *into, const struct run_digest *from);
bool run_digest_equal(const struct run_digest *a, const struct run_digest *b);
/* Digest of an image read through img (extents skip holes); 0 or -1. */
int run_digest_image(struct p2v_image *img, struct run_digest *d);

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
