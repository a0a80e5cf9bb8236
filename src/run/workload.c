#include "config.h"

#include "workload.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "util.h"

/*
 * A generator keeps its position as a double on the process's own scale (µs of
 * real time, of integrated rate, or of "on" time) and rounds only on output, so
 * rounding never accumulates into drift. Rounding is monotone, so outputs never
 * go backwards.
 *
 * Invariant: last_us <= every later output; done once an output reached end_us.
 */
struct workload {
    const struct class_config *cl; /* borrowed; outlives us */
    struct rng rng;                 /* our own stream */
    int64_t end_us;                 /* arrivals fall in [0, end_us) */
    int64_t k;                      /* constant: index of the next arrival; burst: sent so far */
    double pos;                     /* poisson/gamma: last arrival, µs; ramp: integrated rate
                                       consumed (expected arrivals); onoff: "on" µs consumed */
    int64_t last_us;                /* last output, for the ordering assertion */
    bool done;                      /* no more arrivals */
    int64_t prompt_const;           /* DIST_CONST prompt tokens: the draw, made once (no rng) */
    int64_t completion_const;       /* likewise for completion tokens, before the max_tokens clip */
    trace *tr;                      /* ARRIVAL_TRACE: the replay, NULL until begun */
    struct trace_line cur;          /* the line of the last arrival returned: its request's
                                       tokens (valid when have_cur) */
    bool have_cur;
    const char *names[SCENARIO_MAX_CLASSES]; /* the scenario's class names, for the reader */
    int64_t trace_errors;           /* bad lines met during the replay */
};

workload *workload_new(const struct class_config *cl, int64_t end_us, struct rng *parent)
{
    assert(cl && parent && end_us >= 0);
    const struct arrival_config *a = &cl->arrival;
    switch (a->kind) {
    case ARRIVAL_POISSON:
    case ARRIVAL_CONSTANT:
    case ARRIVAL_GAMMA:
    case ARRIVAL_ONOFF:
        assert(a->rate_per_s >= 0);
        break;
    case ARRIVAL_BURST:
        assert(a->count >= 0 && a->at_us >= 0);
        break;
    case ARRIVAL_RAMP:
        assert(a->from_per_s >= 0 && a->to_per_s >= 0 && a->over_us >= 0);
        break;
    case ARRIVAL_CLOSED:
        assert(a->users >= 0 && a->think_us >= 0);
        break;
    case ARRIVAL_TRACE:
        break;
    }
    assert(a->kind != ARRIVAL_GAMMA || a->burstiness >= 0);
    assert(a->kind != ARRIVAL_ONOFF || (a->on_us >= 0 && a->off_us >= 0));

    workload *w = xcalloc(1, sizeof *w);
    w->cl = cl;
    rng_split(parent, &w->rng);
    w->end_us = end_us;
    /* A constant "draw" uses no randomness: make it once, not per request. */
    if (cl->prompt_tokens.kind == DIST_CONST)
        w->prompt_const = dist_draw(&cl->prompt_tokens, &w->rng);
    if (cl->completion_tokens.kind == DIST_CONST)
        w->completion_const = dist_draw(&cl->completion_tokens, &w->rng);
    return w;
}

void workload_free(workload *w)
{
    if (!w)
        return;
    trace_close(w->tr);
    free(w);
}

bool workload_is_closed(const workload *w)
{
    return w->cl->arrival.kind == ARRIVAL_CLOSED;
}

/* Round a position in µs to an output time, or TIME_NEVER at or past the end. */
static int64_t emit(workload *w, double t_us)
{
    if (!(t_us < (double)w->end_us)) { /* also catches NaN and infinities */
        w->done = true;
        return TIME_NEVER;
    }
    int64_t t = round_i64(t_us); /* below end_us, so in range */
    if (t >= w->end_us) {
        w->done = true;
        return TIME_NEVER;
    }
    assert(t >= w->last_us);
    w->last_us = t;
    return t;
}

/*
 * Ramp: the integrated rate Λ(t) (expected arrivals in [0, t), t in seconds) is
 * from·t + (to − from)·t²/(2T) on [0, T], then Λ(T) + to·(t − T). An arrival
 * happens where Λ reaches the running sum of unit exponentials, so the count over
 * any [0, t) is Poisson with mean Λ(t): inverting Λ is exact, unlike thinning
 * with a step size.
 */
