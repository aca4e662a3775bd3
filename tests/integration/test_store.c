/*
 * The store against a real redis-server: the apply script's effectively-once
 * rules (skip, redo on straddle), the window slide, late counts, positions,
 * script reload after SCRIPT FLUSH, reconnection after a restart, and the
 * typed reads of the three stores (the CLI's) on a reader store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_alert_store.h"
#include "gw_coalesce.h"
#include "gw_diag_store.h"
#include "gw_harness.h"
#include "tevents.h"
#include "gw_store.h"

#define H  3600000LL
#define D  86400000LL
#define T0 (20000 * D)

typedef struct {
    gwh_t h;
    gw_config_t *cfg;
    gw_store_t *store;
    gw_coalesce_t *batch;
    redisContext *redis;
} ctx_t;

static int setup(void **state)
{
    static ctx_t ctx;
    gwh_init(&ctx.h, "store");
    gwh_redis_start(&ctx.h, NULL);
    char yaml[512], err[2048];
    snprintf(yaml, sizeof(yaml),
             "redis: {port: %d}\n"
             "windows:\n"
             "  - {name: 1d, length: 1d, bucket: 1h, grace: 0s}\n"
             "  - {name: 7d, length: 7d, bucket: 1d, grace: 0s}\n",
             ctx.h.redis_port);
    if (gw_config_load_string(yaml, "store-test", &ctx.cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    ctx.store = gw_store_new(ctx.cfg);
    ctx.batch = gw_coalesce_new(ctx.cfg->windows, ctx.cfg->nwindows, &ctx.cfg->kinds);
    ctx.redis = gwh_redis(&ctx.h);
    *state = &ctx;
    return 0;
}

static int teardown(void **state)
{
    ctx_t *ctx = *state;
    redisFree(ctx->redis);
    gw_coalesce_free(ctx->batch);
    gw_store_free(ctx->store);
    gw_config_free(ctx->cfg);
    gwh_cleanup(&ctx->h);
    return 0;
}

static int before_each(void **state)
{
    ctx_t *ctx = *state;
    freeReplyObject(redisCommand(ctx->redis, "FLUSHALL"));
    return 0;
}

/* Adds DIAL events of `rep` at offsets [lo, hi] of `partition`, one per
 * minute from `t`. */
static void add_range(ctx_t *ctx, const char *rep, int partition, int lo, int hi, int64_t t)
{
    for (int o = lo; o <= hi; o++) {
        gw_event_t e = tev_event(rep, t + (o - lo) * 60000LL, 1);
        assert_int_equal(gw_coalesce_add(ctx->batch, &e, partition, o, e.occurred_at_ms), 0);
    }
}

static gw_apply_result_t apply(ctx_t *ctx)
{
    gw_apply_result_t res;
    char err[512];
    int rc = gw_store_apply(ctx->store, ctx->batch, "sales.events", &res, err, sizeof(err));
    if (rc != GW_STORE_OK)
        fail_msg("apply failed: %s", err);
    return res;
}

static long long hget(ctx_t *ctx, const char *key, const char *field)
{
    redisReply *r = redisCommand(ctx->redis, "HGET %s %s", key, field);
    long long v = r && r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    freeReplyObject(r);
    return v;
}

static void test_store_redelivered_batch_is_skipped(void **state)
{
    ctx_t *ctx = *state;
    gw_coalesce_reset(ctx->batch);
    add_range(ctx, "r1", 0, 0, 9, T0);
    gw_apply_result_t res = apply(ctx);
    assert_int_equal(res.applied, 2); /* rep and team */
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:1d", "DIAL"), 10);
    assert_int_equal(hget(ctx, "gw:{acme:team:east}:w:7d", "DIAL"), 10);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:state", "o:sales.events/0"), 9);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:state", "first_ms"), T0);
    redisReply *r = redisCommand(ctx->redis, "HGET gw:{acme:r1}:state team");
    assert_string_equal(r->str, "east");
    freeReplyObject(r);
    res = apply(ctx); /* the same batch again, as after a crash */
    assert_int_equal(res.applied, 0);
    assert_int_equal(res.skipped, 2);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:1d", "DIAL"), 10);
    /* The roster records the rep's partition. */
    r = redisCommand(ctx->redis, "HGET gw:roster:sales.events:0 acme:r1");
    assert_string_equal(r->str, "east");
    freeReplyObject(r);
}

