/*
 * check_html: the HTML report. The collector's series and how it bounds them,
 * then a bundled scenario end to end: the page parses (python3's html.parser and
 * an XML parser for each SVG), holds one SVG per plot, names no external
 * resource, and its numbers equal the JSON report's and the CSV's.
 */
#include "config.h"

#include "html.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "scenario.h"
#include "testutil.h"
#include "util.h"

static void two_classes(struct scenario *sc)
{
    scenario_defaults(sc);
    snprintf(sc->name, sizeof sc->name, "t");
    sc->n_classes = 2;
    snprintf(sc->classes[0].name, sizeof sc->classes[0].name, "chat");
    snprintf(sc->classes[1].name, sizeof sc->classes[1].name, "batch");
}

/* A row for window i (1 s windows): the numbers derive from i so merges can be checked. */
static struct metrics_row row_for(int i)
{
    struct metrics_row r = {0};
    r.start_us = (int64_t)i * US_PER_S;
    r.end_us = r.start_us + US_PER_S;
    r.c.arrivals = 10;
    r.c.sends = 12;
    r.c.retries = 2;
    r.c.client_throttled = (uint64_t)(i % 3);
    r.c.saw_429 = (uint64_t)(i % 2);
    r.c.ended[OUTCOME_SUCCEEDED] = (uint64_t)(i % 5);
    r.c.output_tokens = 100 * (uint64_t)(i % 5);
    r.queue_max = i % 7;
    r.inflight_max = i % 11;
    r.latency_p50_us = 1000 * (i + 1);
    r.latency_p95_us = 2000 * (i + 1);
    r.requests_per_s = (double)(i % 5);
    return r;
}

START_TEST(point_per_window)
{
    struct scenario sc;
    two_classes(&sc);
    html_report *h = html_new(&sc, 100);
    struct metrics_row r = row_for(4);
    r.c.arrivals = 3; /* the base is max(arrivals, sends - retries) = 10 */
    r.c.client_throttled = 4;
    r.c.saw_429 = 20; /* capped at 1 */
    html_sink(h, -1, &r);
    struct metrics_row idle = {.start_us = 0, .end_us = US_PER_S}; /* nothing answered */
    html_sink(h, 0, &idle);
    html_sink(h, 1, &idle);
    ck_assert_int_eq(html_points(h, -1), 1);
    const struct html_point *p = html_point_at(h, -1, 0);
    ck_assert_uint_eq(p->base, 10);
    ck_assert_double_eq_tol(html_point_throttled_share(p), 0.4, 1e-12);
    ck_assert_double_eq(html_point_429_share(p), 1.0);
    ck_assert_double_eq(html_point_requests_per_s(p), 4.0);
    ck_assert_double_eq(html_point_tokens_per_s(p), 400.0);
    ck_assert_double_eq(p->latency_p95_ms, 10.0);
    ck_assert_int_eq(p->server_waiting, -1);
    p = html_point_at(h, 0, 0);
    ck_assert(isnan(p->latency_p50_ms) && isnan(p->latency_p95_ms));
    ck_assert_double_eq(html_point_429_share(p), 0.0);
    html_free(h);
    html_free(NULL);
    scenario_fini(&sc);
}
END_TEST

