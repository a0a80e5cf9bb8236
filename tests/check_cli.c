/* The ratelab binary as users run it: exit codes, error format, help texts. */
#include "config.h"
#include "testutil.h"

#include <check.h>
#include <glob.h>
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
    ck_assert(strstr(out, "--seed wants an integer from 0 to 2^64-1"));
    /* the whole 64-bit range: 2^63 and 2^64-1 pass and reach the scenario, 2^64 does not */
    ck_assert_int_eq(run_cmd(RATELAB " check " SRCDIR "/scenarios/retry-storm.ini "
                         "--seed=9223372036854775808", out, sizeof out), 0);
    ck_assert_msg(strstr(out, "seed = 9223372036854775808\n"), "got: %s", out);
    ck_assert_int_eq(run_cmd(RATELAB " check " SRCDIR "/scenarios/retry-storm.ini "
                         "--seed=18446744073709551615", out, sizeof out), 0);
    ck_assert_msg(strstr(out, "seed = 18446744073709551615\n"), "got: %s", out);
    ck_assert_int_eq(run_cmd(RATELAB " check " SRCDIR "/scenarios/retry-storm.ini "
                         "--seed=18446744073709551616", out, sizeof out), 2);
    ck_assert(strstr(out, "--seed wants an integer from 0 to 2^64-1"));
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

/* The widest line of text, in bytes (the summary is ASCII but for names). */
static int widest(const char *text)
{
    int w = 0;
    for (const char *p = text; *p;) {
        int n = (int)strcspn(p, "\n");
        w = n > w ? n : w;
        p += n + (p[n] == '\n');
    }
    return w;
}

/* The summary of `ratelab sim` on stdout (stderr dropped) with COLUMNS set to cols. */
static int sim_summary(const char *ini, const char *cols, const char *more)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "(COLUMNS=%s " RATELAB " sim '%s' --quiet %s 2>/dev/null)", cols, ini,
             more);
    return run_cmd(cmd, out, sizeof out);
}

/*
 * Every bundled scenario's summary fits 80 columns, and uses more of 200 without
 * passing it; it keeps the accounting and server lines; no colour off a terminal.
 */
START_TEST(sim_summary_fits_the_width)
{
    glob_t g;
    ck_assert_int_eq(glob(SRCDIR "/scenarios/*.ini", 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *ini = g.gl_pathv[i];
        int rc = sim_summary(ini, "80", "");
        ck_assert_msg(rc == 0 || rc == 1, "%s: exit %d", ini, rc);
        int w80 = widest(out);
        ck_assert_msg(w80 <= 80, "%s: %d columns at COLUMNS=80:\n%s", ini, w80, out);
        ck_assert_msg(strstr(out, "\naccounting: "), "%s", out);
        ck_assert_msg(strstr(out, "\nserver: 429 by limit rpm "), "%s", out);
        ck_assert_msg(strstr(out, "provider waiting: "), "%s", out);
        ck_assert_msg(!strchr(out, '\033'), "colour off a terminal: %s", out);
        rc = sim_summary(ini, "200", "");
        ck_assert(rc == 0 || rc == 1);
        int w200 = widest(out);
        ck_assert_msg(w200 > w80 && w200 <= 200, "%s: %d columns at COLUMNS=200 (%d at 80):\n%s",
                      ini, w200, w80, out);
        sim_summary(ini, "60", "");
        ck_assert_msg(widest(out) <= 60, "%s at COLUMNS=60:\n%s", ini, out);
    }
    globfree(&g);

    /* COLUMNS is clamped to [60, 250]; anything but a positive integer means 80 off a terminal. */
    const char *ini = SRCDIR "/scenarios/chat-vs-batch.ini";
    sim_summary(ini, "1000", "");
    ck_assert_int_le(widest(out), 250);
    ck_assert_int_gt(widest(out), 80);
    sim_summary(ini, "10", "");
    ck_assert_int_le(widest(out), 60);
    sim_summary(ini, "wide", "");
    ck_assert_int_le(widest(out), 80);
    sim_summary(ini, "-5", "");
    ck_assert_int_le(widest(out), 80);

    /* A failed SLO: one line each, failures before those that held, value and target. */
    sim_summary(ini, "80", "--set class.chat.slo_p95=1s");
    const char *fail = strstr(out, "SLO FAILED  class chat p95: ");
    const char *ok = strstr(out, "SLO ok      max_429_share: 0%, target <= 1");
    ck_assert_msg(fail && ok && fail < ok, "%s", out);
    ck_assert_msg(strstr(fail, ", target <= 1 s\n"), "%s", out);
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
    tcase_add_test(tc, sim_summary_fits_the_width);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
