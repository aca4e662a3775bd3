/*
 * gapwatch alerts: tails the alert topic (GapAlert protobufs) or a tenant's
 * Redis alert stream and prints one readable line per alert, or the alert
 * as JSON with --json.
 */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "gapwatch/v1/alert.pb-c.h"
#include "gw_alert_store.h"
#include "gw_config.h"
#include "gw_keys.h"
#include "gw_pbjson.h"
#include "gw_store.h"
#include "gw_time.h"

static volatile sig_atomic_t alerts_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    alerts_stop = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gapwatch alerts (-b BROKERS | -F FILE) [-t TOPIC] [options]\n"
            "       gapwatch alerts (-r HOST:PORT | -c CONFIG) --tenant TENANT [options]\n"
            "\n"
            "  -b BROKERS         read the alert topic at BROKERS\n"
            "  -F FILE            read the bootstrap servers from FILE\n"
            "  -t TOPIC           alert topic (default sales.alerts)\n"
            "  -X name=value      librdkafka property (repeatable)\n"
            "      --timeout MS   how long Kafka may take to answer at start (default "
            "10000)\n"
            "Or the tenant's Redis alert stream (XREAD only: +@read is enough):\n" CLI_REDIS_USAGE
            "      --tenant T     tenant of the stream\n"
            "      --prefix P     key prefix (default: the config's key_prefix, gw)\n"
            "      --from-beginning  start at the oldest alert (default: new ones only)\n"
            "      --json         print each alert as one JSON object\n"
            "  -n COUNT           exit after COUNT alerts\n"
            "      --idle S       exit after S seconds without an alert\n");
}

typedef struct {
    bool json;
    long count, limit;
} print_ctx_t;

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

static void print_alert(print_ctx_t *p, json_t *a)
{
    p->count++;
    if (p->json) {
        char *s = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
    } else {
        json_int_t ms = json_integer_value(json_object_get(a, "evaluated_at_ms"));
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        char when[32];
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("%s %-8s %-20s %s/%s (%s) %s #%lld: %s\n", when, jstr(a, "state"), jstr(a, "kind"),
               jstr(a, "tenant_id"), jstr(a, "rep_id"), jstr(a, "team_id"), jstr(a, "window"),
               (long long)json_integer_value(json_object_get(a, "sequence")), jstr(a, "summary"));
    }
    fflush(stdout);
}

static int stream_entry(void *ctx, const char *id, const char *field, const char *value)
{
    (void)id;
    if (strcmp(field, "alert") != 0)
        return 0;
    json_error_t jerr;
    json_t *a = json_loads(value, 0, &jerr);
    if (a) {
        print_alert(ctx, a);
        json_decref(a);
    }
    return 0;
}

static int tail_stream(print_ctx_t *p, const cli_redis_opts_t *ro, const char *tenant,
                       const char *prefix, bool from_beginning, int idle_s)
{
    char host[256];
    int bad_usage;
    gw_config_t *cfg = cli_load_config("alerts", ro, host, sizeof(host), &bad_usage);
    if (!cfg)
        return bad_usage ? 2 : 1;
    /* The alert store builds the stream's key under the config's prefix:
     * --prefix replaces it (optarg lives as long as the process). */
    if (prefix) {
        size_t bad;
        if (strlen(prefix) > GW_PREFIX_MAX || !gw_keys_id_valid(prefix, strlen(prefix), &bad)) {
            fprintf(stderr, "gapwatch alerts: --prefix \"%s\" must be 1-%d of [A-Za-z0-9._@-]\n",
                    prefix, GW_PREFIX_MAX);
            gw_config_free(cfg);
            return 2;
        }
        cfg->key_prefix = prefix;
    }
    gw_store_t *store = cli_store_open("alerts", cfg);
    if (!store) {
        gw_config_free(cfg);
        return 1;
    }
    gw_alert_store_t *alert_store = gw_alert_store_new(cfg, store);
    if (!alert_store) {
        fprintf(stderr, "gapwatch alerts: out of memory\n");
        gw_store_free(store);
        gw_config_free(cfg);
        return 1;
    }
    char last[GW_ALERT_STREAM_ID_MAX], err[512];
    snprintf(last, sizeof(last), "%s", from_beginning ? "0" : "$");
    int rc = 0;
    int64_t last_seen = gw_mono_ms();
    while (!alerts_stop && (p->limit <= 0 || p->count < p->limit)) {
        long before = p->count;
        if (gw_alert_store_read_stream(alert_store, tenant, last, 500, stream_entry, p, err,
                                       sizeof(err)) != GW_STORE_OK) {
            fprintf(stderr, "gapwatch alerts: %s\n", err);
            rc = 1;
            break;
        }
        if (p->count != before)
            last_seen = gw_mono_ms();
        else if (idle_s > 0 && gw_mono_ms() - last_seen > idle_s * 1000LL)
            break;
    }
    gw_alert_store_free(alert_store);
    gw_store_free(store);
    gw_config_free(cfg);
    return rc;
}

