#include "config.h"

#include <stdio.h>

#include "cli.h"
#include "commands.h"

int cmd_check(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return EXIT_RUN_FAIL; /* being written */
}
