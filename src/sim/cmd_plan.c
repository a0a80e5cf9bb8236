#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "plan.h"
#include "scenario.h"
#include "util.h"

static void help(const struct run_options *o)
{
    fputs("usage: ratelab plan SCENARIO --vary KEY=LO..HI[:STEP] [--vary ...] --slo EXPR\n"
          "                    [--slo ...] [--seeds N] [--jobs N] [OPTIONS]\n"
          "\n"
          "Find the cheapest setting that meets every SLO by simulating SCENARIO at points of\n"
          "the varied keys: the smallest [client] or [server] value (the least capacity), or\n"
          "the largest [class.NAME] value (the most load a setting sustains). Prints the points\n"
          "tried with each SLO's measured value, then the recommendation and its margin.\n"
          "doc/planning.md explains the search.\n"
          "\n"
          "Options:\n"
          "  --vary KEY=LO..HI[:STEP] a scenario key and its range (repeatable, up to 4):\n"
          "                           counts (client.max_concurrent=1..64, step 1 by default),\n"
          "                           durations, rates (server.service_mean=0.5s..2s:100ms);\n"
          "                           class.NAME.rate=1..50 the rate of the class's arrival,\n"
          "                           class.NAME.users=1..100 a closed class's users. Several\n"
          "                           keys: a grid over all but the last, a search on the last\n"
          "  --slo EXPR               PATH OP VALUE on the JSON report (doc/report.md), OP one\n"
          "                           of <= < >= > ==: latency_ms.p95<=2s, lost==0,\n"
          "                           hit_rate.server_429<=1%, classes.chat.latency_ms.p95<=1500ms\n"
          "                           (repeatable; every one must hold)\n"
          "  --seeds N                seeds per point, from the scenario's (or --seed); the\n"
          "                           worst seed decides (default 3)\n"
          "  --jobs N                 points simulated at once, as processes (default: the\n"
          "                           cores); the output does not depend on it\n"
          "  --json FILE              write the plan as JSON to FILE ('-' for stdout)\n"
          "  --html FILE              a self-contained HTML page: per SLO, the worst seed\n"
          "                           against the varied key, the target and the\n"
          "                           recommendation marked\n"
          "\n"
          "Exit status: 0 a setting meets every SLO, 1 none in range does, 2 usage or\n"
          "scenario error, 3 a point could not be simulated.\n"
          "\n",
          stdout);
    struct run_options q = *o;
    q.no_reports = true;
    cli_print_common_help(&q);
}

