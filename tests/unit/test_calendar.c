/* Calendar arithmetic: time zones and DST, working days, holidays, time
 * off, proration and periods, with worked examples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gw_calendar.h"

#define H 3600000LL
#define D 86400000LL

/* UTC ms of a civil date and hour (UTC). */
static int64_t utc(int y, int m, int d, int hour)
{
    return gw_days_from_civil(y, m, d) * D + hour * H;
}

static int64_t day_of(int y, int m, int d)
{
    return gw_days_from_civil(y, m, d);
}

static void zone(gw_calendar_t *c, const char *name)
{
    char err[256];
    gw_calendar_init_utc(c);
    c->workdays = GW_CAL_MON_FRI;
    assert_int_equal(gw_calendar_set_zone(c, name, err, sizeof(err)), 0);
}

static void test_civil_dates_round_trip_and_weekdays(void **state)
{
    (void)state;
    assert_int_equal(gw_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(gw_weekday(0), 3); /* Thursday */
    assert_int_equal(gw_weekday(day_of(2026, 12, 3)), 3);
    assert_int_equal(gw_weekday(day_of(2026, 11, 30)), 0); /* Monday */
    int64_t z;
    assert_int_equal(gw_date_parse("2024-02-29", &z), 0);
    char buf[16];
    gw_date_format(z, buf, sizeof(buf));
    assert_string_equal(buf, "2024-02-29");
    assert_int_equal(gw_date_parse("2026-02-29", &z), -1);
    assert_int_equal(gw_date_parse("2026-13-01", &z), -1);
    assert_int_equal(gw_date_parse("26-12-01", &z), -1);
    assert_int_equal(gw_date_parse("2026-12-1x", &z), -1);
}

static void test_berlin_spring_forward_day_is_23_hours(void **state)
{
    (void)state;
    gw_calendar_t c;
    zone(&c, "Europe/Berlin");
    /* 2026-03-29: CET (+1) until 01:00 UTC, then CEST (+2). */
    assert_int_equal(gw_calendar_offset(&c, utc(2026, 3, 29, 0)), 1 * H);
    assert_int_equal(gw_calendar_offset(&c, utc(2026, 3, 29, 1)), 2 * H);
    int64_t d = day_of(2026, 3, 29);
    assert_int_equal(gw_calendar_day_start(&c, d), utc(2026, 3, 28, 23));
    assert_int_equal(gw_calendar_day_start(&c, d + 1), utc(2026, 3, 29, 22));
    /* 23:30 local on the 29th is 21:30 UTC: still the 29th */
    assert_int_equal(gw_calendar_day(&c, utc(2026, 3, 29, 21) + H / 2), d);
    assert_int_equal(gw_calendar_day(&c, utc(2026, 3, 29, 22)), d + 1);
}

static void test_berlin_fall_back_day_is_25_hours(void **state)
{
    (void)state;
    gw_calendar_t c;
    zone(&c, "Europe/Berlin");
    int64_t d = day_of(2026, 10, 25);
    assert_int_equal(gw_calendar_day_start(&c, d), utc(2026, 10, 24, 22));
    assert_int_equal(gw_calendar_day_start(&c, d + 1), utc(2026, 10, 25, 23));
}

static void test_new_york_offsets(void **state)
{
    (void)state;
    gw_calendar_t c;
    zone(&c, "America/New_York");
    assert_int_equal(gw_calendar_offset(&c, utc(2026, 1, 15, 12)), -5 * H);
    assert_int_equal(gw_calendar_offset(&c, utc(2026, 7, 15, 12)), -4 * H);
    /* 2026-03-08 07:00 UTC is 03:00 EDT */
    assert_int_equal(gw_calendar_offset(&c, utc(2026, 3, 8, 6)), -5 * H);
    assert_int_equal(gw_calendar_offset(&c, utc(2026, 3, 8, 7)), -4 * H);
    /* Thursday 2026-12-03 03:00 UTC is still Wednesday in New York */
    assert_int_equal(gw_calendar_day(&c, utc(2026, 12, 3, 3)), day_of(2026, 12, 2));
}

/* Every day of three years in zones with and without DST, including one
 * whose change skips midnight: a day starts where the previous ends. */
static void test_day_starts_are_consistent_in_many_zones(void **state)
{
    (void)state;
    const char *zones[] = {"UTC",          "Europe/Berlin",    "America/New_York",
                           "Asia/Kolkata", "America/Santiago", "Australia/Lord_Howe",
                           "Pacific/Apia", "Asia/Tehran"};
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        gw_calendar_t c;
        zone(&c, zones[z]);
        for (int64_t d = day_of(2024, 1, 1); d < day_of(2027, 1, 1); d++) {
            int64_t s = gw_calendar_day_start(&c, d), e = gw_calendar_day_start(&c, d + 1);
            assert_true(e - s >= 22 * H && e - s <= 26 * H);
            assert_int_equal(gw_calendar_day(&c, s), d);
            assert_int_equal(gw_calendar_day(&c, s - 1), d - 1);
        }
    }
}

