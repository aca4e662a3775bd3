/*
 * gw_decode: protobuf-c unpack into a per-message arena, then the rules.
 * The order of the checks fixes which reason wins when an event breaks
 * several rules: identity first (event, tenant, rep, team), then time, kind,
 * amounts and free text.
 */
#include "gw_decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gapwatch/v1/event.pb-c.h"
#include "gw_arena.h"

#define GW_TEXT_MAX 512

struct gw_decoder_s {
    const gw_config_t *cfg;
    gw_arena_t *arena;
};

#define MAX_PLANNED_MS (366LL * 86400000) /* availability records ahead, time off length */

static const char *const reason_names[GW_REASON_COUNT] = {
    [GW_REASON_OK] = "ok",
    [GW_REASON_DECODE] = "decode_error",
    [GW_REASON_EVENT_ID] = "invalid_event_id",
    [GW_REASON_TENANT_ID] = "invalid_tenant_id",
    [GW_REASON_REP_ID] = "invalid_rep_id",
    [GW_REASON_TEAM_ID] = "invalid_team_id",
    [GW_REASON_OCCURRED_AT] = "invalid_occurred_at",
    [GW_REASON_FUTURE] = "occurred_at_in_future",
    [GW_REASON_KIND] = "invalid_kind",
    [GW_REASON_CUSTOM_KIND] = "invalid_custom_kind",
    [GW_REASON_AMOUNT] = "invalid_amount",
    [GW_REASON_CURRENCY] = "invalid_currency",
    [GW_REASON_CHANNEL] = "invalid_channel",
    [GW_REASON_TEXT] = "invalid_text",
    [GW_REASON_AVAILABILITY] = "invalid_availability",
    [GW_REASON_TOO_LARGE] = "too_large",
};

const char *gw_reason_str(gw_reason_t reason)
{
    if ((int)reason < 0 || reason >= GW_REASON_COUNT)
        return "unknown";
    return reason_names[reason];
}

gw_decoder_t *gw_decoder_new(const gw_config_t *cfg)
{
    gw_decoder_t *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->cfg = cfg;
    d->arena = gw_arena_new(8192);
    if (!d->arena) {
        free(d);
        return NULL;
    }
    return d;
}

void gw_decoder_free(gw_decoder_t *d)
{
    if (!d)
        return;
    gw_arena_free(d->arena);
    free(d);
}

/* Writes at most 40 bytes of `s` with non-printable bytes as \xNN. */
static void escape(char *out, size_t size, const char *s, size_t len)
{
    size_t o = 0;
    size_t shown = len > 40 ? 40 : len;
    for (size_t i = 0; i < shown && o + 5 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
    }
    if (shown < len && o + 4 < size) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o < size ? o : size - 1] = '\0';
}

/* Validates an ID field; `optional` IDs may be empty. Its length goes to
 * `*lenp`. */
static int check_id(const char *field, const char *v, bool optional, size_t *lenp, char *detail,
                    size_t dsize)
{
    size_t len = v ? strlen(v) : 0;
    *lenp = len;
    if (len == 0) {
        if (optional)
            return 0;
        snprintf(detail, dsize, "%s is missing", field);
        return -1;
    }
    size_t bad;
    if (gw_keys_id_valid(v, len, &bad))
        return 0;
    char shown[200];
    escape(shown, sizeof(shown), v, len);
    if (len > GW_ID_MAX)
        snprintf(detail, dsize, "%s is %zu bytes, at most %d allowed (\"%s\")", field, len,
                 GW_ID_MAX, shown);
    else
        snprintf(detail, dsize,
                 "%s \"%s\" has byte 0x%02x at offset %zu; allowed are A-Z a-z 0-9 . _ @ -", field,
                 shown, (unsigned char)v[bad], bad);
    return -1;
}

static bool utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= len)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

/* Validates a free-text field of at most `max` bytes; its length goes to
 * `*lenp`. */
static int check_text(const char *field, const char *v, size_t max, size_t *lenp, char *detail,
                      size_t dsize)
{
    size_t len = v ? strlen(v) : 0;
    *lenp = len;
    if (len > max) {
        snprintf(detail, dsize, "%s is %zu bytes, at most %zu allowed", field, len, max);
        return -1;
    }
    if (len && !utf8_valid((const unsigned char *)v, len)) {
        snprintf(detail, dsize, "%s is not valid UTF-8", field);
        return -1;
    }
    return 0;
}

