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
    tev_free(&s);
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_equal_recount_of_200k_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
