/* p2v-convert copy SOURCE -o OUTPUT, and copy --listen ADDR:PORT -o DIR:
 * the command line (run/copy-job.c does the copy).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "human-size.h"
#include "log.h"
#include "nbd-server.h"
#include "parse.h"

static void print_usage(FILE *out)
{
  fputs("Usage: p2v-convert copy SOURCE -o OUTPUT [OPTIONS]\n"
        "       p2v-convert copy --listen ADDR:PORT -O FORMAT -o DIR [OPTIONS]\n"
        "\n"
        "Copy an NBD export (nbd://, nbds://, nbd+unix://) into a disk image,\n"
        "reading only allocated data.  With --listen, wait for the source to dial\n"
        "in (p2v-agent serve --connect) and copy every disk it offers into\n"
        "DIR/EXPORT.EXT (.qcow2, .vmdk or .raw) and its survey into DIR/survey.json.\n"
        "\n"
        "  -o, --output FILE        the image to write (written as FILE.part, then renamed);\n"
        "                           with --listen, the folder to write into\n"
        "  -O, --format FORMAT      qcow2, vmdk, vmdk-stream or raw (default: from\n"
        "                           FILE's extension: .qcow2, .vmdk, .raw, .img)\n"
        "      --compress           qcow2: compressed clusters\n"
        "      --cluster-size SIZE  qcow2: cluster size, a power of two from 512 to 2M (64K)\n"
        "      --connections N      NBD connections if the source allows multi-conn (4)\n"
        "      --requests N         chunks (256 KiB) being read per connection (16)\n"
        "      --threads N          threads writing (and compressing) (online CPUs)\n"
        "      --force              replace OUTPUT (and a leftover OUTPUT.part)\n"
        "      --progress=MODE      bar, json or none (default: bar on a terminal)\n"
        "      --progress-fd FD     write progress to FD instead of stderr\n"
        "      --json               print the summary as JSON on stdout\n"
        "      --stall-timeout SEC  give up after SEC seconds without progress (60; 0: never)\n"
        "      --connect-timeout SEC  give up if connecting, the NBD handshake or a request\n"
        "                           before the copy takes SEC seconds (default: the stall\n"
        "                           timeout; 0: never)\n"
        "      --listen ADDR:PORT   listen there for a source that dials in (:0: any port)\n"
        "      --wait SEC           with --listen: give up if nobody dials in (0: never, default)\n"
        "      --tls-psk FILE       with --listen: TLS with a pre-shared key (psktool format)\n"
        "      --tls-certificates DIR  refused with --listen for now (see docs/dial-in.md)\n"
        "      --insecure           with --listen off loopback: accept disks in clear\n"
        "                           text (a trusted network); else --tls-psk is needed\n"
        "  -v, --verbose            more messages (twice: debug)\n"
        "\n"
        "Exit codes: 0 done, 1 other error, 2 usage, 3 source unreachable or silent\n"
        "(--connect-timeout), 4 no such export, 5 TLS failure, 6 output exists, 7 disk\n"
        "full, 8 source read error, 9 stalled, 10 not enough space for the output,\n"
        "130/143 interrupted (SIGINT/SIGTERM); with --listen, 3 means nobody dialled\n"
        "in.  See also docs/dial-in.md.\n"
        "See 'man 1 p2v-convert' (docs/p2v-convert.md) for the whole story.\n", out);
}

/* ---- options ---- */

int convert_check_listen_tls(const char *address, bool tls, bool insecure,
                             const char *psk_option)
{
  char fix[128];
  snprintf(fix, sizeof fix, "use %s FILE, or --insecure on a trusted network", psk_option);
  return p2v_net_require_tls(address, tls ? P2V_NET_TLS_VERIFIED : P2V_NET_CLEAR,
                             insecure ? "--insecure" : NULL, "receive disks on", fix);
}

int convert_parse_unsigned(const char *option, const char *arg, unsigned min, unsigned max,
                           unsigned *out)
{
  return p2v_option_uint(option, arg, min, max, out);
}

int convert_parse_cluster_size(const char *arg, uint32_t *out)
{
  uint64_t size;
  if (p2v_option_size("--cluster-size", arg, UINT64_C(1) << QCOW2_MIN_CLUSTER_BITS,
                      UINT64_C(1) << QCOW2_MAX_CLUSTER_BITS, "64K, 2M", &size) == -1)
    return -1;
  if (size & (size - 1)) {
    p2v_error("--cluster-size: \"%s\" is not a power of two (512, 1K, ..., 64K, ..., 2M)", arg);
    return -1;
  }
  *out = (uint32_t) size;
  return 0;
}

