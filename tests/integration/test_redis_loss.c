/*
 * Nothing lost, nothing silently wrong: a Redis that lost gapwatch's data
 * (restarted without persistence, flushed) stops the counting with a loud
 * error, a metric and a failing /readyz, or (redis.on_data_loss: rebuild)
 * is recounted exactly; an evicting Redis is refused at start-up; a long
 * Redis outage keeps /healthz and /metrics truthful; offsets deleted by
 * retention are logged, counted and recorded, and consumption goes on.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_harness.h"
#include "tevents.h"

static const char *const topics[] = {"sales.events:12", "sales.events.dlq:1", "sales.alerts:3",
                                     NULL};

/* Serves /metrics on a free port (the harness disables it). */
static int enable_metrics(gwh_t *h)
{
    int port = gwh_free_port();
    FILE *f = fopen(h->config_path, "r");
    assert_non_null(f);
    static char buf[32768];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    char *at = strstr(buf, "  listen: \"\"");
    assert_non_null(at);
    char out[33000];
    snprintf(out, sizeof(out), "%.*s  listen: \"127.0.0.1:%d\"%s", (int)(at - buf), buf, port,
             at + strlen("  listen: \"\""));
    f = fopen(h->config_path, "w");
    fputs(out, f);
    fclose(f);
    return port;
}

/* The value of an unlabelled (or fully spelled) series, -1 when absent. */
static double metric(int port, const char *series)
{
    char *body = gwh_http_get(port, "/metrics");
    double v = -1;
    size_t len = strlen(series);
    for (char *p = body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, series, len) && p[len] == ' ') {
            v = atof(p + len + 1);
            break;
        }
    free(body);
    return v;
}

/* True when `path` answers 200 (gwh_http_get returns NULL otherwise). */
static bool http_ok(int port, const char *path)
{
    char *body = gwh_http_get(port, path);
    free(body);
    return body != NULL;
}

static bool wait_metric(int port, const char *series, double want, int timeout_ms)
{
    int64_t deadline = gwh_now_ms() + timeout_ms;
    while (gwh_now_ms() < deadline) {
        if (metric(port, series) == want)
            return true;
        gwh_sleep_ms(200);
    }
    return false;
}

static void flushall(gwh_t *h)
{
    redisContext *c = gwh_redis(h);
    redisReply *r = redisCommand(c, "FLUSHALL");
    assert_non_null(r);
    freeReplyObject(r);
    redisFree(c);
}

static void test_redis_restarted_without_persistence_stops_applying(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "loss-halt");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 1, topics);
    gwh_write_config(&h, tev_config_yaml);
    int port = enable_metrics(&h);
    tev_stream_t s;
    tev_generate(&s, 4000, 100, 10, 11);
    tev_stream_t first = {s.ev, 2000}, second = {s.ev + 2000, 2000};
    tev_produce(&h, &first, "sales.events");
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    gwh_daemon_start(&h);
    assert_true(gwh_wait_consumed(&h, rk, "sales.events", 12, 60000));
    assert_true(wait_metric(port, "gapwatch_redis_data_loss", 0, 5000));
    assert_true(http_ok(port, "/readyz"));

    /* Redis restarts empty: no AOF, no snapshot. */
    gwh_redis_kill(&h);
    gwh_redis_restart(&h);
    tev_produce(&h, &second, "sales.events");
    bool flagged = wait_metric(port, "gapwatch_redis_data_loss", 1, 20000);
    if (!flagged)
        gwh_dump_daemon_log(&h, 40);
    assert_true(flagged);
    assert_false(http_ok(port, "/readyz"));
    assert_true(http_ok(port, "/healthz"));
    assert_true(gwh_daemon_log_count(&h, "redis lost gapwatch's data; applying stopped") == 1);
    assert_true(gwh_daemon_log_count(&h, "applied_positions=\"") == 1);
    /* Nothing more is counted on the empty Redis. */
    gwh_sleep_ms(3000);
    assert_int_equal(gwh_positions_sum(&h, "sales.events"), 0);
    assert_true(gwh_daemon_alive(&h));
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);

    /* A restart does not paper over it: Kafka's group committed offsets
     * while Redis holds no positions. */
    gwh_daemon_start(&h);
    flagged = wait_metric(port, "gapwatch_redis_data_loss", 1, 20000);
    if (!flagged)
        gwh_dump_daemon_log(&h, 40);
    assert_true(flagged);
    assert_true(gwh_daemon_log_count(&h, "but group gapwatch committed offsets") >= 1);
    gwh_sleep_ms(2000);
    assert_int_equal(gwh_positions_sum(&h, "sales.events"), 0);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    rd_kafka_destroy(rk);
    tev_free(&s);
    gwh_cleanup(&h);
}

