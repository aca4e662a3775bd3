/*
 * gapwatch produce: reads JSON lines in protobuf's canonical JSON mapping
 * (one gapwatch.v1.Event per line; see jsonline.h) and produces each as a
 * protobuf keyed by rep_id.
 *
 * Every line is checked with gapwatchd's own rules (gw_decode, given the
 * daemon's config with -c for custom kinds and limits) before anything is
 * sent: a line the daemon would dead-letter is reported with its line
 * number, the dead-letter reason and the detail, and not sent; the other
 * lines still go out and the exit code is 1. --dry-run checks only;
 * --no-validate sends what converts (tests of the daemon's rules need
 * events it will dead-letter).
 *
 * A broker that cannot be reached is one line and exit 1 within --timeout:
 * a metadata request is made first, and message.timeout.ms defaults to the
 * same timeout.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gw_decode.h"

typedef struct {
    cli_kafka_state_t k; /* first: the opaque of cli_kafka_quiet's callbacks */
    uint64_t delivered, failed;
    char first_failure[256];
} produce_stats_t;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    produce_stats_t *st = opaque;
    if (m->err) {
        if (!st->failed++)
            snprintf(st->first_failure, sizeof(st->first_failure), "%s", rd_kafka_err2str(m->err));
    } else {
        st->delivered++;
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gapwatch produce (-b BROKERS | -F FILE | --dry-run) [options] [INPUT|-]\n"
            "\n"
            "  -b BROKERS       bootstrap servers\n"
            "  -F FILE          read the bootstrap servers from FILE (gapwatch kafka-mock -o)\n"
            "  -t TOPIC         topic (default sales.events)\n"
            "  -p PARTITION     produce to this partition (default: by key, the rep_id)\n"
            "  -H name=value    add a header to every message (repeatable)\n"
            "  -X name=value    librdkafka property (repeatable)\n"
            "  -c CONFIG        gapwatchd's YAML config: its custom kinds and validation limits\n"
            "      --dry-run    check every line, send nothing\n"
            "      --no-validate  send what converts, even what gapwatchd will dead-letter\n"
            "      --timeout MS how long Kafka may take to answer and to deliver (default "
            "10000)\n"
            "  INPUT            JSON lines file, - or nothing for stdin\n"
            "\n"
            "Each line is a gapwatch.v1.Event in protobuf's JSON mapping: field names as in\n"
            "the .proto or lowerCamelCase, 64-bit integers as numbers or strings, enums by\n"
            "name or number:\n"
            "  {\"eventId\":\"e1\",\"repId\":\"r1\",\"teamId\":\"t1\","
            "\"occurredAtMs\":\"1767225600000\",\"kind\":\"DIAL\"}\n"
            "Lines gapwatchd would dead-letter are reported (file:line: reason: detail) and\n"
            "not sent. Exit 0 when every line was delivered, 1 otherwise, 2 on bad usage.\n");
}

