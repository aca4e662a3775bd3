/*
 * Faults outside the daemon: Redis crashes (SIGKILL, AOF with fsync always)
 * and comes back on the same port; every broker goes down for a few
 * seconds and comes back. The daemon keeps running through both (pausing
 * while Redis is away) and the counters still equal the recount.
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

static void wait_progress(gwh_t *h, int64_t target)
{
    int64_t deadline = gwh_now_ms() + 120000;
    while (gwh_positions_sum(h, "sales.events") < target && gwh_now_ms() < deadline)
        gwh_sleep_ms(5);
}

static void test_counts_exact_through_redis_crash_and_broker_outage(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "faults");
    gwh_redis_start(&h, "--appendonly yes --appendfsync always");
    gwh_kafka_start(&h, 3, topics);
    char yaml[2048];
    snprintf(yaml, sizeof(yaml), "%sconsumer:\n  batch_max_messages: 2000\n", tev_config_yaml);
    gwh_write_config(&h, yaml);

    tev_stream_t s;
    size_t n = getenv("GW_TEST_EVENTS") ? (size_t)atol(getenv("GW_TEST_EVENTS")) : 100000;
    tev_generate(&s, n, 400, 30, 4242);
    tev_produce(&h, &s, "sales.events");
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    int64_t total = gwh_topic_end(&h, rk, "sales.events", 12);
    gwh_daemon_start(&h);

    wait_progress(&h, total / 4);
    gwh_redis_kill(&h);
    fprintf(stderr, "redis killed at a quarter of %lld events\n", (long long)total);
    gwh_sleep_ms(3000);
    assert_true(gwh_daemon_alive(&h));
    gwh_redis_restart(&h);
    fprintf(stderr, "redis back at positions %lld\n",
            (long long)gwh_positions_sum(&h, "sales.events"));

    wait_progress(&h, total * 6 / 10);
    gwh_kafka_ctl(&h, "down all");
    gwh_sleep_ms(3000);
    assert_true(gwh_daemon_alive(&h));
    gwh_kafka_ctl(&h, "up all");

    bool done = gwh_wait_consumed(&h, rk, "sales.events", 12, 180000);
    rd_kafka_destroy(rk);
    if (!done)
        gwh_dump_daemon_log(&h, 60);
    assert_true(done);
    assert_true(gwh_daemon_log_count(&h, "cannot apply batch to redis") +
                    gwh_daemon_log_count(&h, "cannot record positions in redis") >=
                1);
    tev_stats_t st;
    size_t mismatches = tev_compare(&h, &s, true, &st);
    if (mismatches)
        gwh_dump_daemon_log(&h, 60);
    assert_int_equal(mismatches, 0);
    assert_true(st.windows_with_data >= 400);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    tev_free(&s);
    gwh_cleanup(&h);
}

/* The largest "entities=" of the daemon's "batch applied" debug lines, and
 * how many there were. */
static long largest_batch(gwh_t *h, long *batches)
{
    char path[320], line[1024];
    snprintf(path, sizeof(path), "%s/gapwatchd.log", h->dir);
    FILE *f = fopen(path, "r");
    long most = -1;
    *batches = 0;
    while (f && fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, "msg=\"batch applied\"");
        if (p && (p = strstr(p, " entities="))) {
            long n = atol(p + 10);
            most = n > most ? n : most;
            (*batches)++;
        }
    }
    if (f)
        fclose(f);
    return most;
}

/* consumer.batch_max_entities bounds every batch (the coalescer's memory),
 * however many messages one poll brings, and the counts stay exact. The
 * config also sets message.max.bytes, which gapwatchd's own fetch.max.bytes
 * default must then leave to librdkafka (or the consumer cannot start). */
static void test_batches_stop_at_batch_max_entities(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "entities");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 1, topics);
    char yaml[2048];
    snprintf(yaml, sizeof(yaml), "%sconsumer:\n  batch_max_entities: 40\n", tev_config_yaml);
    setenv("GW_LOG_LEVEL", "debug", 1);
    gwh_write_config(&h, yaml);
    unsetenv("GW_LOG_LEVEL");
    gwh_add_consumer_property(&h, "message.max.bytes: \"2000000\"");
    tev_stream_t s;
    tev_generate(&s, 5000, 400, 30, 77);
    tev_produce(&h, &s, "sales.events");
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    gwh_daemon_start(&h);
    bool done = gwh_wait_consumed(&h, rk, "sales.events", 12, 120000);
    rd_kafka_destroy(rk);
    if (!done)
        gwh_dump_daemon_log(&h, 40);
    assert_true(done);
    long batches, most = largest_batch(&h, &batches);
    /* 5000 events of 430 entities cannot fit in fewer than 13 batches */
    assert_true(batches >= 13);
    assert_true(most >= 30 && most <= 40);
    tev_stats_t st;
    assert_int_equal(tev_compare(&h, &s, true, &st), 0);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    tev_free(&s);
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_exact_through_redis_crash_and_broker_outage),
        cmocka_unit_test(test_batches_stop_at_batch_max_entities),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
