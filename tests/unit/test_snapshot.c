/* The public hashes the evaluator writes: the diagnosis and pace snapshots
 * and the export fields, field by field. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gw_config.h"
#include "gw_snapshot.h"

static const char *field(const gw_snapshot_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->fields[i], name))
            return s->values[i];
    return NULL;
}

static gw_config_t *config(void)
{
    char err[1024];
    gw_config_t *cfg = NULL;
    assert_int_equal(gw_config_load_string("playbooks:\n"
                                           "  - name: sdr\n"
                                           "    teams: [\"*\"]\n"
                                           "    funnel:\n"
                                           "      - {name: reach, kinds: [DIAL]}\n"
                                           "      - {name: connect, kinds: [CONVERSATION]}\n"
                                           "      - {name: book, kinds: [MEETING_BOOKED]}\n"
                                           "    objective: {kind: MEETING_BOOKED, per_window: "
                                           "{7d: 9}}\n",
                                           "t.yaml", &cfg, err, sizeof(err)),
                     0);
    return cfg;
}

static gw_diagnosis_t diagnosis(void)
{
    gw_diagnosis_t d;
    memset(&d, 0, sizeof(d));
    d.kind = GW_DIAG_EFFECTIVENESS;
    d.objective = 9;
    d.result = 3;
    d.attainment = 1.0 / 3;
    d.required_volume = NAN;
    d.reference_volume = NAN;
    d.volume_p = NAN;
    d.goal_share = d.next_step_share = d.pipeline_open = d.team_avg_volume = NAN;
    d.actual_volume = 120;
    d.coverage = 0.6;
    d.away = 0.4;
    d.ramp_factor = 1;
    d.team_size = 12;
    d.weakest = 1;
    d.ntransitions = 2;
    d.tr[1] = (gw_transition_t){.rep_rate = 0.1, .team_rate = NAN, .p = NAN, .judged = true};
    /* every signal: the list must not be cut */
    d.signals = (1u << GW_SIGNAL_COUNT) - 1;
    return d;
}

static void test_diagnosis_snapshot_fields(void **state)
{
    (void)state;
    gw_config_t *cfg = config();
    gw_diagnosis_t d = diagnosis();
    gw_snapshot_meta_t meta = {.team = "north",
                               .evidence_window = "30d",
                               .watermark_ms = 1767225600000,
                               .evaluated_at_ms = 1767225700000,
                               .lost_offsets = 28};
    static gw_snapshot_t s;
    gw_snapshot_diagnosis(&s, &cfg->playbooks[0], &cfg->kinds, &meta, &d);
    assert_string_equal(field(&s, "diagnosis"), "effectiveness_gap");
    assert_string_equal(field(&s, "team"), "north");
    assert_string_equal(field(&s, "watermark_ms"), "1767225600000");
    assert_string_equal(field(&s, "evaluated_at_ms"), "1767225700000");
    assert_string_equal(field(&s, "objective_kind"), "MEETING_BOOKED");
    assert_string_equal(field(&s, "objective_type"), "count");
    assert_string_equal(field(&s, "evidence_window"), "30d");
    assert_string_equal(field(&s, "attainment"), "0.333333");
    assert_string_equal(field(&s, "coverage"), "0.6");
    assert_string_equal(field(&s, "away"), "0.4");
    assert_string_equal(field(&s, "incomplete"), "1");
    assert_string_equal(field(&s, "lost_offsets"), "28");
    assert_string_equal(field(&s, "weakest_stage"), "book");
    assert_string_equal(field(&s, "signals"), "low_quality,pipeline_inflation,gaming,silent,"
                                              "ramping,partial_history,time_off");
    /* unknown values are left out, not written as "nan" */
    assert_null(field(&s, "required_volume"));
    assert_null(field(&s, "volume_p"));
    assert_null(field(&s, "stage.2.team_rate"));
    assert_string_equal(field(&s, "stage.2.rep_rate"), "0.1");
    for (size_t i = 0; i < s.n; i++)
        assert_null(strstr(s.values[i], "nan"));
    gw_config_free(cfg);
}

static void test_pace_snapshot_fields(void **state)
{
    (void)state;
    gw_config_t *cfg = config();
    gw_pace_t p = {.judged = true,
                   .behind = true,
                   .objective = 66,
                   .objective_to_date = 30,
                   .projected = 33,
                   .remaining_days = 12,
                   .p = 0.011,
                   .plan_team = 21.25,
                   .plan_rep = NAN};
    static gw_snapshot_t s;
    gw_snapshot_pace(&s, &cfg->playbooks[0], &p, "month:2026-06", 1780272000000, 1782864000000, 15,
                     1781308799999, 1781308800000);
    assert_string_equal(field(&s, "period"), "month:2026-06");
    assert_string_equal(field(&s, "result"), "15");
    assert_string_equal(field(&s, "objective_to_date"), "30");
    assert_string_equal(field(&s, "behind"), "1");
    assert_string_equal(field(&s, "plan_stage"), "reach");
    assert_string_equal(field(&s, "plan_per_day"), "21.25");
    assert_null(field(&s, "plan_per_day_own_rates"));
    gw_config_free(cfg);
}

static void test_export_fields_and_forgetting(void **state)
{
    (void)state;
    gw_config_t *cfg = config();
    gw_diagnosis_t d = diagnosis();
    static gw_export_t x;
    gw_export_diagnosis(&x, &cfg->playbooks[0], "north", "r07", "7d", &d);
    bool found = false;
    for (size_t i = 0; i < x.n; i++)
        if (!strcmp(x.fields[i], "north|r07|7d|effectiveness_gap")) {
            assert_string_equal(x.values[i], "1");
            found = true;
        }
    assert_true(found);
    /* an unknown value is a deletion, not a number */
    found = false;
    for (size_t i = 0; i < x.ndel; i++)
        found |= !strcmp(x.dels[i], "north|r07|7d|required_volume");
    assert_true(found);
    /* forgetting a rep deletes every field it had */
    gw_export_diagnosis(&x, &cfg->playbooks[0], "north", "r07", "7d", NULL);
    assert_int_equal(x.n, 0);
    assert_true(x.ndel > 10);
    gw_export_pace(&x, "north", "r07", "month", NULL, NAN);
    assert_int_equal(x.n, 0);
    assert_int_equal(x.ndel, 6);
    gw_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diagnosis_snapshot_fields),
        cmocka_unit_test(test_pace_snapshot_fields),
        cmocka_unit_test(test_export_fields_and_forgetting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
