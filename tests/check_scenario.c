#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "scenario.h"

START_TEST(defaults)
{
    struct scenario sc;
    scenario_defaults(&sc);
    ck_assert_int_eq(sc.window_us, 1000000);
    scenario_fini(&sc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scenario");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, defaults);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
