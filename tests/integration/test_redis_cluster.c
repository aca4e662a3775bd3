/*
 * gw_cluster against a real Redis Cluster (six of Debian's redis-servers,
 * three masters and three replicas, `redis-cli --cluster create`), without
 * the daemon: slots equal CLUSTER KEYSLOT for gapwatch's key shapes, a map
 * built from CLUSTER SLOTS routes every key to the node that serves it,
 * the errors of a reshard (MOVED), of a migration (ASK, TRYAGAIN) and of
 * today's multi-entity calls (CROSSSLOT) parse, and after a master is
 * killed the rebuilt map points at the promoted replica. The tests share
 * one cluster and run in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_cluster.h"
#include "gw_harness.h"
#include "gw_keys.h"

#define NKEYS 3000

static gwh_t h;
static char keys[NKEYS][GW_KEY_MAX];
static const char *keyp[NKEYS];
static size_t lens[NKEYS];
static redisContext *conn[GWH_CLUSTER_NODES];

/* An ID of [A-Za-z0-9._@-], 1-16 bytes. */
static void random_id(uint64_t *rng, char *out)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-";
    int n = 1 + (int)(gwh_rand(rng) % 16);
    for (int i = 0; i < n; i++)
        out[i] = set[gwh_rand(rng) % (sizeof(set) - 1)];
    out[n] = '\0';
}

/* NKEYS keys of every shape gw_keys names. */
static void make_keys(void)
{
    uint64_t rng = 0x5eed;
    for (int i = 0; i < NKEYS; i++) {
        char tenant[20], id[20], other[20];
        random_id(&rng, tenant);
        random_id(&rng, id);
        random_id(&rng, other);
        gw_entity_t rep = {GW_ENTITY_REP, tenant, id}, team = {GW_ENTITY_TEAM, tenant, other};
        char *k = keys[i];
        size_t z = GW_KEY_MAX;
        int n = -1;
        switch (i % 14) {
        case 0:
            n = gw_keys_state(k, z, "gw", &rep);
            break;
        case 1:
            n = gw_keys_totals(k, z, "gw", &rep, "7d");
            break;
        case 2:
            n = gw_keys_buckets(k, z, "gw", &rep, "30d");
            break;
        case 3:
            n = gw_keys_period(k, z, "gw", &rep, "month", "2026-12-01");
            break;
        case 4:
            n = gw_keys_diagnosis(k, z, "gw", &rep, "7d");
            break;
        case 5:
            n = gw_keys_totals(k, z, "prod", &team, "30d");
            break;
        case 6:
            n = gw_keys_state(k, z, "gw", &team);
            break;
        case 7:
            n = gw_keys_team_reps(k, z, "gw", tenant, other);
            break;
        case 8:
            n = gw_keys_export(k, z, "gw", tenant);
            break;
        case 9:
            n = gw_keys_positions(k, z, "gw", id);
            break;
        case 10:
            n = gw_keys_roster(k, z, "gw", id, i % 64);
            break;
        case 11:
            n = gw_keys_tenant_clock(k, z, id, i % 2);
            break;
        case 12:
            n = gw_keys_alerter_alive(k, z, "gw", id);
            break;
        case 13:
            n = snprintf(k, z, "gw:alerts:{%s}", tenant);
            break; /* the alerts stream */
        }
        assert_true(n > 0);
        keyp[i] = keys[i];
        lens[i] = (size_t)n;
    }
}

static int setup(void **state)
{
    (void)state;
    gwh_init(&h, "cluster");
    int64_t t0 = gwh_now_ms();
    gwh_cluster_start(&h);
    fprintf(stderr, "cluster of %d nodes up in %lld ms\n", h.ncluster,
            (long long)(gwh_now_ms() - t0));
    make_keys();
    return 0;
}

static void drop_conn(int i)
{
    if (conn[i])
        redisFree(conn[i]);
    conn[i] = NULL;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < GWH_CLUSTER_NODES; i++)
        drop_conn(i);
    gwh_cleanup(&h);
    return 0;
}