static void test_store_straddling_batch_asks_for_redo_and_writes_nothing(void **state)
{
    ctx_t *ctx = *state;
    gw_coalesce_reset(ctx->batch);
    add_range(ctx, "r1", 0, 0, 9, T0);
    apply(ctx);
    gw_coalesce_reset(ctx->batch);
    add_range(ctx, "r1", 0, 5, 14, T0 + 5 * 60000);
    gw_apply_result_t res = apply(ctx);
    assert_int_equal(res.redo, 2);
    assert_int_equal(res.nredo_parts, 2);
    assert_int_equal(res.redo_parts[0].partition, 0);
    assert_int_equal(res.redo_parts[0].stored, 9);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:1d", "DIAL"), 10);
    /* Re-sending only the offsets after the stored one applies them. */
    gw_coalesce_reset(ctx->batch);
    add_range(ctx, "r1", 0, 10, 14, T0 + 10 * 60000);
    res = apply(ctx);
    assert_int_equal(res.applied, 2);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:1d", "DIAL"), 15);
    assert_int_equal(hget(ctx, "gw:{acme:team:east}:state", "o:sales.events/0"), 14);
}

static void test_store_team_with_one_partition_done_and_one_new_is_redone(void **state)
{
    ctx_t *ctx = *state;
    gw_coalesce_reset(ctx->batch);
    add_range(ctx, "r1", 0, 0, 4, T0);
    apply(ctx);
    gw_coalesce_reset(ctx->batch);
    add_range(ctx, "r1", 0, 0, 4, T0); /* applied before */
    add_range(ctx, "r2", 1, 0, 4, T0); /* new */
    gw_apply_result_t res = apply(ctx);
    assert_int_equal(res.skipped, 1); /* r1 */
    assert_int_equal(res.applied, 1); /* r2 */
    assert_int_equal(res.redo, 1);    /* the team: partition 0 done, 1 new */
    assert_int_equal(hget(ctx, "gw:{acme:team:east}:w:1d", "DIAL"), 5);
}

static void test_store_window_slides_and_subtracts_left_buckets(void **state)
{
    ctx_t *ctx = *state;
    gw_coalesce_reset(ctx->batch);
    add_range(ctx, "r1", 0, 0, 2, T0); /* 3 dials in hour 0 of day T0 */
    apply(ctx);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:1d", "DIAL"), 3);
    /* 30 hours later: the 1d window has moved past hour 0, the 7d has not. */
    gw_coalesce_reset(ctx->batch);
    add_range(ctx, "r1", 0, 3, 3, T0 + 30 * H);
    apply(ctx);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:1d", "DIAL"), 1);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:7d", "DIAL"), 4);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:state", "wm:1d"), T0 + 30 * H);
    char field[64];
    snprintf(field, sizeof(field), "%lld|DIAL", (long long)T0);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:1d:b", field), 0); /* bucket deleted */
    /* An event of a bucket that has left arrives from another partition
     * whose stream time is old: not late there, but outside this entity's
     * window, so it changes nothing. */
    gw_coalesce_reset(ctx->batch);
    gw_event_t old = tev_event("r1", T0 + 10 * 60000, 1);
    gw_coalesce_add(ctx->batch, &old, 2, 0, T0 + 10 * 60000);
    apply(ctx);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:1d", "DIAL"), 1);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:7d", "DIAL"), 5);
    /* Nine days on, everything has left both windows: fields are removed. */
    gw_coalesce_reset(ctx->batch);
    gw_event_t later = tev_event("r1", T0 + 9 * D, 9);
    gw_coalesce_add(ctx->batch, &later, 0, 4, T0 + 9 * D);
    apply(ctx);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:7d", "DIAL"), 0);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:7d", "MEETING_BOOKED"), 1);
    redisReply *r = redisCommand(ctx->redis, "HLEN gw:{acme:r1}:w:7d");
    assert_int_equal(r->integer, 1); /* MEETING_BOOKED: the DIAL field is gone */
    freeReplyObject(r);
    /* The new event is in the open bucket, counted in the totals only; the
     * old buckets have left, so no buckets hash remains. */
    r = redisCommand(ctx->redis, "EXISTS gw:{acme:r1}:w:7d:b");
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    /* Every key of the entity carries the TTL. */
    static const char *const keys[] = {"gw:{acme:r1}:state", "gw:{acme:r1}:w:1d",
                                       "gw:{acme:r1}:w:7d"};
    for (size_t i = 0; i < 3; i++) {
        r = redisCommand(ctx->redis, "PTTL %s", keys[i]);
        if (r->integer <= 0)
            fail_msg("%s has no TTL (PTTL %lld)", keys[i], r->integer);
        freeReplyObject(r);
    }
}

