/* tevents: generation, production and brute-force recount (see tevents.h). */
#include "tevents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gapwatch/v1/event.pb-c.h"

const twindow_t tev_windows[3] = {
    {"1d", 86400000LL, 3600000LL, 900000LL},
    {"7d", 7 * 86400000LL, 6 * 3600000LL, 3600000LL},
    {"30d", 30 * 86400000LL, 86400000LL, 2 * 3600000LL},
};

const char *const tev_config_yaml = "windows:\n"
                                    "  - {name: 1d, length: 1d, bucket: 1h, grace: 15m}\n"
                                    "  - {name: 7d, length: 7d, bucket: 6h, grace: 1h}\n"
                                    "  - {name: 30d, length: 30d, bucket: 1d, grace: 2h}\n"
                                    "custom_kinds:\n"
                                    "  - {name: linkedin_inmail, class: activity}\n"
                                    "  - {name: referral, class: outcome}\n";

const char *const tev_periods_yaml = "playbooks:\n"
                                     "  - name: periods\n"
                                     "    teams: [\"*\"]\n"
                                     "    funnel:\n"
                                     "      - {name: reach, kinds: [DIAL]}\n"
                                     "      - {name: book, kinds: [MEETING_BOOKED]}\n"
                                     "    objective:\n"
                                     "      kind: MEETING_BOOKED\n"
                                     "      per_window: {7d: 5}\n"
                                     "      per_period: {week: 5, month: 20, quarter: 60}\n"
                                     "alerting: {kinds: [efficiency_gap]}\n";

static const char *const builtin_names[] = {
    "",
    "DIAL",
    "EMAIL_SENT",
    "SOCIAL_TOUCH",
    "MEETING_HELD",
    "DEMO_GIVEN",
    "PROPOSAL_SENT",
    "CONVERSATION",
    "EMAIL_REPLY",
    "MEETING_BOOKED",
    "OPPORTUNITY_QUALIFIED",
    "DEAL_WON",
    "DEAL_LOST",
};

static uint64_t rng_state;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static int64_t rnd_range(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(((uint64_t)rnd() << 20 ^ rnd()) % (uint64_t)(hi - lo + 1));
}

void tev_generate(tev_stream_t *s, size_t n, int reps, int teams, uint32_t seed)
{
    rng_state = 0x9e3779b97f4a7c15ull ^ seed;
    s->ev = calloc(n, sizeof(*s->ev));
    s->n = n;
    int64_t end = gwh_now_ms() - 3600000;
    int64_t span = 45LL * 86400000;
    for (size_t i = 0; i < n; i++) {
        tev_t *e = &s->ev[i];
        int rep = (int)(rnd() % (uint32_t)reps);
        int team = rep % teams;
        snprintf(e->tenant, sizeof(e->tenant), "%s", rep % 2 ? "acme" : "globex");
        snprintf(e->rep, sizeof(e->rep), "r%d", rep);
        snprintf(e->team, sizeof(e->team), "team-%d", team);
        snprintf(e->event_id, sizeof(e->event_id), "ev-%u-%zu", seed, i);
        int64_t base = end - span + (int64_t)((double)span * (double)i / (double)n);
        uint32_t late = rnd() % 1000;
        if (late < 20)
            e->t = base - rnd_range(2 * 3600000LL, 40 * 3600000LL); /* late for 1d */
        else if (late < 25)
            e->t = base - rnd_range(8 * 86400000LL, 60 * 86400000LL); /* late for more */
        else
            e->t = base + rnd_range(-1800000, 1800000); /* jitter: out of order */
        if (e->t > end)
            e->t = end;
        uint32_t k = rnd() % 100;
        int kind;
        if (k < 30)
            kind = 1; /* DIAL */
        else if (k < 45)
            kind = 2;
        else if (k < 50)
            kind = 3;
        else if (k < 55)
            kind = 4;
        else if (k < 59)
            kind = 5;
        else if (k < 62)
            kind = 6;
        else if (k < 72)
            kind = 7;
        else if (k < 78)
            kind = 8;
        else if (k < 84)
            kind = 9;
        else if (k < 88)
            kind = 10;
        else if (k < 91)
            kind = 11;
        else if (k < 93)
            kind = 12;
        else
            kind = 13;
        e->kind = kind;
        if (kind == 13) {
            bool inmail = rnd() % 2;
            e->kind_name = inmail ? "linkedin_inmail" : "referral";
            e->activity = inmail;
        } else {
            e->kind_name = builtin_names[kind];
            e->activity = kind <= 6;
        }
        if (kind == 10 || kind == 11 || kind == 12 || (kind == 13 && !e->activity))
            e->amount = rnd_range(0, 5000000);
        e->goal = rnd() % 3 == 0;
        e->next_step = rnd() % 4 == 0;
    }
}

