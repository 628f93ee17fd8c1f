/* p2v-convert run: the command line (run/run-command.c runs the phases;
 * exit-codes.c says what their failure means).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"
#include "log.h"
#include "nbd-server.h"

#define DEFAULT_DRIVERS "/usr/share/virtio-win"

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
        "  --tls-psk FILE           dial-in: TLS with this pre-shared key file\n"
        "                           (psktool format; --tls-psk-file is an alias)\n"
        "  --tls-certificates DIR   dial-in: TLS with X.509 (ca-cert.pem, client-cert.pem ...)\n"
        "  --wait SECONDS           dial-in: how long to wait for the source (0: forever; 600)\n"
        "  --insecure               dial-in off loopback: accept disks in clear text\n"
        "                           (a trusted network); else --tls-psk is needed\n"
        "  --out DIR                where everything goes (created if missing)\n"
        "  --target kvm|vmware      libvirt XML + qcow2, or .vmx + OVF + OVA + VMDK\n"
        "  -O, --format FORMAT      qcow2, raw, vmdk or vmdk-stream (kvm: qcow2;\n"
        "                           vmware: vmdk-stream, which the OVA needs)\n"
        "  --name NAME              the VM's name (default: the survey's hostname,\n"
        "                           else the guest's)\n"
        "  --vcpus N, --memory SIZE override the survey (default without one: 2, 2G)\n"
        "  --verify=quick|full|none check the outputs (default quick; see the docs)\n"
        "  --boot-test              boot the result in qemu and wait for a login prompt\n"
        "                           (Windows: the first-boot service's start on COM1)\n"
        "  --boot-timeout SECONDS   give up the boot test after this (600)\n"
        "  --connections N          NBD connections for the copy (4)\n"
        "  --connect-timeout SEC    give up if connecting, the NBD handshake or a request\n"
        "                           before the copy takes SEC seconds (60; 0: never)\n"
        "  --cluster-size SIZE      qcow2: cluster size, a power of two from 512 to 2M (64K)\n"
        "  --drivers SOURCE         Windows: driver packages (a virtio-win folder, ISO or\n"
        "                           zip; default " DEFAULT_DRIVERS " when it exists)\n"
        "  --block-driver virtio-blk|virtio-scsi\n"
        "                           kvm: the boot disk's controller (default virtio-blk)\n"
        "  --require-drivers        Windows: refuse to convert when the drivers for the\n"
        "                           target's devices are missing (default: warn and give\n"
        "                           the VM emulated SATA and e1000e instead)\n"
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
        "Exit codes: 0 done, 1 other error, 2 usage, 3 source unreachable or silent\n"
        "(--connect-timeout), 4 no such export, 5 TLS failure, 6 output exists, 7 disk\n"
        "full, 8 source read error, 9 stalled, 10 preflight failed (space, format limits, survey, unreadable\n"
        "export), 11 no OS or an unsupported one, 12 conversion failed, 13\n"
        "verification failed, 14 boot test failed, 130/143 interrupted.\n"
        "See 'man 1 p2v-convert' (docs/p2v-convert.md) for the whole story.\n", out);
}

/* ---- options ---- */

enum {
  OPT_SOURCE = 256, OPT_LISTEN, OPT_PSK, OPT_CERTS, OPT_WAIT, OPT_OUT, OPT_TARGET, OPT_NAME,
  OPT_BOOT_TEST, OPT_BOOT_TIMEOUT, OPT_JSON, OPT_VCPUS, OPT_MEMORY, OPT_FORCE, OPT_VERIFY,
  OPT_KEEP_WORK, OPT_KEEP_DISKS, OPT_CONNECTIONS, OPT_INSECURE, OPT_CONNECT_TIMEOUT, OPT_CLUSTER_SIZE,
  OPT_DRIVERS, OPT_BLOCK_DRIVER, OPT_REQUIRE_DRIVERS,
};

static const struct option long_options[] = {
  { "source",           required_argument, NULL, OPT_SOURCE },
  { "listen",           required_argument, NULL, OPT_LISTEN },
  { "tls-psk",          required_argument, NULL, OPT_PSK },
  { "tls-psk-file",     required_argument, NULL, OPT_PSK },   /* the old spelling */
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
  { "connect-timeout",  required_argument, NULL, OPT_CONNECT_TIMEOUT },
  { "cluster-size",     required_argument, NULL, OPT_CLUSTER_SIZE },
  { "drivers",          required_argument, NULL, OPT_DRIVERS },
  { "block-driver",     required_argument, NULL, OPT_BLOCK_DRIVER },
  { "require-drivers",  no_argument,       NULL, OPT_REQUIRE_DRIVERS },
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

/* --block-driver is KVM's; --drivers must exist now, not after the
 * copy has been planned (its default only when it does).  0 or -1
 * reported. */
static int check_driver_options(struct run *run)
{
  if (run->block_driver != P2V_DISK_BUS_DEFAULT && run->target != P2V_TARGET_KVM) {
    p2v_error("--block-driver is for --target kvm: a VMware VM's disks are on LSI Logic SAS, "
              "pvscsi or SATA, chosen by the conversion");
    return -1;
  }
  if (run->drivers_source && access(run->drivers_source, R_OK) == -1) {
    p2v_error("--drivers %s: %m: give a virtio-win folder, ISO or zip", run->drivers_source);
    return -1;
  }
  if (!run->drivers_source && access(DEFAULT_DRIVERS, R_OK) == 0)
    run->drivers_source = DEFAULT_DRIVERS;
  return 0;
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
    case OPT_DRIVERS: run->drivers_source = optarg; break;
    case OPT_REQUIRE_DRIVERS: run->require_drivers = true; break;
    case OPT_BLOCK_DRIVER:
      if (!strcmp(optarg, "virtio-blk")) run->block_driver = P2V_DISK_BUS_VIRTIO_BLK;
      else if (!strcmp(optarg, "virtio-scsi")) run->block_driver = P2V_DISK_BUS_VIRTIO_SCSI;
      else {
        p2v_error("--block-driver takes virtio-blk or virtio-scsi, not '%s'", optarg);
        return -1;
      }
      break;
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
    case OPT_CONNECT_TIMEOUT:
      if (convert_parse_unsigned("--connect-timeout", optarg, 0, 7 * 24 * 3600,
                                 &run->connect_timeout) == -1) return -1;
      break;
    case OPT_CLUSTER_SIZE:
      if (convert_parse_cluster_size(optarg, &run->cluster_size) == -1) return -1;
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
              "--tls-psk and --tls-certificates are for --listen");
    return -1;
  }
  if (run->source && run->insecure) {
    p2v_error("--insecure is for --listen (a --source URI says nbd:// or nbds:// itself)");
    return -1;
  }
  if (run->listen && (p2v_net_check_address(run->listen, "listen on") == -1 ||
                      convert_check_listen_tls(run->listen, run->tls_psk_file ||
                                               run->tls_certificates, run->insecure,
                                               "--tls-psk") == -1))
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
  if (run->cluster_size && strcmp(run->format, "qcow2")) {
    p2v_error("--cluster-size is for qcow2 (VMDK grains are 64 KiB)");
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
  return check_driver_options(run);
}

int convert_run(int argc, char **argv)
{
  struct run run = { .verify = RUN_VERIFY_QUICK, .boot_timeout = 600, .connections = 4,
                     .dialin_wait = 600, .connect_timeout = 60 };
  int r = parse_args(argc, argv, &run);
  if (r != 0)
    return r > 0 ? EXIT_OK : EXIT_USAGE;
  struct run_outcome o = run_pipeline(&run);
  return convert_exit_code(o.failure, o.signo);
}
