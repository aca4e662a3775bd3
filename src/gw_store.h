/*
 * gw_store: the counting layout of gapwatch in Redis (window totals and
 * buckets, period totals, entity state, positions and the deployment
 * epoch, rosters, the tenants' clocks), on the gw_redis transport (which
 * alone knows hiredis). The alert layout is gw_alert_store's, the
 * snapshots and export hashes gw_diag_store's; they share this store's
 * connection (gw_store_redis()).
 *
 * Counting is effectively once: gw_store_apply() sends one Lua script call
 * per entity delta (src/lua/apply.lua), pipelined, and each call applies the
 * entity's increments together with the partition offsets they cover, or
 * skips them when those offsets are already recorded. Consumer positions
 * (next offset and stream time per partition) are written only after a
 * batch is acknowledged, with gw_store_positions_write(). On a Redis
 * Cluster (redis.cluster) each call holds one entity (its keys share its
 * hash tag), and gw_store_apply_finish() waits until a replica of every
 * master written has the batch (WAIT 1, redis.cluster_wait_replicas)
 * before the caller may write positions.
 *
 * Reads are typed: each names what it reads (an entity's state, its
 * totals of a window, a roster, the gaps of a topic) and builds the key
 * itself with gw_keys; no public function reads a key the caller gives.
 * The one HGETALL they share is declared in gw_store_internal.h, for the
 * typed stores only.
 *
 * Ownership: gw_store_new() borrows the config; gw_store_free() frees the
 * store and its connection. Batches and strings passed in are borrowed for
 * the call (gw_store_apply_start: until gw_store_apply_finish). The
 * strings a read hands its callback are borrowed for that call.
 *
 * Failures: a function returns GW_STORE_DOWN when Redis cannot be reached or
 * the connection broke (it is dropped; the next call reconnects), and
 * GW_STORE_ERROR when Redis answered with an error (e.g. OOM) or a key
 * could not be built (too long). In both cases nothing is known about
 * which scripts ran: retry the whole batch, which is safe. A read of a key
 * Redis does not hold is GW_STORE_OK with no fields.
 *
 * Threads: not thread-safe; one owner thread per store (the pipeline has
 * its own, the evaluator and alerter share the loop's, the CLI its own).
 * A process must ignore SIGPIPE (see gw_redis.h).
 */
#ifndef GW_STORE_H
#define GW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_calendar.h"
#include "gw_coalesce.h"
#include "gw_config.h"
#include "gw_redis.h"

#define GW_STORE_OK    0
#define GW_STORE_DOWN  (-1)
#define GW_STORE_ERROR (-2)
/* Redis answers, but the deployment epoch this store knows is missing or
 * replaced: Redis lost gapwatch's data (restarted without persistence,
 * flushed). Retrying cannot help; see docs/redis.md, "Data loss policy". */
#define GW_STORE_LOST (-3)

typedef struct gw_store_s gw_store_t;

/* A part that must be re-sent: delta `delta` has applied `partition` up to
 * and including `stored` (-1: nothing of it). */
typedef struct {
    uint32_t delta;
    int32_t partition;
    int64_t stored;
} gw_redo_t;

typedef struct {
    size_t applied;              /* deltas written */
    size_t skipped;              /* deltas whose offsets were already recorded */
    size_t redo;                 /* deltas to re-send with only the newer events */
    const gw_redo_t *redo_parts; /* `nredo_parts` entries, valid until the next apply */
    size_t nredo_parts;
    uint64_t commands; /* Redis commands sent, for metrics */
} gw_apply_result_t;

/* Creates a store for `cfg` (borrowed; must outlive the store). Does not
 * connect. NULL on OOM. Free with gw_store_free(). */
gw_store_t *gw_store_new(const gw_config_t *cfg);

/* Closes the connection and frees. Accepts NULL. */
void gw_store_free(gw_store_t *store);

/* Marks `store` as a reader (the CLI's): connecting loads no Lua script,
 * so a Redis ACL user with only +@read works. Only the reads may be used
 * on it (gw_store_read_state, gw_store_read_totals, gw_store_read_roster,
 * gw_store_read_team, gw_store_read_gaps, gw_store_epoch_read, and the
 * typed reads of gw_diag_store and gw_alert_store sharing it). Call before
 * the first connect. */
