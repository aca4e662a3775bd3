/*
 * gw_metrics: the daemon's own counters, and (gw_metrics_server_*) their
 * Prometheus text exposition on /metrics with /healthz and /readyz.
 *
 * Ownership: gw_metrics_t belongs to the daemon's context; the view is the caller's.
 *   gw_metrics_render returns a malloc'ed buffer the caller frees, or hands to
 *   gw_metrics_server_publish, which takes it over (and copies `reason`); the server owns its
 *   libmicrohttpd daemon and buffers.
 * Errors: gw_metrics_render returns NULL on OOM; gw_metrics_server_start returns NULL with
 *   `errstr`; gw_process_stats_read returns -1 when /proc cannot be read.
 * Threads: gw_metrics_t is written by the loop's thread, except alertmanager_posts and
 *   alertmanager_failures, which gw_alertmanager's thread increments atomically and
 *   gw_metrics_render loads atomically. gw_metrics_render and gw_process_stats_read run on the
 *   loop; the server's answers run on libmicrohttpd's own
 *   thread and share with the loop only the published text and readiness, under the server's mutex.
 *   No file-scope mutable state.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_alerts.h"
#include "gw_decode.h"
#include "gw_window.h"

#define GW_BATCH_BUCKETS   8
#define GW_LATENCY_BUCKETS 12

typedef struct {
    uint64_t consumed;                       /* data messages read */
    uint64_t fetch_wakes;                    /* librdkafka fetcher woken (seeks) */
    uint64_t valid;                          /* decoded and valid */
    uint64_t availability_records;           /* valid availability records (never counted) */
    uint64_t dead_lettered[GW_REASON_COUNT]; /* by reason */
    uint64_t late[GW_WINDOWS_MAX];           /* events too late, per window */
    uint64_t batches;
    uint64_t batch_size_le[GW_BATCH_BUCKETS]; /* histogram of messages per batch */
    uint64_t batch_size_sum;
    uint64_t redis_commands;
    uint64_t redis_failures;                       /* failed batch applications (retried) */
    uint64_t redis_outage_ms;                      /* time batches waited for Redis to come back */
    uint64_t redis_stalled_batches;                /* batches waiting for Redis now (gauge) */
    int redis_data_loss;                           /* 1 once Redis lost gapwatch's data (gauge) */
    uint64_t redis_rebuilds;                       /* recounts after a data loss (policy rebuild) */
    uint64_t redis_latency_le[GW_LATENCY_BUCKETS]; /* histogram of apply round trips */
    double redis_latency_sum_s;
    uint64_t redis_latency_count;
    uint64_t deltas_applied;
    uint64_t deltas_skipped; /* already applied: redelivered after a crash or rebalance */
    uint64_t deltas_redone;  /* re-sent with only newer events */
    uint64_t evaluations;    /* rep evaluations (all windows of a rep count once) */
    uint64_t evaluation_failures;
    uint64_t alerts_decided[GW_ALERT_KINDS][2]; /* by kind; [0] firing, [1] resolved */
    uint64_t alerts_delivered;
    uint64_t alert_flaps; /* episodes opened within GW_ALERT_FLAP_SPAN_MS of a RESOLVED */
    uint64_t alert_delivery_failures;
    uint64_t alert_failures; /* evaluations whose alert state could not be recorded */
    uint64_t alert_cas_lost; /* another instance decided first */
    uint64_t alertmanager_posts;
    uint64_t alertmanager_failures;
    uint64_t config_reloads[2];    /* SIGHUP reloads: [0] applied, [1] refused */
    int config_last_reload_ok;     /* 1 unless the last reload was refused (gauge) */
    int64_t config_last_reload_ms; /* wall clock of the last applied reload, 0: none */
} gw_metrics_t;

/* Upper bounds of the batch size histogram buckets (messages). */
extern const double gw_metrics_batch_bounds[GW_BATCH_BUCKETS];
/* Upper bounds of the Redis latency histogram buckets (seconds). */
extern const double gw_metrics_latency_bounds[GW_LATENCY_BUCKETS];

/* Adds one observation to a histogram of `n` buckets with `bounds`. */
void gw_metrics_observe(uint64_t *le, const double *bounds, int n, double value);

/* What librdkafka's statistics say (the consumer's statistics callback,
 * every statistics.interval.ms, on the loop's thread) plus the producer's
 * queue read at rendering. */
