/*
 * Redis over TLS (hiredis_ssl, Debian 13): a real redis-server with
 * --tls-port and --tls-auth-clients yes, certificates made by openssl in
 * the test (a CA, the server's, a client's). gapwatchd applies a stream
 * over TLS (the config names only the TLS port) and the counts equal the
 * recount; the CLI reads over TLS; a
 * wrong CA or a missing client certificate fails with an error that says
 * so. Built only with GW_HAVE_REDIS_TLS (on Debian 12, test_check_config
 * checks that redis.tls is refused).
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

/* redis-server on a plain port (the harness' reads) and a TLS port that
 * asks clients for a certificate; returns the TLS port. */
static int redis_tls_start(gwh_t *h)
{
    gwh_tls_certs(h);
    int port = gwh_free_port();
    char args[1024];
    snprintf(args, sizeof(args),
             "--tls-port %d --tls-cert-file %s/tls/server.crt --tls-key-file %s/tls/server.key "
             "--tls-ca-cert-file %s/tls/ca.crt --tls-auth-clients yes",
             port, h->dir, h->dir, h->dir);
    gwh_redis_start(h, args);
    return port;
}

/* The redis section's connection lines for the TLS port. */
static void tls_lines(gwh_t *h, int port, const char *ca, bool client_cert, char *out, size_t size)
{
    int n = snprintf(out, size,
                     "  port: %d\n"
                     "  tls: true\n"
                     "  tls_ca: %s/tls/%s\n"
                     "  tls_server_name: localhost\n",
                     port, h->dir, ca);
    if (client_cert)
        snprintf(out + n, size - (size_t)n,
                 "  tls_cert: %s/tls/client.crt\n"
                 "  tls_key: %s/tls/client.key\n",
                 h->dir, h->dir);
}

static void test_daemon_applies_over_tls_and_counts_equal_the_recount(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "redis-tls");
    int tls_port = redis_tls_start(&h);
    gwh_kafka_start(&h, 1, topics);
    gwh_write_config(&h, tev_config_yaml);
    char lines[1024];
    tls_lines(&h, tls_port, "ca.crt", true, lines, sizeof(lines));
    gwh_set_redis_config(&h, lines);
    gwh_daemon_start(&h);

    tev_stream_t s;
    tev_generate(&s, 20000, 60, 6, 4242);
    tev_produce(&h, &s, "sales.events");
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    bool done = gwh_wait_consumed(&h, rk, "sales.events", 4, 120000);
    rd_kafka_destroy(rk);
    if (!done)
        gwh_dump_daemon_log(&h, 40);
    assert_true(done);
    tev_stats_t st;
    size_t mismatches = tev_compare(&h, &s, false, &st);
    if (mismatches)
        gwh_dump_daemon_log(&h, 40);
    assert_int_equal(mismatches, 0);
    assert_true(st.windows_with_data >= 60);
    fprintf(stderr, "over TLS: %zu events, %zu entities, %zu fields equal the recount\n", s.n,
            st.entities, st.fields);

    /* The CLI connects like the daemon: gapwatch rep -c <the same config>. */
    char cmd[1024], out[16384];
    snprintf(cmd, sizeof(cmd), "'%s' rep --json -c '%s' '%s' '%s' 2>&1", GW_GAPWATCH, h.config_path,
             s.ev[0].tenant, s.ev[0].rep);
    int rc = gwh_run_capture(cmd, out, sizeof(out));
    if (rc != 0 || !strstr(out, "\"windows\""))
        fail_msg("gapwatch rep over TLS: exit %d, expected the rep's windows, got:\n%s", rc, out);

    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    tev_free(&s);
    gwh_cleanup(&h);
}

static void test_wrong_ca_or_no_client_cert_fails_clearly(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "redis-tls-bad");
    int tls_port = redis_tls_start(&h);
    snprintf(h.bootstrap, sizeof(h.bootstrap), "127.0.0.1:1"); /* the CLI needs no Kafka */
    char lines[1024], cmd[1024], out[8192];

    /* A CA that did not sign the server's certificate. */
    gwh_write_config(&h, NULL);
    tls_lines(&h, tls_port, "other-ca.crt", true, lines, sizeof(lines));
    gwh_set_redis_config(&h, lines);
    snprintf(cmd, sizeof(cmd), "'%s' rep -c '%s' acme r1 2>&1", GW_GAPWATCH, h.config_path);
    int rc = gwh_run_capture(cmd, out, sizeof(out));
    char want[128];
    snprintf(want, sizeof(want), "redis 127.0.0.1:%d: TLS handshake failed:", tls_port);
    if (rc == 0 || !strstr(out, want) || !strstr(out, "certificate verify failed") ||
        !strstr(out, "redis.tls_ca"))
        fail_msg("wrong CA: expected a failure with \"%s ... certificate verify failed ... "
                 "redis.tls_ca\", got exit %d:\n%s",
                 want, rc, out);

    /* The right CA, no client certificate: the server refuses. */
    gwh_write_config(&h, NULL);
    tls_lines(&h, tls_port, "ca.crt", false, lines, sizeof(lines));
    gwh_set_redis_config(&h, lines);
    rc = gwh_run_capture(cmd, out, sizeof(out));
    snprintf(want, sizeof(want), "redis 127.0.0.1:%d: the server closed the TLS connection",
             tls_port);
    if (rc == 0 || !strstr(out, want) || !strstr(out, "redis.tls_cert"))
        fail_msg("no client certificate: expected a failure with \"%s ... redis.tls_cert\", got "
                 "exit %d:\n%s",
                 want, rc, out);
    gwh_cleanup(&h);
}

/* redis.tls_verify: false (hiredis >= 1.2) connects to a server whose
 * certificate the configured CA did not sign; the default refuses it. */
static void test_tls_verify_false_accepts_a_server_the_ca_did_not_sign(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "redis-tls-noverify");
    int tls_port = redis_tls_start(&h);
    snprintf(h.bootstrap, sizeof(h.bootstrap), "127.0.0.1:1");
    char lines[1024], cmd[1024], out[8192];
    gwh_write_config(&h, NULL);
    tls_lines(&h, tls_port, "other-ca.crt", true, lines, sizeof(lines));
    strcat(lines, "  tls_verify: false\n");
    gwh_set_redis_config(&h, lines);
    snprintf(cmd, sizeof(cmd), "'%s' rep --json -c '%s' acme r1 2>&1", GW_GAPWATCH, h.config_path);
    int rc = gwh_run_capture(cmd, out, sizeof(out));
#ifdef GW_REDIS_TLS_VERIFY_OPTION
    if (rc != 0 || !strstr(out, "\"tenant\""))
        fail_msg("tls_verify: false: expected gapwatch rep to read over TLS, got exit %d:\n%s", rc,
                 out);
#else
    if (rc == 0 || !strstr(out, "redis.tls_verify"))
        fail_msg(
            "tls_verify: false needs hiredis >= 1.2; expected a config error, got exit %d:\n%s", rc,
            out);
#endif
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daemon_applies_over_tls_and_counts_equal_the_recount),
        cmocka_unit_test(test_wrong_ca_or_no_client_cert_fails_clearly),
        cmocka_unit_test(test_tls_verify_false_accepts_a_server_the_ca_did_not_sign),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
