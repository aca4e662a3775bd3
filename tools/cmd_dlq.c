/*
 * gapwatch dlq: the dead-letter topic for people. Lists the records
 * gapwatchd dead-lettered (reason, detail, source coordinates, failure
 * time, consumer group: the gw.* headers), filtered by reason, failure time
 * or offset, and replays the chosen ones to the event topic, as they are or
 * fixed:
 *
 *   gapwatch dlq -b K --reason invalid_currency --json > fix.jsonl
 *   (edit the "event" of each line)
 *   gapwatch dlq -b K --replay --fix fix.jsonl
 *
 * The topic is read from its low to its high watermark as they are at the
 * start (assign, no group, nothing committed), so a listing ends. A replayed
 * record is checked with gapwatchd's rules first (as `produce` does) and
 * goes to its source topic keyed by its rep, with the original headers
 * (minus gw.*) and gw.replay.dlq naming the record it replays.
 */
#define _XOPEN_SOURCE 700 /* strptime */
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "gapwatch/v1/event.pb-c.h"
#include "gw_decode.h"
#include "gw_pbjson.h"
#include "gw_time.h"

#define DLQ_MAX_REASONS 16

/* One dead-lettered record, copied out of librdkafka's message. */
typedef struct {
    int32_t partition;
    int64_t offset;
    char reason[64];
    char detail[1024];
    char source_topic[256];
    int32_t source_partition; /* -1 when unknown */
    int64_t source_offset;
    int64_t failed_at_ms; /* gw.failed_at_ms; the record's timestamp when absent */
    bool failed_at_known;
    char group[256];
    void *key;
    size_t key_len;
    void *payload;
    size_t len;
    rd_kafka_headers_t *headers; /* the record's, copied */
} dlq_rec_t;

typedef struct {
    const char *reasons[DLQ_MAX_REASONS];
    int nreasons;
    int64_t since_ms, until_ms; /* [since, until); 0 and INT64_MAX when open */
    const char *offsets;        /* "P:O,P:O" or "O,O" (partition 0) */
} dlq_filter_t;

typedef struct {
    cli_kafka_state_t k; /* first: the opaque of cli_kafka_quiet's callbacks */
    uint64_t delivered, failed;
    char first_failure[256];
} dlq_send_state_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gapwatch dlq (-b BROKERS | -F FILE) [-t DLQ_TOPIC] [filters] [--json]\n"
            "       gapwatch dlq (-b BROKERS | -F FILE) --replay (filters | --all) [--to TOPIC]\n"
            "       gapwatch dlq (-b BROKERS | -F FILE) --replay --fix FILE\n"
            "\n"
            "Lists the records gapwatchd dead-lettered, one per line: DLQ partition:offset,\n"
            "failure time, reason, source topic/partition@offset, detail. --replay sends the\n"
            "chosen ones back to their source topic.\n"
            "\n"
            "  -b BROKERS          bootstrap servers\n"
            "  -F FILE             read the bootstrap servers from FILE (gapwatch kafka-mock -o)\n"
            "  -t TOPIC            dead-letter topic (default sales.events.dlq)\n"
            "  -X name=value       librdkafka property (repeatable)\n"
            "  -c CONFIG           gapwatchd's YAML config: its topics, custom kinds, limits\n"
            "      --timeout MS    how long Kafka may take to answer (default 10000)\n"
            "filters (all must hold):\n"
            "      --reason R      only reason R (repeatable, or R1,R2): invalid_rep_id, ...\n"
            "      --since TIME    failed at or after TIME\n"
            "      --until TIME    failed before TIME\n"
            "                      TIME: 2026-12-03T10:00:00Z, Unix milliseconds, or an age\n"
            "                      such as 90s, 15m, 2h, 7d (that long ago)\n"
            "      --offset LIST   only these records: P:O or O (partition 0), comma-separated\n"
            "output:\n"
            "      --json          one object per record: dlq, reason, detail, source,\n"
            "                      failed_at_ms, group, key, event (the payload as JSON, null\n"
            "                      when it is not an Event): the input of --fix\n"
            "replay:\n"
            "      --replay        send the chosen records to their source topic as they are\n"
            "      --all           with --replay and no filter: every record\n"
            "      --fix FILE      send the \"event\" of each line of FILE (--json's format,\n"
            "                      edited) in place of the record named by its \"dlq\"\n"
            "      --to TOPIC      send to TOPIC instead of the source topic\n"
            "      --no-validate   send even what gapwatchd's rules would dead-letter again\n"
            "      --dry-run       check what would be replayed, send nothing\n"
            "\n"
            "Exit 0 when everything listed or replayed, 1 when a record could not be replayed\n"
            "(still invalid, undelivered) or Kafka failed, 2 on bad usage.\n");
}

