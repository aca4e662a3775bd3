/*
 * gw_pipeline: the batch state machine, with two batches: one in flight in
 * Redis while the next is read and decoded, so the daemon's CPU work and
 * Redis' overlap. Invariants:
 *
 * - A Kafka message lives only while it is decoded: valid events become a
 *   compact record (offsets, times, the delta indices of their rep and
 *   team) and bad ones are dead-lettered (payload copied), so a batch of
 *   200k events holds no librdkafka memory.
 * - A message's stream time continues from the partition's stream time
 *   where the previous batch (in flight or applied) left it, or, for the
 *   first batch after an assignment, from what Redis recorded; so a retried
 *   or replayed batch computes exactly the same values.
 * - Batches are applied in the order they were read, one at a time: the
 *   next starts only after the previous one's positions are written.
 * - Positions and Kafka offsets move only after Redis acknowledged every
 *   delta of the batch and every dead-letter message was delivered.
 * - Nothing is dropped at the dead-letter topic: a message it refuses as
 *   too large (at once, or later in its delivery report) is dead-lettered
 *   again as a small record (its coordinates and SHA-256, reason
 *   too_large); when even that or any other dead-letter delivery fails,
 *   the pipeline stops (the step returns -1) before positions move.
 * - A batch is re-sent whole after any Redis failure: the apply script
 *   skips what already ran. Partitions revoked meanwhile stay in the batch:
 *   the script's offsets make applying them here and at their new owner
 *   harmless (one applies, the other skips or re-sends the rest).
 */
#include "gw_pipeline.h"

#include <openssl/evp.h>
#include <stdarg.h>
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
#define PUMP_EVERY      128  /* messages decoded between two pumps of the flight */
#define DLQ_KEY_MAX     1024 /* a refused message's key is kept up to this size */

/* A dead letter the topic refused in its delivery report, to be sent
 * again as its small replacement (from the loop, not the callback). */
typedef struct replacement_s {
    struct replacement_s *next;
    char source_topic[256];
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;
    gw_reason_t reason;
    char detail[256];
    size_t size;
    char sha256[65];
    char why[128];
    size_t key_len;
    char key[]; /* DLQ_KEY_MAX at most */
} replacement_t;

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

/* One batch: filled from Kafka, then in flight in Redis. */
typedef struct {
    gw_coalesce_t *batch;
    record_t *rec;
    size_t nrec, caprec;
    size_t nmsgs; /* messages in the batch, valid or not */
    part_info_t *parts;
    int32_t nparts;
    int32_t *touched;
    size_t ntouched;
    size_t dead_lettered;
    int64_t now_ms;
    int64_t started_ms; /* when its apply started */
} slot_t;

struct gw_pipeline_s {
    const gw_config_t *cfg;
    gw_consumer_t *consumer;
    gw_producer_t *producer;
    gw_store_t *store;
    gw_metrics_t *m;
    gw_decoder_t *dec;
    slot_t slot[2];
    int filling;      /* the slot the next step fills */
    int flight;       /* the slot being applied in Redis, -1 when none */
    bool flight_idle; /* the flight needs nothing more from Redis */
    int done;         /* the slot the last step completed, -1 when none */
    gw_coalesce_t *redo;

    rd_kafka_message_t **poll;  /* POLL_CHUNK messages at a time */
    rd_kafka_message_t **carry; /* arrived while paused; first in the next batch */
    size_t ncarry, capcarry;

    redo_spec_t *spec;
    size_t nspec, specap;

    int64_t backoff_ms;
    int64_t last_fail_log_ms;

    replacement_t *replace; /* refused in delivery reports, to send again */
    char fatal[768];        /* a dead letter that could not be written */
    /* A Redis outage does not hold the loop: the flight waits in one of
     * these states, retried from gw_pipeline_step when retry_at_ms comes,
     * with the partitions paused meanwhile. */
    enum { RETRY_NONE, RETRY_APPLY, RETRY_POSITIONS } retry;
    int64_t retry_at_ms;
    int64_t outage_mark_ms; /* outage time accounted up to here */
    int pending;            /* a filled slot waiting for the flight, -1 when none */
    bool lost;              /* Redis lost our data: apply nothing more */
    char lost_why[512];
};

static void dead_letter_delivered(void *ctx, const rd_kafka_message_t *m);

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
    pl->flight = pl->done = pl->pending = -1;
    pl->dec = gw_decoder_new(cfg);
    for (int i = 0; i < 2; i++)
        pl->slot[i].batch = gw_coalesce_new(cfg->windows, cfg->nwindows, &cfg->kinds);
    pl->redo = gw_coalesce_new(cfg->windows, cfg->nwindows, &cfg->kinds);
    pl->poll = calloc(POLL_CHUNK, sizeof(*pl->poll));
    if (!pl->dec || !pl->slot[0].batch || !pl->slot[1].batch || !pl->redo || !pl->poll) {
        gw_pipeline_free(pl);
        return NULL;
    }
    for (int i = 0; i < 3; i++)
        gw_coalesce_set_periods(i < 2 ? pl->slot[i].batch : pl->redo, cfg->calendars,
                                cfg->ncalendars, cfg->periods);
    pl->backoff_ms = BACKOFF_MIN_MS;
    if (gw_producer_set_topic_listener(producer, cfg->kafka.topic_dead_letter,
                                       dead_letter_delivered, pl) != 0) {
        gw_pipeline_free(pl);
        return NULL;
    }
    return pl;
}

