/*
 * gw_window: window validation and duration strings. The arithmetic itself
 * is inline in the header so the hot path and the Lua script's mirror of it
 * stay short enough to compare by eye.
 */
#include "gw_window.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gw_window_init(gw_window_t *w, const char *name, int64_t length_ms, int64_t bucket_ms,
                   int64_t grace_ms, char *errstr, size_t errstr_size)
{
    size_t len = strlen(name);
    if (len == 0 || len > GW_WINDOW_NAME_MAX) {
        snprintf(errstr, errstr_size, "window name must be 1-%d characters", GW_WINDOW_NAME_MAX);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isalnum((unsigned char)name[i]) && name[i] != '_') {
            snprintf(errstr, errstr_size, "window name \"%s\" may only hold [A-Za-z0-9_]", name);
            return -1;
        }
    }
    if (length_ms <= 0 || bucket_ms <= 0) {
        snprintf(errstr, errstr_size, "window %s: length and bucket must be positive", name);
        return -1;
    }
    if (length_ms % bucket_ms != 0) {
        snprintf(errstr, errstr_size, "window %s: length must be a whole number of buckets", name);
        return -1;
    }
    if (length_ms / bucket_ms > GW_WINDOW_BUCKETS_MAX) {
        snprintf(errstr, errstr_size, "window %s: %lld buckets, at most %d allowed", name,
                 (long long)(length_ms / bucket_ms), GW_WINDOW_BUCKETS_MAX);
        return -1;
    }
    if (grace_ms < 0 || grace_ms > length_ms) {
        snprintf(errstr, errstr_size, "window %s: grace must be between 0 and the window length",
                 name);
        return -1;
    }
    memset(w, 0, sizeof(*w));
    memcpy(w->name, name, len);
    w->length_ms = length_ms;
    w->bucket_ms = bucket_ms;
    w->grace_ms = grace_ms;
    w->nbuckets = length_ms / bucket_ms;
    return 0;
}

static const struct {
    const char *unit;
    int64_t ms;
} units[] = {{"ms", 1},      {"s", 1000},     {"m", 60000},
             {"h", 3600000}, {"d", 86400000}, {"w", 604800000}};

int gw_duration_parse(const char *s, int64_t *out_ms, char *errstr, size_t errstr_size)
{
    const char *p = s;
    int64_t total = 0;
    if (!*p) {
        snprintf(errstr, errstr_size, "empty duration");
        return -1;
    }
    while (*p) {
        if (!isdigit((unsigned char)*p)) {
            snprintf(errstr, errstr_size,
                     "\"%s\" is not a duration (expected e.g. 500ms, 30s, 5m, 1h, 7d)", s);
            return -1;
        }
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno) {
            snprintf(errstr, errstr_size, "duration \"%s\" is out of range", s);
            return -1;
        }
        p = end;
        int64_t mult = 0;
        size_t ulen = 0;
        /* Longest unit first so "ms" is not read as "m" followed by "s". */
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t l = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, l) == 0 && l > ulen) {
                mult = units[i].ms;
                ulen = l;
            }
        }
        if (!mult) {
            snprintf(errstr, errstr_size,
                     "duration \"%s\" needs a unit after %lld (ms, s, m, h, d or w)", s, v);
            return -1;
        }
        if (v > INT64_MAX / mult || total > INT64_MAX - v * mult) {
            snprintf(errstr, errstr_size, "duration \"%s\" is out of range", s);
            return -1;
        }
        total += v * mult;
        p += ulen;
    }
    *out_ms = total;
    return 0;
}

void gw_duration_format(int64_t ms, char *buf, size_t size)
{
    for (int i = (int)(sizeof(units) / sizeof(units[0])) - 1; i >= 0; i--) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(buf, size, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    }
    snprintf(buf, size, "%lldms", (long long)ms);
}

int64_t gw_watermark(const gw_partition_time_t *p, int n, int64_t prev, int64_t now_ms,
                     int64_t idle_after_ms)
{
    int64_t behind_min = INT64_MAX, newest = -1, last_caught_up = 0;
    bool any_behind = false, any = false;
    for (int i = 0; i < n; i++) {
        if (!p[i].assigned)
            continue;
        any = true;
        if (p[i].caught_up_since_ms == 0) {
            any_behind = true;
            if (p[i].stream_ms < 0)
                return prev; /* its stream time is unknown: so is the watermark */
            if (p[i].stream_ms < behind_min)
                behind_min = p[i].stream_ms;
        } else if (p[i].caught_up_since_ms > last_caught_up) {
            last_caught_up = p[i].caught_up_since_ms;
        }
        if (p[i].stream_ms > newest)
            newest = p[i].stream_ms;
    }
    int64_t w = -1;
    if (!any)
        return prev;
    if (any_behind) {
        w = behind_min;
    } else if (newest >= 0) {
        w = newest;
        int64_t idle = now_ms - last_caught_up;
        if (idle >= idle_after_ms)
            w += idle;
    }
    return w > prev ? w : prev;
}
