#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cli.h"
#include "commands.h"
#include "mock.h"
#include "scenario.h"
#include "util.h"

static void help(const struct run_options *o)
{
    fputs("usage: ratelab mock [SCENARIO] [--listen ADDR:PORT] [OPTIONS]\n"
          "\n"
          "Serve an OpenAI-compatible API (chat and legacy completions, streaming or not,\n"
          "/v1/models, /health, /metrics) driven by the scenario's [server] section: its rate\n"
          "limits answer 429 with rate-limit headers, its capacity model sets latency, its\n"
          "fault rates inject 500/503, stalls, resets and malformed bodies. Without a\n"
          "SCENARIO the defaults apply (no limits, no faults), with --set on top. The mock\n"
          "needs no [class.NAME]; a class only shapes the completion lengths of requests\n"
          "that name it. Runs until SIGINT or SIGTERM.\n"
          "\n"
          "Options:\n"
          "  --listen ADDR:PORT       where to listen (default 127.0.0.1:8000); port 0 picks a\n"
          "                           free one; prints 'listening on HOST:PORT' on stdout\n"
          "  --api-key-env NAME       require 'Authorization: Bearer KEY', KEY from the\n"
          "                           environment variable NAME (no key: no authentication)\n"
          "  --max-body BYTES         largest request body accepted (default 1048576, at most\n"
          "                           1073741824); 413 above\n"
          "  --max-tokens N           largest max_tokens (or max_completion_tokens) accepted\n"
          "                           (default 131072, at most 1000000000); 400 above\n"
          "  --idle-timeout DURATION  close a connection that waits this long for its next\n"
          "                           request, or whose answer stops being read for this long\n"
          "                           (default 75s, at most 1d)\n"
          "  --header-timeout DURATION\n"
          "                           a request must arrive whole within this long of its\n"
          "                           first byte (a new connection's: of the connect), or the\n"
          "                           connection is closed (default 60s, at most 1d)\n"
          "  --max-connections N      open connections at most (default and ceiling: the\n"
          "                           descriptor limit, ulimit -n, minus 32); a new one\n"
          "                           beyond it closes the one longest waiting for a\n"
          "                           request, or is refused when all are busy\n",
          stdout);
    cli_print_common_help(o);
    fputs("\nSee doc/mock.md for endpoints, headers, faults and metrics.\n", stdout);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    fprintf(stderr, "ratelab mock: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    event_base_loopbreak(arg);
}

int cmd_mock(int argc, char **argv)
{
    struct run_options o = {.no_reports = true, .serve = true};
    o.extra[0] = (struct cli_extra){.name = "listen", .has_arg = true};
    o.extra[1] = (struct cli_extra){.name = "api-key-env", .has_arg = true};
    o.extra[2] = (struct cli_extra){.name = "max-body", .has_arg = true};
    o.extra[3] = (struct cli_extra){.name = "max-tokens", .has_arg = true};
    o.extra[4] = (struct cli_extra){.name = "idle-timeout", .has_arg = true};
    o.extra[5] = (struct cli_extra){.name = "header-timeout", .has_arg = true};
    o.extra[6] = (struct cli_extra){.name = "max-connections", .has_arg = true};
    o.n_extra = 7;
    if (cli_parse(argc, argv, &o) < 0)
        return EXIT_RUN_USAGE;
    if (o.help) {
        help(&o);
        return EXIT_RUN_OK;
    }
    const char *listen = o.extra[0].value ? o.extra[0].value : "127.0.0.1:8000";
    struct mock_options mo = {0};
    if (o.extra[1].value) {
        mo.api_key = getenv(o.extra[1].value);
        if (!mo.api_key || !mo.api_key[0]) {
            fprintf(stderr, "ratelab mock: --api-key-env %s: the variable is unset or empty\n",
                    o.extra[1].value);
            return EXIT_RUN_USAGE;
        }
    }
    if (o.extra[2].value &&
        (parse_count(o.extra[2].value, &mo.max_body_bytes) < 0 || mo.max_body_bytes < 1 ||
         mo.max_body_bytes > MOCK_MAX_BODY_LIMIT)) {
        fprintf(stderr,
                "ratelab mock: --max-body wants a byte count from 1 to %" PRId64
                " (1 GiB), not '%s'\n",
                MOCK_MAX_BODY_LIMIT, o.extra[2].value);
        return EXIT_RUN_USAGE;
    }
    if (o.extra[3].value &&
        (parse_count(o.extra[3].value, &mo.max_tokens) < 0 || mo.max_tokens < 1 ||
         mo.max_tokens > MOCK_MAX_TOKENS_LIMIT)) {
        fprintf(stderr, "ratelab mock: --max-tokens wants a count from 1 to %d, not '%s'\n",
                MOCK_MAX_TOKENS_LIMIT, o.extra[3].value);
        return EXIT_RUN_USAGE;
    }
    int64_t *timeouts[2] = {&mo.idle_timeout_us, &mo.header_timeout_us};
    for (int i = 0; i < 2; i++) {
        const char *v = o.extra[4 + i].value;
        if (v && (parse_duration_us(v, timeouts[i]) < 0 || *timeouts[i] < 1 ||
                  *timeouts[i] > MOCK_MAX_TIMEOUT_US)) {
            fprintf(stderr,
                    "ratelab mock: --%s wants a duration with a unit from 1us to 1d (e.g. "
                    "75s), not '%s'\n",
                    o.extra[4 + i].name, v);
            return EXIT_RUN_USAGE;
        }
    }
    if (o.extra[6].value &&
        (parse_count(o.extra[6].value, &mo.max_connections) < 0 || mo.max_connections < 1 ||
         mo.max_connections > MOCK_MAX_CONNECTIONS)) {
        fprintf(stderr,
                "ratelab mock: --max-connections wants a count from 1 to %d, not '%s'\n",
                MOCK_MAX_CONNECTIONS, o.extra[6].value);
        return EXIT_RUN_USAGE;
    }
    struct scenario *sc = xmalloc(sizeof *sc);
    if (cli_load_scenario(&o, sc) < 0) {
        free(sc);
        return EXIT_RUN_USAGE;
    }
    /* A client hanging up mid-stream must not kill the server. */
    signal(SIGPIPE, SIG_IGN);
    /*
     * The epoll changelist folds the read-off/write-on and write-off/read-on
     * flips evhttp makes around every answer into one epoll_ctl each: about 15%
     * less CPU per request (bench/mock_wrk.sh).
     */
    struct event_config *cfg = event_config_new();
    struct event_base *base = NULL;
    if (cfg) {
        event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        base = event_base_new_with_config(cfg);
        event_config_free(cfg);
    }
    if (!base) {
        fprintf(stderr, "ratelab mock: cannot create the event loop\n");
        scenario_fini(sc);
        free(sc);
        return EXIT_RUN_FAIL;
    }
    mock *m = mock_new(base, sc, &mo);
    char bound[300];
    int rc = mock_listen(m, listen, bound, sizeof bound);
    int exit_code = EXIT_RUN_OK;
    if (rc < 0) {
        fprintf(stderr, "ratelab mock: cannot listen on %s: %s\n", listen,
                rc == -EINVAL ? "not HOST:PORT" : strerror(-rc));
        exit_code = rc == -EINVAL ? EXIT_RUN_USAGE : EXIT_RUN_FAIL;
    } else {
        struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
        struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
        event_add(sigint, NULL);
        event_add(sigterm, NULL);
        printf("listening on %s\n", bound);
        fflush(stdout);
        if (event_base_dispatch(base) < 0)
            exit_code = EXIT_RUN_FAIL;
        event_free(sigint);
        event_free(sigterm);
    }
    mock_free(m);
    event_base_free(base);
    scenario_fini(sc);
    free(sc);
    return exit_code;
}