int cmd_produce(int argc, char **argv)
{
    enum { O_DRY = 256, O_NOVAL, O_TIMEOUT };
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, O_DRY},
        {"no-validate", no_argument, NULL, O_NOVAL},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    int32_t partition = RD_KAFKA_PARTITION_UA;
    bool dry_run = false, validate = true, timeout_set_by_x = false;
    int timeout_ms = 10000;
    cli_kafka_opts_t ko = {.topic = "sales.events", .conf = rd_kafka_conf_new()};
    rd_kafka_headers_t *hdrs = NULL;
    produce_stats_t st;
    memset(&st, 0, sizeof(st));
    gw_config_t *cfg = NULL;
    gw_decoder_t *dec = NULL;
    rd_kafka_t *rk = NULL;
    FILE *in = NULL;
    int rc = 2;
    char *end;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:F:t:p:H:X:c:h", opts, NULL)) != -1) {
        int kc = cli_kafka_option(&ko, c, optarg);
        if (kc < 0)
            goto out;
        if (kc > 0) {
            timeout_set_by_x |= c == 'X' && (!strncmp(optarg, "message.timeout.ms=", 19) ||
                                             !strncmp(optarg, "delivery.timeout.ms=", 20));
            continue;
        }
        switch (c) {
        case 'p':
            partition = (int32_t)strtol(optarg, &end, 10);
            if (!*optarg || *end || partition < 0) {
                fprintf(stderr, "gapwatch produce: -p expects a partition number, got \"%s\"\n",
                        optarg);
                goto out;
            }
            break;
        case 'H':
            if (cli_header_add(&hdrs, "produce", optarg) != 0)
                goto out;
            break;
        case 'c':
            config_path = optarg;
            break;
        case O_DRY:
            dry_run = true;
            break;
        case O_NOVAL:
            validate = false;
            break;
        case O_TIMEOUT:
            timeout_ms = (int)strtol(optarg, &end, 10);
            if (!*optarg || *end || timeout_ms < 1) {
                fprintf(stderr, "gapwatch produce: --timeout expects milliseconds, got \"%s\"\n",
                        optarg);
                goto out;
            }
            break;
        case 'h':
            usage(stdout);
            rc = 0;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (!ko.bootstrap[0] && !dry_run) {
        fprintf(stderr, "gapwatch produce: give -b BROKERS or -F FILE (or --dry-run)\n");
        goto out;
    }
    if (dry_run && !validate) {
        fprintf(stderr, "gapwatch produce: --dry-run checks lines; --no-validate skips that\n");
        goto out;
    }
    static char err[512];
    if (cli_validator_open("produce", config_path, &cfg, &dec) != 0) {
        rc = 1;
        goto out;
    }
    const char *input = optind < argc ? argv[optind] : "-";
    in = strcmp(input, "-") ? fopen(input, "r") : stdin;
    if (!in) {
        fprintf(stderr, "gapwatch produce: cannot open %s\n", input);
        goto out;
    }
    if (!dry_run) {
        char ms[32];
        snprintf(ms, sizeof(ms), "%d", timeout_ms);
        rd_kafka_conf_set(ko.conf, "bootstrap.servers", ko.bootstrap, NULL, 0);
        rd_kafka_conf_set(ko.conf, "enable.idempotence", "true", NULL, 0);
        rd_kafka_conf_set(ko.conf, "linger.ms", "20", NULL, 0);
        if (!timeout_set_by_x)
            rd_kafka_conf_set(ko.conf, "message.timeout.ms", ms, NULL, 0);
        cli_kafka_quiet(ko.conf, &st.k);
        rd_kafka_conf_set_dr_msg_cb(ko.conf, dr_cb);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, ko.conf, err, sizeof(err));
        if (!rk) {
            fprintf(stderr, "gapwatch produce: %s\n", err);
            goto out;
        }
        ko.conf = NULL;
        int parts = cli_kafka_probe("produce", rk, ko.bootstrap, ko.topic, timeout_ms, &st.k);
        if (parts < 0) {
            rc = 1;
            goto out;
        }
        if (partition != RD_KAFKA_PARTITION_UA && partition >= parts) {
            fprintf(stderr, "gapwatch produce: -p %d: topic %s has partitions 0 to %d\n", partition,
                    ko.topic, parts - 1);
            goto out;
        }
    }

    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0, produced = 0, valid = 0, bad = 0;
    while ((len = getline(&line, &cap, in)) != -1) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        uint8_t *buf = NULL;
        size_t blen = 0;
        char key[256], why[1024];
        if (cli_event_from_json(validate ? dec : NULL, line, (size_t)len, &buf, &blen, key,
                                sizeof(key), why, sizeof(why))) {
            fprintf(stderr, "%s:%lu: %s\n", input, lineno, why);
            bad++;
            continue;
        }
        valid++;
        if (dry_run) {
            free(buf);
            continue;
        }
        rd_kafka_headers_t *h = hdrs ? rd_kafka_headers_copy(hdrs) : NULL;
        for (;;) {
            rd_kafka_resp_err_t perr = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(ko.topic), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_KEY(key, strlen(key)),
                RD_KAFKA_V_VALUE(buf, blen), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
            if (perr == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 100);
                continue;
            }
            if (perr) {
                fprintf(stderr, "%s:%lu: produce: %s\n", input, lineno, rd_kafka_err2str(perr));
                free(buf);
                if (h)
                    rd_kafka_headers_destroy(h);
                bad++;
            } else {
                produced++;
            }
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    free(line);
    if (dry_run) {
        fprintf(stderr, "gapwatch produce: %lu lines valid, %lu bad (dry run, nothing sent)\n",
                valid, bad);
        rc = bad ? 1 : 0;
        goto out;
    }
    /* message.timeout.ms bounds each message; the extra second lets the
     * last delivery reports arrive. */
    rd_kafka_flush(rk, timeout_ms + 1000);
    int left = rd_kafka_outq_len(rk);
    if (st.failed)
        fprintf(stderr, "gapwatch produce: %" PRIu64 " messages not delivered: %s\n", st.failed,
                st.first_failure);
    else if (left > 0)
        fprintf(stderr, "gapwatch produce: %d messages not delivered after %d ms\n", left,
                timeout_ms + 1000);
    fprintf(stderr,
            "gapwatch produce: %lu events to %s (%" PRIu64 " delivered, %" PRIu64
            " failed), %lu bad lines\n",
            produced, ko.topic, st.delivered, st.failed, bad);
    rc = (bad || st.failed || st.delivered != produced) ? 1 : 0;
out:
    if (in && in != stdin)
        fclose(in);
    if (rk)
        rd_kafka_destroy(rk);
    if (ko.conf)
        rd_kafka_conf_destroy(ko.conf);
    if (hdrs)
        rd_kafka_headers_destroy(hdrs);
    gw_decoder_free(dec);
    gw_config_free(cfg);
    return rc;
}