/* TIME of --since/--until into Unix ms; -1 with a message when malformed. */
static int parse_time(const char *opt, const char *s, int64_t now_ms, int64_t *out)
{
    char *end;
    if (!*s)
        goto bad;
    long long n = strtoll(s, &end, 10);
    if (*end == '\0' && n >= 0) {
        *out = n;
        return 0;
    }
    if (n >= 0 && end != s && end[1] == '\0') {
        int64_t unit = *end == 's'   ? 1000
                       : *end == 'm' ? 60000
                       : *end == 'h' ? 3600000
                       : *end == 'd' ? 86400000
                                     : 0;
        if (unit) {
            *out = now_ms - n * unit;
            return 0;
        }
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end && (!strcmp(end, "Z") || !*end)) {
        *out = (int64_t)timegm(&tm) * 1000;
        return 0;
    }
bad:
    fprintf(stderr,
            "gapwatch dlq: %s \"%s\": expected a time such as 2026-12-03T10:00:00Z, Unix "
            "milliseconds, or an age such as 2h\n",
            opt, s);
    return -1;
}

static void format_ms(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void header_text(rd_kafka_headers_t *h, const char *name, char *buf, size_t size)
{
    const void *v = NULL;
    size_t len = 0;
    buf[0] = '\0';
    if (h && rd_kafka_header_get_last(h, name, &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR && v)
        snprintf(buf, size, "%.*s", (int)len, (const char *)v);
}

static void rec_free(dlq_rec_t *r)
{
    free(r->key);
    free(r->payload);
    if (r->headers)
        rd_kafka_headers_destroy(r->headers);
}

/* Copies `m` into `r`. Returns 0, or -1 on OOM. */
static int rec_from_message(dlq_rec_t *r, const rd_kafka_message_t *m)
{
    memset(r, 0, sizeof(*r));
    r->partition = m->partition;
    r->offset = m->offset;
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h)
        r->headers = rd_kafka_headers_copy(h);
    char buf[64];
    header_text(h, "gw.reason", r->reason, sizeof(r->reason));
    header_text(h, "gw.detail", r->detail, sizeof(r->detail));
    header_text(h, "gw.source.topic", r->source_topic, sizeof(r->source_topic));
    header_text(h, "gw.source.partition", buf, sizeof(buf));
    r->source_partition = buf[0] ? (int32_t)atoi(buf) : -1;
    header_text(h, "gw.source.offset", buf, sizeof(buf));
    r->source_offset = buf[0] ? strtoll(buf, NULL, 10) : -1;
    header_text(h, "gw.group", r->group, sizeof(r->group));
    header_text(h, "gw.failed_at_ms", buf, sizeof(buf));
    if (buf[0]) {
        r->failed_at_ms = strtoll(buf, NULL, 10);
        r->failed_at_known = true;
    } else {
        /* Dead-lettered before gw.failed_at_ms existed: the record keeps
         * the source's timestamp, the nearest thing known. */
        rd_kafka_timestamp_type_t tt;
        r->failed_at_ms = rd_kafka_message_timestamp(m, &tt);
    }
    if (m->key_len) {
        if (!(r->key = malloc(m->key_len)))
            return -1;
        memcpy(r->key, m->key, m->key_len);
        r->key_len = m->key_len;
    }
    if (!(r->payload = malloc(m->len ? m->len : 1)))
        return -1;
    if (m->len)
        memcpy(r->payload, m->payload, m->len);
    r->len = m->len;
    return 0;
}

/* True when "P:O" or "O" in the comma-separated `list` names the record. */
static bool offset_listed(const char *list, int32_t partition, int64_t offset)
{
    for (const char *p = list; *p;) {
        char *end;
        long long a = strtoll(p, &end, 10), b;
        if (*end == ':') {
            b = strtoll(end + 1, &end, 10);
            if (a == partition && b == offset)
                return true;
        } else if (partition == 0 && a == offset) {
            return true;
        }
        p = *end == ',' ? end + 1 : end + strlen(end);
    }
    return false;
}

static bool offsets_valid(const char *list)
{
    for (const char *p = list; *p;) {
        if (!isdigit((unsigned char)*p))
            return false;
        char *end;
        strtoll(p, &end, 10);
        if (*end == ':') {
            if (!isdigit((unsigned char)end[1]))
                return false;
            strtoll(end + 1, &end, 10);
        }
        if (*end && *end != ',')
            return false;
        p = *end ? end + 1 : end;
    }
    return *list != '\0';
}

static bool rec_matches(const dlq_filter_t *f, const dlq_rec_t *r)
{
    if (f->nreasons) {
        bool any = false;
        for (int i = 0; i < f->nreasons && !any; i++)
            any = !strcmp(f->reasons[i], r->reason);
        if (!any)
            return false;
    }
    if (r->failed_at_ms < f->since_ms || r->failed_at_ms >= f->until_ms)
        return false;
    return !f->offsets || offset_listed(f->offsets, r->partition, r->offset);
}

/* The record's payload as an Event in JSON (proto names, enums by name),
 * or JSON null when it is not one. */
static json_t *rec_event_json(const dlq_rec_t *r)
{
    Gapwatch__V1__Event *ev = gapwatch__v1__event__unpack(NULL, r->len, r->payload);
    if (!ev)
        return json_null();
    json_t *j = gw_pbjson_from_message(&ev->base);
    gapwatch__v1__event__free_unpacked(ev, NULL);
    return j ? j : json_null();
}

static void print_rec(const dlq_rec_t *r, bool as_json)
{
    if (as_json) {
        json_t *o = json_object();
        char at[40];
        snprintf(at, sizeof(at), "%d:%lld", r->partition, (long long)r->offset);
        json_object_set_new(o, "dlq", json_string(at));
        json_object_set_new(o, "reason", json_string(r->reason));
        json_object_set_new(o, "detail", json_string(r->detail));
        json_t *src = json_object();
        json_object_set_new(src, "topic", json_string(r->source_topic));
        json_object_set_new(src, "partition", json_integer(r->source_partition));
        json_object_set_new(src, "offset", json_integer(r->source_offset));
        json_object_set_new(o, "source", src);
        json_object_set_new(o, "failed_at_ms",
                            r->failed_at_known ? json_integer(r->failed_at_ms) : json_null());
        json_object_set_new(o, "group", r->group[0] ? json_string(r->group) : json_null());
        json_t *key = r->key_len ? json_stringn(r->key, r->key_len) : NULL;
        json_object_set_new(o, "key", key ? key : json_null());
        json_object_set_new(o, "event", rec_event_json(r));
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
        return;
    }
    char when[32] = "-";
    if (r->failed_at_ms > 0)
        format_ms(r->failed_at_ms, when, sizeof(when));
    printf("%d:%-6lld %s%s %-22s %s/%d@%lld  %s\n", r->partition, (long long)r->offset, when,
           r->failed_at_known ? "" : "?", r->reason[0] ? r->reason : "(no gw.reason)",
           r->source_topic[0] ? r->source_topic : "?", r->source_partition,
           (long long)r->source_offset, r->detail);
}

/* Reads the whole of `topic` (to the high watermarks at the start) and
 * keeps the records `keep` accepts (all when NULL) in *recs. Returns the
 * number kept, or -1 (printed). */
static int read_dlq(rd_kafka_conf_t *conf, const char *bootstrap, const char *topic, int timeout_ms,
                    const dlq_filter_t *keep, dlq_rec_t **recs)
{
    cli_kafka_state_t kst;
    memset(&kst, 0, sizeof(kst));
    char err[512];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "group.id", "gapwatch-dlq", NULL, 0); /* never joined */
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", NULL, 0);
    cli_kafka_quiet(conf, &kst);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "gapwatch dlq: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    int n = 0, cap = 0, nparts = cli_kafka_probe("dlq", rk, bootstrap, topic, timeout_ms, &kst);
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t *high = NULL;
    int pending = 0;
    if (nparts < 0)
        goto fail;
    parts = rd_kafka_topic_partition_list_new(nparts);
    high = calloc((size_t)nparts, sizeof(*high));
    for (int p = 0; p < nparts; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, timeout_ms);
        if (e) {
            fprintf(stderr, "gapwatch dlq: %s [%d]: cannot read its offsets: %s\n", topic, p,
                    rd_kafka_err2str(e));
            goto fail;
        }
        high[p] = hi;
        if (hi > lo) {
            rd_kafka_topic_partition_list_add(parts, topic, p)->offset = lo;
            pending++;
        }
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts);
    if (e) {
        fprintf(stderr, "gapwatch dlq: assign %s: %s\n", topic, rd_kafka_err2str(e));
        goto fail;
    }
    int64_t last_progress = gw_mono_ms();
    while (pending > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) {
            if (gw_mono_ms() - last_progress > timeout_ms) {
                fprintf(stderr, "gapwatch dlq: %s: no progress for %d ms: %s\n", topic, timeout_ms,
                        kst.last_error[0] ? kst.last_error : "timed out");
                goto fail;
            }
            continue;
        }
        last_progress = gw_mono_ms();
        bool done_partition = false;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            done_partition = m->offset >= high[m->partition];
        } else if (m->err) {
            fprintf(stderr, "gapwatch dlq: %s [%d]: %s\n", topic, m->partition,
                    rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            goto fail;
        } else if (m->offset < high[m->partition]) {
            dlq_rec_t r;
            if (rec_from_message(&r, m) != 0) {
                rec_free(&r);
                rd_kafka_message_destroy(m);
                fprintf(stderr, "gapwatch dlq: out of memory\n");
                goto fail;
            }
            if (!keep || rec_matches(keep, &r)) {
                if (n == cap) {
                    cap = cap ? 2 * cap : 64;
                    dlq_rec_t *grown = realloc(*recs, (size_t)cap * sizeof(**recs));
                    if (!grown) {
                        rec_free(&r);
                        rd_kafka_message_destroy(m);
                        fprintf(stderr, "gapwatch dlq: out of memory\n");
                        goto fail;
                    }
                    *recs = grown;
                }
                (*recs)[n++] = r;
            } else {
                rec_free(&r);
            }
            done_partition = m->offset + 1 >= high[m->partition];
        }
        if (done_partition && high[m->partition] >= 0) {
            high[m->partition] = -1; /* counted once */
            pending--;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    free(high);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
fail:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    free(high);
    rd_kafka_destroy(rk);
    return -1;
}

static void send_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    dlq_send_state_t *st = opaque;
    if (m->err) {
        if (!st->failed++)
            snprintf(st->first_failure, sizeof(st->first_failure), "%s", rd_kafka_err2str(m->err));
    } else {
        st->delivered++;
    }
}

