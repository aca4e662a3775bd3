/*
 * gw_pipeline: the batch state machine. Invariants:
 *
 * - A Kafka message lives only while it is decoded: valid events become a
 *   compact record (offsets, times, the delta indices of their rep and
 *   team) and bad ones are dead-lettered (payload copied), so a batch of
 *   200k events holds no librdkafka memory.
 * - A message's stream time is computed from the partition's stream time at
 *   the start of the batch (restored from Redis at assignment), so a retried
 *   batch computes exactly the same values.
 * - Positions and Kafka offsets move only after Redis acknowledged every
 *   delta of the batch and every dead-letter message was delivered.
 * - A batch is re-sent whole after any Redis failure: the apply script
 *   skips what already ran. Partitions revoked meanwhile stay in the batch:
 *   the script's offsets make applying them here and at their new owner
 *   harmless (one applies, the other skips or re-sends the rest).
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
#define POLL_CHUNK      1024

typedef struct {
    bool in_batch;
    int64_t start_stream;
    int64_t stream;
    int64_t last_offset;
} part_info_t;

/* A valid event of the batch, as much as a re-send needs. */
typedef struct {
    int64_t offset;
    int64_t stream_ms;
    int64_t occurred_at_ms;
    int64_t amount_minor;
    int32_t partition;
    int32_t rep;  /* delta index of its rep */
    int32_t team; /* delta index of its team */
    int16_t kind;
    uint8_t goal, next_step;
} record_t;

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

    rd_kafka_message_t **poll; /* POLL_CHUNK messages at a time */
    record_t *rec;
    size_t nrec, caprec;
    size_t nmsgs;               /* messages in the batch, valid or not */
    rd_kafka_message_t **carry; /* arrived while paused; first in the next batch */
    size_t ncarry, capcarry;

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
    pl->dec = gw_decoder_new(cfg);
    pl->batch = gw_coalesce_new(cfg->windows, cfg->nwindows, &cfg->kinds);
    pl->redo = gw_coalesce_new(cfg->windows, cfg->nwindows, &cfg->kinds);
    pl->poll = calloc(POLL_CHUNK, sizeof(*pl->poll));
    if (!pl->dec || !pl->batch || !pl->redo || !pl->poll) {
        gw_pipeline_free(pl);
        return NULL;
    }
    pl->backoff_ms = BACKOFF_MIN_MS;
    return pl;
}

