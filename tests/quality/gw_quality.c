/*
 * gw_quality: the quality report of the diagnosis and the alert lifecycle.
 *
 * For each seed and scenario, gwq_world generates teams of twelve reps with
 * planted ground truth (healthy, lean on target, efficiency gap,
 * effectiveness gap, silent, new). Every 6 hours of simulated time (the
 * generator's slot) each rep's totals over the objective window (7d) and the
 * evidence window (30d) are summed from its slots, exactly what Redis window
 * totals would hold; coverage is the share of the objective window after
 * max(tenant's first event, rep's first event). Each rep is diagnosed by
 * gw_detector_evaluate with the other reps of its team as peers, the team is
 * re-decided by gw_detector_team, and every alert kind goes through
 * gw_alert_step with the lifecycle policy of the config. The report compares
 * the alerts with the truth.
 *
 * The playbooks come from YAML through gw_config, as a new user writes them
 * (windows, funnel, objective, ramp; everything else default). Each team's
 * objective is 0.8 x its typical rep's expected output per 7 days; it is
 * passed as the detector's target (the evaluator passes the override or the
 * playbook's target the same way), so the YAML's per_window value only says
 * which window is evaluated.
 *
 * It is a report: exit 0 whenever it ran, unless --check is given and the
 * targets are missed (exit 1). Exit 2 on bad usage or a bad config.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_alerts.h"
#include "gw_calendar.h"
#include "gw_config.h"
#include "gw_detector.h"
#include "gw_kinds.h"
#include "gw_playbook.h"
#include "gwq_world.h"

#define WEEK_MS (7 * GWQ_DAY_MS)
/* Day 0 of the simulation: Monday 2026-01-05 00:00 UTC. */
#define EPOCH_MS 1767571200000LL

static const char default_yaml[] = "windows:\n"
                                   "  - {name: 7d, length: 7d, bucket: 1h, grace: 1h}\n"
                                   "  - {name: 30d, length: 30d, bucket: 6h, grace: 1h}\n"
                                   "playbooks:\n"
                                   "  - name: sdr\n"
                                   "    teams: [north, south, late-sdr]\n"
                                   "    funnel:\n"
                                   "      - {name: reach, kinds: [DIAL, EMAIL_SENT]}\n"
                                   "      - {name: connect, kinds: [CONVERSATION, EMAIL_REPLY]}\n"
                                   "      - {name: book, kinds: [MEETING_BOOKED]}\n"
                                   "    objective:\n"
                                   "      kind: MEETING_BOOKED\n"
                                   "      per_window: {7d: 9}\n"
                                   "    ramp: [0.25, 0.5, 0.75]\n"
                                   "  - name: ae\n"
                                   "    teams: [closers, late-ae]\n"
                                   "    funnel:\n"
                                   "      - {name: held, kinds: [MEETING_HELD]}\n"
                                   "      - {name: proposal, kinds: [PROPOSAL_SENT]}\n"
                                   "      - {name: won, kinds: [DEAL_WON]}\n"
                                   "    objective:\n"
                                   "      kind: DEAL_WON\n"
                                   "      per_window: {7d: 1}\n"
                                   "    ramp: [0.25, 0.5, 0.75]\n";

typedef struct {
    int seeds, days, warmup;
    const char *scenario; /* NULL: all */
    const char *config_path;
    bool json, verbose, check;
    int verbose_seed;
    int64_t fire_after_ms, resolve_after_ms, repeat_interval_ms; /* -1: the config's */
} options_t;

/* What one run (or a sum of runs) measured. */
typedef struct {
    int planted, found;             /* recall */
    int planted_short, found_short; /* ... of planted reps short of the objective at the end */
    int planted_by[GWQ_TRUTHS], found_by[GWQ_TRUTHS];
    int alerts, right;                       /* precision: (rep, gap kind) live in the final week */
    int on_lean, on_healthy, on_new, on_met; /* alerts where none belongs */
    int healthy_episodes;
    double healthy_rep_days;
    int flaps;
    int named, named_of; /* effectiveness alerts naming the planted stage */
    int storms;          /* episodes in the late tenant's first week, any kind */
    int other_episodes;  /* low quality, pipeline inflation, gaming */
    int lean_reps, healthy_reps, new_reps;
    int away_reps;     /* reps with time off, a holiday or a leaving date */
    int away_episodes; /* episodes opened on a rep without a planted gap while it was away */
} stats_t;

