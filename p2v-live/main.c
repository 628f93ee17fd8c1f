/* p2v-live: the live image's init.  Reads the p2v.* settings (kernel
 * command line, then qemu's fw_cfg, else asks), then runs the job: as PID 1
 * in a child it reaps for, and powers off after; on a host (tests) directly.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "file-io.h"
#include "live.h"
#include "log.h"
#include "nbd-server.h"

#define FW_CFG_SETTINGS "firmware/qemu_fw_cfg/by_name/opt/p2v/settings/raw"

static void print_usage(FILE *out)
{
  fputs("Usage: p2v-live [OPTIONS]\n"
        "\n"
        "The cold-clone image's main program (its init): hardware check, network,\n"
        "survey, then the machine's disks served read-only over NBD, or dialled out\n"
        "to a listening p2v-convert.  Settings come from p2v.* words on the kernel\n"
        "command line, then qemu's fw_cfg file opt/p2v/settings, else questions on\n"
        "the console (docs/p2v-live.md lists them).  Only as PID 1 does it touch the\n"
        "network or power the machine off.\n"
        "\n"
        "Options for running on a host (tests):\n"
        "  --settings STRING   p2v.* settings instead of the command line and fw_cfg\n"
        "  --disk PATH         serve this disk or image (repeatable) instead of the\n"
        "                      machine's disks\n"
        "  --no-network        leave the network alone\n"
        "  --listen ADDR:PORT  serve mode: listen here instead of 0.0.0.0:p2v.port\n"
        "  --all-blocks        send every block: do not read filesystems\n"
        "  --sysfs DIR         sysfs root (default /sys)\n"
        "  --dev DIR           device folder (default /dev)\n"
        "  --modules DIR       module root (default /lib/modules)\n"
        "  --firmware DIR      firmware root (default /lib/firmware)\n"
        "  --catalog FILE      kernel catalog (default /usr/share/p2v/kernel-catalog.json)\n"
        "  --hwcheck           only run the hardware check and print it\n"
        "  -v, --verbose       more messages\n"
        "  -h, --help          this text\n"
        "  -V, --version       print the version\n"
        "\n"
        "See 'man 8 p2v-live' (docs/p2v-live.md) for the whole story.\n", out);
}

enum {
  OPT_SETTINGS = 256, OPT_DISK, OPT_NO_NETWORK, OPT_LISTEN, OPT_ALL_BLOCKS, OPT_SYSFS, OPT_DEV,
  OPT_MODULES, OPT_FIRMWARE, OPT_CATALOG, OPT_HWCHECK,
};

static const struct option long_options[] = {
  { "settings", required_argument, NULL, OPT_SETTINGS },
  { "disk", required_argument, NULL, OPT_DISK },
  { "no-network", no_argument, NULL, OPT_NO_NETWORK },
  { "listen", required_argument, NULL, OPT_LISTEN },
  { "all-blocks", no_argument, NULL, OPT_ALL_BLOCKS },
  { "sysfs", required_argument, NULL, OPT_SYSFS },
  { "dev", required_argument, NULL, OPT_DEV },
  { "modules", required_argument, NULL, OPT_MODULES },
  { "firmware", required_argument, NULL, OPT_FIRMWARE },
  { "catalog", required_argument, NULL, OPT_CATALOG },
  { "hwcheck", no_argument, NULL, OPT_HWCHECK },
  { "verbose", no_argument, NULL, 'v' },
  { "help", no_argument, NULL, 'h' },
  { "version", no_argument, NULL, 'V' },
  { NULL, 0, NULL, 0 },
};

/* A whole small file; NULL (quietly) if it is not there. */
static char *read_small_file(const char *path, size_t *len)
{
  CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd == -1)
    return NULL;
  char *buf = malloc(LIVE_MAX_SETTINGS_BYTES + 2);
  if (!buf)
    return NULL;
  ssize_t n = p2v_read_full(fd, buf, LIVE_MAX_SETTINGS_BYTES + 1);
  if (n < 0) {
    p2v_warning("cannot read %s: %m", path);
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = (size_t) n;
  return buf;
}

/* Command line, then fw_cfg (which wins: qemu tests boot the image as
 * released), or --settings alone. */
static int load_settings(struct live_options *o, const char *given)
{
  if (given)
    return live_settings_parse(&o->settings, given, strlen(given), "--settings");
  size_t len;
  CLEANUP_FREE char *cmdline = read_small_file("/proc/cmdline", &len);
  if (cmdline && live_settings_parse(&o->settings, cmdline, len, "kernel command line") == -1)
    return -1;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/" FW_CFG_SETTINGS, o->roots.sysfs);
  CLEANUP_FREE char *fw = read_small_file(path, &len);
  if (fw && live_settings_parse(&o->settings, fw, len, "fw_cfg opt/p2v/settings") == -1)
    return -1;
  return 0;
}

/* Settings that cannot be used: as PID 1, ask on the console unless
 * p2v.auto=1 forbids questions. */
