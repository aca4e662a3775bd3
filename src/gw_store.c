/*
 * gw_store: the counting layout of gapwatch in Redis (counters, positions,
 * rosters, epoch) on the gw_redis transport. It builds every command with
 * gw_resp and keys from gw_keys, and never sees hiredis: the connection,
 * the scripts and the pipelined engine are gw_redis'.
 *
 * Command arguments are built in an arena that is reset after each command
 * is queued (the transport copies them into its output buffer), so building
 * a batch allocates nothing once warm.
 */
#include "gw_store.h"
#include "gw_store_internal.h"

#include <stdarg.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_keys.h"
#include "gw_log.h"
#include "gw_map.h"
#include "gw_redis.h"
#include "gw_resp.h"
#include "gw_time.h"

extern const char gw_lua_apply[];
extern const char gw_lua_positions[];
extern const char gw_lua_alerts[];

enum { SCRIPT_APPLY, SCRIPT_POSITIONS, SCRIPT_ALERTS, SCRIPT_COUNT };
_Static_assert(SCRIPT_ALERTS == GW_STORE_SCRIPT_ALERTS, "gw_store.h names the alerts script");

/* What a command of an apply is, to account its reply and name it in an
 * error. */
typedef enum {
    EXPECT_APPLY = 0,   /* an apply call */
    EXPECT_ROSTER,      /* HSET of the partition's roster */
    EXPECT_TEAM_ROSTER, /* HSET of the team's roster */
    EXPECT_CLOCK,       /* ZADD of a tenant's clock */
} expect_what_t;

/* What the next reply of an apply answers. */
typedef struct {
    expect_what_t what;
    uint32_t first, n;
} expect_t;

/* The batch being applied (gw_store_apply_start .. _finish). */
typedef struct {
    bool active;
    const gw_coalesce_t *batch; /* borrowed */
    const char *topic;          /* borrowed */
    size_t next;                /* next delta to build */
    expect_t *expect;           /* one per command built, in order */
    size_t nexpect, capexpect, nreplies, built_replies;
    gw_apply_result_t res;
    bool noscript;
    char error[256]; /* first error reply */
    int rc;          /* a connection or build failure ends the flight */
    char fail[256];
    int64_t progress_ms;
} apply_flight_t;

struct gw_store_s {
    const gw_config_t *cfg;
    gw_redis_t *redis; /* the transport: connection, scripts, pipelined engine */
    gw_resp_t resp;    /* commands being built; handed to hiredis whole */
    /* ":w:<window>" per window, the totals key's suffix after the tag */
    char win_suffix[GW_WINDOWS_MAX][GW_WINDOW_NAME_MAX + 4];
    size_t win_suffix_len[GW_WINDOWS_MAX];
    /* "|<field>" per metric number (length 0: not a metric of the config) */
    char metric_name[GW_METRIC_MAX][GW_METRIC_NAME_MAX + 1];
    size_t metric_len[GW_METRIC_MAX];
    char ofield[GW_KEY_MAX]; /* "o:<topic>/" of the batch being applied */
    apply_flight_t flight;
    size_t ofield_len;
    gw_redo_t *redo;
    size_t nredo, redocap;
    int64_t now_ms;   /* wall clock of the batch being applied (TTL bookkeeping) */
    gw_map_t *roster; /* "<partition>|<tenant>:<rep>|<team>" already in the roster */
    char epoch[64];   /* the deployment epoch known, "" none */
    bool read_only;   /* readers: no SCRIPT LOAD on connect */
};

/* The scripts, by SCRIPT_* index (gw_redis loads them at each connect). */
static const char *const script_sources[SCRIPT_COUNT] = {gw_lua_apply, gw_lua_positions,
                                                         gw_lua_alerts};

gw_store_t *gw_store_new(const gw_config_t *cfg)
{
    gw_store_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cfg = cfg;
    s->roster = gw_map_new();
    s->redis = gw_redis_new(cfg, script_sources, SCRIPT_COUNT);
    if (!s->roster || !s->redis) {
        gw_map_free(s->roster, NULL);
        gw_redis_free(s->redis);
        free(s);
        return NULL;
    }
    for (int w = 0; w < cfg->nwindows; w++) {
        int n = snprintf(s->win_suffix[w], sizeof(s->win_suffix[w]), ":w:%s", cfg->windows[w].name);
        s->win_suffix_len[w] = n > 0 && (size_t)n < sizeof(s->win_suffix[w]) ? (size_t)n : 0;
    }
    for (int m = 0; m < GW_METRIC_MAX; m++) {
        s->metric_name[m][0] = '|';
        int n = gw_metric_name(&cfg->kinds, m, s->metric_name[m] + 1, GW_METRIC_NAME_MAX);
        s->metric_len[m] = n > 0 ? (size_t)n + 1 : 0;
    }
    return s;
}

void gw_store_free(gw_store_t *s)
{
    if (!s)
        return;
    gw_redis_free(s->redis);
    gw_resp_free(&s->resp);
    free(s->flight.expect);
    gw_map_free(s->roster, NULL);
    free(s->redo);
    free(s);
}

gw_redis_t *gw_store_redis(gw_store_t *s)
{
    return s->redis;
}

void gw_store_set_read_only(gw_store_t *s)
{
    s->read_only = true;
    gw_redis_set_read_only(s->redis);
}

bool gw_store_connected(const gw_store_t *s)
{
    return gw_redis_connected(s->redis);
}

void gw_store_disconnect(gw_store_t *s)
{
    gw_redis_disconnect(s->redis);
}

/* Sends "<cmd> <key>" and returns its reply (free with freeReplyObject)
 * when it is an array; otherwise NULL and *rc GW_STORE_DOWN, or
 * GW_STORE_ERROR with `errstr` naming the command and the key. */
static gw_redis_reply_t *command_key_array(gw_store_t *s, const char *cmd, const char *key, int *rc,
                                           char *errstr, size_t errstr_size)
{
    const char *argv[2] = {cmd, key};
    size_t lens[2] = {strlen(cmd), strlen(key)};
    gw_redis_reply_t *r = gw_redis_command_argv(s->redis, 2, argv, lens, errstr, errstr_size);
    if (!r) {
        *rc = GW_STORE_DOWN;
        return NULL;
    }
    if (r->type != GW_REDIS_REPLY_ARRAY) {
        snprintf(errstr, errstr_size, "redis: %s %s: %s", cmd, key, gw_redis_reply_why(r));
        gw_redis_reply_free(r);
        *rc = GW_STORE_ERROR;
        return NULL;
    }
    return r;
}

/* Writes the positions key of `topic` (NULL: the event topic) into `key`
 * (GW_KEY_MAX bytes). */
static int positions_key(const gw_store_t *s, const char *topic, char *key, char *errstr,
                         size_t errstr_size)
{
    if (!topic)
        topic = s->cfg->kafka.topic_events;
    if (gw_keys_positions(key, GW_KEY_MAX, s->cfg->key_prefix, topic) < 0) {
        snprintf(errstr, errstr_size, "positions key for topic %s is too long", topic);
        return GW_STORE_ERROR;
    }
    return GW_STORE_OK;
}

/* Connects, then writes the positions key of `topic` into `key`. */
static int connect_positions(gw_store_t *s, const char *topic, char *key, char *errstr,
                             size_t errstr_size)
{
    int rc = gw_store_connect(s, errstr, errstr_size);
    return rc != GW_STORE_OK ? rc : positions_key(s, topic, key, errstr, errstr_size);
}

