/*
 * Alerts end to end, on a simulated org with planted reps, through Kafka,
 * gapwatchd, Redis and Debian's prometheus-alertmanager on loopback:
 *
 *   1. the brokers go down for 5 s while the alerts fall due; once they
 *      are back every alert arrives: exactly
 *      one FIRING per planted gap, nothing for healthy, lean or ramping reps;
 *   2. Alertmanager holds them with the right labels;
 *   3. a rep who recovers gets exactly one RESOLVED;
 *   4. after a SIGKILL and a restart nothing is sent again;
 *   5. the tenant's Redis stream mirrors every delivered alert.
 */
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gapwatch/v1/alert.pb-c.h"
#include "gapwatch/v1/event.pb-c.h"
#include "gw_harness.h"
#include "gw_sim.h"
#include "tevents.h"

typedef struct {
    rd_kafka_t *rk;
} emit_ctx_t;

static const char *const topics[] = {"sales.events:12", "sales.events.dlq:1", "sales.alerts:3",
                                     NULL};

typedef struct {
    char rep[64];
    char kind[32];
    char state[16];
    char alert_id[32];
    unsigned sequence;
} got_t;

static got_t got[1024];
static int ngot;

/* Polls the alert topic for `ms`, appending what arrives. */
static void collect(rd_kafka_t *c, int ms)
{
    int64_t end = gwh_now_ms() + ms;
    while (gwh_now_ms() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (!m->err && ngot < 1024) {
            Gapwatch__V1__GapAlert *a = gapwatch__v1__gap_alert__unpack(NULL, m->len, m->payload);
            assert_non_null(a);
            got_t *g = &got[ngot++];
            snprintf(g->rep, sizeof(g->rep), "%s", a->rep_id);
            snprintf(
                g->kind, sizeof(g->kind), "%s",
                protobuf_c_enum_descriptor_get_value(&gapwatch__v1__alert_kind__descriptor, a->kind)
                    ->name);
            snprintf(g->state, sizeof(g->state), "%s",
                     a->state == GAPWATCH__V1__ALERT_STATE__FIRING ? "FIRING" : "RESOLVED");
            snprintf(g->alert_id, sizeof(g->alert_id), "%s", a->alert_id);
            g->sequence = a->sequence;
            fprintf(stderr, "  alert: %-8s %-20s %-10s #%u %s\n", g->state, g->kind, g->rep,
                    g->sequence, a->summary);
            gapwatch__v1__gap_alert__free_unpacked(a, NULL);
        }
        rd_kafka_message_destroy(m);
    }
}

static int count(const char *rep, const char *kind, const char *state)
{
    int n = 0;
    for (int i = 0; i < ngot; i++)
        n += !strcmp(got[i].rep, rep) && (!kind || !strcmp(got[i].kind, kind)) &&
             (!state || !strcmp(got[i].state, state));
    return n;
}

/* The alert kinds each archetype must fire in the 7d window. */
static const char *const *expected_kinds(gw_archetype_t a)
{
    static const char *const none[] = {NULL};
    static const char *const eff[] = {"EFFICIENCY_GAP", NULL};
    static const char *const weak[] = {"EFFECTIVENESS_GAP", NULL};
    static const char *const high[] = {"EFFECTIVENESS_GAP", "LOW_ACTIVITY_QUALITY",
                                       "SUSPECTED_GAMING", NULL};
    switch (a) {
    case GW_ARCH_LOW_ACTIVITY:
    case GW_ARCH_SILENT:
        return eff;
    case GW_ARCH_WEAK_STAGE:
        return weak;
    case GW_ARCH_HIGH_VOLUME:
        return high;
    default:
        return none;
    }
}

/* Alertmanager drops labels whose value is empty: a missing label is "". */
static const char *label(json_t *labels, const char *name)
{
    const char *v = json_string_value(json_object_get(labels, name));
    return v ? v : "";
}

/* The Alertmanager conventions of the alert `alertname` of `rep`: the
 * severity label, the generatorURL to the rep's dashboard (as configured)
 * and the runbook_url to the kind's section of docs/alerts.md (default). */
