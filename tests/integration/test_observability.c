/*
 * The Grafana path with the real parts: a simulated org through Kafka,
 * gapwatchd and Redis; Debian's prometheus-redis-exporter running the
 * shipped script (deploy/redis_exporter/gapwatch.lua); Debian's prometheus
 * with the shipped config (deploy/prometheus/prometheus.yml, rewritten to
 * loopback ports). Then every PromQL expression of the shipped dashboard
 * (deploy/grafana/dashboards/gapwatch.json) is run against Prometheus'
 * HTTP API with the dashboard variables set: each must return series with
 * the labels it promises, and a few values must equal what Redis holds.
 * Also: promtool accepts the shipped config, and gapwatchd's own /metrics,
 * /healthz and /readyz answer.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gapwatch/v1/event.pb-c.h"
#include "gw_harness.h"
#include "gw_sim.h"
#include "tevents.h"

static const char *const topics[] = {"sales.events:12", "sales.events.dlq:1", "sales.alerts:3",
                                     NULL};

/* Replaces every occurrence of `from` in `s` (malloc'ed result). */
static char *replace_all(const char *s, const char *from, const char *to)
{
    size_t n = 0, fl = strlen(from), tl = strlen(to);
    for (const char *p = strstr(s, from); p; p = strstr(p + fl, from))
        n++;
    char *out = malloc(strlen(s) + n * (tl > fl ? tl - fl : 0) + 1);
    char *o = out;
    for (const char *p = s;;) {
        const char *hit = strstr(p, from);
        if (!hit) {
            strcpy(o, p);
            break;
        }
        memcpy(o, p, (size_t)(hit - p));
        o += hit - p;
        memcpy(o, to, tl);
        o += tl;
        p = hit + fl;
    }
    return out;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Runs an instant query; returns the "result" array (new reference). */
static json_t *query(int port, const char *promql)
{
    CURL *c = curl_easy_init();
    char *esc = curl_easy_escape(c, promql, 0);
    char path[8192];
    snprintf(path, sizeof(path), "/api/v1/query?query=%s", esc);
    curl_free(esc);
    curl_easy_cleanup(c);
    char *body = gwh_http_get(port, path);
    if (!body)
        return NULL;
    json_error_t jerr;
    json_t *doc = json_loads(body, 0, &jerr);
    free(body);
    if (!doc)
        return NULL;
    json_t *res = json_incref(json_object_get(json_object_get(doc, "data"), "result"));
    bool ok = !strcmp(json_string_value(json_object_get(doc, "status")), "success");
    json_decref(doc);
    if (!ok) {
        json_decref(res);
        return NULL;
    }
    return res;
}

static double value_of(json_t *series)
{
    return atof(json_string_value(json_array_get(json_object_get(series, "value"), 1)));
}

/* Labels an expression's series must carry: those of a "by (...)" clause,
 * or for a bare gapwatch_rep selector all five (four when a division drops
 * the metric: "ignoring(metric)"). */
static void expected_labels(const char *expr, char labels[][32], int *n)
{
    *n = 0;
    const char *by = strstr(expr, "by (");
    if (by) {
        const char *p = by + 4;
        while (*p && *p != ')') {
            while (*p == ' ' || *p == ',')
                p++;
            int k = 0;
            while (*p && *p != ',' && *p != ')' && *p != ' ' && k < 31)
                labels[*n][k++] = *p++;
            labels[*n][k] = '\0';
            if (k)
                (*n)++;
        }
    } else if (strstr(expr, "gapwatch_rep{") && !strstr(expr, "sum(") && !strstr(expr, "count(")) {
        static const char *const five[] = {"tenant", "team", "rep", "window", "metric"};
        int nlabels = strstr(expr, "ignoring(metric)") ? 4 : 5;
        for (int i = 0; i < nlabels; i++)
            strcpy(labels[(*n)++], five[i]);
    }
}

typedef struct {
    int port;
    int checked;
} walk_ctx_t;

static void check_target(walk_ctx_t *w, const char *title, const char *expr)
{
    char *a = replace_all(expr, "$tenant", "acme");
    char *b = replace_all(a, "$team", "north");
    char *c = replace_all(b, "$rep", "north-r03");
    char *d = replace_all(c, "$window", "7d");
    char *q = replace_all(d, "$period", "month");
    free(a);
    free(b);
    free(c);
    free(d);
    json_t *res = NULL;
    /* Rates need two scrapes inside their range: retry for a while. */
    for (int i = 0; i < 60; i++) {
        res = query(w->port, q);
        if (res && json_array_size(res) > 0)
            break;
        json_decref(res);
        res = NULL;
        gwh_sleep_ms(500);
    }
    if (!res)
        fail_msg("panel \"%s\": %s returned no series", title, q);
    char labels[8][32];
    int nl;
    expected_labels(q, labels, &nl);
    size_t i;
    json_t *s;
    json_array_foreach(res, i, s)
    {
        json_t *metric = json_object_get(s, "metric");
        for (int l = 0; l < nl; l++)
            if (!json_is_string(json_object_get(metric, labels[l])))
                fail_msg("panel \"%s\": %s: a series lacks label %s", title, q, labels[l]);
        if (!isfinite(value_of(s)) && strstr(q, "histogram_quantile") == NULL)
            fail_msg("panel \"%s\": %s: a value is not finite", title, q);
    }
    fprintf(stderr, "  ok  %-34.34s %3zu series  %s\n", title, json_array_size(res), q);
    json_decref(res);
    free(q);
    w->checked++;
}

static void walk_panels(walk_ctx_t *w, json_t *panels)
{
    size_t i;
    json_t *p;
    json_array_foreach(panels, i, p)
    {
        walk_panels(w, json_object_get(p, "panels")); /* rows nest panels */
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(p, "targets"), k, t)
        {
            const char *expr = json_string_value(json_object_get(t, "expr"));
            if (expr && *expr)
                check_target(w, json_string_value(json_object_get(p, "title")), expr);
        }
    }
}

