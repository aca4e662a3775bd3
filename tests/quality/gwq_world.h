/*
 * gwq_world: an independent generator of sales teams for the quality report
 * (tests/quality/gw_quality.c). It does not share code or mechanics with
 * src/gw_sim.c, so the detector is not graded on the simulator it was tuned
 * on.
 *
 * Mechanics: each team draws its own base rates; each rep a lognormal
 * multiplier on volume and on each stage's rate; each rep-week a lognormal
 * volume factor (overdispersion) and each team-week a smaller one; per
 * 6-hour slot of a working day the top of the funnel is Poisson and every
 * later stage is a binomial thinning of the one before (an AE's deals close
 * after a working-day lag); weekends are quiet. Every rep carries a planted
 * ground truth (gwq_truth_t).
 *
 * Time is counted in 6-hour slots from day 0 (a Monday, 00:00 UTC); events of
 * a working day fall in slots 1 and 2 (06:00-18:00). Per rep the world keeps
 * prefix sums per slot of a few columns (gwq_col_t), so the total of any
 * window is two lookups, exactly what Redis window totals hold.
 */
#ifndef GWQ_WORLD_H
#define GWQ_WORLD_H

#include <stdint.h>

#define GWQ_SLOTS_PER_DAY 4
#define GWQ_SLOT_MS       (6LL * 3600 * 1000)
#define GWQ_DAY_MS        (24LL * 3600 * 1000)
#define GWQ_TEAM_SIZE     12

/* Kinds: the proto enum values. */
enum {
    GWQ_DIAL = 1,
    GWQ_EMAIL_SENT = 2,
    GWQ_MEETING_HELD = 4,
    GWQ_PROPOSAL_SENT = 6,
    GWQ_CONVERSATION = 7,
    GWQ_EMAIL_REPLY = 8,
    GWQ_MEETING_BOOKED = 9,
    GWQ_DEAL_WON = 11,
};

/* What is counted per rep and slot. */
typedef enum {
    GWQ_COL_DIAL = 0,
    GWQ_COL_EMAIL,
    GWQ_COL_CONVERSATION,
    GWQ_COL_REPLY,
    GWQ_COL_BOOKED,
    GWQ_COL_HELD,
    GWQ_COL_PROPOSAL,
    GWQ_COL_WON,
    GWQ_COL_GOAL_CONVERSATION,
    GWQ_COL_GOAL_REPLY,
    GWQ_COL_GOAL_HELD,
    GWQ_COL_NEXT_CONVERSATION,
    GWQ_COL_NEXT_REPLY,
    GWQ_COL_NEXT_HELD,
    GWQ_COLS
} gwq_col_t;

/* The kind behind each column and whether it counts the kind, its goals or
 * its next steps (0, 1, 2). */
extern const int gwq_col_kind[GWQ_COLS];
extern const int gwq_col_what[GWQ_COLS];

typedef enum {
    GWQ_ROLE_SDR = 0, /* reach [DIAL, EMAIL_SENT] -> connect -> book */
    GWQ_ROLE_AE,      /* held [MEETING_HELD] -> proposal -> won */
} gwq_role_t;

typedef enum {
    GWQ_HEALTHY = 0,   /* works like the team (natural spread) */
    GWQ_LEAN,          /* half the volume, converts much better, meets the objective */
    GWQ_EFFICIENCY,    /* 0.3-0.6x the volume at team-like rates */
    GWQ_EFFECTIVENESS, /* normal volume, one stage at 0.3-0.6x the team's rate */
    GWQ_SILENT,        /* stops logging for the last 10-14 days (an efficiency gap) */
    GWQ_NEW,           /* joined 3-10 days before the end */
    GWQ_TRUTHS
} gwq_truth_t;

const char *gwq_truth_str(gwq_truth_t t);

/* True for the truths the detector must find (efficiency, effectiveness,
 * silent). */
int gwq_truth_is_gap(gwq_truth_t t);

typedef struct {
    char name[32];
    int tenant; /* 0: the main tenant, 1: the late one */
    gwq_role_t role;
    double objective;      /* per 7 days: 0.8 x the typical rep's expected output */
    double typical_weekly; /* the typical rep's expected output per 7 days */
    int first_rep, nreps;  /* reps[first_rep .. first_rep + nreps) */
    int dip_day;           /* first day of a -30% volume week; -1: none */
    int holiday_from;      /* first day of a team holiday (Mon-Fri, no work); -1: none */
    int holiday_to;        /* the day after it */
} gwq_team_t;

typedef struct {
    char name[40];
    int team;
    gwq_truth_t truth;
    int planted_stage;  /* effectiveness: the stage (index in the funnel) that converts badly */
    double factor;      /* the planted volume or rate factor */
    int64_t first_slot; /* slot of the first event; -1: none yet */
    int join_day;       /* day it starts logging */
    int stop_day;       /* day it stops logging (days: never) */
    int away_from;      /* first day of a week of time off (no work); -1: none */
    int away_to;        /* the day after it */
    int left_day;       /* day it left the company (REP_LEFT); -1: stays */
    int64_t *prefix;    /* (nslots + 1) x GWQ_COLS prefix sums */
} gwq_rep_t;

typedef struct {
    const char *scenario;
    uint64_t seed;
    int days;        /* total simulated days, warm-up included */
    int warmup_days; /* history before the measured period */
    int nslots;      /* days x GWQ_SLOTS_PER_DAY */
    int tenant_start_day[2];
    int ntenants;
    gwq_team_t *teams;
    int nteams;
    gwq_rep_t *reps;
    int nreps;
} gwq_world_t;

/* Scenario names: "baseline", "team_dip", "new_reps", "late_tenant",
 * "calendar" (the sales calendar: a team's holiday week in the final week,
 * two healthy reps per team on a week of time off, one healthy rep per team
 * leaving; docs/calendars.md); NULL-terminated. */
extern const char *const gwq_scenarios[];

/*
 * Generates a world of `scenario` with `seed`: `days` measured days after a
 * warm-up of `warmup_days`. Returns NULL for an unknown scenario or on OOM.
 * Free with gwq_world_free().
 */
gwq_world_t *gwq_world_generate(const char *scenario, uint64_t seed, int days, int warmup_days);

void gwq_world_free(gwq_world_t *w);

/* Adds rep `r`'s counts of slots [from, to) into `out` (GWQ_COLS values). */
void gwq_world_sum(const gwq_world_t *w, int r, int64_t from, int64_t to, int64_t *out);

#endif
