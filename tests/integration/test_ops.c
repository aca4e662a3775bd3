/*
 * What an operator does to a running gapwatchd, with the real parts (Redis,
 * the mock Kafka cluster, the daemon as a subprocess):
 *
 * - systemd's side of Type=notify: a unix datagram socket bound here as
 *   NOTIFY_SOCKET receives READY=1, WATCHDOG=1 (WATCHDOG_USEC set),
 *   RELOADING=1 on SIGHUP and STOPPING=1 at SIGTERM;
 * - SIGHUP applies a playbook's new objective (the diagnosis snapshots in
 *   Redis carry it), refuses an invalid file and a change of a key that
 *   needs a restart (logged with the key), and the daemon keeps running;
 * - log.format: json writes one JSON object per line, offsets by name;
 * - /metrics passes `promtool check metrics`, has the process_* metrics and
 *   librdkafka's figures, and the group lag of a partition another member
 *   of the group holds (committed offset behind the end);
 * - `--check-config --no-secrets` lints a config whose password variable
 *   is not set.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "gw_harness.h"
#include "gw_sim.h"
#include "tevents.h"

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot read %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Replaces the first `from` in the file with `to`; fails if absent. */
static void file_replace(const char *path, const char *from, const char *to)
{
    char *s = read_text(path);
    char *at = strstr(s, from);
    if (!at)
        fail_msg("%s has no \"%s\"", path, from);
    size_t head = (size_t)(at - s);
    char *out = malloc(strlen(s) + strlen(to) + 1);
    memcpy(out, s, head);
    strcpy(out + head, to);
    strcat(out, at + strlen(from));
    write_text(path, out);
    free(out);
    free(s);
}

/* The value of the sample `series` ("name{labels}") in a /metrics body, or
 * NAN when absent. */
static double sample(const char *body, const char *series)
{
    size_t n = strlen(series);
    for (const char *l = body; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, series, n) && l[n] == ' ')
            return strtod(l + n + 1, NULL);
    return __builtin_nan("");
}

/* ---- systemd's notify socket -------------------------------------------- */

/* Like systemd, the test reads the socket all the time (a thread): a
 * notify socket nobody reads fills up and blocks the sender. */
typedef struct {
    int fd;
    char path[300];
    pthread_t reader;
    pthread_mutex_t lock;
    volatile int stop;
    char seen[16384]; /* datagrams received since the last clear, "\n"-wrapped */
} notify_sock_t;

