/*
 * gw_alert_store: the alert layout (see gw_alert_store.h) on the gw_redis
 * transport of a gw_store. Each function queues its commands, then reads
 * every reply before it returns (one round trip), except the deliveries,
 * queued one by one and read by gw_alert_store_flush(), and the stream
 * read, one blocking XREAD.
 */
#include "gw_alert_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_keys.h"
#include "gw_redis.h"
#include "gw_resp.h"

struct gw_alert_store_s {
    const gw_config_t *cfg;
    gw_store_t *store; /* borrowed: its connection and scripts */
    gw_resp_t resp;
};

void gw_alert_record_clear(gw_alert_record_t *rec)
{
    for (int k = 0; k < GW_ALERT_KINDS; k++) {
        free(rec->payload[k]);
        rec->payload[k] = NULL;
        rec->payload_len[k] = 0;
    }
}

gw_alert_store_t *gw_alert_store_new(const gw_config_t *cfg, gw_store_t *store)
{
    gw_alert_store_t *as = calloc(1, sizeof(*as));
    if (!as)
        return NULL;
    as->cfg = cfg;
    as->store = store;
    return as;
}

void gw_alert_store_free(gw_alert_store_t *as)
{
    if (!as)
        return;
    gw_resp_free(&as->resp);
    free(as);
}

/* Queues the command(s) in as->resp, `replies` of them. */
static int queue_resp(gw_alert_store_t *as, size_t replies, char *errstr, size_t errstr_size)
{
    if (gw_redis_queue(gw_store_redis(as->store), &as->resp, replies) != GW_REDIS_OK) {
        snprintf(errstr, errstr_size, "redis: cannot queue an alert command (out of memory)");
        gw_store_disconnect(as->store);
        return GW_STORE_ERROR;
    }
    return GW_STORE_OK;
}