/* The rules of availability records (and of their fields on events). */
static gw_reason_t check_availability(const Gapwatch__V1__Event *m, gw_avail_kind_t avail,
                                      size_t *idlen, char *detail, size_t dsize)
{
    if (!avail) {
        snprintf(detail, dsize, "%s is set but kind %d is not an availability record",
                 m->ends_at_ms ? "ends_at_ms" : "record_id", (int)m->kind);
        return GW_REASON_AVAILABILITY;
    }
    if (avail == GW_AVAIL_TIME_OFF) {
        if (m->ends_at_ms <= m->occurred_at_ms) {
            snprintf(detail, dsize,
                     "TIME_OFF ends_at_ms %lld is not after occurred_at_ms %lld (the time off "
                     "is [occurred_at_ms, ends_at_ms))",
                     (long long)m->ends_at_ms, (long long)m->occurred_at_ms);
            return GW_REASON_AVAILABILITY;
        }
        if (m->ends_at_ms - m->occurred_at_ms > MAX_PLANNED_MS) {
            snprintf(detail, dsize, "TIME_OFF lasts %lld days, at most 366 allowed",
                     (long long)((m->ends_at_ms - m->occurred_at_ms) / 86400000));
            return GW_REASON_AVAILABILITY;
        }
    } else if (m->ends_at_ms != 0) {
        snprintf(detail, dsize, "ends_at_ms is set but the record is not a TIME_OFF");
        return GW_REASON_AVAILABILITY;
    }
    if (m->record_id && m->record_id[0]) {
        if (avail != GW_AVAIL_TIME_OFF && avail != GW_AVAIL_CANCELLED) {
            snprintf(detail, dsize,
                     "record_id is set but the record is not a TIME_OFF or "
                     "TIME_OFF_CANCELLED");
            return GW_REASON_AVAILABILITY;
        }
        if (check_id("record_id", m->record_id, false, idlen, detail, dsize))
            return GW_REASON_AVAILABILITY;
    }
    return GW_REASON_OK;
}

