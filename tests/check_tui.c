/*
 * The dashboard: frames rendered without a terminal (dash.c into a screen
 * grid) at known sizes and states, and the real binary driven in tmux.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dash.h"
#include "scenario.h"
#include "screen.h"
#include "sim.h"
#include "testutil.h"
#include "util.h"

/* ---- frames without a terminal --------------------------------------------------- */

struct frame {
    struct scenario sc;
    sim *s;
    struct dash d;
    struct screen scr;
    char text[1 << 16];
};

static const char *const scen =
    "[scenario]\nname = tui-test\nduration = 2m\nwindow = 1s\nslo_p95 = 2s\n"
    "[client]\nrequests_per_minute = 600\nmax_concurrent = 8\n"
    "[server]\nservice = deterministic\nservice_mean = 1s\n"
    "[class.chat]\narrival = constant 5/s\nslo_p95 = 1500ms\n"
    "[class.batch]\narrival = constant 2/s\n";

/* Run the scenario to `until` (µs; -1 = to the end) and render one w×h frame. */
static void frame_at(struct frame *f, int64_t until, int w, int h, bool braille, int cls)
{
    struct scenario_error err;
    ck_assert_int_eq(scenario_load_string(&f->sc, "tui.ini", scen, NULL, 0, &err), 0);
    int e;
    f->s = sim_new(&f->sc, &e);
    ck_assert_ptr_nonnull(f->s);
    run *r = sim_lifecycle(f->s);
    metrics_keep_windows(run_metrics(r), DASH_HISTORY);
    int done = until < 0 ? sim_run(f->s, 0) : sim_run_until(f->s, until, 0);
    dash_init(&f->d, &f->sc, braille, false);
    f->d.cls = cls;
    screen_init(&f->scr, w, h);
    static struct metrics_snapshot snap;
    int64_t now = sim_now(f->s);
    metrics_snapshot(run_metrics(r), now, &snap);
    struct run_gauges g;
    run_gauges(r, now, &g);
    dash_sample(&f->d, run_metrics(r), &g);
    struct dash_state st = {.live = false, .finished = done == 1, .speed = 10};
    dash_render(&f->d, &f->scr, run_metrics(r), &snap, &g, &st);
    ck_assert_int_gt(screen_dump(&f->scr, f->text, sizeof f->text), 0);
}

static void frame_free(struct frame *f)
{
    screen_fini(&f->scr);
    dash_fini(&f->d);
    sim_free(f->s);
    scenario_fini(&f->sc);
}

/* The row of the screen (0-based) whose text contains needle, or -1. */
static int row_of(const struct frame *f, const char *needle)
{
    char line[4096];
    for (int y = 0; y < f->scr.h; y++) {
        size_t k = 0;
        for (int x = 0; x < f->scr.w; x++) {
            const char *ch = f->scr.cells[y * f->scr.w + x].ch;
            size_t l = strlen(ch);
            memcpy(line + k, ch, l);
            k += l;
        }
        line[k] = '\0';
        if (strstr(line, needle))
            return y;
    }
    return -1;
}

/* Every line of the dump is exactly w columns: one character per cell. */
static void assert_width(const struct frame *f)
{
    for (int i = 0; i < f->scr.w * f->scr.h; i++)
        ck_assert_int_gt((int)strlen(f->scr.cells[i].ch), 0);
}

START_TEST(layout_80x24)
{
    static struct frame f;
    frame_at(&f, 90 * US_PER_S, 80, 24, true, -1);
    assert_width(&f);
    /* Title bar, three plots with their legends, the panel, the time axis. */
    ck_assert_int_eq(row_of(&f, "ratelab sim  tui-test"), 0);
    int hr = row_of(&f, "hit rate"), qd = row_of(&f, "queue depth"), lat = row_of(&f, "latency");
    ck_assert(hr == 1 && qd > hr && lat > qd && lat < 23);
    ck_assert_int_ge(row_of(&f, "throttled"), 0);
    ck_assert_int_ge(row_of(&f, "in flight"), 0);
    ck_assert_int_ge(row_of(&f, "SLO 2s"), 0);
    ck_assert_int_ge(row_of(&f, "Requests (all classes)"), 0);
    ck_assert_int_ge(row_of(&f, "RPM  ["), 0);
    ck_assert_int_ge(row_of(&f, "TPM  unlimited"), 0);
    ck_assert_int_ge(row_of(&f, "conc ["), 0);
    ck_assert_int_ge(row_of(&f, "p95 by class (SLO)"), 0);
    ck_assert_int_ge(row_of(&f, " chat "), 0);
    ck_assert_int_ge(row_of(&f, " batch "), 0);
    /* Axes carry units: a share axis in %, latency in s (the SLO is 2 s), time in s. */
    ck_assert_int_ge(row_of(&f, "%\u2502"), 0);
    ck_assert_int_ge(row_of(&f, "2s\u2502"), 0);
    ck_assert_int_ge(row_of(&f, "30s"), 0);
    /* Braille glyphs are drawn. */
    ck_assert_ptr_nonnull(strstr(f.text, "\xe2\xa0") ? strstr(f.text, "\xe2\xa0")
                                                     : strstr(f.text, "\xe2\xa1"));
    frame_free(&f);
}
END_TEST

