/*
 * gw_consumer: subscription, rebalance with Redis-seeded positions, batch
 * filling, pause/resume, offset store and commit.
 *
 * The rebalance callback runs inside rd_kafka_consumer_poll(), on the loop's
 * thread, so it may touch the partition table and the store directly.
 */
#include "gw_consumer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_kafka.h"
#include "gw_log.h"
#include "gw_time.h"

/* How long an assignment waits for Redis before falling back to the offsets
 * committed in Kafka (exact either way; see seed_positions). */
#define SEED_RETRY_MS 5000

struct gw_consumer_s {
    const gw_config_t *cfg;
    gw_store_t *store;
    rd_kafka_t *rk;
    gw_partition_state_t *parts;
    int32_t nparts;
    bool paused;
    int64_t last_error_log_ms;
    rd_kafka_topic_t *rkt; /* the events topic, for seeks */
    int64_t last_wake_ms;
    int64_t empty_since_ms; /* the queue was found empty since, 0 when not */
    uint64_t wakes;
    bool brokers_down;       /* last word from librdkafka: no broker connection up */
    gw_kafka_stats_t kstats; /* from the last statistics callback */
    uint64_t assign_calls;   /* ASSIGN rebalance callbacks so far (empty ones too) */
};

#define WATERMARK_TIMEOUT_MS 2000

static gw_partition_state_t *part_state(gw_consumer_t *c, int32_t p)
{
    if (p < 0)
        return NULL;
    if (p >= c->nparts) {
        int32_t n = c->nparts ? c->nparts : 16;
        while (n <= p)
            n *= 2;
        gw_partition_state_t *np = realloc(c->parts, (size_t)n * sizeof(*np));
        if (!np)
            return NULL;
        for (int32_t i = c->nparts; i < n; i++)
            np[i] = (gw_partition_state_t){false, 0, -1, -1, 0, -1, -1};
        c->parts = np;
        c->nparts = n;
    }
    return &c->parts[p];
}

/* Offsets [from, to) of `p` were deleted by retention before they were
 * read: say so, count them, record them in Redis. */
static void note_gap(gw_consumer_t *c, int32_t p, int64_t from, int64_t to, const char *where)
{
    gw_partition_state_t *st = part_state(c, p);
    if (!st || to <= from)
        return;
    st->offsets_lost += (uint64_t)(to - from);
    char stream[32] = "unknown"; /* never a raw -1 in the log */
    if (st->stream_ms >= 0)
        snprintf(stream, sizeof(stream), "%lld", (long long)st->stream_ms);
    gw_log_error("offsets lost to retention before gapwatch read them; continuing from the log "
                 "start",
                 "topic=%s partition=%d lost_from=%lld lost_to=%lld lost=%lld stream_ms=%s "
                 "found_at=%s",
                 c->cfg->kafka.topic_events, p, (long long)from, (long long)(to - 1),
                 (long long)(to - from), stream, where);
    char err[512];
    if (gw_store_record_gap(c->store, c->cfg->kafka.topic_events, p, from, to, st->stream_ms, err,
                            sizeof(err)) != GW_STORE_OK)
        gw_log_warn("cannot record the lost range in redis", "partition=%d err=\"%s\"", p, err);
}

/* Sets each partition's start offset from Redis. Falls back to Kafka's
 * committed offset (RD_KAFKA_OFFSET_INVALID) when Redis has no position or
 * stays unreachable: Kafka's commit never runs ahead of Redis, so the worst
 * case is re-reading messages the apply script then skips. */