/* The connection to the harness node listening on `port`. */
static redisContext *node(int port)
{
    int i = gwh_cluster_index(&h, port);
    assert_true(i >= 0);
    if (!conn[i])
        conn[i] = gwh_cluster_node(&h, i);
    return conn[i];
}

static gw_cluster_err_t parse_error(const redisReply *r)
{
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    gw_cluster_err_t e;
    char why[160] = "";
    if (gw_cluster_parse_error(r->str, r->len, &e, why, sizeof(why)) != 0)
        fail_msg("\"%s\" did not parse: %s", r->str, why);
    return e;
}

/* One endpoint of CLUSTER SLOTS: [ip, port, id, ...]; an unknown (NULL or
 * "") endpoint means the host that was asked. */
static void endpoint(const redisReply *e, gw_cluster_addr_t *a)
{
    assert_int_equal(e->type, REDIS_REPLY_ARRAY);
    assert_true(e->elements >= 2);
    const redisReply *ip = e->element[0];
    snprintf(a->host, sizeof(a->host), "%s",
             ip->type == REDIS_REPLY_STRING && ip->len ? ip->str : "127.0.0.1");
    assert_int_equal(e->element[1]->type, REDIS_REPLY_INTEGER);
    a->port = (int)e->element[1]->integer;
}

/* Builds (or rebuilds) `m` from CLUSTER SLOTS as node `port` answers it. */
static void build_map(gw_cluster_map_t *m, int port)
{
    redisReply *r = gwh_command(node(port), "CLUSTER SLOTS");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    gw_cluster_range_t *ranges = calloc(r->elements, sizeof(*ranges));
    gw_cluster_addr_t(*reps)[GW_CLUSTER_REPLICAS_MAX] = calloc(r->elements, sizeof(*reps));
    assert_non_null(ranges);
    assert_non_null(reps);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        assert_true(e->type == REDIS_REPLY_ARRAY && e->elements >= 3);
        ranges[i].first = (int)e->element[0]->integer;
        ranges[i].last = (int)e->element[1]->integer;
        endpoint(e->element[2], &ranges[i].master);
        for (size_t k = 3; k < e->elements && k - 3 < GW_CLUSTER_REPLICAS_MAX; k++)
            endpoint(e->element[k], &reps[i][k - 3]);
        ranges[i].replicas = reps[i];
        ranges[i].nreplicas = e->elements - 3;
    }
    char why[160] = "";
    int served = gw_cluster_map_build(m, ranges, r->elements, why, sizeof(why));
    if (served != GW_CLUSTER_SLOTS)
        fail_msg("map of %d slots: %s", served, why);
    free(reps);
    free(ranges);
    freeReplyObject(r);
}

/* A live master's port, for the questions any node answers. */
static int any_port(void)
{
    for (int i = 0; i < h.ncluster; i++)
        if (h.cluster[i].pid)
            return h.cluster[i].port;
    fail_msg("no live node");
    return -1;
}

static void test_slot_equals_cluster_keyslot(void **state)
{
    (void)state;
    redisContext *c = node(any_port());
    for (int i = 0; i < NKEYS; i++)
        assert_int_equal(redisAppendCommand(c, "CLUSTER KEYSLOT %b", keyp[i], lens[i]), REDIS_OK);
    for (int i = 0; i < NKEYS; i++) {
        redisReply *r;
        assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        if ((unsigned)r->integer != gw_cluster_slot(keyp[i], lens[i]))
            fail_msg("%s: redis says %lld, gw_cluster_slot %u", keyp[i], r->integer,
                     gw_cluster_slot(keyp[i], lens[i]));
        freeReplyObject(r);
    }
}

/* Sends GET of every key to the node the map names, one pipeline per node
 * (gw_cluster_group_keys); every reply must be a value, not a redirection.
 * Returns the number of batches. */
