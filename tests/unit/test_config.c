/* Config: every error names the key and the line; defaults; secrets. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gw_config.h"

static char err[8192];

static gw_config_t *load_ok(const char *yaml)
{
    gw_config_t *cfg = NULL;
    if (gw_config_load_string(yaml, "t.yaml", &cfg, err, sizeof(err)) != 0)
        fail_msg("expected the config to load, got:\n%s", err);
    return cfg;
}

static void expect_error(const char *yaml, const char *needle)
{
    gw_config_t *cfg = NULL;
    if (gw_config_load_string(yaml, "t.yaml", &cfg, err, sizeof(err)) == 0) {
        gw_config_free(cfg);
        fail_msg("expected an error containing \"%s\"", needle);
    }
    if (!strstr(err, needle))
        fail_msg("expected an error containing \"%s\", got:\n%s", needle, err);
}

static void test_config_empty_file_gives_defaults(void **state)
{
    (void)state;
    gw_config_t *cfg = load_ok("");
    assert_string_equal(cfg->kafka.topic_events, "sales.events");
    assert_string_equal(cfg->kafka.topic_dead_letter, "sales.events.dlq");
    assert_string_equal(cfg->key_prefix, "gw");
    assert_int_equal(cfg->redis.port, 6379);
    assert_int_equal(cfg->nwindows, 2);
    assert_string_equal(cfg->windows[0].name, "7d");
    assert_string_equal(cfg->windows[1].name, "30d");
    assert_int_equal(cfg->consumer.batch_max_messages, 200000);
    assert_int_equal(cfg->consumer.batch_max_entities, 16384);
    assert_int_equal(cfg->consumer.batch_max_wait_ms, 5);
    gw_config_free(cfg);
}

static void test_config_full_file_is_read(void **state)
{
    (void)state;
    setenv("GW_TEST_BOOTSTRAP", "k1:9092,k2:9092", 1);
    gw_config_t *cfg = load_ok("log_level: debug\n"
                               "kafka:\n"
                               "  bootstrap_servers: ${GW_TEST_BOOTSTRAP}\n"
                               "  group_id: gw-prod\n"
                               "  topics: {events: ev, dead_letter: dlq, alerts: al}\n"
                               "  properties:\n"
                               "    session.timeout.ms: 10000\n"
                               "consumer: {batch_max_messages: 5000, batch_max_entities: 700, "
                               "batch_max_wait: 50ms}\n"
                               "redis: {host: redis.internal, port: 6380, db: 2}\n"
                               "key_prefix: prod\n"
                               "windows:\n"
                               "  - {name: 14d, length: 2w, bucket: 1d, grace: 2h}\n"
                               "custom_kinds:\n"
                               "  - {name: linkedin_inmail, class: activity}\n"
                               "validation: {max_future: 10m}\n"
                               "metrics: {listen: \"0.0.0.0:9464\"}\n");
    assert_string_equal(cfg->kafka.bootstrap_servers, "k1:9092,k2:9092");
    assert_string_equal(cfg->kafka.group_id, "gw-prod");
    assert_string_equal(cfg->kafka.topic_alerts, "al");
    assert_int_equal(cfg->kafka.nproperties, 1);
    assert_string_equal(cfg->kafka.properties[0].name, "session.timeout.ms");
    assert_int_equal(cfg->kafka.properties[0].line, 7);
    assert_int_equal(cfg->consumer.batch_max_messages, 5000);
    assert_int_equal(cfg->consumer.batch_max_entities, 700);
    assert_int_equal(cfg->consumer.batch_max_wait_ms, 50);
    assert_string_equal(cfg->redis.host, "redis.internal");
    assert_int_equal(cfg->redis.db, 2);
    assert_int_equal(cfg->nwindows, 1);
    assert_int_equal(cfg->windows[0].nbuckets, 14);
    assert_int_equal(cfg->windows[0].grace_ms, 2 * 3600000);
    assert_int_equal(cfg->kinds.ncustom, 1);
    assert_int_equal(cfg->validation.max_future_ms, 600000);
    assert_int_equal(cfg->log_level, GW_LOG_DEBUG);
    gw_config_free(cfg);
}

static void test_config_unknown_key_names_key_and_line(void **state)
{
    (void)state;
    expect_error("kafka:\n  group_id: a\n  group_idd: b\n",
                 "t.yaml:3: kafka.group_idd: unknown key (allowed here: bootstrap_servers, "
                 "group_id, topics, properties, consumer_properties, producer_properties)");
    expect_error("redis:\n  port: 6379\nwindow:\n  - x\n", "t.yaml:3: window: unknown key");
}

static void test_config_data_loss_policy_is_halt_unless_rebuild_is_asked(void **state)
{
    (void)state;
    gw_config_t *cfg = load_ok("");
    assert_int_equal(cfg->redis.on_data_loss, GW_DATA_LOSS_HALT);
    gw_config_free(cfg);
    cfg = load_ok("redis:\n  on_data_loss: rebuild\n");
    assert_int_equal(cfg->redis.on_data_loss, GW_DATA_LOSS_REBUILD);
    gw_config_free(cfg);
    expect_error("redis:\n  port: 6379\n  on_data_loss: shrug\n",
                 "t.yaml:3: redis.on_data_loss: \"shrug\" is not halt or rebuild");
}

static void test_config_redis_cluster_seeds_are_host_port(void **state)
{
    (void)state;
    gw_config_t *cfg = load_ok("");
    assert_false(cfg->redis.cluster);
    assert_int_equal(cfg->redis.ncluster_nodes, 0);
    gw_config_free(cfg);
    cfg = load_ok("redis:\n  cluster: true\n  cluster_nodes: [\"10.0.0.2:7001\", \"::1:7002\"]\n");
    assert_true(cfg->redis.cluster);
    assert_int_equal(cfg->redis.ncluster_nodes, 2);
    assert_string_equal(cfg->redis.cluster_nodes[0].host, "10.0.0.2");
    assert_int_equal(cfg->redis.cluster_nodes[0].port, 7001);
    assert_string_equal(cfg->redis.cluster_nodes[1].host, "::1");
    assert_int_equal(cfg->redis.cluster_nodes[1].port, 7002);
    gw_config_free(cfg);
    expect_error("redis:\n  cluster: true\n  cluster_nodes: [\"a:1\", \"b:x\"]\n",
                 "t.yaml:3: redis.cluster_nodes[1]: \"b:x\" is not host:port");
    expect_error("redis:\n  cluster: true\n  db: 2\n",
                 "t.yaml:2: redis.cluster: a Redis Cluster has database 0 only");
    expect_error("redis:\n  cluster: true\n  unix_socket: /tmp/r.sock\n",
                 "t.yaml:2: redis.cluster: a cluster is reached by host and port");
    expect_error("redis:\n  cluster_nodes: [\"a:1\"]\n",
                 "t.yaml:2: redis.cluster_nodes: cluster nodes are given but redis.cluster is not");
}

static void test_config_alertmanager_conventions_default_and_override(void **state)
{
    (void)state;
    gw_config_t *cfg = load_ok("");
    assert_string_equal(cfg->alerting.generator_url, "");
    assert_string_equal(cfg->alerting.severity[GW_ALERT_EFFICIENCY], "warning");
    assert_string_equal(cfg->alerting.severity[GW_ALERT_LOW_QUALITY], "info");
    assert_non_null(strstr(cfg->alerting.runbook_url, "/docs/alerts.md"));
    gw_config_free(cfg);
    cfg = load_ok("alerting:\n  alertmanager:\n"
                  "    generator_url: \"https://g/d/x?t={tenant}&r={rep}\"\n"
                  "    runbook_url: https://wiki/gapwatch\n"
                  "    severity: {efficiency_gap: critical}\n");
    assert_string_equal(cfg->alerting.generator_url, "https://g/d/x?t={tenant}&r={rep}");
    assert_string_equal(cfg->alerting.runbook_url, "https://wiki/gapwatch");
    assert_string_equal(cfg->alerting.severity[GW_ALERT_EFFICIENCY], "critical");
    assert_string_equal(cfg->alerting.severity[GW_ALERT_GAMING], "warning");
    gw_config_free(cfg);
    expect_error("alerting:\n  alertmanager:\n    generator_url: \"https://g/{user}\"\n",
                 "t.yaml:3: alerting.alertmanager.generator_url: unknown placeholder \"{user}\"");
    expect_error("alerting:\n  alertmanager:\n    severity:\n      efficiency_gap: page\n",
                 "t.yaml:4: alerting.alertmanager.severity.efficiency_gap: \"page\" is not a "
                 "severity");
    expect_error("alerting:\n  alertmanager:\n    severity: {speed: info}\n",
                 "t.yaml:3: alerting.alertmanager.severity.speed: \"speed\" is not an alert kind");
}

static void test_config_reports_every_error_not_just_the_first(void **state)
{
    (void)state;
    expect_error("redis:\n  port: seventy\nconsumer:\n  batch_max_messages: 0\n",
                 "t.yaml:2: redis.port: \"seventy\" is not an integer");
    assert_non_null(strstr(err, "t.yaml:4: consumer.batch_max_messages: 0 is out of range"));
}

static void test_config_bad_values_name_key_and_line(void **state)
{
    (void)state;
    expect_error("consumer:\n  batch_max_wait: soon\n",
                 "t.yaml:2: consumer.batch_max_wait: \"soon\" is not a duration");
    expect_error("key_prefix: \"g w\"\n", "t.yaml:1: key_prefix:");
    expect_error("metrics:\n  listen: nowhere\n", "t.yaml:2: metrics.listen: \"nowhere\" is not");
    expect_error("windows:\n  - {name: 7d, length: 7d, bucket: 5h}\n",
                 "t.yaml:2: windows[0]: window 7d: length must be a whole number of buckets");
    expect_error("windows:\n  - {name: a, length: 1d, bucket: 1h}\n  - {name: a, length: 2d, "
                 "bucket: 1h}\n",
                 "t.yaml:3: windows[1]: window name \"a\" is used twice");
    expect_error("windows: []\n", "windows: at least one window is needed");
    expect_error("custom_kinds:\n  - {name: DIAL, class: activity}\n",
                 "t.yaml:2: custom_kinds[0]: \"DIAL\" cannot name a custom kind");
    expect_error("custom_kinds:\n  - {name: fax, class: sometimes}\n",
                 "class \"sometimes\" is not activity, output or outcome");
    expect_error("kafka:\n  topics: {events: a, dead_letter: a}\n",
                 "t.yaml:2: kafka.topics: topic \"a\" is used for two purposes");
    expect_error("log_level: loud\n", "t.yaml:1: log_level: \"loud\" is not debug");
    expect_error("kafka: [1, 2]\n", "t.yaml:1: kafka: expected a mapping");
}

static void test_config_calendars_are_read_and_matched_to_teams(void **state)
{
    (void)state;
    gw_config_t *cfg = load_ok("calendars:\n"
                               "  - name: emea\n"
                               "    timezone: Europe/Berlin\n"
                               "    working_days: [mon, tue, wed, thu, fri]\n"
                               "    holidays: [2026-12-24..2026-12-26, 2027-01-01]\n"
                               "    week_starts_on: monday\n"
                               "    fiscal_year_starts: feb\n"
                               "    teams: [\"acme/*\"]\n"
                               "  - name: us\n"
                               "    timezone: America/New_York\n"
                               "    working_days: [sun, mon, tue, wed, thu]\n"
                               "    teams: [east, \"acme/west\"]\n");
    assert_int_equal(cfg->ncalendars, 2);
    const gw_calendar_t *c = &cfg->calendars[0];
    assert_string_equal(c->zone, "Europe/Berlin");
    assert_int_equal(c->workdays, GW_CAL_MON_FRI);
    assert_int_equal(c->nholidays, 2);
    assert_int_equal(c->fiscal_start_month, 2);
    assert_int_equal(cfg->calendars[1].workdays, 0x4f);
    /* "tenant/team" beats "team", which beats a tenant default and "*" */
    assert_ptr_equal(gw_calendar_for_team(cfg->calendars, 2, "acme", "north"), c);
    assert_ptr_equal(gw_calendar_for_team(cfg->calendars, 2, "acme", "east"), &cfg->calendars[1]);
    assert_ptr_equal(gw_calendar_for_team(cfg->calendars, 2, "acme", "west"), &cfg->calendars[1]);
    assert_null(gw_calendar_for_team(cfg->calendars, 2, "globex", "north"));
    gw_config_free(cfg);
}