static void seed_positions(gw_consumer_t *c, rd_kafka_topic_partition_list_t *list)
{
    size_t n = (size_t)list->cnt;
    gw_position_t *pos = calloc(n ? n : 1, sizeof(*pos));
    if (!pos)
        return;
    for (size_t i = 0; i < n; i++)
        pos[i].partition = list->elems[i].partition;
    char err[512];
    int64_t deadline = gw_mono_ms() + SEED_RETRY_MS;
    int rc;
    while ((rc = gw_store_positions_read(c->store, c->cfg->kafka.topic_events, pos, n, err,
                                         sizeof(err))) != GW_STORE_OK &&
           gw_mono_ms() < deadline)
        gw_sleep_ms(200);
    if (rc != GW_STORE_OK) {
        gw_log_warn("cannot read positions from redis; starting from kafka's committed offsets",
                    "err=\"%s\"", err);
    }
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        gw_partition_state_t *st = part_state(c, tp->partition);
        if (!st)
            continue;
        st->assigned = true;
        st->epoch++;
        st->caught_up_since_ms = 0;
        st->lag = -1;
        st->consumed_next = -1;
        int64_t lo, hi;
        if (rc == GW_STORE_OK && pos[i].next_offset >= 0 &&
            rd_kafka_query_watermark_offsets(c->rk, tp->topic, tp->partition, &lo, &hi,
                                             WATERMARK_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            lo > pos[i].next_offset) {
            /* Seeking to a deleted offset would loop (the fetch fails, the
             * offset resets, the wake-up seeks back): start at the log
             * start and move Redis' position there too. */
            st->stream_ms = pos[i].stream_ms;
            note_gap(c, tp->partition, pos[i].next_offset, lo, "assignment");
            gw_position_t moved = {tp->partition, lo, pos[i].stream_ms};
            if (gw_store_positions_write(c->store, c->cfg->kafka.topic_events, &moved, 1, err,
                                         sizeof(err)) != GW_STORE_OK)
                gw_log_warn("cannot move the position past the lost range",
                            "partition=%d err=\"%s\"", tp->partition, err);
            pos[i].next_offset = lo;
        }
        if (rc == GW_STORE_OK && pos[i].next_offset >= 0) {
            tp->offset = pos[i].next_offset;
            st->next_offset = pos[i].next_offset;
            st->consumed_next = pos[i].next_offset;
            st->stream_ms = pos[i].stream_ms;
        } else {
            tp->offset = RD_KAFKA_OFFSET_INVALID;
            st->next_offset = -1;
            st->stream_ms = -1;
        }
        char off[32], stream[32];
        if (st->stream_ms >= 0)
            snprintf(stream, sizeof(stream), "%lld", (long long)st->stream_ms);
        else
            snprintf(stream, sizeof(stream), "unknown");
        gw_log_info("partition assigned", "topic=%s partition=%d start_offset=%s stream_ms=%s",
                    tp->topic, tp->partition, gw_kafka_offset_str(tp->offset, off, sizeof(off)),
                    stream);
    }
    free(pos);
}