/* A field of the 1d buckets hash of r1: bucket `b` (its start) or the
 * closed sum ("c") of DIAL. */
static long long bucket_dials(ctx_t *ctx, int64_t b)
{
    char field[64];
    snprintf(field, sizeof(field), "%lld|DIAL", (long long)b);
    return hget(ctx, "gw:{acme:r1}:w:1d:b", field);
}

static long long closed_dials(ctx_t *ctx)
{
    return hget(ctx, "gw:{acme:r1}:w:1d:b", "c|DIAL");
}

static void test_store_open_bucket_closes_with_its_counts(void **state)
{
    ctx_t *ctx = *state;
    /* Three dials in hour 0: the open bucket, in the totals only. */
    gw_coalesce_reset(ctx->batch);
    add_range(ctx, "r1", 0, 0, 2, T0);
    apply(ctx);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:1d", "DIAL"), 3);
    redisReply *r = redisCommand(ctx->redis, "EXISTS gw:{acme:r1}:w:1d:b");
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    /* Two in hour 2: hour 0 closes with its three. */
    gw_coalesce_reset(ctx->batch);
    add_range(ctx, "r1", 0, 3, 4, T0 + 2 * H);
    apply(ctx);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:1d", "DIAL"), 5);
    assert_int_equal(bucket_dials(ctx, T0), 3);
    assert_int_equal(bucket_dials(ctx, T0 + 2 * H), 0); /* open */
    assert_int_equal(closed_dials(ctx), 3);
    r = redisCommand(ctx->redis, "PTTL gw:{acme:r1}:w:1d:b");
    if (r->integer <= 0)
        fail_msg("the buckets hash has no TTL (PTTL %lld)", r->integer);
    freeReplyObject(r);
    /* An out-of-order event of hour 0 (partition 1, whose stream time is
     * there) lands in the closed bucket. */
    gw_coalesce_reset(ctx->batch);
    gw_event_t e = tev_event("r1", T0 + 30 * 60000, 1);
    assert_int_equal(gw_coalesce_add(ctx->batch, &e, 1, 0, T0 + 30 * 60000), 0);
    /* and, in the same batch, one of hour 2 on partition 0 */
    e = tev_event("r1", T0 + 2 * H + 5 * 60000, 1);
    assert_int_equal(gw_coalesce_add(ctx->batch, &e, 0, 5, T0 + 2 * H + 5 * 60000), 0);
    apply(ctx);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:1d", "DIAL"), 7);
    assert_int_equal(bucket_dials(ctx, T0), 4);
    assert_int_equal(closed_dials(ctx), 4);
    /* A day on, hour 0 leaves the 1d window and hour 2 closes. */
    gw_coalesce_reset(ctx->batch);
    add_range(ctx, "r1", 0, 6, 6, T0 + 24 * H + 30 * 60000);
    apply(ctx);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:1d", "DIAL"), 4);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:7d", "DIAL"), 8);
    assert_int_equal(bucket_dials(ctx, T0), 0);
    assert_int_equal(bucket_dials(ctx, T0 + 2 * H), 3);
    assert_int_equal(closed_dials(ctx), 3);
    /* An evaluation at hour 26 slides and closes the same way: hour 2
     * leaves, hour 24 closes with its one dial. */
    gw_entity_read_t rd;
    memset(&rd, 0, sizeof(rd));
    rd.entity = (gw_entity_t){GW_ENTITY_REP, "acme", "r1"};
    for (int k = 0; k < GW_PERIOD_COUNT; k++)
        rd.period_first[k] = -1;
    char err[256];
    assert_int_equal(gw_store_read_entities(ctx->store, &rd, 1, T0 + 26 * H, err, sizeof(err)),
                     GW_STORE_OK);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:1d", "DIAL"), 1);
    assert_int_equal(bucket_dials(ctx, T0 + 2 * H), 0);
    assert_int_equal(bucket_dials(ctx, T0 + 24 * H), 1);
    assert_int_equal(closed_dials(ctx), 1);
    /* Past the window entirely: everything has left. */
    assert_int_equal(gw_store_read_entities(ctx->store, &rd, 1, T0 + 60 * H, err, sizeof(err)),
                     GW_STORE_OK);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:1d", "DIAL"), 0);
    r = redisCommand(ctx->redis, "EXISTS gw:{acme:r1}:w:1d:b");
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
}

