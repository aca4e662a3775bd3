/*
 * gwq_world: the generator behind the quality report (see gwq_world.h for
 * the mechanics). Deterministic for a scenario and seed.
 */
#include "gwq_world.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const int gwq_col_kind[GWQ_COLS] = {
    GWQ_DIAL,         GWQ_EMAIL_SENT,    GWQ_CONVERSATION, GWQ_EMAIL_REPLY,  GWQ_MEETING_BOOKED,
    GWQ_MEETING_HELD, GWQ_PROPOSAL_SENT, GWQ_DEAL_WON,     GWQ_CONVERSATION, GWQ_EMAIL_REPLY,
    GWQ_MEETING_HELD, GWQ_CONVERSATION,  GWQ_EMAIL_REPLY,  GWQ_MEETING_HELD,
};
const int gwq_col_what[GWQ_COLS] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2};

const char *const gwq_scenarios[] = {"baseline",    "team_dip", "new_reps",
                                     "late_tenant", "calendar", NULL};

static const char *const truth_names[GWQ_TRUTHS] = {
    "healthy", "lean_on_target", "efficiency_gap", "effectiveness_gap", "silent", "new_rep",
};

const char *gwq_truth_str(gwq_truth_t t)
{
    return t >= 0 && t < GWQ_TRUTHS ? truth_names[t] : "unknown";
}

int gwq_truth_is_gap(gwq_truth_t t)
{
    return t == GWQ_EFFICIENCY || t == GWQ_EFFECTIVENESS || t == GWQ_SILENT;
}

/* xoshiro256** seeded by splitmix64. */
typedef struct {
    uint64_t s[4];
} rng_t;

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

