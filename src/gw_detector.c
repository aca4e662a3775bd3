/*
 * gw_detector: funnel arithmetic and the decision table of gw_detector.h.
 * Every count the decision uses is kept in the diagnosis, so the snapshot
 * in Redis and the alert can show their work.
 */
#include "gw_detector.h"

#include <math.h>
#include <string.h>

#include "gw_stats.h"

static const char *const diag_names[GW_DIAG_COUNT] = {
    [GW_DIAG_NO_OBJECTIVE] = "no_objective",
    [GW_DIAG_HEALTHY] = "healthy",
    [GW_DIAG_EFFICIENCY] = "efficiency_gap",
    [GW_DIAG_EFFECTIVENESS] = "effectiveness_gap",
    [GW_DIAG_BOTH] = "efficiency_and_effectiveness_gap",
    [GW_DIAG_INSUFFICIENT] = "insufficient_data",
    [GW_DIAG_WITHIN_NOISE] = "within_noise",
};

static const char *const signal_names[GW_SIGNAL_COUNT] = {
    "low_quality", "pipeline_inflation", "gaming", "silent", "ramping",
};

const char *gw_diag_str(gw_diag_kind_t kind)
{
    return kind >= 0 && kind < GW_DIAG_COUNT ? diag_names[kind] : "unknown";
}

const char *gw_signal_str(int i)
{
    return i >= 0 && i < GW_SIGNAL_COUNT ? signal_names[i] : "unknown";
}

bool gw_diag_is_gap(gw_diag_kind_t kind)
{
    return kind == GW_DIAG_EFFICIENCY || kind == GW_DIAG_EFFECTIVENESS || kind == GW_DIAG_BOTH;
}

static int64_t stage_count(const gw_stage_t *st, const int64_t *totals)
{
    int64_t n = 0;
    for (int k = 0; k < st->nkinds; k++)
        n += totals[gw_metric_count(st->kinds[k])];
    return n;
}

static int64_t minus(const int64_t *team, const int64_t *rep, int metric)
{
    int64_t v = team[metric] - rep[metric];
    return v > 0 ? v : 0;
}

static void judge_transition(const gw_playbook_t *pb, gw_transition_t *t)
{
    t->rep_rate = t->rep_trials ? (double)t->rep_successes / (double)t->rep_trials : 0;
    gw_stats_wilson(t->rep_successes, t->rep_trials, pb->z, &t->rep_lo, &t->rep_hi);
    t->team_rate = t->team_trials >= pb->min_team_trials
                       ? (double)t->team_successes / (double)t->team_trials
                       : NAN;
    t->judged = !isnan(t->team_rate) && t->rep_trials >= pb->min_rep_trials;
    t->below = t->judged && t->rep_hi < t->team_rate * (1 - pb->tolerance);
}

/* The objective in money: the amount itself, or the count times the team's
 * average amount of that kind. */
static double objective_value(const gw_playbook_t *pb, const int64_t *team, double objective)
{
    if (pb->objective_type == GW_OBJECTIVE_AMOUNT)
        return objective;
    int64_t n = team[gw_metric_count(pb->objective_kind)];
    int64_t amount = team[gw_metric_amount(pb->objective_kind)];
    return n > 0 && amount > 0 ? objective * (double)amount / (double)n : NAN;
}

static void further_signals(const gw_playbook_t *pb, const gw_detector_input_t *in,
                            gw_diagnosis_t *d, bool any_below)
{
    const int64_t *rep = in->rep, *team = in->team;
    int64_t acts = rep[GW_METRIC_ACTIVITIES];
    if (acts >= pb->quality_min_activities &&
        ((pb->quality_min_goal_share > 0 && d->goal_share < pb->quality_min_goal_share) ||
         (pb->quality_min_next_step_share > 0 &&
          d->next_step_share < pb->quality_min_next_step_share)))
        d->signals |= GW_SIGNAL_LOW_QUALITY;

    const int q = 10, won = 11, lost = 12; /* OPPORTUNITY_QUALIFIED, DEAL_WON, DEAL_LOST */
    if (rep[gw_metric_count(q)] > 0 && pb->pipeline_inflation > 0) {
        double open = (double)rep[gw_metric_amount(q)] - (double)rep[gw_metric_amount(won)] -
                      (double)rep[gw_metric_amount(lost)];
        d->pipeline_open = open > 0 ? open : 0;
        /* Poor qualification: qualified opportunities close significantly
         * worse than the team's, or the activities lack goals and next steps. */
        gw_transition_t close = {
            .rep_trials = rep[gw_metric_count(q)],
            .rep_successes = rep[gw_metric_count(won)],
            .team_trials = minus(team, rep, gw_metric_count(q)),
            .team_successes = minus(team, rep, gw_metric_count(won)),
        };
        judge_transition(pb, &close);
        bool poor = close.below || (d->signals & GW_SIGNAL_LOW_QUALITY);
        if (poor && !isnan(d->objective_value) && d->objective_value > 0 &&
            d->pipeline_open > pb->pipeline_inflation * d->objective_value)
            d->signals |= GW_SIGNAL_PIPELINE_INFLATION;
    }
    if (pb->gaming_factor > 0 && any_below && !isnan(d->team_avg_volume) &&
        d->actual_volume > pb->gaming_factor * d->team_avg_volume)
        d->signals |= GW_SIGNAL_GAMING;
}