static void stats_add(stats_t *a, const stats_t *b)
{
    a->planted += b->planted;
    a->found += b->found;
    a->planted_short += b->planted_short;
    a->found_short += b->found_short;
    for (int t = 0; t < GWQ_TRUTHS; t++) {
        a->planted_by[t] += b->planted_by[t];
        a->found_by[t] += b->found_by[t];
    }
    a->alerts += b->alerts;
    a->right += b->right;
    a->on_lean += b->on_lean;
    a->on_healthy += b->on_healthy;
    a->on_new += b->on_new;
    a->on_met += b->on_met;
    a->healthy_episodes += b->healthy_episodes;
    a->healthy_rep_days += b->healthy_rep_days;
    a->flaps += b->flaps;
    a->named += b->named;
    a->named_of += b->named_of;
    a->storms += b->storms;
    a->other_episodes += b->other_episodes;
    a->lean_reps += b->lean_reps;
    a->healthy_reps += b->healthy_reps;
    a->new_reps += b->new_reps;
    a->away_reps += b->away_reps;
    a->away_episodes += b->away_episodes;
}

/* Per rep and alert kind, over one run. */
typedef struct {
    gw_alert_state_t st;
    bool live_final; /* FIRING or RESOLVING at an evaluation of the final week */
    int episodes;    /* FIRING that opened an episode */
    int flaps;
    int weakest;       /* last weakest transition while live in the final week */
    bool met;          /* FIRING while the rep met the objective */
    int away_episodes; /* opened while away (time off, holiday) or after leaving */
} track_t;

typedef struct {
    track_t k[GW_ALERT_KINDS];
    gw_diagnosis_t last; /* the final evaluation's diagnosis */
    bool evaluated;
} rep_track_t;

static int64_t parse_duration(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -2;
    double unit = !strcmp(end, "") || !strcmp(end, "ms") ? 1
                  : !strcmp(end, "s")                    ? 1e3
                  : !strcmp(end, "m")                    ? 6e4
                  : !strcmp(end, "h")                    ? 3.6e6
                  : !strcmp(end, "d")                    ? 8.64e7
                                                         : -1;
    if (unit < 0)
        return -2;
    return (int64_t)(v * unit);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: gw_quality [options]\n"
               "  --seeds N            seeds per scenario (24)\n"
               "  --days D             measured days after the warm-up (28)\n"
               "  --warmup D           history before the measured days (35)\n"
               "  --scenario NAME|all  baseline, team_dip, new_reps, late_tenant, calendar (all)\n"
               "  --config FILE        YAML config instead of the built-in one\n"
               "  --fire-after DUR     override alerting.fire_after (e.g. 0, 12h, 1d)\n"
               "  --resolve-after DUR  override alerting.resolve_after\n"
               "  --repeat-interval DUR override alerting.repeat_interval\n"
               "  --json               one JSON object per row instead of the table\n"
               "  --verbose            per-rep lines and alert log for one seed\n"
               "  --verbose-seed S     the seed --verbose shows (1)\n"
               "  --check              exit 1 when a target is missed\n");
}

static int parse_options(int argc, char **argv, options_t *o)
{
    *o = (options_t){.seeds = 24,
                     .days = 28,
                     .warmup = 35,
                     .verbose_seed = 1,
                     .fire_after_ms = -1,
                     .resolve_after_ms = -1,
                     .repeat_interval_ms = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (!strcmp(a, "--seeds") && v)
            o->seeds = atoi(v);
        else if (!strcmp(a, "--days") && v)
            o->days = atoi(v);
        else if (!strcmp(a, "--warmup") && v)
            o->warmup = atoi(v);
        else if (!strcmp(a, "--scenario") && v)
            o->scenario = strcmp(v, "all") ? v : NULL;
        else if (!strcmp(a, "--config") && v)
            o->config_path = v;
        else if (!strcmp(a, "--fire-after") && v)
            o->fire_after_ms = parse_duration(v);
        else if (!strcmp(a, "--resolve-after") && v)
            o->resolve_after_ms = parse_duration(v);
        else if (!strcmp(a, "--repeat-interval") && v)
            o->repeat_interval_ms = parse_duration(v);
        else if (!strcmp(a, "--verbose-seed") && v)
            o->verbose_seed = atoi(v);
        else {
            takes = false;
            if (!strcmp(a, "--json"))
                o->json = true;
            else if (!strcmp(a, "--verbose"))
                o->verbose = true;
            else if (!strcmp(a, "--check"))
                o->check = true;
            else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                usage(stdout);
                exit(0);
            } else {
                fprintf(stderr, "gw_quality: unknown option or missing value: %s\n", a);
                return -1;
            }
        }
        if (takes)
            i++;
    }
    if (o->scenario) {
        bool known = false;
        for (int i = 0; gwq_scenarios[i]; i++)
            known |= !strcmp(o->scenario, gwq_scenarios[i]);
        if (!known) {
            fprintf(stderr, "gw_quality: unknown scenario %s\n", o->scenario);
            return -1;
        }
    }
    if (o->seeds < 1 || o->days < 7 || o->warmup < 0 || o->fire_after_ms < -1 ||
        o->resolve_after_ms < -1 || o->repeat_interval_ms < -1) {
        fprintf(stderr, "gw_quality: bad --seeds, --days, --warmup or duration\n");
        return -1;
    }
    return 0;
}

