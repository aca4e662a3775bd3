/* The batch coalescer: one delta per rep and per team, late decisions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gw_coalesce.h"

#define H 3600000LL
#define D 86400000LL

static gw_window_t windows[2];
static gw_kinds_t kinds;

static int setup(void **state)
{
    (void)state;
    char err[128];
    gw_window_init(&windows[0], "1d", D, H, 0, err, sizeof(err));
    gw_window_init(&windows[1], "7d", 7 * D, D, 0, err, sizeof(err));
    kinds.ncustom = 0;
    return 0;
}

static gw_event_t event(const char *rep, const char *team, int64_t t, int kind)
{
    gw_event_t e;
    memset(&e, 0, sizeof(e));
    strcpy(e.tenant, "acme");
    strcpy(e.rep, rep);
    strcpy(e.team, team);
    strcpy(e.event_id, "x");
    e.occurred_at_ms = t;
    e.kind = kind;
    return e;
}

static int64_t cell_sum(const gw_coalesce_t *c, const gw_delta_t *d, int w, int metric)
{
    int64_t sum = 0;
    for (int32_t i = d->cells[w]; i >= 0; i = gw_coalesce_cell(c, i)->next)
        if (gw_coalesce_cell(c, i)->metric == metric)
            sum += gw_coalesce_cell(c, i)->value;
    return sum;
}

static void test_coalesce_folds_events_per_rep_and_team(void **state)
{
    (void)state;
    gw_coalesce_t *c = gw_coalesce_new(windows, 2, &kinds);
    int64_t t = 100 * D;
    gw_event_t a = event("r1", "east", t, 1); /* DIAL */
    a.has_goal = true;
    gw_event_t b = event("r1", "east", t + H, 9); /* MEETING_BOOKED */
    b.amount_minor = 0;
    gw_event_t d = event("r2", "east", t + 2 * H, 11); /* DEAL_WON */
    d.amount_minor = 500;
    assert_int_equal(gw_coalesce_add(c, &a, 3, 10, t), 0);
    assert_int_equal(gw_coalesce_add(c, &b, 3, 11, t + H), 0);
    assert_int_equal(gw_coalesce_add(c, &d, 5, 7, t + 2 * H), 0);
    assert_int_equal(gw_coalesce_count(c), 3); /* r1, r2, team east */
    int r1 = gw_coalesce_find(c, GW_ENTITY_REP, "acme", "r1");
    int team = gw_coalesce_find(c, GW_ENTITY_TEAM, "acme", "east");
    assert_true(r1 >= 0 && team >= 0);
    assert_int_equal(gw_coalesce_find(c, GW_ENTITY_REP, "acme", "east"), -1);
    const gw_delta_t *dr = gw_coalesce_delta(c, (size_t)r1);
    assert_int_equal(dr->nevents, 2);
    assert_string_equal(dr->team, "east");
    assert_int_equal(dr->first_event_ms, t);
    assert_int_equal(dr->wm_ms, t + H);
    assert_int_equal(cell_sum(c, dr, 0, gw_metric_count(1)), 1);
    assert_int_equal(cell_sum(c, dr, 0, gw_metric_count(9)), 1);
    /* derived metrics are not written */
    assert_int_equal(cell_sum(c, dr, 0, GW_METRIC_EVENTS), 0);
    assert_int_equal(cell_sum(c, dr, 0, GW_METRIC_ACTIVITIES), 0);
    assert_int_equal(cell_sum(c, dr, 0, GW_METRIC_WITH_GOAL), 1);
    assert_int_equal(cell_sum(c, dr, 1, gw_metric_count(9)), 1);
    const gw_delta_t *dt = gw_coalesce_delta(c, (size_t)team);
    assert_int_equal(dt->nevents, 3);
    assert_null(dt->team);
    assert_int_equal(cell_sum(c, dt, 1, gw_metric_amount(11)), 500);
    /* The team's delta covers two partitions with their offset ranges. */
    int parts = 0;
    for (int32_t p = dt->parts; p >= 0; p = gw_coalesce_part(c, p)->next) {
        const gw_delta_part_t *part = gw_coalesce_part(c, p);
        if (part->partition == 3) {
            assert_int_equal(part->min_offset, 10);
            assert_int_equal(part->max_offset, 11);
        } else {
            assert_int_equal(part->partition, 5);
            assert_int_equal(part->min_offset, 7);
        }
        parts++;
    }
    assert_int_equal(parts, 2);
    /* The same bucket and metric is one cell, not one per event. */
    gw_coalesce_reset(c);
    for (int i = 0; i < 100; i++) {
        gw_event_t e = event("r1", "east", t + i, 1);
        gw_coalesce_add(c, &e, 0, i, t + i);
    }
    const gw_delta_t *rep =
        gw_coalesce_delta(c, (size_t)gw_coalesce_find(c, GW_ENTITY_REP, "acme", "r1"));
    int cells = 0;
    for (int32_t i = rep->cells[0]; i >= 0; i = gw_coalesce_cell(c, i)->next)
        cells++;
    assert_int_equal(cells, 1); /* DIAL */
    assert_int_equal(cell_sum(c, rep, 0, gw_metric_count(1)), 100);
    gw_coalesce_free(c);
}

