/*
 * gapwatch rep TENANT REP: a rep's windows as gapwatchd left them in Redis:
 * the diagnosis snapshot (one typed read per window, gw_diag_store) as a
 * table of the funnel (counts, rep vs team conversion with the rep's
 * interval), required vs actual volume and the diagnosis; the window totals
 * where no playbook applies. --json prints the same data for scripts.
 */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "gw_config.h"
#include "gw_diag_store.h"
#include "gw_keys.h"
#include "gw_store.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: gapwatch rep [-c CONFIG] [-r HOST:PORT] [--json] TENANT REP\n"
                 "\n" CLI_REDIS_USAGE "      --json           print JSON instead of a table\n"
                 "\nReads only (HGETALL): a Redis ACL user with +@read is enough.\n");
}

static const char *str(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

static double num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void format_ms(double ms, char *buf, size_t size)
{
    if (isnan(ms)) {
        snprintf(buf, size, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void pct(double v, char *buf, size_t size)
{
    if (isnan(v))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.1f%%", 100 * v);
}

static void print_diagnosis(const char *window, json_t *d)
{
    char diag[64];
    snprintf(diag, sizeof(diag), "%s", str(d, "diagnosis"));
    for (char *p = diag; *p; p++)
        if (*p == '_')
            *p = ' ';
    const char *weakest = str(d, "weakest_stage");
    printf("\n%-5s %s%s%s\n", window, diag, weakest[0] ? " at " : "", weakest);
    printf("      result %.6g of %.6g %s%s (attainment %.0f%%", num(d, "result"),
           num(d, "objective"), !strcmp(str(d, "objective_type"), "amount") ? "amount of " : "",
           str(d, "objective_kind"), 100 * num(d, "attainment"));
    if (num(d, "ramp_factor") < 1)
        printf(", objective ramped to %.0f%%", 100 * num(d, "ramp_factor"));
    if (num(d, "coverage") < 1)
        printf(", prorated to the %.0f%% of the window with history", 100 * num(d, "coverage"));
    printf(")\n");
    int conf = (int)lround(100 * num(d, "confidence"));
    char conv_head[48];
    snprintf(conv_head, sizeof(conv_head), "conversion (%s)",
             str(d, "evidence_window")[0] ? str(d, "evidence_window") : window);
    printf("      %-10s %8s %8s   %-22s %-28s %-9s %s\n", "stage", "rep", "team", conv_head,
           "rep rate [interval]", "typical", "p");
    int stages = (int)num(d, "stages");
    char prev[64] = "";
    for (int s = 0; s < stages; s++) {
        char f[64];
        snprintf(f, sizeof(f), "stage.%d.name", s);
        const char *name = str(d, f);
        snprintf(f, sizeof(f), "stage.%d.rep", s);
        double rep = num(d, f);
        snprintf(f, sizeof(f), "stage.%d.team", s);
        double team = num(d, f);
        printf("      %-10s %8.0f %8.0f", name, rep, team);
        if (s > 0) {
            char conv[140], rr[16], lo[16], hi[16], tr[16], interval[64];
            snprintf(conv, sizeof(conv), "%s -> %s", prev, name);
            snprintf(f, sizeof(f), "stage.%d.rep_rate", s);
            pct(num(d, f), rr, sizeof(rr));
            snprintf(f, sizeof(f), "stage.%d.rep_lo", s);
            pct(num(d, f), lo, sizeof(lo));
            snprintf(f, sizeof(f), "stage.%d.rep_hi", s);
            pct(num(d, f), hi, sizeof(hi));
            snprintf(f, sizeof(f), "stage.%d.team_rate", s);
            pct(num(d, f), tr, sizeof(tr));
            snprintf(interval, sizeof(interval), "%s [%s, %s]", rr, lo, hi);
            snprintf(f, sizeof(f), "stage.%d.below", s);
            bool below = num(d, f) == 1;
            snprintf(f, sizeof(f), "stage.%d.judged", s);
            bool judged = num(d, f) == 1;
            snprintf(f, sizeof(f), "stage.%d.p", s);
            char pv[24] = "";
            if (!isnan(num(d, f)))
                snprintf(pv, sizeof(pv), "%.2g", num(d, f));
            printf("   %-22s %-28s %-9s %-8s %s", conv, interval, tr, pv,
                   below    ? "significantly below"
                   : judged ? ""
                            : "(too few to judge)");
        }
        printf("\n");
        snprintf(prev, sizeof(prev), "%s", name);
    }
    double req = num(d, "required_volume");
    if (isnan(req))
        printf("      volume     %.0f actual; required unknown (team baseline too small)",
               num(d, "actual_volume"));
    else
        printf("      volume     %.0f actual vs %.0f required at the team's conversion",
               num(d, "actual_volume"), req);
    if (!isnan(num(d, "team_avg_volume")))
        printf(", %.0f for the typical rep", num(d, "team_avg_volume"));
    if (!isnan(num(d, "volume_p")))
        printf("; p = %.2g of so little from a rep like the typical one (%s)", num(d, "volume_p"),
               str(d, "evidence_window"));
    printf("\n");
    const char *signals = str(d, "signals");
    printf("      signals    %s\n", signals[0] ? signals : "-");
    double thr = num(d, "conversion_threshold");
    printf("      (rep intervals are Wilson %d%%; p one-sided, ", conf);
    if (thr >= 0)
        printf("significant at or below %.2g after the team's correction)\n", thr);
    else
        printf("none significant after the team's correction)\n");
}

/* A period's pace: "month:2026-06  behind pace: 15 of 30 due by now (66
 * for the month), 31.5 projected; plan 21.2 reach a day for 12 days left at
 * the team's rates, 21.2 at its own". */
static void print_pace(json_t *p)
{
    double due = num(p, "objective_to_date"), proj = num(p, "projected");
    bool behind = num(p, "behind") == 1, judged = num(p, "judged") == 1;
    printf("\n%s  %s: %.6g of %.3g due by now (%.3g for the period)", str(p, "period"),
           behind   ? "behind pace"
           : judged ? "on pace"
                    : "pace not judged yet",
           num(p, "result"), due, num(p, "objective"));
    if (!isnan(proj))
        printf(", %.3g projected", proj);
    printf("\n");
    double plan = num(p, "plan_per_day"), own = num(p, "plan_per_day_own_rates");
    if (!isnan(plan))
        printf("      plan       %.1f %s a day for the %.1f available days left at the team's "
               "rates",
               plan, str(p, "plan_stage"), num(p, "remaining_days"));
    if (!isnan(plan) && !isnan(own))
        printf(", %.1f at its own", own);
    if (!isnan(plan))
        printf("\n");
    if (!isnan(num(p, "p")))
        printf("      (p = %.2g of so few from a rep on pace)\n", num(p, "p"));
}

int cmd_rep(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        CLI_REDIS_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    cli_redis_opts_t ro = {0};
    bool as_json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:r:h", opts, NULL)) != -1) {
        if (cli_redis_option(&ro, c, optarg))
            continue;
        switch (c) {
        case 'j':
            as_json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 2;
    }
    const char *tenant = argv[optind], *rep = argv[optind + 1];
    if (cli_check_id("rep", "tenant", tenant) != 0 || cli_check_id("rep", "rep", rep) != 0)
        return 2;
    static char err[8192];
    char host[256];
    int bad_usage;
    gw_config_t *cfg = cli_load_config("rep", &ro, host, sizeof(host), &bad_usage);
    if (!cfg)
        return bad_usage ? 2 : 1;
    gw_store_t *store = cli_store_open("rep", cfg);
    if (!store) {
        gw_config_free(cfg);
        return 1;
    }
    gw_diag_store_t *diag_store = gw_diag_store_new(cfg, store);
    if (!diag_store) {
        fprintf(stderr, "gapwatch rep: out of memory\n");
        gw_store_free(store);
        gw_config_free(cfg);
        return 1;
    }
    int rc = 0;
    json_t *out = json_object();
    json_object_set_new(out, "tenant", json_string(tenant));
    json_object_set_new(out, "rep", json_string(rep));
    gw_entity_t e = {GW_ENTITY_REP, tenant, rep};
    json_t *meta = json_object();
    json_object_set_new(out, "meta", meta);
    if (gw_store_read_state(store, &e, cli_collect_json, meta, err, sizeof(err)) != GW_STORE_OK) {
        fprintf(stderr, "gapwatch rep: %s\n", err);
        rc = 1;
        goto out;
    }
    json_t *windows = json_object();
    json_object_set_new(out, "windows", windows);
    for (int w = 0; w < cfg->nwindows; w++) {
        json_t *win = json_object(), *tot = json_object(), *diag = json_object();
        json_object_set_new(windows, cfg->windows[w].name, win);
        json_object_set_new(win, "totals", tot);
        json_object_set_new(win, "diagnosis", diag);
        const char *wname = cfg->windows[w].name;
        int r1 = gw_store_read_totals(store, &e, wname, cli_collect_json, tot, err, sizeof(err));
        int r2 = r1 == GW_STORE_OK
                     ? gw_diag_store_read_diagnosis(diag_store, tenant, rep, wname,
                                                    cli_collect_json, diag, err, sizeof(err))
                     : r1;
        if (r2 != GW_STORE_OK) {
            fprintf(stderr, "gapwatch rep: %s\n", err);
            rc = 1;
            goto out;
        }
    }
    /* calendar periods: pace and plan (docs/calendars.md) */
    json_t *periods = json_object();
    json_object_set_new(out, "periods", periods);
    for (int k = 0; k < GW_PERIOD_COUNT; k++) {
        json_t *pace = json_object();
        if (gw_diag_store_read_pace(diag_store, tenant, rep, gw_period_str((gw_period_kind_t)k),
                                    cli_collect_json, pace, err, sizeof(err)) != GW_STORE_OK) {
            json_decref(pace);
            fprintf(stderr, "gapwatch rep: %s\n", err);
            rc = 1;
            goto out;
        }
        if (json_object_size(pace) > 0)
            json_object_set_new(periods, gw_period_str((gw_period_kind_t)k), pace);
        else
            json_decref(pace);
    }
    if (as_json) {
        char *s = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", s);
        free(s);
        goto out;
    }
    if (json_object_size(meta) == 0) {
        printf("rep %s/%s: no data in Redis (key prefix %s)\n", tenant, rep, cfg->key_prefix);
        rc = 1;
        goto out;
    }
    const char *playbook = "";
    double evaluated = NAN, watermark = NAN;
    for (int w = 0; w < cfg->nwindows && !playbook[0]; w++) {
        json_t *d = json_object_get(json_object_get(windows, cfg->windows[w].name), "diagnosis");
        playbook = str(d, "playbook");
        evaluated = num(d, "evaluated_at_ms");
        watermark = num(d, "watermark_ms");
    }
    char ev[32], wm[32];
    format_ms(evaluated, ev, sizeof(ev));
    format_ms(watermark, wm, sizeof(wm));
    printf("rep %s/%s · team %s · playbook %s\n", tenant, rep, str(meta, "team"),
           playbook[0] ? playbook : "(none)");
    if (playbook[0])
        printf("evaluated %s at event-time watermark %s\n", ev, wm);
    for (int w = 0; w < cfg->nwindows; w++) {
        json_t *win = json_object_get(windows, cfg->windows[w].name);
        json_t *d = json_object_get(win, "diagnosis");
        if (json_object_size(d) > 0) {
            print_diagnosis(cfg->windows[w].name, d);
            continue;
        }
        json_t *tot = json_object_get(win, "totals");
        printf("\n%-5s totals (no objective in this window)\n", cfg->windows[w].name);
        const char *field;
        json_t *v;
        json_object_foreach(tot, field, v)
        {
            if (strcmp(field, "wm") != 0)
                printf("      %-24s %lld\n", field, (long long)json_integer_value(v));
        }
    }
    const char *pname;
    json_t *p;
    json_object_foreach(periods, pname, p) print_pace(p);
out:
    json_decref(out);
    gw_diag_store_free(diag_store);
    gw_store_free(store);
    gw_config_free(cfg);
    return rc;
}
