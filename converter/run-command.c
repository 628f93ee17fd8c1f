/* p2v-convert run: migrate a whole machine.  The options and the order of
 * the phases, each timed into the report; whatever fails, the report is
 * written (with the phase that failed) and the exit code says why.
 *
 *   preflight ─▶ inspect ─▶ convert ─▶ copy ─▶ metadata ─▶ verify ─▶ boot-test
 *   (seconds)    (overlays backed by the source; nothing big written yet)
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "nbd-server.h"
#include "report.h"
#include "run.h"
#include "survey.h"

static void print_usage(FILE *out)
{
  fputs("Usage: p2v-convert run (--source URI | --listen ADDR:PORT) --out DIR\n"
        "                       --target kvm|vmware [OPTIONS]\n"
        "\n"
        "Migrate a whole machine: preflight, inspect and convert the guest on\n"
        "overlays backed by the source (before any bulk copy), copy every disk\n"
        "with the conversion's changes, write the VM's metadata, verify.\n"
        "\n"
        "  --source URI             nbd://HOST[:PORT] (every disk export) or\n"
        "                           nbd://HOST[:PORT]/EXPORT (one disk); nbds:// with\n"
        "                           ?tls-psk-file=FILE or ?tls-certificates=DIR; nbd+unix://\n"
        "  --listen ADDR:PORT       wait for the source to dial in (p2v-agent, live image)\n"
        "  --tls-psk-file FILE      dial-in: TLS with this pre-shared key file\n"
        "  --tls-certificates DIR   dial-in: TLS with X.509 (ca-cert.pem, client-cert.pem ...)\n"
        "  --wait SECONDS           dial-in: how long to wait for the source (0: forever; 600)\n"
        "  --insecure               dial-in off loopback: accept disks in clear text\n"
        "                           (a trusted network); else --tls-psk-file is needed\n"
        "  --out DIR                where everything goes (created if missing)\n"
        "  --target kvm|vmware      libvirt XML + qcow2, or .vmx + OVF + OVA + VMDK\n"
        "  -O, --format FORMAT      qcow2, raw, vmdk or vmdk-stream (kvm: qcow2;\n"
        "                           vmware: vmdk-stream, which the OVA needs)\n"
        "  --name NAME              the VM's name (default: the survey's hostname,\n"
        "                           else the guest's)\n"
        "  --vcpus N, --memory SIZE override the survey (default without one: 2, 2G)\n"
        "  --verify=quick|full|none check the outputs (default quick; see the docs)\n"
        "  --boot-test              boot the result in qemu and wait for a login prompt\n"
        "  --boot-timeout SECONDS   give up the boot test after this (600)\n"
        "  --connections N          NBD connections for the copy (4)\n"
        "  --json                   print the report (report.json) on stdout\n"
        "  --force                  replace existing outputs\n"
        "  --keep-work              keep the overlays in DIR/.p2v-work\n"
        "  --keep-disks             vmware with OVA: keep the disks and the OVF beside the\n"
        "                           OVA that holds them (default: the OVA only)\n"
        "  -v, --verbose            more messages (twice: debug)\n"
        "\n"
        "Outputs: DIR/NAME-EXPORT.EXT per disk (EXPORT without its .img, .raw ...)\n"
        "and DIR/NAME.xml (kvm) or NAME.vmx (vmware, -O vmdk); for vmware with\n"
        "vmdk-stream, DIR/NAME.ova only, written once the disks are verified (and\n"
        "boot-tested); DIR/report.json and report.txt (always, also on failure);\n"
        "the boot test's screenshot.\n"
        "\n"
        "Exit codes: 0 done, 1 other error, 2 usage, 3 source unreachable, 4 no such\n"
        "export, 5 TLS failure, 6 output exists, 7 disk full, 8 source read error,\n"
        "9 stalled, 10 preflight failed (space, format limits, survey, unreadable\n"
        "export), 11 no OS or an unsupported one, 12 conversion failed, 13\n"
        "verification failed, 14 boot test failed, 130/143 interrupted.\n"
        "See docs/p2v-convert.md.\n", out);
}

/* ---- messages: one line per failure, the first kept for the report ---- */

static char first_error[1024];