START_TEST(bounded_by_merging)
{
    struct scenario sc;
    two_classes(&sc);
    html_report *h = html_new(&sc, 8);
    struct run_server_gauges g = {.running = 1, .waiting = 5, .kv_cache_usage = -1};
    html_set_server(h, &g);
    const int n = 37;
    uint64_t succ = 0, thr = 0;
    int64_t qmax = 0;
    for (int i = 0; i < n; i++) {
        struct metrics_row r = row_for(i);
        g.waiting = i == 20 ? 99 : 5;
        for (int cls = -1; cls < 2; cls++)
            html_sink(h, cls, &r);
        succ += r.c.ended[OUTCOME_SUCCEEDED];
        thr += r.c.client_throttled;
        qmax = r.queue_max > qmax ? r.queue_max : qmax;
        ck_assert_int_le(html_points(h, -1), 8);
    }
    for (int cls = -1; cls < 2; cls++) {
        int k = html_points(h, cls);
        ck_assert_int_eq(k, html_points(h, -1));
        uint64_t s = 0, t = 0, base = 0;
        int64_t q = 0, prev_end = 0;
        double p95 = 0;
        for (int i = 0; i < k; i++) {
            const struct html_point *p = html_point_at(h, cls, i);
            ck_assert_int_eq(p->start_us, prev_end); /* contiguous, in order */
            prev_end = p->end_us;
            s += p->succeeded;
            t += p->throttled;
            base += p->base;
            q = p->queue_max > q ? p->queue_max : q;
            p95 = fmax(p95, p->latency_p95_ms);
            if (cls < 0 && p->start_us < 20 * US_PER_S && p->end_us > 20 * US_PER_S)
                ck_assert_int_eq(p->server_waiting, 99); /* the peak survives the merge */
            if (cls >= 0)
                ck_assert_int_eq(p->server_waiting, -1); /* server-wide: overall only */
        }
        ck_assert_int_eq(prev_end, (int64_t)n * US_PER_S);
        ck_assert_uint_eq(s, succ); /* counts add up */
        ck_assert_uint_eq(t, thr);
        ck_assert_uint_eq(base, 10u * n);
        ck_assert_int_eq(q, qmax); /* levels keep their max */
        ck_assert_double_eq(p95, 2.0 * n);
    }
    html_free(h);
    scenario_fini(&sc);
}
END_TEST

/*
 * A page's structure, checked by python3 (a real HTML parser): balanced, no
 * script that runs, nothing loaded from outside; p counts the tags and keeps the
 * JSON blocks. The page is argv[1].
 */
#define PAGE_PY                                                                                    \
    "import sys, json, csv, re, math\n"                                                          \
    "from html.parser import HTMLParser\n"                                                       \
    "import xml.etree.ElementTree as ET\n"                                                       \
    "html_path = sys.argv[1]\n"                                                                  \
    "page = open(html_path, encoding='utf-8').read()\n"                                            \
    "VOID = {'meta','br','img','hr','link','input','area','base','col','embed','source','wbr'}\n"  \
    "class P(HTMLParser):\n"                                                                       \
    "    def __init__(s):\n"                                                                       \
    "        super().__init__(); s.stack = []; s.count = {}; s.scripts = []; s.cur = None\n"       \
    "        s.svg_depth = 0\n"                                                                    \
    "    def handle_starttag(s, tag, attrs):\n"                                                    \
    "        s.count[tag] = s.count.get(tag, 0) + 1\n"                                             \
    "        a = dict(attrs)\n"                                                                    \
    "        assert 'src' not in a, ('src= on', tag)\n"                                            \
    "        assert tag not in ('link', 'img', 'iframe', 'object', 'embed'), tag\n"                \
    "        if tag == 'script':\n"                                                                \
    "            assert a.get('type') == 'application/json', 'a script that runs'\n"               \
    "            s.cur = (a.get('id') or a.get('class'), [])\n"                                    \
    "        if tag == 'svg': s.svg_depth += 1\n"                                                  \
    "        if tag not in VOID: s.stack.append(tag)\n"                                            \
    "    def handle_startendtag(s, tag, attrs):\n"                                                 \
    "        s.count[tag] = s.count.get(tag, 0) + 1\n"                                             \
    "        assert 'src' not in dict(attrs)\n"                                                    \
    "    def handle_endtag(s, tag):\n"                                                             \
    "        assert s.stack and s.stack[-1] == tag, ('unbalanced', tag, s.stack[-3:])\n"           \
    "        s.stack.pop()\n"                                                                      \
    "        if tag == 'script': s.scripts.append((s.cur[0], ''.join(s.cur[1]))); s.cur = None\n"  \
    "    def handle_data(s, d):\n"                                                                 \
    "        if s.cur: s.cur[1].append(d)\n"                                                       \
    "p = P(); p.feed(page); p.close()\n"                                                           \
    "assert not p.stack, ('unclosed', p.stack)\n"                                                  \
    "for bad in ('http:', 'https:', '@import', 'src=', '<link'):\n"                                \
    "    assert bad not in page, bad\n"                                                            \
    "assert not re.search(r'url\\((?!#)', page), 'url() to something outside the page'\n"          \
    "svgs = re.findall(r'<svg.*?</svg>', page, re.S)\n"                                            \
    "for svg in svgs:\n"                                                                           \
    "    svg = svg.replace('<svg ', '<svg xmlns=\"http://www.w3.org/2000/svg\" '\n"                \
    "                      'xmlns:xlink=\"http://www.w3.org/1999/xlink\" ', 1)\n"                  \
    "    root = ET.fromstring(svg)\n"                                                              \
    "    assert root.find('.//{http://www.w3.org/2000/svg}path') is not None\n"                    \
    "ids = re.findall(r' id=\"([^\"]+)\"', page)\n"                                                \
    "assert len(ids) == len(set(ids)), 'duplicate ids across plots'\n"

