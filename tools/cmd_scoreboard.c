/*
 * gapwatch scoreboard --truth FILE: each rep of a simulation's ground truth
 * (gapwatch sim --truth) next to the diagnosis gapwatchd left in Redis: the
 * objective, the result, the diagnosis, the one expected and whether they
 * match. A match is the same diagnosis and weakest stage, and the expected
 * signal (if any) among the snapshot's signals.
 *
 * --wait S first waits up to S seconds until every rep's snapshot was
 * evaluated after the command started, so a caller that has seen gapwatchd
 * consume everything gets the verdict on all of it.
 *
 * Exit status: 0 every rep matches, 1 a rep does not (or an error), 2 usage.
 */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "gw_diag_store.h"
#include "gw_store.h"
#include "gw_time.h"

static volatile sig_atomic_t board_stop;

static void on_signal(int sig)
{
    (void)sig;
    board_stop = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gapwatch scoreboard [-c CONFIG] [-r HOST:PORT] --truth FILE [options]\n"
            "\n" CLI_REDIS_USAGE
            "      --truth FILE the ground truth written by gapwatch sim --truth\n"
            "      --wait S     first wait up to S seconds for a fresh evaluation of every rep\n"
            "      --json       print one JSON object per rep instead of a table\n");
}

typedef struct {
    json_t *truth; /* the truth line */
    json_t *snap;  /* the diagnosis snapshot's fields */
    bool match;
} row_t;

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

static double jnum(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* "effectiveness gap at book (silent)" from a diagnosis, stage, signals. */
static void describe(char *buf, size_t size, const char *diag, const char *weakest,
                     const char *signals)
{
    int n = snprintf(buf, size, "%s", diag[0] ? diag : "(none)");
    for (char *p = buf; *p; p++)
        if (*p == '_')
            *p = ' ';
    if (weakest[0] && n >= 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, " at %s", weakest);
    if (signals[0] && n >= 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, " [%s]", signals);
}

static bool signal_listed(const char *signals, const char *want)
{
    size_t len = strlen(want);
    for (const char *p = signals; (p = strstr(p, want)) != NULL; p += len) {
        bool starts = p == signals || p[-1] == ',';
        bool ends = p[len] == '\0' || p[len] == ',';
        if (starts && ends)
            return true;
    }
    return false;
}

/* Reads every rep's snapshot into rows[i].snap. Returns the number evaluated
 * at or after `since_ms`, or -1 on a Redis failure (printed). */
static int read_snapshots(gw_diag_store_t *ds, row_t *rows, int n, int64_t since_ms)
{
    char err[512];
    int fresh = 0;
    for (int i = 0; i < n; i++) {
        json_decref(rows[i].snap);
        rows[i].snap = json_object();
        json_t *t = rows[i].truth;
        if (gw_diag_store_read_diagnosis(ds, jstr(t, "tenant"), jstr(t, "rep"), jstr(t, "window"),
                                         cli_collect_json, rows[i].snap, err,
                                         sizeof(err)) != GW_STORE_OK) {
            fprintf(stderr, "gapwatch scoreboard: %s\n", err);
            return -1;
        }
        fresh += jnum(rows[i].snap, "evaluated_at_ms") >= (double)since_ms;
    }
    return fresh;
}

static int load_truth(const char *path, row_t **rows_out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    row_t *rows = NULL;
    int n = 0, cap = 0, lineno = 0;
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        if (strspn(line, " \t\r\n") == strlen(line))
            continue;
        json_error_t jerr;
        json_t *t = json_loads(line, 0, &jerr);
        if (!t || !json_is_string(json_object_get(t, "rep")) ||
            !json_is_string(json_object_get(t, "tenant")) ||
            !json_is_string(json_object_get(t, "window")) ||
            !json_is_string(json_object_get(t, "diagnosis"))) {
            fprintf(stderr, "%s:%d: not a ground-truth line (%s)\n", path, lineno,
                    t ? "needs tenant, rep, window and diagnosis strings" : jerr.text);
            json_decref(t);
            n = -(n + 1);
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            row_t *grown = realloc(rows, (size_t)cap * sizeof(*rows));
            if (!grown) {
                json_decref(t);
                n = -(n + 1);
                break;
            }
            rows = grown;
        }
        rows[n++] = (row_t){t, NULL, false};
    }
    fclose(f);
    if (n < 0) {
        for (int i = 0; i < -n - 1; i++)
            json_decref(rows[i].truth);
        free(rows);
        return -1;
    }
    if (n == 0) {
        fprintf(stderr, "%s: no reps in the ground truth\n", path);
        free(rows);
        return -1;
    }
    *rows_out = rows;
    return n;
}

