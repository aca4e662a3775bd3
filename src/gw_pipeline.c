/*
 * gw_pipeline: the batch state machine. Invariants:
 *
 * - A message's stream time is computed from the partition's stream time
 *   at the start of the batch (restored from Redis at assignment), so a
 *   retried or rebuilt batch computes exactly the same values.
 * - Positions and Kafka offsets move only after Redis acknowledged every
 *   delta of the batch and every dead-letter message was delivered.
 * - A batch is re-sent whole after any Redis failure: the apply script
 *   skips what already ran.
 */
#include "gw_pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_decode.h"
#include "gw_log.h"
#include "gw_time.h"

#define BACKOFF_MIN_MS  100
#define BACKOFF_MAX_MS  5000
#define REDO_ROUNDS_MAX 5

typedef struct {
    bool in_batch;
    uint32_t epoch;
    int64_t start_stream;
    int64_t stream;
    int64_t last_offset;
} part_info_t;

/* One part of an entity whose offsets straddled the batch. */
typedef struct {
    gw_entity_kind_t kind;
    char tenant[GW_ID_MAX + 1];
    char id[GW_ID_MAX + 1];
    int32_t partition;
    int64_t stored;
} redo_spec_t;

struct gw_pipeline_s {
    const gw_config_t *cfg;
    gw_consumer_t *consumer;
    gw_producer_t *producer;
    gw_store_t *store;
    gw_metrics_t *m;
    gw_decoder_t *dec;
    gw_coalesce_t *batch;
    gw_coalesce_t *redo;

    rd_kafka_message_t **msgs;
    int64_t *stream; /* per message: partition stream time after it, -1 if invalid */
    size_t nmsgs, cap;
    rd_kafka_message_t **carry; /* arrived while paused; first in the next batch */
    size_t ncarry;

    part_info_t *parts;
    int32_t nparts;
    int32_t *touched;
    size_t ntouched;

    redo_spec_t *spec;
    size_t nspec, specap;

    int64_t now_ms;
    size_t dead_lettered;
    int64_t backoff_ms;
    int64_t last_fail_log_ms;
    bool batch_ok;
};

gw_pipeline_t *gw_pipeline_new(const gw_config_t *cfg, gw_consumer_t *consumer,
                               gw_producer_t *producer, gw_store_t *store, gw_metrics_t *metrics)
{
    gw_pipeline_t *pl = calloc(1, sizeof(*pl));
    if (!pl)
        return NULL;
    pl->cfg = cfg;
    pl->consumer = consumer;
    pl->producer = producer;
    pl->store = store;
    pl->m = metrics;
    pl->cap = (size_t)cfg->consumer.batch_max_messages;
    pl->dec = gw_decoder_new(cfg);
    pl->batch = gw_coalesce_new(cfg->windows, cfg->nwindows, &cfg->kinds);
    pl->redo = gw_coalesce_new(cfg->windows, cfg->nwindows, &cfg->kinds);
    pl->msgs = calloc(pl->cap, sizeof(*pl->msgs));
    pl->stream = calloc(pl->cap, sizeof(*pl->stream));
    pl->carry = calloc(pl->cap, sizeof(*pl->carry));
    if (!pl->dec || !pl->batch || !pl->redo || !pl->msgs || !pl->stream || !pl->carry) {
        gw_pipeline_free(pl);
        return NULL;
    }
    pl->backoff_ms = BACKOFF_MIN_MS;
    return pl;
}

static void destroy_messages(rd_kafka_message_t **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rd_kafka_message_destroy(msgs[i]);
}

void gw_pipeline_free(gw_pipeline_t *pl)
{
    if (!pl)
        return;
    if (pl->msgs)
        destroy_messages(pl->msgs, pl->nmsgs);
    if (pl->carry)
        destroy_messages(pl->carry, pl->ncarry);
    gw_decoder_free(pl->dec);
    gw_coalesce_free(pl->batch);
    gw_coalesce_free(pl->redo);
    free(pl->msgs);
    free(pl->stream);
    free(pl->carry);
    free(pl->parts);
    free(pl->touched);
    free(pl->spec);
    free(pl);
}

const gw_coalesce_t *gw_pipeline_last_batch(const gw_pipeline_t *pl)
{
    return pl->batch_ok ? pl->batch : NULL;
}

/* ---- partitions of the batch ------------------------------------------ */

