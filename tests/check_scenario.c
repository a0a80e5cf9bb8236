#include "config.h"

#include <check.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rng.h"
#include "scenario.h"

#define CLASS "[class.chat]\narrival = poisson 1/s\n"

/* A malformed scenario, the line its error must name, and words the message must hold. */
static const struct bad_case {
    const char *text;
    int line;
    const char *msg;
} bad[] = {
    {"[scenario]\nduration = 30\n" CLASS, 2, "duration: '30' has no unit"},
    {"[scenario]\nduration = -5s\n" CLASS, 2, "duration: bad value '-5s'"},
    {"[scenario]\nduration = 0\n" CLASS, 2, "expected a positive duration"},
    {"[scenario]\nduration = 5 parsecs\n" CLASS, 2, "duration: bad value"},
    {"[scenario]\nduration = 1.5.3s\n" CLASS, 2, "duration: bad value '1.5.3s'"},
    {"[scenario]\nname = a\nname = b\n" CLASS, 3, "duplicate key 'name' in [scenario] (first set at line 2)"},
    {"[scenraio]\nname = a\n" CLASS, 1, "unknown section [scenraio] (did you mean [scenario]?)"},
    {"[bogus]\nx = 1\n" CLASS, 1, "unknown section [bogus]"},
    {"[client]\ntoken_per_minute = 5\n" CLASS, 2, "did you mean 'tokens_per_minute'?"},
    {"[client]\nfrobnicate = 5\n" CLASS, 2, "unknown key 'frobnicate' in [client]"},
    {"[client]\nrequests_per_minute = -1\n" CLASS, 2, "requests_per_minute: bad value '-1'"},
    {"[client]\nrequests_per_minute = lots\n" CLASS, 2, "expected a whole number"},
    {"[client]\nqueue_full = drop\n" CLASS, 2, "queue_full: bad value 'drop' (expected reject or block)"},
    {"[client]\nretry_jitter = some\n" CLASS, 2, "none, full, equal or decorrelated"},
    {"[client]\nretry_max_attempts = 0\n" CLASS, 2, "retry_max_attempts: bad value '0'"},
    {"[client]\nretry_budget = 150%\n" CLASS, 2, "retry_budget: bad value '150%'"},
    {"[client]\nadaptive = maybe\n" CLASS, 2, "adaptive: bad value 'maybe' (expected yes or no)"},
    {"[client]\nretry_base_delay = 2s\nretry_max_delay = 1s\n" CLASS, 3, "retry_max_delay is below retry_base_delay"},
    {"[client]\ntokens_per_minute = 1000\n[class.big]\narrival = poisson 1/s\nmax_tokens = 4000\n", 5,
     "class big: a request can cost 4500 tokens"},
    {"[server]\ntokens_per_day = 100\n\n[class.c]\narrival = poisson 1/s\nprompt_tokens = const 50\nmax_tokens = 60\n", 7,
     "more than server tokens_per_day = 100"},
    /* normal and lognormal prompts: their 99.9th percentile counts as the largest draw */
    {"[client]\ntokens_per_minute = 7000\n[class.n]\narrival = poisson 1/s\nprompt_tokens = normal 3000 1000\nmax_tokens = 1000\n", 6,
     "class n: 0.1% of its requests cost 7090 tokens or more (prompt 6090, the 99.9th percentile of its normal prompt_tokens + max_tokens 1000), more than client tokens_per_minute = 7000, so they could never be sent"},
    {"[server]\ntokens_per_day = 5000\n\n[class.l]\narrival = poisson 1/s\nprompt_tokens = lognormal 300 1\n", 6,
     "class l: 0.1% of its requests cost 7619 tokens or more (prompt 6595, the 99.9th percentile of its lognormal prompt_tokens + max_tokens 1024), more than server tokens_per_day = 5000"},
    {"[client]\ntokens_per_minute = 5000\ntoken_estimate = prompt\n[class.n]\narrival = poisson 1/s\nprompt_tokens = normal 3000 700\nmax_tokens = 4000\n", 6,
     "class n: 0.1% of its requests cost 5163 tokens or more (prompt 5163, the 99.9th percentile of its normal prompt_tokens), more than client tokens_per_minute = 5000"},
    {"[client]\ntokens_per_minute = 1000\ntoken_estimate = prompt\n[class.c]\narrival = poisson 1/s\nprompt_tokens = const 1200\n", 6,
     "class c: a request can cost 1200 tokens (prompt 1200), more than client tokens_per_minute = 1000"},
    {"[server]\nerror_rate = 60%\nreset_rate = 50%\n" CLASS, 2, "fault shares add up to more than 1"},
    {"[server]\nheaders = azure\n" CLASS, 2, "headers: bad value 'azure' (expected openai, anthropic or none)"},
    {"[client]\nburst = 0\n" CLASS, 2, "burst: bad value '0' (expected a positive duration of at most 1d such as 1s or 1m)"},
    {"[client]\nbackend = memcached\n" CLASS, 2, "backend: bad value 'memcached' (expected local or redis)"},
    {"[client]\nredis_failure = maybe\n" CLASS, 2, "redis_failure: bad value 'maybe' (expected closed or open)"},
    {"[client]\nredis_batch = 0\n" CLASS, 2, "redis_batch: bad value '0' (expected a whole number from 1"},
    {"[client]\nredis_batch = 1001\n" CLASS, 2, "redis_batch: bad value '1001'"},
    {"[client]\nredis_timeout = 0\n" CLASS, 2, "redis_timeout: bad value '0'"},
    {"[client]\nredis_lease = 10ms\n" CLASS, 2, "redis_lease: bad value '10ms'"},
    {"[client]\nredis_url = http://x\n" CLASS, 2, "redis_url: not a redis:// URL"},
    {"[client]\nredis_url = redis://h:99999\n" CLASS, 2, "redis_url: a bad port in redis_url (expected 1 to 65535)"},
    {"[client]\nredis_url = redis://h/16\n" CLASS, 2, "a bad database in redis_url (expected /0 to /15)"},
    {"[client]\nredis_url = redis://user:${PW}@h\n" CLASS, 2, "a user name in redis_url"},
    {"[client]\nredis_url = redis://:pw@h\n" CLASS, 2, "a literal password in redis_url (expected ${NAME}"},
    {"[client]\nredis_key_prefix =\n" CLASS, 2, ""},
    {"[client]\nbackend = redis\nadaptive = yes\n" CLASS, 3, "adaptive = yes with backend = redis (expected adaptive = no"},
    {"[server]\nburst = 1d1us\n" CLASS, 2, "burst: bad value '1d1us' (expected a positive duration of at most 1d"},
    {"[server]\nburst = 5\n" CLASS, 2, "burst: '5' has no unit"},
    {"[class.chat]\nprompt_tokens = const 5\n", 1, "class chat: missing key 'arrival'"},
    {"[class.chat]\narrival = poisson 20\n", 2, "arrival: bad rate '20'"},
    {"[class.chat]\narrival = teleport 1/s\n", 2, "arrival: unknown process 'teleport'"},
    {"[class.chat]\narrival = gamma 1/s\n", 2, "arrival: 'gamma' takes 2 values, got 1"},
    {"[class.chat]\narrival = closed 0 1s\n", 2, "arrival: bad user count '0'"},
    {"[class.chat]\narrival = ramp 0/s 0/s 1m\n", 2, "a ramp from 0 to 0 sends nothing"},
    {"[class.chat]\narrival = ramp 10/s -1/s 1m\n", 2, "arrival: bad end rate '-1/s'"},
    {"[scenario]\nduration = 1m\n[class.chat]\narrival = burst 2m 10\n", 4, "the burst comes after the scenario's duration"},
    {"[class.chat]\narrival = poisson 1/s\nprompt_tokens = zipf 3\n", 3, "prompt_tokens: unknown distribution 'zipf'"},
    {"[class.chat]\narrival = poisson 1/s\ncompletion_tokens = uniform 500 100\n", 3, "uniform 500 100 is not a range"},
    {"[class.chat]\narrival = poisson 1/s\nprompt_tokens = empirical /nonexistent/file\n", 3, "cannot open empirical file"},
    {"[class.chat]\narrival = poisson 1/s\nprompts = /nonexistent/p.jsonl\n", 3,
     "prompts: cannot read /nonexistent/p.jsonl: No such file or directory (expected a JSONL file of messages arrays)"},
    {"[class.chat]\narrival = poisson 1/s\nprompts = /\n", 3, "prompts: cannot read /: Is a directory"},
    {"[class.chat]\narrival = poisson 1/s\npriority = 12\n", 3, "priority: bad value '12' (expected a whole number from 0 (most urgent) to 9)"},
    {"[class.c h]\narrival = poisson 1/s\n", 1, "bad class name 'c h'"},
    {"[class]\narrival = poisson 1/s\n", 1, "a class section needs a name"},
    {"[scenario]\nname = x\n", 0, "no [class.NAME] section"},
    {"name = x\n" CLASS, 1, "key 'name' before any section"},
    {"[scenario]\nthis line has no equals sign\n" CLASS, 2, "syntax error"},
    {"[live]\nheader = Authorization: Bearer sk-123\n" CLASS, 2, "Authorization header comes from the variable"},
    {"[live]\nheader = no colon here\n" CLASS, 2, "header: bad value"},
    {"[client]\nmax_concurrent = 5\n[client]\nqueue_capacity = 5\n" CLASS, 3, "duplicate section [client]"},
    {"[scenario]\nduration = 10s\nwindow = 1m\n" CLASS, 3, "window is longer than duration"},
    {"[scenario]\nslo_max_429_share = lots\n" CLASS, 2, "or 'none'"},
    {"[scenario]\nname =\n" CLASS, 2, "name: empty value"},
    {"[client]\ninstances = 0\n" CLASS, 2, "instances: bad value '0' (expected a whole number of client instances from 1 to 1024)"},
    {"[client]\ninstances = 1025\n" CLASS, 2, "instances: bad value '1025'"},
    {"[client]\ninstances = two\n" CLASS, 2, "instances: bad value 'two'"},
    {"[client]\ninstance_limits = each\n" CLASS, 2, "instance_limits: bad value 'each' (expected full, split or shared)"},
    {"[client]\ninstances = 8\nmax_concurrent = 4\ninstance_limits = split\n" CLASS, 3,
     "instance_limits = split: max_concurrent = 4 cannot be split over 8 instances (expected at least one per instance, or instance_limits = shared)"},
    {"[client]\ninstances = 4\ninstance_limits = split\ntokens_per_minute = 4000\n[class.big]\narrival = poisson 1/s\nmax_tokens = 1000\n", 7,
     "class big: a request can cost 1500 tokens (prompt 500 + max_tokens 1000), more than each client instance's share of tokens_per_minute = 1000"},
};

