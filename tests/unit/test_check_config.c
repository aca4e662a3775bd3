/*
 * --check-config creates the librdkafka consumer and producer (connecting
 * nowhere), so what librdkafka checks only at creation is reported with the
 * file's line and key like every other config error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gw_config.h"
#include "gw_consumer.h"
#include "gw_harness.h"
#include "gw_kafka.h"
#include "gw_producer.h"

static char err[4096];

static gw_config_t *load(const char *yaml)
{
    gw_config_t *cfg = NULL;
    if (gw_config_load_string(yaml, "t.yaml", &cfg, err, sizeof(err)) != 0)
        fail_msg("expected the config to load (the schema accepts it), got:\n%s", err);
    return cfg;
}

static void expect_check_error(const char *yaml, gw_kafka_role_t role, const char *want)
{
    gw_config_t *cfg = load(yaml);
    int rc = gw_kafka_check(cfg, role,
                            role == GW_KAFKA_CONSUMER ? gw_consumer_conf_new : gw_producer_conf_new,
                            err, sizeof(err));
    gw_config_free(cfg);
    if (rc == 0)
        fail_msg("expected the %s check to fail with \"%s\"; it passed",
                 role == GW_KAFKA_CONSUMER ? "consumer" : "producer", want);
    if (!strstr(err, want))
        fail_msg("expected an error containing \"%s\", got:\n%s", want, err);
}

static void test_check_config_reports_unknown_sasl_mechanism_with_line_and_key(void **state)
{
    (void)state;
    const char *yaml = "kafka:\n"
                       "  properties:\n"
                       "    security.protocol: SASL_PLAINTEXT\n"
                       "    sasl.mechanism: NOPE\n";
    const char *want = "t.yaml:4: kafka.properties.sasl.mechanism: librdkafka cannot create the "
                       "consumer with it: Unsupported SASL mechanism: NOPE";
    expect_check_error(yaml, GW_KAFKA_CONSUMER, want);
    expect_check_error(yaml, GW_KAFKA_PRODUCER, "t.yaml:4: kafka.properties.sasl.mechanism:");
}

static void test_check_config_reports_missing_ssl_ca_file_with_line_and_key(void **state)
{
    (void)state;
    const char *yaml = "kafka:\n"
                       "  consumer_properties:\n"
                       "    session.timeout.ms: \"6000\"\n"
                       "    security.protocol: SSL\n"
                       "    ssl.ca.location: /nonexistent/gapwatch-ca.pem\n";
    expect_check_error(yaml, GW_KAFKA_CONSUMER,
                       "t.yaml:5: kafka.consumer_properties.ssl.ca.location: librdkafka cannot "
                       "create the consumer with it: ssl.ca.location failed");
}

static void test_check_config_reports_producer_conflict_with_our_defaults(void **state)
{
    (void)state;
    /* acks=1 contradicts the idempotence gapwatch turns on by default */
    expect_check_error("kafka:\n  producer_properties:\n    acks: \"1\"\n", GW_KAFKA_PRODUCER,
                       "t.yaml:3: kafka.producer_properties.acks: librdkafka cannot create the "
                       "producer with it:");
}

static void test_check_config_passes_a_good_config(void **state)
{
    (void)state;
    gw_config_t *cfg = load("kafka:\n  properties:\n    security.protocol: PLAINTEXT\n");
    assert_int_equal(gw_kafka_check(cfg, GW_KAFKA_CONSUMER, gw_consumer_conf_new, err, sizeof(err)),
                     0);
    assert_int_equal(gw_kafka_check(cfg, GW_KAFKA_PRODUCER, gw_producer_conf_new, err, sizeof(err)),
                     0);
    gw_config_free(cfg);
}

static void test_gapwatchd_check_config_exits_1_naming_line_and_key(void **state)
{
    (void)state;
    char path[] = "/tmp/gw-check-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *yaml = "kafka:\n"
                       "  bootstrap_servers: \"127.0.0.1:1\"\n"
                       "  properties:\n"
                       "    security.protocol: SASL_SSL\n"
                       "    sasl.mechanism: NOPE\n";
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    char cmd[512], out[4096];
    snprintf(cmd, sizeof(cmd), "'%s' --check-config %s 2>&1", GW_GAPWATCHD, path);
    int rc = gwh_run_capture(cmd, out, sizeof(out));
    unlink(path);
    assert_int_equal(rc, 1);
    char want[256];
    snprintf(want, sizeof(want), "%s:5: kafka.properties.sasl.mechanism:", path);
    if (!strstr(out, want))
        fail_msg("expected \"%s\" in the output, got:\n%s", want, out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_config_reports_unknown_sasl_mechanism_with_line_and_key),
        cmocka_unit_test(test_check_config_reports_missing_ssl_ca_file_with_line_and_key),
        cmocka_unit_test(test_check_config_reports_producer_conflict_with_our_defaults),
        cmocka_unit_test(test_check_config_passes_a_good_config),
        cmocka_unit_test(test_gapwatchd_check_config_exits_1_naming_line_and_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