void gw_store_set_read_only(gw_store_t *store);

/* Connects if not connected: connect (TLS when redis.tls: the handshake
 * and the check that the server accepted the client's certificate), AUTH,
 * SELECT, load the scripts (not for a reader). Returns GW_STORE_OK or a
 * failure with a sentence in `errstr` naming the server (and, for TLS, the
 * key to check). */
int gw_store_connect(gw_store_t *store, char *errstr, size_t errstr_size);

bool gw_store_connected(const gw_store_t *store);

/* Drops the connection (the next call reconnects). */
void gw_store_disconnect(gw_store_t *store);

/* The transport under `store` (borrowed, owned by the store), for the
 * typed stores of the other layouts (gw_alert_store, gw_diag_store) that
 * share its connection. Connect it with gw_store_connect(), which also
 * checks the deployment epoch of a new connection. Same thread as the
 * store. */
gw_redis_t *gw_store_redis(gw_store_t *store);

/* The index of src/lua/alerts.lua among gw_store_redis()'s scripts. */
#define GW_STORE_SCRIPT_ALERTS 2

/*
 * The deployment epoch: a random id recorded as field "epoch" of the
 * positions hash by the first positions write of a deployment. Once a store
 * knows it (adopted from a positions write or set here), every connect and
 * every positions write checks it and answers GW_STORE_LOST when Redis no
 * longer holds it. `epoch` is copied; "" forgets it (after a rebuild).
 */
void gw_store_set_epoch(gw_store_t *store, const char *epoch);

/* The epoch this store knows, "" when none. Borrowed, valid until the next
 * call that changes it. */
const char *gw_store_epoch(const gw_store_t *store);

/* Reads the recorded epoch ("" when none) into `epoch` (at least 64 bytes)
 * and the number of partitions with a recorded position. */
int gw_store_epoch_read(gw_store_t *store, char *epoch, size_t epoch_size, long long *npositions,
                        char *errstr, size_t errstr_size);

/* Checks that Redis still holds the known epoch (one HGET; also a health
 * check): GW_STORE_OK, GW_STORE_LOST, or a failure. OK when no epoch is
 * known yet. */
int gw_store_epoch_check(gw_store_t *store, char *errstr, size_t errstr_size);

/* Deletes every key under the configured prefix (SCAN + UNLINK), for a
 * rebuild after data loss. `*deleted` counts them. */
int gw_store_wipe(gw_store_t *store, long long *deleted, char *errstr, size_t errstr_size);

/* What Redis is configured with, as far as gapwatch's guarantees go. */
typedef struct {
    char maxmemory_policy[64]; /* "" unknown */
    bool aof;                  /* appendonly yes */
    bool rdb;                  /* save points configured */
    bool known_persistence;    /* aof and rdb were read */
    const char *source;        /* "CONFIG GET" or "INFO" (when CONFIG is refused) */
} gw_redis_setup_t;

/* Reads maxmemory-policy, appendonly and save with CONFIG GET, or, when
 * CONFIG is refused (ACL, renamed command), from INFO memory/persistence.
 * On a cluster (redis.cluster) from every master: a policy other than
 * noeviction on any, and persistence only when all have it. */
int gw_store_redis_setup(gw_store_t *store, gw_redis_setup_t *setup, char *errstr,
                         size_t errstr_size);

/* Records in the positions hash that offsets [from, to) of `partition` were
 * lost to retention before gapwatch read them (field "lost:<p>:<from>",
 * value "<to> <stream_ms> <wall ms>"; idempotent). */
int gw_store_record_gap(gw_store_t *store, const char *topic, int32_t partition, int64_t from,
                        int64_t to, int64_t stream_ms, char *errstr, size_t errstr_size);

/*
 * Applies every delta of `batch` read from `topic` and records, for each rep,
 * its partition in the roster. Fills `res`. Returns GW_STORE_OK when Redis
 * answered every call (check res->redo), else a failure. Blocks until done:
 * gw_store_apply_start() + gw_store_apply_finish().
 */