static int queue_argv(gw_alert_store_t *as, int argc, const char *const *argv, const size_t *lens,
                      char *errstr, size_t errstr_size)
{
    int rc = gw_store_connect(as->store, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    gw_resp_begin(&as->resp);
    for (int i = 0; i < argc; i++)
        gw_resp_arg(&as->resp, argv[i], lens[i]);
    gw_resp_end(&as->resp);
    return queue_resp(as, 1, errstr, errstr_size);
}

/* Opens a call of the alerts script on the state of `ref` in as->resp;
 * -1 when the key does not fit. */
static int begin_alerts(gw_alert_store_t *as, const gw_alert_ref_t *ref)
{
    char key[GW_KEY_MAX];
    gw_entity_t e = {GW_ENTITY_REP, ref->tenant, ref->rep};
    if (gw_keys_alert_state(key, sizeof(key), as->cfg->key_prefix, &e, ref->window) < 0)
        return -1;
    gw_resp_begin(&as->resp);
    gw_resp_arg(&as->resp, "EVALSHA", 7);
    gw_resp_arg(&as->resp, gw_redis_script_sha(gw_store_redis(as->store), GW_STORE_SCRIPT_ALERTS),
                40);
    gw_resp_arg(&as->resp, "1", 1);
    gw_resp_arg_str(&as->resp, key);
    return 0;
}

/* Waits for every queued reply, handing each to `fn` (may be NULL). */
static int flush_with(gw_alert_store_t *as, gw_redis_reply_fn fn, void *ctx, char *errstr,
                      size_t errstr_size)
{
    int rc = gw_redis_flush(gw_store_redis(as->store), fn, ctx, errstr, errstr_size);
    if (rc == GW_REDIS_DOWN)
        gw_store_disconnect(as->store);
    return rc;
}

int gw_alert_store_flush(gw_alert_store_t *as, char *errstr, size_t errstr_size)
{
    return flush_with(as, NULL, NULL, errstr, errstr_size);
}

/* ---- load ---------------------------------------------------------------- */

static uint64_t u64(const char *s)
{
    return s ? strtoull(s, NULL, 10) : 0;
}

/* One field of a state hash into `rec`. */
static void parse_field(gw_alert_record_t *rec, const char *f, const char *v, size_t vlen)
{
    if (!strcmp(f, "version")) {
        rec->version = u64(v);
        return;
    }
    const char *dot = strchr(f, '.');
    if (!dot)
        return;
    char kname[40];
    snprintf(kname, sizeof(kname), "%.*s", (int)(dot - f), f);
    int k = gw_alert_kind_parse(kname);
    if (k < 0)
        return;
    gw_alert_state_t *st = &rec->st[k];
    const char *field = dot + 1;
    if (!strcmp(field, "phase")) {
        int p = gw_alert_phase_parse(v);
        st->phase = p < 0 ? GW_PHASE_INACTIVE : (gw_alert_phase_t)p;
    } else if (!strcmp(field, "since")) {
        st->since_wm = strtoll(v, NULL, 10);
    } else if (!strcmp(field, "clear")) {
        st->clear_since_wm = strtoll(v, NULL, 10);
    } else if (!strcmp(field, "last_sent")) {
        st->last_sent_wm = strtoll(v, NULL, 10);
    } else if (!strcmp(field, "resolved")) {
        st->resolved_wm = strtoll(v, NULL, 10);
    } else if (!strcmp(field, "starts_at")) {
        st->starts_at_ms = strtoll(v, NULL, 10);
    } else if (!strcmp(field, "seq")) {
        st->seq = (uint32_t)u64(v);
    } else if (!strcmp(field, "msgno")) {
        st->msgno = u64(v);
    } else if (!strcmp(field, "delivered")) {
        st->delivered = u64(v);
    } else if (!strcmp(field, "sender")) {
        snprintf(rec->sender[k], sizeof(rec->sender[k]), "%s", v);
    } else if (!strcmp(field, "payload") && vlen > 0) {
        free(rec->payload[k]);
        rec->payload[k] = malloc(vlen);
        rec->payload_len[k] = 0;
        if (rec->payload[k]) {
            memcpy(rec->payload[k], v, vlen);
            rec->payload_len[k] = vlen;
        }
    }
}

static void parse_state(void *ctx, size_t index, const gw_redis_reply_t *r)
{
    gw_alert_record_t *const *recs = ctx;
    if (r->type != GW_REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const gw_redis_reply_t *f = r->element[i], *v = r->element[i + 1];
        if (f->str && v->str)
            parse_field(recs[index], f->str, v->str, v->len);
    }
}

int gw_alert_store_load(gw_alert_store_t *as, const gw_alert_ref_t *refs,
                        gw_alert_record_t *const *recs, size_t n, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < n; i++) {
        gw_alert_record_clear(recs[i]);
        memset(recs[i], 0, sizeof(*recs[i]));
    }
    for (size_t i = 0; i < n; i++) {
        char key[GW_KEY_MAX];
        gw_entity_t e = {GW_ENTITY_REP, refs[i].tenant, refs[i].rep};
        if (gw_keys_alert_state(key, sizeof(key), as->cfg->key_prefix, &e, refs[i].window) < 0) {
            snprintf(errstr, errstr_size, "alert state key of %s:%s is too long", refs[i].tenant,
                     refs[i].rep);
            char ignored[64];
            gw_alert_store_flush(as, ignored, sizeof(ignored));
            return GW_STORE_ERROR;
        }
        const char *argv[2] = {"HGETALL", key};
        size_t lens[2] = {7, strlen(key)};
        int rc = queue_argv(as, 2, argv, lens, errstr, errstr_size);
        if (rc != GW_STORE_OK)
            return rc;
    }
    return flush_with(as, parse_state, (void *)recs, errstr, errstr_size);
}

/* ---- compare-and-set ----------------------------------------------------- */

static void arg_field(gw_resp_t *b, const char *kind, const char *field)
{
    char name[48];
    snprintf(name, sizeof(name), "%s.%s", kind, field);
    gw_resp_arg_str(b, name);
}