static double redis_hget_num(redisContext *c, const char *key, const char *field)
{
    redisReply *r = redisCommand(c, "HGET %s %s", key, field);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_STRING)
        fail_msg("redis %s has no %s", key, field);
    double v = atof(r->str);
    freeReplyObject(r);
    return v;
}

static void test_dashboard_queries_return_data_through_exporter_and_prometheus(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "observability");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 1, topics);
    int metrics_port = gwh_free_port();
    char yaml[4096];
    snprintf(yaml, sizeof(yaml), "%sevaluation: {sweep_interval: 2s, min_interval: 1s}\n",
             GW_SIM_DEMO_CONFIG_YAML); /* with a monthly objective: the pace panels */
    gwh_write_config(&h, yaml);
    /* the harness disables /metrics; enable it on a free port */
    char *cfg = read_file(h.config_path);
    char listen[64];
    snprintf(listen, sizeof(listen), "  listen: \"127.0.0.1:%d\"", metrics_port);
    char *cfg2 = replace_all(cfg, "  listen: \"\"", listen);
    FILE *f = fopen(h.config_path, "w");
    fputs(cfg2, f);
    fclose(f);
    free(cfg);
    free(cfg2);

    gw_sim_config_t sim = {.tenant = "acme",
                           .teams = 2,
                           .reps_per_team = 10,
                           .days = 30,
                           .seed = 5,
                           .end_ms = gwh_now_ms() - 1800000,
                           .plant = true};
    gw_sim_rep_t *reps = calloc((size_t)gw_sim_rep_count(&sim), sizeof(*reps));
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    long events = tev_produce_sim(rk, &sim, reps, 0);
    rd_kafka_flush(rk, 60000);
    gwh_daemon_start(&h);
    assert_true(gwh_wait_consumed(&h, rk, "sales.events", 12, 120000));
    rd_kafka_destroy(rk);

    /* gapwatchd's own endpoints */
    char *body = NULL;
    for (int i = 0; i < 50 && !(body = gwh_http_get(metrics_port, "/readyz")); i++)
        gwh_sleep_ms(200);
    assert_non_null(body);
    free(body);
    body = gwh_http_get(metrics_port, "/healthz");
    assert_non_null(body);
    free(body);
    body = gwh_http_get(metrics_port, "/metrics");
    assert_non_null(body);
    char line[128];
    snprintf(line, sizeof(line), "\ngapwatch_events_consumed_total %ld\n", events);
    for (int i = 0; i < 20 && !strstr(body, line); i++) {
        free(body);
        gwh_sleep_ms(500);
        body = gwh_http_get(metrics_port, "/metrics");
    }
    assert_non_null(strstr(body, line));
    assert_non_null(strstr(body, "gapwatch_partitions_assigned 12"));
    assert_non_null(strstr(body, "# TYPE gapwatch_redis_apply_seconds histogram"));
    free(body);

    /* Wait for the export hash to be complete: a snapshot of the last rep. */
    redisContext *rc = gwh_redis(&h);
    for (int i = 0; i < 100; i++) {
        redisReply *r = redisCommand(rc, "HEXISTS gw:export:{acme} south|south-r10|7d|attainment");
        bool done = r && r->integer == 1;
        freeReplyObject(r);
        if (done)
            break;
        gwh_sleep_ms(200);
    }

    /* redis_exporter with the shipped script */
    char src[512], addr[128], web[64], script[600];
    snprintf(src, sizeof(src), "%s/deploy", GW_SOURCE_DIR);
    int exporter_port = gwh_free_port();
    snprintf(addr, sizeof(addr), "--redis.addr=redis://127.0.0.1:%d", h.redis_port);
    snprintf(web, sizeof(web), "--web.listen-address=127.0.0.1:%d", exporter_port);
    snprintf(script, sizeof(script), "--script=%s/redis_exporter/gapwatch.lua", src);
    char *exporter[] = {"prometheus-redis-exporter", addr, web, script, NULL};
    gwh_spawn(&h, "redis_exporter", exporter);

    /* prometheus with the shipped config, on loopback and scraping every second */
    char cmd[1024], shipped[600], rewritten[400];
    snprintf(shipped, sizeof(shipped), "%s/prometheus/prometheus.yml", src);
    snprintf(cmd, sizeof(cmd), "promtool check config '%s' >/dev/null", shipped);
    assert_int_equal(gwh_run(cmd), 0);
    char *prom = read_file(shipped);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", exporter_port);
    char *p1 = replace_all(prom, "redis_exporter:9121", target);
    snprintf(target, sizeof(target), "127.0.0.1:%d", metrics_port);
    char *p2 = replace_all(p1, "gapwatchd:9464", target);
    char *p3 = replace_all(p2, "scrape_interval: 30s", "scrape_interval: 1s");
    snprintf(rewritten, sizeof(rewritten), "%s/prometheus.yml", h.dir);
    f = fopen(rewritten, "w");
    fputs(p3, f);
    fclose(f);
    free(prom);
    free(p1);
    free(p2);
    free(p3);
    snprintf(cmd, sizeof(cmd), "promtool check config '%s' >/dev/null", rewritten);
    assert_int_equal(gwh_run(cmd), 0);
    int prom_port = gwh_free_port();
    char pconf[450], ptsdb[350], pweb[64];
    snprintf(pconf, sizeof(pconf), "--config.file=%s", rewritten);
    snprintf(ptsdb, sizeof(ptsdb), "--storage.tsdb.path=%s/tsdb", h.dir);
    snprintf(pweb, sizeof(pweb), "--web.listen-address=127.0.0.1:%d", prom_port);
    char *prometheus[] = {"prometheus", pconf, ptsdb, pweb, NULL};
    gwh_spawn(&h, "prometheus", prometheus);

    /* Both targets up and the per-rep series present. */
    bool ready = false;
    for (int i = 0; i < 120 && !ready; i++) {
        json_t *up = query(prom_port, "sum(up)");
        json_t *reps_series = query(prom_port, "count(gapwatch_rep)");
        ready = up && json_array_size(up) == 1 && value_of(json_array_get(up, 0)) == 2 &&
                reps_series && json_array_size(reps_series) == 1;
        json_decref(up);
        json_decref(reps_series);
        if (!ready)
            gwh_sleep_ms(500);
    }
    assert_true(ready);

    /* Every expression of the dashboard returns data with its labels. */
    char dash[600];
    snprintf(dash, sizeof(dash), "%s/grafana/dashboards/gapwatch.json", src);
    json_error_t jerr;
    json_t *d = json_load_file(dash, 0, &jerr);
    if (!d)
        fail_msg("%s: %s (line %d)", dash, jerr.text, jerr.line);
    walk_ctx_t w = {prom_port, 0};
    walk_panels(&w, json_object_get(d, "panels"));
    json_decref(d);
    assert_true(w.checked >= 10);

    /* A few values equal what Redis holds. */
    static const char *const fields[] = {"attainment", "result",         "count_book",
                                         "rate_book",  "team_rate_book", "effectiveness_gap"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char q[256], field[128];
        snprintf(q, sizeof(q),
                 "gapwatch_rep{tenant=\"acme\",team=\"north\",rep=\"north-r03\",window=\"7d\","
                 "metric=\"%s\"}",
                 fields[i]);
        snprintf(field, sizeof(field), "north|north-r03|7d|%s", fields[i]);
        double in_redis = redis_hget_num(rc, "gw:export:{acme}", field);
        json_t *res = query(prom_port, q);
        assert_non_null(res);
        assert_int_equal(json_array_size(res), 1);
        double in_prom = value_of(json_array_get(res, 0));
        json_decref(res);
        if (fabs(in_prom - in_redis) > 1e-6 * fabs(in_redis) + 1e-9)
            fail_msg("%s: prometheus %g, redis %g", fields[i], in_prom, in_redis);
    }
    /* The export agrees with the diagnosis snapshot the CLI reads. */
    assert_true(redis_hget_num(rc, "gw:export:{acme}", "north|north-r03|7d|count_book") ==
                redis_hget_num(rc, "gw:{acme:north-r03}:diag:7d", "stage.2.rep"));
    assert_true(redis_hget_num(rc, "gw:export:{acme}", "north|north-r03|7d|effectiveness_gap") ==
                1);
    redisFree(rc);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    free(reps);
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dashboard_queries_return_data_through_exporter_and_prometheus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