static void assert_am_conventions(json_t *alerts, const char *alertname, const char *rep,
                                  const char *team, const char *severity, const char *kind)
{
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        json_t *l = json_object_get(a, "labels");
        if (strcmp(label(l, "alertname"), alertname) || strcmp(label(l, "rep"), rep))
            continue;
        assert_string_equal(label(l, "severity"), severity);
        char want[512];
        snprintf(want, sizeof(want),
                 "https://grafana.example/d/gapwatch-rep?var-tenant=acme&var-team=%s&var-rep=%s"
                 "&var-window=7d",
                 team, rep);
        assert_string_equal(label(a, "generatorURL"), want);
        snprintf(want, sizeof(want), "/docs/alerts.md#%s", kind);
        const char *runbook = label(json_object_get(a, "annotations"), "runbook_url");
        if (strncmp(runbook, "https://", 8) || strlen(runbook) < strlen(want) ||
            strcmp(runbook + strlen(runbook) - strlen(want), want))
            fail_msg("runbook_url of %s/%s is \"%s\", expected https://...%s", alertname, rep,
                     runbook, want);
        return;
    }
    fail_msg("Alertmanager has no %s for %s", alertname, rep);
}

static bool am_has(json_t *alerts, const char *alertname, const char *rep, const char *team,
                   const char *stage)
{
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        json_t *l = json_object_get(a, "labels");
        if (strcmp(label(l, "alertname"), alertname) || strcmp(label(l, "rep"), rep))
            continue;
        return !strcmp(label(l, "tenant"), "acme") && !strcmp(label(l, "team"), team) &&
               !strcmp(label(l, "window"), "7d") && !json_object_get(l, "stage") &&
               !strcmp(label(json_object_get(a, "annotations"), "stage"), stage) &&
               label(json_object_get(a, "annotations"), "summary")[0];
    }
    return false;
}