/* The headers a replay of `r` carries: its own except gw.* (the failure
 * they describe is being undone), plus gw.replay.dlq = "TOPIC/P/O". */
static rd_kafka_headers_t *replay_headers(const dlq_rec_t *r, const char *dlq_topic)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    const char *name;
    const void *v;
    size_t len;
    for (size_t i = 0; r->headers && rd_kafka_header_get_all(r->headers, i, &name, &v, &len) == 0;
         i++)
        if (strncmp(name, "gw.", 3) != 0)
            rd_kafka_header_add(h, name, -1, v, (ssize_t)len);
    char from[320];
    snprintf(from, sizeof(from), "%s/%d/%lld", dlq_topic, r->partition, (long long)r->offset);
    rd_kafka_header_add(h, "gw.replay.dlq", -1, from, -1);
    return h;
}

typedef struct {
    rd_kafka_t *rk;
    gw_decoder_t *dec; /* NULL: --no-validate */
    const char *to;    /* NULL: the source topic */
    const char *dlq_topic;
    bool dry_run;
    unsigned long sent, refused;
} replay_t;

/* Replays record `r` with `payload` (its own or a fix) keyed by `key`.
 * `where` prefixes messages ("0:12" or "fix.jsonl:3"). Takes `payload`
 * over (freed here). */