static void arg_i64_field(gw_resp_t *b, const char *kind, const char *field, int64_t v)
{
    arg_field(b, kind, field);
    gw_resp_arg_i64(b, v);
}

/* The argument text of an unsigned value, as PRIu64 writes it. */
static void arg_u64_field(gw_resp_t *b, const char *kind, const char *field, uint64_t v)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRIu64, v);
    arg_field(b, kind, field);
    gw_resp_arg_str(b, text);
}

/* Queues the "cas" call of `w` (src/lua/alerts.lua): mode, version, ttl,
 * then per enabled kind its fields, and the fresh message with its sender. */
static int queue_cas(gw_alert_store_t *as, const gw_alert_save_t *w, char *errstr,
                     size_t errstr_size)
{
    int rc = gw_store_connect(as->store, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    gw_resp_t *b = &as->resp;
    if (begin_alerts(as, &w->ref) != 0) {
        snprintf(errstr, errstr_size, "alert state key of %s:%s is too long", w->ref.tenant,
                 w->ref.rep);
        return GW_STORE_ERROR;
    }
    gw_resp_arg(b, "cas", 3);
    char version[24];
    snprintf(version, sizeof(version), "%" PRIu64, w->version);
    gw_resp_arg_str(b, version);
    gw_resp_arg_i64(b, w->ttl_ms);
    for (int k = 0; k < GW_ALERT_KINDS; k++) {
        if (!(w->kinds & (1u << k)))
            continue;
        const gw_alert_state_t *st = &w->st[k];
        const char *kn = gw_alert_kind_str((gw_alert_kind_t)k);
        arg_field(b, kn, "phase");
        gw_resp_arg_str(b, gw_alert_phase_str(st->phase));
        arg_i64_field(b, kn, "since", st->since_wm);
        arg_i64_field(b, kn, "clear", st->clear_since_wm);
        arg_i64_field(b, kn, "last_sent", st->last_sent_wm);
        arg_i64_field(b, kn, "starts_at", st->starts_at_ms);
        arg_u64_field(b, kn, "seq", st->seq);
        arg_u64_field(b, kn, "msgno", st->msgno);
        arg_i64_field(b, kn, "resolved", st->resolved_wm);
        if (w->fresh[k]) {
            arg_field(b, kn, "payload");
            gw_resp_arg(b, w->fresh[k], w->fresh_len[k]);
            arg_field(b, kn, "sender");
            gw_resp_arg_str(b, w->sender);
        }
    }
    gw_resp_end(b);
    return queue_resp(as, 1, errstr, errstr_size);
}

static void parse_cas(void *ctx, size_t index, const gw_redis_reply_t *r)
{
    bool *won = ctx;
    won[index] = r->type == GW_REDIS_REPLY_INTEGER && r->integer == 1;
}

int gw_alert_store_save(gw_alert_store_t *as, const gw_alert_save_t *saves, size_t n, bool *won,
                        char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < n; i++) {
        won[i] = false;
        int rc = queue_cas(as, &saves[i], errstr, errstr_size);
        if (rc != GW_STORE_OK) {
            char ignored[64];
            gw_alert_store_flush(as, ignored, sizeof(ignored));
            return rc;
        }
    }
    return flush_with(as, parse_cas, won, errstr, errstr_size);
}

/* ---- senders --------------------------------------------------------------- */

static void parse_exists(void *ctx, size_t index, const gw_redis_reply_t *r)
{
    bool *alive = ctx;
    /* an error counts as "alive": never a second copy on doubt */
    alive[index] = r->type != GW_REDIS_REPLY_INTEGER || r->integer != 0;
}