static gw_reason_t validate(gw_decoder_t *d, const Gapwatch__V1__Event *m, int64_t now_ms,
                            gw_event_t *out, char *detail, size_t dsize)
{
    const gw_kinds_t *kinds = &d->cfg->kinds;
    size_t elen = m->event_id ? strlen(m->event_id) : 0;
    if (elen == 0) {
        snprintf(detail, dsize, "event_id is missing");
        return GW_REASON_EVENT_ID;
    }
    if (elen > GW_ID_MAX) {
        snprintf(detail, dsize, "event_id is %zu bytes, at most %d allowed", elen, GW_ID_MAX);
        return GW_REASON_EVENT_ID;
    }
    size_t tlen, rlen, mlen;
    if (check_id("tenant_id", m->tenant_id, true, &tlen, detail, dsize))
        return GW_REASON_TENANT_ID;
    if (check_id("rep_id", m->rep_id, false, &rlen, detail, dsize))
        return GW_REASON_REP_ID;
    if (check_id("team_id", m->team_id, false, &mlen, detail, dsize))
        return GW_REASON_TEAM_ID;
    if (m->occurred_at_ms == 0) {
        snprintf(detail, dsize, "occurred_at_ms is missing");
        return GW_REASON_OCCURRED_AT;
    }
    if (m->occurred_at_ms < 0) {
        snprintf(detail, dsize, "occurred_at_ms is negative (%lld)", (long long)m->occurred_at_ms);
        return GW_REASON_OCCURRED_AT;
    }
    /* Availability records may lie ahead (planned time off), a year at most. */
    int kind = (int)m->kind;
    gw_avail_kind_t avail =
        kind >= GAPWATCH__V1__KIND__TIME_OFF && kind <= GAPWATCH__V1__KIND__TEAM_CHANGED
            ? (gw_avail_kind_t)(kind - GAPWATCH__V1__KIND__TIME_OFF + 1)
            : GW_AVAIL_NONE;
    int64_t max_future = avail ? MAX_PLANNED_MS : d->cfg->validation.max_future_ms;
    if (m->occurred_at_ms > now_ms + max_future) {
        snprintf(detail, dsize,
                 "occurred_at_ms %lld is %lld s ahead of the clock, at most %lld s allowed",
                 (long long)m->occurred_at_ms, (long long)((m->occurred_at_ms - now_ms) / 1000),
                 (long long)(max_future / 1000));
        return GW_REASON_FUTURE;
    }
    size_t idlen = 0;
    if (avail || m->ends_at_ms != 0 || (m->record_id && m->record_id[0])) {
        gw_reason_t r = check_availability(m, avail, &idlen, detail, dsize);
        if (r != GW_REASON_OK)
            return r;
    }
    size_t clen = m->custom_kind ? strlen(m->custom_kind) : 0;
    if (kind == GW_KIND_PROTO_CUSTOM) {
        int k = clen ? gw_kind_custom(kinds, m->custom_kind, clen) : -1;
        if (k < 0) {
            char shown[200];
            escape(shown, sizeof(shown), m->custom_kind ? m->custom_kind : "", clen);
            if (clen)
                snprintf(detail, dsize, "custom_kind \"%s\" is not declared in custom_kinds",
                         shown);
            else
                snprintf(detail, dsize, "kind is CUSTOM but custom_kind is missing");
            return GW_REASON_CUSTOM_KIND;
        }
        kind = k;
    } else if (avail) {
        kind = 0; /* not counted */
    } else if (kind < 1 || kind > GW_KIND_BUILTIN_LAST) {
        if (kind == 0)
            snprintf(detail, dsize, "kind is missing (KIND_UNSPECIFIED)");
        else
            snprintf(detail, dsize, "kind %d is not a gapwatch.v1.Kind", kind);
        return GW_REASON_KIND;
    } else if (clen) {
        snprintf(detail, dsize, "custom_kind is set but kind is %s, not CUSTOM",
                 gw_kind_name(kinds, kind));
        return GW_REASON_CUSTOM_KIND;
    }
    if (m->amount_minor < 0) {
        snprintf(detail, dsize, "amount_minor is negative (%lld)", (long long)m->amount_minor);
        return GW_REASON_AMOUNT;
    }
    size_t curlen = m->currency ? strlen(m->currency) : 0;
    if (curlen) {
        bool ok = curlen == 3;
        for (size_t i = 0; ok && i < 3; i++)
            ok = m->currency[i] >= 'A' && m->currency[i] <= 'Z';
        if (!ok) {
            char shown[200];
            escape(shown, sizeof(shown), m->currency, curlen);
            snprintf(detail, dsize, "currency \"%s\" is not an ISO 4217 code (three letters A-Z)",
                     shown);
            return GW_REASON_CURRENCY;
        }
    }
    if ((int)m->channel < 0 || (int)m->channel > GAPWATCH__V1__CHANNEL__VIDEO) {
        snprintf(detail, dsize, "channel %d is not a gapwatch.v1.Channel", (int)m->channel);
        return GW_REASON_CHANNEL;
    }
    size_t glen, nlen, olen, slen;
    if (check_text("goal", m->goal, GW_TEXT_MAX, &glen, detail, dsize) ||
        check_text("next_step", m->next_step, GW_TEXT_MAX, &nlen, detail, dsize) ||
        check_text("opportunity_id", m->opportunity_id, GW_ID_MAX, &olen, detail, dsize) ||
        check_text("source", m->source, GW_ID_MAX, &slen, detail, dsize))
        return GW_REASON_TEXT;

    /* Every length was checked against its field's size above: copies, not
     * printf (four per event were 7% of the daemon's CPU). */
    memcpy(out->event_id, m->event_id, elen + 1);
    if (tlen)
        memcpy(out->tenant, m->tenant_id, tlen + 1);
    else
        memcpy(out->tenant, "default", sizeof("default"));
    memcpy(out->rep, m->rep_id, rlen + 1);
    memcpy(out->team, m->team_id, mlen + 1);
    out->occurred_at_ms = m->occurred_at_ms;
    out->kind = kind;
    out->amount_minor = m->amount_minor;
    memcpy(out->currency, curlen ? m->currency : "", curlen + 1);
    out->duration_s = m->duration_s;
    out->channel = (int)m->channel;
    out->has_goal = glen > 0;
    out->has_next_step = nlen > 0;
    memcpy(out->opportunity_id, olen ? m->opportunity_id : "", olen + 1);
    out->avail = avail;
    out->ends_at_ms = avail == GW_AVAIL_TIME_OFF ? m->ends_at_ms : 0;
    if (idlen)
        memcpy(out->record_id, m->record_id, idlen + 1);
    else
        memcpy(out->record_id, out->event_id, elen + 1);
    return GW_REASON_OK;
}

gw_reason_t gw_decoder_decode(gw_decoder_t *d, const void *buf, size_t len, int64_t now_ms,
                              gw_event_t *out, char *detail, size_t detail_size)
{
    detail[0] = '\0';
    gw_arena_reset(d->arena);
    ProtobufCAllocator *alloc = gw_arena_protobuf(d->arena);
    Gapwatch__V1__Event *m = gapwatch__v1__event__unpack(alloc, len, buf);
    if (!m) {
        snprintf(detail, detail_size, "payload of %zu bytes is not a gapwatch.v1.Event protobuf",
                 len);
        return GW_REASON_DECODE;
    }
    /* No free_unpacked: the arena owns the message and the next decode's
     * reset reclaims it. The call would walk every field to free nothing
     * (2-4% of the daemon's CPU). */
    return validate(d, m, now_ms, out, detail, detail_size);
}
