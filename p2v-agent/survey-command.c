/* p2v-agent survey: describe this machine for the converter and for people.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent.h"
#include "log.h"
#include "survey.h"

static void print_survey_usage(FILE *out)
{
  fputs("Usage: p2v-agent survey [--json] [DISK...]\n"
        "\n"
        "Describe this machine: hostname, OS, firmware (BIOS/UEFI), CPUs, memory,\n"
        "disks (size, model, partitions, filesystems, used bytes), NICs (MAC,\n"
        "driver, PCI id, addresses) and PCI devices (ids, class, bound driver).\n"
        "Without DISK, every disk of the machine; with DISK, only those (block\n"
        "devices or image files).  The JSON schema is in docs/survey.md.\n"
        "\n"
        "  --json         JSON for programs (the converter reads it)\n"
        "  -v, --verbose  more messages\n"
        "  -h, --help     this text\n"
        "\n"
        "See 'man 1 p2v-agent' (docs/p2v-agent.md) for the whole story.\n", out);
}

int agent_survey(int argc, char **argv)
{
  static const struct option long_options[] = {
    { "json", no_argument, NULL, 'j' },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  bool json = false;
  int c;

  opterr = 0;
  while ((c = getopt_long(argc, argv, "+vh", long_options, NULL)) != -1) {
    switch (c) {
    case 'j': json = true; break;
    case 'v': p2v_log_set_verbosity(p2v_log_verbosity() + 1); break;
    case 'h': print_survey_usage(stdout); return EXIT_OK;
    default:
      usage_error("survey", "unknown option '%s'", argv[optind - 1]);
      return EXIT_USAGE;
    }
  }

  struct p2v_survey *survey =
    p2v_survey_collect((const char *const *) (argv + optind), (size_t) (argc - optind));
  if (!survey)
    return EXIT_ERROR;

  int status = EXIT_OK;
  if (json) {
    char *text = p2v_survey_to_json(survey, true);
    if (!text)
      status = EXIT_ERROR;
    else {
      puts(text);
      free(text);
    }
  }
  else
    p2v_survey_print_text(survey, stdout);
  p2v_survey_free(survey);

  if (fflush(stdout) != 0 || ferror(stdout)) {
    p2v_error("cannot write the survey to standard output: %m");
    status = EXIT_ERROR;
  }
  return status;
}

int agent_survey_export(struct p2v_disk *const *disks, size_t n, char **json)
{
  /* What 'p2v-agent survey --json DISK...' prints, with its final newline. */
  struct p2v_survey *survey = p2v_survey_collect_disks(disks, n);
  if (!survey)
    return -1;
  char *text = p2v_survey_to_json(survey, true);
  p2v_survey_free(survey);
  *json = NULL;
  if (text && asprintf(json, "%s\n", text) < 0) {
    p2v_error("out of memory");
    *json = NULL;
  }
  free(text);
  return *json ? 0 : -1;
}