static void dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    tev_stream_t *s = opaque;
    tev_t *e = &s->ev[(size_t)(uintptr_t)m->_private];
    if (m->err) {
        fprintf(stderr, "tevents: delivery failed: %s\n", rd_kafka_err2str(m->err));
        return;
    }
    e->partition = m->partition;
    e->offset = m->offset;
    e->delivered = true;
}

void tev_produce(gwh_t *h, tev_stream_t *s, const char *topic)
{
    rd_kafka_t *rk = gwh_producer(h, dr, s);
    uint8_t buf[1024];
    for (size_t i = 0; i < s->n; i++) {
        tev_t *e = &s->ev[i];
        Gapwatch__V1__Event m = GAPWATCH__V1__EVENT__INIT;
        m.event_id = e->event_id;
        m.tenant_id = e->tenant;
        m.rep_id = e->rep;
        m.team_id = e->team;
        m.occurred_at_ms = e->t;
        m.kind = (Gapwatch__V1__Kind)e->kind;
        if (e->kind == 13)
            m.custom_kind = (char *)e->kind_name;
        m.amount_minor = e->amount;
        if (e->amount)
            m.currency = "EUR";
        m.goal = e->goal ? "qualify budget" : "";
        m.next_step = e->next_step ? "demo on Tuesday" : "";
        m.source = "tevents";
        size_t len = gapwatch__v1__event__pack(&m, buf);
        for (;;) {
            rd_kafka_resp_err_t err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(e->rep, strlen(e->rep)),
                RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_OPAQUE((void *)(uintptr_t)i), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 50);
                continue;
            }
            if (err) {
                fprintf(stderr, "tevents: produce: %s\n", rd_kafka_err2str(err));
                exit(1);
            }
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    while (rd_kafka_outq_len(rk) > 0)
        rd_kafka_flush(rk, 1000);
    rd_kafka_destroy(rk);
    for (size_t i = 0; i < s->n; i++)
        if (!s->ev[i].delivered) {
            fprintf(stderr, "tevents: event %zu was not delivered\n", i);
            exit(1);
        }
}

void tev_free(tev_stream_t *s)
{
    free(s->ev);
    s->ev = NULL;
    s->n = 0;
}

/* ---- recount ------------------------------------------------------------ */

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

static int64_t window_start(const twindow_t *w, int64_t wm)
{
    return floordiv(wm - w->grace_ms, w->bucket_ms) - w->length_ms / w->bucket_ms + 1;
}

typedef struct {
    char key[80]; /* "R|tenant|rep" or "T|tenant|team" */
    size_t idx;
} member_t;

static const tev_stream_t *sort_stream;

