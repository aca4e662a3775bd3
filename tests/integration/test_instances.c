/*
 * Several gapwatchd in one consumer group on Apache Kafka's own broker
 * (label `kafka`): a simulated month of a sales team (planted gaps, so
 * alerts fire) is produced in slices on a 12-partition topic while the
 * group goes 1 -> 3 instances, one is stopped (SIGTERM: 3 -> 2), one more
 * joins, and one is SIGKILLed mid-stream. Then:
 *
 *   - Redis' totals equal the recount of the events (tevents.h);
 *   - no alert message was published twice (same alert id, episode
 *     (starts_at), state and sequence);
 *   - every rebalance was incremental: a member that stays gives up only
 *     the partitions that move (8 of 12 when two join), never its whole
 *     assignment, and no member logs "assignment lost";
 *   - SIGTERM exits 0 and hands the partitions back at once (no wait for
 *     the session timeout).
 *
 * A second test SIGTERMs a member that owns nothing (3 instances, 2
 * partitions): it must exit 0 (librdkafka 2.0.2 aborted there, issue
 * 4312) and the owners keep their partitions.
 *
 * The figures (rebalances, kills, hand-back times) are printed as
 * "instances: ..." lines.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gapwatch/v1/alert.pb-c.h"
#include "gw_harness.h"
#include "gw_sim.h"
#include "tevents.h"

#define PARTS  12
#define SLICES 6

/* Which partitions instance `i` owns now, from its log (assigned minus
 * revoked); -1 when it is not running. */
static int owned(gwh_t *h, int i, bool own[PARTS])
{
    memset(own, 0, PARTS * sizeof(bool));
    if (!gwh_instance_alive(h, i))
        return -1;
    char path[400];
    snprintf(path, sizeof(path), "%s/gapwatchd-%d.log", h->dir, i);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        bool add = strstr(line, "msg=\"partition assigned\"") != NULL;
        bool del = strstr(line, "msg=\"partition revoked\"") != NULL;
        const char *p = strstr(line, " partition=");
        if ((!add && !del) || !p)
            continue;
        int n = atoi(p + strlen(" partition="));
        if (n >= 0 && n < PARTS)
            own[n] = add;
    }
    fclose(f);
    int n = 0;
    for (int k = 0; k < PARTS; k++)
        n += own[k];
    return n;
}

/* Waits until the running instances own every partition exactly once, each
 * within one of an even share. Returns the milliseconds it took, or -1. */
static long long wait_balanced(gwh_t *h, int64_t timeout_ms)
{
    int64_t t0 = gwh_now_ms();
    while (gwh_now_ms() - t0 < timeout_ms) {
        int holders[PARTS] = {0}, live = 0, lo = PARTS, hi = 0;
        for (int i = 1; i <= h->ninst; i++) {
            bool own[PARTS];
            int n = owned(h, i, own);
            if (n < 0)
                continue;
            live++;
            lo = n < lo ? n : lo;
            hi = n > hi ? n : hi;
            for (int k = 0; k < PARTS; k++)
                holders[k] += own[k];
        }
        bool ok = live > 0 && hi - lo <= 1;
        for (int k = 0; k < PARTS; k++)
            ok = ok && holders[k] == 1;
        if (ok)
            return (long long)(gwh_now_ms() - t0);
        gwh_sleep_ms(100);
    }
    return -1;
}

static void print_ownership(gwh_t *h, const char *when)
{
    for (int i = 1; i <= h->ninst; i++) {
        bool own[PARTS];
        int n = owned(h, i, own);
        fprintf(stderr, "instances: %s: gapwatchd-%d %s", when, i, n < 0 ? "stopped" : "owns");
        for (int k = 0; k < PARTS && n >= 0; k++)
            if (own[k])
                fprintf(stderr, " %d", k);
        fprintf(stderr, "\n");
    }
}

static int log_count_all(gwh_t *h, const char *needle)
{
    int n = 0;
    for (int i = 1; i <= h->ninst; i++) {
        char name[32];
        snprintf(name, sizeof(name), "gapwatchd-%d", i);
        n += gwh_log_count(h, name, needle);
    }
    return n;
}

static int revoked_partitions(gwh_t *h, int i)
{
    char name[32];
    snprintf(name, sizeof(name), "gapwatchd-%d", i);
    return gwh_log_count(h, name, "msg=\"partition revoked\"");
}

static void dump_logs(gwh_t *h)
{
    for (int i = 1; i <= h->ninst; i++) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "echo '--- gapwatchd-%d'; tail -n 30 '%s/gapwatchd-%d.log'", i,
                 h->dir, i);
        if (system(cmd) != 0)
            fprintf(stderr, "no log of gapwatchd-%d\n", i);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads every alert message; returns how many were published more than
 * once (same alert id, episode, state and sequence), and their total in
 * *total. */
