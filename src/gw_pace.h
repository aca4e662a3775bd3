/*
 * gw_pace: where a rep stands in a calendar period (week, month, quarter)
 * while it can still be fixed. Pure: no I/O.
 *
 * Given the period's objective, the rep's available working days in the
 * whole period and so far (gw_calendar), the result so far and the funnel's
 * conversion at the team's and the rep's own rates, it gives the objective
 * to date, the projection at the current pace and the plan: the
 * top-of-funnel activity per remaining available working day that reaches
 * the objective (docs/calendars.md).
 *
 * Behind pace is called only beyond noise and early enough to act: at
 * least `pace_min_elapsed` of the rep's available days gone (one day at
 * least) and one left, the projection short of the objective, the result
 * below the objective to date less the tolerance, and a negative binomial
 * test (reps' spread at least volume_spread) of "a rep on pace would make
 * this few" at the playbook's confidence. Outcomes first: a rep at the
 * period's objective is never behind pace.
 *
 * Ownership: The caller owns the input and the output; nothing is allocated.
 * Errors: No return codes: an unknown figure is NaN and a period not judged says so in the output.
 * Threads: Any thread, pure.
 */
#ifndef GW_PACE_H
#define GW_PACE_H

#include <stdbool.h>

#include "gw_playbook.h"

typedef struct {
    double target;          /* the period's objective (playbook); NaN: none */
    double ramp_factor;     /* gw_playbook_ramp() of the rep, 1 when not ramping */
    double nominal_days;    /* working days of the period (calendar) */
    double available_days;  /* the rep's available working days of the whole period */
    double elapsed_days;    /* ... of them gone by the evaluation */
    double result;          /* count or amount of the objective so far */
    double unit;            /* amount per objective event (AMOUNT objectives), else 1 */
    double team_conversion; /* objective per top-of-funnel activity, team's rates; NaN */
    double rep_conversion;  /* ... at the rep's own (shrunk) rates; NaN */
} gw_pace_input_t;

typedef struct {
    bool judged;              /* the period is far enough in, and not over */
    bool behind;              /* behind pace beyond chance */
    bool cleared;             /* back on pace, objective met, or not judged */
    double objective;         /* the period's, prorated to availability and ramp; NaN */
    double objective_to_date; /* the share of it due by now */
    double projected;         /* result at the current pace by the period's end; NaN */
    double remaining_days;    /* available working days left */
    double p;                 /* P(this few or fewer | on pace); NaN: not tested */
    double plan_team;         /* top-of-funnel per remaining day, team's rates; NaN */
    double plan_rep;          /* the same at the rep's own rates; NaN */
} gw_pace_t;

void gw_pace_evaluate(const gw_playbook_t *pb, const gw_pace_input_t *in, gw_pace_t *out);

#endif
