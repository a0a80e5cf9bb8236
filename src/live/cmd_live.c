#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "live.h"
#include "runcmd.h"
#include "tui.h"
#include "util.h"

static void help(const struct run_options *o)
{
    fputs("usage: ratelab live [OPTIONS] SCENARIO\n"
          "\n"
          "Run SCENARIO's workload against a real OpenAI-compatible endpoint ([live] base_url:\n"
          "vLLM, a gateway, or 'ratelab mock') through the same client limiter, queue and\n"
          "retries as 'ratelab sim', for the scenario's duration, then drain or cancel what is\n"
          "left ([scenario] at_end). Requests arrive at their intended times whatever the\n"
          "server does (open loop); latency counts from those times. Prints the same summary\n"
          "as sim; --json and --csv write the report (doc/report.md), with the live-only\n"
          "figures: send lag, inter-token latency when streaming, attempts by status class,\n"
          "and the server's vLLM gauges when [live] metrics_url is set.\n"
          "\n"
          "The API key is read from the environment variable [live] api_key_env names\n"
          "(OPENAI_API_KEY by default) and is never printed or written. With [client]\n"
          "backend = redis the limits are shared through Redis by every process using the\n"
          "same redis_key_prefix (doc/redis.md); a Redis password comes from the variable\n"
          "named in redis_url (redis://:${VAR}@host:port/db) and is never printed either.\n"
          "SIGINT or SIGTERM stops arrivals and drains what is in flight (up to drain_limit);\n"
          "a second one cancels at once. The report is written either way.\n"
          "\n"
          "Options:\n"
          "  --url BASE               the endpoint's base URL (same as --set live.base_url=BASE)\n"
          "  --duration D             how long arrivals run (same as --set scenario.duration=D)\n"
          "  --record FILE            write one JSON line per request at its end (doc/trace.md)\n"
          "  --redis-run NAME         with [client] backend = redis: start together with the\n"
          "                           other processes of run NAME (a start barrier in Redis;\n"
          "                           use a new NAME per run), share the quota, and each write\n"
          "                           its own report (doc/redis.md)\n"
          "  --redis-procs N          how many processes run NAME has (required with\n"
          "                           --redis-run); the open failure policy's local share is\n"
          "                           limit / N with at least this N\n"
          "  --tui                    watch the run on a full-screen dashboard: hit rate, queue\n"
          "                           depth and latency over time, the limiter's buckets, the\n"
          "                           server's vLLM gauges; p pauses the picture, arrows scroll,\n"
          "                           c cycles the class, ? help, q stops the run (the report\n"
          "                           is still written)\n"
          "\n"
          "Exit status: 0 every SLO held, 1 an SLO failed, 2 usage or scenario error,\n"
          "3 runtime failure (an output file could not be written, the event loop failed,\n"
          "--redis-run found no Redis). A --redis-run NAME used before exits 2.\n"
          "\n",
          stdout);
    cli_print_common_help(o);
}

/* The dashboard on the live loop. */
struct ui {
    tui *t;
    struct dash_state st;
    bool quit; /* q was pressed: leave as soon as the run has stopped */
};

static void ui_frame(void *ctx, live *l, int64_t now)
{
    struct ui *u = ctx;
    (void)l;
    if (!u->st.paused) /* paused: the picture stands still (keys still redraw it) */
        tui_frame(u->t, now, &u->st);
}

static void ui_input(void *ctx, live *l)
{
    struct ui *u = ctx;
    enum tui_action a = tui_key(u->t, 0, &u->st);
    if (a == TUI_QUIT) {
        u->quit = true;
        live_stop(l);
        return;
    }
    if (a == TUI_PAUSE)
        u->st.paused = !u->st.paused;
    tui_frame(u->t, run_now(live_lifecycle(l)), &u->st);
}