static void test_store_counts_late_events(void **state)
{
    ctx_t *ctx = *state;
    gw_coalesce_reset(ctx->batch);
    gw_event_t late = tev_event("r1", T0 - 3 * D, 1);
    gw_coalesce_add(ctx->batch, &late, 0, 0, T0); /* 3 days behind the stream */
    apply(ctx);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:1d", "late"), 1);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:1d", "DIAL"), 0);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:7d", "late"), 0);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:7d", "DIAL"), 1);
    assert_int_equal(hget(ctx, "gw:{acme:team:east}:w:1d", "late"), 1);
}

static void test_store_reloads_scripts_after_script_flush(void **state)
{
    ctx_t *ctx = *state;
    gw_coalesce_reset(ctx->batch);
    add_range(ctx, "r1", 0, 0, 0, T0);
    apply(ctx);
    freeReplyObject(redisCommand(ctx->redis, "SCRIPT FLUSH"));
    gw_coalesce_reset(ctx->batch);
    add_range(ctx, "r1", 0, 1, 1, T0);
    gw_apply_result_t res = apply(ctx);
    assert_int_equal(res.applied, 2);
    assert_int_equal(hget(ctx, "gw:{acme:r1}:w:1d", "DIAL"), 2);
    /* the positions script and the read take the same path */
    char err[512];
    freeReplyObject(redisCommand(ctx->redis, "SCRIPT FLUSH"));
    gw_position_t p = {0, 2, T0};
    if (gw_store_positions_write(ctx->store, "ev", &p, 1, err, sizeof(err)) != GW_STORE_OK)
        fail_msg("positions write after SCRIPT FLUSH: %s", err);
    freeReplyObject(redisCommand(ctx->redis, "SCRIPT FLUSH"));
    gw_entity_read_t rd;
    memset(&rd, 0, sizeof(rd));
    rd.entity = (gw_entity_t){GW_ENTITY_REP, "acme", "r1"};
    for (int k = 0; k < GW_PERIOD_COUNT; k++)
        rd.period_first[k] = -1;
    if (gw_store_read_entities(ctx->store, &rd, 1, T0 + H, err, sizeof(err)) != GW_STORE_OK)
        fail_msg("read after SCRIPT FLUSH: %s", err);
    assert_true(rd.exists);
}

static void test_store_positions_only_move_forward(void **state)
{
    ctx_t *ctx = *state;
    char err[256];
    gw_position_t p[2] = {{0, 100, T0}, {3, 7, T0 + 5}};
    assert_int_equal(gw_store_positions_write(ctx->store, "ev", p, 2, err, sizeof(err)), 0);
    gw_position_t back = {0, 50, T0 - 1};
    assert_int_equal(gw_store_positions_write(ctx->store, "ev", &back, 1, err, sizeof(err)), 0);
    gw_position_t r[3] = {{0, 0, 0}, {3, 0, 0}, {9, 0, 0}};
    assert_int_equal(gw_store_positions_read(ctx->store, "ev", r, 3, err, sizeof(err)), 0);
    assert_int_equal(r[0].next_offset, 100);
    assert_int_equal(r[0].stream_ms, T0);
    assert_int_equal(r[1].next_offset, 7);
    assert_int_equal(r[1].stream_ms, T0 + 5);
    assert_int_equal(r[2].next_offset, -1);
    assert_int_equal(r[2].stream_ms, -1);
}

/* A value that is not the integer expected is an error naming its key and
 * field, never read as 0. */
static void test_store_corrupt_field_is_reported_not_read_as_zero(void **state)
{
    ctx_t *ctx = *state;
    gw_coalesce_reset(ctx->batch);
    add_range(ctx, "r1", 0, 0, 2, T0);
    apply(ctx);
    freeReplyObject(redisCommand(ctx->redis, "HSET gw:{acme:r1}:w:7d DIAL 3x"));
    gw_entity_read_t rd;
    memset(&rd, 0, sizeof(rd));
    rd.entity = (gw_entity_t){GW_ENTITY_REP, "acme", "r1"};
    for (int k = 0; k < GW_PERIOD_COUNT; k++)
        rd.period_first[k] = -1;
    char err[512];
    assert_int_equal(gw_store_read_entities(ctx->store, &rd, 1, T0 + H, err, sizeof(err)),
                     GW_STORE_ERROR);
    if (!strstr(err, "gw:{acme:r1}:w:7d") || !strstr(err, "DIAL") || !strstr(err, "3x"))
        fail_msg("expected an error naming gw:{acme:r1}:w:7d, DIAL and \"3x\", got: %s", err);
    /* positions: the offset of partition 4 */
    gw_position_t p = {4, 10, T0};
    assert_int_equal(gw_store_positions_write(ctx->store, "ev", &p, 1, err, sizeof(err)), 0);
    const char *pos_key = "gw:positions:ev";
    freeReplyObject(redisCommand(ctx->redis, "HSET %s 4 %s", pos_key, "1O"));
    gw_position_t r = {4, 0, 0};
    assert_int_equal(gw_store_positions_read(ctx->store, "ev", &r, 1, err, sizeof(err)),
                     GW_STORE_ERROR);
    if (!strstr(err, pos_key) || !strstr(err, "field 4 ") || !strstr(err, "1O"))
        fail_msg("expected an error naming %s, field 4 and \"1O\", got: %s", pos_key, err);
}