static void mark_revoked(gw_consumer_t *c, const rd_kafka_topic_partition_list_t *list)
{
    for (int i = 0; i < list->cnt; i++) {
        gw_partition_state_t *st = part_state(c, list->elems[i].partition);
        if (!st)
            continue;
        st->assigned = false;
        st->epoch++;
        st->consumed_next = -1;
        gw_log_info("partition revoked", "topic=%s partition=%d", list->elems[i].topic,
                    list->elems[i].partition);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *list, void *opaque)
{
    gw_consumer_t *c = opaque;
    bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    gw_log_info("rebalance", "event=%s protocol=%s partitions=%d",
                err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS   ? "assign"
                : err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS ? "revoke"
                                                              : "error",
                rd_kafka_rebalance_protocol(rk), list ? list->cnt : 0);
    switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        c->assign_calls++;
        seed_positions(c, list);
        if (coop)
            error = rd_kafka_incremental_assign(rk, list);
        else
            aerr = rd_kafka_assign(rk, list);
        /* New partitions arrive unpaused; keep them consistent with the rest. */
        if (c->paused)
            rd_kafka_pause_partitions(rk, list);
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        if (rd_kafka_assignment_lost(rk))
            gw_log_warn("assignment lost (session timed out); partitions go to other members",
                        NULL);
        mark_revoked(c, list);
        if (coop)
            error = rd_kafka_incremental_unassign(rk, list);
        else
            aerr = rd_kafka_assign(rk, NULL);
        break;
    default:
        gw_log_error("rebalance failed", "err=\"%s\"", rd_kafka_err2str(err));
        mark_revoked(c, list);
        aerr = rd_kafka_assign(rk, NULL);
        break;
    }
    if (error) {
        gw_log_error("incremental assignment failed", "err=\"%s\"", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (aerr) {
        gw_log_error("assignment failed", "err=\"%s\"", rd_kafka_err2str(aerr));
    }
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    gw_consumer_t *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        c->brokers_down = true;
    /* "All brokers down" and friends repeat while the outage lasts: log at
     * most every 5 s. Fatal errors always. */
    int64_t now = gw_mono_ms();
    if (err == RD_KAFKA_RESP_ERR__FATAL || now - c->last_error_log_ms >= 5000) {
        c->last_error_log_ms = now;
        gw_log_warn("kafka consumer error", "code=%s err=\"%s\"",
                    rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    }
}

static int64_t json_int(json_t *obj, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/* What operators watch (STATISTICS.md): each broker's state and request
 * round trip (microseconds there), the fetch queue, the group's rebalance
 * count and assignment size. Brokers are those with a node id (learned
 * from metadata), not the bootstrap or internal pseudo-brokers. */
static void stats_keep(gw_consumer_t *c, json_t *root)
{
    gw_kafka_stats_t *k = &c->kstats;
    k->known = true;
    k->nbrokers = 0;
    const char *key;
    json_t *b;
    json_object_foreach(json_object_get(root, "brokers"), key, b)
    {
        if (k->nbrokers == GW_KAFKA_BROKERS_MAX || json_int(b, "nodeid", -1) < 0)
            continue;
        gw_kafka_broker_stats_t *o = &k->brokers[k->nbrokers++];
        json_t *name = json_object_get(b, "name"), *state = json_object_get(b, "state");
        snprintf(o->name, sizeof(o->name), "%s",
                 json_is_string(name) ? json_string_value(name) : key);
        snprintf(o->state, sizeof(o->state), "%s",
                 json_is_string(state) ? json_string_value(state) : "UNKNOWN");
        json_t *rtt = json_object_get(b, "rtt");
        int64_t cnt = json_int(rtt, "cnt", 0);
        o->rtt_avg_s = cnt > 0 ? (double)json_int(rtt, "avg", 0) / 1e6 : -1;
        o->rtt_p99_s = cnt > 0 ? (double)json_int(rtt, "p99", 0) / 1e6 : -1;
    }
    k->fetch_queue_messages = 0;
    k->fetch_queue_bytes = 0;
    json_t *topic = json_object_get(json_object_get(root, "topics"), c->cfg->kafka.topic_events);
    json_t *p;
    json_object_foreach(json_object_get(topic, "partitions"), key, p)
    {
        if (strtol(key, NULL, 10) < 0) /* the unassigned pseudo-partition -1 */
            continue;
        k->fetch_queue_messages += json_int(p, "fetchq_cnt", 0);
        k->fetch_queue_bytes += json_int(p, "fetchq_size", 0);
    }
    json_t *cgrp = json_object_get(root, "cgrp");
    k->rebalances = json_int(cgrp, "rebalance_cnt", -1);
    k->assignment_size = json_int(cgrp, "assignment_size", -1);
}

/* librdkafka's statistics (every statistics.interval.ms, served inside
 * rd_kafka_consumer_poll): the consumer lag of each partition of the event
 * topic; -1 means librdkafka does not know it yet. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    gw_consumer_t *c = opaque;
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root)
        return 0;
    json_t *parts = json_object_get(
        json_object_get(json_object_get(root, "topics"), c->cfg->kafka.topic_events), "partitions");
    const char *key;
    json_t *p;
    bool up = false;
    json_object_foreach(json_object_get(root, "brokers"), key, p)
    {
        json_t *state = json_object_get(p, "state");
        if (json_is_string(state) && !strcmp(json_string_value(state), "UP"))
            up = true;
    }
    c->brokers_down = !up;
    stats_keep(c, root);
    json_object_foreach(parts, key, p)
    {
        int32_t partition = (int32_t)strtol(key, NULL, 10);
        json_t *lag = json_object_get(p, "consumer_lag");
        if (partition < 0 || !json_is_integer(lag))
            continue;
        gw_partition_state_t *st = part_state(c, partition);
        if (st && st->assigned && st->caught_up_since_ms == 0)
            st->lag = json_integer_value(lag);
    }
    json_decref(root);
    return 0; /* librdkafka frees `json` */
}

/*
 * Properties the pipeline's guarantees depend on: set after the user's.
 *
 * Offsets are stored by the pipeline only after Redis acknowledged a batch
 * (gw_consumer_applied), and librdkafka commits what was stored: on its
 * auto-commit timer (auto.commit.interval.ms = consumer.commit_interval),
 * for the partitions a rebalance takes away (before it rejoins), and at
 * close. gapwatchd never calls rd_kafka_commit(). Why: a commit sent while
 * the group rejoins carries the old generation; the broker answers
 * ILLEGAL_GENERATION and librdkafka before 2.10.0 (issue 4059, fixed by PR
 * 4908) then drops the whole assignment as lost and rejoins. On Apache
 * Kafka 4.1 with 2.0.2 the loop's manual commit cost the first member all
 * its partitions when two more joined. librdkafka's own timer skips every
 * commit while the join state is not steady (rdkafka_cgrp.c,
 * rd_kafka_cgrp_offset_commit_tmr_cb, already in 2.0.2), so no commit is
 * sent during a rebalance, whatever the version.
 */
static const char *const required[][2] = {
    {"enable.auto.offset.store", "false"},
    {"enable.auto.commit", "true"},
    {"enable.partition.eof", "true"},
};

rd_kafka_conf_t *gw_consumer_conf_new(const gw_config_t *cfg, const char *skip, char *errstr,
                                      size_t errstr_size)
{
    rd_kafka_conf_t *conf =
        gw_kafka_conf_new_without(cfg, GW_KAFKA_CONSUMER, skip, errstr, errstr_size);
    if (!conf)
        return NULL;
    /* gw_kafka_conf_new applied the user's properties; put our defaults
     * under them by setting only what the user did not, nor the property
     * a default is derived from (the third column). */
    static const char *const defaults[][3] = {
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"auto.offset.reset", "earliest"},
        {"client.id", "gapwatchd"},
        {"statistics.interval.ms", "5000"},
        /* librdkafka prefetches up to 64 MB by default; batches are decoded
         * and their messages freed at once, so 16 MB keeps memory bounded
         * without starving the loop. */
        {"queued.max.messages.kbytes", "16384"},
        /* The count threshold binds first (a queued message costs about
         * 900 bytes here, payload and librdkafka's bookkeeping); 100k by
         * default, 90 MB. Fetches are re-woken when the queue runs dry
         * (wake_fetcher), so a small prefetch does not starve the loop. */
        {"queued.min.messages", "20000"},
        /* A fetch brings up to this much per partition (compressed: five
         * to ten times more once decompressed) whatever the queue holds. */
        {"max.partition.fetch.bytes", "262144"},
        /* A caught-up consumer's fetch waits this long for data at the
         * broker; brokers that answer only at the deadline (librdkafka's
         * mock cluster does) add it to the latency. 50 fetches/s per idle
         * broker is cheap. */
        {"fetch.wait.max.ms", "20"},
        /* One fetch response per broker: 50 MB by default, up to every
         * partition's max.partition.fetch.bytes at once. Decompressed, and
         * held until its last message is freed, 12 partitions' worth cost
         * 30 MB of RSS here; 1 MiB (just above message.max.bytes' default,
         * the least librdkafka accepts) cost nothing in throughput. When
         * message.max.bytes is set, librdkafka sizes it from that. */
        {"fetch.max.bytes", "1048576", "message.max.bytes"},
    };
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        if (defaults[i][2] && gw_kafka_property_given(cfg, GW_KAFKA_CONSUMER, defaults[i][2]))
            continue;
        if (!gw_kafka_property_given(cfg, GW_KAFKA_CONSUMER, defaults[i][0]) &&
            gw_kafka_conf_set(conf, defaults[i][0], defaults[i][1], errstr, errstr_size))
            goto fail;
    }
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (gw_kafka_property_given(cfg, GW_KAFKA_CONSUMER, required[i][0]))
            gw_log_warn("kafka property ignored: gapwatch needs its own value", "property=%s",
                        required[i][0]);
        if (gw_kafka_conf_set(conf, required[i][0], required[i][1], errstr, errstr_size))
            goto fail;
    }
    if (!gw_kafka_property_given(cfg, GW_KAFKA_CONSUMER, "auto.commit.interval.ms")) {
        char ms[24];
        snprintf(ms, sizeof(ms), "%lld", (long long)cfg->consumer.commit_interval_ms);
        if (gw_kafka_conf_set(conf, "auto.commit.interval.ms", ms, errstr, errstr_size))
            goto fail;
    }
    if (gw_kafka_conf_set(conf, "group.id", cfg->kafka.group_id, errstr, errstr_size))
        goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

gw_consumer_t *gw_consumer_new(const gw_config_t *cfg, gw_store_t *store, char *errstr,
                               size_t errstr_size)
{
    gw_consumer_t *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    c->cfg = cfg;
    c->store = store;
    rd_kafka_conf_t *conf = gw_consumer_conf_new(cfg, NULL, errstr, errstr_size);
    if (!conf) {
        free(c);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);
    rd_kafka_conf_set_opaque(conf, c);

    char err[512];
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!c->rk) {
        snprintf(errstr, errstr_size, "cannot create kafka consumer: %s", err);
        goto fail_conf;
    }
    conf = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(c->rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, cfg->kafka.topic_events, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t serr = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (serr) {
        snprintf(errstr, errstr_size, "cannot subscribe to %s: %s", cfg->kafka.topic_events,
                 rd_kafka_err2str(serr));
        rd_kafka_destroy(c->rk);
        free(c);
        return NULL;
    }
    /* A handle for seeks; without one the fetcher is only not woken. */
    c->rkt = rd_kafka_topic_new(c->rk, cfg->kafka.topic_events, NULL);
    return c;
fail_conf:
    if (conf)
        rd_kafka_conf_destroy(conf);
    free(c);
    return NULL;
}

/*
 * librdkafka before 2.3.0 (issue 4312): the sticky assignors keep a state
 * that is created only when the member's first assignment arrives (the
 * SyncGroup response), but the group's final destroy frees it whenever the
 * member got as far as a JoinGroup response, asserting that it exists. A
 * consumer destroyed between the two — SIGTERM to an instance still
 * joining, or whose SyncGroup keeps failing (the mock cluster's did) —
 * aborts inside rd_kafka_destroy(). Measured: 1 of 8 SIGTERMs 0.4-1.9 s
 * after start against the mock with 2.0.2.
 *
 * The workaround, only for those versions and the sticky assignors: a
 * member that never saw an assignment keeps polling for it (it comes
 * within a round trip or two once the join completed) for up to
 * STICKY_CLOSE_WAIT_MS; if it still has none, the handle is closed (the
 * member leaves the group, so nobody waits for its session to time out)
 * but not destroyed: the process is exiting, and a leak at exit beats an
 * abort. Versions from 2.3.0 on are closed and destroyed as usual.
 */
#define STICKY_STATE_FIXED_VERSION 0x02030000 /* 2.3.0 */
#define STICKY_CLOSE_WAIT_MS       10000

static bool sticky_destroy_may_abort(gw_consumer_t *c)
{
    if (rd_kafka_version() >= STICKY_STATE_FIXED_VERSION || c->assign_calls > 0)
        return false;
    char strategy[256];
    size_t size = sizeof(strategy);
    if (rd_kafka_conf_get(rd_kafka_conf(c->rk), "partition.assignment.strategy", strategy, &size) !=
        RD_KAFKA_CONF_OK)
        return true; /* unknown: assume the worst */
    return strstr(strategy, "sticky") != NULL;
}

void gw_consumer_free(gw_consumer_t *c)
{
    if (!c)
        return;
    if (c->rk) {
        if (c->rkt)
            rd_kafka_topic_destroy(c->rkt);
        bool leak = false;
        if (sticky_destroy_may_abort(c)) {
            int64_t deadline = gw_mono_ms() + STICKY_CLOSE_WAIT_MS;
            while (c->assign_calls == 0 && gw_mono_ms() < deadline) {
                /* Messages of a first assignment are left to the next
                 * owner: nothing is stored for them. */
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 100);
                if (m)
                    rd_kafka_message_destroy(m);
            }
            leak = c->assign_calls == 0;
            gw_log_info("closing a member that had no assignment yet (librdkafka < 2.3.0, issue "
                        "4312)",
                        "librdkafka=%s waited_for_assignment=%s destroy=%s", rd_kafka_version_str(),
                        leak ? "in vain" : "yes", leak ? "skipped" : "yes");
        }
        rd_kafka_resp_err_t err = rd_kafka_consumer_close(c->rk);
        if (err)
            gw_log_warn("consumer close failed", "err=\"%s\"", rd_kafka_err2str(err));
        if (!leak)
            rd_kafka_destroy(c->rk);
    }
    free(c->parts);
    free(c);
}

