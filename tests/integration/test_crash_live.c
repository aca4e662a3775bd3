/*
 * A live stream, crashed often: events are produced in 20 slices while
 * gapwatchd consumes them, and after each slice gapwatchd is SIGKILLed at
 * a random moment and restarted (with another batch size, so batch
 * boundaries differ); twice redis-server (AOF, appendfsync always) is
 * SIGKILLed and restarted too. At the end Redis' totals equal the recount.
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

#define KILLS 20

static void test_counts_exact_after_twenty_sigkills_on_a_live_stream(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "crash-live");
    gwh_redis_start(&h, "--appendonly yes --appendfsync always");
    gwh_kafka_start(&h, 3, topics);
    tev_stream_t s;
    size_t n = getenv("GW_TEST_EVENTS") ? (size_t)atol(getenv("GW_TEST_EVENTS")) : 60000;
    tev_generate(&s, n, 500, 40, 2024);
    unsigned seed =
        getenv("GW_TEST_SEED") ? (unsigned)atoi(getenv("GW_TEST_SEED")) : (unsigned)gwh_now_ms();
    srand(seed);
    fprintf(stderr, "live crash test seed %u (set GW_TEST_SEED to replay)\n", seed);
    static const int batches[] = {5000, 300, 2000, 900, 7000, 1500, 50};
    char yaml[2048];
    snprintf(yaml, sizeof(yaml), "%sconsumer:\n  batch_max_messages: %d\n", tev_config_yaml,
             batches[0]);
    gwh_write_config(&h, yaml);
    gwh_daemon_start(&h);
    int redis_kills = 0, daemon_kills = 0;
    int64_t t0 = gwh_now_ms();
    for (int k = 0; k < KILLS; k++) {
        tev_stream_t slice = {s.ev + n * (size_t)k / KILLS,
                              n * (size_t)(k + 1) / KILLS - n * (size_t)k / KILLS};
        tev_produce(&h, &slice, "sales.events");
        gwh_sleep_ms(rand() % 1500);
        assert_true(gwh_daemon_alive(&h));
        int64_t progress = gwh_positions_sum(&h, "sales.events");
        assert_int_equal(gwh_daemon_stop(&h, SIGKILL), 128 + SIGKILL);
        daemon_kills++;
        if (k == 6 || k == 13) {
            gwh_redis_kill(&h);
            gwh_redis_restart(&h);
            redis_kills++;
        }
        fprintf(stderr, "kill %d: slice %d produced, positions %lld%s\n", k + 1, k + 1,
                (long long)progress, (k == 6 || k == 13) ? ", redis killed and restarted" : "");
        snprintf(yaml, sizeof(yaml), "%sconsumer:\n  batch_max_messages: %d\n", tev_config_yaml,
                 batches[(k + 1) % 7]);
        gwh_write_config(&h, yaml);
        gwh_daemon_start(&h);
    }
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    bool done = gwh_wait_consumed(&h, rk, "sales.events", 12, 120000);
    rd_kafka_destroy(rk);
    if (!done)
        gwh_dump_daemon_log(&h, 60);
    assert_true(done);
    tev_stats_t st;
    size_t mismatches = tev_compare(&h, &s, true, &st);
    if (mismatches)
        gwh_dump_daemon_log(&h, 60);
    fprintf(stderr,
            "survived %d gapwatchd SIGKILLs and %d redis SIGKILLs in %lld s; %zu fields compared, "
            "%zu mismatches; data loss reported %d times\n",
            daemon_kills, redis_kills, (long long)((gwh_now_ms() - t0) / 1000), st.fields,
            mismatches, gwh_daemon_log_count(&h, "redis lost gapwatch's data"));
    assert_int_equal(mismatches, 0);
    assert_int_equal(gwh_daemon_log_count(&h, "redis lost gapwatch's data"), 0);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    tev_free(&s);
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_exact_after_twenty_sigkills_on_a_live_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