static double uniform(rng_t *r)
{
    return ((double)(rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
}

static double between(rng_t *r, double lo, double hi)
{
    return lo + (hi - lo) * uniform(r);
}

static int int_between(rng_t *r, int lo, int hi) /* inclusive */
{
    return lo + (int)(uniform(r) * (hi - lo + 1));
}

static double normal(rng_t *r)
{
    double u = uniform(r), v = uniform(r);
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static double lognormal(rng_t *r, double sd)
{
    return exp(sd * normal(r) - sd * sd / 2); /* mean 1 */
}

/* Knuth's product of uniforms, in chunks of mean <= 30 (a sum of Poissons
 * is Poisson), so it is exact at every mean. */
static int64_t poisson(rng_t *r, double mean)
{
    int64_t n = 0;
    while (mean > 0) {
        double m = mean > 30 ? 30 : mean;
        mean -= m;
        double limit = exp(-m), p = uniform(r);
        while (p > limit) {
            n++;
            p *= uniform(r);
        }
    }
    return n;
}

static int64_t binomial(rng_t *r, int64_t n, double p)
{
    if (p <= 0)
        return 0;
    if (p > 1)
        p = 1;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        k += uniform(r) < p;
    return k;
}

static int is_weekend(int day)
{
    return day % 7 >= 5; /* day 0 is a Monday */
}

/* Per-rep drawn parameters. */
typedef struct {
    double volume;  /* top of the funnel per working day */
    double rate[3]; /* SDR: dial->conversation, email->reply, connect->book;
                       AE: held->proposal, proposal->won */
    double email_share;
    double goal_share, next_share;
} rep_params_t;

typedef struct {
    double volume, rate[3], email_share;
} team_params_t;

static void team_draw(rng_t *r, gwq_role_t role, team_params_t *t)
{
    if (role == GWQ_ROLE_SDR) {
        t->volume = between(r, 50, 90);
        t->email_share = between(r, 0.25, 0.4);
        t->rate[0] = between(r, 0.08, 0.16);
        t->rate[1] = between(r, 0.04, 0.10);
        t->rate[2] = between(r, 0.15, 0.30);
    } else {
        t->volume = between(r, 2.0, 3.5); /* meetings held a working day */
        t->email_share = 0;
        t->rate[0] = between(r, 0.25, 0.40); /* 2.5-7 proposals a week */
        t->rate[1] = between(r, 0.30, 0.50);
        t->rate[2] = 0;
    }
}

/* Expected weekly output of a rep working exactly like the team. */
static double team_weekly(gwq_role_t role, const team_params_t *t)
{
    if (role == GWQ_ROLE_SDR)
        return 5 * t->volume * ((1 - t->email_share) * t->rate[0] + t->email_share * t->rate[1]) *
               t->rate[2];
    return 5 * t->volume * t->rate[0] * t->rate[1];
}

static double cap(double p)
{
    return p > 0.95 ? 0.95 : p;
}

/* Plants truth `truth` in rep `rp` of a team of `role` (rates already
 * personal). */
static void plant(rng_t *r, gwq_role_t role, gwq_rep_t *rp, rep_params_t *p, int force_half_book)
{
    rp->planted_stage = -1;
    rp->factor = 1;
    switch (rp->truth) {
    case GWQ_LEAN:
        rp->factor = 0.5;
        p->volume *= 0.5;
        p->rate[0] = cap(p->rate[0] * 1.8);
        p->rate[1] = cap(p->rate[1] * (role == GWQ_ROLE_SDR ? 1.8 : 1.35));
        p->rate[2] = cap(p->rate[2] * 1.35);
        break;
    case GWQ_EFFICIENCY:
        rp->factor = between(r, 0.3, 0.6);
        p->volume *= rp->factor;
        break;
    case GWQ_EFFECTIVENESS:
        rp->factor = force_half_book ? 0.5 : between(r, 0.3, 0.6);
        /* The stage that converts badly, as the funnel names it: SDR 1
         * (connect: both channels) or 2 (book); AE 1 (proposal) or 2 (won). */
        rp->planted_stage = force_half_book ? 2 : int_between(r, 1, 2);
        if (role == GWQ_ROLE_SDR && rp->planted_stage == 1) {
            p->rate[0] *= rp->factor;
            p->rate[1] *= rp->factor;
        } else if (role == GWQ_ROLE_SDR) {
            p->rate[2] *= rp->factor;
        } else {
            p->rate[rp->planted_stage - 1] *= rp->factor;
        }
        break;
    case GWQ_NEW:
        rp->factor = between(r, 0.6, 0.9); /* still ramping its volume */
        p->volume *= rp->factor;
        break;
    default:
        break;
    }
}

static void add(gwq_world_t *w, int rep, int64_t slot, gwq_col_t col, int64_t n)
{
    if (slot < 0 || slot >= w->nslots || n == 0)
        return;
    /* Counts first go to slot + 1 of the prefix array; prefixed at the end. */
    w->reps[rep].prefix[(slot + 1) * GWQ_COLS + col] += n;
}

static void record_quality(rng_t *r, gwq_world_t *w, int rep, int64_t slot, gwq_col_t col,
                           int64_t n, const rep_params_t *p)
{
    gwq_col_t goal = col == GWQ_COL_CONVERSATION ? GWQ_COL_GOAL_CONVERSATION
                     : col == GWQ_COL_REPLY      ? GWQ_COL_GOAL_REPLY
                                                 : GWQ_COL_GOAL_HELD;
    gwq_col_t next = col == GWQ_COL_CONVERSATION ? GWQ_COL_NEXT_CONVERSATION
                     : col == GWQ_COL_REPLY      ? GWQ_COL_NEXT_REPLY
                                                 : GWQ_COL_NEXT_HELD;
    add(w, rep, slot, col, n);
    add(w, rep, slot, goal, binomial(r, n, p->goal_share));
    add(w, rep, slot, next, binomial(r, n, p->next_share));
}

/* One slot of one rep's work: volume `mean` at the top of the funnel. */
static void work_slot(rng_t *r, gwq_world_t *w, gwq_role_t role, int rep, int64_t slot, double mean,
                      const rep_params_t *p)
{
    int64_t top = poisson(r, mean);
    if (role == GWQ_ROLE_SDR) {
        int64_t emails = binomial(r, top, p->email_share), dials = top - emails;
        int64_t conv = binomial(r, dials, p->rate[0]), reply = binomial(r, emails, p->rate[1]);
        add(w, rep, slot, GWQ_COL_DIAL, dials);
        add(w, rep, slot, GWQ_COL_EMAIL, emails);
        record_quality(r, w, rep, slot, GWQ_COL_CONVERSATION, conv, p);
        record_quality(r, w, rep, slot, GWQ_COL_REPLY, reply, p);
        add(w, rep, slot, GWQ_COL_BOOKED, binomial(r, conv + reply, p->rate[2]));
        return;
    }
    record_quality(r, w, rep, slot, GWQ_COL_HELD, top, p);
    int64_t proposals = binomial(r, top, p->rate[0]);
    add(w, rep, slot, GWQ_COL_PROPOSAL, proposals);
    /* A proposal that wins closes after a lag of working days (geometric,
     * mean 3): deals land later than the proposals they convert. */
    for (int64_t i = 0; i < proposals; i++) {
        if (uniform(r) >= p->rate[1])
            continue;
        int64_t day = slot / GWQ_SLOTS_PER_DAY;
        int lag = 0;
        while (uniform(r) < 2.0 / 3.0)
            lag++;
        for (int k = 0; k < lag;)
            if (!is_weekend((int)++day))
                k++;
        add(w, rep, day * GWQ_SLOTS_PER_DAY + int_between(r, 1, 2), GWQ_COL_WON, 1);
    }
}

static int add_team(gwq_world_t *w, rng_t *r, const char *name, int tenant, gwq_role_t role,
                    const gwq_truth_t *truths, int dip_day, bool calendar)
{
    gwq_team_t *t = &w->teams[w->nteams];
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->tenant = tenant;
    t->role = role;
    t->first_rep = w->nreps;
    t->nreps = GWQ_TEAM_SIZE;
    t->dip_day = dip_day;
    t->holiday_from = t->holiday_to = -1;
    if (calendar && w->nteams == 0) {
        /* the first team's holiday: Monday to Friday of the final week */
        t->holiday_from = (w->days - 7 + 6) / 7 * 7;
        t->holiday_to = t->holiday_from + 5;
    }
    int healthy_seen = 0;
    team_params_t tp;
    team_draw(r, role, &tp);
    t->typical_weekly = team_weekly(role, &tp);
    t->objective = 0.8 * t->typical_weekly;

    int start = w->tenant_start_day[tenant];
    double team_week[64];
    for (int k = 0; k < 64; k++)
        team_week[k] = lognormal(r, 0.05);
    int forced = 0;
    for (int i = 0; i < GWQ_TEAM_SIZE; i++) {
        int idx = w->nreps++;
        gwq_rep_t *rp = &w->reps[idx];
        snprintf(rp->name, sizeof(rp->name), "%s-r%02d", name, i + 1);
        rp->team = w->nteams;
        rp->truth = truths[i];
        rp->first_slot = -1;
        rp->join_day = start + (tenant ? int_between(r, 0, 1) : 0);
        rp->stop_day = w->days;
        rp->away_from = rp->away_to = rp->left_day = -1;
        rep_params_t p = {
            .volume = tp.volume * lognormal(r, 0.12),
            .email_share = tp.email_share,
            .goal_share = between(r, 0.7, 0.95),
            .next_share = between(r, 0.5, 0.85),
        };
        for (int k = 0; k < 3; k++)
            p.rate[k] = cap(tp.rate[k] * lognormal(r, 0.10));
        /* The team's first effectiveness gap books at half the team's rate. */
        int force = rp->truth == GWQ_EFFECTIVENESS && !forced && role == GWQ_ROLE_SDR;
        forced |= force;
        plant(r, role, rp, &p, force);
        if (rp->truth == GWQ_SILENT)
            rp->stop_day = w->days - int_between(r, 10, 14);
        if (rp->truth == GWQ_NEW)
            rp->join_day = w->days - int_between(r, 3, 10);
        if (calendar && rp->truth == GWQ_HEALTHY) {
            int measured = w->days - w->warmup_days;
            if (healthy_seen < 2) { /* a week off, Monday to Friday */
                int monday = (w->warmup_days + int_between(r, 0, measured - 7) + 6) / 7 * 7;
                rp->away_from = monday;
                rp->away_to = monday + 5;
            } else if (healthy_seen == 2) { /* leaves the company */
                rp->left_day = w->warmup_days + int_between(r, 3, measured - 3);
                rp->stop_day = rp->left_day;
            }
            healthy_seen++;
        }
        double rep_week[64];
        for (int k = 0; k < 64; k++)
            rep_week[k] = lognormal(r, 0.15); /* overdispersion: weeks differ */
        for (int day = rp->join_day; day < rp->stop_day; day++) {
            if ((day >= rp->away_from && day < rp->away_to) ||
                (day >= t->holiday_from && day < t->holiday_to))
                continue; /* time off, a holiday: no work */
            int week = day / 7 < 64 ? day / 7 : 63;
            double mean = p.volume * team_week[week] * rep_week[week];
            if (is_weekend(day))
                mean *= 0.03;
            if (dip_day >= 0 && day >= dip_day && day < dip_day + 7)
                mean *= 0.7;
            for (int s = 1; s <= 2; s++)
                work_slot(r, w, role, idx, (int64_t)day * GWQ_SLOTS_PER_DAY + s, mean / 2, &p);
        }
    }
    w->nteams++;
    return 0;
}

/* Truths of one team of the main tenant: 1-4 planted gaps, 1-2 lean reps,
 * `nnew` new reps, the rest healthy, in random seats. */
static void draw_truths(rng_t *r, gwq_truth_t *truths, int nnew, int planted)
{
    for (int i = 0; i < GWQ_TEAM_SIZE; i++)
        truths[i] = GWQ_HEALTHY;
    int nweak = planted ? int_between(r, 1, 4) : 0, nlean = int_between(r, 1, 2);
    int order[GWQ_TEAM_SIZE];
    for (int i = 0; i < GWQ_TEAM_SIZE; i++)
        order[i] = i;
    for (int i = GWQ_TEAM_SIZE - 1; i > 0; i--) {
        int j = int_between(r, 0, i), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    int k = 0;
    for (int i = 0; i < nweak; i++) {
        double u = uniform(r);
        truths[order[k++]] = u < 0.4 ? GWQ_EFFICIENCY : u < 0.8 ? GWQ_EFFECTIVENESS : GWQ_SILENT;
    }
    for (int i = 0; i < nlean; i++)
        truths[order[k++]] = GWQ_LEAN;
    for (int i = 0; i < nnew && k < GWQ_TEAM_SIZE; i++)
        truths[order[k++]] = GWQ_NEW;
}

gwq_world_t *gwq_world_generate(const char *scenario, uint64_t seed, int days, int warmup_days)
{
    int sc = -1;
    for (int i = 0; gwq_scenarios[i]; i++)
        if (!strcmp(scenario, gwq_scenarios[i]))
            sc = i;
    if (sc < 0 || days < 7 || warmup_days < 0)
        return NULL;
    gwq_world_t *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->scenario = gwq_scenarios[sc];
    w->seed = seed;
    w->warmup_days = warmup_days;
    w->days = warmup_days + days;
    w->nslots = w->days * GWQ_SLOTS_PER_DAY;
    int late = !strcmp(scenario, "late_tenant");
    w->ntenants = late ? 2 : 1;
    w->nteams = 0;
    int maxteams = 5;
    w->teams = calloc((size_t)maxteams, sizeof(gwq_team_t));
    w->reps = calloc((size_t)maxteams * GWQ_TEAM_SIZE, sizeof(gwq_rep_t));
    if (!w->teams || !w->reps) {
        gwq_world_free(w);
        return NULL;
    }
    for (int i = 0; i < maxteams * GWQ_TEAM_SIZE; i++) {
        w->reps[i].prefix = calloc((size_t)(w->nslots + 1) * GWQ_COLS, sizeof(int64_t));
        if (!w->reps[i].prefix) {
            gwq_world_free(w);
            return NULL;
        }
    }
    /* Seeds of different scenarios draw different worlds. */
    rng_t r;
    rng_seed(&r, seed * 1000003u + (uint64_t)sc);
    w->tenant_start_day[0] = 0;
    w->tenant_start_day[1] = w->days - int_between(&r, 2, 6);

    static const char *const names[] = {"north", "south", "closers"};
    static const gwq_role_t roles[] = {GWQ_ROLE_SDR, GWQ_ROLE_SDR, GWQ_ROLE_AE};
    for (int t = 0; t < 3; t++) {
        gwq_truth_t truths[GWQ_TEAM_SIZE];
        draw_truths(&r, truths, !strcmp(scenario, "new_reps") ? 3 : 0, 1);
        int dip = -1;
        if (!strcmp(scenario, "team_dip"))
            dip = w->days - int_between(&r, 5, 14);
        add_team(w, &r, names[t], 0, roles[t], truths, dip, !strcmp(scenario, "calendar"));
    }
    if (late) {
        static const char *const late_names[] = {"late-sdr", "late-ae"};
        for (int t = 0; t < 2; t++) {
            gwq_truth_t truths[GWQ_TEAM_SIZE];
            draw_truths(&r, truths, 0, 0); /* nothing planted: any alert is a storm */
            add_team(w, &r, late_names[t], 1, t ? GWQ_ROLE_AE : GWQ_ROLE_SDR, truths, -1, false);
        }
    }
    for (int i = 0; i < w->nreps; i++) {
        int64_t *pre = w->reps[i].prefix;
        for (int64_t s = 1; s <= w->nslots; s++) {
            int any = 0;
            for (int c = 0; c < GWQ_COLS; c++) {
                any |= pre[s * GWQ_COLS + c] != 0;
                pre[s * GWQ_COLS + c] += pre[(s - 1) * GWQ_COLS + c];
            }
            if (any && w->reps[i].first_slot < 0)
                w->reps[i].first_slot = s - 1;
        }
    }
    return w;
}

void gwq_world_free(gwq_world_t *w)
{
    if (!w)
        return;
    if (w->reps)
        for (int i = 0; i < 5 * GWQ_TEAM_SIZE; i++)
            free(w->reps[i].prefix);
    free(w->reps);
    free(w->teams);
    free(w);
}

void gwq_world_sum(const gwq_world_t *w, int r, int64_t from, int64_t to, int64_t *out)
{
    if (from < 0)
        from = 0;
    if (to > w->nslots)
        to = w->nslots;
    if (to <= from)
        return;
    const int64_t *pre = w->reps[r].prefix;
    for (int c = 0; c < GWQ_COLS; c++)
        out[c] += pre[to * GWQ_COLS + c] - pre[from * GWQ_COLS + c];
}
