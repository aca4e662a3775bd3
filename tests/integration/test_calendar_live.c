/*
 * The sales calendar through Kafka, gapwatchd and Redis. Two teams of one
 * tenant work Monday to Friday (UTC), three meetings booked a working day
 * against an objective of 8 a week:
 *   east r01-r05  healthy; r05's time off was entered and cancelled
 *                 (TIME_OFF_CANCELLED): judged as usual;
 *   east r06      moved to team west three days ago (TEAM_CHANGED): out of
 *                 east's baseline, evaluated with west;
 *   east r07      a week of time off (TIME_OFF sent before): not judged in
 *                 7d, no alert, its 30d objective prorated;
 *   east r08      the same silent week without a record: an efficiency gap
 *                 (silent) that fires; the TIME_OFF sent late re-judges
 *                 the window: not_available, and the alert resolves;
 *   east r09      left a week ago (REP_LEFT): not alerted, out of the
 *                 team's baseline (with r06 gone too, the others' team
 *                 size says 8, not 10);
 *   east r10      joined 10 days ago (REP_JOINED): ramps from the join
 *                 date (week 1: half the objective), on target;
 *   west w01-w04  their calendar makes the last week a holiday: nobody
 *                 worked, nobody is alerted, 30d objectives prorated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gapwatch/v1/event.pb-c.h"
#include "gw_calendar.h"
#include "gw_harness.h"
#include "tevents.h"

#define H 3600000LL
#define D 86400000LL

static const char *const topics[] = {"sales.events:12", "sales.events.dlq:1", "sales.alerts:3",
                                     NULL};
static char *hget(redisContext *c, const char *rep, const char *window, const char *field,
                  char *buf, size_t size)
{
    redisReply *r = redisCommand(c, "HGET gw:{acme:%s}:diag:%s %s", rep, window, field);
    buf[0] = '\0';
    if (r && r->type == REDIS_REPLY_STRING)
        snprintf(buf, size, "%s", r->str);
    freeReplyObject(r);
    return buf;
}

static char *alert_phase(redisContext *c, const char *rep, char *buf, size_t size)
{
    redisReply *r = redisCommand(c, "HGET gw:{acme:%s}:alerts:7d efficiency_gap.phase", rep);
    snprintf(buf, size, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "inactive");
    freeReplyObject(r);
    return buf;
}

/* Waits until every rep's 7d snapshot was evaluated after `since`. */
static void wait_fresh(gwh_t *h, redisContext *c, const char *const *reps, int64_t since)
{
    char buf[64];
    int64_t deadline = gwh_now_ms() + 90000;
    for (;;) {
        int stale = 0;
        for (int i = 0; reps[i]; i++)
            stale += atoll(hget(c, reps[i], "7d", "evaluated_at_ms", buf, sizeof(buf))) <= since;
        if (stale == 0)
            return;
        if (gwh_now_ms() > deadline) {
            gwh_dump_daemon_log(h, 40);
            fail_msg("%d reps were not evaluated in time", stale);
        }
        gwh_sleep_ms(250);
    }
}

