/*
 * gw_sim: day by day, every rep's activities, conversations and bookings,
 * buffered per day and emitted sorted by event time.
 *
 * Archetype parameters are multiples of the team's baseline, chosen with
 * margins so the planted diagnosis holds for any team baseline and seed
 * (see the comments at `archetypes`).
 */
#include "gw_sim.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS  86400000LL
#define HOUR_MS 3600000LL

#define SIM_YAML_HEAD                                                                              \
    "windows:\n"                                                                                   \
    "  - {name: 7d, length: 7d, bucket: 1h, grace: 1h}\n"                                          \
    "  - {name: 30d, length: 30d, bucket: 6h, grace: 1h}\n"                                        \
    "playbooks:\n"                                                                                 \
    "  - name: sdr\n"                                                                              \
    "    teams: [\"*\"]\n"                                                                         \
    "    funnel:\n"                                                                                \
    "      - {name: reach, kinds: [DIAL, EMAIL_SENT]}\n"                                           \
    "      - {name: connect, kinds: [CONVERSATION, EMAIL_REPLY]}\n"                                \
    "      - {name: book, kinds: [MEETING_BOOKED]}\n"                                              \
    "    objective:\n"                                                                             \
    "      kind: MEETING_BOOKED\n"                                                                 \
    "      per_window: {7d: 9, 30d: 36}\n"
#define SIM_YAML_TAIL                                                                              \
    "    ramp: [0.25, 0.5, 0.75]\n"                                                                \
    "    confidence: 0.95\n"                                                                       \
    "    tolerance: 0.1\n"                                                                         \
    "    min_rep_trials: 20\n"                                                                     \
    "    min_team_trials: 50\n"

const char GW_SIM_CONFIG_YAML[] = SIM_YAML_HEAD SIM_YAML_TAIL;
const char GW_SIM_DEMO_CONFIG_YAML[] =
    SIM_YAML_HEAD "      per_period: {month: 36}\n" SIM_YAML_TAIL;

/* Daily reach volume and conversion multipliers of the team baseline.
 * With team connect c in [.12, .18] and booking b in [.18, .24] per
 * conversation, and objective 9 per 7 days:
 *   healthy   75/day x c x b >= 1.62/day -> >= 11.3 a week: met
 *   lean      38/day x 2c x 1.5b -> >= 2.46/day: met with half the work
 *   low       20/day at team rates -> <= 0.87/day: missed, volume < needed
 *   weak      90/day, books at b/5 -> <= 0.78/day: missed, booking significantly below
 *   high     320/day (over 4x the team: gaming beyond noise), connects at c/10,
 *             books at .6b -> <= 0.83/day: missed,
 *             connect significantly below, volume over 3x the team's
 *   silent    healthy until 10 days before the end, then nothing
 *   ramping   60/day at team rates from 6 days before the end: 25% objective
 *   time off  healthy, then a week of time off to the end, sent as a TIME_OFF
 *             record when it starts: not judged in 7d (docs/calendars.md) */
static const struct {
    const char *name;
    double volume, connect, book, goal_share, next_share;
    const char *diagnosis, *weakest, *signal;
} archetypes[GW_ARCH_COUNT] = {
    [GW_ARCH_HEALTHY] = {"healthy", 75, 1, 1, 0.8, 0.6, "healthy", "", ""},
    [GW_ARCH_LEAN] = {"lean_on_target", 38, 2, 1.5, 0.8, 0.6, "healthy", "", ""},
    [GW_ARCH_LOW_ACTIVITY] = {"low_activity", 20, 1, 1, 0.8, 0.6, "efficiency_gap", "", ""},
    [GW_ARCH_WEAK_STAGE] = {"weak_at_booking", 90, 1, 0.2, 0.8, 0.6, "effectiveness_gap", "book",
                            ""},
    [GW_ARCH_HIGH_VOLUME] = {"high_volume_poor_conversion", 320, 0.1, 0.6, 0.2, 0.1,
                             "effectiveness_gap", "connect", "gaming"},
    [GW_ARCH_SILENT] = {"silent", 75, 1, 1, 0.8, 0.6, "efficiency_gap", "", "silent"},
    [GW_ARCH_RAMPING] = {"new_rep_ramping", 60, 1, 1, 0.8, 0.6, "healthy", "", "ramping"},
    [GW_ARCH_TIME_OFF] = {"on_time_off", 75, 1, 1, 0.8, 0.6, "not_available", "", "time_off"},
};

