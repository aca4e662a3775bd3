/* The diagnosis, on the sales examples of DESIGN.md and the issue. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gw_detector.h"
#include "gw_stats.h"

enum {
    DIAL = 1,
    EMAIL_SENT = 2,
    MEETING_HELD = 4,
    DEMO_GIVEN = 5,
    PROPOSAL_SENT = 6,
    CONVERSATION = 7,
    EMAIL_REPLY = 8,
    MEETING_BOOKED = 9,
    QUALIFIED = 10,
    DEAL_WON = 11,
    DEAL_LOST = 12
};

static int64_t rep[GW_METRIC_MAX], team[GW_METRIC_MAX];

static void reset(void)
{
    memset(rep, 0, sizeof(rep));
    memset(team, 0, sizeof(team));
}

/* Sets a kind's count for the rep and adds it to the team (team totals
 * include the rep, as in Redis). `team_others` is the rest of the team. */
static void count(int kind, int64_t mine, int64_t team_others)
{
    rep[gw_metric_count(kind)] = mine;
    team[gw_metric_count(kind)] = mine + team_others;
    rep[GW_METRIC_EVENTS] += mine;
    team[GW_METRIC_EVENTS] += mine + team_others;
}

static gw_playbook_t playbook(int nstages, const int *stage_kinds, int objective_kind)
{
    gw_playbook_t pb;
    memset(&pb, 0, sizeof(pb));
    pb.name = "test";
    pb.nstages = nstages;
    for (int s = 0; s < nstages; s++) {
        pb.stages[s].kinds[0] = stage_kinds[s];
        pb.stages[s].nkinds = 1;
        strcpy(pb.stages[s].name, s == 0 ? "first" : s == 1 ? "second" : "third");
    }
    pb.objective_type = GW_OBJECTIVE_COUNT;
    pb.objective_kind = objective_kind;
    pb.objective_stage = nstages - 1;
    pb.confidence = 0.95;
    pb.z = gw_stats_z(0.95);
    pb.tolerance = 0.1;
    pb.min_rep_trials = 1;
    pb.min_team_trials = 20;
    pb.quality_min_activities = 20;
    pb.gaming_factor = 3;
    pb.pipeline_inflation = 3;
    return pb;
}

static gw_diagnosis_t run(const gw_playbook_t *pb, double target, int team_size, double ramp)
{
    gw_detector_input_t in = {rep, team, team_size, target, ramp};
    gw_diagnosis_t d;
    gw_detector_evaluate(pb, &in, &d);
    return d;
}

static void test_required_volume_is_objective_over_team_rates(void **state)
{
    (void)state;
    /* A team that closes 50% of proposals needs 8 proposals for 4 deals. */
    reset();
    const int stages[] = {PROPOSAL_SENT, DEAL_WON};
    gw_playbook_t pb = playbook(2, stages, DEAL_WON);
    count(PROPOSAL_SENT, 2, 100);
    count(DEAL_WON, 1, 50);
    gw_diagnosis_t d = run(&pb, 4, 5, 1);
    assert_true(fabs(d.tr[0].team_rate - 0.5) < 1e-12);
    assert_true(fabs(d.required_volume - 8.0) < 1e-9);
    assert_int_equal((int)d.actual_volume, 2);
    assert_int_equal(d.kind, GW_DIAG_EFFICIENCY);
}

static void test_two_of_four_is_not_significantly_below_half(void **state)
{
    (void)state;
    reset();
    const int stages[] = {PROPOSAL_SENT, DEAL_WON};
    gw_playbook_t pb = playbook(2, stages, DEAL_WON);
    count(PROPOSAL_SENT, 4, 100);
    count(DEAL_WON, 2, 50);
    gw_diagnosis_t d = run(&pb, 4, 5, 1);
    assert_true(d.tr[0].judged);
    assert_false(d.tr[0].below);
    assert_true(d.tr[0].rep_hi > 0.5);
    /* Not even 1 of 4 is evidence. */
    rep[gw_metric_count(DEAL_WON)] = 1;
    team[gw_metric_count(DEAL_WON)] = 51;
    d = run(&pb, 4, 5, 1);
    assert_false(d.tr[0].below);
    assert_int_not_equal(d.kind, GW_DIAG_EFFECTIVENESS);
}

