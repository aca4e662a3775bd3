/*
 * gw_detector: the diagnosis of one rep in one window. Pure: takes the rep's
 * window totals and those of the other reps of its team, returns what is
 * wrong and why, with the evidence (p-values) behind each call.
 *
 * ROAM, in this order (docs/diagnosis.md):
 *   History and calendar: the objective is prorated to the share of the
 *     window's working time the rep's history covers and the rep was
 *     available (docs/calendars.md); a rep available less than
 *     `min_history` of it is not judged (not_available), nor is one whose
 *     history covers less (partial_history, or any gap with `skip`).
 *   Result vs Objective: result >= objective is healthy, whatever the
 *     activity (a rep is never diagnosed for low activity alone).
 *   Team baseline: what the team's typical rep does, not its pooled total:
 *     per stage the median of the other reps' conversion rates (reps with
 *     at least min_rep_trials trials in the evidence window), the median of
 *     their top-of-funnel volume per covered window, and how much reps
 *     differ (a robust spread: the negative binomial's dispersion).
 *   Activity: the reference volume is the lower of the volume the
 *     objective needs at the team's rates (or the rep's own, when the rep
 *     converts better: a lean rep needs less) and the team's typical
 *     volume. The rep's volume is an efficiency gap only when it is below
 *     the reference by more than the tolerance in the objective's window
 *     and significantly below the reference less the tolerance over the
 *     evidence window (a negative binomial test whose dispersion is a
 *     rep's own week-to-week spread, volume_spread, averaged over the
 *     evidence window): one bad week is chance, a month is not. A rep
 *     with no activity at all (outcomes of earlier work may still land) is
 *     tested against the typical rep's activities.
 *   Method: a stage's conversion is judged on the evidence window (longer
 *     than the objective's, so low-volume stages get judged) with a
 *     one-sided beta-binomial test against the typical rate less the
 *     tolerance (reps' own rates differ by at least rate_spread).
 *   A bad week: a gap is called only when the evidence window falls short
 *     of its (prorated) objective too; a rep whose month is on objective
 *     had a bad week (silence excepted).
 *   Many looks: gw_detector_team() applies the Benjamini-Hochberg step-up
 *     over all the tests of a team's short reps, so a team of twelve with
 *     three stages does not find a gap by chance every week.
 * Further signals beside the gaps: activity quality (goal and next step
 * recorded, over the inspected kinds), pipeline inflation, volume that
 * looks like gaming, a silent rep, a rep on ramp, partial history.
 *
 * Ownership: The caller owns the input, the output and `scratch`; peers are borrowed for the call.
 *   Scratch arrays gw_detector_evaluate and gw_detector_team need are malloc'ed and freed within
 *   the call.
 * Errors: No return codes: what cannot be judged is said in the diagnosis' kind, and an unknown
 *   figure is NaN. If malloc fails, gw_detector_evaluate reports GW_DIAG_INSUFFICIENT and
 *   gw_detector_team keeps each test's own decision.
 * Threads: Any thread, pure.
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
    GW_DIAG_PARTIAL_HISTORY,  /* history covers too little of the window to judge */
    GW_DIAG_UNAVAILABLE,      /* away (time off, holidays, not joined, left) too much to judge */
    GW_DIAG_COUNT
} gw_diag_kind_t;

/* "healthy", "efficiency_gap", "effectiveness_gap", "efficiency_and_effectiveness_gap",
 * "insufficient_data", "within_noise", "no_objective", "partial_history",
 * "not_available". */
const char *gw_diag_str(gw_diag_kind_t kind);

#define GW_SIGNAL_LOW_QUALITY (1u << 0) /* goals / next steps not recorded */
#define GW_SIGNAL_PIPELINE_INFLATION                                                               \
    (1u << 1)                       /* open pipeline far above objective, poor qualification */
#define GW_SIGNAL_GAMING  (1u << 2) /* volume far above the team, conversion collapsing */
#define GW_SIGNAL_SILENT  (1u << 3) /* no activity at all in the window */
#define GW_SIGNAL_RAMPING (1u << 4) /* objective scaled down by the ramp */
#define GW_SIGNAL_PARTIAL (1u << 5) /* objective prorated to partial history */
#define GW_SIGNAL_AWAY    (1u << 6) /* objective prorated to the rep's available working days */
#define GW_SIGNAL_COUNT   7

/* Name of signal bit `i` ("low_quality", "pipeline_inflation", "gaming",
 * "silent", "ramping", "partial_history", "time_off"). */
const char *gw_signal_str(int i);

/* The conversion from stage i to stage i + 1, judged on the evidence
 * window. */