static part_info_t *part_info(gw_pipeline_t *pl, int32_t p)
{
    if (p >= pl->nparts) {
        int32_t n = pl->nparts ? pl->nparts : 16;
        while (n <= p)
            n *= 2;
        part_info_t *np = realloc(pl->parts, (size_t)n * sizeof(*np));
        int32_t *nt = realloc(pl->touched, (size_t)n * sizeof(*nt));
        if (!np || !nt) {
            /* realloc failures leave the old blocks valid */
            if (np)
                pl->parts = np;
            if (nt)
                pl->touched = nt;
            return NULL;
        }
        memset(np + pl->nparts, 0, (size_t)(n - pl->nparts) * sizeof(*np));
        pl->parts = np;
        pl->touched = nt;
        pl->nparts = n;
    }
    return &pl->parts[p];
}

/* Records which partitions the batch holds, their epoch and start stream
 * time. Returns -1 on OOM. */
static int init_parts(gw_pipeline_t *pl)
{
    for (size_t i = 0; i < pl->ntouched; i++)
        pl->parts[pl->touched[i]].in_batch = false;
    pl->ntouched = 0;
    for (size_t i = 0; i < pl->nmsgs; i++) {
        const rd_kafka_message_t *msg = pl->msgs[i];
        part_info_t *pi = part_info(pl, msg->partition);
        if (!pi)
            return -1;
        if (!pi->in_batch) {
            const gw_partition_state_t *st = gw_consumer_partition(pl->consumer, msg->partition);
            pi->in_batch = true;
            pi->epoch = st ? st->epoch : 0;
            pi->start_stream = st ? st->stream_ms : -1;
            pi->last_offset = -1;
            pl->touched[pl->ntouched++] = msg->partition;
        }
        if (msg->offset > pi->last_offset)
            pi->last_offset = msg->offset;
    }
    return 0;
}

/* ---- decode, dead-letter, coalesce -------------------------------------- */

static void dead_letter(gw_pipeline_t *pl, const rd_kafka_message_t *msg, gw_reason_t reason,
                        const char *detail)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    rd_kafka_headers_t *src = NULL;
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(msg, &src) == RD_KAFKA_RESP_ERR_NO_ERROR && src)
        h = rd_kafka_headers_copy(src);
    else
        h = rd_kafka_headers_new(5);
    char part[16], off[24];
    snprintf(part, sizeof(part), "%d", msg->partition);
    snprintf(off, sizeof(off), "%lld", (long long)msg->offset);
    rd_kafka_header_add(h, "gw.reason", -1, gw_reason_str(reason), -1);
    rd_kafka_header_add(h, "gw.detail", -1, detail, -1);
    rd_kafka_header_add(h, "gw.source.topic", -1, topic, -1);
    rd_kafka_header_add(h, "gw.source.partition", -1, part, -1);
    rd_kafka_header_add(h, "gw.source.offset", -1, off, -1);
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(msg, &tstype);
    char err[512];
    if (gw_producer_send(pl->producer, pl->cfg->kafka.topic_dead_letter, msg->key, msg->key_len,
                         msg->payload, msg->len, h, ts > 0 ? ts : 0, NULL, err, sizeof(err)) != 0) {
        /* Only a fatal producer state gets here; the positions will not
         * move past this message (see wait_dead_letters). */
        gw_log_error("cannot dead-letter message", "partition=%d offset=%lld err=\"%s\"",
                     msg->partition, (long long)msg->offset, err);
        return;
    }
    pl->dead_lettered++;
}

/* Decodes every message and coalesces the valid ones. On the first build
 * bad messages are dead-lettered and counted; a rebuild (after partitions
 * were revoked) only recomputes. Returns -1 on OOM. */
static int build(gw_pipeline_t *pl, bool first)
{
    gw_coalesce_reset(pl->batch);
    for (size_t i = 0; i < pl->ntouched; i++) {
        part_info_t *pi = &pl->parts[pl->touched[i]];
        pi->stream = pi->start_stream;
    }
    gw_event_t ev;
    char detail[512];
    for (size_t i = 0; i < pl->nmsgs; i++) {
        const rd_kafka_message_t *msg = pl->msgs[i];
        gw_reason_t r = gw_decoder_decode(pl->dec, msg->payload, msg->len, pl->now_ms, &ev, detail,
                                          sizeof(detail));
        if (r != GW_REASON_OK) {
            pl->stream[i] = -1;
            if (first) {
                pl->m->dead_lettered[r]++;
                dead_letter(pl, msg, r, detail);
            }
            continue;
        }
        part_info_t *pi = &pl->parts[msg->partition];
        if (ev.occurred_at_ms > pi->stream)
            pi->stream = ev.occurred_at_ms;
        pl->stream[i] = pi->stream;
        if (gw_coalesce_add(pl->batch, &ev, msg->partition, msg->offset, pi->stream) != 0)
            return -1;
        if (first)
            pl->m->valid++;
    }
    if (first)
        for (int w = 0; w < pl->cfg->nwindows; w++)
            pl->m->late[w] += gw_coalesce_late(pl->batch, w);
    return 0;
}

