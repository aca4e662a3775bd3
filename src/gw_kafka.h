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
 * Builds a configuration with bootstrap.servers, the log callback and the
 * config's kafka.properties (applied last, so they override our defaults
 * except where the caller sets a property afterwards). NULL with a sentence
 * in `errstr` on a rejected property. The caller owns the result.
 */
rd_kafka_conf_t *gw_kafka_conf_new(const gw_config_t *cfg, char *errstr, size_t errstr_size);

/* Sets one property; returns 0, or -1 with "<name>=<value>: <reason>". */
int gw_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                      size_t errstr_size);

/* True if the config's pass-through properties set `name`. */
int gw_kafka_property_given(const gw_config_t *cfg, const char *name);

#endif
