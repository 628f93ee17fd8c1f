/* p2v-agent serve: open every disk read-only (learning what is unused),
 * survey them, then either listen for NBD clients or dial out to a
 * listening converter (docs/dial-in.md) until it has everything.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "cleanup.h"
#include "disk.h"
#include "log.h"
#include "nbd-server.h"
#include "net-platform.h"
#include "snapshot.h"

#define DEFAULT_LISTEN "127.0.0.1:10809"
#define DEFAULT_CONNECTIONS 4

struct serve_options {
  const char *listen_address;
  const char *connect_address;
  bool insecure;
  bool snapshot;                     /* --snapshot: the DISKs are volumes to snapshot */
  bool tls_mode_given;
  unsigned max_clients;
  unsigned handshake_timeout, idle_timeout;   /* seconds; 0: the server's default */
  unsigned connections;              /* --connections, dial-in only; 0: not given */
  struct p2v_tls_options tls;
  struct p2v_disk_options disk;
  char *certificates_dir_files[3];   /* from --tls-certificates DIR */
};

static volatile sig_atomic_t stop_requested;

static void print_serve_usage(FILE *out)
{
  fputs("Usage: p2v-agent serve [OPTIONS] DISK...\n"
        "       p2v-agent serve --snapshot [OPTIONS] VOLUME...\n"
        "\n"
        "Serve each DISK (block device or image file) read-only over NBD, one\n"
        "export per disk named after it (sda, disk.img).  Free filesystem space,\n"
        "swap and pagefile contents read as holes, so only used data is sent.\n"
        "\n"
        "  --listen ADDR:PORT        listen here (default " DEFAULT_LISTEN ");\n"
        "                            a non-loopback address needs TLS or --insecure\n"
        "                            (X.509 there: with --tls-verify-peer)\n"
        "  --connect HOST:PORT       dial out to a converter listening there instead\n"
        "                            (sources behind NAT); exits 0 once it has\n"
        "                            everything (docs/dial-in.md); TLS as for --listen\n"
        "  --connections N           with --connect: connections kept open to the\n"
        "                            converter (default 4)\n"
        "  --tls=off|on|require      TLS mode (default: require when TLS files are\n"
        "                            given, else off)\n"
        "  --tls-certificates DIR    X.509 files DIR/server-cert.pem, server-key.pem\n"
        "                            and (if present) ca-cert.pem\n"
        "  --tls-cert FILE, --tls-key FILE, --tls-ca FILE\n"
        "                            X.509 files one by one\n"
        "  --tls-verify-peer         require a client certificate signed by the CA\n"
        "  --tls-psk FILE            pre-shared keys (psktool format: user:hexkey)\n"
        "  --insecure                allow plain NBD, or X.509 without client\n"
        "                            certificates, on a non-loopback address\n"
        "  --snapshot                serve one VSS snapshot of VOLUMEs (C: D:) of this\n"
        "                            running Windows, taken before serving, one export\n"
        "                            per volume (C); released on stop and, listening,\n"
        "                            once the converter opened p2v:done (Windows only)\n"
        "  --all-blocks              send every block: do not read filesystems\n"
        "                            (the survey, served as export p2v:survey, is\n"
        "                            what 'p2v-agent survey --json DISK...' prints)\n"
        "  --max-clients N           sessions served at once (default 16)\n"
        "  --handshake-timeout SEC   with --listen: drop a client not through the\n"
        "                            handshake SEC seconds after connecting (10)\n"
        "  --idle-timeout SEC        with --listen: when all sessions are taken, drop\n"
        "                            one that sent no request for SEC seconds to make\n"
        "                            room for a new client (300)\n"
        "  --console                 run in the foreground (what serve always does;\n"
        "                            accepted so that one command line suits Linux\n"
        "                            and Windows, whose service is 'p2v-agent install')\n"
        "  -v, --verbose             more messages (twice: debug)\n"
        "  -h, --help                this text\n", out);
  fputs(agent_platform_help(), out);
  fputs("\nSee 'man 1 p2v-agent' (docs/p2v-agent.md) for the whole story.\n", out);
}

/* --tls-certificates DIR: nbdkit's layout, so the same folder serves both. */
static int use_certificates_dir(struct serve_options *o, const char *dir)
{
  static const char *const names[] = { "server-cert.pem", "server-key.pem", "ca-cert.pem" };
  for (int i = 0; i < 3; i++) {
    free(o->certificates_dir_files[i]);
    if (asprintf(&o->certificates_dir_files[i], "%s/%s", dir, names[i]) < 0) {
      p2v_error("out of memory");
      return -1;
    }
  }
  o->tls.cert_file = o->certificates_dir_files[0];
  o->tls.key_file = o->certificates_dir_files[1];
  /* The CA is optional: without it no client certificate can be verified. */
  o->tls.ca_file = access(o->certificates_dir_files[2], F_OK) == 0 ? o->certificates_dir_files[2] : NULL;
  return 0;
}

