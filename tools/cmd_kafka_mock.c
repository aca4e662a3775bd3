/*
 * gapwatch kafka-mock: librdkafka's mock cluster (rdkafka_mock.h) as a
 * process: N brokers speaking the Kafka protocol over TCP on loopback, the
 * given topics created, the bootstrap address printed and written to a
 * file, running until SIGINT/SIGTERM. The embedded Kafka of the demo and
 * the tests.
 *
 * Control: with --control, commands are read from stdin, one per line, and
 * answered "ok" or "error: ..." on stdout:
 *   down <broker-id|all>    broker disconnects and refuses connections
 *   up <broker-id|all>      broker accepts connections again
 *   rtt <broker-id> <ms>    adds round-trip latency
 */
#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static volatile sig_atomic_t mock_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    mock_stop = 1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: gapwatch kafka-mock [-n BROKERS] [-t TOPIC[:PARTITIONS]]... [-o FILE] "
                 "[--control]\n"
                 "\n"
                 "  -n BROKERS            number of brokers (default 1)\n"
                 "  -t TOPIC[:PARTITIONS] create a topic (repeatable; default sales.events:12,\n"
                 "                        sales.events.dlq:1, sales.alerts:3)\n"
                 "  -o FILE               also write the bootstrap address to FILE\n"
                 "      --control         read down/up/rtt commands from stdin\n");
}

static int write_file_atomically(const char *path, const char *text)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fprintf(f, "%s\n", text) > 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0)
        return -1;
    return 0;
}

static void each_broker(rd_kafka_mock_cluster_t *mc, int nbrokers, const char *arg, bool up)
{
    int lo = 1, hi = nbrokers;
    if (strcmp(arg, "all") != 0) {
        lo = hi = atoi(arg);
        if (lo < 1 || lo > nbrokers) {
            printf("error: broker id must be 1-%d or all\n", nbrokers);
            return;
        }
    }
    for (int id = lo; id <= hi; id++) {
        rd_kafka_resp_err_t err =
            up ? rd_kafka_mock_broker_set_up(mc, id) : rd_kafka_mock_broker_set_down(mc, id);
        if (err) {
            printf("error: broker %d: %s\n", id, rd_kafka_err2str(err));
            return;
        }
    }
    printf("ok\n");
}

static void control(rd_kafka_mock_cluster_t *mc, int nbrokers, char *line)
{
    char cmd[16] = "", a[32] = "", b[32] = "";
    int n = sscanf(line, "%15s %31s %31s", cmd, a, b);
    if (n >= 2 && !strcmp(cmd, "down"))
        each_broker(mc, nbrokers, a, false);
    else if (n >= 2 && !strcmp(cmd, "up"))
        each_broker(mc, nbrokers, a, true);
    else if (n == 3 && !strcmp(cmd, "rtt")) {
        rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_rtt(mc, atoi(a), atoi(b));
        if (err)
            printf("error: %s\n", rd_kafka_err2str(err));
        else
            printf("ok\n");
    } else if (n >= 1)
        printf("error: unknown command \"%s\" (down, up, rtt)\n", cmd);
    fflush(stdout);
}

int cmd_kafka_mock(int argc, char **argv)
{
    static const struct option opts[] = {
        {"control", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int nbrokers = 1;
    const char *out_file = NULL;
    const char *topics[64];
    int ntopics = 0;
    bool with_control = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:t:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            nbrokers = atoi(optarg);
            if (nbrokers < 1 || nbrokers > 16) {
                fprintf(stderr, "gapwatch kafka-mock: -n must be 1-16\n");
                return 2;
            }
            break;
        case 't':
            if (ntopics == 64) {
                fprintf(stderr, "gapwatch kafka-mock: at most 64 topics\n");
                return 2;
            }
            topics[ntopics++] = optarg;
            break;
        case 'o':
            out_file = optarg;
            break;
        case 'C':
            with_control = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (ntopics == 0) {
        topics[ntopics++] = "sales.events:12";
        topics[ntopics++] = "sales.events.dlq:1";
        topics[ntopics++] = "sales.alerts:3";
    }

    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "client.id", "gapwatch-kafka-mock", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "gapwatch kafka-mock: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, nbrokers);
    if (!mc) {
        fprintf(stderr, "gapwatch kafka-mock: cannot create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < ntopics; i++) {
        char name[256];
        snprintf(name, sizeof(name), "%s", topics[i]);
        int partitions = 1;
        char *colon = strrchr(name, ':');
        if (colon) {
            *colon = '\0';
            partitions = atoi(colon + 1);
        }
        if (!*name || partitions < 1 || partitions > 1000) {
            fprintf(stderr, "gapwatch kafka-mock: bad topic \"%s\" (TOPIC[:1-1000])\n", topics[i]);
            rc = 2;
            goto out;
        }
        rd_kafka_resp_err_t terr =
            rd_kafka_mock_topic_create(mc, name, partitions, nbrokers < 3 ? nbrokers : 3);
        if (terr) {
            fprintf(stderr, "gapwatch kafka-mock: cannot create %s: %s\n", name,
                    rd_kafka_err2str(terr));
            rc = 1;
            goto out;
        }
    }
    const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
    if (out_file && write_file_atomically(out_file, bootstrap) != 0) {
        fprintf(stderr, "gapwatch kafka-mock: cannot write %s: %s\n", out_file, strerror(errno));
        rc = 1;
        goto out;
    }
    printf("%s\n", bootstrap);
    fflush(stdout);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    char line[256];
    size_t have = 0;
    bool stdin_open = with_control;
    while (!mock_stop) {
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        int pr = poll(&pfd, stdin_open ? 1 : 0, 200);
        if (pr <= 0 || !(pfd.revents & (POLLIN | POLLHUP)))
            continue;
        ssize_t r = read(STDIN_FILENO, line + have, sizeof(line) - 1 - have);
        if (r <= 0) {
            stdin_open = false; /* EOF: keep running until signalled */
            continue;
        }
        have += (size_t)r;
        line[have] = '\0';
        char *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = '\0';
            control(mc, nbrokers, line);
            size_t used = (size_t)(nl + 1 - line);
            memmove(line, nl + 1, have - used + 1);
            have -= used;
        }
        if (have == sizeof(line) - 1)
            have = 0; /* an overlong line: drop it */
    }
out:
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    if (out_file)
        unlink(out_file);
    return rc;
}