static void test_config_calendar_errors_name_key_and_line(void **state)
{
    (void)state;
    expect_error("calendars:\n  - name: x\n    timezone: Europe/Atlantis\n    teams: [\"*\"]\n",
                 "t.yaml:3: calendars[0].timezone: unknown time zone \"Europe/Atlantis\"");
    expect_error("calendars:\n  - name: x\n    timezone: UTC\n    teams: [\"*\"]\n"
                 "    holidays: [2026-02-30]\n",
                 "t.yaml:5: calendars[0].holidays[0]: \"2026-02-30\" is not a date");
    expect_error("calendars:\n  - name: x\n    timezone: UTC\n    teams: [\"*\"]\n"
                 "    holidays: [2026-12-31..2026-12-24]\n",
                 "the range ends before it starts");
    expect_error("calendars:\n  - name: x\n    timezone: UTC\n    teams: [\"*\"]\n"
                 "    working_days: [mon, funday]\n",
                 "t.yaml:5: calendars[0].working_days[1]: \"funday\" is not a weekday");
    expect_error("calendars:\n  - name: x\n    timezone: UTC\n    teams: [\"*\"]\n"
                 "    fiscal_year_starts: 13\n",
                 "t.yaml:5: calendars[0].fiscal_year_starts:");
    expect_error("calendars:\n  - name: x\n    teams: [\"*\"]\n", "needs a timezone");
    expect_error("calendars:\n  - {name: x, timezone: UTC, teams: [a]}\n"
                 "  - {name: y, timezone: UTC, teams: [a]}\n",
                 "teams entry \"a\" is in calendars \"x\" and \"y\"");
}

