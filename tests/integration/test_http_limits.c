/*
 * gapwatchd's HTTP port under slow clients: 1,500 TCP connections that
 * trickle a request header a byte at a time (from 10 loopback addresses,
 * 127.0.0.2-127.0.0.11, 150 each) must not keep /healthz from answering a
 * probe from 127.0.0.1 within 2 s. Bounded: 1,500 sockets, ~12 s.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "gw_harness.h"

static const char *const topics[] = {"sales.events:1", "sales.events.dlq:1", "sales.alerts:1",
                                     NULL};

#define SLOW_CLIENTS 1500
#define SLOW_SOURCES 10

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* A non-blocking connection to the port from 127.0.0.<host>; -1 when the
 * connect failed outright. */
static int slow_connect(int port, int host)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)host);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
        (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 && errno != EINPROGRESS)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends the next byte of a request that never ends. */
static void trickle(int *fds, int n, int round)
{
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: gapwatch\r\nX-Slow: ";
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        char c = round < (int)sizeof(req) - 1 ? req[round] : 'z';
        if (send(fds[i], &c, 1, MSG_NOSIGNAL) < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
}

static void test_healthz_answers_while_1500_slow_clients_hold_connections(void **state)
{
    (void)state;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < SLOW_CLIENTS + 200) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < SLOW_CLIENTS + 200)
        fail_msg("the test needs %d file descriptors, the limit is %llu", SLOW_CLIENTS + 200,
                 (unsigned long long)rl.rlim_cur);

    gwh_t h;
    gwh_init(&h, "http-limits");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 1, topics);
    gwh_write_config(&h, NULL);
    int port = gwh_free_port();
    char *cfg = read_file(h.config_path);
    char *at = strstr(cfg, "  listen: \"\"");
    assert_non_null(at);
    FILE *f = fopen(h.config_path, "w");
    fprintf(f, "%.*s  listen: \"127.0.0.1:%d\"%s", (int)(at - cfg), cfg, port,
            at + strlen("  listen: \"\""));
    fclose(f);
    free(cfg);
    gwh_daemon_start(&h);
    char *body = NULL;
    for (int i = 0; i < 100 && !(body = gwh_http_get(port, "/healthz")); i++)
        gwh_sleep_ms(100);
    assert_non_null(body);
    free(body);

    int *fds = malloc(SLOW_CLIENTS * sizeof(int));
    assert_non_null(fds);
    int opened = 0;
    for (int i = 0; i < SLOW_CLIENTS; i++) {
        fds[i] = slow_connect(port, 2 + i % SLOW_SOURCES);
        opened += fds[i] >= 0;
    }
    fprintf(stderr, "opened %d of %d slow connections\n", opened, SLOW_CLIENTS);
    assert_true(opened >= SLOW_CLIENTS * 9 / 10);

    int64_t worst = 0;
    int answered = 0;
    for (int round = 0; round < 10; round++) {
        trickle(fds, SLOW_CLIENTS, round);
        int64_t t0 = gwh_now_ms();
        body = gwh_http_get(port, "/healthz");
        int64_t took = gwh_now_ms() - t0;
        if (took > worst)
            worst = took;
        if (body && !strcmp(body, "ok\n") && took <= 2000)
            answered++;
        else
            fprintf(stderr, "round %d: /healthz %s after %lld ms\n", round,
                    body ? body : "did not answer", (long long)took);
        free(body);
        gwh_sleep_ms(1000);
    }
    int still_open = 0;
    for (int i = 0; i < SLOW_CLIENTS; i++) {
        char c;
        if (fds[i] >= 0 && recv(fds[i], &c, 1, MSG_DONTWAIT) < 0 &&
            (errno == EAGAIN || errno == EWOULDBLOCK))
            still_open++;
        if (fds[i] >= 0)
            close(fds[i]);
    }
    free(fds);
    fprintf(stderr,
            "/healthz answered %d of 10 probes within 2 s; slowest %lld ms; %d slow "
            "connections still held open by the server\n",
            answered, (long long)worst, still_open);
    assert_int_equal(answered, 10);
    assert_true(gwh_daemon_alive(&h));
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz_answers_while_1500_slow_clients_hold_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
