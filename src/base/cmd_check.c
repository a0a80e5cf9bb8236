#include "config.h"

#include <stdio.h>

#include "cli.h"
#include "commands.h"
#include "scenario.h"

static void help(const struct run_options *o)
{
    fputs("usage: ratelab check [OPTIONS] SCENARIO\n"
          "\n"
          "Validate SCENARIO and print it fully resolved, every default filled in, as INI\n"
          "that loads back to the same scenario. A bad line is reported as FILE:LINE: message\n"
          "and the exit status is 2.\n"
          "\n",
          stdout);
    cli_print_common_help(o);
}

int cmd_check(int argc, char **argv)
{
    struct run_options o = {.no_reports = true};
    if (cli_parse(argc, argv, &o) < 0)
        return EXIT_RUN_USAGE;
    if (o.help) {
        help(&o);
        return EXIT_RUN_OK;
    }
    struct scenario sc;
    if (cli_load_scenario(&o, &sc) < 0)
        return EXIT_RUN_USAGE;
    scenario_write(&sc, stdout);
    scenario_fini(&sc);
    return fflush(stdout) == 0 ? EXIT_RUN_OK : EXIT_RUN_FAIL;
}