static void test_config_alertmanager_auth_and_tls(void **state)
{
    (void)state;
    setenv("GW_TEST_AM_PASSWORD", "s3cret", 1);
    char ca[] = "/tmp/gw-test-ca-XXXXXX"; /* any readable file will do here */
    int fd = mkstemp(ca);
    assert_true(fd >= 0);
    close(fd);
    char yaml[512];
    snprintf(yaml, sizeof(yaml),
             "alerting:\n  alertmanager:\n    url: https://am:9093\n"
             "    username: gapwatch\n    password_env: GW_TEST_AM_PASSWORD\n"
             "    tls_ca: %s\n",
             ca);
    gw_config_t *cfg = load_ok(yaml);
    assert_string_equal(cfg->alerting.am_auth.username, "gapwatch");
    assert_string_equal(cfg->alerting.am_auth.password, "s3cret");
    assert_true(cfg->alerting.am_auth.tls_verify);
    gw_config_free(cfg);
    expect_error("alerting:\n  alertmanager:\n    url: https://am:9093\n"
                 "    username: gapwatch\n    password_env: GW_TEST_AM_PASSWORD\n"
                 "    bearer_token_env: GW_TEST_AM_PASSWORD\n",
                 "t.yaml:6: alerting.alertmanager: give basic auth (username and password) or a "
                 "bearer token, not both");
    expect_error("alerting:\n  alertmanager:\n    url: https://am:9093\n"
                 "    password_env: GW_TEST_AM_PASSWORD\n",
                 "t.yaml:4: alerting.alertmanager.username: a password needs a username");
    snprintf(yaml, sizeof(yaml),
             "alerting:\n  alertmanager:\n    url: http://am:9093\n"
             "    tls_ca: %s\n",
             ca);
    expect_error(yaml, "t.yaml:4: alerting.alertmanager.url: TLS settings are given but the url "
                       "\"http://am:9093\" is not https://");
    expect_error("alerting:\n  alertmanager:\n    url: https://am:9093\n"
                 "    tls_ca: /nonexistent/ca.crt\n",
                 "t.yaml:4: alerting.alertmanager.tls_ca: cannot read /nonexistent/ca.crt");
    expect_error("alerting:\n  alertmanager:\n    username: gapwatch\n",
                 "t.yaml:3: alerting.alertmanager: username is given but url is not");
    unsetenv("GW_TEST_AM_PASSWORD");
    unlink(ca);
}