/* The page and its numbers against the JSON report (argv[2]) and the CSV (argv[3]). */
static const char CHECK_PY[] = PAGE_PY
    "json_path, csv_path = sys.argv[2:4]\n"
    "rep = json.load(open(json_path))\n"
    "names = list(rep['classes'].keys())\n"
    "n_plots = 4 * (len(names) + 1)\n"
    "assert p.count.get('svg') == n_plots, (p.count.get('svg'), n_plots)\n"
    "assert p.count.get('figure') == n_plots\n"
    "scripts = dict((k, json.loads(v)) for k, v in p.scripts if k == 'totals')\n"
    "series = [json.loads(v) for k, v in p.scripts if k == 'series']\n"
    "assert len(series) == len(names) + 1\n"
    "def close(a, b, tol=1e-9):\n"
    "    return abs(a - b) <= tol * max(1.0, abs(b))\n"
    "def same_scope(h, j):\n"
    "    r = j['requests']\n"
    "    for k in ('arrived', 'succeeded', 'failed', 'rejected', 'timed_out', 'cancelled'):\n"
    "        assert h[k] == r[k], (k, h[k], r[k])\n"
    "    assert close(h['client_throttled'], j['hit_rate']['client_throttled'])\n"
    "    assert close(h['server_429'], j['hit_rate']['server_429'])\n"
    "    assert close(h['latency_p95_ms'], j['latency_ms']['p95'])\n"
    "    assert close(h['latency_p50_ms'], j['latency_ms']['p50'])\n"
    "    assert close(h['requests_per_s'], j['throughput']['requests_per_s'])\n"
    "    assert close(h['tokens_per_s'], j['throughput']['tokens_per_s'])\n"
    "    assert h['queue_max'] == j['queue_depth']['max']\n"
    "    assert h['inflight_max'] == j['attempts']['inflight_max']\n"
    "    assert h['retries'] == j['retries']\n"
    "assert 'instances' not in rep and 'Client instances' not in page, 'one instance: no table'\n"
    "tot = scripts['totals']\n"
    "same_scope(tot['all'], rep)\n"
    "for n in names: same_scope(tot['classes'][n], rep['classes'][n])\n"
    "rows = list(csv.DictReader(open(csv_path)))\n"
    "checked = 0\n"
    "for s in series:\n"
    "    pre = '' if s['scope'] == 'all' else s['scope'] + '.'\n"
    "    assert len(s['window_end_s']) == len(rows), (len(s['window_end_s']), len(rows))\n"
    "    for i, row in enumerate(rows):\n"
    "        g = lambda c: float(row[pre + c])\n"
    "        assert close(s['window_end_s'][i], float(row['window_end_s']), 1e-6)\n"
    "        assert s['queue_max'][i] == g('queue_max')\n"
    "        assert s['inflight_max'][i] == g('inflight_max')\n"
    "        base = max(g('arrivals'), g('sends') - g('retries'))\n"
    "        want = min(1.0, g('client_throttled') / base) if base else 0.0\n"
    "        assert close(s['throttled_share'][i], want), (i, s['throttled_share'][i], want)\n"
    "        want = min(1.0, g('saw_429') / base) if base else 0.0\n"
    "        assert close(s['share_429'][i], want)\n"
    "        assert abs(s['requests_per_s'][i] - g('requests_per_s')) <= 0.0005\n"
    "        assert abs(s['tokens_per_s'][i] - g('tokens_per_s')) <= 0.0005\n"
    "        answered = g('succeeded') + g('failed')\n"
    "        for q in ('latency_p50_ms', 'latency_p95_ms'):\n"
    "            if answered:\n"
    "                assert abs(s[q][i] - g(q)) <= 0.0005, (q, i, s[q][i], g(q))\n"
    "            else:\n"
    "                assert s[q][i] is None\n"
    "        checked += 1\n"
    "print('OK', n_plots, 'plots', checked, 'windows')\n";