static int by_position(const void *a, const void *b)
{
    const tev_t *x = &sort_stream->ev[*(const size_t *)a];
    const tev_t *y = &sort_stream->ev[*(const size_t *)b];
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int by_key(const void *a, const void *b)
{
    const member_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

typedef struct {
    char name[48];
    int64_t v;
} field_t;

typedef struct {
    field_t f[64];
    int n;
} fields_t;

static void fadd(fields_t *fs, const char *name, int64_t v)
{
    if (v == 0)
        return;
    for (int i = 0; i < fs->n; i++)
        if (!strcmp(fs->f[i].name, name)) {
            fs->f[i].v += v;
            return;
        }
    snprintf(fs->f[fs->n].name, sizeof(fs->f[0].name), "%s", name);
    fs->f[fs->n].v = v;
    fs->n++;
}

static int64_t fget(const fields_t *fs, const char *name)
{
    for (int i = 0; i < fs->n; i++)
        if (!strcmp(fs->f[i].name, name))
            return fs->f[i].v;
    return 0;
}

static size_t compare(gwh_t *h, const tev_stream_t *s, bool expect_wm, bool swept,
                      tev_stats_t *stats)
{
    size_t n = s->n;
    size_t *order = malloc(n * sizeof(*order));
    int64_t *stream = malloc(n * sizeof(*stream));
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    sort_stream = s;
    qsort(order, n, sizeof(*order), by_position);
    int32_t cur_p = -1;
    int64_t cur = INT64_MIN;
    for (size_t k = 0; k < n; k++) {
        const tev_t *e = &s->ev[order[k]];
        if (e->partition != cur_p) {
            cur_p = e->partition;
            cur = INT64_MIN;
        }
        if (e->t > cur)
            cur = e->t;
        stream[order[k]] = cur;
    }
    member_t *mem = malloc(2 * n * sizeof(*mem));
    for (size_t i = 0; i < n; i++) {
        snprintf(mem[2 * i].key, sizeof(mem[0].key), "R|%s|%s", s->ev[i].tenant, s->ev[i].rep);
        mem[2 * i].idx = i;
        snprintf(mem[2 * i + 1].key, sizeof(mem[0].key), "T|%s|%s", s->ev[i].tenant, s->ev[i].team);
        mem[2 * i + 1].idx = i;
    }
    qsort(mem, 2 * n, sizeof(*mem), by_key);

    redisContext *c = gwh_redis(h);
    size_t mismatches = 0, entities = 0, compared = 0, nonzero = 0;
    int64_t late_total = 0;
    for (size_t g = 0; g < 2 * n;) {
        size_t end = g;
        while (end < 2 * n && !strcmp(mem[end].key, mem[g].key))
            end++;
        entities++;
        char kind = mem[g].key[0];
        const tev_t *first = &s->ev[mem[g].idx];
        char tag[80];
        if (kind == 'R')
            snprintf(tag, sizeof(tag), "{%s:%s}", first->tenant, first->rep);
        else
            snprintf(tag, sizeof(tag), "{%s:team:%s}", first->tenant, first->team);
        int64_t wm = INT64_MIN;
        for (size_t k = g; k < end; k++)
            if (stream[mem[k].idx] > wm)
                wm = stream[mem[k].idx];
        for (int w = 0; w < 3; w++) {
            const twindow_t *win = &tev_windows[w];
            int64_t got_wm = -1;
            redisReply *r = redisCommand(c, "HGET gw:%s:state wm:%s", tag, win->name);
            if (r && r->type == REDIS_REPLY_STRING)
                got_wm = strtoll(r->str, NULL, 10);
            if (r)
                freeReplyObject(r);
            /* A sweep moves a silent entity's windows on to its tenant's
             * time: recount at that watermark (it only moves forward). */
            int64_t start = window_start(win, swept && got_wm > wm ? got_wm : wm);
            fields_t exp = {.n = 0};
            int64_t late = 0;
            for (size_t k = g; k < end; k++) {
                const tev_t *e = &s->ev[mem[k].idx];
                int64_t b = floordiv(e->t, win->bucket_ms);
                if (b < window_start(win, stream[mem[k].idx]))
                    late++;
                if (b < start)
                    continue;
                fadd(&exp, e->kind_name, 1);
                if (e->amount > 0) {
                    char an[64];
                    snprintf(an, sizeof(an), "amount:%s", e->kind_name);
                    fadd(&exp, an, e->amount);
                }
                /* goals and next steps per kind (docs/redis.md) */
                char gn[80];
                if (e->goal) {
                    snprintf(gn, sizeof(gn), "goal:%s", e->kind_name);
                    fadd(&exp, gn, 1);
                }
                if (e->next_step) {
                    snprintf(gn, sizeof(gn), "next_step:%s", e->kind_name);
                    fadd(&exp, gn, 1);
                }
            }
            late_total += kind == 'R' ? late : 0;
            nonzero += exp.n > 0;
            r = redisCommand(c, "HGETALL gw:%s:w:%s", tag, win->name);
            fields_t got = {.n = 0};
            int64_t got_late = 0;
            for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
                const char *f = r->element[i]->str;
                int64_t v = strtoll(r->element[i + 1]->str, NULL, 10);
                if (!strcmp(f, "late"))
                    got_late = v;
                else
                    fadd(&got, f, v);
            }
            if (r)
                freeReplyObject(r);
            for (int i = 0; i < exp.n; i++) {
                compared++;
                int64_t v = fget(&got, exp.f[i].name);
                if (v != exp.f[i].v && mismatches++ < 20)
                    fprintf(stderr, "MISMATCH gw:%s:w:%s %s: expected %lld, redis has %lld\n", tag,
                            win->name, exp.f[i].name, (long long)exp.f[i].v, (long long)v);
            }
            for (int i = 0; i < got.n; i++) {
                if (fget(&exp, got.f[i].name) == 0 && got.f[i].v != 0 && mismatches++ < 20)
                    fprintf(stderr, "MISMATCH gw:%s:w:%s %s: expected 0, redis has %lld\n", tag,
                            win->name, got.f[i].name, (long long)got.f[i].v);
            }
            compared += 2;
            if (late != got_late && mismatches++ < 20)
                fprintf(stderr, "MISMATCH gw:%s:w:%s late: expected %lld, redis has %lld\n", tag,
                        win->name, (long long)late, (long long)got_late);
            if (expect_wm && wm != got_wm && mismatches++ < 20)
                fprintf(stderr, "MISMATCH gw:%s:w:%s wm: expected %lld, redis has %lld\n", tag,
                        win->name, (long long)wm, (long long)got_wm);
        }
        g = end;
    }
    /* No entity may exist in Redis that the events do not name. */
    size_t in_redis = 0;
    unsigned long long cursor = 0;
    do {
        redisReply *r = redisCommand(c, "SCAN %llu MATCH gw:{*}:state COUNT 1000", cursor);
        if (!r || r->type != REDIS_REPLY_ARRAY)
            break;
        cursor = strtoull(r->element[0]->str, NULL, 10);
        in_redis += r->element[1]->elements;
        freeReplyObject(r);
    } while (cursor != 0);
    if (in_redis != entities && mismatches++ < 20)
        fprintf(stderr, "MISMATCH entities with state: expected %zu, redis has %zu\n", entities,
                in_redis);
    redisFree(c);
    fprintf(stderr,
            "recount: %zu events, %zu entities, %zu windows with data, %zu fields compared, "
            "%lld late rep-window drops, %zu mismatches\n",
            n, entities, nonzero, compared, (long long)late_total, mismatches);
    stats->entities = entities;
    stats->windows_with_data = nonzero;
    stats->fields = compared;
    stats->late_rep_drops = late_total;
    free(order);
    free(stream);
    free(mem);
    return mismatches;
}

size_t tev_compare(gwh_t *h, const tev_stream_t *s, bool expect_wm, tev_stats_t *stats)
{
    return compare(h, s, expect_wm, false, stats);
}

size_t tev_compare_swept(gwh_t *h, const tev_stream_t *s, tev_stats_t *stats)
{
    return compare(h, s, false, true, stats);
}

size_t tev_bench_event(uint8_t *buf, long i, int rep, int64_t t, uint64_t *rng)
{
    static const int kinds[] = {1, 1, 1, 1, 2, 2, 2, 7, 7, 8, 9, 3, 4, 5, 6, 10, 11};
    char id[32], rname[24], team[24];
    snprintf(id, sizeof(id), "b-%ld", i);
    snprintf(rname, sizeof(rname), "rep-%d", rep);
    snprintf(team, sizeof(team), "team-%d", rep / 10);
    Gapwatch__V1__Event m = GAPWATCH__V1__EVENT__INIT;
    m.event_id = id;
    m.tenant_id = "bench";
    m.rep_id = rname;
    m.team_id = team;
    m.occurred_at_ms = t;
    m.kind = (Gapwatch__V1__Kind)kinds[gwh_rand(rng) % (sizeof(kinds) / sizeof(kinds[0]))];
    m.goal = gwh_rand(rng) % 2 ? "qualify" : "";
    if (m.kind == 11 || m.kind == 10)
        m.amount_minor = (int64_t)(gwh_rand(rng) % 1000000);
    return gapwatch__v1__event__pack(&m, buf);
}

typedef struct {
    rd_kafka_t *rk;
    int64_t from_ms;
    long produced;
} sim_emit_t;

void tev_produce_sim_event(rd_kafka_t *rk, const gw_sim_event_t *e)
{
    Gapwatch__V1__Event m = GAPWATCH__V1__EVENT__INIT;
    m.event_id = (char *)e->event_id;
    m.tenant_id = (char *)e->tenant;
    m.rep_id = (char *)e->rep;
    m.team_id = (char *)e->team;
    m.occurred_at_ms = e->occurred_at_ms;
    m.kind = (Gapwatch__V1__Kind)e->kind;
    m.channel = (Gapwatch__V1__Channel)e->channel;
    m.goal = e->goal ? "qualify the account" : "";
    m.next_step = e->next_step ? "send the deck" : "";
    m.ends_at_ms = e->ends_at_ms;
    uint8_t buf[512];
    size_t len = gapwatch__v1__event__pack(&m, buf);
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC("sales.events"), RD_KAFKA_V_KEY(e->rep, strlen(e->rep)),
            RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 50);
            continue;
        }
        if (err) {
            fprintf(stderr, "tevents: produce: %s\n", rd_kafka_err2str(err));
            abort();
        }
        break;
    }
}