/* The context of one run. */
typedef struct {
    const options_t *o;
    const gw_config_t *cfg;
    gw_alert_policy_t policy;
    const gwq_world_t *w;
    int64_t obj_slots, ev_slots; /* window lengths in slots */
    int obj_window;              /* config index of the objective window */
    rep_track_t *tracks;
    int64_t tenant_first[2]; /* slot of each tenant's first event */
    gw_calendar_t *cals;     /* per team: Monday to Friday, UTC, its holidays */
} run_t;

/* Rep r's availability (absolute ms): its week off, its leaving date. */
static gw_availability_t rep_availability(const gwq_rep_t *rep)
{
    gw_availability_t a = {.joined_ms = -1, .left_ms = -1};
    if (rep->away_from >= 0) {
        a.off[0] = (gw_interval_t){EPOCH_MS + rep->away_from * GWQ_DAY_MS,
                                   EPOCH_MS + rep->away_to * GWQ_DAY_MS};
        a.noff = 1;
    }
    if (rep->left_day >= 0)
        a.left_ms = EPOCH_MS + rep->left_day * GWQ_DAY_MS;
    return a;
}

/* True when rep r is away at slot s: time off, its team's holiday, gone. */
static bool away_at(const gwq_world_t *w, const gwq_rep_t *rep, int64_t s)
{
    int64_t day = s / GWQ_SLOTS_PER_DAY;
    const gwq_team_t *t = &w->teams[rep->team];
    return (day >= rep->away_from && day < rep->away_to) ||
           (day >= t->holiday_from && day < t->holiday_to) ||
           (rep->left_day >= 0 && day >= rep->left_day);
}

/* Fills `v` (GW_METRIC_MAX) with rep r's totals over slots [from, to). */
static void window_totals(const run_t *run, int r, int64_t from, int64_t to, int64_t *v)
{
    int64_t cols[GWQ_COLS] = {0};
    gwq_world_sum(run->w, r, from, to, cols);
    memset(v, 0, GW_METRIC_MAX * sizeof(int64_t));
    for (int c = 0; c < GWQ_COLS; c++) {
        int k = gwq_col_kind[c];
        int m = gwq_col_what[c] == 0   ? gw_metric_count(k)
                : gwq_col_what[c] == 1 ? gw_metric_goal(k)
                                       : gw_metric_next_step(k);
        v[m] += cols[c];
    }
    gw_metrics_derive(&run->cfg->kinds, v);
}

static const char *stage_name(const gw_playbook_t *pb, int transition)
{
    return transition >= 0 ? pb->stages[transition + 1].name : "-";
}