static void test_unknown_zone_is_refused(void **state)
{
    (void)state;
    gw_calendar_t c;
    char err[256];
    gw_calendar_init_utc(&c);
    assert_int_equal(gw_calendar_set_zone(&c, "Mars/Olympus_Mons", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown time zone \"Mars/Olympus_Mons\""));
}

/* A Berlin work week that contains the spring change: still 5 working days,
 * and 5 days of a rolling 7-day window ending at local midnight. */
static void test_week_with_dst_change_has_five_working_days(void **state)
{
    (void)state;
    gw_calendar_t c;
    zone(&c, "Europe/Berlin");
    double nominal, avail;
    int64_t mon = gw_calendar_day_start(&c, day_of(2026, 3, 23));
    int64_t next_mon = gw_calendar_day_start(&c, day_of(2026, 3, 30));
    gw_calendar_share(&c, mon, next_mon, NULL, &nominal, &avail);
    assert_float_equal(nominal, 5.0, 1e-9);
    assert_float_equal(avail, 5.0, 1e-9);
    /* a 7 x 24 h window ending at that local midnight starts on Sunday
     * 23:00 local (one hour of a non-working day) */
    gw_calendar_share(&c, next_mon - 7 * D, next_mon, NULL, &nominal, &avail);
    assert_float_equal(nominal, 5.0, 1e-9);
    /* half of Monday (00:00-12:00 local) */
    gw_calendar_share(&c, mon, mon + 12 * H, NULL, &nominal, &avail);
    assert_float_equal(nominal, 0.5, 1e-9);
}

static void test_holidays_and_time_off_reduce_available_days(void **state)
{
    (void)state;
    gw_calendar_t c;
    zone(&c, "America/New_York");
    /* Thanksgiving 2026-11-26 and the day after */
    c.holidays[0] = (gw_day_range_t){day_of(2026, 11, 26), day_of(2026, 11, 27)};
    c.nholidays = 1;
    assert_true(gw_calendar_is_holiday(&c, day_of(2026, 11, 27)));
    assert_false(gw_calendar_is_working(&c, day_of(2026, 11, 26)));
    assert_true(gw_calendar_is_working(&c, day_of(2026, 11, 25)));
    assert_false(gw_calendar_is_working(&c, day_of(2026, 11, 28))); /* Saturday */
    int64_t mon = gw_calendar_day_start(&c, day_of(2026, 11, 23));
    int64_t next = gw_calendar_day_start(&c, day_of(2026, 11, 30));
    double nominal, avail;
    gw_calendar_share(&c, mon, next, NULL, &nominal, &avail);
    assert_float_equal(nominal, 5.0, 1e-9);
    assert_float_equal(avail, 3.0, 1e-9);
    /* time off Tuesday, entered twice and overlapping: one day */
    gw_availability_t a = {.joined_ms = -1, .left_ms = -1, .noff = 2};
    a.off[0] = (gw_interval_t){gw_calendar_day_start(&c, day_of(2026, 11, 24)),
                               gw_calendar_day_start(&c, day_of(2026, 11, 25))};
    a.off[1] = (gw_interval_t){a.off[0].from_ms + 2 * H, a.off[0].to_ms};
    gw_availability_normalize(&a);
    assert_int_equal(a.noff, 1);
    gw_calendar_share(&c, mon, next, &a, &nominal, &avail);
    assert_float_equal(avail, 2.0, 1e-9);
    assert_true(gw_availability_away(&a, a.off[0].from_ms + H));
    assert_false(gw_availability_away(&a, a.off[0].to_ms));
}