static void test_alert_lifecycle_through_kafka_redis_and_alertmanager(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "alerts");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 3, topics);
    gwh_alertmanager_start(&h);
    char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "%s"
             "consumer: {idle_after: 1s}\n"
             "evaluation: {sweep_interval: 1s, min_interval: 1s}\n"
             "alerting:\n"
             "  windows: [7d]\n"
             "  fire_after: 3s\n"
             "  resolve_after: 0s\n"
             "  repeat_interval: 30d\n"
             "  alertmanager:\n"
             "    url: \"http://127.0.0.1:%d\"\n"
             "    generator_url: \"https://grafana.example/d/gapwatch-rep?var-tenant={tenant}"
             "&var-team={team}&var-rep={rep}&var-window={window}\"\n"
             "    severity: {suspected_gaming: critical}\n",
             GW_SIM_CONFIG_YAML, h.am_port);
    gwh_write_config(&h, yaml);

    gw_sim_config_t sim = {.tenant = "acme",
                           .teams = 2,
                           .reps_per_team = 10,
                           .days = 30,
                           .seed = 3,
                           .end_ms = gwh_now_ms() - 1800000,
                           .plant = true};
    int nreps = gw_sim_rep_count(&sim);
    gw_sim_rep_t *reps = calloc((size_t)nreps, sizeof(*reps));
    emit_ctx_t ctx = {gwh_producer(&h, NULL, NULL)};
    assert_true(tev_produce_sim(ctx.rk, &sim, reps, 0) > 10000);
    rd_kafka_flush(ctx.rk, 60000);
    assert_int_equal(rd_kafka_outq_len(ctx.rk), 0);

    /* 1. Brokers down while the alerts are due. */
    gwh_daemon_start(&h);
    assert_true(gwh_wait_consumed(&h, ctx.rk, "sales.events", 12, 120000));
    /* Once the first evaluation has made the gaps pending (they fire 3 s of
     * event time later, and event time follows the clock once everything
     * is read), the brokers go down: the alerts are decided while they
     * cannot be delivered. */
    const gw_sim_rep_t *low = &reps[GW_ARCH_LOW_ACTIVITY - 1];
    char key[256];
    snprintf(key, sizeof(key), "gw:{acme:%s}:alerts:7d", low->rep);
    redisContext *rc = gwh_redis(&h);
    redisReply *r = NULL;
    int64_t pending_by = gwh_now_ms() + 30000;
    bool pending = false;
    while (!pending && gwh_now_ms() < pending_by) {
        r = redisCommand(rc, "HGET %s efficiency_gap.phase", key);
        pending = r && r->type == REDIS_REPLY_STRING && !strcmp(r->str, "pending");
        freeReplyObject(r);
        if (!pending)
            gwh_sleep_ms(20);
    }
    assert_true(pending);
    gwh_kafka_ctl(&h, "down all");
    gwh_sleep_ms(5000);
    assert_true(gwh_daemon_alive(&h));
    r = redisCommand(rc, "HMGET %s efficiency_gap.msgno efficiency_gap.delivered", key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->element[0]->type, REDIS_REPLY_STRING);
    assert_string_equal(r->element[0]->str, "1");           /* decided */
    assert_int_equal(r->element[1]->type, REDIS_REPLY_NIL); /* not delivered */
    freeReplyObject(r);
    gwh_kafka_ctl(&h, "up all");
    rd_kafka_t *c = tev_alert_reader(&h, "alert-test-reader");
    int expected = 0;
    for (int i = 0; i < nreps; i++)
        for (const char *const *k = expected_kinds(reps[i].archetype); *k; k++)
            expected++;
    int64_t deadline = gwh_now_ms() + 60000;
    while (ngot < expected && gwh_now_ms() < deadline)
        collect(c, 500);
    collect(c, 5000); /* two more sweeps: anything extra would show */
    if (ngot != expected)
        gwh_dump_daemon_log(&h, 30);
    for (int i = 0; i < nreps; i++) {
        const gw_sim_rep_t *sr = &reps[i];
        int want = 0;
        for (const char *const *k = expected_kinds(sr->archetype); *k; k++, want++)
            if (count(sr->rep, *k, "FIRING") != 1)
                fail_msg("%s (%s): %d FIRING %s, expected exactly 1", sr->rep,
                         gw_archetype_str(sr->archetype), count(sr->rep, *k, "FIRING"), *k);
        if (count(sr->rep, NULL, NULL) != want)
            fail_msg("%s (%s): %d alerts, expected %d", sr->rep, gw_archetype_str(sr->archetype),
                     count(sr->rep, NULL, NULL), want);
    }
    assert_int_equal(ngot, expected);

    /* 2. Alertmanager has them, labelled. */
    char *body = gwh_http_get(h.am_port, "/api/v2/alerts");
    assert_non_null(body);
    json_error_t jerr;
    json_t *am = json_loads(body, 0, &jerr);
    free(body);
    assert_non_null(am);
    assert_int_equal(json_array_size(am), (size_t)expected);
    for (int i = 0; i < nreps; i++) {
        const gw_sim_rep_t *sr = &reps[i];
        if (sr->archetype == GW_ARCH_LOW_ACTIVITY || sr->archetype == GW_ARCH_SILENT)
            assert_true(am_has(am, "GapwatchEfficiencyGap", sr->rep, sr->team, ""));
        if (sr->archetype == GW_ARCH_WEAK_STAGE)
            assert_true(am_has(am, "GapwatchEffectivenessGap", sr->rep, sr->team, "book"));
        if (sr->archetype == GW_ARCH_HIGH_VOLUME) {
            assert_true(am_has(am, "GapwatchEffectivenessGap", sr->rep, sr->team, "connect"));
            assert_true(am_has(am, "GapwatchSuspectedGaming", sr->rep, sr->team, "connect"));
            /* low_activity_quality: info by default; gaming: critical, as
             * configured */
            assert_am_conventions(am, "GapwatchLowActivityQuality", sr->rep, sr->team, "info",
                                  "low_activity_quality");
            assert_am_conventions(am, "GapwatchSuspectedGaming", sr->rep, sr->team, "critical",
                                  "suspected_gaming");
        }
        if (sr->archetype == GW_ARCH_LOW_ACTIVITY)
            assert_am_conventions(am, "GapwatchEfficiencyGap", sr->rep, sr->team, "warning",
                                  "efficiency_gap");
    }
    json_decref(am);

    /* ... and recorded as delivered once the broker took it. */
    r = redisCommand(rc, "HGET %s efficiency_gap.delivered", key);
    assert_string_equal(r->str, "1");
    freeReplyObject(r);

    /* 3. The low-activity rep of the first team books 12 meetings: one RESOLVED. */
    assert_int_equal(low->archetype, GW_ARCH_LOW_ACTIVITY);
    for (int i = 0; i < 12; i++) {
        gw_sim_event_t e;
        memset(&e, 0, sizeof(e));
        snprintf(e.event_id, sizeof(e.event_id), "recovery-%d", i);
        snprintf(e.tenant, sizeof(e.tenant), "%s", low->tenant);
        snprintf(e.rep, sizeof(e.rep), "%s", low->rep);
        snprintf(e.team, sizeof(e.team), "%s", low->team);
        e.occurred_at_ms = sim.end_ms - 8 * 3600000LL + i * 60000;
        e.kind = 9; /* MEETING_BOOKED */
        tev_produce_sim_event(ctx.rk, &e);
    }
    rd_kafka_flush(ctx.rk, 30000);
    int before = ngot;
    deadline = gwh_now_ms() + 30000;
    while (count(low->rep, "EFFICIENCY_GAP", "RESOLVED") == 0 && gwh_now_ms() < deadline)
        collect(c, 500);
    collect(c, 5000);
    assert_int_equal(count(low->rep, "EFFICIENCY_GAP", "RESOLVED"), 1);
    assert_int_equal(ngot, before + 1);

    /* 4. SIGKILL and restart: nothing is sent again. */
    assert_int_equal(gwh_daemon_stop(&h, SIGKILL), 128 + SIGKILL);
    gwh_daemon_start(&h);
    before = ngot;
    collect(c, 15000); /* the group rejoins (session timeout), then sweeps */
    assert_true(gwh_daemon_log_count(&h, "partition assigned") > 12);
    assert_int_equal(ngot, before);

    /* 5. The stream mirrors every delivered alert. */
    r = redisCommand(rc, "XLEN gw:alerts:{acme}");
    assert_non_null(r);
    assert_int_equal(r->integer, ngot);
    freeReplyObject(r);
    redisFree(rc);

    /* 6. gapwatch alerts prints them, from the topic and from the stream. */
    char cmd[512], line[4096];
    snprintf(cmd, sizeof(cmd), "%s alerts -b %s --from-beginning -n %d --idle 20", GW_GAPWATCH,
             h.bootstrap, ngot);
    FILE *p = popen(cmd, "r");
    int lines = 0, resolved = 0;
    while (fgets(line, sizeof(line), p)) {
        lines++;
        resolved +=
            strstr(line, " RESOLVED ") && strstr(line, low->rep) && strstr(line, "has cleared");
    }
    assert_int_equal(pclose(p), 0);
    assert_int_equal(lines, ngot);
    assert_int_equal(resolved, 1);
    snprintf(cmd, sizeof(cmd),
             "%s alerts -r 127.0.0.1:%d --tenant acme --from-beginning --json "
             "--idle 1",
             GW_GAPWATCH, h.redis_port);
    p = popen(cmd, "r");
    lines = 0;
    while (fgets(line, sizeof(line), p)) {
        json_error_t je;
        json_t *a = json_loads(line, 0, &je);
        assert_non_null(a);
        assert_non_null(json_string_value(json_object_get(a, "summary")));
        assert_int_equal(strlen(json_string_value(json_object_get(a, "alert_id"))), 16);
        json_decref(a);
        lines++;
    }
    assert_int_equal(pclose(p), 0);
    assert_int_equal(lines, ngot);

    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_destroy(ctx.rk);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    free(reps);
    gwh_cleanup(&h);
}