void gw_pipeline_free(gw_pipeline_t *pl)
{
    if (!pl)
        return;
    if (pl->producer)
        gw_producer_set_topic_listener(pl->producer, NULL, NULL, NULL);
    while (pl->replace) {
        replacement_t *next = pl->replace->next;
        free(pl->replace);
        pl->replace = next;
    }
    for (size_t i = 0; i < pl->ncarry; i++)
        rd_kafka_message_destroy(pl->carry[i]);
    gw_decoder_free(pl->dec);
    for (int i = 0; i < 2; i++) {
        gw_coalesce_free(pl->slot[i].batch);
        free(pl->slot[i].rec);
        free(pl->slot[i].parts);
        free(pl->slot[i].touched);
    }
    gw_coalesce_free(pl->redo);
    free(pl->poll);
    free(pl->carry);
    free(pl->spec);
    free(pl);
}

const gw_coalesce_t *gw_pipeline_last_batch(const gw_pipeline_t *pl)
{
    return pl->done >= 0 ? pl->slot[pl->done].batch : NULL;
}

/* ---- partitions of the batch ------------------------------------------ */

/* The stream time partition `p` had before slot `sl`'s messages: where the
 * batch in flight left it, else as the consumer has it (what Redis
 * recorded). */
static int64_t stream_before(const gw_pipeline_t *pl, const slot_t *sl, int32_t p)
{
    if (pl->flight >= 0 && &pl->slot[pl->flight] != sl) {
        const slot_t *f = &pl->slot[pl->flight];
        if (p < f->nparts && f->parts[p].in_batch)
            return f->parts[p].stream;
    }
    const gw_partition_state_t *st = gw_consumer_partition(pl->consumer, p);
    return st ? st->stream_ms : -1;
}

/* The batch's info of partition `p`, created on first sight. NULL on OOM. */
static part_info_t *part_info(gw_pipeline_t *pl, slot_t *sl, int32_t p)
{
    if (p >= sl->nparts) {
        int32_t n = sl->nparts ? sl->nparts : 16;
        while (n <= p)
            n *= 2;
        part_info_t *np = realloc(sl->parts, (size_t)n * sizeof(*np));
        if (!np)
            return NULL;
        sl->parts = np;
        int32_t *nt = realloc(sl->touched, (size_t)n * sizeof(*nt));
        if (!nt)
            return NULL;
        sl->touched = nt;
        memset(np + sl->nparts, 0, (size_t)(n - sl->nparts) * sizeof(*np));
        sl->nparts = n;
    }
    part_info_t *pi = &sl->parts[p];
    if (!pi->in_batch) {
        pi->in_batch = true;
        pi->start_stream = pi->stream = stream_before(pl, sl, p);
        pi->last_offset = -1;
        sl->touched[sl->ntouched++] = p;
    }
    return pi;
}

static void reset_slot(slot_t *sl)
{
    for (size_t i = 0; i < sl->ntouched; i++)
        sl->parts[sl->touched[i]].in_batch = false;
    sl->ntouched = 0;
    sl->nrec = 0;
    sl->nmsgs = 0;
    sl->dead_lettered = 0;
    gw_coalesce_reset(sl->batch);
}

/* ---- decode, dead-letter, coalesce -------------------------------------- */