static int duplicate_alerts(gwh_t *h, int *total)
{
    rd_kafka_t *c = tev_alert_reader(h, "instances-test-reader");
    char **seen = NULL;
    int n = 0, cap = 0;
    int64_t last = gwh_now_ms();
    while (gwh_now_ms() - last < 5000) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (!m->err) {
            Gapwatch__V1__GapAlert *a = gapwatch__v1__gap_alert__unpack(NULL, m->len, m->payload);
            assert_non_null(a);
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                seen = realloc(seen, (size_t)cap * sizeof(char *));
                assert_non_null(seen);
            }
            char line[512];
            /* A message's identity: alert, episode (starts_at: a FIRING
             * after a RESOLVED starts again at sequence 1), state and
             * sequence; sorted on it, its producer's time after it. */
            snprintf(line, sizeof(line), "%s %s/%s @%lld %d #%u\t%lld", a->alert_id, a->tenant_id,
                     a->rep_id, (long long)a->starts_at_ms, (int)a->state, a->sequence,
                     (long long)rd_kafka_message_timestamp(m, NULL));
            seen[n++] = strdup(line);
            gapwatch__v1__gap_alert__free_unpacked(a, NULL);
            last = gwh_now_ms();
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_destroy(c);
    qsort(seen, (size_t)n, sizeof(char *), cmp_str);
    int dups = 0;
    for (int i = 1; i < n; i++)
        if (!strncmp(seen[i], seen[i - 1], strcspn(seen[i], "\t"))) {
            fprintf(stderr, "alert published twice: %s and %s\n", seen[i - 1], seen[i]);
            dups++;
        }
    for (int i = 0; i < n; i++)
        free(seen[i]);
    free(seen);
    *total = n;
    return dups;
}

/* The tests' windows (the recount's) and the simulation's playbook, with
 * alerts that fire at once. */
static void write_config(gwh_t *h)
{
    const char *playbooks = strstr(GW_SIM_CONFIG_YAML, "playbooks:");
    assert_non_null(playbooks);
    char yaml[8192];
    snprintf(yaml, sizeof(yaml),
             "%s%s"
             "consumer: {idle_after: 1h, batch_max_messages: 2000}\n"
             "evaluation: {sweep_interval: 1s, min_interval: 1s}\n"
             "alerting: {windows: [7d], fire_after: 0s, resolve_after: 0s, repeat_interval: 30d}\n",
             tev_config_yaml, playbooks);
    gwh_write_config(h, yaml);
}

/* The harness' 6 s session (quick hand-over after a SIGKILL) is shorter
 * than a group coordinator's failover to another broker (the controller's
 * 3 s, a FindCoordinator, the group's load): `ms` for the broker tests. */
static void set_session_timeout(gwh_t *h, int ms)
{
    FILE *f = fopen(h->config_path, "r");
    assert_non_null(f);
    char buf[16384];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    char *at = strstr(buf, "session.timeout.ms: \"6000\"");
    assert_non_null(at);
    f = fopen(h->config_path, "w");
    assert_non_null(f);
    fprintf(f, "%.*ssession.timeout.ms: \"%d\"%s", (int)(at - buf), buf, ms,
            at + strlen("session.timeout.ms: \"6000\""));
    fclose(f);
}

static void produce_slice(gwh_t *h, const tev_stream_t *s, int k, int slices)
{
    tev_stream_t slice = {s->ev + s->n * (size_t)k / (size_t)slices,
                          s->n * (size_t)(k + 1) / (size_t)slices -
                              s->n * (size_t)k / (size_t)slices};
    tev_produce(h, &slice, "sales.events");
}