static void sim_emit(void *ctx, const gw_sim_event_t *e)
{
    sim_emit_t *c = ctx;
    if (e->occurred_at_ms < c->from_ms)
        return;
    tev_produce_sim_event(c->rk, e);
    c->produced++;
}

rd_kafka_t *tev_alert_reader(gwh_t *h, const char *group)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", h->bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "group.id", group, NULL, 0);
    rd_kafka_conf_set(conf, "log_level", "0", NULL, 0);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "tevents: consumer: %s\n", err);
        abort();
    }
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(3);
    for (int p = 0; p < 3; p++)
        rd_kafka_topic_partition_list_add(tp, "sales.alerts", p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    if (rd_kafka_assign(c, tp) != RD_KAFKA_RESP_ERR_NO_ERROR)
        abort();
    rd_kafka_topic_partition_list_destroy(tp);
    return c;
}

long tev_produce_sim(rd_kafka_t *rk, const gw_sim_config_t *cfg, gw_sim_rep_t *reps,
                     int64_t from_ms)
{
    sim_emit_t c = {rk, from_ms, 0};
    if (gw_sim_run(cfg, reps, sim_emit, &c) < 0)
        return -1;
    rd_kafka_flush(rk, 60000);
    return rd_kafka_outq_len(rk) == 0 ? c.produced : -1;
}

