/*
 * gapwatchd: consumes sales events from Kafka, keeps per-rep and per-team
 * window counters in Redis, and (see README.md) diagnoses reps who miss
 * their objective.
 *
 * This file is the wiring: options, signals, the loop and the shutdown
 * order (stop consuming, drain Redis, commit offsets, flush the producer,
 * close the consumer, free). Signal handlers only set a flag.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_alerter.h"
#include "gw_config.h"
#include "gw_consumer.h"
#include "gw_evaluator.h"
#include "gw_kafka.h"
#include "gw_log.h"
#include "gw_metrics.h"
#include "gw_pipeline.h"
#include "gw_producer.h"
#include "gw_store.h"
#include "gw_time.h"

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: gapwatchd [-c FILE] [--log-level LEVEL]\n"
                 "       gapwatchd --check-config FILE\n"
                 "\n"
                 "  -c, --config FILE        YAML configuration (default: embedded defaults,\n"
                 "                           Kafka 127.0.0.1:9092, Redis 127.0.0.1:6379)\n"
                 "      --check-config FILE  validate FILE, print every error with its line, exit\n"
                 "      --log-level LEVEL    debug, info, warn or error (overrides the file)\n"
                 "  -V, --version            print the version\n"
                 "  -h, --help               this help\n"
                 "\n"
                 "Signals: SIGTERM or SIGINT finish the batch in hand, commit and exit 0.\n");
}

typedef struct {
    gw_config_t *cfg;
    gw_store_t *store;       /* evaluation, alerts, assignments */
    gw_store_t *apply_store; /* the pipeline's own connection */
    gw_producer_t *producer;
    gw_consumer_t *consumer;
    gw_pipeline_t *pipeline;
    gw_evaluator_t *evaluator;
    gw_alerter_t *alerter;
    gw_metrics_server_t *http;
    gw_metrics_t metrics;
    /* scratch for the metrics view, sized to the partitions seen */
    int8_t *v_assigned;
    int64_t *v_lag, *v_stream;
    int32_t v_cap;
} daemon_t;

/* Renders the metrics and hands them to the HTTP thread with the
 * readiness: ready when partitions are assigned and Redis answers. */
static void publish_metrics(daemon_t *d)
{
    if (!d->http)
        return;
    const gw_config_t *cfg = d->cfg;
    d->metrics.fetch_wakes = gw_consumer_fetch_wakes(d->consumer);
    int32_t n = gw_consumer_partition_count(d->consumer);
    if (n > d->v_cap) {
        int8_t *a = realloc(d->v_assigned, (size_t)n);
        if (a)
            d->v_assigned = a;
        int64_t *l = realloc(d->v_lag, (size_t)n * sizeof(int64_t));
        if (l)
            d->v_lag = l;
        int64_t *s = realloc(d->v_stream, (size_t)n * sizeof(int64_t));
        if (s)
            d->v_stream = s;
        if (!a || !l || !s)
            return;
        d->v_cap = n;
    }
    int assigned = 0;
    for (int32_t p = 0; p < n; p++) {
        const gw_partition_state_t *st = gw_consumer_partition(d->consumer, p);
        d->v_assigned[p] = st->assigned;
        d->v_lag[p] = st->lag;
        d->v_stream[p] = st->stream_ms;
        assigned += st->assigned;
    }
    const char *names[GW_WINDOWS_MAX];
    for (int w = 0; w < cfg->nwindows; w++)
        names[w] = cfg->windows[w].name;
    bool redis_up = gw_store_connected(d->store) && gw_store_connected(d->apply_store);
    gw_metrics_view_t view = {GW_VERSION,
                              names,
                              cfg->nwindows,
                              assigned,
                              n,
                              d->v_assigned,
                              d->v_lag,
                              d->v_stream,
                              gw_evaluator_watermark(d->evaluator),
                              gw_evaluator_known_reps(d->evaluator),
                              redis_up,
                              gw_alerter_in_flight(d->alerter)};
    size_t len = 0;
    char *text = gw_metrics_render(&d->metrics, &view, &len);
    const char *reason = NULL;
    if (!redis_up)
        reason = "redis unreachable";
    else if (assigned == 0)
        reason = "no partitions assigned";
    gw_metrics_server_publish(d->http, text, len, reason == NULL, reason);
}

