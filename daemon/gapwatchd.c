/*
 * gapwatchd: consumes sales events from Kafka, keeps per-rep and per-team
 * window counters in Redis, and (see docs/diagnosis.md) diagnoses reps who miss
 * their objective.
 *
 * This file is the wiring: options, signals, the loop and the shutdown
 * order (stop consuming, drain Redis, commit offsets, flush the producer,
 * close the consumer, free). Signal handlers only set a flag.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_alerter.h"
#include "gw_config.h"
#include "gw_consumer.h"
#include "gw_evaluator.h"
#include "gw_group_lag.h"
#include "gw_kafka.h"
#include "gw_log.h"
#include "gw_metrics.h"
#include "gw_notify.h"
#include "gw_pipeline.h"
#include "gw_producer.h"
#include "gw_store.h"
#include "gw_time.h"
#include "gw_version.h"

static volatile sig_atomic_t stop_requested = 0;
static volatile sig_atomic_t reload_requested = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* SIGHUP: the main loop re-reads the config at its next turn. */
static void on_hangup(int sig)
{
    (void)sig;
    reload_requested = 1;
}

/* The evaluator's listener hooks: the alerter, typed. */
static void alerter_observe(void *ctx, const gw_evaluation_t *e)
{
    gw_alerter_observe(ctx, e);
}

static void alerter_flush(void *ctx)
{
    gw_alerter_flush(ctx);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: gapwatchd [-c FILE] [--log-level LEVEL]\n"
                 "       gapwatchd --check-config FILE [--no-secrets]\n"
                 "\n"
                 "  -c, --config FILE        YAML configuration (default: embedded defaults,\n"
                 "                           Kafka 127.0.0.1:9092, Redis 127.0.0.1:6379)\n"
                 "      --check-config FILE  validate FILE, print every error with its line, exit\n"
                 "      --no-secrets         with --check-config: do not read the Redis password\n"
                 "                           (its variable or file need not exist), e.g. in CI\n"
                 "      --log-level LEVEL    debug, info, warn or error (overrides the file)\n"
                 "  -V, --version            print the version\n"
                 "  -h, --help               this help\n"
                 "\n"
                 "Signals: SIGTERM or SIGINT finish the batch in hand, commit and exit 0.\n"
                 "SIGHUP re-reads FILE and applies log_level, log, playbooks, alerting and\n"
                 "evaluation; it refuses (and keeps the running config) when FILE is invalid\n"
                 "or changes any other key.\n");
}

typedef struct {
    gw_config_t *cfg;
    const char *config_path; /* NULL: embedded defaults */
    bool log_level_pinned;   /* --log-level given: a reload keeps it */
    gw_notify_t notify;
    gw_store_t *store;       /* evaluation, alerts, assignments */
    gw_store_t *apply_store; /* the pipeline's own connection */
    gw_producer_t *producer;
    gw_consumer_t *consumer;
    gw_pipeline_t *pipeline;
    gw_evaluator_t *evaluator;
    gw_alerter_t *alerter;
    gw_metrics_server_t *http;
    gw_group_lag_t *group_lag; /* its own thread and client; NULL when off */
    gw_metrics_t metrics;
    gw_kafka_stats_t kstats;
    gw_process_stats_t process;
    int64_t *v_group_lag; /* PARTITIONS_MAX */
    /* scratch for the metrics view, sized to the partitions seen */
    int8_t *v_assigned;
    int64_t *v_lag, *v_stream;
    uint64_t *v_lost;
    int32_t v_cap;
    /* Redis checks (docs/redis.md, "Redis requirements", "Data loss policy") */
    bool setup_checked; /* CONFIG/INFO read once Redis answered */
    bool epoch_ready;   /* the epoch is known, or Redis is a new deployment */
    bool redis_ok;      /* the last health check (epoch HGET) succeeded */
    int64_t last_health_ms;
} daemon_t;