static double ramp_inverse_s(const struct arrival_config *a, double target)
{
    double T = (double)a->over_us / US_PER_S;
    double from = a->from_per_s, to = a->to_per_s;
    double lam_T = T > 0 ? (from + to) * T / 2 : 0;
    if (target <= lam_T) {
        double qa = (to - from) / (2 * T); /* Λ(t) = qa·t² + from·t */
        if (qa == 0)
            return target / from;
        /* The root form that stays accurate when qa is tiny or negative. */
        double disc = from * from + 4 * qa * target;
        if (disc < 0)
            disc = 0;
        return 2 * target / (from + sqrt(disc));
    }
    if (to <= 0)
        return INFINITY;
    return T + (target - lam_T) / to;
}

static int64_t onoff_next(workload *w)
{
    const struct arrival_config *a = &w->cl->arrival;
    if (a->rate_per_s <= 0 || a->on_us <= 0)
        return emit(w, INFINITY);
    w->pos += rng_exp(&w->rng, US_PER_S / a->rate_per_s);
    /* Map "on" time to real time: each full on period is followed by an off period. */
    double periods = floor(w->pos / (double)a->on_us);
    double t = periods * (double)(a->on_us + a->off_us) + (w->pos - periods * (double)a->on_us);
    return emit(w, t);
}

static int64_t trace_arrival(workload *w)
{
    w->have_cur = false;
    if (!w->tr)
        return emit(w, INFINITY);
    struct trace_error err;
    int rc = trace_next(w->tr, &w->cur, &err);
    if (rc != 0) {
        if (rc < 0)
            w->trace_errors++;
        return emit(w, INFINITY);
    }
    w->have_cur = true;
    return emit(w, (double)w->cur.time_us);
}

/* The reader's options for class cls of sc; names gets the class names. */
static struct trace_options trace_opts(const struct scenario *sc, int cls, const char **names)
{
    const struct class_config *c = &sc->classes[cls];
    for (int i = 0; i < sc->n_classes; i++)
        names[i] = sc->classes[i].name;
    return (struct trace_options){.path = c->arrival.trace_path,
                                  .columns = c->trace_columns,
                                  .start = c->trace_start,
                                  .classes = names,
                                  .n_classes = sc->n_classes,
                                  .only_class = cls,
                                  .skip_bad = sc->trace_skip_bad};
}

int workload_trace_check(const struct scenario *sc, int cls, int64_t *requests,
                         int64_t *skipped, struct trace_error *err)
{
    assert(sc && cls >= 0 && cls < sc->n_classes);
    assert(sc->classes[cls].arrival.kind == ARRIVAL_TRACE);
    const char *names[SCENARIO_MAX_CLASSES];
    struct trace_options o = trace_opts(sc, cls, names);
    return trace_check(&o, requests, skipped, err);
}

int workload_trace_begin(workload *w, const struct scenario *sc, int cls,
                         struct trace_error *err)
{
    assert(w && sc && cls >= 0 && cls < sc->n_classes && w->cl == &sc->classes[cls]);
    assert(w->cl->arrival.kind == ARRIVAL_TRACE && !w->tr);
    /* The reader keeps o.classes: the array lives in w, the names in sc. */
    struct trace_options o = trace_opts(sc, cls, w->names);
    w->tr = trace_open(&o, err);
    if (!w->tr)
        return -EINVAL;
    return 0;
}

int64_t workload_trace_errors(const workload *w)
{
    return w->trace_errors;
}

int64_t workload_next_arrival(workload *w)
{
    const struct arrival_config *a = &w->cl->arrival;
    assert(a->kind != ARRIVAL_CLOSED);
    if (w->done)
        return TIME_NEVER;
    switch (a->kind) {
    case ARRIVAL_CONSTANT:
        if (a->rate_per_s <= 0)
            return emit(w, INFINITY);
        return emit(w, (double)w->k++ * US_PER_S / a->rate_per_s);
    case ARRIVAL_POISSON:
        if (a->rate_per_s <= 0)
            return emit(w, INFINITY);
        w->pos += rng_exp(&w->rng, US_PER_S / a->rate_per_s);
        return emit(w, w->pos);
    case ARRIVAL_GAMMA: {
        if (a->rate_per_s <= 0)
            return emit(w, INFINITY);
        double mean = US_PER_S / a->rate_per_s;
        if (a->burstiness <= 0)
            w->pos += mean;
        else /* shape 1/CV², scale mean·CV²: mean gap 1/rate, CV² = burstiness */
            w->pos += rng_gamma(&w->rng, 1 / a->burstiness, mean * a->burstiness);
        return emit(w, w->pos);
    }
    case ARRIVAL_BURST:
        if (w->k >= a->count)
            return emit(w, INFINITY);
        w->k++;
        return emit(w, (double)a->at_us);
    case ARRIVAL_RAMP:
        w->pos += rng_exp(&w->rng, 1.0);
        return emit(w, ramp_inverse_s(a, w->pos) * US_PER_S);
    case ARRIVAL_ONOFF:
        return onoff_next(w);
    case ARRIVAL_TRACE:
        return trace_arrival(w);
    case ARRIVAL_CLOSED:
        break;
    }
    return TIME_NEVER;
}