int gw_alert_store_senders_alive(gw_alert_store_t *as, const char *const *ids, size_t n,
                                 bool *alive, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < n; i++) {
        alive[i] = true;
        char key[GW_KEY_MAX];
        if (gw_keys_alerter_alive(key, sizeof(key), as->cfg->key_prefix, ids[i]) < 0) {
            snprintf(errstr, errstr_size, "alerter key of %s is too long", ids[i]);
            char ignored[64];
            gw_alert_store_flush(as, ignored, sizeof(ignored));
            return GW_STORE_ERROR;
        }
        const char *argv[2] = {"EXISTS", key};
        size_t lens[2] = {6, strlen(key)};
        int rc = queue_argv(as, 2, argv, lens, errstr, errstr_size);
        if (rc != GW_STORE_OK)
            return rc;
    }
    return flush_with(as, parse_exists, alive, errstr, errstr_size);
}

int gw_alert_store_keep_alive(gw_alert_store_t *as, const char *id, int64_t ttl_ms, char *errstr,
                              size_t errstr_size)
{
    char key[GW_KEY_MAX], ttl[24];
    if (gw_keys_alerter_alive(key, sizeof(key), as->cfg->key_prefix, id) < 0) {
        snprintf(errstr, errstr_size, "alerter key of %s is too long", id);
        return GW_STORE_ERROR;
    }
    snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_ms);
    const char *argv[5] = {"SET", key, "1", "PX", ttl};
    size_t lens[5] = {3, strlen(key), 1, 2, strlen(ttl)};
    int rc = queue_argv(as, 5, argv, lens, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    return gw_alert_store_flush(as, errstr, errstr_size);
}

/* ---- deliveries ---------------------------------------------------------- */