static void test_two_percent_vs_ten_percent_over_400_dials_is_significant(void **state)
{
    (void)state;
    reset();
    const int stages[] = {DIAL, MEETING_BOOKED};
    gw_playbook_t pb = playbook(2, stages, MEETING_BOOKED);
    count(DIAL, 400, 4000);
    count(MEETING_BOOKED, 8, 400);
    gw_diagnosis_t d = run(&pb, 30, 11, 1);
    assert_true(d.tr[0].below);
    assert_true(d.tr[0].rep_hi < 0.05);
    assert_int_equal(d.weakest, 0);
    /* 400 dials >= the 300 needed at 10%: effectiveness, not efficiency */
    assert_true(fabs(d.required_volume - 300) < 1e-9);
    assert_int_equal(d.kind, GW_DIAG_EFFECTIVENESS);
}

static void test_meeting_objective_with_half_the_activity_is_healthy(void **state)
{
    (void)state;
    reset();
    const int stages[] = {DIAL, CONVERSATION, MEETING_BOOKED};
    gw_playbook_t pb = playbook(3, stages, MEETING_BOOKED);
    /* team: 10 others doing 400 dials each at 15% x 20% */
    count(DIAL, 200, 4000);
    count(CONVERSATION, 60, 600);
    count(MEETING_BOOKED, 13, 120);
    rep[GW_METRIC_ACTIVITIES] = 200; /* no goals recorded: would be low quality */
    gw_diagnosis_t d = run(&pb, 12, 11, 1);
    assert_int_equal(d.kind, GW_DIAG_HEALTHY);
    assert_int_equal(d.signals, 0);
    assert_true(d.attainment >= 1);
    assert_true(d.actual_volume < d.team_avg_volume);
}

static void test_silent_rep_is_an_efficiency_gap(void **state)
{
    (void)state;
    reset();
    const int stages[] = {DIAL, CONVERSATION, MEETING_BOOKED};
    gw_playbook_t pb = playbook(3, stages, MEETING_BOOKED);
    count(DIAL, 0, 4000);
    count(CONVERSATION, 0, 600);
    count(MEETING_BOOKED, 0, 120);
    gw_diagnosis_t d = run(&pb, 12, 11, 1);
    assert_int_equal(d.kind, GW_DIAG_EFFICIENCY);
    assert_true(d.signals & GW_SIGNAL_SILENT);
    assert_true(fabs(d.required_volume - 400) < 1e-9);
    assert_true(d.actual_volume == 0);
    /* Even with no team baseline at all, silence is an efficiency gap. */
    reset();
    d = run(&pb, 12, 1, 1);
    assert_int_equal(d.kind, GW_DIAG_EFFICIENCY);
    assert_true(isnan(d.required_volume));
}

static void test_too_little_activity_at_team_rates_is_efficiency(void **state)
{
    (void)state;
    reset();
    const int stages[] = {DIAL, CONVERSATION, MEETING_BOOKED};
    gw_playbook_t pb = playbook(3, stages, MEETING_BOOKED);
    pb.min_rep_trials = 20;
    count(DIAL, 150, 4000);
    count(CONVERSATION, 22, 600);
    count(MEETING_BOOKED, 4, 120);
    gw_diagnosis_t d = run(&pb, 12, 11, 1);
    assert_int_equal(d.kind, GW_DIAG_EFFICIENCY);
    assert_false(d.tr[0].below);
    assert_false(d.tr[1].below);
    assert_int_equal(d.weakest, -1);
}

static void test_weak_stage_is_named_and_both_gaps_together(void **state)
{
    (void)state;
    reset();
    const int stages[] = {DIAL, CONVERSATION, MEETING_BOOKED};
    gw_playbook_t pb = playbook(3, stages, MEETING_BOOKED);
    pb.min_rep_trials = 20;
    count(DIAL, 420, 4000);
    count(CONVERSATION, 63, 600);
    count(MEETING_BOOKED, 3, 120); /* 5% vs 20%: weak at booking */
    gw_diagnosis_t d = run(&pb, 12, 11, 1);
    assert_int_equal(d.kind, GW_DIAG_EFFECTIVENESS);
    assert_int_equal(d.weakest, 1);
    assert_false(d.tr[0].below);
    assert_true(d.tr[1].below);
    /* The same conversion with too little volume: both gaps. */
    count(DIAL, 150, 4000);
    count(CONVERSATION, 60, 600);
    count(MEETING_BOOKED, 2, 120);
    d = run(&pb, 12, 11, 1);
    assert_int_equal(d.kind, GW_DIAG_BOTH);
    assert_int_equal(d.weakest, 1);
}

