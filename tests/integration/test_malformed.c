/*
 * 1,000 malformed messages (garbage bytes, truncated protobuf, missing or
 * oversized IDs, IDs with ':' '{' '}' or spaces, unknown kinds, far-future
 * and negative timestamps, and the other rules): every one lands in the
 * dead-letter topic unchanged (payload, key, original headers) with the
 * right reason and its source partition and offset; Redis holds no counter
 * of them; the daemon keeps consuming valid events afterwards.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gapwatch/v1/event.pb-c.h"
#include "gw_harness.h"

static const char *const topics[] = {"sales.events:4", "sales.events.dlq:1", "sales.alerts:1",
                                     NULL};

#define N_BAD 1000

typedef struct {
    uint8_t payload[2048];
    size_t len;
    char key[32];
    const char *reason;
    int32_t partition;
    int64_t offset;
    bool delivered;
    bool seen;
} bad_t;

static bad_t bad[N_BAD];

static void valid_event(Gapwatch__V1__Event *m, char *id, size_t idsize, int i, int64_t now)
{
    snprintf(id, idsize, "bad-%d", i);
    m->event_id = id;
    m->tenant_id = "acme";
    m->rep_id = "r1";
    m->team_id = "t1";
    m->occurred_at_ms = now - 3600000;
    m->kind = GAPWATCH__V1__KIND__DIAL;
}

/* Builds malformed message i; cycles through the classes. */
static void make_bad(int i, int64_t now)
{
    bad_t *b = &bad[i];
    Gapwatch__V1__Event m = GAPWATCH__V1__EVENT__INIT;
    char id[128], long_id[200], text[700];
    valid_event(&m, id, sizeof(id), i, now);
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    snprintf(b->key, sizeof(b->key), "k%d", i % 7);
    int cls = i % 20;
    b->reason = NULL;
    switch (cls) {
    case 0: /* garbage: field 1 with wire type 7 does not exist */
        for (size_t k = 0; k < 40; k++)
            b->payload[k] = (uint8_t)(0x0f + 31 * k + i);
        b->payload[0] = 0x0f;
        b->len = 40;
        b->reason = "decode_error";
        return;
    case 1: { /* truncated: a valid event cut inside a length-delimited field */
        size_t len = gapwatch__v1__event__pack(&m, b->payload);
        b->len = len > 6 ? 6 : len - 1;
        b->reason = "decode_error";
        return;
    }
    case 2:
        m.event_id = "";
        b->reason = "invalid_event_id";
        break;
    case 3:
        long_id[65] = '\0';
        m.event_id = long_id;
        b->reason = "invalid_event_id";
        break;
    case 4:
        m.rep_id = "";
        b->reason = "invalid_rep_id";
        break;
    case 5:
        long_id[100] = '\0';
        m.rep_id = long_id;
        b->reason = "invalid_rep_id";
        break;
    case 6:
        m.rep_id = "r:1";
        b->reason = "invalid_rep_id";
        break;
    case 7:
        m.rep_id = "r{1}";
        b->reason = "invalid_rep_id";
        break;
    case 8:
        m.rep_id = "rep one";
        b->reason = "invalid_rep_id";
        break;
    case 9:
        m.team_id = "t}";
        b->reason = "invalid_team_id";
        break;
    case 10:
        m.tenant_id = "ac:me";
        b->reason = "invalid_tenant_id";
        break;
    case 11:
        m.kind = (Gapwatch__V1__Kind)99;
        b->reason = "invalid_kind";
        break;
    case 12:
        m.kind = GAPWATCH__V1__KIND__KIND_UNSPECIFIED;
        b->reason = "invalid_kind";
        break;
    case 13:
        m.kind = GAPWATCH__V1__KIND__CUSTOM;
        m.custom_kind = "carrier_pigeon";
        b->reason = "invalid_custom_kind";
        break;
    case 14:
        m.occurred_at_ms = now + 10LL * 86400000;
        b->reason = "occurred_at_in_future";
        break;
    case 15:
        m.occurred_at_ms = -5000;
        b->reason = "invalid_occurred_at";
        break;
    case 16:
        m.occurred_at_ms = 0;
        b->reason = "invalid_occurred_at";
        break;
    case 17:
        m.amount_minor = -100;
        b->reason = "invalid_amount";
        break;
    case 18:
        m.currency = "euro";
        b->reason = "invalid_currency";
        break;
    case 19:
        memset(text, 'g', 600);
        text[600] = '\0';
        m.goal = text;
        b->reason = "invalid_text";
        break;
    }
    b->len = gapwatch__v1__event__pack(&m, b->payload);
}

static void dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (!m->_private)
        return;
    bad_t *b = m->_private;
    if (!m->err) {
        b->partition = m->partition;
        b->offset = m->offset;
        b->delivered = true;
    }
}