/*
 * A replay --against page: both runs' totals, every plot once with both runs
 * overlaid (its label names both: the legend itself is glyphs), each scope's
 * series of each run, the comparison and what was observed. argv[2], argv[3]:
 * the two scenarios' names.
 */
static const char REPLAY_PY[] = PAGE_PY
    "a, b = sys.argv[2:4]\n"
    "blocks = dict((k, json.loads(v)) for k, v in p.scripts if k != 'series')\n"
    "assert 'totals' in blocks and 'totals-against' in blocks, list(blocks)\n"
    "names = list(blocks['totals']['classes'].keys())\n"
    "n_plots = 4 * (len(names) + 1)\n"
    "assert p.count.get('svg') == n_plots, (p.count.get('svg'), n_plots)\n"
    "assert p.count.get('figure') == n_plots\n"
    "labels = re.findall(r'<svg class=\"plot\" role=\"img\" aria-label=\"([^\"]*)\"', page)\n"
    "assert len(labels) == n_plots\n"
    "for l in labels: assert a in l and b in l, l\n"
    "series = [json.loads(v) for k, v in p.scripts if k == 'series']\n"
    "assert len(series) == 2 * (len(names) + 1), len(series)\n"
    "for scope in ['all'] + names:\n"
    "    runs = sorted(s['run'] for s in series if s['scope'] == scope)\n"
    "    assert runs == sorted([a, b]), (scope, runs)\n"
    "for s in series:\n"
    "    assert s['window_end_s'] and s['window_end_s'][0] <= 1.0, 'a run starts at 0'\n"
    "assert 'Comparison' in page and 'against what was observed' in page\n"
    "assert blocks['totals']['all']['arrived'] == blocks['totals-against']['all']['arrived']\n"
    "print('OK', n_plots, 'plots')\n";

/*
 * A plan page: one plot per SLO (argv[2] of them), each with its sweep block; the
 * recommended value (argv[3]) is among the values tried, marked, and named in
 * every plot's label.
 */
static const char PLAN_PY[] = PAGE_PY
    "n_slo, want = int(sys.argv[2]), float(sys.argv[3])\n"
    "assert p.count.get('svg') == n_slo, (p.count.get('svg'), n_slo)\n"
    "sweeps = [json.loads(v) for k, v in p.scripts if k == 'sweep']\n"
    "assert len(sweeps) == n_slo\n"
    "for sw in sweeps:\n"
    "    assert sw['key'] == 'client.max_concurrent', sw['key']\n"
    "    assert sw['recommended'] == want, sw['recommended']\n"
    "    assert sw['recommendation'] == 'client.max_concurrent=%g' % want\n"
    "    assert len(sw['lines']) == 1 and want in sw['lines'][0]['x']\n"
    "    assert sw['target'] is not None\n"
    "labels = re.findall(r'<svg class=\"plot\" role=\"img\" aria-label=\"([^\"]*)\"', page)\n"
    "for l in labels: assert 'recommended: client.max_concurrent=%g' % want in l, l\n"
    "assert 'Each SLO against the varied key' in page\n"
    "print('OK', n_slo, 'sweeps')\n";

/*
 * A run with several client instances: the instances table and its JSON block
 * against the JSON report's instances (argv[2]): the block equal to it, a row per
 * instance with its counts in the block's order, the counts adding up to the run's.
 */
