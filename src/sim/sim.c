#include "config.h"

#include "sim.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"
#include "report.h"
#include "util.h"

/*
 * Simulated time only: the provider model is the transport, and each step
 * advances the virtual clock to the earliest thing that can happen.
 */
struct sim {
    const struct scenario *sc;
    run *r;
    provider *pv;
    int64_t now;
    struct sim_stats st; /* the engine's own counters; run_stats supplies the rest */
    metrics *m;          /* the run's, for the provider's waiting queue */
    int64_t pv_waiting;  /* the provider's waiting level last told to metrics */
    struct histogram wait_hist; /* time waited for a batch slot by served attempts that
                                   waited, µs */
};

/*
 * Tell metrics how the provider's waiting queue moved, after each call that can move
 * it (submit, advance, cancel): a load and a compare per call, a metrics update only
 * when the level changed, rather than a hook inside the provider's queue.
 */
static inline void sync_waiting(sim *s, int64_t now)
{
    int64_t w = provider_waiting(s->pv);
    if (w != s->pv_waiting) {
        metrics_server_queue(s->m, now, (int)(w - s->pv_waiting));
        s->pv_waiting = w;
    }
}

/* ---- the transport: the provider model --------------------------------------- */

static void on_provider(void *ctx, const struct provider_event *ev)
{
    sim *s = ctx;
    struct run_req *q = ev->handle;
    if (q->tx_id != ev->id)
        return; /* an attempt we abandoned; the provider should not send these */
    switch (ev->kind) {
    case PROVIDER_EV_FIRST_TOKEN:
        break; /* not asked for (see sim_new): the DONE event carries its time */
    case PROVIDER_EV_DONE:
    case PROVIDER_EV_MALFORMED:
        /* Both ran in the batch; a malformed answer is served, then fails at the client. */
        s->st.server_served++;
        if (ev->start_us > ev->submit_us) {
            s->st.server_waited++;
            s->st.server_wait_us += ev->start_us - ev->submit_us;
            histogram_record(&s->wait_hist, ev->start_us - ev->submit_us);
        }
        if (ev->kind == PROVIDER_EV_MALFORMED) {
            run_answer(s->r, q, ev->t_us, 0, NULL, -1, -1); /* a body the client cannot parse */
            break;
        }
        run_first_token(s->r, q, ev->first_token_us);
        /* rl is filled only for an adaptive client; the others read none of a 200's. */
        run_answer(s->r, q, ev->t_us, 200, s->sc->client.adaptive ? &ev->rl : NULL,
                   ev->prompt_tokens, ev->completion_tokens);
        break;
    case PROVIDER_EV_DROPPED:
        /* A dropped connection (a stall ended): a transport error. */
        run_answer(s->r, q, ev->t_us, 0, NULL, -1, -1);
        break;
    }
}

static void tx_send(void *ctx, struct run_req *q, int64_t now)
{
    sim *s = ctx;
    struct provider_decision d;
    provider_submit(s->pv, now, q->prompt_tokens, q->cr.max_tokens, q->output_tokens, q, &d);
    switch (d.kind) {
    case PROVIDER_ACCEPTED:
        q->tx_id = d.id;
        if (!d.running)
            sync_waiting(s, now); /* queued (or stalled: no change) */
        break;
    case PROVIDER_RATE_LIMITED:
        s->st.server_429[d.reason]++;
        run_answer(s->r, q, now, d.status, &d.rl, -1, -1);
        break;
    case PROVIDER_OVERLOADED:
        s->st.server_503++;
        run_answer(s->r, q, now, d.status, &d.rl, -1, -1);
        break;
    default: /* an injected error or reset (faults are counted by the provider) */
        run_answer(s->r, q, now, d.status, &d.rl, -1, -1);
        break;
    }
}

static void tx_abort(void *ctx, struct run_req *q, int64_t now)
{
    sim *s = ctx;
    provider_cancel(s->pv, q->tx_id, now);
    sync_waiting(s, now);
}

static void tx_server_gauges(void *ctx, struct run_server_gauges *out)
{
    sim *s = ctx;
    struct provider_stats ps;
    provider_stats(s->pv, &ps);
    *out = (struct run_server_gauges){ps.running, ps.waiting, ps.kv_cache_usage};
}

/* ---- the clock ----------------------------------------------------------------- */

int sim_run(sim *s, int64_t max_events)
{
    return sim_run_until(s, TIME_NEVER, max_events);
}

