/*
 * gw_bench: gapwatchd against its ceiling, in one run, with real parts
 * (redis-server, librdkafka's mock cluster over TCP, the gapwatchd binary).
 * Not part of the test suite's pass/fail: it prints a table of figures.
 *
 *   1. preload one topic of 12 partitions with N events (default 2,000,000
 *      over 10,000 reps);
 *   2. the ceiling: a bare librdkafka batch-consume loop over the topic;
 *   3. gapwatchd end to end until every offset is recorded (positions are
 *      written after Redis acknowledged the counts): events/s, ratio to
 *      the ceiling, Redis commands per event, peak RSS;
 *   4. at a fixed produce rate (default 50,000 events/s), the latency from
 *      produce to counts visible in Redis (p50, p99);
 *   5. peak RSS of a gapwatchd that has seen 100,000 distinct reps.
 *
 * usage: gw_bench [--events N] [--reps N] [--rate R] [--seconds S]
 *                 [--rss-reps N] [--batch N] [--span DURATION] [--skip-rss] [--trace]
 *                 [--set-size N] [--linger MS] [--pin] [--repeat N] [--peer CMD]
 *                 [-X consumer.property=value]...
 *
 * --repeat N measures the ceiling and the end-to-end run N times over the
 * same preloaded topic (each gapwatchd run with a fresh consumer group and
 * key prefix) and reports the median and the range: the machine is shared
 * and one run varies by ±30%.
 *
 * --peer CMD runs the Python peer (/work/shared/bench/python_peer.py, or a
 * command line through /bin/sh) over the same topic after gapwatchd in
 * each round (ceiling, gapwatchd, peer), with its own consumer group and
 * Redis database 1, and prints gapwatchd's events/s against the peer's
 * and gapwatchd's share of the ceiling. A peer that cannot run (a Python
 * module missing) is reported, and its rows skipped.
 *
 * --pin gives redis-server's main thread the last CPU and everything else
 * (this process, the broker, gapwatchd) the others, as a deployment gives
 * Redis a core of its own: unpinned, on 2 cores, Redis waits for a CPU
 * behind the broker and the load generator.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <time.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gapwatch/v1/event.pb-c.h"
#include "gw_harness.h"
#include "gw_window.h"
#include "tevents.h"

#define DAY 86400000LL

static const char *const topics[] = {"sales.events:12", "sales.events.dlq:1", "sales.alerts:3",
                                     "rss.events:12", NULL};

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
    return gwh_rand(&rng);
}

/* One event of rep `r`; `t` its event time. */
static size_t make_event(uint8_t *buf, long i, int r, int64_t t)
{
    return tev_bench_event(buf, i, r, t, &rng);
}

static void produce_one(rd_kafka_t *rk, const char *topic, int r, const uint8_t *buf, size_t len,
                        void *opaque)
{
    char rep[24];
    snprintf(rep, sizeof(rep), "rep-%d", r);
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(rep, strlen(rep)),
                             RD_KAFKA_V_VALUE((void *)buf, len),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(opaque),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(rk, 10);
}

/* -X name=value: librdkafka consumer properties for gapwatchd and the
 * ceiling's consumer alike */
static const char *props[32];
static int nprops;

/* linger.ms of the fixed-rate producer (--linger): librdkafka's default.
 * Each produce request becomes one message set per partition at the mock
 * broker, which finds a fetch's offset by walking the partition's sets
 * from the oldest: its CPU grows with the run (see docs/performance.md). */
static char lat_linger[16] = "5";

#define REPEAT_MAX 9

/* messages per produced message set (--set-size) */
static char set_size[16] = "10000";

static rd_kafka_t *bench_producer(gwh_t *h,
                                  void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                                  void *opaque, const char *linger)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", h->bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "linger.ms", linger, NULL, 0);
    rd_kafka_conf_set(conf, "batch.num.messages", set_size, NULL, 0);
    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", NULL, 0);
    rd_kafka_conf_set(conf, "log_level", "2", NULL, 0);
    /* librdkafka's mock cluster keeps a bounded log per partition (by bytes
     * and by message sets) and trims older sets beyond it; compressed, in
     * large batches, 2 million events fit in 12 partitions. */
    if (rd_kafka_conf_set(conf, "compression.type", "zstd", NULL, 0) != RD_KAFKA_CONF_OK)
        rd_kafka_conf_set(conf, "compression.type", "lz4", NULL, 0);
    if (dr)
        rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_conf_set_opaque(conf, opaque);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "producer: %s\n", err);
        exit(1);
    }
    return rk;
}

static int64_t span_ms = 3600000;

/* N events over `reps` reps with event times spread over the last span_ms
 * (default 1 h: a backlog as a live system builds it; a replay of weeks
 * slides every window at every batch and measures that instead). */