void tev_send(rd_kafka_t *rk, const char *rep, const char *team, int64_t t, int kind,
              int64_t ends_at_ms, const char *record_id)
{
    static long seq;
    char eid[64];
    snprintf(eid, sizeof(eid), "tev-%ld", seq++);
    Gapwatch__V1__Event e = GAPWATCH__V1__EVENT__INIT;
    e.event_id = eid;
    e.tenant_id = "acme";
    e.rep_id = (char *)rep;
    e.team_id = (char *)team;
    e.occurred_at_ms = t;
    e.kind = (Gapwatch__V1__Kind)kind;
    e.ends_at_ms = ends_at_ms;
    e.record_id = (char *)(record_id ? record_id : "");
    uint8_t buf[512];
    size_t len = gapwatch__v1__event__pack(&e, buf);
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC("sales.events"), RD_KAFKA_V_KEY(rep, strlen(rep)),
            RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 100);
            continue;
        }
        if (err) {
            fprintf(stderr, "tevents: produce: %s\n", rd_kafka_err2str(err));
            abort();
        }
        return;
    }
}

void tev_workday(rd_kafka_t *rk, const char *rep, const char *team, int64_t day_start,
                 const int *counts, int64_t end)
{
    static const int kinds[] = {GAPWATCH__V1__KIND__DIAL, GAPWATCH__V1__KIND__CONVERSATION,
                                GAPWATCH__V1__KIND__MEETING_BOOKED};
    const int64_t hour = 3600000;
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < counts[k]; j++) {
            int64_t t = day_start + 9 * hour + (8 * hour) * j / counts[k] + k * 60000;
            if (t < end)
                tev_send(rk, rep, team, t, kinds[k], 0, NULL);
        }
}

/* The first UTC day (YYYY-MM-DD) of the week (from Monday), month or
 * quarter (from January) holding `t_ms`: written with libc's calendar, not
 * the daemon's. */
