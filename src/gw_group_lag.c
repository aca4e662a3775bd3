/*
 * gw_group_lag: committed offsets vs high watermarks, off the loop (see
 * gw_group_lag.h). The result is swapped under a mutex; the loop copies it.
 */
#include "gw_group_lag.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_kafka.h"
#include "gw_log.h"

#define TIMEOUT_MS     2000
#define PARTITIONS_MAX 4096

struct gw_group_lag_s {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    char *topic;
    char *group;
    int64_t interval_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    /* under lock */
    int64_t *lag;
    int32_t n; /* -1 before the first read */
    /* the thread's own */
    int64_t last_error_log_ms;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void log_failure(gw_group_lag_t *g, const char *what, rd_kafka_resp_err_t err)
{
    /* An outage repeats at every interval: say so once a minute. */
    int64_t now = mono_ms();
    if (g->last_error_log_ms && now - g->last_error_log_ms < 60000)
        return;
    g->last_error_log_ms = now;
    gw_log_warn("cannot read the group's lag; the last figures stay",
                "what=%s group=%s topic=%s err=\"%s\"", what, g->group, g->topic,
                rd_kafka_err2str(err));
}

/* One round: returns 0 and publishes, or -1 (logged). */
static int read_once(gw_group_lag_t *g)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(g->rk, 0, g->rkt, &md, TIMEOUT_MS);
    if (err) {
        log_failure(g, "metadata", err);
        return -1;
    }
    int32_t n = md->topic_cnt == 1 && !md->topics[0].err ? md->topics[0].partition_cnt : -1;
    if (n < 0) {
        err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        rd_kafka_metadata_destroy(md);
        log_failure(g, "metadata", err);
        return -1;
    }
    rd_kafka_metadata_destroy(md);
    if (n > PARTITIONS_MAX)
        n = PARTITIONS_MAX;
    int64_t *lag = malloc(((size_t)n + 1) * sizeof(*lag));
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n ? n : 1);
    if (!lag || !list) {
        free(lag);
        if (list)
            rd_kafka_topic_partition_list_destroy(list);
        return -1;
    }
    for (int32_t p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(list, g->topic, p);
    err = rd_kafka_committed(g->rk, list, TIMEOUT_MS);
    if (err) {
        log_failure(g, "committed", err);
        rd_kafka_topic_partition_list_destroy(list);
        free(lag);
        return -1;
    }
    for (int32_t p = 0; p < n; p++) {
        int64_t lo, hi;
        lag[p] = -1;
        if (__atomic_load_n(&g->stop, __ATOMIC_RELAXED))
            continue; /* shutting down: do not wait on more round trips */
        const rd_kafka_topic_partition_t *tp = &list->elems[p];
        if (tp->err)
            continue;
        rd_kafka_resp_err_t werr =
            rd_kafka_query_watermark_offsets(g->rk, g->topic, p, &lo, &hi, TIMEOUT_MS);
        if (werr) {
            log_failure(g, "watermarks", werr);
            continue;
        }
        int64_t from = tp->offset >= 0 ? tp->offset : lo;
        lag[p] = hi > from ? hi - from : 0;
    }
    rd_kafka_topic_partition_list_destroy(list);
    pthread_mutex_lock(&g->lock);
    free(g->lag);
    g->lag = lag;
    g->n = n;
    pthread_mutex_unlock(&g->lock);
    if (g->last_error_log_ms) {
        gw_log_info("reading the group's lag again", "group=%s topic=%s partitions=%d", g->group,
                    g->topic, n);
        g->last_error_log_ms = 0;
    }
    return 0;
}

static void *run(void *arg)
{
    gw_group_lag_t *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        pthread_mutex_unlock(&g->lock);
        read_once(g);
        pthread_mutex_lock(&g->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += g->interval_ms / 1000;
        until.tv_nsec += (g->interval_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        while (!g->stop && pthread_cond_timedwait(&g->wake, &g->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

gw_group_lag_t *gw_group_lag_start(const gw_config_t *cfg, int64_t interval_ms, char *errstr,
                                   size_t errstr_size)
{
    gw_group_lag_t *g = calloc(1, sizeof(*g));
    if (!g) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    g->n = -1;
    g->interval_ms = interval_ms > 0 ? interval_ms : 15000;
    g->topic = strdup(cfg->kafka.topic_events);
    g->group = strdup(cfg->kafka.group_id);
    rd_kafka_conf_t *conf = gw_kafka_conf_new(cfg, GW_KAFKA_CONSUMER, errstr, errstr_size);
    if (!g->topic || !g->group || !conf)
        goto fail;
    /* Never subscribed, so it never joins; range keeps the sticky
     * assignor's state (librdkafka 2.0.2's crash at close, issue 4312) out
     * of it whatever the user configured. */
    if (gw_kafka_conf_set(conf, "group.id", cfg->kafka.group_id, errstr, errstr_size) ||
        gw_kafka_conf_set(conf, "client.id", "gapwatchd-group-lag", errstr, errstr_size) ||
        gw_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
        gw_kafka_conf_set(conf, "partition.assignment.strategy", "range", errstr, errstr_size) ||
        gw_kafka_conf_set(conf, "statistics.interval.ms", "0", errstr, errstr_size))
        goto fail;
    char err[512];
    g->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!g->rk) {
        snprintf(errstr, errstr_size, "cannot create the group lag client: %s", err);
        goto fail;
    }
    conf = NULL; /* owned by rk */
    g->rkt = rd_kafka_topic_new(g->rk, g->topic, NULL);
    if (!g->rkt) {
        snprintf(errstr, errstr_size, "cannot create the topic handle of %s", g->topic);
        goto fail;
    }
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    if (pthread_create(&g->thread, NULL, run, g) != 0) {
        snprintf(errstr, errstr_size, "cannot start the group lag thread");
        pthread_mutex_destroy(&g->lock);
        pthread_cond_destroy(&g->wake);
        goto fail;
    }
    return g;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (g->rkt)
        rd_kafka_topic_destroy(g->rkt);
    if (g->rk)
        rd_kafka_destroy(g->rk);
    free(g->topic);
    free(g->group);
    free(g);
    return NULL;
}

int32_t gw_group_lag_read(gw_group_lag_t *g, int64_t *lag, int32_t max)
{
    pthread_mutex_lock(&g->lock);
    int32_t n = g->n < max ? g->n : max;
    if (n > 0)
        memcpy(lag, g->lag, (size_t)n * sizeof(*lag));
    pthread_mutex_unlock(&g->lock);
    return n;
}

void gw_group_lag_stop(gw_group_lag_t *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    __atomic_store_n(&g->stop, true, __ATOMIC_RELAXED);
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    rd_kafka_topic_destroy(g->rkt);
    rd_kafka_destroy(g->rk);
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->wake);
    free(g->lag);
    free(g->topic);
    free(g->group);
    free(g);
}