/* --tls: the names and what they mean. */
static const char *const tls_names[] = { "off", "on", "require", NULL };
static const enum p2v_tls_mode tls_modes[] = { P2V_TLS_OFF, P2V_TLS_ON, P2V_TLS_REQUIRE };

enum {
  OPT_LISTEN = 256, OPT_CONNECT, OPT_TLS, OPT_TLS_CERTIFICATES, OPT_TLS_CERT,
  OPT_TLS_KEY, OPT_TLS_CA, OPT_TLS_VERIFY_PEER, OPT_TLS_PSK, OPT_INSECURE,
  OPT_ALL_BLOCKS, OPT_SNAPSHOT, OPT_MAX_CLIENTS, OPT_CONNECTIONS, OPT_HANDSHAKE_TIMEOUT,
  OPT_IDLE_TIMEOUT, OPT_CONSOLE,
};

static const struct option long_options[] = {
  { "listen", required_argument, NULL, OPT_LISTEN },
  { "connect", required_argument, NULL, OPT_CONNECT },
  { "tls", required_argument, NULL, OPT_TLS },
  { "tls-certificates", required_argument, NULL, OPT_TLS_CERTIFICATES },
  { "tls-cert", required_argument, NULL, OPT_TLS_CERT },
  { "tls-key", required_argument, NULL, OPT_TLS_KEY },
  { "tls-ca", required_argument, NULL, OPT_TLS_CA },
  { "tls-verify-peer", no_argument, NULL, OPT_TLS_VERIFY_PEER },
  { "tls-psk", required_argument, NULL, OPT_TLS_PSK },
  { "insecure", no_argument, NULL, OPT_INSECURE },
  { "all-blocks", no_argument, NULL, OPT_ALL_BLOCKS },
  { "snapshot", no_argument, NULL, OPT_SNAPSHOT },
  { "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
  { "connections", required_argument, NULL, OPT_CONNECTIONS },
  { "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT },
  { "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
  { "console", no_argument, NULL, OPT_CONSOLE },
  { "verbose", no_argument, NULL, 'v' },
  { "help", no_argument, NULL, 'h' },
  { NULL, 0, NULL, 0 },
};

/* Returns -1 to exit with EXIT_USAGE, 1 to exit 0 (help shown), 0 to go on. */
static int parse_serve_options(int argc, char **argv, struct serve_options *o)
{
  int c, choice;
  opterr = 0;       /* our own message, in our own format */
  while ((c = getopt_long(argc, argv, "+vh", long_options, NULL)) != -1) {
    switch (c) {
    case OPT_LISTEN: o->listen_address = optarg; break;
    case OPT_CONNECT: o->connect_address = optarg; break;
    case OPT_TLS:
      if (option_choice("serve", "--tls", optarg, tls_names, &choice) == -1)
        return -1;
      o->tls.mode = tls_modes[choice];
      o->tls_mode_given = true;
      break;
    case OPT_TLS_CERTIFICATES:
      if (use_certificates_dir(o, optarg) < 0)
        return -1;
      break;
    case OPT_TLS_CERT: o->tls.cert_file = optarg; break;
    case OPT_TLS_KEY: o->tls.key_file = optarg; break;
    case OPT_TLS_CA: o->tls.ca_file = optarg; break;
    case OPT_TLS_VERIFY_PEER: o->tls.verify_peer = true; break;
    case OPT_TLS_PSK: o->tls.psk_file = optarg; break;
    case OPT_INSECURE: o->insecure = true; break;
    case OPT_ALL_BLOCKS: o->disk.all_blocks = true; break;
    case OPT_SNAPSHOT: o->snapshot = true; break;
    case OPT_MAX_CLIENTS:
      if (option_number("serve", "--max-clients", optarg, 1, 1024, &o->max_clients) == -1)
        return -1;
      break;
    case OPT_CONNECTIONS:
      if (option_number("serve", "--connections", optarg, 1, 64, &o->connections) == -1)
        return -1;
      break;
    case OPT_HANDSHAKE_TIMEOUT:
      if (option_number("serve", "--handshake-timeout", optarg, 1, 300, &o->handshake_timeout) == -1)
        return -1;
      break;
    case OPT_IDLE_TIMEOUT:
      if (option_number("serve", "--idle-timeout", optarg, 1, 7 * 24 * 3600, &o->idle_timeout) == -1)
        return -1;
      break;
    case OPT_CONSOLE: break;          /* the foreground is serve's only form */
    case 'v': p2v_log_set_verbosity(p2v_log_verbosity() + 1); break;
    case 'h': print_serve_usage(stdout); return 1;
    default:
      if (optopt && optopt < 256)
        usage_error("serve", "unknown option '-%c'", optopt);
      else
        usage_error("serve", "unknown option or missing value in '%s'", argv[optind - 1]);
      return -1;
    }
  }
  return 0;
}

/* Disks cross a non-loopback address only to a client that proves itself,
 * unless someone said --insecure.  Dialling out changes nothing: the agent
 * is still the TLS server, and an address proves nothing about who answers
 * there, so the converter must prove itself the same way (PSK or a client
 * certificate). */
static int check_exposure(const struct serve_options *o, bool have_x509)
{
  enum p2v_net_guard guard =
    o->tls.mode != P2V_TLS_REQUIRE ? P2V_NET_CLEAR :
    have_x509 && !o->tls.verify_peer ? P2V_NET_TLS_UNVERIFIED : P2V_NET_TLS_VERIFIED;
  const char *address = o->connect_address ? o->connect_address : o->listen_address;
  const char *fix = guard == P2V_NET_CLEAR ?
    "use --tls=require with certificates or a PSK, or --insecure on a trusted network" :
    "add --tls-verify-peer (client certificates signed by the CA), use --tls-psk alone, "
    "or --insecure on a trusted network";
  return p2v_net_require_tls(address, guard, o->insecure ? "--insecure" : NULL,
                             o->connect_address ? "serve disks to" : "serve disks on", fix);
}

/* Everything about the options that can be checked before touching a disk. */
static int check_serve_options(struct serve_options *o, int ndisks)
{
  bool have_x509 = o->tls.cert_file || o->tls.key_file;
  bool have_tls_files = have_x509 || o->tls.psk_file;

  if (ndisks == 0) {
    usage_error("serve", "no disk given: name at least one block device or image file");
    return -1;
  }
  if (o->listen_address && o->connect_address) {
    usage_error("serve", "--listen and --connect exclude each other");
    return -1;
  }
  if (!o->tls_mode_given)
    o->tls.mode = have_tls_files ? P2V_TLS_REQUIRE : P2V_TLS_OFF;
  if (o->tls.mode != P2V_TLS_OFF && !have_tls_files) {
    usage_error("serve", "--tls=%s needs --tls-certificates, --tls-cert/--tls-key or --tls-psk",
                o->tls.mode == P2V_TLS_ON ? "on" : "require");
    return -1;
  }
  if (have_x509 && !(o->tls.cert_file && o->tls.key_file)) {
    usage_error("serve", "X.509 needs both --tls-cert and --tls-key");
    return -1;
  }
  if (o->tls.verify_peer && !o->tls.ca_file) {
    usage_error("serve", "--tls-verify-peer needs a CA (--tls-ca or ca-cert.pem in --tls-certificates)");
    return -1;
  }
  if (o->connections && !o->connect_address) {
    usage_error("serve", "--connections is for --connect (a listener takes up to --max-clients)");
    return -1;
  }
  if (!o->connections)
    o->connections = DEFAULT_CONNECTIONS;
  if (!o->connect_address && !o->listen_address)
    o->listen_address = DEFAULT_LISTEN;
  if (o->listen_address && p2v_net_check_address(o->listen_address, "listen on") < 0)
    return -1;
  if (o->connect_address && p2v_net_check_address(o->connect_address, "connect to") < 0)
    return -1;
  return check_exposure(o, have_x509);
}

static int run_dialer(const struct serve_options *o, struct p2v_nbd_server *server)
{
  fprintf(stderr, "%s: serving %zu disk(s) to the converter at %s over up to %u "
          "connection(s)%s\n", p2v_program_name(), server->ndisks, o->connect_address,
          o->connections, o->tls.mode == P2V_TLS_REQUIRE ? " (TLS required)" : "");
  agent_serving(o->connect_address);
  if (p2v_nbd_serve_dialer(server, o->connect_address, o->connections, &stop_requested) < 0) {
    if (stop_requested)
      p2v_error("stopped before the converter had everything; run the same command "
                "again to go on serving");
    return EXIT_ERROR;
  }
  for (size_t i = 0; i < server->ndisks; i++)
    p2v_info("export '%s': %llu bytes served", server->disks[i]->export_name,
             (unsigned long long) atomic_load(&server->counters->bytes_served[i]));
  fprintf(stderr, "%s: the converter has everything; done\n", p2v_program_name());
  return EXIT_OK;
}

static int run_server(const struct serve_options *o, struct p2v_nbd_server *server)
{
  if (o->connect_address)
    return run_dialer(o, server);

  int listen_fd = p2v_net_listen(o->listen_address);
  if (listen_fd < 0)
    return EXIT_ERROR;
  /* A snapshot is kept no longer than the converter needs it. */
  struct agent_done_watch *watch = NULL;
  if (o->snapshot && !(watch = agent_done_watch_start(server->counters, &stop_requested))) {
    p2v_sock_close(listen_fd);
    return EXIT_ERROR;
  }
  /* One line saying where, so a person (or a script that asked for port
   * 0) knows what to point the converter at. */
  char bound[128];
  if (p2v_net_local_address(listen_fd, bound, sizeof bound) == -1)
    snprintf(bound, sizeof bound, "%s", o->listen_address);
  fprintf(stderr, "%s: serving %zu disk(s) on %s%s\n", p2v_program_name(), server->ndisks,
          bound, o->tls.mode == P2V_TLS_REQUIRE ? " (TLS required)" : "");
  agent_serving(bound);
  int r = p2v_nbd_serve_listener(server, listen_fd, &stop_requested);
  agent_done_watch_stop(watch);
  p2v_sock_close(listen_fd);
  return r < 0 ? EXIT_ERROR : EXIT_OK;
}

int agent_serve(int argc, char **argv)
{
  struct serve_options o = { 0 };
  int status = EXIT_ERROR;
  struct p2v_disk **disks = NULL;
  struct p2v_tls *tls = NULL;
  char *survey = NULL;
  _Atomic uint64_t *bytes_served = NULL;
  struct p2v_nbd_counters counters = { 0 };
  struct agent_snapshot *snapshot = NULL;

  int r = parse_serve_options(argc, argv, &o);
  if (r != 0) {
    status = r > 0 ? EXIT_OK : EXIT_USAGE;
    goto out;
  }
  size_t ndisks = (size_t) (argc - optind);
  if (check_serve_options(&o, (int) ndisks) < 0) {
    status = EXIT_USAGE;
    goto out;
  }
  /* TLS files first: they are quick to check and often wrong. */
  if (o.tls.mode != P2V_TLS_OFF && !(tls = p2v_tls_load(&o.tls)))
    goto out;
  if (agent_platform_init() == -1)
    goto out;
  agent_catch_stop(&stop_requested);
  /* Every disk before accepting anyone: a bad disk is found now. */
  disks = o.snapshot ? agent_snapshot_disks_open(argv + optind, ndisks, &o.disk, &snapshot)
                     : p2v_disks_open(argv + optind, ndisks, &o.disk);
  if (!disks)
    goto out;

  if (agent_survey_export(disks, ndisks, &survey) == -1)
    goto out;
  if (!(bytes_served = calloc(ndisks, sizeof *bytes_served))) {
    p2v_error("out of memory");
    goto out;
  }
  counters.bytes_served = bytes_served;
  struct p2v_nbd_server server = {
    .disks = disks, .ndisks = ndisks, .tls = tls, .tls_mode = o.tls.mode,
    .max_clients = o.max_clients,
    .survey_json = survey, .survey_len = survey ? strlen(survey) : 0,   /* NULL: no export */
    .handshake_timeout_ms = o.handshake_timeout * 1000, .idle_timeout_ms = o.idle_timeout * 1000,
    .counters = &counters,
  };
  /* One token for this run: a converter that took our first dialled
   * session knows our later ones by it (docs/dial-in.md). */
  if (p2v_nbd_session_init(&server) == -1)
    goto out;
  status = run_server(&o, &server);

out:
  free(survey);
  free(bytes_served);
  if (disks)
    p2v_disks_close(disks, ndisks);
  /* The devices are closed: the snapshot can go.  Complete (writers hear
   * of a finished backup) only if the converter said it has everything. */
  agent_snapshot_release(snapshot, atomic_load(&counters.converter_done));
  p2v_tls_free(tls);
  for (int i = 0; i < 3; i++)
    free(o.certificates_dir_files[i]);
  return status;
}

int agent_serve_check(int argc, char **argv, bool load_tls, struct agent_serve_summary *summary)
{
  struct serve_options o = { 0 };
  struct p2v_tls *tls = NULL;
  int status = EXIT_USAGE;

  *summary = (struct agent_serve_summary) { 0 };
  optind = 0;                   /* a fresh parse (getopt's reset) */
  int r = parse_serve_options(argc, argv, &o);
  if (r > 0) {
    summary->help_shown = true;
    status = EXIT_OK;
    goto out;
  }
  size_t ndisks = (size_t) (argc - optind);
  if (r < 0 || check_serve_options(&o, (int) ndisks) < 0)
    goto out;
  summary->listen_address = o.connect_address ? NULL : o.listen_address;
  summary->connect_address = o.connect_address;
  summary->first_disk = optind;
  status = EXIT_ERROR;
  if (load_tls && o.tls.mode != P2V_TLS_OFF && !(tls = p2v_tls_load(&o.tls)))
    goto out;
  status = EXIT_OK;

out:
  p2v_tls_free(tls);
  for (int i = 0; i < 3; i++)
    free(o.certificates_dir_files[i]);
  return status;
}
