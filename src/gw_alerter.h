/*
 * gw_alerter: the alert state (dedup) and the alert publisher boxes of the
 * architecture. Listens to the evaluator; per rep and window it reads the
 * alert state from Redis, steps each kind's lifecycle (gw_alerts), writes
 * the new state by compare-and-set, and only the writer that won publishes:
 *
 *   - to Kafka (alerting topic, key = rep, idempotent producer with
 *     unlimited retries; delivery reports are checked);
 *   - once the broker took it: to the tenant's capped Redis stream, and the
 *     state records the message as delivered;
 *   - optionally to Prometheus Alertmanager's v2 API, where firing alerts
 *     are re-posted at every evaluation, as Alertmanager expects; the POST
 *     runs on gw_alertmanager's own thread, never on the loop.
 *
 * A decided message whose delivery was never confirmed (the daemon died
 * with it in flight) is sent again at the rep's next evaluation once its
 * sender's key in Redis expired (10 s; the sender itself re-sends after a
 * failed delivery); nothing confirmed is sent twice, by this or another
 * instance, and no instance re-sends what a living one still delivers.
 * The only duplicate possible is a message confirmed by the broker whose
 * confirmation was not yet recorded when the process died (milliseconds);
 * consumers can drop repeats of (alert_id, starts_at_ms, sequence, state)
 * — starts_at_ms because a FIRING after a RESOLVED starts again at
 * sequence 1.
 *
 * Ownership: gw_alerter_new() borrows the config, the store, the producer
 * and the metrics (all must outlive it) and owns its gw_alert_store and
 * gw_alertmanager sender; evaluations given to gw_alerter_observe() are
 * borrowed for the call.
 * Errors: gw_alerter_new() returns NULL with `errstr`; afterwards errors are
 * logged and counted (gapwatch_alert_failures_total); a failed evaluation
 * is repeated at the rep's next evaluation.
 * Threads: not thread-safe: the loop owns it. Its Alertmanager sender posts
 * on a thread of its own (gw_alertmanager.h); the producer's delivery
 * reports reach it on the loop, from gw_producer_poll().
 */
#ifndef GW_ALERTER_H
#define GW_ALERTER_H

#include <stddef.h>

#include "gw_config.h"
#include "gw_evaluator.h"
#include "gw_metrics.h"
#include "gw_producer.h"
#include "gw_store.h"

typedef struct gw_alerter_s gw_alerter_t;

/* All arguments borrowed. Registers itself as the producer's delivery
 * listener. NULL with `errstr` on failure. */
gw_alerter_t *gw_alerter_new(const gw_config_t *cfg, gw_store_t *store, gw_producer_t *producer,
                             gw_metrics_t *metrics, char *errstr, size_t errstr_size);

/* Accepts NULL. Call gw_alerter_poll() after flushing the producer first, so
 * confirmed deliveries are recorded. */
void gw_alerter_free(gw_alerter_t *al);

/* Re-reads the alerting policy (fire_after, resolve_after, repeat_interval)
 * from the config it was created with, after a reload changed it. Main
 * thread. */
void gw_alerter_reconfigure(gw_alerter_t *al);

/* What the evaluator decided for one rep (its listener): kept until the
 * chunk's flush. */
void gw_alerter_observe(gw_alerter_t *al, const gw_evaluation_t *evaluation);

/* At the end of a chunk of evaluations: reads the state, steps, writes by
 * compare-and-set, publishes (the evaluator's chunk-done hook). */
void gw_alerter_flush(gw_alerter_t *al);

/* Records confirmed deliveries (state, stream). Call from the loop. */
void gw_alerter_poll(gw_alerter_t *al);

/* Alert messages produced and not yet confirmed. */
size_t gw_alerter_in_flight(const gw_alerter_t *al);

#endif