int gw_alert_store_queue_delivered(gw_alert_store_t *as, const gw_alert_ref_t *ref,
                                   gw_alert_kind_t kind, uint64_t msgno, const char *json,
                                   char *errstr, size_t errstr_size)
{
    int rc = gw_store_connect(as->store, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    if (begin_alerts(as, ref) != 0) {
        snprintf(errstr, errstr_size, "alert state key of %s:%s is too long", ref->tenant,
                 ref->rep);
        return GW_STORE_ERROR;
    }
    char text[24];
    snprintf(text, sizeof(text), "%" PRIu64, msgno);
    gw_resp_arg(&as->resp, "ack", 3);
    gw_resp_arg_str(&as->resp, gw_alert_kind_str(kind));
    gw_resp_arg_str(&as->resp, text);
    gw_resp_end(&as->resp);
    rc = queue_resp(as, 1, errstr, errstr_size);
    if (rc != GW_STORE_OK || !json)
        return rc;
    char stream[GW_KEY_MAX];
    if (gw_keys_alert_stream(stream, sizeof(stream), as->cfg->key_prefix, ref->tenant) < 0) {
        snprintf(errstr, errstr_size, "alert stream key of tenant %s is too long", ref->tenant);
        return GW_STORE_ERROR;
    }
    gw_resp_t *b = &as->resp;
    gw_resp_begin(b);
    gw_resp_arg(b, "XADD", 4);
    gw_resp_arg_str(b, stream);
    gw_resp_arg(b, "MAXLEN", 6);
    gw_resp_arg(b, "~", 1);
    gw_resp_arg_i64(b, as->cfg->alerting.stream_max_length);
    gw_resp_arg(b, "*", 1);
    gw_resp_arg(b, "alert", 5);
    gw_resp_arg_str(b, json);
    gw_resp_end(b);
    return queue_resp(as, 1, errstr, errstr_size);
}

/* ---- the stream ---------------------------------------------------------- */

/* Sends one command on stream `key` (`argc` <= 8 arguments) on the store's connection
 * and returns its reply when it is an array (or nil, with `nil_ok`); NULL
 * with *rc GW_STORE_DOWN (connection dropped) or GW_STORE_ERROR. */
static gw_redis_reply_t *stream_command(gw_alert_store_t *as, const char *key, int argc,
                                        const char **argv, bool nil_ok, int *rc, char *errstr,
                                        size_t errstr_size)
{
    size_t lens[8];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    gw_redis_reply_t *r =
        gw_redis_command_argv(gw_store_redis(as->store), argc, argv, lens, errstr, errstr_size);
    if (!r) {
        gw_store_disconnect(as->store);
        *rc = GW_STORE_DOWN;
        return NULL;
    }
    if (r->type != GW_REDIS_REPLY_ARRAY && !(nil_ok && r->type == GW_REDIS_REPLY_NIL)) {
        snprintf(errstr, errstr_size, "redis: %s %s: %s", argv[0], key, gw_redis_reply_why(r));
        gw_redis_reply_free(r);
        *rc = GW_STORE_ERROR;
        return NULL;
    }
    *rc = GW_STORE_OK;
    return r;
}

/* Sets `last_id` to the id of the newest entry of stream `key`, "0-0"
 * when it has none: XREAD after "$" more than once would skip what came
 * between the calls. */
static int newest_entry(gw_alert_store_t *as, const char *key, char *last_id, char *errstr,
                        size_t errstr_size)
{
    const char *argv[6] = {"XREVRANGE", key, "+", "-", "COUNT", "1"};
    int rc;
    gw_redis_reply_t *r = stream_command(as, key, 6, argv, false, &rc, errstr, errstr_size);
    if (!r)
        return rc;
    const char *id = "0-0";
    if (r->elements > 0 && r->element[0]->type == GW_REDIS_REPLY_ARRAY &&
        r->element[0]->elements == 2 && r->element[0]->element[0]->str)
        id = r->element[0]->element[0]->str;
    snprintf(last_id, GW_ALERT_STREAM_ID_MAX, "%s", id);
    gw_redis_reply_free(r);
    return GW_STORE_OK;
}

int gw_alert_store_read_stream(gw_alert_store_t *as, const char *tenant, char *last_id,
                               int block_ms, gw_alert_entry_fn fn, void *ctx, char *errstr,
                               size_t errstr_size)
{
    char key[GW_KEY_MAX];
    if (gw_keys_alert_stream(key, sizeof(key), as->cfg->key_prefix, tenant) < 0) {
        snprintf(errstr, errstr_size, "alert stream key of tenant %s is too long", tenant);
        return GW_STORE_ERROR;
    }
    int rc = gw_store_connect(as->store, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    if (!strcmp(last_id, "$")) {
        rc = newest_entry(as, key, last_id, errstr, errstr_size);
        if (rc != GW_STORE_OK)
            return rc;
    }
    char block[16];
    snprintf(block, sizeof(block), "%d", block_ms < 0 ? 0 : block_ms);
    const char *argv[6] = {"XREAD", "BLOCK", block, "STREAMS", key, last_id};
    gw_redis_reply_t *r = stream_command(as, key, 6, argv, true, &rc, errstr, errstr_size);
    if (!r)
        return rc;
    /* [[key, [[id, [f, v, ...]], ...]]], or nil when block_ms passed */
    const gw_redis_reply_t *entries = NULL;
    if (r->type == GW_REDIS_REPLY_ARRAY && r->elements > 0 &&
        r->element[0]->type == GW_REDIS_REPLY_ARRAY && r->element[0]->elements == 2)
        entries = r->element[0]->element[1];
    bool stop = false;
    for (size_t i = 0; entries && i < entries->elements && !stop; i++) {
        const gw_redis_reply_t *e = entries->element[i];
        if (e->type != GW_REDIS_REPLY_ARRAY || e->elements != 2 || !e->element[0]->str)
            continue;
        const char *id = e->element[0]->str;
        snprintf(last_id, GW_ALERT_STREAM_ID_MAX, "%s", id);
        const gw_redis_reply_t *fv = e->element[1];
        for (size_t k = 0; k + 1 < fv->elements && !stop; k += 2)
            stop = fn(ctx, id, fv->element[k]->str, fv->element[k + 1]->str) != 0;
    }
    gw_redis_reply_free(r);
    return GW_STORE_OK;
}
