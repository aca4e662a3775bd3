/* Redis Cluster arithmetic: CRC16 and hash slots against the spec and
 * values CLUSTER KEYSLOT of Debian's redis-server 7.0 answered, the slot
 * map, the parsing of error replies and grouping per node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gw_cluster.h"
#include "gw_keys.h"

/* The definition, bit by bit: shift each message bit into the register,
 * XOR the polynomial 0x1021 when a 1 falls out (XMODEM: init 0, MSB first,
 * no reflection, no final XOR). */
static uint16_t crc16_bitwise(const unsigned char *p, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

static unsigned slot(const char *key)
{
    return gw_cluster_slot(key, strlen(key));
}

static void test_crc16_matches_the_spec_and_the_bitwise_definition(void **state)
{
    (void)state;
    /* the spec's test vector */
    assert_int_equal(gw_cluster_crc16("123456789", 9), 0x31C3);
    assert_int_equal(gw_cluster_crc16("", 0), 0);
    /* every byte value alone (each table entry) and after a prefix */
    for (int b = 0; b < 256; b++) {
        unsigned char one = (unsigned char)b, two[2] = {'x', (unsigned char)b};
        assert_int_equal(gw_cluster_crc16(&one, 1), crc16_bitwise(&one, 1));
        assert_int_equal(gw_cluster_crc16(two, 2), crc16_bitwise(two, 2));
    }
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    assert_int_equal(gw_cluster_crc16(buf, sizeof(buf)), crc16_bitwise(buf, sizeof(buf)));
}

static void test_slot_equals_what_redis_answers(void **state)
{
    (void)state;
    /* `redis-cli cluster keyslot <key>` of redis-server 7.0.15 */
    assert_int_equal(slot("123456789"), 12739); /* 0x31C3 */
    assert_int_equal(slot("foo"), 12182);
    assert_int_equal(slot("bar"), 5061);
    assert_int_equal(slot("hello"), 866);
    assert_int_equal(slot("somekey"), 11058);
    assert_int_equal(slot(""), 0);
    assert_int_equal(slot("gw:positions:sales.events"), 7142);
    assert_int_equal(slot("gw:export:{acme}"), 11304);
}

static void test_slot_hash_tag_rules(void **state)
{
    (void)state;
    /* a tag: only what is between the first '{' and the next '}' */
    assert_int_equal(slot("foo{hash_tag}"), 2515);
    assert_int_equal(slot("foo{hash_tag}"), slot("hash_tag"));
    assert_int_equal(slot("{user1000}.following"), 3443);
    assert_int_equal(slot("{user1000}.followers"), slot("{user1000}.following"));
    /* only the first tag counts */
    assert_int_equal(slot("foo{bar}{zap}"), 5061);
    assert_int_equal(slot("foo{bar}{zap}"), slot("bar"));
    /* "{}" is empty: the whole key is hashed (not the next tag) */
    assert_int_equal(slot("foo{}{bar}"), 8363);
    assert_int_equal(slot("foo{}{bar}"), gw_cluster_crc16("foo{}{bar}", 10) % 16384);
    /* the tag starts after the first '{': "{bar" */
    assert_int_equal(slot("foo{{bar}}zap"), 4015);
    assert_int_equal(slot("foo{{bar}}zap"), slot("{bar"));
    /* no '}' after the '{', or no '{': the whole key */
    assert_int_equal(slot("{"), 4092);
    assert_int_equal(slot("}"), 12090);
    assert_int_equal(slot("{}"), 15257);
    assert_int_equal(slot("a{b"), 13340);
    assert_int_equal(slot("}a{b"), gw_cluster_crc16("}a{b", 4) % 16384);
    /* length, not NUL: the tag ends where the key does */
    assert_int_equal(gw_cluster_slot("x{ab}", 4), gw_cluster_crc16("x{ab", 4) % 16384);
    assert_int_equal(gw_cluster_slot("x{ab}", 5), slot("ab"));
}

static void test_slot_of_gapwatch_keys_follows_the_entity(void **state)
{
    (void)state;
    char k[GW_KEY_MAX];
    gw_entity_t rep = {GW_ENTITY_REP, "acme", "r17"};
    gw_entity_t team = {GW_ENTITY_TEAM, "acme", "east"};
    gw_keys_state(k, sizeof(k), "gw", &rep);
    assert_int_equal(slot(k), 2073); /* redis: cluster keyslot gw:{acme:r17}:state */
    unsigned rs = slot(k);
    gw_keys_totals(k, sizeof(k), "gw", &rep, "7d");
    assert_int_equal(slot(k), rs);
    gw_keys_buckets(k, sizeof(k), "gw", &rep, "30d");
    assert_int_equal(slot(k), rs);
    gw_keys_period(k, sizeof(k), "gw", &rep, "month", "2026-12-01");
    assert_int_equal(slot(k), rs);
    gw_keys_diagnosis(k, sizeof(k), "gw", &rep, "7d");
    assert_int_equal(slot(k), rs);
    gw_keys_state(k, sizeof(k), "gw", &team);
    unsigned ts = slot(k);
    assert_int_equal(ts, slot("acme:team:east"));
    gw_keys_team_reps(k, sizeof(k), "gw", "acme", "east");
    assert_int_equal(slot(k), ts);
}

/* A 3-master map as CLUSTER SLOTS of `redis-cli --cluster create` gives. */
static const gw_cluster_addr_t replica_a = {"127.0.0.1", 7004};
static const gw_cluster_addr_t replica_b = {"127.0.0.1", 7005};
static const gw_cluster_addr_t replica_c = {"127.0.0.1", 7006};

static gw_cluster_map_t *three_masters(void)
{
    gw_cluster_range_t r[3] = {
        {0, 5460, {"127.0.0.1", 7001}, &replica_a, 1},
        {5461, 10922, {"127.0.0.1", 7002}, &replica_b, 1},
        {10923, 16383, {"127.0.0.1", 7003}, &replica_c, 1},
    };
    gw_cluster_map_t *m = gw_cluster_map_new();
    assert_non_null(m);
    char why[128] = "";
    assert_int_equal(gw_cluster_map_build(m, r, 3, why, sizeof(why)), 16384);
    assert_string_equal(why, "");
    return m;
}

static void test_map_routes_slots_to_their_master(void **state)
{
    (void)state;
    gw_cluster_map_t *m = three_masters();
    assert_int_equal(gw_cluster_map_nodes(m), 3);
    assert_int_equal(gw_cluster_map_unserved(m), 0);
    assert_int_equal(gw_cluster_map_lookup(m, 0), 0);
    assert_int_equal(gw_cluster_map_lookup(m, 5460), 0);
    assert_int_equal(gw_cluster_map_lookup(m, 5461), 1);
    assert_int_equal(gw_cluster_map_lookup(m, 16383), 2);
    assert_int_equal(gw_cluster_map_lookup(m, 16384), -1);
    assert_int_equal(gw_cluster_map_lookup(m, slot("foo")), 2); /* 12182 */
    const gw_cluster_node_t *n = gw_cluster_map_node_at(m, 1);
    assert_string_equal(n->addr.host, "127.0.0.1");
    assert_int_equal(n->addr.port, 7002);
    assert_int_equal(n->nslots, 5462);
    assert_int_equal(n->nreplicas, 1);
    assert_int_equal(n->replicas[0].port, 7005);
    assert_null(gw_cluster_map_node_at(m, 3));
    assert_int_equal(gw_cluster_map_find(m, "127.0.0.1", 7003), 2);
    assert_int_equal(gw_cluster_map_find(m, "127.0.0.1", 7004), -1);
    gw_cluster_map_free(m);
}

static void test_map_moved_moves_one_slot_and_learns_new_nodes(void **state)
{
    (void)state;
    gw_cluster_map_t *m = three_masters();
    char why[128];
    /* a reshard moved slot 12182 ("foo") from 7003 to 7001 */
    assert_int_equal(gw_cluster_map_moved(m, 12182, "127.0.0.1", 7001, why, sizeof(why)), 0);
    assert_int_equal(gw_cluster_map_lookup(m, 12182), 0);
    assert_int_equal(gw_cluster_map_lookup(m, 12181), 2);
    assert_int_equal(gw_cluster_map_node_at(m, 0)->nslots, 5462);
    assert_int_equal(gw_cluster_map_node_at(m, 2)->nslots, 5460);
    /* the replica 7006 took over 7003's slots: a node of its own */
    assert_int_equal(gw_cluster_map_moved(m, 12000, "127.0.0.1", 7006, why, sizeof(why)), 3);
    assert_int_equal(gw_cluster_map_nodes(m), 4);
    assert_int_equal(gw_cluster_map_lookup(m, 12000), 3);
    /* moved again to where it is: nothing changes */
    assert_int_equal(gw_cluster_map_moved(m, 12000, "127.0.0.1", 7006, why, sizeof(why)), 3);
    assert_int_equal(gw_cluster_map_node_at(m, 3)->nslots, 1);
    /* refused: bad slot, no host, bad port; the map is unchanged */
    assert_int_equal(gw_cluster_map_moved(m, 16384, "127.0.0.1", 7001, why, sizeof(why)), -1);
    assert_string_equal(why, "slot 16384 is not within 0-16383");
    assert_int_equal(gw_cluster_map_moved(m, 1, "", 7001, why, sizeof(why)), -1);
    assert_string_equal(why, "MOVED target has no host");
    assert_int_equal(gw_cluster_map_moved(m, 1, "127.0.0.1", 0, why, sizeof(why)), -1);
    assert_string_equal(why, "MOVED target 127.0.0.1 has port 0, not 1-65535");
    assert_int_equal(gw_cluster_map_nodes(m), 4);
    assert_int_equal(gw_cluster_map_lookup(m, 1), 0);
    gw_cluster_map_free(m);
}

static void test_map_rebuild_keeps_node_indices(void **state)
{
    (void)state;
    gw_cluster_map_t *m = three_masters();
    /* after a failover of 7002: its replica 7005 serves its slots, 7002
     * (dead) is gone from CLUSTER SLOTS */
    gw_cluster_range_t r[3] = {
        {10923, 16383, {"127.0.0.1", 7003}, &replica_c, 1},
        {0, 5460, {"127.0.0.1", 7001}, &replica_a, 1},
        {5461, 10922, {"127.0.0.1", 7005}, NULL, 0},
    };
    char why[128];
    assert_int_equal(gw_cluster_map_build(m, r, 3, why, sizeof(why)), 16384);
    assert_int_equal(gw_cluster_map_nodes(m), 4);
    assert_int_equal(gw_cluster_map_lookup(m, 0), 0);          /* 7001 kept index 0 */
    assert_int_equal(gw_cluster_map_lookup(m, 16383), 2);      /* 7003 kept index 2 */
    assert_int_equal(gw_cluster_map_lookup(m, 6000), 3);       /* 7005 is new */
    assert_int_equal(gw_cluster_map_node_at(m, 1)->nslots, 0); /* 7002 serves nothing */
    assert_int_equal(gw_cluster_map_node_at(m, 1)->nreplicas, 0);
    /* a partial cover (a master down, no replica yet): slots unserved */
    gw_cluster_range_t part[2] = {r[0], r[1]};
    assert_int_equal(gw_cluster_map_build(m, part, 2, why, sizeof(why)), 16384 - 5462);
    assert_int_equal(gw_cluster_map_unserved(m), 5462);
    assert_int_equal(gw_cluster_map_lookup(m, 6000), -1);
    /* several ranges of one master (after reshards) add up */
    gw_cluster_range_t split[4] = {
        {0, 99, {"127.0.0.1", 7003}, &replica_c, 1},
        {100, 5460, {"127.0.0.1", 7001}, &replica_a, 1},
        {5461, 10922, {"127.0.0.1", 7005}, NULL, 0},
        {10923, 16383, {"127.0.0.1", 7003}, &replica_c, 1},
    };
    assert_int_equal(gw_cluster_map_build(m, split, 4, why, sizeof(why)), 16384);
    assert_int_equal(gw_cluster_map_node_at(m, 2)->nslots, 100 + 5461);
    assert_int_equal(gw_cluster_map_node_at(m, 2)->nreplicas, 1);
    gw_cluster_map_free(m);
}

static void test_map_build_rejects_bad_ranges_and_changes_nothing(void **state)
{
    (void)state;
    gw_cluster_map_t *m = three_masters();
    char why[160];
    gw_cluster_range_t overlap[2] = {
        {0, 100, {"10.0.0.1", 6379}, NULL, 0},
        {100, 200, {"10.0.0.2", 6379}, NULL, 0},
    };
    assert_int_equal(gw_cluster_map_build(m, overlap, 2, why, sizeof(why)), -1);
    assert_string_equal(why, "range 1 (slots 100-200) overlaps range 0 (slots 0-100)");
    gw_cluster_range_t backwards = {200, 100, {"10.0.0.1", 6379}, NULL, 0};
    assert_int_equal(gw_cluster_map_build(m, &backwards, 1, why, sizeof(why)), -1);
    assert_string_equal(why, "range 0: slots 200-100 are not within 0-16383 in order");
    gw_cluster_range_t past = {0, 16384, {"10.0.0.1", 6379}, NULL, 0};
    assert_int_equal(gw_cluster_map_build(m, &past, 1, why, sizeof(why)), -1);
    gw_cluster_range_t nohost = {0, 1, {"", 6379}, NULL, 0};
    assert_int_equal(gw_cluster_map_build(m, &nohost, 1, why, sizeof(why)), -1);
    assert_string_equal(why, "range 0 (slots 0-1): master has no host");
    gw_cluster_addr_t badrep = {"10.0.0.9", 70000};
    gw_cluster_range_t rep = {0, 1, {"10.0.0.1", 6379}, &badrep, 1};
    assert_int_equal(gw_cluster_map_build(m, &rep, 1, why, sizeof(why)), -1);
    assert_string_equal(why, "range 0 (slots 0-1): replica 0 10.0.0.9 has port 70000, not 1-65535");
    /* unchanged */
    assert_int_equal(gw_cluster_map_nodes(m), 3);
    assert_int_equal(gw_cluster_map_unserved(m), 0);
    assert_int_equal(gw_cluster_map_lookup(m, 100), 0);
    /* NULL why is fine */
    assert_int_equal(gw_cluster_map_build(m, &backwards, 1, NULL, 0), -1);
    gw_cluster_map_free(m);
}

static int parse(const char *s, gw_cluster_err_t *e, char *why, size_t size)
{
    why[0] = '\0';
    return gw_cluster_parse_error(s, strlen(s), e, why, size);
}

static void test_parse_error_redirections(void **state)
{
    (void)state;
    gw_cluster_err_t e;
    char why[160];
    assert_int_equal(parse("MOVED 3999 127.0.0.1:6381", &e, why, sizeof(why)), 0);
    assert_int_equal(e.kind, GW_CLUSTER_ERR_MOVED);
    assert_int_equal(e.slot, 3999);
    assert_string_equal(e.host, "127.0.0.1");
    assert_int_equal(e.port, 6381);
    assert_int_equal(parse("ASK 3999 127.0.0.1:6381", &e, why, sizeof(why)), 0);
    assert_int_equal(e.kind, GW_CLUSTER_ERR_ASK);
    assert_int_equal(e.slot, 3999);
    /* IPv6: the port follows the last ':' */
    assert_int_equal(parse("MOVED 0 ::1:7000", &e, why, sizeof(why)), 0);
    assert_string_equal(e.host, "::1");
    assert_int_equal(e.port, 7000);
    assert_int_equal(e.slot, 0);
    /* a hostname, and an unknown endpoint (Redis 7: same host as asked) */
    assert_int_equal(parse("MOVED 16383 redis-2.redis.svc:6379", &e, why, sizeof(why)), 0);
    assert_string_equal(e.host, "redis-2.redis.svc");
    assert_int_equal(parse("MOVED 12 :6380", &e, why, sizeof(why)), 0);
    assert_string_equal(e.host, "");
    assert_int_equal(e.port, 6380);
}

static void test_parse_error_other_kinds(void **state)
{
    (void)state;
    gw_cluster_err_t e;
    char why[160];
    assert_int_equal(
        parse("TRYAGAIN Multiple keys request during rehashing of slot", &e, why, sizeof(why)), 0);
    assert_int_equal(e.kind, GW_CLUSTER_ERR_TRYAGAIN);
    assert_int_equal(e.slot, -1);
    assert_int_equal(parse("CLUSTERDOWN Hash slot not served", &e, why, sizeof(why)), 0);
    assert_int_equal(e.kind, GW_CLUSTER_ERR_CLUSTERDOWN);
    assert_int_equal(parse("CLUSTERDOWN The cluster is down", &e, why, sizeof(why)), 0);
    assert_int_equal(e.kind, GW_CLUSTER_ERR_CLUSTERDOWN);
    assert_int_equal(
        parse("CROSSSLOT Keys in request don't hash to the same slot", &e, why, sizeof(why)), 0);
    assert_int_equal(e.kind, GW_CLUSTER_ERR_CROSSSLOT);
    /* not cluster errors: their own business */
    assert_int_equal(parse("NOSCRIPT No matching script. Please use EVAL.", &e, why, sizeof(why)),
                     0);
    assert_int_equal(e.kind, GW_CLUSTER_ERR_OTHER);
    assert_int_equal(parse("ERR unknown command", &e, why, sizeof(why)), 0);
    assert_int_equal(e.kind, GW_CLUSTER_ERR_OTHER);
    assert_int_equal(parse("MOVEDX 1 a:1", &e, why, sizeof(why)), 0); /* another word */
    assert_int_equal(e.kind, GW_CLUSTER_ERR_OTHER);
    assert_int_equal(parse("", &e, why, sizeof(why)), 0);
    assert_int_equal(e.kind, GW_CLUSTER_ERR_OTHER);
    assert_string_equal(why, "");
}

static void test_parse_error_rejects_garbage(void **state)
{
    (void)state;
    gw_cluster_err_t e;
    char why[160];
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"MOVED", "MOVED without a slot and an endpoint"},
        {"MOVED ", "MOVED: \"\" is not a slot 0-16383 followed by one space"},
        {"MOVED 16384 127.0.0.1:6381",
         "MOVED: \"16384\" is not a slot 0-16383 followed by one space"},
        {"MOVED -1 127.0.0.1:6381", "MOVED: \"-1\" is not a slot 0-16383 followed by one space"},
        {"MOVED 0399 127.0.0.1:6381",
         "MOVED: \"0399\" is not a slot 0-16383 followed by one space"},
        {"MOVED 3999", "MOVED: \"3999\" is not a slot 0-16383 followed by one space"},
        {"MOVED 3999  127.0.0.1:6381", "MOVED 3999: the endpoint holds a space or control byte"},
        {"MOVED 3999 127.0.0.1:6381 x", "MOVED 3999: the endpoint holds a space or control byte"},
        {"MOVED 3999 127.0.0.1:6381\r\n", "MOVED 3999: the endpoint holds a space or control byte"},
        {"MOVED 3999 127.0.0.1", "MOVED 3999: endpoint \"127.0.0.1\" has no \":<port>\""},
        {"MOVED 3999 127.0.0.1:", "MOVED 3999: port \"\" is not 1-65535"},
        {"MOVED 3999 127.0.0.1:0", "MOVED 3999: port \"0\" is not 1-65535"},
        {"MOVED 3999 127.0.0.1:65536", "MOVED 3999: port \"65536\" is not 1-65535"},
        {"MOVED 3999 127.0.0.1:+80", "MOVED 3999: port \"+80\" is not 1-65535"},
        {"ASK x 127.0.0.1:6381", "ASK: \"x\" is not a slot 0-16383 followed by one space"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i].text, &e, why, sizeof(why)), -1);
        assert_string_equal(why, bad[i].why);
        assert_int_equal(e.kind, GW_CLUSTER_ERR_OTHER);
        assert_int_equal(e.slot, -1);
    }
    /* a NUL inside the reply's length is garbage too */
    assert_int_equal(gw_cluster_parse_error("MOVED 1 a\0b:1", 13, &e, why, sizeof(why)), -1);
}