static void test_counts_exact_while_instances_join_leave_and_die(void **state)
{
    (void)state;
    static const char *const topics[] = {"sales.events:12", "sales.events.dlq:1", "sales.alerts:3",
                                         NULL};
    static gwh_t h; /* static: the harness' exit cleanup outlives a failed test */
    gwh_init(&h, "instances");
    gwh_redis_start(&h, NULL);
    gwh_real_kafka_start(&h, topics);

    gw_sim_rep_t reps[64];
    gw_sim_config_t sim = {.tenant = "acme",
                           .teams = 2,
                           .reps_per_team = 10,
                           .days = 30,
                           .seed = 31,
                           .end_ms = gwh_now_ms() - 1800000,
                           .plant = true};
    tev_stream_t s;
    assert_true(tev_from_sim(&s, &sim, reps) > 10000);
    write_config(&h);

    size_t n = s.n;
    int next_slice = 0;
    int64_t t0 = gwh_now_ms();
    int kills = 0, terms = 0;
    /* 1 instance */
    assert_int_equal(gwh_instance_start(&h), 1);
    produce_slice(&h, &s, next_slice++, SLICES);
    long long ms = wait_balanced(&h, 60000);
    print_ownership(&h, "one instance");
    assert_true(ms >= 0);
    fprintf(stderr, "instances: 1 instance owns all %d partitions after %lld ms\n", PARTS, ms);

    /* 1 -> 3, while a slice is produced */
    gwh_instance_start(&h);
    gwh_instance_start(&h);
    int64_t t_join = gwh_now_ms();
    produce_slice(&h, &s, next_slice++, SLICES);
    ms = wait_balanced(&h, 90000);
    if (ms < 0)
        dump_logs(&h);
    print_ownership(&h, "scaled to three");
    assert_true(ms >= 0);
    fprintf(stderr, "instances: 1 -> 3 balanced %lld ms after the two joined\n",
            (long long)(gwh_now_ms() - t_join));
    /* incremental: the first gave up only the 8 partitions that moved */
    assert_int_equal(revoked_partitions(&h, 1), 8);

    /* 3 -> 2: SIGTERM one (it hands its partitions back as it leaves) */
    int64_t t_term = gwh_now_ms();
    fprintf(stderr, "instances: SIGTERM to gapwatchd-3 at %lld\n", (long long)t_term);
    assert_int_equal(gwh_instance_stop(&h, 3, SIGTERM), 0);
    terms++;
    int64_t t_exit = gwh_now_ms();
    ms = wait_balanced(&h, 60000);
    print_ownership(&h, "after SIGTERM");
    assert_true(ms >= 0);
    fprintf(stderr,
            "instances: 3 -> 2 by SIGTERM: exited in %lld ms, partitions owned again %lld ms "
            "after the exit\n",
            (long long)(t_exit - t_term), ms);
    /* well under the session timeout (6 s): handed back, not timed out */
    assert_true(ms < 5000);
    produce_slice(&h, &s, next_slice++, SLICES);

    /* back to 3, then SIGKILL one mid-stream */
    gwh_instance_start(&h);
    ms = wait_balanced(&h, 90000);
    print_ownership(&h, "three again");
    assert_true(ms >= 0);
    produce_slice(&h, &s, next_slice++, SLICES);
    gwh_sleep_ms(300);
    int64_t t_kill = gwh_now_ms();
    fprintf(stderr, "instances: SIGKILL to gapwatchd-2 at %lld\n", (long long)t_kill);
    assert_int_equal(gwh_instance_stop(&h, 2, SIGKILL), 128 + SIGKILL);
    kills++;
    ms = wait_balanced(&h, 90000);
    print_ownership(&h, "after SIGKILL");
    assert_true(ms >= 0);
    fprintf(stderr, "instances: SIGKILL: partitions owned again %lld ms after the kill\n",
            (long long)(gwh_now_ms() - t_kill));
    while (next_slice < SLICES)
        produce_slice(&h, &s, next_slice++, SLICES);

    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    bool done = gwh_wait_consumed(&h, rk, "sales.events", PARTS, 180000);
    rd_kafka_destroy(rk);
    if (!done)
        dump_logs(&h);
    assert_true(done);
    tev_stats_t st;
    size_t mismatches = tev_compare_swept(&h, &s, &st);
    if (mismatches)
        dump_logs(&h);
    /* Let the sweeps publish, then read every alert. */
    gwh_sleep_ms(5000);
    int alerts = 0;
    int dups = duplicate_alerts(&h, &alerts);
    int lost = log_count_all(&h, "assignment lost");
    int rebalances = log_count_all(&h, "msg=\"rebalance\"");
    int eager = log_count_all(&h, "protocol=EAGER");
    int commit_failed = log_count_all(&h, "offset commit failed");
    fprintf(stderr,
            "instances: %zu events, 4 instances started (at most 3 at once), %d SIGTERM, %d "
            "SIGKILL, %d rebalance callbacks (%d eager), %d assignments lost, %d commit "
            "failures, %zu fields compared, %zu mismatches, %d alert messages, %d published "
            "twice, %lld s\n",
            n, terms, kills, rebalances, eager, lost, commit_failed, st.fields, mismatches, alerts,
            dups, (long long)((gwh_now_ms() - t0) / 1000));
    assert_int_equal(mismatches, 0);
    assert_int_equal(dups, 0);
    assert_true(alerts > 0);
    assert_int_equal(lost, 0);
    assert_int_equal(eager, 0);
    for (int i = 1; i <= h.ninst; i++)
        if (gwh_instance_alive(&h, i))
            assert_int_equal(gwh_instance_stop(&h, i, SIGTERM), 0);
    tev_free(&s);
    gwh_cleanup(&h);
}

