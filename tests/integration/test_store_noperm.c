/*
 * A Redis ACL that refuses one of gapwatch's commands: the store's error
 * names the command refused and what it was for, not only Redis' bare
 * "NOPERM ... one of the keys used as arguments". Real redis-server, ACL
 * users created with ACL SETUSER.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_coalesce.h"
#include "gw_harness.h"
#include "gw_store.h"

#define D (86400000LL)

/* A store logged in as `user` (password "pw") with one DIAL of acme:r1. */
static void apply_as(gwh_t *h, const char *user, char *err, size_t errsize, int *rc_apply,
                     int *rc_positions)
{
    char yaml[512], cerr[2048];
    snprintf(yaml, sizeof(yaml),
             "redis: {port: %d, user: %s, password_env: GW_TEST_REDIS_PW}\n"
             "windows:\n"
             "  - {name: 7d, length: 7d, bucket: 1d, grace: 0s}\n",
             h->redis_port, user);
    setenv("GW_TEST_REDIS_PW", "pw", 1);
    gw_config_t *cfg = NULL;
    if (gw_config_load_string(yaml, "noperm-test", &cfg, cerr, sizeof(cerr)) != 0)
        fail_msg("config: %s", cerr);
    gw_store_t *store = gw_store_new(cfg);
    gw_coalesce_t *batch = gw_coalesce_new(cfg->windows, cfg->nwindows, &cfg->kinds);
    gw_event_t e;
    memset(&e, 0, sizeof(e));
    strcpy(e.tenant, "acme");
    strcpy(e.rep, "r1");
    strcpy(e.team, "east");
    strcpy(e.event_id, "x");
    e.occurred_at_ms = 20000 * D;
    e.kind = 1; /* DIAL, as gapwatch.v1.Kind */
    assert_int_equal(gw_coalesce_add(batch, &e, 0, 0, e.occurred_at_ms), 0);
    gw_apply_result_t res;
    *rc_apply = gw_store_apply(store, batch, "sales.events", &res, err, errsize);
    fprintf(stderr, "apply as %s: %s\n", user, *rc_apply == GW_STORE_OK ? "ok" : err);
    if (*rc_apply == GW_STORE_OK) {
        gw_position_t pos = {.partition = 0, .next_offset = 1, .stream_ms = e.occurred_at_ms};
        *rc_positions = gw_store_positions_write(store, "sales.events", &pos, 1, err, errsize);
        fprintf(stderr, "positions as %s: %s\n", user, *rc_positions == GW_STORE_OK ? "ok" : err);
    }
    gw_coalesce_free(batch);
    gw_store_free(store);
    gw_config_free(cfg);
}

static void acl(gwh_t *h, const char *rules)
{
    redisContext *c = gwh_redis(h);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "ACL SETUSER %s", rules);
    redisReply *r = redisCommand(c, cmd);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("%s: %s", cmd, r->str);
    freeReplyObject(r);
    redisFree(c);
}

static void test_noperm_on_roster_key_names_hset_of_the_roster(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "noperm");
    gwh_redis_start(&h, NULL);
    /* entity keys allowed, the roster and positions keys not */
    acl(&h, "noroster on >pw +@all ~gw:{*");
    char err[512];
    int rc_apply = -1, rc_pos = -1;
    apply_as(&h, "noroster", err, sizeof(err), &rc_apply, &rc_pos);
    assert_int_not_equal(rc_apply, GW_STORE_OK);
    if (!strstr(err, "HSET of the roster") || !strstr(err, "NOPERM"))
        fail_msg("expected the error to name HSET of the roster and NOPERM, got: %s", err);
    gwh_cleanup(&h);
}

static void test_noperm_on_positions_key_names_the_positions_script(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "noperm");
    gwh_redis_start(&h, NULL);
    acl(&h, "nopos on >pw +@all ~gw:{* ~gw:roster:* ~gw:tenants:*");
    char err[512];
    int rc_apply = -1, rc_pos = -1;
    apply_as(&h, "nopos", err, sizeof(err), &rc_apply, &rc_pos);
    assert_int_equal(rc_apply, GW_STORE_OK);
    assert_int_not_equal(rc_pos, GW_STORE_OK);
    if (!strstr(err, "EVALSHA of the positions script") || !strstr(err, "NOPERM"))
        fail_msg("expected the error to name the positions script's EVALSHA and NOPERM, got: %s",
                 err);
    gwh_cleanup(&h);
}

static void test_noperm_on_entity_keys_names_the_apply_script_and_entity(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "noperm");
    gwh_redis_start(&h, NULL);
    acl(&h, "noentity on >pw +@all ~gw:roster:* ~gw:positions:*");
    char err[512];
    int rc_apply = -1, rc_pos = -1;
    apply_as(&h, "noentity", err, sizeof(err), &rc_apply, &rc_pos);
    assert_int_not_equal(rc_apply, GW_STORE_OK);
    if (!strstr(err, "EVALSHA of the apply script") || !strstr(err, "from team acme:east") ||
        !strstr(err, "NOPERM"))
        fail_msg("expected the error to name the apply script's EVALSHA, the entity and NOPERM, "
                 "got: %s",
                 err);
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_noperm_on_roster_key_names_hset_of_the_roster),
        cmocka_unit_test(test_noperm_on_positions_key_names_the_positions_script),
        cmocka_unit_test(test_noperm_on_entity_keys_names_the_apply_script_and_entity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
