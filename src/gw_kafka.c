/*
 * gw_kafka: librdkafka configuration helpers. librdkafka logs from its own
 * threads; gw_log writes each line with one write(2), which is safe there.
 */
#include "gw_kafka.h"

#include <stdio.h>
#include <string.h>

#include "gw_log.h"

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug. Connection
     * failures (FAIL, ERROR) repeat every second while a broker is away;
     * they also reach the error callbacks, which log them rate-limited, so
     * here they only show at debug level. */
    gw_log_level_t l = level <= 3   ? GW_LOG_ERROR
                       : level == 4 ? GW_LOG_WARN
                       : level <= 6 ? GW_LOG_INFO
                                    : GW_LOG_DEBUG;
    if (!strcmp(fac, "FAIL") || !strcmp(fac, "ERROR"))
        l = GW_LOG_DEBUG;
    gw_log(l, "librdkafka", "client=%s facility=%s detail=\"%s\"", rd_kafka_name(rk), fac, buf);
}

int gw_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                      size_t errstr_size)
{
    char err[256];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "kafka property %s: %s", name, err);
        return -1;
    }
    return 0;
}

static const gw_config_prop_t *role_props(const gw_config_t *cfg, gw_kafka_role_t role, size_t *n)
{
    if (role == GW_KAFKA_CONSUMER) {
        *n = cfg->kafka.nconsumer_properties;
        return cfg->kafka.consumer_properties;
    }
    *n = cfg->kafka.nproducer_properties;
    return cfg->kafka.producer_properties;
}

int gw_kafka_property_given(const gw_config_t *cfg, gw_kafka_role_t role, const char *name)
{
    for (size_t i = 0; i < cfg->kafka.nproperties; i++)
        if (!strcmp(cfg->kafka.properties[i].name, name))
            return 1;
    size_t n;
    const gw_config_prop_t *props = role_props(cfg, role, &n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(props[i].name, name))
            return 1;
    return 0;
}

rd_kafka_conf_t *gw_kafka_conf_new(const gw_config_t *cfg, gw_kafka_role_t role, char *errstr,
                                   size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (gw_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka.bootstrap_servers, errstr,
                          errstr_size) != 0)
        goto fail;
    for (size_t i = 0; i < cfg->kafka.nproperties; i++) {
        const gw_config_prop_t *p = &cfg->kafka.properties[i];
        if (gw_kafka_conf_set(conf, p->name, p->value, errstr, errstr_size) != 0)
            goto fail;
    }
    size_t n;
    const gw_config_prop_t *props = role_props(cfg, role, &n);
    for (size_t i = 0; i < n; i++)
        if (gw_kafka_conf_set(conf, props[i].name, props[i].value, errstr, errstr_size) != 0)
            goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}
