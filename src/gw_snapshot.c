/* gw_snapshot: the diagnosis and pace snapshots and the export fields. */
#include "gw_snapshot.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static void put(gw_snapshot_t *s, const char *field,
                                                      const char *fmt, ...)
{
    if (s->n == GW_SNAPSHOT_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->buf[s->n], sizeof(s->buf[0]), fmt, ap);
    va_end(ap);
    s->fields[s->n] = field;
    s->values[s->n] = s->buf[s->n];
    s->n++;
}

/* A number field, "%.6g"; left out when NaN (unknown) or infinite. */
static void put_num(gw_snapshot_t *s, const char *field, double v)
{
    if (isfinite(v))
        put(s, field, "%.6g", v);
}

void gw_snapshot_diagnosis(gw_snapshot_t *out, const gw_playbook_t *pb, const gw_kinds_t *kinds,
                           const gw_snapshot_meta_t *meta, const gw_diagnosis_t *d)
{
    static const char *const stage_fields[GW_STAGES_MAX][10] = {
#define STAGE_FIELDS(i)                                                                            \
    {"stage." #i ".name",      "stage." #i ".rep",    "stage." #i ".team",                         \
     "stage." #i ".rep_rate",  "stage." #i ".rep_lo", "stage." #i ".rep_hi",                       \
     "stage." #i ".team_rate", "stage." #i ".judged", "stage." #i ".below",                        \
     "stage." #i ".p"}
        STAGE_FIELDS(0), STAGE_FIELDS(1), STAGE_FIELDS(2), STAGE_FIELDS(3),
        STAGE_FIELDS(4), STAGE_FIELDS(5), STAGE_FIELDS(6), STAGE_FIELDS(7),
#undef STAGE_FIELDS
    };
    out->n = 0;
    char signals[160] = "";
    for (int i = 0; i < GW_SIGNAL_COUNT; i++)
        if (d->signals & (1u << i))
            snprintf(signals + strlen(signals), sizeof(signals) - strlen(signals), "%s%s",
                     signals[0] ? "," : "", gw_signal_str(i));
    put(out, "evaluated_at_ms", "%lld", (long long)meta->evaluated_at_ms);
    put(out, "watermark_ms", "%lld", (long long)meta->watermark_ms);
    put(out, "playbook", "%s", pb->name);
    put(out, "team", "%s", meta->team);
    put(out, "diagnosis", "%s", gw_diag_str(d->kind));
    put(out, "objective_kind", "%s", gw_kind_name(kinds, pb->objective_kind));
    put(out, "objective_type", "%s",
        pb->objective_type == GW_OBJECTIVE_AMOUNT ? "amount" : "count");
    put(out, "objective", "%.6g", d->objective);
    put(out, "ramp_factor", "%.6g", d->ramp_factor);
    put(out, "confidence", "%.6g", pb->confidence);
    put(out, "evidence_window", "%s", meta->evidence_window);
    put(out, "result", "%.6g", d->result);
    put_num(out, "attainment", d->attainment);
    put_num(out, "required_volume", d->required_volume);
    put(out, "actual_volume", "%.6g", d->actual_volume);
    put_num(out, "reference_volume", d->reference_volume);
    put_num(out, "volume_p", d->volume_p);
    put(out, "dispersion", "%.6g", d->dispersion);
    put(out, "volume_threshold", "%.6g", d->volume_threshold);
    put(out, "conversion_threshold", "%.6g", d->conversion_threshold);
    put(out, "coverage", "%.6g", d->coverage);
    put(out, "away", "%.6g", d->away);
    put(out, "team_size", "%d", d->team_size);
    int64_t lost = meta->lost_offsets;
    put(out, "incomplete", "%d", lost > 0);
    if (lost > 0)
        put(out, "lost_offsets", "%lld", (long long)lost);
    if (d->weakest >= 0)
        put(out, "weakest_stage", "%s", pb->stages[d->weakest + 1].name);
    put(out, "signals", "%s", signals);
    put_num(out, "goal_share", d->goal_share);
    put_num(out, "next_step_share", d->next_step_share);
    put_num(out, "pipeline_open", d->pipeline_open);
    put_num(out, "team_avg_volume", d->team_avg_volume);
    put(out, "stages", "%d", pb->nstages);
    for (int s = 0; s < pb->nstages; s++) {
        const char *const *f = stage_fields[s];
        put(out, f[0], "%s", pb->stages[s].name);
        put(out, f[1], "%lld", (long long)d->rep_stage[s]);
        put(out, f[2], "%lld", (long long)d->team_stage[s]);
        if (s == 0)
            continue;
        const gw_transition_t *t = &d->tr[s - 1];
        put(out, f[3], "%.6g", t->rep_rate);
        put(out, f[4], "%.6g", t->rep_lo);
        put(out, f[5], "%.6g", t->rep_hi);
        put_num(out, f[6], t->team_rate);
        put(out, f[7], "%d", t->judged);
        put(out, f[8], "%d", t->below);
        put_num(out, f[9], t->p);
    }
}

void gw_snapshot_pace(gw_snapshot_t *s, const gw_playbook_t *pb, const gw_pace_t *p, const char *id,
                      int64_t start_ms, int64_t end_ms, double result, int64_t watermark_ms,
                      int64_t evaluated_at_ms)
{
    s->n = 0;
    put(s, "evaluated_at_ms", "%lld", (long long)evaluated_at_ms);
    put(s, "watermark_ms", "%lld", (long long)watermark_ms);
    put(s, "period", "%s", id);
    put(s, "start_ms", "%lld", (long long)start_ms);
    put(s, "end_ms", "%lld", (long long)end_ms);
    put(s, "result", "%.6g", result);
    put(s, "objective", "%.6g", p->objective);
    put(s, "objective_to_date", "%.6g", p->objective_to_date);
    put(s, "projected", "%.6g", p->projected);
    put(s, "remaining_days", "%.6g", p->remaining_days);
    put(s, "judged", "%d", p->judged);
    put(s, "behind", "%d", p->behind);
    put_num(s, "p", p->p);
    put(s, "plan_stage", "%s", pb->stages[0].name);
    put_num(s, "plan_per_day", p->plan_team);
    put_num(s, "plan_per_day_own_rates", p->plan_rep);
}

static void export_field(gw_export_t *x, const char *team, const char *rep, const char *window,
                         const char *metric, const char *metric2, double v)
{
    size_t i = x->n + x->ndel;
    snprintf(x->fbuf[i], sizeof(x->fbuf[0]), "%s|%s|%s|%s%s", team, rep, window, metric,
             metric2 ? metric2 : "");
    if (isnan(v) || isinf(v)) {
        x->dels[x->ndel++] = x->fbuf[i];
        return;
    }
    snprintf(x->vbuf[i], sizeof(x->vbuf[0]), "%.6g", v);
    x->fields[x->n] = x->fbuf[i];
    x->values[x->n] = x->vbuf[i];
    x->n++;
}

/* Fills the export fields of one diagnosis (README.md, "Grafana"). With
 * `d` NULL only the names are filled (as deletions), to forget a rep. */
void gw_export_diagnosis(gw_export_t *x, const gw_playbook_t *pb, const char *team, const char *rep,
                         const char *window, const gw_diagnosis_t *d)
{
    x->n = x->ndel = 0;
    double nan = NAN;
    bool gap_e = d && (d->kind == GW_DIAG_EFFICIENCY || d->kind == GW_DIAG_BOTH);
    bool gap_f = d && (d->kind == GW_DIAG_EFFECTIVENESS || d->kind == GW_DIAG_BOTH);
    export_field(x, team, rep, window, "attainment", NULL, d ? d->attainment : nan);
    export_field(x, team, rep, window, "result", NULL, d ? d->result : nan);
    export_field(x, team, rep, window, "objective", NULL, d ? d->objective : nan);
    export_field(x, team, rep, window, "actual_volume", NULL, d ? d->actual_volume : nan);
    export_field(x, team, rep, window, "required_volume", NULL, d ? d->required_volume : nan);
    export_field(x, team, rep, window, "healthy", NULL,
                 d ? (double)(d->kind == GW_DIAG_HEALTHY) : nan);
    export_field(x, team, rep, window, "efficiency_gap", NULL, d ? (double)gap_e : nan);
    export_field(x, team, rep, window, "effectiveness_gap", NULL, d ? (double)gap_f : nan);
    export_field(x, team, rep, window, "insufficient_data", NULL,
                 d ? (double)(d->kind == GW_DIAG_INSUFFICIENT) : nan);
    export_field(x, team, rep, window, "low_quality", NULL,
                 d ? (double)((d->signals & GW_SIGNAL_LOW_QUALITY) != 0) : nan);
    export_field(x, team, rep, window, "suspected_gaming", NULL,
                 d ? (double)((d->signals & GW_SIGNAL_GAMING) != 0) : nan);
    export_field(x, team, rep, window, "pipeline_inflation", NULL,
                 d ? (double)((d->signals & GW_SIGNAL_PIPELINE_INFLATION) != 0) : nan);
    for (int s = 0; s < pb->nstages; s++) {
        const char *st = pb->stages[s].name;
        export_field(x, team, rep, window, "count_", st, d ? (double)d->rep_stage[s] : nan);
        if (s == 0)
            continue;
        export_field(x, team, rep, window, "rate_", st, d ? d->tr[s - 1].rep_rate : nan);
        export_field(x, team, rep, window, "team_rate_", st, d ? d->tr[s - 1].team_rate : nan);
    }
}

/* The export fields of a period's pace (window label: the period kind);
 * with `p` NULL only the names (as deletions), to forget a rep. */
void gw_export_pace(gw_export_t *x, const char *team, const char *rep, const char *period,
                    const gw_pace_t *p, double result)
{
    double nan = NAN;
    x->n = x->ndel = 0;
    export_field(x, team, rep, period, "pace_result", NULL, p ? result : nan);
    export_field(x, team, rep, period, "pace_objective", NULL, p ? p->objective : nan);
    export_field(x, team, rep, period, "pace_objective_to_date", NULL,
                 p ? p->objective_to_date : nan);
    export_field(x, team, rep, period, "pace_projected", NULL, p ? p->projected : nan);
    export_field(x, team, rep, period, "pace_plan_per_day", NULL, p ? p->plan_team : nan);
    export_field(x, team, rep, period, "behind_pace", NULL, p ? (double)p->behind : nan);
}