static void test_rebuild_policy_recounts_after_flushall(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "loss-rebuild");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 1, topics);
    char yaml[4096];
    snprintf(yaml, sizeof(yaml), "%s", tev_config_yaml);
    gwh_write_config(&h, yaml);
    /* the policy sits under redis: (written by the harness) */
    FILE *f = fopen(h.config_path, "r");
    static char buf[32768];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    char *at = strstr(buf, "  command_timeout: 5s\n");
    assert_non_null(at);
    at += strlen("  command_timeout: 5s\n");
    f = fopen(h.config_path, "w");
    fprintf(f, "%.*s  on_data_loss: rebuild\n%s", (int)(at - buf), buf, at);
    fclose(f);
    int port = enable_metrics(&h);

    tev_stream_t s;
    tev_generate(&s, 6000, 150, 15, 12);
    tev_stream_t first = {s.ev, 3000}, second = {s.ev + 3000, 3000};
    tev_produce(&h, &first, "sales.events");
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    gwh_daemon_start(&h);
    assert_true(gwh_wait_consumed(&h, rk, "sales.events", 12, 60000));
    flushall(&h);
    tev_produce(&h, &second, "sales.events");
    bool rebuilt = wait_metric(port, "gapwatch_redis_rebuilds_total", 1, 30000);
    bool done = rebuilt && gwh_wait_consumed(&h, rk, "sales.events", 12, 60000);
    if (!done)
        gwh_dump_daemon_log(&h, 60);
    assert_true(done);
    assert_true(gwh_daemon_log_count(&h, "rebuild is exact") == 1);
    assert_true(wait_metric(port, "gapwatch_redis_data_loss", 0, 5000));
    tev_stats_t st;
    size_t mismatches = tev_compare(&h, &s, true, &st);
    if (mismatches)
        gwh_dump_daemon_log(&h, 60);
    assert_int_equal(mismatches, 0);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    rd_kafka_destroy(rk);
    tev_free(&s);
    gwh_cleanup(&h);
}

static void test_evicting_redis_is_refused_at_start(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "loss-evict");
    gwh_redis_start(&h, "--maxmemory 100mb --maxmemory-policy allkeys-lru");
    gwh_kafka_start(&h, 1, topics);
    gwh_write_config(&h, tev_config_yaml);
    gwh_daemon_start(&h);
    /* signal 0: only waits for it to exit by itself (up to 30 s) */
    assert_int_equal(gwh_daemon_stop(&h, 0), 1);
    assert_int_equal(gwh_daemon_log_count(&h, "redis evicts keys: refusing to start"), 1);
    assert_int_equal(gwh_daemon_log_count(&h, "maxmemory_policy=allkeys-lru"), 1);
    assert_int_equal(gwh_daemon_log_count(&h, "set maxmemory-policy noeviction"), 1);
    gwh_cleanup(&h);
}

/* Redis away for 45 s: the loop keeps turning, /healthz stays 200,
 * /metrics says redis_up 0 with failures and outage seconds growing,
 * /readyz fails; afterwards the counts equal the recount. */
