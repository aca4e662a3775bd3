/*
 * The same answer at any scale, and no storm from a tenant that arrives
 * late. One stream — tenant acme with a month of history, tenant globex
 * whose history starts three days before the end (deployed later) — is
 * diagnosed by one gapwatchd, then, in a fresh Redis and Kafka, by three in
 * one consumer group. Every rep's diagnosis snapshot (apart from the wall
 * clock of the evaluation) and every alert message must be the same in both
 * runs, and no healthy, lean or ramping globex rep may be alerted.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gapwatch/v1/alert.pb-c.h"
#include "gw_harness.h"
#include "gw_sim.h"
#include "tevents.h"

static const char *const topics[] = {"sales.events:12", "sales.events.dlq:1", "sales.alerts:3",
                                     NULL};

#define REPS_MAX   64
#define ALERTS_MAX 512

typedef struct {
    gw_sim_rep_t reps[REPS_MAX];
    int nreps;
    char *snap[REPS_MAX][2]; /* 7d, 30d: sorted "field=value" lines */
    char *alerts[ALERTS_MAX];
    int nalerts;
} run_t;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The snapshot of one rep in one window as sorted lines, without the wall
 * clock of the evaluation. NULL when there is none. */
static char *snapshot(redisContext *c, const gw_sim_rep_t *r, const char *window)
{
    redisReply *rr = redisCommand(c, "HGETALL gw:{%s:%s}:diag:%s", r->tenant, r->rep, window);
    if (!rr || rr->type != REDIS_REPLY_ARRAY || rr->elements == 0) {
        if (rr)
            freeReplyObject(rr);
        return NULL;
    }
    size_t n = rr->elements / 2, len = 0;
    char **lines = calloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *f = rr->element[2 * i]->str, *v = rr->element[2 * i + 1]->str;
        if (!strcmp(f, "evaluated_at_ms"))
            continue;
        size_t l = strlen(f) + strlen(v) + 3;
        lines[i] = malloc(l);
        snprintf(lines[i], l, "%s=%s\n", f, v);
        len += l;
    }
    freeReplyObject(rr);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (lines[i])
            lines[m++] = lines[i];
    qsort(lines, m, sizeof(char *), cmp_str);
    char *out = calloc(1, len + 1);
    for (size_t i = 0; i < m; i++) {
        strcat(out, lines[i]);
        free(lines[i]);
    }
    free(lines);
    return out;
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Reads every alert message on the topic (waiting `quiet_ms` for more). */
static void read_alerts(gwh_t *h, run_t *run, int quiet_ms)
{
    rd_kafka_t *c = tev_alert_reader(h, "scale-test-reader");
    int64_t last = gwh_now_ms();
    while (gwh_now_ms() - last < quiet_ms) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (!m->err && run->nalerts < ALERTS_MAX) {
            Gapwatch__V1__GapAlert *a = gapwatch__v1__gap_alert__unpack(NULL, m->len, m->payload);
            assert_non_null(a);
            char line[512];
            snprintf(line, sizeof(line), "%s/%s %s %d #%u %s | %s", a->tenant_id, a->rep_id,
                     a->window, (int)a->kind, a->sequence,
                     a->state == GAPWATCH__V1__ALERT_STATE__FIRING ? "FIRING" : "RESOLVED",
                     a->summary);
            run->alerts[run->nalerts++] = strdup(line);
            gapwatch__v1__gap_alert__free_unpacked(a, NULL);
            last = gwh_now_ms();
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_destroy(c);
    qsort(run->alerts, (size_t)run->nalerts, sizeof(char *), cmp_str);
}

static void run_stream(run_t *run, int instances, int64_t end_ms)
{
    gwh_t h;
    gwh_init(&h, instances == 1 ? "scale1" : "scale3");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 3, topics);
    char yaml[4096];
    /* idle_after 1h: the tenants' times stay at their newest event, so two
     * runs minutes apart judge the same windows; max_lag 0: nothing is
     * judged (and no alert decided) before the whole stream is applied, as
     * alerts decided mid-stream would carry the figures of that moment,
     * which depend on how fast each run read, not on how many read. */
    snprintf(yaml, sizeof(yaml),
             "%s"
             "consumer: {idle_after: 1h}\n"
             "evaluation: {sweep_interval: 1s, min_interval: 1s, max_lag: 0}\n"
             "alerting: {windows: [7d], fire_after: 0s, resolve_after: 0s, repeat_interval: 30d}\n",
             GW_SIM_CONFIG_YAML);
    gwh_write_config(&h, yaml);
    gw_sim_config_t acme = {.tenant = "acme",
                            .teams = 2,
                            .reps_per_team = 10,
                            .days = 30,
                            .seed = 11,
                            .end_ms = end_ms,
                            .plant = true};
    gw_sim_config_t globex = {.tenant = "globex",
                              .teams = 1,
                              .reps_per_team = 10,
                              .days = 14,
                              .seed = 12,
                              .end_ms = end_ms,
                              .plant = true};
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    assert_true(tev_produce_sim(rk, &acme, run->reps, 0) > 10000);
    /* globex starts sending three days before the end */
    assert_true(tev_produce_sim(rk, &globex, run->reps + 20, end_ms - 3 * 86400000LL) > 1000);
    run->nreps = 30;

    gwh_daemon_start(&h);
    for (int i = 1; i < instances; i++) {
        char name[32];
        snprintf(name, sizeof(name), "gapwatchd-%d", i + 1);
        char *argv[] = {GW_GAPWATCHD, "-c", h.config_path, NULL};
        gwh_spawn(&h, name, argv);
    }
    assert_true(gwh_wait_consumed(&h, rk, "sales.events", 12, 300000));
    rd_kafka_destroy(rk);

    /* Snapshots until two reads two sweeps apart agree. */
    redisContext *c = gwh_redis(&h);
    int64_t deadline = gwh_now_ms() + 60000;
    bool stable = false;
    while (!stable && gwh_now_ms() < deadline) {
        char *next[REPS_MAX][2];
        stable = true;
        for (int i = 0; i < run->nreps; i++)
            for (int w = 0; w < 2; w++) {
                next[i][w] = snapshot(c, &run->reps[i], w ? "30d" : "7d");
                if (!same(next[i][w], run->snap[i][w])) {
                    if (gwh_now_ms() > deadline - 5000)
                        fprintf(stderr, "unstable: %s/%s %d\n%s\n", run->reps[i].tenant,
                                run->reps[i].rep, w, next[i][w] ? next[i][w] : "(none)");
                    stable = false;
                }
                free(run->snap[i][w]);
                run->snap[i][w] = next[i][w];
            }
        /* every acme rep must have been judged */
        for (int i = 0; i < 20; i++)
            if (!run->snap[i][0]) {
                if (gwh_now_ms() > deadline - 5000)
                    fprintf(stderr, "no snapshot: %s\n", run->reps[i].rep);
                stable = false;
            }
        if (!stable)
            gwh_sleep_ms(2500);
    }
    if (!stable)
        gwh_dump_daemon_log(&h, 40);
    assert_true(stable);
    read_alerts(&h, run, 4000);
    redisFree(c);
    gwh_cleanup(&h);
}