static bad_t *find_source(int32_t p, int64_t o)
{
    for (int i = 0; i < N_BAD; i++)
        if (bad[i].delivered && bad[i].partition == p && bad[i].offset == o)
            return &bad[i];
    return NULL;
}

static const char *header(rd_kafka_headers_t *h, const char *name, char *buf, size_t size)
{
    const void *v;
    size_t len;
    if (!h || rd_kafka_header_get_last(h, name, &v, &len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    snprintf(buf, size, "%.*s", (int)len, (const char *)v);
    return buf;
}

static void test_malformed_messages_go_to_dlq_and_redis_is_untouched(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "malformed");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 1, topics);
    gwh_write_config(&h, NULL);
    gwh_daemon_start(&h);

    int64_t now = gwh_now_ms();
    rd_kafka_t *rk = gwh_producer(&h, dr, NULL);
    for (int i = 0; i < N_BAD; i++) {
        make_bad(i, now);
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(1);
        rd_kafka_header_add(hdrs, "trace-id", -1, "t-42", -1);
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC("sales.events"), RD_KAFKA_V_KEY(bad[i].key, strlen(bad[i].key)),
            RD_KAFKA_V_VALUE(bad[i].payload, bad[i].len), RD_KAFKA_V_HEADERS(hdrs),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&bad[i]), RD_KAFKA_V_END);
        assert_int_equal(err, 0);
    }
    rd_kafka_flush(rk, 30000);
    for (int i = 0; i < N_BAD; i++)
        assert_true(bad[i].delivered);
    assert_true(gwh_wait_consumed(&h, rk, "sales.events", 4, 60000));

    /* Redis holds no counter, roster or entity key. */
    redisContext *c = gwh_redis(&h);
    redisReply *r = redisCommand(c, "KEYS *");
    assert_non_null(r);
    for (size_t i = 0; i < r->elements; i++) {
        const char *k = r->element[i]->str;
        if (strncmp(k, "gw:positions:", 13) != 0)
            fail_msg("redis has key %s after only malformed events", k);
    }
    freeReplyObject(r);

    /* Every message is in the DLQ, unchanged, with the right reason. */
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", h.bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "group.id", "dlq-reader", NULL, 0);
    rd_kafka_t *cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(cons);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, "sales.events.dlq", 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(cons, tp), 0);
    rd_kafka_topic_partition_list_destroy(tp);
    int got = 0, wrong = 0;
    int64_t deadline = gwh_now_ms() + 30000;
    while (got < N_BAD && gwh_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 200);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        rd_kafka_headers_t *hd = NULL;
        rd_kafka_message_headers(m, &hd);
        char reason[64], part[16], off[32], topic[64], trace[16], detail[512];
        assert_non_null(header(hd, "gw.reason", reason, sizeof(reason)));
        assert_non_null(header(hd, "gw.source.partition", part, sizeof(part)));
        assert_non_null(header(hd, "gw.source.offset", off, sizeof(off)));
        assert_non_null(header(hd, "gw.source.topic", topic, sizeof(topic)));
        assert_non_null(header(hd, "gw.detail", detail, sizeof(detail)));
        assert_string_equal(topic, "sales.events");
        bad_t *b = find_source(atoi(part), atoll(off));
        assert_non_null(b);
        assert_false(b->seen);
        b->seen = true;
        if (strcmp(reason, b->reason) != 0 && wrong++ < 10)
            fprintf(stderr, "message at %s/%s: reason %s, expected %s (%s)\n", part, off, reason,
                    b->reason, detail);
        assert_int_equal(m->len, b->len);
        assert_memory_equal(m->payload, b->payload, b->len);
        assert_int_equal(m->key_len, strlen(b->key));
        assert_memory_equal(m->key, b->key, m->key_len);
        assert_non_null(header(hd, "trace-id", trace, sizeof(trace)));
        assert_string_equal(trace, "t-42");
        got++;
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    assert_int_equal(got, N_BAD);
    assert_int_equal(wrong, 0);

    /* Still consuming: valid events after the bad ones are counted. */
    uint8_t buf[512];
    for (int i = 0; i < 10; i++) {
        Gapwatch__V1__Event m = GAPWATCH__V1__EVENT__INIT;
        char id[32];
        valid_event(&m, id, sizeof(id), 5000 + i, now);
        size_t len = gapwatch__v1__event__pack(&m, buf);
        assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("sales.events"),
                                           RD_KAFKA_V_KEY("r1", 2), RD_KAFKA_V_VALUE(buf, len),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         0);
    }
    rd_kafka_flush(rk, 30000);
    assert_true(gwh_wait_consumed(&h, rk, "sales.events", 4, 60000));
    r = redisCommand(c, "HGET gw:{acme:r1}:w:7d DIAL");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "10");
    freeReplyObject(r);
    redisFree(c);
    rd_kafka_destroy(rk);
    assert_true(gwh_daemon_alive(&h));
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_messages_go_to_dlq_and_redis_is_untouched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
