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
    /* goals and next steps are counted per kind (the playbook says which
     * kinds it inspects); with_goal is derived like events */
    assert_int_equal(cell_sum(c, dr, 0, GW_METRIC_WITH_GOAL), 0);
    assert_int_equal(cell_sum(c, dr, 0, gw_metric_goal(1)), 1);
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

/* The recount: random events (50 reps in 5 teams, every kind, goals, next
 * steps and amounts, a month of event time so that entities have many
 * cells and their tables grow, some events late) against a brute-force
 * count of each entity's cells. Three batches on one coalescer, so tables
 * freed by growing are reused; the rep r7 also gets events one entity at
 * a time (gw_coalesce_add_one). */
typedef struct {
    gw_event_t ev;
    int32_t partition;
    int64_t offset, stream;
    int only; /* -1: both entities, else the one kind gw_coalesce_add_one got */
} recount_event_t;

static bool counts_for(const recount_event_t *r, gw_entity_kind_t kind, const char *id)
{
    if (r->only >= 0 && r->only != (int)kind)
        return false;
    return !strcmp(kind == GW_ENTITY_REP ? r->ev.rep : r->ev.team, id);
}

static int64_t recount_cell(const recount_event_t *evs, int n, gw_entity_kind_t kind,
                            const char *id, int w, int64_t bucket, int metric)
{
    int64_t sum = 0;
    for (int i = 0; i < n; i++) {
        const gw_event_t *e = &evs[i].ev;
        if (!counts_for(&evs[i], kind, id) ||
            gw_window_is_late(&windows[w], e->occurred_at_ms, evs[i].stream) ||
            gw_window_bucket(&windows[w], e->occurred_at_ms) != bucket)
            continue;
        if (metric == gw_metric_count(e->kind))
            sum++;
        if (metric == gw_metric_amount(e->kind))
            sum += e->amount_minor;
        if (metric == gw_metric_goal(e->kind) && e->has_goal)
            sum++;
        if (metric == gw_metric_next_step(e->kind) && e->has_next_step)
            sum++;
    }
    return sum;
}

/* Adds `n` random events of 50 reps to `c`: rep r in team r % 5, or with
 * `switching`, now and then in team (r + 1) % 5; rep 7's events sometimes
 * to one entity only (gw_coalesce_add_one); with `seal_every`, sealing
 * the batch after every so many events. */
static void recount_batch(gw_coalesce_t *c, recount_event_t *evs, int n, uint64_t *rng,
                          bool switching, int seal_every)
{
    int64_t stream = 100 * D;
    for (int i = 0; i < n; i++) {
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t x = *rng >> 16;
        char rep[16], team[16];
        int r = (int)(x % 50);
        snprintf(rep, sizeof(rep), "r%d", r);
        snprintf(team, sizeof(team), "t%d", (r + (switching && ((x >> 46) & 3) == 0)) % 5);
        /* mostly forward in time, sometimes days back (late for 1d) */
        int64_t t = stream - (int64_t)((x >> 8) % 8 == 0 ? (x >> 12) % (3 * D) : 0) +
                    (int64_t)((x >> 20) % (2 * H));
        recount_event_t *re = &evs[i];
        re->ev = event(rep, team, t, 1 + (int)((x >> 24) % 12));
        re->ev.has_goal = (x >> 30) & 1;
        re->ev.has_next_step = (x >> 31) & 1;
        re->ev.amount_minor = (x >> 32) % 3 == 0 ? (int64_t)((x >> 34) % 5000) : 0;
        re->partition = (int32_t)((x >> 40) % 12);
        re->offset = i;
        if (t > stream)
            stream = t;
        re->stream = stream;
        re->only = -1;
        if (r == 7 && (x >> 44) % 2) {
            re->only = (int)((x >> 45) % 2 ? GW_ENTITY_REP : GW_ENTITY_TEAM);
            assert_int_equal(gw_coalesce_add_one(c, &re->ev, (gw_entity_kind_t)re->only,
                                                 re->partition, re->offset, re->stream),
                             0);
        } else {
            assert_int_equal(gw_coalesce_add(c, &re->ev, re->partition, re->offset, re->stream), 0);
            int rd, td;
            gw_coalesce_last(c, &rd, &td);
            assert_int_equal(rd, gw_coalesce_find(c, GW_ENTITY_REP, "acme", rep));
            assert_int_equal(td, gw_coalesce_find(c, GW_ENTITY_TEAM, "acme", team));
        }
        if (seal_every && i % seal_every == seal_every - 1)
            assert_int_equal(gw_coalesce_seal(c), 0);
    }
}

/* Every delta of `c` against a brute-force recount of `evs`: cells, counts,
 * times, late drops, parts, and a rep's team (its latest event's). */