#define GW_KAFKA_BROKERS_MAX 32

typedef struct {
    char name[128];   /* librdkafka's "host:port/nodeid" */
    char state[24];   /* UP, DOWN, CONNECT, ... */
    double rtt_avg_s; /* request round trip over the last interval, -1 unknown */
    double rtt_p99_s;
} gw_kafka_broker_stats_t;

typedef struct {
    bool known; /* a statistics callback arrived */
    int nbrokers;
    gw_kafka_broker_stats_t brokers[GW_KAFKA_BROKERS_MAX];
    int64_t fetch_queue_messages;    /* sum of fetchq_cnt over the assigned partitions */
    int64_t fetch_queue_bytes;       /* sum of fetchq_size */
    int64_t rebalances;              /* cgrp.rebalance_cnt, -1 unknown */
    int64_t assignment_size;         /* cgrp.assignment_size, -1 unknown */
    int64_t producer_queue_messages; /* rd_kafka_outq_len of the producer */
    int64_t producer_queue_max;      /* queue.buffering.max.messages, -1 unknown */
} gw_kafka_stats_t;

/* The process, read from /proc (Prometheus' process_* conventions). */
typedef struct {
    bool known;
    double cpu_seconds; /* user + system */
    double resident_bytes;
    double virtual_bytes;
    double open_fds;
    double max_fds;      /* soft RLIMIT_NOFILE */
    double start_time_s; /* Unix time */
} gw_process_stats_t;

/* Reads /proc/self/stat, /proc/self/fd, /proc/stat (btime) and the fd
 * limit. Returns 0, or -1 when /proc cannot be read (`out->known` false). */
int gw_process_stats_read(gw_process_stats_t *out);

/* State read off the other modules when rendering (the loop fills it). */
typedef struct {
    const char *version;
    const char *const *window_names; /* per configured window */
    int nwindows;
    int partitions_assigned;
    int32_t npartitions;             /* entries in the arrays below */
    const int8_t *assigned;          /* per partition: 1 if assigned */
    const int64_t *lag;              /* per partition, -1 unknown */
    const int64_t *stream_ms;        /* per partition, -1 unknown */
    int64_t evaluation_watermark_ms; /* -1 unknown */
    uint64_t reps_known;
    int redis_up;
    int kafka_up;                 /* a broker connection is up */
    const uint64_t *offsets_lost; /* per partition: offsets lost to retention */
    uint64_t alerts_in_flight;
    const gw_kafka_stats_t *kafka;     /* NULL: not rendered */
    const gw_process_stats_t *process; /* NULL: not rendered */
    /* The group's lag on every partition of the event topic, whoever owns
     * it (gw_group_lag); group_npartitions -1 when not read yet. */
    int32_t group_npartitions;
    const int64_t *group_lag; /* per partition, -1 unknown */
} gw_metrics_view_t;

/*
 * Renders every metric in the Prometheus text format (0.0.4) into a
 * malloc'ed NUL-terminated buffer (caller frees; *len set). NULL on OOM.
 * Metric names and labels are listed in docs/metrics.md.
 */
char *gw_metrics_render(const gw_metrics_t *m, const gw_metrics_view_t *view, size_t *len);

/*
 * The HTTP endpoint (libmicrohttpd, its own thread): /metrics serves the
 * last text published by the loop, /healthz answers 200 while the loop
 * published within the last 30 s (503 when it stalls), /readyz answers 200
 * while the loop says it is ready (partitions assigned, Redis reachable),
 * 503 with the reason otherwise. The loop never blocks on the server and
 * the server never touches the loop's state: it only swaps buffers under a
 * mutex.
 */
typedef struct gw_metrics_server_s gw_metrics_server_t;

/* Listens on "host:port". NULL with `errstr` on failure. */
gw_metrics_server_t *gw_metrics_server_start(const char *listen, char *errstr, size_t errstr_size);

/* Publishes a rendered text (taken over; freed by the server) and the
 * readiness (reason: NULL when ready). */
void gw_metrics_server_publish(gw_metrics_server_t *srv, char *text, size_t len, bool ready,
                               const char *not_ready_reason);

/* Stops the server and frees. Accepts NULL. */
void gw_metrics_server_stop(gw_metrics_server_t *srv);

#endif