static void test_sigterm_to_a_member_that_owns_nothing_exits_cleanly(void **state)
{
    (void)state;
    static const char *const topics[] = {"sales.events:2", "sales.events.dlq:1", "sales.alerts:3",
                                         NULL};
    static gwh_t h; /* static: the harness' exit cleanup outlives a failed test */
    gwh_init(&h, "instances-idle");
    gwh_redis_start(&h, NULL);
    gwh_real_kafka_start(&h, topics);
    gwh_write_config(&h, tev_config_yaml);
    for (int i = 0; i < 3; i++)
        gwh_instance_start(&h);
    /* Two partitions, three members: one owns nothing. */
    int64_t deadline = gwh_now_ms() + 60000;
    int idle = 0;
    while (!idle && gwh_now_ms() < deadline) {
        int total = 0, zero = 0;
        for (int i = 1; i <= 3; i++) {
            bool own[PARTS];
            int k = owned(&h, i, own);
            total += k;
            if (k == 0 && log_count_all(&h, "msg=\"rebalance\"") > 0)
                zero = i;
        }
        if (total == 2 && zero)
            idle = zero;
        else
            gwh_sleep_ms(200);
    }
    print_ownership(&h, "two partitions, three members");
    assert_true(idle > 0);
    gwh_sleep_ms(2000); /* settled */
    int revoked_before = 0;
    for (int i = 1; i <= 3; i++)
        revoked_before += i == idle ? 0 : revoked_partitions(&h, i);
    int64_t t = gwh_now_ms();
    int rc = gwh_instance_stop(&h, idle, SIGTERM);
    fprintf(stderr, "instances: SIGTERM to gapwatchd-%d, which owned nothing: exit %d in %lld ms\n",
            idle, rc, (long long)(gwh_now_ms() - t));
    if (rc != 0)
        dump_logs(&h);
    assert_int_equal(rc, 0);
    gwh_sleep_ms(3000);
    int revoked_after = 0;
    for (int i = 1; i <= 3; i++)
        revoked_after += i == idle ? 0 : revoked_partitions(&h, i);
    print_ownership(&h, "after the idle member left");
    assert_int_equal(revoked_after, revoked_before); /* the owners kept theirs */
    for (int i = 1; i <= 3; i++)
        if (gwh_instance_alive(&h, i))
            assert_int_equal(gwh_instance_stop(&h, i, SIGTERM), 0);
    gwh_cleanup(&h);
}

/* Three brokers (replication factor 3, min ISR 2) under three instances:
 * each broker in turn is SIGKILLed while events are produced and started
 * again. Counts equal the recount, no alert twice, no instance dies. */
static void test_counts_exact_when_each_broker_dies_and_returns(void **state)
{
    (void)state;
    static const char *const topics[] = {"sales.events:12", "sales.events.dlq:1", "sales.alerts:3",
                                         NULL};
    static gwh_t h; /* static: the harness' exit cleanup outlives a failed test */
    gwh_init(&h, "instances-brokers");
    gwh_redis_start(&h, NULL);
    gwh_broker_start(&h, 3, false, topics);
    gw_sim_rep_t reps[64];
    gw_sim_config_t sim = {.tenant = "acme",
                           .teams = 2,
                           .reps_per_team = 10,
                           .days = 30,
                           .seed = 37,
                           .end_ms = gwh_now_ms() - 1800000,
                           .plant = true};
    tev_stream_t s;
    assert_true(tev_from_sim(&s, &sim, reps) > 10000);
    write_config(&h);
    set_session_timeout(&h, 20000);
    for (int i = 0; i < 3; i++)
        gwh_instance_start(&h);
    assert_true(wait_balanced(&h, 90000) >= 0);
    int64_t t0 = gwh_now_ms();
    const int slices = 7;
    int k = 0;
    produce_slice(&h, &s, k++, slices);
    for (int node = 1; node <= 3; node++) {
        int64_t t = gwh_now_ms();
        gwh_broker_kill(&h, node);
        produce_slice(&h, &s, k++, slices); /* while the node is down */
        gwh_sleep_ms(2000);
        gwh_broker_restart(&h, node);
        fprintf(stderr,
                "instances: broker node %d SIGKILLed, a slice produced, restarted after %lld ms\n",
                node, (long long)(gwh_now_ms() - t));
        produce_slice(&h, &s, k++, slices);
    }
    assert_int_equal(k, slices);
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    bool done = gwh_wait_consumed(&h, rk, "sales.events", PARTS, 180000);
    rd_kafka_destroy(rk);
    if (!done)
        dump_logs(&h);
    assert_true(done);
    tev_stats_t st;
    size_t mismatches = tev_compare_swept(&h, &s, &st);
    if (mismatches)
        dump_logs(&h);
    gwh_sleep_ms(5000);
    int alerts = 0;
    int dups = duplicate_alerts(&h, &alerts);
    int alive = 0;
    for (int i = 1; i <= 3; i++)
        alive += gwh_instance_alive(&h, i);
    fprintf(stderr,
            "instances: 3 brokers, 3 broker SIGKILLs and restarts under 3 instances: %zu events, "
            "%d rebalance callbacks, %d assignments lost, %zu fields compared, %zu mismatches, "
            "%d alert messages, %d published twice, %d instances alive, %lld s\n",
            s.n, log_count_all(&h, "msg=\"rebalance\""), log_count_all(&h, "assignment lost"),
            st.fields, mismatches, alerts, dups, alive, (long long)((gwh_now_ms() - t0) / 1000));
    assert_int_equal(mismatches, 0);
    assert_int_equal(dups, 0);
    assert_int_equal(alive, 3);
    assert_int_equal(log_count_all(&h, "assignment lost"), 0);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(gwh_instance_stop(&h, i, SIGTERM), 0);
    tev_free(&s);
    gwh_cleanup(&h);
}

