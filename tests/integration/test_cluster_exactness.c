/*
 * gapwatchd on a real Redis Cluster (six redis-servers, three masters with
 * a replica each: gwh_cluster_start) with redis.cluster: true, fed through
 * the mock Kafka cluster: every window total, late count and watermark
 * equals the brute-force recount (tev_compare) after
 *   - an undisturbed run;
 *   - a run during which a few hundred slots are resharded (keys migrate:
 *     MOVED, ASK, TRYAGAIN while the daemon applies);
 *   - a run during which a master is killed (SIGKILL) and its replica
 *     promoted (connection errors, CLUSTERDOWN, a new node).
 * The recount reads one Redis: the cluster's keys are copied into a plain
 * redis-server (DUMP / RESTORE from every master) once the run is done.
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

static size_t nevents(size_t dflt)
{
    return getenv("GW_TEST_EVENTS") ? (size_t)atol(getenv("GW_TEST_EVENTS")) : dflt;
}

/* The positions of `topic` summed, from whichever master holds them. */
static int64_t cluster_positions_sum(gwh_t *h, const char *topic)
{
    int64_t sum = -1;
    for (int i = 0; i < h->ncluster && sum < 0; i++) {
        if (!h->cluster[i].pid)
            continue;
        redisContext *c = gwh_cluster_node(h, i);
        sum = gwh_positions_sum_on(c, topic);
        redisFree(c);
    }
    return sum < 0 ? 0 : sum;
}

/* Calls fn(node, key, ctx) for every key matching `pattern` on the live
 * masters; returns how many. */
static long scan_masters(gwh_t *h, const char *pattern,
                         void (*fn)(redisContext *node, const redisReply *key, void *ctx),
                         void *ctx)
{
    gwh_cluster_roles(h);
    long n = 0;
    for (int i = 0; i < h->ncluster; i++) {
        if (!h->cluster[i].pid || !h->cluster[i].master)
            continue;
        redisContext *c = gwh_cluster_node(h, i);
        unsigned long long cursor = 0;
        do {
            redisReply *r = gwh_command(c, "SCAN %llu MATCH %s COUNT 1000", cursor, pattern);
            assert_int_equal(r->type, REDIS_REPLY_ARRAY);
            cursor = strtoull(r->element[0]->str, NULL, 10);
            for (size_t k = 0; fn && k < r->element[1]->elements; k++)
                fn(c, r->element[1]->element[k], ctx);
            n += (long)r->element[1]->elements;
            freeReplyObject(r);
        } while (cursor != 0);
        redisFree(c);
    }
    return n;
}

static bool wait_positions(gwh_t *h, int64_t target, int64_t timeout_ms)
{
    int64_t deadline = gwh_now_ms() + timeout_ms;
    while (gwh_now_ms() < deadline) {
        if (cluster_positions_sum(h, "sales.events") >= target)
            return true;
        gwh_sleep_ms(100);
    }
    fprintf(stderr, "positions %lld of %lld after %lld ms\n",
            (long long)cluster_positions_sum(h, "sales.events"), (long long)target,
            (long long)timeout_ms);
    return false;
}

/* DUMPs `key` from `node` and RESTOREs it into the plain redis-server. */
static void copy_key(redisContext *node, const redisReply *key, void *ctx)
{
    redisReply *d = gwh_command(node, "DUMP %b", key->str, key->len);
    if (d->type == REDIS_REPLY_STRING) {
        redisReply *w =
            gwh_command(ctx, "RESTORE %b 0 %b REPLACE", key->str, key->len, d->str, d->len);
        assert_int_not_equal(w->type, REDIS_REPLY_ERROR);
        freeReplyObject(w);
    }
    freeReplyObject(d);
}

static void add_hlen(redisContext *node, const redisReply *key, void *ctx)
{
    redisReply *r = gwh_command(node, "HLEN %b", key->str, key->len);
    *(long long *)ctx += r->integer;
    freeReplyObject(r);
}

/* deploy/redis_exporter/gapwatch_cluster.lua run on every master (as
 * redis_exporter with one target per node would): together they report
 * every field of every tenant's export hash, each once. */