/* ---- redo: re-send only the events after each part's stored offset ---- */

static int spec_cmp(const void *a, const void *b)
{
    const redo_spec_t *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    int c = strcmp(x->tenant, y->tenant);
    if (c)
        return c;
    c = strcmp(x->id, y->id);
    if (c)
        return c;
    return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static int collect_spec(gw_pipeline_t *pl, const gw_coalesce_t *from, const gw_apply_result_t *res)
{
    if (res->nredo_parts > pl->specap) {
        redo_spec_t *n = realloc(pl->spec, res->nredo_parts * sizeof(*n));
        if (!n)
            return -1;
        pl->spec = n;
        pl->specap = res->nredo_parts;
    }
    for (size_t i = 0; i < res->nredo_parts; i++) {
        const gw_redo_t *r = &res->redo_parts[i];
        const gw_delta_t *d = gw_coalesce_delta(from, r->delta);
        redo_spec_t *s = &pl->spec[i];
        s->kind = d->kind;
        snprintf(s->tenant, sizeof(s->tenant), "%s", d->tenant);
        snprintf(s->id, sizeof(s->id), "%s", d->id);
        s->partition = r->partition;
        s->stored = r->stored;
    }
    pl->nspec = res->nredo_parts;
    qsort(pl->spec, pl->nspec, sizeof(*pl->spec), spec_cmp);
    return 0;
}

/* True if the entity is to be re-sent and `offset` of `partition` is after
 * its stored offset there. */
static bool spec_wants(const gw_pipeline_t *pl, gw_entity_kind_t kind, const char *tenant,
                       const char *id, int32_t partition, int64_t offset)
{
    redo_spec_t key = {.kind = kind, .partition = partition};
    snprintf(key.tenant, sizeof(key.tenant), "%s", tenant);
    snprintf(key.id, sizeof(key.id), "%s", id);
    const redo_spec_t *hit = bsearch(&key, pl->spec, pl->nspec, sizeof(*pl->spec), spec_cmp);
    return hit && offset > hit->stored;
}

static int build_redo(gw_pipeline_t *pl)
{
    gw_coalesce_reset(pl->redo);
    gw_event_t ev;
    char detail[512];
    for (size_t i = 0; i < pl->nmsgs; i++) {
        if (pl->stream[i] < 0)
            continue;
        const rd_kafka_message_t *msg = pl->msgs[i];
        if (gw_decoder_decode(pl->dec, msg->payload, msg->len, pl->now_ms, &ev, detail,
                              sizeof(detail)) != GW_REASON_OK)
            continue;
        if (spec_wants(pl, GW_ENTITY_REP, ev.tenant, ev.rep, msg->partition, msg->offset) &&
            gw_coalesce_add_one(pl->redo, &ev, GW_ENTITY_REP, msg->partition, msg->offset,
                                pl->stream[i]) != 0)
            return -1;
        if (spec_wants(pl, GW_ENTITY_TEAM, ev.tenant, ev.team, msg->partition, msg->offset) &&
            gw_coalesce_add_one(pl->redo, &ev, GW_ENTITY_TEAM, msg->partition, msg->offset,
                                pl->stream[i]) != 0)
            return -1;
    }
    return 0;
}

static void count_result(gw_pipeline_t *pl, const gw_apply_result_t *res, int64_t t0)
{
    double secs = (double)(gw_mono_ms() - t0) / 1000.0;
    gw_metrics_observe(pl->m->redis_latency_le, gw_metrics_latency_bounds, GW_LATENCY_BUCKETS,
                       secs);
    pl->m->redis_latency_sum_s += secs;
    pl->m->redis_latency_count++;
    pl->m->redis_commands += res->commands;
    pl->m->deltas_applied += res->applied;
    pl->m->deltas_skipped += res->skipped;
}

/* Applies the batch, then re-sends straddling entities until none is left. */
static int apply(gw_pipeline_t *pl, char *err, size_t errsize)
{
    gw_apply_result_t res;
    int64_t t0 = gw_mono_ms();
    int rc = gw_store_apply(pl->store, pl->batch, pl->cfg->kafka.topic_events, &res, err, errsize);
    if (rc != GW_STORE_OK)
        return rc;
    count_result(pl, &res, t0);
    const gw_coalesce_t *from = pl->batch;
    for (int round = 0; res.redo > 0; round++) {
        if (round == REDO_ROUNDS_MAX) {
            snprintf(err, errsize,
                     "offsets of %zu entities kept moving while re-sending; is another "
                     "instance consuming the same partitions with another group?",
                     res.redo);
            return GW_STORE_ERROR;
        }
        gw_log_info("re-sending entities whose offsets straddle the batch", "entities=%zu",
                    res.redo);
        pl->m->deltas_redone += res.redo;
        if (collect_spec(pl, from, &res) != 0 || build_redo(pl) != 0) {
            snprintf(err, errsize, "out of memory while re-sending");
            return GW_STORE_ERROR;
        }
        t0 = gw_mono_ms();
        rc = gw_store_apply(pl->store, pl->redo, pl->cfg->kafka.topic_events, &res, err, errsize);
        if (rc != GW_STORE_OK)
            return rc;
        count_result(pl, &res, t0);
        from = pl->redo;
    }
    return GW_STORE_OK;
}

/* ---- waiting out an outage ------------------------------------------ */

/* Drops messages of partitions revoked since the batch started. Returns
 * true if any were dropped. */
static bool drop_revoked(gw_pipeline_t *pl)
{
    size_t kept = 0;
    bool dropped = false;
    for (size_t i = 0; i < pl->nmsgs; i++) {
        rd_kafka_message_t *msg = pl->msgs[i];
        const gw_partition_state_t *st = gw_consumer_partition(pl->consumer, msg->partition);
        if (!st || !st->assigned || st->epoch != pl->parts[msg->partition].epoch) {
            rd_kafka_message_destroy(msg);
            dropped = true;
            continue;
        }
        pl->msgs[kept++] = msg;
    }
    pl->nmsgs = kept;
    return dropped;
}

/* Pauses consumption and waits `backoff` while keeping the group
 * membership alive. Returns true if partitions of the batch were revoked
 * meanwhile (the batch must be rebuilt). */
static bool wait_out(gw_pipeline_t *pl, volatile sig_atomic_t *stop)
{
    gw_consumer_pause(pl->consumer);
    int64_t until = gw_mono_ms() + pl->backoff_ms;
    while (!*stop && gw_mono_ms() < until) {
        /* Paused partitions deliver nothing; anything that still arrives
         * (a partition assigned meanwhile) waits in the carry. */
        size_t room = pl->cap - pl->ncarry;
        if (room == 0) {
            gw_sleep_ms(50);
            continue;
        }
        size_t got = gw_consumer_poll(pl->consumer, pl->carry + pl->ncarry, room, 50, 0);
        pl->ncarry += got;
        gw_producer_poll(pl->producer, 0);
    }
    pl->backoff_ms *= 2;
    if (pl->backoff_ms > BACKOFF_MAX_MS)
        pl->backoff_ms = BACKOFF_MAX_MS;
    return drop_revoked(pl);
}

static void log_failure(gw_pipeline_t *pl, const char *what, const char *err)
{
    pl->m->redis_failures++;
    int64_t now = gw_mono_ms();
    if (now - pl->last_fail_log_ms >= 10000) {
        pl->last_fail_log_ms = now;
        gw_log_warn(what, "err=\"%s\" retry_in_ms=%lld", err, (long long)pl->backoff_ms);
    }
}

/* Waits until every dead-letter message is delivered. Returns -1 if
 * stopped first. */
static int wait_dead_letters(gw_pipeline_t *pl, volatile sig_atomic_t *stop)
{
    int64_t start = gw_mono_ms();
    int64_t last_log = start;
    while (gw_producer_in_flight(pl->producer) > 0) {
        gw_producer_flush(pl->producer, 100);
        int64_t waited = gw_mono_ms() - start;
        /* A first delivery to the topic takes a metadata round trip; only
         * a longer wait (a broker outage) pauses consumption, and polling
         * keeps the group membership alive meanwhile. */
        if (gw_producer_in_flight(pl->producer) > 0 && waited > 2000) {
            gw_consumer_pause(pl->consumer);
            size_t room = pl->cap - pl->ncarry;
            if (room)
                pl->ncarry += gw_consumer_poll(pl->consumer, pl->carry + pl->ncarry, room, 0, 0);
        }
        if (*stop && waited > 10000)
            return -1;
        if (gw_mono_ms() - last_log > 10000) {
            last_log = gw_mono_ms();
            gw_log_warn("waiting for dead-letter deliveries", "in_flight=%zu",
                        gw_producer_in_flight(pl->producer));
        }
    }
    return 0;
}

/* ---- the step --------------------------------------------------------- */

static int write_positions(gw_pipeline_t *pl, char *err, size_t errsize)
{
    gw_position_t pos[64];
    size_t n = 0;
    for (size_t i = 0; i < pl->ntouched; i++) {
        const part_info_t *pi = &pl->parts[pl->touched[i]];
        pos[n].partition = pl->touched[i];
        pos[n].next_offset = pi->last_offset + 1;
        pos[n].stream_ms = pi->stream;
        if (++n == sizeof(pos) / sizeof(pos[0]) || i + 1 == pl->ntouched) {
            int rc = gw_store_positions_write(pl->store, pl->cfg->kafka.topic_events, pos, n, err,
                                              errsize);
            if (rc != GW_STORE_OK)
                return rc;
            n = 0;
        }
    }
    return GW_STORE_OK;
}

static long finish(gw_pipeline_t *pl, long rc)
{
    destroy_messages(pl->msgs, pl->nmsgs);
    pl->nmsgs = 0;
    return rc;
}

long gw_pipeline_step(gw_pipeline_t *pl, int wait_ms, volatile sig_atomic_t *stop)
{
    pl->batch_ok = false;
    pl->nmsgs = 0;
    if (pl->ncarry) {
        memcpy(pl->msgs, pl->carry, pl->ncarry * sizeof(*pl->msgs));
        pl->nmsgs = pl->ncarry;
        pl->ncarry = 0;
        wait_ms = 0;
    }
    pl->nmsgs += gw_consumer_poll(pl->consumer, pl->msgs + pl->nmsgs, pl->cap - pl->nmsgs, wait_ms,
                                  pl->cfg->consumer.batch_max_wait_ms);
    if (pl->nmsgs == 0) {
        if (gw_consumer_paused(pl->consumer))
            gw_consumer_resume(pl->consumer);
        return 0;
    }
    long processed = (long)pl->nmsgs;
    pl->now_ms = gw_now_ms();
    pl->dead_lettered = 0;
    pl->m->consumed += pl->nmsgs;
    pl->m->batches++;
    pl->m->batch_size_sum += pl->nmsgs;
    gw_metrics_observe(pl->m->batch_size_le, gw_metrics_batch_bounds, GW_BATCH_BUCKETS,
                       (double)pl->nmsgs);
    if (init_parts(pl) != 0 || build(pl, true) != 0) {
        gw_log_error("out of memory building a batch", "messages=%zu", pl->nmsgs);
        return finish(pl, -1);
    }

    char err[512];
    for (;;) {
        int rc = apply(pl, err, sizeof(err));
        if (rc == GW_STORE_OK)
            break;
        log_failure(pl, "cannot apply batch to redis; retrying", err);
        if (wait_out(pl, stop)) {
            gw_log_info("partitions revoked during the outage; rebuilding the batch",
                        "messages_left=%zu", pl->nmsgs);
            if (init_parts(pl) != 0 || build(pl, false) != 0)
                return finish(pl, -1);
        }
        if (*stop)
            return finish(pl, -1);
    }
    if (pl->dead_lettered && wait_dead_letters(pl, stop) != 0)
        return finish(pl, -1);
    for (;;) {
        int rc = write_positions(pl, err, sizeof(err));
        if (rc == GW_STORE_OK)
            break;
        log_failure(pl, "cannot record positions in redis; retrying", err);
        wait_out(pl, stop);
        if (*stop)
            return finish(pl, -1);
    }
    pl->backoff_ms = BACKOFF_MIN_MS;
    for (size_t i = 0; i < pl->ntouched; i++) {
        const part_info_t *pi = &pl->parts[pl->touched[i]];
        gw_consumer_applied(pl->consumer, pl->touched[i], pi->last_offset + 1, pi->stream);
    }
    if (gw_consumer_paused(pl->consumer))
        gw_consumer_resume(pl->consumer);
    pl->batch_ok = true;
    return finish(pl, processed);
}