static void *notify_reader(void *arg)
{
    notify_sock_t *ns = arg;
    while (!ns->stop) {
        char buf[1024];
        ssize_t n = recv(ns->fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        pthread_mutex_lock(&ns->lock);
        size_t used = strlen(ns->seen);
        if (used > sizeof(ns->seen) / 2) { /* keep the tail */
            memmove(ns->seen, ns->seen + used / 2, used - used / 2 + 1);
            used = strlen(ns->seen);
        }
        snprintf(ns->seen + used, sizeof(ns->seen) - used, "\n%s\n", buf);
        pthread_mutex_unlock(&ns->lock);
    }
    return NULL;
}

static void notify_open(notify_sock_t *ns, gwh_t *h)
{
    memset(ns, 0, sizeof(*ns));
    snprintf(ns->path, sizeof(ns->path), "%s/notify.sock", h->dir);
    ns->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(ns->fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(ns->path) < sizeof(sa.sun_path));
    strcpy(sa.sun_path, ns->path);
    assert_int_equal(bind(ns->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {0, 100000};
    setsockopt(ns->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    pthread_mutex_init(&ns->lock, NULL);
    assert_int_equal(pthread_create(&ns->reader, NULL, notify_reader, ns), 0);
}

static void notify_close(notify_sock_t *ns)
{
    ns->stop = 1;
    pthread_join(ns->reader, NULL);
    pthread_mutex_destroy(&ns->lock);
    close(ns->fd);
}

static void notify_clear(notify_sock_t *ns)
{
    pthread_mutex_lock(&ns->lock);
    ns->seen[0] = '\0';
    pthread_mutex_unlock(&ns->lock);
}

/* Waits until a datagram received since the last clear holds `line` (a
 * whole line of it), or `timeout_ms` passes. */
static bool notify_wait(notify_sock_t *ns, const char *line, int timeout_ms)
{
    int64_t until = gwh_now_ms() + timeout_ms;
    char needle[64];
    snprintf(needle, sizeof(needle), "\n%s\n", line);
    do {
        pthread_mutex_lock(&ns->lock);
        bool found = strstr(ns->seen, needle) != NULL;
        pthread_mutex_unlock(&ns->lock);
        if (found)
            return true;
        gwh_sleep_ms(20);
    } while (gwh_now_ms() < until);
    return false;
}

/* ---- the objective in the diagnosis snapshots ---------------------------- */

static double objective_of(gwh_t *h, const gw_sim_rep_t *r)
{
    redisContext *c = gwh_redis(h);
    redisReply *rep = redisCommand(c, "HGET gw:{%s:%s}:diag:7d objective", r->tenant, r->rep);
    double v = rep && rep->type == REDIS_REPLY_STRING ? atof(rep->str) : -1;
    freeReplyObject(rep);
    redisFree(c);
    return v;
}

/* Waits until the rep's 7d objective is `want` (within 1e-6 relative). */
static bool wait_objective(gwh_t *h, const gw_sim_rep_t *r, double want, int timeout_ms,
                           double *got)
{
    int64_t until = gwh_now_ms() + timeout_ms;
    do {
        *got = objective_of(h, r);
        if (*got > 0 && (*got - want) * (*got - want) < 1e-12 * want * want)
            return true;
        gwh_sleep_ms(300);
    } while (gwh_now_ms() < until);
    return false;
}

static void enable_metrics(gwh_t *h, int port, const char *more)
{
    char listen[256];
    snprintf(listen, sizeof(listen), "  listen: \"127.0.0.1:%d\"\n%s", port, more ? more : "");
    file_replace(h->config_path, "  listen: \"\"\n", listen);
}

static const char *const ops_topics[] = {"sales.events:2", "sales.events.dlq:1", "sales.alerts:1",
                                         NULL};

static void test_sighup_reloads_objective_and_refuses_what_needs_a_restart(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "ops-reload");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 1, ops_topics);
    int port = gwh_free_port();
    char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "%sevaluation: {sweep_interval: 1s, min_interval: 1s}\n"
             "log:\n  format: json\n",
             GW_SIM_CONFIG_YAML);
    gwh_write_config(&h, yaml);
    enable_metrics(&h, port, NULL);

    gw_sim_config_t sim = {.tenant = "acme",
                           .teams = 1,
                           .reps_per_team = 8,
                           .days = 21,
                           .seed = 11,
                           .end_ms = gwh_now_ms() - 1800000,
                           .plant = true};
    int nreps = gw_sim_rep_count(&sim);
    gw_sim_rep_t *reps = calloc((size_t)nreps, sizeof(*reps));
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    tev_produce_sim(rk, &sim, reps, 0);
    rd_kafka_flush(rk, 60000);
    const gw_sim_rep_t *healthy = NULL;
    for (int i = 0; i < nreps && !healthy; i++)
        if (reps[i].archetype == GW_ARCH_HEALTHY)
            healthy = &reps[i];
    assert_non_null(healthy);

    /* systemd's side: the daemon finds the socket and a 1 s watchdog */
    notify_sock_t ns;
    notify_open(&ns, &h);
    setenv("NOTIFY_SOCKET", ns.path, 1);
    setenv("WATCHDOG_USEC", "1000000", 1);
    gwh_daemon_start(&h);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    if (!notify_wait(&ns, "READY=1", 30000)) {
        gwh_dump_daemon_log(&h, 30);
        fail_msg("no READY=1 on NOTIFY_SOCKET within 30 s; got:%s", ns.seen);
    }
    notify_clear(&ns);
    /* at half the timeout: at least two pings in 2 s */
    assert_true(notify_wait(&ns, "WATCHDOG=1", 2000));
    notify_clear(&ns);
    assert_true(notify_wait(&ns, "WATCHDOG=1", 2000));
    assert_true(gwh_wait_consumed(&h, rk, "sales.events", 2, 120000));

    /* The snapshot's objective is the playbook's prorated to the history
     * covered (docs/diagnosis.md, "Partial history"): it scales with the target. */
    double got, before = -1;
    for (int i = 0; i < 200 && before <= 0; i++, gwh_sleep_ms(300))
        before = objective_of(&h, healthy);
    if (before <= 0) {
        gwh_dump_daemon_log(&h, 30);
        fail_msg("rep %s: no 7d diagnosis snapshot within 60 s", healthy->rep);
    }
    fprintf(stderr, "  rep %s: 7d objective %g with a target of 9\n", healthy->rep, before);

    /* 1. a new objective: applied without a restart */
    file_replace(h.config_path, "per_window: {7d: 9, 30d: 36}", "per_window: {7d: 12, 30d: 36}");
    notify_clear(&ns);
    kill(h.daemon_pid, SIGHUP);
    assert_true(notify_wait(&ns, "RELOADING=1", 10000));
    if (!wait_objective(&h, healthy, before * 12 / 9, 30000, &got)) {
        gwh_dump_daemon_log(&h, 30);
        fail_msg("rep %s: 7d objective %g after SIGHUP, expected %g", healthy->rep, got,
                 before * 12 / 9);
    }
    assert_int_equal(gwh_daemon_log_count(&h, "\"msg\":\"config reloaded\""), 1);
    assert_true(gwh_daemon_log_count(&h, "playbooks[0].objective.per_window.7d") >= 1);

    /* 2. an invalid file: refused with its key, the daemon goes on */
    file_replace(h.config_path, "    tolerance: 0.1\n", "    tolerance: 0.1\n    colour: blue\n");
    kill(h.daemon_pid, SIGHUP);
    for (int i = 0; i < 50 && gwh_daemon_log_count(&h, "reload refused") < 1; i++)
        gwh_sleep_ms(100);
    assert_true(gwh_daemon_log_count(&h, "playbooks[0].colour") >= 1);
    file_replace(h.config_path, "    colour: blue\n", "");

    /* 3. a key that needs a restart (and a playbook change with it): the
     * whole reload is refused, naming the key */
    char from[64], to[64];
    snprintf(from, sizeof(from), "port: %d", h.redis_port);
    snprintf(to, sizeof(to), "port: %d", h.redis_port + 1);
    file_replace(h.config_path, from, to);
    file_replace(h.config_path, "per_window: {7d: 12, 30d: 36}", "per_window: {7d: 15, 30d: 36}");
    kill(h.daemon_pid, SIGHUP);
    for (int i = 0; i < 50 && gwh_daemon_log_count(&h, "reload refused") < 2; i++)
        gwh_sleep_ms(100);
    assert_int_equal(gwh_daemon_log_count(&h, "keys changed that need a restart"), 1);
    assert_true(gwh_daemon_log_count(&h, "redis.port (line") >= 1);
    gwh_sleep_ms(2500); /* two sweeps: still the objective of step 1 */
    assert_true(gwh_daemon_alive(&h));
    assert_true(wait_objective(&h, healthy, before * 12 / 9, 5000, &got));

    char *body = gwh_http_get(port, "/metrics");
    assert_non_null(body);
    assert_true(sample(body, "gapwatch_config_reloads_total{result=\"applied\"}") == 1);
    assert_true(sample(body, "gapwatch_config_reloads_total{result=\"refused\"}") == 2);
    assert_true(sample(body, "gapwatch_config_last_reload_successful") == 0);
    free(body);

    notify_clear(&ns);
    int64_t t0 = gwh_now_ms();
    int rc = gwh_daemon_stop(&h, SIGTERM);
    if (rc != 0) {
        gwh_dump_daemon_log(&h, 20);
        fail_msg("gapwatchd exited %d at SIGTERM after %lld ms, expected 0", rc,
                 (long long)(gwh_now_ms() - t0));
    }
    assert_true(notify_wait(&ns, "STOPPING=1", 1000));

    /* every line of the log is one JSON object; offsets by name */
    char path[400];
    snprintf(path, sizeof(path), "%s/gapwatchd.log", h.dir);
    char *log = read_text(path);
    int lines = 0;
    for (char *l = log, *nl; *l; l = nl + 1) {
        nl = strchr(l, '\n');
        assert_non_null(nl);
        *nl = '\0';
        json_error_t jerr;
        json_t *o = json_loads(l, 0, &jerr);
        if (!json_is_object(o))
            fail_msg("log line %d is not a JSON object (%s): %s", lines + 1, jerr.text, l);
        assert_true(json_is_string(json_object_get(o, "ts")));
        assert_true(json_is_string(json_object_get(o, "level")));
        assert_true(json_is_string(json_object_get(o, "msg")));
        const char *so = json_string_value(json_object_get(o, "start_offset"));
        if (so && so[0] == '-')
            fail_msg("raw offset sentinel in the log: %s", l);
        json_decref(o);
        lines++;
    }
    fprintf(stderr, "  %d log lines, all JSON objects\n", lines);
    assert_true(lines > 5);
    assert_true(gwh_daemon_log_count(&h, "\"start_offset\":\"committed\"") >= 1);
    free(log);
    notify_close(&ns);
    rd_kafka_destroy(rk);
    free(reps);
    gwh_cleanup(&h);
}

/* ---- /metrics ------------------------------------------------------------ */

/* A member of the daemon's group that holds a partition and never consumes
 * it: its committed offset stays behind the partition's end. */
static rd_kafka_t *idle_member(gwh_t *h)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", h->bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "group.id", "gapwatch", NULL, 0);
    rd_kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", NULL, 0);
    rd_kafka_conf_set(conf, "session.timeout.ms", "6000", NULL, 0);
    rd_kafka_conf_set(conf, "heartbeat.interval.ms", "500", NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(conf, "log_level", "2", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(rk);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, "sales.events", RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(rk, t), 0);
    rd_kafka_topic_partition_list_destroy(t);
    return rk;
}

/* Polls the member (it must keep polling to stay in the group) for `ms`,
 * pausing whatever it is assigned. Returns its assignment size. */
static int member_poll(rd_kafka_t *rk, int ms)
{
    int64_t until = gwh_now_ms() + ms;
    do {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
        if (m)
            rd_kafka_message_destroy(m);
    } while (gwh_now_ms() < until);
    rd_kafka_topic_partition_list_t *a = NULL;
    rd_kafka_assignment(rk, &a);
    int n = a ? a->cnt : 0;
    if (a) {
        rd_kafka_pause_partitions(rk, a);
        rd_kafka_topic_partition_list_destroy(a);
    }
    return n;
}

static void test_metrics_pass_promtool_and_show_lag_of_a_partition_no_instance_owns(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "ops-metrics");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 1, ops_topics);
    int port = gwh_free_port();
    gwh_write_config(&h, GW_SIM_CONFIG_YAML);
    enable_metrics(&h, port, "  group_lag_interval: 1s\n");
    gwh_add_consumer_property(&h, "statistics.interval.ms: \"1000\"");

    gw_sim_config_t sim = {.tenant = "acme",
                           .teams = 1,
                           .reps_per_team = 8,
                           .days = 14,
                           .seed = 3,
                           .end_ms = gwh_now_ms() - 1800000,
                           .plant = false};
    gw_sim_rep_t *reps = calloc((size_t)gw_sim_rep_count(&sim), sizeof(*reps));
    rd_kafka_t *rk = gwh_producer(&h, NULL, NULL);
    tev_produce_sim(rk, &sim, reps, 0);
    rd_kafka_flush(rk, 60000);
    int64_t hi[2], lo;
    for (int p = 0; p < 2; p++) {
        assert_int_equal(rd_kafka_query_watermark_offsets(rk, "sales.events", p, &lo, &hi[p], 5000),
                         0);
        assert_true(hi[p] > 10);
    }

    /* gapwatchd consumes both partitions and commits their ends */
    gwh_daemon_start(&h);
    assert_true(gwh_wait_consumed(&h, rk, "sales.events", 2, 120000));
    gwh_sleep_ms(2500); /* a commit interval: Kafka has the ends too */

    /* Another member joins; the cooperative rebalance gives it one
     * partition, which it never consumes: it commits offset 10 there, and
     * everything after it is the group's lag, on a partition no gapwatchd
     * instance owns. */
    rd_kafka_t *member = idle_member(&h);
    int kept = 0;
    for (int i = 0; i < 300 && kept != 1; i++)
        kept = member_poll(member, 100);
    assert_int_equal(kept, 1);
    rd_kafka_topic_partition_list_t *a = NULL;
    rd_kafka_assignment(member, &a);
    int32_t unowned = a->elems[0].partition, mine = 1 - unowned;
    rd_kafka_topic_partition_list_destroy(a);
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(c, "sales.events", unowned)->offset = 10;
    assert_int_equal(rd_kafka_commit(member, c, 0), 0);
    rd_kafka_topic_partition_list_destroy(c);

    char series[128], own[128];
    snprintf(series, sizeof(series), "gapwatch_group_lag{partition=\"%d\"}", unowned);
    snprintf(own, sizeof(own), "gapwatch_group_lag{partition=\"%d\"}", mine);
    char *body = NULL;
    bool settled = false;
    for (int i = 0; i < 120 && !settled; i++) {
        member_poll(member, 250);
        free(body);
        body = gwh_http_get(port, "/metrics");
        /* the daemon's partition consumed and committed, the member's not */
        settled = body && sample(body, series) == (double)(hi[unowned] - 10) &&
                  sample(body, own) == 0 &&
                  sample(body, "gapwatch_kafka_consumer_assignment_size") == 1 &&
                  sample(body, "gapwatch_kafka_consumer_rebalances_total") >= 1;
    }
    if (!settled) {
        gwh_dump_daemon_log(&h, 30);
        for (const char *l = body; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
            if (!strncmp(l, "gapwatch_group", 14) || !strncmp(l, "gapwatch_kafka_consumer", 23) ||
                !strncmp(l, "gapwatch_consumer_lag", 21))
                fprintf(stderr, "  %.*s\n", (int)strcspn(l, "\n"), l);
        fail_msg("expected %s %lld and %s 0 (see above)", series, (long long)(hi[unowned] - 10),
                 own);
    }
    /* the per-instance lag knows only the daemon's own partition */
    snprintf(series, sizeof(series), "gapwatch_consumer_lag{partition=\"%d\"}", unowned);
    fprintf(stderr,
            "  partition %d held by the idle member: group lag %lld, this instance's "
            "consumer lag series for it: %s\n",
            unowned, (long long)(hi[unowned] - 10),
            __builtin_isnan(sample(body, series)) ? "none" : "present");
    assert_true(__builtin_isnan(sample(body, series)));

    /* process_* as Prometheus clients export them */
    double rss = sample(body, "process_resident_memory_bytes");
    double start = sample(body, "process_start_time_seconds");
    fprintf(stderr, "  process: rss %.1f MB, vsz %.1f MB, fds %g of %g, cpu %.2f s\n", rss / 1e6,
            sample(body, "process_virtual_memory_bytes") / 1e6, sample(body, "process_open_fds"),
            sample(body, "process_max_fds"), sample(body, "process_cpu_seconds_total"));
    assert_true(rss > 1e6 && rss < 4e9);
    assert_true(sample(body, "process_virtual_memory_bytes") >= rss);
    assert_true(sample(body, "process_open_fds") >= 5);
    assert_true(sample(body, "process_max_fds") >= sample(body, "process_open_fds"));
    assert_true(sample(body, "process_cpu_seconds_total") > 0);
    assert_true(start > (double)gwh_now_ms() / 1000 - 600 && start <= (double)gwh_now_ms() / 1000);
    /* librdkafka's figures: the mock's broker is up, with a round trip */
    assert_non_null(strstr(body, "gapwatch_kafka_broker_up{broker=\""));
    assert_non_null(strstr(body, "gapwatch_kafka_broker_rtt_seconds{broker=\""));
    assert_non_null(strstr(body, "gapwatch_kafka_producer_queue_messages "));

    char path[400], cmd[600], out[8192];
    snprintf(path, sizeof(path), "%s/metrics.txt", h.dir);
    write_text(path, body);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' 2>&1", path);
    int rc = gwh_run_capture(cmd, out, sizeof(out));
    if (rc != 0)
        fail_msg("promtool check metrics exit %d:\n%s", rc, out);
    free(body);

    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    rd_kafka_consumer_close(member);
    rd_kafka_destroy(member);
    rd_kafka_destroy(rk);
    free(reps);
    gwh_cleanup(&h);
}

