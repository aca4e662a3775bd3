/*
 * gapwatch produce: reads JSON lines (one event per line, fields named as in
 * proto/gapwatch/v1/event.proto, enums by name) and produces each as a
 * gapwatch.v1.Event protobuf keyed by rep_id.
 *
 * The conversion walks protobuf-c's descriptor of Event, so every field of
 * the proto is accepted and nothing else is. A bad line is reported with its
 * line number and the field, and the other lines still go out; the exit
 * code is 1 if any line was bad or any delivery failed. The tool checks
 * types, not the daemon's rules: it can produce events gapwatchd will
 * dead-letter, which is what tests of the rules need.
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonline.h"
#include "gapwatch/v1/event.pb-c.h"

typedef struct {
    uint64_t delivered, failed;
} produce_stats_t;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    produce_stats_t *st = opaque;
    if (m->err) {
        st->failed++;
        fprintf(stderr, "gapwatch produce: delivery failed: %s\n", rd_kafka_err2str(m->err));
    } else {
        st->delivered++;
    }
}

static void usage(FILE *out)
{
    fprintf(out, "usage: gapwatch produce (-b BROKERS | -F FILE) [-t TOPIC] [-X prop=value]... "
                 "[INPUT|-]\n"
                 "\n"
                 "  -b BROKERS   bootstrap servers\n"
                 "  -F FILE      read the bootstrap servers from FILE (gapwatch kafka-mock -o)\n"
                 "  -t TOPIC     topic (default sales.events)\n"
                 "  -X name=val  librdkafka property (repeatable)\n"
                 "  INPUT        JSON lines file, - or nothing for stdin\n"
                 "\n"
                 "Each line is an object with the fields of gapwatch.v1.Event, enums by name:\n"
                 "  {\"event_id\":\"e1\",\"rep_id\":\"r1\",\"team_id\":\"t1\","
                 "\"occurred_at_ms\":1767225600000,\"kind\":\"DIAL\"}\n");
}

int cmd_produce(int argc, char **argv)
{
    char bootstrap[1024] = "";
    const char *topic = "sales.events";
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    produce_stats_t st = {0, 0};
    int c;
    optind = 1;
    while ((c = getopt(argc, argv, "b:F:t:X:h")) != -1) {
        switch (c) {
        case 'b':
            snprintf(bootstrap, sizeof(bootstrap), "%s", optarg);
            break;
        case 'F':
            if (cli_read_bootstrap_file(optarg, bootstrap, sizeof(bootstrap)) != 0)
                goto usage_fail;
            break;
        case 't':
            topic = optarg;
            break;
        case 'X':
            if (cli_conf_set_kv(conf, optarg) != 0)
                goto usage_fail;
            break;
        case 'h':
            usage(stdout);
            rd_kafka_conf_destroy(conf);
            return 0;
        default:
            usage(stderr);
            goto usage_fail;
        }
    }
    if (!bootstrap[0]) {
        fprintf(stderr, "gapwatch produce: give -b BROKERS or -F FILE\n");
        goto usage_fail;
    }
    const char *input = optind < argc ? argv[optind] : "-";
    FILE *in = strcmp(input, "-") ? fopen(input, "r") : stdin;
    if (!in) {
        fprintf(stderr, "gapwatch produce: cannot open %s\n", input);
        goto usage_fail;
    }
    char err[1024];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", NULL, 0);
    rd_kafka_conf_set(conf, "linger.ms", "20", NULL, 0);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, &st);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "gapwatch produce: %s\n", err);
        if (in != stdin)
            fclose(in);
        goto usage_fail;
    }
    conf = NULL;

    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0, produced = 0, bad = 0;
    while ((len = getline(&line, &cap, in)) != -1) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        uint8_t *buf = NULL;
        size_t blen = 0;
        char key[256];
        if (gw_jsonline_to_event(line, (size_t)len, &buf, &blen, key, sizeof(key), err,
                                 sizeof(err))) {
            fprintf(stderr, "%s:%lu: %s\n", input, lineno, err);
            bad++;
            continue;
        }
        for (;;) {
            rd_kafka_resp_err_t perr = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(buf, blen), RD_KAFKA_V_END);
            if (perr == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 100);
                continue;
            }
            if (perr) {
                fprintf(stderr, "%s:%lu: produce: %s\n", input, lineno, rd_kafka_err2str(perr));
                free(buf);
                bad++;
            } else {
                produced++;
            }
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    free(line);
    if (in != stdin)
        fclose(in);
    while (rd_kafka_outq_len(rk) > 0)
        if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "gapwatch produce: %d messages not delivered after 30 s\n",
                    rd_kafka_outq_len(rk));
            break;
        }
    rd_kafka_destroy(rk);
    fprintf(stderr,
            "gapwatch produce: %lu events to %s (%" PRIu64 " delivered, %" PRIu64
            " failed), %lu bad lines\n",
            produced, topic, st.delivered, st.failed, bad);
    return (bad || st.failed || st.delivered != produced) ? 1 : 0;

usage_fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    return 2;
}
