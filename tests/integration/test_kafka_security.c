/*
 * gapwatchd against Apache Kafka over SASL_SSL (label `kafka`): the broker
 * (tools/kafka.sh --sasl-ssl) has a listener with TLS (a certificate from a
 * CA that openssl made for this test) and SASL mechanisms SCRAM-SHA-512
 * (user "gapwatch", created with the broker's storage tool at format time)
 * and PLAIN. The daemon gets only librdkafka properties in
 * kafka.properties (security.protocol, sasl.*, ssl.ca.location), as an
 * operator would write them:
 *
 *   - with the right password every event is counted (the recount), with
 *     SCRAM-SHA-512 when librdkafka can (2.6.1 and later), else PLAIN;
 *   - with a wrong password nothing is, and the log says why in one line an
 *     operator can act on (authentication failed, the mechanism);
 *   - with librdkafka before 2.6.1, SCRAM with the right password fails
 *     against this 4.x broker (librdkafka PR 4895) and the log says so.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_harness.h"
#include "tevents.h"

static const char *const topics[] = {"sales.events:4", "sales.events.dlq:1", "sales.alerts:1",
                                     NULL};

/* Writes the daemon's config for the SASL_SSL listener with `password`. */
static void write_sasl_config(gwh_t *h, const char *mechanism, const char *password)
{
    char plain[256];
    snprintf(plain, sizeof(plain), "%s", h->bootstrap);
    snprintf(h->bootstrap, sizeof(h->bootstrap), "%s", h->bootstrap_sasl);
    gwh_write_config(h, tev_config_yaml);
    snprintf(h->bootstrap, sizeof(h->bootstrap), "%s", plain);
    char line[600];
    snprintf(line, sizeof(line), "ssl.ca.location: \"%s/tls/ca.pem\"", h->kafka_dir);
    gwh_add_kafka_property(h, line);
    snprintf(line, sizeof(line), "sasl.password: \"%s\"", password);
    gwh_add_kafka_property(h, line);
    gwh_add_kafka_property(h, "sasl.username: gapwatch");
    snprintf(line, sizeof(line), "sasl.mechanisms: %s", mechanism);
    gwh_add_kafka_property(h, line);
    gwh_add_kafka_property(h, "security.protocol: SASL_SSL");
}

static void read_password(gwh_t *h, char *buf, size_t size)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/scram-password", h->kafka_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, (int)size, f));
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
}

/* Starts the daemon with `mechanism` and `password`, expects the refusal
 * to be logged as an error within 20 s (with the librdkafka hint when
 * `hint`), nothing counted, the password never logged; stops it. */
static void expect_refused(gwh_t *h, const char *mechanism, const char *password, bool hint)
{
    write_sasl_config(h, mechanism, password);
    int before = gwh_daemon_log_count(h, "level=error msg=\"kafka refused");
    gwh_daemon_start(h);
    int64_t deadline = gwh_now_ms() + 20000;
    while (gwh_daemon_log_count(h, "level=error msg=\"kafka refused") == before &&
           gwh_now_ms() < deadline)
        gwh_sleep_ms(200);
    int lines = gwh_daemon_log_count(h, "level=error msg=\"kafka refused") - before;
    if (lines == 0)
        gwh_dump_daemon_log(h, 20);
    assert_true(lines > 0);
    assert_true(gwh_daemon_log_count(h, "Authentication failed") > 0);
    if (hint)
        assert_true(gwh_daemon_log_count(h, "cannot log in with SCRAM to Apache Kafka 4.x") > 0);
    assert_int_equal(gwh_daemon_log_count(h, password), 0);
    assert_int_equal(gwh_positions_sum(h, "sales.events"), 0);
    assert_true(gwh_daemon_alive(h));
    assert_int_equal(gwh_daemon_stop(h, SIGTERM), 0);
    fprintf(stderr, "security: %s with %s password refused: %d error lines, nothing counted\n",
            mechanism, hint ? "the right (librdkafka too old)" : "a wrong", lines);
}

static void test_events_counted_over_sasl_ssl_and_a_wrong_password_is_said(void **state)
{
    (void)state;
    static gwh_t h; /* static: the harness' exit cleanup outlives a failed test */
    gwh_init(&h, "kafka-sasl");
    gwh_redis_start(&h, NULL);
    gwh_broker_start(&h, 1, true, topics);
    fprintf(stderr, "security: SASL_SSL listener %s, plaintext %s\n", h.bootstrap_sasl,
            h.bootstrap);
    tev_stream_t s;
    tev_generate(&s, 3000, 40, 4, 77);
    tev_produce(&h, &s, "sales.events");

    char password[128];
    read_password(&h, password, sizeof(password));
    bool scram_works = rd_kafka_version() >= 0x020601ff;
    fprintf(stderr, "security: librdkafka %s: %s\n", rd_kafka_version_str(),
            scram_works ? "SCRAM-SHA-512" : "PLAIN (SCRAM to a 4.x broker needs 2.6.1)");

    /* A wrong password: nothing counted, one clear line. */
    expect_refused(&h, "SCRAM-SHA-512", "not-the-password", false);
    expect_refused(&h, "PLAIN", "not-the-password", false);
    if (!scram_works)
        expect_refused(&h, "SCRAM-SHA-512", password, true);

    /* The right one: every event counted. */
    const char *mechanism = scram_works ? "SCRAM-SHA-512" : "PLAIN";
    write_sasl_config(&h, mechanism, password);
    gwh_daemon_start(&h);
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    bool done = gwh_wait_consumed(&h, rk, "sales.events", 4, 120000);
    rd_kafka_destroy(rk);
    if (!done)
        gwh_dump_daemon_log(&h, 30);
    assert_true(done);
    tev_stats_t st;
    size_t mismatches = tev_compare(&h, &s, true, &st);
    fprintf(stderr, "security: over SASL_SSL (%s, TLS): %zu events, %zu mismatches\n", mechanism,
            s.n, mismatches);
    assert_int_equal(mismatches, 0);
    assert_int_equal(gwh_daemon_log_count(&h, password), 0);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    tev_free(&s);
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_counted_over_sasl_ssl_and_a_wrong_password_is_said),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