static void preload(gwh_t *h, const char *topic, long n, int reps)
{
    rd_kafka_t *rk = bench_producer(h, NULL, NULL, "500");
    int64_t end = gwh_now_ms() - 60000, span = span_ms;
    uint8_t buf[512];
    for (long i = 0; i < n; i++) {
        int r = (int)(next_rand() % (uint64_t)reps);
        int64_t t = end - span + (int64_t)((double)span * (double)i / (double)n) -
                    (int64_t)(next_rand() % 60000);
        produce_one(rk, topic, r, buf, make_event(buf, i, r, t), NULL);
        if (i % 10000 == 0)
            rd_kafka_poll(rk, 0);
    }
    while (rd_kafka_outq_len(rk) > 0)
        rd_kafka_flush(rk, 1000);
    /* Every event must still be in the log (the mock trims a partition's
     * oldest message sets beyond 5 MB): count from the low watermarks. */
    int64_t held = 0;
    for (int p = 0; p < 12; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000) == 0)
            held += hi - lo;
    }
    rd_kafka_destroy(rk);
    if (held < n) {
        fprintf(stderr,
                "bench: the topic holds %lld of the %ld events produced (the mock cluster "
                "keeps 5 MB per partition)\n",
                (long long)held, n);
        exit(1);
    }
}

/* `run`: a group of its own for each (a new group reads from the start). */
static double ceiling(gwh_t *h, const char *topic, long n, int run)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", h->bootstrap, NULL, 0);
    char group[32];
    snprintf(group, sizeof(group), "bench-ceiling-%d", run);
    rd_kafka_conf_set(conf, "group.id", group, NULL, 0);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    for (int i = 0; i < nprops; i++) {
        char name[128];
        const char *eq = strchr(props[i], '=');
        snprintf(name, sizeof(name), "%.*s", (int)(eq - props[i]), props[i]);
        rd_kafka_conf_set(conf, name, eq + 1, NULL, 0);
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, t);
    rd_kafka_topic_partition_list_destroy(t);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    rd_kafka_message_t *msgs[10000];
    long got = 0;
    int64_t start = 0, last = gwh_now_ms();
    uint64_t bytes = 0;
    while (got < n) {
        ssize_t k = rd_kafka_consume_batch_queue(q, 1000, msgs, 10000);
        if (k > 0)
            last = gwh_now_ms();
        else if (gwh_now_ms() - last > 15000) {
            fprintf(stderr, "bench: the ceiling consumer stalled at %ld of %ld messages\n", got, n);
            exit(1);
        }
        for (ssize_t i = 0; i < k; i++) {
            if (!msgs[i]->err) {
                if (!start)
                    start = gwh_now_ms();
                got++;
                bytes += msgs[i]->len;
            }
            rd_kafka_message_destroy(msgs[i]);
        }
    }
    int64_t ms = gwh_now_ms() - start;
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    (void)bytes;
    return (double)n * 1000.0 / (double)(ms ? ms : 1);
}

/* CPU seconds (user + system) process `pid` has used so far. */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* fields 14 and 15 (utime, stime) follow the ")" closing the name */
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long vm_hwm_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmHWM:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

static long long redis_calls(gwh_t *h)
{
    redisContext *c = gwh_redis(h);
    redisReply *r = redisCommand(c, "INFO commandstats");
    long long total = 0;
    for (const char *p = r->str; (p = strstr(p, "calls=")); p += 6)
        total += atoll(p + 6);
    freeReplyObject(r);
    redisFree(c);
    return total;
}

/* Prints, per command of INFO commandstats with at least 0.01 calls per
 * event, calls and microseconds of Redis per event: where Redis' time goes. */
static void print_command_mix(gwh_t *h, long events)
{
    redisContext *c = gwh_redis(h);
    redisReply *r = redisCommand(c, "INFO commandstats");
    printf("Redis per event, by command (calls, us):");
    for (const char *p = r->str; (p = strstr(p, "cmdstat_")); p += 8) {
        char name[32];
        double calls = 0, usec = 0;
        if (sscanf(p, "cmdstat_%31[^:]:calls=%lf,usec=%lf", name, &calls, &usec) == 3 &&
            calls / (double)events >= 0.01)
            printf(" %s %.2f/%.2f", name, calls / (double)events, usec / (double)events);
    }
    printf("\n");
    freeReplyObject(r);
    redisFree(c);
}

