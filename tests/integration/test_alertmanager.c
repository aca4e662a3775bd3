/*
 * gw_alertmanager: posts happen on their own thread. Against an
 * Alertmanager that accepts connections and never answers, handing over
 * alerts returns at once (the loop is never blocked), the queue keeps the
 * newest GW_ALERTMANAGER_QUEUE bodies, and each POST fails at its timeout;
 * against Debian's prometheus-alertmanager, the posted alert is there, also
 * behind TLS and basic auth.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <crypt.h>
#include <curl/curl.h>

#include "gw_alertmanager.h"
#include "gw_harness.h"

static char *body(const char *rep)
{
    char *b = malloc(512);
    snprintf(b, 512,
             "[{\"labels\":{\"alertname\":\"GapwatchTest\",\"rep\":\"%s\"},"
             "\"annotations\":{\"summary\":\"test\"}}]",
             rep);
    return b;
}

static void test_a_silent_alertmanager_never_blocks_the_caller(void **state)
{
    (void)state;
    /* a listener that accepts (the kernel does) and never answers */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 64), 0);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    char url[64], err[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
    uint64_t posts = 0, failures = 0;
    gw_alertmanager_opts_t o = {.url = url, .timeout_ms = 1000, .tls_verify = true};
    gw_alertmanager_t *am = gw_alertmanager_new(&o, &posts, &failures, err, sizeof(err));
    assert_non_null(am);
    int64_t t0 = gwh_now_ms();
    for (int i = 0; i < GW_ALERTMANAGER_QUEUE + 4; i++) {
        char rep[16];
        snprintf(rep, sizeof(rep), "r%d", i);
        gw_alertmanager_post(am, body(rep));
    }
    int64_t handed = gwh_now_ms() - t0;
    fprintf(stderr, "handed over %d bodies in %lld ms (each POST times out after 1000 ms)\n",
            GW_ALERTMANAGER_QUEUE + 4, (long long)handed);
    assert_true(handed < 1000); /* 20 blocking POSTs would take 20 s */
    /* still queued: nothing was answered */
    assert_true(gw_alertmanager_drain(am, 100) > 0);
    gw_alertmanager_free(am); /* the POST in flight ends at its timeout */
    assert_true(__atomic_load_n(&failures, __ATOMIC_RELAXED) >= 4); /* dropped or failed */
    close(fd);
}

static void test_alerts_reach_a_real_alertmanager(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "alertmanager");
    gwh_alertmanager_start(&h);
    char url[64], err[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", h.am_port);
    uint64_t posts = 0, failures = 0;
    gw_alertmanager_opts_t o = {.url = url, .timeout_ms = 2000, .tls_verify = true};
    gw_alertmanager_t *am = gw_alertmanager_new(&o, &posts, &failures, err, sizeof(err));
    assert_non_null(am);
    gw_alertmanager_post(am, body("north-r07"));
    assert_int_equal(gw_alertmanager_drain(am, 10000), 0);
    assert_int_equal(__atomic_load_n(&posts, __ATOMIC_RELAXED), 1);
    assert_int_equal(__atomic_load_n(&failures, __ATOMIC_RELAXED), 0);
    char *got = NULL;
    for (int i = 0; i < 50 && !(got && strstr(got, "north-r07")); i++) {
        free(got);
        gwh_sleep_ms(100);
        got = gwh_http_get(h.am_port, "/api/v2/alerts");
    }
    assert_non_null(got);
    assert_non_null(strstr(got, "north-r07"));
    free(got);
    gw_alertmanager_free(am);
    gwh_cleanup(&h);
}

