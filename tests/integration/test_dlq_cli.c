/*
 * gapwatch dlq end to end: malformed events produced with `gapwatch
 * produce --no-validate` are dead-lettered by gapwatchd (with the failure
 * time and consumer group); `gapwatch dlq` lists them with the right
 * reasons and source coordinates, filters by reason and time, refuses to
 * replay a record that is still invalid, and replays fixed versions, which
 * gapwatchd then counts in Redis.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "gw_harness.h"

static const char *const topics[] = {"sales.events:2", "sales.events.dlq:1", "sales.alerts:1",
                                     NULL};

static char out[65536];

/* Runs `gapwatch ARGS` (stdout captured); returns its exit status. */
static int gapwatch(gwh_t *h, const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "%s %s -b %s", GW_GAPWATCH, args, h->bootstrap);
    fprintf(stderr, "$ %s\n", cmd);
    return gwh_run_capture(cmd, out, sizeof(out));
}

static int count_lines(const char *s, const char *needle)
{
    int n = 0;
    for (const char *line = s; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[8192];
        snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
        if (!needle || strstr(buf, needle))
            n++;
        line += len + (end ? 1 : 0);
    }
    return n;
}

static long long hget(redisContext *c, const char *key, const char *field)
{
    redisReply *r = redisCommand(c, "HGET %s %s", key, field);
    assert_non_null(r);
    long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    freeReplyObject(r);
    return v;
}

