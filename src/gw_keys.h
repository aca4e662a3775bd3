/*
 * gw_keys: names of every Redis key gapwatch writes. Pure: no I/O. The
 * layout is a public contract (docs/redis.md); tests pin it.
 *
 * Entities are a rep or a team of a tenant. All keys of one entity share a
 * Redis Cluster hash tag so one Lua script may touch them together:
 *
 *   rep   {<tenant>:<rep>}         e.g. gw:{acme:r17}:w:7d
 *   team  {<tenant>:team:<team>}   e.g. gw:{acme:team:east}:w:7d
 *
 * IDs are validated to [A-Za-z0-9._@-] before they get here, so ':' '{' '}'
 * can never appear inside an ID and the two forms cannot collide.
 *
 * Ownership: every function writes into the caller's buffer (GW_KEY_MAX is
 * enough for any key of valid IDs) and borrows its strings for the call.
 * Errors: a key that does not fit returns -1, nothing else fails.
 * Threads: pure; any thread. No file-scope mutable state.
 */
#ifndef GW_KEYS_H
#define GW_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define GW_KEY_MAX    256
#define GW_ID_MAX     64
#define GW_PREFIX_MAX 32

typedef enum {
    GW_ENTITY_REP = 0,
    GW_ENTITY_TEAM = 1,
} gw_entity_kind_t;

/* An entity by name; the strings are borrowed. */
typedef struct {
    gw_entity_kind_t kind;
    const char *tenant;
    const char *id; /* rep id or team id */
} gw_entity_t;

/*
 * Writes "<prefix>:<hash tag><suffix>" into `buf` (suffix may be "" or e.g.
 * ":w:7d"). Returns the length, or -1 if it does not fit.
 */
int gw_keys_entity(char *buf, size_t size, const char *prefix, const gw_entity_t *e,
                   const char *suffix);

/* Window totals: "<prefix>:{tag}:w:<window>" (hash, one HGETALL per read). */
int gw_keys_totals(char *buf, size_t size, const char *prefix, const gw_entity_t *e,
                   const char *window);

/* Window buckets: "<prefix>:{tag}:w:<window>:b" (hash "<bucket start ms>|<metric>"). */
int gw_keys_buckets(char *buf, size_t size, const char *prefix, const gw_entity_t *e,
                    const char *window);

/* A rep's totals in a calendar period: "<prefix>:{tag}:p:<kind>:<first
 * local day>" (hash metric -> count, like a window's totals), e.g.
 * gw:{acme:r17}:p:month:2026-12-01. Expires key_ttl after its last write. */
int gw_keys_period(char *buf, size_t size, const char *prefix, const gw_entity_t *e,
                   const char *kind, const char *first_day);

/* Entity state: "<prefix>:{tag}:state" (hash "o:<topic>/<partition>" ->
 * last applied offset, team (a rep's latest), first_ms, exp). */
int gw_keys_state(char *buf, size_t size, const char *prefix, const gw_entity_t *e);

/* Diagnosis snapshot of a rep in a window: "<prefix>:{tag}:diag:<window>"
 * (hash, one HGETALL per read; fields in docs/redis.md). */
int gw_keys_diagnosis(char *buf, size_t size, const char *prefix, const gw_entity_t *e,
                      const char *window);

/* Alert lifecycle state of a rep in a window (or a period kind's pace):
 * "<prefix>:{tag}:alerts:<window>" (hash; fields in src/lua/alerts.lua). */
int gw_keys_alert_state(char *buf, size_t size, const char *prefix, const gw_entity_t *e,
                        const char *window);

/* Delivered alerts of a tenant: "<prefix>:alerts:{<tenant>}" (stream, JSON
 * in field "alert"). */
int gw_keys_alert_stream(char *buf, size_t size, const char *prefix, const char *tenant);

/* Pace of a rep in the current period of a kind: "<prefix>:{tag}:pace:<kind>"
 * (hash; fields in docs/redis.md). */
int gw_keys_pace(char *buf, size_t size, const char *prefix, const gw_entity_t *e,
                 const char *kind);

/* Export hash of a tenant for Prometheus (via redis_exporter's script):
 * "<prefix>:export:{<tenant>}", fields "<team>|<rep>|<window>|<metric>" with
 * numeric values only. The set of tenants with one is
 * "<prefix>:export:tenants". */
int gw_keys_export(char *buf, size_t size, const char *prefix, const char *tenant);
int gw_keys_export_tenants(char *buf, size_t size, const char *prefix);

/* Consumer positions: "<prefix>:positions:<topic>" (hash "<p>" -> next offset,
 * "wm:<p>" -> stream time). */
int gw_keys_positions(char *buf, size_t size, const char *prefix, const char *topic);

/* Reps seen on a partition: "<prefix>:roster:<topic>:<p>" (hash
 * "<tenant>:<rep>" -> team). */
int gw_keys_roster(char *buf, size_t size, const char *prefix, const char *topic, int partition);

/* A team's roster, whoever owns the reps' partitions:
 * "<prefix>:{<tenant>:team:<team>}:reps" (hash "<rep>" -> partition). The
 * diagnosis reads the team's reps from it, so every instance sees the same
 * team. */
int gw_keys_team_reps(char *buf, size_t size, const char *prefix, const char *tenant,
                      const char *team);

/* Each tenant's own event time: "<prefix>:tenants:clock" (sorted set,
 * member tenant, score the newest event time applied) and, with `first`,
 * "<prefix>:tenants:first" (score the earliest). */
int gw_keys_tenant_clock(char *buf, size_t size, const char *prefix, bool first);

/* A running instance's alert sender, alive while this key exists:
 * "<prefix>:alerter:<id>" (string, refreshed every second with a TTL). */
int gw_keys_alerter_alive(char *buf, size_t size, const char *prefix, const char *id);

/* True if `s` (length `len`) is a valid ID: 1-64 bytes of [A-Za-z0-9._@-].
 * On failure, *bad_at is the byte offset of the first bad byte (or len). */
bool gw_keys_id_valid(const char *s, size_t len, size_t *bad_at);

#endif