int cmd_live(int argc, char **argv)
{
    struct runcmd c = {0};
    c.o.extra[0] = (struct cli_extra){.name = "url", .has_arg = true, .set_key = "live.base_url"};
    c.o.extra[1] =
        (struct cli_extra){.name = "duration", .has_arg = true, .set_key = "scenario.duration"};
    c.o.extra[2] = (struct cli_extra){.name = "record", .has_arg = true};
    c.o.extra[3] = (struct cli_extra){.name = "tui", .has_arg = false};
    c.o.extra[4] = (struct cli_extra){.name = "redis-run", .has_arg = true};
    c.o.extra[5] = (struct cli_extra){.name = "redis-procs", .has_arg = true};
    c.o.n_extra = 6;
    int rc = runcmd_begin(&c, "live", argc, argv, help);
    if (rc >= 0)
        return rc;
    bool want_tui = c.o.extra[3].value != NULL;
    const char *run_name = c.o.extra[4].value, *procs = c.o.extra[5].value;
    int64_t n_procs = 0;
    if (run_name || procs) {
        const char *bad = NULL;
        if (!run_name)
            bad = "--redis-procs without --redis-run (expected both, or neither)";
        else if (!procs)
            bad = "--redis-run needs --redis-procs N (expected how many processes start together)";
        else if (parse_count(procs, &n_procs) < 0 || n_procs < 1 || n_procs > 100000)
            bad = "--redis-procs: bad count (expected a whole number from 1 to 100000)";
        else if (c.sc.client.backend != BACKEND_REDIS)
            bad = "--redis-run needs [client] backend = redis (expected it in the scenario, or "
                  "--set client.backend=redis)";
        else if (!*run_name || strlen(run_name) > 64 ||
                 strspn(run_name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                  "_-.") != strlen(run_name))
            bad = "--redis-run: bad name (expected 1 to 64 letters, digits, '_', '-' or '.')";
        if (bad) {
            fprintf(stderr, "ratelab live: %s\n", bad);
            return runcmd_finish(&c, EXIT_RUN_USAGE);
        }
    }
    if (want_tui && (rc = runcmd_tui_check(&c)) >= 0)
        return runcmd_finish(&c, rc);
    struct ui ui = {.st = {.live = true, .speed = 1}};
    FILE *record = NULL;
    const char *record_path = c.o.extra[2].value;
    if (record_path && !(record = fopen(record_path, "w"))) {
        fprintf(stderr, "ratelab live: cannot write %s: %s (check the directory exists and is "
                        "writable)\n",
                record_path, strerror(errno));
        return runcmd_finish(&c, EXIT_RUN_FAIL);
    }
    if (!c.sc.live.verify_tls)
        fprintf(stderr, "ratelab live: warning: verify_tls = no: the server's TLS certificate "
                        "is not checked\n");
    const char *kv = c.sc.live.api_key_env;
    if (!c.o.quiet && kv[0] && !getenv(kv))
        fprintf(stderr, "ratelab live: note: %s is not set: requests carry no Authorization "
                        "header\n",
                kv);
    struct live_options lo = {.record = record,
                              .progress = !want_tui && cli_progress_enabled(&c.o),
                              .quiet = c.o.quiet || want_tui,
                              .frame = want_tui ? ui_frame : NULL,
                              .input = want_tui ? ui_input : NULL,
                              .ui_ctx = &ui,
                              .redis_run = run_name,
                              .redis_procs = n_procs};
    char err[1024];
    live *l = live_new(&c.sc, &lo, err, sizeof err);
    if (!l) {
        fprintf(stderr, "%s: %s\n", c.o.scenario_path, err);
        if (record)
            fclose(record);
        return runcmd_finish(&c, EXIT_RUN_USAGE);
    }
    rc = runcmd_open(&c, live_lifecycle(l));
    if (rc != EXIT_RUN_OK)
        goto out;
    if (c.csv)
        c.csvw.server = live_server_gauges(l);
    if (want_tui) {
        char terr[256];
        if (!(ui.t = tui_open(&c.sc, live_lifecycle(l), terr, sizeof terr))) {
            fprintf(stderr, "ratelab live: %s\n", terr);
            rc = EXIT_RUN_USAGE;
            goto out;
        }
    }
    int lrc = live_run(l);
    if (lrc == -EIO) {
        fprintf(stderr, "ratelab live: the event loop failed; the report covers what ran\n");
        rc = EXIT_RUN_FAIL;
    } else if (lrc < 0) { /* --redis-run could not start (said on stderr) */
        rc = lrc == -EEXIST ? EXIT_RUN_USAGE : EXIT_RUN_FAIL;
    }
    if (ui.t) {
        /* The run is over: the last picture stays, scrollable, until q. */
        ui.st.finished = true;
        ui.st.paused = false;
        run *r = live_lifecycle(l);
        if (!ui.quit)
            do
                tui_frame(ui.t, run_now(r), &ui.st);
            while (tui_key(ui.t, -1, &ui.st) != TUI_QUIT);
        tui_close(ui.t);
    }
    struct report_extra x;
    live_extra(l, &x);
    live_budget_client(l, &x.budget_client);
    int rrc = runcmd_report(&c, live_lifecycle(l), &x);
    if (rc == EXIT_RUN_OK)
        rc = rrc;
out:
    if (record && fclose(record) != 0) {
        fprintf(stderr, "ratelab live: error writing %s (is the disk full?)\n", record_path);
        rc = EXIT_RUN_FAIL;
    }
    live_free(l);
    return runcmd_finish(&c, rc);
}