static void log_sink(enum p2v_log_level level, const char *message)
{
  static const char *const prefix[] = { "", "warning: ", "", "debug: " };
  if (level == P2V_LOG_ERROR) {
    if (first_error[0] && p2v_log_verbosity() < 1)
      return;
    if (!first_error[0])
      snprintf(first_error, sizeof first_error, "%s", message);
  }
  fprintf(stderr, "%s: %s%s\n", p2v_program_name(), prefix[level], message);
}

/* What run is doing now, one line per phase, in log_sink's format: a
 * migration takes minutes, so a person at a terminal (or -v) sees where
 * it is.  Not otherwise: a script sees one line when it fails. */
static void __attribute__((format(printf, 1, 2))) announce(const char *fmt, ...)
{
  if (!isatty(STDERR_FILENO) && p2v_log_verbosity() < 1)
    return;
  char message[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: %s\n", p2v_program_name(), message);
}

double run_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* ---- the report: created once the VM's name is known; phases that
 * end before are kept until then ---- */

struct pending_phase {
  const char *phase;
  double seconds;
  bool ok;
  char *reason;
};
static struct pending_phase pending[8];
static size_t npending;

static void ensure_report(struct run *run)
{
  if (run->report)
    return;
  const char *target = run->target == P2V_TARGET_VMWARE ? "vmware" : "kvm";
  run->report = p2v_report_new(run->source ? run->source : run->listen, target,
                               run->name ? run->name : "unnamed");
  for (size_t i = 0; i < npending; i++) {
    if (run->report)
      p2v_report_phase(run->report, pending[i].phase, pending[i].seconds, pending[i].ok,
                       pending[i].reason);
    free(pending[i].reason);
  }
  npending = 0;
}

void run_phase(struct run *run, const char *phase, double start, bool ok, const char *reason)
{
  double seconds = run_now() - start;
  if (!ok && !reason)
    reason = first_error[0] ? first_error : "failed";
  if (!ok)
    run->failed_phase = phase;
  if (run->report) {
    p2v_report_phase(run->report, phase, seconds, ok, reason);
    return;
  }
  if (npending < sizeof pending / sizeof pending[0])
    pending[npending++] = (struct pending_phase) { phase, seconds, ok,
                                                   reason ? strdup(reason) : NULL };
}

/* ---- options ---- */

enum {
  OPT_SOURCE = 256, OPT_LISTEN, OPT_PSK, OPT_CERTS, OPT_WAIT, OPT_OUT, OPT_TARGET, OPT_NAME,
  OPT_BOOT_TEST, OPT_BOOT_TIMEOUT, OPT_JSON, OPT_VCPUS, OPT_MEMORY, OPT_FORCE, OPT_VERIFY,
  OPT_KEEP_WORK, OPT_KEEP_DISKS, OPT_CONNECTIONS, OPT_INSECURE,
};

static const struct option long_options[] = {
  { "source",           required_argument, NULL, OPT_SOURCE },
  { "listen",           required_argument, NULL, OPT_LISTEN },
  { "tls-psk-file",     required_argument, NULL, OPT_PSK },
  { "tls-certificates", required_argument, NULL, OPT_CERTS },
  { "wait",             required_argument, NULL, OPT_WAIT },
  { "out",              required_argument, NULL, OPT_OUT },
  { "target",           required_argument, NULL, OPT_TARGET },
  { "format",           required_argument, NULL, 'O' },
  { "name",             required_argument, NULL, OPT_NAME },
  { "boot-test",        no_argument,       NULL, OPT_BOOT_TEST },
  { "boot-timeout",     required_argument, NULL, OPT_BOOT_TIMEOUT },
  { "json",             no_argument,       NULL, OPT_JSON },
  { "vcpus",            required_argument, NULL, OPT_VCPUS },
  { "memory",           required_argument, NULL, OPT_MEMORY },
  { "force",            no_argument,       NULL, OPT_FORCE },
  { "verify",           required_argument, NULL, OPT_VERIFY },
  { "keep-work",        no_argument,       NULL, OPT_KEEP_WORK },
  { "keep-disks",       no_argument,       NULL, OPT_KEEP_DISKS },
  { "connections",      required_argument, NULL, OPT_CONNECTIONS },
  { "insecure",         no_argument,       NULL, OPT_INSECURE },
  { "verbose",          no_argument,       NULL, 'v' },
  { "help",             no_argument,       NULL, 'h' },
  { NULL, 0, NULL, 0 },
};

/* "4096M", "4G", "4GiB", bytes without a suffix; at least 64 MiB. */
static int parse_memory(const char *arg, uint64_t *out)
{
  char *end;
  errno = 0;
  unsigned long long v = strtoull(arg, &end, 10);
  unsigned shift = 0;
  if (!errno && end != arg && arg[0] != '-') {
    switch (toupper((unsigned char) *end)) {
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    case 'T': shift = 40; end++; break;
    }
    if (shift && (!strcasecmp(end, "iB") || !strcasecmp(end, "B")))
      end += strlen(end);
    if (!*end && v <= (UINT64_C(1) << 50) >> shift && (v << shift) >= (UINT64_C(64) << 20)) {
      *out = (uint64_t) v << shift;
      return 0;
    }
  }
  p2v_error("--memory takes a size of at least 64M such as 4096M or 4G, not '%s'", arg);
  return -1;
}

/* 0 go on, 1 done (--help), -1 usage error reported. */
static int parse_args(int argc, char **argv, struct run *run)
{
  const char *target = NULL;
  unsigned n;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "O:vh", long_options, NULL)) != -1) {
    switch (c) {
    case OPT_SOURCE: run->source = optarg; break;
    case OPT_LISTEN: run->listen = optarg; break;
    case OPT_PSK: run->tls_psk_file = optarg; break;
    case OPT_CERTS: run->tls_certificates = optarg; break;
    case OPT_OUT: run->out_dir = optarg; break;
    case OPT_TARGET: target = optarg; break;
    case 'O': run->format = optarg; break;
    case OPT_NAME: run->name = optarg; break;
    case OPT_BOOT_TEST: run->boot_test = true; break;
    case OPT_JSON: run->json = true; break;
    case OPT_FORCE: run->force = true; break;
    case OPT_KEEP_WORK: run->keep_work = true; break;
    case OPT_KEEP_DISKS: run->keep_disks = true; break;
    case OPT_INSECURE: run->insecure = true; break;
    case 'v': p2v_log_set_verbosity(p2v_log_verbosity() + 1); break;
    case 'h': print_usage(stdout); return 1;
    case OPT_WAIT:
      if (convert_parse_unsigned("--wait", optarg, 0, 7 * 24 * 3600, &run->dialin_wait) == -1) return -1;
      break;
    case OPT_BOOT_TIMEOUT:
      if (convert_parse_unsigned("--boot-timeout", optarg, 10, 24 * 3600, &run->boot_timeout) == -1)
        return -1;
      break;
    case OPT_VCPUS:
      if (convert_parse_unsigned("--vcpus", optarg, 1, 512, &run->vcpus) == -1) return -1;
      break;
    case OPT_CONNECTIONS:
      if (convert_parse_unsigned("--connections", optarg, 1, 64, &n) == -1) return -1;
      run->connections = n;
      break;
    case OPT_MEMORY:
      if (parse_memory(optarg, &run->memory) == -1) return -1;
      break;
    case OPT_VERIFY:
      if (!strcmp(optarg, "quick")) run->verify = RUN_VERIFY_QUICK;
      else if (!strcmp(optarg, "full")) run->verify = RUN_VERIFY_FULL;
      else if (!strcmp(optarg, "none")) run->verify = RUN_VERIFY_NONE;
      else {
        p2v_error("--verify takes quick, full or none, not '%s'", optarg);
        return -1;
      }
      break;
    case ':':
      p2v_error("option %s needs a value", argv[optind - 1]);
      return -1;
    default:
      p2v_error("unknown option '%s'; see 'p2v-convert run --help'", argv[optind - 1]);
      return -1;
    }
  }
  if (optind < argc) {
    p2v_error("unexpected argument '%s'; the source goes after --source", argv[optind]);
    return -1;
  }
  if (!run->source == !run->listen) {
    p2v_error("give either --source nbd://HOST:PORT or --listen ADDR:PORT");
    return -1;
  }
  if (run->source && (run->tls_psk_file || run->tls_certificates)) {
    p2v_error("with --source, TLS goes in the URI (nbds://...?tls-psk-file=FILE); "
              "--tls-psk-file and --tls-certificates are for --listen");
    return -1;
  }
  if (run->source && run->insecure) {
    p2v_error("--insecure is for --listen (a --source URI says nbd:// or nbds:// itself)");
    return -1;
  }
  if (run->listen && (p2v_net_check_address(run->listen, "listen on") == -1 ||
                      convert_check_listen_tls(run->listen, run->tls_psk_file ||
                                               run->tls_certificates, run->insecure,
                                               "--tls-psk-file") == -1))
    return -1;
  if (!run->out_dir) {
    p2v_error("no output directory given; add --out DIR");
    return -1;
  }
  if (!target) {
    p2v_error("no target given; add --target kvm or --target vmware");
    return -1;
  }
  if (!strcmp(target, "kvm"))
    run->target = P2V_TARGET_KVM;
  else if (!strcmp(target, "vmware"))
    run->target = P2V_TARGET_VMWARE;
  else {
    p2v_error("--target takes kvm or vmware, not '%s'", target);
    return -1;
  }
  if (!run->format)
    run->format = run->target == P2V_TARGET_KVM ? "qcow2" : "vmdk-stream";
  if (strcmp(run->format, "qcow2") && strcmp(run->format, "raw") &&
      strcmp(run->format, "vmdk") && strcmp(run->format, "vmdk-stream")) {
    p2v_error("unknown format '%s'; -O takes qcow2, raw, vmdk or vmdk-stream", run->format);
    return -1;
  }
  if (run->target == P2V_TARGET_VMWARE && strncmp(run->format, "vmdk", 4)) {
    p2v_error("--target vmware writes VMDK: -O vmdk-stream (default, with OVA) or vmdk");
    return -1;
  }
  if (run->keep_disks && !run_writes_ova(run)) {
    p2v_error("--keep-disks applies to an OVA (--target vmware, -O vmdk-stream); "
              "the other outputs keep their disks anyway");
    return -1;
  }
  if (run->name && !*run->name) {
    p2v_error("--name must not be empty");
    return -1;
  }
  return 0;
}