static void check_recount(const gw_coalesce_t *c, const recount_event_t *evs, int n)
{
    for (size_t k = 0; k < gw_coalesce_count(c); k++) {
        const gw_delta_t *d = gw_coalesce_delta(c, k);
        uint32_t ncells = 0, nevents = 0;
        int64_t first = INT64_MAX, last = INT64_MIN, wm = INT64_MIN;
        int64_t late[2] = {0, 0};
        const char *team = NULL;
        for (int i = 0; i < n; i++) {
            if (!counts_for(&evs[i], d->kind, d->id))
                continue;
            const gw_event_t *e = &evs[i].ev;
            nevents++;
            first = e->occurred_at_ms < first ? e->occurred_at_ms : first;
            last = e->occurred_at_ms > last ? e->occurred_at_ms : last;
            wm = evs[i].stream > wm ? evs[i].stream : wm;
            for (int w = 0; w < 2; w++)
                late[w] += gw_window_is_late(&windows[w], e->occurred_at_ms, evs[i].stream);
            team = e->team;
        }
        assert_int_equal(d->nevents, nevents);
        assert_int_equal(d->first_event_ms, first);
        assert_int_equal(d->last_event_ms, last);
        assert_int_equal(d->wm_ms, wm);
        assert_int_equal(d->late[0], late[0]);
        assert_int_equal(d->late[1], late[1]);
        if (d->kind == GW_ENTITY_REP)
            assert_string_equal(d->team, team);
        for (int w = 0; w < 2; w++) {
            int64_t total = 0;
            gw_coalesce_iter_t it = gw_coalesce_cells(c, d, w);
            for (const gw_delta_cell_t *cell; (cell = gw_coalesce_next_cell(&it));) {
                assert_int_equal(cell->window, w);
                /* one cell per bucket and metric */
                for (int32_t j = cell->next; j >= 0; j = gw_coalesce_cell(c, j)->next)
                    assert_false(gw_coalesce_cell(c, j)->bucket == cell->bucket &&
                                 gw_coalesce_cell(c, j)->metric == cell->metric);
                assert_int_equal(cell->value, recount_cell(evs, n, d->kind, d->id, w, cell->bucket,
                                                           cell->metric));
                total += cell->value;
                ncells++;
            }
            /* and none missing: the cells hold everything the events add */
            int64_t all = 0;
            for (int i = 0; i < n; i++) {
                const gw_event_t *e = &evs[i].ev;
                if (!counts_for(&evs[i], d->kind, d->id) ||
                    gw_window_is_late(&windows[w], e->occurred_at_ms, evs[i].stream))
                    continue;
                all += 1 + e->amount_minor + e->has_goal + e->has_next_step;
            }
            assert_int_equal(total, all);
        }
        assert_int_equal(ncells, d->ncells);
        /* each part's range is its partition's lowest and highest offset,
         * and each partition it has events of has one */
        int nparts = 0;
        gw_coalesce_iter_t it = gw_coalesce_parts(c, d);
        for (const gw_delta_part_t *part; (part = gw_coalesce_next_part(&it)); nparts++) {
            int64_t lo = INT64_MAX, hi = -1;
            for (int i = 0; i < n; i++)
                if (counts_for(&evs[i], d->kind, d->id) && evs[i].partition == part->partition) {
                    lo = evs[i].offset < lo ? evs[i].offset : lo;
                    hi = evs[i].offset > hi ? evs[i].offset : hi;
                }
            assert_int_equal(part->min_offset, lo);
            assert_int_equal(part->max_offset, hi);
        }
        bool seen[12] = {false};
        int want = 0;
        for (int i = 0; i < n; i++)
            if (counts_for(&evs[i], d->kind, d->id) && !seen[evs[i].partition]) {
                seen[evs[i].partition] = true;
                want++;
            }
        assert_int_equal(nparts, want);
    }
}

static void test_coalesce_equals_a_recount(void **state)
{
    (void)state;
    enum { N = 1500 };
    static recount_event_t evs[N];
    gw_coalesce_t *c = gw_coalesce_new(windows, 2, &kinds);
    uint64_t rng = 42;
    for (int round = 0; round < 3; round++) {
        gw_coalesce_reset(c);
        recount_batch(c, evs, N, &rng, false, 0);
        assert_int_equal(gw_coalesce_count(c), 55);
        check_recount(c, evs, N);
    }
    gw_coalesce_free(c);
}

/* gw_coalesce_add() logs an event's cells, times and parts, and the batch's
 * readers add them to the deltas rep by rep (a team's as the sum of its
 * reps'): the same counts when reps change teams within the batch (a rep
 * then names the team of its latest event), when the batch is sealed again
 * and again as events keep coming (reps no longer new to it), and when
 * gw_coalesce_add_one() adds between logged events. */
static void test_coalesce_logged_events_fold_to_a_recount(void **state)
{
    (void)state;
    enum { N = 2000 };
    static recount_event_t evs[N];
    gw_coalesce_t *c = gw_coalesce_new(windows, 2, &kinds);
    uint64_t rng = 7;
    static const int seal_every[] = {0, 1, 7, 333};
    for (int round = 0; round < 8; round++) {
        gw_coalesce_reset(c);
        recount_batch(c, evs, N, &rng, round % 2 == 0, seal_every[round / 2]);
        assert_int_equal(gw_coalesce_count(c), 55);
        uint64_t both = 0;
        for (int i = 0; i < N; i++)
            both += evs[i].only < 0;
        assert_int_equal(gw_coalesce_events(c), both);
        check_recount(c, evs, N);
        /* sealed: sealing again changes nothing */
        assert_int_equal(gw_coalesce_seal(c), 0);
        check_recount(c, evs, N);
    }
    gw_coalesce_free(c);
}