static const char *const team_names[] = {"north",   "south", "east",  "west",
                                         "central", "coast", "metro", "valley"};

const char *gw_archetype_str(gw_archetype_t a)
{
    return a >= 0 && a < GW_ARCH_COUNT ? archetypes[a].name : "unknown";
}

int gw_sim_rep_count(const gw_sim_config_t *cfg)
{
    return cfg->teams * cfg->reps_per_team;
}

typedef struct {
    uint64_t s;
} rng_t;

static uint64_t rng_next(rng_t *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}

static double rng_unit(rng_t *r)
{
    return (double)(rng_next(r) >> 11) / 9007199254740992.0;
}

typedef struct {
    gw_archetype_t arch;
    double c, b; /* the rep's connect and booking rates */
    double reach_acc, conv_acc, book_acc, email_acc, goal_acc, next_acc;
} rep_state_t;

typedef struct {
    gw_sim_event_t *ev;
    size_t n, cap;
} day_buf_t;

static int add(day_buf_t *d, const gw_sim_rep_t *rep, int64_t t, int kind, int channel, bool goal,
               bool next)
{
    if (d->n == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 4096;
        gw_sim_event_t *n = realloc(d->ev, ncap * sizeof(*n));
        if (!n)
            return -1;
        d->ev = n;
        d->cap = ncap;
    }
    gw_sim_event_t *e = &d->ev[d->n++];
    memset(e, 0, sizeof(*e));
    memcpy(e->tenant, rep->tenant, sizeof(e->tenant));
    memcpy(e->rep, rep->rep, sizeof(e->rep));
    memcpy(e->team, rep->team, sizeof(e->team));
    e->occurred_at_ms = t;
    e->kind = kind;
    e->channel = channel;
    e->goal = goal;
    e->next_step = next;
    return 0;
}

#define GW_SIM_KIND_TIME_OFF 14 /* proto Kind TIME_OFF */

static int by_time(const void *a, const void *b)
{
    const gw_sim_event_t *x = a, *y = b;
    return x->occurred_at_ms < y->occurred_at_ms ? -1 : x->occurred_at_ms > y->occurred_at_ms;
}

/* Takes whole units out of an error-diffusion accumulator. */
static int take(double *acc, double add_amount)
{
    *acc += add_amount;
    int n = (int)floor(*acc);
    *acc -= n;
    return n;
}

/* One rep's day: reach split 70/30 dials/emails, conversations and replies
 * at the rep's connect rate, bookings at its booking rate. */
static int simulate_day(day_buf_t *d, rng_t *rng, rep_state_t *st, const gw_sim_rep_t *rep,
                        int64_t day_start)
{
    const double jitter_c = 0.9 + 0.2 * rng_unit(rng), jitter_b = 0.9 + 0.2 * rng_unit(rng);
    int reach = take(&st->reach_acc, archetypes[st->arch].volume * (0.8 + 0.4 * rng_unit(rng)));
    int emails = take(&st->email_acc, 0.3 * reach);
    int conv = take(&st->conv_acc, reach * st->c * jitter_c);
    int books = take(&st->book_acc, conv * st->b * jitter_b);
    int64_t open = day_start + 8 * HOUR_MS, span = 10 * HOUR_MS;
    for (int i = 0; i < reach; i++) {
        bool email = i < emails;
        int64_t t = open + (int64_t)(rng_unit(rng) * (double)span);
        if (add(d, rep, t, email ? 2 : 1, email ? 2 : 1, false, false))
            return -1;
    }
    for (int i = 0; i < conv; i++) {
        /* A goal and a next step are recorded where a conversation
         * happened, never on a dial that did not connect. */
        bool reply = i < (int)(0.3 * conv);
        bool goal = take(&st->goal_acc, archetypes[st->arch].goal_share) > 0;
        bool next = take(&st->next_acc, archetypes[st->arch].next_share) > 0;
        int64_t t = open + HOUR_MS / 2 + (int64_t)(rng_unit(rng) * (double)(span - HOUR_MS));
        if (add(d, rep, t, reply ? 8 : 7, reply ? 2 : 1, goal, next))
            return -1;
    }
    for (int i = 0; i < books; i++) {
        int64_t t = open + HOUR_MS + (int64_t)(rng_unit(rng) * (double)(span - HOUR_MS));
        if (add(d, rep, t, 9, 5, false, false))
            return -1;
    }
    return 0;
}

