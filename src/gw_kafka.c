/*
 * gw_kafka: librdkafka configuration helpers. librdkafka logs from its own
 * threads; gw_log writes each line with one write(2), which is safe there.
 */
#include "gw_kafka.h"

#include <stdio.h>
#include <stdbool.h>
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
    if (!strcmp(fac, "FAIL") || !strcmp(fac, "ERROR")) {
        /* ... except a refused login or certificate: configuration, not an
         * outage; no retry mends it, and until the loop first polls (after
         * the start-up checks) the error callbacks say nothing. librdkafka
         * backs off reconnects up to reconnect.backoff.max.ms (10 s), so the
         * line repeats at most that often per broker. */
        if (strstr(buf, "SASL authentication error") || strstr(buf, "SSL handshake failed") ||
            strstr(buf, "certificate verify failed")) {
            /* librdkafka before 2.6.1 sends a SCRAM nonce that Kafka 4.x
             * brokers reject (librdkafka PR 4895): say so. */
            bool old_scram = strstr(buf, "SCRAM") && rd_kafka_version() < 0x020601ff;
            gw_log(GW_LOG_ERROR,
                   "kafka refused the connection's credentials or certificate; check "
                   "kafka.properties (security.protocol, sasl.*, ssl.*)",
                   "client=%s detail=\"%s\"%s%s%s", rd_kafka_name(rk), buf,
                   old_scram ? " hint=\"librdkafka " : "", old_scram ? rd_kafka_version_str() : "",
                   old_scram ? " cannot log in with SCRAM to Apache Kafka 4.x brokers (fixed in "
                               "2.6.1); use a newer librdkafka, or PLAIN over TLS\""
                             : "");
            return;
        }
        l = GW_LOG_DEBUG;
    }
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
    return gw_kafka_conf_new_without(cfg, role, NULL, errstr, errstr_size);
}

rd_kafka_conf_t *gw_kafka_conf_new_without(const gw_config_t *cfg, gw_kafka_role_t role,
                                           const char *skip, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (gw_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka.bootstrap_servers, errstr,
                          errstr_size) != 0)
        goto fail;
    for (size_t i = 0; i < cfg->kafka.nproperties; i++) {
        const gw_config_prop_t *p = &cfg->kafka.properties[i];
        if (skip && !strcmp(p->name, skip))
            continue;
        if (gw_kafka_conf_set(conf, p->name, p->value, errstr, errstr_size) != 0)
            goto fail;
    }
    size_t n;
    const gw_config_prop_t *props = role_props(cfg, role, &n);
    for (size_t i = 0; i < n; i++) {
        if (skip && !strcmp(props[i].name, skip))
            continue;
        if (gw_kafka_conf_set(conf, props[i].name, props[i].value, errstr, errstr_size) != 0)
            goto fail;
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Creates and destroys the client of `build`'s configuration without
 * skipping `skip`; 0, or -1 with librdkafka's reason in `why`. */
static int try_create(const gw_config_t *cfg, gw_kafka_role_t role, gw_kafka_conf_fn build,
                      const char *skip, char *why, size_t why_size)
{
    rd_kafka_conf_t *conf = build(cfg, skip, why, why_size);
    if (!conf)
        return -1;
    /* No broker to contact, no group to join: nothing leaves the host. */
    /* librdkafka's own log lines would repeat the reason once per try. */
    if (gw_kafka_conf_set(conf, "bootstrap.servers", "", why, why_size) != 0 ||
        gw_kafka_conf_set(conf, "group.id", "", why, why_size) != 0 ||
        gw_kafka_conf_set(conf, "log_level", "0", why, why_size) != 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(role == GW_KAFKA_CONSUMER ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER,
                                  conf, why, why_size);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_destroy(rk);
    return 0;
}

/* The pass-through property called `name` that applies to `role` (the
 * role's own section wins, as in gw_kafka_conf_new), and its section. */
static const gw_config_prop_t *find_property(const gw_config_t *cfg, gw_kafka_role_t role,
                                             const char *name, const char **section)
{
    size_t n;
    const gw_config_prop_t *props = role_props(cfg, role, &n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(props[i].name, name)) {
            *section = role == GW_KAFKA_CONSUMER ? "consumer_properties" : "producer_properties";
            return &props[i];
        }
    for (size_t i = 0; i < cfg->kafka.nproperties; i++)
        if (!strcmp(cfg->kafka.properties[i].name, name)) {
            *section = "properties";
            return &cfg->kafka.properties[i];
        }
    return NULL;
}

int gw_kafka_check(const gw_config_t *cfg, gw_kafka_role_t role, gw_kafka_conf_fn build,
                   char *errstr, size_t errstr_size)
{
    char why[512];
    if (try_create(cfg, role, build, NULL, why, sizeof(why)) == 0)
        return 0;
    const char *what = role == GW_KAFKA_CONSUMER ? "consumer" : "producer";
    const gw_config_prop_t *blame = NULL;
    const char *section = NULL;
    /* The property librdkafka's message names (e.g. "ssl.ca.location
     * failed: ..."), the longest such name... */
    size_t n;
    const gw_config_prop_t *lists[2] = {cfg->kafka.properties, role_props(cfg, role, &n)};
    size_t counts[2] = {cfg->kafka.nproperties, n};
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < counts[l]; i++) {
            const char *name = lists[l][i].name;
            if (strstr(why, name) && (!blame || strlen(name) > strlen(blame->name)))
                blame = find_property(cfg, role, name, &section);
        }
    /* ... else the one whose value it names ("Unsupported SASL mechanism:
     * NOPE")... */
    for (int l = 0; l < 2 && !blame; l++)
        for (size_t i = 0; i < counts[l] && !blame; i++)
            if (strlen(lists[l][i].value) >= 3 && strstr(why, lists[l][i].value))
                blame = find_property(cfg, role, lists[l][i].name, &section);
    /* ... else the one without which the client can be created, trying the
     * last written first: a later setting is usually the one that broke an
     * earlier one. */
    char other[512];
    for (int l = 1; l >= 0 && !blame; l--)
        for (size_t i = counts[l]; i > 0 && !blame; i--)
            if (try_create(cfg, role, build, lists[l][i - 1].name, other, sizeof(other)) == 0)
                blame = find_property(cfg, role, lists[l][i - 1].name, &section);
    if (blame)
        snprintf(errstr, errstr_size,
                 "%s:%d: kafka.%s.%s: librdkafka cannot create the %s with it: %s", cfg->source,
                 blame->line, section, blame->name, what, why);
    else
        snprintf(errstr, errstr_size, "%s: kafka: librdkafka cannot create the %s: %s", cfg->source,
                 what, why);
    return -1;
}

const char *gw_kafka_offset_str(int64_t offset, char *buf, size_t size)
{
    if (offset >= 0)
        snprintf(buf, size, "%lld", (long long)offset);
    else if (offset == RD_KAFKA_OFFSET_BEGINNING)
        snprintf(buf, size, "beginning");
    else if (offset == RD_KAFKA_OFFSET_END)
        snprintf(buf, size, "end");
    else if (offset == RD_KAFKA_OFFSET_STORED)
        snprintf(buf, size, "stored");
    else if (offset == RD_KAFKA_OFFSET_INVALID)
        snprintf(buf, size, "committed");
    else if (offset <= RD_KAFKA_OFFSET_TAIL_BASE)
        snprintf(buf, size, "tail-%lld", (long long)(RD_KAFKA_OFFSET_TAIL_BASE - offset));
    else
        snprintf(buf, size, "unknown");
    return buf;
}