/* usec_per_call of a command in INFO commandstats, -1 when absent. */
static double usec_per_call(gwh_t *h, const char *cmd)
{
    redisContext *c = gwh_redis(h);
    redisReply *r = redisCommand(c, "INFO commandstats");
    char needle[64];
    snprintf(needle, sizeof(needle), "cmdstat_%s:", cmd);
    const char *p = strstr(r->str, needle);
    double v = -1;
    if (p && (p = strstr(p, "usec_per_call=")))
        v = atof(p + 14);
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* Total microseconds Redis spent executing `cmd` (INFO commandstats). */
static double usec_total(gwh_t *h, const char *cmd)
{
    redisContext *c = gwh_redis(h);
    redisReply *r = redisCommand(c, "INFO commandstats");
    char needle[64];
    snprintf(needle, sizeof(needle), "cmdstat_%s:", cmd);
    const char *p = strstr(r->str, needle);
    double v = 0;
    if (p && (p = strstr(p, "usec=")))
        v = atof(p + 5);
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static long long metric(int port, const char *name)
{
    char *body = gwh_http_get(port, "/metrics");
    long long v = -1;
    char needle[128];
    snprintf(needle, sizeof(needle), "\n%s ", name);
    const char *p = body ? strstr(body, needle) : NULL;
    if (p)
        v = atoll(p + strlen(needle));
    free(body);
    return v;
}

static void write_config(gwh_t *h, const char *topic, const char *prefix, int metrics_port,
                         int batch)
{
    char extra[1024];
    int len = snprintf(extra, sizeof(extra), "key_prefix: %s\n", prefix);
    if (batch > 0) /* else gapwatchd's defaults */
        snprintf(extra + len, sizeof(extra) - (size_t)len, "consumer: {batch_max_messages: %d}\n",
                 batch);
    gwh_write_config(h, extra);
    /* topic and metrics port */
    FILE *f = fopen(h->config_path, "r");
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    f = fopen(h->config_path, "w");
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (strstr(line, "listen: \"\""))
            fprintf(f, "  listen: \"127.0.0.1:%d\"\n", metrics_port);
        else
            fprintf(f, "%s\n", line);
        if (!strncmp(line, "kafka:", 6))
            fprintf(f, "  topics: {events: %s}\n  group_id: bench-%s\n", topic, prefix);
    }
    fclose(f);
    for (int i = 0; i < nprops; i++) {
        char line[256];
        const char *eq = strchr(props[i], '=');
        snprintf(line, sizeof(line), "%.*s: \"%s\"", (int)(eq - props[i]), props[i], eq + 1);
        gwh_add_consumer_property(h, line);
    }
}

/* ---- latency at a fixed rate -------------------------------------------- */

#define LAT_MAX 4000000

typedef struct {
    int64_t sent_us[LAT_MAX];
    int64_t acked_us[LAT_MAX]; /* delivery report */
    int32_t partition[LAT_MAX];
    int64_t offset[LAT_MAX];
    long n;
} lat_t;

static lat_t *lat;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void lat_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    long i = (long)(intptr_t)m->_private;
    if (!m->err && i >= 0 && i < LAT_MAX) {
        lat->partition[i] = m->partition;
        lat->offset[i] = m->offset;
        lat->acked_us[i] = now_us();
    }
}

typedef struct {
    gwh_t *h;
    const char *prefix, *topic;
    volatile int stop;
    /* per partition: time (us) at which each recorded position was first seen */
    int64_t *seen_at[12];
    int64_t *seen_pos[12];
    long nseen[12], capseen[12];
} sampler_t;

static void *sample(void *arg)
{
    sampler_t *s = arg;
    redisContext *c = gwh_redis(s->h);
    int64_t last[12];
    for (int p = 0; p < 12; p++)
        last[p] = -1;
    while (!s->stop) {
        redisReply *r = redisCommand(c, "HGETALL %s:positions:%s", s->prefix, s->topic);
        int64_t t = now_us();
        for (size_t i = 0; r && i + 1 < r->elements; i += 2) {
            const char *f = r->element[i]->str;
            if (!strncmp(f, "wm:", 3))
                continue;
            int p = atoi(f);
            int64_t pos = atoll(r->element[i + 1]->str);
            if (p < 0 || p >= 12 || pos == last[p])
                continue;
            last[p] = pos;
            if (s->nseen[p] == s->capseen[p]) {
                s->capseen[p] = s->capseen[p] ? s->capseen[p] * 2 : 4096;
                s->seen_at[p] = realloc(s->seen_at[p], (size_t)s->capseen[p] * sizeof(int64_t));
                s->seen_pos[p] = realloc(s->seen_pos[p], (size_t)s->capseen[p] * sizeof(int64_t));
            }
            s->seen_at[p][s->nseen[p]] = t;
            s->seen_pos[p][s->nseen[p]] = pos;
            s->nseen[p]++;
        }
        if (r)
            freeReplyObject(r);
        usleep(500);
    }
    redisFree(c);
    return NULL;
}

/* --trace: the latency of each second of the fixed-rate run (mean, max),
 * to tell a steady delay from stalls */
static int trace;
static double trace_sum[600], trace_max[600], trace_ack[600];
static long trace_n[600];

static void trace_add(int64_t at_us, int64_t lat_us, int64_t ack_us)
{
    long sec = (long)(at_us / 1000000);
    if (sec < 0 || sec >= 600)
        return;
    trace_ack[sec] += (double)ack_us / 1000.0;
    trace_sum[sec] += (double)lat_us / 1000.0;
    trace_n[sec]++;
    if ((double)lat_us / 1000.0 > trace_max[sec])
        trace_max[sec] = (double)lat_us / 1000.0;
}