static void check_exporter_script(gwh_t *h)
{
    char path[512], script[8192];
    snprintf(path, sizeof(path), "%s/deploy/redis_exporter/gapwatch_cluster.lua", GW_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t len = fread(script, 1, sizeof(script) - 1, f);
    fclose(f);
    script[len] = '\0';
    long long fields = 0;
    long hashes = scan_masters(h, "gw:export:{*}", add_hlen, &fields);
    long long pairs = 0;
    int nodes = 0;
    for (int i = 0; i < h->ncluster; i++) {
        if (!h->cluster[i].pid || !h->cluster[i].master)
            continue;
        redisContext *c = gwh_cluster_node(h, i);
        redisReply *r = gwh_command(c, "EVAL %s 0", script);
        if (r->type != REDIS_REPLY_ARRAY)
            fail_msg("exporter script on node %d: %s", i, r->str ? r->str : "not an array");
        pairs += (long long)r->elements / 2;
        nodes += r->elements > 0;
        freeReplyObject(r);
        redisFree(c);
    }
    fprintf(stderr,
            "exporter script: %lld values from %d masters; %ld export hashes, %lld fields\n", pairs,
            nodes, hashes, fields);
    assert_true(fields > 0);
    assert_int_equal(pairs, fields);
}

/* Copies every gw:* key of every live master into a plain redis-server
 * (started here; h->redis_port names it afterwards). Returns the keys. */
static long copy_cluster_to_plain(gwh_t *h)
{
    gwh_redis_start(h, NULL);
    redisContext *dst = gwh_redis(h);
    long n = scan_masters(h, "gw:*", copy_key, dst);
    redisFree(dst);
    return n;
}

/* The sum of `key` over the daemon's "redis cluster connections closed"
 * lines. */
static long long log_sum(gwh_t *h, const char *key)
{
    char path[300], want[64], line[4096];
    snprintf(path, sizeof(path), "%s/gapwatchd.log", h->dir);
    snprintf(want, sizeof(want), " %s=", key);
    FILE *f = fopen(path, "r");
    long long sum = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strstr(line, "redis cluster connections closed") && strstr(line, want))
            sum += strtoll(strstr(line, want) + strlen(want), NULL, 10);
    if (f)
        fclose(f);
    return sum;
}

typedef enum { RUN_PLAIN, RUN_RESHARD, RUN_KILL } run_kind_t;