START_TEST(malformed)
{
    const struct bad_case *c = &bad[_i];
    struct scenario sc;
    struct scenario_error err;
    int rc = scenario_load_string(&sc, "bad.ini", c->text, NULL, 0, &err);
    ck_assert_msg(rc < 0, "case %d loaded but should fail: %s", _i, c->text);
    ck_assert_str_eq(err.file, "bad.ini");
    ck_assert_msg(err.line == c->line, "case %d: line %d, want %d (%s)", _i, err.line, c->line,
                  err.msg);
    ck_assert_msg(strstr(err.msg, c->msg), "case %d: message '%s' lacks '%s'", _i, err.msg,
                  c->msg);
    scenario_fini(&sc);
}
END_TEST

START_TEST(long_line)
{
    char text[600];
    snprintf(text, sizeof text, "[scenario]\ndescription = %0300d\n" CLASS, 0);
    struct scenario sc;
    struct scenario_error err;
    ck_assert_int_lt(scenario_load_string(&sc, "x.ini", text, NULL, 0, &err), 0);
    ck_assert_int_eq(err.line, 2);
    ck_assert(strstr(err.msg, "line too long"));
    scenario_fini(&sc);
}
END_TEST

START_TEST(missing_file)
{
    struct scenario sc;
    struct scenario_error err;
    ck_assert_int_lt(scenario_load(&sc, "/nonexistent/x.ini", NULL, 0, &err), 0);
    ck_assert(strstr(err.msg, "cannot open scenario"));
    scenario_fini(&sc);
}
END_TEST

