/*
 * Nothing dropped at the dead-letter topic: a 3 MB garbage event, above the
 * dead-letter producer's message.max.bytes (1 MB by default), still gets a
 * dead-letter record, a small one with reason too_large, its coordinates,
 * size and SHA-256; and when even that record cannot be written the daemon
 * stops with an error naming the message, before its offset moves.
 */
#include <openssl/evp.h>
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

static const char *const topics[] = {"sales.events:1", "sales.events.dlq:1", "sales.alerts:1",
                                     NULL};

typedef struct {
    int64_t offset;
    bool delivered;
} sent_t;

static void dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    sent_t *s = m->_private;
    if (s && !m->err) {
        s->offset = m->offset;
        s->delivered = true;
    }
}

/* A producer that may send messages far above Kafka's 1 MB default. */
static rd_kafka_t *big_producer(gwh_t *h)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", h->bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "message.max.bytes", "10000000", NULL, 0);
    rd_kafka_conf_set(conf, "log_level", "2", NULL, 0);
    rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk)
        fail_msg("test producer: %s", err);
    return rk;
}

static int64_t send_event(rd_kafka_t *rk, const void *key, size_t key_len, const void *payload,
                          size_t len)
{
    sent_t s = {0};
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC("sales.events"), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY(key, key_len),
        RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(&s), RD_KAFKA_V_END);
    assert_int_equal(err, 0);
    rd_kafka_flush(rk, 30000);
    if (!s.delivered)
        fail_msg("the test could not produce its %zu-byte message", len);
    return s.offset;
}

static void sha256_hex(const void *buf, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL), 1);
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
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

/* Garbage that protobuf-c rejects: field 1 with wire type 7. */
static uint8_t *garbage(size_t len)
{
    uint8_t *b = malloc(len);
    assert_non_null(b);
    uint64_t st = 42;
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)gwh_rand(&st);
    b[0] = 0x0f;
    return b;
}

static void test_message_too_large_for_dlq_gets_a_too_large_record(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "dlq-too-large");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 1, topics);
    gwh_write_config(&h, NULL);
    gwh_daemon_start(&h);

    rd_kafka_t *rk = big_producer(&h);
    size_t big_len = 3u << 20;
    uint8_t *big = garbage(big_len);
    int64_t big_offset = send_event(rk, "rep-big", 7, big, big_len);
    char want_sha[65];
    sha256_hex(big, big_len, want_sha);

    /* A valid event after it: the daemon goes on consuming. */
    Gapwatch__V1__Event m = GAPWATCH__V1__EVENT__INIT;
    m.event_id = "after-big";
    m.tenant_id = "acme";
    m.rep_id = "r1";
    m.team_id = "t1";
    m.occurred_at_ms = gwh_now_ms() - 3600000;
    m.kind = GAPWATCH__V1__KIND__DIAL;
    uint8_t buf[256];
    size_t len = gapwatch__v1__event__pack(&m, buf);
    send_event(rk, "r1", 2, buf, len);
    if (!gwh_wait_consumed(&h, rk, "sales.events", 1, 60000)) {
        gwh_dump_daemon_log(&h, 30);
        fail_msg("the daemon did not get past the 3 MB message");
    }

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
    rd_kafka_message_t *got = NULL;
    int64_t deadline = gwh_now_ms() + 30000;
    while (!got && gwh_now_ms() < deadline) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(cons, 200);
        if (msg && msg->err) {
            rd_kafka_message_destroy(msg);
            continue;
        }
        got = msg;
    }
    if (!got) {
        gwh_dump_daemon_log(&h, 30);
        fail_msg("expected a dead-letter record of the 3 MB message, found none in 30 s");
    }
    rd_kafka_headers_t *hd = NULL;
    rd_kafka_message_headers(got, &hd);
    char reason[64], part[16], off[32], topic[64], detail[1024], orig[64], sha[80], size[32];
    assert_non_null(header(hd, "gw.reason", reason, sizeof(reason)));
    assert_string_equal(reason, "too_large");
    assert_non_null(header(hd, "gw.source.topic", topic, sizeof(topic)));
    assert_string_equal(topic, "sales.events");
    assert_non_null(header(hd, "gw.source.partition", part, sizeof(part)));
    assert_string_equal(part, "0");
    assert_non_null(header(hd, "gw.source.offset", off, sizeof(off)));
    assert_int_equal(atoll(off), big_offset);
    assert_non_null(header(hd, "gw.detail", detail, sizeof(detail)));
    fprintf(stderr, "gw.detail: %s\n", detail);
    assert_non_null(strstr(detail, "3145728-byte message"));
    assert_non_null(header(hd, "gw.original.reason", orig, sizeof(orig)));
    assert_string_equal(orig, "decode_error");
    assert_non_null(header(hd, "gw.original.size", size, sizeof(size)));
    assert_int_equal(atoll(size), (long long)big_len);
    assert_non_null(header(hd, "gw.original.sha256", sha, sizeof(sha)));
    assert_string_equal(sha, want_sha);
    assert_true(got->len < 1024);
    char payload[1024];
    snprintf(payload, sizeof(payload), "%.*s", (int)got->len, (const char *)got->payload);
    fprintf(stderr, "replacement payload: %s\n", payload);
    char want[128];
    snprintf(want, sizeof(want), "\"source_offset\":%lld", (long long)big_offset);
    assert_non_null(strstr(payload, want));
    assert_non_null(strstr(payload, want_sha));
    assert_int_equal(got->key_len, 7);
    assert_memory_equal(got->key, "rep-big", 7);
    rd_kafka_message_destroy(got);
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);

    assert_int_equal(gwh_daemon_log_count(&h, "dead letter too large"), 1);
    redisContext *c = gwh_redis(&h);
    redisReply *r = redisCommand(c, "HGET gw:{acme:r1}:w:7d DIAL");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "1");
    freeReplyObject(r);
    redisFree(c);
    free(big);
    rd_kafka_destroy(rk);
    assert_int_equal(gwh_daemon_stop(&h, SIGTERM), 0);
    gwh_cleanup(&h);
}