static int usage(const char *fmt, const char *arg)
{
    fputs("ratelab plan: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see 'ratelab plan --help')\n", stderr);
    return EXIT_RUN_USAGE;
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]; NULL when argv[*i] is another option. */
static const char *own_option(int argc, char **argv, int *i, const char *name, bool *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, n) != 0)
        return NULL;
    if (a[2 + n] == '=')
        return a + 3 + n;
    if (a[2 + n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

static int positive_int(const char *s, int max, int *out)
{
    int64_t v;
    if (parse_count(s, &v) < 0 || v < 1 || v > max)
        return -EINVAL;
    *out = (int)v;
    return 0;
}

int cmd_plan(int argc, char **argv)
{
    static struct plan_config c; /* large: off the stack */
    memset(&c, 0, sizeof c);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    c.jobs = cores > 0 ? (int)(cores < 256 ? cores : 256) : 1;
    c.seeds = 3;
    char err[1024];
    /* Our own (repeatable) options come out first; cli_parse takes the rest. */
    char **rest = xcalloc((size_t)argc + 1, sizeof *rest);
    int n_rest = 0;
    rest[n_rest++] = argv[0];
    int rc = -1;
    for (int i = 1; i < argc && rc < 0; i++) {
        bool missing = false;
        const char *v;
        if ((v = own_option(argc, argv, &i, "vary", &missing))) {
            if (c.n_vary == PLAN_MAX_VARY)
                rc = usage("at most %s --vary options", "4");
            else if (plan_parse_vary(v, &c.vary[c.n_vary++], err, sizeof err) < 0)
                rc = usage("%s", err);
        } else if (!missing && (v = own_option(argc, argv, &i, "slo", &missing))) {
            if (c.n_slo == PLAN_MAX_SLO)
                rc = usage("at most %s --slo options", "16");
            else if (plan_parse_slo(v, &c.slo[c.n_slo++], err, sizeof err) < 0)
                rc = usage("%s", err);
        } else if (!missing && (v = own_option(argc, argv, &i, "seeds", &missing))) {
            if (positive_int(v, 1000, &c.seeds) < 0)
                rc = usage("--seeds wants a whole number from 1 to 1000, not '%s'", v);
        } else if (!missing && (v = own_option(argc, argv, &i, "jobs", &missing))) {
            if (positive_int(v, 256, &c.jobs) < 0)
                rc = usage("--jobs wants a whole number from 1 to 256, not '%s'", v);
        } else if (missing) {
            rc = usage("option '%s' needs a value", argv[i]);
        } else {
            rest[n_rest++] = argv[i];
        }
    }
    struct run_options o = {0};
    if (rc < 0 && cli_parse(n_rest, rest, &o) < 0)
        rc = EXIT_RUN_USAGE;
    free(rest);
    if (rc >= 0)
        return rc;
    if (o.help) {
        help(&o);
        return EXIT_RUN_OK;
    }
    if (o.csv_path)
        return usage("%s", "--csv does not apply: a plan runs many points (--json or --html "
                           "writes the plan)");
    bool html_stdout = o.html_path && strcmp(o.html_path, "-") == 0;
    if (html_stdout && o.json_path && strcmp(o.json_path, "-") == 0)
        return usage("%s", "--json - and --html -: only one report can go to stdout");
    struct scenario sc;
    if (cli_load_scenario(&o, &sc) < 0)
        return EXIT_RUN_USAGE;
    if (sc.n_classes == 0) {
        fprintf(stderr, "%s: the scenario has no [class.NAME] section: nothing to plan\n",
                o.scenario_path);
        scenario_fini(&sc);
        return EXIT_RUN_USAGE;
    }
    c.scenario_path = o.scenario_path;
    c.overrides = o.overrides;
    c.n_overrides = o.n_overrides;
    c.seed0 = sc.seed;
    c.progress = cli_progress_enabled(&o);
    int ck = plan_check(&c, &sc, err, sizeof err);
    scenario_fini(&sc);
    if (ck < 0)
        return usage("%s", err);

    FILE *json = NULL;
    bool json_stdout = o.json_path && strcmp(o.json_path, "-") == 0;
    if (o.json_path) {
        json = json_stdout ? stdout : fopen(o.json_path, "w");
        if (!json) {
            fprintf(stderr, "ratelab plan: cannot write %s: %s\n", o.json_path, strerror(errno));
            return EXIT_RUN_FAIL;
        }
    }
    FILE *html = NULL;
    if (o.html_path && !(html = html_stdout ? stdout : fopen(o.html_path, "w"))) {
        fprintf(stderr, "ratelab plan: cannot write %s: %s\n", o.html_path, strerror(errno));
        if (json && !json_stdout)
            fclose(json);
        return EXIT_RUN_FAIL;
    }
    plan *p = plan_new(&c);
    int found = plan_run(p);
    if (found < 0) {
        rc = EXIT_RUN_FAIL;
    } else {
        rc = found == 0 ? EXIT_RUN_OK : EXIT_RUN_SLO;
        FILE *human = json_stdout || html_stdout ? stderr : stdout;
        if (!((json_stdout || html_stdout) && o.quiet))
            plan_print(p, human);
        if (json && plan_json(p, json) < 0)
            rc = EXIT_RUN_FAIL;
        if (html && plan_html(p, html) < 0) {
            fprintf(stderr, "ratelab plan: cannot write %s\n", o.html_path);
            rc = EXIT_RUN_FAIL;
        }
    }
    if (json && !json_stdout && fclose(json) != 0)
        rc = EXIT_RUN_FAIL;
    if (html && !html_stdout && fclose(html) != 0)
        rc = EXIT_RUN_FAIL;
    if (fflush(stdout) != 0)
        rc = EXIT_RUN_FAIL;
    plan_free(p);
    return rc;
}