long gw_sim_run(const gw_sim_config_t *cfg, gw_sim_rep_t *reps, gw_sim_emit_fn emit, void *ctx)
{
    if (cfg->teams < 1 || cfg->reps_per_team < 1 || cfg->days < 14)
        return -1;
    const char *tenant = cfg->tenant ? cfg->tenant : "acme";
    int nreps = gw_sim_rep_count(cfg);
    rep_state_t *st = calloc((size_t)nreps, sizeof(*st));
    if (!st)
        return -1;
    rng_t rng = {0x9e3779b97f4a7c15ull ^ ((uint64_t)cfg->seed * 0x100000001b3ull)};
    for (int t = 0; t < cfg->teams; t++) {
        double c = 0.12 + 0.06 * rng_unit(&rng), b = 0.18 + 0.06 * rng_unit(&rng);
        for (int i = 0; i < cfg->reps_per_team; i++) {
            int k = t * cfg->reps_per_team + i;
            gw_archetype_t a = GW_ARCH_HEALTHY;
            if (cfg->plant && i + 1 < GW_ARCH_COUNT)
                a = (gw_archetype_t)(i + 1);
            gw_sim_rep_t *r = &reps[k];
            memset(r, 0, sizeof(*r));
            snprintf(r->tenant, sizeof(r->tenant), "%s", tenant);
            if (t < (int)(sizeof(team_names) / sizeof(team_names[0])))
                snprintf(r->team, sizeof(r->team), "%s", team_names[t]);
            else
                snprintf(r->team, sizeof(r->team), "team-%d", t + 1);
            snprintf(r->rep, sizeof(r->rep), "%.40s-r%02d", r->team, i + 1);
            r->archetype = a;
            r->expected_diagnosis = archetypes[a].diagnosis;
            r->expected_weakest = archetypes[a].weakest;
            r->expected_signal = archetypes[a].signal;
            st[k].arch = a;
            st[k].c = c * archetypes[a].connect;
            st[k].b = b * archetypes[a].book;
            /* Start accumulators mid-way so reps do not convert in lockstep. */
            st[k].conv_acc = rng_unit(&rng);
            st[k].book_acc = rng_unit(&rng);
        }
    }
    day_buf_t day = {NULL, 0, 0};
    long total = 0;
    unsigned long long counter = 0;
    for (int d = 0; d < cfg->days; d++) {
        day.n = 0;
        int64_t day_start = cfg->end_ms - (int64_t)(cfg->days - d) * DAY_MS;
        for (int k = 0; k < nreps; k++) {
            if (st[k].arch == GW_ARCH_SILENT && d >= cfg->days - 10)
                continue;
            if (st[k].arch == GW_ARCH_RAMPING && d < cfg->days - 6)
                continue;
            if (st[k].arch == GW_ARCH_TIME_OFF && d >= cfg->days - 7) {
                if (d == cfg->days - 7) { /* the record, when the time off starts */
                    if (add(&day, &reps[k], day_start, GW_SIM_KIND_TIME_OFF, 0, false, false) !=
                        0) {
                        total = -1;
                        goto out;
                    }
                    day.ev[day.n - 1].ends_at_ms = cfg->end_ms + DAY_MS;
                }
                continue;
            }
            if (simulate_day(&day, &rng, &st[k], &reps[k], day_start) != 0) {
                total = -1;
                goto out;
            }
        }
        qsort(day.ev, day.n, sizeof(*day.ev), by_time);
        for (size_t i = 0; i < day.n; i++) {
            snprintf(day.ev[i].event_id, sizeof(day.ev[i].event_id), "sim-%u-%llu", cfg->seed,
                     counter++);
            emit(ctx, &day.ev[i]);
        }
        total += (long)day.n;
    }
out:
    free(day.ev);
    free(st);
    return total;
}

int gw_sim_write_truth(const char *path, const gw_sim_rep_t *reps, int n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    for (int i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "tenant", json_string(reps[i].tenant));
        json_object_set_new(o, "rep", json_string(reps[i].rep));
        json_object_set_new(o, "team", json_string(reps[i].team));
        json_object_set_new(o, "archetype", json_string(gw_archetype_str(reps[i].archetype)));
        json_object_set_new(o, "window", json_string("7d"));
        json_object_set_new(o, "diagnosis", json_string(reps[i].expected_diagnosis));
        json_object_set_new(o, "weakest_stage", json_string(reps[i].expected_weakest));
        json_object_set_new(o, "signal", json_string(reps[i].expected_signal));
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fprintf(f, "%s\n", s);
        free(s);
        json_decref(o);
    }
    return fclose(f) == 0 ? 0 : -1;
}