/* Alertmanager's active alerts named `alertname` for `rep`; the weakest
 * stage annotation of the last one in *stage. */
static int am_active(gwh_t *h, const char *alertname, const char *rep, char *stage, size_t size)
{
    char *body = gwh_http_get(h->am_port, "/api/v2/alerts?active=true&silenced=false");
    assert_non_null(body);
    json_error_t jerr;
    json_t *am = json_loads(body, 0, &jerr);
    free(body);
    assert_non_null(am);
    int n = 0;
    size_t i;
    json_t *a;
    json_array_foreach(am, i, a)
    {
        json_t *l = json_object_get(a, "labels");
        if (strcmp(label(l, "alertname"), alertname) || strcmp(label(l, "rep"), rep))
            continue;
        assert_null(json_object_get(l, "stage"));
        snprintf(stage, size, "%s", label(json_object_get(a, "annotations"), "stage"));
        n++;
    }
    json_decref(am);
    return n;
}

static void produce_many(rd_kafka_t *rk, const gw_sim_rep_t *r, const char *prefix, int n, int kind,
                         int64_t from_ms)
{
    for (int i = 0; i < n; i++) {
        gw_sim_event_t e;
        memset(&e, 0, sizeof(e));
        snprintf(e.event_id, sizeof(e.event_id), "%s-%d", prefix, i);
        snprintf(e.tenant, sizeof(e.tenant), "%s", r->tenant);
        snprintf(e.rep, sizeof(e.rep), "%s", r->rep);
        snprintf(e.team, sizeof(e.team), "%s", r->team);
        e.occurred_at_ms = from_ms + i;
        e.kind = kind;
        tev_produce_sim_event(rk, &e);
    }
    rd_kafka_flush(rk, 30000);
}

