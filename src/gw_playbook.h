/*
 * gw_playbook: how one role sells, as configured (`playbooks:` in the YAML):
 * the teams it covers, the funnel (ordered stages, each a set of kinds), the
 * outcome objective per window, per-rep overrides, the ramp of new reps, and
 * the thresholds of the diagnosis. Pure: lookups only, no I/O.
 *
 * Playbooks are loaded and validated by gw_config (see gw_config_playbook.c)
 * and owned by the gw_config_t they belong to.
 *
 * Ownership: gw_playbook_t is owned by the gw_config_t it belongs to (freed with it); lookups
 *   return borrowed pointers into it.
 * Errors: No return codes: no match is NULL or -1, no objective NaN.
 * Threads: Any thread, pure.
 */
#ifndef GW_PLAYBOOK_H
#define GW_PLAYBOOK_H

#include <stdbool.h>
#include <stdint.h>

#include "gw_calendar.h"
#include "gw_kinds.h"
#include "gw_window.h"

#define GW_STAGES_MAX      8
#define GW_STAGE_KINDS_MAX 8
#define GW_STAGE_NAME_MAX  32
#define GW_PLAYBOOKS_MAX   16
#define GW_RAMP_WEEKS_MAX  26

typedef struct {
    char name[GW_STAGE_NAME_MAX + 1];
    int kinds[GW_STAGE_KINDS_MAX];
    int nkinds;
} gw_stage_t;

typedef enum {
    GW_OBJECTIVE_COUNT = 0, /* number of events of objective_kind */
    GW_OBJECTIVE_AMOUNT,    /* sum of amount_minor of objective_kind */
} gw_objective_type_t;

/* A window that history covers only in part (a new rep, team or tenant, a
 * deployment on a backlog): judged against the objective prorated to the
 * covered share, or not judged until covered. */
typedef enum {
    GW_HISTORY_PRORATE = 0,
    GW_HISTORY_SKIP,
} gw_history_rule_t;

/* A rep's own objective (NaN in a window: the playbook's). */
typedef struct {
    const char *tenant; /* NULL: any tenant */
    const char *rep;
    double target[GW_WINDOWS_MAX];
} gw_override_t;

typedef struct {
    const char *name;
    const char **teams; /* "team", "tenant/team", or "*" for every other team */
    int nteams;
    gw_stage_t stages[GW_STAGES_MAX];
    int nstages;
    gw_objective_type_t objective_type;
    int objective_kind;
    int objective_stage;                   /* stage holding objective_kind */
    double target[GW_WINDOWS_MAX];         /* per configured window; NaN: not evaluated there */
    double period_target[GW_PERIOD_COUNT]; /* per calendar period; NaN: no pace there */
    double pace_min_elapsed; /* share of a period's available days before pace is judged */
    gw_override_t *overrides;
    int noverrides;
    double ramp[GW_RAMP_WEEKS_MAX]; /* objective factor in week i since the rep's first event */
    int nramp;
    double confidence;   /* of the Wilson intervals */
    double z;            /* derived from confidence */
    double tolerance;    /* relative shortfall ignored by both gap tests */
    int min_rep_trials;  /* a rep's stage with fewer trials is not judged */
    int min_team_trials; /* a team baseline with fewer trials is unknown */
    int quality_min_activities;
    double quality_min_goal_share;      /* 0 disables */
    double quality_min_next_step_share; /* 0 disables */
    double pipeline_inflation;          /* open pipeline above this many objectives; 0 disables */
    double gaming_factor;               /* volume above this many team averages; 0 disables */
    int evidence_window;                /* window whose counts judge conversion; -1: the longest */
    gw_history_rule_t partial_history;
    double min_history;          /* share of a window with history below which nothing is judged */
    double volume_spread;        /* least spread of reps' volumes (coefficient of variation) */
    double rate_spread;          /* least spread of reps' stage rates (coefficient of variation) */
    bool inspected[GW_KIND_MAX]; /* kinds whose goal and next step are inspected */
} gw_playbook_t;

/* The playbook covering `team` of `tenant` among `n`, or NULL. An exact
 * "tenant/team" entry wins over "team", which wins over "*". */
const gw_playbook_t *gw_playbook_for_team(const gw_playbook_t *books, int n, const char *tenant,
                                          const char *team);

/* The objective of `rep` in window `w` before the ramp: the override's if
 * any, else the playbook's. NaN when the window has no objective. */
double gw_playbook_target(const gw_playbook_t *pb, const char *tenant, const char *rep, int w);

/* The ramp factor for a rep whose first event was `weeks` whole weeks before
 * the evaluation (1.0 once past the ramp, or with no ramp). */
double gw_playbook_ramp(const gw_playbook_t *pb, int64_t weeks);

/* Index of the stage holding `kind`, or -1. */
int gw_playbook_stage_of(const gw_playbook_t *pb, int kind);

#endif