/* Records the first reason the pipeline cannot go on. */
static void set_fatal(gw_pipeline_t *pl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_fatal(gw_pipeline_t *pl, const char *fmt, ...)
{
    if (pl->fatal[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pl->fatal, sizeof(pl->fatal), fmt, ap);
    va_end(ap);
}

static void sha256_hex(const void *buf, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    if (EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL) != 1)
        return;
    for (unsigned i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static bool size_refusal(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE ||
           err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE;
}

/* The failure's context on a dead-lettered record: when it was refused
 * (wall clock, Unix ms; the record's timestamp stays the source's) and by
 * which consumer group, as Kafka Connect's __connect.errors.* headers say
 * (docs/wire.md). */
static void add_failure_headers(const gw_pipeline_t *pl, rd_kafka_headers_t *h)
{
    char at[24];
    snprintf(at, sizeof(at), "%lld", (long long)gw_now_ms());
    rd_kafka_header_add(h, "gw.failed_at_ms", -1, at, -1);
    rd_kafka_header_add(h, "gw.group", -1, pl->cfg->kafka.group_id, -1);
}

/* Sends the small stand-in of a message the dead-letter topic refused:
 * a JSON payload with its coordinates, size and SHA-256, the gw.* headers
 * with reason too_large (the original reason in gw.original.reason), the
 * key when small. The original headers are left out: they may be what made
 * it too large. Returns 0, or -1 with `err`. */
static int send_replacement(gw_pipeline_t *pl, const replacement_t *r, char *err, size_t errsize)
{
    char payload[1024], part[16], off[24], size[24], detail[600];
    snprintf(part, sizeof(part), "%d", r->partition);
    snprintf(off, sizeof(off), "%lld", (long long)r->offset);
    snprintf(size, sizeof(size), "%zu", r->size);
    int n = snprintf(payload, sizeof(payload),
                     "{\"gw_dead_letter\":\"too_large\",\"source_topic\":\"%s\","
                     "\"source_partition\":%d,\"source_offset\":%lld,\"original_reason\":\"%s\","
                     "\"size\":%zu,\"key_size\":%zu,\"sha256\":\"%s\"}",
                     r->source_topic, r->partition, (long long)r->offset, gw_reason_str(r->reason),
                     r->size, r->key_len, r->sha256);
    snprintf(detail, sizeof(detail),
             "%zu-byte message refused by the dead-letter topic (%s); payload replaced by its "
             "coordinates and SHA-256; original reason %s: %s",
             r->size, r->why, gw_reason_str(r->reason), r->detail);
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    rd_kafka_header_add(h, "gw.reason", -1, gw_reason_str(GW_REASON_TOO_LARGE), -1);
    rd_kafka_header_add(h, "gw.detail", -1, detail, -1);
    rd_kafka_header_add(h, "gw.source.topic", -1, r->source_topic, -1);
    rd_kafka_header_add(h, "gw.source.partition", -1, part, -1);
    rd_kafka_header_add(h, "gw.source.offset", -1, off, -1);
    rd_kafka_header_add(h, "gw.original.reason", -1, gw_reason_str(r->reason), -1);
    rd_kafka_header_add(h, "gw.original.size", -1, size, -1);
    rd_kafka_header_add(h, "gw.original.sha256", -1, r->sha256, -1);
    add_failure_headers(pl, h);
    return gw_producer_send(pl->producer, pl->cfg->kafka.topic_dead_letter,
                            r->key_len ? r->key : NULL, r->key_len, payload, (size_t)n, h,
                            r->timestamp_ms, NULL, err, errsize);
}

/* Fills a replacement (allocated with room for a small key) of a message
 * the dead-letter topic refused; NULL on OOM. */
static replacement_t *replacement_new(const char *topic, int32_t partition, int64_t offset,
                                      int64_t ts, const void *key, size_t key_len,
                                      const void *payload, size_t len, gw_reason_t reason,
                                      const char *detail, const char *why)
{
    size_t klen = key && key_len <= DLQ_KEY_MAX ? key_len : 0;
    replacement_t *r = calloc(1, sizeof(*r) + klen + 1);
    if (!r)
        return NULL;
    snprintf(r->source_topic, sizeof(r->source_topic), "%s", topic);
    r->partition = partition;
    r->offset = offset;
    r->timestamp_ms = ts;
    r->reason = reason;
    snprintf(r->detail, sizeof(r->detail), "%s", detail);
    snprintf(r->why, sizeof(r->why), "%s", why);
    r->size = len;
    sha256_hex(payload, len, r->sha256);
    r->key_len = klen;
    if (klen)
        memcpy(r->key, key, klen);
    return r;
}

/* Dead-letters `msg` as it is, or its replacement when the topic refuses
 * it as too large. Returns the reason it was recorded with, or -1 (fatal
 * set) when it could not be written at all. */
static int dead_letter(gw_pipeline_t *pl, slot_t *sl, const rd_kafka_message_t *msg,
                       gw_reason_t reason, const char *detail)
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
    add_failure_headers(pl, h);
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(msg, &tstype);
    if (ts < 0)
        ts = 0;
    char err[512];
    if (gw_producer_send(pl->producer, pl->cfg->kafka.topic_dead_letter, msg->key, msg->key_len,
                         msg->payload, msg->len, h, ts, NULL, err, sizeof(err)) == 0) {
        sl->dead_lettered++;
        return (int)reason;
    }
    rd_kafka_resp_err_t code = gw_producer_last_error(pl->producer);
    if (!size_refusal(code)) {
        set_fatal(pl, "cannot dead-letter message at %s/%d offset %lld: %s", topic, msg->partition,
                  (long long)msg->offset, err);
        return -1;
    }
    replacement_t *r =
        replacement_new(topic, msg->partition, msg->offset, ts, msg->key, msg->key_len,
                        msg->payload, msg->len, reason, detail, rd_kafka_err2str(code));
    if (!r) {
        set_fatal(pl, "out of memory dead-lettering message at %s/%d offset %lld", topic,
                  msg->partition, (long long)msg->offset);
        return -1;
    }
    int rc = send_replacement(pl, r, err, sizeof(err));
    if (rc == 0)
        gw_log_warn("dead letter too large; recorded its coordinates and hash instead",
                    "topic=%s partition=%d offset=%lld size=%zu sha256=%s err=\"%s\"", topic,
                    msg->partition, (long long)msg->offset, msg->len, r->sha256,
                    rd_kafka_err2str(code));
    else
        set_fatal(pl, "cannot dead-letter message at %s/%d offset %lld even as its %s record: %s",
                  topic, msg->partition, (long long)msg->offset, gw_reason_str(GW_REASON_TOO_LARGE),
                  err);
    free(r);
    if (rc != 0)
        return -1;
    sl->dead_lettered++;
    return GW_REASON_TOO_LARGE;
}

/* The text of header `name` of `h` into `buf`; "" when absent. */
static const char *header_text(rd_kafka_headers_t *h, const char *name, char *buf, size_t size)
{
    const void *v = NULL;
    size_t len = 0;
    buf[0] = '\0';
    if (h && rd_kafka_header_get_last(h, name, &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR && v)
        snprintf(buf, size, "%.*s", (int)len, (const char *)v);
    return buf;
}

/* Delivery report of a dead letter (the producer routes them here, on the
 * loop's thread): a refusal as too large queues its replacement; any other
 * failure, or a refused replacement, stops the pipeline. */
static void dead_letter_delivered(void *ctx, const rd_kafka_message_t *m)
{
    gw_pipeline_t *pl = ctx;
    if (!m->err)
        return;
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        h = NULL;
    char reason_s[64], topic[256], part[16], off[24], detail[256];
    header_text(h, "gw.reason", reason_s, sizeof(reason_s));
    header_text(h, "gw.source.topic", topic, sizeof(topic));
    header_text(h, "gw.source.partition", part, sizeof(part));
    header_text(h, "gw.source.offset", off, sizeof(off));
    header_text(h, "gw.detail", detail, sizeof(detail));
    gw_reason_t reason = GW_REASON_DECODE;
    for (int r = 1; r < GW_REASON_COUNT; r++)
        if (!strcmp(reason_s, gw_reason_str((gw_reason_t)r)))
            reason = (gw_reason_t)r;
    if (!size_refusal(m->err) || reason == GW_REASON_TOO_LARGE) {
        set_fatal(pl, "dead-letter delivery of message at %s/%s offset %s failed: %s", topic, part,
                  off, rd_kafka_err2str(m->err));
        return;
    }
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    replacement_t *r =
        replacement_new(topic, (int32_t)atoi(part), atoll(off), ts > 0 ? ts : 0, m->key, m->key_len,
                        m->payload, m->len, reason, detail, rd_kafka_err2str(m->err));
    if (!r) {
        set_fatal(pl, "out of memory dead-lettering message at %s/%s offset %s", topic, part, off);
        return;
    }
    pl->m->dead_lettered[reason]--;
    pl->m->dead_lettered[GW_REASON_TOO_LARGE]++;
    r->next = pl->replace;
    pl->replace = r;
}

/* Sends the replacements queued by delivery reports. */
static void send_replacements(gw_pipeline_t *pl)
{
    while (pl->replace) {
        replacement_t *r = pl->replace;
        pl->replace = r->next;
        char err[512];
        if (send_replacement(pl, r, err, sizeof(err)) != 0)
            set_fatal(pl,
                      "cannot dead-letter message at %s/%d offset %lld even as its %s record: %s",
                      r->source_topic, r->partition, (long long)r->offset,
                      gw_reason_str(GW_REASON_TOO_LARGE), err);
        else
            gw_log_warn("dead letter too large; recorded its coordinates and hash instead",
                        "topic=%s partition=%d offset=%lld size=%zu sha256=%s err=\"%s\"",
                        r->source_topic, r->partition, (long long)r->offset, r->size, r->sha256,
                        r->why);
        free(r);
    }
}

/* Decodes one message into slot `sl` and destroys it. Returns -1 on OOM or
 * when a dead letter could not be written (pl->fatal says why). */
static int take(gw_pipeline_t *pl, slot_t *sl, rd_kafka_message_t *msg)
{
    gw_event_t ev;
    char detail[512];
    int rc = 0;
    part_info_t *pi = part_info(pl, sl, msg->partition);
    if (!pi) {
        rd_kafka_message_destroy(msg);
        return -1;
    }
    if (msg->offset > pi->last_offset)
        pi->last_offset = msg->offset;
    sl->nmsgs++;
    gw_reason_t r =
        gw_decoder_decode(pl->dec, msg->payload, msg->len, sl->now_ms, &ev, detail, sizeof(detail));
    if (r != GW_REASON_OK) {
        int written = dead_letter(pl, sl, msg, r, detail);
        if (written < 0) {
            rd_kafka_message_destroy(msg);
            return -1;
        }
        pl->m->dead_lettered[written]++;
    } else if (ev.avail != GW_AVAIL_NONE) {
        /* Never counted and never a clock: planned time off lies ahead. */
        if (gw_coalesce_add_record(sl->batch, &ev, msg->partition) != 0)
            rc = -1;
        else
            pl->m->availability_records++;
    } else {
        if (ev.occurred_at_ms > pi->stream)
            pi->stream = ev.occurred_at_ms;
        if (sl->nrec == sl->caprec) {
            size_t ncap = sl->caprec ? sl->caprec * 2 : 4096;
            record_t *nr = realloc(sl->rec, ncap * sizeof(*nr));
            if (!nr) {
                rd_kafka_message_destroy(msg);
                return -1;
            }
            sl->rec = nr;
            sl->caprec = ncap;
        }
        if (gw_coalesce_add(sl->batch, &ev, msg->partition, msg->offset, pi->stream) != 0) {
            rc = -1;
        } else {
            record_t *rec = &sl->rec[sl->nrec++];
            int rep, team;
            gw_coalesce_last(sl->batch, &rep, &team);
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
static void record_event(const slot_t *sl, const record_t *r, gw_event_t *ev)
{
    const gw_delta_t *rep = gw_coalesce_delta(sl->batch, (size_t)r->rep);
    const gw_delta_t *team = gw_coalesce_delta(sl->batch, (size_t)r->team);
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

static int build_redo(gw_pipeline_t *pl, const slot_t *sl)
{
    gw_coalesce_reset(pl->redo);
    gw_event_t ev;
    for (size_t i = 0; i < sl->nrec; i++) {
        const record_t *r = &sl->rec[i];
        const gw_delta_t *rep = gw_coalesce_delta(sl->batch, (size_t)r->rep);
        const gw_delta_t *team = gw_coalesce_delta(sl->batch, (size_t)r->team);
        bool want_rep =
            spec_wants(pl, GW_ENTITY_REP, rep->tenant, rep->id, r->partition, r->offset);
        bool want_team =
            spec_wants(pl, GW_ENTITY_TEAM, team->tenant, team->id, r->partition, r->offset);
        if (!want_rep && !want_team)
            continue;
        record_event(sl, r, &ev);
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

/* Re-sends straddling entities (res: the answer of applying `sl`'s batch)
 * until none is left. */
static int redo_rounds(gw_pipeline_t *pl, const slot_t *sl, gw_apply_result_t *res, char *err,
                       size_t errsize)
{
    const gw_coalesce_t *from = sl->batch;
    for (int round = 0; res->redo > 0; round++) {
        if (round == REDO_ROUNDS_MAX) {
            snprintf(err, errsize,
                     "offsets of %zu entities kept moving while re-sending; is another "
                     "instance consuming the same partitions with another group?",
                     res->redo);
            return GW_STORE_ERROR;
        }
        gw_log_info("re-sending entities whose offsets straddle the batch", "entities=%zu",
                    res->redo);
        pl->m->deltas_redone += res->redo;
        if (collect_spec(pl, from, res) != 0 || build_redo(pl, sl) != 0) {
            snprintf(err, errsize, "out of memory while re-sending");
            return GW_STORE_ERROR;
        }
        int64_t t0 = gw_mono_ms();
        int rc =
            gw_store_apply(pl->store, pl->redo, pl->cfg->kafka.topic_events, res, err, errsize);
        if (rc != GW_STORE_OK)
            return rc;
        count_result(pl, res, t0);
        from = pl->redo;
    }
    return GW_STORE_OK;
}

/* Applies slot `sl`'s batch from the start, blocking (after a failure). */
static int apply_again(gw_pipeline_t *pl, const slot_t *sl, char *err, size_t errsize)
{
    gw_apply_result_t res;
    int64_t t0 = gw_mono_ms();
    int rc = gw_store_apply(pl->store, sl->batch, pl->cfg->kafka.topic_events, &res, err, errsize);
    if (rc != GW_STORE_OK)
        return rc;
    count_result(pl, &res, t0);
    return redo_rounds(pl, sl, &res, err, errsize);
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

static void log_failure(gw_pipeline_t *pl, const char *what, const char *err)
{
    pl->m->redis_failures++;
    int64_t now = gw_mono_ms();
    if (now - pl->last_fail_log_ms >= 10000) {
        pl->last_fail_log_ms = now;
        gw_log_warn(what, "err=\"%s\" retry_in_ms=%lld", err, (long long)pl->backoff_ms);
    }
}

/* Waits until every dead-letter message is delivered (refused ones sent
 * again as their replacement). Returns -1 if stopped first, -2 when a dead
 * letter could not be written (pl->fatal). */
static int wait_dead_letters(gw_pipeline_t *pl, volatile sig_atomic_t *stop)
{
    int64_t start = gw_mono_ms();
    int64_t last_log = start;
    while (gw_producer_in_flight(pl->producer) > 0 || pl->replace) {
        send_replacements(pl);
        if (pl->fatal[0])
            return -2;
        gw_producer_flush(pl->producer, 100);
        send_replacements(pl);
        if (pl->fatal[0])
            return -2;
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
    return pl->fatal[0] ? -2 : 0;
}

/* ---- the step --------------------------------------------------------- */

static int write_positions(gw_pipeline_t *pl, const slot_t *sl, char *err, size_t errsize)
{
    gw_position_t pos[64];
    size_t n = 0;
    for (size_t i = 0; i < sl->ntouched; i++) {
        const part_info_t *pi = &sl->parts[sl->touched[i]];
        pos[n].partition = sl->touched[i];
        pos[n].next_offset = pi->last_offset + 1;
        pos[n].stream_ms = pi->stream;
        if (++n == sizeof(pos) / sizeof(pos[0]) || i + 1 == sl->ntouched) {
            int rc = gw_store_positions_write(pl->store, pl->cfg->kafka.topic_events, pos, n, err,
                                              errsize);
            if (rc != GW_STORE_OK)
                return rc;
            n = 0;
        }
    }
    return GW_STORE_OK;
}

/* Moves the batch in flight on, if any; true when it needs nothing more
 * from Redis (or there is none). */
static bool pump_flight(gw_pipeline_t *pl)
{
    if (pl->flight >= 0 && !pl->flight_idle)
        pl->flight_idle = gw_store_apply_pump(pl->store);
    return pl->flight < 0 || pl->flight_idle;
}

/*
 * Fills slot `sl`: held messages first, then polled ones.
 *
 * With no batch in flight: until it is full or no message came for
 * batch_max_wait after the first of a poll; when empty, waiting up to
 * `wait_ms` for a first one. With a batch in flight: keeps that moving and
 * fills until the flight needs Redis no more, then returns at once, so
 * Redis never waits for the daemon and the flight's results are recorded
 * without delay. Batches thus size themselves: small when Redis keeps up
 * (low latency), up to batch_max_messages when it does not (more
 * coalescing, fewer Redis calls per event), or batch_max_entities: when
 * most entities are distinct, a bigger batch coalesces little and only
 * costs memory.
 */
static int fill(gw_pipeline_t *pl, slot_t *sl, int wait_ms)
{
    size_t max = (size_t)pl->cfg->consumer.batch_max_messages;
    int64_t batch_wait = pl->cfg->consumer.batch_max_wait_ms;
    /* take() destroys the message it is given, even when it fails: the
     * rest are destroyed here, so that none is destroyed twice later */
    size_t ncarry = pl->ncarry;
    pl->ncarry = 0;
    for (size_t i = 0; i < ncarry; i++)
        if (take(pl, sl, pl->carry[i]) != 0) {
            for (size_t k = i + 1; k < ncarry; k++)
                rd_kafka_message_destroy(pl->carry[k]);
            return -1;
        }
    int64_t first_until = gw_mono_ms() + wait_ms;
    int64_t deadline = -1;
    size_t max_entities = (size_t)pl->cfg->consumer.batch_max_entities;
    /* A message adds at most two entities (its rep and its team). */
    while (sl->nmsgs < max && gw_coalesce_count(sl->batch) + 2 <= max_entities) {
        bool idle = pump_flight(pl);
        bool flying = pl->flight >= 0 && !idle;
        if (pl->flight >= 0 && idle)
            break;
        int64_t now = gw_mono_ms();
        int poll_wait;
        int64_t fill_ms;
        if (flying) {
            poll_wait = 1;
            fill_ms = 0;
        } else if (sl->nmsgs == 0) {
            if (now >= first_until)
                break;
            poll_wait = (int)(first_until - now);
            fill_ms = batch_wait;
        } else {
            poll_wait = 0;
            fill_ms = deadline > now ? deadline - now : 0;
        }
        size_t room = max - sl->nmsgs < POLL_CHUNK ? max - sl->nmsgs : POLL_CHUNK;
        /* never past batch_max_entities: it bounds the coalescer's tables */
        size_t entity_room = (max_entities - gw_coalesce_count(sl->batch)) / 2;
        if (room > entity_room)
            room = entity_room;
        size_t got = gw_consumer_poll(pl->consumer, pl->poll, room, poll_wait, fill_ms);
        if (got > 0 && deadline < 0)
            deadline = gw_mono_ms() + batch_wait;
        for (size_t i = 0; i < got; i++) {
            if (take(pl, sl, pl->poll[i]) != 0) {
                for (size_t k = i + 1; k < got; k++)
                    rd_kafka_message_destroy(pl->poll[k]);
                return -1;
            }
            /* Often enough that Redis never drains what was sent. */
            if (flying && i % PUMP_EVERY == PUMP_EVERY - 1)
                pump_flight(pl);
        }
        /* Nothing more came within the batch's wait: close it. */
        if (!flying && got == 0 && sl->nmsgs > 0)
            break;
    }
    /* the events' cells, times and parts, before anything reads them */
    return gw_coalesce_seal(sl->batch);
}

static void start_flight(gw_pipeline_t *pl, int index)
{
    slot_t *sl = &pl->slot[index];
    pl->m->consumed += sl->nmsgs;
    pl->m->batches++;
    pl->m->batch_size_sum += sl->nmsgs;
    gw_metrics_observe(pl->m->batch_size_le, gw_metrics_batch_bounds, GW_BATCH_BUCKETS,
                       (double)sl->nmsgs);
    for (int w = 0; w < pl->cfg->nwindows; w++)
        pl->m->late[w] += gw_coalesce_late(sl->batch, w);
    char err[512];
    sl->started_ms = gw_mono_ms();
    /* A failure here is reported again by finish, and retried there. */
    gw_store_apply_start(pl->store, sl->batch, pl->cfg->kafka.topic_events, err, sizeof(err));
    pl->flight = index;
    pl->flight_idle = false;
}

/* Redis lost our data (GW_STORE_LOST): nothing more is applied. The
 * consumer stays paused but polled, so the group keeps the member. */
static void mark_lost(gw_pipeline_t *pl, const char *why)
{
    if (!pl->lost)
        snprintf(pl->lost_why, sizeof(pl->lost_why), "%s", why);
    pl->lost = true;
    pl->retry = RETRY_NONE;
    gw_consumer_pause(pl->consumer);
}

/* A failed attempt: pause, schedule the next one with backoff. */
static void schedule_retry(gw_pipeline_t *pl, int what, const char *msg, const char *err, int rc)
{
    if (rc == GW_STORE_LOST) {
        mark_lost(pl, err);
        return;
    }
    log_failure(pl, msg, err);
    if (pl->retry == RETRY_NONE)
        pl->outage_mark_ms = gw_mono_ms();
    pl->retry = what;
    pl->m->redis_stalled_batches = 1 + (pl->pending >= 0);
    gw_consumer_pause(pl->consumer);
    pl->retry_at_ms = gw_mono_ms() + pl->backoff_ms;
    pl->backoff_ms *= 2;
    if (pl->backoff_ms > BACKOFF_MAX_MS)
        pl->backoff_ms = BACKOFF_MAX_MS;
}

/* Outage time, for gapwatch_redis_outage_seconds_total. */
static void account_outage(gw_pipeline_t *pl)
{
    if (pl->retry == RETRY_NONE)
        return;
    int64_t now = gw_mono_ms();
    pl->m->redis_outage_ms += (uint64_t)(now - pl->outage_mark_ms);
    pl->outage_mark_ms = now;
}

/* The rest of a flight Redis took: dead letters, positions, offsets.
 * Returns its message count, 0 when it now waits for a retry, -1 when
 * stopped. */
static long complete_flight(gw_pipeline_t *pl, volatile sig_atomic_t *stop)
{
    slot_t *sl = &pl->slot[pl->flight];
    char err[512];
    /* Dead letters are awaited once Redis took the batch (positions
     * retried after that have awaited them already). */
    if (pl->retry != RETRY_POSITIONS && (sl->dead_lettered || pl->replace || pl->fatal[0])) {
        int drc = wait_dead_letters(pl, stop);
        if (drc == -2)
            gw_log_error("a dead letter could not be written; stopping before its offset moves",
                         "err=\"%s\"", pl->fatal);
        if (drc != 0)
            return -1;
    }
    int rc = write_positions(pl, sl, err, sizeof(err));
    if (rc != GW_STORE_OK) {
        schedule_retry(pl, RETRY_POSITIONS, "cannot record positions in redis; retrying", err, rc);
        return 0;
    }
    account_outage(pl);
    if (pl->retry != RETRY_NONE)
        gw_log_info("redis is back; batch applied", "messages=%zu", sl->nmsgs);
    pl->retry = RETRY_NONE;
    pl->m->redis_stalled_batches = 0;
    pl->backoff_ms = BACKOFF_MIN_MS;
    for (size_t i = 0; i < sl->ntouched; i++) {
        const part_info_t *pi = &sl->parts[sl->touched[i]];
        gw_consumer_applied(pl->consumer, sl->touched[i], pi->last_offset + 1, pi->stream);
    }
    if (gw_consumer_paused(pl->consumer))
        gw_consumer_resume(pl->consumer);
    pl->done = pl->flight;
    pl->flight = -1;
    return (long)sl->nmsgs;
}

/* Completes the batch in flight: its replies, straddling entities, then
 * complete_flight. On a Redis failure the flight waits for a retry from a
 * later step (0 returned): the loop keeps turning during an outage. */
static long finish_flight(gw_pipeline_t *pl, volatile sig_atomic_t *stop)
{
    slot_t *sl = &pl->slot[pl->flight];
    char err[512];
    gw_apply_result_t res;
    int rc = gw_store_apply_finish(pl->store, &res, err, sizeof(err));
    gw_log_debug("batch applied", "messages=%zu entities=%zu apply_ms=%lld", sl->nmsgs,
                 gw_coalesce_count(sl->batch), (long long)(gw_mono_ms() - sl->started_ms));
    if (rc == GW_STORE_OK) {
        count_result(pl, &res, sl->started_ms);
        rc = redo_rounds(pl, sl, &res, err, sizeof(err));
    }
    if (rc != GW_STORE_OK) {
        schedule_retry(pl, RETRY_APPLY, "cannot apply batch to redis; retrying", err, rc);
        return 0;
    }
    return complete_flight(pl, stop);
}

/* One retry of the waiting flight, if its time came (or `force`); else
 * keeps the group membership alive for up to `wait_ms`. */
static long retry_flight(gw_pipeline_t *pl, int wait_ms, bool force, volatile sig_atomic_t *stop)
{
    if (force)
        pl->retry_at_ms = gw_mono_ms();
    int64_t until = gw_mono_ms() + wait_ms;
    if (until > pl->retry_at_ms)
        until = pl->retry_at_ms;
    do {
        int64_t left = until - gw_mono_ms();
        hold(pl, gw_consumer_poll(pl->consumer, pl->poll, POLL_CHUNK,
                                  left > 50 ? 50 : (left > 0 ? (int)left : 0), 0));
        gw_producer_poll(pl->producer, 0);
    } while (!*stop && gw_mono_ms() < until);
    account_outage(pl);
    if (!force && (*stop || gw_mono_ms() < pl->retry_at_ms))
        return 0;
    char err[512];
    if (pl->retry == RETRY_APPLY) {
        int rc = apply_again(pl, &pl->slot[pl->flight], err, sizeof(err));
        if (rc != GW_STORE_OK) {
            schedule_retry(pl, RETRY_APPLY, "cannot apply batch to redis; retrying", err, rc);
            return 0;
        }
    }
    return complete_flight(pl, stop);
}

/* Messages that came while halted are never applied by this process. */
static void drop_held(gw_pipeline_t *pl)
{
    for (size_t i = 0; i < pl->ncarry; i++)
        rd_kafka_message_destroy(pl->carry[i]);
    pl->ncarry = 0;
}

long gw_pipeline_step(gw_pipeline_t *pl, int wait_ms, volatile sig_atomic_t *stop)
{
    pl->done = -1;
    if (pl->lost) {
        gw_consumer_pause(pl->consumer);
        size_t got = gw_consumer_poll(pl->consumer, pl->poll, POLL_CHUNK, wait_ms, 0);
        for (size_t i = 0; i < got; i++)
            rd_kafka_message_destroy(pl->poll[i]);
        drop_held(pl);
        return 0;
    }
    long processed = 0;
    if (pl->retry != RETRY_NONE) {
        processed = retry_flight(pl, wait_ms, false, stop);
        if (processed < 0 || pl->flight >= 0)
            return processed < 0 ? -1 : 0;
        /* The flight is done: the batch filled meanwhile goes next. */
        if (pl->pending >= 0) {
            start_flight(pl, pl->pending);
            pl->filling = pl->pending ^ 1;
            pl->pending = -1;
        }
        return processed;
    }
    int index = pl->filling;
    slot_t *sl = &pl->slot[index];
    reset_slot(sl);
    sl->now_ms = gw_now_ms();
    if (fill(pl, sl, wait_ms) != 0) {
        if (pl->fatal[0])
            gw_log_error("a dead letter could not be written; stopping before its offset moves",
                         "err=\"%s\"", pl->fatal);
        else
            gw_log_error("out of memory building a batch", "messages=%zu", sl->nmsgs);
        return -1;
    }
    if (pl->flight >= 0) {
        processed = finish_flight(pl, stop);
        if (processed < 0)
            return -1;
        if (pl->flight >= 0 || pl->lost) {
            /* Waiting out an outage (or halted): keep what was filled. */
            if (sl->nmsgs > 0 && !pl->lost) {
                pl->pending = index;
                pl->m->redis_stalled_batches = 2;
            }
            return 0;
        }
    }
    if (sl->nmsgs > 0) {
        start_flight(pl, index);
        pl->filling = index ^ 1;
    }
    if (pl->flight < 0 && gw_consumer_paused(pl->consumer))
        gw_consumer_resume(pl->consumer);
    return processed;
}

long gw_pipeline_drain(gw_pipeline_t *pl, volatile sig_atomic_t *stop)
{
    pl->done = -1;
    if (pl->flight < 0 || pl->lost)
        return 0;
    /* One attempt: if Redis does not take the batch now, it is not
     * recorded as done and is consumed again at the next start. */
    long n = pl->retry == RETRY_NONE ? finish_flight(pl, stop) : retry_flight(pl, 0, true, stop);
    if (n < 0 || pl->flight >= 0)
        return -1;
    return n;
}

bool gw_pipeline_data_lost(const gw_pipeline_t *pl, const char **why)
{
    if (why)
        *why = pl->lost_why;
    return pl->lost;
}

void gw_pipeline_halt(gw_pipeline_t *pl, const char *why)
{
    mark_lost(pl, why);
}

bool gw_pipeline_applied_all(const gw_pipeline_t *pl)
{
    return pl->flight < 0 && pl->pending < 0 && pl->ncarry == 0 && pl->retry == RETRY_NONE;
}

bool gw_pipeline_stalled(const gw_pipeline_t *pl)
{
    return pl->retry != RETRY_NONE;
}
