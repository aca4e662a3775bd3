/*
 * gw_store: hiredis (synchronous, pipelined) implementation of the Redis
 * contract. One connection; scripts are loaded at connect and re-loaded
 * when Redis answers NOSCRIPT (a restarted or flushed server).
 *
 * Command arguments are built in an arena that is reset after each command
 * is appended (hiredis copies them into its output buffer), so building a
 * batch allocates nothing once warm.
 */
#include "gw_store.h"

#include <stdarg.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "gw_arena.h"
#include "gw_keys.h"
#include "gw_log.h"
#include "gw_map.h"
#include "gw_time.h"

extern const char gw_lua_apply[];
extern const char gw_lua_positions[];
extern const char gw_lua_alerts[];

enum { SCRIPT_APPLY, SCRIPT_POSITIONS, SCRIPT_ALERTS, SCRIPT_COUNT };

struct gw_store_s {
    const gw_config_t *cfg;
    redisContext *ctx;
    char sha[SCRIPT_COUNT][41];
    gw_arena_t *args_arena;
    const char **argv;
    size_t *argvlen;
    size_t argc, argcap;
    gw_redo_t *redo;
    size_t nredo, redocap;
    size_t pending_replies; /* queued by gw_store_queue_hash, read by gw_store_flush */
    int64_t now_ms;         /* wall clock of the batch being applied (TTL bookkeeping) */
    gw_map_t *roster;       /* "<partition>|<tenant>:<rep>|<team>" already in the roster */
    uint8_t *roster_sent;   /* per delta of the batch being applied */
    size_t roster_cap;
};

static const char *script_source(int i)
{
    static const char *const sources[SCRIPT_COUNT] = {gw_lua_apply, gw_lua_positions,
                                                      gw_lua_alerts};
    return sources[i];
}

gw_store_t *gw_store_new(const gw_config_t *cfg)
{
    gw_store_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cfg = cfg;
    s->args_arena = gw_arena_new(65536);
    s->roster = gw_map_new();
    if (!s->args_arena || !s->roster) {
        gw_arena_free(s->args_arena);
        gw_map_free(s->roster, NULL);
        free(s);
        return NULL;
    }
    return s;
}

void gw_store_free(gw_store_t *s)
{
    if (!s)
        return;
    if (s->ctx)
        redisFree(s->ctx);
    gw_arena_free(s->args_arena);
    gw_map_free(s->roster, NULL);
    free(s->roster_sent);
    free(s->argv);
    free(s->argvlen);
    free(s->redo);
    free(s);
}

bool gw_store_connected(const gw_store_t *s)
{
    return s->ctx != NULL;
}

void gw_store_disconnect(gw_store_t *s)
{
    if (s->ctx) {
        redisFree(s->ctx);
        s->ctx = NULL;
    }
    s->pending_replies = 0;
}

