/*
 * gw_group_lag: the consumer group's lag on every partition of the event
 * topic, whoever owns the partition (another instance, nobody at all), as
 * Kafka's own tools compute it: high watermark minus the group's committed
 * offset (minus the log start when the group never committed there).
 *
 * A thread of its own with a librdkafka handle of its own (same group.id,
 * never subscribed, so it never joins the group): every `interval_ms` it
 * reads the topic's metadata, rd_kafka_committed() for all partitions and
 * each partition's watermarks, with short timeouts. Nothing of it runs on
 * the consume loop, which only copies the last result.
 *
 * Ownership: gw_group_lag_start borrows `cfg` for the call only and owns its librdkafka handle, its
 *   thread and the result table; gw_group_lag_read copies into the caller's array.
 * Errors: gw_group_lag_start returns NULL with a sentence in `errstr`; a failed read is logged (at
 *   most once a minute) and the last figures stay; gw_group_lag_read returns -1 until a read
 *   succeeded.
 * Threads: gw_group_lag_read may be called from any thread (the result is swapped under the
 *   object's mutex); _start and _stop from the thread that owns the object. The lag thread touches
 *   only its handle and the result; librdkafka logs from its own threads through gw_log.
 */
#ifndef GW_GROUP_LAG_H
#define GW_GROUP_LAG_H

#include <stddef.h>
#include <stdint.h>

#include "gw_config.h"

typedef struct gw_group_lag_s gw_group_lag_t;

/* Starts the thread. `cfg` is borrowed for the handle's creation only.
 * NULL with a sentence in `errstr` when the client or the thread cannot be
 * created. Free with gw_group_lag_stop. */
gw_group_lag_t *gw_group_lag_start(const gw_config_t *cfg, int64_t interval_ms, char *errstr,
                                   size_t errstr_size);

/*
 * Copies the last result into `lag` (up to `max` partitions; -1 where
 * unknown). Returns the partition count copied, or -1 before the first
 * successful read. Any thread.
 */
int32_t gw_group_lag_read(gw_group_lag_t *g, int64_t *lag, int32_t max);

/* Stops the thread, destroys the handle, frees. Accepts NULL. */
void gw_group_lag_stop(gw_group_lag_t *g);

#endif
