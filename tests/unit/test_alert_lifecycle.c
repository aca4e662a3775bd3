/* The alert lifecycle: fire once, repeat, no flapping, resolve once; ids
 * and summaries. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_alerts.h"
#include "gw_stats.h"

#define MIN 60000LL
#define H   (60 * MIN)

static void test_condition_fires_once_and_repeats_after_interval(void **state)
{
    (void)state;
    gw_alert_policy_t p = {0, 0, 24 * H};
    gw_alert_state_t st = {0};
    assert_int_equal(gw_alert_step(&p, &st, true, false, 0, 1000), GW_SEND_FIRING);
    assert_int_equal(st.seq, 1);
    assert_int_equal(st.starts_at_ms, 1000);
    for (int64_t t = H; t < 24 * H; t += H)
        assert_int_equal(gw_alert_step(&p, &st, true, false, t, 2000), GW_SEND_NONE);
    assert_int_equal(gw_alert_step(&p, &st, true, false, 24 * H, 3000), GW_SEND_FIRING);
    assert_int_equal(st.seq, 2);
    assert_int_equal(st.starts_at_ms, 1000); /* same episode */
    assert_int_equal(st.msgno, 2);
}

static void test_no_alert_while_condition_never_holds(void **state)
{
    (void)state;
    gw_alert_policy_t p = {0, H, 24 * H};
    gw_alert_state_t st = {0};
    for (int64_t t = 0; t < 48 * H; t += H)
        assert_int_equal(gw_alert_step(&p, &st, false, true, t, 0), GW_SEND_NONE);
    assert_int_equal(st.msgno, 0);
}

static void test_rep_near_threshold_does_not_flap(void **state)
{
    (void)state;
    /* Clear must last an hour to resolve: alternating evaluations every
     * 10 minutes never resolve and never fire again. */
    gw_alert_policy_t p = {0, H, 0};
    gw_alert_state_t st = {0};
    assert_int_equal(gw_alert_step(&p, &st, true, false, 0, 0), GW_SEND_FIRING);
    int sent = 0;
    for (int i = 1; i <= 29; i++)
        sent += gw_alert_step(&p, &st, i % 2 == 0, !(i % 2 == 0), i * 10 * MIN, 0) != GW_SEND_NONE;
    assert_int_equal(sent, 0);
    /* the last evaluation (290 min) found it clear: resolving since then */
    assert_int_equal(st.phase, GW_PHASE_RESOLVING);
    assert_int_equal(st.clear_since_wm, 290 * MIN);
    /* Clear for a full hour: exactly one RESOLVED. */
    assert_int_equal(gw_alert_step(&p, &st, false, true, 320 * MIN, 0), GW_SEND_NONE);
    assert_int_equal(gw_alert_step(&p, &st, false, true, 350 * MIN, 0), GW_SEND_RESOLVED);
    assert_int_equal(gw_alert_step(&p, &st, false, true, 410 * MIN, 0), GW_SEND_NONE);
    assert_int_equal(st.phase, GW_PHASE_INACTIVE);
}

static void test_pending_condition_fires_only_after_fire_after(void **state)
{
    (void)state;
    gw_alert_policy_t p = {30 * MIN, 0, 0};
    gw_alert_state_t st = {0};
    assert_int_equal(gw_alert_step(&p, &st, true, false, 0, 0), GW_SEND_NONE);
    assert_int_equal(st.phase, GW_PHASE_PENDING);
    assert_int_equal(gw_alert_step(&p, &st, true, false, 20 * MIN, 0), GW_SEND_NONE);
    /* a blip clears it: nothing was ever sent */
    assert_int_equal(gw_alert_step(&p, &st, false, true, 25 * MIN, 0), GW_SEND_NONE);
    assert_int_equal(st.phase, GW_PHASE_INACTIVE);
    assert_int_equal(gw_alert_step(&p, &st, true, false, 40 * MIN, 0), GW_SEND_NONE);
    assert_int_equal(gw_alert_step(&p, &st, true, false, 70 * MIN, 0), GW_SEND_FIRING);
    /* resolves at once (resolve_after 0), and a new episode starts at seq 1 */
    assert_int_equal(gw_alert_step(&p, &st, false, true, 80 * MIN, 0), GW_SEND_RESOLVED);
    assert_int_equal(st.seq, 2);
    assert_int_equal(gw_alert_step(&p, &st, true, false, 90 * MIN, 0), GW_SEND_NONE);
    assert_int_equal(gw_alert_step(&p, &st, true, false, 120 * MIN, 0), GW_SEND_FIRING);
    assert_int_equal(st.seq, 1);
    assert_int_equal(st.msgno, 3);
}

