/*
 * gw_alerts: the lifecycle state machine, alert ids, summaries, and the
 * GapAlert message (protobuf and its JSON mirror).
 */
#include "gw_alerts.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gapwatch/v1/alert.pb-c.h"
#include "gw_pbjson.h"

static const struct {
    const char *name, *alertname, *phrase, *severity;
} kinds[GW_ALERT_KINDS] = {
    /* Severity: a missed objective is something to act on this week
     * (warning); a hygiene signal is context for the next 1:1 (info); none
     * of them wakes anybody up (no critical). README "Alerts". */
    [GW_ALERT_EFFICIENCY] = {"efficiency_gap", "GapwatchEfficiencyGap", "efficiency gap",
                             "warning"},
    [GW_ALERT_EFFECTIVENESS] = {"effectiveness_gap", "GapwatchEffectivenessGap",
                                "effectiveness gap", "warning"},
    [GW_ALERT_LOW_QUALITY] = {"low_activity_quality", "GapwatchLowActivityQuality",
                              "low activity quality", "info"},
    [GW_ALERT_PIPELINE_INFLATION] = {"pipeline_inflation", "GapwatchPipelineInflation",
                                     "pipeline inflation", "info"},
    [GW_ALERT_GAMING] = {"suspected_gaming", "GapwatchSuspectedGaming", "possible gaming",
                         "warning"},
    [GW_ALERT_BEHIND_PACE] = {"behind_pace", "GapwatchBehindPace", "pace", "warning"},
};

const char *gw_alert_kind_str(gw_alert_kind_t k)
{
    return k >= 0 && k < GW_ALERT_KINDS ? kinds[k].name : "unknown";
}

const char *gw_alert_kind_alertname(gw_alert_kind_t k)
{
    return k >= 0 && k < GW_ALERT_KINDS ? kinds[k].alertname : "GapwatchUnknown";
}

const char *gw_alert_kind_default_severity(gw_alert_kind_t k)
{
    return k >= 0 && k < GW_ALERT_KINDS ? kinds[k].severity : "warning";
}

int gw_alert_kind_proto(gw_alert_kind_t k)
{
    return (int)k + 1;
}

int gw_alert_kind_parse(const char *name)
{
    for (int k = 0; k < GW_ALERT_KINDS; k++)
        if (!strcmp(name, kinds[k].name))
            return k;
    return -1;
}

bool gw_alert_condition(gw_alert_kind_t k, const gw_diagnosis_t *d)
{
    switch (k) {
    case GW_ALERT_EFFICIENCY:
        return d->kind == GW_DIAG_EFFICIENCY || d->kind == GW_DIAG_BOTH;
    case GW_ALERT_EFFECTIVENESS:
        return d->kind == GW_DIAG_EFFECTIVENESS || d->kind == GW_DIAG_BOTH;
    case GW_ALERT_LOW_QUALITY:
        return (d->signals & GW_SIGNAL_LOW_QUALITY) != 0;
    case GW_ALERT_PIPELINE_INFLATION:
        return (d->signals & GW_SIGNAL_PIPELINE_INFLATION) != 0;
    case GW_ALERT_GAMING:
        return (d->signals & GW_SIGNAL_GAMING) != 0;
    case GW_ALERT_BEHIND_PACE: /* decided by gw_pace, not by a window's diagnosis */
    case GW_ALERT_KINDS:
        break;
    }
    return false;
}

static const char *const phases[] = {"inactive", "pending", "firing", "resolving"};

const char *gw_alert_phase_str(gw_alert_phase_t p)
{
    return p >= 0 && p <= GW_PHASE_RESOLVING ? phases[p] : "inactive";
}

int gw_alert_phase_parse(const char *name)
{
    for (int p = 0; p <= GW_PHASE_RESOLVING; p++)
        if (!strcmp(name, phases[p]))
            return p;
    return -1;
}

bool gw_alert_cleared(const gw_playbook_t *pb, gw_alert_kind_t k, const gw_diagnosis_t *d)
{
    if (d->kind == GW_DIAG_UNAVAILABLE) /* away or gone: nothing to coach */
        return true;
    switch (k) {
    case GW_ALERT_EFFICIENCY:
        return gw_detector_efficiency_cleared(pb, d);
    case GW_ALERT_EFFECTIVENESS:
        return gw_detector_effectiveness_cleared(pb, d);
    case GW_ALERT_LOW_QUALITY:
    case GW_ALERT_PIPELINE_INFLATION:
    case GW_ALERT_GAMING:
        return d->kind == GW_DIAG_HEALTHY || d->kind == GW_DIAG_NO_OBJECTIVE ||
               !gw_alert_condition(k, d);
    case GW_ALERT_BEHIND_PACE:
    case GW_ALERT_KINDS:
        break;
    }
    return true;
}

