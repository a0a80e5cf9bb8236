/* The ratelab binary as users run it: exit codes, error format, help texts. */
#include "config.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RATELAB BUILDDIR "/ratelab"

static char out[65536];

START_TEST(help_and_version)
{
    ck_assert_int_eq(run_cmd(RATELAB " --help", out, sizeof out), 0);
    ck_assert(strstr(out, "check"));
    ck_assert(strstr(out, "Exit status"));
    ck_assert_int_eq(run_cmd(RATELAB " --version", out, sizeof out), 0);
    ck_assert(strstr(out, PACKAGE_VERSION));
    ck_assert_int_eq(run_cmd(RATELAB " check --help", out, sizeof out), 0);
    ck_assert(strstr(out, "--set SECTION.KEY=VALUE"));
    ck_assert_int_eq(run_cmd(RATELAB, out, sizeof out), 2);
    ck_assert_int_eq(run_cmd(RATELAB " nosuchcommand", out, sizeof out), 2);
    ck_assert(strstr(out, "unknown command 'nosuchcommand'"));
}
END_TEST

START_TEST(check_errors_exit_2_with_file_line)
{
    char path[] = "/tmp/ratelab-cli-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "[scenario]\nduration = 1h\n[client]\nrequests_per_minit = 60\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof cmd, RATELAB " check %s", path);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 2);
    char want[256];
    snprintf(want, sizeof want, "%s:4: unknown key 'requests_per_minit' in [client] (did you "
             "mean 'requests_per_minute'?)", path);
    ck_assert_msg(strstr(out, want), "got: %s", out);
    unlink(path);
    ck_assert_int_eq(run_cmd(RATELAB " check " SRCDIR "/scenarios/retry-storm.ini --seed=x", out,
                         sizeof out), 2);
    ck_assert(strstr(out, "--seed wants a non-negative integer"));
    ck_assert_int_eq(run_cmd(RATELAB " check " SRCDIR "/scenarios/retry-storm.ini --set "
                         "client.max_concurrent=-3", out, sizeof out), 2);
    ck_assert(strstr(out, "--set client.max_concurrent=-3: max_concurrent: bad value '-3'"));
    ck_assert_int_eq(run_cmd(RATELAB " check " SRCDIR "/scenarios/retry-storm.ini --json out.json",
                         out, sizeof out), 2);
    ck_assert(strstr(out, "--json and --csv do not apply"));
}
END_TEST

START_TEST(check_prints_resolved_scenario)
{
    ck_assert_int_eq(run_cmd(RATELAB " check " SRCDIR "/scenarios/chat-vs-batch.ini --set "
                         "client.max_concurrent=3", out, sizeof out), 0);
    ck_assert(strstr(out, "[class.chat]"));
    ck_assert(strstr(out, "max_concurrent = 3\n"));
    ck_assert(strstr(out, "retry_jitter = full\n")); /* a default, filled in */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("binary");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, help_and_version);
    tcase_add_test(tc, check_errors_exit_2_with_file_line);
    tcase_add_test(tc, check_prints_resolved_scenario);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
