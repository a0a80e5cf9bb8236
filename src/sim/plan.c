/*
 * plan: the search of `ratelab plan`. Checks a plan against its scenario, then
 * runs rounds: each grid point of all keys but the last chooses its probes on
 * the last key (bisection while the points tried are monotone, a grid at STEP
 * once they are not), every probe runs at every seed (in this process or in
 * forked workers), and the worst seed decides. The parsing of --vary and --slo
 * is plan_vary.c and plan_slo.c; the output is plan_out.c.
 */
#include "config.h"

#include "plan.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "plan_int.h"
#include "plan_slo.h"
#include "plan_vary.h"
#include "report.h"
#include "sim.h"
#include "util.h"

int plan_errf(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* ---- one point ---------------------------------------------------------- */

/* Run sc in the simulator and parse its JSON report; NULL on failure. */
static cJSON *simulate(const struct scenario *sc)
{
    int e = 0;
    sim *s = sim_new(sc, &e);
    if (!s)
        return NULL;
    sim_run(s, 0);
    struct report_extra x;
    sim_report_extra(s, &x);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    cJSON *j = NULL;
    if (mem) {
        int rc = report_json(mem, sc, sim_metrics(s), &x);
        if (fclose(mem) == 0 && rc == 0)
            j = cJSON_Parse(text);
    }
    free(text);
    sim_free(s);
    return j;
}

/*
 * Evaluate one point at one seed: the SLO paths' values into vals. 0, or -EIO
 * after saying why on stderr.
 */
static int eval_point(const struct plan_config *c, const int64_t *idx, uint64_t seed,
                      double *vals)
{
    struct scenario sc;
    struct scenario_error err;
    if (plan_vary_load(c, idx, &sc, &err) < 0) {
        fprintf(stderr, "ratelab plan: %s:%d: %s\n", err.file, err.line, err.msg);
        scenario_fini(&sc);
        return -EIO;
    }
    sc.seed = seed;
    cJSON *j = simulate(&sc);
    int rc = j ? 0 : -EIO;
    if (!j)
        fprintf(stderr, "ratelab plan: the simulation of a point failed\n");
    for (int k = 0; j && k < c->n_slo; k++)
        if (plan_slo_read(j, c->slo[k].path, &vals[k]) < 0) {
            fprintf(stderr, "ratelab plan: %s is not in this point's report\n", c->slo[k].path);
            rc = -EIO;
        }
    cJSON_Delete(j);
    scenario_fini(&sc);
    return rc;
}

/* ---- checks before the search -------------------------------------------- */

int plan_check(struct plan_config *c, const struct scenario *sc, char *err, size_t n)
{
    if (c->n_vary < 1 || c->n_slo < 1)
        return plan_errf(err, n, "give at least one --vary KEY=LO..HI and one --slo PATH<=VALUE");
    for (int k = 0; k < c->n_vary; k++) {
        struct plan_vary *v = &c->vary[k];
        for (int j = 0; j < k; j++)
            if (strcmp(c->vary[j].key, v->key) == 0)
                return plan_errf(err, n, "--vary %s is given twice", v->key);
        if (plan_vary_bind(v, sc, err, n) < 0)
            return -EINVAL;
    }
    int64_t combos = 1;
    for (int k = 0; k + 1 < c->n_vary; k++) {
        if (c->vary[k].n > PLAN_GRID_MAX || (combos *= c->vary[k].n) > PLAN_GRID_MAX)
            return plan_errf(err, n,
                             "--vary: the grid over all but the last key would take more than "
                             "%d points; give a larger STEP",
                             PLAN_GRID_MAX);
    }
    /* Every key loads at both ends of its range (the others at their low end). */
    for (int k = 0; k < c->n_vary; k++)
        for (int end = 0; end < 2; end++) {
            int64_t idx[PLAN_MAX_VARY] = {0};
            idx[k] = end ? c->vary[k].n - 1 : 0;
            struct scenario t;
            struct scenario_error e;
            int rc = plan_vary_load(c, idx, &t, &e);
            scenario_fini(&t);
            if (rc < 0) {
                char b[64];
                return plan_errf(err, n, "--vary %s at %s: %s", c->vary[k].key,
                                 plan_vary_text(&c->vary[k], idx[k], b, sizeof b), e.msg);
            }
        }
    /* The report's fields: a very short run of the scenario has them all. */
    struct scenario t = *sc;
    t.duration_us = 1000;
    t.at_end = END_CANCEL;
    cJSON *j = simulate(&t);
    if (!j)
        return plan_errf(err, n, "the scenario does not simulate");
    int rc = plan_slo_check(c->slo, c->n_slo, j, err, n);
    cJSON_Delete(j);
    return rc;
}

/* ---- the search ----------------------------------------------------------- */

/* A probe of a round: a grid point and the last key's rank. */
struct probe {
    int64_t combo, rank;
};

int64_t plan_rank_index(const struct plan_vary *v, int64_t r)
{
    return v->largest ? v->n - 1 - r : r;
}

void plan_probe_indices(const plan *p, int64_t combo, int64_t rank, int64_t *idx)
{
    int last = p->c.n_vary - 1;
    for (int k = last - 1; k >= 0; k--) {
        idx[k] = plan_rank_index(&p->c.vary[k], combo % p->c.vary[k].n);
        combo /= p->c.vary[k].n;
    }
    idx[last] = plan_rank_index(&p->c.vary[last], rank);
}

plan *plan_new(const struct plan_config *c)
{
    plan *p = xcalloc(1, sizeof *p);
    p->c = *c;
    p->n_combos = 1;
    for (int k = 0; k + 1 < c->n_vary; k++)
        p->n_combos *= c->vary[k].n;
    p->s = xcalloc((size_t)p->n_combos, sizeof *p->s);
    for (int64_t i = 0; i < p->n_combos; i++)
        p->s[i].answer = -1;
    p->best = -1;
    return p;
}

void plan_free(plan *p)
{
    if (!p)
        return;
    free(p->pts);
    free(p->s);
    free(p);
}

const struct point *plan_find_point(const plan *p, int64_t combo, int64_t rank)
{
    for (int64_t i = 0; i < p->n_pts; i++)
        if (p->pts[i].combo == combo && p->pts[i].rank == rank)
            return &p->pts[i];
    return NULL;
}

/* One (probe, seed) job in a child process: its values over a pipe. */
static pid_t start_child(const plan *p, const struct probe *pr, uint64_t seed, int *fd)
{
    int pipefd[2];
    if (pipe(pipefd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        close(pipefd[0]);
        int64_t idx[PLAN_MAX_VARY];
        plan_probe_indices(p, pr->combo, pr->rank, idx);
        double vals[PLAN_MAX_SLO];
        int rc = eval_point(&p->c, idx, seed, vals);
        size_t want = sizeof vals[0] * (size_t)p->c.n_slo;
        if (rc == 0 && write(pipefd[1], vals, want) != (ssize_t)want)
            rc = -EIO;
        _exit(rc == 0 ? 0 : 1); /* no atexit handlers: the parent's state is the parent's */
    }
    close(pipefd[1]);
    *fd = pipefd[0];
    return pid;
}

/*
 * Evaluate jobs (probe j at seed s is job j * seeds + s) into vals (n_slo per job):
 * in this process with one job at a time, else in up to jobs children at once.
 * Results land by job number, so the order they finish in changes nothing.
 */
static int run_jobs(const plan *p, const struct probe *pr, int64_t n_jobs, double *vals,
                    int64_t *done, int64_t total)
{
    const struct plan_config *c = &p->c;
    int S = c->n_slo;
    if (c->jobs <= 1) {
        for (int64_t j = 0; j < n_jobs; j++) {
            int64_t idx[PLAN_MAX_VARY];
            plan_probe_indices(p, pr[j / c->seeds].combo, pr[j / c->seeds].rank, idx);
            if (eval_point(c, idx, c->seed0 + (uint64_t)(j % c->seeds), vals + j * S) < 0)
                return -EIO;
            if (c->progress)
                cli_progress("planning", (double)++*done, (double)total);
        }
        return 0;
    }
    int width = c->jobs < n_jobs ? c->jobs : (int)n_jobs;
    struct slot {
        pid_t pid;     /* 0 = free */
        int fd;
        int64_t job;
        size_t got;    /* bytes of the job's values read so far */
    } *w = xcalloc((size_t)width, sizeof *w);
    struct pollfd *pf = xcalloc((size_t)width, sizeof *pf);
    int64_t next = 0;
    int running = 0, rc = 0;
    fflush(stdout);
    fflush(stderr);
    while (running > 0 || (next < n_jobs && rc == 0)) {
        for (int i = 0; i < width && next < n_jobs && rc == 0; i++) {
            if (w[i].pid)
                continue;
            const struct probe *q = &pr[next / c->seeds];
            w[i].pid = start_child(p, q, c->seed0 + (uint64_t)(next % c->seeds), &w[i].fd);
            if (w[i].pid < 0) {
                perror("ratelab plan: fork");
                w[i].pid = 0;
                rc = -EIO;
                break;
            }
            w[i].job = next++;
            w[i].got = 0;
            running++;
        }
        int n = 0;
        for (int i = 0; i < width; i++)
            if (w[i].pid)
                pf[n++] = (struct pollfd){.fd = w[i].fd, .events = POLLIN};
        if (n == 0)
            break;
        if (poll(pf, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            rc = -EIO;
        }
        for (int i = 0, k = 0; i < width; i++) {
            if (!w[i].pid)
                continue;
            short ev = pf[k++].revents;
            if (!(ev & (POLLIN | POLLHUP | POLLERR)))
                continue;
            size_t want = sizeof(double) * (size_t)S;
            char *dst = (char *)(vals + w[i].job * S);
            ssize_t r = read(w[i].fd, dst + w[i].got, want - w[i].got);
            if (r > 0) {
                w[i].got += (size_t)r;
                continue;
            }
            if (r < 0 && errno == EINTR)
                continue;
            close(w[i].fd);
            int st;
            while (waitpid(w[i].pid, &st, 0) < 0 && errno == EINTR)
                ;
            if (w[i].got != want || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                rc = -EIO;
            w[i].pid = 0;
            running--;
            if (c->progress)
                cli_progress("planning", (double)++*done, (double)total);
        }
    }
    free(pf);
    free(w);
    return rc;
}

/* The probes of one grid point's next round; returns how many (into out). */
static int64_t next_probes(const plan *p, int64_t combo, struct probe *out)
{
    const struct search *s = &p->s[combo];
    int64_t n = p->c.vary[p->c.n_vary - 1].n, k = 0;
    if (s->mode == SEARCH_DONE)
        return 0;
    if (s->mode == SEARCH_GRID) {
        for (int64_t r = 0; r < n; r++)
            if (!plan_find_point(p, combo, r))
                out[k++] = (struct probe){combo, r};
        return k;
    }
    int64_t fail = -1, pass = n;
    bool any = false;
    for (int64_t i = 0; i < p->n_pts; i++) {
        const struct point *q = &p->pts[i];
        if (q->combo != combo)
            continue;
        any = true;
        if (q->ok && q->rank < pass)
            pass = q->rank;
        if (!q->ok && q->rank > fail)
            fail = q->rank;
    }
    if (!any) {
        out[k++] = (struct probe){combo, 0};
        if (n > 1)
            out[k++] = (struct probe){combo, n - 1};
        return k;
    }
    int64_t gap = pass - fail - 1;
    if (gap <= PLAN_PROBES) {
        for (int64_t r = fail + 1; r < pass; r++)
            out[k++] = (struct probe){combo, r};
    } else {
        for (int j = 1; j <= PLAN_PROBES; j++)
            out[k++] = (struct probe){combo, fail + (pass - fail) * j / (PLAN_PROBES + 1)};
    }
    return k;
}

/* After a round: is one grid point's search over, or does it turn to a grid? */
static void update_search(plan *p, int64_t combo)
{
    struct search *s = &p->s[combo];
    if (s->mode == SEARCH_DONE)
        return;
    int64_t n = p->c.vary[p->c.n_vary - 1].n;
    int64_t fail = -1, pass = n;
    for (int64_t i = 0; i < p->n_pts; i++) {
        const struct point *q = &p->pts[i];
        if (q->combo != combo)
            continue;
        if (q->ok && q->rank < pass)
            pass = q->rank;
        if (!q->ok && q->rank > fail)
            fail = q->rank;
    }
    if (s->mode == SEARCH_GRID) {
        s->mode = SEARCH_DONE;
        s->answer = pass < n ? pass : -1;
        return;
    }
    if (fail > pass) {
        /* Feasibility is not upward-closed here: bisection cannot be trusted. */
        s->not_monotone = true;
        if (n <= PLAN_GRID_MAX) {
            s->mode = SEARCH_GRID;
            int64_t untried = 0;
            for (int64_t r = 0; r < n; r++)
                untried += plan_find_point(p, combo, r) == NULL;
            if (untried > 0)
                return;
        } else {
            s->grid_capped = true;
        }
        s->mode = SEARCH_DONE;
        s->answer = pass;
        return;
    }
    if (pass == fail + 1) {
        s->mode = SEARCH_DONE;
        s->answer = pass < n ? pass : -1;
    }
}

int plan_run(plan *p)
{
    const struct plan_config *c = &p->c;
    int S = c->n_slo;
    int64_t n_last = c->vary[c->n_vary - 1].n;
    int64_t cap = n_last < PLAN_GRID_MAX ? n_last : PLAN_GRID_MAX;
    if (cap < PLAN_PROBES + 2)
        cap = PLAN_PROBES + 2;
    struct probe *pr = xmalloc(sizeof *pr * (size_t)(p->n_combos * cap));
    int rc = 0;
    int64_t done = 0, total = 0;
    for (;;) {
        int64_t np = 0;
        for (int64_t g = 0; g < p->n_combos; g++)
            np += next_probes(p, g, pr + np);
        if (np == 0)
            break;
        p->rounds++;
        int64_t n_jobs = np * c->seeds;
        total = done + n_jobs;
        double *vals = xcalloc((size_t)(n_jobs * S), sizeof *vals);
        rc = run_jobs(p, pr, n_jobs, vals, &done, total);
        if (rc < 0) {
            free(vals);
            break;
        }
        if (p->n_pts + np > p->cap) {
            p->cap = (p->n_pts + np) * 2;
            p->pts = xrealloc(p->pts, sizeof *p->pts * (size_t)p->cap);
        }
        for (int64_t j = 0; j < np; j++) {
            struct point *q = &p->pts[p->n_pts++];
            memset(q, 0, sizeof *q);
            q->combo = pr[j].combo;
            q->rank = pr[j].rank;
            plan_probe_indices(p, q->combo, q->rank, q->idx);
            q->ok = true;
            for (int k = 0; k < S; k++) {
                const double *v = vals + j * c->seeds * S + k;
                q->worst[k] = q->min[k] = q->max[k] = v[0];
                for (int s = 1; s < c->seeds; s++) {
                    double x = v[s * S];
                    if (plan_slo_worse(&c->slo[k], x, q->worst[k]))
                        q->worst[k] = x;
                    q->min[k] = fmin(q->min[k], x);
                    q->max[k] = fmax(q->max[k], x);
                }
                q->pass[k] = plan_slo_meets(&c->slo[k], q->worst[k]);
                q->ok = q->ok && q->pass[k];
            }
        }
        free(vals);
        for (int64_t g = 0; g < p->n_combos; g++)
            update_search(p, g);
    }
    if (c->progress && done > 0)
        cli_progress_end();
    free(pr);
    if (rc < 0)
        return -EIO;
    /* The first grid point in order of preference that has an answer. */
    for (int64_t g = 0; g < p->n_combos && p->best < 0; g++)
        if (p->s[g].answer >= 0)
            for (int64_t i = 0; i < p->n_pts; i++)
                if (p->pts[i].combo == g && p->pts[i].rank == p->s[g].answer)
                    p->best = i;
    return p->best >= 0 ? 0 : 1;
}