int64_t workload_users(const workload *w)
{
    return workload_is_closed(w) ? w->cl->arrival.users : 0;
}

static int64_t think_until(workload *w, int64_t from_us)
{
    int64_t think = w->cl->arrival.think_us;
    double t = (double)from_us + (think > 0 ? rng_exp(&w->rng, (double)think) : 0);
    if (!(t < (double)w->end_us))
        return TIME_NEVER;
    int64_t r = round_i64(t); /* below end_us, so in range */
    return r < w->end_us ? r : TIME_NEVER;
}

int64_t workload_user_start(workload *w, int64_t user)
{
    (void)user; /* users are alike; the index only documents the calling order */
    assert(workload_is_closed(w) && user >= 0 && user < w->cl->arrival.users);
    return think_until(w, 0);
}

int64_t workload_after_done(workload *w, int64_t done_us)
{
    assert(workload_is_closed(w) && done_us >= 0);
    return think_until(w, done_us);
}

int64_t dist_draw(const struct dist_config *d, struct rng *r)
{
    double x = 1;
    switch (d->kind) {
    case DIST_CONST:
        x = d->a;
        break;
    case DIST_UNIFORM: {
        /* Uniform over the integers a..b inclusive, so the mean is (a+b)/2 exactly. */
        if (d->b > d->a) {
            int64_t lo = llround(d->a), hi = llround(d->b);
            if (hi < lo)
                hi = lo;
            int64_t v = lo + (int64_t)rng_below(r, (uint64_t)(hi - lo + 1));
            return v < 1 ? 1 : v;
        }
        x = d->a;
        break;
    }
    case DIST_NORMAL:
        x = rng_normal(r, d->a, d->b);
        break;
    case DIST_LOGNORMAL:
        x = rng_lognormal(r, d->a, d->b);
        break;
    case DIST_EMPIRICAL: {
        assert(d->values && d->n_values > 0);
        int64_t v = d->values[rng_below(r, (uint64_t)d->n_values)];
        return v < 1 ? 1 : v;
    }
    }
    if (!(x >= 1)) /* NaN too */
        return 1;
    if (x > 1e15) /* a draw far out in a heavy tail: keep it representable */
        return (int64_t)1e15;
    return round_i64(x);
}

double dist_mean(const struct dist_config *d)
{
    switch (d->kind) {
    case DIST_CONST:
        return d->a;
    case DIST_UNIFORM:
        return d->b > d->a ? (double)(llround(d->a) + llround(d->b)) / 2 : d->a;
    case DIST_NORMAL:
        return d->a;
    case DIST_LOGNORMAL:
        return d->a * exp(d->b * d->b / 2);
    case DIST_EMPIRICAL: {
        double s = 0;
        for (int64_t i = 0; i < d->n_values; i++)
            s += (double)d->values[i];
        return d->n_values > 0 ? s / (double)d->n_values : 0;
    }
    }
    return 0;
}

int64_t workload_prompt_tokens(workload *w)
{
    if (w->have_cur)
        return w->cur.prompt_tokens < 1 ? 1 : w->cur.prompt_tokens;
    const struct dist_config *d = &w->cl->prompt_tokens;
    return d->kind == DIST_CONST ? w->prompt_const : dist_draw(d, &w->rng);
}

int64_t workload_completion_tokens(workload *w)
{
    const struct dist_config *d = &w->cl->completion_tokens;
    int64_t n;
    if (w->have_cur && w->cur.completion_tokens >= 0)
        n = w->cur.completion_tokens < 1 ? 1 : w->cur.completion_tokens;
    else
        n = d->kind == DIST_CONST ? w->completion_const : dist_draw(d, &w->rng);
    int64_t max = w->cl->max_tokens;
    return max > 0 && n > max ? max : n;
}

int64_t workload_max_tokens(const workload *w)
{
    return w->cl->max_tokens;
}
