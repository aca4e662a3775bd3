/* Key naming (the Redis layout is a public contract) and ID validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gw_keys.h"

static void test_keys_rep_and_team_share_their_hash_tag(void **state)
{
    (void)state;
    char k[GW_KEY_MAX];
    gw_entity_t rep = {GW_ENTITY_REP, "acme", "r17"};
    gw_entity_t team = {GW_ENTITY_TEAM, "acme", "east"};
    assert_true(gw_keys_totals(k, sizeof(k), "gw", &rep, "7d") > 0);
    assert_string_equal(k, "gw:{acme:r17}:w:7d");
    gw_keys_buckets(k, sizeof(k), "gw", &rep, "7d");
    assert_string_equal(k, "gw:{acme:r17}:w:7d:b");
    gw_keys_state(k, sizeof(k), "gw", &rep);
    assert_string_equal(k, "gw:{acme:r17}:state");
    gw_keys_diagnosis(k, sizeof(k), "gw", &rep, "7d");
    assert_string_equal(k, "gw:{acme:r17}:diag:7d");
    gw_keys_export(k, sizeof(k), "gw", "acme");
    assert_string_equal(k, "gw:export:{acme}");
    gw_keys_totals(k, sizeof(k), "prod", &team, "30d");
    assert_string_equal(k, "prod:{acme:team:east}:w:30d");
    gw_keys_positions(k, sizeof(k), "gw", "sales.events");
    assert_string_equal(k, "gw:positions:sales.events");
    gw_keys_roster(k, sizeof(k), "gw", "sales.events", 7);
    assert_string_equal(k, "gw:roster:sales.events:7");
    /* the alert and pace keys of docs/redis.md */
    gw_keys_alert_state(k, sizeof(k), "gw", &rep, "7d");
    assert_string_equal(k, "gw:{acme:r17}:alerts:7d");
    gw_keys_alert_stream(k, sizeof(k), "gw", "acme");
    assert_string_equal(k, "gw:alerts:{acme}");
    gw_keys_pace(k, sizeof(k), "gw", &rep, "week");
    assert_string_equal(k, "gw:{acme:r17}:pace:week");
}

static void test_keys_too_long_is_an_error_not_a_truncation(void **state)
{
    (void)state;
    char k[16];
    gw_entity_t rep = {GW_ENTITY_REP, "acme", "a-rather-long-rep-id"};
    assert_int_equal(gw_keys_totals(k, sizeof(k), "gw", &rep, "7d"), -1);
    /* "gw:{acme:r1}:state" is 18 characters: it fits 19 bytes, not 18 */
    gw_entity_t r1 = {GW_ENTITY_REP, "acme", "r1"};
    char exact[19];
    assert_int_equal(gw_keys_state(exact, sizeof(exact), "gw", &r1), 18);
    assert_string_equal(exact, "gw:{acme:r1}:state");
    assert_int_equal(gw_keys_state(exact, sizeof(exact) - 1, "gw", &r1), -1);
    gw_entity_t t1 = {GW_ENTITY_TEAM, "acme", "t1"};
    assert_int_equal(gw_keys_state(exact, sizeof(exact), "gw", &t1), -1);
}

static void test_keys_id_charset_rejects_key_syntax(void **state)
{
    (void)state;
    size_t bad;
    assert_true(gw_keys_id_valid("r.17_x@acme-1", 13, &bad));
    assert_false(gw_keys_id_valid("r:17", 4, &bad));
    assert_int_equal(bad, 1);
    assert_false(gw_keys_id_valid("{r17}", 5, &bad));
    assert_int_equal(bad, 0);
    assert_false(gw_keys_id_valid("r 17", 4, &bad));
    assert_false(gw_keys_id_valid("", 0, &bad));
    char long_id[66];
    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    assert_true(gw_keys_id_valid(long_id, 64, &bad));
    assert_false(gw_keys_id_valid(long_id, 65, &bad));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_rep_and_team_share_their_hash_tag),
        cmocka_unit_test(test_keys_too_long_is_an_error_not_a_truncation),
        cmocka_unit_test(test_keys_id_charset_rejects_key_syntax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
