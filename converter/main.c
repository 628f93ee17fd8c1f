/* p2v-convert: the converter on the storage server.  One binary, one
 * subcommand per job (copy today; run, inspect, verify later).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "log.h"

static const struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} commands[] = {
  { "copy", convert_copy, "copy an NBD source into a qcow2, VMDK or raw image" },
  { "run",  convert_run,  "migrate a whole machine: preflight, convert, copy, metadata, verify" },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void print_usage(FILE *out)
{
  fputs("Usage: p2v-convert COMMAND [OPTIONS]\n\nCommands:\n", out);
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fputs("\nOptions:\n"
        "  -h, --help     this text\n"
        "  -V, --version  print the version\n"
        "\n'p2v-convert COMMAND --help' shows the options of a command.\n"
        "See 'man 1 p2v-convert' (docs/p2v-convert.md) for the whole story.\n", out);
}

int main(int argc, char **argv)
{
  p2v_log_init("p2v-convert");

  if (argc < 2) {
    p2v_error("no command given; try 'p2v-convert copy nbd://HOST/EXPORT -o OUTPUT' "
              "or 'p2v-convert --help'");
    return EXIT_USAGE;
  }
  const char *name = argv[1];
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (!strcmp(name, commands[i].name))
      return commands[i].run(argc - 1, argv + 1);
  if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
    print_usage(stdout);
    return EXIT_OK;
  }
  if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
    printf("p2v-convert %s\n", P2V_VERSION);
    return EXIT_OK;
  }
  p2v_error("unknown command '%s'; see 'p2v-convert --help'", name);
  return EXIT_USAGE;
}
