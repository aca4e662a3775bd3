/*
 * 200k events over many reps and teams, every kind, out-of-order and late
 * events, through the mock Kafka cluster, gapwatchd and a real Redis: every
 * window total, late count and watermark equals the brute-force recount.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "gw_harness.h"
#include "tevents.h"

static const char *const topics[] = {"sales.events:12", "sales.events.dlq:1", "sales.alerts:3",
                                     NULL};

static void test_counts_equal_recount_of_200k_events(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "exact");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 3, topics);
    gwh_write_config(&h, tev_config_yaml);
    gwh_daemon_start(&h);

    tev_stream_t s;
    size_t n = getenv("GW_TEST_EVENTS") ? (size_t)atol(getenv("GW_TEST_EVENTS")) : 200000;
    tev_generate(&s, n, 600, 40, 1234);
    int64_t t0 = gwh_now_ms();
    tev_produce(&h, &s, "sales.events");
    int64_t t1 = gwh_now_ms();
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    bool done = gwh_wait_consumed(&h, rk, "sales.events", 12, 240000);
    int64_t t2 = gwh_now_ms();
    rd_kafka_destroy(rk);
    if (!done)
        gwh_dump_daemon_log(&h, 40);
    assert_true(done);
    fprintf(stderr, "produced %zu events in %lld ms; consumed all %lld ms after the last\n", s.n,
            (long long)(t1 - t0), (long long)(t2 - t1));

    tev_stats_t st;
    size_t mismatches = tev_compare(&h, &s, true, &st);
    if (mismatches)
        gwh_dump_daemon_log(&h, 40);
    assert_int_equal(mismatches, 0);
    /* The stream must exercise what it claims to: many entities with data
     * and late drops for the shorter windows. */
    assert_true(st.entities >= 600);
    assert_true(st.windows_with_data >= 600);
    assert_true(st.late_rep_drops > 0);

    /* SIGTERM: finish, commit, exit 0. */
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    assert_int_equal(gwh_daemon_log_count(&h, "gapwatchd stopped"), 1);
    /* One uninterrupted run reads every message exactly once: waking
     * librdkafka's fetcher (a seek when its queue runs dry) neither skips
     * nor repeats. */
    long long consumed = gwh_daemon_log_field(&h, "gapwatchd stopping", "consumed");
    if (consumed != (long long)s.n)
        fail_msg("gapwatchd consumed %lld messages, expected the %zu produced", consumed, s.n);
    tev_free(&s);
    gwh_cleanup(&h);
}

/* A backlog replayed from Redis' positions: librdkafka 2.0.2's queue runs
 * dry while the broker holds more, gapwatchd wakes its fetcher, and still
 * every message is read exactly once and counted exactly. */
static void test_backlog_replay_wakes_the_fetcher_and_reads_each_message_once(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "backlog");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 1, topics);
    gwh_write_config(&h, tev_config_yaml);
    tev_stream_t s;
    tev_generate(&s, 200000, 600, 40, 99);
    tev_produce(&h, &s, "sales.events");
    gwh_daemon_start(&h);
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    bool done = gwh_wait_consumed(&h, rk, "sales.events", 12, 240000);
    rd_kafka_destroy(rk);
    if (!done)
        gwh_dump_daemon_log(&h, 40);
    assert_true(done);
    tev_stats_t st;
    assert_int_equal(tev_compare(&h, &s, true, &st), 0);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    long long consumed = gwh_daemon_log_field(&h, "gapwatchd stopping", "consumed");
    long long wakes = gwh_daemon_log_field(&h, "gapwatchd stopping", "fetch_wakes");
    fprintf(stderr, "replayed %zu events: %lld consumed, fetcher woken %lld times\n", s.n, consumed,
            wakes);
    if (consumed != (long long)s.n)
        fail_msg("gapwatchd consumed %lld messages, expected the %zu produced", consumed, s.n);
    assert_true(wakes > 0);
    tev_free(&s);
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_equal_recount_of_200k_events),
        cmocka_unit_test(test_backlog_replay_wakes_the_fetcher_and_reads_each_message_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