/* GET url over TLS with basic auth (libcurl, as an operator's curl would). */
static char *get_tls(const char *url, const char *ca, const char *user, const char *pass,
                     long *code)
{
    CURL *c = curl_easy_init();
    FILE *mem;
    char *buf = NULL;
    size_t len = 0;
    mem = open_memstream(&buf, &len);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_USERNAME, user);
    curl_easy_setopt(c, CURLOPT_PASSWORD, pass);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    curl_easy_cleanup(c);
    fclose(mem);
    if (cc != CURLE_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Alertmanager behind TLS and basic auth (its --web.config.file): the
 * right CA and password post; a wrong password or CA fails, counted. */
static void test_alertmanager_with_tls_and_basic_auth(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "alertmanager-tls");
    gwh_tls_certs(&h);
    char web[512], cfgp[512], storage[512], listen[64], a1[600], a2[600], a3[600];
    /* bcrypt, as Alertmanager's basic_auth_users wants (glibc's crypt) */
    const char *hash = crypt("s3cret", "$2b$05$abcdefghijklmnopqrstuu");
    assert_non_null(hash);
    assert_int_equal(strncmp(hash, "$2b$", 4), 0);
    snprintf(web, sizeof(web), "%s/web.yml", h.dir);
    FILE *f = fopen(web, "w");
    fprintf(f,
            "tls_server_config:\n  cert_file: %s/tls/server.crt\n  key_file: %s/tls/server.key\n"
            "basic_auth_users:\n  gapwatch: '%s'\n",
            h.dir, h.dir, hash);
    fclose(f);
    snprintf(cfgp, sizeof(cfgp), "%s/am.yml", h.dir);
    f = fopen(cfgp, "w");
    fprintf(f, "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n");
    fclose(f);
    snprintf(storage, sizeof(storage), "%s/am-data", h.dir);
    int port = gwh_free_port();
    snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", port);
    snprintf(a1, sizeof(a1), "--config.file=%s", cfgp);
    snprintf(a2, sizeof(a2), "--storage.path=%s", storage);
    snprintf(a3, sizeof(a3), "--web.config.file=%s", web);
    char *argv[] = {"prometheus-alertmanager",   a1,  a2, a3, listen,
                    "--cluster.listen-address=", NULL};
    gwh_spawn(&h, "alertmanager", argv);
    char url[128], api[160], ca[512], other[512];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
    snprintf(api, sizeof(api), "%s/api/v2/alerts", url);
    snprintf(ca, sizeof(ca), "%s/tls/ca.crt", h.dir);
    snprintf(other, sizeof(other), "%s/tls/other-ca.crt", h.dir);
    long code = 0;
    char *got = NULL;
    for (int i = 0; i < 100 && !got; i++) {
        gwh_sleep_ms(100);
        got = get_tls(api, ca, "gapwatch", "s3cret", &code);
    }
    assert_non_null(got);
    free(got);

    uint64_t posts = 0, failures = 0;
    char err[256];
    gw_alertmanager_opts_t o = {.url = url,
                                .timeout_ms = 3000,
                                .username = "gapwatch",
                                .password = "s3cret",
                                .tls_ca = ca,
                                .tls_verify = true};
    gw_alertmanager_t *am = gw_alertmanager_new(&o, &posts, &failures, err, sizeof(err));
    gw_alertmanager_post(am, body("south-r02"));
    assert_int_equal(gw_alertmanager_drain(am, 10000), 0);
    gw_alertmanager_free(am);
    assert_int_equal(posts, 1);
    assert_int_equal(failures, 0);
    got = NULL;
    for (int i = 0; i < 50 && !(got && strstr(got, "south-r02")); i++) {
        free(got);
        gwh_sleep_ms(100);
        got = get_tls(api, ca, "gapwatch", "s3cret", &code);
    }
    assert_non_null(got);
    assert_non_null(strstr(got, "south-r02"));
    free(got);

    /* a wrong password: 401, counted as a failure */
    o.password = "guess";
    am = gw_alertmanager_new(&o, &posts, &failures, err, sizeof(err));
    gw_alertmanager_post(am, body("south-r03"));
    gw_alertmanager_drain(am, 10000);
    gw_alertmanager_free(am);
    assert_int_equal(failures, 1);
    /* a CA that did not sign the server's certificate: refused */
    o.password = "s3cret";
    o.tls_ca = other;
    am = gw_alertmanager_new(&o, &posts, &failures, err, sizeof(err));
    gw_alertmanager_post(am, body("south-r04"));
    gw_alertmanager_drain(am, 10000);
    gw_alertmanager_free(am);
    assert_int_equal(failures, 2);
    assert_int_equal(posts, 3);
    gwh_cleanup(&h);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_silent_alertmanager_never_blocks_the_caller),
        cmocka_unit_test(test_alerts_reach_a_real_alertmanager),
        cmocka_unit_test(test_alertmanager_with_tls_and_basic_auth),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