#define PARTITIONS_MAX 4096

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
        uint64_t *lost = realloc(d->v_lost, (size_t)n * sizeof(uint64_t));
        if (lost)
            d->v_lost = lost;
        if (!a || !l || !s || !lost)
            return;
        d->v_cap = n;
    }
    int assigned = 0;
    for (int32_t p = 0; p < n; p++) {
        const gw_partition_state_t *st = gw_consumer_partition(d->consumer, p);
        d->v_assigned[p] = st->assigned;
        d->v_lag[p] = st->lag;
        d->v_stream[p] = st->stream_ms;
        d->v_lost[p] = st->offsets_lost;
        assigned += st->assigned;
    }
    const char *names[GW_WINDOWS_MAX];
    for (int w = 0; w < cfg->nwindows; w++)
        names[w] = cfg->windows[w].name;
    bool redis_up = d->redis_ok && !gw_pipeline_stalled(d->pipeline);
    bool kafka_up = gw_consumer_kafka_up(d->consumer);
    d->kstats = *gw_consumer_kafka_stats(d->consumer);
    rd_kafka_t *prk = gw_producer_handle(d->producer);
    d->kstats.producer_queue_messages = rd_kafka_outq_len(prk);
    char qmax[32];
    size_t qlen = sizeof(qmax);
    d->kstats.producer_queue_max =
        rd_kafka_conf_get(rd_kafka_conf(prk), "queue.buffering.max.messages", qmax, &qlen) ==
                RD_KAFKA_CONF_OK
            ? strtoll(qmax, NULL, 10)
            : -1;
    gw_process_stats_read(&d->process);
    int32_t group_n = -1;
    if (d->group_lag &&
        (d->v_group_lag || (d->v_group_lag = malloc(PARTITIONS_MAX * sizeof(int64_t)))))
        group_n = gw_group_lag_read(d->group_lag, d->v_group_lag, PARTITIONS_MAX);
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
                              kafka_up,
                              d->v_lost,
                              gw_alerter_in_flight(d->alerter),
                              &d->kstats,
                              &d->process,
                              group_n,
                              d->v_group_lag};
    size_t len = 0;
    char *text = gw_metrics_render(&d->metrics, &view, &len);
    const char *reason = NULL;
    if (d->metrics.redis_data_loss)
        reason = "redis lost gapwatch's data; applying stopped (see the log)";
    else if (!redis_up)
        reason = "redis unreachable";
    else if (!kafka_up)
        reason = "kafka unreachable";
    else if (assigned == 0)
        reason = "no partitions assigned";
    gw_metrics_server_publish(d->http, text, len, reason == NULL, reason);
}

