#include "config.h"

#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "ratelab %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see 'ratelab %s --help')\n", cmd);
    return -EINVAL;
}

/* Split "--name=value" into name and value; value NULL when there is no '='. */
static void split_opt(const char *arg, char *name, size_t n, const char **value)
{
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    if (len >= n)
        len = n - 1;
    memcpy(name, arg, len);
    name[len] = '\0';
    *value = eq ? eq + 1 : NULL;
}

int cli_parse(int argc, char **argv, struct run_options *o)
{
    const char *cmd = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (o->scenario_path)
                return usage_error(cmd, "unexpected argument '%s'", arg);
            o->scenario_path = arg;
            continue;
        }
        char name[64];
        const char *value;
        split_opt(arg[1] == '-' ? arg + 2 : arg + 1, name, sizeof name, &value);
        bool flag = strcmp(name, "quiet") == 0 || strcmp(name, "q") == 0 ||
                    strcmp(name, "help") == 0 || strcmp(name, "h") == 0 ||
                    strcmp(name, "skip-bad") == 0;
        struct cli_extra *ex = NULL;
        for (int k = 0; k < o->n_extra; k++)
            if (strcmp(o->extra[k].name, name) == 0)
                ex = &o->extra[k];
        if (ex && !ex->has_arg)
            flag = true;
        if (flag) {
            if (value)
                return usage_error(cmd, "option '%s' takes no value", arg);
        } else if (!value) {
            if (i + 1 >= argc)
                return usage_error(cmd, "option '%s' needs a value", arg);
            value = argv[++i];
        }
        if (ex && ex->set_key) {
            if (o->n_overrides >= CLI_MAX_OVERRIDES)
                return usage_error(cmd, "too many --set options (at most %s)", "64");
            snprintf(ex->set_buf, sizeof ex->set_buf, "%s=%s", ex->set_key, value);
            ex->value = value;
            o->overrides[o->n_overrides++] = ex->set_buf;
        } else if (ex) {
            ex->value = value ? value : "";
        } else if (strcmp(name, "quiet") == 0 || strcmp(name, "q") == 0) {
            o->quiet = true;
        } else if (strcmp(name, "help") == 0 || strcmp(name, "h") == 0) {
            o->help = true;
        } else if (strcmp(name, "skip-bad") == 0) {
            o->skip_bad = true;
        } else if (strcmp(name, "set") == 0) {
            if (o->n_overrides >= CLI_MAX_OVERRIDES)
                return usage_error(cmd, "too many --set options (at most %s)", "64");
            if (!strchr(value, '=') || !strchr(value, '.'))
                return usage_error(cmd, "--set wants SECTION.KEY=VALUE, not '%s'", value);
            o->overrides[o->n_overrides++] = value;
        } else if (strcmp(name, "seed") == 0) {
            uint64_t seed;
            if (parse_u64(value, &seed) < 0)
                return usage_error(cmd, "--seed wants an integer from 0 to 2^64-1 "
                                   "(18446744073709551615), not '%s'", value);
            o->have_seed = true;
            o->seed = seed;
        } else if (o->no_reports && (strcmp(name, "json") == 0 || strcmp(name, "csv") == 0 ||
                                     strcmp(name, "html") == 0)) {
            return usage_error(cmd,
                               "'%s' writes no report: --json and --csv do not apply (nor --html)",
                               cmd);
        } else if (strcmp(name, "json") == 0) {
            o->json_path = value;
        } else if (strcmp(name, "csv") == 0) {
            o->csv_path = value;
        } else if (strcmp(name, "html") == 0) {
            o->html_path = value;
        } else {
            return usage_error(cmd, "unknown option '%s'", arg);
        }
    }
    return 0;
}

int cli_load_scenario(const struct run_options *o, struct scenario *sc)
{
    struct scenario_error err;
    if (!o->scenario_path && !o->serve) {
        fprintf(stderr, "ratelab: a SCENARIO file is required (try scenarios/*.ini)\n");
        return -EINVAL;
    }
    if (scenario_load_for(sc, o->serve ? SCENARIO_FOR_SERVE : SCENARIO_FOR_RUN, o->scenario_path,
                          o->overrides, o->n_overrides, &err) < 0) {
        if (!err.file[0])
            fprintf(stderr, "ratelab: %s\n", err.msg);
        else if (err.line > 0)
            fprintf(stderr, "%s:%d: %s\n", err.file, err.line, err.msg);
        else
            fprintf(stderr, "%s: %s\n", err.file, err.msg);
        scenario_fini(sc);
        return -EINVAL;
    }
    if (o->have_seed)
        sc->seed = o->seed;
    sc->trace_skip_bad = o->skip_bad;
    return 0;
}

void cli_print_common_help(const struct run_options *o)
{
    fputs("Options shared by run subcommands:\n"
          "  --set SECTION.KEY=VALUE  override a scenario value (repeatable); checked like the file\n"
          "                           (classes: --set class.NAME.KEY=VALUE)\n"
          "  --seed N                 random seed (overrides [scenario] seed)\n"
          "  --skip-bad               skip bad lines of arrival = trace files (counted in the\n"
          "                           report) instead of stopping at the first\n",
          stdout);
    if (!o->no_reports)
        fputs("  --json FILE              write the JSON report to FILE ('-' for stdout)\n"
              "  --csv FILE               write the per-window CSV time series to FILE ('-' for "
              "stdout)\n"
              "  --html FILE              write a self-contained HTML report with plots to FILE\n",
              stdout);
    fputs("  --quiet, -q              no progress on stderr\n"
          "  --help, -h               this help\n",
          stdout);
}

bool cli_progress_enabled(const struct run_options *o)
{
    return !o->quiet && isatty(STDERR_FILENO);
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The progress line reads the wall clock: it is UI, not the simulation's time. */
static double progress_started_s = -1;
static double progress_drawn_s;

void cli_progress(const char *label, double done, double total)
{
    double now = wall_s();
    if (progress_started_s < 0)
        progress_started_s = progress_drawn_s = now;
    else if (now - progress_drawn_s < 0.1 && done < total)
        return; /* at most ten redraws a second */
    progress_drawn_s = now;
    double frac = total > 0 ? done / total : 0;
    if (frac > 1)
        frac = 1;
    double elapsed = now - progress_started_s;
    fprintf(stderr, "\r\033[K%s %5.1f%%", label, 100 * frac);
    if (frac > 0.01 && elapsed > 0.5)
        fprintf(stderr, "  %.0fs left", elapsed * (1 - frac) / frac);
    fflush(stderr);
}

void cli_progress_end(void)
{
    progress_started_s = -1;
    fputs("\r\033[K", stderr);
    fflush(stderr);
}