/*
 * librdkafka 2.0.2 stops fetching a partition once the local queue holds
 * queued.min.messages (or queued.max.messages.kbytes) and decides again
 * only when its broker thread next wakes up, up to a second later: a
 * consumer slower than its broker then idles most of the time (measured:
 * 55% of a backlog's replay), unless the queue is made to hold a second of
 * messages (hundreds of MB). Later versions call that delay
 * fetch.queue.backoff.ms (2.2.0) and keep its default of a second, so this
 * stays on librdkafka 2.8 (Debian 13) too. Instead, when the queue is found empty while a
 * partition has more at the broker (its cached high watermark), a seek to
 * exactly the next offset not yet handed out, an operation for that
 * thread, makes it fetch again at once. Nothing is skipped or repeated:
 * the seek's offset is the one after the last message this consumer
 * returned, and messages fetched before the seek are discarded by
 * librdkafka and fetched again. Only after the queue stayed empty for
 * STARVED_MS (a fetch round trip takes a few), and at most every WAKE_MS,
 * so a fetch in flight is rarely thrown away.
 */
#define STARVED_MS 10
#define WAKE_MS    50

static void wake_fetcher(gw_consumer_t *c)
{
    int64_t now = gw_mono_ms();
    if (!c->empty_since_ms)
        c->empty_since_ms = now;
    if (c->paused || !c->rkt || now - c->empty_since_ms < STARVED_MS ||
        now - c->last_wake_ms < WAKE_MS)
        return;
    c->last_wake_ms = now;
    for (int32_t p = 0; p < c->nparts; p++) {
        gw_partition_state_t *st = &c->parts[p];
        int64_t lo, hi;
        if (!st->assigned || st->consumed_next < 0 ||
            rd_kafka_get_watermark_offsets(c->rk, c->cfg->kafka.topic_events, p, &lo, &hi) ||
            hi <= st->consumed_next)
            continue;
        if (lo > st->consumed_next) {
            /* Never seek back into a range retention deleted (it loops). */
            note_gap(c, p, st->consumed_next, lo, "fetch wake-up");
            st->consumed_next = lo;
        }
        rd_kafka_resp_err_t err = rd_kafka_seek(c->rkt, p, st->consumed_next, 0);
        if (!err)
            c->wakes++;
        else
            gw_log_debug("seek to wake the fetcher failed", "partition=%d err=\"%s\"", p,
                         rd_kafka_err2str(err));
    }
}