/* A scenario loaded to serve (the mock) needs no class; one loaded to run still does. */
START_TEST(serve_needs_no_class)
{
    char dir[] = "/tmp/ratelab-scn-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/server.ini", dir);
    FILE *f = fopen(path, "w");
    fputs("[server]\nrequests_per_minute = 7\n", f);
    fclose(f);
    struct scenario sc;
    struct scenario_error err;
    ck_assert_int_eq(scenario_load_for(&sc, SCENARIO_FOR_SERVE, path, NULL, 0, &err), 0);
    ck_assert_int_eq(sc.n_classes, 0);
    ck_assert_int_eq(sc.server.requests_per_minute, 7);
    scenario_fini(&sc);
    ck_assert_int_lt(scenario_load_for(&sc, SCENARIO_FOR_RUN, path, NULL, 0, &err), 0);
    ck_assert(strstr(err.msg, "no [class.NAME] section"));
    scenario_fini(&sc);
    unlink(path);
    rmdir(dir);

    /* No file: the defaults take the overrides; errors name the --set or nothing. */
    const char *ov[] = {"server.tokens_per_minute=1000"};
    ck_assert_int_eq(scenario_load_for(&sc, SCENARIO_FOR_SERVE, NULL, ov, 1, &err), 0);
    ck_assert_int_eq(sc.server.tokens_per_minute, 1000);
    scenario_fini(&sc);
    const char *wrong[] = {"server.tokens_per_minute=abc"};
    ck_assert_int_lt(scenario_load_for(&sc, SCENARIO_FOR_SERVE, NULL, wrong, 1, &err), 0);
    ck_assert_str_eq(err.file, "--set server.tokens_per_minute=abc");
    scenario_fini(&sc);
    const char *sum[] = {"server.error_rate=0.7", "server.timeout_rate=0.7"};
    ck_assert_int_lt(scenario_load_for(&sc, SCENARIO_FOR_SERVE, NULL, sum, 2, &err), 0);
    ck_assert_str_eq(err.file, "");
    ck_assert_int_eq(err.line, 0);
    ck_assert(strstr(err.msg, "fault shares add up"));
    scenario_fini(&sc);
}
END_TEST

