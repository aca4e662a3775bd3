/*
 * The gapwatch CLI as a user meets it: every subcommand answers --help,
 * --version names the libraries, dead brokers and a dead Redis give one
 * line and exit 1 in time, and a canonical-JSON file (camelCase names,
 * 64-bit integers as strings, enums by number) goes through `produce`
 * (partition, headers) and gapwatchd to Redis, where `rep` and `alerts -r`
 * read it as a read-only ACL user (+@read -@write -@scripting) that logs
 * in like the daemon (password from an environment variable or a file).
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

static int run(const char *cmd)
{
    fprintf(stderr, "$ %s\n", cmd);
    return gwh_run_capture(cmd, out, sizeof(out));
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_cli_every_command_answers_help_and_version(void **state)
{
    (void)state;
    static const char *const cmds[] = {"produce", "kafka-mock", "rep", "sim",
                                       "alerts",  "scoreboard", "dlq"};
    char cmd[512], want[64];
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        snprintf(cmd, sizeof(cmd), "%s %s --help 2>/dev/null", GW_GAPWATCH, cmds[i]);
        assert_int_equal(run(cmd), 0);
        snprintf(want, sizeof(want), "usage: gapwatch %s", cmds[i]);
        if (!strstr(out, want))
            fail_msg("%s --help printed no \"%s\" on stdout", cmds[i], want);
    }
    char lib[128];
    snprintf(lib, sizeof(lib), "librdkafka  %s\n", rd_kafka_version_str());
    snprintf(cmd, sizeof(cmd), "%s --version", GW_GAPWATCH);
    assert_int_equal(run(cmd), 0);
    assert_true(!strncmp(out, "gapwatch ", 9));
    assert_non_null(strstr(out, lib));
    assert_non_null(strstr(out, "hiredis     "));
    assert_non_null(strstr(out, "protobuf-c  "));
    assert_non_null(strstr(out, "libyaml     "));
    assert_non_null(strstr(out, "libcurl     "));
    snprintf(cmd, sizeof(cmd), "%s --version", GW_GAPWATCHD);
    assert_int_equal(run(cmd), 0);
    assert_true(!strncmp(out, "gapwatchd ", 10));
    assert_non_null(strstr(out, lib));
}

/* Runs `cmd` with stderr captured; checks exit 1, one line containing
 * `needle`, no librdkafka log line, and the time taken. */
static void expect_one_line_failure(const char *cmd, const char *needle, int64_t max_ms)
{
    char full[1024];
    snprintf(full, sizeof(full), "%s 2>&1 >/dev/null", cmd);
    int64_t t = gwh_now_ms();
    int rc = run(full);
    int64_t took = gwh_now_ms() - t;
    fprintf(stderr, "  -> exit %d after %lld ms\n", rc, (long long)took);
    assert_int_equal(rc, 1);
    if (count_lines(out) != 1 || !strstr(out, needle) || strstr(out, "%3|"))
        fail_msg("expected one line with \"%s\", got:\n%s", needle, out);
    if (took > max_ms)
        fail_msg("took %lld ms, expected at most %lld", (long long)took, (long long)max_ms);
}

static void test_cli_unreachable_kafka_and_redis_fail_in_time_with_one_line(void **state)
{
    (void)state;
    int port = gwh_free_port(); /* nobody listens */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s alerts -b 127.0.0.1:%d --timeout 2000", GW_GAPWATCH, port);
    expect_one_line_failure(cmd, "cannot reach Kafka at 127.0.0.1:", 6000);
    snprintf(cmd, sizeof(cmd),
             "echo '{\"event_id\":\"e\",\"rep_id\":\"r\",\"team_id\":\"t\",\"occurred_at_ms\":1,"
             "\"kind\":\"DIAL\"}' | %s produce -b 127.0.0.1:%d --timeout 2000",
             GW_GAPWATCH, port);
    expect_one_line_failure(cmd, "cannot reach Kafka at 127.0.0.1:", 6000);
    snprintf(cmd, sizeof(cmd), "%s dlq -b 127.0.0.1:%d --timeout 2000", GW_GAPWATCH, port);
    expect_one_line_failure(cmd, "cannot reach Kafka at 127.0.0.1:", 6000);
    snprintf(cmd, sizeof(cmd), "%s rep -r 127.0.0.1:%d acme r1", GW_GAPWATCH, port);
    expect_one_line_failure(cmd, "cannot connect", 3000);
    snprintf(cmd, sizeof(cmd), "%s alerts -r 127.0.0.1:%d --tenant acme", GW_GAPWATCH, port);
    expect_one_line_failure(cmd, "cannot connect", 3000);
}

/* A tenant or rep that gapwatchd would never accept is refused before
 * any key is built, naming the argument and the bad byte: exit 2. */
static void test_cli_rep_and_alerts_refuse_an_invalid_id(void **state)
{
    (void)state;
    int port = gwh_free_port(); /* never reached */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s rep -r 127.0.0.1:%d acme 'x}:y' 2>&1 >/dev/null", GW_GAPWATCH,
             port);
    assert_int_equal(run(cmd), 2);
    if (count_lines(out) != 1 || !strstr(out, "rep \"x}:y\" is not a valid ID: byte 2"))
        fail_msg("expected one line naming the rep and byte 2, got:\n%s", out);
    snprintf(cmd, sizeof(cmd), "%s alerts -r 127.0.0.1:%d --tenant 'a b' 2>&1 >/dev/null",
             GW_GAPWATCH, port);
    assert_int_equal(run(cmd), 2);
    if (count_lines(out) != 1 || !strstr(out, "tenant \"a b\" is not a valid ID: byte 2"))
        fail_msg("expected one line naming the tenant and byte 2, got:\n%s", out);
}