int gw_store_apply(gw_store_t *store, const gw_coalesce_t *batch, const char *topic,
                   gw_apply_result_t *res, char *errstr, size_t errstr_size);

/*
 * The same in steps, so the caller can decode the next batch while Redis
 * runs this one: start, then gw_store_apply_pump() as often as convenient
 * (it never blocks: it writes what the socket takes and accounts the
 * replies that arrived), then gw_store_apply_finish(), which blocks until
 * every reply is read (or redis.command_timeout passes without progress)
 * and reports as gw_store_apply() does. `batch` and `topic` are borrowed
 * until finish returns; between start and finish the store may not be
 * used for anything else (give other users their own store). A failure of
 * start is reported again by finish, which must be called in any case.
 */
int gw_store_apply_start(gw_store_t *store, const gw_coalesce_t *batch, const char *topic,
                         char *errstr, size_t errstr_size);

/* True when the batch in flight needs nothing more from Redis (done or
 * failed): finish will not block. */
bool gw_store_apply_pump(gw_store_t *store);

int gw_store_apply_finish(gw_store_t *store, gw_apply_result_t *res, char *errstr,
                          size_t errstr_size);

/* A partition's resume point. */
typedef struct {
    int32_t partition;
    int64_t next_offset; /* -1 when Redis has none */
    int64_t stream_ms;   /* stream time at next_offset - 1, -1 when unknown */
} gw_position_t;

/* Reads the positions of `n` partitions of `topic` (partition set by the
 * caller, the rest filled in). A stored value that is not a canonical
 * integer is GW_STORE_ERROR, `errstr` naming the key and the field (and
 * logged), never a 0; `pos` is then not to be used. */
int gw_store_positions_read(gw_store_t *store, const char *topic, gw_position_t *pos, size_t n,
                            char *errstr, size_t errstr_size);

/* Moves the positions of `n` partitions forward (never back), checking the
 * deployment epoch (see gw_store_set_epoch): GW_STORE_LOST when Redis lost
 * it; when the store knew none, it adopts the recorded one or creates it. */
int gw_store_positions_write(gw_store_t *store, const char *topic, const gw_position_t *pos,
                             size_t n, char *errstr, size_t errstr_size);

/* One window's totals as read from Redis. */
typedef struct {
    int64_t v[GW_METRIC_MAX]; /* by metric number; absent fields are 0 */
    int64_t wm;               /* the window's watermark; -1 when the window is empty */
    int64_t late;
} gw_totals_t;

/* One entity to read with gw_store_read_entities(). */
typedef struct {
    gw_entity_t entity;              /* in; strings borrowed */
    bool exists;                     /* out: Redis holds a window of it */
    int64_t first_ms;                /* out: meta first_ms, -1 unknown */
    char team[GW_ID_MAX + 1];        /* out: meta team, "" unknown */
    int64_t team_since_ms;           /* out: TEAM_CHANGED to `team` at, -1 unknown */
    gw_availability_t avail;         /* out: joined, left, time off (normalized) */
    gw_totals_t win[GW_WINDOWS_MAX]; /* out, per configured window */
    /* in: first local day of each calendar period to read (a rep's), -1 for
     * none; out: its totals (gw_keys_period) */
    int64_t period_first[GW_PERIOD_COUNT];
    gw_totals_t period[GW_PERIOD_COUNT];
} gw_entity_read_t;

/*
 * Slides every window of each of `n` entities to the evaluation watermark
 * `wm_ms` (never backwards; a missing entity is not created) and reads its
 * totals and metadata, pipelined. Fills the out fields of `reads`. A
 * counter or metadata field that is not a canonical integer is
 * GW_STORE_ERROR, `errstr` naming the first such key and field (each is
 * logged), never a 0.
 */
int gw_store_read_entities(gw_store_t *store, gw_entity_read_t *reads, size_t n, int64_t wm_ms,
                           char *errstr, size_t errstr_size);

/* Queues (reply read by gw_store_flush()) that rep `rep` of team `team`
 * of `tenant` is on `partition` (the team's roster, gw_keys_team_reps). */
int gw_store_queue_team_member(gw_store_t *store, const char *tenant, const char *team,
                               const char *rep, int32_t partition, char *errstr,
                               size_t errstr_size);

