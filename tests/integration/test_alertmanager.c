/*
 * gw_alertmanager: posts happen on their own thread. Against an
 * Alertmanager that accepts connections and never answers, handing over
 * alerts returns at once (the loop is never blocked), the queue keeps the
 * newest GW_ALERTMANAGER_QUEUE bodies, and each POST fails at its timeout;
 * against Debian's prometheus-alertmanager, the posted alert is there.
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
    gw_alertmanager_t *am = gw_alertmanager_new(url, 1000, &posts, &failures, err, sizeof(err));
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
    gw_alertmanager_t *am = gw_alertmanager_new(url, 2000, &posts, &failures, err, sizeof(err));
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

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_silent_alertmanager_never_blocks_the_caller),
        cmocka_unit_test(test_alerts_reach_a_real_alertmanager),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
