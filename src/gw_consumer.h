/*
 * gw_consumer: the librdkafka high-level consumer of the event topic.
 *
 * - cooperative-sticky assignment; at assignment, each partition starts at
 *   the position recorded in Redis (gw_store_positions_read) and its stream
 *   time is restored with it, so replay after a crash recomputes the same
 *   stream times and the same late decisions;
 * - manual offset store (enable.auto.offset.store=false): the pipeline
 *   stores offsets only after Redis acknowledged a batch, and librdkafka's
 *   auto-commit commits what was stored (every consumer.commit_interval,
 *   never while the group rejoins; for revoked partitions and at close).
 *   gapwatch never commits by hand: before librdkafka 2.10 a commit during
 *   a cooperative rebalance fails with ILLEGAL_GENERATION and loses the
 *   whole assignment (see required[] in gw_consumer.c);
 * - batches are filled with rd_kafka_consumer_poll(): 2.0.2's batch APIs
 *   can skip offsets around pause/resume (fixed in 2.1.0), and the pipeline
 *   pauses partitions while Redis is down.
 *
 * - retention gaps: when a partition's log start (low watermark) is past
 *   the next offset to read (Redis' position at assignment, or the last
 *   message read), the range is logged, counted (offsets_lost), recorded
 *   in Redis (gw_store_record_gap) and consumption goes on from the log
 *   start, never seeking back into the deleted range.
 *
 * Per-partition state (assigned, stream time, idle since) is kept here and
 * read by the pipeline and the sweep.
 *
 * Ownership: gw_consumer_new borrows `cfg` and `store` for the consumer's life. Messages returned
 *   by gw_consumer_poll belong to the caller (rd_kafka_message_destroy). Pointers returned by
 *   gw_consumer_partition and gw_consumer_kafka_stats are borrowed and valid until the next
 *   gw_consumer_poll (the partition table may grow during a rebalance).
 * Errors: gw_consumer_new returns NULL with a sentence in `errstr`; gw_consumer_committed and
 *   gw_consumer_log_starts return -1 with `errstr`. Errors librdkafka reports while polling are
 *   logged and counted, never returned.
 * Threads: The loop only. The rebalance, error and statistics callbacks run on the loop's thread
 *   inside gw_consumer_poll (the main queue is forwarded to the consumer queue); only librdkafka's
 *   log callback runs on its internal threads, through gw_log, which is thread-safe. No state
 *   outside the object.
 */
#ifndef GW_CONSUMER_H
#define GW_CONSUMER_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_config.h"
#include "gw_metrics.h"
#include "gw_store.h"

typedef struct {
    bool assigned;
    uint32_t epoch;             /* changes on every assign and revoke */
    int64_t stream_ms;          /* newest valid event time read and applied, -1 unknown */
    int64_t next_offset;        /* offset after the last applied message, -1 unknown */
    int64_t caught_up_since_ms; /* wall clock of reaching the end, 0 while behind */
    int64_t lag;                /* messages behind the high watermark, -1 unknown */
    int64_t consumed_next;      /* offset after the last message polled, -1 unknown */
    uint64_t offsets_lost;      /* offsets retention deleted before they were read */
} gw_partition_state_t;

typedef struct gw_consumer_s gw_consumer_t;

/*
 * Creates the consumer and subscribes to cfg->kafka.topic_events. `cfg` and
 * `store` are borrowed (store is used at assignment to seed positions). NULL
 * with a sentence in `errstr` on a configuration error.
 */
/* The consumer's librdkafka configuration (the user's properties over our
 * defaults, the properties the pipeline needs, group.id), leaving out the
 * pass-through property `skip` (NULL: none); no callbacks. NULL with
 * `errstr`. The caller owns the result. A gw_kafka_conf_fn, for
 * gw_kafka_check (--check-config). */