enum {
  OPT_COMPRESS = 256, OPT_CONNECTIONS, OPT_REQUESTS, OPT_THREADS, OPT_FORCE, OPT_PROGRESS,
  OPT_PROGRESS_FD, OPT_JSON, OPT_STALL, OPT_CHUNK, OPT_LISTEN, OPT_WAIT, OPT_TLS_PSK,
  OPT_TLS_CERTIFICATES, OPT_INSECURE, OPT_CONNECT_TIMEOUT, OPT_CLUSTER_SIZE,
};

static const struct option long_options[] = {
  { "output",        required_argument, NULL, 'o' },
  { "format",        required_argument, NULL, 'O' },
  { "compress",      no_argument,       NULL, OPT_COMPRESS },
  { "connections",   required_argument, NULL, OPT_CONNECTIONS },
  { "requests",      required_argument, NULL, OPT_REQUESTS },
  { "threads",       required_argument, NULL, OPT_THREADS },
  { "force",         no_argument,       NULL, OPT_FORCE },
  { "progress",      required_argument, NULL, OPT_PROGRESS },
  { "progress-fd",   required_argument, NULL, OPT_PROGRESS_FD },
  { "json",          no_argument,       NULL, OPT_JSON },
  { "stall-timeout", required_argument, NULL, OPT_STALL },
  { "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
  { "cluster-size",  required_argument, NULL, OPT_CLUSTER_SIZE },
  { "chunk-size",    required_argument, NULL, OPT_CHUNK },   /* for bench/ */
  { "listen",        required_argument, NULL, OPT_LISTEN },
  { "wait",          required_argument, NULL, OPT_WAIT },
  { "tls-psk",       required_argument, NULL, OPT_TLS_PSK },
  { "tls-certificates", required_argument, NULL, OPT_TLS_CERTIFICATES },
  { "insecure",      no_argument,       NULL, OPT_INSECURE },
  { "verbose",       no_argument,       NULL, 'v' },
  { "help",          no_argument,       NULL, 'h' },
  { NULL, 0, NULL, 0 },
};

/* The rest of the command line with --listen: 0, or -1 reported. */
static int check_listen_args(int argc, char **argv, struct copy_args *a)
{
  if (optind < argc) {
    p2v_error("unexpected argument '%s': with --listen the source dials in, so no SOURCE "
              "is given", argv[optind]);
    return -1;
  }
  if (!a->output) {
    p2v_error("no output folder given; add -o DIR");
    return -1;
  }
  if (!a->format) {
    p2v_error("no format given; with --listen add -O qcow2, vmdk, vmdk-stream or raw");
    return -1;
  }
  if (a->tls_psk && a->tls_certificates) {
    p2v_error("--tls-psk and --tls-certificates exclude each other");
    return -1;
  }
  if (p2v_net_check_address(a->listen, "listen on") == -1)
    return -1;
  return convert_check_listen_tls(a->listen, a->tls_psk || a->tls_certificates, a->insecure,
                                  "--tls-psk");
}

/* --progress: the names and what they mean. */
static const char *const progress_modes[] = { "bar", "json", "none", NULL };
static const enum progress_mode progress_values[] = { PROGRESS_BAR, PROGRESS_JSON, PROGRESS_NONE };

/* 0 go on, 1 done (--help), -1 usage error reported. */
static int parse_args(int argc, char **argv, struct copy_args *a)
{
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  *a = (struct copy_args) {
    .connections = 4, .requests = 16, .threads = cpus > 0 ? (unsigned) cpus : 1,
    .progress = PROGRESS_AUTO, .progress_fd = STDERR_FILENO, .stall_timeout = 60,
    .connect_timeout = UINT_MAX,
  };
  if (a->threads > 16)
    a->threads = 16;
  int c, n_choice;
  unsigned n;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "o:O:vh", long_options, NULL)) != -1) {
    switch (c) {
    case 'o': a->output = optarg; break;
    case 'O': a->format = optarg; break;
    case OPT_COMPRESS: a->compress = true; break;
    case OPT_LISTEN: a->listen = optarg; break;
    case OPT_TLS_PSK: a->tls_psk = optarg; break;
    case OPT_TLS_CERTIFICATES: a->tls_certificates = optarg; break;
    case OPT_INSECURE: a->insecure = true; break;
    case OPT_WAIT:
      if (convert_parse_unsigned("--wait", optarg, 0, 7 * 24 * 3600, &a->wait) == -1) return -1;
      break;
    case OPT_FORCE: a->force = true; break;
    case OPT_JSON: a->json = true; break;
    case 'v': p2v_log_set_verbosity(p2v_log_verbosity() + 1); break;
    case 'h': print_usage(stdout); return 1;
    case OPT_CONNECTIONS:
      if (convert_parse_unsigned("--connections", optarg, 1, 64, &a->connections) == -1) return -1;
      break;
    case OPT_REQUESTS:
      if (convert_parse_unsigned("--requests", optarg, 1, 256, &a->requests) == -1) return -1;
      break;
    case OPT_THREADS:
      if (convert_parse_unsigned("--threads", optarg, 1, 64, &a->threads) == -1) return -1;
      break;
    case OPT_PROGRESS_FD:
      if (convert_parse_unsigned("--progress-fd", optarg, 0, INT_MAX, &n) == -1) return -1;
      a->progress_fd = (int) n;
      if (fcntl(a->progress_fd, F_GETFD) == -1) {
        p2v_error("--progress-fd %d: %m", a->progress_fd);
        return -1;
      }
      break;
    case OPT_CHUNK:
      if (convert_parse_unsigned("--chunk-size", optarg, 4096, 64 << 20, &n) == -1) return -1;
      a->chunk_size = n;
      break;
    case OPT_STALL:
      if (convert_parse_unsigned("--stall-timeout", optarg, 0, 7 * 24 * 3600, &n) == -1) return -1;
      a->stall_timeout = n;
      break;
    case OPT_CONNECT_TIMEOUT:
      if (convert_parse_unsigned("--connect-timeout", optarg, 0, 7 * 24 * 3600,
                                 &a->connect_timeout) == -1) return -1;
      break;
    case OPT_CLUSTER_SIZE:
      if (convert_parse_cluster_size(optarg, &a->cluster_size) == -1) return -1;
      break;
    case OPT_PROGRESS:
      if (p2v_option_choice("--progress", optarg, progress_modes, &n_choice) == -1) return -1;
      a->progress = progress_values[n_choice];
      break;
    case ':':
      p2v_error("option %s needs a value", argv[optind - 1]);
      return -1;
    default:
      p2v_error("unknown option '%s'; see 'p2v-convert copy --help'", argv[optind - 1]);
      return -1;
    }
  }
  if (a->connect_timeout == UINT_MAX)
    a->connect_timeout = (unsigned) a->stall_timeout;
  if (a->listen)
    return check_listen_args(argc, argv, a);
  if (a->wait || a->tls_psk || a->tls_certificates) {
    p2v_error("--wait, --tls-psk and --tls-certificates are for --listen (a SOURCE URI "
              "carries its own TLS settings)");
    return -1;
  }
  if (a->insecure) {
    p2v_error("--insecure is for --listen (a SOURCE URI says nbd:// or nbds:// itself)");
    return -1;
  }
  if (optind >= argc) {
    p2v_error("no source given; usage: p2v-convert copy nbd://HOST[:PORT]/EXPORT -o OUTPUT");
    return -1;
  }
  a->source = argv[optind++];
  if (optind < argc) {
    p2v_error("unexpected argument '%s' after the source (one source per copy)", argv[optind]);
    return -1;
  }
  if (!a->output) {
    p2v_error("no output given; add -o OUTPUT");
    return -1;
  }
  return 0;
}

int convert_copy(int argc, char **argv)
{
  struct copy_args a;
  int r = parse_args(argc, argv, &a);
  if (r != 0)
    return r > 0 ? EXIT_OK : EXIT_USAGE;
  struct run_outcome o = copy_job(&a);
  int status = convert_exit_code(o.failure, o.signo);
  /* Every failure says why in one line; a path that forgot to is a bug,
   * but the person running the command still gets a line. */
  if (status != EXIT_OK && !o.error_printed)
    p2v_error("failed with exit code %d but no reason was given (a bug); run again with "
              "-vv and report the output", status);
  return status;
}