static int route_all(const gw_cluster_map_t *m)
{
    static uint16_t slots[NKEYS];
    static size_t order[NKEYS];
    gw_cluster_batch_t *b = calloc(gw_cluster_map_nodes(m), sizeof(*b));
    char why[160] = "";
    int nb = gw_cluster_group_keys(m, keyp, lens, NKEYS, slots, order, b, why, sizeof(why));
    if (nb < 0)
        fail_msg("grouping: %s", why);
    size_t total = 0;
    for (int k = 0; k < nb; k++) {
        const gw_cluster_node_t *n = gw_cluster_map_node_at(m, (size_t)b[k].node);
        redisContext *c = node(n->addr.port);
        for (size_t j = b[k].first; j < b[k].first + b[k].count; j++)
            redisAppendCommand(c, "GET %b", keyp[order[j]], lens[order[j]]);
        for (size_t j = b[k].first; j < b[k].first + b[k].count; j++) {
            redisReply *r;
            assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
            if (r->type == REDIS_REPLY_ERROR)
                fail_msg("GET %s (slot %u) on %d: %s", keyp[order[j]], slots[order[j]],
                         n->addr.port, r->str);
            freeReplyObject(r);
        }
        total += b[k].count;
    }
    assert_int_equal(total, NKEYS);
    free(b);
    return nb;
}

static void test_map_routes_every_key_to_its_node(void **state)
{
    (void)state;
    gw_cluster_map_t *m = gw_cluster_map_new();
    build_map(m, any_port());
    assert_int_equal(gw_cluster_map_nodes(m), 3);
    for (size_t i = 0; i < 3; i++) {
        const gw_cluster_node_t *n = gw_cluster_map_node_at(m, i);
        int hi = gwh_cluster_index(&h, n->addr.port);
        assert_true(hi >= 0 && h.cluster[hi].master);
        assert_int_equal(n->nreplicas, 1);
        int ri = gwh_cluster_index(&h, n->replicas[0].port);
        assert_int_equal(h.cluster[ri].master_of, hi);
    }
    assert_int_equal(route_all(m), 3);
    gw_cluster_map_free(m);
}

/* Today's callers on a cluster: what Redis says to one EVALSHA of several
 * entities (the apply script's batches), to a script touching an undeclared
 * key of another slot (the exporter's HGETALLs) and to SELECT (its first
 * call). docs/redis.md, "Redis Cluster", quotes these. */
static void test_multi_entity_calls_are_refused(void **state)
{
    (void)state;
    gw_cluster_map_t *m = gw_cluster_map_new();
    build_map(m, any_port());
    char k1[GW_KEY_MAX], k2[GW_KEY_MAX], p1[GW_KEY_MAX];
    gw_entity_t a = {GW_ENTITY_REP, "acme", "r17"}, b = {GW_ENTITY_REP, "acme", "r18"};
    gw_keys_state(k1, sizeof(k1), "gw", &a);
    gw_keys_state(k2, sizeof(k2), "gw", &b);
    gw_keys_period(p1, sizeof(p1), "gw", &a, "month", "2026-12-01");
    unsigned s1 = gw_cluster_slot(k1, strlen(k1)), s2 = gw_cluster_slot(k2, strlen(k2));
    assert_int_not_equal(s1, s2);
    redisContext *c =
        node(gw_cluster_map_node_at(m, (size_t)gw_cluster_map_lookup(m, s1))->addr.port);
    /* two entities in one call */
    redisReply *r = gwh_command(c, "EVAL %s 2 %s %s", "return 1", k1, k2);
    gw_cluster_err_t e = parse_error(r);
    assert_int_equal(e.kind, GW_CLUSTER_ERR_CROSSSLOT);
    fprintf(stderr, "two entities in one EVAL: %s\n", r->str);
    freeReplyObject(r);
    /* an undeclared key of the entity's own slot (the period keys in ARGV) */
    r = gwh_command(c, "EVAL %s 1 %s %s", "redis.call('HSET', ARGV[1], 'x', 1) return 1", k1, p1);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    r = gwh_command(c, "DEL %s", p1);
    freeReplyObject(r);
    /* an undeclared key of another slot (the exporter's export hashes) */
    char far[GW_KEY_MAX];
    int i = 0;
    do
        snprintf(far, sizeof(far), "gw:export:{t%d}", i++);
    while (gw_cluster_map_lookup(m, gw_cluster_slot(far, strlen(far))) ==
           gw_cluster_map_lookup(m, s1));
    r = gwh_command(c, "EVAL %s 0 %s", "return redis.call('HGETALL', ARGV[1])", far);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    fprintf(stderr, "undeclared key of another node's slot in a script: %s\n", r->str);
    freeReplyObject(r);
    /* ... and of another slot of the same node: allowed to scripts without
     * a shebang (EVAL compatibility mode), as gapwatch's are */
    i = 0;
    do
        snprintf(far, sizeof(far), "gw:export:{t%d}", i++);
    while (gw_cluster_map_lookup(m, gw_cluster_slot(far, strlen(far))) !=
               gw_cluster_map_lookup(m, s1) ||
           gw_cluster_slot(far, strlen(far)) == s1);
    r = gwh_command(c, "EVAL %s 1 %s %s", "return redis.call('HGETALL', ARGV[1])", k1, far);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    r = gwh_command(c, "EVAL %s 1 %s %s", "#!lua\nreturn redis.call('HGETALL', ARGV[1])", k1, far);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    fprintf(stderr, "undeclared key of another slot, same node, with a shebang: %s\n", r->str);
    freeReplyObject(r);
    /* SELECT: 0 is the only database of a cluster */
    r = gwh_command(c, "EVAL %s 0", "redis.call('SELECT', 0) return 1");
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    r = gwh_command(c, "EVAL %s 0", "redis.call('SELECT', 1) return 1");
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    fprintf(stderr, "SELECT 1 in a script: %s\n", r->str);
    freeReplyObject(r);
    gw_cluster_map_free(m);
}

