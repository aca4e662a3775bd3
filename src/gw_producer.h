/*
 * gw_producer: the daemon's Kafka producer (dead-letter topic, alerts).
 *
 * Idempotent, acks=all, and message.timeout.ms=0 by default: librdkafka
 * retries a message for as long as the process lives, so a broker that is
 * down for a while delays delivery but loses nothing. Delivery reports are
 * checked: a failure (only a fatal error can cause one with an unlimited
 * timeout) is logged and counted.
 *
 * Ownership: gw_producer_new borrows `cfg` for the call and copies `client_id`; gw_producer_send
 *   copies the key and payload and takes over `headers`; `msg_opaque` is handed back to the
 *   listener. The conf of gw_producer_conf_new belongs to the caller; gw_producer_handle is
 *   borrowed.
 * Errors: NULL, or -1, with a sentence in `errstr`; gw_producer_last_error gives the librdkafka
 *   code of the last failed send. Failed deliveries are logged here and reported to the
 *   listener, which counts them.
 * Threads: The loop only. Delivery and error callbacks run on the caller's thread inside
 *   gw_producer_poll, _flush and a blocked _send; librdkafka logs from its own threads through
 *   gw_log.
 */
#ifndef GW_PRODUCER_H
#define GW_PRODUCER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_config.h"

typedef struct gw_producer_s gw_producer_t;

/* The producer's librdkafka configuration (the user's properties over our
 * defaults: idempotent, acks=all, no message timeout), leaving out the
 * pass-through property `skip` (NULL: none); no callbacks, no client.id.
 * NULL with `errstr`. The caller owns the result. A gw_kafka_conf_fn, for
 * gw_kafka_check (--check-config). */
rd_kafka_conf_t *gw_producer_conf_new(const gw_config_t *cfg, const char *skip, char *errstr,
                                      size_t errstr_size);

/* Creates a producer with the config's Kafka settings (borrowed). NULL with a
 * sentence in `errstr` on failure. Free with gw_producer_free(). */
gw_producer_t *gw_producer_new(const gw_config_t *cfg, const char *client_id, char *errstr,
                               size_t errstr_size);

/* Flushes for at most `flush_ms`, then frees. Accepts NULL. */
void gw_producer_free(gw_producer_t *p, int flush_ms);

/*
 * Produces one message (payload and key copied; `headers` taken over even on
 * failure, may be NULL). `timestamp_ms` 0 means now. `msg_opaque` (may be
 * NULL) is handed to the delivery listener with the outcome. Blocks while
 * the local queue is full (serving delivery reports). Returns 0, or -1 with
 * `errstr` (the listener is then not called for this message).
 */
int gw_producer_send(gw_producer_t *p, const char *topic, const void *key, size_t key_len,
                     const void *payload, size_t len, rd_kafka_headers_t *headers,
                     int64_t timestamp_ms, void *msg_opaque, char *errstr, size_t errstr_size);

/* Called from delivery reports (on the loop's thread, inside poll/flush) for
 * every message sent with a non-NULL msg_opaque. */
typedef void (*gw_delivery_fn)(void *ctx, void *msg_opaque, rd_kafka_resp_err_t err);

void gw_producer_set_listener(gw_producer_t *p, gw_delivery_fn fn, void *ctx);

/* Called from the delivery report of every message to a routed topic (on
 * the loop's thread, inside poll/flush); `m` is borrowed for the call. */
typedef void (*gw_delivery_msg_fn)(void *ctx, const rd_kafka_message_t *m);

/* Routes the delivery reports of messages to `topic` (copied) to `fn`
 * instead of the listener above, whatever their msg_opaque: the pipeline
 * checks its dead letters apart from the alerts that share this producer.
 * `fn` NULL removes the route. Returns 0, or -1 on OOM. */
int gw_producer_set_topic_listener(gw_producer_t *p, const char *topic, gw_delivery_msg_fn fn,
                                   void *ctx);

/* The librdkafka error of the last gw_producer_send() that failed, so a
 * caller can tell "Message size too large" from a fatal state. */
rd_kafka_resp_err_t gw_producer_last_error(const gw_producer_t *p);

/* Serves delivery reports for at most `timeout_ms`. */
void gw_producer_poll(gw_producer_t *p, int timeout_ms);

/* Waits up to `timeout_ms` until nothing is in flight. Returns 0 when all
 * were delivered (or failed and were counted), -1 on timeout. */
int gw_producer_flush(gw_producer_t *p, int timeout_ms);

/* Messages produced and not yet reported. */
size_t gw_producer_in_flight(const gw_producer_t *p);

/* The librdkafka handle (borrowed). */
rd_kafka_t *gw_producer_handle(gw_producer_t *p);

#endif