void gw_detector_evaluate(const gw_playbook_t *pb, const gw_detector_input_t *in, gw_diagnosis_t *d)
{
    memset(d, 0, sizeof(*d));
    d->weakest = -1;
    d->required_volume = NAN;
    d->goal_share = d->next_step_share = NAN;
    d->pipeline_open = d->objective_value = d->team_avg_volume = NAN;
    d->ramp_factor = in->ramp_factor > 0 ? in->ramp_factor : 1.0;
    const int64_t *rep = in->rep, *team = in->team;

    for (int s = 0; s < pb->nstages; s++) {
        d->rep_stage[s] = stage_count(&pb->stages[s], rep);
        int64_t t = stage_count(&pb->stages[s], team) - d->rep_stage[s];
        d->team_stage[s] = t > 0 ? t : 0;
    }
    d->ntransitions = pb->nstages - 1;
    for (int i = 0; i < d->ntransitions; i++) {
        gw_transition_t *t = &d->tr[i];
        t->rep_trials = d->rep_stage[i];
        t->rep_successes = d->rep_stage[i + 1];
        t->team_trials = d->team_stage[i];
        t->team_successes = d->team_stage[i + 1];
        judge_transition(pb, t);
    }
    d->actual_volume = (double)d->rep_stage[0];
    int64_t acts = rep[GW_METRIC_ACTIVITIES];
    if (acts > 0) {
        d->goal_share = (double)rep[GW_METRIC_WITH_GOAL] / (double)acts;
        d->next_step_share = (double)rep[GW_METRIC_WITH_NEXT_STEP] / (double)acts;
    }
    if (in->team_size > 1)
        d->team_avg_volume = (double)d->team_stage[0] / (double)(in->team_size - 1);

    if (isnan(in->target)) {
        d->kind = GW_DIAG_NO_OBJECTIVE;
        return;
    }
    d->objective = in->target * d->ramp_factor;
    if (d->ramp_factor < 1)
        d->signals |= GW_SIGNAL_RAMPING;
    int metric = pb->objective_type == GW_OBJECTIVE_AMOUNT ? gw_metric_amount(pb->objective_kind)
                                                           : gw_metric_count(pb->objective_kind);
    d->result = (double)rep[metric];
    d->attainment = d->objective > 0 ? d->result / d->objective : INFINITY;
    d->objective_value = objective_value(pb, team, d->objective);
    if (d->result >= d->objective) {
        d->kind = GW_DIAG_HEALTHY; /* outcomes first: nothing else is judged */
        return;
    }

    /* Required volume: outcomes needed over the product of the team's rates
     * of the stages leading to the objective's stage. */
    double needed = d->objective;
    if (pb->objective_type == GW_OBJECTIVE_AMOUNT) {
        int64_t n = minus(team, rep, gw_metric_count(pb->objective_kind));
        int64_t amount = minus(team, rep, metric);
        needed = n > 0 && amount > 0 ? d->objective / ((double)amount / (double)n) : NAN;
    }
    double product = 1;
    bool known = !isnan(needed);
    for (int i = 0; i < pb->objective_stage && known; i++) {
        if (isnan(d->tr[i].team_rate) || d->tr[i].team_rate <= 0)
            known = false;
        else
            product *= d->tr[i].team_rate;
    }
    if (known)
        d->required_volume = needed / product;

    bool any_below = false, all_judged = true;
    double worst = INFINITY;
    for (int i = 0; i < pb->objective_stage; i++) {
        const gw_transition_t *t = &d->tr[i];
        all_judged &= t->judged;
        if (!t->below)
            continue;
        any_below = true;
        double ratio = t->team_rate > 0 ? t->rep_rate / t->team_rate : 0;
        if (ratio < worst) {
            worst = ratio;
            d->weakest = i;
        }
    }
    bool silent = rep[GW_METRIC_EVENTS] == 0;
    bool volume_low = known && d->actual_volume < d->required_volume * (1 - pb->tolerance);
    if (silent) {
        d->signals |= GW_SIGNAL_SILENT;
        d->kind = GW_DIAG_EFFICIENCY; /* the largest efficiency gap */
    } else if (any_below && volume_low) {
        d->kind = GW_DIAG_BOTH;
    } else if (any_below) {
        d->kind = GW_DIAG_EFFECTIVENESS;
    } else if (volume_low) {
        d->kind = GW_DIAG_EFFICIENCY;
    } else if (!known || !all_judged) {
        d->kind = GW_DIAG_INSUFFICIENT;
    } else {
        d->kind = GW_DIAG_WITHIN_NOISE;
    }
    further_signals(pb, in, d, any_below);
}
