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

/* gapwatchd --check-config on `yaml` (written to a file): its exit status,
 * and its output in `out`; the file's path in `path`. */
static int check_config_file(const char *yaml, char *path, size_t pathsize, char *out,
                             size_t outsize)
{
    snprintf(path, pathsize, "/tmp/gw-check-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "'%s' --check-config %s 2>&1", GW_GAPWATCHD, path);
    int rc = gwh_run_capture(cmd, out, outsize);
    unlink(path);
    return rc;
}

/* redis.tls: on Debian 12 (hiredis 0.14, no hiredis_ssl) the key is refused
 * with its line and the reason; with hiredis_ssl (Debian 13) the same file
 * passes, and a CA file that does not exist is named with its line. */
static void test_check_config_redis_tls_needs_hiredis_ssl_names_line_and_key(void **state)
{
    (void)state;
    char path[64], out[4096], want[256];
    const char *yaml = "kafka:\n"
                       "  bootstrap_servers: \"127.0.0.1:1\"\n"
                       "redis:\n"
                       "  host: redis.example\n"
                       "  port: 6380\n"
                       "  tls: true\n";
    int rc = check_config_file(yaml, path, sizeof(path), out, sizeof(out));
#ifdef GW_HAVE_REDIS_TLS
    if (rc != 0)
        fail_msg("with hiredis_ssl, expected redis.tls: true to pass --check-config, got:\n%s",
                 out);
    /* a client certificate without its key */
    rc = check_config_file("redis:\n  tls: true\n  tls_cert: /etc/hostname\n", path, sizeof(path),
                           out, sizeof(out));
    assert_int_equal(rc, 1);
    snprintf(want, sizeof(want), "%s:3: redis.tls_key: a client certificate needs both", path);
    if (!strstr(out, want))
        fail_msg("expected \"%s\", got:\n%s", want, out);
#else
    assert_int_equal(rc, 1);
    snprintf(want, sizeof(want),
             "%s:6: redis.tls: this gapwatchd is built without Redis TLS: hiredis 0.14", path);
    if (!strstr(out, want) || !strstr(out, "hiredis_ssl needs hiredis >= 1.0"))
        fail_msg("expected \"%s\" and why, got:\n%s", want, out);
#endif
    yaml = "redis:\n"
           "  tls: true\n"
           "  tls_ca: /nonexistent/gapwatch-ca.pem\n";
    rc = check_config_file(yaml, path, sizeof(path), out, sizeof(out));
    assert_int_equal(rc, 1);
    snprintf(want, sizeof(want),
             "%s:3: redis.tls_ca: cannot read /nonexistent/gapwatch-ca.pem: No such file", path);
    if (!strstr(out, want))
        fail_msg("expected \"%s\", got:\n%s", want, out);
    /* TLS settings without redis.tls would silently connect in plain text */
    rc = check_config_file("redis:\n  tls_verify: false\n", path, sizeof(path), out, sizeof(out));
    assert_int_equal(rc, 1);
    snprintf(want, sizeof(want), "%s:2: redis.tls: redis.tls_* settings are given but redis.tls",
             path);
    if (!strstr(out, want))
        fail_msg("expected \"%s\", got:\n%s", want, out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_config_reports_unknown_sasl_mechanism_with_line_and_key),
        cmocka_unit_test(test_check_config_reports_missing_ssl_ca_file_with_line_and_key),
        cmocka_unit_test(test_check_config_reports_producer_conflict_with_our_defaults),
        cmocka_unit_test(test_check_config_passes_a_good_config),
        cmocka_unit_test(test_gapwatchd_check_config_exits_1_naming_line_and_key),
        cmocka_unit_test(test_check_config_redis_tls_needs_hiredis_ssl_names_line_and_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
