/*
 * check_mock_promtool: `promtool check metrics` (Prometheus's own linter) on
 * the mock's /metrics after answers of every kind. The only complaint allowed
 * is the one real vLLM gets too: metric names with a colon (vllm:...), which
 * are vLLM's names and so the mock's.
 *
 * Without promtool on PATH (Debian: the prometheus package, too big for CI's
 * dependencies) the program exits 77, reported as SKIP; check_mock's
 * metrics_exposition checks the rules that matter either way.
 */
#include "config.h"

#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mock_client.h"

START_TEST(promtool_check_metrics)
{
    struct test_server s;
    metrics_server_start(&s);
    struct http_resp r = {0};
    http_do(s.addr, "GET", "/metrics", NULL, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    char path[] = "/tmp/ratelab-metrics-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, r.body, r.len), (ssize_t)r.len);
    close(fd);
    http_resp_free(&r);
    test_server_stop(&s);

    char cmd[256];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[512];
    int lint = 0;
    while (fgets(line, sizeof line, p)) {
        /* "vllm:e2e_request_latency_seconds metric names should not contain ':'" */
        ck_assert_msg(strncmp(line, "vllm:", 5) == 0 &&
                          strstr(line, " metric names should not contain ':'") != NULL,
                      "promtool: %s", line);
        lint++;
    }
    int st = pclose(p);
    unlink(path);
    /* 0: clean; 3: lint problems only (the colons above); anything else: it did not parse. */
    ck_assert_msg(WIFEXITED(st) && (WEXITSTATUS(st) == (lint ? 3 : 0)), "promtool exit %d",
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}
END_TEST

int main(void)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        fprintf(stderr, "check_mock_promtool: SKIP: no promtool on PATH (Debian: apt-get "
                        "install prometheus)\n");
        return 77;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("mock promtool");
    TCase *tc = tcase_create("promtool");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, promtool_check_metrics);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