static void trace_print(void)
{
    for (int sec = 0; sec < 600; sec++)
        if (trace_n[sec])
            fprintf(stderr,
                    "trace: second %3d: %6ld events, mean %7.1f ms, max %7.1f ms, "
                    "produce ack mean %6.1f ms\n",
                    sec, trace_n[sec], trace_sum[sec] / (double)trace_n[sec], trace_max[sec],
                    trace_ack[sec] / (double)trace_n[sec]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void latency(gwh_t *h, const char *topic, const char *prefix, int rate, int seconds,
                    int reps, double *p50, double *p99, long *measured)
{
    lat = calloc(1, sizeof(*lat));
    sampler_t s = {h, prefix, topic, 0, {0}, {0}, {0}, {0}};
    pthread_t th;
    pthread_create(&th, NULL, sample, &s);
    rd_kafka_t *rk = bench_producer(h, lat_dr, NULL, lat_linger);
    uint8_t buf[512];
    long total = (long)rate * seconds;
    if (total > LAT_MAX)
        total = LAT_MAX;
    int64_t start = now_us();
    for (long i = 0; i < total; i++) {
        /* Paced in steps of a millisecond: the events due by now go out
         * together, then the producer sleeps (spinning per event would
         * take a core from the system under test). */
        int64_t due = start + (int64_t)((double)i * 1e6 / rate);
        int64_t now = now_us();
        if (due > now) {
            rd_kafka_poll(rk, 0);
            int64_t step = due - now < 1000 ? 1000 : due - now;
            usleep((useconds_t)step);
        }
        int r = (int)(next_rand() % (uint64_t)reps);
        size_t len = make_event(buf, 10000000 + i, r, gwh_now_ms() - 1000);
        lat->sent_us[i] = now_us();
        lat->offset[i] = -1;
        produce_one(rk, topic, r, buf, len, (void *)(intptr_t)i);
    }
    rd_kafka_flush(rk, 30000);
    rd_kafka_destroy(rk);
    gwh_sleep_ms(2000);
    s.stop = 1;
    pthread_join(th, NULL);
    int64_t *lats = malloc((size_t)total * sizeof(int64_t));
    long n = 0;
    for (long i = 0; i < total; i++) {
        int p = lat->partition[i];
        if (lat->offset[i] < 0 || p < 0 || p >= 12)
            continue;
        /* the first time a position beyond the event's offset was seen */
        long lo = 0, hi = s.nseen[p];
        while (lo < hi) {
            long mid = (lo + hi) / 2;
            if (s.seen_pos[p][mid] > lat->offset[i])
                hi = mid;
            else
                lo = mid + 1;
        }
        if (lo < s.nseen[p]) {
            lats[n++] = s.seen_at[p][lo] - lat->sent_us[i];
            if (trace)
                trace_add(lat->sent_us[i] - start, lats[n - 1], lat->acked_us[i] - lat->sent_us[i]);
        }
    }
    if (trace)
        trace_print();
    qsort(lats, (size_t)n, sizeof(*lats), cmp_i64);
    *p50 = n ? (double)lats[n / 2] / 1000.0 : NAN;
    *p99 = n ? (double)lats[(long)((double)n * 0.99)] / 1000.0 : NAN;
    *measured = n;
    free(lats);
    for (int p = 0; p < 12; p++) {
        free(s.seen_at[p]);
        free(s.seen_pos[p]);
    }
    free(lat);
}

/* Wall-clock ms of the daemon's first "partition assigned" log line at or
 * after `since`: when it starts consuming, after the group join (the mock
 * cluster, like Kafka, holds a new group's first join for 3 s). -1 if not
 * found. */
static int64_t assigned_at(gwh_t *h, int64_t since)
{
    char path[320], line[512];
    snprintf(path, sizeof(path), "%s/gapwatchd.log", h->dir);
    FILE *f = fopen(path, "r");
    int64_t at = -1;
    while (f && at < 0 && fgets(line, sizeof(line), f)) {
        struct tm tm;
        int ms;
        memset(&tm, 0, sizeof(tm));
        if (strstr(line, "msg=\"partition assigned\"") &&
            sscanf(line, "ts=%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) == 7) {
            tm.tm_year -= 1900;
            tm.tm_mon -= 1;
            at = (int64_t)timegm(&tm) * 1000 + ms;
            if (at < since)
                at = -1;
        }
    }
    if (f)
        fclose(f);
    return at;
}

static int64_t wait_positions(gwh_t *h, const char *prefix, const char *topic, long target)
{
    redisContext *c = gwh_redis(h);
    for (;;) {
        redisReply *r = redisCommand(c, "HGETALL %s:positions:%s", prefix, topic);
        long sum = 0;
        for (size_t i = 0; r && i + 1 < r->elements; i += 2)
            if (strncmp(r->element[i]->str, "wm:", 3))
                sum += atol(r->element[i + 1]->str);
        if (r)
            freeReplyObject(r);
        if (sum >= target)
            break;
        gwh_sleep_ms(20);
    }
    redisFree(c);
    return gwh_now_ms();
}

/* ---- the Python peer ------------------------------------------------------ */

/* What one run of the peer (--peer CMD) printed: its `PEER ...` line. */
typedef struct {
    bool ok;
    double rate;  /* events/s from its assignment to its last batch's commit */
    double cpu_s; /* its own CPU */
    long events;
    long batches;
    long maxrss_kb;
    char why[256]; /* when !ok: what went wrong, for the reader */
} peer_run_t;

#ifndef GW_PEER_PYTHONPATH
#define GW_PEER_PYTHONPATH ""
#endif

/* Copies the last non-empty line of file `path` into `out`. */
static void last_line(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "r");
    char line[512];
    out[0] = '\0';
    while (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0]) {
            size_t n = strlen(line) < size - 1 ? strlen(line) : size - 1;
            memcpy(out, line, n);
            out[n] = '\0';
        }
    }
    if (f)
        fclose(f);
}

/*
 * Runs `cmd` (through /bin/sh: a path to python_peer.py, with the
 * interpreter of its #! line when it is not executable, or a command line)
 * over `topic` of the bench's Kafka, as consumer group bench-peer-<run>,
 * writing to Redis database 1 of the bench's redis-server (gapwatchd's is
 * 0; flushed first), until it has read `events` messages. Its generated
 * protobuf module is found through PYTHONPATH (protoc at build time). The
 * peer gets `timeout_s` seconds, then is killed.
 */
