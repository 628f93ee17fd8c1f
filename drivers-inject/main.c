/* p2v-drivers: which devices have drivers, before anything boots.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "drivers.h"
#include "log.h"

static void print_usage(FILE *out)
{
  fputs("Usage:\n"
        "  p2v-drivers check --image IMAGE --devices DEVICES [--json]\n"
        "      which PCI devices the live image (ISO, initramfs or modules tree)\n"
        "      can drive; exit 3 when a storage or network controller cannot\n"
        "  p2v-drivers add --image IN --from SOURCE (--devices DEVICES | --module NAME...)\n"
        "                  --out OUT\n"
        "      add the modules (with dependencies and firmware) those devices need\n"
        "      to a live initramfs or ISO image (the ISO needs xorriso)\n"
        "  p2v-drivers list --linux SOURCE [--json]\n"
        "      the modules.alias catalog of a kernel package or modules tree\n"
        "  p2v-drivers list --windows SOURCE [--json]\n"
        "      Windows driver packages (INF) in a folder, .zip or ISO\n"
        "  p2v-drivers check --windows SOURCE --devices SURVEY --os VERSION --arch ARCH [--json]\n"
        "      which devices of a Windows guest the packages can drive\n"
        "  p2v-drivers -V | --version\n"
        "\n"
        "DEVICES is a survey (p2v-agent survey --json) or the output of\n"
        "'lspci -nn' or 'lspci -n -mm'.\n"
        "Exit codes: 0 done, 1 error, 2 usage, 3 check found blockers.\n"
        "See 'man 1 p2v-drivers' (docs/p2v-drivers.md) for the whole story.\n", out);
}

static bool has_option(int argc, char **argv, const char *name)
{
  size_t n = strlen(name);
  for (int i = 1; i < argc; i++)
    if (!strncmp(argv[i], name, n) && (argv[i][n] == '\0' || argv[i][n] == '='))
      return true;
  return false;
}

int main(int argc, char **argv)
{
  p2v_log_init("p2v-drivers");

  if (argc < 2) {
    p2v_error("no command given; try 'p2v-drivers --help'");
    return DRIVERS_EXIT_USAGE;
  }
  const char *command = argv[1];
  int sub_argc = argc - 1;
  char **sub_argv = argv + 1;

  if (!strcmp(command, "check"))
    return has_option(sub_argc, sub_argv, "--windows")
      ? windows_check_command(sub_argc, sub_argv)
      : linux_check_command(sub_argc, sub_argv);
  if (!strcmp(command, "list"))
    return has_option(sub_argc, sub_argv, "--windows")
      ? windows_list_command(sub_argc, sub_argv)
      : linux_list_command(sub_argc, sub_argv);
  if (!strcmp(command, "add"))
    return linux_add_command(sub_argc, sub_argv);
  if (!strcmp(command, "--help") || !strcmp(command, "-h") || !strcmp(command, "help")) {
    print_usage(stdout);
    return DRIVERS_EXIT_OK;
  }
  if (!strcmp(command, "--version") || !strcmp(command, "-V")) {
    printf("p2v-drivers %s\n", P2V_VERSION);
    return DRIVERS_EXIT_OK;
  }
  p2v_error("unknown command '%s'; the commands are check, add and list "
            "(see 'p2v-drivers --help')", command);
  return DRIVERS_EXIT_USAGE;
}