START_TEST(values_and_defaults)
{
    const char *text = "[scenario]\nduration = 1h  # an hour\nseed = 9\n"
                       "[client]\ntokens_per_minute = 90k ; inline\nmax_concurrent = unlimited\n"
                       "[class.a]\narrival = ramp 0/s 10/s 5m\npriority = 0\n"
                       "[class.b]\narrival = closed 50 2s\ncompletion_tokens = lognormal 200 0.5\n"
                       "[live]\nheader = X-Team: search\nheader = X-Env: test\n";
    struct scenario sc;
    struct scenario_error err;
    ck_assert_int_eq(scenario_load_string(&sc, "ok.ini", text, NULL, 0, &err), 0);
    ck_assert_int_eq(sc.duration_us, 3600000000LL);
    ck_assert_int_eq(sc.seed, 9);
    ck_assert_int_eq(sc.client.tokens_per_minute, 90000);
    ck_assert_int_eq(sc.client.max_concurrent, 0);
    ck_assert_int_eq(sc.n_classes, 2);
    ck_assert_int_eq(sc.classes[0].arrival.kind, ARRIVAL_RAMP);
    ck_assert(sc.classes[0].arrival.to_per_s == 10);
    ck_assert_int_eq(sc.classes[0].arrival.over_us, 300000000LL);
    ck_assert_int_eq(sc.classes[1].arrival.users, 50);
    ck_assert_int_eq(sc.classes[1].priority, 5);
    ck_assert_int_eq(sc.classes[1].completion_tokens.kind, DIST_LOGNORMAL);
    ck_assert_int_eq(sc.live.n_headers, 2);
    ck_assert_str_eq(sc.live.headers[1], "X-Env: test");
    ck_assert_int_eq(scenario_class_timeout_us(&sc, 0), sc.client.request_timeout_us);
    scenario_fini(&sc);
}
END_TEST

START_TEST(ramp_down_to_silence)
{
    /* 10/s down to 0/s: loads (the generator's silence after it is check_workload's
     * ramp_integral). Refused before: "bad end rate '0/s'". */
    const char *text = "[scenario]\nduration = 200s\n[class.a]\narrival = ramp 10/s 0/s 100s\n";
    struct scenario sc;
    struct scenario_error err;
    ck_assert_int_eq(scenario_load_string(&sc, "down.ini", text, NULL, 0, &err), 0);
    ck_assert(sc.classes[0].arrival.from_per_s == 10 && sc.classes[0].arrival.to_per_s == 0);
    ck_assert_int_eq(sc.classes[0].arrival.over_us, 100 * 1000000LL);
    scenario_fini(&sc);
}
END_TEST

