/*
 * gw_alert_store: the alert layout in Redis, typed. Per rep and window (or
 * period kind) the alert lifecycle state "<prefix>:{T:R}:alerts:<W>"
 * (changed only by compare-and-set, src/lua/alerts.lua), per tenant the
 * stream of delivered alerts "<prefix>:alerts:{T}", and per running
 * alerter its liveness key "<prefix>:alerter:<id>". Every key comes from
 * gw_keys; the commands go through the gw_redis transport of a gw_store,
 * whose connection it shares.
 *
 * The CLI (gapwatch alerts) tails a tenant's stream with
 * gw_alert_store_read_stream(), which works on a reader store
 * (gw_store_set_read_only: XREAD is +@read); its keys are under the
 * config's key_prefix, which the CLI may override before it creates the
 * alert store.
 *
 * Ownership: gw_alert_store_new() borrows the config and the store (both
 * must outlive it); free it with gw_alert_store_free(). Payloads loaded
 * into a gw_alert_record_t are malloc'ed and freed with
 * gw_alert_record_clear(). Strings a read hands its callback are borrowed
 * for that call.
 *
 * Errors: GW_STORE_OK, GW_STORE_DOWN (no connection; dropped) or
 * GW_STORE_ERROR (Redis refused a command, or a key too long), with a
 * sentence in the caller's `errstr`. Every call but
 * gw_alert_store_queue_delivered() reads all its replies before it
 * returns (or drops the connection); call them with nothing else queued on
 * the shared connection (the replies are matched to requests by their
 * order).
 *
 * Threads: the thread that owns the gw_store (the evaluator's, on the
 * loop; the CLI's main thread).
 */
#ifndef GW_ALERT_STORE_H
#define GW_ALERT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_alerts.h"
#include "gw_config.h"
#include "gw_store.h"

/* Where one alert state lives: rep `tenant`:`rep`, window or period kind
 * `window`. Strings borrowed. */
typedef struct {
    const char *tenant, *rep, *window;
} gw_alert_ref_t;

#define GW_ALERT_SENDER_MAX 24

/* One alert state as stored (fields of src/lua/alerts.lua). */
typedef struct {
    uint64_t version;
    gw_alert_state_t st[GW_ALERT_KINDS];
    char sender[GW_ALERT_KINDS][GW_ALERT_SENDER_MAX]; /* who decided the stored message */
    uint8_t *payload[GW_ALERT_KINDS]; /* the stored message (malloc'ed), NULL none */
    size_t payload_len[GW_ALERT_KINDS];
} gw_alert_record_t;

/* Frees the payloads of `rec` (the struct itself is the caller's). */
void gw_alert_record_clear(gw_alert_record_t *rec);

/* A compare-and-set of one alert state. */
typedef struct {
    gw_alert_ref_t ref;
    uint64_t version;           /* the version read: the write wins only if it is still it */
    const gw_alert_state_t *st; /* GW_ALERT_KINDS states; those of `kinds` are written */
    unsigned kinds;             /* bit k: kind k is enabled */
    const uint8_t *fresh[GW_ALERT_KINDS]; /* per kind, the message decided now (NULL: none) */
    size_t fresh_len[GW_ALERT_KINDS];
    const char *sender; /* this alerter's id, written with each fresh message */
    int64_t ttl_ms;     /* the state expires this long after the write */
} gw_alert_save_t;

typedef struct gw_alert_store_s gw_alert_store_t;

/* NULL on OOM. Both arguments borrowed. */
gw_alert_store_t *gw_alert_store_new(const gw_config_t *cfg, gw_store_t *store);

/* Accepts NULL. */
void gw_alert_store_free(gw_alert_store_t *as);

/* Reads the `n` states of `refs` into `recs[i]` (cleared first; a missing
 * state reads as all zero), in one round trip. */
int gw_alert_store_load(gw_alert_store_t *as, const gw_alert_ref_t *refs,
                        gw_alert_record_t *const *recs, size_t n, char *errstr, size_t errstr_size);

/* Writes the `n` states by compare-and-set, in one round trip; won[i] says
 * whether save i was written (false also when Redis refused it: then the
 * return is GW_STORE_ERROR, after every reply was read). */
int gw_alert_store_save(gw_alert_store_t *as, const gw_alert_save_t *saves, size_t n, bool *won,
                        char *errstr, size_t errstr_size);

/* Whether the alerters `ids[0..n)` are alive (their key exists), in one
 * round trip. A refused check reads as alive (never a second copy on
 * doubt). */
int gw_alert_store_senders_alive(gw_alert_store_t *as, const char *const *ids, size_t n,
                                 bool *alive, char *errstr, size_t errstr_size);

/* Keeps alerter `id` alive for `ttl_ms` (SET PX). */
int gw_alert_store_keep_alive(gw_alert_store_t *as, const char *id, int64_t ttl_ms, char *errstr,
                              size_t errstr_size);

/* Queues the record that message `msgno` of kind `kind` of `ref` was
 * delivered (unless a newer one was decided since), and, when `json` is
 * not NULL, its entry in the tenant's stream (capped at
 * alerting.stream_max_length). Arguments copied. Call
 * gw_alert_store_flush() before any other function. */
int gw_alert_store_queue_delivered(gw_alert_store_t *as, const gw_alert_ref_t *ref,
                                   gw_alert_kind_t kind, uint64_t msgno, const char *json,
                                   char *errstr, size_t errstr_size);

/* Size of a stream entry id buffer for gw_alert_store_read_stream(). */
#define GW_ALERT_STREAM_ID_MAX 64

/* Callback of gw_alert_store_read_stream(): one field of the entry `id`
 * (JSON of the alert in field "alert"). Return non-zero to stop the read
 * at this entry (its other fields are skipped). */
typedef int (*gw_alert_entry_fn)(void *ctx, const char *id, const char *field, const char *value);

/* Reads the entries of the alert stream of `tenant` (gw_keys_alert_stream)
 * that come after entry `last_id` ("0": from the oldest, "$": only those
 * added from now on), waiting up to `block_ms` (0: until one comes) when
 * there are none yet, and calls `fn` per field of each, in order.
 * `last_id` is a buffer of GW_ALERT_STREAM_ID_MAX bytes, updated to the
 * last entry handed to `fn`, so the next call continues after it. "$" is
 * replaced by the stream's newest entry id ("0-0" for an empty stream) at
 * the first call, so that an entry added between two calls is not missed.
 * A stream Redis does not hold reads as GW_STORE_OK with no calls once
 * `block_ms` has passed. */
int gw_alert_store_read_stream(gw_alert_store_t *as, const char *tenant, char *last_id,
                               int block_ms, gw_alert_entry_fn fn, void *ctx, char *errstr,
                               size_t errstr_size);

/* Waits for the replies of what was queued. */
int gw_alert_store_flush(gw_alert_store_t *as, char *errstr, size_t errstr_size);

#endif