static void replay_one(replay_t *rp, const dlq_rec_t *r, void *payload, size_t len, const void *key,
                       size_t key_len, const char *where)
{
    const char *topic = rp->to ? rp->to : r->source_topic;
    if (!topic[0]) {
        fprintf(stderr, "%s: no gw.source.topic header; give --to TOPIC\n", where);
        rp->refused++;
        free(payload);
        return;
    }
    if (rp->dec) {
        gw_event_t ev;
        char detail[512];
        gw_reason_t reason =
            gw_decoder_decode(rp->dec, payload, len, gw_now_ms(), &ev, detail, sizeof(detail));
        if (reason != GW_REASON_OK) {
            fprintf(stderr, "%s: still invalid, not replayed: %s: %s\n", where,
                    gw_reason_str(reason), detail);
            rp->refused++;
            free(payload);
            return;
        }
    }
    if (rp->dry_run) {
        printf("%s: would replay to %s\n", where, topic);
        rp->sent++;
        free(payload);
        return;
    }
    rd_kafka_headers_t *h = replay_headers(r, rp->dlq_topic);
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rp->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
            RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE(payload, len), RD_KAFKA_V_HEADERS(h),
            RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rp->rk, 100);
            continue;
        }
        if (e) {
            fprintf(stderr, "%s: produce to %s: %s\n", where, topic, rd_kafka_err2str(e));
            free(payload);
            rd_kafka_headers_destroy(h);
            rp->refused++;
        } else {
            rp->sent++;
        }
        return;
    }
}