static void test_alert_id_is_stable_and_distinct(void **state)
{
    (void)state;
    char a[17], b[17], c[17], d[17];
    gw_alert_id(a, "acme", "r1", GW_ALERT_EFFICIENCY, "7d");
    gw_alert_id(b, "acme", "r1", GW_ALERT_EFFICIENCY, "7d");
    gw_alert_id(c, "acme", "r1", GW_ALERT_EFFECTIVENESS, "7d");
    gw_alert_id(d, "acme", "r1", GW_ALERT_EFFICIENCY, "30d");
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_string_not_equal(a, d);
    assert_int_equal(strlen(a), 16);
}

static void test_summary_says_who_what_how_far_and_what_to_coach(void **state)
{
    (void)state;
    gw_playbook_t pb;
    memset(&pb, 0, sizeof(pb));
    pb.name = "sdr";
    pb.nstages = 3;
    strcpy(pb.stages[0].name, "dials");
    strcpy(pb.stages[1].name, "conversations");
    strcpy(pb.stages[2].name, "meetings");
    pb.objective_kind = 9;
    pb.objective_stage = 2;
    gw_kinds_t kinds = {.ncustom = 0};
    gw_diagnosis_t d;
    memset(&d, 0, sizeof(d));
    d.kind = GW_DIAG_EFFICIENCY;
    d.objective = 12;
    d.result = 3;
    d.actual_volume = 180;
    d.required_volume = 420;
    d.weakest = -1;
    gw_alert_t a = {"acme",         "r17", "east", "7d", &pb, &kinds, GW_ALERT_EFFICIENCY,
                    GW_SEND_FIRING, &d,    0,      0,    0,   0,      1};
    char buf[512];
    gw_alert_summary(&a, buf, sizeof(buf));
    assert_string_equal(buf, "r17 booked 3 of 12 meetings in 7d; dials 180 vs 420 needed at the "
                             "team's conversion - efficiency gap");
    d.kind = GW_DIAG_EFFECTIVENESS;
    d.weakest = 1;
    d.tr[1].rep_rate = 0.05;
    d.tr[1].team_rate = 0.2;
    a.kind = GW_ALERT_EFFECTIVENESS;
    gw_alert_summary(&a, buf, sizeof(buf));
    assert_non_null(strstr(buf, "conversations->meetings 5.0% vs 20.0% for the team"));
    assert_non_null(strstr(buf, "effectiveness gap at meetings"));
    a.state = GW_SEND_RESOLVED;
    gw_alert_summary(&a, buf, sizeof(buf));
    assert_string_equal(buf, "r17's effectiveness gap in 7d has cleared: booked 3 of 12 meetings");
    /* the JSON mirror carries the fields */
    a.state = GW_SEND_FIRING;
    d.required_volume = NAN;
    char *json = gw_alert_json(&a);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"kind\":\"EFFECTIVENESS_GAP\""));
    assert_non_null(strstr(json, "\"required_volume\":null"));
    assert_non_null(strstr(json, "\"weakest_stage\":\"meetings\""));
    free(json);
}

