/*
 * The same kind of stream with gapwatchd killed by SIGKILL at 5 random
 * points and restarted each time (with a different batch size, so batch
 * boundaries after a restart differ from the ones that were cut): the
 * counters still equal the recount, with no double counting and nothing
 * lost.
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

static void write_config_with_batch(gwh_t *h, int batch, const char *extra)
{
    char yaml[4096];
    snprintf(yaml, sizeof(yaml), "%s%sconsumer:\n  batch_max_messages: %d\n", tev_config_yaml,
             extra, batch);
    gwh_write_config(h, yaml);
}

/* Produces `n` events, runs gapwatchd over them with five SIGKILLs spread
 * over the stream (each restart with another batch size), and waits until
 * the whole stream is applied. `extra` is added to the config. */
static void run_with_kills(gwh_t *h, tev_stream_t *s, size_t n, const char *extra)
{
    gwh_redis_start(h, NULL);
    gwh_kafka_start(h, 3, topics);
    tev_generate(s, n, 600, 40, 987);
    tev_produce(h, s, "sales.events");
    rd_kafka_t *rk = gwh_producer(h, NULL, NULL);
    int64_t total = gwh_topic_end(h, rk, "sales.events", 12);

    unsigned seed =
        getenv("GW_TEST_SEED") ? (unsigned)atoi(getenv("GW_TEST_SEED")) : (unsigned)gwh_now_ms();
    srand(seed);
    fprintf(stderr, "crash test seed %u (set GW_TEST_SEED to replay)\n", seed);
    static const int batches[] = {5000, 700, 3000, 1500, 9000, 2500};
    write_config_with_batch(h, batches[0], extra);
    gwh_daemon_start(h);
    for (int k = 0; k < 5; k++) {
        /* Kill points spread over the stream, at random within each fifth. */
        double at = (k + 0.2 + 0.6 * (rand() / (double)RAND_MAX)) / 5.0;
        int64_t deadline = gwh_now_ms() + 120000;
        while (gwh_positions_sum(h, "sales.events") < (int64_t)(at * (double)total) &&
               gwh_now_ms() < deadline && gwh_daemon_alive(h))
            gwh_sleep_ms(5);
        assert_true(gwh_daemon_alive(h));
        gwh_sleep_ms(rand() % 60);
        int64_t progress = gwh_positions_sum(h, "sales.events");
        assert_int_equal(gwh_daemon_stop(h, SIGKILL), 128 + SIGKILL);
        fprintf(stderr, "kill %d at %.0f%% of the stream (positions %lld of %lld)\n", k + 1,
                100.0 * (double)progress / (double)total, (long long)progress, (long long)total);
        write_config_with_batch(h, batches[k + 1], extra);
        gwh_daemon_start(h);
    }
    bool done = gwh_wait_consumed(h, rk, "sales.events", 12, 240000);
    rd_kafka_destroy(rk);
    if (!done)
        gwh_dump_daemon_log(h, 60);
    assert_true(done);
    fprintf(stderr, "after restarts: %d re-send rounds of straddling entities logged\n",
            gwh_daemon_log_count(h, "re-sending entities"));
}

static void test_counts_exact_after_five_sigkills(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "crash");
    tev_stream_t s;
    size_t n = getenv("GW_TEST_EVENTS") ? (size_t)atol(getenv("GW_TEST_EVENTS")) : 200000;
    run_with_kills(&h, &s, n, "");
    tev_stats_t st;
    size_t mismatches = tev_compare(&h, &s, true, &st);
    if (mismatches)
        gwh_dump_daemon_log(&h, 60);
    assert_int_equal(mismatches, 0);
    assert_true(st.windows_with_data >= 600);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    tev_free(&s);
    gwh_cleanup(&h);
}

/* The calendar periods' totals (docs/calendars.md) are counted by the same
 * script call as the windows, under the same offsets: exactly once through
 * the same kills. (A playbook turns them on; its evaluations slide the
 * windows to the evaluation watermark, so the windows are compared in the
 * test above, without one.) */
static void test_period_totals_exact_after_five_sigkills(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "crash-periods");
    tev_stream_t s;
    run_with_kills(&h, &s, 60000, tev_periods_yaml);
    size_t periods = 0;
    assert_int_equal(tev_compare_periods(&h, &s, &periods), 0);
    assert_true(periods >= 600 * 3);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    tev_free(&s);
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_exact_after_five_sigkills),
        cmocka_unit_test(test_period_totals_exact_after_five_sigkills),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