/* Replays the lines of --fix FILE: {"dlq": "P:O", "event": {...}}. */
static void replay_fixes(replay_t *rp, const char *path, FILE *in, dlq_rec_t *recs, int n)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0;
    while ((len = getline(&line, &cap, in)) != -1) {
        lineno++;
        char where[512], err[1024];
        snprintf(where, sizeof(where), "%s:%lu", path, lineno);
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        json_error_t jerr;
        json_t *o = json_loadb(line, (size_t)len, 0, &jerr);
        const char *at = o ? json_string_value(json_object_get(o, "dlq")) : NULL;
        json_t *event = o ? json_object_get(o, "event") : NULL;
        if (!o || !json_is_object(o)) {
            fprintf(stderr, "%s: not a JSON object%s%s\n", where, o ? "" : ": ",
                    o ? "" : jerr.text);
        } else if (!at) {
            fprintf(stderr, "%s: \"dlq\": expected the record's \"PARTITION:OFFSET\"\n", where);
        } else if (!json_is_object(event)) {
            fprintf(stderr, "%s: \"event\": expected the fixed event as a JSON object\n", where);
        } else {
            const dlq_rec_t *r = NULL;
            for (int i = 0; i < n && !r; i++)
                if (offset_listed(at, recs[i].partition, recs[i].offset))
                    r = &recs[i];
            char *text = json_dumps(event, JSON_COMPACT);
            uint8_t *buf = NULL;
            size_t blen = 0;
            char key[256];
            if (!r) {
                fprintf(stderr, "%s: \"dlq\": no record %s in %s\n", where, at, rp->dlq_topic);
            } else if (!text) {
                fprintf(stderr, "%s: out of memory\n", where);
            } else if (cli_event_from_json(NULL, text, strlen(text), &buf, &blen, key, sizeof(key),
                                           err, sizeof(err)) != 0) {
                fprintf(stderr, "%s: \"event\": %s\n", where, err);
            } else {
                free(text);
                json_decref(o);
                replay_one(rp, r, buf, blen, key, strlen(key), where);
                continue;
            }
            free(text);
        }
        rp->refused++;
        json_decref(o);
    }
    free(line);
}