static gw_alert_send_t fire(gw_alert_state_t *st, int64_t wm, int64_t now_ms, bool first)
{
    if (first) {
        st->seq = 0;
        st->starts_at_ms = now_ms;
        st->flapped = st->resolved_wm > 0 && wm - st->resolved_wm < GW_ALERT_FLAP_SPAN_MS;
    }
    st->phase = GW_PHASE_FIRING;
    st->last_sent_wm = wm;
    st->seq++;
    st->msgno++;
    return GW_SEND_FIRING;
}

gw_alert_send_t gw_alert_step(const gw_alert_policy_t *p, gw_alert_state_t *st, bool condition,
                              bool cleared, int64_t wm, int64_t now_ms)
{
    st->flapped = false;
    if (cleared)
        condition = false;
    switch (st->phase) {
    case GW_PHASE_INACTIVE:
        if (!condition)
            return GW_SEND_NONE;
        st->phase = GW_PHASE_PENDING;
        st->since_wm = wm;
        if (p->fire_after_ms > 0)
            return GW_SEND_NONE;
        return fire(st, wm, now_ms, true);
    case GW_PHASE_PENDING:
        /* Hysteresis on the way up too: only evidence that the gap is gone
         * ends the wait; an evaluation short of significance (another rep's
         * test moved the team's threshold) does not restart it. It fires
         * once it has been pending fire_after and holds now. */
        if (cleared) {
            st->phase = GW_PHASE_INACTIVE;
            return GW_SEND_NONE;
        }
        if (condition && wm - st->since_wm >= p->fire_after_ms)
            return fire(st, wm, now_ms, true);
        return GW_SEND_NONE;
    case GW_PHASE_FIRING:
        if (cleared) {
            st->phase = GW_PHASE_RESOLVING;
            st->clear_since_wm = wm;
            if (p->resolve_after_ms > 0)
                return GW_SEND_NONE;
            break; /* resolve now */
        }
        /* repeated only while it holds: between holding and cleared the
         * alert stays firing, silently */
        if (condition && p->repeat_interval_ms > 0 &&
            wm - st->last_sent_wm >= p->repeat_interval_ms)
            return fire(st, wm, now_ms, false);
        return GW_SEND_NONE;
    case GW_PHASE_RESOLVING:
        if (!cleared) {
            st->phase = GW_PHASE_FIRING; /* it never really cleared */
            return GW_SEND_NONE;
        }
        if (wm - st->clear_since_wm < p->resolve_after_ms)
            return GW_SEND_NONE;
        break;
    }
    st->phase = GW_PHASE_INACTIVE;
    st->resolved_wm = wm;
    st->seq++;
    st->msgno++;
    return GW_SEND_RESOLVED;
}