static void test_health_tells_the_truth_during_a_long_redis_outage(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "outage");
    gwh_redis_start(&h, "--appendonly yes --appendfsync always");
    gwh_kafka_start(&h, 1, topics);
    gwh_write_config(&h, tev_config_yaml);
    int port = enable_metrics(&h);
    tev_stream_t s;
    tev_generate(&s, 20000, 200, 20, 13);
    tev_stream_t first = {s.ev, 10000}, second = {s.ev + 10000, 10000};
    tev_produce(&h, &first, "sales.events");
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    gwh_daemon_start(&h);
    assert_true(gwh_wait_consumed(&h, rk, "sales.events", 12, 60000));
    gwh_redis_kill(&h);
    tev_produce(&h, &second, "sales.events");
    int64_t start = gwh_now_ms();
    double last_failures = -1, outage = 0;
    int health_fail = 0, up_seen = 0, ready_ok = 0, rises = 0;
    while (gwh_now_ms() - start < 45000) {
        if (!http_ok(port, "/healthz"))
            health_fail++;
        if (gwh_now_ms() - start > 3000) {
            up_seen += metric(port, "gapwatch_redis_up") != 0;
            ready_ok += http_ok(port, "/readyz");
        }
        double f = metric(port, "gapwatch_redis_failures_total");
        rises += f > last_failures && last_failures >= 0;
        last_failures = f;
        outage = metric(port, "gapwatch_redis_outage_seconds_total");
        gwh_sleep_ms(1000);
    }
    fprintf(stderr,
            "outage 45 s: healthz failures %d, redis_up!=0 seen %d, readyz ok %d, failures %.0f "
            "(rose %d times), outage seconds %.1f\n",
            health_fail, up_seen, ready_ok, last_failures, rises, outage);
    assert_int_equal(health_fail, 0);
    assert_int_equal(up_seen, 0);
    assert_int_equal(ready_ok, 0);
    assert_true(rises >= 5);
    assert_true(outage >= 30);
    assert_true(metric(port, "gapwatch_redis_stalled_batches") >= 1);
    gwh_redis_restart(&h);
    bool done = gwh_wait_consumed(&h, rk, "sales.events", 12, 120000);
    if (!done)
        gwh_dump_daemon_log(&h, 60);
    assert_true(done);
    assert_true(wait_metric(port, "gapwatch_redis_up", 1, 5000));
    assert_true(http_ok(port, "/readyz"));
    tev_stats_t st;
    assert_int_equal(tev_compare(&h, &s, true, &st), 0);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    rd_kafka_destroy(rk);
    tev_free(&s);
    gwh_cleanup(&h);
}

static const char *const one_partition[] = {"sales.events:1", "sales.events.dlq:1",
                                            "sales.alerts:1", NULL};

/* The mock cluster keeps 5 MB per partition and deletes the oldest message
 * sets beyond: 8 MB of (dead-lettered) junk written while gapwatchd is
 * stopped moves the log start past the position recorded in Redis. */