static void test_group_per_node_keeps_order_within_a_node(void **state)
{
    (void)state;
    gw_cluster_map_t *m = three_masters();
    /* slots of nodes 2, 0, 2, 1, 0, 2 */
    uint16_t slots[6] = {12182, 0, 16383, 5461, 5460, 10923};
    size_t order[6];
    gw_cluster_batch_t b[3];
    char why[128];
    assert_int_equal(gw_cluster_group(m, slots, 6, order, b, why, sizeof(why)), 3);
    assert_int_equal(b[0].node, 0);
    assert_int_equal(b[0].first, 0);
    assert_int_equal(b[0].count, 2);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 4);
    assert_int_equal(b[1].node, 1);
    assert_int_equal(b[1].first, 2);
    assert_int_equal(b[1].count, 1);
    assert_int_equal(order[2], 3);
    assert_int_equal(b[2].node, 2);
    assert_int_equal(b[2].count, 3);
    assert_int_equal(order[3], 0);
    assert_int_equal(order[4], 2);
    assert_int_equal(order[5], 5);
    /* nodes without commands get no batch */
    uint16_t one[2] = {6000, 7000};
    assert_int_equal(gw_cluster_group(m, one, 2, order, b, why, sizeof(why)), 1);
    assert_int_equal(b[0].node, 1);
    assert_int_equal(b[0].count, 2);
    assert_int_equal(gw_cluster_group(m, one, 0, order, b, why, sizeof(why)), 0);
    gw_cluster_map_free(m);
}