static void test_high_volume_with_collapsing_conversion_looks_like_gaming(void **state)
{
    (void)state;
    reset();
    const int stages[] = {DIAL, CONVERSATION, MEETING_BOOKED};
    gw_playbook_t pb = playbook(3, stages, MEETING_BOOKED);
    count(DIAL, 1300, 4000);
    count(CONVERSATION, 50, 600);
    count(MEETING_BOOKED, 5, 120);
    gw_diagnosis_t d = run(&pb, 12, 11, 1);
    assert_int_equal(d.kind, GW_DIAG_EFFECTIVENESS);
    assert_int_equal(d.weakest, 0);
    assert_true(d.signals & GW_SIGNAL_GAMING);
}

static void test_ramp_scales_the_objective(void **state)
{
    (void)state;
    gw_playbook_t pb;
    memset(&pb, 0, sizeof(pb));
    pb.nramp = 3;
    pb.ramp[0] = 0.25;
    pb.ramp[1] = 0.5;
    pb.ramp[2] = 0.75;
    assert_true(gw_playbook_ramp(&pb, 0) == 0.25);
    assert_true(gw_playbook_ramp(&pb, 2) == 0.75);
    assert_true(gw_playbook_ramp(&pb, 3) == 1.0);
    assert_true(gw_playbook_ramp(&pb, 40) == 1.0);
    reset();
    const int stages[] = {DIAL, MEETING_BOOKED};
    gw_playbook_t p2 = playbook(2, stages, MEETING_BOOKED);
    count(DIAL, 100, 4000);
    count(MEETING_BOOKED, 4, 400);
    /* 4 meetings miss 12, but meet a quarter of it in week one */
    assert_int_equal(run(&p2, 12, 11, 1).kind, GW_DIAG_EFFICIENCY);
    gw_diagnosis_t d = run(&p2, 12, 11, gw_playbook_ramp(&pb, 0));
    assert_int_equal(d.kind, GW_DIAG_HEALTHY);
    assert_true(d.objective == 3);
    assert_true(d.signals & GW_SIGNAL_RAMPING);
}

static void test_small_team_baseline_is_insufficient_data(void **state)
{
    (void)state;
    reset();
    const int stages[] = {DIAL, MEETING_BOOKED};
    gw_playbook_t pb = playbook(2, stages, MEETING_BOOKED);
    count(DIAL, 30, 10); /* the team without the rep: 10 dials */
    count(MEETING_BOOKED, 1, 1);
    gw_diagnosis_t d = run(&pb, 12, 3, 1);
    assert_int_equal(d.kind, GW_DIAG_INSUFFICIENT);
    assert_true(isnan(d.tr[0].team_rate));
}

static void test_low_quality_and_pipeline_inflation_are_reported_beside(void **state)
{
    (void)state;
    reset();
    const int stages[] = {QUALIFIED, DEAL_WON};
    gw_playbook_t pb = playbook(2, stages, DEAL_WON);
    pb.objective_type = GW_OBJECTIVE_AMOUNT;
    pb.quality_min_goal_share = 0.5;
    count(QUALIFIED, 40, 200);
    count(DEAL_WON, 2, 60);
    rep[gw_metric_amount(QUALIFIED)] = 4000000;
    team[gw_metric_amount(QUALIFIED)] = 4000000 + 20000000;
    rep[gw_metric_amount(DEAL_WON)] = 100000;
    team[gw_metric_amount(DEAL_WON)] = 100000 + 6000000;
    rep[GW_METRIC_ACTIVITIES] = 50;
    rep[GW_METRIC_WITH_GOAL] = 5;
    gw_diagnosis_t d = run(&pb, 1000000, 6, 1);
    assert_true(d.kind == GW_DIAG_EFFECTIVENESS || d.kind == GW_DIAG_BOTH);
    assert_true(d.signals & GW_SIGNAL_LOW_QUALITY);
    assert_true(d.signals & GW_SIGNAL_PIPELINE_INFLATION);
    assert_true(d.pipeline_open == 3900000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_required_volume_is_objective_over_team_rates),
        cmocka_unit_test(test_two_of_four_is_not_significantly_below_half),
        cmocka_unit_test(test_two_percent_vs_ten_percent_over_400_dials_is_significant),
        cmocka_unit_test(test_meeting_objective_with_half_the_activity_is_healthy),
        cmocka_unit_test(test_silent_rep_is_an_efficiency_gap),
        cmocka_unit_test(test_too_little_activity_at_team_rates_is_efficiency),
        cmocka_unit_test(test_weak_stage_is_named_and_both_gaps_together),
        cmocka_unit_test(test_high_volume_with_collapsing_conversion_looks_like_gaming),
        cmocka_unit_test(test_ramp_scales_the_objective),
        cmocka_unit_test(test_small_team_baseline_is_insufficient_data),
        cmocka_unit_test(test_low_quality_and_pipeline_inflation_are_reported_beside),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
