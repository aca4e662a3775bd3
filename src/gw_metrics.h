/*
 * gw_metrics: the daemon's own counters, and (gw_metrics_server_*) their
 * Prometheus text exposition on /metrics with /healthz and /readyz.
 *
 * gw_metrics_t is a plain struct of counters owned by the daemon's context
 * and updated by the loop's modules; nothing here is atomic because only
 * the loop's thread writes it (the HTTP server renders a snapshot the loop
 * hands over).
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdint.h>

#include "gw_alerts.h"
#include "gw_decode.h"
#include "gw_window.h"

#define GW_BATCH_BUCKETS   8
#define GW_LATENCY_BUCKETS 12

typedef struct {
    uint64_t consumed;                       /* data messages read */
    uint64_t valid;                          /* decoded and valid */
    uint64_t dead_lettered[GW_REASON_COUNT]; /* by reason */
    uint64_t late[GW_WINDOWS_MAX];           /* events too late, per window */
    uint64_t batches;
    uint64_t batch_size_le[GW_BATCH_BUCKETS]; /* histogram of messages per batch */
    uint64_t batch_size_sum;
    uint64_t redis_commands;
    uint64_t redis_failures;                       /* failed batch applications (retried) */
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
    uint64_t alert_delivery_failures;
    uint64_t alert_failures; /* evaluations whose alert state could not be recorded */
    uint64_t alert_cas_lost; /* another instance decided first */
    uint64_t alertmanager_posts;
    uint64_t alertmanager_failures;
} gw_metrics_t;

/* Upper bounds of the batch size histogram buckets (messages). */
extern const double gw_metrics_batch_bounds[GW_BATCH_BUCKETS];
/* Upper bounds of the Redis latency histogram buckets (seconds). */
extern const double gw_metrics_latency_bounds[GW_LATENCY_BUCKETS];

/* Adds one observation to a histogram of `n` buckets with `bounds`. */
void gw_metrics_observe(uint64_t *le, const double *bounds, int n, double value);

#endif