/* A key of the project's shape whose slot satisfies `want`. */
static void key_in(const gw_cluster_map_t *m, bool (*want)(const gw_cluster_map_t *, unsigned),
                   char *k, size_t size)
{
    for (int i = 0; i < 1000000; i++) {
        char id[16];
        snprintf(id, sizeof(id), "r%d", i);
        gw_entity_t e = {GW_ENTITY_REP, "acme", id};
        gw_keys_state(k, size, "gw", &e);
        if (want(m, gw_cluster_slot(k, strlen(k))))
            return;
    }
    fail_msg("no key found");
}

static void test_ask_and_tryagain_during_a_migration(void **state)
{
    (void)state;
    gw_cluster_map_t *m = gw_cluster_map_new();
    build_map(m, any_port());
    char k[GW_KEY_MAX];
    gw_entity_t e = {GW_ENTITY_REP, "acme", "migrating"};
    gw_keys_state(k, sizeof(k), "gw", &e);
    unsigned ask_slot = gw_cluster_slot(k, strlen(k));
    int src = gw_cluster_map_lookup(m, ask_slot), dst = (src + 1) % 3;
    int sp = gw_cluster_map_node_at(m, (size_t)src)->addr.port;
    int dp = gw_cluster_map_node_at(m, (size_t)dst)->addr.port;
    const char *sid = h.cluster[gwh_cluster_index(&h, sp)].id;
    const char *did = h.cluster[gwh_cluster_index(&h, dp)].id;
    redisContext *s = node(sp), *d = node(dp);
    /* a key of the entity that stays on the source during the migration */
    char other[GW_KEY_MAX];
    gw_keys_totals(other, sizeof(other), "gw", &e, "30d");
    redisReply *r = gwh_command(s, "HSET %s DIAL 1", other);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    r = gwh_command(d, "CLUSTER SETSLOT %u IMPORTING %s", ask_slot, sid);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    r = gwh_command(s, "CLUSTER SETSLOT %u MIGRATING %s", ask_slot, did);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);

    /* the key is not on the source (any more): ASK, to the target */
    r = gwh_command(s, "HGETALL %s", k);
    gw_cluster_err_t err = parse_error(r);
    assert_int_equal(err.kind, GW_CLUSTER_ERR_ASK);
    assert_int_equal(err.slot, (int)ask_slot);
    assert_string_equal(err.host, "127.0.0.1");
    assert_int_equal(err.port, dp);
    freeReplyObject(r);
    /* an ASK is one command's detour: the map stays */
    assert_int_equal(gw_cluster_map_lookup(m, ask_slot), src);
    /* the target answers with ASKING first, and redirects without it */
    r = gwh_command(d, "HGETALL %s", k);
    err = parse_error(r);
    assert_int_equal(err.kind, GW_CLUSTER_ERR_MOVED);
    assert_int_equal(err.port, sp);
    freeReplyObject(r);
    r = gwh_command(d, "ASKING");
    freeReplyObject(r);
    r = gwh_command(d, "HSET %s o:t/0 5", k);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    /* an entity's script of several keys, half of them migrated: TRYAGAIN */
    char tot[GW_KEY_MAX];
    gw_keys_totals(tot, sizeof(tot), "gw", &e, "7d");
    r = gwh_command(d, "ASKING");
    freeReplyObject(r);
    r = gwh_command(d, "EVAL %s 2 %s %s", "return 1", k, tot);
    err = parse_error(r);
    fprintf(stderr, "two keys of a slot being imported, one there: %s\n", r->str);
    assert_int_equal(err.kind, GW_CLUSTER_ERR_TRYAGAIN);
    freeReplyObject(r);
    /* a key of the slot that still is on the source is served there */
    r = gwh_command(s, "HGET %s DIAL", other);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);

    /* undo: the keys go, the slot stays on the source */
    r = gwh_command(s, "DEL %s", other);
    freeReplyObject(r);
    r = gwh_command(d, "ASKING");
    freeReplyObject(r);
    r = gwh_command(d, "DEL %s", k);
    freeReplyObject(r);
    r = gwh_command(d, "CLUSTER SETSLOT %u STABLE", ask_slot);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    r = gwh_command(s, "CLUSTER SETSLOT %u STABLE", ask_slot);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    r = gwh_command(s, "HGETALL %s", k);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    gw_cluster_map_free(m);
}

