#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "provider.h"

int main(void)
{
    return EXIT_SUCCESS;
}
