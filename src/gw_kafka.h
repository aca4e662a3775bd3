/*
 * gw_kafka: what the consumer, the producers and the CLI share about
 * librdkafka: building a configuration from gw_config_t (bootstrap servers,
 * the pass-through properties) and routing librdkafka's logs into gw_log.
 */
#ifndef GW_KAFKA_H
#define GW_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "gw_config.h"

/*
 * Builds a configuration with bootstrap.servers, the log callback, the
 * config's kafka.properties and then the role's own consumer_properties or
 * producer_properties. NULL with a sentence in `errstr` on a rejected
 * property. The caller owns the result.
 */
typedef enum {
    GW_KAFKA_CONSUMER,
    GW_KAFKA_PRODUCER,
} gw_kafka_role_t;

rd_kafka_conf_t *gw_kafka_conf_new(const gw_config_t *cfg, gw_kafka_role_t role, char *errstr,
                                   size_t errstr_size);

/* Sets one property; returns 0, or -1 with "<name>=<value>: <reason>". */
int gw_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                      size_t errstr_size);

/* True if the config's pass-through properties for `role` set `name`. */
int gw_kafka_property_given(const gw_config_t *cfg, gw_kafka_role_t role, const char *name);

#endif