/*
 * Normal and lognormal prompts fit when their 99.9th percentile plus max_tokens does
 * (the limit just above it loads, the malformed cases hold the limit just below), and
 * that percentile is the generator's: about 0.1% of draws land above it.
 */
START_TEST(unbounded_prompts_fit_at_999)
{
    static const struct {
        const char *text;
        double q999; /* the fit check's prompt: 99.9th percentile, rounded */
        bool lognormal;
        double a, b;
    } ok[] = {
        {"[client]\ntokens_per_minute = 7090\n[class.n]\narrival = poisson 1/s\n"
         "prompt_tokens = normal 3000 1000\nmax_tokens = 1000\n", 6090, false, 3000, 1000},
        {"[server]\ntokens_per_day = 7619\n[class.l]\narrival = poisson 1/s\n"
         "prompt_tokens = lognormal 300 1\n", 6595, true, 300, 1},
    };
    for (int k = 0; k < 2; k++) {
        struct scenario sc;
        struct scenario_error err;
        ck_assert_msg(scenario_load_string(&sc, "fit.ini", ok[k].text, NULL, 0, &err) == 0,
                      "%s", err.msg);
        scenario_fini(&sc);
        struct rng r;
        rng_seed(&r, 99 + (uint64_t)k);
        enum { N = 1000000 };
        int above = 0;
        for (int i = 0; i < N; i++) {
            double x = ok[k].lognormal ? rng_lognormal(&r, ok[k].a, ok[k].b)
                                       : rng_normal(&r, ok[k].a, ok[k].b);
            above += llround(x) > ok[k].q999;
        }
        /* binomial(10^6, 0.001): mean 1000, sd 32; 850..1150 is over 4.5 sd */
        ck_assert_msg(above > 850 && above < 1150, "%d of %d draws above %.0f", above, N,
                      ok[k].q999);
    }
}
END_TEST

START_TEST(overrides)
{
    const char *text = "[client]\nmax_concurrent = 5\n" CLASS;
    const char *ok[] = {"client.max_concurrent=7", "class.chat.priority=1", "scenario.seed=3"};
    struct scenario sc;
    struct scenario_error err;
    ck_assert_int_eq(scenario_load_string(&sc, "o.ini", text, ok, 3, &err), 0);
    ck_assert_int_eq(sc.client.max_concurrent, 7);
    ck_assert_int_eq(sc.classes[0].priority, 1);
    ck_assert_int_eq(sc.seed, 3);
    scenario_fini(&sc);

    const char *badv[] = {"client.max_concurrent=many"};
    ck_assert_int_lt(scenario_load_string(&sc, "o.ini", text, badv, 1, &err), 0);
    ck_assert_str_eq(err.file, "--set client.max_concurrent=many");
    ck_assert(strstr(err.msg, "max_concurrent: bad value 'many'"));
    scenario_fini(&sc);

    const char *nocls[] = {"class.nope.priority=1"};
    ck_assert_int_lt(scenario_load_string(&sc, "o.ini", text, nocls, 1, &err), 0);
    ck_assert(strstr(err.msg, "no [class.nope] section"));
    scenario_fini(&sc);

    const char *typo[] = {"clinet.max_concurrent=1"};
    ck_assert_int_lt(scenario_load_string(&sc, "o.ini", text, typo, 1, &err), 0);
    ck_assert(strstr(err.msg, "did you mean [client]?"));
    scenario_fini(&sc);
}
END_TEST

/* Write a scenario, load the text back, write again: the two texts agree. */
static char *write_to_string(const struct scenario *sc)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    scenario_write(sc, f);
    fclose(f);
    char *nl = strchr(buf, '\n'); /* drop the comment naming the source */
    memmove(buf, nl + 1, strlen(nl + 1) + 1);
    return buf;
}