static peer_run_t peer_run(gwh_t *h, const char *cmd, const char *topic, long events, int run,
                           int timeout_s)
{
    peer_run_t r = {0};
    if (!GW_PEER_PYTHONPATH[0]) {
        snprintf(r.why, sizeof(r.why),
                 "protoc was not found when gw_bench was configured: the peer's "
                 "gapwatch/v1/event_pb2.py is missing (install protobuf-compiler, reconfigure)");
        return r;
    }
    redisContext *rc = gwh_redis(h);
    freeReplyObject(redisCommand(rc, "SELECT 1"));
    freeReplyObject(redisCommand(rc, "FLUSHDB"));
    redisFree(rc);
    char out[320], err[320], port[16], expect[32], group[32], pypath[1024];
    snprintf(out, sizeof(out), "%s/peer-%d.out", h->dir, run);
    snprintf(err, sizeof(err), "%s/peer-%d.err", h->dir, run);
    snprintf(port, sizeof(port), "%d", h->redis_port);
    snprintf(expect, sizeof(expect), "%ld", events);
    snprintf(group, sizeof(group), "bench-peer-%d", run);
    const char *old = getenv("PYTHONPATH");
    snprintf(pypath, sizeof(pypath), "%s%s%s", GW_PEER_PYTHONPATH, old && *old ? ":" : "",
             old ? old : "");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(r.why, sizeof(r.why), "fork: %s", strerror(errno));
        return r;
    }
    if (pid == 0) {
        setpgid(0, 0);
        FILE *o = freopen(out, "w", stdout), *e = freopen(err, "w", stderr);
        if (!o || !e)
            _exit(127);
        setenv("BOOTSTRAP", h->bootstrap, 1);
        setenv("TOPIC", topic, 1);
        setenv("GROUP", group, 1);
        setenv("REDIS_PORT", port, 1);
        setenv("REDIS_DB", "1", 1);
        setenv("EXPECT", expect, 1);
        setenv("PYTHONPATH", pypath, 1);
        if (access(cmd, R_OK) == 0 && access(cmd, X_OK) != 0) {
            /* a script without its x bit: its #! interpreter (the peer's
             * is Debian's /usr/bin/python3, whose packages it imports; a
             * python3 earlier on PATH, e.g. pyenv's, has none of them) */
            char interp[256] = "";
            FILE *sf = fopen(cmd, "r");
            if (sf && fgets(interp, sizeof(interp), sf) && !strncmp(interp, "#!", 2)) {
                interp[strcspn(interp, " \t\n")] = '\0';
                execl(interp + 2, interp + 2, cmd, (char *)NULL);
            }
            execlp("python3", "python3", cmd, (char *)NULL);
        } else {
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        }
        _exit(127);
    }
    setpgid(pid, pid);
    int status = 0;
    int64_t deadline = gwh_now_ms() + (int64_t)timeout_s * 1000;
    pid_t w;
    while ((w = waitpid(pid, &status, WNOHANG)) == 0 && gwh_now_ms() < deadline)
        gwh_sleep_ms(100);
    if (w == 0) {
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
        snprintf(r.why, sizeof(r.why), "killed after %d s without finishing (see %.150s)",
                 timeout_s, err);
        return r;
    }
    char line[512] = "";
    FILE *f = fopen(out, "r");
    while (f && fgets(line, sizeof(line), f) && strncmp(line, "PEER ", 5))
        line[0] = '\0';
    if (f)
        fclose(f);
    long long assign_ms, first_ms, done_ms;
    long invalid;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        sscanf(line,
               "PEER assign_ms=%lld first_ms=%lld done_ms=%lld events=%ld invalid=%ld "
               "batches=%ld cpu_s=%lf maxrss_kb=%ld",
               &assign_ms, &first_ms, &done_ms, &r.events, &invalid, &r.batches, &r.cpu_s,
               &r.maxrss_kb) != 8) {
        char tail[256];
        last_line(err, tail, sizeof(tail));
        snprintf(r.why, sizeof(r.why), "exit status %d, no PEER line: %.180s",
                 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                 tail[0] ? tail : "(nothing on stderr)");
        return r;
    }
    r.rate = (double)r.events * 1000.0 / (double)(done_ms > assign_ms ? done_ms - assign_ms : 1);
    r.ok = true;
    return r;
}

/* Prints the median of `n` figures (sorted in place) and, for several, the
 * range: "<median><unit>  <target>  [lo, hi]". */
static void print_median(const char *what, double *v, int n, const char *fmt, const char *target)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    char num[64];
    snprintf(num, sizeof(num), fmt, v[n / 2]);
    printf("%-52s %14s  %s", what, num, target);
    if (n > 1) {
        char lo[32], hi[32];
        snprintf(lo, sizeof(lo), fmt, v[0]);
        snprintf(hi, sizeof(hi), fmt, v[n - 1]);
        printf("  [%s, %s]", lo, hi);
    }
    printf("\n");
}

/* The table of gapwatchd against the Python peer (--peer). The arrays of
 * gapwatchd's runs hold `repeat` figures, the peer's `npeer`. */