/* With the limiter's state in Redis the panel says so instead of drawing local buckets. */
START_TEST(limits_in_redis)
{
    static struct frame f;
    frame_at(&f, 30 * US_PER_S, 80, 24, true, -1);
    ck_assert_int_ge(row_of(&f, "RPM  ["), 0);
    run *r = sim_lifecycle(f.s);
    static struct metrics_snapshot snap;
    int64_t now = sim_now(f.s);
    metrics_snapshot(run_metrics(r), now, &snap);
    struct run_gauges g;
    run_gauges(r, now, &g);
    ck_assert(!g.limits_elsewhere); /* a simulation's limiter is its own */
    g.limits_elsewhere = true;
    struct dash_state st = {.live = true, .speed = 1};
    screen_clear(&f.scr);
    dash_render(&f.d, &f.scr, run_metrics(r), &snap, &g, &st);
    ck_assert_int_ge(row_of(&f, "shared in Redis"), 0);
    ck_assert_int_lt(row_of(&f, "RPM  ["), 0);
    ck_assert_int_lt(row_of(&f, "conc ["), 0);
    frame_free(&f);
}
END_TEST

/* The accounting adds up: arrived = the five terminal states + open. */
START_TEST(panel_adds_up)
{
    static struct frame f;
    frame_at(&f, 45 * US_PER_S, 80, 24, true, -1);
    static const char *const names[] = {"arrived", "succeeded", "failed", "rejected",
                                        "timed out", "cancelled", "open"};
    double v[7];
    for (int i = 0; i < 7; i++) {
        int y = row_of(&f, names[i]);
        ck_assert_int_ge(y, 0);
        char line[256] = "";
        int k = 0;
        for (int x = f.scr.w - 30; x < f.scr.w; x++)
            line[k++] = f.scr.cells[y * f.scr.w + x].ch[0];
        line[k] = '\0';
        char *p = strstr(line, names[i]) + strlen(names[i]);
        v[i] = strtod(p, NULL);
    }
    ck_assert_double_eq(v[0], v[1] + v[2] + v[3] + v[4] + v[5] + v[6]);
    ck_assert_double_gt(v[6], 0); /* mid-run: some are open */
    frame_free(&f);
}
END_TEST

/* Latency is 1 s for every request (deterministic service, no queueing): a flat p95 line. */
START_TEST(flat_latency_is_one_row)
{
    static struct frame f;
    frame_at(&f, -1, 100, 30, false, 0); /* ASCII, class chat */
    int lat = row_of(&f, "latency");
    ck_assert_int_gt(lat, 0);
    int rows_with_line = 0;
    for (int y = lat + 1; y < f.scr.h - 1; y++) {
        bool any = false;
        for (int x = 7; x < f.scr.w - 31; x++) {
            const char *ch = f.scr.cells[y * f.scr.w + x].ch;
            any |= strchr("/\\|*^v", ch[0]) != NULL || (ch[0] == '-' && x % 2);
        }
        rows_with_line += any;
    }
    ck_assert_int_le(rows_with_line, 2); /* the p95 and p50 lines, both at 1 s */
    ck_assert_int_ge(row_of(&f, "Requests (chat)"), 0);
    ck_assert_int_ge(row_of(&f, "[finished]"), 0);
    frame_free(&f);
}
END_TEST