/* Evaluates every rep of team `ti` at the end of slot `s - 1`. */
static void evaluate_team(run_t *run, int ti, int64_t s)
{
    const gwq_world_t *w = run->w;
    const gwq_team_t *team = &w->teams[ti];
    const gw_playbook_t *pb = gw_playbook_for_team(run->cfg->playbooks, run->cfg->nplaybooks,
                                                   team->tenant ? "late" : "acme", team->name);
    if (!pb)
        return;
    static int64_t totals[GWQ_TEAM_SIZE][GW_METRIC_MAX], evidence[GWQ_TEAM_SIZE][GW_METRIC_MAX];
    gw_rep_counts_t counts[GWQ_TEAM_SIZE], peers[GWQ_TEAM_SIZE];
    bool gone[GWQ_TEAM_SIZE];
    int idx[GWQ_TEAM_SIZE], n = 0;
    int64_t t_ms = s * GWQ_SLOT_MS;
    for (int i = 0; i < team->nreps; i++) {
        int r = team->first_rep + i;
        const gwq_rep_t *rep = &w->reps[r];
        if (rep->first_slot < 0 || rep->first_slot >= s)
            continue; /* not in the roster yet */
        window_totals(run, r, s - run->obj_slots, s, totals[n]);
        window_totals(run, r, s - run->ev_slots, s, evidence[n]);
        int64_t start = rep->first_slot > run->tenant_first[team->tenant]
                            ? rep->first_slot
                            : run->tenant_first[team->tenant];
        /* As the evaluator does: the share of each window's working days
         * the rep's history covers and the rep was available (the team's
         * calendar, its time off and leaving date; docs/calendars.md). */
        gw_availability_t a = rep_availability(rep);
        const gw_calendar_t *cal = &run->cals[rep->team];
        int64_t now = EPOCH_MS + t_ms, hist = EPOCH_MS + start * GWQ_SLOT_MS;
        double cov, away, cov_ev, away_ev;
        gw_calendar_prorate(cal, now - run->obj_slots * GWQ_SLOT_MS, now, hist, &a, &cov, &away);
        gw_calendar_prorate(cal, now - run->ev_slots * GWQ_SLOT_MS, now, hist, &a, &cov_ev,
                            &away_ev);
        gone[n] = a.left_ms >= 0 && a.left_ms <= now;
        if (gone[n])
            cov = cov_ev = 0, away = 1;
        counts[n] = (gw_rep_counts_t){.totals = totals[n],
                                      .evidence = evidence[n],
                                      .coverage = cov,
                                      .away = away,
                                      .evidence_coverage = cov_ev};
        idx[n++] = r;
    }
    gw_diagnosis_t diags[GWQ_TEAM_SIZE];
    gw_diagnosis_t *dp[GWQ_TEAM_SIZE];
    double target = isnan(pb->target[run->obj_window]) ? NAN : team->objective;
    int nd = 0;
    for (int i = 0; i < n; i++) {
        int np = 0;
        for (int j = 0; j < n; j++)
            if (j != i && !gone[j]) /* a leaver is out of the baseline */
                peers[np++] = counts[j];
        int64_t weeks = (s - w->reps[idx[i]].first_slot) * GWQ_SLOT_MS / WEEK_MS;
        gw_detector_input_t in = {counts[i],
                                  peers,
                                  np,
                                  target,
                                  gw_playbook_ramp(pb, weeks),
                                  (double)run->ev_slots / (double)run->obj_slots};
        gw_detector_evaluate(pb, &in, &diags[i]);
        if (!gone[i])
            dp[nd++] = &diags[i];
    }
    double scratch[GWQ_TEAM_SIZE * (GW_STAGES_MAX + 1)];
    gw_detector_team(pb, dp, nd, scratch);

    bool final_week = s > w->nslots - 7 * GWQ_SLOTS_PER_DAY;
    for (int i = 0; i < n; i++) {
        const gw_diagnosis_t *d = &diags[i];
        rep_track_t *rt = &run->tracks[idx[i]];
        rt->last = *d;
        rt->evaluated = true;
        for (int k = 0; k < GW_ALERT_KINDS; k++) {
            if (!(run->cfg->alerting.kinds & (1u << k)))
                continue;
            track_t *tk = &rt->k[k];
            bool cond = gw_alert_condition(k, d), cleared = gw_alert_cleared(pb, k, d);
            gw_alert_send_t send =
                gw_alert_step(&run->policy, &tk->st, cond, cleared, EPOCH_MS + t_ms, t_ms);
            if (send == GW_SEND_FIRING && tk->st.seq == 1) {
                tk->episodes++;
                /* a planted gap stays one while its team is on holiday */
                tk->away_episodes +=
                    away_at(w, &w->reps[idx[i]], s - 1) && !gwq_truth_is_gap(w->reps[idx[i]].truth);
            }
            if (tk->st.flapped)
                tk->flaps++;
            bool firing = tk->st.phase == GW_PHASE_FIRING;
            bool live = firing || tk->st.phase == GW_PHASE_RESOLVING;
            if (final_week && live) {
                tk->live_final = true;
                if (d->weakest >= 0)
                    tk->weakest = d->weakest;
            }
            if (firing && d->kind != GW_DIAG_NO_OBJECTIVE && d->result >= d->objective)
                tk->met = true;
            if (run->o->verbose && send != GW_SEND_NONE &&
                w->seed == (uint64_t)run->o->verbose_seed)
                printf("  day %5.2f %-8s %-18s %-14s %-17s diag=%s result=%.0f/%.1f "
                       "vol=%.0f/%.0f req=%.0f typ=%.0f phi=%.3g p=%.3g weakest=%s p=%.3g thr=%.3g "
                       "cov=%.2f away=%.2f%s\n",
                       (double)s / GWQ_SLOTS_PER_DAY,
                       send == GW_SEND_FIRING ? "FIRING" : "RESOLVED", gw_alert_kind_str(k),
                       w->reps[idx[i]].name, gwq_truth_str(w->reps[idx[i]].truth),
                       gw_diag_str(d->kind), d->result, d->objective, d->actual_volume,
                       d->reference_volume, d->required_volume, d->team_avg_volume, d->dispersion,
                       d->volume_p, stage_name(pb, d->weakest),
                       d->weakest >= 0 ? d->tr[d->weakest].p : NAN, d->conversion_threshold,
                       d->coverage, d->away, away_at(w, &w->reps[idx[i]], s - 1) ? " AWAY" : "");
        }
    }
}