static void print_peer(const char *cmd, const peer_run_t *last, int repeat, double *steady,
                       double *share, double *daemon_cpu, long events, int npeer, double *rate,
                       double *ratio, double *cpu)
{
    printf("\ngapwatchd against the Python peer (%s), each round: ceiling, gapwatchd, peer\n", cmd);
    if (repeat > 1)
        printf("(median of %d rounds, range in brackets)\n", repeat);
    double us[REPEAT_MAX];
    for (int i = 0; i < repeat; i++)
        us[i] = 1e6 * daemon_cpu[i] / (double)events;
    print_median("gapwatchd end to end, from assignment (events/s)", steady, repeat, "%.0f", "");
    print_median("gapwatchd's share of the ceiling", share, repeat, "%.1f%%", ">= 20%");
    print_median("gapwatchd's own CPU per event (us)", us, repeat, "%.2f", "");
    if (npeer == 0) {
        printf("%-52s %14s  %s\n", "the Python peer", "not run", last->why);
        return;
    }
    if (npeer < repeat)
        printf("(the peer ran in %d of %d rounds: %s)\n", npeer, repeat, last->why);
    print_median("the Python peer, from assignment (events/s)", rate, npeer, "%.0f", "");
    print_median("gapwatchd / the Python peer (events/s)", ratio, npeer, "%.1fx", ">= 25x");
    print_median("the peer's own CPU per event (us)", cpu, npeer, "%.1f", "");
    printf("%-52s %11.1f MB\n", "the peer's peak RSS (last run)", (double)last->maxrss_kb / 1024.0);
}