static void test_between_firing_and_clear_the_alert_holds(void **state)
{
    (void)state;
    /* Hysteresis: once firing, an evaluation that is neither a significant
     * gap nor clear of it changes nothing, for as long as it lasts. */
    gw_alert_policy_t p = {0, 2 * H, 0};
    gw_alert_state_t st = {0};
    assert_int_equal(gw_alert_step(&p, &st, true, false, 0, 0), GW_SEND_FIRING);
    for (int64_t t = H; t < 72 * H; t += H)
        assert_int_equal(gw_alert_step(&p, &st, false, false, t, 0), GW_SEND_NONE);
    assert_int_equal(st.phase, GW_PHASE_FIRING);
    /* Clear for two hours: RESOLVED once. */
    assert_int_equal(gw_alert_step(&p, &st, false, true, 72 * H, 0), GW_SEND_NONE);
    assert_int_equal(gw_alert_step(&p, &st, false, true, 74 * H, 0), GW_SEND_RESOLVED);
    /* Pending: an evaluation short of significance does not restart the
     * wait, clearing does; it fires once pending fire_after and holding. */
    gw_alert_policy_t slow = {24 * H, 2 * H, 0};
    gw_alert_state_t s2 = {0};
    assert_int_equal(gw_alert_step(&slow, &s2, true, false, 0, 0), GW_SEND_NONE);
    assert_int_equal(gw_alert_step(&slow, &s2, false, false, 12 * H, 0), GW_SEND_NONE);
    assert_int_equal(s2.phase, GW_PHASE_PENDING);
    assert_int_equal(gw_alert_step(&slow, &s2, false, false, 24 * H, 0), GW_SEND_NONE);
    assert_int_equal(gw_alert_step(&slow, &s2, true, false, 25 * H, 0), GW_SEND_FIRING);
    gw_alert_state_t s3 = {0};
    assert_int_equal(gw_alert_step(&slow, &s3, true, false, 0, 0), GW_SEND_NONE);
    assert_int_equal(gw_alert_step(&slow, &s3, false, true, 12 * H, 0), GW_SEND_NONE);
    assert_int_equal(s3.phase, GW_PHASE_INACTIVE);
    assert_int_equal(gw_alert_step(&slow, &s3, true, false, 13 * H, 0), GW_SEND_NONE);
    assert_int_equal(gw_alert_step(&slow, &s3, true, false, 36 * H, 0), GW_SEND_NONE);
    assert_int_equal(gw_alert_step(&slow, &s3, true, false, 37 * H, 0), GW_SEND_FIRING);
}

static void test_firing_again_soon_after_resolving_is_a_flap(void **state)
{
    (void)state;
    gw_alert_policy_t p = {0, 0, 0};
    gw_alert_state_t st = {0};
    assert_int_equal(gw_alert_step(&p, &st, true, false, 0, 0), GW_SEND_FIRING);
    assert_false(st.flapped);
    assert_int_equal(gw_alert_step(&p, &st, false, true, 10 * H, 0), GW_SEND_RESOLVED);
    assert_true(st.resolved_wm == 10 * H);
    assert_int_equal(gw_alert_step(&p, &st, true, false, 20 * H, 0), GW_SEND_FIRING);
    assert_true(st.flapped); /* within 24 h of the RESOLVED */
    assert_int_equal(gw_alert_step(&p, &st, false, true, 30 * H, 0), GW_SEND_RESOLVED);
    assert_int_equal(gw_alert_step(&p, &st, true, false, 60 * H, 0), GW_SEND_FIRING);
    assert_false(st.flapped); /* 30 h later: a new episode, no flap */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_between_firing_and_clear_the_alert_holds),
        cmocka_unit_test(test_firing_again_soon_after_resolving_is_a_flap),
        cmocka_unit_test(test_condition_fires_once_and_repeats_after_interval),
        cmocka_unit_test(test_no_alert_while_condition_never_holds),
        cmocka_unit_test(test_rep_near_threshold_does_not_flap),
        cmocka_unit_test(test_pending_condition_fires_only_after_fire_after),
        cmocka_unit_test(test_alert_id_is_stable_and_distinct),
        cmocka_unit_test(test_summary_says_who_what_how_far_and_what_to_coach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