int cmd_dlq(int argc, char **argv)
{
    enum {
        O_REASON = 256,
        O_SINCE,
        O_UNTIL,
        O_OFFSET,
        O_JSON,
        O_REPLAY,
        O_ALL,
        O_FIX,
        O_TO,
        O_NOVAL,
        O_DRY,
        O_TIMEOUT
    };
    static const struct option opts[] = {
        {"reason", required_argument, NULL, O_REASON},
        {"since", required_argument, NULL, O_SINCE},
        {"until", required_argument, NULL, O_UNTIL},
        {"offset", required_argument, NULL, O_OFFSET},
        {"json", no_argument, NULL, O_JSON},
        {"replay", no_argument, NULL, O_REPLAY},
        {"all", no_argument, NULL, O_ALL},
        {"fix", required_argument, NULL, O_FIX},
        {"to", required_argument, NULL, O_TO},
        {"no-validate", no_argument, NULL, O_NOVAL},
        {"dry-run", no_argument, NULL, O_DRY},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *fix_path = NULL, *to = NULL;
    dlq_filter_t filter = {.since_ms = 0, .until_ms = INT64_MAX};
    bool as_json = false, replay = false, all = false, validate = true, dry_run = false;
    int timeout_ms = 10000;
    int64_t now = gw_now_ms();
    cli_kafka_opts_t ko = {.topic = NULL, .conf = rd_kafka_conf_new()};
    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    gw_config_t *cfg = NULL;
    gw_decoder_t *dec = NULL;
    dlq_rec_t *recs = NULL;
    int n = 0, rc = 2;
    FILE *fix = NULL;
    rd_kafka_t *producer = NULL;
    dlq_send_state_t st;
    memset(&st, 0, sizeof(st));
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:F:t:X:c:h", opts, NULL)) != -1) {
        int kc = cli_kafka_option(&ko, c, optarg);
        if (kc < 0)
            goto out;
        if (kc > 0) {
            if (c == 'X' && cli_conf_set_kv(pconf, optarg) != 0)
                goto out;
            continue;
        }
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case O_REASON:
            for (char *tok = strtok(optarg, ","); tok; tok = strtok(NULL, ",")) {
                if (filter.nreasons == DLQ_MAX_REASONS) {
                    fprintf(stderr, "gapwatch dlq: at most %d reasons\n", DLQ_MAX_REASONS);
                    goto out;
                }
                bool known = false;
                for (int r = 1; r < GW_REASON_COUNT && !known; r++)
                    known = !strcmp(tok, gw_reason_str((gw_reason_t)r));
                if (!known) {
                    fprintf(stderr, "gapwatch dlq: --reason \"%s\" is not a dead-letter reason (",
                            tok);
                    for (int r = 1; r < GW_REASON_COUNT; r++)
                        fprintf(stderr, "%s%s", r > 1 ? ", " : "", gw_reason_str((gw_reason_t)r));
                    fprintf(stderr, ")\n");
                    goto out;
                }
                filter.reasons[filter.nreasons++] = tok;
            }
            break;
        case O_SINCE:
            if (parse_time("--since", optarg, now, &filter.since_ms) != 0)
                goto out;
            break;
        case O_UNTIL:
            if (parse_time("--until", optarg, now, &filter.until_ms) != 0)
                goto out;
            break;
        case O_OFFSET:
            if (!offsets_valid(optarg)) {
                fprintf(stderr,
                        "gapwatch dlq: --offset \"%s\": expected PARTITION:OFFSET or OFFSET, "
                        "comma-separated\n",
                        optarg);
                goto out;
            }
            filter.offsets = optarg;
            break;
        case O_JSON:
            as_json = true;
            break;
        case O_REPLAY:
            replay = true;
            break;
        case O_ALL:
            all = true;
            break;
        case O_FIX:
            fix_path = optarg;
            break;
        case O_TO:
            to = optarg;
            break;
        case O_NOVAL:
            validate = false;
            break;
        case O_DRY:
            dry_run = true;
            break;
        case O_TIMEOUT:
            timeout_ms = atoi(optarg);
            if (timeout_ms < 1) {
                fprintf(stderr, "gapwatch dlq: --timeout expects milliseconds, got \"%s\"\n",
                        optarg);
                goto out;
            }
            break;
        case 'h':
            usage(stdout);
            rc = 0;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    bool filtered =
        filter.nreasons || filter.offsets || filter.since_ms > 0 || filter.until_ms != INT64_MAX;
    if (optind != argc) {
        fprintf(stderr, "gapwatch dlq: unexpected argument \"%s\"\n", argv[optind]);
        goto out;
    }
    if (!ko.bootstrap[0]) {
        fprintf(stderr, "gapwatch dlq: give -b BROKERS or -F FILE\n");
        goto out;
    }
    if (fix_path && !replay) {
        fprintf(stderr, "gapwatch dlq: --fix goes with --replay\n");
        goto out;
    }
    if (fix_path && filtered) {
        fprintf(stderr, "gapwatch dlq: --fix names its records (\"dlq\" of each line); drop the "
                        "filters\n");
        goto out;
    }
    if (replay && !fix_path && !filtered && !all) {
        fprintf(stderr, "gapwatch dlq: --replay needs a filter (--reason, --since, --until, "
                        "--offset) or --all\n");
        goto out;
    }
    if ((to || dry_run || !validate || all) && !replay) {
        fprintf(stderr, "gapwatch dlq: --to, --dry-run, --no-validate and --all go with "
                        "--replay\n");
        goto out;
    }
    static char err[512];
    if (cli_validator_open("dlq", config_path, &cfg, &dec) != 0) {
        rc = 1;
        goto out;
    }
    if (!ko.topic)
        ko.topic = cfg->kafka.topic_dead_letter;
    if (fix_path && !(fix = fopen(fix_path, "r"))) {
        fprintf(stderr, "gapwatch dlq: cannot open --fix %s\n", fix_path);
        goto out;
    }
    rc = 1;
    n = read_dlq(ko.conf, ko.bootstrap, ko.topic, timeout_ms, fix_path ? NULL : &filter, &recs);
    ko.conf = NULL;
    if (n < 0)
        goto out;
    if (!replay) {
        for (int i = 0; i < n; i++)
            print_rec(&recs[i], as_json);
        fprintf(stderr, "gapwatch dlq: %d record%s in %s%s\n", n, n == 1 ? "" : "s", ko.topic,
                filtered ? " matched" : "");
        rc = 0;
        goto out;
    }

    replay_t rp = {NULL, validate ? dec : NULL, to, ko.topic, dry_run, 0, 0};
    if (!dry_run) {
        char ms[32];
        snprintf(ms, sizeof(ms), "%d", timeout_ms);
        rd_kafka_conf_set(pconf, "bootstrap.servers", ko.bootstrap, NULL, 0);
        rd_kafka_conf_set(pconf, "enable.idempotence", "true", NULL, 0);
        rd_kafka_conf_set(pconf, "message.timeout.ms", ms, NULL, 0);
        cli_kafka_quiet(pconf, &st.k);
        rd_kafka_conf_set_dr_msg_cb(pconf, send_dr);
        producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof(err));
        if (!producer) {
            fprintf(stderr, "gapwatch dlq: %s\n", err);
            goto out;
        }
        pconf = NULL;
        rp.rk = producer;
    }
    if (fix) {
        replay_fixes(&rp, fix_path, fix, recs, n);
    } else {
        for (int i = 0; i < n; i++) {
            char where[64];
            snprintf(where, sizeof(where), "%s %d:%lld", ko.topic, recs[i].partition,
                     (long long)recs[i].offset);
            void *payload = recs[i].payload;
            recs[i].payload = NULL;
            replay_one(&rp, &recs[i], payload, recs[i].len, recs[i].key, recs[i].key_len, where);
        }
    }
    if (producer) {
        rd_kafka_flush(producer, timeout_ms + 1000);
        int left = rd_kafka_outq_len(producer);
        if (st.failed || left)
            fprintf(stderr, "gapwatch dlq: %" PRIu64 " replayed records not delivered: %s\n",
                    st.failed + (uint64_t)left, st.failed ? st.first_failure : "timed out");
    }
    unsigned long done = dry_run ? rp.sent : (unsigned long)st.delivered;
    unsigned long not_done = rp.refused + (rp.sent - done);
    fprintf(stderr, "gapwatch dlq: %s%lu record%s replayed, %lu not\n", dry_run ? "(dry run) " : "",
            done, done == 1 ? "" : "s", not_done);
    rc = not_done ? 1 : 0;
out:
    if (producer)
        rd_kafka_destroy(producer);
    for (int i = 0; i < n; i++)
        rec_free(&recs[i]);
    free(recs);
    if (fix)
        fclose(fix);
    if (ko.conf)
        rd_kafka_conf_destroy(ko.conf);
    if (pconf)
        rd_kafka_conf_destroy(pconf);
    gw_decoder_free(dec);
    gw_config_free(cfg);
    return rc;
}