static bool right_kind(gwq_truth_t truth, int kind)
{
    return ((truth == GWQ_EFFICIENCY || truth == GWQ_SILENT) && kind == GW_ALERT_EFFICIENCY) ||
           (truth == GWQ_EFFECTIVENESS && kind == GW_ALERT_EFFECTIVENESS);
}

/* Tallies the run into per-role stats. */
static void tally(const run_t *run, stats_t *by_role)
{
    const gwq_world_t *w = run->w;
    int measured_days = w->days - w->warmup_days;
    for (int r = 0; r < w->nreps; r++) {
        const gwq_rep_t *rep = &w->reps[r];
        const gwq_team_t *team = &w->teams[rep->team];
        const rep_track_t *rt = &run->tracks[r];
        stats_t *st = &by_role[team->role];
        const gwq_truth_t truth = rep->truth;
        if (team->tenant == 1) {
            for (int k = 0; k < GW_ALERT_KINDS; k++)
                st->storms += rt->k[k].episodes;
            continue;
        }
        if (rep->away_from >= 0 || rep->left_day >= 0 || team->holiday_from >= 0) {
            st->away_reps++;
            for (int k = 0; k < GW_ALERT_KINDS; k++)
                st->away_episodes += rt->k[k].away_episodes;
        }
        for (int k = 0; k < GW_ALERT_KINDS; k++) {
            st->flaps += rt->k[k].flaps;
            if (k != GW_ALERT_EFFICIENCY && k != GW_ALERT_EFFECTIVENESS)
                st->other_episodes += rt->k[k].episodes;
        }
        const track_t *eff = &rt->k[GW_ALERT_EFFICIENCY], *fx = &rt->k[GW_ALERT_EFFECTIVENESS];
        int live = eff->live_final + fx->live_final;
        st->alerts += live;
        st->on_met += eff->met || fx->met;
        if (gwq_truth_is_gap(truth)) {
            bool hit = right_kind(truth, GW_ALERT_EFFICIENCY) ? eff->live_final : fx->live_final;
            st->planted++;
            st->planted_by[truth]++;
            st->found += hit;
            bool short_at_end = rt->evaluated && rt->last.result < rt->last.objective;
            st->planted_short += short_at_end;
            st->found_short += short_at_end && hit;
            st->found_by[truth] += hit;
            st->right += hit;
            if (truth == GWQ_EFFECTIVENESS && fx->live_final) {
                st->named_of++;
                st->named += fx->weakest + 1 == rep->planted_stage;
            }
        } else if (truth == GWQ_LEAN) {
            st->lean_reps++;
            st->on_lean += live;
        } else if (truth == GWQ_NEW) {
            st->new_reps++;
            st->on_new += live;
        } else {
            st->healthy_reps++;
            st->on_healthy += live;
            st->healthy_episodes += eff->episodes + fx->episodes;
            st->healthy_rep_days += measured_days;
        }
    }
}