size_t gw_consumer_poll(gw_consumer_t *c, rd_kafka_message_t **msgs, size_t max, int wait_ms,
                        int64_t fill_ms)
{
    size_t n = 0;
    int64_t deadline = -1;
    int timeout = wait_ms;
    while (n < max) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout);
        if (!m && n == 0)
            wake_fetcher(c);
        if (!m) {
            /* Nothing queued right now. While messages keep coming the
             * batch grows (a backlog is read in big batches); once they
             * stop, wait for more only until fill_ms after the first. */
            if (n == 0 || deadline < 0)
                break;
            int64_t left = deadline - gw_mono_ms();
            if (left <= 0)
                break;
            m = rd_kafka_consumer_poll(c->rk, (int)left);
            if (!m)
                break;
        }
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                gw_partition_state_t *st = part_state(c, m->partition);
                if (st && st->caught_up_since_ms == 0)
                    st->caught_up_since_ms = gw_now_ms();
                if (st)
                    st->lag = 0;
            } else {
                int64_t now = gw_mono_ms();
                if (now - c->last_error_log_ms >= 5000) {
                    c->last_error_log_ms = now;
                    gw_log_warn("kafka consume error", "topic=%s partition=%d err=\"%s\"",
                                m->rkt ? rd_kafka_topic_name(m->rkt) : "-", m->partition,
                                rd_kafka_message_errstr(m));
                }
            }
            rd_kafka_message_destroy(m);
        } else {
            gw_partition_state_t *st = part_state(c, m->partition);
            int64_t lo, hi;
            /* A jump over offsets the log no longer starts before is a
             * retention gap (other jumps, e.g. transaction markers or
             * compaction, are not losses). */
            if (st && st->consumed_next >= 0 && m->offset > st->consumed_next &&
                rd_kafka_get_watermark_offsets(c->rk, c->cfg->kafka.topic_events, m->partition, &lo,
                                               &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                lo > st->consumed_next)
                note_gap(c, m->partition, st->consumed_next, lo < m->offset ? lo : m->offset,
                         "consume");
            c->brokers_down = false;
            if (st) {
                st->caught_up_since_ms = 0;
                st->consumed_next = m->offset + 1;
            }
            c->empty_since_ms = 0;
            msgs[n++] = m;
            if (deadline < 0)
                deadline = gw_mono_ms() + fill_ms;
        }
        timeout = 0;
    }
    return n;
}