/* ---- the VM's name ---- */

/* Letters, digits, '.', '_' and '-' (file names and VM names); at most 64. */
static char *clean_name(const char *s)
{
  if (!s || !*s || !strcmp(s, "unknown"))
    return NULL;
  char *n = strndup(s, 64);
  if (!n)
    return NULL;
  for (char *p = n; *p; p++)
    if (!isalnum((unsigned char) *p) && *p != '.' && *p != '_' && *p != '-')
      *p = '_';
  return n;
}

/* A disk image's extension at the end of name (".raw"), or NULL. */
static const char *image_extension(const char *name)
{
  static const char *const exts[] = {
    ".img", ".raw", ".qcow2", ".qcow", ".vmdk", ".vhd", ".vhdx", ".vdi", ".dd", NULL,
  };
  const char *dot = strrchr(name, '.');
  if (!dot || dot == name)
    return NULL;
  for (size_t i = 0; exts[i]; i++)
    if (!strcasecmp(dot, exts[i]))
      return dot;
  return NULL;
}

/* clean_name of export_name without its image extension ("disk.raw" ->
 * "disk"); "disk" for the default export. */
static char *stem_of(const char *export_name)
{
  CLEANUP_FREE char *safe = clean_name(export_name);
  if (!safe)
    return strdup("disk");
  const char *ext = image_extension(safe);
  return ext ? strndup(safe, (size_t) (ext - safe)) : strdup(safe);
}