static void test_group_keys_and_unserved_slots(void **state)
{
    (void)state;
    gw_cluster_map_t *m = three_masters();
    const char *keys[4] = {"gw:{acme:r17}:state", "foo", "gw:{acme:r17}:w:7d",
                           "gw:positions:sales.events"};
    size_t lens[4];
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(keys[i]);
    uint16_t slots[4];
    size_t order[4];
    gw_cluster_batch_t b[3];
    char why[128];
    /* 2073, 12182, 2073, 7142 */
    assert_int_equal(gw_cluster_group_keys(m, keys, lens, 4, slots, order, b, why, sizeof(why)), 3);
    assert_int_equal(slots[0], 2073);
    assert_int_equal(slots[2], 2073);
    assert_int_equal(b[0].node, 0);
    assert_int_equal(b[0].count, 2);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 2);
    /* a slot nobody serves fails the grouping */
    gw_cluster_range_t r = {0, 5460, {"127.0.0.1", 7001}, NULL, 0};
    assert_int_equal(gw_cluster_map_build(m, &r, 1, why, sizeof(why)), 5461);
    assert_int_equal(gw_cluster_group_keys(m, keys, lens, 4, slots, order, b, why, sizeof(why)),
                     -1);
    assert_string_equal(why, "command 1: slot 12182 is served by no node");
    gw_cluster_map_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_matches_the_spec_and_the_bitwise_definition),
        cmocka_unit_test(test_slot_equals_what_redis_answers),
        cmocka_unit_test(test_slot_hash_tag_rules),
        cmocka_unit_test(test_slot_of_gapwatch_keys_follows_the_entity),
        cmocka_unit_test(test_map_routes_slots_to_their_master),
        cmocka_unit_test(test_map_moved_moves_one_slot_and_learns_new_nodes),
        cmocka_unit_test(test_map_rebuild_keeps_node_indices),
        cmocka_unit_test(test_map_build_rejects_bad_ranges_and_changes_nothing),
        cmocka_unit_test(test_parse_error_redirections),
        cmocka_unit_test(test_parse_error_other_kinds),
        cmocka_unit_test(test_parse_error_rejects_garbage),
        cmocka_unit_test(test_group_per_node_keeps_order_within_a_node),
        cmocka_unit_test(test_group_keys_and_unserved_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