static void test_config_librdkafka_property_is_checked(void **state)
{
    (void)state;
    expect_error("kafka:\n  properties:\n    no.such.property: 1\n",
                 "t.yaml:3: kafka.properties.no.such.property: librdkafka rejects it");
    expect_error("kafka:\n  properties:\n    session.timeout.ms: often\n",
                 "t.yaml:3: kafka.properties.session.timeout.ms: librdkafka rejects it");
}

static void test_config_yaml_syntax_error_has_line(void **state)
{
    (void)state;
    expect_error("kafka:\n  group_id: [unclosed\n", "t.yaml:");
    assert_non_null(strstr(err, "YAML syntax error"));
}

static void test_config_secrets_come_from_env_or_file(void **state)
{
    (void)state;
    unsetenv("GW_TEST_NOPE");
    expect_error("redis:\n  password_env: GW_TEST_NOPE\n",
                 "t.yaml:2: redis.password_env: environment variable GW_TEST_NOPE is not set");
    expect_error("kafka:\n  group_id: ${GW_TEST_NOPE}\n",
                 "t.yaml:2: kafka.group_id: environment variable GW_TEST_NOPE is not set");
    setenv("GW_TEST_PW", "s3cret", 1);
    gw_config_t *cfg = load_ok("redis:\n  user: gapwatch\n  password_env: GW_TEST_PW\n");
    assert_string_equal(cfg->redis.password, "s3cret");
    assert_string_equal(cfg->redis.user, "gapwatch");
    gw_config_free(cfg);

    char path[] = "/tmp/gw-test-pw-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "from-file\n", 10), 10);
    close(fd);
    char yaml[256];
    snprintf(yaml, sizeof(yaml), "redis:\n  password_file: %s\n", path);
    cfg = load_ok(yaml);
    assert_string_equal(cfg->redis.password, "from-file");
    gw_config_free(cfg);
    snprintf(yaml, sizeof(yaml), "redis:\n  password_env: GW_TEST_PW\n  password_file: %s\n", path);
    expect_error(yaml, "t.yaml:3: redis.password_file: give password_env or password_file");
    unlink(path);
    expect_error("redis:\n  password_file: /nonexistent/pw\n",
                 "t.yaml:2: redis.password_file: cannot read /nonexistent/pw");
    expect_error("redis:\n  user: gapwatch\n", "redis.user: an ACL user needs a password");
}