char *run_disk_stem(const char *const *export_names, size_t n, size_t i)
{
  char *stem = stem_of(export_names[i]);
  for (size_t j = 0; stem && j < n; j++) {
    if (j == i)
      continue;
    CLEANUP_FREE char *other = stem_of(export_names[j]);
    if (!other || !strcmp(stem, other)) {     /* a clash: the extension stays */
      free(stem);
      CLEANUP_FREE char *safe = clean_name(export_names[i]);
      return strdup(safe ? safe : "disk");
    }
  }
  return stem;
}

/* ---- phases ---- */

static int inspect_and_convert(struct run *run)
{
  struct p2v_guest_disk *gd = calloc(run->ndisks, sizeof *gd);
  if (!gd) {
    p2v_error("out of memory");
    return EXIT_FAILURE_OTHER;
  }
  for (size_t i = 0; i < run->ndisks; i++) {
    struct run_disk *d = &run->disks[i];
    CLEANUP_FREE char *safe = clean_name(d->export_name);
    if (asprintf(&d->overlay, "%s/%zu-%s.qcow2", run->work_dir, i, safe ? safe : "disk") == -1) {
      free(gd);
      p2v_error("out of memory");
      return EXIT_FAILURE_OTHER;
    }
    /* size 0: the overlay takes its backing file's size (libguestfs needs -1
     * with a backing file). */
    gd[i] = (struct p2v_guest_disk) { d->local_uri, d->overlay };
  }

  double t = run_now();
  enum p2v_guest_failure why = P2V_GUEST_FAILED;
  struct p2v_guest *g = p2v_guest_open(gd, run->ndisks, &why);
  free(gd);
  if (!g) {
    run_phase(run, "inspect", t, false, NULL);
    return why == P2V_GUEST_NO_OS || why == P2V_GUEST_UNSUPPORTED ? EXIT_NO_OS : EXIT_CONVERT;
  }
  const struct p2v_guest_info *info = p2v_guest_info(g);
  const char *fields[] = { info->type, info->distro, info->product_name, info->arch,
                           info->hostname, info->root, info->osinfo };
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    run->guest_strings[i] = strdup(fields[i] ? fields[i] : "unknown");
  run->guest = *info;
  run->guest.type = run->guest_strings[0];
  run->guest.distro = run->guest_strings[1];
  run->guest.product_name = run->guest_strings[2];
  run->guest.arch = run->guest_strings[3];
  run->guest.hostname = run->guest_strings[4];
  run->guest.root = run->guest_strings[5];
  run->guest.osinfo = run->guest_strings[6];
  if (!run->name)
    run->name = run->name_buf = clean_name(info->hostname);
  if (!run->name)
    run->name = "vm";
  run_phase(run, "inspect", t, true, NULL);
  ensure_report(run);
  if (run->report)
    p2v_report_guest(run->report, &run->guest);

  t = run_now();
  struct p2v_convert_options o = {
    .target = run->target, .survey = run->survey, .keep_mac = true, .serial_console = true,
    .vm_mac = run->vm_mac[0] ? run->vm_mac : NULL,
  };
  int r = p2v_guest_convert(g, &o, &run->changes, &why);
  if (p2v_guest_close(g) == -1 && r == 0)
    r = -1, why = P2V_GUEST_FAILED;
  if (run->report)
    p2v_report_changes(run->report, &run->changes);
  run_phase(run, "convert", t, r == 0, NULL);
  if (r == -1)
    return why == P2V_GUEST_NO_OS || why == P2V_GUEST_UNSUPPORTED ? EXIT_NO_OS : EXIT_CONVERT;
  return 0;
}