/* ---- lint without secrets ---------------------------------------------------- */

static void test_check_config_no_secrets_lints_without_the_password(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "ops-lint");
    char path[400], cmd[1200], out[4096];
    snprintf(path, sizeof(path), "%s/gapwatchd.yaml", h.dir);
    write_text(path, "redis:\n  user: gapwatch\n  password_env: GW_TEST_UNSET_PASSWORD\n"
                     "log:\n  format: json\n");
    unsetenv("GW_TEST_UNSET_PASSWORD");
    snprintf(cmd, sizeof(cmd), "%s --check-config '%s' 2>&1", GW_GAPWATCHD, path);
    assert_int_not_equal(gwh_run_capture(cmd, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "GW_TEST_UNSET_PASSWORD is not set"));
    snprintf(cmd, sizeof(cmd), "%s --check-config '%s' --no-secrets 2>&1", GW_GAPWATCHD, path);
    assert_int_equal(gwh_run_capture(cmd, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "ok"));
    /* the rest is still checked: a bad value fails with its line */
    write_text(path, "redis:\n  password_file: /nonexistent/secret\nlog:\n  format: xml\n");
    snprintf(cmd, sizeof(cmd), "%s --no-secrets --check-config '%s' 2>&1", GW_GAPWATCHD, path);
    assert_int_not_equal(gwh_run_capture(cmd, out, sizeof(out)), 0);
    assert_non_null(strstr(out, ":4: log.format"));
    assert_null(strstr(out, "/nonexistent/secret"));
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_config_no_secrets_lints_without_the_password),
        cmocka_unit_test(test_sighup_reloads_objective_and_refuses_what_needs_a_restart),
        cmocka_unit_test(test_metrics_pass_promtool_and_show_lag_of_a_partition_no_instance_owns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
