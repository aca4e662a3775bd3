/*
 * gw_producer: a thin owner of an idempotent librdkafka producer that keeps
 * delivery counts from the delivery report callback (served on the loop's
 * thread by rd_kafka_poll/flush).
 */
#include "gw_producer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_kafka.h"
#include "gw_log.h"
#include "gw_time.h"

struct gw_producer_s {
    rd_kafka_t *rk;
    int64_t last_error_log_ms;
    gw_delivery_fn listener;
    void *listener_ctx;
    char *route_topic; /* reports of this topic go to route_fn */
    gw_delivery_msg_fn route_fn;
    void *route_ctx;
    rd_kafka_resp_err_t last_send_err;
};

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    gw_producer_t *p = opaque;
    /* Repeats while brokers are away: at most one line every 5 s. */
    int64_t now = gw_mono_ms();
    if (err == RD_KAFKA_RESP_ERR__FATAL || now - p->last_error_log_ms >= 5000) {
        p->last_error_log_ms = now;
        gw_log_warn("kafka producer error", "code=%s err=\"%s\"",
                    rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    }
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    gw_producer_t *p = opaque;
    if (m->err)
        gw_log_error("kafka delivery failed", "topic=%s err=\"%s\"", rd_kafka_topic_name(m->rkt),
                     rd_kafka_err2str(m->err));
    if (p->route_fn && !strcmp(rd_kafka_topic_name(m->rkt), p->route_topic)) {
        p->route_fn(p->route_ctx, m);
        return;
    }
    if (m->_private && p->listener)
        p->listener(p->listener_ctx, m->_private, m->err);
}

int gw_producer_set_topic_listener(gw_producer_t *p, const char *topic, gw_delivery_msg_fn fn,
                                   void *ctx)
{
    free(p->route_topic);
    p->route_topic = NULL;
    p->route_fn = NULL;
    p->route_ctx = NULL;
    if (!fn)
        return 0;
    p->route_topic = strdup(topic);
    if (!p->route_topic)
        return -1;
    p->route_fn = fn;
    p->route_ctx = ctx;
    return 0;
}

void gw_producer_set_listener(gw_producer_t *p, gw_delivery_fn fn, void *ctx)
{
    p->listener = fn;
    p->listener_ctx = ctx;
}

rd_kafka_conf_t *gw_producer_conf_new(const gw_config_t *cfg, const char *skip, char *errstr,
                                      size_t errstr_size)
{
    rd_kafka_conf_t *conf =
        gw_kafka_conf_new_without(cfg, GW_KAFKA_PRODUCER, skip, errstr, errstr_size);
    if (!conf)
        return NULL;
    static const char *const defaults[][2] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"message.timeout.ms", "0"},
        {"linger.ms", "5"},
    };
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        if (!gw_kafka_property_given(cfg, GW_KAFKA_PRODUCER, defaults[i][0]) &&
            gw_kafka_conf_set(conf, defaults[i][0], defaults[i][1], errstr, errstr_size)) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    return conf;
}

gw_producer_t *gw_producer_new(const gw_config_t *cfg, const char *client_id, char *errstr,
                               size_t errstr_size)
{
    gw_producer_t *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    rd_kafka_conf_t *conf = gw_producer_conf_new(cfg, NULL, errstr, errstr_size);
    if (!conf) {
        free(p);
        return NULL;
    }
    if (gw_kafka_conf_set(conf, "client.id", client_id, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        free(p);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_opaque(conf, p);
    char err[512];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!p->rk) {
        snprintf(errstr, errstr_size, "cannot create kafka producer: %s", err);
        rd_kafka_conf_destroy(conf);
        free(p);
        return NULL;
    }
    return p;
}

void gw_producer_free(gw_producer_t *p, int flush_ms)
{
    if (!p)
        return;
    if (rd_kafka_flush(p->rk, flush_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        gw_log_warn("producer closed with undelivered messages", "in_flight=%d",
                    rd_kafka_outq_len(p->rk));
    rd_kafka_destroy(p->rk);
    free(p->route_topic);
    free(p);
}

int gw_producer_send(gw_producer_t *p, const char *topic, const void *key, size_t key_len,
                     const void *payload, size_t len, rd_kafka_headers_t *headers,
                     int64_t timestamp_ms, void *msg_opaque, char *errstr, size_t errstr_size)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)payload, len),
            RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_HEADERS(headers),
            RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(p->rk, 100);
            continue;
        }
        if (headers)
            rd_kafka_headers_destroy(headers);
        p->last_send_err = err;
        snprintf(errstr, errstr_size, "produce to %s: %s", topic, rd_kafka_err2str(err));
        return -1;
    }
}

rd_kafka_resp_err_t gw_producer_last_error(const gw_producer_t *p)
{
    return p->last_send_err;
}

void gw_producer_poll(gw_producer_t *p, int timeout_ms)
{
    rd_kafka_poll(p->rk, timeout_ms);
}

int gw_producer_flush(gw_producer_t *p, int timeout_ms)
{
    return rd_kafka_flush(p->rk, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

size_t gw_producer_in_flight(const gw_producer_t *p)
{
    int n = rd_kafka_outq_len(p->rk);
    return n > 0 ? (size_t)n : 0;
}

rd_kafka_t *gw_producer_handle(gw_producer_t *p)
{
    return p->rk;
}