/* Output names; refuse existing ones unless --force.  0 or exit code. */
static int plan_outputs(struct run *run)
{
  const char *ext = !strcmp(run->format, "qcow2") ? "qcow2"
                  : !strcmp(run->format, "raw") ? "raw" : "vmdk";
  CLEANUP_FREE const char **exports = calloc(run->ndisks + 1, sizeof *exports);
  if (!exports) {
    p2v_error("out of memory");
    return EXIT_FAILURE_OTHER;
  }
  for (size_t i = 0; i < run->ndisks; i++)
    exports[i] = run->disks[i].export_name;
  for (size_t i = 0; i < run->ndisks; i++) {
    struct run_disk *d = &run->disks[i];
    if (d->output)
      continue;                  /* planned before inspection */
    CLEANUP_FREE char *stem = run_disk_stem(exports, run->ndisks, i);
    if (!stem || asprintf(&d->output_name, "%s-%s.%s", run->name, stem, ext) == -1 ||
        asprintf(&d->output, "%s/%s", run->out_dir, d->output_name) == -1) {
      p2v_error("out of memory");
      return EXIT_FAILURE_OTHER;
    }
    for (size_t j = 0; j < i; j++)
      if (!strcmp(run->disks[j].output, d->output)) {
        p2v_error("exports %s and %s would both be written to %s",
                  run->disks[j].label, d->label, d->output);
        return EXIT_USAGE;
      }
  }
  const char *meta[3] = { "xml" };
  if (run_writes_ova(run)) {
    meta[0] = "ova";
    meta[1] = run->keep_disks ? "ovf" : NULL;
  } else if (run->target == P2V_TARGET_VMWARE)
    meta[0] = "vmx";
  struct stat st;
  for (size_t i = 0; i < run->ndisks + 3; i++) {
    CLEANUP_FREE char *path = NULL;
    if (i < run->ndisks)
      path = strdup(run->disks[i].output);
    else if (meta[i - run->ndisks] &&
             asprintf(&path, "%s/%s.%s", run->out_dir, run->name, meta[i - run->ndisks]) == -1)
      path = NULL;
    if (!path)
      continue;
    if (lstat(path, &st) == 0 && !run->force) {
      p2v_error("output %s exists; use --force to replace it", path);
      return EXIT_OUTPUT_EXISTS;
    }
  }
  return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st; (void) flag; (void) ftw;
  return remove(path);
}