static void round_trip(const char *path)
{
    struct scenario a, b;
    struct scenario_error err;
    ck_assert_msg(scenario_load(&a, path, NULL, 0, &err) == 0, "%s:%d: %s", err.file, err.line,
                  err.msg);
    char *t1 = write_to_string(&a);
    ck_assert_msg(scenario_load_string(&b, "resolved.ini", t1, NULL, 0, &err) == 0,
                  "resolved %s:%d: %s", path, err.line, err.msg);
    char *t2 = write_to_string(&b);
    ck_assert_str_eq(t1, t2);
    ck_assert_int_eq(a.n_classes, b.n_classes);
    ck_assert_int_eq(a.duration_us, b.duration_us);
    for (int i = 0; i < a.n_classes; i++) {
        ck_assert(a.classes[i].arrival.rate_per_s == b.classes[i].arrival.rate_per_s);
        ck_assert(a.classes[i].prompt_tokens.a == b.classes[i].prompt_tokens.a);
        ck_assert(a.classes[i].prompt_tokens.b == b.classes[i].prompt_tokens.b);
    }
    free(t1);
    free(t2);
    scenario_fini(&a);
    scenario_fini(&b);
}

START_TEST(bundled_scenarios_load_and_round_trip)
{
    glob_t g;
    ck_assert_int_eq(glob(SRCDIR "/scenarios/*.ini", 0, NULL, &g), 0);
    ck_assert_int_ge(g.gl_pathc, 5);
    for (size_t i = 0; i < g.gl_pathc; i++)
        round_trip(g.gl_pathv[i]);
    globfree(&g);
}
END_TEST

START_TEST(empirical_round_trip)
{
    char path[] = "/tmp/ratelab-emp-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("# prompt sizes from last week\n120\n450\n  980  \n", f);
    fclose(f);
    char text[512];
    snprintf(text, sizeof text, "[class.e]\narrival = poisson 1/s\nprompt_tokens = empirical %s\n",
             path);
    struct scenario sc;
    struct scenario_error err;
    ck_assert_int_eq(scenario_load_string(&sc, "e.ini", text, NULL, 0, &err), 0);
    ck_assert_int_eq(sc.classes[0].prompt_tokens.n_values, 3);
    ck_assert_int_eq(sc.classes[0].prompt_tokens.values[2], 980);
    scenario_fini(&sc);
    f = fopen(path, "w");
    fputs("120\nlots\n", f);
    fclose(f);
    ck_assert_int_lt(scenario_load_string(&sc, "e.ini", text, NULL, 0, &err), 0);
    ck_assert_int_eq(err.line, 3);
    ck_assert(strstr(err.msg, ":2: bad token count 'lots'"));
    scenario_fini(&sc);
    unlink(path);
}
END_TEST

/*
 * prompts = FILE: relative to the scenario's folder (in the file and in --set), kept
 * resolved, absent by default, written back by `ratelab check` and loaded back.
 */
START_TEST(prompts_key)
{
    char dir[] = "/tmp/ratelab-prompts-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char jsonl[128], other[128], ini[128];
    snprintf(jsonl, sizeof jsonl, "%s/p.jsonl", dir);
    snprintf(other, sizeof other, "%s/q.jsonl", dir);
    snprintf(ini, sizeof ini, "%s/s.ini", dir);
    const char *files[] = {jsonl, other};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "w");
        ck_assert_ptr_nonnull(f);
        fputs("[{\"role\": \"user\", \"content\": \"Hello\"}]\n", f);
        fclose(f);
    }
    FILE *f = fopen(ini, "w");
    ck_assert_ptr_nonnull(f);
    fputs("[class.a]\narrival = poisson 1/s\nprompts = p.jsonl\n"
          "[class.b]\narrival = poisson 1/s\n", f);
    fclose(f);

    struct scenario sc, back;
    struct scenario_error err;
    ck_assert_msg(scenario_load(&sc, ini, NULL, 0, &err) == 0, "%s:%d: %s", err.file, err.line,
                  err.msg);
    char *real = realpath(jsonl, NULL);
    ck_assert_ptr_nonnull(real);
    ck_assert_str_eq(sc.classes[0].prompts_path, real);
    ck_assert_str_eq(sc.classes[1].prompts_path, ""); /* default: synthetic prompts */
    char *t1 = write_to_string(&sc);
    char want[600];
    snprintf(want, sizeof want, "\nprompts = %s\n", real);
    ck_assert_msg(strstr(t1, want), "written scenario lacks '%s':\n%s", want + 1, t1);
    ck_assert_ptr_null(strstr(strstr(t1, want) + strlen(want), "prompts =")); /* b: none */
    ck_assert_int_eq(scenario_load_string(&back, "resolved.ini", t1, NULL, 0, &err), 0);
    ck_assert_str_eq(back.classes[0].prompts_path, real);
    char *t2 = write_to_string(&back);
    ck_assert_str_eq(t1, t2);
    free(t1);
    free(t2);
    free(real);
    scenario_fini(&back);
    scenario_fini(&sc);

    /* An override resolves from the scenario's folder too, and is checked the same way. */
    const char *ov[] = {"class.b.prompts=q.jsonl"};
    ck_assert_int_eq(scenario_load(&sc, ini, ov, 1, &err), 0);
    real = realpath(other, NULL);
    ck_assert_str_eq(sc.classes[1].prompts_path, real);
    free(real);
    scenario_fini(&sc);
    const char *missing[] = {"class.b.prompts=nope.jsonl"};
    ck_assert_int_lt(scenario_load(&sc, ini, missing, 1, &err), 0);
    ck_assert_str_eq(err.file, "--set class.b.prompts=nope.jsonl");
    ck_assert_msg(strstr(err.msg, "prompts: cannot read ") && strstr(err.msg, "/nope.jsonl: No "
                  "such file or directory"), "%s", err.msg);
    scenario_fini(&sc);

    unlink(jsonl);
    unlink(other);
    unlink(ini);
    rmdir(dir);
}
END_TEST