static void test_calendar_through_the_pipeline(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "calendar");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 3, topics);

    /* The end of the stream: on the hour, half an hour ago. */
    int64_t end = (gwh_now_ms() - 1800000) / H * H;
    gw_calendar_t utc;
    gw_calendar_init_utc(&utc);
    int64_t last_day = gw_calendar_day(&utc, end), week_ago = gw_calendar_day(&utc, end - 7 * D);
    char from[16], to[16];
    gw_date_format(week_ago, from, sizeof(from));
    gw_date_format(last_day, to, sizeof(to));
    char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "windows:\n"
             "  - {name: 7d, length: 7d, bucket: 1h, grace: 1h}\n"
             "  - {name: 30d, length: 30d, bucket: 6h, grace: 1h}\n"
             "calendars:\n"
             "  - {name: us, timezone: UTC, working_days: [mon, tue, wed, thu, fri], teams: "
             "[east]}\n"
             "  - name: west\n"
             "    timezone: UTC\n"
             "    working_days: [mon, tue, wed, thu, fri]\n"
             "    holidays: [\"%s..%s\"]\n"
             "    teams: [west]\n"
             "playbooks:\n"
             "  - name: sdr\n"
             "    teams: [\"*\"]\n"
             "    funnel:\n"
             "      - {name: reach, kinds: [DIAL]}\n"
             "      - {name: connect, kinds: [CONVERSATION]}\n"
             "      - {name: book, kinds: [MEETING_BOOKED]}\n"
             "    objective: {kind: MEETING_BOOKED, per_window: {7d: 8, 30d: 32}}\n"
             "    ramp: [0.25, 0.5, 0.75]\n"
             "    confidence: 0.95\n"
             "    min_rep_trials: 20\n"
             "    min_team_trials: 50\n"
             "alerting: {fire_after: 0s, resolve_after: 0s, windows: [7d]}\n"
             "evaluation: {sweep_interval: 2s, min_interval: 1s}\n",
             from, to);
    gwh_write_config(&h, yaml);

    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    const char *east[] = {"r01", "r02", "r03", "r04", "r05", "r06", "r07", "r08", "r09", "r10"};
    const char *west[] = {"w01", "w02", "w03", "w04"};
    static const int day3[] = {15, 5, 3}; /* dials, conversations, meetings a day */
    for (int64_t day = gw_calendar_day(&utc, end - 40 * D); day <= last_day; day++) {
        if (gw_weekday(day) >= 5)
            continue;
        int64_t ds = day * D;
        for (int i = 0; i < 10; i++) {
            /* r07-r09 silent for the whole 7d window, which holds the
             * buckets from end - 7d - grace (1h), one more bucket (1h) at
             * most (docs/counting.md): a workday ending 17:00 at 16:00 or
             * later 7 days before `end` had dials in it (the test failed
             * when run from 17:30 to 18:29 UTC). */
            bool quiet = i >= 6 && i <= 8 && ds + 17 * H > end - 7 * D - 2 * H;
            bool before_join = i == 9 && ds + 9 * H < end - 10 * D;
            if (!quiet && !before_join)
                tev_workday(rk, east[i], "east", ds, day3, end);
        }
        for (int i = 0; i < 4; i++)
            if (day < week_ago)
                tev_workday(rk, west[i], "west", ds, day3, end);
    }
    tev_send(rk, "r01", "east", end - 1, GAPWATCH__V1__KIND__DIAL, 0, NULL); /* the clock */
    tev_send(rk, "r07", "east", end - 7 * D, GAPWATCH__V1__KIND__TIME_OFF, end + H, "pto-7");
    tev_send(rk, "r07", "east", end - 7 * D, GAPWATCH__V1__KIND__TIME_OFF, end + H, "pto-7");
    tev_send(rk, "r09", "east", end - 7 * D, GAPWATCH__V1__KIND__REP_LEFT, 0, NULL);
    tev_send(rk, "r10", "east", end - 10 * D, GAPWATCH__V1__KIND__REP_JOINED, 0, NULL);
    tev_send(rk, "r05", "east", end - 7 * D, GAPWATCH__V1__KIND__TIME_OFF, end + H, "pto-5");
    tev_send(rk, "r05", "east", end - 6 * D, GAPWATCH__V1__KIND__TIME_OFF_CANCELLED, 0, "pto-5");
    tev_send(rk, "r06", "west", end - 3 * D, GAPWATCH__V1__KIND__TEAM_CHANGED, 0, NULL);
    rd_kafka_flush(rk, 60000);
    assert_int_equal(rd_kafka_outq_len(rk), 0);
    int64_t produced = gwh_now_ms();

    gwh_daemon_start(&h);
    assert_true(gwh_wait_consumed(&h, rk, "sales.events", 12, 120000));
    redisContext *c = gwh_redis(&h);
    const char *all[] = {"r01", "r02", "r03", "r04", "r05", "r06", "r07", "r08",
                         "r09", "r10", "w01", "w02", "w03", "w04", NULL};
    wait_fresh(&h, c, all, produced);
    gwh_sleep_ms(2500); /* the sweep after full consumption */

    char diag[64], sig[128], obj[32], size[16], ph[32], buf8[64];
    fprintf(stderr, "%-4s %-16s %-28s %-9s %-9s %s\n", "rep", "7d", "signals", "objective",
            "30d obj", "team size");
    for (int i = 0; all[i]; i++) {
        char d30[64], o30[32];
        hget(c, all[i], "7d", "diagnosis", diag, sizeof(diag));
        hget(c, all[i], "7d", "signals", sig, sizeof(sig));
        hget(c, all[i], "7d", "objective", obj, sizeof(obj));
        hget(c, all[i], "7d", "team_size", size, sizeof(size));
        hget(c, all[i], "30d", "diagnosis", d30, sizeof(d30));
        hget(c, all[i], "30d", "objective", o30, sizeof(o30));
        fprintf(stderr, "%-4s %-16s %-28s %-9s %-9s %s %s\n", all[i], diag, sig[0] ? sig : "-", obj,
                o30, size, d30);
    }
    for (int i = 0; i < 5; i++) {
        assert_string_equal(hget(c, east[i], "7d", "diagnosis", diag, sizeof(diag)), "healthy");
        /* r09 left and r06 moved: out of the baseline */
        assert_string_equal(hget(c, east[i], "7d", "team_size", size, sizeof(size)), "8");
    }
    /* the cancelled time off left no trace */
    assert_null(strstr(hget(c, "r05", "7d", "signals", sig, sizeof(sig)), "time_off"));
    /* r06 is evaluated with west now (whose calendar had last week off) */
    assert_string_equal(hget(c, "r06", "7d", "team", buf8, sizeof(buf8)), "west");
    assert_string_equal(hget(c, "r06", "7d", "team_size", size, sizeof(size)), "5");
    /* time off: not judged, objective prorated away; 30d prorated too */
    assert_string_equal(hget(c, "r07", "7d", "diagnosis", diag, sizeof(diag)), "not_available");
    assert_non_null(strstr(hget(c, "r07", "7d", "signals", sig, sizeof(sig)), "time_off"));
    assert_string_equal(hget(c, "r07", "30d", "diagnosis", diag, sizeof(diag)), "healthy");
    double o30 = atof(hget(c, "r07", "30d", "objective", obj, sizeof(obj)));
    assert_true(o30 > 32 * 0.70 && o30 < 32 * 0.82); /* ~ (21.4 - 5) / 21.4 of 32 */
    /* the control: the same silence without a record is a gap, and fires */
    assert_string_equal(hget(c, "r08", "7d", "diagnosis", diag, sizeof(diag)), "efficiency_gap");
    assert_non_null(strstr(hget(c, "r08", "7d", "signals", sig, sizeof(sig)), "silent"));
    assert_string_equal(alert_phase(c, "r08", ph, sizeof(ph)), "firing");
    /* the leaver and the holiday team: not judged, not alerted */
    assert_string_equal(hget(c, "r09", "7d", "diagnosis", diag, sizeof(diag)), "not_available");
    for (int i = 0; i < 4; i++) {
        assert_string_equal(hget(c, west[i], "7d", "diagnosis", diag, sizeof(diag)),
                            "not_available");
        assert_string_equal(hget(c, west[i], "30d", "diagnosis", diag, sizeof(diag)), "healthy");
        double w30 = atof(hget(c, west[i], "30d", "objective", obj, sizeof(obj)));
        assert_true(w30 > 32 * 0.70 && w30 < 32 * 0.82);
        assert_string_equal(alert_phase(c, west[i], ph, sizeof(ph)), "inactive");
    }
    /* the joiner ramps from its join date: week 1 of the ramp, half */
    assert_string_equal(hget(c, "r10", "7d", "ramp_factor", obj, sizeof(obj)), "0.5");
    assert_string_equal(hget(c, "r10", "7d", "diagnosis", diag, sizeof(diag)), "healthy");
    for (int i = 0; i < 10; i++)
        if (i != 7)
            assert_string_equal(alert_phase(c, east[i], ph, sizeof(ph)), "inactive");

    /* r08's time off, entered late: the window is judged again and the
     * alert resolves. */
    int64_t late = gwh_now_ms();
    /* as an HR system would send it: a JSON line through gapwatch produce */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "echo '{\"eventId\":\"hr-late-1\",\"tenantId\":\"acme\",\"repId\":\"r08\","
             "\"teamId\":\"east\",\"kind\":\"TIME_OFF\",\"occurredAtMs\":\"%lld\","
             "\"endsAtMs\":\"%lld\",\"recordId\":\"pto-r08\"}' | %s produce -b %s -",
             (long long)(end - 7 * D), (long long)(end + H), GW_GAPWATCH, h.bootstrap);
    assert_int_equal(gwh_run(cmd), 0);
    const char *r08[] = {"r08", NULL};
    wait_fresh(&h, c, r08, late);
    int64_t deadline = gwh_now_ms() + 30000;
    while (strcmp(hget(c, "r08", "7d", "diagnosis", diag, sizeof(diag)), "not_available") != 0 &&
           gwh_now_ms() < deadline)
        gwh_sleep_ms(250);
    assert_string_equal(diag, "not_available");
    while (strcmp(alert_phase(c, "r08", ph, sizeof(ph)), "inactive") != 0 &&
           gwh_now_ms() < deadline)
        gwh_sleep_ms(250);
    assert_string_equal(ph, "inactive");
    /* the stream holds one FIRING and one RESOLVED for r08, nothing else
     * (the stream is written once Kafka acknowledged the alert) */
    int firing = 0, resolved = 0, other = 0;
    while (resolved == 0 && gwh_now_ms() < deadline + 30000) {
        redisReply *r = redisCommand(c, "XRANGE gw:alerts:{acme} - +");
        assert_non_null(r);
        firing = resolved = other = 0;
        for (size_t i = 0; i < r->elements; i++) {
            const char *json = r->element[i]->element[1]->element[1]->str;
            bool mine = strstr(json, "\"rep_id\":\"r08\"") != NULL;
            firing += mine && strstr(json, "\"state\":\"FIRING\"");
            resolved += mine && strstr(json, "\"state\":\"RESOLVED\"");
            other += !mine;
        }
        freeReplyObject(r);
        if (resolved == 0)
            gwh_sleep_ms(250);
    }
    assert_int_equal(firing, 1);
    assert_int_equal(resolved, 1);
    assert_int_equal(other, 0);
    redisFree(c);
    rd_kafka_destroy(rk);
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendar_through_the_pipeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
