/*
 * SIGHUP's decision, without a daemon: which differences between two config
 * files a reload applies and which it refuses, naming the key and line; and
 * the JSON log writer's escaping.
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_config.h"
#include "gw_log.h"

static const char base[] = "log_level: info\n"
                           "redis:\n"
                           "  port: 6379\n"
                           "playbooks:\n"
                           "  - name: sdr\n"
                           "    teams: [\"*\"]\n"
                           "    funnel:\n"
                           "      - {name: reach, kinds: [DIAL]}\n"
                           "      - {name: book, kinds: [MEETING_BOOKED]}\n"
                           "    objective:\n"
                           "      kind: MEETING_BOOKED\n"
                           "      per_window: {7d: 9, 30d: 36}\n"
                           "alerting:\n"
                           "  fire_after: 1d\n";

static char *with(const char *from, const char *to)
{
    const char *at = strstr(base, from);
    assert_non_null(at);
    char *out = malloc(sizeof(base) + strlen(to));
    snprintf(out, sizeof(base) + strlen(to), "%.*s%s%s", (int)(at - base), base, to,
             at + strlen(from));
    return out;
}

static void test_reload_applies_objective_alerting_and_log_level(void **state)
{
    (void)state;
    char changed[512], refused[512];
    char *a = with("7d: 9,", "7d: 12,");
    char *b = with("fire_after: 1d", "fire_after: 2h");
    assert_int_equal(gw_config_diff(base, a, changed, sizeof(changed), refused, sizeof(refused)),
                     0);
    assert_string_equal(changed, "playbooks[0].objective.per_window.7d");
    assert_string_equal(refused, "");
    assert_int_equal(gw_config_diff(a, b, changed, sizeof(changed), refused, sizeof(refused)), 0);
    assert_string_equal(changed, "alerting.fire_after,playbooks[0].objective.per_window.7d");
    assert_int_equal(gw_config_diff(base, base, changed, sizeof(changed), refused, sizeof(refused)),
                     0);
    assert_string_equal(changed, "");
    free(a);
    free(b);
}

static void test_reload_refuses_redis_port_with_its_line(void **state)
{
    (void)state;
    char changed[512], refused[512];
    char *a = with("port: 6379", "port: 6380");
    assert_int_equal(gw_config_diff(base, a, changed, sizeof(changed), refused, sizeof(refused)),
                     -1);
    assert_string_equal(refused, "redis.port (line 3, changed)");
    assert_string_equal(changed, "");
    free(a);
    /* a key added outside the reloadable sections, and the alertmanager */
    char *b = with("log_level: info\n", "log_level: info\nkey_prefix: gx\n");
    assert_int_equal(gw_config_diff(base, b, changed, sizeof(changed), refused, sizeof(refused)),
                     -1);
    assert_string_equal(refused, "key_prefix (line 2, added)");
    free(b);
    assert_false(gw_config_key_reloadable("alerting.alertmanager.url"));
    assert_true(gw_config_key_reloadable("alerting.kinds[0]"));
    assert_true(gw_config_key_reloadable("log.format"));
    assert_false(gw_config_key_reloadable("logger"));
    assert_false(gw_config_key_reloadable("windows[0].length"));
}

static void test_reload_moves_playbooks_into_the_running_config(void **state)
{
    (void)state;
    static char err[4096];
    char changed[512];
    gw_config_t *cur = NULL, *next = NULL, *bad = NULL;
    char *a = with("7d: 9,", "7d: 12,");
    char *b = with("port: 6379", "port: 1");
    if (gw_config_load_string(base, "base.yaml", &cur, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(gw_config_load_string(a, "base.yaml", &next, err, sizeof(err)), 0);
    assert_int_equal(gw_config_load_string(b, "base.yaml", &bad, err, sizeof(err)), 0);
    int w = gw_config_window_index(cur, "7d");
    assert_true(w >= 0);
    assert_true(cur->playbooks[0].target[w] == 9);
    assert_int_equal(gw_config_reload(cur, next, changed, sizeof(changed), err, sizeof(err)), 0);
    assert_true(cur->playbooks[0].target[w] == 12);
    assert_int_equal(gw_config_reload(cur, bad, changed, sizeof(changed), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "redis.port"));
    assert_true(cur->playbooks[0].target[w] == 12);
    assert_int_equal(cur->redis.port, 6379);
    gw_config_free(bad);
    gw_config_free(cur); /* frees `next` too */
    free(a);
    free(b);
}

static void test_log_pairs_become_json_members_escaped(void **state)
{
    (void)state;
    char out[512], doc[600];
    gw_log_pairs_to_json("partition=3 err=\"broker \"down\" \\ now\" tab=\"a\tb\" bad=\"\xff\"",
                         out, sizeof(out));
    snprintf(doc, sizeof(doc), "{\"x\":\"1\"%s}", out);
    json_error_t jerr;
    json_t *o = json_loads(doc, 0, &jerr);
    if (!o)
        fail_msg("not JSON (%s): %s", jerr.text, doc);
    assert_string_equal(json_string_value(json_object_get(o, "partition")), "3");
    assert_string_equal(json_string_value(json_object_get(o, "err")), "broker \"down\" \\ now");
    assert_string_equal(json_string_value(json_object_get(o, "tab")), "a\tb");
    assert_string_equal(json_string_value(json_object_get(o, "bad")), "\xef\xbf\xbd");
    json_decref(o);
    /* truncated at a member boundary: still a valid object */
    char small[24];
    gw_log_pairs_to_json("a=1 b=2 c=3 d=4", small, sizeof(small));
    snprintf(doc, sizeof(doc), "{%s}", small + 1);
    o = json_loads(doc, 0, &jerr);
    assert_non_null(o);
    assert_true(json_object_size(o) >= 1 && json_object_size(o) < 4);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reload_applies_objective_alerting_and_log_level),
        cmocka_unit_test(test_reload_refuses_redis_port_with_its_line),
        cmocka_unit_test(test_reload_moves_playbooks_into_the_running_config),
        cmocka_unit_test(test_log_pairs_become_json_members_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