/* Queues that rep `rep` left the roster of team `team` of `tenant`. */
int gw_store_queue_team_forget(gw_store_t *store, const char *tenant, const char *team,
                               const char *rep, char *errstr, size_t errstr_size);

/* Queues a batch's newest and earliest event times of `tenant` into the
 * tenants' clocks (ZADD GT and LT; gw_keys_tenant_clock). */
int gw_store_queue_tenant_times(gw_store_t *store, const char *tenant, int64_t newest,
                                int64_t earliest, char *errstr, size_t errstr_size);

/* Waits for the replies of everything queued on the connection (by this
 * store or a typed store sharing it). GW_STORE_ERROR when any reply was an
 * error, after all were read. */
int gw_store_flush(gw_store_t *store, char *errstr, size_t errstr_size);

/* A tenant's times as read by gw_store_read_tenant_times(). */
typedef struct {
    const char *tenant; /* in, borrowed */
    int64_t clock;      /* out: newest event time applied, -1 none */
    int64_t first;      /* out: earliest event time applied, -1 none */
} gw_tenant_times_t;

/* Reads the clocks of `n` tenants, in one round trip. */
int gw_store_read_tenant_times(gw_store_t *store, gw_tenant_times_t *times, size_t n, char *errstr,
                               size_t errstr_size);

/* Removes rep `tenant`:`rep` from the roster of `partition` of `topic`
 * (its keys expired), waiting for Redis. */
int gw_store_roster_forget(gw_store_t *store, const char *topic, int32_t partition,
                           const char *tenant, const char *rep, char *errstr, size_t errstr_size);

/* Callback of the typed hash reads (this store's, gw_diag_store's): one
 * field and its value, both NUL-terminated and borrowed for the call.
 * Return non-zero to stop. */
typedef int (*gw_store_field_fn)(void *ctx, const char *field, const char *value);

/* Reads the state hash of entity `e` (gw_keys_state: "o:<topic>/<p>"
 * offsets, team, first_ms, exp), calling `fn` per field. GW_STORE_OK also
 * when Redis holds none (no calls); GW_STORE_ERROR when the key does not
 * fit (an ID longer than GW_ID_MAX) or Redis refused the read. */
int gw_store_read_state(gw_store_t *store, const gw_entity_t *e, gw_store_field_fn fn, void *ctx,
                        char *errstr, size_t errstr_size);

/* Reads the totals hash of entity `e` in window `window` (gw_keys_totals:
 * metric -> count, wm, late) as Redis holds it, calling `fn` per field:
 * unlike gw_store_read_entities() it neither slides the window nor parses
 * the values. A missing hash is GW_STORE_OK with no calls. */
int gw_store_read_totals(gw_store_t *store, const gw_entity_t *e, const char *window,
                         gw_store_field_fn fn, void *ctx, char *errstr, size_t errstr_size);

/* Reads the roster of `partition` of `topic` (gw_keys_roster): `fn` is
 * called per rep with field "<tenant>:<rep>" and value its team. */
int gw_store_read_roster(gw_store_t *store, const char *topic, int32_t partition,
                         gw_store_field_fn fn, void *ctx, char *errstr, size_t errstr_size);

/* Reads the roster of team `team` of `tenant` (gw_keys_team_reps): `fn` is
 * called per rep with field the rep and value its partition. */
int gw_store_read_team(gw_store_t *store, const char *tenant, const char *team,
                       gw_store_field_fn fn, void *ctx, char *errstr, size_t errstr_size);

/* A retention gap recorded by gw_store_record_gap(). */
typedef struct {
    int32_t partition;
    int64_t from, to; /* offsets [from, to) were lost */
    int64_t stream_ms;
} gw_gap_t;

/* Called per gap; return non-zero to stop. */
typedef int (*gw_store_gap_fn)(void *ctx, const gw_gap_t *gap);

/* Reads the retention gaps recorded in the positions hash of `topic`
 * (fields that are not a well-formed gap record are skipped). */
int gw_store_read_gaps(gw_store_t *store, const char *topic, gw_store_gap_fn fn, void *ctx,
                       char *errstr, size_t errstr_size);

#endif