/* HGET of the recorded epoch into `out` ("" when none). */
static int read_epoch(gw_store_t *s, char *out, size_t size, char *errstr, size_t errstr_size)
{
    char key[GW_KEY_MAX];
    int rc = positions_key(s, NULL, key, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    const char *argv[3] = {"HGET", key, "epoch"};
    size_t lens[3] = {4, strlen(key), 5};
    gw_redis_reply_t *r = gw_redis_command_argv(s->redis, 3, argv, lens, errstr, errstr_size);
    if (!r)
        return GW_STORE_DOWN;
    rc = GW_STORE_OK;
    if (r->type == GW_REDIS_REPLY_STRING) {
        snprintf(out, size, "%s", r->str);
    } else if (r->type == GW_REDIS_REPLY_NIL) {
        out[0] = '\0';
    } else {
        snprintf(errstr, errstr_size, "redis: HGET %s epoch: %s", key, gw_redis_reply_why(r));
        rc = GW_STORE_ERROR;
    }
    gw_redis_reply_free(r);
    return rc;
}

/* GW_STORE_LOST when an epoch is known and Redis no longer holds it. */
static int check_epoch(gw_store_t *s, char *errstr, size_t errstr_size)
{
    if (!s->epoch[0])
        return GW_STORE_OK;
    char found[64];
    int rc = read_epoch(s, found, sizeof(found), errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    if (strcmp(found, s->epoch) != 0) {
        char key[GW_KEY_MAX];
        positions_key(s, NULL, key, errstr, errstr_size);
        snprintf(errstr, errstr_size,
                 "redis lost gapwatch's data: epoch %s of %s is %s%s (redis restarted without "
                 "persistence, or was flushed)",
                 s->epoch, key, found[0] ? "replaced by " : "missing", found);
        return GW_STORE_LOST;
    }
    return GW_STORE_OK;
}

void gw_store_set_epoch(gw_store_t *s, const char *epoch)
{
    snprintf(s->epoch, sizeof(s->epoch), "%s", epoch ? epoch : "");
}

const char *gw_store_epoch(const gw_store_t *s)
{
    return s->epoch;
}

int gw_store_connect(gw_store_t *s, char *errstr, size_t errstr_size)
{
    if (gw_redis_connected(s->redis))
        return GW_STORE_OK;
    int rc = gw_redis_connect(s->redis, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    /* A new connection may be to a restarted Redis: before anything is
     * written on it, make sure it still holds gapwatch's data. */
    rc = check_epoch(s, errstr, errstr_size);
    if (rc != GW_STORE_OK) {
        gw_store_disconnect(s);
        return rc;
    }
    /* A new connection may be to a Redis that lost its data: add every rep
     * to its roster again. */
    gw_map_t *fresh = gw_map_new();
    if (fresh) {
        gw_map_free(s->roster, NULL);
        s->roster = fresh;
    }
    return GW_STORE_OK;
}

int gw_store_epoch_read(gw_store_t *s, char *epoch, size_t epoch_size, long long *npositions,
                        char *errstr, size_t errstr_size)
{
    /* Connect without the check: this is what the check is made of. */
    char known[64];
    snprintf(known, sizeof(known), "%s", s->epoch);
    s->epoch[0] = '\0';
    int rc = gw_store_connect(s, errstr, errstr_size);
    snprintf(s->epoch, sizeof(s->epoch), "%s", known);
    if (rc != GW_STORE_OK)
        return rc;
    rc = read_epoch(s, epoch, epoch_size, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    char key[GW_KEY_MAX];
    positions_key(s, NULL, key, errstr, errstr_size);
    gw_redis_reply_t *r = command_key_array(s, "HKEYS", key, &rc, errstr, errstr_size);
    if (!r)
        return rc;
    /* Only "<partition>" fields are positions. */
    *npositions = 0;
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == GW_REDIS_REPLY_STRING && r->element[i]->len > 0 &&
            r->element[i]->str[0] >= '0' && r->element[i]->str[0] <= '9')
            (*npositions)++;
    gw_redis_reply_free(r);
    return GW_STORE_OK;
}

int gw_store_epoch_check(gw_store_t *s, char *errstr, size_t errstr_size)
{
    bool fresh = !gw_redis_connected(s->redis);
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK || fresh)
        return rc; /* a new connection was checked by connect */
    return check_epoch(s, errstr, errstr_size);
}

static int wipe_node(gw_store_t *s, size_t node, const char *match, long long *deleted,
                     char *errstr, size_t errstr_size);

int gw_store_wipe(gw_store_t *s, long long *deleted, char *errstr, size_t errstr_size)
{
    *deleted = 0;
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    char match[64];
    snprintf(match, sizeof(match), "%s:*", s->cfg->key_prefix);
    /* every master's keys on a cluster (SCAN sees one node) */
    for (size_t node = 0; node < gw_redis_nodes(s->redis); node++) {
        rc = wipe_node(s, node, match, deleted, errstr, errstr_size);
        if (rc != GW_STORE_OK)
            return rc;
    }
    s->epoch[0] = '\0';
    return GW_STORE_OK;
}

/* Adds an UNLINK's count to *(long long *)ctx. */
static void add_unlinked(void *ctx, size_t index, const gw_redis_reply_t *r)
{
    (void)index;
    if (r->type == GW_REDIS_REPLY_INTEGER)
        *(long long *)ctx += r->integer;
}

/* UNLINK of a SCAN page on a cluster: one per key (keys of one node are
 * still of many slots: CROSSSLOT), pipelined through the router. */
static int unlink_each(gw_store_t *s, const gw_redis_reply_t *keys, long long *deleted,
                       char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < keys->elements; i++) {
        gw_resp_begin(&s->resp);
        gw_resp_arg(&s->resp, "UNLINK", 6);
        gw_resp_arg(&s->resp, keys->element[i]->str, keys->element[i]->len);
        if (gw_resp_end(&s->resp) != 0 || gw_redis_queue(s->redis, &s->resp, 1) != GW_REDIS_OK) {
            gw_resp_reset(&s->resp);
            snprintf(errstr, errstr_size, "redis: cannot queue UNLINK (out of memory)");
            gw_store_disconnect(s);
            return GW_STORE_ERROR;
        }
    }
    return gw_redis_flush(s->redis, add_unlinked, deleted, errstr, errstr_size);
}

/* The keys matching `match` on master `node`, deleted. */
static int wipe_node(gw_store_t *s, size_t node, const char *match, long long *deleted,
                     char *errstr, size_t errstr_size)
{
    char cursor[32] = "0";
    do {
        const char *argv[6] = {"SCAN", cursor, "MATCH", match, "COUNT", "1000"};
        size_t lens[6] = {4, strlen(cursor), 5, strlen(match), 5, 4};
        gw_redis_reply_t *r =
            gw_redis_node_command_argv(s->redis, node, 6, argv, lens, errstr, errstr_size);
        if (!r)
            return GW_STORE_DOWN;
        if (r->type != GW_REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != GW_REDIS_REPLY_STRING ||
            r->element[1]->type != GW_REDIS_REPLY_ARRAY) {
            snprintf(errstr, errstr_size, "redis: SCAN %s: %s", match, gw_redis_reply_why(r));
            gw_redis_reply_free(r);
            return GW_STORE_ERROR;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        const gw_redis_reply_t *keys = r->element[1];
        if (keys->elements > 0 && s->cfg->redis.cluster) {
            int rc = unlink_each(s, keys, deleted, errstr, errstr_size);
            if (rc != GW_STORE_OK) {
                gw_redis_reply_free(r);
                return rc;
            }
        } else if (keys->elements > 0) {
            const char **argv2 = calloc(keys->elements + 1, sizeof(*argv2));
            size_t *lens2 = calloc(keys->elements + 1, sizeof(*lens2));
            if (!argv2 || !lens2) {
                free(argv2);
                free(lens2);
                gw_redis_reply_free(r);
                snprintf(errstr, errstr_size, "out of memory");
                return GW_STORE_ERROR;
            }
            argv2[0] = "UNLINK";
            lens2[0] = 6;
            for (size_t i = 0; i < keys->elements; i++) {
                argv2[i + 1] = keys->element[i]->str;
                lens2[i + 1] = keys->element[i]->len;
            }
            gw_redis_reply_t *d = gw_redis_command_argv(s->redis, (int)keys->elements + 1, argv2,
                                                        lens2, errstr, errstr_size);
            free(argv2);
            free(lens2);
            if (!d) {
                gw_redis_reply_free(r);
                return GW_STORE_DOWN;
            }
            if (d->type == GW_REDIS_REPLY_INTEGER)
                *deleted += d->integer;
            gw_redis_reply_free(d);
        }
        gw_redis_reply_free(r);
    } while (strcmp(cursor, "0") != 0);
    return GW_STORE_OK;
}

/* The value of "name:" in an INFO reply, into `out` ("" when absent). */
static void info_field(const char *info, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = info; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (!strncmp(p, name, nl) && p[nl] == ':') {
            size_t n = strcspn(p + nl + 1, "\r\n");
            snprintf(out, size, "%.*s", (int)n, p + nl + 1);
            return;
        }
    }
}

/* gw_store_redis_setup of one master. */
static int setup_of_node(gw_store_t *s, size_t node, gw_redis_setup_t *setup, char *errstr,
                         size_t errstr_size)
{
    memset(setup, 0, sizeof(*setup));
    static const char *const names[3] = {"maxmemory-policy", "appendonly", "save"};
    bool refused = false;
    for (int i = 0; i < 3 && !refused; i++) {
        const char *argv[3] = {"CONFIG", "GET", names[i]};
        size_t lens[3] = {6, 3, strlen(names[i])};
        gw_redis_reply_t *r =
            gw_redis_node_command_argv(s->redis, node, 3, argv, lens, errstr, errstr_size);
        if (!r)
            return GW_STORE_DOWN;
        if (r->type != GW_REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[1]->type != GW_REDIS_REPLY_STRING) {
            refused = true; /* NOPERM, renamed command, ... */
        } else if (i == 0) {
            snprintf(setup->maxmemory_policy, sizeof(setup->maxmemory_policy), "%s",
                     r->element[1]->str);
        } else if (i == 1) {
            setup->aof = !strcmp(r->element[1]->str, "yes");
        } else {
            setup->rdb = r->element[1]->str[0] != '\0';
        }
        gw_redis_reply_free(r);
    }
    if (!refused) {
        setup->known_persistence = true;
        setup->source = "CONFIG GET";
        return GW_STORE_OK;
    }
    setup->source = "INFO";
    memset(setup->maxmemory_policy, 0, sizeof(setup->maxmemory_policy));
    static const char *const sections[2] = {"memory", "persistence"};
    for (int i = 0; i < 2; i++) {
        const char *argv[2] = {"INFO", sections[i]};
        size_t lens[2] = {4, strlen(sections[i])};
        gw_redis_reply_t *r =
            gw_redis_node_command_argv(s->redis, node, 2, argv, lens, errstr, errstr_size);
        if (!r)
            return GW_STORE_DOWN;
        if (r->type == GW_REDIS_REPLY_STRING || r->type == GW_REDIS_REPLY_STATUS) {
            char v[64];
            if (i == 0) {
                info_field(r->str, "maxmemory_policy", setup->maxmemory_policy,
                           sizeof(setup->maxmemory_policy));
            } else {
                info_field(r->str, "aof_enabled", v, sizeof(v));
                setup->aof = !strcmp(v, "1");
                /* INFO does not list the save points: only AOF counts. */
                setup->known_persistence = v[0] != '\0';
            }
        }
        gw_redis_reply_free(r);
    }
    return GW_STORE_OK;
}

int gw_store_redis_setup(gw_store_t *s, gw_redis_setup_t *setup, char *errstr, size_t errstr_size)
{
    memset(setup, 0, sizeof(*setup));
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    rc = setup_of_node(s, 0, setup, errstr, errstr_size);
    /* a cluster: the weakest master speaks for all */
    for (size_t node = 1; rc == GW_STORE_OK && node < gw_redis_nodes(s->redis); node++) {
        gw_redis_setup_t other;
        rc = setup_of_node(s, node, &other, errstr, errstr_size);
        if (rc != GW_STORE_OK)
            break;
        if (strcmp(other.maxmemory_policy, "noeviction") != 0 &&
            strcmp(setup->maxmemory_policy, "noeviction") == 0)
            memcpy(setup->maxmemory_policy, other.maxmemory_policy,
                   sizeof(setup->maxmemory_policy));
        setup->aof &= other.aof;
        setup->rdb &= other.rdb;
        setup->known_persistence &= other.known_persistence;
        if (strcmp(other.source, "INFO") == 0)
            setup->source = other.source;
    }
    return rc;
}

int gw_store_record_gap(gw_store_t *s, const char *topic, int32_t partition, int64_t from,
                        int64_t to, int64_t stream_ms, char *errstr, size_t errstr_size)
{
    char key[GW_KEY_MAX];
    int rc = connect_positions(s, topic, key, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    char field[64], value[96];
    snprintf(field, sizeof(field), "lost:%d:%lld", partition, (long long)from);
    snprintf(value, sizeof(value), "%lld %lld %lld", (long long)to, (long long)stream_ms,
             (long long)gw_now_ms());
    const char *argv[4] = {"HSET", key, field, value};
    size_t lens[4] = {4, strlen(key), strlen(field), strlen(value)};
    gw_redis_reply_t *r = gw_redis_command_argv(s->redis, 4, argv, lens, errstr, errstr_size);
    if (!r)
        return GW_STORE_DOWN;
    rc = r->type == GW_REDIS_REPLY_ERROR ? GW_STORE_ERROR : GW_STORE_OK;
    if (rc != GW_STORE_OK)
        snprintf(errstr, errstr_size, "redis: HSET %s %s: %s", key, field, r->str);
    gw_redis_reply_free(r);
    return rc;
}

/* ---- command building ------------------------------------------------ */

/* Queues the commands written to s->resp on the connection. */
static int send_resp(gw_store_t *s)
{
    return gw_redis_append(s->redis, &s->resp) == GW_REDIS_OK ? 0 : -1;
}

/* Sends the one command in s->resp and waits for its reply (caller frees);
 * NULL after dropping the connection. */
static gw_redis_reply_t *command_resp(gw_store_t *s, char *errstr, size_t errstr_size)
{
    gw_redis_reply_t *r = gw_redis_command_resp(s->redis, &s->resp, errstr, errstr_size);
    if (!r)
        gw_store_disconnect(s);
    return r;
}

/* Waits for the next pipelined reply. On a lost connection: NULL, the
 * store disconnected and `errstr` saying what was lost while `doing`. */
static gw_redis_reply_t *next_reply(gw_store_t *s, const char *doing, char *errstr,
                                    size_t errstr_size)
{
    gw_redis_reply_t *r = gw_redis_get_reply(s->redis, doing, errstr, errstr_size);
    if (!r)
        gw_store_disconnect(s);
    return r;
}

/* One attempt of a script call: sets *noscript when Redis answered NOSCRIPT
 * (then nothing else of the reply is used). */
typedef int (*script_attempt_fn)(gw_store_t *s, void *ctx, bool *noscript, char *errstr,
                                 size_t errstr_size);

typedef struct {
    gw_store_t *s;
    script_attempt_fn fn;
    void *ctx;
} attempt_t;

static int attempt_store(void *ctx, bool *noscript, char *errstr, size_t errstr_size)
{
    attempt_t *a = ctx;
    return a->fn(a->s, a->ctx, noscript, errstr, errstr_size);
}

/* Runs `attempt`, and once more after reloading the scripts if Redis lost
 * them (gw_redis_with_scripts). */
static int with_scripts(gw_store_t *s, script_attempt_fn attempt, void *ctx, char *errstr,
                        size_t errstr_size)
{
    attempt_t a = {s, attempt, ctx};
    return gw_redis_with_scripts(s->redis, attempt_store, &a, errstr, errstr_size);
}

/* Opens "EVALSHA <sha of script> <numkeys>" in s->resp. */
static void begin_evalsha(gw_store_t *s, int script, int64_t numkeys)
{
    gw_resp_begin(&s->resp);
    gw_resp_arg(&s->resp, "EVALSHA", 7);
    gw_resp_arg(&s->resp, gw_redis_script_sha(s->redis, (size_t)script), 40);
    gw_resp_arg_i64(&s->resp, numkeys);
}

/* Writes the KEYS of the apply script for entity `e`: its state, then the
 * totals and buckets of every window (names as gw_keys_*). */
static int build_keys(gw_store_t *s, const gw_entity_t *e)
{
    const gw_config_t *cfg = s->cfg;
    char key[GW_KEY_MAX + 64];
    int n = gw_keys_entity(key, GW_KEY_MAX, cfg->key_prefix, e, "");
    if (n < 0)
        return -1;
    size_t base = (size_t)n;
    memcpy(key + base, ":state", 6);
    gw_resp_arg(&s->resp, key, base + 6);
    for (int w = 0; w < cfg->nwindows; w++) {
        size_t sl = s->win_suffix_len[w];
        if (base + sl + 2 >= GW_KEY_MAX)
            return -1;
        memcpy(key + base, s->win_suffix[w], sl);
        gw_resp_arg(&s->resp, key, base + sl);
        memcpy(key + base + sl, ":b", 2);
        gw_resp_arg(&s->resp, key, base + sl + 2);
    }
    return 0;
}

/* Writes the script's common ARGV head: ttl, now, mode, the windows. */
static void build_head(gw_store_t *s, const char *mode)
{
    const gw_config_t *cfg = s->cfg;
    gw_resp_t *r = &s->resp;
    gw_resp_arg_i64(r, cfg->key_ttl_ms);
    gw_resp_arg_i64(r, s->now_ms);
    gw_resp_arg_str(r, mode);
    gw_resp_arg_i64(r, cfg->nwindows);
    for (int w = 0; w < cfg->nwindows; w++) {
        const gw_window_t *win = &cfg->windows[w];
        gw_resp_arg_str(r, win->name);
        gw_resp_arg_i64(r, win->bucket_ms);
        gw_resp_arg_i64(r, win->nbuckets);
        gw_resp_arg_i64(r, win->grace_ms);
    }
}

/* Writes "o:<topic>/<partition>", the state field of a partition's offset. */
static void build_offset_field(gw_store_t *s, int32_t partition)
{
    char f[GW_KEY_MAX + 32];
    size_t n = s->ofield_len;
    memcpy(f, s->ofield, n);
    n += gw_resp_i64_text(partition, f + n);
    gw_resp_arg(&s->resp, f, n);
}

/* Writes one delta's ARGV section (layout: src/lua/apply.lua). */
/* The rep's calendar period totals (docs/calendars.md): the number of
 * period keys, then per key its name, its number of fields and {metric,
 * sum} per field. Applied by the script with the windows, under the same
 * offsets, so exactly once. */
static int build_periods(gw_store_t *s, const gw_coalesce_t *batch, const gw_delta_t *d)
{
    gw_resp_t *r = &s->resp;
    struct {
        int kind;
        int64_t first;
        int nfields;
    } keys[3 * 8];
    int nkeys = 0;
    gw_coalesce_iter_t it = gw_coalesce_period_cells(batch, d);
    for (const gw_period_cell_t *p; (p = gw_coalesce_next_period_cell(&it));) {
        int k = 0;
        while (k < nkeys && (keys[k].kind != p->kind || keys[k].first != p->first_day))
            k++;
        if (k == nkeys) {
            if (nkeys == (int)(sizeof(keys) / sizeof(keys[0])))
                return -1; /* a batch holding a rep's events of 8 weeks */
            keys[nkeys].kind = p->kind;
            keys[nkeys].first = p->first_day;
            keys[nkeys++].nfields = 0;
        }
        keys[k].nfields++;
    }
    gw_resp_arg_i64(r, nkeys);
    gw_entity_t e = {d->kind, d->tenant, d->id};
    for (int k = 0; k < nkeys; k++) {
        char key[GW_KEY_MAX], date[16];
        gw_date_format(keys[k].first, date, sizeof(date));
        if (gw_keys_period(key, sizeof(key), s->cfg->key_prefix, &e,
                           gw_period_str((gw_period_kind_t)keys[k].kind), date) < 0)
            return -1;
        gw_resp_arg_str(r, key);
        gw_resp_arg_i64(r, keys[k].nfields);
        it = gw_coalesce_period_cells(batch, d);
        for (const gw_period_cell_t *p; (p = gw_coalesce_next_period_cell(&it));) {
            if (p->kind != keys[k].kind || p->first_day != keys[k].first)
                continue;
            if (s->metric_len[p->metric] == 0)
                return -1;
            gw_resp_arg(r, s->metric_name[p->metric] + 1, s->metric_len[p->metric] - 1);
            gw_resp_arg_i64(r, p->value);
        }
    }
    return 0;
}

static int build_entity(gw_store_t *s, const gw_coalesce_t *batch, const gw_delta_t *d)
{
    const gw_config_t *cfg = s->cfg;
    gw_resp_t *r = &s->resp;
    int nparts = 0;
    gw_coalesce_iter_t parts = gw_coalesce_parts(batch, d);
    while (gw_coalesce_next_part(&parts))
        nparts++;
    gw_resp_arg_i64(r, nparts);
    parts = gw_coalesce_parts(batch, d);
    for (const gw_delta_part_t *part; (part = gw_coalesce_next_part(&parts));) {
        build_offset_field(s, part->partition);
        gw_resp_arg_i64(r, part->min_offset);
        gw_resp_arg_i64(r, part->max_offset);
    }
    gw_resp_arg_str(r, d->kind == GW_ENTITY_REP && d->team ? d->team : "");
    gw_resp_arg_i64(r, d->first_event_ms);
    gw_resp_arg_i64(r, d->wm_ms);
    for (int w = 0; w < cfg->nwindows; w++) {
        const gw_window_t *win = &cfg->windows[w];
        /* Sum each metric over the window's cells: the script adds one
         * total per metric, and names no field itself. */
        struct {
            int metric;
            int64_t sum;
        } sums[64];
        int nsums = 0, ncells = 0;
        int64_t lowest = INT64_MAX;
        /* Cells in the bucket of the watermark (the open bucket, see
         * src/lua/apply.lua) go to the totals only: they are named by the
         * sums alone. */
        int64_t open = gw_window_bucket(win, d->wm_ms);
        gw_coalesce_iter_t cells = gw_coalesce_cells(batch, d, w);
        for (const gw_delta_cell_t *cell; (cell = gw_coalesce_next_cell(&cells));) {
            if (s->metric_len[cell->metric] == 0)
                return -1;
            int k = 0;
            while (k < nsums && sums[k].metric != cell->metric)
                k++;
            if (k == nsums) {
                if (nsums == 64)
                    return -1;
                sums[nsums].metric = cell->metric;
                sums[nsums++].sum = 0;
            }
            sums[k].sum += cell->value;
            if (cell->bucket < open) {
                if (cell->bucket < lowest)
                    lowest = cell->bucket;
                ncells++;
            }
        }
        /* The common window (nothing late, every cell in the open bucket)
         * costs the script one header argument, not four. */
        if (d->late[w] == 0 && ncells == 0) {
            gw_resp_arg_i64(r, nsums);
        } else {
            gw_resp_arg_i64(r, -(int64_t)nsums - 1);
            gw_resp_arg_i64(r, d->late[w]);
            gw_resp_arg_i64(r, ncells);
            gw_resp_arg_i64(r, ncells ? lowest : 0);
        }
        for (int k = 0; k < nsums; k++) {
            int m = sums[k].metric;
            gw_resp_arg(r, s->metric_name[m] + 1, s->metric_len[m] - 1);
            gw_resp_arg_i64(r, sums[k].sum);
        }
        cells = gw_coalesce_cells(batch, d, w);
        for (const gw_delta_cell_t *cell; ncells > 0 && (cell = gw_coalesce_next_cell(&cells));) {
            if (cell->bucket >= open)
                continue;
            int m = cell->metric;
            gw_resp_arg_i64(r, cell->bucket * win->bucket_ms);
            gw_resp_arg(r, s->metric_name[m] + 1, s->metric_len[m] - 1);
            gw_resp_arg_i64(r, cell->value);
        }
    }
    return build_periods(s, batch, d);
}

/* Writes one EVALSHA applying deltas [lo, hi) (layout: src/lua/apply.lua). */
static int build_call(gw_store_t *s, const gw_coalesce_t *batch, size_t lo, size_t hi)
{
    const gw_config_t *cfg = s->cfg;
    gw_resp_t *r = &s->resp;
    begin_evalsha(s, SCRIPT_APPLY, (int64_t)(hi - lo) * (1 + 2 * cfg->nwindows));
    gw_coalesce_iter_t it = gw_coalesce_deltas(batch, lo);
    gw_coalesce_iter_limit(&it, hi - lo);
    for (const gw_delta_t *d; (d = gw_coalesce_next(&it, NULL));) {
        gw_entity_t e = {d->kind, d->tenant, d->id};
        if (build_keys(s, &e) != 0)
            return -1;
    }
    build_head(s, "apply");
    gw_resp_arg_i64(r, (int64_t)(hi - lo));
    it = gw_coalesce_deltas(batch, lo);
    gw_coalesce_iter_limit(&it, hi - lo);
    for (const gw_delta_t *d; (d = gw_coalesce_next(&it, NULL));)
        if (build_entity(s, batch, d) != 0)
            return -1;
    return gw_resp_end(r);
}

/* Adds the rep to its partition's roster unless this connection already
 * did (*queued tells whether a command was written). */
static int build_roster(gw_store_t *s, const gw_coalesce_t *batch, const gw_delta_t *d,
                        const char *topic, bool *queued)
{
    char key[GW_KEY_MAX];
    gw_coalesce_iter_t parts = gw_coalesce_parts(batch, d);
    const gw_delta_part_t *head = gw_coalesce_next_part(&parts);
    if (!head)
        return -1; /* cannot be: a delta covers at least one offset */
    int32_t partition = head->partition;
    /* "<partition>|<tenant>:<rep>|<team>", copied (not printed: every rep
     * of every batch is looked up) */
    char known[3 * GW_ID_MAX + 24];
    const char *team = d->team ? d->team : "";
    size_t lt = strlen(d->tenant), li = strlen(d->id), lm = strlen(team);
    if (lt + li + lm + 24 > sizeof(known))
        return -1;
    size_t n = gw_resp_i64_text(partition, known);
    known[n++] = '|';
    memcpy(known + n, d->tenant, lt);
    n += lt;
    known[n++] = ':';
    memcpy(known + n, d->id, li);
    n += li;
    known[n++] = '|';
    memcpy(known + n, team, lm);
    known[n + lm] = '\0';
    *queued = false;
    if (gw_map_get(s->roster, known))
        return 0;
    if (gw_map_put(s->roster, known, (void *)1) != 0)
        return -1;
    *queued = true;
    if (gw_keys_roster(key, sizeof(key), s->cfg->key_prefix, topic, partition) < 0)
        return -1;
    /* the member is the "<tenant>:<rep>" inside `known` */
    const char *member = strchr(known, '|') + 1;
    gw_resp_t *r = &s->resp;
    gw_resp_begin(r);
    gw_resp_arg(r, "HSET", 4);
    gw_resp_arg_str(r, key);
    gw_resp_arg(r, member, lt + 1 + li);
    gw_resp_arg_str(r, d->team ? d->team : "");
    if (gw_resp_end(r) != 0 || !d->team) /* a rep's delta always has its team */
        return -1;
    /* ... and to its team's roster, which the diagnosis reads: written
     * before the batch's positions, so whoever sees the positions sees
     * the team (gw_keys_team_reps). */
    char pnum[24];
    pnum[gw_resp_i64_text(partition, pnum)] = '\0';
    if (gw_keys_team_reps(key, sizeof(key), s->cfg->key_prefix, d->tenant, d->team) < 0)
        return -1;
    gw_resp_begin(r);
    gw_resp_arg(r, "HSET", 4);
    gw_resp_arg_str(r, key);
    gw_resp_arg(r, d->id, li);
    gw_resp_arg_str(r, pnum);
    return gw_resp_end(r);
}

/* Moves each tenant's clocks (gw_keys_tenant_clock) to the batch's newest
 * and earliest event times: ZADD GT and LT, so replays and other instances
 * never move them back. Returns the number of commands built, or -1. */
static int build_tenant_clocks(gw_store_t *s, const gw_coalesce_t *batch)
{
    char key[GW_KEY_MAX], first_key[GW_KEY_MAX];
    gw_keys_tenant_clock(key, sizeof(key), s->cfg->key_prefix, false);
    gw_keys_tenant_clock(first_key, sizeof(first_key), s->cfg->key_prefix, true);
    int built = 0;
    gw_coalesce_iter_t it = gw_coalesce_deltas(batch, 0);
    size_t i;
    for (const gw_delta_t *d; (d = gw_coalesce_next(&it, &i));) {
        if (d->kind != GW_ENTITY_TEAM || d->nevents == 0)
            continue;
        /* the batch's first team delta of its tenant speaks for the tenant */
        int64_t newest = d->last_event_ms, earliest = d->first_event_ms;
        bool seen = false;
        gw_coalesce_iter_t before = gw_coalesce_deltas(batch, 0);
        gw_coalesce_iter_limit(&before, i);
        for (const gw_delta_t *o; !seen && (o = gw_coalesce_next(&before, NULL));)
            seen = o->kind == GW_ENTITY_TEAM && o->nevents > 0 && !strcmp(o->tenant, d->tenant);
        if (seen)
            continue;
        gw_coalesce_iter_t after = gw_coalesce_deltas(batch, i + 1);
        for (const gw_delta_t *o; (o = gw_coalesce_next(&after, NULL));) {
            if (o->kind != GW_ENTITY_TEAM || o->nevents == 0 || strcmp(o->tenant, d->tenant))
                continue;
            newest = o->last_event_ms > newest ? o->last_event_ms : newest;
            earliest = o->first_event_ms < earliest ? o->first_event_ms : earliest;
        }
        gw_resp_t *r = &s->resp;
        for (int k = 0; k < 2; k++) {
            gw_resp_begin(r);
            gw_resp_arg(r, "ZADD", 4);
            gw_resp_arg_str(r, k ? first_key : key);
            gw_resp_arg(r, k ? "LT" : "GT", 2);
            gw_resp_arg_i64(r, k ? earliest : newest);
            gw_resp_arg_str(r, d->tenant);
            if (gw_resp_end(r) != 0)
                return -1;
            built++;
        }
    }
    return built;
}

/* Makes room for one more element in *arr (of `elem` bytes, *cap of them,
 * `used` in use), doubling. Returns 0, or -1 on OOM (*arr unchanged). */
static int room_for_one(void **arr, size_t *cap, size_t used, size_t elem)
{
    if (used < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *n = realloc(*arr, ncap * elem);
    if (!n)
        return -1;
    *arr = n;
    *cap = ncap;
    return 0;
}

/* Reports, in `errstr` and the log, a field of `key` whose value `v` is not
 * the integer expected; the field is `prefix` + `partition` (positions).
 * Returns GW_STORE_ERROR. */
static int corrupt_field(char *errstr, size_t errstr_size, const char *key, const char *prefix,
                         int32_t partition, const gw_redis_reply_t *v)
{
    snprintf(errstr, errstr_size, "redis: corrupt field %s%d of %s: \"%.*s\" is not an integer",
             prefix, (int)partition, key, (int)(v->len < 64 ? v->len : 64), v->str);
    gw_log_error("corrupt redis field", "key=%s field=%s%d value=\"%.*s\"", key, prefix,
                 (int)partition, (int)(v->len < 64 ? v->len : 64), v->str);
    return GW_STORE_ERROR;
}

/* The same for field `i` of the HGETALL reply `hash` read from `key`. */
static int corrupt_hash_field(char *errstr, size_t errstr_size, const char *key,
                              const gw_redis_reply_t *hash, size_t i)
{
    const gw_redis_reply_t *f = hash->element[i], *v = hash->element[i + 1];
    int vl = (int)(v->len < 64 ? v->len : 64);
    snprintf(errstr, errstr_size, "corrupt field %s of %s: \"%.*s\" is not an integer", f->str, key,
             vl, v->str);
    gw_log_error("corrupt redis field", "key=%s field=%s value=\"%.*s\"", key, f->str, vl, v->str);
    return GW_STORE_ERROR;
}

/* Queues a re-send of `delta` to the partition named by `part`
 * ("<topic>/<partition>") over the `stored` offset; -1 on a malformed part
 * or stored value, or out of memory. */
static int add_redo(gw_store_t *s, uint32_t delta, const gw_redis_reply_t *part,
                    const gw_redis_reply_t *stored)
{
    const char *slash = part->type == GW_REDIS_REPLY_STRING ? strrchr(part->str, '/') : NULL;
    int64_t partition, offset;
    if (!slash ||
        !gw_resp_parse_i64(slash + 1, part->len - (size_t)(slash + 1 - part->str), &partition) ||
        partition < 0 || partition > INT32_MAX || !gw_redis_reply_i64(stored, &offset) ||
        room_for_one((void **)&s->redo, &s->redocap, s->nredo, sizeof(*s->redo)) != 0)
        return -1;
    s->redo[s->nredo].delta = delta;
    s->redo[s->nredo].partition = (int32_t)partition;
    s->redo[s->nredo].stored = offset;
    s->nredo++;
    return 0;
}

/* entities per script call */
#define ENTITIES_PER_CALL 128
/* entities built at a time: the commands in flight stay bounded whatever
 * the batch size, and building overlaps Redis running the previous piece */
#define ENTITIES_PER_PIECE 512

/* Accounts the reply of one call applying `n` deltas from `first`: per
 * delta 0 skipped, 1 applied, or -k followed by k pairs {part, stored} to
 * re-send. */
static void count_replies(gw_store_t *s, gw_apply_result_t *res, const gw_redis_reply_t *r,
                          size_t first, size_t n, char *first_error, size_t size)
{
    if (r->type != GW_REDIS_REPLY_ARRAY) {
        if (!first_error[0])
            snprintf(first_error, size, "apply script returned an unexpected reply");
        return;
    }
    size_t e = 0;
    for (size_t d = 0; d < n; d++) {
        if (e >= r->elements || r->element[e]->type != GW_REDIS_REPLY_INTEGER) {
            if (!first_error[0])
                snprintf(first_error, size, "apply script returned a malformed reply");
            return;
        }
        long long v = r->element[e++]->integer;
        if (v == 0) {
            res->skipped++;
        } else if (v == 1) {
            res->applied++;
        } else {
            res->redo++;
            for (long long k = 0; k < -v; k++, e += 2) {
                if (e + 1 >= r->elements ||
                    add_redo(s, (uint32_t)(first + d), r->element[e], r->element[e + 1]) != 0) {
                    if (!first_error[0])
                        snprintf(first_error, size, "apply script returned a malformed redo list");
                    return;
                }
            }
        }
    }
}

/* Records that the next reply answers a command `what` covering deltas
 * [first, first + n). */
static int expect_reply(gw_store_t *s, expect_what_t what, size_t first, size_t n)
{
    apply_flight_t *f = &s->flight;
    if (room_for_one((void **)&f->expect, &f->capexpect, f->nexpect, sizeof(*f->expect)) != 0)
        return -1;
    f->expect[f->nexpect++] = (expect_t){.what = what, .first = (uint32_t)first, .n = (uint32_t)n};
    return 0;
}

/* Builds the commands of the next ENTITIES_PER_PIECE deltas into s->resp. */
static int build_piece(gw_store_t *s)
{
    apply_flight_t *f = &s->flight;
    size_t n = gw_coalesce_count(f->batch);
    size_t end = f->next + ENTITIES_PER_PIECE < n ? f->next + ENTITIES_PER_PIECE : n;
    /* On a cluster one call per entity: its keys share its hash tag, the
     * keys of two entities do not (CROSSSLOT). */
    size_t per_call = s->cfg->redis.cluster ? 1 : ENTITIES_PER_CALL;
    for (size_t c = f->next; c < end; c += per_call) {
        size_t ce = c + per_call < end ? c + per_call : end;
        if (build_call(s, f->batch, c, ce) != 0 || expect_reply(s, EXPECT_APPLY, c, ce - c) != 0)
            return -1;
        gw_coalesce_iter_t it = gw_coalesce_deltas(f->batch, c);
        gw_coalesce_iter_limit(&it, ce - c);
        size_t i;
        for (const gw_delta_t *d; (d = gw_coalesce_next(&it, &i));) {
            if (d->kind != GW_ENTITY_REP)
                continue;
            bool queued;
            if (build_roster(s, f->batch, d, f->topic, &queued) != 0)
                return -1;
            if (queued && (expect_reply(s, EXPECT_ROSTER, i, 1) != 0 ||
                           expect_reply(s, EXPECT_TEAM_ROSTER, i, 1) != 0))
                return -1;
        }
    }
    if (end == n) {
        int clocks = build_tenant_clocks(s, f->batch);
        if (clocks < 0)
            return -1;
        for (int k = 0; k < clocks; k++)
            if (expect_reply(s, EXPECT_CLOCK, 0, 0) != 0)
                return -1;
    }
    f->res.commands += f->nexpect - f->built_replies;
    f->built_replies = f->nexpect;
    f->next = end;
    return gw_resp_ok(&s->resp) ? 0 : -1;
}

static void handle_reply(gw_store_t *s, gw_redis_reply_t *r)
{
    apply_flight_t *f = &s->flight;
    const expect_t *e = &f->expect[f->nreplies++];
    if (r->type == GW_REDIS_REPLY_ERROR) {
        if (gw_redis_reply_is_noscript(r)) {
            f->noscript = true;
        } else if (!f->error[0]) {
            /* Name the command refused: an ACL error (NOPERM) says neither
             * which command nor which key. */
            const gw_delta_t *d = gw_coalesce_delta(f->batch, e->first);
            switch (e->what) {
            case EXPECT_APPLY:
                snprintf(f->error, sizeof(f->error),
                         "EVALSHA of the apply script (%u entities from %s %s:%s) refused: %s",
                         e->n, d->kind == GW_ENTITY_REP ? "rep" : "team", d->tenant, d->id, r->str);
                break;
            case EXPECT_ROSTER:
                snprintf(f->error, sizeof(f->error),
                         "HSET of the roster (rep %s:%s, topic %s) refused: %s", d->tenant, d->id,
                         f->topic, r->str);
                break;
            case EXPECT_TEAM_ROSTER:
                snprintf(f->error, sizeof(f->error),
                         "HSET of the team's roster (rep %s:%s, team %s) refused: %s", d->tenant,
                         d->id, d->team ? d->team : "", r->str);
                break;
            case EXPECT_CLOCK:
                snprintf(f->error, sizeof(f->error),
                         "ZADD of the tenants' clocks (%s:tenants:clock and :first) refused: %s",
                         s->cfg->key_prefix, r->str);
                break;
            }
        }
    } else if (e->what == EXPECT_APPLY) {
        count_replies(s, &f->res, r, e->first, e->n, f->error, sizeof(f->error));
    }
}

static bool flight_done(const gw_store_t *s)
{
    const apply_flight_t *f = &s->flight;
    return f->next == gw_coalesce_count(f->batch) && !gw_redis_unsent(s->redis) &&
           f->nreplies == f->nexpect;
}

static int flight_fail(gw_store_t *s, int rc, const char *why)
{
    apply_flight_t *f = &s->flight;
    snprintf(f->fail, sizeof(f->fail), "redis: %s", why);
    f->rc = rc;
    gw_resp_reset(&s->resp);
    gw_store_disconnect(s);
    return rc;
}

static int flight_io_fail(gw_store_t *s, const char *io_error)
{
    char why[200];
    snprintf(why, sizeof(why), "connection lost during a batch: %s", io_error);
    return flight_fail(s, GW_STORE_DOWN, why);
}

/* Moves the flight on without blocking: builds, writes what the socket
 * takes, reads and accounts what Redis answered. */
static int flight_pump(gw_store_t *s)
{
    apply_flight_t *f = &s->flight;
    if (f->rc != GW_STORE_OK)
        return f->rc;
    for (;;) {
        if (!gw_redis_unsent(s->redis) && f->next < gw_coalesce_count(f->batch)) {
            gw_resp_reset(&s->resp);
            if (build_piece(s) != 0)
                return flight_fail(s, GW_STORE_ERROR,
                                   "cannot build command (key too long or out of memory)");
            if (gw_redis_append(s->redis, &s->resp) != GW_REDIS_OK)
                return flight_fail(s, GW_STORE_ERROR, "out of memory queueing a batch");
        }
        bool progress;
        char io_error[128];
        if (gw_redis_pump(s->redis, &progress, io_error, sizeof(io_error)) != GW_REDIS_OK)
            return flight_io_fail(s, io_error);
        for (;;) {
            gw_redis_reply_t *reply;
            if (gw_redis_take_reply(s->redis, &reply) != GW_REDIS_OK)
                return flight_fail(s, GW_STORE_ERROR, "protocol error in a reply");
            if (!reply)
                break;
            if (f->nreplies == f->nexpect) {
                gw_redis_reply_free(reply);
                return flight_fail(s, GW_STORE_ERROR, "a reply nobody asked for");
            }
            handle_reply(s, reply);
            gw_redis_reply_free(reply);
        }
        if (progress)
            f->progress_ms = gw_mono_ms();
        if (flight_done(s) || !progress)
            return GW_STORE_OK;
    }
}

/* Builds the commands of one availability record into s->resp and sends
 * them (hiredis' output buffer); returns how many replies to expect, or -1. */
static int build_record(gw_store_t *s, const gw_avail_record_t *r, const char *topic)
{
    char key[GW_KEY_MAX], field[GW_ID_MAX + 8], val[64];
    gw_entity_t e = {GW_ENTITY_REP, r->tenant, r->rep};
    if (gw_keys_state(key, sizeof(key), s->cfg->key_prefix, &e) < 0)
        return -1;
    gw_resp_t *b = &s->resp;
    gw_resp_begin(b);
    snprintf(field, sizeof(field), "off:%s", r->record_id);
    switch (r->avail) {
    case GW_AVAIL_TIME_OFF:
        snprintf(val, sizeof(val), "%lld-%lld", (long long)r->at_ms, (long long)r->end_ms);
        gw_resp_arg(b, "HSET", 4);
        gw_resp_arg_str(b, key);
        gw_resp_arg_str(b, field);
        gw_resp_arg_str(b, val);
        break;
    case GW_AVAIL_CANCELLED:
        gw_resp_arg(b, "HDEL", 4);
        gw_resp_arg_str(b, key);
        gw_resp_arg_str(b, field);
        break;
    case GW_AVAIL_JOINED:
    case GW_AVAIL_LEFT:
        gw_resp_arg(b, "HSET", 4);
        gw_resp_arg_str(b, key);
        gw_resp_arg_str(b, r->avail == GW_AVAIL_JOINED ? "joined" : "left");
        gw_resp_arg_i64(b, r->at_ms);
        break;
    case GW_AVAIL_TEAM:
        gw_resp_arg(b, "HSET", 4);
        gw_resp_arg_str(b, key);
        gw_resp_arg(b, "team", 4);
        gw_resp_arg_str(b, r->team);
        gw_resp_arg(b, "team_since", 10);
        gw_resp_arg_i64(b, r->at_ms);
        break;
    case GW_AVAIL_NONE:
        return -1;
    }
    if (gw_resp_end(b) != 0 || send_resp(s) != 0)
        return -1;
    if (r->avail != GW_AVAIL_TEAM)
        return 1;
    /* the new team's roster lists the rep from now on, and so does its
     * partition's (the sweep reads the team from there) */
    if (gw_keys_team_reps(key, sizeof(key), s->cfg->key_prefix, r->tenant, r->team) < 0)
        return -1;
    gw_resp_begin(b);
    gw_resp_arg(b, "HSET", 4);
    gw_resp_arg_str(b, key);
    gw_resp_arg_str(b, r->rep);
    gw_resp_arg_i64(b, r->partition);
    if (gw_resp_end(b) != 0 || send_resp(s) != 0)
        return -1;
    char member[2 * GW_ID_MAX + 2];
    snprintf(member, sizeof(member), "%s:%s", r->tenant, r->rep);
    if (gw_keys_roster(key, sizeof(key), s->cfg->key_prefix, topic, r->partition) < 0)
        return -1;
    gw_resp_begin(b);
    gw_resp_arg(b, "HSET", 4);
    gw_resp_arg_str(b, key);
    gw_resp_arg_str(b, member);
    gw_resp_arg_str(b, r->team);
    if (gw_resp_end(b) != 0 || send_resp(s) != 0)
        return -1;
    return 3;
}

/* Writes the batch's availability records (docs/calendars.md) to the reps'
 * state, waiting for the replies: after the batch's counts, before its
 * positions, so whoever sees the positions sees the records. Idempotent, so a batch
 * retried after a failure writes them again harmlessly. Records are rare
 * (a few a day per rep): one round trip for a batch that holds any. */
static int write_records(gw_store_t *s, const gw_coalesce_t *batch, const char *topic, char *errstr,
                         size_t errstr_size)
{
    const gw_avail_record_t *recs;
    size_t n = gw_coalesce_records(batch, &recs);
    if (n == 0)
        return GW_STORE_OK;
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    size_t expect = 0;
    for (size_t i = 0; i < n; i++) {
        int k = build_record(s, &recs[i], topic);
        if (k < 0) {
            gw_resp_reset(&s->resp);
            snprintf(errstr, errstr_size, "redis: cannot build the availability record of %s:%s",
                     recs[i].tenant, recs[i].rep);
            gw_store_disconnect(s);
            return GW_STORE_ERROR;
        }
        expect += (size_t)k;
    }
    char first_error[256] = "";
    for (size_t i = 0; i < expect; i++) {
        gw_redis_reply_t *r = next_reply(s, "writing availability records", errstr, errstr_size);
        if (!r)
            return GW_STORE_DOWN;
        if (r->type == GW_REDIS_REPLY_ERROR && !first_error[0])
            snprintf(first_error, sizeof(first_error),
                     "HSET/HDEL of an availability record (state of a rep) refused: %s", r->str);
        gw_redis_reply_free(r);
    }
    if (first_error[0]) {
        snprintf(errstr, errstr_size, "redis: %s", first_error);
        return GW_STORE_ERROR;
    }
    return GW_STORE_OK;
}

int gw_store_apply_start(gw_store_t *s, const gw_coalesce_t *batch, const char *topic, char *errstr,
                         size_t errstr_size)
{
    apply_flight_t *f = &s->flight;
    expect_t *expect = f->expect;
    size_t capexpect = f->capexpect;
    memset(f, 0, sizeof(*f));
    f->expect = expect;
    f->capexpect = capexpect;
    f->batch = batch;
    f->topic = topic;
    f->active = true;
    f->rc = GW_STORE_OK;
    s->nredo = 0;
    s->now_ms = gw_now_ms();
    gw_resp_reset(&s->resp);
    int n = snprintf(s->ofield, sizeof(s->ofield) - 24, "o:%s/", topic);
    if (n < 0 || (size_t)n >= sizeof(s->ofield) - 24) {
        snprintf(f->fail, sizeof(f->fail), "topic name %s is too long", topic);
        f->rc = GW_STORE_ERROR;
        snprintf(errstr, errstr_size, "%s", f->fail);
        return f->rc;
    }
    s->ofield_len = (size_t)n;
    if (gw_coalesce_count(batch) == 0)
        return GW_STORE_OK;
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK) {
        f->rc = rc;
        snprintf(f->fail, sizeof(f->fail), "%s", errstr);
        return rc;
    }
    f->progress_ms = gw_mono_ms();
    rc = flight_pump(s);
    if (rc != GW_STORE_OK)
        snprintf(errstr, errstr_size, "%s", f->fail);
    return rc;
}

bool gw_store_apply_pump(gw_store_t *s)
{
    apply_flight_t *f = &s->flight;
    if (!f->active || f->rc != GW_STORE_OK || gw_coalesce_count(f->batch) == 0)
        return true;
    return flight_pump(s) != GW_STORE_OK || flight_done(s);
}

/* Blocks until the flight is done or fails. */
static int flight_wait(gw_store_t *s)
{
    apply_flight_t *f = &s->flight;
    while (f->rc == GW_STORE_OK && gw_coalesce_count(f->batch) > 0 && !flight_done(s)) {
        if (flight_pump(s) != GW_STORE_OK || flight_done(s))
            break;
        int64_t left = f->progress_ms + s->cfg->redis.command_timeout_ms - gw_mono_ms();
        if (left <= 0) {
            char why[128];
            snprintf(why, sizeof(why), "no answer for %lld ms during a batch",
                     (long long)s->cfg->redis.command_timeout_ms);
            return flight_fail(s, GW_STORE_DOWN, why);
        }
        char why[128];
        if (gw_redis_wait(s->redis, left > 1000 ? 1000 : (int)left, why, sizeof(why)) !=
            GW_REDIS_OK)
            return flight_fail(s, GW_STORE_DOWN, why);
    }
    return f->rc;
}

int gw_store_apply_finish(gw_store_t *s, gw_apply_result_t *res, char *errstr, size_t errstr_size)
{
    apply_flight_t *f = &s->flight;
    memset(res, 0, sizeof(*res));
    if (!f->active) {
        snprintf(errstr, errstr_size, "no batch is being applied");
        return GW_STORE_ERROR;
    }
    int rc = flight_wait(s);
    if (rc == GW_STORE_OK && f->noscript) {
        /* The deltas that did run are skipped by their offsets. (Not
         * with_scripts: the attempt is split between start and finish.) */
        uint64_t commands = f->res.commands;
        rc = gw_redis_reload_scripts(s->redis, errstr, errstr_size);
        if (rc != GW_STORE_OK) {
            f->active = false;
            return rc;
        }
        rc = gw_store_apply_start(s, f->batch, f->topic, errstr, errstr_size);
        if (rc == GW_STORE_OK)
            rc = flight_wait(s);
        f->res.commands += commands;
        if (rc == GW_STORE_OK && f->noscript) {
            snprintf(f->fail, sizeof(f->fail), GW_REDIS_SCRIPTS_VANISHED);
            rc = GW_STORE_ERROR;
        }
    }
    f->active = false;
    *res = f->res;
    res->redo_parts = s->redo;
    res->nredo_parts = s->nredo;
    if (rc != GW_STORE_OK) {
        snprintf(errstr, errstr_size, "%s", f->fail);
        return rc;
    }
    gw_resp_reset(&s->resp);
    if (f->error[0]) {
        snprintf(errstr, errstr_size, "redis: %s", f->error);
        return GW_STORE_ERROR;
    }
    /* The batch's availability records after its counts (a record is the
     * later fact: a TEAM_CHANGED wins over the team of the events before
     * it), before its positions. */
    rc = write_records(s, f->batch, f->topic, errstr, errstr_size);
    if (rc != GW_STORE_OK || !s->cfg->redis.cluster || !s->cfg->redis.cluster_wait_replicas)
        return rc;
    /* A cluster replicates asynchronously: a master killed before its
     * replica has the counts loses them at the failover, and positions
     * written on another node would skip them for good. */
    rc = gw_redis_wait_replicas(s->redis, (int)s->cfg->redis.command_timeout_ms, errstr,
                                errstr_size);
    if (rc != GW_REDIS_OK)
        gw_store_disconnect(s);
    return rc;
}

int gw_store_apply(gw_store_t *s, const gw_coalesce_t *batch, const char *topic,
                   gw_apply_result_t *res, char *errstr, size_t errstr_size)
{
    int rc = gw_store_apply_start(s, batch, topic, errstr, errstr_size);
    int frc = gw_store_apply_finish(s, res, errstr, errstr_size);
    return rc != GW_STORE_OK ? rc : frc;
}

/* ---- positions and reads --------------------------------------------- */

int gw_store_positions_read(gw_store_t *s, const char *topic, gw_position_t *pos, size_t n,
                            char *errstr, size_t errstr_size)
{
    if (n == 0)
        return GW_STORE_OK;
    char key[GW_KEY_MAX];
    int rc = connect_positions(s, topic, key, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    gw_resp_t *b = &s->resp;
    gw_resp_begin(b);
    gw_resp_arg(b, "HMGET", 5);
    gw_resp_arg_str(b, key);
    for (size_t i = 0; i < n; i++) {
        gw_resp_arg_i64(b, pos[i].partition);
        char f[24] = "wm:";
        size_t fl = 3 + gw_resp_i64_text(pos[i].partition, f + 3);
        gw_resp_arg(b, f, fl);
    }
    gw_resp_end(b);
    gw_redis_reply_t *r = command_resp(s, errstr, errstr_size);
    if (!r)
        return GW_STORE_DOWN;
    if (r->type != GW_REDIS_REPLY_ARRAY || r->elements != 2 * n) {
        snprintf(errstr, errstr_size, "redis: HMGET %s: %s", key, gw_redis_reply_why(r));
        gw_redis_reply_free(r);
        return GW_STORE_ERROR;
    }
    rc = GW_STORE_OK;
    for (size_t i = 0; i < n && rc == GW_STORE_OK; i++) {
        const gw_redis_reply_t *o = r->element[2 * i], *w = r->element[2 * i + 1];
        pos[i].next_offset = -1;
        pos[i].stream_ms = -1;
        if (o->type == GW_REDIS_REPLY_STRING &&
            !gw_resp_parse_i64(o->str, o->len, &pos[i].next_offset))
            rc = corrupt_field(errstr, errstr_size, key, "", pos[i].partition, o);
        else if (w->type == GW_REDIS_REPLY_STRING &&
                 !gw_resp_parse_i64(w->str, w->len, &pos[i].stream_ms))
            rc = corrupt_field(errstr, errstr_size, key, "wm:", pos[i].partition, w);
    }
    gw_redis_reply_free(r);
    return rc;
}

/* A random id for a new deployment epoch (hex). */
static void new_epoch(char *out, size_t size)
{
    unsigned char b[16];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(b, 1, sizeof(b), f) : 0;
    if (f)
        fclose(f);
    if (got != sizeof(b)) {
        uint64_t x = (uint64_t)gw_now_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)gw_mono_ms();
        for (size_t i = 0; i < sizeof(b); i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b[i] = (unsigned char)x;
        }
    }
    size_t o = 0;
    for (size_t i = 0; i < sizeof(b) && o + 3 <= size; i++)
        o += (size_t)snprintf(out + o, size - o, "%02x", b[i]);
}

typedef struct {
    const char *topic, *key, *fresh;
    const gw_position_t *pos;
    size_t n;
} positions_write_t;

static int positions_write_once(gw_store_t *s, void *ctx, bool *noscript, char *errstr,
                                size_t errstr_size)
{
    const positions_write_t *w = ctx;
    gw_resp_t *b = &s->resp;
    begin_evalsha(s, SCRIPT_POSITIONS, 1);
    gw_resp_arg_str(b, w->key);
    gw_resp_arg_str(b, s->epoch);
    gw_resp_arg_str(b, w->fresh);
    gw_resp_arg_i64(b, (int64_t)w->n);
    for (size_t i = 0; i < w->n; i++) {
        gw_resp_arg_i64(b, w->pos[i].partition);
        gw_resp_arg_i64(b, w->pos[i].next_offset);
        gw_resp_arg_i64(b, w->pos[i].stream_ms);
    }
    gw_resp_end(b);
    gw_redis_reply_t *r = command_resp(s, errstr, errstr_size);
    if (!r)
        return GW_STORE_DOWN;
    int rc;
    if (gw_redis_reply_is_noscript(r)) {
        *noscript = true;
        rc = GW_STORE_OK;
    } else if (r->type == GW_REDIS_REPLY_ERROR) {
        rc = strstr(r->str, "GWLOST") ? GW_STORE_LOST : GW_STORE_ERROR;
        if (rc == GW_STORE_LOST)
            snprintf(errstr, errstr_size,
                     "redis lost gapwatch's data: %s (redis restarted without persistence, "
                     "or was flushed)",
                     strstr(r->str, "GWLOST") + 7);
        else
            snprintf(errstr, errstr_size,
                     "redis: EVALSHA of the positions script (topic %s) refused: %s", w->topic,
                     r->str);
    } else if (r->type == GW_REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[1]->type == GW_REDIS_REPLY_STRING) {
        rc = GW_STORE_OK;
        /* The epoch belongs to the event topic's positions. */
        if (!s->epoch[0] && !strcmp(w->topic, s->cfg->kafka.topic_events))
            gw_store_set_epoch(s, r->element[1]->str);
    } else {
        rc = GW_STORE_ERROR;
        snprintf(errstr, errstr_size, "redis: positions of %s: unexpected reply", w->topic);
    }
    gw_redis_reply_free(r);
    return rc;
}

int gw_store_positions_write(gw_store_t *s, const char *topic, const gw_position_t *pos, size_t n,
                             char *errstr, size_t errstr_size)
{
    if (n == 0)
        return GW_STORE_OK;
    char key[GW_KEY_MAX];
    int rc = connect_positions(s, topic, key, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    char fresh[40];
    new_epoch(fresh, sizeof(fresh));
    positions_write_t w = {topic, key, fresh, pos, n};
    return with_scripts(s, positions_write_once, &w, errstr, errstr_size);
}

int gw_store_hgetall(gw_store_t *s, const char *key, gw_store_field_fn fn, void *ctx, char *errstr,
                     size_t errstr_size)
{
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    gw_redis_reply_t *r = command_key_array(s, "HGETALL", key, &rc, errstr, errstr_size);
    if (!r)
        return rc;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (fn(ctx, r->element[i]->str, r->element[i + 1]->str))
            break;
    gw_redis_reply_free(r);
    return GW_STORE_OK;
}

int gw_store_read_state(gw_store_t *s, const gw_entity_t *e, gw_store_field_fn fn, void *ctx,
                        char *errstr, size_t errstr_size)
{
    char key[GW_KEY_MAX];
    if (gw_keys_state(key, sizeof(key), s->cfg->key_prefix, e) < 0) {
        snprintf(errstr, errstr_size, "state key of %s:%s is too long", e->tenant, e->id);
        return GW_STORE_ERROR;
    }
    return gw_store_hgetall(s, key, fn, ctx, errstr, errstr_size);
}

int gw_store_read_totals(gw_store_t *s, const gw_entity_t *e, const char *window,
                         gw_store_field_fn fn, void *ctx, char *errstr, size_t errstr_size)
{
    char key[GW_KEY_MAX];
    if (gw_keys_totals(key, sizeof(key), s->cfg->key_prefix, e, window) < 0) {
        snprintf(errstr, errstr_size, "totals key of %s:%s in window %s is too long", e->tenant,
                 e->id, window);
        return GW_STORE_ERROR;
    }
    return gw_store_hgetall(s, key, fn, ctx, errstr, errstr_size);
}

int gw_store_read_roster(gw_store_t *s, const char *topic, int32_t partition, gw_store_field_fn fn,
                         void *ctx, char *errstr, size_t errstr_size)
{
    char key[GW_KEY_MAX];
    if (gw_keys_roster(key, sizeof(key), s->cfg->key_prefix, topic, partition) < 0) {
        snprintf(errstr, errstr_size, "roster key of topic %s is too long", topic);
        return GW_STORE_ERROR;
    }
    return gw_store_hgetall(s, key, fn, ctx, errstr, errstr_size);
}

int gw_store_read_team(gw_store_t *s, const char *tenant, const char *team, gw_store_field_fn fn,
                       void *ctx, char *errstr, size_t errstr_size)
{
    char key[GW_KEY_MAX];
    if (gw_keys_team_reps(key, sizeof(key), s->cfg->key_prefix, tenant, team) < 0) {
        snprintf(errstr, errstr_size, "roster key of team %s:%s is too long", tenant, team);
        return GW_STORE_ERROR;
    }
    return gw_store_hgetall(s, key, fn, ctx, errstr, errstr_size);
}

typedef struct {
    gw_store_gap_fn fn;
    void *ctx;
} gaps_read_t;

/* One field of the positions hash: a gap "lost:<p>:<from>" = "<to>
 * <stream_ms> <wall_ms>" (as gw_store_record_gap writes it), or skipped. */
static int gap_field(void *ctx, const char *field, const char *value)
{
    const gaps_read_t *g = ctx;
    int partition;
    long long from, to, stream_ms;
    if (strncmp(field, "lost:", 5) != 0)
        return 0;
    if (sscanf(field + 5, "%d:%lld", &partition, &from) != 2 ||
        sscanf(value, "%lld %lld", &to, &stream_ms) != 2 || to <= from)
        return 0; /* not a gap record of ours */
    gw_gap_t gap = {partition, from, to, stream_ms};
    return g->fn(g->ctx, &gap);
}

int gw_store_read_gaps(gw_store_t *s, const char *topic, gw_store_gap_fn fn, void *ctx,
                       char *errstr, size_t errstr_size)
{
    char key[GW_KEY_MAX];
    int rc = positions_key(s, topic, key, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    gaps_read_t g = {fn, ctx};
    return gw_store_hgetall(s, key, gap_field, &g, errstr, errstr_size);
}

/* ---- evaluation reads and snapshot writes ------------------------------ */

/* Reads a totals hash (HGETALL reply `r`) into `t`. Returns -1 when
 * a known field is not an integer, its index in `r` in *bad. */
static int parse_totals(const gw_kinds_t *kinds, const gw_redis_reply_t *r, gw_totals_t *t,
                        size_t *bad)
{
    memset(t, 0, sizeof(*t));
    t->wm = -1;
    if (r->type != GW_REDIS_REPLY_ARRAY)
        return 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *f = r->element[i]->str;
        const gw_redis_reply_t *v = r->element[i + 1];
        if (!f || !v->str)
            continue;
        int64_t *into = NULL;
        if (!strcmp(f, "late")) {
            into = &t->late;
        } else {
            int m = gw_metric_parse(kinds, f);
            if (m >= 0)
                into = &t->v[m];
        }
        if (into && !gw_resp_parse_i64(v->str, v->len, into)) {
            *bad = i;
            return -1;
        }
    }
    /* Not stored (they would double the writes): derived from the kinds. */
    gw_metrics_derive(kinds, t->v);
    return 0;
}

/* The time off "<from ms>-<to ms>" of a state field "off:...". */
static bool parse_time_off(const gw_redis_reply_t *v, gw_interval_t *out)
{
    const char *dash = v->len > 1 ? memchr(v->str + 1, '-', v->len - 1) : NULL;
    int64_t from, to;
    if (!dash || !gw_resp_parse_i64(v->str, (size_t)(dash - v->str), &from) ||
        !gw_resp_parse_i64(dash + 1, v->len - (size_t)(dash + 1 - v->str), &to))
        return false;
    *out = (gw_interval_t){from, to};
    return true;
}

/* Fills `e` from the read script's reply `r`. Returns GW_STORE_OK, or
 * GW_STORE_ERROR with `errstr` naming the key and field whose value is not
 * the integer expected. */
static int parse_read(const gw_config_t *cfg, const gw_redis_reply_t *r, gw_entity_read_t *e,
                      char *errstr, size_t errstr_size)
{
    char key[GW_KEY_MAX];
    size_t bad;
    e->exists = false;
    e->first_ms = -1;
    e->team[0] = '\0';
    e->team_since_ms = -1;
    e->avail = (gw_availability_t){.joined_ms = -1, .left_ms = -1};
    for (int w = 0; w < cfg->nwindows; w++) {
        if (parse_totals(&cfg->kinds, r->element[1 + w], &e->win[w], &bad) != 0) {
            gw_keys_totals(key, sizeof(key), cfg->key_prefix, &e->entity, cfg->windows[w].name);
            return corrupt_hash_field(errstr, errstr_size, key, r->element[1 + w], bad);
        }
    }
    for (int k = 0, j = 1 + cfg->nwindows; k < GW_PERIOD_COUNT; k++) {
        memset(&e->period[k], 0, sizeof(e->period[k]));
        if (e->period_first[k] < 0)
            continue;
        if (parse_totals(&cfg->kinds, r->element[j], &e->period[k], &bad) != 0) {
            char date[16];
            gw_date_format(e->period_first[k], date, sizeof(date));
            gw_keys_period(key, sizeof(key), cfg->key_prefix, &e->entity,
                           gw_period_str((gw_period_kind_t)k), date);
            return corrupt_hash_field(errstr, errstr_size, key, r->element[j], bad);
        }
        j++;
    }
    const gw_redis_reply_t *st = r->element[0];
    for (size_t i = 0; st->type == GW_REDIS_REPLY_ARRAY && i + 1 < st->elements; i += 2) {
        const char *f = st->element[i]->str;
        const gw_redis_reply_t *v = st->element[i + 1];
        if (!f || !v->str)
            continue;
        bool ok = true;
        if (!strcmp(f, "first_ms")) {
            ok = gw_resp_parse_i64(v->str, v->len, &e->first_ms);
        } else if (!strcmp(f, "team")) {
            snprintf(e->team, sizeof(e->team), "%s", v->str);
        } else if (!strcmp(f, "team_since")) {
            ok = gw_resp_parse_i64(v->str, v->len, &e->team_since_ms);
        } else if (!strcmp(f, "joined")) {
            ok = gw_resp_parse_i64(v->str, v->len, &e->avail.joined_ms);
        } else if (!strcmp(f, "left")) {
            ok = gw_resp_parse_i64(v->str, v->len, &e->avail.left_ms);
        } else if (!strncmp(f, "off:", 4)) {
            gw_interval_t off;
            ok = parse_time_off(v, &off);
            if (ok && e->avail.noff < GW_TIME_OFF_MAX)
                e->avail.off[e->avail.noff++] = off;
        } else if (!strncmp(f, "wm:", 3)) {
            int w = gw_config_window_index(cfg, f + 3);
            if (w >= 0) {
                ok = gw_resp_parse_i64(v->str, v->len, &e->win[w].wm);
                e->exists = true;
            }
        }
        if (!ok) {
            gw_keys_state(key, sizeof(key), cfg->key_prefix, &e->entity);
            return corrupt_hash_field(errstr, errstr_size, key, st, i);
        }
    }
    gw_availability_normalize(&e->avail);
    return GW_STORE_OK;
}

static int read_periods(const gw_entity_read_t *e)
{
    int n = 0;
    for (int k = 0; k < GW_PERIOD_COUNT; k++)
        n += e->period_first[k] >= 0;
    return n;
}

typedef struct {
    gw_entity_read_t *reads;
    size_t n;
    int64_t wm_ms;
} read_entities_t;

static int read_once(gw_store_t *s, void *ctx, bool *noscript, char *errstr, size_t errstr_size)
{
    const gw_config_t *cfg = s->cfg;
    gw_entity_read_t *reads = ((read_entities_t *)ctx)->reads;
    size_t n = ((read_entities_t *)ctx)->n;
    int64_t wm_ms = ((read_entities_t *)ctx)->wm_ms;
    for (size_t i = 0; i < n; i++) {
        s->now_ms = gw_now_ms();
        gw_resp_t *b = &s->resp;
        begin_evalsha(s, SCRIPT_APPLY, 1 + 2 * cfg->nwindows);
        int rc = build_keys(s, &reads[i].entity);
        build_head(s, "read");
        gw_resp_arg_i64(b, wm_ms);
        int np = 0;
        for (int k = 0; k < GW_PERIOD_COUNT; k++)
            np += reads[i].period_first[k] >= 0;
        gw_resp_arg_i64(b, np);
        for (int k = 0; k < GW_PERIOD_COUNT; k++) {
            char key[GW_KEY_MAX], date[16];
            if (reads[i].period_first[k] < 0)
                continue;
            gw_date_format(reads[i].period_first[k], date, sizeof(date));
            if (gw_keys_period(key, sizeof(key), cfg->key_prefix, &reads[i].entity,
                               gw_period_str((gw_period_kind_t)k), date) < 0)
                rc = -1;
            gw_resp_arg_str(b, key);
        }
        if (rc != 0 || gw_resp_end(b) != 0 || send_resp(s) != 0) {
            gw_resp_reset(b);
            snprintf(errstr, errstr_size, "redis: cannot build a read (key too long?)");
            gw_store_disconnect(s);
            return GW_STORE_ERROR;
        }
    }
    char first_error[512] = "";
    for (size_t i = 0; i < n; i++) {
        gw_redis_reply_t *r = next_reply(s, "while reading", errstr, errstr_size);
        if (!r)
            return GW_STORE_DOWN;
        if (gw_redis_reply_is_noscript(r)) {
            *noscript = true;
        } else if (r->type == GW_REDIS_REPLY_ERROR) {
            if (!first_error[0])
                snprintf(first_error, sizeof(first_error),
                         "EVALSHA of the apply script (read of %s:%s) refused: %s",
                         reads[i].entity.tenant, reads[i].entity.id, r->str);
        } else if (r->type == GW_REDIS_REPLY_ARRAY &&
                   r->elements == (size_t)(1 + cfg->nwindows + read_periods(&reads[i]))) {
            /* the first error is the one reported; later ones are logged */
            char later[sizeof(first_error)];
            if (first_error[0])
                parse_read(cfg, r, &reads[i], later, sizeof(later));
            else
                parse_read(cfg, r, &reads[i], first_error, sizeof(first_error));
        } else if (!first_error[0]) {
            snprintf(first_error, sizeof(first_error), "read script returned an unexpected reply");
        }
        gw_redis_reply_free(r);
    }
    if (first_error[0]) {
        snprintf(errstr, errstr_size, "redis: %s", first_error);
        return GW_STORE_ERROR;
    }
    return GW_STORE_OK;
}

int gw_store_read_entities(gw_store_t *s, gw_entity_read_t *reads, size_t n, int64_t wm_ms,
                           char *errstr, size_t errstr_size)
{
    if (n == 0)
        return GW_STORE_OK;
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    read_entities_t rd = {reads, n, wm_ms};
    return with_scripts(s, read_once, &rd, errstr, errstr_size);
}

/* ---- rosters and tenant times, written by the evaluator ----------------- */

/* Queues the one command in s->resp, its reply owed to gw_store_flush(). */
static int queue_resp(gw_store_t *s, char *errstr, size_t errstr_size)
{
    if (gw_redis_queue(s->redis, &s->resp, 1) != GW_REDIS_OK) {
        snprintf(errstr, errstr_size, "redis: cannot queue a command (out of memory)");
        gw_store_disconnect(s);
        return GW_STORE_ERROR;
    }
    return GW_STORE_OK;
}

/* Connects and writes the team roster key of `tenant`, `team` into `key`. */
static int team_key(gw_store_t *s, const char *tenant, const char *team, char *key, char *errstr,
                    size_t errstr_size)
{
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    if (gw_keys_team_reps(key, GW_KEY_MAX, s->cfg->key_prefix, tenant, team) < 0) {
        snprintf(errstr, errstr_size, "roster key of team %s:%s is too long", tenant, team);
        return GW_STORE_ERROR;
    }
    return GW_STORE_OK;
}

int gw_store_queue_team_member(gw_store_t *s, const char *tenant, const char *team, const char *rep,
                               int32_t partition, char *errstr, size_t errstr_size)
{
    char key[GW_KEY_MAX];
    int rc = team_key(s, tenant, team, key, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    gw_resp_begin(&s->resp);
    gw_resp_arg(&s->resp, "HSET", 4);
    gw_resp_arg_str(&s->resp, key);
    gw_resp_arg_str(&s->resp, rep);
    gw_resp_arg_i64(&s->resp, partition);
    gw_resp_end(&s->resp);
    return queue_resp(s, errstr, errstr_size);
}

int gw_store_queue_team_forget(gw_store_t *s, const char *tenant, const char *team, const char *rep,
                               char *errstr, size_t errstr_size)
{
    char key[GW_KEY_MAX];
    int rc = team_key(s, tenant, team, key, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    gw_resp_begin(&s->resp);
    gw_resp_arg(&s->resp, "HDEL", 4);
    gw_resp_arg_str(&s->resp, key);
    gw_resp_arg_str(&s->resp, rep);
    gw_resp_end(&s->resp);
    return queue_resp(s, errstr, errstr_size);
}

int gw_store_queue_tenant_times(gw_store_t *s, const char *tenant, int64_t newest, int64_t earliest,
                                char *errstr, size_t errstr_size)
{
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    for (int first = 0; first < 2; first++) {
        char key[GW_KEY_MAX];
        gw_keys_tenant_clock(key, sizeof(key), s->cfg->key_prefix, first);
        gw_resp_begin(&s->resp);
        gw_resp_arg(&s->resp, "ZADD", 4);
        gw_resp_arg_str(&s->resp, key);
        gw_resp_arg(&s->resp, first ? "LT" : "GT", 2);
        gw_resp_arg_i64(&s->resp, first ? earliest : newest);
        gw_resp_arg_str(&s->resp, tenant);
        gw_resp_end(&s->resp);
        rc = queue_resp(s, errstr, errstr_size);
        if (rc != GW_STORE_OK)
            return rc;
    }
    return GW_STORE_OK;
}

/* A ZSCORE reply: the clock (its score), or -1 (none, or refused). */
static void tenant_time_reply(void *ctx, size_t index, const gw_redis_reply_t *r)
{
    gw_tenant_times_t *t = &((gw_tenant_times_t *)ctx)[index / 2];
    int64_t v = -1;
    if (r->type == GW_REDIS_REPLY_STRING) {
        char *end;
        double d = strtod(r->str, &end);
        if (end != r->str && isfinite(d))
            v = (int64_t)d;
    }
    if (index % 2 == 0)
        t->clock = v;
    else
        t->first = v;
}

int gw_store_read_tenant_times(gw_store_t *s, gw_tenant_times_t *times, size_t n, char *errstr,
                               size_t errstr_size)
{
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        times[i].clock = times[i].first = -1;
        for (int first = 0; first < 2; first++) {
            char key[GW_KEY_MAX];
            gw_keys_tenant_clock(key, sizeof(key), s->cfg->key_prefix, first);
            gw_resp_begin(&s->resp);
            gw_resp_arg(&s->resp, "ZSCORE", 6);
            gw_resp_arg_str(&s->resp, key);
            gw_resp_arg_str(&s->resp, times[i].tenant);
            gw_resp_end(&s->resp);
            rc = queue_resp(s, errstr, errstr_size);
            if (rc != GW_STORE_OK)
                return rc;
        }
    }
    rc = gw_redis_flush(s->redis, tenant_time_reply, times, errstr, errstr_size);
    if (rc == GW_REDIS_DOWN)
        gw_store_disconnect(s);
    return rc;
}

int gw_store_roster_forget(gw_store_t *s, const char *topic, int32_t partition, const char *tenant,
                           const char *rep, char *errstr, size_t errstr_size)
{
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    char key[GW_KEY_MAX], field[2 * GW_ID_MAX + 2];
    if (gw_keys_roster(key, sizeof(key), s->cfg->key_prefix, topic, partition) < 0) {
        snprintf(errstr, errstr_size, "roster key of topic %s is too long", topic);
        return GW_STORE_ERROR;
    }
    snprintf(field, sizeof(field), "%s:%s", tenant, rep);
    const char *argv[3] = {"HDEL", key, field};
    size_t lens[3] = {4, strlen(key), strlen(field)};
    gw_redis_reply_t *r = gw_redis_command_argv(s->redis, 3, argv, lens, errstr, errstr_size);
    if (!r) {
        gw_store_disconnect(s);
        return GW_STORE_DOWN;
    }
    rc = r->type == GW_REDIS_REPLY_ERROR ? GW_STORE_ERROR : GW_STORE_OK;
    if (rc != GW_STORE_OK)
        snprintf(errstr, errstr_size, "redis: HDEL %s: %s", key, r->str);
    gw_redis_reply_free(r);
    return rc;
}

int gw_store_flush(gw_store_t *s, char *errstr, size_t errstr_size)
{
    int rc = gw_redis_flush(s->redis, NULL, NULL, errstr, errstr_size);
    if (rc == GW_REDIS_DOWN)
        gw_store_disconnect(s);
    return rc;
}
