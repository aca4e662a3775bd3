/*
 * gw_metrics: counters, histograms and their Prometheus text rendering.
 * The HTTP side is gw_metrics_server.c.
 */
#include "gw_metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double gw_metrics_batch_bounds[GW_BATCH_BUCKETS] = {1,    10,    100,   1000,
                                                          5000, 10000, 50000, 1e300};
const double gw_metrics_latency_bounds[GW_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1e300};

void gw_metrics_observe(uint64_t *le, const double *bounds, int n, double value)
{
    for (int i = 0; i < n; i++)
        if (value <= bounds[i])
            le[i]++;
}

typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
} sb_t;

static void sb_printf(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sb_t *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap * 2 + (size_t)n;
        char *nb = realloc(b->buf, ncap);
        if (!nb) {
            b->failed = true;
            return;
        }
        b->buf = nb;
        b->cap = ncap;
    }
}

static void header(sb_t *b, const char *name, const char *type, const char *help)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(sb_t *b, const char *name, const char *help, uint64_t v)
{
    header(b, name, "counter", help);
    sb_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge(sb_t *b, const char *name, const char *help, double v)
{
    header(b, name, "gauge", help);
    sb_printf(b, "%s %.17g\n", name, v);
}

static void histogram(sb_t *b, const char *name, const char *help, const uint64_t *le,
                      const double *bounds, int n, double sum, uint64_t count)
{
    header(b, name, "histogram", help);
    for (int i = 0; i < n; i++) {
        if (bounds[i] > 1e299)
            sb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)le[i]);
        else
            sb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)le[i]);
    }
    sb_printf(b, "%s_sum %.17g\n%s_count %llu\n", name, sum, name, (unsigned long long)count);
}

