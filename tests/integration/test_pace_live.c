/*
 * Pace through Kafka, gapwatchd and Redis. June 2026, a team of eight on a
 * Monday-to-Friday calendar (UTC), objective 66 meetings a month (three a
 * working day). The stream ends with Friday June 12: ten of the month's 22
 * working days are gone. r08 works at half pace (1.5 meetings a day at the
 * team's rates): one BEHIND_PACE alert, whose plan the test recomputes:
 * (66 - 15) meetings / (0.2 meetings per dial) / 12 days left = 21.25
 * dials a day. The others are on pace: no pace alert.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "gapwatch/v1/event.pb-c.h"
#include "gw_calendar.h"
#include "gw_harness.h"
#include "tevents.h"

#define H 3600000LL
#define D 86400000LL

static const char *const topics[] = {"sales.events:12", "sales.events.dlq:1", "sales.alerts:3",
                                     NULL};
static char *hget(redisContext *c, const char *key, const char *field, char *buf, size_t size)
{
    redisReply *r = redisCommand(c, "HGET %s %s", key, field);
    buf[0] = '\0';
    if (r && r->type == REDIS_REPLY_STRING)
        snprintf(buf, size, "%s", r->str);
    freeReplyObject(r);
    return buf;
}

static void test_half_pace_gets_one_behind_pace_alert_with_its_plan(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "pace");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 3, topics);
    gwh_write_config(&h, "windows:\n"
                         "  - {name: 7d, length: 7d, bucket: 1h, grace: 1h}\n"
                         "  - {name: 30d, length: 30d, bucket: 6h, grace: 1h}\n"
                         "calendars:\n"
                         "  - {name: us, timezone: UTC, working_days: [mon, tue, wed, thu, fri], "
                         "teams: [\"*\"]}\n"
                         "playbooks:\n"
                         "  - name: sdr\n"
                         "    teams: [\"*\"]\n"
                         "    funnel:\n"
                         "      - {name: reach, kinds: [DIAL]}\n"
                         "      - {name: connect, kinds: [CONVERSATION]}\n"
                         "      - {name: book, kinds: [MEETING_BOOKED]}\n"
                         "    objective:\n"
                         "      kind: MEETING_BOOKED\n"
                         "      per_window: {7d: 12, 30d: 48}\n"
                         "      per_period: {month: 66}\n"
                         "    confidence: 0.95\n"
                         "alerting: {fire_after: 0s, resolve_after: 0s, kinds: [behind_pace]}\n"
                         "evaluation: {sweep_interval: 2s, min_interval: 1s}\n");
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    const char *reps[] = {"r01", "r02", "r03", "r04", "r05", "r06", "r07", "r08", NULL};
    int64_t june = gw_days_from_civil(2026, 6, 1), end_day = gw_days_from_civil(2026, 6, 12);
    static const int full[] = {15, 5, 3}, half_a[] = {8, 3, 2}, half_b[] = {7, 2, 1};
    for (int64_t day = june - 35; day <= end_day; day++) {
        if (gw_weekday(day) >= 5)
            continue;
        for (int i = 0; reps[i]; i++) {
            bool slow = i == 7 && day >= june; /* half pace from June 1 */
            const int *counts = !slow ? full : (day - june) % 2 == 0 ? half_a : half_b;
            tev_workday(rk, reps[i], "east", day * D, counts, INT64_MAX);
        }
    }
    /* the clock: the last instant of Friday June 12 */
    tev_send(rk, "r01", "east", (end_day + 1) * D - 1, GAPWATCH__V1__KIND__DIAL, 0, NULL);
    rd_kafka_flush(rk, 60000);
    assert_int_equal(rd_kafka_outq_len(rk), 0);
    int64_t produced = gwh_now_ms();
    gwh_daemon_start(&h);
    assert_true(gwh_wait_consumed(&h, rk, "sales.events", 12, 120000));
    redisContext *c = gwh_redis(&h);
    char key[128], buf[64];
    int64_t deadline = gwh_now_ms() + 90000;
    for (;;) {
        int stale = 0;
        for (int i = 0; reps[i]; i++) {
            snprintf(key, sizeof(key), "gw:{acme:%s}:pace:month", reps[i]);
            stale += atoll(hget(c, key, "evaluated_at_ms", buf, sizeof(buf))) <= produced;
        }
        if (stale == 0)
            break;
        if (gwh_now_ms() > deadline) {
            gwh_dump_daemon_log(&h, 40);
            fail_msg("%d reps have no pace snapshot", stale);
        }
        gwh_sleep_ms(250);
    }
    gwh_sleep_ms(2500); /* the sweep after full consumption */

    /* the period totals, counted in their own key */
    assert_string_equal(
        hget(c, "gw:{acme:r08}:p:month:2026-06-01", "MEETING_BOOKED", buf, sizeof(buf)), "15");
    assert_string_equal(
        hget(c, "gw:{acme:r02}:p:month:2026-06-01", "MEETING_BOOKED", buf, sizeof(buf)), "30");
    const char *k8 = "gw:{acme:r08}:pace:month";
    assert_string_equal(hget(c, k8, "period", buf, sizeof(buf)), "month:2026-06");
    assert_string_equal(hget(c, k8, "result", buf, sizeof(buf)), "15");
    assert_string_equal(hget(c, k8, "objective", buf, sizeof(buf)), "66");
    double due = atof(hget(c, k8, "objective_to_date", buf, sizeof(buf)));
    double left = atof(hget(c, k8, "remaining_days", buf, sizeof(buf)));
    assert_true(fabs(due - 30) < 1e-3 && fabs(left - 12) < 1e-3);
    assert_string_equal(hget(c, k8, "behind", buf, sizeof(buf)), "1");
    double plan = atof(hget(c, k8, "plan_per_day", buf, sizeof(buf)));
    double expect = (66.0 - 15) / (5.0 / 15 * 3.0 / 5) / left;
    fprintf(stderr, "r08: 15 of %.2f due, %.3f days left, plan %.4f dials a day (expected %.4f)\n",
            due, left, plan, expect);
    assert_true(fabs(plan - expect) < 1e-3 * expect);
    assert_true(fabs(plan - 21.25) < 0.01);
    /* the export hash Grafana reads through redis_exporter */
    assert_string_equal(hget(c, "gw:export:{acme}", "east|r08|month|behind_pace", buf, sizeof(buf)),
                        "1");
    assert_true(fabs(atof(hget(c, "gw:export:{acme}", "east|r08|month|pace_plan_per_day", buf,
                               sizeof(buf))) -
                     expect) < 0.01);
    assert_string_equal(
        hget(c, "gw:export:{acme}", "east|r02|month|pace_objective", buf, sizeof(buf)), "66");
    for (int i = 0; i < 7; i++) {
        snprintf(key, sizeof(key), "gw:{acme:%s}:pace:month", reps[i]);
        assert_string_equal(hget(c, key, "behind", buf, sizeof(buf)), "0");
    }

    /* exactly one BEHIND_PACE message, for r08, with the plan */
    int found = 0, other = 0;
    json_t *alert = NULL;
    deadline = gwh_now_ms() + 30000;
    while (found == 0 && gwh_now_ms() < deadline) {
        redisReply *r = redisCommand(c, "XRANGE gw:alerts:{acme} - +");
        assert_non_null(r);
        found = other = 0;
        for (size_t i = 0; i < r->elements; i++) {
            json_error_t jerr;
            json_t *a = json_loads(r->element[i]->element[1]->element[1]->str, 0, &jerr);
            assert_non_null(a);
            bool mine = !strcmp(json_string_value(json_object_get(a, "rep_id")), "r08") &&
                        !strcmp(json_string_value(json_object_get(a, "kind")), "BEHIND_PACE");
            found += mine;
            other += !mine;
            if (mine && !alert)
                alert = json_incref(a);
            json_decref(a);
        }
        freeReplyObject(r);
        if (found == 0)
            gwh_sleep_ms(250);
    }
    assert_int_equal(found, 1);
    assert_int_equal(other, 0);
    assert_string_equal(json_string_value(json_object_get(alert, "window")), "month");
    assert_string_equal(json_string_value(json_object_get(alert, "period")), "month:2026-06");
    assert_string_equal(json_string_value(json_object_get(alert, "plan_stage")), "reach");
    assert_string_equal(json_string_value(json_object_get(alert, "diagnosis")), "behind_pace");
    assert_true(fabs(json_number_value(json_object_get(alert, "plan_per_day")) - expect) <
                1e-3 * expect);
    const char *summary = json_string_value(json_object_get(alert, "summary"));
    fprintf(stderr, "summary: %s\n", summary);
    assert_non_null(strstr(summary, "plan: 22 reach a working day for the 12 days left"));
    json_decref(alert);

    /* gapwatch rep prints the period, the pace and the plan */
    char cmd[512], out[8192];
    snprintf(cmd, sizeof(cmd), "%s rep -r 127.0.0.1:%d acme r08", GW_GAPWATCH, h.redis_port);
    assert_int_equal(gwh_run_capture(cmd, out, sizeof(out)), 0);
    fprintf(stderr, "%s", out);
    assert_non_null(strstr(out, "month:2026-06"));
    assert_non_null(strstr(out, "behind pace"));
    assert_non_null(strstr(out, "21.2 reach a day"));
    redisFree(c);
    rd_kafka_destroy(rk);
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_pace_gets_one_behind_pace_alert_with_its_plan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