static const gw_cluster_map_t *before;
/* The port of the node serving `s` (maps index their nodes differently). */
static int port_of(const gw_cluster_map_t *m, unsigned s)
{
    return gw_cluster_map_node_at(m, (size_t)gw_cluster_map_lookup(m, s))->addr.port;
}

static bool moved_slot(const gw_cluster_map_t *now, unsigned s)
{
    return port_of(before, s) != port_of(now, s);
}

static void test_moved_after_a_reshard_updates_the_map(void **state)
{
    (void)state;
    gw_cluster_map_t *m = gw_cluster_map_new(), *truth = gw_cluster_map_new();
    build_map(m, any_port());
    int from = gwh_cluster_index(
        &h, gw_cluster_map_node_at(m, (size_t)gw_cluster_map_lookup(m, 0))->addr.port);
    int to = gwh_cluster_index(
        &h, gw_cluster_map_node_at(m, (size_t)gw_cluster_map_lookup(m, 16383))->addr.port);
    assert_int_not_equal(from, to);
    int64_t t0 = gwh_now_ms();
    gwh_cluster_reshard(&h, from, to, 200);
    fprintf(stderr, "reshard of 200 slots in %lld ms\n", (long long)(gwh_now_ms() - t0));
    build_map(truth, any_port());
    before = m;
    int moved = 0;
    for (unsigned s = 0; s < GW_CLUSTER_SLOTS; s++)
        moved += moved_slot(truth, s);
    assert_int_equal(moved, 200);

    /* the stale map sends a key of a moved slot to the old node: MOVED */
    char k[GW_KEY_MAX];
    key_in(truth, moved_slot, k, sizeof(k));
    unsigned slot = gw_cluster_slot(k, strlen(k));
    int old = gw_cluster_map_lookup(m, slot);
    redisReply *r =
        gwh_command(node(gw_cluster_map_node_at(m, (size_t)old)->addr.port), "HGETALL %s", k);
    gw_cluster_err_t e = parse_error(r);
    freeReplyObject(r);
    assert_int_equal(e.kind, GW_CLUSTER_ERR_MOVED);
    assert_int_equal(e.slot, (int)slot);
    assert_int_equal(e.port, h.cluster[to].port);
    char why[160] = "";
    int now = gw_cluster_map_moved(m, (unsigned)e.slot, e.host, e.port, why, sizeof(why));
    assert_int_equal(now, gw_cluster_map_find(m, "127.0.0.1", h.cluster[to].port));
    /* the retry succeeds */
    r = gwh_command(node(gw_cluster_map_node_at(m, (size_t)now)->addr.port), "HGETALL %s", k);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);

    /* every key: follow MOVED until the map routes all of them */
    int redirects = 0;
    for (int i = 0; i < NKEYS; i++) {
        unsigned ks = gw_cluster_slot(keyp[i], lens[i]);
        for (int tries = 0;; tries++) {
            assert_true(tries < 2);
            int n = gw_cluster_map_lookup(m, ks);
            r = gwh_command(node(gw_cluster_map_node_at(m, (size_t)n)->addr.port), "GET %b",
                            keyp[i], lens[i]);
            if (r->type != REDIS_REPLY_ERROR) {
                freeReplyObject(r);
                break;
            }
            e = parse_error(r);
            freeReplyObject(r);
            assert_int_equal(e.kind, GW_CLUSTER_ERR_MOVED);
            assert_int_equal(
                gw_cluster_map_moved(m, (unsigned)e.slot, e.host, e.port, why, sizeof(why)) >= 0,
                1);
            redirects++;
        }
    }
    fprintf(stderr, "%d of %d keys were redirected once\n", redirects, NKEYS);
    assert_true(redirects > 0);
    route_all(m);
    before = NULL;
    gw_cluster_map_free(truth);
    gw_cluster_map_free(m);
}

