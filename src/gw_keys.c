/*
 * gw_keys: key formatting. Every function checks the fit, so a too-long key
 * is an error, never a truncated (and colliding) name.
 */
#include "gw_keys.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int fit(int n, size_t size)
{
    return n < 0 || (size_t)n >= size ? -1 : n;
}

/* Appends `s` at *pos unless it and the final NUL would not fit. */
static bool put(char *buf, size_t size, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (*pos + n >= size)
        return false;
    memcpy(buf + *pos, s, n);
    *pos += n;
    return true;
}

/* Every batch names each of its entities' keys: copies, not snprintf (which
 * cost 5% of the daemon's CPU on a live stream). */
int gw_keys_entity(char *buf, size_t size, const char *prefix, const gw_entity_t *e,
                   const char *suffix)
{
    size_t pos = 0;
    if (!put(buf, size, &pos, prefix) || !put(buf, size, &pos, ":{") ||
        !put(buf, size, &pos, e->tenant) ||
        !put(buf, size, &pos, e->kind == GW_ENTITY_TEAM ? ":team:" : ":") ||
        !put(buf, size, &pos, e->id) || !put(buf, size, &pos, "}") || !put(buf, size, &pos, suffix))
        return -1;
    buf[pos] = '\0';
    return (int)pos;
}

/* An entity's key of one window: suffix `fmt` with the window's name. */
__attribute__((format(printf, 5, 0))) static int window_key(char *buf, size_t size,
                                                            const char *prefix,
                                                            const gw_entity_t *e, const char *fmt,
                                                            const char *window)
{
    char suffix[40];
    snprintf(suffix, sizeof(suffix), fmt, window);
    return gw_keys_entity(buf, size, prefix, e, suffix);
}

int gw_keys_totals(char *buf, size_t size, const char *prefix, const gw_entity_t *e,
                   const char *window)
{
    return window_key(buf, size, prefix, e, ":w:%s", window);
}

int gw_keys_buckets(char *buf, size_t size, const char *prefix, const gw_entity_t *e,
                    const char *window)
{
    return window_key(buf, size, prefix, e, ":w:%s:b", window);
}

int gw_keys_diagnosis(char *buf, size_t size, const char *prefix, const gw_entity_t *e,
                      const char *window)
{
    return window_key(buf, size, prefix, e, ":diag:%s", window);
}

int gw_keys_alert_state(char *buf, size_t size, const char *prefix, const gw_entity_t *e,
                        const char *window)
{
    return window_key(buf, size, prefix, e, ":alerts:%s", window);
}

int gw_keys_alert_stream(char *buf, size_t size, const char *prefix, const char *tenant)
{
    return fit(snprintf(buf, size, "%s:alerts:{%s}", prefix, tenant), size);
}

int gw_keys_pace(char *buf, size_t size, const char *prefix, const gw_entity_t *e, const char *kind)
{
    char suffix[32];
    snprintf(suffix, sizeof(suffix), ":pace:%s", kind);
    return gw_keys_entity(buf, size, prefix, e, suffix);
}

int gw_keys_state(char *buf, size_t size, const char *prefix, const gw_entity_t *e)
{
    return gw_keys_entity(buf, size, prefix, e, ":state");
}

int gw_keys_export(char *buf, size_t size, const char *prefix, const char *tenant)
{
    return fit(snprintf(buf, size, "%s:export:{%s}", prefix, tenant), size);
}

int gw_keys_export_tenants(char *buf, size_t size, const char *prefix)
{
    return fit(snprintf(buf, size, "%s:export:tenants", prefix), size);
}

int gw_keys_positions(char *buf, size_t size, const char *prefix, const char *topic)
{
    return fit(snprintf(buf, size, "%s:positions:%s", prefix, topic), size);
}

int gw_keys_roster(char *buf, size_t size, const char *prefix, const char *topic, int partition)
{
    return fit(snprintf(buf, size, "%s:roster:%s:%d", prefix, topic, partition), size);
}

int gw_keys_team_reps(char *buf, size_t size, const char *prefix, const char *tenant,
                      const char *team)
{
    gw_entity_t e = {GW_ENTITY_TEAM, tenant, team};
    return gw_keys_entity(buf, size, prefix, &e, ":reps");
}

int gw_keys_tenant_clock(char *buf, size_t size, const char *prefix, bool first)
{
    return fit(snprintf(buf, size, "%s:tenants:%s", prefix, first ? "first" : "clock"), size);
}

int gw_keys_alerter_alive(char *buf, size_t size, const char *prefix, const char *id)
{
    return fit(snprintf(buf, size, "%s:alerter:%s", prefix, id), size);
}

bool gw_keys_id_valid(const char *s, size_t len, size_t *bad_at)
{
    if (len == 0 || len > GW_ID_MAX) {
        if (bad_at)
            *bad_at = len;
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '@' || c == '-';
        if (!ok) {
            if (bad_at)
                *bad_at = i;
            return false;
        }
    }
    return true;
}

int gw_keys_period(char *buf, size_t size, const char *prefix, const gw_entity_t *e,
                   const char *kind, const char *first_day)
{
    char suffix[64];
    int n = snprintf(suffix, sizeof(suffix), ":p:%s:%s", kind, first_day);
    if (n < 0 || (size_t)n >= sizeof(suffix))
        return -1;
    return gw_keys_entity(buf, size, prefix, e, suffix);
}