typedef struct {
    int64_t rep_trials, rep_successes;   /* rep's count at stage i and i + 1 */
    int64_t team_trials, team_successes; /* the other reps' pooled counts */
    double rep_rate, rep_lo, rep_hi;     /* rate and Wilson interval */
    double rep_shrunk;                   /* rate shrunk towards the team's (beta prior) */
    double rho;       /* how reps' own rates spread around team_rate (intra-class correlation) */
    double team_rate; /* the typical rep's rate (median); NaN when unknown */
    double p;         /* one-sided p-value of "below team_rate less tolerance"; NaN: no test */
    bool judged;      /* enough rep trials and a team rate: the test was made */
    bool below;       /* significantly below the team */
} gw_transition_t;

typedef struct {
    gw_diag_kind_t kind;
    double objective;            /* after override, ramp and history */
    double ramp_factor;          /* 1 when not ramping */
    double coverage;             /* share of the window's working time expected of the rep */
    double away;                 /* share of the covered working time the rep was away */
    double result;               /* count or amount of the objective kind */
    double attainment;           /* result / objective */
    double required_volume;      /* top-of-funnel volume the objective needs; NaN when unknown */
    double reference_volume;     /* min(required, typical): the volume test's reference; NaN */
    double actual_volume;        /* rep's top-of-funnel count */
    double volume_p;             /* p-value of the volume test; NaN: not tested */
    double evidence_volume;      /* rep's top-of-funnel count in the evidence window */
    double evidence_result;      /* the objective's count or amount in the evidence window */
    double evidence_objective;   /* the objective prorated to the evidence window; NaN */
    double evidence_reference;   /* the reference over the evidence window; NaN */
    double dispersion;           /* negative binomial phi of the volume test (see Activity); before
                                  * it, of the team's evidence volumes */
    double volume_threshold;     /* volume p-values at or below this are significant */
    double conversion_threshold; /* conversion p-values at or below this are significant */
    int weakest;                 /* transition with the largest significant gap, -1 */
    int ntransitions;            /* nstages - 1 */
    gw_transition_t tr[GW_STAGES_MAX - 1];
    int64_t rep_stage[GW_STAGES_MAX];   /* rep's count per stage, objective window */
    int64_t team_stage[GW_STAGES_MAX];  /* the other reps' pooled count per stage */
    unsigned signals;                   /* GW_SIGNAL_* */
    double goal_share, next_step_share; /* of inspected events; NaN without any */
    double pipeline_open;   /* qualified - won - lost amounts; NaN without opportunities */
    double objective_value; /* the objective in money; NaN when unknown */
    double team_avg_volume; /* the typical rep's top-of-funnel, prorated; NaN when unknown */
    int team_size;          /* reps in the team including this one */
} gw_diagnosis_t;

/* A rep's counts in the windows the diagnosis reads. */
typedef struct {
    const int64_t *totals;   /* objective window totals by metric (GW_METRIC_MAX) */
    const int64_t *evidence; /* evidence window totals (may be `totals`) */
    /* The share of the objective window's working time the rep is expected
     * to have worked, 0..1: covered by history and available (calendar,
     * time off, joining, leaving); the objective is prorated by it. */
    double coverage;
    /* The share of the history-covered working time the rep was away
     * (holidays, time off, before joining, after leaving), 0..1: at or
     * above 1 - min_history the rep is not judged (not_available). */
    double away;
    double evidence_coverage; /* the same of the evidence window; <= 0: derived */
} gw_rep_counts_t;

typedef struct {
    gw_rep_counts_t rep;
    const gw_rep_counts_t *peers; /* the other reps of the team (borrowed) */
    int npeers;
    double target;         /* objective before ramp and history; NaN: none */
    double ramp_factor;    /* gw_playbook_ramp() of the rep */
    double evidence_scale; /* evidence window length / objective window length; <= 0: 1 */
} gw_detector_input_t;

/* Diagnoses one rep in one window, each test at the playbook's confidence
 * alone. */
void gw_detector_evaluate(const gw_playbook_t *pb, const gw_detector_input_t *in,
                          gw_diagnosis_t *out);

/*
 * Re-decides the `n` diagnoses of one team's reps in one window (each made
 * by gw_detector_evaluate) with the Benjamini-Hochberg step-up at
 * false-discovery rate 1 - confidence, over two families: the volume tests
 * and the conversion tests of the reps short of the objective. `scratch`
 * holds n * (GW_STAGES_MAX + 1) doubles.
 */
void gw_detector_team(const gw_playbook_t *pb, gw_diagnosis_t *const *diags, int n,
                      double *scratch);

/* True for the kinds that are a gap the alerts report (efficiency,
 * effectiveness, both). */
bool gw_diag_is_gap(gw_diag_kind_t kind);

/* Hysteresis for the alerts: true when the evidence says the efficiency
 * (resp. effectiveness) gap is gone, not merely short of significance: the
 * objective is met, or the volume reaches the reference (resp. no stage's
 * rate is below the team's less the tolerance). */
bool gw_detector_efficiency_cleared(const gw_playbook_t *pb, const gw_diagnosis_t *d);
bool gw_detector_effectiveness_cleared(const gw_playbook_t *pb, const gw_diagnosis_t *d);

#endif