static int settings_problem(struct live_options *o)
{
  if (!o->pid1)
    return LIVE_EXIT_USAGE;
  const char *lines[] = {
    "A p2v.* setting is wrong (the line above says which and what it allows).",
    o->settings.unattended ? "p2v.auto=1: powering off in 30 seconds; fix the setting."
                           : "The settings are asked below instead.",
    NULL,
  };
  live_banner("BAD SETTING", lines);
  if (o->settings.unattended) {
    sleep(30);
    live_power_off();
  }
  return 0;
}

static int job_main(void *opaque)
{
  return live_run_job(opaque);
}

int main(int argc, char **argv)
{
  p2v_log_init("p2v-live");
  struct live_options o = {
    .roots = { .sysfs = "/sys", .modules = "/lib/modules", .firmware = "/lib/firmware",
               .catalog = "/usr/share/p2v/kernel-catalog.json", .dev = "/dev" },
  };
  live_settings_init(&o.settings);
  const char *settings_text = NULL;
  bool hwcheck_only = false;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "vhV", long_options, NULL)) != -1) {
    switch (c) {
    case OPT_SETTINGS: settings_text = optarg; break;
    case OPT_DISK: {
      char **grown = realloc(o.disks, (o.ndisks + 1) * sizeof *grown);
      if (!grown) {
        p2v_error("out of memory");
        return LIVE_EXIT_ERROR;
      }
      o.disks = grown;
      o.disks[o.ndisks++] = optarg;
      break;
    }
    case OPT_NO_NETWORK: o.no_network = true; break;
    case OPT_LISTEN: o.listen = optarg; break;
    case OPT_ALL_BLOCKS: o.all_blocks = true; break;
    case OPT_SYSFS: o.roots.sysfs = optarg; break;
    case OPT_DEV: o.roots.dev = optarg; break;
    case OPT_MODULES: o.roots.modules = optarg; break;
    case OPT_FIRMWARE: o.roots.firmware = optarg; break;
    case OPT_CATALOG: o.roots.catalog = optarg; break;
    case OPT_HWCHECK: hwcheck_only = true; break;
    case 'v': p2v_log_set_verbosity(p2v_log_verbosity() + 1); break;
    case 'h': print_usage(stdout); return LIVE_EXIT_OK;
    case 'V': printf("p2v-live %s\n", P2V_VERSION); return LIVE_EXIT_OK;
    default:
      if (optopt && optopt < 256)
        p2v_error("unknown option '-%c'; see 'p2v-live --help'", optopt);
      else
        p2v_error("unknown option or missing value in '%s'; see 'p2v-live --help'",
                  argv[optind - 1]);
      return LIVE_EXIT_USAGE;
    }
  }
  if (optind != argc) {
    p2v_error("unexpected argument '%s'; disks are given with --disk PATH", argv[optind]);
    return LIVE_EXIT_USAGE;
  }
  if (o.listen && p2v_net_check_address(o.listen, "listen on") < 0)
    return LIVE_EXIT_USAGE;

  o.pid1 = getpid() == 1;
  live_console_init(&o.roots, o.pid1);
  if (o.pid1)
    live_say("p2v-live %s", P2V_VERSION);

  if (hwcheck_only) {
    struct live_hwcheck hw;
    if (live_hwcheck_run(&o.roots, &hw) == -1)
      return LIVE_EXIT_ERROR;
    live_hwcheck_print(&hw, stdout);
    live_hwcheck_clear(&hw);
    return LIVE_EXIT_OK;
  }

  if (load_settings(&o, settings_text) == -1) {
    int r = settings_problem(&o);
    if (r)
      return r;
    live_settings_clear(&o.settings);     /* ask from scratch */
  }
  if (o.settings.dump) {
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m)
      return LIVE_EXIT_ERROR;
    live_settings_dump(&o.settings, m);
    fclose(m);
    live_say("%s", text);
    free(text);
    if (o.pid1)
      live_power_off();
    live_settings_clear(&o.settings);
    free(o.disks);
    return LIVE_EXIT_OK;
  }
  if (!live_settings_complete(&o.settings) &&
      live_settings_ask(&o.settings, stdin, stdout) == -1) {
    if (o.pid1) {
      const char *lines[] = { "No usable settings were given; powering off in 30 seconds.", NULL };
      live_banner("NO SETTINGS", lines);
      sleep(30);
      live_power_off();
    }
    return LIVE_EXIT_USAGE;
  }
  if (o.settings.mode == LIVE_MODE_UNSET)
    o.settings.mode = LIVE_MODE_SERVE;
  if (live_settings_check(&o.settings) == -1) {
    if (o.pid1) {
      const char *lines[] = { "The settings do not fit together (see above); powering off in "
                              "30 seconds.", NULL };
      live_banner("BAD SETTINGS", lines);
      sleep(30);
      live_power_off();
    }
    return LIVE_EXIT_USAGE;
  }

  if (o.pid1)
    live_pid1(job_main, &o, o.settings.unattended);
  int status = live_run_job(&o);
  live_settings_clear(&o.settings);
  free(o.disks);
  return status;
}