static bool planted_healthy(gw_archetype_t a)
{
    return a == GW_ARCH_HEALTHY || a == GW_ARCH_LEAN || a == GW_ARCH_RAMPING;
}

static void test_one_and_three_instances_give_the_same_diagnoses_and_alerts(void **state)
{
    (void)state;
    int64_t end_ms = gwh_now_ms() - 1800000;
    static run_t one, three;
    run_stream(&one, 1, end_ms);
    run_stream(&three, 3, end_ms);

    int differ = 0;
    for (int i = 0; i < one.nreps; i++)
        for (int w = 0; w < 2; w++)
            if (!same(one.snap[i][w], three.snap[i][w])) {
                fprintf(stderr, "%s/%s %s differs:\n--- 1 instance\n%s--- 3 instances\n%s",
                        one.reps[i].tenant, one.reps[i].rep, w ? "30d" : "7d",
                        one.snap[i][w] ? one.snap[i][w] : "(none)\n",
                        three.snap[i][w] ? three.snap[i][w] : "(none)\n");
                differ++;
            }
    assert_int_equal(differ, 0);
    for (int i = 0; i < one.nalerts; i++)
        fprintf(stderr, "  alert: %s\n", one.alerts[i]);
    assert_true(one.nalerts > 0);
    if (one.nalerts != three.nalerts)
        for (int i = 0; i < three.nalerts; i++)
            fprintf(stderr, "  3 instances: %s\n", three.alerts[i]);
    assert_int_equal(one.nalerts, three.nalerts);
    for (int i = 0; i < one.nalerts; i++)
        assert_string_equal(one.alerts[i], three.alerts[i]);

    /* The late tenant: judged on its three days, no storm. */
    int globex_judged = 0;
    for (int i = 20; i < one.nreps; i++) {
        const gw_sim_rep_t *r = &one.reps[i];
        if (one.snap[i][0]) {
            globex_judged++;
            assert_non_null(strstr(one.snap[i][0], "partial_history"));
        }
        if (!planted_healthy(r->archetype))
            continue;
        char who[80];
        snprintf(who, sizeof(who), "globex/%s ", r->rep);
        for (int a = 0; a < one.nalerts; a++)
            if (!strncmp(one.alerts[a], who, strlen(who)))
                fail_msg("late tenant's %s rep alerted: %s", gw_archetype_str(r->archetype),
                         one.alerts[a]);
    }
    assert_true(globex_judged >= 8);
    for (int i = 0; i < one.nreps; i++)
        for (int w = 0; w < 2; w++) {
            free(one.snap[i][w]);
            free(three.snap[i][w]);
        }
    for (int i = 0; i < one.nalerts; i++)
        free(one.alerts[i]);
    for (int i = 0; i < three.nalerts; i++)
        free(three.alerts[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_and_three_instances_give_the_same_diagnoses_and_alerts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
