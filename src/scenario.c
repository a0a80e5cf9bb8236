#include "config.h"

#include "scenario.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void scenario_defaults(struct scenario *sc)
{
    memset(sc, 0, sizeof *sc);
    snprintf(sc->name, sizeof sc->name, "unnamed");
    sc->duration_us = 10 * US_PER_MIN;
    sc->seed = 1;
    sc->window_us = US_PER_S;
    sc->at_end = END_DRAIN;
    sc->drain_limit_us = 10 * US_PER_MIN;
    sc->slo_max_429_share = -1;

    struct client_config *c = &sc->client;
    c->queue_capacity = 10000;
    c->queue_full = QUEUE_FULL_REJECT;
    c->priority = PRIORITY_AGING;
    c->aging_us = 10 * US_PER_S;
    c->head_of_line = HOL_BLOCK;
    c->estimate = ESTIMATE_PROMPT_PLUS_MAX;
    c->request_timeout_us = 10 * US_PER_MIN;
    c->retry.max_attempts = 5;
    c->retry.base_delay_us = 500 * US_PER_MS;
    c->retry.max_delay_us = 60 * US_PER_S;
    c->retry.jitter = JITTER_FULL;
    c->retry.honor_retry_after = true;
    c->retry.budget_ratio = 0.2;
    c->retry.budget_window_us = 60 * US_PER_S;

    struct server_config *s = &sc->server;
    s->enforce = ENFORCE_BUCKET;
    s->headers = HEADERS_OPENAI;
    s->max_running = 256;
    s->service = SERVICE_BATCHING;
    s->ttft_base_us = 150 * US_PER_MS;
    s->prefill_us_per_token = 100;
    s->decode_us_per_token = 20 * US_PER_MS;
    s->decode_batch_slope = 0.01;
    s->service_mean_us = US_PER_S;
    s->stall_us = 5 * US_PER_MIN;

    struct live_config *l = &sc->live;
    snprintf(l->base_url, sizeof l->base_url, "http://127.0.0.1:8000");
    snprintf(l->api_path, sizeof l->api_path, "/v1/chat/completions");
    snprintf(l->model, sizeof l->model, "default");
    snprintf(l->api_key_env, sizeof l->api_key_env, "OPENAI_API_KEY");
    l->verify_tls = true;
    l->connect_timeout_us = 10 * US_PER_S;
    l->timeout_us = 10 * US_PER_MIN;
}

void scenario_fini(struct scenario *sc)
{
    for (int i = 0; i < SCENARIO_MAX_CLASSES; i++) {
        free(sc->classes[i].prompt_tokens.values);
        free(sc->classes[i].completion_tokens.values);
        sc->classes[i].prompt_tokens.values = NULL;
        sc->classes[i].completion_tokens.values = NULL;
    }
}

int64_t scenario_class_timeout_us(const struct scenario *sc, int class_index)
{
    const struct class_config *cl = &sc->classes[class_index];
    return cl->timeout_us ? cl->timeout_us : sc->client.request_timeout_us;
}