/* Without UTF-8 the whole frame is ASCII. */
START_TEST(ascii_fallback)
{
    static struct frame f;
    frame_at(&f, 60 * US_PER_S, 80, 24, false, -1);
    for (const char *p = f.text; *p; p++)
        ck_assert_msg((unsigned char)*p < 0x80, "non-ASCII byte 0x%02x", (unsigned char)*p);
    ck_assert_int_ge(row_of(&f, "hit rate"), 0);
    frame_free(&f);
}
END_TEST

/* A larger terminal shows more history and a wider panel. */
START_TEST(layout_200x50)
{
    static struct frame f;
    frame_at(&f, -1, 200, 50, true, -1);
    assert_width(&f);
    ck_assert_int_gt(dash_points(&f.d, 200), 2 * dash_points(&f.d, 80));
    ck_assert_int_ge(row_of(&f, "Requests (all classes)"), 0);
    ck_assert_int_ge(row_of(&f, "latency"), 30);
    frame_free(&f);
}
END_TEST

/* ---- the binary in tmux --------------------------------------------------------------- */

static int tmux(const char *args, char *out, size_t n)
{
    char cmd[1024];
    /* A socket of this test process's own (Check forks one per test): two suite runs at
     * once must not share a tmux server. */
    snprintf(cmd, sizeof cmd, "tmux -L ratelab-test-%d %s", (int)getpid(), args);
    return run_cmd(cmd, out, n);
}

/* Wait (up to ~10 s) until the pane shows needle; returns the capture. */
static bool pane_shows(const char *needle, char *out, size_t n)
{
    for (int i = 0; i < 500; i++) {
        tmux("capture-pane -p -t rl", out, n);
        if (strstr(out, needle))
            return true;
        usleep(20000);
    }
    return false;
}

static void e2e(int w, int h)
{
    char out[16384], args[1024], json[64];
    ck_assert_msg(system("command -v tmux >/dev/null") == 0, "tmux is needed (.ci/deps)");
    snprintf(json, sizeof json, "/tmp/ratelab-tui-%d.json", (int)getpid());
    unlink(json);
    tmux("kill-server", out, sizeof out);
    snprintf(args, sizeof args,
             "new-session -d -s rl -x %d -y %d \"LANG=C.UTF-8 %s/ratelab sim "
             "%s/scenarios/chat-vs-batch.ini --tui --json %s; echo EXITED \\$?; sleep 60\"",
             w, h, BUILDDIR, SRCDIR, json);
    ck_assert_int_eq(tmux(args, out, sizeof out), 0);
    ck_assert_msg(pane_shows("queue depth", out, sizeof out), "no dashboard: %s", out);
    ck_assert_ptr_nonnull(strstr(out, "hit rate"));
    ck_assert_ptr_nonnull(strstr(out, "latency"));
    ck_assert_ptr_nonnull(strstr(out, "Requests (all classes)"));
    ck_assert_ptr_nonnull(strstr(out, "p95 by class"));
    tmux("send-keys -t rl p", out, sizeof out);
    ck_assert_msg(pane_shows("[PAUSED]", out, sizeof out), "p did not pause: %s", out);
    tmux("send-keys -t rl c", out, sizeof out);
    ck_assert_msg(pane_shows("Requests (chat)", out, sizeof out), "c: %s", out);
    tmux("send-keys -t rl q", out, sizeof out);
    ck_assert_msg(pane_shows("EXITED 0", out, sizeof out), "q did not quit: %s", out);
    tmux("kill-server", out, sizeof out);
    struct stat stb;
    ck_assert_int_eq(stat(json, &stb), 0);
    ck_assert_int_gt(stb.st_size, 100);
    unlink(json);
}

START_TEST(tmux_80x24)
{
    e2e(80, 24);
}
END_TEST

START_TEST(tmux_200x50)
{
    e2e(200, 50);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tui");
    TCase *tc = tcase_create("frames");
    tcase_add_test(tc, layout_80x24);
    tcase_add_test(tc, limits_in_redis);
    tcase_add_test(tc, panel_adds_up);
    tcase_add_test(tc, flat_latency_is_one_row);
    tcase_add_test(tc, ascii_fallback);
    tcase_add_test(tc, layout_200x50);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("tmux");
    tcase_set_timeout(tm, 60);
    tcase_add_test(tm, tmux_80x24);
    tcase_add_test(tm, tmux_200x50);
    suite_add_tcase(s, tm);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