static const char INSTANCES_PY[] = PAGE_PY
    "rep = json.load(open(sys.argv[2]))\n"
    "want = rep['instances']\n"
    "blocks = dict((k, json.loads(v)) for k, v in p.scripts if k != 'series')\n"
    "got = blocks['instances']\n"
    "assert got == want, (got, want)\n"
    "assert got['count'] == len(got['each']) > 1\n"
    "sec = page.split('<h2>Client instances</h2>', 1)[1].split('</table>', 1)[0]\n"
    "assert 'instance_limits = %s' % want['limits'] in sec\n"
    "rows = re.findall(r'<tr><td>(.*?)</td></tr>', sec)\n"
    "assert len(rows) == want['count'], (len(rows), want['count'])\n"
    "keys = ['arrived', 'succeeded', 'failed', 'rejected', 'timed_out', 'cancelled',\n"
    "        'client_throttled', 'attempts_sent', 'http_429']\n"
    "for i, (row, e) in enumerate(zip(rows, want['each'])):\n"
    "    cells = [int(c) for c in row.split('</td><td>')]\n"
    "    assert cells == [i] + [e[k] for k in keys], (i, cells, e)\n"
    "r = rep['requests']\n"
    "for k in ('arrived', 'succeeded', 'failed', 'rejected', 'timed_out', 'cancelled'):\n"
    "    assert sum(e[k] for e in want['each']) == r[k], k\n"
    "assert sum(e['http_429'] for e in want['each']) == rep['attempts']['http_429']\n"
    "assert sum(e['attempts_sent'] for e in want['each']) == rep['attempts']['sent']\n"
    "assert sum(e['failed'] for e in want['each']) > 0, 'the storm loses requests'\n"
    "print('OK', want['count'], 'instances')\n";

/* Write a python script to dir/name. */
static void put_script(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(replay_against_end_to_end)
{
    char dir[] = "/tmp/check_html.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[2048], out[16384];
    const char *tr = SRCDIR "/scenarios/traces";
    snprintf(cmd, sizeof cmd,
             "%s/ratelab replay %s/incident.jsonl %s/incident.ini --against %s/incident-fix.ini "
             "--html %s/r.html >/dev/null",
             BUILDDIR, tr, tr, tr, dir);
    int rc = run_cmd(cmd, out, sizeof out);
    ck_assert_msg(rc == 0 || rc == 1, "%s: exit %d: %s", cmd, rc, out);
    /* Without --against: the one run's page. */
    snprintf(cmd, sizeof cmd,
             "%s/ratelab replay %s/incident.jsonl %s/incident.ini --html %s/one.html >/dev/null",
             BUILDDIR, tr, tr, dir);
    rc = run_cmd(cmd, out, sizeof out);
    ck_assert_msg(rc == 0 || rc == 1, "%s: exit %d: %s", cmd, rc, out);
    /* --html - and --json - cannot share stdout. */
    snprintf(cmd, sizeof cmd,
             "%s/ratelab replay %s/incident.jsonl %s/incident.ini --html - --json - >/dev/null",
             BUILDDIR, tr, tr);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 2);

    if (run_cmd("command -v python3", out, sizeof out) != 0) {
        fprintf(stderr, "check_html: no python3: the replay page checks are skipped\n");
    } else {
        put_script(dir, "replay.py", REPLAY_PY);
        snprintf(cmd, sizeof cmd,
                 "python3 %s/replay.py %s/r.html incident-batch-flood incident-fix", dir, dir);
        rc = run_cmd(cmd, out, sizeof out);
        ck_assert_msg(rc == 0 && strncmp(out, "OK", 2) == 0, "%s: exit %d: %s", cmd, rc, out);
        put_script(dir, "page.py", PAGE_PY "assert p.count.get('svg') == 12\nprint('OK')\n");
        snprintf(cmd, sizeof cmd, "python3 %s/page.py %s/one.html", dir, dir);
        rc = run_cmd(cmd, out, sizeof out);
        ck_assert_msg(rc == 0 && strncmp(out, "OK", 2) == 0, "%s: exit %d: %s", cmd, rc, out);
    }
    remove_tree(dir);
}
END_TEST