static void daemon_free(daemon_t *d)
{
    gw_metrics_server_stop(d->http);
    free(d->v_assigned);
    free(d->v_lag);
    free(d->v_stream);
    gw_evaluator_free(d->evaluator);
    gw_pipeline_free(d->pipeline);
    if (d->consumer) {
        gw_consumer_commit(d->consumer, true);
        gw_consumer_free(d->consumer);
    }
    /* Deliver what is in flight, then record the confirmations (an alert
     * left unconfirmed is sent again at the next start). */
    if (d->producer && gw_producer_flush(d->producer, 10000) != 0)
        gw_log_warn("messages still in flight at shutdown", "in_flight=%zu",
                    gw_producer_in_flight(d->producer));
    if (d->alerter)
        gw_alerter_poll(d->alerter);
    gw_alerter_free(d->alerter);
    gw_producer_free(d->producer, 0);
    gw_store_free(d->apply_store);
    gw_store_free(d->store);
    gw_config_free(d->cfg);
}

static int check_config(const char *path)
{
    gw_config_t *cfg = NULL;
    static char err[16384];
    if (gw_config_load_file(path, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* What librdkafka checks only when a client is created (SASL, TLS
     * files, conflicting settings): create both, connecting nowhere. */
    int bad = 0;
    if (gw_kafka_check(cfg, GW_KAFKA_CONSUMER, gw_consumer_conf_new, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        bad = 1;
    }
    if (gw_kafka_check(cfg, GW_KAFKA_PRODUCER, gw_producer_conf_new, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        bad = 1;
    }
    if (bad) {
        gw_config_free(cfg);
        return 1;
    }
    printf("%s: ok (%d windows, %d custom kinds)\n", path, cfg->nwindows, cfg->kinds.ncustom);
    gw_config_free(cfg);
    return 0;
}

static int run(daemon_t *d)
{
    char err[1024];
    const gw_config_t *cfg = d->cfg;
    d->store = gw_store_new(cfg);
    d->apply_store = gw_store_new(cfg);
    if (!d->store || !d->apply_store) {
        gw_log_error("out of memory", NULL);
        return 1;
    }
    if (gw_store_connect(d->store, err, sizeof(err)) != GW_STORE_OK ||
        gw_store_connect(d->apply_store, err, sizeof(err)) != GW_STORE_OK)
        gw_log_warn("redis not reachable yet; will keep trying", "err=\"%s\"", err);
    d->producer = gw_producer_new(cfg, "gapwatchd-producer", err, sizeof(err));
    if (!d->producer) {
        gw_log_error("cannot start", "err=\"%s\"", err);
        return 1;
    }
    d->consumer = gw_consumer_new(cfg, d->store, err, sizeof(err));
    if (!d->consumer) {
        gw_log_error("cannot start", "err=\"%s\"", err);
        return 1;
    }
    d->pipeline = gw_pipeline_new(cfg, d->consumer, d->producer, d->apply_store, &d->metrics);
    d->evaluator = gw_evaluator_new(cfg, d->store, d->consumer, &d->metrics);
    if (!d->pipeline || !d->evaluator) {
        gw_log_error("out of memory", NULL);
        return 1;
    }
    d->alerter = gw_alerter_new(cfg, d->store, d->producer, &d->metrics, err, sizeof(err));
    if (!d->alerter) {
        gw_log_error("cannot start", "err=\"%s\"", err);
        return 1;
    }
    gw_evaluator_set_listener(d->evaluator, gw_alerter_observe, gw_alerter_flush, d->alerter);
    if (cfg->metrics.listen && *cfg->metrics.listen) {
        d->http = gw_metrics_server_start(cfg->metrics.listen, err, sizeof(err));
        if (!d->http) {
            gw_log_error("cannot start", "err=\"%s\"", err);
            return 1;
        }
        gw_log_info("serving /metrics, /healthz, /readyz", "listen=%s", cfg->metrics.listen);
    }
    gw_log_info("gapwatchd started",
                "config=%s bootstrap=%s group=%s topic=%s redis=%s:%d prefix=%s windows=%d "
                "playbooks=%d",
                cfg->source, cfg->kafka.bootstrap_servers, cfg->kafka.group_id,
                cfg->kafka.topic_events,
                cfg->redis.unix_socket && *cfg->redis.unix_socket ? cfg->redis.unix_socket
                                                                  : cfg->redis.host,
                cfg->redis.port, cfg->key_prefix, cfg->nwindows, cfg->nplaybooks);
    int64_t last_commit = gw_mono_ms(), last_publish = 0;
    while (!stop_requested) {
        long n = gw_pipeline_step(d->pipeline, 100, &stop_requested);
        if (n < 0 && !stop_requested) {
            gw_log_error("batch failed; stopping", NULL);
            return 1;
        }
        if (n > 0)
            gw_evaluator_note_batch(d->evaluator, gw_pipeline_last_batch(d->pipeline));
        /* Evaluation shares the loop: a bounded slice per turn keeps the
         * consumer polling during a sweep over many reps. */
        gw_evaluator_tick(d->evaluator, 50);
        gw_producer_poll(d->producer, 0);
        gw_alerter_poll(d->alerter);
        if (gw_mono_ms() - last_commit >= cfg->consumer.commit_interval_ms) {
            gw_consumer_commit(d->consumer, false);
            last_commit = gw_mono_ms();
        }
        if (gw_mono_ms() - last_publish >= 1000) {
            publish_metrics(d);
            last_publish = gw_mono_ms();
        }
    }
    /* The batch in flight is finished (or, when Redis is down, left to be
     * consumed again at the next start). */
    if (gw_pipeline_drain(d->pipeline, &stop_requested) > 0)
        gw_evaluator_note_batch(d->evaluator, gw_pipeline_last_batch(d->pipeline));
    uint64_t dead = 0, late = 0;
    for (int r = 0; r < GW_REASON_COUNT; r++)
        dead += d->metrics.dead_lettered[r];
    for (int w = 0; w < cfg->nwindows; w++)
        late += d->metrics.late[w];
    gw_log_info("gapwatchd stopping",
                "consumed=%llu valid=%llu dead_lettered=%llu late_window_drops=%llu batches=%llu "
                "fetch_wakes=%llu",
                (unsigned long long)d->metrics.consumed, (unsigned long long)d->metrics.valid,
                (unsigned long long)dead, (unsigned long long)late,
                (unsigned long long)d->metrics.batches,
                (unsigned long long)gw_consumer_fetch_wakes(d->consumer));
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 'C'},
        {"log-level", required_argument, NULL, 'L'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    const char *level = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'C':
            return check_config(optarg);
        case 'L':
            level = optarg;
            break;
        case 'V':
            printf("gapwatchd %s\n", GW_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gapwatchd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    daemon_t d;
    memset(&d, 0, sizeof(d));
    static char err[16384];
    if (config_path) {
        if (gw_config_load_file(config_path, &d.cfg, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    } else {
        d.cfg = gw_config_defaults();
        if (!d.cfg) {
            fprintf(stderr, "gapwatchd: out of memory\n");
            return 1;
        }
    }
    gw_log_set_level(d.cfg->log_level);
    if (level) {
        gw_log_level_t l;
        if (gw_log_level_parse(level, &l) != 0) {
            fprintf(stderr, "gapwatchd: --log-level %s is not debug, info, warn or error\n", level);
            gw_config_free(d.cfg);
            return 2;
        }
        gw_log_set_level(l);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = run(&d);
    daemon_free(&d);
    if (rc == 0)
        gw_log_info("gapwatchd stopped", NULL);
    return rc;
}