static void test_failover_rebuilt_map_names_the_promoted_replica(void **state)
{
    (void)state;
    gw_cluster_map_t *m = gw_cluster_map_new();
    build_map(m, any_port());
    int victim_node = gw_cluster_map_lookup(m, 16383);
    int victim = gwh_cluster_index(&h, gw_cluster_map_node_at(m, (size_t)victim_node)->addr.port);
    int nslots = gw_cluster_map_node_at(m, (size_t)victim_node)->nslots;
    drop_conn(victim);
    int64_t t0 = gwh_now_ms();
    int promoted = gwh_cluster_kill_master(&h, victim);
    fprintf(stderr, "master %d killed, replica %d promoted in %lld ms\n", victim, promoted,
            (long long)(gwh_now_ms() - t0));
    assert_true(h.cluster[promoted].master);
    size_t nodes = gw_cluster_map_nodes(m);
    build_map(m, any_port());
    /* the promoted replica serves exactly the dead master's slots */
    int p = gw_cluster_map_find(m, "127.0.0.1", h.cluster[promoted].port);
    assert_int_equal(p, (int)nodes); /* a new node; the others kept their index */
    assert_int_equal(gw_cluster_map_lookup(m, 16383), p);
    assert_int_equal(gw_cluster_map_node_at(m, (size_t)p)->nslots, nslots);
    assert_int_equal(gw_cluster_map_node_at(m, (size_t)victim_node)->nslots, 0);
    assert_int_equal(gw_cluster_map_unserved(m), 0);
    assert_int_equal(route_all(m), 3);
    /* the dead master back: a replica of the promoted one, nothing moves */
    gwh_cluster_restart(&h, victim);
    assert_false(h.cluster[victim].master);
    assert_int_equal(h.cluster[victim].master_of, promoted);
    build_map(m, any_port());
    assert_int_equal(gw_cluster_map_lookup(m, 16383), p);
    assert_int_equal(gw_cluster_map_node_at(m, (size_t)p)->replicas[0].port,
                     h.cluster[victim].port);
    gw_cluster_map_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slot_equals_cluster_keyslot),
        cmocka_unit_test(test_map_routes_every_key_to_its_node),
        cmocka_unit_test(test_multi_entity_calls_are_refused),
        cmocka_unit_test(test_ask_and_tryagain_during_a_migration),
        cmocka_unit_test(test_moved_after_a_reshard_updates_the_map),
        cmocka_unit_test(test_failover_rebuilt_map_names_the_promoted_replica),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