static void test_cli_canonical_json_through_daemon_read_by_readonly_acl_user(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "cli");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 1, topics);
    redisContext *rc = gwh_redis(&h);
    redisReply *r = redisCommand(rc, "ACL SETUSER reader on >s3cret ~* +@read -@write -@scripting");
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("ACL SETUSER: %s", r->str);
    freeReplyObject(r);

    /* camelCase and proto names, int64 as strings, enums by number. */
    int64_t at = gwh_now_ms() - 3600000;
    char path[400];
    snprintf(path, sizeof(path), "%s/events.jsonl", h.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 5; i++)
        fprintf(f,
                "{\"eventId\":\"d%d\",\"tenantId\":\"acme\",\"repId\":\"r1\",\"teamId\":\"t1\","
                "\"occurredAtMs\":\"%lld\",\"kind\":1,\"durationS\":\"42\",\"channel\":"
                "\"PHONE\"}\n",
                i, (long long)(at + i));
    fprintf(f,
            "{\"event_id\":\"m1\",\"tenant_id\":\"acme\",\"rep_id\":\"r1\",\"team_id\":\"t1\","
            "\"occurred_at_ms\":%lld,\"kind\":\"MEETING_BOOKED\"}\n",
            (long long)at);
    fclose(f);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "%s produce -b %s -p 1 -H trace-id=t-42 %s", GW_GAPWATCH,
             h.bootstrap, path);
    assert_int_equal(run(cmd), 0);

    /* All six in partition 1, with the header. */
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    int64_t lo, hi;
    assert_int_equal(rd_kafka_query_watermark_offsets(rk, "sales.events", 1, &lo, &hi, 5000), 0);
    assert_int_equal(hi - lo, 6);
    assert_int_equal(rd_kafka_query_watermark_offsets(rk, "sales.events", 0, &lo, &hi, 5000), 0);
    assert_int_equal(hi - lo, 0);
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", h.bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "group.id", "cli-test", NULL, 0);
    rd_kafka_t *cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(cons);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, "sales.events", 1)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(cons, tp), 0);
    rd_kafka_topic_partition_list_destroy(tp);
    rd_kafka_message_t *m = NULL;
    for (int64_t end = gwh_now_ms() + 10000; gwh_now_ms() < end && (!m || m->err);) {
        if (m)
            rd_kafka_message_destroy(m);
        m = rd_kafka_consumer_poll(cons, 200);
    }
    assert_non_null(m);
    assert_int_equal(m->err, 0);
    rd_kafka_headers_t *hd = NULL;
    const void *v = NULL;
    size_t vlen = 0;
    assert_int_equal(rd_kafka_message_headers(m, &hd), 0);
    assert_int_equal(rd_kafka_header_get_last(hd, "trace-id", &v, &vlen), 0);
    assert_int_equal(vlen, 4);
    assert_memory_equal(v, "t-42", 4);
    rd_kafka_message_destroy(m);
    rd_kafka_destroy(cons);

    gwh_write_config(&h, NULL);
    gwh_daemon_start(&h);
    assert_true(gwh_wait_consumed(&h, rk, "sales.events", 2, 60000));

    /* rep as the read-only user, password from the environment. */
    setenv("GW_TEST_REDIS_PW", "s3cret", 1);
    snprintf(cmd, sizeof(cmd),
             "%s rep --json -r 127.0.0.1:%d --user reader --password-env GW_TEST_REDIS_PW acme r1",
             GW_GAPWATCH, h.redis_port);
    assert_int_equal(run(cmd), 0);
    json_error_t jerr;
    json_t *rep = json_loads(out, 0, &jerr);
    assert_non_null(rep);
    json_t *tot = json_object_get(json_object_get(json_object_get(rep, "windows"), "7d"), "totals");
    assert_int_equal(json_integer_value(json_object_get(tot, "DIAL")), 5);
    assert_int_equal(json_integer_value(json_object_get(tot, "MEETING_BOOKED")), 1);
    json_decref(rep);

    /* ... and as the daemon's config says (redis.user, password_file). */
    char pw[400], cfg[400];
    snprintf(pw, sizeof(pw), "%s/redis.pw", h.dir);
    f = fopen(pw, "w");
    assert_non_null(f);
    fprintf(f, "s3cret\n");
    fclose(f);
    snprintf(cfg, sizeof(cfg), "%s/reader.yaml", h.dir);
    f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "redis:\n  port: %d\n  user: reader\n  password_file: %s\n", h.redis_port, pw);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "%s rep -c %s acme r1", GW_GAPWATCH, cfg);
    assert_int_equal(run(cmd), 0);
    assert_non_null(strstr(out, "rep acme/r1"));
    snprintf(cmd, sizeof(cmd), "%s alerts -c %s --tenant acme --from-beginning --idle 1",
             GW_GAPWATCH, cfg);
    assert_int_equal(run(cmd), 0);

    /* A wrong password: one line naming the user, exit 1. */
    setenv("GW_TEST_REDIS_PW", "wrong", 1);
    snprintf(cmd, sizeof(cmd),
             "%s alerts -r 127.0.0.1:%d --user reader --password-env GW_TEST_REDIS_PW --tenant "
             "acme",
             GW_GAPWATCH, h.redis_port);
    expect_one_line_failure(cmd, "AUTH as reader failed", 3000);

    redisFree(rc);
    rd_kafka_destroy(rk);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_every_command_answers_help_and_version),
        cmocka_unit_test(test_cli_unreachable_kafka_and_redis_fail_in_time_with_one_line),
        cmocka_unit_test(test_cli_rep_and_alerts_refuse_an_invalid_id),
        cmocka_unit_test(test_cli_canonical_json_through_daemon_read_by_readonly_acl_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
