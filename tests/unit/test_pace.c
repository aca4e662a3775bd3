/* Period pace, projection and plan: worked examples. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gw_pace.h"
#include "gw_stats.h"

static gw_playbook_t book(void)
{
    gw_playbook_t pb = {0};
    pb.confidence = 0.95;
    pb.tolerance = 0.1;
    pb.volume_spread = 0.15;
    pb.pace_min_elapsed = 0.2;
    return pb;
}

/* A month of 21 working days, objective 63 meetings, 10 days gone: on
 * pace is 30 by now. Half pace (15) is behind beyond chance; the plan is
 * the 48 missing meetings over 11 days at one meeting per 5 dials. */
static void test_half_pace_in_week_two_is_behind_with_a_plan(void **state)
{
    (void)state;
    gw_playbook_t pb = book();
    gw_pace_input_t in = {.target = 63,
                          .ramp_factor = 1,
                          .nominal_days = 21,
                          .available_days = 21,
                          .elapsed_days = 10,
                          .result = 15,
                          .unit = 1,
                          .team_conversion = 0.2,
                          .rep_conversion = 0.25};
    gw_pace_t p;
    gw_pace_evaluate(&pb, &in, &p);
    assert_true(p.judged);
    assert_float_equal(p.objective, 63, 1e-9);
    assert_float_equal(p.objective_to_date, 30, 1e-9);
    assert_float_equal(p.projected, 31.5, 1e-9);
    assert_float_equal(p.remaining_days, 11, 1e-9);
    assert_float_equal(p.plan_team, 48 / 0.2 / 11, 1e-9); /* 21.8 dials a day */
    assert_float_equal(p.plan_rep, 48 / 0.25 / 11, 1e-9);
    assert_float_equal(p.p, gw_stats_negbin_cdf(15, 30, 0.0225), 1e-12);
    assert_true(p.p < 0.05);
    assert_true(p.behind);
    assert_false(p.cleared);
}

static void test_a_slow_start_within_noise_is_not_behind(void **state)
{
    (void)state;
    gw_playbook_t pb = book();
    gw_pace_input_t in = {.target = 63,
                          .nominal_days = 21,
                          .available_days = 21,
                          .elapsed_days = 10,
                          .result = 26,
                          .team_conversion = 0.2};
    gw_pace_t p;
    gw_pace_evaluate(&pb, &in, &p);
    assert_true(p.judged);
    assert_false(p.behind);  /* 26 of 30 due: chance */
    assert_false(p.cleared); /* ... but not back within the tolerance: an alert stays */
    in.result = 28;
    gw_pace_evaluate(&pb, &in, &p);
    assert_true(p.cleared); /* 28 >= 30 less the tolerance */
}

static void test_outcomes_first_and_too_early_or_late(void **state)
{
    (void)state;
    gw_playbook_t pb = book();
    gw_pace_t p;
    /* already at the objective on day 3 */
    gw_pace_input_t met = {
        .target = 10, .nominal_days = 21, .available_days = 21, .elapsed_days = 3, .result = 10};
    gw_pace_evaluate(&pb, &met, &p);
    assert_false(p.behind);
    assert_true(p.cleared);
    assert_true(isnan(p.plan_team));
    /* day 2 of 21: too early to say (20% of the days) */
    gw_pace_input_t early = {
        .target = 63, .nominal_days = 21, .available_days = 21, .elapsed_days = 2, .result = 0};
    gw_pace_evaluate(&pb, &early, &p);
    assert_false(p.judged);
    assert_false(p.behind);
    /* the last day: too late to act */
    gw_pace_input_t late = {
        .target = 63, .nominal_days = 21, .available_days = 21, .elapsed_days = 20.5, .result = 5};
    gw_pace_evaluate(&pb, &late, &p);
    assert_false(p.judged);
}

/* A week of vacation in the month: the objective is prorated to the 16
 * available days, and pace is measured on available days. */
static void test_time_off_prorates_the_period(void **state)
{
    (void)state;
    gw_playbook_t pb = book();
    gw_pace_input_t in = {.target = 63,
                          .ramp_factor = 1,
                          .nominal_days = 21,
                          .available_days = 16,
                          .elapsed_days = 8,
                          .result = 24};
    gw_pace_t p;
    gw_pace_evaluate(&pb, &in, &p);
    assert_float_equal(p.objective, 48, 1e-9);
    assert_float_equal(p.objective_to_date, 24, 1e-9);
    assert_false(p.behind);
    /* away the whole period: nothing to judge */
    in.available_days = 0;
    gw_pace_evaluate(&pb, &in, &p);
    assert_true(isnan(p.objective));
    assert_false(p.behind);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_pace_in_week_two_is_behind_with_a_plan),
        cmocka_unit_test(test_a_slow_start_within_noise_is_not_behind),
        cmocka_unit_test(test_outcomes_first_and_too_early_or_late),
        cmocka_unit_test(test_time_off_prorates_the_period),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