static void print_table(row_t *rows, int n)
{
    printf("%-8s %-11s %-28s %-5s %9s %6s  %-50s %-36s %s\n", "team", "rep", "planted", "win",
           "objective", "result", "diagnosis", "expected", "match");
    for (int i = 0; i < n; i++) {
        json_t *t = rows[i].truth, *s = rows[i].snap;
        char got[160], want[160], objective[32], result[32];
        describe(got, sizeof(got), jstr(s, "diagnosis"), jstr(s, "weakest_stage"),
                 jstr(s, "signals"));
        describe(want, sizeof(want), jstr(t, "diagnosis"), jstr(t, "weakest_stage"),
                 jstr(t, "signal"));
        double obj = jnum(s, "objective"), res = jnum(s, "result");
        snprintf(objective, sizeof(objective), isnan(obj) ? "-" : "%.4g", obj);
        snprintf(result, sizeof(result), isnan(res) ? "-" : "%.4g", res);
        printf("%-8s %-11s %-28s %-5s %9s %6s  %-50s %-36s %s\n", jstr(t, "team"), jstr(t, "rep"),
               jstr(t, "archetype"), jstr(t, "window"), objective, result, got, want,
               rows[i].match ? "yes" : "NO");
    }
}

int cmd_scoreboard(int argc, char **argv)
{
    enum { O_TRUTH = 256, O_WAIT, O_JSON };
    static const struct option opts[] = {
        {"truth", required_argument, NULL, O_TRUTH},
        {"wait", required_argument, NULL, O_WAIT},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        CLI_REDIS_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    cli_redis_opts_t ro = {0};
    const char *truth_path = NULL;
    int wait_s = 0;
    bool as_json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:r:h", opts, NULL)) != -1) {
        if (cli_redis_option(&ro, c, optarg))
            continue;
        switch (c) {
        case O_TRUTH:
            truth_path = optarg;
            break;
        case O_WAIT:
            wait_s = atoi(optarg);
            break;
        case O_JSON:
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
    if (!truth_path || optind != argc || wait_s < 0) {
        usage(stderr);
        return 2;
    }
    int64_t started = gw_now_ms();
    char host[256];
    int bad_usage;
    gw_config_t *cfg = cli_load_config("scoreboard", &ro, host, sizeof(host), &bad_usage);
    if (!cfg)
        return bad_usage ? 2 : 1;
    row_t *rows = NULL;
    int n = load_truth(truth_path, &rows);
    if (n < 0) {
        gw_config_free(cfg);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    gw_store_t *store = cli_store_open("scoreboard", cfg);
    gw_diag_store_t *diag_store = NULL;
    int rc = 0, fresh = -1;
    if (!store) {
        rc = 1;
        goto out;
    }
    if (!(diag_store = gw_diag_store_new(cfg, store))) {
        fprintf(stderr, "gapwatch scoreboard: out of memory\n");
        rc = 1;
        goto out;
    }
    int64_t deadline = gw_mono_ms() + wait_s * 1000LL;
    while ((fresh = read_snapshots(diag_store, rows, n, started)) >= 0 && fresh < n && wait_s > 0 &&
           gw_mono_ms() < deadline && !board_stop)
        usleep(250 * 1000);
    if (fresh < 0) {
        rc = 1;
        goto out;
    }
    if (wait_s > 0 && fresh < n)
        fprintf(stderr,
                "gapwatch scoreboard: %d of %d reps were not evaluated within %d s; their last "
                "snapshot is shown\n",
                n - fresh, n, wait_s);
    int matches = 0;
    for (int i = 0; i < n; i++) {
        json_t *t = rows[i].truth, *s = rows[i].snap;
        const char *signal = jstr(t, "signal");
        rows[i].match = !strcmp(jstr(s, "diagnosis"), jstr(t, "diagnosis")) &&
                        !strcmp(jstr(s, "weakest_stage"), jstr(t, "weakest_stage")) &&
                        (!signal[0] || signal_listed(jstr(s, "signals"), signal));
        matches += rows[i].match;
    }
    if (as_json) {
        for (int i = 0; i < n; i++) {
            json_t *o = json_pack("{s:O, s:O, s:b}", "truth", rows[i].truth, "snapshot",
                                  rows[i].snap, "match", rows[i].match);
            char *line = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
            printf("%s\n", line);
            free(line);
            json_decref(o);
        }
    } else {
        print_table(rows, n);
        printf("\n%d of %d reps match the ground truth\n", matches, n);
    }
    rc = matches == n ? 0 : 1;
out:
    for (int i = 0; i < n; i++) {
        json_decref(rows[i].truth);
        json_decref(rows[i].snap);
    }
    free(rows);
    gw_diag_store_free(diag_store);
    gw_store_free(store);
    gw_config_free(cfg);
    return rc;
}