static void set_paused(gw_consumer_t *c, bool pause)
{
    rd_kafka_topic_partition_list_t *list = NULL;
    rd_kafka_resp_err_t err = rd_kafka_assignment(c->rk, &list);
    if (err) {
        gw_log_error("cannot read assignment", "err=\"%s\"", rd_kafka_err2str(err));
        return;
    }
    if (list->cnt > 0) {
        err = pause ? rd_kafka_pause_partitions(c->rk, list)
                    : rd_kafka_resume_partitions(c->rk, list);
        if (err)
            gw_log_error(pause ? "pause failed" : "resume failed", "err=\"%s\"",
                         rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(list);
    c->paused = pause;
}

void gw_consumer_pause(gw_consumer_t *c)
{
    if (!c->paused) {
        set_paused(c, true);
        gw_log_info("consumption paused", NULL);
    }
}

void gw_consumer_resume(gw_consumer_t *c)
{
    if (c->paused) {
        set_paused(c, false);
        gw_log_info("consumption resumed", NULL);
    }
}

bool gw_consumer_paused(const gw_consumer_t *c)
{
    return c->paused;
}

uint64_t gw_consumer_fetch_wakes(const gw_consumer_t *c)
{
    return c->wakes;
}

void gw_consumer_applied(gw_consumer_t *c, int32_t partition, int64_t next_offset,
                         int64_t stream_ms)
{
    gw_partition_state_t *st = part_state(c, partition);
    if (!st)
        return;
    if (next_offset > st->next_offset)
        st->next_offset = next_offset;
    if (stream_ms > st->stream_ms)
        st->stream_ms = stream_ms;
    if (!st->assigned)
        return; /* revoked meanwhile: the new owner resumes from Redis */
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, c->cfg->kafka.topic_events, partition)->offset =
        next_offset;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->rk, list);
    if (err && err != RD_KAFKA_RESP_ERR__STATE)
        gw_log_warn("offset store failed", "partition=%d offset=%lld err=\"%s\"", partition,
                    (long long)next_offset, rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(list);
}

const gw_partition_state_t *gw_consumer_partition(const gw_consumer_t *c, int32_t partition)
{
    if (partition < 0 || partition >= c->nparts)
        return NULL;
    return &c->parts[partition];
}

int32_t gw_consumer_partition_count(const gw_consumer_t *c)
{
    return c->nparts;
}

int gw_consumer_assigned(const gw_consumer_t *c)
{
    int n = 0;
    for (int32_t i = 0; i < c->nparts; i++)
        n += c->parts[i].assigned;
    return n;
}

void gw_consumer_set_lag(gw_consumer_t *c, int32_t partition, int64_t lag)
{
    gw_partition_state_t *st = part_state(c, partition);
    if (st)
        st->lag = lag;
}

const gw_kafka_stats_t *gw_consumer_kafka_stats(const gw_consumer_t *c)
{
    return &c->kstats;
}

bool gw_consumer_kafka_up(const gw_consumer_t *c)
{
    return !c->brokers_down;
}

/* The partition count of the event topic, or -1. */
static int topic_partitions(gw_consumer_t *c, int timeout_ms, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(c->rk, 0, c->rkt, &md, timeout_ms);
    if (err) {
        snprintf(errstr, errstr_size, "metadata of %s: %s", c->cfg->kafka.topic_events,
                 rd_kafka_err2str(err));
        return -1;
    }
    int n = md->topic_cnt == 1 && !md->topics[0].err ? md->topics[0].partition_cnt : -1;
    if (n < 0)
        snprintf(errstr, errstr_size, "metadata of %s: %s", c->cfg->kafka.topic_events,
                 md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "no such topic");
    rd_kafka_metadata_destroy(md);
    return n;
}

int gw_consumer_committed(gw_consumer_t *c, char *summary, size_t summary_size, int timeout_ms,
                          char *errstr, size_t errstr_size)
{
    summary[0] = '\0';
    int n = topic_partitions(c, timeout_ms, errstr, errstr_size);
    if (n < 0)
        return -1;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n ? n : 1);
    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(list, c->cfg->kafka.topic_events, p);
    rd_kafka_resp_err_t err = rd_kafka_committed(c->rk, list, timeout_ms);
    int have = 0;
    if (err) {
        snprintf(errstr, errstr_size, "committed offsets of group %s: %s", c->cfg->kafka.group_id,
                 rd_kafka_err2str(err));
        have = -1;
    } else {
        size_t used = 0;
        for (int i = 0; i < list->cnt; i++) {
            if (list->elems[i].offset < 0)
                continue;
            have++;
            if (used < summary_size) {
                int w = snprintf(summary + used, summary_size - used, "%s%d:%lld", used ? "," : "",
                                 list->elems[i].partition, (long long)list->elems[i].offset);
                if (w > 0)
                    used += (size_t)w;
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    return have;
}

int gw_consumer_log_starts(gw_consumer_t *c, int64_t since_ms, int64_t *lo, bool *covers,
                           int32_t max, char *errstr, size_t errstr_size)
{
    int n = topic_partitions(c, 10000, errstr, errstr_size);
    if (n < 0)
        return -1;
    if (n > max) {
        snprintf(errstr, errstr_size, "%s has %d partitions, more than %d",
                 c->cfg->kafka.topic_events, n, max);
        return -1;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n ? n : 1);
    for (int p = 0; p < n; p++) {
        int64_t hi;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            c->rk, c->cfg->kafka.topic_events, p, &lo[p], &hi, 10000);
        if (err) {
            snprintf(errstr, errstr_size, "watermarks of %s [%d]: %s", c->cfg->kafka.topic_events,
                     p, rd_kafka_err2str(err));
            rd_kafka_topic_partition_list_destroy(list);
            return -1;
        }
        rd_kafka_topic_partition_list_add(list, c->cfg->kafka.topic_events, p)->offset = since_ms;
    }
    /* The first offset at or after since_ms: when it is past the log
     * start, older messages are still there and the windows are whole. */
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(c->rk, list, 10000);
    for (int p = 0; p < n; p++) {
        int64_t at = err ? -1 : list->elems[p].offset;
        /* -1: every retained message is older than since_ms */
        covers[p] = lo[p] == 0 || (!err && (at > lo[p] || at == -1));
    }
    rd_kafka_topic_partition_list_destroy(list);
    return n;
}

rd_kafka_t *gw_consumer_handle(gw_consumer_t *c)
{
    return c->rk;
}
