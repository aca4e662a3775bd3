/*
 * gw_decode: turns one Kafka message payload into a validated gw_event_t, or
 * says exactly why it cannot (the dead-letter reason and a detail sentence).
 *
 * Every rule of DESIGN.md's wire table is checked here and nowhere else. The
 * decoder unpacks protobuf into its own arena (reset per message) and copies
 * what the pipeline needs into the caller's gw_event_t, so nothing is
 * allocated per message once warm and nothing points into freed memory.
 *
 * Ownership: gw_decoder_new borrows `cfg` for the decoder's life; the decoder owns its arena.
 *   gw_decoder_decode borrows `buf` for the call and writes copies into the caller's gw_event_t and
 *   `detail`.
 * Errors: gw_decoder_new returns NULL on OOM. gw_decoder_decode returns GW_REASON_OK, or the reason
 *   with a sentence in `detail`; running out of memory while unpacking is reported as
 *   GW_REASON_DECODE.
 * Threads: One thread per decoder (the arena is reset per message); gw_reason_str is pure. No
 *   shared state.
 */
#ifndef GW_DECODE_H
#define GW_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_config.h"
#include "gw_keys.h"

typedef enum {
    GW_REASON_OK = 0,
    GW_REASON_DECODE,       /* "decode_error": not a gapwatch.v1.Event */
    GW_REASON_EVENT_ID,     /* "invalid_event_id": missing or over 64 bytes */
    GW_REASON_TENANT_ID,    /* "invalid_tenant_id" */
    GW_REASON_REP_ID,       /* "invalid_rep_id" */
    GW_REASON_TEAM_ID,      /* "invalid_team_id" */
    GW_REASON_OCCURRED_AT,  /* "invalid_occurred_at": missing or negative */
    GW_REASON_FUTURE,       /* "occurred_at_in_future": beyond validation.max_future */
    GW_REASON_KIND,         /* "invalid_kind": unspecified or not a Kind */
    GW_REASON_CUSTOM_KIND,  /* "invalid_custom_kind": undeclared, or set without CUSTOM */
    GW_REASON_AMOUNT,       /* "invalid_amount": negative */
    GW_REASON_CURRENCY,     /* "invalid_currency": not three letters A-Z */
    GW_REASON_CHANNEL,      /* "invalid_channel": not a Channel */
    GW_REASON_TEXT,         /* "invalid_text": free text too long or not UTF-8 */
    GW_REASON_AVAILABILITY, /* "invalid_availability": an availability record's interval
                             * or record_id, or ends_at_ms on an event */
    GW_REASON_TOO_LARGE,    /* "too_large": the dead-letter topic refused the message
                             * itself; its record carries coordinates and a SHA-256
                             * (set by the pipeline, never by the decoder) */
    GW_REASON_COUNT
} gw_reason_t;

/* Stable snake_case name of a reason (the DLQ header and metrics label). */
const char *gw_reason_str(gw_reason_t reason);

/* What an availability record says (docs/calendars.md); GW_AVAIL_NONE for
 * an event that counts. */
typedef enum {
    GW_AVAIL_NONE = 0,
    GW_AVAIL_TIME_OFF,  /* away [occurred_at_ms, ends_at_ms), named record_id */
    GW_AVAIL_CANCELLED, /* the time off named record_id is cancelled */
    GW_AVAIL_JOINED,    /* joined at occurred_at_ms */
    GW_AVAIL_LEFT,      /* left at occurred_at_ms */
    GW_AVAIL_TEAM,      /* in team from occurred_at_ms on */
} gw_avail_kind_t;

/* A validated event. IDs are NUL-terminated copies. */
typedef struct {
    char event_id[GW_ID_MAX + 1];
    char tenant[GW_ID_MAX + 1];
    char rep[GW_ID_MAX + 1];
    char team[GW_ID_MAX + 1];
    int64_t occurred_at_ms;
    int kind; /* gw_kinds.h numbering: built-in or custom */
    int64_t amount_minor;
    char currency[4];
    uint32_t duration_s;
    int channel; /* proto Channel value, 0 when unspecified */
    bool has_goal;
    bool has_next_step;
    char opportunity_id[GW_ID_MAX + 1];
    gw_avail_kind_t avail;         /* an availability record: kind is 0, nothing counts */
    int64_t ends_at_ms;            /* GW_AVAIL_TIME_OFF */
    char record_id[GW_ID_MAX + 1]; /* GW_AVAIL_TIME_OFF and _CANCELLED: record_id or event_id */
} gw_event_t;

typedef struct gw_decoder_s gw_decoder_t;

/* Creates a decoder for the kinds and limits of `cfg` (borrowed: must outlive
 * the decoder). NULL on OOM. Free with gw_decoder_free(). */
gw_decoder_t *gw_decoder_new(const gw_config_t *cfg);

/* Accepts NULL. */
void gw_decoder_free(gw_decoder_t *dec);

/*
 * Decodes and validates `len` bytes at `buf` (borrowed). `now_ms` is the wall
 * clock for the future-timestamp rule. Returns GW_REASON_OK and fills *out,
 * or another reason with a sentence naming the field and what is wrong in
 * `detail` (always NUL-terminated; values are escaped and truncated).
 */
gw_reason_t gw_decoder_decode(gw_decoder_t *dec, const void *buf, size_t len, int64_t now_ms,
                              gw_event_t *out, char *detail, size_t detail_size);

#endif