int sim_run_until(sim *s, int64_t until_us, int64_t max_events)
{
    for (int64_t k = 0; max_events <= 0 || k < max_events; k++) {
        int64_t tp = provider_next_event_us(s->pv), t;
        if (!run_next(s->r, tp, &t))
            return 1;
        if (t > until_us) {
            if (until_us > s->now)
                s->now = until_us; /* the clock stands at the target; nothing happened */
            return 0;
        }
        assert(t >= s->now);
        s->now = t;
        s->st.steps++;
        if (tp == t) {
            provider_advance(s->pv, t, on_provider, s);
            sync_waiting(s, t);
        }
        run_advance(s->r, t);
    }
    return 0;
}

/* ---- setup ----------------------------------------------------------------- */

sim *sim_new(const struct scenario *sc, int *err)
{
    sim *s = xcalloc(1, sizeof *s);
    s->sc = sc;
    struct run_transport tx = {
        .send = tx_send, .abort = tx_abort, .server_gauges = tx_server_gauges, .ctx = s};
    s->r = run_new(sc, &tx, err);
    if (!s->r) {
        free(s);
        return NULL;
    }
    /* The provider's stream is the root's second split, after the client's (run_new) and
     * before the classes' (run_start); the mock splits the same way (doc/provider.md,
     * "Random streams"): change both or neither. */
    s->pv = provider_new(&sc->server, run_engine_rng(s->r));
    /* TTFT comes from the DONE event (first_token_us), and only an adaptive client reads
     * the rate-limit state of a 200: skip the rest, a large share of the hot path. */
    provider_set_wants(s->pv, sc->client.adaptive ? PROVIDER_WANT_RLINFO : 0);
    s->m = run_metrics(s->r);
    metrics_server_queue(s->m, 0, 0); /* the provider's waiting queue is modelled: report it */
    histogram_init(&s->wait_hist);
    run_start(s->r);
    *err = 0;
    return s;
}

void sim_free(sim *s)
{
    if (!s)
        return;
    run_free(s->r);
    provider_free(s->pv);
    free(s);
}

void sim_set_window_sink(sim *s, metrics_sink sink, void *ctx)
{
    metrics_set_sink(run_metrics(s->r), sink, ctx);
}

int64_t sim_now(const sim *s)
{
    return s->now;
}

int64_t sim_end_us(const sim *s)
{
    return run_end_us(s->r);
}

const metrics *sim_metrics(const sim *s)
{
    return run_metrics_const(s->r);
}

run *sim_lifecycle(sim *s)
{
    return s->r;
}

void sim_stats(const sim *s, struct sim_stats *out)
{
    struct run_stats rs;
    run_stats(s->r, &rs);
    *out = s->st;
    out->heap_events = rs.heap_events;
    out->requests = rs.requests;
    out->pool_peak = rs.pool_peak;
    out->heap_peak = rs.heap_peak;
    out->spin_guards = rs.spin_guards;
    out->stuck = rs.stuck;
    struct provider_stats ps;
    provider_stats(s->pv, &ps);
    /* Every kind the provider drew (error, reset, stall, malformed), counted where it is
     * drawn: stalls and malformed answers are accepted first and fail later, so counting
     * the immediate outcomes here missed them. */
    out->server_faults = 0;
    for (int f = PROVIDER_FAULT_NONE + 1; f < PROVIDER_FAULT_N; f++)
        out->server_faults += ps.faults[f];
    out->server_tpd_used_tokens = ps.tpd_used_tokens;
    out->server_tpd_short_us = ps.tpd_short_us;
}

void sim_report_extra(sim *s, struct report_extra *x)
{
    struct sim_stats st;
    sim_stats(s, &st);
    *x = (struct report_extra){.end_us = sim_end_us(s),
                               .server_503 = st.server_503,
                               .server_faults = st.server_faults,
                               .server_served = st.server_served,
                               .server_waited = st.server_waited,
                               .server_wait_us = st.server_wait_us,
                               .server_wait = &s->wait_hist};
    memcpy(x->server_429, st.server_429, sizeof x->server_429);
    run_budget_client(s->r, &x->budget_client);
    x->budget_server = (struct report_budget){.limit_tokens = s->sc->server.tokens_per_day,
                                              .window = s->sc->server.enforce == ENFORCE_WINDOW,
                                              .used_tokens = st.server_tpd_used_tokens,
                                              .short_us = st.server_tpd_short_us};
}