/* Entities whose tenant and id fit the delta's inline key and those that do
 * not ("acme" + 53 bytes is the longest that fits): each is still one delta
 * however many events it gets, and never another entity's. */
static void test_coalesce_long_ids_fold_too(void **state)
{
    (void)state;
    gw_coalesce_t *c = gw_coalesce_new(windows, 2, &kinds);
    static const size_t lens[] = {1, 52, 53, 54, 64};
    char ids[5][65];
    for (int k = 0; k < 5; k++) {
        memset(ids[k], 'a' + k, lens[k]);
        ids[k][lens[k]] = '\0';
    }
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < 5; k++) {
            gw_event_t e = event(ids[k], ids[4 - k], 100 * D, 1);
            assert_int_equal(gw_coalesce_add(c, &e, 0, round * 5 + k, 100 * D), 0);
        }
    assert_int_equal(gw_coalesce_count(c), 10);
    for (int k = 0; k < 5; k++) {
        int r = gw_coalesce_find(c, GW_ENTITY_REP, "acme", ids[k]);
        int t = gw_coalesce_find(c, GW_ENTITY_TEAM, "acme", ids[k]);
        assert_true(r >= 0 && t >= 0 && r != t);
        assert_string_equal(gw_coalesce_delta(c, (size_t)r)->id, ids[k]);
        assert_string_equal(gw_coalesce_delta(c, (size_t)r)->team, ids[4 - k]);
        assert_int_equal(gw_coalesce_delta(c, (size_t)r)->nevents, 3);
        assert_int_equal(gw_coalesce_delta(c, (size_t)t)->nevents, 3);
        assert_int_equal(cell_sum(c, gw_coalesce_delta(c, (size_t)r), 0, gw_metric_count(1)), 3);
    }
    assert_int_equal(gw_coalesce_find(c, GW_ENTITY_REP, "acm", ids[0]), -1);
    gw_coalesce_free(c);
}

static void test_coalesce_iterators_visit_every_delta_cell_and_part(void **state)
{
    (void)state;
    gw_coalesce_t *c = gw_coalesce_new(windows, 2, &kinds);
    int64_t t = 100 * D;
    gw_event_t a = event("r1", "east", t, 1);
    gw_event_t b = event("r2", "east", t + H, 9);
    assert_int_equal(gw_coalesce_add(c, &a, 3, 10, t), 0);
    assert_int_equal(gw_coalesce_add(c, &b, 5, 7, t + H), 0);
    size_t n = 0, index;
    gw_coalesce_iter_t it = gw_coalesce_deltas(c, 0);
    for (const gw_delta_t *d; (d = gw_coalesce_next(&it, &index)); n++) {
        assert_int_equal(index, n);
        assert_ptr_equal(d, gw_coalesce_delta(c, index));
        /* the lists as the pools' indices give them */
        gw_coalesce_iter_t parts = gw_coalesce_parts(c, d);
        for (int32_t p = d->parts; p >= 0; p = gw_coalesce_part(c, p)->next)
            assert_ptr_equal(gw_coalesce_next_part(&parts), gw_coalesce_part(c, p));
        assert_null(gw_coalesce_next_part(&parts));
        for (int w = 0; w < 2; w++) {
            gw_coalesce_iter_t cells = gw_coalesce_cells(c, d, w);
            for (int32_t k = d->cells[w]; k >= 0; k = gw_coalesce_cell(c, k)->next)
                assert_ptr_equal(gw_coalesce_next_cell(&cells), gw_coalesce_cell(c, k));
            assert_null(gw_coalesce_next_cell(&cells));
        }
    }
    assert_int_equal(n, gw_coalesce_count(c)); /* r1, r2, team east */
    /* a range: from 1, at most 1 */
    it = gw_coalesce_deltas(c, 1);
    gw_coalesce_iter_limit(&it, 1);
    assert_ptr_equal(gw_coalesce_next(&it, NULL), gw_coalesce_delta(c, 1));
    assert_null(gw_coalesce_next(&it, NULL));
    gw_coalesce_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coalesce_folds_events_per_rep_and_team),
        cmocka_unit_test(test_coalesce_counts_late_events_per_window),
        cmocka_unit_test(test_coalesce_add_one_touches_only_that_entity),
        cmocka_unit_test(test_coalesce_grows_and_shrinks_its_tables),
        cmocka_unit_test(test_coalesce_equals_a_recount),
        cmocka_unit_test(test_coalesce_logged_events_fold_to_a_recount),
        cmocka_unit_test(test_coalesce_long_ids_fold_too),
        cmocka_unit_test(test_coalesce_iterators_visit_every_delta_cell_and_part),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