/* burst, in [client] and [server]: a duration, 1 m by default, written back and loaded back. */
START_TEST(burst_key)
{
    struct scenario sc, back;
    struct scenario_error err;
    ck_assert_int_eq(scenario_load_string(&sc, "b.ini", CLASS, NULL, 0, &err), 0);
    ck_assert_int_eq(sc.client.burst_us, 60000000LL);
    ck_assert_int_eq(sc.server.burst_us, 60000000LL);
    scenario_fini(&sc);
    const char *text = "[client]\nburst = 1s\n[server]\nburst = 250ms\n" CLASS;
    ck_assert_int_eq(scenario_load_string(&sc, "b.ini", text, NULL, 0, &err), 0);
    ck_assert_int_eq(sc.client.burst_us, 1000000);
    ck_assert_int_eq(sc.server.burst_us, 250000);
    char *t1 = write_to_string(&sc);
    char *server = strstr(t1, "\n[server]\n");
    ck_assert_ptr_nonnull(server);
    char *cb = strstr(t1, "\nburst = 1s\n"), *sb = strstr(t1, "\nburst = 250ms\n");
    ck_assert_msg(cb && cb < server && sb > server, "burst not written back:\n%s", t1);
    ck_assert_int_eq(scenario_load_string(&back, "resolved.ini", t1, NULL, 0, &err), 0);
    ck_assert_int_eq(back.client.burst_us, 1000000);
    ck_assert_int_eq(back.server.burst_us, 250000);
    free(t1);
    scenario_fini(&back);
    scenario_fini(&sc);
    /* the longest period, a day, is the most it takes; overrides are checked alike */
    const char *ov[] = {"server.burst=1d", "client.burst=1us"};
    ck_assert_int_eq(scenario_load_string(&sc, "b.ini", CLASS, ov, 2, &err), 0);
    ck_assert_int_eq(sc.server.burst_us, 86400000000LL);
    ck_assert_int_eq(sc.client.burst_us, 1);
    scenario_fini(&sc);
    const char *too_long[] = {"client.burst=25h"};
    ck_assert_int_lt(scenario_load_string(&sc, "b.ini", CLASS, too_long, 1, &err), 0);
    ck_assert_str_eq(err.file, "--set client.burst=25h");
    ck_assert(strstr(err.msg, "burst: bad value '25h'"));
    scenario_fini(&sc);
}
END_TEST