void gw_alert_id(char *out, const char *tenant, const char *rep, gw_alert_kind_t kind,
                 const char *window)
{
    const char *parts[4] = {tenant, rep, gw_alert_kind_str(kind), window};
    uint64_t h = 14695981039346656037ull;
    for (int i = 0; i < 4; i++) {
        for (const char *p = parts[i]; *p; p++) {
            h ^= (unsigned char)*p;
            h *= 1099511628211ull;
        }
        h ^= 0x1f; /* separator: ("ab","c") != ("a","bc") */
        h *= 1099511628211ull;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* "booked 5 of 9 meetings" and friends, for the objective's kind. */
static void result_phrase(const gw_alert_t *a, char *buf, size_t size)
{
    const gw_diagnosis_t *d = a->diag;
    const gw_playbook_t *pb = a->playbook;
    const char *kind = gw_kind_name(a->kinds, pb->objective_kind);
    if (pb->objective_type == GW_OBJECTIVE_AMOUNT) {
        snprintf(buf, size, "reached %.0f of %.0f in %s amount", d->result, d->objective, kind);
        return;
    }
    static const struct {
        const char *kind, *verb, *noun;
    } phrases[] = {
        {"MEETING_BOOKED", "booked", "meetings"},
        {"DEAL_WON", "won", "deals"},
        {"OPPORTUNITY_QUALIFIED", "qualified", "opportunities"},
        {"MEETING_HELD", "held", "meetings"},
        {"DEMO_GIVEN", "gave", "demos"},
        {"PROPOSAL_SENT", "sent", "proposals"},
        {"CONVERSATION", "had", "conversations"},
    };
    for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++) {
        if (!strcmp(kind, phrases[i].kind)) {
            snprintf(buf, size, "%s %.0f of %.0f %s", phrases[i].verb, d->result, d->objective,
                     phrases[i].noun);
            return;
        }
    }
    snprintf(buf, size, "reached %.0f of %.0f %s", d->result, d->objective, kind);
}

int gw_alert_summary(const gw_alert_t *a, char *buf, size_t size)
{
    const gw_diagnosis_t *d = a->diag;
    const gw_playbook_t *pb = a->playbook;
    char res[160];
    result_phrase(a, res, sizeof(res));
    const char *top = pb->stages[0].name;
    if (a->kind == GW_ALERT_BEHIND_PACE && a->pace) {
        const gw_pace_t *p = a->pace;
        if (a->state == GW_SEND_RESOLVED)
            return snprintf(buf, size, "%s is back on pace for %s: %s, %.0f due by now", a->rep,
                            a->period, res, p->objective_to_date);
        char plan[160] = "";
        if (!isnan(p->plan_team))
            snprintf(plan, sizeof(plan),
                     "; plan: %.0f %s a working day for the %.0f days left at the team's rates "
                     "(%.0f at its own)",
                     ceil(p->plan_team), top, p->remaining_days,
                     isnan(p->plan_rep) ? p->plan_team : ceil(p->plan_rep));
        return snprintf(buf, size,
                        "%s is behind pace for %s: %s, %.0f due by now, %.0f projected%s", a->rep,
                        a->period, res, p->objective_to_date, p->projected, plan);
    }
    if (a->state == GW_SEND_RESOLVED)
        return snprintf(buf, size, "%s's %s in %s has cleared: %s", a->rep, kinds[a->kind].phrase,
                        a->window, res);
    switch (a->kind) {
    case GW_ALERT_EFFICIENCY:
        if (d->signals & GW_SIGNAL_SILENT)
            return snprintf(buf, size,
                            "%s logged no activity in %s and %s - efficiency gap (silent)", a->rep,
                            a->window, res);
        if (!isnan(d->required_volume))
            return snprintf(buf, size,
                            "%s %s in %s; %s %.0f vs %.0f needed at the team's conversion - "
                            "efficiency gap%s",
                            a->rep, res, a->window, top, d->actual_volume, d->required_volume,
                            d->kind == GW_DIAG_BOTH ? " (coach the weak stage first)" : "");
        return snprintf(buf, size, "%s %s in %s with %s %.0f - efficiency gap", a->rep, res,
                        a->window, top, d->actual_volume);
    case GW_ALERT_EFFECTIVENESS:
        if (d->weakest >= 0) {
            const gw_transition_t *t = &d->tr[d->weakest];
            return snprintf(buf, size,
                            "%s %s in %s; %s->%s %.1f%% vs %.1f%% for the team - effectiveness "
                            "gap at %s",
                            a->rep, res, a->window, pb->stages[d->weakest].name,
                            pb->stages[d->weakest + 1].name, 100 * t->rep_rate, 100 * t->team_rate,
                            pb->stages[d->weakest + 1].name);
        }
        return snprintf(buf, size, "%s %s in %s - effectiveness gap", a->rep, res, a->window);
    case GW_ALERT_LOW_QUALITY:
        return snprintf(buf, size,
                        "%s recorded a goal on %.0f%% and a next step on %.0f%% of conversations "
                        "and meetings in "
                        "%s (expected %.0f%% and %.0f%%) - low activity quality",
                        a->rep, 100 * d->goal_share, 100 * d->next_step_share, a->window,
                        100 * pb->quality_min_goal_share, 100 * pb->quality_min_next_step_share);
    case GW_ALERT_PIPELINE_INFLATION:
        return snprintf(buf, size,
                        "%s holds %.0f of open pipeline in %s, %.1fx the objective's value, "
                        "while qualification is poor - pipeline inflation",
                        a->rep, d->pipeline_open, a->window,
                        d->objective_value > 0 ? d->pipeline_open / d->objective_value : 0);
    case GW_ALERT_GAMING:
        return snprintf(buf, size,
                        "%s logged %.0f %s in %s, %.1fx the team average, while %s fell to "
                        "%.1f%% vs %.1f%% - possible gaming",
                        a->rep, d->actual_volume, top, a->window,
                        d->team_avg_volume > 0 ? d->actual_volume / d->team_avg_volume : 0,
                        d->weakest >= 0 ? pb->stages[d->weakest + 1].name : "conversion",
                        d->weakest >= 0 ? 100 * d->tr[d->weakest].rep_rate : 0,
                        d->weakest >= 0 ? 100 * d->tr[d->weakest].team_rate : 0);
    case GW_ALERT_BEHIND_PACE:
    case GW_ALERT_KINDS:
        break;
    }
    return snprintf(buf, size, "%s %s in %s", a->rep, res, a->window);
}

/* Fills `m` (and `stages`, `ptrs`, `sigs`, the caller's storage). */
static void build(const gw_alert_t *a, Gapwatch__V1__GapAlert *m, Gapwatch__V1__StageRate *stages,
                  Gapwatch__V1__StageRate **ptrs, char **sigs, char *id, char *summary,
                  size_t summary_size)
{
    const gw_diagnosis_t *d = a->diag;
    const gw_playbook_t *pb = a->playbook;
    gapwatch__v1__gap_alert__init(m);
    gw_alert_id(id, a->tenant, a->rep, a->kind, a->window);
    gw_alert_summary(a, summary, summary_size);
    m->alert_id = id;
    m->tenant_id = (char *)a->tenant;
    m->rep_id = (char *)a->rep;
    m->team_id = (char *)a->team;
    m->playbook = (char *)pb->name;
    m->window = (char *)a->window;
    m->kind = (Gapwatch__V1__AlertKind)gw_alert_kind_proto(a->kind);
    m->state = a->state == GW_SEND_RESOLVED ? GAPWATCH__V1__ALERT_STATE__RESOLVED
                                            : GAPWATCH__V1__ALERT_STATE__FIRING;
    m->starts_at_ms = a->starts_at_ms;
    m->ends_at_ms = a->ends_at_ms;
    m->evaluated_at_ms = a->evaluated_at_ms;
    m->watermark_ms = a->watermark_ms;
    m->objective_kind = (char *)gw_kind_name(a->kinds, pb->objective_kind);
    m->objective = d->objective;
    m->result = d->result;
    m->attainment = isfinite(d->attainment) ? d->attainment : 0;
    m->actual_volume = d->actual_volume;
    m->required_volume = d->required_volume;
    m->weakest_stage = d->weakest >= 0 ? (char *)pb->stages[d->weakest + 1].name : "";
    m->summary = summary;
    m->diagnosis = (char *)(a->pace ? "behind_pace" : gw_diag_str(d->kind));
    m->confidence = pb->confidence;
    m->sequence = a->sequence;
    for (int i = 0; i < d->ntransitions; i++) {
        Gapwatch__V1__StageRate *s = &stages[i];
        const gw_transition_t *t = &d->tr[i];
        gapwatch__v1__stage_rate__init(s);
        s->stage = (char *)pb->stages[i + 1].name;
        s->from_stage = (char *)pb->stages[i].name;
        s->rep_trials = t->rep_trials;
        s->rep_successes = t->rep_successes;
        s->rep_rate = t->rep_rate;
        s->rep_lower = t->rep_lo;
        s->rep_upper = t->rep_hi;
        s->team_rate = t->team_rate;
        s->significantly_below = t->below;
        ptrs[i] = s;
    }
    m->n_stages = (size_t)d->ntransitions;
    m->stages = ptrs;
    size_t ns = 0;
    for (int i = 0; i < GW_SIGNAL_COUNT; i++)
        if (d->signals & (1u << i))
            sigs[ns++] = (char *)gw_signal_str(i);
    m->n_signals = ns;
    m->signals = sigs;
    if (a->pace) {
        m->period = (char *)(a->period ? a->period : "");
        m->objective_to_date = a->pace->objective_to_date;
        m->projected = a->pace->projected;
        m->remaining_days = a->pace->remaining_days;
        m->plan_stage = (char *)pb->stages[0].name;
        m->plan_per_day = a->pace->plan_team;
        m->plan_per_day_own_rates = a->pace->plan_rep;
    }
}

int gw_alert_pack(const gw_alert_t *a, uint8_t **out, size_t *len)
{
    Gapwatch__V1__GapAlert m;
    Gapwatch__V1__StageRate stages[GW_STAGES_MAX], *ptrs[GW_STAGES_MAX];
    char *sigs[GW_SIGNAL_COUNT], id[17], summary[512];
    build(a, &m, stages, ptrs, sigs, id, summary, sizeof(summary));
    *len = gapwatch__v1__gap_alert__get_packed_size(&m);
    *out = malloc(*len ? *len : 1);
    if (!*out)
        return -1;
    gapwatch__v1__gap_alert__pack(&m, *out);
    return 0;
}

char *gw_alert_json(const gw_alert_t *a)
{
    Gapwatch__V1__GapAlert m;
    Gapwatch__V1__StageRate stages[GW_STAGES_MAX], *ptrs[GW_STAGES_MAX];
    char *sigs[GW_SIGNAL_COUNT], id[17], summary[512];
    build(a, &m, stages, ptrs, sigs, id, summary, sizeof(summary));
    json_t *o = gw_pbjson_from_message(&m.base);
    if (!o)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}