/* SIGTERM while a new member is still joining (between its JoinGroup and
 * its first assignment): librdkafka before 2.3.0 aborted in
 * rd_kafka_sticky_assignor_state_destroy there (issue 4312). On the real
 * broker the window is short; the mock cluster (whose SyncGroup lags)
 * hits it about once in eight without the workaround. */
static void sigterm_during_joins(bool real)
{
    static const char *const topics[] = {"sales.events:12", "sales.events.dlq:1", "sales.alerts:3",
                                         NULL};
    static gwh_t h; /* static: the harness' exit cleanup outlives a failed test */
    gwh_init(&h, real ? "instances-join" : "instances-join-mock");
    gwh_redis_start(&h, NULL);
    if (real)
        gwh_real_kafka_start(&h, topics);
    else
        gwh_kafka_start(&h, 1, topics);
    gwh_write_config(&h, tev_config_yaml);
    gwh_instance_start(&h);
    assert_true(wait_balanced(&h, 60000) >= 0);
    unsigned seed = (unsigned)gwh_now_ms();
    srand(seed);
    int aborted = 0, tries = 8;
    for (int k = 0; k < tries; k++) {
        int i = gwh_instance_start(&h);
        int delay = 300 + rand() % 1500;
        gwh_sleep_ms(delay);
        int64_t t = gwh_now_ms();
        int rc = gwh_instance_stop(&h, i, SIGTERM);
        char name[32];
        snprintf(name, sizeof(name), "gapwatchd-%d", i);
        fprintf(stderr,
                "instances: SIGTERM %d ms after start (%d rebalance callbacks by then): exit %d "
                "in %lld ms\n",
                delay, gwh_log_count(&h, name, "msg=\"rebalance\""), rc,
                (long long)(gwh_now_ms() - t));
        aborted += rc != 0;
    }
    fprintf(stderr, "instances: %s: %d of %d SIGTERMs during a join did not exit 0 (seed %u)\n",
            real ? "apache kafka" : "mock cluster", aborted, tries, seed);
    assert_int_equal(aborted, 0);
    assert_int_equal(gwh_instance_stop(&h, 1, SIGTERM), 0);
    gwh_cleanup(&h);
}

static void test_sigterm_during_a_join_exits_cleanly(void **state)
{
    (void)state;
    sigterm_during_joins(true);
}

static void test_sigterm_during_a_join_exits_cleanly_on_the_mock(void **state)
{
    (void)state;
    sigterm_during_joins(false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_exact_while_instances_join_leave_and_die),
        cmocka_unit_test(test_sigterm_to_a_member_that_owns_nothing_exits_cleanly),
        cmocka_unit_test(test_counts_exact_when_each_broker_dies_and_returns),
        cmocka_unit_test(test_sigterm_during_a_join_exits_cleanly),
        cmocka_unit_test(test_sigterm_during_a_join_exits_cleanly_on_the_mock),
    };
    /* GW_TEST_FILTER: run only the tests matching this pattern ("*broker*") */
    if (getenv("GW_TEST_FILTER"))
        cmocka_set_test_filter(getenv("GW_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