static void test_dlq_lists_filters_and_replays_fixed_events_that_get_counted(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "dlq-cli");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 1, topics);
    gwh_write_config(&h, NULL);
    int64_t t0 = gwh_now_ms();
    long long at = (long long)(t0 - 3600000);

    char path[400];
    snprintf(path, sizeof(path), "%s/events.jsonl", h.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"eventId\":\"ok-1\",\"tenantId\":\"acme\",\"repId\":\"r1\",\"teamId\":\"t1\","
            "\"occurredAtMs\":\"%lld\",\"kind\":\"DIAL\"}\n"
            "{\"event_id\":\"cur-1\",\"tenant_id\":\"acme\",\"rep_id\":\"r1\",\"team_id\":\"t1\","
            "\"occurred_at_ms\":%lld,\"kind\":\"DEAL_WON\",\"amount_minor\":5000,"
            "\"currency\":\"eur\"}\n"
            "{\"event_id\":\"cur-2\",\"tenant_id\":\"acme\",\"rep_id\":\"r1\",\"team_id\":\"t1\","
            "\"occurred_at_ms\":%lld,\"kind\":11,\"amount_minor\":\"7000\",\"currency\":\"eur\"}\n"
            "{\"event_id\":\"rep-1\",\"tenant_id\":\"acme\",\"rep_id\":\"r:1\",\"team_id\":\"t1\","
            "\"occurred_at_ms\":%lld,\"kind\":\"DIAL\"}\n"
            "{\"event_id\":\"kind-1\",\"tenant_id\":\"acme\",\"rep_id\":\"r1\",\"team_id\":\"t1\","
            "\"occurred_at_ms\":%lld,\"kind\":99}\n",
            at, at, at + 1, at + 2, at + 3);
    fclose(f);

    /* produce checks lines with the daemon's rules: four would be
     * dead-lettered, named with their line and reason. */
    char args[1024];
    snprintf(args, sizeof(args), "produce --dry-run %s 2>&1", path);
    assert_int_equal(gapwatch(&h, args), 1);
    assert_non_null(strstr(out, "events.jsonl:2: invalid_currency: currency \"eur\""));
    assert_non_null(strstr(out, "events.jsonl:4: invalid_rep_id: rep_id \"r:1\""));
    assert_non_null(strstr(out, "events.jsonl:5: invalid_kind: kind 99"));
    snprintf(args, sizeof(args), "produce --no-validate -H trace-id=t-42 %s", path);
    assert_int_equal(gapwatch(&h, args), 0);

    gwh_daemon_start(&h);
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    assert_true(gwh_wait_consumed(&h, rk, "sales.events", 2, 60000));
    redisContext *rc = gwh_redis(&h);
    assert_int_equal(hget(rc, "gw:{acme:r1}:w:7d", "DIAL"), 1);
    assert_int_equal(hget(rc, "gw:{acme:r1}:w:7d", "DEAL_WON"), 0);

    /* 1. The listing: four records, reasons, sources, failure time, group. */
    int64_t deadline = gwh_now_ms() + 30000;
    do {
        assert_int_equal(gapwatch(&h, "dlq --json"), 0);
    } while (count_lines(out, NULL) < 4 && gwh_now_ms() < deadline && (gwh_sleep_ms(300), 1));
    int64_t t1 = gwh_now_ms();
    assert_int_equal(count_lines(out, NULL), 4);
    assert_int_equal(count_lines(out, "\"reason\":\"invalid_currency\""), 2);
    assert_int_equal(count_lines(out, "\"reason\":\"invalid_rep_id\""), 1);
    assert_int_equal(count_lines(out, "\"reason\":\"invalid_kind\""), 1);
    int lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        assert_non_null(o);
        json_t *src = json_object_get(o, "source");
        assert_string_equal(json_string_value(json_object_get(src, "topic")), "sales.events");
        json_int_t part = json_integer_value(json_object_get(src, "partition"));
        assert_true(part == 0 || part == 1);
        assert_true(json_integer_value(json_object_get(src, "offset")) >= 0);
        json_int_t failed = json_integer_value(json_object_get(o, "failed_at_ms"));
        if (failed < t0 || failed > t1)
            fail_msg("failed_at_ms %lld outside [%lld, %lld]", (long long)failed, (long long)t0,
                     (long long)t1);
        assert_string_equal(json_string_value(json_object_get(o, "group")), "gapwatch");
        assert_true(json_string_value(json_object_get(o, "detail"))[0]);
        assert_true(json_is_object(json_object_get(o, "event")));
        json_decref(o);
    }
    assert_int_equal(lines, 4);
    assert_int_equal(gapwatch(&h, "dlq"), 0); /* the table */
    assert_int_equal(count_lines(out, "sales.events/"), 4);
    assert_non_null(strstr(out, "invalid_rep_id"));
    assert_non_null(strstr(out, "rep_id \"r:1\" has byte 0x3a at offset 1"));

    /* 2. Filters: reason, time. */
    assert_int_equal(gapwatch(&h, "dlq --reason invalid_currency,invalid_kind"), 0);
    assert_int_equal(count_lines(out, NULL), 3);
    snprintf(args, sizeof(args), "dlq --until %lld", (long long)t0);
    assert_int_equal(gapwatch(&h, args), 0);
    assert_int_equal(count_lines(out, NULL), 0);
    snprintf(args, sizeof(args), "dlq --since %lld --reason invalid_rep_id", (long long)t0);
    assert_int_equal(gapwatch(&h, args), 0);
    assert_int_equal(count_lines(out, NULL), 1);
    assert_int_equal(gapwatch(&h, "dlq --since 1h --reason invalid_rep_id"), 0);
    assert_int_equal(count_lines(out, NULL), 1);
    assert_int_equal(gapwatch(&h, "dlq --reason no_such_reason 2>&1"), 2);
    assert_non_null(strstr(out, "\"no_such_reason\" is not a dead-letter reason"));
    assert_int_equal(gapwatch(&h, "dlq --since yesterday 2>&1"), 2);
    assert_non_null(strstr(out, "--since \"yesterday\""));

    /* 3. As they are, the invalid kind is still invalid: nothing sent. */
    assert_int_equal(gapwatch(&h, "dlq --replay --reason invalid_kind 2>&1"), 1);
    assert_non_null(strstr(out, "still invalid, not replayed: invalid_kind"));
    assert_int_equal(gapwatch(&h, "dlq --replay 2>&1"), 2); /* no filter, no --all */

    /* 4. Fixed: the currencies in upper case, replayed from --json's lines. */
    assert_int_equal(gapwatch(&h, "dlq --json --reason invalid_currency"), 0);
    char fix_path[400];
    snprintf(fix_path, sizeof(fix_path), "%s/fix.jsonl", h.dir);
    f = fopen(fix_path, "w");
    assert_non_null(f);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        assert_non_null(o);
        json_object_set_new(json_object_get(o, "event"), "currency", json_string("EUR"));
        char *s = json_dumps(o, JSON_COMPACT);
        fprintf(f, "%s\n", s);
        free(s);
        json_decref(o);
    }
    fclose(f);
    snprintf(args, sizeof(args), "dlq --replay --fix %s 2>&1", fix_path);
    assert_int_equal(gapwatch(&h, args), 0);
    assert_non_null(strstr(out, "2 records replayed, 0 not"));

    /* ... and counted: two deals won, the rest as before. */
    assert_true(gwh_wait_consumed(&h, rk, "sales.events", 2, 60000));
    deadline = gwh_now_ms() + 10000;
    while (hget(rc, "gw:{acme:r1}:w:7d", "DEAL_WON") < 2 && gwh_now_ms() < deadline)
        gwh_sleep_ms(100);
    assert_int_equal(hget(rc, "gw:{acme:r1}:w:7d", "DEAL_WON"), 2);
    assert_int_equal(hget(rc, "gw:{acme:r1}:w:7d", "DIAL"), 1);
    /* Nothing new was dead-lettered. */
    assert_int_equal(gapwatch(&h, "dlq"), 0);
    assert_int_equal(count_lines(out, NULL), 4);

    redisFree(rc);
    rd_kafka_destroy(rk);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dlq_lists_filters_and_replays_fixed_events_that_get_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