static void test_store_reports_down_and_reconnects(void **state)
{
    ctx_t *ctx = *state;
    redisFree(ctx->redis);
    gwh_redis_stop(&ctx->h);
    gw_coalesce_reset(ctx->batch);
    add_range(ctx, "r1", 0, 0, 0, T0);
    gw_apply_result_t res;
    char err[512];
    assert_int_equal(gw_store_apply(ctx->store, ctx->batch, "sales.events", &res, err, sizeof(err)),
                     GW_STORE_DOWN);
    assert_non_null(strstr(err, "redis"));
    gwh_redis_restart(&ctx->h);
    ctx->redis = gwh_redis(&ctx->h);
    assert_int_equal(gw_store_apply(ctx->store, ctx->batch, "sales.events", &res, err, sizeof(err)),
                     GW_STORE_OK);
    assert_int_equal(res.applied, 2);
}

static void test_store_restart_without_persistence_is_reported_lost(void **state)
{
    ctx_t *ctx = *state;
    char err[512];
    gw_position_t p = {0, 10, T0};
    assert_int_equal(gw_store_positions_write(ctx->store, "sales.events", &p, 1, err, sizeof(err)),
                     GW_STORE_OK);
    assert_true(gw_store_epoch(ctx->store)[0] != '\0');
    /* FLUSHALL: the same connection, detected by the positions script */
    redisReply *r = redisCommand(ctx->redis, "FLUSHALL");
    freeReplyObject(r);
    p.next_offset = 20;
    assert_int_equal(gw_store_positions_write(ctx->store, "sales.events", &p, 1, err, sizeof(err)),
                     GW_STORE_LOST);
    assert_non_null(strstr(err, "lost gapwatch's data"));
    assert_int_equal(gw_store_epoch_check(ctx->store, err, sizeof(err)), GW_STORE_LOST);
    /* a restart without persistence: detected by the next connect */
    gw_store_set_epoch(ctx->store, "");
    assert_int_equal(gw_store_positions_write(ctx->store, "sales.events", &p, 1, err, sizeof(err)),
                     GW_STORE_OK);
    redisFree(ctx->redis);
    gwh_redis_stop(&ctx->h);
    gwh_redis_restart(&ctx->h);
    ctx->redis = gwh_redis(&ctx->h);
    gw_coalesce_reset(ctx->batch);
    add_range(ctx, "r1", 0, 0, 0, T0);
    gw_apply_result_t res;
    /* the first call finds the old connection broken, the next reconnects */
    int rc = gw_store_apply(ctx->store, ctx->batch, "sales.events", &res, err, sizeof(err));
    if (rc == GW_STORE_DOWN)
        rc = gw_store_apply(ctx->store, ctx->batch, "sales.events", &res, err, sizeof(err));
    gw_store_set_epoch(ctx->store, "");
    assert_int_equal(rc, GW_STORE_LOST);
    assert_non_null(strstr(err, "missing"));
}

/* Collects what a typed read hands its callback, "field=value;" each. */
typedef struct {
    char text[4096];
    int n;
} fields_t;

static int collect(void *ctx, const char *field, const char *value)
{
    fields_t *f = ctx;
    size_t used = strlen(f->text);
    snprintf(f->text + used, sizeof(f->text) - used, "%s=%s;", field, value);
    f->n++;
    return 0;
}

static int collect_entry(void *ctx, const char *id, const char *field, const char *value)
{
    (void)id;
    return collect(ctx, field, value);
}

static void expect_field(const fields_t *f, const char *want, const char *what)
{
    if (!strstr(f->text, want))
        fail_msg("%s: expected %s among the fields, got \"%s\"", what, want, f->text);
}

/* The typed reads build their keys themselves (IDs with every odd
 * character an ID may hold: '.', '_', '@', '-'), read back what the
 * stores' own writes left, on a reader store as the CLI's, and read a key
 * Redis does not hold as no fields and OK. */