static void run(run_kind_t kind, const char *name, size_t n, uint32_t seed)
{
    gwh_t h;
    gwh_init(&h, name);
    gwh_cluster_start(&h);
    gwh_kafka_start(&h, 3, topics);
    h.redis_port = h.cluster[0].port; /* the seed */
    /* small batches for the disturbed runs, so consumption lasts seconds
     * and the disturbance lands in the middle of it */
    char yaml[1024];
    snprintf(yaml, sizeof(yaml), "%s%s", tev_config_yaml,
             kind == RUN_PLAIN ? tev_periods_yaml : "consumer:\n  batch_max_messages: 25\n");
    gwh_write_config(&h, yaml);
    char lines[512];
    snprintf(
        lines, sizeof(lines),
        "  port: %d\n  cluster: true\n  cluster_nodes: [\"127.0.0.1:%d\", \"127.0.0.1:%d\"]\n%s",
        h.cluster[0].port, h.cluster[1].port, h.cluster[2].port,
        /* GW_TEST_NO_WAIT: measure what WAIT 1 costs */
        getenv("GW_TEST_NO_WAIT") ? "  cluster_wait_replicas: false\n" : "");
    gwh_set_redis_config(&h, lines);
    h.redis_port = 0;

    tev_stream_t s;
    tev_generate(&s, n, 400, 30, seed);
    tev_produce(&h, &s, "sales.events");
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    int64_t end = gwh_topic_end(&h, rk, "sales.events", 12);
    rd_kafka_destroy(rk);
    int64_t t0 = gwh_now_ms();
    gwh_daemon_start(&h);
    if (kind != RUN_PLAIN) {
        /* disturb the cluster once a fifth of the stream is applied */
        assert_true(wait_positions(&h, end / 5, 120000));
        int64_t t1 = gwh_now_ms();
        int64_t at = cluster_positions_sum(&h, "sales.events");
        if (kind == RUN_RESHARD) {
            gwh_cluster_reshard(&h, 0, 1, 300);
            fprintf(
                stderr,
                "resharded 300 slots from node 0 to node 1 at %lld of %lld offsets in %lld ms\n",
                (long long)at, (long long)end, (long long)(gwh_now_ms() - t1));
            /* it happened while the daemon was consuming */
            assert_true(at < end);
        } else {
            int promoted = gwh_cluster_kill_master(&h, 1);
            fprintf(stderr,
                    "killed master 1 at %lld of %lld offsets; node %d promoted after %lld ms\n",
                    (long long)at, (long long)end, promoted, (long long)(gwh_now_ms() - t1));
            assert_true(at < end);
        }
    }
    bool done = wait_positions(&h, end, 240000);
    if (!done)
        gwh_dump_daemon_log(&h, 60);
    assert_true(done);
    fprintf(stderr, "%s: %zu events applied in %lld ms\n", name, s.n,
            (long long)(gwh_now_ms() - t0));
    long diag = 0;
    if (kind == RUN_PLAIN) {
        /* the evaluator's snapshots (MULTI .. EXEC per key) reach their
         * slots' nodes */
        for (int i = 0; i < 100 && (diag = scan_masters(&h, "gw:{*}:diag:*", NULL, NULL)) < 100;
             i++)
            gwh_sleep_ms(100);
        fprintf(stderr, "%s: %ld diagnosis snapshots on the cluster\n", name, diag);
        assert_true(diag >= 100);
        check_exporter_script(&h);
    }
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    assert_int_equal(gwh_daemon_log_count(&h, "level=error"), 0);
    /* what the routers met (the pipeline's, the evaluator's, ...) */
    long long maps = log_sum(&h, "slot_maps_read"), moved = log_sum(&h, "moved"),
              ask = log_sum(&h, "ask"), tryagain = log_sum(&h, "tryagain"),
              down = log_sum(&h, "clusterdown");
    fprintf(stderr,
            "%s: slot maps read %lld, MOVED %lld, ASK %lld, TRYAGAIN %lld, CLUSTERDOWN %lld\n",
            name, maps, moved, ask, tryagain, down);
    if (kind == RUN_RESHARD)
        assert_true(moved + ask + tryagain > 0);
    long keys = copy_cluster_to_plain(&h);
    tev_stats_t st;
    /* the plain run has a playbook: its sweeps move silent entities'
     * watermarks on, and the windows are recounted there */
    size_t mismatches =
        kind == RUN_PLAIN ? tev_compare_swept(&h, &s, &st) : tev_compare(&h, &s, true, &st);
    fprintf(stderr, "%s: %ld keys copied; %zu entities, %zu fields compared, %zu mismatches\n",
            name, keys, st.entities, st.fields, mismatches);
    if (mismatches)
        gwh_dump_daemon_log(&h, 60);
    assert_int_equal(mismatches, 0);
    assert_true(st.entities >= 400);
    if (kind == RUN_PLAIN) {
        size_t periods = 0;
        assert_int_equal(tev_compare_periods(&h, &s, &periods), 0);
        fprintf(stderr, "%s: %zu rep periods equal the recount\n", name, periods);
        assert_true(periods > 0);
    }
    tev_free(&s);
    gwh_cleanup(&h);
}

static void test_cluster_counts_equal_recount(void **state)
{
    (void)state;
    run(RUN_PLAIN, "cexact", nevents(40000), 1234);
}

static void test_cluster_counts_equal_recount_across_a_reshard(void **state)
{
    (void)state;
    run(RUN_RESHARD, "creshard", nevents(40000), 77);
}

static void test_cluster_counts_equal_recount_across_a_failover(void **state)
{
    (void)state;
    run(RUN_KILL, "cfailover", nevents(40000), 4321);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_counts_equal_recount),
        cmocka_unit_test(test_cluster_counts_equal_recount_across_a_reshard),
        cmocka_unit_test(test_cluster_counts_equal_recount_across_a_failover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
