/*
 * gw_store with redis.cluster against a real Redis Cluster (gwh_cluster_start)
 * while one slot migrates by hand (CLUSTER SETSLOT IMPORTING / MIGRATING,
 * MIGRATE): an entity whose keys are half moved gets TRYAGAIN, a new entity
 * of the slot gets ASK and then TRYAGAIN at the target; the router waits
 * (the batch stays unfinished while the slot migrates) and, once the slot
 * is the target's (MOVED), applies both exactly once. Then the wipe of
 * on_data_loss: rebuild empties every master.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_cluster.h"
#include "gw_coalesce.h"
#include "gw_harness.h"
#include "tevents.h"
#include "gw_keys.h"
#include "gw_store.h"

#define D  86400000LL
#define T0 (20000 * D)

static void add_range(gw_coalesce_t *b, const char *rep, int lo, int hi)
{
    for (int o = lo; o <= hi; o++) {
        gw_event_t e = tev_event(rep, T0 + o * 60000LL, 1); /* DIAL */
        assert_int_equal(gw_coalesce_add(b, &e, 0, o, e.occurred_at_ms), 0);
    }
}

static void setslot(redisContext *c, unsigned slot, const char *a, const char *b)
{
    redisReply *r = gwh_command(c, "CLUSTER SETSLOT %u %s %s", slot, a, b);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("CLUSTER SETSLOT %u %s %s: %s", slot, a, b, r->str);
    freeReplyObject(r);
}

