/*
 * gw_pipeline: batches from Kafka to Redis, effectively once.
 *
 *   poll a batch -> decode and validate each message (bad ones to the
 *   dead-letter topic) -> coalesce per entity -> apply in Redis (retry with
 *   backoff, partitions paused, while Redis is down; re-send the newer
 *   events of entities whose offsets straddle the batch) -> wait for the
 *   dead-letter deliveries -> record positions in Redis -> store offsets
 *   for Kafka's commit.
 *
 * While one batch is being applied in Redis the next one is polled and
 * decoded (two batches at most, applied in order). The pipeline needs a
 * store of its own: nothing else may use that connection.
 *
 * Messages a batch holds are destroyed by the pipeline. The deltas of the
 * batch a step completed stay readable (gw_pipeline_last_batch) until the
 * next step, so the detector can evaluate the reps a batch touched.
 *
 * Ownership: gw_pipeline_new borrows all its arguments for the pipeline's life; the pipeline
 *   destroys the Kafka messages of its batches. gw_pipeline_last_batch and the sentence of
 *   gw_pipeline_data_lost are borrowed until the next step.
 * Errors: gw_pipeline_new returns NULL on OOM; gw_pipeline_step and gw_pipeline_drain return -1 as
 *   said above. Redis outages are retried, not returned; a data loss is reported by
 *   gw_pipeline_data_lost.
 * Threads: The loop only; the pipeline uses its consumer, producer and store on the caller's
 *   thread, and its delivery listeners run there, inside gw_producer_poll and _flush.
 */
#ifndef GW_PIPELINE_H
#define GW_PIPELINE_H

#include <signal.h>
#include <stddef.h>

#include "gw_coalesce.h"
#include "gw_config.h"
#include "gw_consumer.h"
#include "gw_metrics.h"
#include "gw_producer.h"
#include "gw_store.h"

typedef struct gw_pipeline_s gw_pipeline_t;

/* All arguments are borrowed and must outlive the pipeline. NULL on OOM. */
gw_pipeline_t *gw_pipeline_new(const gw_config_t *cfg, gw_consumer_t *consumer,
                               gw_producer_t *producer, gw_store_t *store, gw_metrics_t *metrics);

/* Accepts NULL. */
void gw_pipeline_free(gw_pipeline_t *pl);

/*
 * Polls the next batch (waiting up to `wait_ms` for a first message when no
 * batch is in flight) while moving the batch in flight on, completes the
 * batch in flight, and starts applying the new one. During a Redis outage
 * it never blocks longer than `wait_ms` (plus one attempt bounded by
 * redis.command_timeout): the batch waits, retried with backoff at later
 * steps, partitions paused. Returns the number of messages of the batch it
 * completed (0 when none), or -1 on out of memory or when stopped while
 * waiting for dead-letter deliveries.
 */
long gw_pipeline_step(gw_pipeline_t *pl, int wait_ms, volatile sig_atomic_t *stop);

/* Completes the batch in flight, if any (at shutdown), with one attempt.
 * Returns as gw_pipeline_step, or -1 when Redis did not take it (nothing
 * of it was recorded as done; it is consumed again after a restart). */
long gw_pipeline_drain(gw_pipeline_t *pl, volatile sig_atomic_t *stop);

/* True when Redis lost gapwatch's data (GW_STORE_LOST from the store, or
 * gw_pipeline_halt): nothing is applied any more, the partitions stay
 * paused and polled. `*why` (may be NULL) gets a borrowed sentence. */
bool gw_pipeline_data_lost(const gw_pipeline_t *pl, const char **why);

/* Stops applying for good (data loss found elsewhere). `why` is copied. */
void gw_pipeline_halt(gw_pipeline_t *pl, const char *why);

/* True when every message read so far is applied to Redis (no batch in
 * flight, waiting or held). */
bool gw_pipeline_applied_all(const gw_pipeline_t *pl);

/* True while the batch in flight waits for Redis to come back (the step
 * returns at once then, so the loop keeps turning; partitions paused). */
bool gw_pipeline_stalled(const gw_pipeline_t *pl);

/* The deltas of the batch the last step (or drain) completed, NULL when it
 * completed none; valid until the next step. */
const gw_coalesce_t *gw_pipeline_last_batch(const gw_pipeline_t *pl);

#endif