static void print_reps(const run_t *run)
{
    const gwq_world_t *w = run->w;
    printf("  %-12s %-18s %-6s %-26s %9s %11s %8s %-9s %s\n", "rep", "truth", "plant", "diagnosis",
           "result", "volume", "vol_p", "weakest", "live alerts (episodes)");
    for (int r = 0; r < w->nreps; r++) {
        const gwq_rep_t *rep = &w->reps[r];
        const gwq_team_t *team = &w->teams[rep->team];
        const rep_track_t *rt = &run->tracks[r];
        const gw_playbook_t *pb = gw_playbook_for_team(run->cfg->playbooks, run->cfg->nplaybooks,
                                                       team->tenant ? "late" : "acme", team->name);
        if (!pb)
            continue;
        const gw_diagnosis_t *d = &rt->last;
        char plant[GW_STAGE_NAME_MAX + 1] = "";
        if (rep->truth == GWQ_EFFECTIVENESS)
            snprintf(plant, sizeof(plant), "%s", pb->stages[rep->planted_stage].name);
        else if (rep->truth != GWQ_HEALTHY)
            snprintf(plant, sizeof(plant), "%.2f", rep->factor);
        char res[24], vol[24];
        snprintf(res, sizeof(res), "%.0f/%.1f", d->result, d->objective);
        snprintf(vol, sizeof(vol), "%.0f/%.0f", d->actual_volume, d->reference_volume);
        printf("  %-12s %-18s %-6s %-26s %9s %11s %8.2g %-9s", rep->name, gwq_truth_str(rep->truth),
               plant, rt->evaluated ? gw_diag_str(d->kind) : "-", res, vol, d->volume_p,
               stage_name(pb, d->weakest));
        for (int k = 0; k < GW_ALERT_KINDS; k++)
            if (rt->k[k].episodes || rt->k[k].live_final)
                printf(" %s%s(%d)", gw_alert_kind_str(k), rt->k[k].live_final ? "*" : "",
                       rt->k[k].episodes);
        printf(
            "\n  %43s typical volume %.1f dispersion %.3g threshold %.3g coverage %.2f ramp %.2f\n",
            "", d->team_avg_volume, d->dispersion, d->conversion_threshold, d->coverage,
            d->ramp_factor);
        for (int i = 0; i < d->ntransitions && rt->evaluated; i++)
            if (rep->truth != GWQ_HEALTHY || i == 0)
                printf("  %43s %s: %lld/%lld = %.3f vs team %.3f p=%.3g%s\n", "",
                       pb->stages[i + 1].name, (long long)d->tr[i].rep_successes,
                       (long long)d->tr[i].rep_trials, d->tr[i].rep_rate, d->tr[i].team_rate,
                       d->tr[i].p, d->tr[i].below ? " below" : "");
    }
}

