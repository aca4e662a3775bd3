/*
 * gw_kafka: what the consumer, the producers and the CLI share about
 * librdkafka: building a configuration from gw_config_t (bootstrap servers,
 * the pass-through properties) and routing librdkafka's logs into gw_log.
 *
 * Ownership: The rd_kafka_conf_t returned by gw_kafka_conf_new and _new_without belongs to the
 *   caller (rd_kafka_conf_destroy, or rd_kafka_new takes it over); `cfg` is borrowed for the call.
 *   gw_kafka_offset_str writes into the caller's `buf`.
 * Errors: NULL, or -1, with a sentence in `errstr`; gw_kafka_property_given returns 0 or 1.
 * Threads: Any thread; no shared state. The log callback it installs runs on librdkafka's internal
 *   threads and only calls gw_log, which is thread-safe.
 */
#ifndef GW_KAFKA_H
#define GW_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

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

/* As gw_kafka_conf_new, leaving out the pass-through property `skip` (NULL:
 * none): how gw_kafka_check finds the property that breaks a client. */
rd_kafka_conf_t *gw_kafka_conf_new_without(const gw_config_t *cfg, gw_kafka_role_t role,
                                           const char *skip, char *errstr, size_t errstr_size);

/* Builds a role's complete configuration (the user's properties over the
 * role's defaults), leaving out `skip` (NULL: none); NULL with `errstr`. */
typedef rd_kafka_conf_t *(*gw_kafka_conf_fn)(const gw_config_t *cfg, const char *skip, char *errstr,
                                             size_t errstr_size);

/*
 * Creates the client of `role` from `build`'s configuration with
 * rd_kafka_new, without bootstrap servers (it connects nowhere), then
 * destroys it: what librdkafka checks only at creation (SASL mechanisms, TLS
 * files, conflicting settings) fails here. Returns 0, or -1 with
 * "<file>:<line>: kafka.<section>.<name>: librdkafka cannot create the
 * <role> with it: <why>" in `errstr`, naming the property that breaks it
 * (the one librdkafka's message names, else the one without which the
 * client can be created), or "<file>: kafka: ..." when no single one does.
 */
int gw_kafka_check(const gw_config_t *cfg, gw_kafka_role_t role, gw_kafka_conf_fn build,
                   char *errstr, size_t errstr_size);

/*
 * An offset as a log value: the number, or librdkafka's logical offsets by
 * name ("beginning", "end", "stored" for RD_KAFKA_OFFSET_STORED,
 * "committed" for RD_KAFKA_OFFSET_INVALID at assignment: start from the
 * group's committed offset, "tail-N"), never a raw -1001. Writes into `buf`
 * and returns it.
 */
const char *gw_kafka_offset_str(int64_t offset, char *buf, size_t size);

/* Sets one property; returns 0, or -1 with "<name>=<value>: <reason>". */
int gw_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                      size_t errstr_size);

/* True if the config's pass-through properties for `role` set `name`. */
int gw_kafka_property_given(const gw_config_t *cfg, gw_kafka_role_t role, const char *name);

#endif