static int tail_topic(print_ctx_t *p, rd_kafka_conf_t *conf, const char *bootstrap,
                      const char *topic, bool from_beginning, int idle_s, int timeout_ms)
{
    char err[512], group[64];
    cli_kafka_state_t kst;
    memset(&kst, 0, sizeof(kst));
    snprintf(group, sizeof(group), "gapwatch-alerts-%ld", (long)gw_now_ms());
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "group.id", group, NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(conf, "auto.offset.reset", from_beginning ? "earliest" : "latest", NULL, 0);
    cli_kafka_quiet(conf, &kst);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "gapwatch alerts: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    if (cli_kafka_probe("alerts", rk, bootstrap, topic, timeout_ms, &kst) < 0) {
        rd_kafka_destroy(rk);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t serr = rd_kafka_subscribe(rk, t);
    rd_kafka_topic_partition_list_destroy(t);
    if (serr) {
        fprintf(stderr, "gapwatch alerts: subscribe %s: %s\n", topic, rd_kafka_err2str(serr));
        rd_kafka_destroy(rk);
        return 1;
    }
    int64_t last_seen = gw_mono_ms();
    while (!alerts_stop && (p->limit <= 0 || p->count < p->limit)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) {
            if (idle_s > 0 && gw_mono_ms() - last_seen > idle_s * 1000LL)
                break;
            continue;
        }
        if (!m->err) {
            Gapwatch__V1__GapAlert *a = gapwatch__v1__gap_alert__unpack(NULL, m->len, m->payload);
            if (a) {
                json_t *j = gw_pbjson_from_message(&a->base);
                if (j) {
                    print_alert(p, j);
                    json_decref(j);
                }
                gapwatch__v1__gap_alert__free_unpacked(a, NULL);
            } else {
                fprintf(stderr, "gapwatch alerts: %s [%d] offset %lld is not a GapAlert\n", topic,
                        m->partition, (long long)m->offset);
            }
            last_seen = gw_mono_ms();
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return 0;
}

int cmd_alerts(int argc, char **argv)
{
    enum { O_TENANT = 256, O_PREFIX, O_BEGIN, O_JSON, O_IDLE, O_TIMEOUT };
    static const struct option opts[] = {
        {"tenant", required_argument, NULL, O_TENANT},
        {"prefix", required_argument, NULL, O_PREFIX},
        {"from-beginning", no_argument, NULL, O_BEGIN},
        {"json", no_argument, NULL, O_JSON},
        {"idle", required_argument, NULL, O_IDLE},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        CLI_REDIS_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *tenant = NULL, *prefix = NULL;
    cli_redis_opts_t ro = {0};
    bool from_beginning = false;
    int idle = 0, timeout_ms = 10000;
    print_ctx_t p = {false, 0, 0};
    cli_kafka_opts_t ko = {.topic = "sales.alerts", .conf = rd_kafka_conf_new()};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:F:t:X:r:c:n:h", opts, NULL)) != -1) {
        int kc = cli_kafka_option(&ko, c, optarg);
        if (kc < 0)
            goto usage_fail;
        if (kc > 0)
            continue;
        if (cli_redis_option(&ro, c, optarg))
            continue;
        switch (c) {
        case O_TIMEOUT:
            timeout_ms = atoi(optarg);
            if (timeout_ms < 1) {
                fprintf(stderr, "gapwatch alerts: --timeout expects milliseconds, got \"%s\"\n",
                        optarg);
                goto usage_fail;
            }
            break;
        case 'n':
            p.limit = atol(optarg);
            break;
        case O_TENANT:
            tenant = optarg;
            break;
        case O_PREFIX:
            prefix = optarg;
            break;
        case O_BEGIN:
            from_beginning = true;
            break;
        case O_JSON:
            p.json = true;
            break;
        case O_IDLE:
            idle = atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            rd_kafka_conf_destroy(ko.conf);
            return 0;
        default:
            usage(stderr);
            goto usage_fail;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (ro.redis_addr || (ro.config_path && !ko.bootstrap[0])) {
        rd_kafka_conf_destroy(ko.conf);
        if (!tenant) {
            fprintf(stderr, "gapwatch alerts: the Redis stream needs --tenant\n");
            return 2;
        }
        if (cli_check_id("alerts", "tenant", tenant) != 0)
            return 2;
        return tail_stream(&p, &ro, tenant, prefix, from_beginning, idle);
    }
    if (!ko.bootstrap[0]) {
        fprintf(stderr, "gapwatch alerts: give -b BROKERS, -F FILE or -r HOST:PORT\n");
        goto usage_fail;
    }
    return tail_topic(&p, ko.conf, ko.bootstrap, ko.topic, from_beginning, idle, timeout_ms);
usage_fail:
    rd_kafka_conf_destroy(ko.conf);
    return 2;
}
