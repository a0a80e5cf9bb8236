#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("%s\n", PACKAGE_STRING);
    return 0;
}
