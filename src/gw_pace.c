/* gw_pace: period pace, projection and plan. */
#include "gw_pace.h"

#include <math.h>
#include <stdint.h>

#include "gw_stats.h"

void gw_pace_evaluate(const gw_playbook_t *pb, const gw_pace_input_t *in, gw_pace_t *out)
{
    *out = (gw_pace_t){.objective = NAN,
                       .objective_to_date = NAN,
                       .projected = NAN,
                       .p = NAN,
                       .plan_team = NAN,
                       .plan_rep = NAN,
                       .cleared = true};
    if (isnan(in->target) || in->nominal_days <= 0 || in->available_days <= 0)
        return;
    double ramp = in->ramp_factor > 0 ? in->ramp_factor : 1;
    double avail = in->available_days, gone = in->elapsed_days < 0 ? 0 : in->elapsed_days;
    if (gone > avail)
        gone = avail;
    out->objective = in->target * ramp * avail / in->nominal_days;
    out->objective_to_date = out->objective * gone / avail;
    out->remaining_days = avail - gone;
    if (gone > 0)
        out->projected = in->result * avail / gone;
    double needed = out->objective - in->result;
    if (needed > 0 && out->remaining_days > 0) {
        if (in->team_conversion > 0)
            out->plan_team = needed / in->team_conversion / out->remaining_days;
        if (in->rep_conversion > 0)
            out->plan_rep = needed / in->rep_conversion / out->remaining_days;
    }
    double min_gone = pb->pace_min_elapsed * avail;
    out->judged = gone >= (min_gone > 1 ? min_gone : 1) && out->remaining_days >= 1;
    if (in->result >= out->objective || !out->judged)
        return; /* outcomes first; too early or too late to act */
    double unit = in->unit > 0 ? in->unit : 1;
    double due = out->objective_to_date * (1 - pb->tolerance);
    double phi = pb->volume_spread * pb->volume_spread;
    out->p =
        gw_stats_negbin_cdf((int64_t)floor(in->result / unit), out->objective_to_date / unit, phi);
    out->cleared = in->result >= due;
    out->behind =
        in->result < due && out->projected < out->objective && out->p <= 1 - pb->confidence;
}
