/*
 * gw_detector: funnel arithmetic, robust team baselines, the tests and the
 * decision table of gw_detector.h. Every count and p-value the decision
 * uses is kept in the diagnosis, so the snapshot in Redis and the alert can
 * show their work.
 */
#include "gw_detector.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gw_stats.h"

/* A typical rate or volume needs this many other reps with enough data;
 * with fewer, the other reps' pooled counts stand in. */
#define MIN_PEERS 3

/* Largest team whose peers' figures are kept on the stack. */
#define PEERS_MAX 4096

static const char *const diag_names[GW_DIAG_COUNT] = {
    [GW_DIAG_NO_OBJECTIVE] = "no_objective",
    [GW_DIAG_HEALTHY] = "healthy",
    [GW_DIAG_EFFICIENCY] = "efficiency_gap",
    [GW_DIAG_EFFECTIVENESS] = "effectiveness_gap",
    [GW_DIAG_BOTH] = "efficiency_and_effectiveness_gap",
    [GW_DIAG_INSUFFICIENT] = "insufficient_data",
    [GW_DIAG_WITHIN_NOISE] = "within_noise",
    [GW_DIAG_PARTIAL_HISTORY] = "partial_history",
    [GW_DIAG_UNAVAILABLE] = "not_available",
};

static const char *const signal_names[GW_SIGNAL_COUNT] = {
    "low_quality", "pipeline_inflation", "gaming",   "silent",
    "ramping",     "partial_history",    "time_off",
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

static double alpha(const gw_playbook_t *pb)
{
    return 1 - pb->confidence;
}

/* The typical rep's rate of transition i: the median of the other reps'
 * rates among those with min_rep_trials trials; with fewer than MIN_PEERS
 * of them, the pooled rate if it rests on min_team_trials; else NaN. *rho
 * is how much reps' own rates spread around it, as the beta-binomial's
 * intra-class correlation: the robust spread of the other reps' rates less
 * what their binomial noise explains, and at least rate_spread. */
static double typical_rate(const gw_playbook_t *pb, const gw_detector_input_t *in, int i,
                           int64_t pooled_trials, int64_t pooled_successes, double *scratch,
                           double *rho)
{
    int m = 0;
    double noise = 0;
    for (int p = 0; p < in->npeers && p < PEERS_MAX; p++) {
        int64_t n = stage_count(&pb->stages[i], in->peers[p].evidence);
        int64_t s = stage_count(&pb->stages[i + 1], in->peers[p].evidence);
        if (n < pb->min_rep_trials)
            continue;
        double r = (double)(s < n ? s : n) / (double)n;
        scratch[m++] = r;
        noise += 1.0 / (double)n;
    }
    double rate = NAN;
    if (m >= MIN_PEERS)
        rate = gw_stats_median(scratch, m);
    else if (pooled_trials >= pb->min_team_trials)
        rate = (double)pooled_successes / (double)pooled_trials;
    *rho = 0;
    if (isnan(rate) || rate <= 0 || rate >= 1)
        return rate;
    double var_floor = pb->rate_spread * rate * pb->rate_spread * rate;
    double var = var_floor;
    if (m >= MIN_PEERS) {
        double sd = gw_stats_inner_sd(scratch, m, rate);
        double between = isnan(sd) ? 0 : sd * sd - rate * (1 - rate) * noise / m;
        if (between > var)
            var = between;
    }
    *rho = var / (rate * (1 - rate));
    return rate;
}

/* A rep's coverage of its evidence window: given, or derived from the
 * objective window's when that is partial. */
static double evidence_coverage(const gw_rep_counts_t *c, double scale)
{
    if (c->evidence_coverage > 0)
        return c->evidence_coverage > 1 ? 1 : c->evidence_coverage;
    if (c->coverage < 1)
        return c->coverage / scale;
    return 1;
}

/* What the typical rep does over a whole window: the median over the other
 * reps who worked in it (at least one event; a rep away or gone is no
 * baseline) of `metric` of their totals (`evidence`: of the evidence
 * window), each divided by its coverage; and the negative binomial
 * dispersion of those figures from their robust spread, at least
 * volume_spread squared. metric < 0: the top of the funnel. */
static double typical_of(const gw_playbook_t *pb, const gw_detector_input_t *in, bool evidence,
                         int metric, double scale, double *scratch, double *phi)
{
    int m = 0;
    double floor_cov = pb->min_history > 0.1 ? pb->min_history : 0.1;
    for (int p = 0; p < in->npeers && p < PEERS_MAX; p++) {
        const gw_rep_counts_t *c = &in->peers[p];
        const int64_t *t = evidence && c->evidence ? c->evidence : c->totals;
        double cov = evidence ? evidence_coverage(c, scale) : c->coverage;
        if (cov < floor_cov || t[GW_METRIC_EVENTS] == 0)
            continue;
        double v = metric < 0 ? (double)stage_count(&pb->stages[0], t) : (double)t[metric];
        scratch[m++] = v / cov;
    }
    *phi = pb->volume_spread * pb->volume_spread;
    if (m == 0)
        return NAN;
    double med = gw_stats_median(scratch, m);
    double sd = gw_stats_inner_sd(scratch, m, med);
    if (!isnan(sd) && med > 0) {
        double extra = (sd * sd - med) / (med * med);
        if (extra > *phi)
            *phi = extra;
    }
    return med;
}

static void judge_transition(const gw_playbook_t *pb, gw_transition_t *t)
{
    t->rep_rate = t->rep_trials ? (double)t->rep_successes / (double)t->rep_trials : 0;
    if (t->rep_rate > 1)
        t->rep_rate = 1;
    gw_stats_wilson(t->rep_successes, t->rep_trials, pb->z, &t->rep_lo, &t->rep_hi);
    double k = (double)pb->min_rep_trials; /* the prior's weight, in trials */
    t->rep_shrunk = isnan(t->team_rate) ? t->rep_rate
                                        : ((double)t->rep_successes + k * t->team_rate) /
                                              ((double)t->rep_trials + k);
    t->judged = !isnan(t->team_rate) && t->rep_trials >= pb->min_rep_trials;
    t->p = NAN;
    if (t->judged) {
        /* reps working like the typical rep differ among themselves: the
         * null is a beta-binomial around the typical rate, not a binomial
         * (the tolerance is the size of a gap worth a call: decide) */
        int64_t s = t->rep_successes < t->rep_trials ? t->rep_successes : t->rep_trials;
        t->p = gw_stats_betabinom_cdf(s, t->rep_trials, t->team_rate * (1 - pb->tolerance), t->rho);
    }
}

/* The objective in money: the amount itself, or the count times the other
 * reps' average amount of that kind. */
static double objective_value(const gw_playbook_t *pb, const int64_t *others, double objective)
{
    if (pb->objective_type == GW_OBJECTIVE_AMOUNT)
        return objective;
    int64_t n = others[gw_metric_count(pb->objective_kind)];
    int64_t amount = others[gw_metric_amount(pb->objective_kind)];
    return n > 0 && amount > 0 ? objective * (double)amount / (double)n : NAN;
}

/* Sets the gap decisions of `d` at significance thresholds `thr_v` (the
 * volume test) and `thr_c` (the conversion tests). */
static void decide(const gw_playbook_t *pb, gw_diagnosis_t *d, double thr_v, double thr_c)
{
    d->volume_threshold = thr_v;
    d->conversion_threshold = thr_c;
    d->weakest = -1;
    bool any_below = false, all_judged = true;
    double worst = INFINITY;
    for (int i = 0; i < d->ntransitions; i++) {
        gw_transition_t *t = &d->tr[i];
        t->below = t->judged && t->p <= thr_c && t->rep_rate < t->team_rate * (1 - pb->tolerance);
        if (i >= pb->objective_stage)
            continue; /* stages after the objective do not explain it */
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
    /* A whole window of silence needs no baseline to be a gap. */
    bool silent_whole =
        (d->signals & GW_SIGNAL_SILENT) && isnan(d->reference_volume) && d->coverage >= 1;
    bool silent = d->signals & GW_SIGNAL_SILENT;
    bool volume_low =
        silent_whole ||
        (!isnan(d->volume_p) && d->volume_p <= thr_v &&
         (silent || d->evidence_volume < d->evidence_reference * (1 - pb->tolerance)));
    /* A rep whose evidence window meets its objective had a bad week. */
    if (!silent && !isnan(d->evidence_objective) && d->evidence_result >= d->evidence_objective) {
        any_below = volume_low = false;
        d->weakest = -1;
        for (int i = 0; i < d->ntransitions; i++)
            d->tr[i].below = false;
    }
    if (any_below && volume_low)
        d->kind = GW_DIAG_BOTH;
    else if (any_below)
        d->kind = GW_DIAG_EFFECTIVENESS;
    else if (volume_low)
        d->kind = GW_DIAG_EFFICIENCY;
    else if (isnan(d->reference_volume) || !all_judged)
        d->kind = GW_DIAG_INSUFFICIENT;
    else
        d->kind = GW_DIAG_WITHIN_NOISE;
    d->signals &= ~GW_SIGNAL_GAMING;
    if (pb->gaming_factor > 0 && any_below && !isnan(d->team_avg_volume) &&
        d->actual_volume > pb->gaming_factor * d->team_avg_volume)
        d->signals |= GW_SIGNAL_GAMING;
}

static void quality_shares(const gw_playbook_t *pb, const int64_t *rep, gw_diagnosis_t *d,
                           int64_t *inspected)
{
    int64_t n = 0, goal = 0, next = 0;
    for (int k = 0; k < GW_KIND_MAX; k++) {
        if (!pb->inspected[k])
            continue;
        n += rep[gw_metric_count(k)];
        goal += rep[gw_metric_goal(k)];
        next += rep[gw_metric_next_step(k)];
    }
    *inspected = n;
    if (n > 0) {
        d->goal_share = (double)goal / (double)n;
        d->next_step_share = (double)next / (double)n;
    }
}

static void further_signals(const gw_playbook_t *pb, const int64_t *rep, const int64_t *others,
                            int64_t inspected, gw_diagnosis_t *d)
{
    if (inspected >= pb->quality_min_activities &&
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
         * worse than the other reps', or activities lack goals and next steps. */
        gw_transition_t close = {
            .rep_trials = rep[gw_metric_count(q)],
            .rep_successes = rep[gw_metric_count(won)],
            .team_rate =
                others[gw_metric_count(q)] >= pb->min_team_trials
                    ? (double)others[gw_metric_count(won)] / (double)others[gw_metric_count(q)]
                    : NAN,
        };
        judge_transition(pb, &close);
        bool poor = (close.judged && close.p <= alpha(pb) &&
                     close.rep_rate < close.team_rate * (1 - pb->tolerance)) ||
                    (d->signals & GW_SIGNAL_LOW_QUALITY);
        if (poor && !isnan(d->objective_value) && d->objective_value > 0 &&
            d->pipeline_open > pb->pipeline_inflation * d->objective_value)
            d->signals |= GW_SIGNAL_PIPELINE_INFLATION;
    }
}

/* The volume the objective needs at the better of the team's and the rep's
 * own (shrunk) rates up to the objective's stage; NaN when a rate is
 * unknown. */
static double required_volume(const gw_playbook_t *pb, const int64_t *others,
                              const gw_diagnosis_t *d)
{
    double needed = d->objective;
    if (pb->objective_type == GW_OBJECTIVE_AMOUNT) {
        int64_t n = others[gw_metric_count(pb->objective_kind)];
        int64_t amount = others[gw_metric_amount(pb->objective_kind)];
        if (n <= 0 || amount <= 0)
            return NAN;
        needed = d->objective / ((double)amount / (double)n);
    }
    double product = 1;
    for (int i = 0; i < pb->objective_stage; i++) {
        const gw_transition_t *t = &d->tr[i];
        if (isnan(t->team_rate) || t->team_rate <= 0)
            return NAN;
        product *= t->rep_shrunk > t->team_rate ? t->rep_shrunk : t->team_rate;
    }
    return needed / product;
}

void gw_detector_evaluate(const gw_playbook_t *pb, const gw_detector_input_t *in, gw_diagnosis_t *d)
{
    static const int64_t zero[GW_METRIC_MAX];
    memset(d, 0, sizeof(*d));
    d->weakest = -1;
    d->required_volume = d->reference_volume = d->volume_p = d->evidence_reference = NAN;
    d->evidence_objective = NAN;
    d->goal_share = d->next_step_share = NAN;
    d->pipeline_open = d->objective_value = d->team_avg_volume = NAN;
    d->ramp_factor = in->ramp_factor > 0 ? in->ramp_factor : 1.0;
    d->coverage = in->rep.coverage < 0 ? 0 : in->rep.coverage > 1 ? 1 : in->rep.coverage;
    d->team_size = in->npeers + 1;
    d->volume_threshold = d->conversion_threshold = alpha(pb);
    double scale = in->evidence_scale > 0 ? in->evidence_scale : 1;
    const int64_t *rep = in->rep.totals;
    const int64_t *rep_ev = in->rep.evidence ? in->rep.evidence : rep;

    /* The other reps' pooled counts, objective and evidence windows. */
    int64_t *others = calloc(2 * GW_METRIC_MAX, sizeof(int64_t));
    double *scratch = malloc(PEERS_MAX * sizeof(double));
    if (!others || !scratch) {
        free(others);
        free(scratch);
        d->kind = GW_DIAG_INSUFFICIENT;
        return;
    }
    int64_t *others_ev = others + GW_METRIC_MAX;
    for (int p = 0; p < in->npeers; p++) {
        const int64_t *t = in->peers[p].totals ? in->peers[p].totals : zero;
        const int64_t *e = in->peers[p].evidence ? in->peers[p].evidence : t;
        for (int m = 0; m < GW_METRIC_MAX; m++) {
            others[m] += t[m];
            others_ev[m] += e[m];
        }
    }

    for (int s = 0; s < pb->nstages; s++) {
        d->rep_stage[s] = stage_count(&pb->stages[s], rep);
        d->team_stage[s] = stage_count(&pb->stages[s], others);
    }
    d->ntransitions = pb->nstages - 1;
    for (int i = 0; i < d->ntransitions; i++) {
        gw_transition_t *t = &d->tr[i];
        t->rep_trials = stage_count(&pb->stages[i], rep_ev);
        t->rep_successes = stage_count(&pb->stages[i + 1], rep_ev);
        t->team_trials = stage_count(&pb->stages[i], others_ev);
        t->team_successes = stage_count(&pb->stages[i + 1], others_ev);
        t->team_rate = typical_rate(pb, in, i, t->team_trials, t->team_successes, scratch, &t->rho);
        judge_transition(pb, t);
    }
    d->actual_volume = (double)d->rep_stage[0];
    d->evidence_volume = (double)stage_count(&pb->stages[0], rep_ev);
    double phi, phi_ev;
    double typical = typical_of(pb, in, false, -1, scale, scratch, &phi);
    double typical_ev = typical_of(pb, in, true, -1, scale, scratch, &phi_ev);
    d->dispersion = phi_ev;
    if (!isnan(typical))
        d->team_avg_volume = typical * d->coverage;
    int64_t inspected = 0;
    quality_shares(pb, rep, d, &inspected);
    if (rep[GW_METRIC_ACTIVITIES] == 0)
        d->signals |= GW_SIGNAL_SILENT;

    if (isnan(in->target)) {
        d->kind = GW_DIAG_NO_OBJECTIVE;
        goto out;
    }
    /* Away too much (a holiday week, time off, not yet joined, left): not
     * judged, whatever the counts say. */
    d->away = in->rep.away > 1 ? 1 : in->rep.away > 0 ? in->rep.away : 0;
    double avail = 1 - d->away;
    d->objective = in->target * d->ramp_factor * d->coverage;
    if (avail <= 0 || avail < pb->min_history) {
        d->kind = GW_DIAG_UNAVAILABLE;
        d->signals = GW_SIGNAL_AWAY;
        goto out;
    }
    if (avail < 1)
        d->signals |= GW_SIGNAL_AWAY;
    double history = d->coverage / avail > 1 ? 1 : d->coverage / avail;
    if (d->ramp_factor < 1)
        d->signals |= GW_SIGNAL_RAMPING;
    if (history < 1)
        d->signals |= GW_SIGNAL_PARTIAL;
    int metric = pb->objective_type == GW_OBJECTIVE_AMOUNT ? gw_metric_amount(pb->objective_kind)
                                                           : gw_metric_count(pb->objective_kind);
    d->result = (double)rep[metric];
    d->evidence_result = (double)rep_ev[metric];
    d->attainment = d->objective > 0 ? d->result / d->objective : INFINITY;
    d->objective_value = objective_value(pb, others, d->objective);
    if (d->result >= d->objective) {
        d->kind = GW_DIAG_HEALTHY; /* outcomes first: nothing else is judged */
        goto out;
    }
    if (d->coverage <= 0 || history < pb->min_history ||
        (pb->partial_history == GW_HISTORY_SKIP && history < 1)) {
        d->kind = GW_DIAG_PARTIAL_HISTORY;
        goto out;
    }

    d->required_volume = required_volume(pb, others, d);
    if (!isnan(d->required_volume) && !isnan(d->team_avg_volume))
        d->reference_volume = fmin(d->required_volume, d->team_avg_volume);
    else if (!isnan(d->required_volume))
        d->reference_volume = d->required_volume;
    else
        d->reference_volume = d->team_avg_volume; /* rates unknown: the typical volume */
    /* Over the evidence window's covered time: the volume needed (the
     * reference) and what the typical rep does. Chance is measured against
     * the typical rep ("would a rep working like the team's typical rep
     * do this little?"), relevance against the reference (decide). */
    double cov_ev = evidence_coverage(&in->rep, scale);
    d->evidence_objective = in->target * d->ramp_factor * scale * cov_ev;
    double req_ev = d->required_volume / d->coverage * scale * cov_ev;
    double typ_ev = typical_ev * cov_ev;
    if (!isnan(req_ev) && !isnan(typ_ev))
        d->evidence_reference = fmin(req_ev, typ_ev);
    else
        d->evidence_reference = isnan(req_ev) ? typ_ev : req_ev;
    if (d->signals & GW_SIGNAL_SILENT) {
        /* Nothing at all: as likely as no event from the typical rep. */
        double phi_e;
        double events = typical_of(pb, in, false, GW_METRIC_ACTIVITIES, scale, scratch, &phi_e);
        if (!isnan(events) && events > 0) {
            d->dispersion = phi_e;
            d->volume_p = gw_stats_negbin_cdf(0, events * d->coverage, phi_e);
        }
    } else if (!isnan(d->evidence_reference) && d->evidence_reference > 0) {
        /* Is the rep's own volume short of what the objective needs, by
         * more than the tolerance and beyond the rep's own week-to-week
         * noise? A rep's volume varies by volume_spread from one objective
         * window to the next; over the evidence window's `scale` windows
         * the variance of its total shrinks by `scale`. Reps' differences
         * among themselves are no excuse: the reference is what the
         * objective needs, not what an unusual rep does. */
        d->dispersion = pb->volume_spread * pb->volume_spread / (scale > 1 ? scale : 1);
        d->volume_p =
            gw_stats_negbin_cdf((int64_t)d->evidence_volume,
                                d->evidence_reference * (1 - pb->tolerance), d->dispersion);
    }
    (void)phi;
    decide(pb, d, alpha(pb), alpha(pb));
    further_signals(pb, rep, others, inspected, d);
out:
    free(others);
    free(scratch);
}

/* True when `d` went through the tests (short of the objective, judged). */
static bool tested(const gw_diagnosis_t *d)
{
    return d->kind == GW_DIAG_EFFICIENCY || d->kind == GW_DIAG_EFFECTIVENESS ||
           d->kind == GW_DIAG_BOTH || d->kind == GW_DIAG_INSUFFICIENT ||
           d->kind == GW_DIAG_WITHIN_NOISE;
}

void gw_detector_team(const gw_playbook_t *pb, gw_diagnosis_t *const *diags, int n, double *scratch)
{
    /* Two families: the volume tests and the conversion tests of the
     * team's short reps, each at false-discovery rate 1 - confidence. */
    int nv = 0, nc = 0;
    double *pv = scratch, *pc = scratch + n;
    for (int r = 0; r < n; r++) {
        const gw_diagnosis_t *d = diags[r];
        if (!tested(d))
            continue;
        pv[nv++] = d->volume_p;
        for (int i = 0; i < d->ntransitions && i < pb->objective_stage; i++)
            pc[nc++] = d->tr[i].p;
    }
    if (nv == 0)
        return;
    double *sorted = malloc((size_t)(nv + nc) * sizeof(double));
    if (!sorted)
        return; /* keep the per-test decisions */
    double thr_v = gw_stats_bh_threshold(pv, nv, alpha(pb), sorted);
    double thr_c = gw_stats_bh_threshold(pc, nc, alpha(pb), sorted);
    free(sorted);
    for (int r = 0; r < n; r++)
        if (tested(diags[r]))
            decide(pb, diags[r], thr_v, thr_c);
}

bool gw_detector_efficiency_cleared(const gw_playbook_t *pb, const gw_diagnosis_t *d)
{
    (void)pb;
    if (d->kind == GW_DIAG_HEALTHY || d->kind == GW_DIAG_NO_OBJECTIVE)
        return true;
    return !isnan(d->reference_volume) && d->actual_volume >= d->reference_volume;
}

bool gw_detector_effectiveness_cleared(const gw_playbook_t *pb, const gw_diagnosis_t *d)
{
    if (d->kind == GW_DIAG_HEALTHY || d->kind == GW_DIAG_NO_OBJECTIVE)
        return true;
    for (int i = 0; i < d->ntransitions && i < pb->objective_stage; i++) {
        const gw_transition_t *t = &d->tr[i];
        if (!t->judged || t->rep_rate < t->team_rate * (1 - pb->tolerance))
            return false;
    }
    return true;
}