static void daemon_free(daemon_t *d)
{
    gw_metrics_server_stop(d->http);
    gw_group_lag_stop(d->group_lag);
    free(d->v_group_lag);
    free(d->v_assigned);
    free(d->v_lag);
    free(d->v_stream);
    free(d->v_lost);
    gw_evaluator_free(d->evaluator);
    gw_pipeline_free(d->pipeline);
    /* Closing the consumer commits the offsets stored (librdkafka's
     * auto-commit at close; gw_consumer.c says why never by hand). */
    gw_consumer_free(d->consumer);
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

static int check_config(const char *path, unsigned flags)
{
    gw_config_t *cfg = NULL;
    static char err[16384];
    if (gw_config_load_file_flags(path, flags, &cfg, err, sizeof(err)) != 0) {
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
    printf("%s: ok (%d windows, %d custom kinds%s)\n", path, cfg->nwindows, cfg->kinds.ncustom,
           (flags & GW_CONFIG_NO_SECRETS) ? "; secrets not read" : "");
    gw_config_free(cfg);
    return 0;
}

/* What this instance had applied, for the data-loss log line. */
static void applied_positions(const daemon_t *d, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    int32_t n = d->consumer ? gw_consumer_partition_count(d->consumer) : 0;
    for (int32_t p = 0; p < n && used < size; p++) {
        const gw_partition_state_t *st = gw_consumer_partition(d->consumer, p);
        if (st->next_offset < 0)
            continue;
        int w = snprintf(out + used, size - used, "%s%d:%lld", used ? "," : "", p,
                         (long long)st->next_offset);
        if (w > 0)
            used += (size_t)w;
    }
    if (!out[0])
        snprintf(out, size, "none");
}

/* Reads maxmemory-policy and persistence once Redis answers. Returns -1
 * when gapwatch must not run on this Redis (an evicting policy). */
static int check_redis_setup(daemon_t *d)
{
    char err[512];
    gw_redis_setup_t setup;
    if (gw_store_redis_setup(d->store, &setup, err, sizeof(err)) != GW_STORE_OK)
        return 0; /* not reachable yet: checked again later */
    d->setup_checked = true;
    if (setup.maxmemory_policy[0] && strcmp(setup.maxmemory_policy, "noeviction") != 0) {
        gw_log_error("redis evicts keys: refusing to start",
                     "maxmemory_policy=%s source=\"%s\" fix=\"set maxmemory-policy noeviction "
                     "in redis.conf (and CONFIG SET maxmemory-policy noeviction): an evicted "
                     "counter or offset silently corrupts the totals\"",
                     setup.maxmemory_policy, setup.source);
        return -1;
    }
    if (!setup.maxmemory_policy[0])
        gw_log_warn("cannot tell redis' maxmemory-policy; it must be noeviction", "source=\"%s\"",
                    setup.source);
    if (setup.known_persistence && !setup.aof && !setup.rdb)
        gw_log_warn("redis has no persistence: a restart loses every counter (gapwatchd then "
                    "stops, see redis.on_data_loss)",
                    "appendonly=no save=\"\" source=\"%s\" fix=\"appendonly yes, "
                    "appendfsync everysec or always\"",
                    setup.source);
    else if (setup.known_persistence && !setup.aof)
        gw_log_warn("redis persists by snapshots only: a restart loses the writes since the last "
                    "one (gapwatchd then stops, see redis.on_data_loss)",
                    "appendonly=no source=\"%s\" fix=\"appendonly yes\"", setup.source);
    else if (!setup.known_persistence)
        gw_log_warn("cannot tell whether redis persists (AOF needed)", "source=\"%s\"",
                    setup.source);
    return 0;
}

static void data_loss(daemon_t *d, const char *why)
{
    if (d->metrics.redis_data_loss)
        return;
    char applied[1024];
    applied_positions(d, applied, sizeof(applied));
    d->metrics.redis_data_loss = 1;
    gw_log_error("redis lost gapwatch's data; applying stopped",
                 "why=\"%s\" epoch=%s applied_positions=\"%s\" policy=%s", why,
                 gw_store_epoch(d->apply_store)[0] ? gw_store_epoch(d->apply_store) : "-", applied,
                 d->cfg->redis.on_data_loss == GW_DATA_LOSS_REBUILD ? "rebuild" : "halt");
    gw_pipeline_halt(d->pipeline, why);
}

/* Decides, before anything is applied, whether this Redis is the one the
 * deployment counted in: its epoch, or positions, or (none of them) a new
 * deployment unless Kafka's group committed offsets. 1 when decided. */
static int init_epoch(daemon_t *d)
{
    char err[512], epoch[64], summary[512];
    long long npos = 0;
    if (gw_store_epoch_read(d->store, epoch, sizeof(epoch), &npos, err, sizeof(err)) != GW_STORE_OK)
        return 0;
    if (epoch[0]) {
        gw_store_set_epoch(d->store, epoch);
        gw_store_set_epoch(d->apply_store, epoch);
        gw_log_info("deployment epoch found", "epoch=%s positions=%lld", epoch, npos);
        return 1;
    }
    if (npos > 0) {
        gw_log_info("positions without an epoch (recorded before epochs); the next positions "
                    "write records one",
                    "positions=%lld", npos);
        return 1;
    }
    int n = gw_consumer_committed(d->consumer, summary, sizeof(summary), 5000, err, sizeof(err));
    if (n < 0) {
        gw_log_warn("cannot read kafka's committed offsets; retrying before consuming",
                    "err=\"%s\"", err);
        return 0;
    }
    if (n > 0) {
        char why[1024];
        snprintf(why, sizeof(why),
                 "redis holds no epoch and no positions, but group %s committed offsets %s: "
                 "the counts of those offsets are gone",
                 d->cfg->kafka.group_id, summary);
        data_loss(d, why);
        return 1;
    }
    gw_log_info("new deployment: redis holds no positions and kafka no committed offsets; the "
                "first positions write records the epoch",
                NULL);
    return 1;
}

/* Policy rebuild: forget what is left in Redis, rewind every partition to
 * its log start and count again. Exact when the topic still holds the
 * longest window plus grace. Returns -1 when it cannot go on. */
static int rebuild(daemon_t *d)
{
    const gw_config_t *cfg = d->cfg;
    char err[1024];
    gw_log_warn("rebuilding: recounting from the earliest retained offsets", NULL);
    gw_evaluator_free(d->evaluator);
    d->evaluator = NULL;
    gw_pipeline_free(d->pipeline);
    d->pipeline = NULL;
    /* Leaves the group; what it commits at close is only the fallback: the
     * rebuild writes the positions it starts from to Redis below. */
    gw_consumer_free(d->consumer);
    d->consumer = NULL;
    gw_store_free(d->apply_store);
    d->apply_store = gw_store_new(cfg);
    if (!d->apply_store)
        return -1;
    long long deleted = 0;
    while (gw_store_wipe(d->store, &deleted, err, sizeof(err)) != GW_STORE_OK) {
        gw_log_warn("cannot clear redis for the rebuild; retrying", "err=\"%s\"", err);
        if (stop_requested)
            return -1;
        gw_notify_watchdog(&d->notify, gw_mono_ms());
        gw_sleep_ms(1000);
    }
    d->consumer = gw_consumer_new(cfg, d->store, err, sizeof(err));
    if (!d->consumer) {
        gw_log_error("cannot restart the consumer", "err=\"%s\"", err);
        return -1;
    }
    int64_t longest = 0;
    for (int w = 0; w < cfg->nwindows; w++)
        if (cfg->windows[w].length_ms + cfg->windows[w].grace_ms > longest)
            longest = cfg->windows[w].length_ms + cfg->windows[w].grace_ms;
    static int64_t lo[PARTITIONS_MAX];
    static bool covers[PARTITIONS_MAX];
    int n;
    while ((n = gw_consumer_log_starts(d->consumer, gw_now_ms() - longest, lo, covers,
                                       PARTITIONS_MAX, err, sizeof(err))) < 0) {
        gw_log_warn("cannot read the log starts for the rebuild; retrying", "err=\"%s\"", err);
        if (stop_requested)
            return -1;
        gw_notify_watchdog(&d->notify, gw_mono_ms());
        gw_sleep_ms(1000);
    }
    static gw_position_t pos[PARTITIONS_MAX];
    int whole = 0;
    for (int p = 0; p < n; p++) {
        pos[p] = (gw_position_t){p, lo[p], -1};
        whole += covers[p];
        gw_log_info("rebuild start", "partition=%d offset=%lld holds_longest_window=%s", p,
                    (long long)lo[p], covers[p] ? "yes" : "no");
    }
    gw_store_set_epoch(d->store, "");
    while (gw_store_positions_write(d->store, cfg->kafka.topic_events, pos, (size_t)n, err,
                                    sizeof(err)) != GW_STORE_OK) {
        gw_log_warn("cannot record the rebuild's positions; retrying", "err=\"%s\"", err);
        if (stop_requested)
            return -1;
        gw_notify_watchdog(&d->notify, gw_mono_ms());
        gw_sleep_ms(1000);
    }
    gw_store_set_epoch(d->apply_store, gw_store_epoch(d->store));
    if (whole == n)
        gw_log_info("rebuild is exact: the topic still holds the longest window plus grace",
                    "keys_deleted=%lld partitions=%d epoch=%s longest_ms=%lld", deleted, n,
                    gw_store_epoch(d->store), (long long)longest);
    else
        gw_log_error("rebuild is not exact: retention already deleted events inside the longest "
                     "window plus grace; totals of those windows are short until it slides "
                     "past",
                     "keys_deleted=%lld partitions=%d whole=%d epoch=%s longest_ms=%lld", deleted,
                     n, whole, gw_store_epoch(d->store), (long long)longest);
    d->pipeline = gw_pipeline_new(cfg, d->consumer, d->producer, d->apply_store, &d->metrics);
    d->evaluator = gw_evaluator_new(cfg, d->store, d->consumer, &d->metrics);
    if (!d->pipeline || !d->evaluator)
        return -1;
    gw_evaluator_set_listener(d->evaluator, alerter_observe, alerter_flush, d->alerter);
    d->metrics.redis_data_loss = 0;
    d->metrics.redis_rebuilds++;
    return 0;
}

/* Once a second: Redis' configuration (until read), the epoch (the
 * health check), data loss and its policy. Returns -1 to stop. */
static int redis_tick(daemon_t *d)
{
    int64_t now = gw_mono_ms();
    if (now - d->last_health_ms < 1000)
        return 0;
    d->last_health_ms = now;
    if (!d->setup_checked && check_redis_setup(d) != 0)
        return -1;
    if (!d->epoch_ready)
        d->epoch_ready = init_epoch(d) == 1;
    char err[512];
    int rc = gw_store_epoch_check(d->store, err, sizeof(err));
    d->redis_ok = rc == GW_STORE_OK;
    if (rc == GW_STORE_LOST)
        data_loss(d, err);
    const char *why = NULL;
    if (gw_pipeline_data_lost(d->pipeline, &why))
        data_loss(d, why);
    if (d->metrics.redis_data_loss && d->cfg->redis.on_data_loss == GW_DATA_LOSS_REBUILD) {
        publish_metrics(d);
        if (rebuild(d) != 0) {
            gw_log_error("rebuild failed; stopping", NULL);
            return -1;
        }
        d->redis_ok = true;
    }
    return 0;
}

/* Copies `in` into `out` with double quotes made single, so a config
 * error fits in a quoted log value. */
static void unquote(const char *in, char *out, size_t size)
{
    size_t i = 0;
    for (; in[i] && i + 1 < size; i++)
        out[i] = in[i] == '"' ? '\'' : in[i];
    out[i] = '\0';
}

/* SIGHUP, on the main loop between two turns (the modules read the config
 * without locks): load and validate the file whole, apply the reloadable
 * parts, or refuse and keep running on the old config. */
static void reload(daemon_t *d)
{
    static char err[16384], line[1024];
    char changed[1024];
    gw_notify_reloading(&d->notify);
    gw_config_t *next = NULL;
    if (!d->config_path) {
        gw_log_error("reload refused: started on the embedded defaults, no file to re-read", NULL);
        d->metrics.config_reloads[1]++;
        d->metrics.config_last_reload_ok = 0;
        gw_notify_reloaded(&d->notify, "reload refused");
        return;
    }
    if (gw_config_load_file(d->config_path, &next, err, sizeof(err)) != 0) {
        /* one line per error, each naming the file, the line and the key */
        for (char *e = err, *nl; e && *e; e = nl ? nl + 1 : NULL) {
            nl = strchr(e, '\n');
            if (nl)
                *nl = '\0';
            unquote(e, line, sizeof(line));
            gw_log_error("reload refused: the config is invalid; running on the old one",
                         "config=%s error=\"%s\"", d->config_path, line);
        }
        d->metrics.config_reloads[1]++;
        d->metrics.config_last_reload_ok = 0;
        gw_notify_reloaded(&d->notify, "reload refused: invalid config");
        return;
    }
    if (gw_config_reload(d->cfg, next, changed, sizeof(changed), err, sizeof(err)) != 0) {
        unquote(err, line, sizeof(line));
        gw_log_error("reload refused: keys changed that need a restart; running on the old config",
                     "config=%s keys=\"%s\"", d->config_path, line);
        gw_config_free(next);
        d->metrics.config_reloads[1]++;
        d->metrics.config_last_reload_ok = 0;
        gw_notify_reloaded(&d->notify, "reload refused: restart needed");
        return;
    }
    next = NULL; /* owned by d->cfg now */
    if (!d->log_level_pinned)
        gw_log_set_level(d->cfg->log_level);
    gw_log_set_format(d->cfg->log_format);
    gw_alerter_reconfigure(d->alerter);
    d->metrics.config_reloads[0]++;
    d->metrics.config_last_reload_ok = 1;
    d->metrics.config_last_reload_ms = gw_now_ms();
    gw_log_info("config reloaded",
                "config=%s changed=\"%s\" playbooks=%d log_level=%s log_format=%s", d->config_path,
                changed[0] ? changed : "nothing", d->cfg->nplaybooks,
                gw_log_level_str(d->cfg->log_level), gw_log_format_str(d->cfg->log_format));
    gw_notify_reloaded(&d->notify, "running");
}

/* Once connected to Redis and subscribed: READY=1. Every turn: the
 * watchdog, and a pending reload. */
static void service_tick(daemon_t *d)
{
    if (!d->notify.ready && d->redis_ok && d->setup_checked && d->consumer)
        gw_notify_ready(&d->notify, "connected to redis, subscribed");
    gw_notify_watchdog(&d->notify, gw_mono_ms());
    if (reload_requested) {
        reload_requested = 0;
        reload(d);
    }
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
    gw_evaluator_set_listener(d->evaluator, alerter_observe, alerter_flush, d->alerter);
    if (cfg->metrics.listen && *cfg->metrics.listen) {
        d->http = gw_metrics_server_start(cfg->metrics.listen, err, sizeof(err));
        if (!d->http) {
            gw_log_error("cannot start", "err=\"%s\"", err);
            return 1;
        }
        gw_log_info("serving /metrics, /healthz, /readyz", "listen=%s", cfg->metrics.listen);
        if (cfg->metrics.group_lag_interval_ms > 0) {
            d->group_lag =
                gw_group_lag_start(cfg, cfg->metrics.group_lag_interval_ms, err, sizeof(err));
            if (!d->group_lag)
                gw_log_warn("no group lag metrics", "err=\"%s\"", err);
        }
    }
    gw_log_info("gapwatchd started",
                "config=%s bootstrap=%s group=%s topic=%s redis=%s:%d prefix=%s windows=%d "
                "playbooks=%d",
                cfg->source, cfg->kafka.bootstrap_servers, cfg->kafka.group_id,
                cfg->kafka.topic_events,
                cfg->redis.unix_socket && *cfg->redis.unix_socket ? cfg->redis.unix_socket
                                                                  : cfg->redis.host,
                cfg->redis.port, cfg->key_prefix, cfg->nwindows, cfg->nplaybooks);
    if (!d->setup_checked && check_redis_setup(d) != 0)
        return 1;
    d->epoch_ready = init_epoch(d) == 1;
    d->last_health_ms = gw_mono_ms();
    d->redis_ok = gw_store_connected(d->store);
    int64_t last_publish = 0;
    while (!stop_requested) {
        service_tick(d);
        if (redis_tick(d) != 0)
            return 1;
        if (!d->epoch_ready) {
            /* Nothing is consumed before the epoch is decided. */
            gw_sleep_ms(100);
            if (gw_mono_ms() - last_publish >= 1000) {
                publish_metrics(d);
                last_publish = gw_mono_ms();
            }
            continue;
        }
        long n = gw_pipeline_step(d->pipeline, 100, &stop_requested);
        if (n < 0 && !stop_requested) {
            gw_log_error("batch failed; stopping", NULL);
            return 1;
        }
        if (n > 0)
            gw_evaluator_note_batch(d->evaluator, gw_pipeline_last_batch(d->pipeline));
        /* Evaluation shares the loop: a bounded slice per turn keeps the
         * consumer polling during a sweep over many reps. Not on a Redis
         * that lost our data: its totals are wrong. */
        /* At the end of the stream, only once the last batch is applied:
         * an evaluation must not see the stream's end without its last
         * batch (mid-stream, max_lag says how far behind may be judged). */
        if (!d->metrics.redis_data_loss &&
            (gw_pipeline_applied_all(d->pipeline) || !gw_evaluator_at_end(d->evaluator)))
            gw_evaluator_tick(d->evaluator, 50);
        gw_producer_poll(d->producer, 0);
        gw_alerter_poll(d->alerter);
        if (gw_mono_ms() - last_publish >= 1000) {
            publish_metrics(d);
            last_publish = gw_mono_ms();
        }
    }
    gw_notify_stopping(&d->notify);
    /* The batch in flight is finished (or, when Redis is down, left to be
     * consumed again at the next start). */
    if (d->epoch_ready && gw_pipeline_drain(d->pipeline, &stop_requested) > 0)
        gw_evaluator_note_batch(d->evaluator, gw_pipeline_last_batch(d->pipeline));
    uint64_t dead = 0, late = 0;
    for (int r = 0; r < GW_REASON_COUNT; r++)
        dead += d->metrics.dead_lettered[r];
    for (int w = 0; w < cfg->nwindows; w++)
        late += d->metrics.late[w];
    gw_log_info("gapwatchd stopping",
                "consumed=%llu valid=%llu dead_lettered=%llu late_window_drops=%llu batches=%llu "
                "fetch_wakes=%llu redis_failures=%llu redis_outage_ms=%llu",
                (unsigned long long)d->metrics.consumed, (unsigned long long)d->metrics.valid,
                (unsigned long long)dead, (unsigned long long)late,
                (unsigned long long)d->metrics.batches,
                (unsigned long long)gw_consumer_fetch_wakes(d->consumer),
                (unsigned long long)d->metrics.redis_failures,
                (unsigned long long)d->metrics.redis_outage_ms);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 'C'},
        {"no-secrets", no_argument, NULL, 'S'},
        {"log-level", required_argument, NULL, 'L'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    const char *check_path = NULL;
    unsigned check_flags = 0;
    const char *level = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'C':
            check_path = optarg;
            break;
        case 'S':
            check_flags |= GW_CONFIG_NO_SECRETS;
            break;
        case 'L':
            level = optarg;
            break;
        case 'V':
            gw_version_print(stdout, "gapwatchd");
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

    if (check_path)
        return check_config(check_path, check_flags);
    if (check_flags) {
        fprintf(stderr, "gapwatchd: --no-secrets goes with --check-config\n");
        return 2;
    }

    /* libcurl (Alertmanager's thread) is initialised by the program, once,
     * before any thread starts, as libcurl requires. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "gapwatchd: cannot initialise libcurl\n");
        return 1;
    }
    atexit(curl_global_cleanup);
    daemon_t d;
    memset(&d, 0, sizeof(d));
    d.config_path = config_path;
    d.metrics.config_last_reload_ok = 1;
    d.metrics.config_last_reload_ms = gw_now_ms();
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
    gw_log_set_format(d.cfg->log_format);
    if (level) {
        gw_log_level_t l;
        if (gw_log_level_parse(level, &l) != 0) {
            fprintf(stderr, "gapwatchd: --log-level %s is not debug, info, warn or error\n", level);
            gw_config_free(d.cfg);
            return 2;
        }
        gw_log_set_level(l);
        d.log_level_pinned = true;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hangup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    gw_notify_init(&d.notify);
    int rc = run(&d);
    daemon_free(&d);
    if (rc == 0)
        gw_log_info("gapwatchd stopped", NULL);
    return rc;
}