static void test_store_applies_exactly_once_through_a_slot_migration(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "cstore");
    gwh_cluster_start(&h);
    char yaml[512], err[2048];
    snprintf(yaml, sizeof(yaml),
             "redis: {port: %d, cluster: true, command_timeout: 20s}\n"
             "windows:\n"
             "  - {name: 7d, length: 7d, bucket: 1d, grace: 0s}\n",
             h.cluster[0].port);
    gw_config_t *cfg;
    if (gw_config_load_string(yaml, "t", &cfg, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    gw_store_t *st = gw_store_new(cfg);
    gw_coalesce_t *b = gw_coalesce_new(cfg->windows, cfg->nwindows, &cfg->kinds);
    gw_apply_result_t res;

    /* batch 1: rep "old" (keys on the source afterwards) */
    add_range(b, "old", 0, 9);
    assert_int_equal(gw_store_apply(st, b, "ev", &res, err, sizeof(err)), GW_STORE_OK);

    /* the slot of rep "old", a rep "new" of the same slot, its master and
     * another */
    char skey[GW_KEY_MAX], tkey[GW_KEY_MAX];
    gw_entity_t old = {GW_ENTITY_REP, "acme", "old"};
    gw_keys_state(skey, sizeof(skey), "gw", &old);
    unsigned slot = gw_cluster_slot(skey, strlen(skey));
    char newid[32] = "";
    for (int i = 0; i < 1000000 && !newid[0]; i++) {
        char id[32], k[GW_KEY_MAX];
        snprintf(id, sizeof(id), "n%d", i);
        gw_entity_t e = {GW_ENTITY_REP, "acme", id};
        gw_keys_state(k, sizeof(k), "gw", &e);
        if (gw_cluster_slot(k, strlen(k)) == slot)
            snprintf(newid, sizeof(newid), "%s", id);
    }
    assert_true(newid[0]);
    gwh_cluster_roles(&h);
    int src = -1, dst = -1;
    for (int i = 0; i < h.ncluster; i++) {
        if (!h.cluster[i].master)
            continue;
        redisContext *c = gwh_cluster_node(&h, i);
        redisReply *r = gwh_command(c, "EXISTS %s", skey);
        if (r->type == REDIS_REPLY_INTEGER && r->integer == 1)
            src = i;
        else if (dst < 0)
            dst = i;
        freeReplyObject(r);
        redisFree(c);
    }
    assert_true(src >= 0 && dst >= 0 && src != dst);
    redisContext *s = gwh_cluster_node(&h, src), *d = gwh_cluster_node(&h, dst);
    setslot(d, slot, "IMPORTING", h.cluster[src].id);
    setslot(s, slot, "MIGRATING", h.cluster[dst].id);
    /* half of rep "old" moves: its state key only */
    redisReply *r = gwh_command(s, "MIGRATE 127.0.0.1 %d %s 0 5000", h.cluster[dst].port, skey);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);

    /* batch 2: "old" again (TRYAGAIN at the source), "new" (ASK, then
     * TRYAGAIN at the target: several keys, none there yet) */
    gw_coalesce_reset(b);
    add_range(b, "old", 10, 14);
    add_range(b, newid, 15, 17);
    assert_int_equal(gw_store_apply_start(st, b, "ev", err, sizeof(err)), GW_STORE_OK);
    int64_t until = gwh_now_ms() + 600;
    bool done = false;
    while (gwh_now_ms() < until && !done) {
        done = gw_store_apply_pump(st);
        gwh_sleep_ms(20);
    }
    assert_false(done); /* held while the slot migrates */

    /* the migration ends: every key of the slot moves, the slot is the
     * target's everywhere */
    for (;;) {
        r = gwh_command(s, "CLUSTER GETKEYSINSLOT %u 100", slot);
        size_t n = r->elements;
        for (size_t i = 0; i < n; i++) {
            redisReply *m = gwh_command(s, "MIGRATE 127.0.0.1 %d %s 0 5000", h.cluster[dst].port,
                                        r->element[i]->str);
            assert_int_not_equal(m->type, REDIS_REPLY_ERROR);
            freeReplyObject(m);
        }
        freeReplyObject(r);
        if (n == 0)
            break;
    }
    for (int i = 0; i < h.ncluster; i++) {
        if (!h.cluster[i].master)
            continue;
        redisContext *c = gwh_cluster_node(&h, i);
        setslot(c, slot, "NODE", h.cluster[dst].id);
        redisFree(c);
    }
    assert_int_equal(gw_store_apply_finish(st, &res, err, sizeof(err)), GW_STORE_OK);
    assert_int_equal(res.applied, 3); /* old, new, and team east */

    /* both reps counted once, on the target */
    gw_keys_totals(tkey, sizeof(tkey), "gw", &old, "7d");
    r = gwh_command(d, "HGET %s DIAL", tkey);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_int_equal(atoi(r->str), 15);
    freeReplyObject(r);
    gw_entity_t nw = {GW_ENTITY_REP, "acme", newid};
    gw_keys_totals(tkey, sizeof(tkey), "gw", &nw, "7d");
    r = gwh_command(d, "HGET %s DIAL", tkey);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_int_equal(atoi(r->str), 3);
    freeReplyObject(r);
    /* redelivered, batch 2 is skipped */
    assert_int_equal(gw_store_apply(st, b, "ev", &res, err, sizeof(err)), GW_STORE_OK);
    assert_int_equal(res.applied, 0);

    /* on_data_loss: rebuild's wipe reaches every master */
    long long deleted = 0;
    assert_int_equal(gw_store_wipe(st, &deleted, err, sizeof(err)), GW_STORE_OK);
    long left = 0;
    for (int i = 0; i < h.ncluster; i++) {
        if (!h.cluster[i].master)
            continue;
        redisContext *c = gwh_cluster_node(&h, i);
        r = gwh_command(c, "DBSIZE");
        left += (long)r->integer;
        freeReplyObject(r);
        redisFree(c);
    }
    fprintf(stderr, "wiped %lld keys; %ld left on the masters\n", deleted, left);
    assert_true(deleted >= 8);
    assert_int_equal(left, 0);

    redisFree(s);
    redisFree(d);
    gw_coalesce_free(b);
    gw_store_free(st);
    gw_config_free(cfg);
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_applies_exactly_once_through_a_slot_migration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