/* Little's law (tests/check_plan.c): 10/s for 2 s each needs 20 in flight. */
START_TEST(plan_end_to_end)
{
    char dir[] = "/tmp/check_html.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    put_script(dir, "little.ini",
               "[scenario]\nduration = 60s\nseed = 1\n"
               "[client]\nmax_concurrent = 100\nrequest_timeout = 0\nretry_max_attempts = 1\n"
               "[server]\nservice = deterministic\nservice_mean = 2s\nmax_running = 0\n"
               "[class.c]\narrival = constant 10/s\n");
    char cmd[2048], out[16384];
    snprintf(cmd, sizeof cmd,
             "%s/ratelab plan %s/little.ini --vary client.max_concurrent=1..64 "
             "--slo 'latency_ms.p95<=2.1s' --slo 'hit_rate.client_throttled<=5%%' --seeds 2 "
             "--jobs 1 --quiet --html %s/plan.html >/dev/null",
             BUILDDIR, dir, dir);
    int rc = run_cmd(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, out);
    if (run_cmd("command -v python3", out, sizeof out) != 0) {
        fprintf(stderr, "check_html: no python3: the plan page checks are skipped\n");
    } else {
        put_script(dir, "plan.py", PLAN_PY);
        snprintf(cmd, sizeof cmd, "python3 %s/plan.py %s/plan.html 2 20", dir, dir);
        rc = run_cmd(cmd, out, sizeof out);
        ck_assert_msg(rc == 0 && strncmp(out, "OK", 2) == 0, "%s: exit %d: %s", cmd, rc, out);
    }
    /* --csv still does not apply to a plan. */
    snprintf(cmd, sizeof cmd,
             "%s/ratelab plan %s/little.ini --vary client.max_concurrent=1..64 --slo 'lost==0' "
             "--csv %s/x.csv",
             BUILDDIR, dir, dir);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 2);
    remove_tree(dir);
}
END_TEST

/* scenarios/per-pod-limits.ini: four pods, each with the whole quota; the page shows each one. */
START_TEST(instances_end_to_end)
{
    char dir[] = "/tmp/check_html.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[2048], out[16384];
    snprintf(cmd, sizeof cmd,
             "%s/ratelab sim %s/scenarios/per-pod-limits.ini --quiet --html %s/r.html "
             "--json %s/r.json >/dev/null",
             BUILDDIR, SRCDIR, dir, dir);
    int rc = run_cmd(cmd, out, sizeof out);
    ck_assert_msg(rc == 0 || rc == 1, "%s: exit %d: %s", cmd, rc, out);
    snprintf(cmd, sizeof cmd, "grep -c '<script type=\"application/json\" id=\"instances\">' %s/r.html",
             dir);
    ck_assert_msg(run_cmd(cmd, out, sizeof out) == 0 && atoi(out) == 1, "no instances block: %s",
                  out);
    if (run_cmd("command -v python3", out, sizeof out) != 0) {
        fprintf(stderr, "check_html: no python3: the instances table checks are skipped\n");
    } else {
        put_script(dir, "inst.py", INSTANCES_PY);
        snprintf(cmd, sizeof cmd, "python3 %s/inst.py %s/r.html %s/r.json", dir, dir, dir);
        rc = run_cmd(cmd, out, sizeof out);
        ck_assert_msg(rc == 0 && strncmp(out, "OK 4", 4) == 0, "%s: exit %d: %s", cmd, rc, out);
    }
    remove_tree(dir);
}
END_TEST