/* Label values are escaped as the text format requires (\\, \", \n). */
static void label_value(char *out, size_t size, const char *in)
{
    size_t o = 0;
    for (; *in && o + 2 < size; in++) {
        if (*in == '\\' || *in == '"' || *in == '\n') {
            out[o++] = '\\';
            out[o++] = *in == '\n' ? 'n' : *in;
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
}

static void render_kafka(sb_t *b, const gw_kafka_stats_t *k)
{
    if (k->known) {
        char name[256];
        header(b, "gapwatch_kafka_broker_up", "gauge",
               "1 while librdkafka's connection to the broker is UP (librdkafka statistics).");
        for (int i = 0; i < k->nbrokers; i++) {
            label_value(name, sizeof(name), k->brokers[i].name);
            sb_printf(b, "gapwatch_kafka_broker_up{broker=\"%s\"} %d\n", name,
                      !strcmp(k->brokers[i].state, "UP"));
        }
        header(b, "gapwatch_kafka_broker_state", "gauge",
               "librdkafka's state of the connection to each broker (the series with value 1).");
        for (int i = 0; i < k->nbrokers; i++) {
            label_value(name, sizeof(name), k->brokers[i].name);
            sb_printf(b, "gapwatch_kafka_broker_state{broker=\"%s\",state=\"%s\"} 1\n", name,
                      k->brokers[i].state);
        }
        header(b, "gapwatch_kafka_broker_rtt_seconds", "gauge",
               "Request round trip to each broker over the last statistics interval: average and "
               "99th percentile (librdkafka statistics).");
        for (int i = 0; i < k->nbrokers; i++) {
            label_value(name, sizeof(name), k->brokers[i].name);
            if (k->brokers[i].rtt_avg_s >= 0)
                sb_printf(b, "gapwatch_kafka_broker_rtt_seconds{broker=\"%s\",stat=\"avg\"} %.6f\n",
                          name, k->brokers[i].rtt_avg_s);
            if (k->brokers[i].rtt_p99_s >= 0)
                sb_printf(b, "gapwatch_kafka_broker_rtt_seconds{broker=\"%s\",stat=\"p99\"} %.6f\n",
                          name, k->brokers[i].rtt_p99_s);
        }
        gauge(b, "gapwatch_kafka_consumer_fetch_queue_messages",
              "Messages fetched and queued by librdkafka, not yet consumed (all partitions).",
              (double)k->fetch_queue_messages);
        gauge(b, "gapwatch_kafka_consumer_fetch_queue_bytes",
              "Bytes fetched and queued by librdkafka, not yet consumed (all partitions).",
              (double)k->fetch_queue_bytes);
        if (k->rebalances >= 0)
            counter(b, "gapwatch_kafka_consumer_rebalances_total",
                    "Rebalances (assign or revoke) this consumer went through.",
                    (uint64_t)k->rebalances);
        if (k->assignment_size >= 0)
            gauge(b, "gapwatch_kafka_consumer_assignment_size",
                  "Partitions in this consumer's current assignment (librdkafka statistics).",
                  (double)k->assignment_size);
    }
    gauge(b, "gapwatch_kafka_producer_queue_messages",
          "Messages (alerts, dead letters) waiting in the producer's queue or in flight.",
          (double)k->producer_queue_messages);
    if (k->producer_queue_max > 0)
        gauge(b, "gapwatch_kafka_producer_queue_max_messages",
              "Capacity of the producer's queue (queue.buffering.max.messages).",
              (double)k->producer_queue_max);
}

static void render_process(sb_t *b, const gw_process_stats_t *p)
{
    header(b, "process_cpu_seconds_total", "counter",
           "Total user and system CPU time spent in seconds.");
    sb_printf(b, "process_cpu_seconds_total %.2f\n", p->cpu_seconds);
    gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.", p->resident_bytes);
    gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.", p->virtual_bytes);
    gauge(b, "process_open_fds", "Number of open file descriptors.", p->open_fds);
    gauge(b, "process_max_fds", "Maximum number of open file descriptors.", p->max_fds);
    gauge(b, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
          p->start_time_s);
}

char *gw_metrics_render(const gw_metrics_t *m, const gw_metrics_view_t *v, size_t *len)
{
    sb_t b = {malloc(16384), 0, 16384, false};
    if (!b.buf)
        return NULL;
    header(&b, "gapwatch_build_info", "gauge", "Version of gapwatchd.");
    sb_printf(&b, "gapwatch_build_info{version=\"%s\"} 1\n", v->version);
    counter(&b, "gapwatch_events_consumed_total", "Messages read from the event topic.",
            m->consumed);
    counter(&b, "gapwatch_events_valid_total", "Events that decoded and passed validation.",
            m->valid);
    counter(&b, "gapwatch_availability_records_total",
            "Availability records (time off, joining, leaving, team changes) applied.",
            m->availability_records);
    header(&b, "gapwatch_events_dead_lettered_total", "counter",
           "Messages sent to the dead-letter topic, by reason.");
    for (int r = 1; r < GW_REASON_COUNT; r++)
        sb_printf(&b, "gapwatch_events_dead_lettered_total{reason=\"%s\"} %llu\n",
                  gw_reason_str((gw_reason_t)r), (unsigned long long)m->dead_lettered[r]);
    header(&b, "gapwatch_events_late_total", "counter",
           "Events dropped as too late for a window, by window.");
    for (int w = 0; w < v->nwindows; w++)
        sb_printf(&b, "gapwatch_events_late_total{window=\"%s\"} %llu\n", v->window_names[w],
                  (unsigned long long)m->late[w]);
    counter(&b, "gapwatch_batches_total", "Batches applied to Redis.", m->batches);
    counter(&b, "gapwatch_consumer_fetch_wakes_total",
            "Seeks that woke librdkafka's fetcher after its queue ran dry.", m->fetch_wakes);
    histogram(&b, "gapwatch_batch_messages", "Messages per batch.", m->batch_size_le,
              gw_metrics_batch_bounds, GW_BATCH_BUCKETS, (double)m->batch_size_sum, m->batches);
    histogram(&b, "gapwatch_redis_apply_seconds",
              "Round trip of one batch's pipelined apply to Redis.", m->redis_latency_le,
              gw_metrics_latency_bounds, GW_LATENCY_BUCKETS, m->redis_latency_sum_s,
              m->redis_latency_count);
    counter(&b, "gapwatch_redis_commands_total", "Redis commands sent by the pipeline.",
            m->redis_commands);
    counter(&b, "gapwatch_redis_failures_total",
            "Batch applications or position writes that failed and were retried.",
            m->redis_failures);
    header(&b, "gapwatch_deltas_total", "counter",
           "Entity deltas sent to Redis: applied, skipped as already applied, re-sent.");
    sb_printf(&b, "gapwatch_deltas_total{result=\"applied\"} %llu\n",
              (unsigned long long)m->deltas_applied);
    sb_printf(&b, "gapwatch_deltas_total{result=\"skipped\"} %llu\n",
              (unsigned long long)m->deltas_skipped);
    sb_printf(&b, "gapwatch_deltas_total{result=\"redone\"} %llu\n",
              (unsigned long long)m->deltas_redone);
    gauge(&b, "gapwatch_redis_up", "1 if the last Redis operation succeeded.", v->redis_up);
    gauge(&b, "gapwatch_kafka_up", "1 while a connection to a Kafka broker is up.", v->kafka_up);
    header(&b, "gapwatch_redis_outage_seconds_total", "counter",
           "Time batches waited for Redis to come back (outages, errors).");
    sb_printf(&b, "gapwatch_redis_outage_seconds_total %.3f\n",
              (double)m->redis_outage_ms / 1000.0);
    gauge(&b, "gapwatch_redis_stalled_batches", "Batches waiting for Redis to come back.",
          (double)m->redis_stalled_batches);
    gauge(&b, "gapwatch_redis_data_loss",
          "1 when Redis lost gapwatch's data (epoch missing): applying stopped or recounting.",
          m->redis_data_loss);
    counter(&b, "gapwatch_redis_rebuilds_total",
            "Recounts from the earliest retained offsets after Redis lost gapwatch's data.",
            m->redis_rebuilds);
    header(&b, "gapwatch_offsets_lost_total", "counter",
           "Offsets that retention deleted before gapwatch read them (never counted).");
    for (int32_t p = 0; p < v->npartitions; p++)
        if (v->offsets_lost && (v->assigned[p] || v->offsets_lost[p] > 0))
            sb_printf(&b, "gapwatch_offsets_lost_total{partition=\"%d\"} %llu\n", p,
                      (unsigned long long)v->offsets_lost[p]);
    gauge(&b, "gapwatch_partitions_assigned", "Event topic partitions assigned to this instance.",
          v->partitions_assigned);
    header(&b, "gapwatch_consumer_lag", "gauge",
           "Messages behind the partition's end (librdkafka statistics; absent when unknown).");
    for (int32_t p = 0; p < v->npartitions; p++)
        if (v->assigned[p] && v->lag[p] >= 0)
            sb_printf(&b, "gapwatch_consumer_lag{partition=\"%d\"} %lld\n", p,
                      (long long)v->lag[p]);
    header(&b, "gapwatch_partition_stream_time_seconds", "gauge",
           "Event-time watermark of each assigned partition: newest event time read.");
    for (int32_t p = 0; p < v->npartitions; p++)
        if (v->assigned[p] && v->stream_ms[p] >= 0)
            sb_printf(&b, "gapwatch_partition_stream_time_seconds{partition=\"%d\"} %.3f\n", p,
                      (double)v->stream_ms[p] / 1000.0);
    if (v->evaluation_watermark_ms >= 0)
        gauge(&b, "gapwatch_evaluation_watermark_seconds", "Event time the diagnoses are made at.",
              (double)v->evaluation_watermark_ms / 1000.0);
    gauge(&b, "gapwatch_reps_known", "Reps known to this instance (its partitions' rosters).",
          (double)v->reps_known);
    counter(&b, "gapwatch_evaluations_total", "Rep evaluations.", m->evaluations);
    counter(&b, "gapwatch_evaluation_failures_total", "Evaluation chunks that failed on Redis.",
            m->evaluation_failures);
    header(&b, "gapwatch_alerts_total", "counter", "Alert messages decided, by kind and state.");
    for (int k = 0; k < GW_ALERT_KINDS; k++)
        for (int st = 0; st < 2; st++)
            sb_printf(&b, "gapwatch_alerts_total{kind=\"%s\",state=\"%s\"} %llu\n",
                      gw_alert_kind_str((gw_alert_kind_t)k), st ? "resolved" : "firing",
                      (unsigned long long)m->alerts_decided[k][st]);
    counter(&b, "gapwatch_alert_flaps_total",
            "FIRING alerts that open an episode within 24 h of event time of the same "
            "alert's RESOLVED.",
            m->alert_flaps);
    counter(&b, "gapwatch_alerts_delivered_total", "Alert messages the broker confirmed.",
            m->alerts_delivered);
    gauge(&b, "gapwatch_alerts_in_flight", "Alert messages produced and not yet confirmed.",
          (double)v->alerts_in_flight);
    counter(&b, "gapwatch_alert_delivery_failures_total", "Alert messages the broker refused.",
            m->alert_delivery_failures);
    counter(&b, "gapwatch_alert_state_failures_total",
            "Evaluations whose alert state could not be recorded (retried).", m->alert_failures);
    counter(&b, "gapwatch_alertmanager_posts_total", "POSTs to Alertmanager.",
            __atomic_load_n(&m->alertmanager_posts, __ATOMIC_RELAXED));
    counter(&b, "gapwatch_alertmanager_failures_total", "Failed POSTs to Alertmanager.",
            __atomic_load_n(&m->alertmanager_failures, __ATOMIC_RELAXED));
    if (v->group_npartitions >= 0 && v->group_lag) {
        header(&b, "gapwatch_group_lag", "gauge",
               "Messages between the consumer group's committed offset and the high watermark, "
               "for every partition of the event topic whoever owns it (all retained messages "
               "when the group never committed the partition).");
        for (int32_t p = 0; p < v->group_npartitions; p++)
            if (v->group_lag[p] >= 0)
                sb_printf(&b, "gapwatch_group_lag{partition=\"%d\"} %lld\n", p,
                          (long long)v->group_lag[p]);
    }
    if (v->kafka)
        render_kafka(&b, v->kafka);
    if (v->process && v->process->known)
        render_process(&b, v->process);
    header(&b, "gapwatch_config_reloads_total", "counter",
           "SIGHUP reloads of the config file, applied or refused.");
    sb_printf(&b, "gapwatch_config_reloads_total{result=\"applied\"} %llu\n",
              (unsigned long long)m->config_reloads[0]);
    sb_printf(&b, "gapwatch_config_reloads_total{result=\"refused\"} %llu\n",
              (unsigned long long)m->config_reloads[1]);
    gauge(&b, "gapwatch_config_last_reload_successful",
          "0 when the last SIGHUP reload was refused (the daemon runs on the config before it).",
          m->config_last_reload_ok);
    gauge(&b, "gapwatch_config_last_reload_success_timestamp_seconds",
          "When the config was last loaded or reloaded (Unix time).",
          (double)m->config_last_reload_ms / 1000.0);
    if (b.failed) {
        free(b.buf);
        return NULL;
    }
    *len = b.len;
    return b.buf;
}