static void period_first(int kind, int64_t t_ms, char *out, size_t size)
{
    time_t t = (time_t)floordiv(t_ms, 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    if (kind == 0) {
        t -= (time_t)((tm.tm_wday + 6) % 7) * 86400;
        gmtime_r(&t, &tm);
    } else {
        tm.tm_mday = 1;
        if (kind == 2)
            tm.tm_mon = tm.tm_mon / 3 * 3;
    }
    strftime(out, size, "%Y-%m-%d", &tm);
}

typedef struct {
    char key[112]; /* "tenant|rep|kind|first day" */
    size_t idx;
} pmember_t;

static int by_pkey(const void *a, const void *b)
{
    return strcmp(((const pmember_t *)a)->key, ((const pmember_t *)b)->key);
}

size_t tev_compare_periods(gwh_t *h, const tev_stream_t *s, size_t *periods_compared)
{
    static const char *const kinds[] = {"week", "month", "quarter"};
    size_t n = s->n, np = 3 * n;
    pmember_t *m = malloc(np * sizeof(*m));
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
            char day[16];
            period_first(k, s->ev[i].t, day, sizeof(day));
            snprintf(m[3 * i + k].key, sizeof(m[0].key), "%s|%s|%s|%s", s->ev[i].tenant,
                     s->ev[i].rep, kinds[k], day);
            m[3 * i + k].idx = i;
        }
    qsort(m, np, sizeof(*m), by_pkey);
    redisContext *c = gwh_redis(h);
    size_t mismatches = 0, groups = 0;
    for (size_t g = 0; g < np;) {
        size_t end = g;
        while (end < np && !strcmp(m[end].key, m[g].key))
            end++;
        groups++;
        fields_t exp = {.n = 0};
        for (size_t k = g; k < end; k++) {
            const tev_t *e = &s->ev[m[k].idx];
            fadd(&exp, e->kind_name, 1);
            if (e->amount > 0) {
                char an[64];
                snprintf(an, sizeof(an), "amount:%s", e->kind_name);
                fadd(&exp, an, e->amount);
            }
        }
        char tenant[32], rep[32], kind[16], day[16];
        sscanf(m[g].key, "%31[^|]|%31[^|]|%15[^|]|%15s", tenant, rep, kind, day);
        redisReply *r = redisCommand(c, "HGETALL gw:{%s:%s}:p:%s:%s", tenant, rep, kind, day);
        fields_t got = {.n = 0};
        for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
            fadd(&got, r->element[i]->str, strtoll(r->element[i + 1]->str, NULL, 10));
        if (r)
            freeReplyObject(r);
        for (int i = 0; i < exp.n; i++)
            if (fget(&got, exp.f[i].name) != exp.f[i].v && mismatches++ < 20)
                fprintf(stderr, "MISMATCH gw:{%s:%s}:p:%s:%s %s: expected %lld, redis has %lld\n",
                        tenant, rep, kind, day, exp.f[i].name, (long long)exp.f[i].v,
                        (long long)fget(&got, exp.f[i].name));
        for (int i = 0; i < got.n; i++)
            if (fget(&exp, got.f[i].name) == 0 && mismatches++ < 20)
                fprintf(stderr, "MISMATCH gw:{%s:%s}:p:%s:%s %s: expected 0, redis has %lld\n",
                        tenant, rep, kind, day, got.f[i].name, (long long)got.f[i].v);
        g = end;
    }
    redisFree(c);
    free(m);
    fprintf(stderr, "tevents: %zu rep periods compared, %zu mismatches\n", groups, mismatches);
    if (periods_compared)
        *periods_compared = groups;
    return mismatches;
}

typedef struct {
    tev_stream_t *s;
    size_t cap;
} sim_collect_t;

static void sim_collect(void *ctx, const gw_sim_event_t *e)
{
    sim_collect_t *c = ctx;
    if (e->kind > 13)
        return; /* an availability record (TIME_OFF ...): never counted, not replayed here */
    if (c->s->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 65536;
        tev_t *ev = realloc(c->s->ev, c->cap * sizeof(*ev));
        if (!ev) {
            fprintf(stderr, "tevents: out of memory\n");
            abort();
        }
        c->s->ev = ev;
    }
    tev_t *t = &c->s->ev[c->s->n++];
    memset(t, 0, sizeof(*t));
    snprintf(t->tenant, sizeof(t->tenant), "%.15s", e->tenant);
    snprintf(t->rep, sizeof(t->rep), "%.23s", e->rep);
    snprintf(t->team, sizeof(t->team), "%.23s", e->team);
    snprintf(t->event_id, sizeof(t->event_id), "%.31s", e->event_id);
    t->t = e->occurred_at_ms;
    t->kind = e->kind;
    t->kind_name = e->kind >= 1 && e->kind <= 12 ? builtin_names[e->kind] : "CUSTOM";
    t->activity = e->kind >= 1 && e->kind <= 6;
    t->goal = e->goal;
    t->next_step = e->next_step;
}

long tev_from_sim(tev_stream_t *s, const gw_sim_config_t *cfg, gw_sim_rep_t *reps)
{
    s->ev = NULL;
    s->n = 0;
    sim_collect_t c = {s, 0};
    return gw_sim_run(cfg, reps, sim_collect, &c) < 0 ? -1 : (long)s->n;
}

gw_event_t tev_event(const char *rep, int64_t t, int kind)
{
    gw_event_t e;
    memset(&e, 0, sizeof(e));
    strcpy(e.tenant, "acme");
    snprintf(e.rep, sizeof(e.rep), "%s", rep);
    strcpy(e.team, "east");
    strcpy(e.event_id, "x");
    e.occurred_at_ms = t;
    e.kind = kind;
    return e;
}