/* message.max.bytes at librdkafka's minimum (1000) and a 900-byte key: the
 * small record does not fit either. The daemon must stop, saying which
 * message, and must not record a position past it. */
static void test_daemon_stops_when_even_the_too_large_record_is_refused(void **state)
{
    (void)state;
    gwh_t h;
    gwh_init(&h, "dlq-refused");
    gwh_redis_start(&h, NULL);
    gwh_kafka_start(&h, 1, topics);
    gwh_write_config(&h, "");
    /* the harness' config ends with the metrics section: append the
     * producer property under kafka by rewriting the file */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "sed -i 's/^  consumer_properties:/  producer_properties:\\n    message.max.bytes: "
             "\"1000\"\\n  consumer_properties:/' %s",
             h.config_path);
    assert_int_equal(gwh_run(cmd), 0);
    gwh_daemon_start(&h);

    rd_kafka_t *rk = big_producer(&h);
    char key[900];
    memset(key, 'k', sizeof(key));
    uint8_t *bad = garbage(5000);
    int64_t offset = send_event(rk, key, sizeof(key), bad, 5000);
    int64_t deadline = gwh_now_ms() + 30000;
    while (gwh_daemon_alive(&h) && gwh_now_ms() < deadline)
        gwh_sleep_ms(100);
    if (gwh_daemon_alive(&h)) {
        gwh_dump_daemon_log(&h, 30);
        fail_msg("expected the daemon to stop on a dead letter it cannot write; still running");
    }
    gwh_dump_daemon_log(&h, 5);
    assert_int_equal(gwh_daemon_log_count(&h, "batch failed; stopping"), 1);
    assert_int_equal(gwh_daemon_log_count(&h, "a dead letter could not be written"), 1);
    char needle[128];
    snprintf(needle, sizeof(needle), "sales.events/0 offset %lld even as its too_large record",
             (long long)offset);
    assert_int_equal(gwh_daemon_log_count(&h, needle), 1);
    /* nothing recorded past the message */
    assert_true(gwh_positions_sum(&h, "sales.events") <= offset);
    free(bad);
    rd_kafka_destroy(rk);
    gwh_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_too_large_for_dlq_gets_a_too_large_record),
        cmocka_unit_test(test_daemon_stops_when_even_the_too_large_record_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
