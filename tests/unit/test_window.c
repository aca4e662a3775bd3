/* Window and bucket arithmetic, durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gw_window.h"

#define H 3600000LL
#define D 86400000LL

static gw_window_t win(int64_t len, int64_t bucket, int64_t grace)
{
    gw_window_t w;
    char err[128];
    assert_int_equal(gw_window_init(&w, "w", len, bucket, grace, err, sizeof(err)), 0);
    return w;
}

static void test_window_bucket_uses_floor_division(void **state)
{
    (void)state;
    gw_window_t w = win(D, H, 0);
    assert_int_equal(gw_window_bucket(&w, 0), 0);
    assert_int_equal(gw_window_bucket(&w, H - 1), 0);
    assert_int_equal(gw_window_bucket(&w, H), 1);
    assert_int_equal(gw_window_bucket(&w, -1), -1);
    assert_int_equal(gw_floor_div(-7, 2), -4);
    assert_int_equal(gw_floor_div(7, 2), 3);
}

static void test_window_start_covers_n_buckets_ending_at_watermark_minus_grace(void **state)
{
    (void)state;
    gw_window_t w = win(D, H, 15 * 60000);
    int64_t wm = 100 * H + 30 * 60000; /* 100h30m */
    /* wm - grace = 100h15m -> bucket 100; 24 buckets end there: 77..100 */
    assert_int_equal(gw_window_start(&w, wm), 77);
    /* 10 minutes into the hour, grace pulls the end back to bucket 99 */
    assert_int_equal(gw_window_start(&w, 100 * H + 10 * 60000), 76);
}

static void test_window_drops_event_older_than_grace(void **state)
{
    (void)state;
    gw_window_t w = win(7 * D, 6 * H, H);
    int64_t stream = 1000 * D;
    /* an event inside the window is not late */
    assert_false(gw_window_is_late(&w, stream - 3 * D, stream));
    /* stream - grace lies in the bucket starting at stream - 6h, so the 28
     * buckets of the window start exactly 7 days before stream */
    assert_int_equal(gw_window_start(&w, stream) * 6 * H, stream - 7 * D);
    assert_false(gw_window_is_late(&w, stream - 7 * D, stream));
    /* one millisecond earlier is in the bucket that has left: late */
    assert_true(gw_window_is_late(&w, stream - 7 * D - 1, stream));
    /* grace delays the slide: the next bucket leaves only when the stream
     * time passes its end by the grace */
    assert_false(gw_window_is_late(&w, stream - 7 * D, stream + H - 1));
    assert_true(gw_window_is_late(&w, stream - 7 * D, stream + H));
    /* an event newer than the stream time is never late */
    assert_false(gw_window_is_late(&w, stream + H, stream));
}

static void test_window_init_rejects_bad_combinations(void **state)
{
    (void)state;
    gw_window_t w;
    char err[128];
    assert_int_equal(gw_window_init(&w, "7d", 7 * D, 5 * H, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "whole number of buckets"));
    assert_int_equal(gw_window_init(&w, "x y", D, H, 0, err, sizeof(err)), -1);
    assert_int_equal(gw_window_init(&w, "big", 2000 * H, H, 0, err, sizeof(err)), -1);
    assert_int_equal(gw_window_init(&w, "g", D, H, 2 * D, err, sizeof(err)), -1);
    assert_int_equal(gw_window_init(&w, "ok", D, H, H, err, sizeof(err)), 0);
    assert_int_equal(w.nbuckets, 24);
}

static void test_duration_parse_accepts_units_and_sums(void **state)
{
    (void)state;
    int64_t ms;
    char err[128];
    assert_int_equal(gw_duration_parse("500ms", &ms, err, sizeof(err)), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(gw_duration_parse("1h30m", &ms, err, sizeof(err)), 0);
    assert_int_equal(ms, 90 * 60000);
    assert_int_equal(gw_duration_parse("7d", &ms, err, sizeof(err)), 0);
    assert_int_equal(ms, 7 * D);
    assert_int_equal(gw_duration_parse("2w", &ms, err, sizeof(err)), 0);
    assert_int_equal(ms, 14 * D);
    assert_int_equal(gw_duration_parse("10", &ms, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "needs a unit"));
    assert_int_equal(gw_duration_parse("ten minutes", &ms, err, sizeof(err)), -1);
    assert_int_equal(gw_duration_parse("", &ms, err, sizeof(err)), -1);
    char buf[32];
    gw_duration_format(90 * 60000, buf, sizeof(buf));
    assert_string_equal(buf, "90m");
    gw_duration_format(7 * D, buf, sizeof(buf));
    assert_string_equal(buf, "1w");
}

/* The evaluation watermark over partition states (README "Evaluation"). */
static void test_watermark_rules(void **state)
{
    (void)state;
    const int64_t now = 1000 * D, idle = 30000;
    /* nothing assigned: unchanged */
    gw_partition_time_t none[2] = {{false, 0, 5 * H}, {false, 1, 9 * H}};
    assert_int_equal(gw_watermark(none, 2, 42, now, idle), 42);
    /* a partition with messages left holds it back to its stream time */
    gw_partition_time_t behind[3] = {{true, 0, 5 * H}, {true, now - 1000, 9 * H}, {true, 0, 7 * H}};
    assert_int_equal(gw_watermark(behind, 3, -1, now, idle), 5 * H);
    /* ... never backwards */
    assert_int_equal(gw_watermark(behind, 3, 6 * H, now, idle), 6 * H);
    /* ... and an unknown stream time there keeps the old watermark */
    gw_partition_time_t unknown[2] = {{true, 0, -1}, {true, now - 1000, 9 * H}};
    assert_int_equal(gw_watermark(unknown, 2, 3 * H, now, idle), 3 * H);
    /* all read: the newest stream time ... */
    gw_partition_time_t read[2] = {{true, now - 1000, 5 * H}, {true, now - 2000, 9 * H}};
    assert_int_equal(gw_watermark(read, 2, -1, now, idle), 9 * H);
    /* ... advancing with the clock once the last caught up idle_after ago */
    gw_partition_time_t quiet[2] = {{true, now - 60000, 5 * H}, {true, now - 40000, 9 * H}};
    assert_int_equal(gw_watermark(quiet, 2, -1, now, idle), 9 * H + 40000);
    /* an unassigned partition does not count */
    gw_partition_time_t mixed[2] = {{false, 0, 1 * H}, {true, now - 1000, 9 * H}};
    assert_int_equal(gw_watermark(mixed, 2, -1, now, idle), 9 * H);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_bucket_uses_floor_division),
        cmocka_unit_test(test_window_start_covers_n_buckets_ending_at_watermark_minus_grace),
        cmocka_unit_test(test_window_drops_event_older_than_grace),
        cmocka_unit_test(test_window_init_rejects_bad_combinations),
        cmocka_unit_test(test_duration_parse_accepts_units_and_sums),
        cmocka_unit_test(test_watermark_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