static void test_a_stage_change_keeps_one_alert_in_alertmanager(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "alerts-stage");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 3, topics);
    gwh_alertmanager_start(&h);
    char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "%s"
             "consumer: {idle_after: 1h}\n"
             "evaluation: {sweep_interval: 1s, min_interval: 1s}\n"
             "alerting:\n"
             "  windows: [7d]\n"
             "  fire_after: 0s\n"
             "  resolve_after: 0s\n"
             "  alertmanager: {url: \"http://127.0.0.1:%d\"}\n",
             GW_SIM_CONFIG_YAML, h.am_port);
    gwh_write_config(&h, yaml);
    gw_sim_config_t sim = {.tenant = "acme",
                           .teams = 1,
                           .reps_per_team = 10,
                           .days = 30,
                           .seed = 5,
                           .end_ms = gwh_now_ms() - 1800000,
                           .plant = true};
    gw_sim_rep_t reps[10];
    emit_ctx_t ctx = {gwh_producer(&h, NULL, NULL)};
    assert_true(tev_produce_sim(ctx.rk, &sim, reps, 0) > 5000);
    rd_kafka_flush(ctx.rk, 60000);
    const gw_sim_rep_t *weak = &reps[GW_ARCH_WEAK_STAGE - 1];
    assert_int_equal(weak->archetype, GW_ARCH_WEAK_STAGE);
    gwh_daemon_start(&h);

    /* Firing, weak at booking. */
    char stage[64] = "";
    int64_t deadline = gwh_now_ms() + 90000;
    while (gwh_now_ms() < deadline &&
           (am_active(&h, "GapwatchEffectivenessGap", weak->rep, stage, sizeof(stage)) != 1 ||
            strcmp(stage, "book") != 0))
        gwh_sleep_ms(500);
    assert_string_equal(stage, "book");

    /* 20,000 dials that reach nobody: the weakest stage becomes connect,
     * the alert stays one alert (its stage annotation changes). */
    produce_many(ctx.rk, weak, "dial", 20000, 1, sim.end_ms - 6 * 3600000LL);
    deadline = gwh_now_ms() + 60000;
    int most = 0;
    while (gwh_now_ms() < deadline) {
        int n = am_active(&h, "GapwatchEffectivenessGap", weak->rep, stage, sizeof(stage));
        most = n > most ? n : most;
        if (n == 1 && !strcmp(stage, "connect"))
            break;
        gwh_sleep_ms(500);
    }
    assert_string_equal(stage, "connect");
    assert_int_equal(most, 1);

    /* Twelve meetings: the objective is met, gapwatch resolves, and
     * Alertmanager holds no active alert of it. */
    produce_many(ctx.rk, weak, "booked", 12, 9, sim.end_ms - 5 * 3600000LL);
    deadline = gwh_now_ms() + 60000;
    int n = 1;
    while (gwh_now_ms() < deadline &&
           (n = am_active(&h, "GapwatchEffectivenessGap", weak->rep, stage, sizeof(stage))) > 0) {
        most = n > most ? n : most;
        gwh_sleep_ms(500);
    }
    assert_int_equal(n, 0);
    assert_int_equal(most, 1);
    rd_kafka_destroy(ctx.rk);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alert_lifecycle_through_kafka_redis_and_alertmanager),
        cmocka_unit_test(test_a_stage_change_keeps_one_alert_in_alertmanager),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