static void test_store_typed_reads_read_back_the_stores_writes(void **state)
{
    ctx_t *ctx = *state;
    const char *tenant = "acme.io-eu@x", *rep = "R_17.b-c@d";
    char err[512];
    /* the writes: counters, a diagnosis and a pace snapshot, an alert */
    gw_coalesce_reset(ctx->batch);
    for (int o = 0; o < 3; o++) {
        gw_event_t e = tev_event(rep, T0 + o * 60000LL, 1);
        strcpy(e.tenant, tenant);
        assert_int_equal(gw_coalesce_add(ctx->batch, &e, 2, o, e.occurred_at_ms), 0);
    }
    assert_int_equal(apply(ctx).applied, 2);
    gw_diag_store_t *ds = gw_diag_store_new(ctx->cfg, ctx->store);
    gw_alert_store_t *as = gw_alert_store_new(ctx->cfg, ctx->store);
    assert_non_null(ds);
    assert_non_null(as);
    gw_snapshot_t snap = {
        .fields = {"diagnosis", "evaluated_at_ms"}, .values = {"efficiency_gap", "1234"}, .n = 2};
    gw_snapshot_t pace = {.fields = {"objective", "projected"}, .values = {"40", "31.5"}, .n = 2};
    assert_int_equal(gw_diag_store_queue_diagnosis(ds, tenant, rep, "7d", &snap, err, sizeof(err)),
                     GW_STORE_OK);
    assert_int_equal(gw_diag_store_queue_pace(ds, tenant, rep, "month", &pace, err, sizeof(err)),
                     GW_STORE_OK);
    if (gw_diag_store_flush(ds, err, sizeof(err)) != GW_STORE_OK)
        fail_msg("snapshot writes failed: %s", err);
    gw_alert_ref_t ref = {tenant, rep, "7d"};
    assert_int_equal(gw_alert_store_queue_delivered(as, &ref, GW_ALERT_EFFICIENCY, 1,
                                                    "{\"rep_id\":\"R_17.b-c@d\"}", err,
                                                    sizeof(err)),
                     GW_STORE_OK);
    if (gw_alert_store_flush(as, err, sizeof(err)) != GW_STORE_OK)
        fail_msg("alert write failed: %s", err);
    gw_alert_store_free(as);
    gw_diag_store_free(ds);

    /* the reads, on a reader store as the CLI's */
    gw_store_t *reader = gw_store_new(ctx->cfg);
    assert_non_null(reader);
    gw_store_set_read_only(reader);
    ds = gw_diag_store_new(ctx->cfg, reader);
    as = gw_alert_store_new(ctx->cfg, reader);
    gw_entity_t e = {GW_ENTITY_REP, tenant, rep};
    fields_t f = {0};
    assert_int_equal(gw_store_read_state(reader, &e, collect, &f, err, sizeof(err)), GW_STORE_OK);
    expect_field(&f, "o:sales.events/2=2;", "state");
    expect_field(&f, "team=east;", "state");
    memset(&f, 0, sizeof(f));
    assert_int_equal(gw_store_read_totals(reader, &e, "7d", collect, &f, err, sizeof(err)),
                     GW_STORE_OK);
    expect_field(&f, "DIAL=3;", "totals of 7d");
    gw_entity_t team = {GW_ENTITY_TEAM, tenant, "east"};
    memset(&f, 0, sizeof(f));
    assert_int_equal(gw_store_read_totals(reader, &team, "1d", collect, &f, err, sizeof(err)),
                     GW_STORE_OK);
    expect_field(&f, "DIAL=3;", "team totals of 1d");
    memset(&f, 0, sizeof(f));
    assert_int_equal(
        gw_diag_store_read_diagnosis(ds, tenant, rep, "7d", collect, &f, err, sizeof(err)),
        GW_STORE_OK);
    assert_int_equal(f.n, 2);
    expect_field(&f, "diagnosis=efficiency_gap;", "diagnosis of 7d");
    memset(&f, 0, sizeof(f));
    assert_int_equal(
        gw_diag_store_read_pace(ds, tenant, rep, "month", collect, &f, err, sizeof(err)),
        GW_STORE_OK);
    assert_int_equal(f.n, 2);
    expect_field(&f, "projected=31.5;", "pace of month");
    char last[GW_ALERT_STREAM_ID_MAX] = "0";
    memset(&f, 0, sizeof(f));
    assert_int_equal(
        gw_alert_store_read_stream(as, tenant, last, 100, collect_entry, &f, err, sizeof(err)),
        GW_STORE_OK);
    assert_int_equal(f.n, 1);
    expect_field(&f, "alert={\"rep_id\":\"R_17.b-c@d\"};", "alert stream");
    assert_string_not_equal(last, "0");
    /* after the last id: nothing more, once the wait passed */
    char seen[GW_ALERT_STREAM_ID_MAX];
    strcpy(seen, last);
    memset(&f, 0, sizeof(f));
    assert_int_equal(
        gw_alert_store_read_stream(as, tenant, last, 50, collect_entry, &f, err, sizeof(err)),
        GW_STORE_OK);
    assert_int_equal(f.n, 0);
    assert_string_equal(last, seen);

    /* keys Redis does not hold: no fields, OK */
    memset(&f, 0, sizeof(f));
    gw_entity_t nobody = {GW_ENTITY_REP, tenant, "nobody"};
    assert_int_equal(gw_store_read_state(reader, &nobody, collect, &f, err, sizeof(err)),
                     GW_STORE_OK);
    assert_int_equal(gw_store_read_totals(reader, &e, "1y", collect, &f, err, sizeof(err)),
                     GW_STORE_OK);
    assert_int_equal(
        gw_diag_store_read_diagnosis(ds, tenant, rep, "1d", collect, &f, err, sizeof(err)),
        GW_STORE_OK);
    assert_int_equal(
        gw_diag_store_read_pace(ds, tenant, "nobody", "week", collect, &f, err, sizeof(err)),
        GW_STORE_OK);
    strcpy(last, "0");
    assert_int_equal(
        gw_alert_store_read_stream(as, "nobody", last, 10, collect_entry, &f, err, sizeof(err)),
        GW_STORE_OK);
    assert_int_equal(f.n, 0);
    assert_string_equal(last, "0");

    /* a key that does not fit is an error naming the entity, no read */
    char longid[GW_KEY_MAX + 8];
    memset(longid, 'r', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    gw_entity_t too_long = {GW_ENTITY_REP, tenant, longid};
    assert_int_equal(gw_store_read_state(reader, &too_long, collect, &f, err, sizeof(err)),
                     GW_STORE_ERROR);
    assert_non_null(strstr(err, "too long"));
    assert_int_equal(
        gw_alert_store_read_stream(as, longid, last, 10, collect_entry, &f, err, sizeof(err)),
        GW_STORE_ERROR);
    assert_non_null(strstr(err, "too long"));
    assert_int_equal(f.n, 0);
    gw_alert_store_free(as);
    gw_diag_store_free(ds);
    gw_store_free(reader);
}

/* The alert store reads under its config's key prefix: another prefix
 * (gapwatch alerts --prefix sets it on the CLI's config) is another
 * stream. */
static void test_store_alert_stream_read_follows_the_key_prefix(void **state)
{
    ctx_t *ctx = *state;
    char err[512];
    gw_alert_store_t *as = gw_alert_store_new(ctx->cfg, ctx->store);
    gw_alert_ref_t ref = {"acme", "r1", "7d"};
    assert_int_equal(
        gw_alert_store_queue_delivered(as, &ref, GW_ALERT_GAMING, 1, "{}", err, sizeof(err)),
        GW_STORE_OK);
    assert_int_equal(gw_alert_store_flush(as, err, sizeof(err)), GW_STORE_OK);
    gw_alert_store_free(as);
    char yaml[256];
    snprintf(yaml, sizeof(yaml), "redis: {port: %d}\nkey_prefix: other\n", ctx->h.redis_port);
    gw_config_t *cfg = NULL;
    if (gw_config_load_string(yaml, "prefix-test", &cfg, err, sizeof(err)) != 0)
        fail_msg("config: %s", err);
    gw_store_t *reader = gw_store_new(cfg);
    gw_store_set_read_only(reader);
    as = gw_alert_store_new(cfg, reader);
    fields_t f = {0};
    char last[GW_ALERT_STREAM_ID_MAX] = "0";
    assert_int_equal(
        gw_alert_store_read_stream(as, "acme", last, 10, collect_entry, &f, err, sizeof(err)),
        GW_STORE_OK);
    assert_int_equal(f.n, 0);
    gw_alert_store_free(as);
    cfg->key_prefix = "gw";
    as = gw_alert_store_new(cfg, reader);
    assert_int_equal(
        gw_alert_store_read_stream(as, "acme", last, 10, collect_entry, &f, err, sizeof(err)),
        GW_STORE_OK);
    assert_int_equal(f.n, 1);
    expect_field(&f, "alert={};", "alert stream under prefix gw");
    gw_alert_store_free(as);
    gw_store_free(reader);
    gw_config_free(cfg);
}

/* Tailing from "now" ("$", gapwatch alerts without --from-beginning): an
 * alert written between two reads is handed over by the second, not lost
 * to a second "$". */
static void test_store_alert_stream_tail_misses_nothing_between_reads(void **state)
{
    ctx_t *ctx = *state;
    char err[512];
    gw_alert_store_t *writer = gw_alert_store_new(ctx->cfg, ctx->store);
    gw_alert_ref_t ref = {"acme", "r1", "7d"};
    assert_int_equal(gw_alert_store_queue_delivered(writer, &ref, GW_ALERT_GAMING, 1, "{\"n\":1}",
                                                    err, sizeof(err)),
                     GW_STORE_OK);
    assert_int_equal(gw_alert_store_flush(writer, err, sizeof(err)), GW_STORE_OK);

    gw_store_t *reader = gw_store_new(ctx->cfg);
    gw_store_set_read_only(reader);
    gw_alert_store_t *as = gw_alert_store_new(ctx->cfg, reader);
    fields_t f = {0};
    char last[GW_ALERT_STREAM_ID_MAX] = "$";
    assert_int_equal(
        gw_alert_store_read_stream(as, "acme", last, 10, collect_entry, &f, err, sizeof(err)),
        GW_STORE_OK);
    assert_int_equal(f.n, 0); /* the alert before the tail started is not shown */
    assert_string_not_equal(last, "$");
    /* written while the tail is between two reads */
    assert_int_equal(gw_alert_store_queue_delivered(writer, &ref, GW_ALERT_GAMING, 2, "{\"n\":2}",
                                                    err, sizeof(err)),
                     GW_STORE_OK);
    assert_int_equal(gw_alert_store_flush(writer, err, sizeof(err)), GW_STORE_OK);
    assert_int_equal(
        gw_alert_store_read_stream(as, "acme", last, 10, collect_entry, &f, err, sizeof(err)),
        GW_STORE_OK);
    assert_int_equal(f.n, 1);
    expect_field(&f, "alert={\"n\":2};", "the alert written between two reads");

    /* an empty stream: everything from its first entry on */
    memset(&f, 0, sizeof(f));
    strcpy(last, "$");
    assert_int_equal(
        gw_alert_store_read_stream(as, "zeta", last, 10, collect_entry, &f, err, sizeof(err)),
        GW_STORE_OK);
    assert_string_equal(last, "0-0");
    gw_alert_ref_t zref = {"zeta", "r1", "7d"};
    assert_int_equal(gw_alert_store_queue_delivered(writer, &zref, GW_ALERT_GAMING, 1, "{\"z\":1}",
                                                    err, sizeof(err)),
                     GW_STORE_OK);
    assert_int_equal(gw_alert_store_flush(writer, err, sizeof(err)), GW_STORE_OK);
    assert_int_equal(
        gw_alert_store_read_stream(as, "zeta", last, 10, collect_entry, &f, err, sizeof(err)),
        GW_STORE_OK);
    assert_int_equal(f.n, 1);
    expect_field(&f, "alert={\"z\":1};", "the first alert of an empty stream");
    gw_alert_store_free(as);
    gw_alert_store_free(writer);
    gw_store_free(reader);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_store_redelivered_batch_is_skipped, before_each),
        cmocka_unit_test_setup(test_store_restart_without_persistence_is_reported_lost,
                               before_each),
        cmocka_unit_test_setup(test_store_straddling_batch_asks_for_redo_and_writes_nothing,
                               before_each),
        cmocka_unit_test_setup(test_store_team_with_one_partition_done_and_one_new_is_redone,
                               before_each),
        cmocka_unit_test_setup(test_store_window_slides_and_subtracts_left_buckets, before_each),
        cmocka_unit_test_setup(test_store_open_bucket_closes_with_its_counts, before_each),
        cmocka_unit_test_setup(test_store_counts_late_events, before_each),
        cmocka_unit_test_setup(test_store_reloads_scripts_after_script_flush, before_each),
        cmocka_unit_test_setup(test_store_positions_only_move_forward, before_each),
        cmocka_unit_test_setup(test_store_corrupt_field_is_reported_not_read_as_zero, before_each),
        cmocka_unit_test_setup(test_store_reports_down_and_reconnects, before_each),
        cmocka_unit_test_setup(test_store_typed_reads_read_back_the_stores_writes, before_each),
        cmocka_unit_test_setup(test_store_alert_stream_read_follows_the_key_prefix, before_each),
        cmocka_unit_test_setup(test_store_alert_stream_tail_misses_nothing_between_reads,
                               before_each),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