static void remove_tree(const char *path)
{
  if (path)
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* DIR (created if missing), DIR/.p2v-work (must not exist without
 * --force) and a short directory for Unix sockets.  0 or exit code. */
static int make_dirs(struct run *run)
{
  if (mkdir(run->out_dir, 0755) == -1 && errno != EEXIST) {
    p2v_error("cannot create output directory %s: %m", run->out_dir);
    return EXIT_FAILURE_OTHER;
  }
  struct stat st;
  if (stat(run->out_dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
    p2v_error("--out %s is not a directory", run->out_dir);
    return EXIT_USAGE;
  }
  if (asprintf(&run->work_dir, "%s/.p2v-work", run->out_dir) == -1) {
    p2v_error("out of memory");
    return EXIT_FAILURE_OTHER;
  }
  if (lstat(run->work_dir, &st) == 0) {
    if (!run->force) {
      p2v_error("%s exists (another run in this directory, or one that was stopped); "
                "remove it or use --force", run->work_dir);
      char *w = run->work_dir;
      run->work_dir = NULL;        /* not ours to remove */
      free(w);
      return EXIT_OUTPUT_EXISTS;
    }
    remove_tree(run->work_dir);
  }
  char tmpl[] = "/tmp/p2v-run.XXXXXX";
  if (!mkdtemp(tmpl) || !(run->socket_dir = strdup(tmpl))) {
    p2v_error("cannot create a directory in /tmp: %m");
    return EXIT_FAILURE_OTHER;
  }
  return 0;
}

static int make_work_dir(struct run *run)
{
  if (mkdir(run->work_dir, 0700) == -1) {
    p2v_error("cannot create %s: %m", run->work_dir);
    return EXIT_FAILURE_OTHER;
  }
  return 0;
}

/* SIGINT/SIGTERM outside the copy: noted here and acted on at the next
 * phase boundary (libguestfs's qemu, in our process group, gets a
 * Ctrl-C too, so a long call ends soon); a second one ends the process
 * at once.  During the copy they are blocked and the engine waits for
 * them itself (run-copy.c). */
static volatile sig_atomic_t stop_signal;

static void note_signal(int signo)
{
  stop_signal = signo;
}

static void catch_stop_signals(void)
{
  struct sigaction sa = { .sa_handler = note_signal, .sa_flags = SA_RESETHAND };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

static bool interrupted(int *code)
{
  if (!stop_signal)
    return false;
  p2v_error("interrupted by %s", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
  *code = 128 + stop_signal;
  return true;
}

static void release(struct run *run)
{
  run_serve_stop(run);
  for (size_t i = 0; i < run->ndisks; i++) {
    struct run_disk *d = &run->disks[i];
    if (d->source)
      d->source->ops->close(d->source);
    free(d->export_name);
    free(d->uri);
    free(d->local_uri);
    free(d->overlay);
    free(d->output);
    free(d->output_name);
    p2v_extent_list_clear(&d->changed);
    pthread_mutex_destroy(&d->digest_lock);
  }
  free(run->disks);
  if (run->dialin)
    p2v_dialin_close(run->dialin);
  if (run->work_dir && !run->keep_work)
    remove_tree(run->work_dir);
  else if (run->work_dir)
    fprintf(stderr, "%s: overlays kept in %s\n", p2v_program_name(), run->work_dir);
  if (run->socket_dir)
    remove_tree(run->socket_dir);
  free(run->work_dir);
  free(run->socket_dir);
  free(run->survey_json);
  p2v_survey_free(run->survey);
  p2v_changes_clear(&run->changes);
  for (size_t i = 0; i < sizeof run->guest_strings / sizeof run->guest_strings[0]; i++)
    free(run->guest_strings[i]);
  free(run->name_buf);
  if (run->report)
    p2v_report_free(run->report);
}

static int finish(struct run *run, int code)
{
  ensure_report(run);
  if (run->report) {
    if (code == 0)
      p2v_report_result(run->report, true, "converted");
    else
      p2v_report_result(run->report, false, first_error[0] ? first_error : "failed");
    if (p2v_report_write(run->report, run->out_dir) == -1 && code == 0)
      code = EXIT_FAILURE_OTHER;
    if (run->json) {
      const char *json = p2v_report_json(run->report);
      if (json)
        printf("%s\n", json);
    }
  }
  if (code == 0 && !run->json)
    printf("converted %s: %zu disk%s, %s/%s.%s, report in %s/report.txt\n", run->name,
           run->ndisks, run->ndisks == 1 ? "" : "s", run->out_dir, run->name,
           run->target == P2V_TARGET_KVM ? "xml"
           : !strcmp(run->format, "vmdk-stream") ? "ova" : "vmx", run->out_dir);
  release(run);
  return code;
}

int convert_run(int argc, char **argv)
{
  struct run run = { .verify = RUN_VERIFY_QUICK, .boot_timeout = 600, .connections = 4,
                     .dialin_wait = 600 };
  first_error[0] = '\0';
  int r = parse_args(argc, argv, &run);
  if (r != 0)
    return r > 0 ? EXIT_OK : EXIT_USAGE;
  p2v_log_set_sink(log_sink);
  signal(SIGPIPE, SIG_IGN);
  if (!getenv("LIBGUESTFS_CACHEDIR") && access("/var/tmp", W_OK) == 0)
    setenv("LIBGUESTFS_CACHEDIR", "/var/tmp", 0);

  catch_stop_signals();
  run_digest_init();

  if ((r = make_dirs(&run)) != 0)
    return finish(&run, r);

  /* 1. preflight */
  announce("checking the source, its survey and the space in %s", run.out_dir);
  double t = run_now();
  r = run_preflight(&run);
  if (r == 0 && !run.name && run.survey)
    run.name = run.name_buf = clean_name(run.survey->hostname);
  if (r != 0) {
    run_phase(&run, "preflight", t, false, NULL);
    return finish(&run, r);
  }
  if (interrupted(&r))
    return finish(&run, r);

  /* Existing outputs: refused now if the name is known already. */
  if (run.name && (r = plan_outputs(&run)) != 0) {
    run_phase(&run, "preflight", t, false, NULL);
    return finish(&run, r);
  }
  run_phase(&run, "preflight", t, true, NULL);

  /* 2. inspect and convert, on overlays, before any bulk copy */
  if ((r = make_work_dir(&run)) != 0 || (r = run_serve_start(&run) == -1 ? EXIT_FAILURE_OTHER : 0) ||
      (r = run_choose_vm_mac(&run) == -1 ? EXIT_FAILURE_OTHER : 0))
    return finish(&run, r);
  announce("inspecting and converting the guest on overlays (nothing is copied before this succeeds)");
  r = inspect_and_convert(&run);
  if (r != 0 || interrupted(&r))
    return finish(&run, r);
  ensure_report(&run);
  if ((r = plan_outputs(&run)) != 0)
    return finish(&run, r);

  /* 3. copy, with the changes laid over the source */
  announce("copying %zu disk%s with the conversion's changes", run.ndisks, run.ndisks == 1 ? "" : "s");
  if ((r = run_copy(&run)) != 0 || interrupted(&r))
    return finish(&run, r);

  /* 4. metadata */
  announce("writing the VM's description");
  if ((r = run_metadata(&run)) != 0 || interrupted(&r))
    return finish(&run, r);

  /* 5. verify, boot test */
  if (run.verify != RUN_VERIFY_NONE)
    announce("verifying the output%s", run.ndisks == 1 ? "" : "s");
  if ((r = run_verify(&run)) != 0 || interrupted(&r))
    return finish(&run, r);
  if (run.boot_test)
    announce("boot test: starting %s in qemu, waiting for its login prompt (at most %u s)",
             run.name, run.boot_timeout);
  if (run.boot_test && (r = run_boot_test(&run)) != 0)
    return finish(&run, r);
  if (interrupted(&r))
    return finish(&run, r);

  /* 6. the OVA, of verified disks only */
  if (run_writes_ova(&run)) {
    announce("packing the OVA");
    if ((r = run_package(&run)) != 0)
      return finish(&run, r);
  }
  if (run.dialin)
    p2v_dialin_done(run.dialin);
  return finish(&run, 0);
}