int main(int argc, char **argv)
{
    long events = 2000000, rss_events = 1000000;
    int reps = 10000, rate = 50000, seconds = 20, rss_reps = 100000, batch = 0;
    bool skip_rss = false, pin = false;
    int repeat = 1;
    const char *peer_cmd = NULL;
    static const struct option opts[] = {
        {"events", required_argument, NULL, 'e'},
        {"reps", required_argument, NULL, 'r'},
        {"rate", required_argument, NULL, 'R'},
        {"seconds", required_argument, NULL, 's'},
        {"rss-reps", required_argument, NULL, 'm'},
        {"batch", required_argument, NULL, 'b'},
        {"skip-rss", no_argument, NULL, 'k'},
        {"trace", no_argument, NULL, 't'},
        {"span", required_argument, NULL, 'S'},
        {"property", required_argument, NULL, 'X'},
        {"set-size", required_argument, NULL, 'z'},
        {"linger", required_argument, NULL, 'L'},
        {"pin", no_argument, NULL, 'P'},
        {"repeat", required_argument, NULL, 'n'},
        {"peer", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "X:", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            events = atol(optarg);
            break;
        case 'r':
            reps = atoi(optarg);
            break;
        case 'R':
            rate = atoi(optarg);
            break;
        case 's':
            seconds = atoi(optarg);
            break;
        case 'm':
            rss_reps = atoi(optarg);
            rss_events = 10L * rss_reps;
            break;
        case 'b':
            batch = atoi(optarg);
            break;
        case 'k':
            skip_rss = true;
            break;
        case 't':
            trace = 1;
            break;
        case 'z':
            snprintf(set_size, sizeof(set_size), "%d", atoi(optarg));
            break;
        case 'P':
            pin = true;
            break;
        case 'n':
            repeat = atoi(optarg);
            if (repeat < 1 || repeat > REPEAT_MAX) {
                fprintf(stderr, "gw_bench: --repeat takes 1..%d\n", REPEAT_MAX);
                return 2;
            }
            break;
        case 'p':
            peer_cmd = optarg;
            break;
        case 'L':
            snprintf(lat_linger, sizeof(lat_linger), "%d", atoi(optarg));
            break;
        case 'X':
            if (!strchr(optarg, '=') || nprops == 32) {
                fprintf(stderr, "gw_bench: -X takes name=value (at most 32)\n");
                return 2;
            }
            props[nprops++] = optarg;
            break;
        case 'S': {
            char err[128];
            if (gw_duration_parse(optarg, &span_ms, err, sizeof(err)) != 0) {
                fprintf(stderr, "gw_bench: --span: %s\n", err);
                return 2;
            }
            break;
        }
        default:
            fprintf(stderr, "usage: gw_bench [--events N] [--reps N] [--rate R] [--seconds S] "
                            "[--rss-reps N] [--batch N] [--span DURATION] [--skip-rss] [--trace] "
                            "[--set-size N] [--linger MS] [--pin] [--repeat N] [--peer CMD] "
                            "[-X consumer.property=value]...\n");
            return 2;
        }
    }
    gwh_t h;
    gwh_init(&h, "bench");
    gwh_redis_start(&h, NULL);
    int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (pin && ncpu >= 2) {
        cpu_set_t last, rest;
        CPU_ZERO(&last);
        CPU_ZERO(&rest);
        CPU_SET(ncpu - 1, &last);
        for (int i = 0; i < ncpu - 1; i++)
            CPU_SET(i, &rest);
        /* children spawned from here on inherit `rest` */
        if (sched_setaffinity(h.redis_pid, sizeof(last), &last) != 0 ||
            sched_setaffinity(0, sizeof(rest), &rest) != 0) {
            perror("gw_bench: --pin: sched_setaffinity");
            return 1;
        }
    } else if (pin) {
        fprintf(stderr, "gw_bench: --pin needs at least 2 CPUs; running unpinned\n");
        pin = false;
    }
    gwh_kafka_start(&h, 1, topics);
    fprintf(stderr, "bench: preloading %ld events over %d reps...\n", events, reps);
    int64_t t0 = gwh_now_ms();
    preload(&h, "sales.events", events, reps);
    fprintf(stderr, "bench: preloaded in %.1f s; measuring the ceiling...\n",
            (double)(gwh_now_ms() - t0) / 1000.0);
    double ceil_runs[REPEAT_MAX], steady_runs[REPEAT_MAX], ratio_runs[REPEAT_MAX];
    double peer_runs[REPEAT_MAX], peer_ratio_runs[REPEAT_MAX], peer_cpu_runs[REPEAT_MAX];
    double daemon_cpu_runs[REPEAT_MAX];
    int npeer = 0;
    peer_run_t peer = {0};
    char prefix[16] = "gw";
    int mport = 0;
    double ceil_rate = 0, e2e = 0, steady = 0, daemon_cpu = 0, redis_cpu = 0, kafka_cpu = 0;
    double evalsha_us = 0, hincrby_us = 0, redis_busy_ms = 0;
    long long calls = 0, sent = 0, nbatches = 0, consumed = 0;
    int64_t start = 0, done = 0, assigned = -1;
    long rss_e2e = 0;
    for (int run = 0; run < repeat; run++) {
        ceil_rate = ceiling(&h, "sales.events", events, run);
        if (run > 0) {
            gwh_daemon_stop(&h, SIGTERM);
            snprintf(prefix, sizeof(prefix), "gw%d", run + 1);
        }
        fprintf(stderr, "bench: gapwatchd end to end (run %d of %d)...\n", run + 1, repeat);
        mport = gwh_free_port();
        write_config(&h, "sales.events", prefix, mport, batch);
        redisContext *rc = gwh_redis(&h);
        freeReplyObject(redisCommand(rc, "CONFIG RESETSTAT"));
        redisFree(rc);
        long long calls0 = redis_calls(&h);
        start = gwh_now_ms();
        double redis_cpu0 = cpu_seconds(h.redis_pid), kafka_cpu0 = cpu_seconds(h.kafka_pid);
        gwh_daemon_start(&h);
        done = wait_positions(&h, prefix, "sales.events", events);
        daemon_cpu = cpu_seconds(h.daemon_pid);
        redis_cpu = cpu_seconds(h.redis_pid) - redis_cpu0;
        kafka_cpu = cpu_seconds(h.kafka_pid) - kafka_cpu0;
        assigned = assigned_at(&h, start);
        e2e = (double)events * 1000.0 / (double)(done - start);
        steady = (double)events * 1000.0 /
                 (double)(assigned > 0 && done > assigned ? done - assigned : done - start);
        calls = redis_calls(&h) - calls0;
        evalsha_us = usec_per_call(&h, "evalsha");
        hincrby_us = usec_per_call(&h, "hincrby");
        gwh_sleep_ms(1200); /* one metrics publish */
        sent = metric(mport, "gapwatch_redis_commands_total");
        nbatches = metric(mport, "gapwatch_batches_total");
        consumed = metric(mport, "gapwatch_events_consumed_total");
        redis_busy_ms = usec_total(&h, "evalsha") / 1000.0;
        rss_e2e = vm_hwm_kb(h.daemon_pid);
        ceil_runs[run] = ceil_rate;
        steady_runs[run] = steady;
        ratio_runs[run] = 100.0 * steady / ceil_rate;
        daemon_cpu_runs[run] = daemon_cpu;
        fprintf(stderr, "bench: run %d: ceiling %.0f, end to end %.0f events/s (%.1f%%)\n", run + 1,
                ceil_rate, steady, ratio_runs[run]);
        if (run == repeat - 1) /* before the peer's commands join Redis' statistics */
            print_command_mix(&h, events);
        if (peer_cmd && (run == 0 || peer.ok)) {
            fprintf(stderr, "bench: the Python peer (run %d of %d)...\n", run + 1, repeat);
            peer =
                peer_run(&h, peer_cmd, "sales.events", events, run + 1, (int)(events / 2000) + 120);
            if (!peer.ok) {
                fprintf(stderr, "bench: the Python peer did not run: %s\n", peer.why);
                continue;
            }
            peer_runs[npeer] = peer.rate;
            peer_ratio_runs[npeer] = steady / peer.rate;
            peer_cpu_runs[npeer] = 1e6 * peer.cpu_s / (double)peer.events;
            npeer++;
            fprintf(stderr, "bench: run %d: the peer %.0f events/s (gapwatchd %.1fx)\n", run + 1,
                    peer.rate, steady / peer.rate);
        }
    }

    fprintf(stderr, "bench: latency at %d events/s for %d s...\n", rate, seconds);
    double p50, p99;
    long measured;
    double lat_cpu0[3] = {cpu_seconds(h.daemon_pid), cpu_seconds(h.redis_pid),
                          cpu_seconds(h.kafka_pid)};
    long long wakes0 = metric(mport, "gapwatch_consumer_fetch_wakes_total");
    redisContext *rc = gwh_redis(&h);
    freeReplyObject(redisCommand(rc, "CONFIG RESETSTAT"));
    redisFree(rc);
    int64_t lat_start = gwh_now_ms();
    latency(&h, "sales.events", prefix, rate, seconds, reps, &p50, &p99, &measured);
    double lat_s = (double)(gwh_now_ms() - lat_start) / 1000.0;
    double lat_cpu[3] = {cpu_seconds(h.daemon_pid) - lat_cpu0[0],
                         cpu_seconds(h.redis_pid) - lat_cpu0[1],
                         cpu_seconds(h.kafka_pid) - lat_cpu0[2]};
    gwh_sleep_ms(1200); /* one metrics publish */
    long long wakes = metric(mport, "gapwatch_consumer_fetch_wakes_total") - wakes0;
    printf("latency run: ");
    print_command_mix(&h, (long)rate * seconds);
    long rss_lat = vm_hwm_kb(h.daemon_pid);
    gwh_daemon_stop(&h, SIGTERM);

    long rss_100k = -1;
    if (!skip_rss) {
        fprintf(stderr, "bench: %d distinct reps (%ld events)...\n", rss_reps, rss_events);
        preload(&h, "rss.events", rss_events, rss_reps);
        write_config(&h, "rss.events", "rss", gwh_free_port(), batch);
        gwh_daemon_start(&h);
        wait_positions(&h, "rss", "rss.events", rss_events);
        rss_100k = vm_hwm_kb(h.daemon_pid);
        gwh_daemon_stop(&h, SIGTERM);
    }

    printf("\n%-52s %14s  %s\n", "measure", "value", "target");
    if (repeat > 1) {
        qsort(ceil_runs, (size_t)repeat, sizeof(double), cmp_double);
        qsort(steady_runs, (size_t)repeat, sizeof(double), cmp_double);
        qsort(ratio_runs, (size_t)repeat, sizeof(double), cmp_double);
        printf("(median of %d runs, range in brackets; the rest is of the last run)\n", repeat);
    }
    printf("%-52s %14.0f", "ceiling: bare librdkafka batch consume (events/s)",
           ceil_runs[repeat / 2]);
    if (repeat > 1)
        printf("  [%.0f, %.0f]", ceil_runs[0], ceil_runs[repeat - 1]);
    printf("\n%-52s %14.0f  >= 250000", "gapwatchd end to end, from assignment (events/s)",
           steady_runs[repeat / 2]);
    if (repeat > 1)
        printf("  [%.0f, %.0f]", steady_runs[0], steady_runs[repeat - 1]);
    printf("\n%-52s %13.1f%%  >= 30%%", "ratio to the ceiling", ratio_runs[repeat / 2]);
    if (repeat > 1)
        printf("  [%.1f%%, %.1f%%]", ratio_runs[0], ratio_runs[repeat - 1]);
    printf("\n");
    printf("%-52s %14.0f\n", "gapwatchd end to end, from process start (events/s)", e2e);
    printf("%-52s %11.1f s\n", "  of which start-up and group join",
           assigned > 0 ? (double)(assigned - start) / 1000.0 : NAN);
    printf("%-52s %14.3f\n", "Redis commands sent per event", (double)sent / (double)events);
    printf("%-52s %14.3f\n", "Redis calls executed per event (incl. in scripts)",
           (double)calls / (double)events);
    printf("%-52s %11.1f us\n", "Redis time per apply script (EVALSHA)", evalsha_us);
    printf("%-52s %11.2f us\n", "Redis time per HINCRBY inside scripts", hincrby_us);
    printf("%-52s %14lld\n", "messages gapwatchd consumed (replays included)", consumed);
    printf("%-52s %14.0f\n", "average batch (events)",
           nbatches > 0 ? (double)events / (double)nbatches : 0);
    printf("%-52s %13.0f%%\n", "Redis busy in apply scripts (share of the run)",
           100.0 * redis_busy_ms / (double)(done - start > 0 ? done - start : 1));
    printf("%-52s %5.1f / %.1f / %.1f s\n", "CPU of gapwatchd / redis-server / the broker",
           daemon_cpu, redis_cpu, kafka_cpu);
    printf("%-52s %11.1f MB\n", "peak RSS, end to end run", (double)rss_e2e / 1024.0);
    printf("%-52s %8.1f / %.1f ms  p99 < 100 ms\n", "latency produce -> Redis p50 / p99", p50, p99);
    printf("%-52s %14ld\n", "  (events measured at the fixed rate)", measured);
    printf("%-52s %3.0f%% / %.0f%% / %.0f%%\n", "  CPU of gapwatchd / redis-server / the broker",
           100.0 * lat_cpu[0] / lat_s, 100.0 * lat_cpu[1] / lat_s, 100.0 * lat_cpu[2] / lat_s);
    printf("%-52s %14lld\n", "  fetcher wake-ups (seeks)", wakes);
    printf("%-52s %11s ms\n", "  producer linger.ms", lat_linger);
    printf("%-52s %11.1f MB\n", "peak RSS after the latency run", (double)rss_lat / 1024.0);
    if (rss_100k >= 0)
        printf("%-52s %11.1f MB  < 100 MB\n", "peak RSS with 100k distinct reps",
               (double)rss_100k / 1024.0);
    if (peer_cmd)
        print_peer(peer_cmd, &peer, repeat, steady_runs, ratio_runs, daemon_cpu_runs, events, npeer,
                   peer_runs, peer_ratio_runs, peer_cpu_runs);
    char span_str[32];
    gw_duration_format(span_ms, span_str, sizeof(span_str));
    char batch_str[32] = "default";
    if (batch > 0)
        snprintf(batch_str, sizeof(batch_str), "%d", batch);
    printf("(%ld events over %s of event time, %d reps, %d partitions, windows 7d/30d (defaults), "
           "batch_max_messages %s, %d cores%s)\n",
           events, span_str, reps, 12, batch_str, ncpu,
           pin ? ", redis-server pinned to its own" : "");
    gwh_cleanup(&h);
    return 0;
}