static int run_world(const options_t *o, const gw_config_t *cfg, const gw_alert_policy_t *policy,
                     const char *scenario, int seed, stats_t *by_role)
{
    gwq_world_t *w = gwq_world_generate(scenario, (uint64_t)seed, o->days, o->warmup);
    if (!w)
        return -1;
    run_t run = {.o = o, .cfg = cfg, .policy = *policy, .w = w};
    run.tracks = calloc((size_t)w->nreps, sizeof(rep_track_t));
    if (!run.tracks) {
        gwq_world_free(w);
        return -1;
    }
    /* The objective window: the shortest with a target in the first
     * playbook; the evidence window: the playbook's, or the longest. */
    const gw_playbook_t *pb0 = &cfg->playbooks[0];
    run.obj_window = -1;
    int longest = 0;
    for (int i = 0; i < cfg->nwindows; i++) {
        if (!isnan(pb0->target[i]) &&
            (run.obj_window < 0 ||
             cfg->windows[i].length_ms < cfg->windows[run.obj_window].length_ms))
            run.obj_window = i;
        if (cfg->windows[i].length_ms > cfg->windows[longest].length_ms)
            longest = i;
    }
    int ev = pb0->evidence_window >= 0 ? pb0->evidence_window : longest;
    run.obj_slots = cfg->windows[run.obj_window].length_ms / GWQ_SLOT_MS;
    run.ev_slots = cfg->windows[ev].length_ms / GWQ_SLOT_MS;
    for (int t = 0; t < 2; t++)
        run.tenant_first[t] = INT64_MAX;
    for (int r = 0; r < w->nreps; r++) {
        int tn = w->teams[w->reps[r].team].tenant;
        if (w->reps[r].first_slot >= 0 && w->reps[r].first_slot < run.tenant_first[tn])
            run.tenant_first[tn] = w->reps[r].first_slot;
    }
    run.cals = calloc((size_t)w->nteams, sizeof(gw_calendar_t));
    if (!run.cals) {
        free(run.tracks);
        gwq_world_free(w);
        return -1;
    }
    int64_t day0 = gw_calendar_day(&run.cals[0], EPOCH_MS); /* UTC: a Monday */
    for (int t = 0; t < w->nteams; t++) {
        gw_calendar_init_utc(&run.cals[t]);
        run.cals[t].workdays = GW_CAL_MON_FRI;
        if (w->teams[t].holiday_from >= 0) {
            run.cals[t].holidays[0] = (gw_day_range_t){day0 + w->teams[t].holiday_from,
                                                       day0 + w->teams[t].holiday_to - 1};
            run.cals[t].nholidays = 1;
        }
    }
    bool show = o->verbose && seed == o->verbose_seed;
    if (show)
        printf("== %s seed %d: alert log (day of the run, warm-up %d days)\n", scenario, seed,
               w->warmup_days);
    for (int64_t s = (int64_t)w->warmup_days * GWQ_SLOTS_PER_DAY + 1; s <= w->nslots; s++)
        for (int t = 0; t < w->nteams; t++)
            evaluate_team(&run, t, s);
    tally(&run, by_role);
    if (show) {
        printf("== %s seed %d: reps at the end (objective per 7d:", scenario, seed);
        for (int t = 0; t < w->nteams; t++)
            printf(" %s %.2f", w->teams[t].name, w->teams[t].objective);
        printf(")\n");
        print_reps(&run);
    }
    free(run.tracks);
    free(run.cals);
    gwq_world_free(w);
    return 0;
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : NAN;
}

static double episodes_per_month(const stats_t *s)
{
    return ratio(s->healthy_episodes, s->healthy_rep_days / 30.0);
}

static void print_header(void)
{
    printf("%-14s %7s %6s %6s %6s %6s %6s %6s %6s %5s %5s %5s %7s %5s %7s %6s %6s %9s\n",
           "scenario", "planted", "recall", "rec_sh", "r_eff", "r_efx", "r_sil", "prec", "lean",
           "met", "hlth", "new", "ep/hrm", "flaps", "named", "storms", "other", "away");
}

static void print_row(const char *name, const stats_t *s, bool json)
{
    double recall = ratio(s->found, s->planted), precision = ratio(s->right, s->alerts);
    if (json) {
        printf("{\"scenario\":\"%s\",\"planted\":%d,\"recall\":%.4f,\"recall_short\":%.4f,"
               "\"recall_efficiency\":%.4f,"
               "\"recall_effectiveness\":%.4f,\"recall_silent\":%.4f,\"precision\":%.4f,"
               "\"alerts\":%d,\"on_lean\":%d,\"on_met_objective\":%d,\"on_healthy\":%d,"
               "\"on_new\":%d,\"healthy_episodes_per_rep_month\":%.4f,\"flaps\":%d,"
               "\"named_stage\":%d,\"effectiveness_alerts_on_planted\":%d,\"storms\":%d,"
               "\"other_episodes\":%d,\"away_reps\":%d,\"away_episodes\":%d}\n",
               name, s->planted, recall, ratio(s->found_short, s->planted_short),
               ratio(s->found_by[GWQ_EFFICIENCY], s->planted_by[GWQ_EFFICIENCY]),
               ratio(s->found_by[GWQ_EFFECTIVENESS], s->planted_by[GWQ_EFFECTIVENESS]),
               ratio(s->found_by[GWQ_SILENT], s->planted_by[GWQ_SILENT]), precision, s->alerts,
               s->on_lean, s->on_met, s->on_healthy, s->on_new, episodes_per_month(s), s->flaps,
               s->named, s->named_of, s->storms, s->other_episodes, s->away_reps, s->away_episodes);
        return;
    }
    char named[16], away[24];
    snprintf(named, sizeof(named), "%d/%d", s->named, s->named_of);
    snprintf(away, sizeof(away), "%d/%d", s->away_episodes, s->away_reps);
    printf("%-14s %7d %6.3f %6.3f %6.3f %6.3f %6.3f %6.3f %6d %5d %5d %5d %7.3f %5d %7s %6d %6d "
           "%9s\n",
           name, s->planted, recall, ratio(s->found_short, s->planted_short),
           ratio(s->found_by[GWQ_EFFICIENCY], s->planted_by[GWQ_EFFICIENCY]),
           ratio(s->found_by[GWQ_EFFECTIVENESS], s->planted_by[GWQ_EFFECTIVENESS]),
           ratio(s->found_by[GWQ_SILENT], s->planted_by[GWQ_SILENT]), precision, s->on_lean,
           s->on_met, s->on_healthy, s->on_new, episodes_per_month(s), s->flaps, named, s->storms,
           s->other_episodes, away);
}

