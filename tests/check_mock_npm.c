/*
 * check_mock_npm: the official openai npm client against `ratelab mock`
 * (tests/npm/test.mjs): a completion, a stream, and a 429 the SDK must take for
 * a RateLimitError and retry after the delay the mock asked for.
 *
 * Without tests/npm/node_modules (`npm install` in tests/npm; .ci/test runs
 * it) the client cannot run: the program exits 77, which the test harness
 * reports as SKIP, except in CI (CI=true), where a missing client is a failure.
 */
#include "config.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

START_TEST(openai_npm_client)
{
    int rc = system("RATELAB=" BUILDDIR "/ratelab node " SRCDIR "/tests/npm/test.mjs");
    ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "tests/npm/test.mjs failed: %d", rc);
}
END_TEST

int main(void)
{
    struct stat st;
    if (stat(SRCDIR "/tests/npm/node_modules/openai", &st) != 0) {
        const char *ci = getenv("CI");
        bool in_ci = ci && strcmp(ci, "true") == 0;
        fprintf(stderr, "check_mock_npm: %s: tests/npm/node_modules/openai is missing (run 'npm "
                        "install' in tests/npm; .ci/test does)\n",
                in_ci ? "FAIL in CI" : "SKIP");
        return in_ci ? EXIT_FAILURE : 77;
    }
    Suite *s = suite_create("mock npm");
    TCase *tc = tcase_create("openai npm client");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, openai_npm_client);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