static void test_config_file_errors_name_the_file(void **state)
{
    (void)state;
    gw_config_t *cfg = NULL;
    assert_int_equal(gw_config_load_file("/nonexistent/gapwatchd.yaml", &cfg, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "/nonexistent/gapwatchd.yaml: cannot open"));
}

static const char *const sdr =
    "playbooks:\n"                                                  /* 1 */
    "  - name: sdr\n"                                               /* 2 */
    "    teams: [east, west]\n"                                     /* 3 */
    "    funnel:\n"                                                 /* 4 */
    "      - {name: reach, kinds: [DIAL, EMAIL_SENT]}\n"            /* 5 */
    "      - {name: connect, kinds: [CONVERSATION, EMAIL_REPLY]}\n" /* 6 */
    "      - {name: book, kinds: [MEETING_BOOKED]}\n"               /* 7 */
    "    objective: {kind: MEETING_BOOKED, per_window: {7d: 12}}\n" /* 8 */
    "    overrides:\n"                                              /* 9 */
    "      - {rep: r17, per_window: {7d: 6}}\n"                     /* 10 */
    "    ramp: [0.25, 0.5]\n";                                      /* 11 */

static void test_config_playbook_is_read(void **state)
{
    (void)state;
    gw_config_t *cfg = load_ok(sdr);
    assert_int_equal(cfg->nplaybooks, 1);
    const gw_playbook_t *pb = &cfg->playbooks[0];
    assert_string_equal(pb->name, "sdr");
    assert_int_equal(pb->nstages, 3);
    assert_string_equal(pb->stages[1].name, "connect");
    assert_int_equal(pb->stages[0].nkinds, 2);
    assert_int_equal(pb->objective_kind, 9);
    assert_int_equal(pb->objective_stage, 2);
    int w7 = gw_config_window_index(cfg, "7d"), w30 = gw_config_window_index(cfg, "30d");
    assert_true(pb->target[w7] == 12);
    assert_true(isnan(pb->target[w30]));
    assert_true(gw_playbook_target(pb, "acme", "r17", w7) == 6);
    assert_true(gw_playbook_target(pb, "acme", "r18", w7) == 12);
    assert_true(gw_playbook_ramp(pb, 1) == 0.5);
    assert_true(gw_playbook_for_team(cfg->playbooks, 1, "acme", "west") == pb);
    assert_null(gw_playbook_for_team(cfg->playbooks, 1, "acme", "north"));
    assert_true(pb->z > 1.95 && pb->z < 1.97);
    gw_config_free(cfg);
}