static bool targets_met(const stats_t *s)
{
    return ratio(s->found, s->planted) >= 0.9 && ratio(s->right, s->alerts) >= 0.95 &&
           s->on_met == 0 && s->on_lean == 0 && episodes_per_month(s) <= 1.0 &&
           s->away_episodes == 0;
}

int main(int argc, char **argv)
{
    options_t o;
    if (parse_options(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    char err[4096];
    gw_config_t *cfg = NULL;
    int rc = o.config_path
                 ? gw_config_load_file(o.config_path, &cfg, err, sizeof(err))
                 : gw_config_load_string(default_yaml, "<gw_quality>", &cfg, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "gw_quality: config: %s\n", err);
        return 2;
    }
    if (cfg->nplaybooks < 1) {
        fprintf(stderr, "gw_quality: the config has no playbook\n");
        gw_config_free(cfg);
        return 2;
    }
    gw_alert_policy_t policy = {cfg->alerting.fire_after_ms, cfg->alerting.resolve_after_ms,
                                cfg->alerting.repeat_interval_ms};
    if (o.fire_after_ms >= 0)
        policy.fire_after_ms = o.fire_after_ms;
    if (o.resolve_after_ms >= 0)
        policy.resolve_after_ms = o.resolve_after_ms;
    if (o.repeat_interval_ms >= 0)
        policy.repeat_interval_ms = o.repeat_interval_ms;
    if (!o.json)
        printf("gw_quality: %d seeds x %d days (+%d warm-up), evaluation every 6h, "
               "fire_after=%lldms resolve_after=%lldms repeat_interval=%lldms, config %s\n",
               o.seeds, o.days, o.warmup, (long long)policy.fire_after_ms,
               (long long)policy.resolve_after_ms, (long long)policy.repeat_interval_ms,
               o.config_path ? o.config_path : "<built-in>");

    stats_t total[2] = {{0}}, all = {0};
    if (!o.json)
        print_header();
    for (int sc = 0; gwq_scenarios[sc]; sc++) {
        if (o.scenario && strcmp(o.scenario, gwq_scenarios[sc]))
            continue;
        stats_t by_role[2] = {{0}};
        for (int seed = 1; seed <= o.seeds; seed++) {
            if (run_world(&o, cfg, &policy, gwq_scenarios[sc], seed, by_role) != 0) {
                fprintf(stderr, "gw_quality: cannot generate %s seed %d\n", gwq_scenarios[sc],
                        seed);
                gw_config_free(cfg);
                return 2;
            }
        }
        stats_t sum = {0};
        stats_add(&sum, &by_role[0]);
        stats_add(&sum, &by_role[1]);
        for (int r = 0; r < 2; r++)
            stats_add(&total[r], &by_role[r]);
        stats_add(&all, &sum);
        print_row(gwq_scenarios[sc], &sum, o.json);
    }
    print_row("all/sdr", &total[GWQ_ROLE_SDR], o.json);
    print_row("all/ae", &total[GWQ_ROLE_AE], o.json);
    print_row("all", &all, o.json);
    gw_config_free(cfg);
    if (o.check && !targets_met(&all)) {
        fprintf(stderr, "gw_quality: targets missed (recall >= 0.9, precision >= 0.95, no alert "
                        "on reps meeting the objective or lean reps, <= 1 episode per healthy "
                        "rep-month)\n");
        return 1;
    }
    return 0;
}