static void test_joining_and_leaving_bound_availability(void **state)
{
    (void)state;
    gw_calendar_t c;
    zone(&c, "Europe/Berlin");
    int64_t mon = gw_calendar_day_start(&c, day_of(2026, 11, 30));
    gw_availability_t a = {.joined_ms = gw_calendar_day_start(&c, day_of(2026, 12, 2)),
                           .left_ms = gw_calendar_day_start(&c, day_of(2026, 12, 4))};
    double nominal, avail;
    gw_calendar_share(&c, mon, mon + 7 * D, &a, &nominal, &avail);
    assert_float_equal(nominal, 5.0, 1e-9);
    assert_float_equal(avail, 2.0, 1e-9); /* Wednesday and Thursday */
    assert_true(gw_availability_away(&a, mon));
    assert_true(gw_availability_away(&a, a.left_ms));
    assert_false(gw_availability_away(&a, a.joined_ms));
}

static void test_periods_weeks_months_fiscal_quarters(void **state)
{
    (void)state;
    gw_calendar_t c;
    zone(&c, "America/New_York");
    int64_t t = utc(2026, 12, 3, 15), s, e;
    char id[GW_CAL_PERIOD_ID_MAX];
    gw_calendar_period(&c, GW_PERIOD_WEEK, t, &s, &e, id, sizeof(id));
    assert_string_equal(id, "week:2026-11-30");
    assert_int_equal(s, utc(2026, 11, 30, 5)); /* midnight EST */
    assert_int_equal(e, utc(2026, 12, 7, 5));
    c.week_start = 6; /* weeks start on Sunday */
    gw_calendar_period(&c, GW_PERIOD_WEEK, t, &s, &e, id, sizeof(id));
    assert_string_equal(id, "week:2026-11-29");
    gw_calendar_period(&c, GW_PERIOD_MONTH, t, &s, &e, id, sizeof(id));
    assert_string_equal(id, "month:2026-12");
    assert_int_equal(s, utc(2026, 12, 1, 5));
    assert_int_equal(e, utc(2027, 1, 1, 5));
    /* November starts in EDT and ends in EST: 30 days and one hour */
    gw_calendar_period(&c, GW_PERIOD_MONTH, utc(2026, 11, 10, 12), &s, &e, id, sizeof(id));
    assert_int_equal(e - s, 30 * D + H);
    gw_calendar_period(&c, GW_PERIOD_QUARTER, t, &s, &e, id, sizeof(id));
    assert_string_equal(id, "quarter:FY2026-Q4");
    assert_int_equal(s, utc(2026, 10, 1, 4)); /* midnight EDT */
    c.fiscal_start_month = 2;                 /* FY2027 runs Feb 2026 - Jan 2027 */
    gw_calendar_period(&c, GW_PERIOD_QUARTER, t, &s, &e, id, sizeof(id));
    assert_string_equal(id, "quarter:FY2027-Q4");
    assert_int_equal(s, utc(2026, 11, 1, 4));
    assert_int_equal(e, utc(2027, 2, 1, 5));
    c.fiscal_start_month = 7;
    gw_calendar_period(&c, GW_PERIOD_QUARTER, utc(2027, 1, 10, 12), &s, &e, id, sizeof(id));
    assert_string_equal(id, "quarter:FY2027-Q3");
    assert_int_equal(s, utc(2027, 1, 1, 5));
    assert_int_equal(e, utc(2027, 4, 1, 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil_dates_round_trip_and_weekdays),
        cmocka_unit_test(test_berlin_spring_forward_day_is_23_hours),
        cmocka_unit_test(test_berlin_fall_back_day_is_25_hours),
        cmocka_unit_test(test_new_york_offsets),
        cmocka_unit_test(test_day_starts_are_consistent_in_many_zones),
        cmocka_unit_test(test_unknown_zone_is_refused),
        cmocka_unit_test(test_week_with_dst_change_has_five_working_days),
        cmocka_unit_test(test_holidays_and_time_off_reduce_available_days),
        cmocka_unit_test(test_joining_and_leaving_bound_availability),
        cmocka_unit_test(test_periods_weeks_months_fiscal_quarters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