static void test_config_playbook_errors_name_key_and_line(void **state)
{
    (void)state;
    char yaml[2048];
    /* a stage with no kinds */
    snprintf(yaml, sizeof(yaml), "%s", sdr);
    char *p = strstr(yaml, "[CONVERSATION, EMAIL_REPLY]");
    memcpy(p, "[]                         ", 27);
    expect_error(yaml, "t.yaml:6: playbooks[0].funnel[1]: a stage needs at least one kind");
    /* an objective kind that is not in the funnel */
    snprintf(yaml, sizeof(yaml), "%s", sdr);
    p = strstr(yaml, "kind: MEETING_BOOKED");
    memcpy(p, "kind: DEAL_WON      ", 20);
    expect_error(yaml, "t.yaml:8: playbooks[0].objective: objective kind DEAL_WON is not in the "
                       "funnel");
    /* overlapping teams */
    snprintf(yaml, sizeof(yaml),
             "%s  - name: ae\n"
             "    teams: [north, west]\n"
             "    funnel: [{kinds: [PROPOSAL_SENT]}, {kinds: [DEAL_WON]}]\n"
             "    objective: {amount_of: DEAL_WON, per_window: {30d: 5000000}}\n",
             sdr);
    expect_error(yaml, "t.yaml:13: playbooks[1]: team \"west\" is already covered by playbook "
                       "\"sdr\"");
    /* unknown kind, unknown window, one-stage funnel */
    expect_error("playbooks:\n  - name: x\n    teams: [a]\n    funnel:\n      - {kinds: [DAIL]}\n"
                 "      - {kinds: [MEETING_BOOKED]}\n"
                 "    objective: {kind: MEETING_BOOKED, per_window: {9d: 1}}\n",
                 "t.yaml:5: playbooks[0].funnel[0]: \"DAIL\" is not a kind");
    assert_non_null(strstr(err, "t.yaml:7: playbooks[0].objective: window \"9d\" is not one of"));
    expect_error("playbooks:\n  - name: x\n    teams: [a]\n    funnel: [{kinds: [DIAL]}]\n"
                 "    objective: {kind: DIAL, per_window: {7d: 1}}\n",
                 "t.yaml:4: playbooks[0].funnel: a funnel needs at least two stages");
    expect_error("playbooks:\n  - name: x\n    teams: [a]\n    funnel: [{kinds: [DIAL]}, "
                 "{kinds: [MEETING_BOOKED]}]\n    confidence: 1.5\n"
                 "    objective: {kind: MEETING_BOOKED, per_window: {7d: 1}}\n",
                 "t.yaml:5: playbooks[0].confidence: 1.5 is out of range");
    /* custom kinds declared after the playbook still resolve */
    gw_config_t *cfg = load_ok("playbooks:\n  - name: x\n    teams: [\"*\"]\n"
                               "    funnel: [{kinds: [fax]}, {kinds: [MEETING_BOOKED]}]\n"
                               "    objective: {kind: MEETING_BOOKED, per_window: {7d: 1}}\n"
                               "custom_kinds: [{name: fax, class: activity}]\n");
    assert_int_equal(cfg->playbooks[0].stages[0].kinds[0], GW_KIND_CUSTOM_BASE);
    gw_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_empty_file_gives_defaults),
        cmocka_unit_test(test_config_full_file_is_read),
        cmocka_unit_test(test_config_unknown_key_names_key_and_line),
        cmocka_unit_test(test_config_reports_every_error_not_just_the_first),
        cmocka_unit_test(test_config_data_loss_policy_is_halt_unless_rebuild_is_asked),
        cmocka_unit_test(test_config_redis_cluster_seeds_are_host_port),
        cmocka_unit_test(test_config_alertmanager_conventions_default_and_override),
        cmocka_unit_test(test_config_bad_values_name_key_and_line),
        cmocka_unit_test(test_config_librdkafka_property_is_checked),
        cmocka_unit_test(test_config_calendars_are_read_and_matched_to_teams),
        cmocka_unit_test(test_config_alertmanager_auth_and_tls),
        cmocka_unit_test(test_config_calendar_errors_name_key_and_line),
        cmocka_unit_test(test_config_yaml_syntax_error_has_line),
        cmocka_unit_test(test_config_secrets_come_from_env_or_file),
        cmocka_unit_test(test_config_file_errors_name_the_file),
        cmocka_unit_test(test_config_playbook_is_read),
        cmocka_unit_test(test_config_playbook_errors_name_key_and_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