rd_kafka_conf_t *gw_consumer_conf_new(const gw_config_t *cfg, const char *skip, char *errstr,
                                      size_t errstr_size);

gw_consumer_t *gw_consumer_new(const gw_config_t *cfg, gw_store_t *store, char *errstr,
                               size_t errstr_size);

/* Leaves the group (rd_kafka_consumer_close) and frees. Accepts NULL.
 * With librdkafka < 2.3.0 and a sticky assignor, a member that never got
 * an assignment first polls up to 10 s for one, and if none came is closed
 * but not destroyed (librdkafka issue 4312: see gw_consumer.c). */
void gw_consumer_free(gw_consumer_t *c);

/*
 * Fills `msgs` with up to `max` data messages: waits up to `wait_ms` for the
 * first, then keeps filling for at most `fill_ms` more. End-of-partition and
 * error events are handled here, never returned. Each returned message must
 * be destroyed with rd_kafka_message_destroy() by the caller.
 */
size_t gw_consumer_poll(gw_consumer_t *c, rd_kafka_message_t **msgs, size_t max, int wait_ms,
                        int64_t fill_ms);

/* Pauses / resumes every assigned partition (fetching stops while paused;
 * keep calling gw_consumer_poll so the group keeps the member). */
void gw_consumer_pause(gw_consumer_t *c);
void gw_consumer_resume(gw_consumer_t *c);
bool gw_consumer_paused(const gw_consumer_t *c);

/* How often the fetcher was woken because the queue ran dry while the
 * broker had more (see gw_consumer.c). */
uint64_t gw_consumer_fetch_wakes(const gw_consumer_t *c);

/* Records that `partition` is applied up to `next_offset` - 1 with stream
 * time `stream_ms`: stores the offset for the next commit. */
void gw_consumer_applied(gw_consumer_t *c, int32_t partition, int64_t next_offset,
                         int64_t stream_ms);

/* State of `partition`, or NULL if it was never seen. */
const gw_partition_state_t *gw_consumer_partition(const gw_consumer_t *c, int32_t partition);

/* One past the highest partition number seen. */
int32_t gw_consumer_partition_count(const gw_consumer_t *c);

/* Number of partitions currently assigned. */
int gw_consumer_assigned(const gw_consumer_t *c);

/* Updates the lag of a partition (from the statistics callback). */
void gw_consumer_set_lag(gw_consumer_t *c, int32_t partition, int64_t lag);

/* What the last statistics callback said (brokers, fetch queue, rebalances,
 * assignment size); `known` false before the first. Borrowed; changes at
 * each gw_consumer_poll. */
const gw_kafka_stats_t *gw_consumer_kafka_stats(const gw_consumer_t *c);

/* False when librdkafka reports no broker connection up (all brokers down
 * error, or no broker in state UP in the last statistics). */
bool gw_consumer_kafka_up(const gw_consumer_t *c);

/*
 * Reads the group's committed offsets of every partition of the event topic
 * (blocking, up to `timeout_ms`). Returns how many partitions have one (>=
 * 0; `summary` gets "<partition>:<offset>,..." truncated to its size), or
 * -1 with a sentence in `errstr`.
 */
int gw_consumer_committed(gw_consumer_t *c, char *summary, size_t summary_size, int timeout_ms,
                          char *errstr, size_t errstr_size);

/*
 * Low watermarks (log start offsets) of every partition of the event topic,
 * and whether each partition still holds messages with timestamps at or
 * before `since_ms`. Fills `lo` and `covers` (arrays of `max`); returns the
 * partition count, or -1 with `errstr`. Blocking, for the rebuild.
 */
int gw_consumer_log_starts(gw_consumer_t *c, int64_t since_ms, int64_t *lo, bool *covers,
                           int32_t max, char *errstr, size_t errstr_size);

/* The librdkafka handle (borrowed), for statistics and tests. */
rd_kafka_t *gw_consumer_handle(gw_consumer_t *c);

#endif
