/*
 * gw_detector: the diagnosis of one rep in one window. Pure: takes the rep's
 * and the team's window totals, returns what is wrong and why.
 *
 * ROAM, in this order:
 *   Result vs Objective: result >= objective is healthy, whatever the
 *     activity (a rep is never diagnosed for low activity alone).
 *   Activity: the top-of-funnel volume needed is the objective divided by
 *     the product of the team's stage rates (the rep left out of the team);
 *     below it (less the tolerance) is an efficiency gap.
 *   Method: a stage whose Wilson interval lies wholly below the team's rate
 *     (less the tolerance) is an effectiveness gap; the weakest such stage
 *     is named. Both at once: coach effectiveness first.
 * Further signals beside the gaps: activity quality (goal and next step
 * recorded), pipeline inflation, volume that looks like gaming, a silent rep,
 * a rep on ramp.
 */
#ifndef GW_DETECTOR_H
#define GW_DETECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "gw_kinds.h"
#include "gw_playbook.h"

typedef enum {
    GW_DIAG_NO_OBJECTIVE = 0, /* the playbook sets no objective for this window */
    GW_DIAG_HEALTHY,          /* result >= objective */
    GW_DIAG_EFFICIENCY,       /* converts like the team, does too little */
    GW_DIAG_EFFECTIVENESS,    /* a stage converts significantly worse */
    GW_DIAG_BOTH,             /* both: coach effectiveness first */
    GW_DIAG_INSUFFICIENT,     /* too few events (rep or team) to say */
    GW_DIAG_WITHIN_NOISE,     /* short, enough data, but no gap stands out */
    GW_DIAG_COUNT
} gw_diag_kind_t;

/* "healthy", "efficiency_gap", "effectiveness_gap", "efficiency_and_effectiveness_gap",
 * "insufficient_data", "within_noise", "no_objective". */
const char *gw_diag_str(gw_diag_kind_t kind);

#define GW_SIGNAL_LOW_QUALITY (1u << 0) /* goals / next steps not recorded */
#define GW_SIGNAL_PIPELINE_INFLATION                                                               \
    (1u << 1)                       /* open pipeline far above objective, poor qualification */
#define GW_SIGNAL_GAMING  (1u << 2) /* volume far above the team, conversion collapsing */
#define GW_SIGNAL_SILENT  (1u << 3) /* no event at all in the window */
#define GW_SIGNAL_RAMPING (1u << 4) /* objective scaled down by the ramp */
#define GW_SIGNAL_COUNT   5

/* Name of signal bit `i` ("low_quality", "pipeline_inflation", "gaming",
 * "silent", "ramping"). */
const char *gw_signal_str(int i);

/* The conversion from stage i to stage i + 1. */
typedef struct {
    int64_t rep_trials, rep_successes;   /* rep's count at stage i and i + 1 */
    int64_t team_trials, team_successes; /* the team's, without the rep */
    double rep_rate, rep_lo, rep_hi;     /* rate and Wilson interval */
    double team_rate;                    /* NaN when the team has too few trials */
    bool judged;                         /* enough rep trials and a team rate: the test was made */
    bool below;                          /* significantly below the team */
} gw_transition_t;

typedef struct {
    gw_diag_kind_t kind;
    double objective;       /* after override and ramp */
    double ramp_factor;     /* 1 when not ramping */
    double result;          /* count or amount of the objective kind */
    double attainment;      /* result / objective */
    double required_volume; /* top-of-funnel volume needed; NaN when unknown */
    double actual_volume;   /* rep's top-of-funnel count */
    int weakest;            /* transition with the largest significant gap, -1 */
    int ntransitions;       /* nstages - 1 */
    gw_transition_t tr[GW_STAGES_MAX - 1];
    int64_t rep_stage[GW_STAGES_MAX];   /* rep's count per stage */
    int64_t team_stage[GW_STAGES_MAX];  /* team's count per stage, without the rep */
    unsigned signals;                   /* GW_SIGNAL_* */
    double goal_share, next_step_share; /* of activities; NaN without activities */
    double pipeline_open;   /* qualified - won - lost amounts; NaN without opportunities */
    double objective_value; /* the objective in money; NaN when unknown */
    double team_avg_volume; /* top-of-funnel per other rep; NaN when unknown */
} gw_diagnosis_t;

typedef struct {
    const int64_t *rep;  /* rep window totals, indexed by metric (GW_METRIC_MAX) */
    const int64_t *team; /* team window totals including the rep */
    int team_size;       /* reps in the team including this one; 0 when unknown */
    double target;       /* objective before the ramp; NaN: none */
    double ramp_factor;  /* gw_playbook_ramp() of the rep */
} gw_detector_input_t;

/* Diagnoses one rep in one window. */
void gw_detector_evaluate(const gw_playbook_t *pb, const gw_detector_input_t *in,
                          gw_diagnosis_t *out);

/* True for the kinds that are a gap the alerts report (efficiency,
 * effectiveness, both). */
bool gw_diag_is_gap(gw_diag_kind_t kind);

#endif