static void test_retention_gap_is_counted_and_skipped(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "retention");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 1, one_partition);
    gwh_write_config(&h, tev_config_yaml);
    int port = enable_metrics(&h);
    tev_stream_t s;
    tev_generate(&s, 1000, 50, 5, 14);
    tev_stream_t first = {s.ev, 500}, second = {s.ev + 500, 500};
    tev_produce(&h, &first, "sales.events");
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    gwh_daemon_start(&h);
    assert_true(gwh_wait_consumed(&h, rk, "sales.events", 1, 60000));
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    int64_t from = gwh_positions_sum(&h, "sales.events");

    static char junk[100000];
    memset(junk, 'x', sizeof(junk));
    for (int i = 0; i < 80; i++) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC("sales.events"), RD_KAFKA_V_VALUE(junk, sizeof(junk)),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        assert_int_equal(err, 0);
        rd_kafka_flush(rk, 10000);
    }
    tev_produce(&h, &second, "sales.events");
    int64_t lo = 0, hi = 0;
    assert_int_equal(rd_kafka_query_watermark_offsets(rk, "sales.events", 0, &lo, &hi, 5000), 0);
    fprintf(stderr, "position %lld, log now %lld..%lld\n", (long long)from, (long long)lo,
            (long long)hi);
    assert_true(lo > from);

    gwh_daemon_start(&h);
    bool done = gwh_wait_consumed(&h, rk, "sales.events", 1, 60000);
    if (!done)
        gwh_dump_daemon_log(&h, 40);
    assert_true(done);
    assert_int_equal(gwh_daemon_log_count(&h, "offsets lost to retention"), 1);
    char needle[64];
    snprintf(needle, sizeof(needle), "lost_from=%lld lost_to=%lld", (long long)from,
             (long long)(lo - 1));
    assert_int_equal(gwh_daemon_log_count(&h, needle), 1);
    /* /metrics is republished every second */
    assert_true(wait_metric(port, "gapwatch_offsets_lost_total{partition=\"0\"}",
                            (double)(lo - from), 5000));
    redisContext *c = gwh_redis(&h);
    redisReply *r = redisCommand(c, "HGET gw:positions:sales.events lost:0:%lld", (long long)from);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_int_equal(strtoll(r->str, NULL, 10), lo);
    freeReplyObject(r);
    redisFree(c);
    /* the events before and after the gap are all counted */
    tev_stats_t st;
    assert_int_equal(tev_compare(&h, &s, true, &st), 0);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);

    /* With a playbook, every diagnosis of a rep on that partition says its
     * 30d window is incomplete, and by how many offsets. */
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "%s"
             "evaluation: {sweep_interval: 1s, min_interval: 1s}\n"
             "playbooks:\n"
             "  - name: all\n"
             "    teams: [\"*\"]\n"
             "    funnel:\n"
             "      - {name: dial, kinds: [DIAL]}\n"
             "      - {name: book, kinds: [MEETING_BOOKED]}\n"
             "    objective: {kind: MEETING_BOOKED, per_window: {30d: 1}}\n",
             tev_config_yaml);
    gwh_write_config(&h, yaml);
    gwh_daemon_start(&h);
    c = gwh_redis(&h);
    char key[128];
    snprintf(key, sizeof(key), "gw:{%s:%s}:diag:30d", s.ev[0].tenant, s.ev[0].rep);
    int64_t deadline = gwh_now_ms() + 30000;
    long long lost = -1;
    while (lost < 0 && gwh_now_ms() < deadline) {
        r = redisCommand(c, "HMGET %s incomplete lost_offsets", key);
        if (r && r->type == REDIS_REPLY_ARRAY && r->element[0]->type == REDIS_REPLY_STRING &&
            r->element[1]->type == REDIS_REPLY_STRING && !strcmp(r->element[0]->str, "1"))
            lost = strtoll(r->element[1]->str, NULL, 10);
        if (r)
            freeReplyObject(r);
        if (lost < 0)
            gwh_sleep_ms(250);
    }
    assert_int_equal(lost, lo - from);
    redisFree(c);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    rd_kafka_destroy(rk);
    tev_free(&s);
    gwh_cleanup(&h);
}

int main(void)
{
    const char *only = getenv("GW_TEST_ONLY");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evicting_redis_is_refused_at_start),
        cmocka_unit_test(test_redis_restarted_without_persistence_stops_applying),
        cmocka_unit_test(test_rebuild_policy_recounts_after_flushall),
        cmocka_unit_test(test_retention_gap_is_counted_and_skipped),
        cmocka_unit_test(test_health_tells_the_truth_during_a_long_redis_outage),
    };
    if (only)
        cmocka_set_test_filter(only);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
