/* p2v-agent: serves a source machine's disks read-only over NBD and
 * describes the machine (survey).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "log.h"

static void print_usage(FILE *out)
{
  fputs("Usage: p2v-agent COMMAND [OPTIONS]\n"
        "\n"
        "Commands:\n"
        "  serve [OPTIONS] DISK...   serve each disk read-only as an NBD export\n"
        "  survey [--json] [DISK...] describe this machine: OS, firmware, CPUs,\n"
        "                            memory, disks, NICs, PCI devices\n"
        "\n"
        "The Windows service (p2v-agent.exe only; on Linux, systemd runs serve):\n"
        "  install [SERVE OPTIONS] DISK...\n"
        "                            register the service p2v-agent to serve DISKs\n"
        "                            (delayed automatic start; elevated prompt)\n"
        "  start, stop               start it (waits until it serves), stop it\n"
        "  status                    one line: not installed (exit 4), stopped (3)\n"
        "                            or running (0), and its address\n"
        "  uninstall                 stop it if it runs, and remove it\n"
        "\n"
        "Options:\n"
        "  -h, --help                this text\n"
        "  -V, --version             print the version\n"
        "\n"
        "'p2v-agent COMMAND --help' shows the options of a command.\n"
        "See 'man 1 p2v-agent' (docs/p2v-agent.md) for the whole story.\n", out);
}

int main(int argc, char **argv)
{
  p2v_log_init("p2v-agent");

  if (argc < 2) {
    p2v_error("no command given; try 'p2v-agent serve DISK...' or 'p2v-agent --help'");
    return EXIT_USAGE;
  }
  const char *command = argv[1];
  if (!strcmp(command, "serve"))
    return agent_serve(argc - 1, argv + 1);
  if (!strcmp(command, "survey"))
    return agent_survey(argc - 1, argv + 1);
  static const char *const service_commands[] = {
    "install", "uninstall", "start", "stop", "status", "service", NULL,
  };
  for (int i = 0; service_commands[i]; i++)
    if (!strcmp(command, service_commands[i]))
      return agent_service_command(argc - 1, argv + 1);
  if (!strcmp(command, "--help") || !strcmp(command, "-h") || !strcmp(command, "help")) {
    print_usage(stdout);
    return EXIT_OK;
  }
  if (!strcmp(command, "--version") || !strcmp(command, "-V")) {
    printf("p2v-agent %s\n", P2V_VERSION);
    return EXIT_OK;
  }
  p2v_error("unknown command '%s'; the commands are serve, survey, and on Windows install, "
            "uninstall, start, stop and status (see 'p2v-agent --help')",
            command);
  return EXIT_USAGE;
}