START_TEST(bundled_scenario_end_to_end)
{
    char dir[] = "/tmp/check_html.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[2048], out[16384];
    snprintf(cmd, sizeof cmd,
             "%s/ratelab sim %s/scenarios/chat-vs-batch.ini --quiet --html %s/r.html "
             "--json %s/r.json --csv %s/r.csv >/dev/null",
             BUILDDIR, SRCDIR, dir, dir, dir);
    int rc = run_cmd(cmd, out, sizeof out);
    ck_assert_msg(rc == 0 || rc == 1, "%s: exit %d: %s", cmd, rc, out);

    /* Checks that need no parser. */
    char path[512];
    snprintf(path, sizeof path, "%s/r.html", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char *page = xmalloc(1 << 24);
    size_t n = fread(page, 1, (1 << 24) - 1, f);
    page[n] = '\0';
    fclose(f);
    ck_assert(strncmp(page, "<!DOCTYPE html>", 15) == 0);
    ck_assert(strstr(page, "</html>"));
    ck_assert_ptr_null(strstr(page, "http:"));
    ck_assert_ptr_null(strstr(page, "@import"));
    ck_assert_ptr_null(strstr(page, "<?xml"));
    ck_assert(strstr(page, "chat-vs-batch") || strstr(page, "chat"));
    int svgs = 0;
    for (const char *p = page; (p = strstr(p, "<svg ")); p++)
        svgs++;
    ck_assert_int_eq(svgs, 4 * 3); /* overall + two classes, four plots each */
    free(page);

    if (run_cmd("command -v python3", out, sizeof out) != 0) {
        fprintf(stderr, "check_html: no python3: the parser and number checks are skipped\n");
    } else {
        snprintf(path, sizeof path, "%s/check.py", dir);
        f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(CHECK_PY, f);
        fclose(f);
        snprintf(cmd, sizeof cmd, "python3 %s/check.py %s/r.html %s/r.json %s/r.csv", dir, dir,
                 dir, dir);
        rc = run_cmd(cmd, out, sizeof out);
        ck_assert_msg(rc == 0 && strncmp(out, "OK", 2) == 0, "%s: exit %d: %s", cmd, rc, out);
    }
    /* A headless browser renders it, when one is installed (Debian's chromium): the
     * screenshot must be a PNG of the window's size with a real picture in it. */
    const char *chromium = access("/usr/bin/chromium", X_OK) == 0 ? "/usr/bin/chromium" : NULL;
    if (!chromium) {
        fprintf(stderr, "check_html: no chromium: the browser screenshot is skipped\n");
    } else {
        snprintf(cmd, sizeof cmd,
                 "timeout 60 %s --headless --no-sandbox --disable-gpu --disable-quic "
                 "--no-first-run --disable-background-networking --disable-component-update "
                 "--disable-sync --user-data-dir=%s/chromium --hide-scrollbars "
                 "--window-size=1100,1600 --screenshot=%s/shot.png file://%s/r.html",
                 chromium, dir, dir, dir);
        run_cmd(cmd, out, sizeof out);
        snprintf(path, sizeof path, "%s/shot.png", dir);
        f = fopen(path, "rb");
        ck_assert_msg(f != NULL, "no screenshot: %s", out);
        unsigned char hdr[24];
        ck_assert_uint_eq(fread(hdr, 1, sizeof hdr, f), sizeof hdr);
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fclose(f);
        ck_assert(memcmp(hdr, "\x89PNG\r\n\x1a\n", 8) == 0);
        long w = (long)hdr[16] << 24 | hdr[17] << 16 | hdr[18] << 8 | hdr[19];
        long h = (long)hdr[20] << 24 | hdr[21] << 16 | hdr[22] << 8 | hdr[23];
        ck_assert_int_eq(w, 1100);
        ck_assert_int_eq(h, 1600);
        ck_assert_int_gt(size, 50000); /* text, tables and plots, not a blank page */
    }
    /* --html - with another report on stdout is refused; --html on a bad path fails fast. */
    snprintf(cmd, sizeof cmd, "%s/ratelab sim %s/scenarios/chat-vs-batch.ini --html - --json -",
             BUILDDIR, SRCDIR);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "%s/ratelab sim %s/scenarios/chat-vs-batch.ini --html /nonexistent/x",
             BUILDDIR, SRCDIR);
    rc = run_cmd(cmd, out, sizeof out);
    ck_assert_msg(rc != 0 && strstr(out, "cannot write"), "exit %d: %s", rc, out);

    remove_tree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("html");
    TCase *tc = tcase_create("series");
    tcase_add_test(tc, point_per_window);
    tcase_add_test(tc, bounded_by_merging);
    suite_add_tcase(s, tc);
    TCase *e2e = tcase_create("end_to_end");
    tcase_set_timeout(e2e, 120);
    tcase_add_test(e2e, bundled_scenario_end_to_end);
    tcase_add_test(e2e, replay_against_end_to_end);
    tcase_add_test(e2e, plan_end_to_end);
    tcase_add_test(e2e, instances_end_to_end);
    suite_add_tcase(s, e2e);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
