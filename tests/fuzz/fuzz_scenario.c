/*
 * libFuzzer harness for the scenario loader: any bytes must give either a
 * scenario that writes out, or a FILE:LINE error; never a crash or a leak.
 * Not part of `make check`. Run from a configured build directory (for config.h):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -I../src/base -D_GNU_SOURCE \
 *     ../tests/fuzz/fuzz_scenario.c ../src/base/scenario.c ../src/base/util.c -linih -lm -o fuzz_scenario
 *   mkdir -p corpus && cp ../scenarios/*.ini corpus/
 *   ./fuzz_scenario -max_total_time=180 -max_len=4096 corpus
 */
#include "config.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "scenario.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    struct scenario sc;
    struct scenario_error err;
    if (scenario_load_string(&sc, "fuzz.ini", text, NULL, 0, &err) == 0) {
        FILE *f = fopen("/dev/null", "w");
        scenario_write(&sc, f);
        fclose(f);
    }
    scenario_fini(&sc);
    free(text);
    return 0;
}