static void test_coalesce_counts_late_events_per_window(void **state)
{
    (void)state;
    gw_coalesce_t *c = gw_coalesce_new(windows, 2, &kinds);
    int64_t stream = 100 * D;
    gw_event_t e = event("r1", "east", stream - 3 * D, 1); /* late for 1d, fine for 7d */
    assert_int_equal(gw_coalesce_add(c, &e, 0, 1, stream), 0);
    const gw_delta_t *d = gw_coalesce_delta(c, 0);
    assert_int_equal(d->late[0], 1);
    assert_int_equal(d->late[1], 0);
    assert_int_equal(d->cells[0], -1);
    assert_int_equal(cell_sum(c, d, 1, gw_metric_count(1)), 1);
    assert_int_equal(gw_coalesce_late(c, 0), 1);
    assert_int_equal(gw_coalesce_late(c, 1), 0);
    gw_coalesce_free(c);
}

static void test_coalesce_add_one_touches_only_that_entity(void **state)
{
    (void)state;
    gw_coalesce_t *c = gw_coalesce_new(windows, 2, &kinds);
    gw_event_t e = event("r1", "east", 100 * D, 1);
    assert_int_equal(gw_coalesce_add_one(c, &e, GW_ENTITY_TEAM, 0, 1, 100 * D), 0);
    assert_int_equal(gw_coalesce_count(c), 1);
    assert_int_equal(gw_coalesce_delta(c, 0)->kind, GW_ENTITY_TEAM);
    gw_coalesce_free(c);
}

static void test_coalesce_grows_and_shrinks_its_tables(void **state)
{
    (void)state;
    gw_coalesce_t *c = gw_coalesce_new(windows, 2, &kinds);
    char rep[16];
    for (int i = 0; i < 5000; i++) {
        snprintf(rep, sizeof(rep), "r%d", i);
        gw_event_t e = event(rep, "east", 100 * D + i * 1000, 1 + i % 12);
        assert_int_equal(gw_coalesce_add(c, &e, i % 12, i, 100 * D + i * 1000), 0);
    }
    assert_int_equal(gw_coalesce_count(c), 5001);
    assert_int_equal(gw_coalesce_events(c), 5000);
    for (int i = 0; i < 5000; i += 499) {
        snprintf(rep, sizeof(rep), "r%d", i);
        int idx = gw_coalesce_find(c, GW_ENTITY_REP, "acme", rep);
        assert_true(idx >= 0);
        assert_int_equal(
            cell_sum(c, gw_coalesce_delta(c, (size_t)idx), 0, gw_metric_count(1 + i % 12)), 1);
    }
    const gw_delta_t *team =
        gw_coalesce_delta(c, (size_t)gw_coalesce_find(c, GW_ENTITY_TEAM, "acme", "east"));
    int64_t all = 0;
    for (int k = 1; k <= 12; k++)
        all += cell_sum(c, team, 1, gw_metric_count(k));
    assert_int_equal(all, 5000);
    /* A small batch after the big one (its tables are given back): still
     * one delta per entity, and every event counted once. */
    for (int round = 0; round < 3; round++) {
        gw_coalesce_reset(c);
        for (int i = 0; i < 30; i++) {
            snprintf(rep, sizeof(rep), "r%d", i % 7);
            gw_event_t e = event(rep, "east", 100 * D, 1);
            assert_int_equal(gw_coalesce_add(c, &e, 0, i, 100 * D), 0);
        }
        assert_int_equal(gw_coalesce_count(c), 8);
        int idx = gw_coalesce_find(c, GW_ENTITY_REP, "acme", "r0");
        assert_int_equal(cell_sum(c, gw_coalesce_delta(c, (size_t)idx), 0, gw_metric_count(1)), 5);
        team = gw_coalesce_delta(c, (size_t)gw_coalesce_find(c, GW_ENTITY_TEAM, "acme", "east"));
        assert_int_equal(cell_sum(c, team, 0, gw_metric_count(1)), 30);
    }
    gw_coalesce_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coalesce_folds_events_per_rep_and_team),
        cmocka_unit_test(test_coalesce_counts_late_events_per_window),
        cmocka_unit_test(test_coalesce_add_one_touches_only_that_entity),
        cmocka_unit_test(test_coalesce_grows_and_shrinks_its_tables),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