void gw_pipeline_free(gw_pipeline_t *pl)
{
    if (!pl)
        return;
    for (size_t i = 0; i < pl->ncarry; i++)
        rd_kafka_message_destroy(pl->carry[i]);
    gw_decoder_free(pl->dec);
    gw_coalesce_free(pl->batch);
    gw_coalesce_free(pl->redo);
    free(pl->poll);
    free(pl->rec);
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

/* The batch's info of partition `p`, created on first sight with the
 * partition's stream time as the consumer has it. NULL on OOM. */
static part_info_t *part_info(gw_pipeline_t *pl, int32_t p)
{
    if (p >= pl->nparts) {
        int32_t n = pl->nparts ? pl->nparts : 16;
        while (n <= p)
            n *= 2;
        part_info_t *np = realloc(pl->parts, (size_t)n * sizeof(*np));
        if (!np)
            return NULL;
        pl->parts = np;
        int32_t *nt = realloc(pl->touched, (size_t)n * sizeof(*nt));
        if (!nt)
            return NULL;
        pl->touched = nt;
        memset(np + pl->nparts, 0, (size_t)(n - pl->nparts) * sizeof(*np));
        pl->nparts = n;
    }
    part_info_t *pi = &pl->parts[p];
    if (!pi->in_batch) {
        const gw_partition_state_t *st = gw_consumer_partition(pl->consumer, p);
        pi->in_batch = true;
        pi->start_stream = pi->stream = st ? st->stream_ms : -1;
        pi->last_offset = -1;
        pl->touched[pl->ntouched++] = p;
    }
    return pi;
}

static void reset_batch(gw_pipeline_t *pl)
{
    for (size_t i = 0; i < pl->ntouched; i++)
        pl->parts[pl->touched[i]].in_batch = false;
    pl->ntouched = 0;
    pl->nrec = 0;
    pl->nmsgs = 0;
    pl->dead_lettered = 0;
    gw_coalesce_reset(pl->batch);
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

/* Decodes one message into the batch and destroys it. Returns -1 on OOM. */
static int take(gw_pipeline_t *pl, rd_kafka_message_t *msg)
{
    gw_event_t ev;
    char detail[512];
    int rc = 0;
    part_info_t *pi = part_info(pl, msg->partition);
    if (!pi) {
        rd_kafka_message_destroy(msg);
        return -1;
    }
    if (msg->offset > pi->last_offset)
        pi->last_offset = msg->offset;
    pl->nmsgs++;
    gw_reason_t r =
        gw_decoder_decode(pl->dec, msg->payload, msg->len, pl->now_ms, &ev, detail, sizeof(detail));
    if (r != GW_REASON_OK) {
        pl->m->dead_lettered[r]++;
        dead_letter(pl, msg, r, detail);
    } else {
        if (ev.occurred_at_ms > pi->stream)
            pi->stream = ev.occurred_at_ms;
        if (pl->nrec == pl->caprec) {
            size_t ncap = pl->caprec ? pl->caprec * 2 : 4096;
            record_t *nr = realloc(pl->rec, ncap * sizeof(*nr));
            if (!nr) {
                rd_kafka_message_destroy(msg);
                return -1;
            }
            pl->rec = nr;
            pl->caprec = ncap;
        }
        if (gw_coalesce_add(pl->batch, &ev, msg->partition, msg->offset, pi->stream) != 0) {
            rc = -1;
        } else {
            record_t *rec = &pl->rec[pl->nrec++];
            int rep, team;
            gw_coalesce_last(pl->batch, &rep, &team);
            rec->offset = msg->offset;
            rec->stream_ms = pi->stream;
            rec->occurred_at_ms = ev.occurred_at_ms;
            rec->amount_minor = ev.amount_minor;
            rec->partition = msg->partition;
            rec->rep = rep;
            rec->team = team;
            rec->kind = (int16_t)ev.kind;
            rec->goal = ev.has_goal;
            rec->next_step = ev.has_next_step;
            pl->m->valid++;
        }
    }
    rd_kafka_message_destroy(msg);
    return rc;
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

/* The event of a record, from the batch's deltas. */
static void record_event(const gw_pipeline_t *pl, const record_t *r, gw_event_t *ev)
{
    const gw_delta_t *rep = gw_coalesce_delta(pl->batch, (size_t)r->rep);
    const gw_delta_t *team = gw_coalesce_delta(pl->batch, (size_t)r->team);
    memset(ev, 0, sizeof(*ev));
    snprintf(ev->tenant, sizeof(ev->tenant), "%s", rep->tenant);
    snprintf(ev->rep, sizeof(ev->rep), "%s", rep->id);
    snprintf(ev->team, sizeof(ev->team), "%s", team->id);
    ev->occurred_at_ms = r->occurred_at_ms;
    ev->kind = r->kind;
    ev->amount_minor = r->amount_minor;
    ev->has_goal = r->goal;
    ev->has_next_step = r->next_step;
}

static int build_redo(gw_pipeline_t *pl)
{
    gw_coalesce_reset(pl->redo);
    gw_event_t ev;
    for (size_t i = 0; i < pl->nrec; i++) {
        const record_t *r = &pl->rec[i];
        const gw_delta_t *rep = gw_coalesce_delta(pl->batch, (size_t)r->rep);
        const gw_delta_t *team = gw_coalesce_delta(pl->batch, (size_t)r->team);
        bool want_rep =
            spec_wants(pl, GW_ENTITY_REP, rep->tenant, rep->id, r->partition, r->offset);
        bool want_team =
            spec_wants(pl, GW_ENTITY_TEAM, team->tenant, team->id, r->partition, r->offset);
        if (!want_rep && !want_team)
            continue;
        record_event(pl, r, &ev);
        if (want_rep && gw_coalesce_add_one(pl->redo, &ev, GW_ENTITY_REP, r->partition, r->offset,
                                            r->stream_ms) != 0)
            return -1;
        if (want_team && gw_coalesce_add_one(pl->redo, &ev, GW_ENTITY_TEAM, r->partition, r->offset,
                                             r->stream_ms) != 0)
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

/* Keeps messages that arrive while the batch in hand waits: they start the
 * next batch. */
static void hold(gw_pipeline_t *pl, size_t got)
{
    for (size_t i = 0; i < got; i++) {
        if (pl->ncarry == pl->capcarry) {
            size_t ncap = pl->capcarry ? pl->capcarry * 2 : 256;
            rd_kafka_message_t **n = realloc(pl->carry, ncap * sizeof(*n));
            if (!n) {
                /* Cannot happen in practice (paused partitions deliver
                 * nothing); dropping would lose data, so abort loudly. */
                gw_log_error("out of memory holding messages during an outage", NULL);
                abort();
            }
            pl->carry = n;
            pl->capcarry = ncap;
        }
        pl->carry[pl->ncarry++] = pl->poll[i];
    }
}

/* Pauses consumption and waits `backoff` while keeping the group
 * membership alive. */
static void wait_out(gw_pipeline_t *pl, volatile sig_atomic_t *stop)
{
    gw_consumer_pause(pl->consumer);
    int64_t until = gw_mono_ms() + pl->backoff_ms;
    while (!*stop && gw_mono_ms() < until) {
        hold(pl, gw_consumer_poll(pl->consumer, pl->poll, POLL_CHUNK, 50, 0));
        gw_producer_poll(pl->producer, 0);
    }
    pl->backoff_ms *= 2;
    if (pl->backoff_ms > BACKOFF_MAX_MS)
        pl->backoff_ms = BACKOFF_MAX_MS;
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
            hold(pl, gw_consumer_poll(pl->consumer, pl->poll, POLL_CHUNK, 0, 0));
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

/* Fills the batch: held messages first, then polled ones, until it is full
 * or batch_max_wait has passed since its first message. */
static int fill(gw_pipeline_t *pl, int wait_ms)
{
    size_t max = (size_t)pl->cfg->consumer.batch_max_messages;
    for (size_t i = 0; i < pl->ncarry; i++)
        if (take(pl, pl->carry[i]) != 0)
            return -1;
    pl->ncarry = 0;
    /* While messages keep coming the batch grows up to its maximum; when
     * they pause, it waits batch_max_wait after its first message at most. */
    int64_t deadline = pl->nmsgs ? gw_mono_ms() + pl->cfg->consumer.batch_max_wait_ms : -1;
    while (pl->nmsgs < max) {
        size_t room = max - pl->nmsgs < POLL_CHUNK ? max - pl->nmsgs : POLL_CHUNK;
        int64_t left = deadline < 0 ? pl->cfg->consumer.batch_max_wait_ms : deadline - gw_mono_ms();
        size_t got = gw_consumer_poll(pl->consumer, pl->poll, room, deadline < 0 ? wait_ms : 0,
                                      left > 0 ? left : 0);
        if (got == 0)
            break;
        if (deadline < 0)
            deadline = gw_mono_ms() + pl->cfg->consumer.batch_max_wait_ms;
        for (size_t i = 0; i < got; i++) {
            if (take(pl, pl->poll[i]) != 0) {
                for (size_t k = i + 1; k < got; k++)
                    rd_kafka_message_destroy(pl->poll[k]);
                return -1;
            }
        }
    }
    return 0;
}

long gw_pipeline_step(gw_pipeline_t *pl, int wait_ms, volatile sig_atomic_t *stop)
{
    pl->batch_ok = false;
    reset_batch(pl);
    pl->now_ms = gw_now_ms();
    if (fill(pl, wait_ms) != 0) {
        gw_log_error("out of memory building a batch", "messages=%zu", pl->nmsgs);
        return -1;
    }
    if (pl->nmsgs == 0) {
        if (gw_consumer_paused(pl->consumer))
            gw_consumer_resume(pl->consumer);
        return 0;
    }
    long processed = (long)pl->nmsgs;
    pl->m->consumed += pl->nmsgs;
    pl->m->batches++;
    pl->m->batch_size_sum += pl->nmsgs;
    gw_metrics_observe(pl->m->batch_size_le, gw_metrics_batch_bounds, GW_BATCH_BUCKETS,
                       (double)pl->nmsgs);
    for (int w = 0; w < pl->cfg->nwindows; w++)
        pl->m->late[w] += gw_coalesce_late(pl->batch, w);

    char err[512];
    for (;;) {
        int rc = apply(pl, err, sizeof(err));
        if (rc == GW_STORE_OK)
            break;
        log_failure(pl, "cannot apply batch to redis; retrying", err);
        wait_out(pl, stop);
        if (*stop)
            return -1;
    }
    if (pl->dead_lettered && wait_dead_letters(pl, stop) != 0)
        return -1;
    for (;;) {
        int rc = write_positions(pl, err, sizeof(err));
        if (rc == GW_STORE_OK)
            break;
        log_failure(pl, "cannot record positions in redis; retrying", err);
        wait_out(pl, stop);
        if (*stop)
            return -1;
    }
    pl->backoff_ms = BACKOFF_MIN_MS;
    for (size_t i = 0; i < pl->ntouched; i++) {
        const part_info_t *pi = &pl->parts[pl->touched[i]];
        gw_consumer_applied(pl->consumer, pl->touched[i], pi->last_offset + 1, pi->stream);
    }
    if (gw_consumer_paused(pl->consumer))
        gw_consumer_resume(pl->consumer);
    pl->batch_ok = true;
    return processed;
}