static struct timeval ms_to_tv(int64_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* Runs one command synchronously; returns the reply (caller frees) or NULL
 * after dropping the connection. */
static redisReply *command_argv(gw_store_t *s, int argc, const char **argv, const size_t *lens,
                                char *errstr, size_t errstr_size)
{
    redisReply *r = redisCommandArgv(s->ctx, argc, argv, lens);
    if (!r) {
        snprintf(errstr, errstr_size, "redis: %s", s->ctx->errstr[0] ? s->ctx->errstr : "no reply");
        gw_store_disconnect(s);
    }
    return r;
}

static int load_scripts(gw_store_t *s, char *errstr, size_t errstr_size)
{
    for (int i = 0; i < SCRIPT_COUNT; i++) {
        const char *src = script_source(i);
        const char *argv[3] = {"SCRIPT", "LOAD", src};
        size_t lens[3] = {6, 4, strlen(src)};
        redisReply *r = command_argv(s, 3, argv, lens, errstr, errstr_size);
        if (!r)
            return GW_STORE_DOWN;
        if (r->type != REDIS_REPLY_STRING || r->len != 40) {
            snprintf(errstr, errstr_size, "redis: SCRIPT LOAD failed: %s",
                     r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            freeReplyObject(r);
            return GW_STORE_ERROR;
        }
        memcpy(s->sha[i], r->str, 40);
        s->sha[i][40] = '\0';
        freeReplyObject(r);
    }
    return GW_STORE_OK;
}

int gw_store_connect(gw_store_t *s, char *errstr, size_t errstr_size)
{
    if (s->ctx)
        return GW_STORE_OK;
    const gw_config_t *cfg = s->cfg;
    struct timeval ctv = ms_to_tv(cfg->redis.connect_timeout_ms);
    redisContext *c;
    char where[300];
    if (cfg->redis.unix_socket && *cfg->redis.unix_socket) {
        c = redisConnectUnixWithTimeout(cfg->redis.unix_socket, ctv);
        snprintf(where, sizeof(where), "unix:%s", cfg->redis.unix_socket);
    } else {
        c = redisConnectWithTimeout(cfg->redis.host, cfg->redis.port, ctv);
        snprintf(where, sizeof(where), "%s:%d", cfg->redis.host, cfg->redis.port);
    }
    if (!c || c->err) {
        snprintf(errstr, errstr_size, "redis %s: cannot connect: %s", where,
                 c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return GW_STORE_DOWN;
    }
    if (redisSetTimeout(c, ms_to_tv(cfg->redis.command_timeout_ms)) != REDIS_OK ||
        redisEnableKeepAlive(c) != REDIS_OK) {
        snprintf(errstr, errstr_size, "redis %s: cannot set socket options: %s", where, c->errstr);
        redisFree(c);
        return GW_STORE_DOWN;
    }
    s->ctx = c;
    if (cfg->redis.password) {
        const char *argv[3] = {"AUTH", NULL, NULL};
        size_t lens[3] = {4, 0, 0};
        int argc = 2;
        if (cfg->redis.user && *cfg->redis.user) {
            argv[1] = cfg->redis.user;
            lens[1] = strlen(cfg->redis.user);
            argv[2] = cfg->redis.password;
            lens[2] = strlen(cfg->redis.password);
            argc = 3;
        } else {
            argv[1] = cfg->redis.password;
            lens[1] = strlen(cfg->redis.password);
        }
        redisReply *r = command_argv(s, argc, argv, lens, errstr, errstr_size);
        if (!r)
            return GW_STORE_DOWN;
        if (r->type == REDIS_REPLY_ERROR) {
            /* Never echo the password: Redis' message does not contain it. */
            snprintf(errstr, errstr_size, "redis %s: AUTH%s%s failed: %s", where,
                     argc == 3 ? " as " : "", argc == 3 ? cfg->redis.user : "", r->str);
            freeReplyObject(r);
            gw_store_disconnect(s);
            return GW_STORE_ERROR;
        }
        freeReplyObject(r);
    }
    if (cfg->redis.db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", cfg->redis.db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, strlen(db)};
        redisReply *r = command_argv(s, 2, argv, lens, errstr, errstr_size);
        if (!r)
            return GW_STORE_DOWN;
        int bad = r->type == REDIS_REPLY_ERROR;
        if (bad)
            snprintf(errstr, errstr_size, "redis %s: SELECT %d failed: %s", where, cfg->redis.db,
                     r->str);
        freeReplyObject(r);
        if (bad) {
            gw_store_disconnect(s);
            return GW_STORE_ERROR;
        }
    }
    int rc = load_scripts(s, errstr, errstr_size);
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

int gw_store_ping(gw_store_t *s, char *errstr, size_t errstr_size)
{
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    const char *argv[1] = {"PING"};
    size_t lens[1] = {4};
    redisReply *r = command_argv(s, 1, argv, lens, errstr, errstr_size);
    if (!r)
        return GW_STORE_DOWN;
    rc = r->type == REDIS_REPLY_ERROR ? GW_STORE_ERROR : GW_STORE_OK;
    if (rc != GW_STORE_OK)
        snprintf(errstr, errstr_size, "redis: PING: %s", r->str);
    freeReplyObject(r);
    return rc;
}

/* ---- argument building ---------------------------------------------- */

static int args_push(gw_store_t *s, const char *p, size_t len)
{
    if (s->argc == s->argcap) {
        size_t ncap = s->argcap ? s->argcap * 2 : 256;
        const char **na = realloc(s->argv, ncap * sizeof(*na));
        if (!na)
            return -1;
        s->argv = na;
        size_t *nl = realloc(s->argvlen, ncap * sizeof(*nl));
        if (!nl)
            return -1;
        s->argvlen = nl;
        s->argcap = ncap;
    }
    s->argv[s->argc] = p;
    s->argvlen[s->argc] = len;
    s->argc++;
    return 0;
}

static int args_str(gw_store_t *s, const char *str)
{
    return args_push(s, str, strlen(str));
}

/* Copies a formatted string into the args arena and pushes it. */
static int args_fmt(gw_store_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int args_fmt(gw_store_t *s, const char *fmt, ...)
{
    char buf[GW_KEY_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return -1;
    char *p = gw_arena_strndup(s->args_arena, buf, (size_t)n);
    return p ? args_push(s, p, (size_t)n) : -1;
}

static int args_i64(gw_store_t *s, int64_t v)
{
    return args_fmt(s, "%" PRId64, v);
}

static void args_reset(gw_store_t *s)
{
    s->argc = 0;
    gw_arena_reset(s->args_arena);
}

static int append_args(gw_store_t *s)
{
    int rc = redisAppendCommandArgv(s->ctx, (int)s->argc, s->argv, s->argvlen);
    args_reset(s);
    return rc == REDIS_OK ? 0 : -1;
}

/* Pushes the KEYS of the apply script for entity `e`. */
static int build_keys(gw_store_t *s, const gw_entity_t *e)
{
    const gw_config_t *cfg = s->cfg;
    const char *prefix = cfg->key_prefix;
    char key[GW_KEY_MAX];
    int rc = 0;
    if (gw_keys_state(key, sizeof(key), prefix, e) < 0)
        return -1;
    rc |= args_fmt(s, "%s", key);
    for (int w = 0; w < cfg->nwindows; w++) {
        if (gw_keys_totals(key, sizeof(key), prefix, e, cfg->windows[w].name) < 0)
            return -1;
        rc |= args_fmt(s, "%s", key);
        if (gw_keys_buckets(key, sizeof(key), prefix, e, cfg->windows[w].name) < 0)
            return -1;
        rc |= args_fmt(s, "%s", key);
    }
    return rc;
}

/* Pushes the script's common ARGV head: ttl, now, mode, the windows. */
static int build_head(gw_store_t *s, const char *mode)
{
    const gw_config_t *cfg = s->cfg;
    int rc = args_i64(s, cfg->key_ttl_ms);
    rc |= args_i64(s, s->now_ms);
    rc |= args_str(s, mode);
    rc |= args_i64(s, cfg->nwindows);
    for (int w = 0; w < cfg->nwindows; w++) {
        const gw_window_t *win = &cfg->windows[w];
        rc |= args_str(s, win->name);
        rc |= args_i64(s, win->bucket_ms);
        rc |= args_i64(s, win->nbuckets);
        rc |= args_i64(s, win->grace_ms);
    }
    return rc;
}

/* Pushes one delta's ARGV section (layout: src/lua/apply.lua). */
static int build_entity(gw_store_t *s, const gw_coalesce_t *batch, const gw_delta_t *d,
                        const char *topic)
{
    const gw_config_t *cfg = s->cfg;
    int rc = 0;
    int nparts = 0;
    for (int32_t p = d->parts; p >= 0; p = gw_coalesce_part(batch, p)->next)
        nparts++;
    rc |= args_i64(s, nparts);
    for (int32_t p = d->parts; p >= 0; p = gw_coalesce_part(batch, p)->next) {
        const gw_delta_part_t *part = gw_coalesce_part(batch, p);
        rc |= args_fmt(s, "%s/%d", topic, part->partition);
        rc |= args_i64(s, part->min_offset);
        rc |= args_i64(s, part->max_offset);
    }
    rc |= args_str(s, d->kind == GW_ENTITY_REP && d->team ? d->team : "");
    rc |= args_i64(s, d->first_event_ms);
    rc |= args_i64(s, d->wm_ms);
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
        for (int32_t c = d->cells[w]; c >= 0; c = gw_coalesce_cell(batch, c)->next) {
            const gw_delta_cell_t *cell = gw_coalesce_cell(batch, c);
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
            if (cell->bucket < lowest)
                lowest = cell->bucket;
            ncells++;
        }
        rc |= args_i64(s, d->late[w]);
        rc |= args_i64(s, nsums);
        char names[64][GW_METRIC_NAME_MAX];
        for (int k = 0; k < nsums; k++) {
            if (gw_metric_name(&cfg->kinds, sums[k].metric, names[k], sizeof(names[k])) < 0)
                return -1;
            rc |= args_fmt(s, "%s", names[k]);
            rc |= args_i64(s, sums[k].sum);
        }
        rc |= args_i64(s, ncells);
        rc |= args_i64(s, ncells ? lowest : 0);
        for (int32_t c = d->cells[w]; c >= 0; c = gw_coalesce_cell(batch, c)->next) {
            const gw_delta_cell_t *cell = gw_coalesce_cell(batch, c);
            int k = 0;
            while (sums[k].metric != cell->metric)
                k++;
            rc |= args_i64(s, cell->bucket);
            rc |= args_fmt(s, "%" PRId64 "|%s", cell->bucket * win->bucket_ms, names[k]);
            rc |= args_i64(s, cell->value);
            rc |= args_i64(s, k + 1);
        }
    }
    return rc ? -1 : 0;
}

/* Builds one EVALSHA applying deltas [lo, hi) (layout: src/lua/apply.lua). */
static int build_call(gw_store_t *s, const gw_coalesce_t *batch, size_t lo, size_t hi,
                      const char *topic)
{
    const gw_config_t *cfg = s->cfg;
    int rc = args_str(s, "EVALSHA");
    rc |= args_str(s, s->sha[SCRIPT_APPLY]);
    rc |= args_i64(s, (int64_t)(hi - lo) * (1 + 2 * cfg->nwindows));
    for (size_t i = lo; i < hi; i++) {
        const gw_delta_t *d = gw_coalesce_delta(batch, i);
        gw_entity_t e = {d->kind, d->tenant, d->id};
        rc |= build_keys(s, &e);
    }
    rc |= build_head(s, "apply");
    rc |= args_i64(s, (int64_t)(hi - lo));
    for (size_t i = lo; i < hi; i++)
        if (build_entity(s, batch, gw_coalesce_delta(batch, i), topic) != 0)
            return -1;
    return rc ? -1 : 0;
}

/* Adds the rep to its partition's roster unless this connection already
 * did (*queued tells whether a command was appended). */
static int build_roster(gw_store_t *s, const gw_coalesce_t *batch, const gw_delta_t *d,
                        const char *topic, bool *queued)
{
    char key[GW_KEY_MAX];
    int32_t partition = gw_coalesce_part(batch, d->parts)->partition;
    char known[3 * GW_ID_MAX + 24];
    snprintf(known, sizeof(known), "%d|%s:%s|%s", partition, d->tenant, d->id,
             d->team ? d->team : "");
    *queued = false;
    if (gw_map_get(s->roster, known))
        return 0;
    if (gw_map_put(s->roster, known, (void *)1) != 0)
        return -1;
    *queued = true;
    if (gw_keys_roster(key, sizeof(key), s->cfg->key_prefix, topic, partition) < 0)
        return -1;
    int rc = args_str(s, "HSET");
    rc |= args_fmt(s, "%s", key);
    rc |= args_fmt(s, "%s:%s", d->tenant, d->id);
    rc |= args_str(s, d->team ? d->team : "");
    return rc ? -1 : 0;
}

static int add_redo(gw_store_t *s, uint32_t delta, const char *part, int64_t stored)
{
    const char *slash = strrchr(part, '/');
    if (!slash)
        return -1;
    if (s->nredo == s->redocap) {
        size_t ncap = s->redocap ? s->redocap * 2 : 64;
        gw_redo_t *n = realloc(s->redo, ncap * sizeof(*n));
        if (!n)
            return -1;
        s->redo = n;
        s->redocap = ncap;
    }
    s->redo[s->nredo].delta = delta;
    s->redo[s->nredo].partition = (int32_t)strtol(slash + 1, NULL, 10);
    s->redo[s->nredo].stored = stored;
    s->nredo++;
    return 0;
}

#define APPLY_CHUNK 2000
/* entities per script call on a standalone Redis (one on a cluster) */
#define ENTITIES_PER_CALL 32

/* Accounts the reply of one call applying `n` deltas from `first`: per
 * delta 0 skipped, 1 applied, or -k followed by k pairs {part, stored} to
 * re-send. */
static void count_replies(gw_store_t *s, gw_apply_result_t *res, const redisReply *r, size_t first,
                          size_t n, char *first_error, size_t size)
{
    if (r->type != REDIS_REPLY_ARRAY) {
        if (!first_error[0])
            snprintf(first_error, size, "apply script returned an unexpected reply");
        return;
    }
    size_t e = 0;
    for (size_t d = 0; d < n; d++) {
        if (e >= r->elements || r->element[e]->type != REDIS_REPLY_INTEGER) {
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
                if (e + 1 >= r->elements || r->element[e]->type != REDIS_REPLY_STRING ||
                    r->element[e + 1]->type != REDIS_REPLY_STRING ||
                    add_redo(s, (uint32_t)(first + d), r->element[e]->str,
                             strtoll(r->element[e + 1]->str, NULL, 10)) != 0) {
                    if (!first_error[0])
                        snprintf(first_error, size, "apply script returned a malformed redo list");
                    return;
                }
            }
        }
    }
}

/* Sends the batch once. *noscript is set when Redis lost the scripts. */
static int apply_once(gw_store_t *s, const gw_coalesce_t *batch, const char *topic,
                      gw_apply_result_t *res, bool *noscript, char *errstr, size_t errstr_size)
{
    size_t n = gw_coalesce_count(batch);
    size_t sent = 0;
    if (n > s->roster_cap) {
        uint8_t *nr = realloc(s->roster_sent, n);
        if (!nr) {
            snprintf(errstr, errstr_size, "out of memory");
            return GW_STORE_ERROR;
        }
        s->roster_sent = nr;
        s->roster_cap = n;
    }
    memset(s->roster_sent, 0, n);
    uint8_t *roster_sent = s->roster_sent;
    char first_error[256] = "";
    /* Pipelined in chunks: the output buffer (and Redis' query buffer)
     * stays bounded whatever the batch size. */
    size_t per_call = s->cfg->redis.cluster ? 1 : ENTITIES_PER_CALL;
    for (size_t lo = 0; lo < n; lo += APPLY_CHUNK) {
        size_t hi = lo + APPLY_CHUNK < n ? lo + APPLY_CHUNK : n;
        size_t calls = 0;
        for (size_t c = lo; c < hi; c += per_call) {
            size_t ce = c + per_call < hi ? c + per_call : hi;
            if (build_call(s, batch, c, ce, topic) != 0 || append_args(s) != 0)
                goto build_failed;
            sent++;
            calls++;
            for (size_t i = c; i < ce; i++) {
                const gw_delta_t *d = gw_coalesce_delta(batch, i);
                if (d->kind != GW_ENTITY_REP)
                    continue;
                bool queued;
                if (build_roster(s, batch, d, topic, &queued) != 0)
                    goto build_failed;
                if (queued) {
                    if (append_args(s) != 0)
                        goto build_failed;
                    sent++;
                    roster_sent[i] = true;
                }
            }
        }
        for (size_t c = lo; c < hi; c += per_call) {
            size_t ce = c + per_call < hi ? c + per_call : hi;
            /* the script's reply, then the roster replies of its reps */
            size_t nreplies = 1;
            for (size_t i = c; i < ce; i++)
                nreplies += roster_sent[i];
            for (size_t k = 0; k < nreplies; k++) {
                redisReply *r = NULL;
                if (redisGetReply(s->ctx, (void **)&r) != REDIS_OK || !r) {
                    snprintf(errstr, errstr_size, "redis: connection lost during a batch: %s",
                             s->ctx->errstr[0] ? s->ctx->errstr : "no reply");
                    gw_store_disconnect(s);
                    return GW_STORE_DOWN;
                }
                if (r->type == REDIS_REPLY_ERROR) {
                    if (!strncmp(r->str, "NOSCRIPT", 8))
                        *noscript = true;
                    else if (!first_error[0])
                        snprintf(first_error, sizeof(first_error), "%s", r->str);
                } else if (k == 0) {
                    count_replies(s, res, r, c, ce - c, first_error, sizeof(first_error));
                }
                freeReplyObject(r);
            }
        }
        (void)calls;
    }
    res->commands += sent;
    if (first_error[0]) {
        snprintf(errstr, errstr_size, "redis: %s", first_error);
        return GW_STORE_ERROR;
    }
    return GW_STORE_OK;
build_failed:
    snprintf(errstr, errstr_size, "redis: cannot build command (key too long or out of memory)");
    gw_store_disconnect(s);
    return GW_STORE_ERROR;
}

int gw_store_apply(gw_store_t *s, const gw_coalesce_t *batch, const char *topic,
                   gw_apply_result_t *res, char *errstr, size_t errstr_size)
{
    memset(res, 0, sizeof(*res));
    s->nredo = 0;
    s->now_ms = gw_now_ms();
    if (gw_coalesce_count(batch) == 0)
        return GW_STORE_OK;
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    bool noscript = false;
    rc = apply_once(s, batch, topic, res, &noscript, errstr, errstr_size);
    if (rc == GW_STORE_OK && noscript) {
        /* Redis restarted or SCRIPT FLUSH ran: load again and resend. The
         * deltas that did run are skipped by their offsets. */
        gw_log_warn("redis lost the scripts; loading them again", NULL);
        rc = load_scripts(s, errstr, errstr_size);
        if (rc != GW_STORE_OK) {
            gw_store_disconnect(s);
            return rc;
        }
        uint64_t commands = res->commands;
        memset(res, 0, sizeof(*res));
        res->commands = commands;
        s->nredo = 0;
        noscript = false;
        rc = apply_once(s, batch, topic, res, &noscript, errstr, errstr_size);
        if (rc == GW_STORE_OK && noscript) {
            snprintf(errstr, errstr_size, "redis: scripts vanished again right after loading");
            rc = GW_STORE_ERROR;
        }
    }
    res->redo_parts = s->redo;
    res->nredo_parts = s->nredo;
    return rc;
}

/* ---- positions and reads --------------------------------------------- */

int gw_store_positions_read(gw_store_t *s, const char *topic, gw_position_t *pos, size_t n,
                            char *errstr, size_t errstr_size)
{
    if (n == 0)
        return GW_STORE_OK;
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    char key[GW_KEY_MAX];
    if (gw_keys_positions(key, sizeof(key), s->cfg->key_prefix, topic) < 0) {
        snprintf(errstr, errstr_size, "positions key for topic %s is too long", topic);
        return GW_STORE_ERROR;
    }
    args_reset(s);
    rc = args_str(s, "HMGET");
    rc |= args_fmt(s, "%s", key);
    for (size_t i = 0; i < n; i++) {
        rc |= args_fmt(s, "%d", pos[i].partition);
        rc |= args_fmt(s, "wm:%d", pos[i].partition);
    }
    if (rc) {
        args_reset(s);
        snprintf(errstr, errstr_size, "out of memory");
        return GW_STORE_ERROR;
    }
    redisReply *r = command_argv(s, (int)s->argc, s->argv, s->argvlen, errstr, errstr_size);
    args_reset(s);
    if (!r)
        return GW_STORE_DOWN;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 * n) {
        snprintf(errstr, errstr_size, "redis: HMGET %s: %s", key,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return GW_STORE_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *o = r->element[2 * i], *w = r->element[2 * i + 1];
        pos[i].next_offset = o->type == REDIS_REPLY_STRING ? strtoll(o->str, NULL, 10) : -1;
        pos[i].stream_ms = w->type == REDIS_REPLY_STRING ? strtoll(w->str, NULL, 10) : -1;
    }
    freeReplyObject(r);
    return GW_STORE_OK;
}

int gw_store_positions_write(gw_store_t *s, const char *topic, const gw_position_t *pos, size_t n,
                             char *errstr, size_t errstr_size)
{
    if (n == 0)
        return GW_STORE_OK;
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    char key[GW_KEY_MAX];
    if (gw_keys_positions(key, sizeof(key), s->cfg->key_prefix, topic) < 0) {
        snprintf(errstr, errstr_size, "positions key for topic %s is too long", topic);
        return GW_STORE_ERROR;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        args_reset(s);
        rc = args_str(s, "EVALSHA");
        rc |= args_str(s, s->sha[SCRIPT_POSITIONS]);
        rc |= args_str(s, "1");
        rc |= args_fmt(s, "%s", key);
        rc |= args_i64(s, (int64_t)n);
        for (size_t i = 0; i < n; i++) {
            rc |= args_fmt(s, "%d", pos[i].partition);
            rc |= args_i64(s, pos[i].next_offset);
            rc |= args_i64(s, pos[i].stream_ms);
        }
        if (rc) {
            args_reset(s);
            snprintf(errstr, errstr_size, "out of memory");
            return GW_STORE_ERROR;
        }
        redisReply *r = command_argv(s, (int)s->argc, s->argv, s->argvlen, errstr, errstr_size);
        args_reset(s);
        if (!r)
            return GW_STORE_DOWN;
        if (r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8) && attempt == 0) {
            freeReplyObject(r);
            rc = load_scripts(s, errstr, errstr_size);
            if (rc != GW_STORE_OK) {
                gw_store_disconnect(s);
                return rc;
            }
            continue;
        }
        rc = r->type == REDIS_REPLY_ERROR ? GW_STORE_ERROR : GW_STORE_OK;
        if (rc != GW_STORE_OK)
            snprintf(errstr, errstr_size, "redis: positions of %s: %s", topic, r->str);
        freeReplyObject(r);
        return rc;
    }
    return GW_STORE_ERROR;
}

int gw_store_read_hash(gw_store_t *s, const char *key, gw_store_field_fn fn, void *ctx,
                       char *errstr, size_t errstr_size)
{
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    const char *argv[2] = {"HGETALL", key};
    size_t lens[2] = {7, strlen(key)};
    redisReply *r = command_argv(s, 2, argv, lens, errstr, errstr_size);
    if (!r)
        return GW_STORE_DOWN;
    if (r->type != REDIS_REPLY_ARRAY) {
        snprintf(errstr, errstr_size, "redis: HGETALL %s: %s", key,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return GW_STORE_ERROR;
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (fn(ctx, r->element[i]->str, r->element[i + 1]->str))
            break;
    freeReplyObject(r);
    return GW_STORE_OK;
}

/* ---- evaluation reads and snapshot writes ------------------------------ */

static void parse_totals(const gw_kinds_t *kinds, const redisReply *r, gw_totals_t *t)
{
    memset(t, 0, sizeof(*t));
    t->wm = -1;
    if (r->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *f = r->element[i]->str, *v = r->element[i + 1]->str;
        if (!f || !v)
            continue;
        if (!strcmp(f, "late"))
            t->late = strtoll(v, NULL, 10);
        else {
            int m = gw_metric_parse(kinds, f);
            if (m >= 0)
                t->v[m] = strtoll(v, NULL, 10);
        }
    }
    /* Not stored (they would double the writes): derived from the kinds. */
    for (int k = 0; k < GW_KIND_MAX; k++) {
        int64_t n = t->v[gw_metric_count(k)];
        if (!n)
            continue;
        t->v[GW_METRIC_EVENTS] += n;
        if (gw_kind_class(kinds, k) == GW_CLASS_ACTIVITY)
            t->v[GW_METRIC_ACTIVITIES] += n;
    }
}

static void parse_read(const gw_config_t *cfg, const redisReply *r, gw_entity_read_t *e)
{
    e->exists = false;
    e->first_ms = -1;
    e->team[0] = '\0';
    for (int w = 0; w < cfg->nwindows; w++)
        parse_totals(&cfg->kinds, r->element[1 + w], &e->win[w]);
    const redisReply *st = r->element[0];
    for (size_t i = 0; st->type == REDIS_REPLY_ARRAY && i + 1 < st->elements; i += 2) {
        const char *f = st->element[i]->str, *v = st->element[i + 1]->str;
        if (!strcmp(f, "first_ms")) {
            e->first_ms = strtoll(v, NULL, 10);
        } else if (!strcmp(f, "team")) {
            snprintf(e->team, sizeof(e->team), "%s", v);
        } else if (!strncmp(f, "wm:", 3)) {
            int w = gw_config_window_index(cfg, f + 3);
            if (w >= 0) {
                e->win[w].wm = strtoll(v, NULL, 10);
                e->exists = true;
            }
        }
    }
}

static int read_once(gw_store_t *s, gw_entity_read_t *reads, size_t n, int64_t wm_ms,
                     bool *noscript, char *errstr, size_t errstr_size)
{
    const gw_config_t *cfg = s->cfg;
    for (size_t i = 0; i < n; i++) {
        s->now_ms = gw_now_ms();
        int rc = args_str(s, "EVALSHA");
        rc |= args_str(s, s->sha[SCRIPT_APPLY]);
        rc |= args_i64(s, 1 + 2 * cfg->nwindows);
        rc |= build_keys(s, &reads[i].entity);
        rc |= build_head(s, "read");
        rc |= args_i64(s, wm_ms);
        if (rc || append_args(s) != 0) {
            args_reset(s);
            snprintf(errstr, errstr_size, "redis: cannot build a read (key too long?)");
            gw_store_disconnect(s);
            return GW_STORE_ERROR;
        }
    }
    char first_error[256] = "";
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(s->ctx, (void **)&r) != REDIS_OK || !r) {
            snprintf(errstr, errstr_size, "redis: connection lost while reading: %s",
                     s->ctx->errstr[0] ? s->ctx->errstr : "no reply");
            gw_store_disconnect(s);
            return GW_STORE_DOWN;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            if (!strncmp(r->str, "NOSCRIPT", 8))
                *noscript = true;
            else if (!first_error[0])
                snprintf(first_error, sizeof(first_error), "%s", r->str);
        } else if (r->type == REDIS_REPLY_ARRAY && r->elements == (size_t)(1 + cfg->nwindows)) {
            parse_read(cfg, r, &reads[i]);
        } else if (!first_error[0]) {
            snprintf(first_error, sizeof(first_error), "read script returned an unexpected reply");
        }
        freeReplyObject(r);
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
    bool noscript = false;
    rc = read_once(s, reads, n, wm_ms, &noscript, errstr, errstr_size);
    if (rc == GW_STORE_OK && noscript) {
        rc = load_scripts(s, errstr, errstr_size);
        if (rc != GW_STORE_OK) {
            gw_store_disconnect(s);
            return rc;
        }
        noscript = false;
        rc = read_once(s, reads, n, wm_ms, &noscript, errstr, errstr_size);
        if (rc == GW_STORE_OK && noscript) {
            snprintf(errstr, errstr_size, "redis: scripts vanished again right after loading");
            rc = GW_STORE_ERROR;
        }
    }
    return rc;
}

int gw_store_queue_hash(gw_store_t *s, const gw_hash_write_t *w, char *errstr, size_t errstr_size)
{
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    int brc = args_str(s, "MULTI");
    brc |= append_args(s);
    brc |= args_str(s, "DEL");
    brc |= args_str(s, w->key);
    brc |= append_args(s);
    s->pending_replies += 2;
    if (w->nfields) {
        brc |= args_str(s, "HSET");
        brc |= args_str(s, w->key);
        for (size_t f = 0; f < w->nfields; f++) {
            brc |= args_str(s, w->fields[f]);
            brc |= args_str(s, w->values[f]);
        }
        brc |= append_args(s);
        s->pending_replies++;
        if (w->ttl_ms > 0) {
            brc |= args_str(s, "PEXPIRE");
            brc |= args_str(s, w->key);
            brc |= args_i64(s, w->ttl_ms);
            brc |= append_args(s);
            s->pending_replies++;
        }
    }
    brc |= args_str(s, "EXEC");
    brc |= append_args(s);
    s->pending_replies++;
    if (brc) {
        args_reset(s);
        snprintf(errstr, errstr_size, "redis: cannot build a hash write (out of memory)");
        gw_store_disconnect(s);
        return GW_STORE_ERROR;
    }
    return GW_STORE_OK;
}

int gw_store_queue_argv(gw_store_t *s, int argc, const char *const *argv, const size_t *lens,
                        char *errstr, size_t errstr_size)
{
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    if (redisAppendCommandArgv(s->ctx, argc, (const char **)argv, lens) != REDIS_OK) {
        snprintf(errstr, errstr_size, "redis: cannot queue a command (out of memory)");
        gw_store_disconnect(s);
        return GW_STORE_ERROR;
    }
    s->pending_replies++;
    return GW_STORE_OK;
}

int gw_store_queue_alerts(gw_store_t *s, const char *key, int argc, const char *const *argv,
                          const size_t *lens, char *errstr, size_t errstr_size)
{
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    rc = args_str(s, "EVALSHA");
    rc |= args_str(s, s->sha[SCRIPT_ALERTS]);
    rc |= args_str(s, "1");
    rc |= args_str(s, key);
    for (int i = 0; i < argc; i++)
        rc |= args_push(s, argv[i], lens[i]);
    if (rc || append_args(s) != 0) {
        args_reset(s);
        snprintf(errstr, errstr_size, "redis: cannot queue the alerts script (out of memory)");
        gw_store_disconnect(s);
        return GW_STORE_ERROR;
    }
    s->pending_replies++;
    return GW_STORE_OK;
}

int gw_store_flush_replies(gw_store_t *s, gw_store_reply_fn fn, void *ctx, char *errstr,
                           size_t errstr_size)
{
    char first_error[256] = "";
    bool noscript = false;
    for (size_t i = 0; s->pending_replies > 0; i++) {
        redisReply *r = NULL;
        if (!s->ctx || redisGetReply(s->ctx, (void **)&r) != REDIS_OK || !r) {
            snprintf(errstr, errstr_size, "redis: connection lost while writing: %s",
                     s->ctx && s->ctx->errstr[0] ? s->ctx->errstr : "no reply");
            gw_store_disconnect(s);
            return GW_STORE_DOWN;
        }
        s->pending_replies--;
        gw_store_reply_t out = {.index = i};
        switch (r->type) {
        case REDIS_REPLY_ERROR:
            out.error = r->str;
            noscript |= !strncmp(r->str, "NOSCRIPT", 8);
            if (!first_error[0])
                snprintf(first_error, sizeof(first_error), "%s", r->str);
            break;
        case REDIS_REPLY_INTEGER:
            out.integer = r->integer;
            break;
        case REDIS_REPLY_STRING:
        case REDIS_REPLY_STATUS:
            out.str = r->str;
            out.len = r->len;
            break;
        case REDIS_REPLY_ARRAY:
            out.array = true;
            for (size_t k = 0; k + 1 < r->elements && k / 2 < GW_STORE_PAIRS_MAX; k += 2) {
                out.fields[out.npairs] = r->element[k]->str;
                out.values[out.npairs] = r->element[k + 1]->str;
                out.value_lens[out.npairs] = r->element[k + 1]->len;
                out.npairs++;
            }
            break;
        default:
            break;
        }
        if (fn)
            fn(ctx, &out);
        freeReplyObject(r);
    }
    if (noscript) {
        /* Redis lost the scripts: load them for the next attempt. */
        char err[256];
        if (load_scripts(s, err, sizeof(err)) != GW_STORE_OK)
            gw_store_disconnect(s);
    }
    if (first_error[0]) {
        snprintf(errstr, errstr_size, "redis: %s", first_error);
        return GW_STORE_ERROR;
    }
    return GW_STORE_OK;
}

int gw_store_flush(gw_store_t *s, char *errstr, size_t errstr_size)
{
    char first_error[256] = "";
    while (s->pending_replies > 0) {
        redisReply *r = NULL;
        if (!s->ctx || redisGetReply(s->ctx, (void **)&r) != REDIS_OK || !r) {
            snprintf(errstr, errstr_size, "redis: connection lost while writing: %s",
                     s->ctx && s->ctx->errstr[0] ? s->ctx->errstr : "no reply");
            gw_store_disconnect(s);
            return GW_STORE_DOWN;
        }
        s->pending_replies--;
        if (r->type == REDIS_REPLY_ERROR && !first_error[0])
            snprintf(first_error, sizeof(first_error), "%s", r->str);
        freeReplyObject(r);
    }
    if (first_error[0]) {
        snprintf(errstr, errstr_size, "redis: %s", first_error);
        return GW_STORE_ERROR;
    }
    return GW_STORE_OK;
}

int gw_store_hdel(gw_store_t *s, const char *key, const char *field, char *errstr,
                  size_t errstr_size)
{
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    const char *argv[3] = {"HDEL", key, field};
    size_t lens[3] = {4, strlen(key), strlen(field)};
    redisReply *r = command_argv(s, 3, argv, lens, errstr, errstr_size);
    if (!r)
        return GW_STORE_DOWN;
    rc = r->type == REDIS_REPLY_ERROR ? GW_STORE_ERROR : GW_STORE_OK;
    if (rc != GW_STORE_OK)
        snprintf(errstr, errstr_size, "redis: HDEL %s: %s", key, r->str);
    freeReplyObject(r);
    return rc;
}

int gw_store_stream_read(gw_store_t *s, const char *key, char *last_id, int block_ms,
                         gw_store_entry_fn fn, void *ctx, char *errstr, size_t errstr_size)
{
    int rc = gw_store_connect(s, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    char block[16];
    snprintf(block, sizeof(block), "%d", block_ms);
    const char *argv[7] = {"XREAD", "BLOCK", block, "STREAMS", key, last_id};
    size_t lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = command_argv(s, 6, argv, lens, errstr, errstr_size);
    if (!r)
        return GW_STORE_DOWN;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(errstr, errstr_size, "redis: XREAD %s: %s", key, r->str);
        freeReplyObject(r);
        return GW_STORE_ERROR;
    }
    /* [[key, [[id, [f, v, ...]], ...]]] or nil on timeout */
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->elements == 2) {
        const redisReply *entries = r->element[0]->element[1];
        for (size_t i = 0; i < entries->elements; i++) {
            const redisReply *e = entries->element[i];
            if (e->elements != 2)
                continue;
            const char *id = e->element[0]->str;
            snprintf(last_id, 64, "%s", id);
            const redisReply *fv = e->element[1];
            for (size_t k = 0; k + 1 < fv->elements; k += 2)
                fn(ctx, id, fv->element[k]->str, fv->element[k + 1]->str);
        }
    }
    freeReplyObject(r);
    return GW_STORE_OK;
}