/* [client] instances and instance_limits: defaults, values, written back. */
START_TEST(instances_keys)
{
    struct scenario sc, back;
    struct scenario_error err;
    ck_assert_int_eq(scenario_load_string(&sc, "i.ini", CLASS, NULL, 0, &err), 0);
    ck_assert_int_eq(sc.client.instances, 1);
    ck_assert_int_eq(sc.client.instance_limits, INSTANCE_LIMITS_FULL);
    scenario_fini(&sc);
    const char *text = "[client]\ninstances = 3\ninstance_limits = shared\n"
                       "requests_per_minute = 2\n" CLASS;
    ck_assert_int_eq(scenario_load_string(&sc, "i.ini", text, NULL, 0, &err), 0);
    ck_assert_int_eq(sc.client.instances, 3);
    ck_assert_int_eq(sc.client.instance_limits, INSTANCE_LIMITS_SHARED);
    char *t1 = write_to_string(&sc);
    ck_assert_ptr_nonnull(strstr(t1, "\ninstances = 3\n"));
    ck_assert_ptr_nonnull(strstr(t1, "\ninstance_limits = shared\n"));
    ck_assert_int_eq(scenario_load_string(&back, "resolved.ini", t1, NULL, 0, &err), 0);
    ck_assert_int_eq(back.client.instances, 3);
    ck_assert_int_eq(back.client.instance_limits, INSTANCE_LIMITS_SHARED);
    free(t1);
    scenario_fini(&back);
    scenario_fini(&sc);
    /* split needs a unit per instance of every limit set; a --set names itself */
    const char *ov[] = {"client.instance_limits=split"};
    ck_assert_int_lt(scenario_load_string(&sc, "i.ini", text, ov, 1, &err), 0);
    ck_assert(strstr(err.msg, "requests_per_minute = 2 cannot be split over 3 instances"));
    scenario_fini(&sc);
    const char *ok[] = {"client.instance_limits=split", "client.requests_per_minute=3"};
    ck_assert_int_eq(scenario_load_string(&sc, "i.ini", text, ok, 2, &err), 0);
    ck_assert_int_eq(scenario_split_limit(sc.client.requests_per_minute, sc.client.instances), 1);
    ck_assert_int_eq(scenario_split_limit(0, 3), 0);
    ck_assert_int_eq(scenario_split_limit(600, 4), 150);
    ck_assert_int_eq(scenario_split_limit(10, 4), 2); /* rounded down: never above the limit */
    scenario_fini(&sc);
}
END_TEST

/* doc/scenario.md documents exactly the keys the loader accepts. */
START_TEST(doc_matches_loader)
{
    FILE *f = fopen(SRCDIR "/doc/scenario.md", "r");
    ck_assert_ptr_nonnull(f);
    char line[1024], section[64] = "";
    char documented[200][96];
    int n_doc = 0;
    bool in_table = false;
    while (fgets(line, sizeof line, f)) {
        char name[64];
        if (sscanf(line, "## [%63[^].]", name) == 1) {
            snprintf(section, sizeof section, "%s", name);
            continue;
        }
        if (line[0] == '#' || (in_table && line[0] != '|'))
            section[0] = '\0', in_table = false;
        if (section[0] && strncmp(line, "| key |", 7) == 0)
            in_table = true;
        if (in_table && sscanf(line, "| `%63[^`]` |", name) == 1) {
            ck_assert_int_lt(n_doc, 200);
            snprintf(documented[n_doc++], sizeof documented[0], "%s.%s", section, name);
        }
    }
    fclose(f);
    int n_keys = 0;
    const char *sec, *key;
    for (int i = 0; (key = scenario_key(i, &sec)); i++, n_keys++) {
        char full[96];
        snprintf(full, sizeof full, "%s.%s", sec, key);
        bool found = false;
        for (int j = 0; j < n_doc; j++)
            found |= strcmp(documented[j], full) == 0;
        ck_assert_msg(found, "key %s is not documented in doc/scenario.md", full);
    }
    for (int j = 0; j < n_doc; j++) {
        bool found = false;
        for (int i = 0; (key = scenario_key(i, &sec)); i++) {
            char full[96];
            snprintf(full, sizeof full, "%s.%s", sec, key);
            found |= strcmp(documented[j], full) == 0;
        }
        ck_assert_msg(found, "doc/scenario.md documents %s, which the loader does not accept",
                      documented[j]);
    }
    ck_assert_int_eq(n_doc, n_keys);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scenario");
    TCase *tc = tcase_create("load");
    tcase_add_loop_test(tc, malformed, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, long_line);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, serve_needs_no_class);
    tcase_add_test(tc, values_and_defaults);
    tcase_add_test(tc, ramp_down_to_silence);
    tcase_add_test(tc, unbounded_prompts_fit_at_999);
    tcase_add_test(tc, overrides);
    tcase_add_test(tc, bundled_scenarios_load_and_round_trip);
    tcase_add_test(tc, empirical_round_trip);
    tcase_add_test(tc, instances_keys);
    tcase_add_test(tc, prompts_key);
    tcase_add_test(tc, burst_key);
    tcase_add_test(tc, doc_matches_loader);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
